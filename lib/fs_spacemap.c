/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Space map and get_free_blocks.
 *
 * ext4 and XFS answer FS_IOC_GETFSMAP: a list of records {device, physical,
 * length, owner, offset, flags} in (device, physical, owner, offset) order.
 * We ask for the data device only (its dev_t is the st_dev of the mount),
 * page through the answer with the last record of each batch as the next low
 * key, and turn every record into a struct rl_space_rec clipped to the
 * caller's range. btrfs has no GETFSMAP: lib/fs_btrfs.c reads its trees.
 */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/fsmap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fs_abi.h"
#include "fs_internal.h"

#define RL_FSMAP_BATCH 512

/* Labels of the special owners ext4 and XFS report (fs/ext4/fsmap.h,
 * fs/xfs/libxfs/xfs_fs.h: the 'X' codes are shared by both). */
static const struct {
	uint64_t owner;
	const char *what;
} special_owners[] = {
    {FMR_OWNER('X', 1), "fs-headers"},     /* sb (+ XFS AGF/AGI/AGFL) */
    {FMR_OWNER('X', 2), "log"},            /* journal / XFS log */
    {FMR_OWNER('X', 3), "ag-metadata"},    /* XFS free-space/rmap btrees */
    {FMR_OWNER('X', 4), "inode-btree"},    /* XFS inobt/finobt */
    {FMR_OWNER('X', 5), "inodes"},         /* inode tables / chunks */
    {FMR_OWNER('X', 6), "refcount-btree"}, /* XFS refcountbt */
    {FMR_OWNER('X', 7), "cow-staging"},    /* XFS CoW staging extents */
    {FMR_OWNER('X', 8), "defective"},      /* XFS bad blocks */
    {FMR_OWNER('f', 1), "group-desc"},     /* ext4 GDT */
    {FMR_OWNER('f', 2), "reserved-gdt"},   /* ext4 reserved GDT */
    {FMR_OWNER('f', 3), "block-bitmap"},   /* ext4 */
    {FMR_OWNER('f', 4), "inode-bitmap"},   /* ext4 */
};

static void set_what(struct rl_space_rec *r, const char *what)
{
	snprintf(r->what, sizeof(r->what), "%s", what);
}

/* One GETFSMAP record -> rl_space_rec (unclipped). */
static void fsmap_to_rec(const struct fsmap *m, struct rl_space_rec *r)
{
	memset(r, 0, sizeof(*r));
	r->start = m->fmr_physical;
	r->length = m->fmr_length;
	if (m->fmr_flags & FMR_OF_SHARED)
		r->flags |= RL_SPACE_F_SHARED;
	if (m->fmr_flags & FMR_OF_PREALLOC)
		r->flags |= RL_SPACE_F_UNWRITTEN;
	if (m->fmr_flags & FMR_OF_ATTR_FORK)
		r->flags |= RL_SPACE_F_ATTR;
	if (m->fmr_flags & FMR_OF_EXTENT_MAP)
		r->flags |= RL_SPACE_F_BMBT;

	if (!(m->fmr_flags & FMR_OF_SPECIAL_OWNER)) {
		/* An inode owns it (XFS with rmapbt). Its block-map btree
		 * blocks are metadata, the rest is file (or xattr) data. */
		r->owner = m->fmr_owner;
		if (m->fmr_flags & FMR_OF_EXTENT_MAP) {
			r->kind = RL_SPACE_METADATA;
			set_what(r, "bmbt");
		} else {
			r->kind = RL_SPACE_DATA;
			r->offset = m->fmr_offset;
			set_what(r, m->fmr_flags & FMR_OF_ATTR_FORK ? "attr"
			                                            : "inode");
		}
		return;
	}
	if (m->fmr_owner == FMR_OWN_FREE) {
		r->kind = RL_SPACE_FREE;
		set_what(r, "free");
		return;
	}
	if (m->fmr_owner == FMR_OWN_UNKNOWN) {
		r->kind = RL_SPACE_UNKNOWN;
		set_what(r, "unknown");
		return;
	}
	r->kind = RL_SPACE_METADATA;
	set_what(r, "metadata");
	for (size_t i = 0;
	     i < sizeof(special_owners) / sizeof(special_owners[0]); i++) {
		if (special_owners[i].owner == m->fmr_owner) {
			set_what(r, special_owners[i].what);
			break;
		}
	}
}

/* Clip r to [start, end); false when nothing is left. */
static bool clip_rec(struct rl_space_rec *r, uint64_t start, uint64_t end)
{
	uint64_t a = r->start, b = r->start + r->length;

	if (b <= start || a >= end)
		return false;
	if (a < start) {
		if (r->kind == RL_SPACE_DATA)
			r->offset += start - a;
		a = start;
	}
	if (b > end)
		b = end;
	r->start = a;
	r->length = b - a;
	return true;
}

static int fsmap_walk(int fd, dev_t dev, uint64_t start, uint64_t end,
                      rl_space_cb cb, void *arg)
{
	struct fsmap_head *h;
	struct rl_space_rec rec;
	int ret = 0;

	h = calloc(1, fsmap_sizeof(RL_FSMAP_BATCH));
	if (!h)
		return -ENOMEM;
	h->fmh_count = RL_FSMAP_BATCH;
	/* Low key: the data device from start; high key: everything on
	 * that device up to end - 1. */
	h->fmh_keys[0].fmr_device = (uint32_t)dev;
	h->fmh_keys[0].fmr_physical = start;
	h->fmh_keys[1].fmr_device = (uint32_t)dev;
	h->fmh_keys[1].fmr_physical = end - 1;
	h->fmh_keys[1].fmr_owner = UINT64_MAX;
	h->fmh_keys[1].fmr_offset = UINT64_MAX;
	h->fmh_keys[1].fmr_flags = UINT32_MAX;

	for (;;) {
		if (ioctl(fd, FS_IOC_GETFSMAP, h) < 0) {
			ret = RL_NEG_ERRNO();
			if (ret == -ENOTTY)
				ret = -EOPNOTSUPP;
			break;
		}
		if (h->fmh_entries == 0)
			break;
		bool last = false;
		for (uint32_t i = 0; i < h->fmh_entries; i++) {
			const struct fsmap *m = &h->fmh_recs[i];

			if (m->fmr_flags & FMR_OF_LAST)
				last = true;
			/* A device other than the data device (external
			 * log, realtime): not in our address space. */
			if ((h->fmh_oflags & FMH_OF_DEV_T) &&
			    m->fmr_device != (uint32_t)dev)
				continue;
			fsmap_to_rec(m, &rec);
			if (!clip_rec(&rec, start, end))
				continue;
			ret = cb(&rec, arg);
			if (ret)
				goto out;
		}
		const struct fsmap *lr = &h->fmh_recs[h->fmh_entries - 1];
		if (last || lr->fmr_physical + lr->fmr_length >= end)
			break;
		/* Next batch continues after the last record (the kernel
		 * takes the whole record as the low key). */
		h->fmh_keys[0] = *lr;
	}
out:
	free(h);
	return ret;
}

/* rl_space_walk on an open descriptor of the filesystem (ext4, XFS: no
 * open of a path; others: -EOPNOTSUPP, the caller walks by path). */
static int space_walk_fd(int fd, uint64_t start, uint64_t end, rl_space_cb cb,
                         void *arg)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return RL_NEG_ERRNO();
	switch (rl_fd_fs_type(fd)) {
	case RL_FS_EXT4:
	case RL_FS_XFS:
		return fsmap_walk(fd, st.st_dev, start, end, cb, arg);
	default:
		return -EOPNOTSUPP;
	}
}

int rl_space_walk(const char *path, uint64_t start, uint64_t end,
                  rl_space_cb cb, void *arg)
{
	int fd, ret;

	if (!path || !cb)
		return -EINVAL;
	if (end == 0)
		end = UINT64_MAX;
	if (end <= start)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return RL_NEG_ERRNO();
	ret = space_walk_fd(fd, start, end, cb, arg);
	if (ret == -EOPNOTSUPP && rl_fd_fs_type(fd) == RL_FS_BTRFS)
		ret = rl_btrfs_space_walk(path, start, end, cb, arg);
	close(fd);
	return ret;
}

/* ------------------------------------------------------ get_free_blocks */

struct free_collect {
	struct rl_free_extent *ext;
	size_t count; /* capacity */
	size_t n;     /* filled */
	bool grow;    /* realloc ext when full instead of stopping */
};

/* Returned by the callback to end the walk early: the array is full and
 * the record seen cannot extend its last extent. */
#define FREE_COLLECT_DONE 1

static int free_collect_cb(const struct rl_space_rec *r, void *arg)
{
	struct free_collect *fc = arg;
	struct rl_free_extent *last = fc->n ? &fc->ext[fc->n - 1] : NULL;
	uint64_t last_end = last ? last->start + last->len : 0;

	if (last && r->start < last_end) {
		/* Overlaps what we have (XFS reports shared blocks once per
		 * owner): free space never overlaps, so nothing to add. */
		if (r->kind != RL_SPACE_FREE ||
		    r->start + r->length <= last_end)
			return 0;
		last->len = r->start + r->length - last->start;
		return 0;
	}
	if (r->kind != RL_SPACE_FREE)
		return fc->n == fc->count && !fc->grow ? FREE_COLLECT_DONE : 0;
	if (last && r->start == last_end) {
		/* Adjacent (the kernel splits free space at group/AG
		 * boundaries and at batch ends): merge. */
		last->len += r->length;
		return 0;
	}
	if (fc->n == fc->count) {
		size_t cap = fc->count ? 2 * fc->count : 256;
		struct rl_free_extent *v;

		if (!fc->grow)
			return FREE_COLLECT_DONE;
		if (cap > SIZE_MAX / sizeof(*v) ||
		    !(v = realloc(fc->ext, cap * sizeof(*v))))
			return -ENOMEM;
		fc->ext = v;
		fc->count = cap;
	}
	fc->ext[fc->n].start = r->start;
	fc->ext[fc->n].len = r->length;
	fc->n++;
	return 0;
}

int rl_get_free_blocks(const char *path, uint64_t start, uint64_t end,
                       size_t count, struct rl_free_extent *extents)
{
	struct free_collect fc = {.ext = extents, .count = count, .n = 0};
	int ret;

	if (!path || (count && !extents))
		return -EINVAL;
	if (end && end <= start)
		return -EINVAL;
	if (count == 0)
		return 0;
	if (count > INT32_MAX)
		fc.count = INT32_MAX;
	ret = rl_space_walk(path, start, end, free_collect_cb, &fc);
	if (ret < 0)
		return ret;
	return (int)fc.n;
}

/* The free extents of [start, end) by fd (ext4, XFS) when fd >= 0, else
 * by path. */
static int free_list(int fd, const char *path, uint64_t start, uint64_t end,
                     struct rl_free_extent **out, size_t *count)
{
	struct free_collect fc = {.grow = true};
	int ret;

	*out = NULL;
	*count = 0;
	if ((fd < 0 && !path) || (end && end <= start))
		return -EINVAL;
	ret = fd >= 0 ? space_walk_fd(fd, start, end ? end : UINT64_MAX,
	                              free_collect_cb, &fc)
	              : rl_space_walk(path, start, end, free_collect_cb, &fc);
	if (ret < 0) {
		free(fc.ext);
		return ret;
	}
	*out = fc.ext;
	*count = fc.n;
	return 0;
}

int rl_free_list(const char *path, uint64_t start, uint64_t end,
                 struct rl_free_extent **out, size_t *count)
{
	return free_list(-1, path, start, end, out, count);
}

int rl_free_list_fd(int fd, uint64_t start, uint64_t end,
                    struct rl_free_extent **out, size_t *count)
{
	return free_list(fd, NULL, start, end, out, count);
}

/* The commit of rl_fs_commit in directory dirfd: 0 or -errno. */
static int commit_in(int dirfd)
{
	int t = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600), r;

	if (t < 0)
		return RL_NEG_ERRNO();
	r = fsync(t) < 0 ? RL_NEG_ERRNO() : 0;
	close(t);
	return r;
}

/* Commit by fsync of a new O_TMPFILE inode in fd (a directory) or in the
 * directory fd's name is in, on fd's filesystem: 0, or -errno when that
 * cannot be done. */
static int commit_tmpfile(int fd)
{
	char link[64], path[4096];
	struct stat a, b;
	ssize_t n;
	int d, r = -ENOTDIR;

	if (fstat(fd, &a) < 0)
		return RL_NEG_ERRNO();
	if (S_ISDIR(a.st_mode))
		return commit_in(fd);
	/* the directory its name was in (an unlinked donor's too:
	 * "DIR/#INO (deleted)"), on the same filesystem */
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	char *slash = n > 0 ? memrchr(path, '/', (size_t)n) : NULL;
	if (slash) {
		*(slash == path ? slash + 1 : slash) = '\0';
		d = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (d >= 0) {
			if (fstat(d, &b) == 0 && b.st_dev == a.st_dev)
				r = commit_in(d);
			close(d);
		}
	}
	return r;
}

int rl_fs_commit(int fd)
{
	if (rl_fd_fs_type(fd) == RL_FS_EXT4 && commit_tmpfile(fd) == 0)
		return 0;
	return syncfs(fd) < 0 ? RL_NEG_ERRNO() : 0;
}

int rl_free_space_settle(int fd)
{
	struct rl_xfs_fs_eofblocks eb;

	memset(&eb, 0, sizeof(eb));
	eb.eof_version = RL_XFS_EOFBLOCKS_VERSION;
	/* ENOTTY on other filesystems: nothing to wait for there */
	/* XFS: a log force is what frees busy extents; syncfs forces it
	 * after writing back every file's dirty data, which under buffered
	 * writers waited 335 ms a settle (67 of them: 22 s of an evacuation
	 * of 1,078 steps). The fsync of a new inode forces the log alone
	 * (its create transaction pins it); the inactivation the ioctl
	 * waited for is in that log. */
	if (ioctl(fd, RL_XFS_IOC_FREE_EOFBLOCKS, &eb) == 0 &&
	    rl_fd_fs_type(fd) == RL_FS_XFS && commit_tmpfile(fd) == 0)
		return 0;
	return rl_fs_commit(fd);
}
