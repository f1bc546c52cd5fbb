/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers of the exact-placement strategies: the free space of a target
 * (a small GETFSMAP query), the mount root of an fd, private O_TMPFILEs
 * and the FIEMAP check that a range maps exactly where it must.
 */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/fsmap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "fs_internal.h"
#include "fs_place.h"

#define FSMAP_BATCH 256

int rl_place_free_list(int fd, uint64_t start, uint64_t end,
                       struct rl_free_extent **out, size_t *count)
{
	struct fsmap_head *h;
	struct rl_free_extent *v = NULL;
	size_t n = 0, cap = 0;
	int ret = 0;

	*out = NULL;
	*count = 0;
	if (end <= start)
		return 0;
	h = calloc(1, fsmap_sizeof(FSMAP_BATCH));
	if (!h)
		return -ENOMEM;
	h->fmh_keys[0].fmr_physical = start;
	h->fmh_keys[1].fmr_device = UINT32_MAX;
	h->fmh_keys[1].fmr_physical = end - 1;
	h->fmh_keys[1].fmr_owner = UINT64_MAX;
	h->fmh_keys[1].fmr_offset = UINT64_MAX;
	h->fmh_keys[1].fmr_flags = UINT32_MAX;
	for (;;) {
		h->fmh_count = FSMAP_BATCH;
		if (ioctl(fd, FS_IOC_GETFSMAP, h) < 0) {
			ret = errno == ENOTTY ? -EOPNOTSUPP : RL_NEG_ERRNO();
			break;
		}
		if (h->fmh_entries == 0)
			break;
		for (uint32_t i = 0; i < h->fmh_entries; i++) {
			const struct fsmap *r = &h->fmh_recs[i];
			uint64_t a = r->fmr_physical;
			uint64_t b = a + r->fmr_length;

			if (r->fmr_owner != FMR_OWN_FREE ||
			    !(r->fmr_flags & FMR_OF_SPECIAL_OWNER))
				continue;
			if (a < start)
				a = start;
			if (b > end)
				b = end;
			if (a >= b)
				continue;
			if (n && v[n - 1].start + v[n - 1].len == a) {
				v[n - 1].len += b - a;
				continue;
			}
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 64;
				struct rl_free_extent *p =
				    realloc(v, nc * sizeof(*p));
				if (!p) {
					ret = -ENOMEM;
					goto out;
				}
				v = p;
				cap = nc;
			}
			v[n].start = a;
			v[n].len = b - a;
			n++;
		}
		if (h->fmh_recs[h->fmh_entries - 1].fmr_flags & FMR_OF_LAST)
			break;
		fsmap_advance(h);
	}
out:
	free(h);
	if (ret < 0) {
		free(v);
		return ret;
	}
	*out = v;
	*count = n;
	return 0;
}

int rl_place_range_free(int fd, uint64_t start, uint64_t len)
{
	struct rl_free_extent *v;
	size_t n;
	int ret = rl_place_free_list(fd, start, start + len, &v, &n);

	if (ret < 0)
		return ret;
	ret = n == 1 && v[0].start == start && v[0].len == len;
	free(v);
	return ret;
}

/* Unescape a mountinfo path field (\040 and friends) in place. */
static void unescape_octal(char *s)
{
	char *o = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] &&
		    s[3]) {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
			              (s[3] - '0'));
			s += 4;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
}

int rl_place_mount_root(int fd)
{
	struct stat st;
	char line[8192];
	FILE *f;
	int ret = -ENOENT;

	if (fstat(fd, &st) < 0)
		return RL_NEG_ERRNO();
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return RL_NEG_ERRNO();
	while (fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		char root[4096], mnt[4096];

		if (sscanf(line, "%*d %*d %u:%u %4095s %4095s", &maj, &min,
		           root, mnt) != 4)
			continue;
		if (makedev(maj, min) != st.st_dev || strcmp(root, "/"))
			continue;
		unescape_octal(mnt);
		int d = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		struct stat ds;
		if (d < 0)
			continue;
		if (fstat(d, &ds) == 0 && ds.st_dev == st.st_dev) {
			ret = d;
			break;
		}
		close(d);
	}
	fclose(f);
	return ret;
}

int rl_place_tmpfile(int dirfd)
{
	int fd = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	return fd < 0 ? RL_NEG_ERRNO() : fd;
}

int rl_place_maps_exactly(int fd, uint64_t off, uint64_t len, uint64_t phys)
{
	struct rl_extent *ext;
	size_t n;
	uint64_t pos = off;
	int ret = rl_get_extents_range(fd, off, len, &ext, &n);

	if (ret < 0)
		return ret;
	for (size_t i = 0; i < n && pos < off + len; i++) {
		uint64_t lo = ext[i].logical, hi = lo + ext[i].length;
		uint64_t p = ext[i].physical;

		if (hi <= pos)
			continue;
		if (lo > pos)
			break; /* hole */
		p += pos - lo;
		if (p != phys + (pos - off) ||
		    (ext[i].flags & (RL_EXT_UNKNOWN | RL_EXT_DELALLOC)))
			break;
		pos = hi;
	}
	free(ext);
	return pos >= off + len;
}
