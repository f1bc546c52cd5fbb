/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Exact placement on XFS. (stub: see issue "Exact placement") */
#include "config.h"
#include <errno.h>
#include "fs_internal.h"

int64_t rl_place_xfs(int fd, uint64_t off, uint64_t goal, uint64_t len,
                     unsigned mode)
{
	(void)fd; (void)off; (void)goal; (void)len; (void)mode;
	return -EOPNOTSUPP;
}
