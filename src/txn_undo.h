/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * An undo that fits the volume as it is now. An undo plan (tx_plan_undo)
 * puts every range back exactly where it was; where those blocks were
 * taken meanwhile (by another file, or held back by the filesystem: a
 * placement there failed), tx_undo_fit keeps every part that is free (or
 * freed by an earlier step of the undo) exact and puts the rest in the
 * nearest free run that holds it: in the same group / AG when one does,
 * else anywhere, never where a later step of the undo goes back exactly.
 * Pure logic over the planner's predicted free map (no I/O).
 */
#ifndef RL_TXN_UNDO_H
#define RL_TXN_UNDO_H
#include <stddef.h>
#include <stdint.h>
#include "planner.h"
#include "txn.h"

/* tx_plan_undo of transaction t, less what undos of t that did not
 * complete (failed, stopped, interrupted, and not redone since: the newer
 * ones in j) moved back already: a step they completed is left out (later steps
 * on its file start where it left the file), one they ended part way starts
 * where it left its range. So an undo stopped midway goes on where it ended. 0,
 * -EBADMSG (nothing left to undo) or -ENOMEM. */
int tx_plan_undo_rest(struct tx_plan *p, const struct jr_journal *j,
                      const struct jr_txn *t);

/* One step of a fitted plan. */
struct tx_fit_step {
	size_t exact;    /* its index in the exact plan */
	uint64_t bytes;  /* data bytes it moves */
	uint64_t near;   /* of them, bytes not going to their old place */
	uint64_t old_at; /* with near: the first such piece's old place */
	uint64_t new_at; /* ... and where it goes instead */
};

struct tx_fit {
	struct tx_fit_step *steps; /* one per step of the fitted plan */
	size_t nsteps, steps_cap;
	uint64_t near; /* bytes not going to their old place, in all */
	size_t failed; /* -ENOSPC: the exact step no free run holds */
};

/* Fit steps [from, nsteps) of the exact undo plan `exact` to c's predicted
 * free map (c: pl_init over a fresh scan; its free map is consumed as the
 * steps are planned). excl: [start, end) pairs never to use (targets
 * where a placement failed), nexcl of them. now/nnow (NULL: none): for
 * step from + j, now[j] (when not NULL) is where its range is now, when
 * that may differ from its `before` (a step that ended part way, or went
 * to a fitted place in an earlier transaction). Steps with nothing left to move
 * are dropped. out: an empty plan (command, undo_of and block size are copied).
 * 0, -ENOSPC (fit->failed: no free run holds a piece of that step), or -ENOMEM.
 */
int tx_undo_fit(struct pl_ctx *c, const struct tx_plan *exact, size_t from,
                const uint64_t *excl, size_t nexcl,
                struct rl_extent *const *now, const size_t *nnow,
                struct tx_plan *out, struct tx_fit *fit);
void tx_fit_free(struct tx_fit *f);

#endif
