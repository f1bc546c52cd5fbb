/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Relocation plans and their application.
 *
 * A plan is a list of steps; a step moves one file range onto physical
 * target pieces (file logical -> physical). tx_apply runs the steps in
 * order, journaling each one before it starts and after it ends:
 *
 *   open the file (no symlinks, regular, same mount) -> check inode,
 *   generation and extents are what the plan saw -> donor O_TMPFILE in the
 *   file's directory -> rl_allocate(donor, FIXED_START|CONTIGUOUS|FIXED_LEN)
 *   for each piece at the piece's file offset -> FIEMAP: the donor holds
 *   exactly the targets -> rl_movedata_at(file, donor) -> FIEMAP: the file now
 *   maps the range onto the targets -> journal "done" with the extents ->
 *   close the donor, syncfs (what the step freed is free for the next
 *   step) -> the step_done callback (tx_opts).
 *
 * Before that, targets are held ahead: the free target pieces of up to
 * 4096 later steps (within the open-file limit) are allocated before the
 * first step, in runs (pieces that follow each other physically in plan
 * order), one exact placement and one donor per run, shared by its steps
 * (rl_movedata_at: the donor's offset is the physical address minus the
 * run's base); after each step, the missing pieces of later steps that
 * overlap what it freed, as one batch. A step uses the donors held for it
 * and allocates the pieces still missing; when it ends, its pieces in a
 * shared donor are released there.
 *
 * A failing step stops the plan: earlier steps stay (complete, journaled);
 * the donor (and whatever it still holds) vanishes when it is closed.
 * SIGINT/SIGTERM are held during a step and stop the plan between steps.
 */
#ifndef RL_TXN_H
#define RL_TXN_H
#include <relayout/fs.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "journal.h"

struct tx_step {
	struct jr_range range; /* the file range and where it goes */
	bool gen_known;        /* range.gen is the file's generation */
	uint64_t bytes;        /* data bytes that will move */
	bool unshare;          /* shared extents may move (copied:
	                          RL_MOVE_ALLOW_SHARED) */
	bool anyplace;         /* no target (range.ntarget 0): the range
	                          goes where the allocator puts it in one
	                          fallocate (btrfs), only when that is fewer
	                          runs than now; else it stays (unchanged) */
};

struct tx_plan {
	char *command;    /* command text for the journal */
	uint64_t undo_of; /* undoes that transaction (0: no) */
	struct tx_step *steps;
	size_t nsteps, steps_cap;
	uint64_t total; /* bytes to move */
	uint32_t block_size;
};

struct tx_progress {
	uint64_t done, total; /* bytes */
	double rate;          /* bytes per second so far */
	double eta;           /* seconds left (-1: unknown) */
	size_t step, nsteps;  /* current step (0-based) */
	const char *path;     /* the current step's file */
	size_t steps_done;    /* steps applied so far */
	bool pausing;         /* from a --rate pause: nothing moved since
	                         the last report */
	bool step_end;        /* from step_done: step `step` has ended */
	int step_err;         /* with step_end: 0 applied, else -errno
	                         (failed or stopped, maybe partly moved) */
	size_t reserving;     /* > 0: before the first step, the targets
	                         of that many steps are being held */
	size_t reserved;      /* with reserving: how many so far */
	int fd;               /* with step_end: the step's file, open
	                         read-only or read-write until the callback
	                         returns (-1: not open) */
	size_t files;         /* files in the plan, and those whose every */
	size_t files_done;    /* step has ended: set by the session's hooks
	                         (src/session_txn.c); 0 from tx_apply */
};
typedef void (*tx_progress_cb)(const struct tx_progress *p, void *arg);

/* Opens a file for the plan: the session's safe open (O_NOFOLLOW on
 * every component, regular file, same mount). Returns fd or -errno. */
typedef int (*tx_open_cb)(void *arg, const char *path, int flags);

struct tx_opts {
	uint64_t rate;           /* bytes per second, 0: no limit */
	bool normal_io;          /* false: I/O at idle priority */
	uint64_t chunk;          /* movedata call size (0: 16 MiB) */
	tx_progress_cb progress; /* after every movedata chunk, and every
	                            ~50 ms of a --rate pause */
	void *progress_arg;
	/* Called once a step has ended (applied, failed or stopped, after
	 * its journal record, signals unblocked, before the next step), for
	 * every step that got past its journal PLANNED record: the caller
	 * brings its view of that file and of the step's ranges up to date.
	 * step_end is set; tx_request_cancel works from it too. */
	tx_progress_cb step_done;
	void *step_arg;
	tx_open_cb open_file;
	void *open_arg;
	/* XFS: files (absolute paths, opened with open_file) offered to the
	 * placement session as anchors (rl_place_session_hint): the files
	 * with the lowest data of each AG, as the caller knows them. A
	 * target above one in its AG needs no walk of the volume. */
	const char *const *anchors;
	size_t nanchors;
	bool handle_signals;   /* SIGINT/SIGTERM stop between steps */
	bool no_tunables;      /* ext4: never change global tunables */
	const char *state_dir; /* placement state (ext4 tunables journal);
	                          NULL: rl_state_dir's default */
	/* A step that failed before anything of it moved -- its exact
	 * placement missed (-EBUSY, -ENOSPC: a writer took the target) or
	 * its file changed since the plan (-ESTALE) -- is skipped (journaled
	 * as failed) with the later steps whose targets overlap its old
	 * place (they cannot run without it), and the transaction goes on:
	 * skipped(skip_arg, i, err) for each. Off: such a step ends the
	 * transaction. */
	bool skip_missed;
	void (*skipped)(void *arg, size_t step, int err);
	void *skip_arg;
};

struct tx_result {
	uint64_t id; /* journal transaction id */
	enum jr_status status;
	size_t steps_done;
	size_t failed_step;    /* index when status is FAILED */
	int err;               /* -errno of the failure */
	uint64_t bytes;        /* bytes moved */
	size_t unchanged;      /* anyplace steps left as they were (no
	                          better place came), counted as done */
	uint32_t anchor_walks; /* XFS: walks of the volume for an anchor
	                          (rl_place_session_stats) */
	size_t skipped;        /* steps skipped (tx_opts.skip_missed) */
	char message[1024];
};

void tx_plan_init(struct tx_plan *p);
void tx_plan_free(struct tx_plan *p);
/* Remove the steps i of p with drop[i] set (p->nsteps entries); the
 * others keep their order. */
void tx_plan_drop(struct tx_plan *p, const bool *drop);
void tx_step_clear(struct tx_step *st);

/* Append a step (its arrays are taken over by the plan). */
int tx_plan_add(struct tx_plan *p, struct tx_step *st);

/* FIEMAP of [off, off+len) clipped to the range, merged where
 * physically and logically adjacent (so equal layouts compare equal). */
int tx_range_pieces(int fd, uint64_t off, uint64_t len, struct rl_extent **out,
                    size_t *n);

/* Normalize: sort by logical offset, merge adjacent, drop flags. */
size_t tx_pieces_normalize(struct rl_extent *p, size_t n);
bool tx_pieces_equal(const struct rl_extent *a, size_t na,
                     const struct rl_extent *b, size_t nb);
uint64_t tx_pieces_bytes(const struct rl_extent *p, size_t n);

/* Would the file range, with the data of `before`, map onto `target`
 * after a move (holes stay holes, data lands at target + (L - logical))?
 * Fills *out with the predicted extents. */
int tx_predict(const struct rl_extent *before, size_t nbefore,
               const struct rl_extent *target, size_t ntarget,
               struct rl_extent **out, size_t *n);

/* Does step st leave its range where it is (the targets are where the
 * data is already)? 1, 0, or -ENOMEM. */
int tx_step_in_place(const struct tx_step *st);

/* A one-step plan: [off, off+len) of the file open as fd (named path)
 * contiguously at physical goal. */
int tx_plan_move(struct tx_plan *p, const char *path, int fd, uint64_t off,
                 uint64_t len, uint64_t goal);

/* A plan reverting transaction t (its steps that moved data, newest
 * first): each range goes back to the extents it had before. Fails with
 * -EBADMSG when t has nothing to undo. */
int tx_plan_undo(struct tx_plan *p, const struct jr_txn *t);

/* The parts of step i's range that no earlier step of p moves on the same
 * file (inode), as [logical, logical + length) pieces (physical 0),
 * sorted: there the file must already be as step i's `before` says when
 * the plan starts. The rest is what the earlier steps leave (an undo of
 * several steps on one file: the state after the last one is checked
 * against the file now, the others when they run). */
int tx_step_untouched(const struct tx_plan *p, size_t i, struct rl_extent **out,
                      size_t *n);
/* tx_pieces_equal for the parts of a and b inside [off, off+len): 1, 0,
 * or -ENOMEM. */
int tx_pieces_equal_in(const struct rl_extent *a, size_t na,
                       const struct rl_extent *b, size_t nb, uint64_t off,
                       uint64_t len);

/* The pieces of want (sorted) where have does not already map the same
 * logical bytes to the same physical ones: what a move to want has to
 * move (malloc'ed into *out, normalized). 0 or -ENOMEM. */
int tx_pieces_not_in_place(const struct rl_extent *want, size_t nw,
                           const struct rl_extent *have, size_t nh,
                           struct rl_extent **out, size_t *n);
/* The pieces of p[0..n) inside [off, off+len), cut at its ends, into out
 * (room for n); returns how many. */
size_t tx_pieces_clip(const struct rl_extent *p, size_t n, uint64_t off,
                      uint64_t len, struct rl_extent *out);

/* Run the plan (see above). j: the locked journal. Returns 0 when every
 * step was applied, else -errno with res filled (status FAILED or
 * STOPPED, which step and why). */
/* The signal (SIGINT/SIGTERM) that stopped the last tx_apply with
 * handle_signals, or 0. Also set when it came during the last step (the
 * plan completed): callers stop what follows. */
int tx_stop_signal(void);

/* Ask the running tx_apply to stop as SIGINT would (between movedata
 * chunks; the transaction ends "stopped", the partial state journaled).
 * Safe to call from the progress callback. tx_apply clears the request
 * when it starts; tx_cancelled says whether it stopped the last one. */
void tx_request_cancel(void);
bool tx_cancelled(void);

int tx_apply(const struct tx_plan *p, struct jr_journal *j,
             const struct tx_opts *o, struct tx_result *res);

#endif
