/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Messages for relayout return values. */
#include "config.h"
#include <errno.h>
#include <string.h>
#include "fs_internal.h"

const char *rl_strerror(int err)
{
	if (err > 0)
		err = -err;
	switch (err) {
	case 0:
		return "success";
	case -RL_E_SHARED:
		return "range holds extents shared with other files (moving "
		       "them would unshare them and use more space)";
	case -EOPNOTSUPP:
		return "operation not supported on this filesystem";
	case -EXDEV:
		return "files are on different filesystems";
	case -ETXTBSY:
		return "file is busy: a running program or an active swap "
		       "file (ETXTBSY)";
	case -EROFS:
		return "read-only filesystem (EROFS: the volume is mounted or "
		       "was remounted read-only)";
	case -EDQUOT:
		return "disk quota exceeded (EDQUOT: a move needs room for a "
		       "second copy of the range while it runs)";
	case -EBUSY:
		return "target busy or data changed concurrently (retry may "
		       "succeed)";
	default:
		return strerror(-err);
	}
}
