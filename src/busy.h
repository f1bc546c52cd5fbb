/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Files the kernel does not let anyone write, so that no step can move
 * them (ETXTBSY): the executable of a running program (execve denies
 * writes to it while the process lives; opening it for writing fails)
 * and an active swap file (MOVE_EXT and movedata refuse it). The planner
 * skips them with the reason (pl_ctx.file_busy); a command that met
 * ETXTBSY says which of the two the file is.
 */
#ifndef RL_BUSY_H
#define RL_BUSY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

enum busy_kind { BUSY_NONE = 0, BUSY_SWAP, BUSY_PROGRAM, BUSY_OPEN };

struct busy_id {
	dev_t dev;
	ino_t ino;
	enum busy_kind kind;
};

/* The busy files as read at one moment (busy_load). */
struct busy_set {
	struct busy_id *ids;
	size_t n, cap;
	bool loaded;
	bool sorted; /* ids in (dev, ino, kind) order: busy_find halves */
};

/* Read the set once (a loaded set is kept as it is): every active swap
 * file of /proc/swaps and the executable of every process whose
 * /proc/PID/exe may be looked at (every process for root, a user's own
 * for a user). Entries that cannot be read are left out. 0 or -ENOMEM. */
int busy_load(struct busy_set *b);
/* Add the swap files listed in f (the format of /proc/swaps: a header
 * line, then the path, octal escapes such as \040 for a blank, and
 * columns) that exist. 0 or -ENOMEM. */
int busy_add_swaps(struct busy_set *b, FILE *f);
/* Add what processes hold on the filesystem dev (BUSY_OPEN; files and
 * directories): open descriptors, working and root directories, and the
 * inodes inotify and fanotify watch, of every process whose /proc entries
 * may be read. A snapshot: what is opened later is not in it. 0 or
 * -ENOMEM. */
int busy_load_open(struct busy_set *b, dev_t dev);
enum busy_kind busy_find(const struct busy_set *b, dev_t dev, ino_t ino);
void busy_free(struct busy_set *b);

/* What the file at path (not followed when a symlink) is, after ETXTBSY:
 * BUSY_NONE when neither could be seen. */
enum busy_kind busy_of_path(const char *path);
/* The reason for a message: "an active swap file (ETXTBSY...)", "the
 * executable of a running program (ETXTBSY...)"; for BUSY_NONE the
 * library's message (rl_strerror(-ETXTBSY)). */
const char *busy_reason(enum busy_kind k);

#endif
