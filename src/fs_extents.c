/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Extents of a file with FS_IOC_FIEMAP. */
#include "config.h"
#include <errno.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include "fs_internal.h"

#define RL_FIEMAP_BATCH 512
/* First call: a small buffer on the stack (most files have few extents;
 * a calloc of the full batch per file was a measurable part of a scan). */
#define RL_FIEMAP_FIRST 32

static int get_extents(int fd, uint64_t start, uint64_t len, uint32_t fmflags,
                       struct rl_extent **out, size_t *count)
{
	union {
		struct fiemap fm;
		char b[sizeof(struct fiemap) +
		       RL_FIEMAP_FIRST * sizeof(struct fiemap_extent)];
	} first;
	struct fiemap *fm = &first.fm, *big = NULL;
	uint32_t batch = RL_FIEMAP_FIRST;
	struct rl_extent *ext = NULL;
	size_t n = 0, cap = 0;
	uint64_t pos = start;
	uint64_t end = len ? start + len : UINT64_MAX;
	int ret = 0;

	if (!out || !count)
		return -EINVAL;
	*out = NULL;
	*count = 0;
	if (len && start + len < start)
		return -EINVAL;

	while (pos < end) {
		bool last = false;

		/* The extents too: tools such as valgrind cannot know that
		 * the ioctl fills them. */
		memset(fm, 0,
		       sizeof(*fm) + batch * sizeof(struct fiemap_extent));
		fm->fm_start = pos;
		fm->fm_length = end - pos;
		fm->fm_flags = fmflags;
		fm->fm_extent_count = batch;
		if (ioctl(fd, FS_IOC_FIEMAP, fm) < 0) {
			ret = RL_NEG_ERRNO();
			if (ret == -ENOTTY)
				ret = -EOPNOTSUPP;
			goto fail;
		}
		/* Sync once: later batches need not flush again. */
		fmflags = 0;
		if (fm->fm_mapped_extents == 0)
			break;
		for (uint32_t i = 0; i < fm->fm_mapped_extents; i++) {
			const struct fiemap_extent *fe = &fm->fm_extents[i];

			if (n == cap) {
				size_t ncap = cap ? cap * 2
				                  : fm->fm_mapped_extents;
				struct rl_extent *p =
				    realloc(ext, ncap * sizeof(*p));
				if (!p) {
					ret = -ENOMEM;
					goto fail;
				}
				ext = p;
				cap = ncap;
			}
			ext[n].logical = fe->fe_logical;
			ext[n].physical = fe->fe_physical;
			ext[n].length = fe->fe_length;
			ext[n].flags = fe->fe_flags;
			n++;
			if (fe->fe_flags & FIEMAP_EXTENT_LAST)
				last = true;
		}
		{
			const struct fiemap_extent *fe =
			    &fm->fm_extents[fm->fm_mapped_extents - 1];
			uint64_t next = fe->fe_logical + fe->fe_length;
			if (next <= pos) /* no progress: stop rather than loop */
				break;
			pos = next;
		}
		if (last)
			break;
		if (!big) { /* more than the first batch: a bigger buffer */
			big = malloc(sizeof(*big) + RL_FIEMAP_BATCH *
			                                sizeof(struct fiemap_extent));
			if (!big) {
				ret = -ENOMEM;
				goto fail;
			}
			fm = big;
			batch = RL_FIEMAP_BATCH;
		}
	}
	free(big);
	*out = ext;
	*count = n;
	return 0;
fail:
	free(big);
	free(ext);
	return ret;
}

int rl_get_extents_range(int fd, uint64_t start, uint64_t len,
                         struct rl_extent **out, size_t *count)
{
	return get_extents(fd, start, len, FIEMAP_FLAG_SYNC, out, count);
}

int rl_get_extents(int fd, struct rl_extent **out, size_t *count)
{
	return get_extents(fd, 0, 0, FIEMAP_FLAG_SYNC, out, count);
}

int rl_get_extents_nosync(int fd, struct rl_extent **out, size_t *count)
{
	return get_extents(fd, 0, 0, 0, out, count);
}
