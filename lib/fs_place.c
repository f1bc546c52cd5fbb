/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers of the exact-placement strategies: the free space of a target
 * (get_free_blocks), the mount root of an fd, private O_TMPFILEs,
 * the release of what a failed allocation left (rl_allocate too) and the
 * FIEMAP check that a range maps exactly where it must.
 */
#include "config.h"
#include "fs_place.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "fs_internal.h"

/* The shared get_free_blocks (lib/fs_spacemap.c) on the filesystem of fd,
 * with an array that grows until the answer fits. */
int rl_place_free_list(int fd, uint64_t start, uint64_t end,
                       struct rl_free_extent **out, size_t *count)
{
	char path[64];
	int r;

	*out = NULL;
	*count = 0;
	if (end <= start)
		return 0;
	r = rl_free_list_fd(fd, start, end, out, count);
	if (r != -EOPNOTSUPP && r != -EBADF) /* (btrfs; an O_PATH fd) */
		return r;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return rl_free_list(path, start, end, out, count);
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

int rl_place_session_root(struct rl_place_session *s, int fd)
{
	struct stat st;
	int r;

	if (!s)
		return rl_place_mount_root(fd);
	if (fstat(fd, &st) < 0)
		return RL_NEG_ERRNO();
	if (s->have_root && s->root_dev == st.st_dev) {
		r = fcntl(s->rootfd, F_DUPFD_CLOEXEC, 0);
		return r < 0 ? RL_NEG_ERRNO() : r;
	}
	r = rl_place_mount_root(fd);
	if (r < 0)
		return r;
	int keep = fcntl(r, F_DUPFD_CLOEXEC, 0);
	if (keep >= 0) {
		if (s->have_root)
			close(s->rootfd);
		s->have_root = true;
		s->rootfd = keep;
		s->root_dev = st.st_dev;
	}
	return r;
}

int rl_place_tmpfile(int dirfd)
{
	int fd = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	return fd < 0 ? RL_NEG_ERRNO() : fd;
}

/* Release what a failed allocation of [off, off+len) left, and put the
 * size back to old_size, but only while the size is what the allocation
 * made it (at most off+len): a file grown further meanwhile was grown by
 * a writer, and cutting it would lose that writer's data. The range
 * itself held no blocks before the call (rl_allocate refuses otherwise);
 * a write into it while it is being allocated and released is the one
 * race left to the caller (see docs/transactions.md). */
int rl_release_range(int fd, uint64_t off, uint64_t len, uint64_t old_size)
{
	struct stat st;
	int ret = 0;

	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	              (off_t)off, (off_t)len) < 0)
		ret = RL_NEG_ERRNO();
	if (fstat(fd, &st) == 0 && (uint64_t)st.st_size > old_size &&
	    (uint64_t)st.st_size <= off + len &&
	    ftruncate(fd, (off_t)old_size) < 0 && ret == 0)
		ret = RL_NEG_ERRNO();
	return ret;
}

bool rl_place_ext_exact(const struct rl_extent *ext, size_t n, uint64_t off,
                        uint64_t len, uint64_t phys)
{
	uint64_t pos = off;

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
	return pos >= off + len;
}

int rl_place_maps_exactly(int fd, uint64_t off, uint64_t len, uint64_t phys)
{
	struct rl_extent *ext;
	size_t n;
	int ret = rl_get_extents_range(fd, off, len, &ext, &n);

	if (ret < 0)
		return ret;
	ret = rl_place_ext_exact(ext, n, off, len, phys);
	free(ext);
	return ret;
}
