/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* btrfs space map from its trees (BTRFS_IOC_TREE_SEARCH_V2). (stub) */
#include "config.h"
#include <errno.h>
#include "fs_internal.h"

int rl_btrfs_space_walk(const char *path, uint64_t start, uint64_t end,
                        rl_space_cb cb, void *arg)
{
	(void)path; (void)start; (void)end; (void)cb; (void)arg;
	return -EOPNOTSUPP;
}

void rl_btrfs_probe(int fd, struct rl_fs_info *info)
{
	(void)fd; (void)info;
}
