/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A file's identity and inode flags (fstat, FS_IOC_GETVERSION,
 * FS_IOC_GETFLAGS). */
#include "config.h"
#include <errno.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include "fs_internal.h"

int rl_file_identity(int fd, uint64_t *ino, uint64_t *gen, bool *gen_known)
{
	struct stat st;
	int g = 0;

	if (ino && fstat(fd, &st) < 0)
		return -errno;
	if (ino)
		*ino = st.st_ino;
	*gen = 0;
	*gen_known = false;
	if (ioctl(fd, FS_IOC_GETVERSION, &g) == 0) {
		*gen = (uint32_t)g;
		*gen_known = true;
	}
	return 0;
}

int rl_file_iflags(int fd, uint32_t *iflags)
{
	int fl = 0;

	if (ioctl(fd, FS_IOC_GETFLAGS, &fl) < 0)
		return -errno;
	*iflags = (uint32_t)fl;
	return 0;
}
