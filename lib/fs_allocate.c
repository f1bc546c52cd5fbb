/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * allocate(fd, mode, goal, len): the RFC primitive. Non-placed allocations
 * use fallocate(2); exact placement (RL_ALLOC_FIXED_START) goes to the
 * per-filesystem placement strategy. Either way the result is checked with
 * FIEMAP and anything that breaks a promise of the mode is released.
 */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fs_internal.h"
#include "fs_place.h"

/* Check the extents now mapping [off, off+len) against mode. Returns the
 * number of bytes that may be kept (a prefix of the range), or -errno. */
static int64_t verify_allocation(int fd, unsigned mode, uint64_t goal,
                                 uint64_t off, uint64_t len)
{
	struct rl_extent *ext;
	size_t n;
	uint64_t covered = 0, pos = off, phys_next = 0;
	int64_t ret;
	int r = rl_get_extents_range(fd, off, len, &ext, &n);

	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		uint64_t lo = ext[i].logical, hi = lo + ext[i].length;
		uint64_t phys = ext[i].physical;

		if (hi <= off || lo >= off + len)
			continue;
		if (lo < off) {
			phys += off - lo;
			lo = off;
		}
		if (hi > off + len)
			hi = off + len;
		if (lo != pos)
			break; /* a hole: the allocated prefix ends here */
		if (pos == off) {
			if ((mode & RL_ALLOC_FIXED_START) && phys != goal) {
				free(ext);
				return -EBUSY;
			}
		} else if ((mode & RL_ALLOC_CONTIGUOUS) && phys != phys_next) {
			break; /* physically discontiguous */
		}
		phys_next = phys + (hi - lo);
		pos = hi;
		covered = pos - off;
	}
	free(ext);
	if (covered == 0)
		ret = -ENOSPC;
	else if ((mode & RL_ALLOC_FIXED_LEN) && covered != len)
		ret = -ENOSPC;
	else
		ret = (int64_t)covered;
	return ret;
}

/* fallocate [off, off+*len). Without RL_ALLOC_FIXED_LEN the request is
 * "up to len": on ENOSPC halve it until something fits; *len is set to what
 * was asked for last. On failure nothing stays allocated. */
static int allocate_plain(int fd, unsigned mode, uint64_t off, uint64_t *len,
                          uint32_t bsize, uint64_t old_size)
{
	uint64_t want = *len;

	for (;;) {
		if (fallocate(fd, 0, (off_t)off, (off_t)want) == 0) {
			*len = want;
			return 0;
		}
		int ret = RL_NEG_ERRNO();
		/* fallocate may leave a partial allocation behind. */
		rl_release_range(fd, off, want, old_size);
		if (ret != -ENOSPC || (mode & RL_ALLOC_FIXED_LEN) ||
		    want <= bsize)
			return ret;
		want = (want / 2 + bsize - 1) / bsize * bsize;
	}
}

int64_t rl_allocate(int fd, unsigned mode, uint64_t goal, uint64_t len)
{
	return rl_allocate_ex(fd, mode, goal, len, NULL);
}

int64_t rl_allocate_ex(int fd, unsigned mode, uint64_t goal, uint64_t len,
                       const struct rl_place_opts *opts)
{
	struct rl_place_report local_rep;
	struct rl_place_ctx ctx = {
	    .state_dir = rl_state_dir(opts),
	    .no_tunables = opts && opts->no_tunables,
	    .max_attempts = opts && opts->max_attempts
	                        ? opts->max_attempts
	                        : RL_PLACE_DEFAULT_ATTEMPTS,
	    .rep = opts && opts->report ? opts->report : &local_rep,
	    .session = opts ? opts->session : NULL,
	    .stop = opts ? opts->stop : NULL,
	    .stop_arg = opts ? opts->stop_arg : NULL,
	};
	struct stat st;
	uint32_t bsize;
	off_t cur;
	uint64_t off;
	int64_t got;
	int ret;

	memset(ctx.rep, 0, sizeof(*ctx.rep));
	if (mode & ~RL_ALLOC_ALL_FLAGS)
		return -EINVAL;
	if (len == 0)
		return -EINVAL;
	if (fstat(fd, &st) < 0)
		return RL_NEG_ERRNO();
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	ret = rl_fd_block_size(fd, &bsize);
	if (ret < 0)
		return ret;
	cur = lseek(fd, 0, SEEK_CUR);
	if (cur < 0)
		return RL_NEG_ERRNO();
	off = (uint64_t)cur;
	if (off % bsize || len % bsize || goal % bsize)
		return -EINVAL;
	if (off + len < off || off + len > (uint64_t)INT64_MAX)
		return -EFBIG;

	ret = rl_extent_count(fd, off, len);
	if (ret < 0)
		return ret;
	if (ret > 0)
		return -EEXIST;

	if (mode & RL_ALLOC_FIXED_START) {
		switch (rl_fd_fs_type(fd)) {
		case RL_FS_XFS:
			got = rl_place_xfs(fd, off, goal, len, mode, &ctx);
			break;
		case RL_FS_EXT4:
			got = rl_place_ext4(fd, off, goal, len, mode, &ctx);
			break;
		default:
			return -EOPNOTSUPP;
		}
		if (ctx.session) {
			ctx.session->stats.placements++;
			ctx.session->stats.requests += ctx.rep->alloc_calls;
		}
		if (got < 0)
			return got;
	} else {
		ret = allocate_plain(fd, mode, off, &len, bsize,
		                     (uint64_t)st.st_size);
		if (ret < 0)
			return ret;
	}

	got = verify_allocation(fd, mode, goal, off, len);
	if (got < 0) {
		rl_release_range(fd, off, len, (uint64_t)st.st_size);
		return got;
	}
	if ((uint64_t)got < len) {
		/* Keep the prefix that honours the mode; release the rest. */
		uint64_t keep_end = off + (uint64_t)got;
		uint64_t new_size = (uint64_t)st.st_size > keep_end
		                        ? (uint64_t)st.st_size
		                        : keep_end;
		ret = rl_release_range(fd, keep_end, len - (uint64_t)got,
		                       new_size);
		if (ret < 0) {
			rl_release_range(fd, off, len, (uint64_t)st.st_size);
			return ret;
		}
	}
	return got;
}

/* Placement sessions (include/relayout/fs.h; the state in fs_place.h):
 * here, above the per-filesystem strategies whose state they hold. */
int rl_place_session_begin(struct rl_place_session **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

int rl_place_session_end(struct rl_place_session *s,
                         struct rl_place_session_stats *st)
{
	int r;

	if (!s)
		return 0;
	if (st)
		*st = s->stats;
	r = rl_place_ext4_session_free(s->ext4);
	for (size_t i = 0; i < s->xfs_nag; i++)
		if (s->xfs_ag[i].have)
			close(s->xfs_ag[i].fd);
	free(s->xfs_ag);
	if (s->have_root)
		close(s->rootfd);
	free(s);
	return r;
}
