/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* movedata: EXT4_IOC_MOVE_EXT on ext4, copy + FIDEDUPERANGE elsewhere. (stub) */
#include "config.h"
#include <errno.h>
#include "fs_internal.h"

int rl_movedata(int datafd, int spacefd, uint64_t from, uint64_t len,
                unsigned flags)
{
	(void)datafd; (void)spacefd; (void)from; (void)len; (void)flags;
	return -EOPNOTSUPP;
}
