/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers shared by the exact-placement strategies (lib/fs_place*.c). */
#ifndef RL_FS_PLACE_H
#define RL_FS_PLACE_H

#include <relayout/fs.h>

/* One fixed-start placement: options with defaults resolved. */
struct rl_place_ctx {
	const char *state_dir;
	bool no_tunables;
	unsigned max_attempts;
	struct rl_place_report *rep;      /* never NULL */
	struct rl_place_session *session; /* may be NULL */
	int (*stop)(void *arg);           /* may be NULL (rl_place_opts) */
	void *stop_arg;
};

/* Is a stop asked for (rl_place_opts.stop)? */
static inline bool rl_place_stopped(const struct rl_place_ctx *ctx)
{
	return ctx && ctx->stop && ctx->stop(ctx->stop_arg);
}

/* A placement session (include/relayout/fs.h). */
struct ext4_session;
struct rl_place_session {
	struct rl_place_session_stats stats;
	struct ext4_session *ext4; /* lib/fs_place_ext4.c, NULL until used */
	/* XFS: per AG, what the walks of the volume for an anchor found
	 * (lib/fs_place_xfs.c), so that they are not made again */
	dev_t xfs_dev;
	struct rl_xfs_ag_anchor *xfs_ag;
	size_t xfs_nag;
	/* the mount's root directory, found once (rl_place_session_root) */
	bool have_root;
	int rootfd;
	dev_t root_dev;
};

struct rl_xfs_ag_anchor {
	bool walked; /* the volume was walked for the AG's lowest file
	                block that a clone can take */
	bool have;   /* and found one: */
	int fd;      /* its file (open), offset and address */
	uint64_t off, phys;
	bool own; /* a block of our own (keep_anchor), not a file's */
};

/* Free the ext4 state of a session: release its files, restore the
 * tunables. 0 or -errno restoring them. NULL allowed. */
int rl_place_ext4_session_free(struct ext4_session *s);

/* Is [start, start+len) entirely free (GETFSMAP on the filesystem of fd)?
 * 1 yes, 0 no, -errno. */
int rl_place_range_free(int fd, uint64_t start, uint64_t len);

/* Free extents intersecting [start, end), clipped, in address order.
 * *out malloc'ed. 0 or -errno. */
int rl_place_free_list(int fd, uint64_t start, uint64_t end,
                       struct rl_free_extent **out, size_t *n);

/* Open the root directory of the mount holding fd (O_RDONLY|O_DIRECTORY).
 * Returns an fd or -errno. */
int rl_place_mount_root(int fd);

/* rl_place_mount_root, found once per session s (NULL: every time): a
 * descriptor of its own for the caller to close. */
int rl_place_session_root(struct rl_place_session *s, int fd);

/* A private O_TMPFILE (O_RDWR) in directory dirfd. fd or -errno. */
int rl_place_tmpfile(int dirfd);

/* Release blocks of [off, off+len) (punch) and cut the size back to
 * old_size when it grew. Used to leave nothing behind on failure
 * (lib/fs_allocate.c and the strategies). */
int rl_release_range(int fd, uint64_t off, uint64_t len, uint64_t old_size);

/* Does [off, off+len) of fd map to physical [phys, phys+len) in one
 * contiguous run? 1 yes, 0 no, -errno. */
int rl_place_maps_exactly(int fd, uint64_t off, uint64_t len, uint64_t phys);

/* Tunables (lib/fs_tunables.c): a set of /sys/fs/ext4/<dev>/ values
 * changed for the duration of a placement. */
#define RL_TUNABLES_MAX 8
struct rl_tunables {
	char dev[64];
	int lock_fd; /* the journal, flock'ed; -1 when not active */
	char journal[4096];
	int n;
	char name[RL_TUNABLES_MAX][32];
	char orig[RL_TUNABLES_MAX][32];
};

/* Record the originals of names[] (durably) and set them to values[].
 * On failure nothing stays changed. */
int rl_tunables_set(struct rl_tunables *t, const char *state_dir,
                    const char *dev, const char *const *names,
                    const char *const *values, int n);
/* Restore and drop the journal. 0 or -errno (journal kept then). */
int rl_tunables_restore(struct rl_tunables *t);

#endif
