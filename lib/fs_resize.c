/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Resizing a mounted filesystem: rl_fs_shrink, the online shrink of XFS's
 * last allocation group (XFS_IOC_FSGROWFSDATA with a smaller size). */
#include "config.h"
#include <errno.h>
#include <relayout/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "fs_abi.h"
#include "fs_internal.h"

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
