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

int rl_fs_shrink(int fd, uint64_t new_size)
{
	struct rl_xfs_fsop_geom g;
	struct rl_xfs_growfs_data in;

	if (fd < 0)
		return -EBADF;
	if (rl_fd_fs_type(fd) != RL_FS_XFS)
		return -EOPNOTSUPP;
	memset(&g, 0, sizeof(g));
	if (ioctl(fd, RL_XFS_IOC_FSGEOMETRY, &g) < 0)
		return RL_NEG_ERRNO();
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
