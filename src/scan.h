/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The scan: walk a mounted volume into a layout model. */
#ifndef RL_SCAN_H
#define RL_SCAN_H
#include <relayout/fs.h>
#include <stdint.h>
#include "layout_model.h"

struct scan_stats {
	uint64_t files;     /* regular files recorded (hard links once) */
	uint64_t dirs;      /* directories recorded */
	uint64_t hardlinks; /* extra paths of files already seen */
	uint64_t extents;   /* extents recorded */
	uint64_t bytes;     /* bytes in those extents */
	uint64_t errors;    /* items recorded as unreadable */
	uint64_t skipped;   /* symlinks, devices, fifos, sockets */
	uint64_t mounts;    /* other mounts not entered */
	uint64_t passed;    /* regular files not looked at (scan_opts.only) */
	uint64_t free_records, meta_records;
	/* bytes named beside the space map: xattr blocks, journal, extent
	 * trees (ext4); log, AG headers, inode chunks (XFS) */
	uint64_t attributed;
	int free_map_err; /* 0, or why the free map is unavailable */
	double seconds;
};

typedef void (*scan_progress_cb)(const struct scan_stats *st, void *arg);

struct scan_opts {
	int threads;               /* 0: 2 */
	scan_progress_cb progress; /* every ~1000 files and at the end */
	void *arg;
	/* when set: only the regular files whose inode numbers are in
	 * only[0 .. nonly) (sorted) are opened and recorded; the others are
	 * counted in scan_stats.passed (a partial model, for a command that
	 * needs those files and the free space only) */
	const uint64_t *only;
	size_t nonly;
	/* read each regular file's generation and inode flags while it is
	 * open (a plan over a region needs them for most files: two ioctls
	 * each, instead of opening every file again) */
	bool attrs;
	/* when set: the walk starts at these directories (paths relative
	 * to the mount point, "." the root) instead of the root; with
	 * no_descend only those directories themselves are recorded, none
	 * of their entries (a model that names them, for a command that
	 * found nothing to do under them) */
	const char *const *roots;
	size_t nroots;
	bool no_descend;
	/* no free-space map: the model has no free space (for a command
	 * that has nothing to plan; never for one that places data) */
	bool no_free_map;
};

/* Scan the volume fs (probed) into a new model (*out; lm_free it).
 * Directories are walked from the mount point with directory fds, never
 * following symlinks and never entering other mounts; every regular file
 * and directory gets fstat and FIEMAP (not the generation and inode flags:
 * the model has them as unknown, see lm_set_file_attrs); free space and
 * metadata come from rl_space_walk (when that fails with
 * -EOPNOTSUPP/-EPERM/-EACCES the model records "free map unavailable").
 * Unreadable items are recorded with their errno and counted, never fatal.
 * Returns 0 or -errno (the root cannot be opened, out of memory). */
int scan_volume(const struct rl_fs_info *fs, const struct scan_opts *o,
                struct lm_model **out, struct scan_stats *st);

/* The generation and inode flags of open regular file fd into fi
 * (generation, iflags, LM_FILE_HAS_GEN/_IFLAGS; LM_FILE_ATTRS_READ even
 * when unknown) and, unless ino is NULL, its inode number (fstat).
 * 0 or -errno (fstat). */
int scan_file_attrs(int fd, uint64_t *ino, struct lm_file_info *fi);

/* path (relative to the directory rootfd) opened with flags, never
 * leaving rootfd, never through a symbolic link, never into another
 * mount (openat2). The descriptor or -errno. */
int scan_open_beneath(int rootfd, const char *path, int flags);

#endif
