/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Extents of a file with FS_IOC_FIEMAP. */
#include "config.h"
#include <errno.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include "fs_abi.h"
#include "fs_internal.h"

#define RL_FIEMAP_BATCH 512
/* First call: a small buffer on the stack (most files have few extents;
 * a calloc of the full batch per file was a measurable part of a scan). */
#define RL_FIEMAP_FIRST 32

/* Append one extent to *ext (grown as get_extents does). */
static int push_extent(struct rl_extent **ext, size_t *cap, size_t *n,
                       const struct rl_extent *x)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct rl_extent *p = realloc(*ext, ncap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		*ext = p;
		*cap = ncap;
	}
	(*ext)[(*n)++] = *x;
	return 0;
}

/* XFS directories have no FIEMAP: their block map with
 * XFS_IOC_GETBMAPX, which (asked for an explicit range) also reports the
 * leaf and free-index blocks beyond i_size (at 32 and 64 GiB). Holes are
 * left out; delayed allocations are flagged as FIEMAP flags them. */
static int xfs_bmap_extents(int fd, uint64_t start, uint64_t len,
                            struct rl_extent **ext, size_t *cap, size_t *n)
{
	struct rl_getbmapx b[RL_FIEMAP_FIRST + 1];
	const int64_t max = (int64_t)1 << 53; /* 512-byte units */
	int64_t pos = (int64_t)(start >> 9), end = max;
	size_t n0 = *n;
	int r = 0;

	if (len && (int64_t)((start + len + 511) >> 9) < max)
		end = (int64_t)((start + len + 511) >> 9);
	while (pos < end) {
		memset(b, 0, sizeof(b));
		b[0].bmv_offset = pos;
		b[0].bmv_length = end - pos;
		b[0].bmv_count = RL_FIEMAP_FIRST + 1;
		if (ioctl(fd, RL_XFS_IOC_GETBMAPX, b) < 0) {
			r = RL_NEG_ERRNO();
			break;
		}
		if (b[0].bmv_entries <= 0)
			break;
		bool last = false;
		for (int i = 1; r == 0 && i <= b[0].bmv_entries; i++) {
			struct rl_extent x = {0};
			const struct rl_getbmapx *e = &b[i];

			pos = e->bmv_offset + e->bmv_length;
			last |= (e->bmv_oflags & RL_BMV_OF_LAST) != 0;
			if (e->bmv_block == -1 || e->bmv_length <= 0)
				continue;
			x.logical = (uint64_t)e->bmv_offset << 9;
			x.length = (uint64_t)e->bmv_length << 9;
			if (e->bmv_block == -2) {
				x.flags = RL_EXT_DELALLOC | RL_EXT_UNKNOWN;
			} else {
				x.physical = (uint64_t)e->bmv_block << 9;
				if (e->bmv_oflags & RL_BMV_OF_PREALLOC)
					x.flags |= RL_EXT_UNWRITTEN;
				if (e->bmv_oflags & RL_BMV_OF_SHARED)
					x.flags |= RL_EXT_SHARED;
			}
			r = push_extent(ext, cap, n, &x);
		}
		if (r || last || b[0].bmv_entries < RL_FIEMAP_FIRST)
			break;
	}
	if (r < 0)
		*n = n0;
	else if (*n > n0)
		(*ext)[*n - 1].flags |= RL_EXT_LAST;
	return r;
}

/* FIEMAP of [start, start+len) (len 0: to the end) appended to *ext
 * (capacity *cap extents, grown with realloc) from (*ext)[*n]; *n is
 * advanced. On failure *n is left as it was (*ext may have grown). */
static int get_extents(int fd, uint64_t start, uint64_t len, uint32_t fmflags,
                       struct rl_extent **ext, size_t *cap, size_t *n)
{
	union {
		struct fiemap fm;
		char b[sizeof(struct fiemap) +
		       RL_FIEMAP_FIRST * sizeof(struct fiemap_extent)];
	} first;
	struct fiemap *fm = &first.fm, *big = NULL;
	uint32_t batch = RL_FIEMAP_FIRST;
	size_t n0 = *n;
	uint64_t pos = start;
	uint64_t end = len ? start + len : UINT64_MAX;
	int ret = 0;

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
			if (ret == -EOPNOTSUPP && *n == n0 && pos == start &&
			    !(fmflags & FIEMAP_FLAG_XATTR) &&
			    rl_fd_fs_type(fd) == RL_FS_XFS) {
				free(big);
				return xfs_bmap_extents(fd, start, len, ext,
				                        cap, n);
			}
			goto fail;
		}
		/* Sync once: later batches need not flush again. */
		fmflags &= ~(uint32_t)FIEMAP_FLAG_SYNC;
		if (fm->fm_mapped_extents == 0)
			break;
		if (*n + fm->fm_mapped_extents > *cap) {
			size_t ncap = *cap ? *cap * 2 : fm->fm_mapped_extents;
			struct rl_extent *p;

			while (ncap < *n + fm->fm_mapped_extents)
				ncap *= 2;
			p = realloc(*ext, ncap * sizeof(*p));
			if (!p) {
				ret = -ENOMEM;
				goto fail;
			}
			*ext = p;
			*cap = ncap;
		}
		for (uint32_t i = 0; i < fm->fm_mapped_extents; i++) {
			const struct fiemap_extent *fe = &fm->fm_extents[i];
			struct rl_extent *x = &(*ext)[(*n)++];

			x->logical = fe->fe_logical;
			x->physical = fe->fe_physical;
			x->length = fe->fe_length;
			x->flags = fe->fe_flags;
			if (fe->fe_flags & FIEMAP_EXTENT_LAST)
				last = true;
		}
		{
			const struct fiemap_extent *fe =
			    &fm->fm_extents[fm->fm_mapped_extents - 1];
			uint64_t next = fe->fe_logical + fe->fe_length;
			if (next <=
			    pos) /* no progress: stop rather than loop */
				break;
			pos = next;
		}
		if (last)
			break;
		if (!big) { /* more than the first batch: a bigger buffer */
			big = malloc(sizeof(*big) +
			             RL_FIEMAP_BATCH *
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
	return 0;
fail:
	free(big);
	*n = n0;
	return ret;
}

/* get_extents into a new array (*out, malloc'ed; NULL when empty). */
static int get_extents_new(int fd, uint64_t start, uint64_t len,
                           uint32_t fmflags, struct rl_extent **out,
                           size_t *count)
{
	struct rl_extent *ext = NULL;
	size_t n = 0, cap = 0;
	int r;

	if (!out || !count)
		return -EINVAL;
	*out = NULL;
	*count = 0;
	r = get_extents(fd, start, len, fmflags, &ext, &cap, &n);
	if (r < 0) {
		free(ext);
		return r;
	}
	*out = ext;
	*count = n;
	return 0;
}

int rl_get_extents_range(int fd, uint64_t start, uint64_t len,
                         struct rl_extent **out, size_t *count)
{
	return get_extents_new(fd, start, len, FIEMAP_FLAG_SYNC, out, count);
}

int rl_get_extents_range_nosync(int fd, uint64_t start, uint64_t len,
                                struct rl_extent **out, size_t *count)
{
	return get_extents_new(fd, start, len, 0, out, count);
}

int rl_extent_count(int fd, uint64_t start, uint64_t len)
{
	struct rl_extent *ext;
	size_t n;
	int ret = rl_get_extents_range(fd, start, len, &ext, &n);

	if (ret < 0)
		return ret;
	free(ext);
	return n > INT32_MAX ? INT32_MAX : (int)n;
}

int rl_get_extents(int fd, struct rl_extent **out, size_t *count)
{
	return get_extents_new(fd, 0, 0, FIEMAP_FLAG_SYNC, out, count);
}

int rl_get_extents_nosync(int fd, struct rl_extent **out, size_t *count)
{
	return get_extents_new(fd, 0, 0, 0, out, count);
}

int rl_get_extents_append(int fd, uint64_t start, uint64_t len, bool sync,
                          struct rl_extent **buf, size_t *cap, size_t *n)
{
	if (!buf || !cap || !n || (*n > *cap) || (*cap && !*buf))
		return -EINVAL;
	return get_extents(fd, start, len, sync ? FIEMAP_FLAG_SYNC : 0, buf,
	                   cap, n);
}

int rl_get_xattr_extents(int fd, struct rl_extent **out, size_t *count)
{
	return get_extents_new(fd, 0, 0, FIEMAP_FLAG_XATTR, out, count);
}
