/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Resizing a mounted filesystem: rl_fs_shrink, the online shrink of XFS's
 * last allocation group (XFS_IOC_FSGROWFSDATA with a smaller size), and
 * rl_fs_shrink_clear, which makes the kernel move its own free-space
 * btree and free-list blocks out of the range given up. */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <relayout/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "fs_abi.h"
#include "fs_internal.h"
#include "fs_place.h"

/* The geometry of the XFS holding fd: 0, -EBADF, -EOPNOTSUPP (not XFS)
 * or the ioctl's -errno. */
static int xfs_geometry(int fd, struct rl_xfs_fsop_geom *g)
{
	if (fd < 0)
		return -EBADF;
	if (rl_fd_fs_type(fd) != RL_FS_XFS)
		return -EOPNOTSUPP;
	memset(g, 0, sizeof(*g));
	if (ioctl(fd, RL_XFS_IOC_FSGEOMETRY, g) < 0)
		return RL_NEG_ERRNO();
	return 0;
}

/* xfs_btree_calc_size: the blocks of a btree of records at its emptiest
 * (every block at the minimum fill: half of the maximum). */
static uint64_t btree_max_blocks(uint32_t bs, uint32_t hdr, uint32_t leafrec,
                                 uint32_t noderec, uint64_t records)
{
	uint64_t leafmin = (bs - hdr) / leafrec / 2;
	uint64_t nodemin = (bs - hdr) / noderec / 2;
	uint64_t level, blocks;

	if (!leafmin || !nodemin)
		return 0;
	level = (records + leafmin - 1) / leafmin;
	blocks = level;
	while (level > 1) {
		level = (level + nodemin - 1) / nodemin;
		blocks += level;
	}
	return blocks;
}

int rl_fs_shrink_reserve(int fd, uint64_t new_size, uint64_t *bytes)
{
	struct rl_xfs_fsop_geom g;
	uint64_t lastag, old_len, new_len, blocks = 0;
	uint32_t bs, hdr, agblklog = 0;
	bool log_here;

	int r = xfs_geometry(fd, &g);

	if (r < 0)
		return r;
	if (!bytes)
		return -EINVAL;
	bs = g.blocksize;
	if (!bs || !g.agblocks || !g.agcount || !g.inodesize ||
	    new_size / bs > g.datablocks)
		return -EINVAL;
	lastag = (uint64_t)(g.agcount - 1) * g.agblocks;
	if (new_size / bs <= lastag)
		return -EINVAL;
	old_len = g.datablocks - lastag;
	new_len = new_size / bs - lastag;
	while ((1ull << agblklog) < g.agblocks)
		agblklog++;
	/* an internal log (logstart: AG number << agblklog | AG block) in
	 * the last AG is not reserved for */
	log_here = g.logstart && (g.logstart >> agblklog) == g.agcount - 1;
	if (log_here) {
		old_len = old_len > g.logblocks ? old_len - g.logblocks : 0;
		new_len = new_len > g.logblocks ? new_len - g.logblocks : 0;
	}
	/* short-form btree block header: 56 bytes with CRCs (v5), else 16 */
	hdr = g.version >= 5 ? 56 : 16;
	if (g.flags & RL_XFS_FSOP_GEOM_FLAGS_FINOBT) /* 16-byte records */
		blocks += btree_max_blocks(bs, hdr, 16, 8,
		                           old_len * (bs / g.inodesize) / 64);
	if (g.flags & RL_XFS_FSOP_GEOM_FLAGS_REFLINK) /* 12-byte records */
		blocks += btree_max_blocks(bs, hdr, 12, 8, new_len);
	if (g.flags & RL_XFS_FSOP_GEOM_FLAGS_RMAPBT) { /* 24 bytes; keys 2x20 */
		uint64_t rm = btree_max_blocks(bs, hdr, 24, 44, new_len);
		blocks += rm > new_len / 100 ? rm : new_len / 100;
	}
	*bytes = blocks * bs;
	return 0;
}

int rl_fs_shrink(int fd, uint64_t new_size)
{
	struct rl_xfs_fsop_geom g;
	struct rl_xfs_growfs_data in;
	int r = xfs_geometry(fd, &g);

	if (r < 0)
		return r;
	if (!g.blocksize || new_size % g.blocksize ||
	    new_size / g.blocksize >= g.datablocks)
		return -EINVAL;
	/* Blocks freed by the moves before are "busy" until the log is
	 * written: the kernel would not give them up yet. */
	if (syncfs(fd) < 0)
		return RL_NEG_ERRNO();
	memset(&in, 0, sizeof(in));
	in.newblocks = new_size / g.blocksize;
	in.imaxpct = g.imaxpct;
	if (ioctl(fd, RL_XFS_IOC_FSGROWFSDATA, &in) < 0)
		return RL_NEG_ERRNO();
	return 0;
}

/* Whether [from, to) is one free extent (GETFSMAP, after the blocks freed
 * just now are no longer busy): 1, 0, or -errno. *run_at, *run_len: the
 * largest free run in [lo, to) (0 when none). */
static int tail_free(int fd, uint64_t lo, uint64_t from, uint64_t to,
                     uint64_t *run_at, uint64_t *run_len)
{
	struct rl_free_extent *e = NULL;
	size_t n = 0;
	int r = rl_free_space_settle(fd), all = 0;

	if (r < 0)
		return r;
	r = rl_free_list_fd(fd, lo, to, &e, &n);
	if (r < 0)
		return r;
	*run_at = *run_len = 0;
	for (size_t i = 0; i < n; i++) {
		if (e[i].start <= from && e[i].start + e[i].len >= to)
			all = 1;
		if (e[i].len > *run_len) {
			*run_at = e[i].start;
			*run_len = e[i].len;
		}
	}
	free(e);
	return all;
}

/* One round: a private file of blocks blocks at the exact address at,
 * every second block punched out (that many one-block free extents: the
 * AG's free-space btrees split, and the free list is refilled from the
 * AG's smallest free extents), then the rest punched out from the lowest
 * address up (the btrees join again from their left, the blocks they
 * free pass through the free list, which the kernel trims from its
 * oldest entry). 0 or -errno. */
static int churn_round(int rootfd, uint64_t at, uint64_t blocks, uint32_t bs)
{
	int64_t got;
	int fd = rl_place_tmpfile(rootfd), r = 0;

	if (fd < 0)
		return fd;
	got = rl_allocate(fd, RL_ALLOC_FIXED_START | RL_ALLOC_FIXED_LEN, at,
	                  blocks * bs);
	if (got < 0)
		r = (int)got;
	for (int pass = 1; r == 0 && pass >= 0; pass--)
		for (uint64_t b = (uint64_t)pass; r == 0 && b < blocks; b += 2)
			if (fallocate(
			        fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			        (off_t)(b * bs), (off_t)bs) < 0)
				r = RL_NEG_ERRNO();
	close(fd);
	return r;
}

int rl_fs_shrink_clear(int fd, uint64_t new_size, unsigned max_rounds,
                       unsigned *rounds)
{
	struct rl_xfs_fsop_geom g;
	uint64_t ag0, end, at, len, want, maxrecs;
	int rootfd, r = xfs_geometry(fd, &g), free_now;

	if (rounds)
		*rounds = 0;
	if (r < 0)
		return r;
	if (!g.blocksize || !g.agblocks || !g.agcount)
		return -EINVAL;
	ag0 = (uint64_t)(g.agcount - 1) * g.agblocks * g.blocksize;
	end = g.datablocks * g.blocksize;
	if (new_size % g.blocksize || new_size <= ag0 || new_size >= end)
		return -EINVAL;
	rootfd = rl_place_mount_root(fd);
	if (rootfd < 0)
		return rootfd;
	/* records of a free-space btree leaf (8 bytes each after the v5
	 * short-form header): the holes of a round fill about a dozen
	 * leaves of each tree, twice that the next round (measured on a
	 * 2 GiB aged volume: a round of 5,000 holes moved the free list out
	 * of the tail, where 1,000 and 2,000 left its roots there) */
	maxrecs = (g.blocksize - 56) / 8;
	for (unsigned i = 0;; i++) {
		free_now = tail_free(fd, ag0, new_size, end, &at, &len);
		if (free_now != 0 || i >= max_rounds) {
			r = free_now < 0 ? free_now : free_now ? 0 : -EBUSY;
			break;
		}
		want = i < 32 ? 2 * ((12 * maxrecs) << i) + 1 : UINT64_MAX;
		if (len / g.blocksize < want)
			want = len / g.blocksize;
		if (want < 3) {
			r = -ENOSPC;
			break;
		}
		if (rounds)
			*rounds = i + 1;
		/* odd: the first and last blocks stay until the second pass */
		r = churn_round(rootfd, at, want - !(want & 1), g.blocksize);
		if (r < 0)
			break;
	}
	close(rootfd);
	return r;
}
