/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Exact placement on ext4. (in progress) */
#include "config.h"
#include <errno.h>
#include "fs_internal.h"
#include "fs_place.h"

int64_t rl_place_ext4(int fd, uint64_t off, uint64_t goal, uint64_t len,
                      unsigned mode, struct rl_place_ctx *ctx)
{
	(void)fd; (void)off; (void)goal; (void)len; (void)mode; (void)ctx;
	return -EOPNOTSUPP;
}
