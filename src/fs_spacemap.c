/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Space map and get_free_blocks: FS_IOC_GETFSMAP on ext4/XFS. (stub) */
#include "config.h"
#include <errno.h>
#include "fs_internal.h"

int rl_space_walk(const char *path, uint64_t start, uint64_t end,
                  rl_space_cb cb, void *arg)
{
	(void)path; (void)start; (void)end; (void)cb; (void)arg;
	return -EOPNOTSUPP;
}

int rl_get_free_blocks(const char *path, uint64_t start, uint64_t end,
                       size_t count, struct rl_free_extent *extents)
{
	(void)path; (void)start; (void)end; (void)count; (void)extents;
	return -EOPNOTSUPP;
}
