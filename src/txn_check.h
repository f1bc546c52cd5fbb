/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Before a plan runs: is every target free (or freed by an earlier step
 * of the plan by the time its step runs), and is there room for the
 * plan's peak? When not, what holds the first busy range: the space
 * map's records there and, unless it is filesystem metadata, the files
 * with blocks there (a bounded walk of the mount). The outcome is data;
 * the commands say it in words.
 */
#ifndef RL_TXN_CHECK_H
#define RL_TXN_CHECK_H
#include <relayout/fs.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "txn.h"

enum tx_check_kind {
	TX_CHECK_FREE = 0,   /* every target can be had */
	TX_CHECK_NO_SPACE,   /* need > avail */
	TX_CHECK_BEYOND_END, /* target [lo, hi) ends past volume_size */
	TX_CHECK_NO_MAP,     /* the free-space map cannot be read: err */
	TX_CHECK_BUSY,       /* target [lo, hi): [busy_lo, busy_hi) used */
	TX_CHECK_TAKEN,      /* target [lo, hi) of step `step`: from
	                        busy_lo on, step `taker` (earlier) puts
	                        its data there */
};

#define TX_CHECK_MAX_USED   64 /* space-map records kept (the first) */
#define TX_CHECK_MAX_OWNERS 4  /* owner paths kept (the first found) */

struct tx_check {
	enum tx_check_kind kind;
	int err;                   /* NO_MAP: -errno of the free-space map */
	uint64_t need, avail;      /* NO_SPACE: peak bytes, free bytes */
	uint64_t lo, hi;           /* BEYOND_END, BUSY: the target piece */
	uint64_t volume_size;      /* BEYOND_END */
	uint64_t busy_lo, busy_hi; /* BUSY: the used range found first */
	size_t step, taker;        /* TAKEN */
	/* BUSY: the space map's used records in [busy_lo, busy_hi), the
	 * first TX_CHECK_MAX_USED of them */
	struct rl_space_rec used[TX_CHECK_MAX_USED];
	size_t nused;
	bool metadata; /* BUSY: some of it is fs metadata (then
	                  no walk for owners) */
	/* BUSY: paths of files with blocks in [busy_lo, busy_hi): the first
	 * TX_CHECK_MAX_OWNERS found (malloc'd), nowners found in all */
	char *owners[TX_CHECK_MAX_OWNERS];
	unsigned nowners;
};

/* Check plan p's targets on the volume fs (syncfs first: blocks freed
 * moments ago are free in the map only once the log is committed).
 * fs->free_blocks is refreshed (statvfs). Fills *out (tx_check_fini
 * frees it). Returns 0 free, 1 not (out says why), -errno (NO_MAP).
 * owners: name the files that hold a busy target (a walk of the volume;
 * false: the used blocks only, as a re-check in a hurry wants). */
int tx_check_targets(const struct tx_plan *p, struct rl_fs_info *fs,
                     bool owners, struct tx_check *out);
void tx_check_fini(struct tx_check *c);

/* After tx_check_targets found a target in use: which steps of p to leave
 * out so that the rest can run. busy[i]: a target piece of step i is in
 * use now, not by a step of the plan (written meanwhile by someone else);
 * drop[i]: busy, or a target piece overlaps the old place of an earlier
 * step left out (which then stays taken). Both arrays have p->nsteps
 * entries (the caller's). Returns how many to drop, or -errno. */
ssize_t tx_check_busy_steps(const struct tx_plan *p,
                            const struct rl_fs_info *fs, bool *drop,
                            bool *busy);
/* The pure part of it: drop[i] when busy[i], or when a target piece of
 * step i overlaps the old place of an earlier step dropped. How many, or
 * -ENOMEM. */
ssize_t tx_plan_dependents(const struct tx_plan *p, const bool *busy,
                           bool *drop);

/* What tx_check_targets asks of the plan for each byte of a target (pure;
 * here for the unit tests): an index of the plan's pieces, and whether
 * byte pos is free when step i runs: free now up to free_end (0: in use
 * now), or freed by an earlier step, unless a later one of those puts
 * data there (*taker, else SIZE_MAX). Returns where the free range from
 * pos ends (an earlier step's target starting), or pos when not free. */
struct tx_check_index;
int tx_check_index_build(const struct tx_plan *p, struct tx_check_index **out);
void tx_check_index_free(struct tx_check_index *ix);
uint64_t tx_check_free_at(const struct tx_check_index *ix, size_t i,
                          uint64_t pos, uint64_t free_end, size_t *taker);

/* An undo plan against the files as they are now. */
enum tx_undo_kind {
	TX_UNDO_OK = 0,
	TX_UNDO_CANNOT_OPEN, /* err: open_file's -errno */
	TX_UNDO_REPLACED,    /* another inode (or generation) at the path */
	TX_UNDO_CHANGED,     /* its blocks moved again since */
};
struct tx_undo_check {
	enum tx_undo_kind kind;
	size_t step; /* the step that failed the check */
	int err;
};

/* Check every step of the undo plan p against its file now (opened
 * through open_file): the same file, and where the transaction left it.
 * A file that several steps moved must be where the last of them left
 * it; where the undo's later steps expect it (where earlier steps of the
 * transaction left it) tx_apply checks when they run. 0, or 1 (out
 * says which step and why). */
int tx_check_undo_files(const struct tx_plan *p, tx_open_cb open_file,
                        void *open_arg, struct tx_undo_check *out);

#endif
