/* SPDX-License-Identifier: GPL-2.0-or-later */
/* An interrupted transaction found at a later start (src/txn_recover.h). */
#include "config.h"
#include "txn_recover.h"
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Where the range of fd (a step's file) stands against the step's
 * extents before and its targets; *now: its extents now. */
static enum tx_step_now range_state(int fd, const struct jr_step *js,
                                    struct rl_extent **now, size_t *nnow)
{
	struct rl_extent *want = NULL, *bef = NULL;
	size_t nwant, nbef;
	enum tx_step_now st = TX_NOW_CANNOT_READ;

	if (tx_range_pieces(fd, js->range.offset, js->range.length, now, nnow) <
	    0)
		return st;
	bef = jr_pieces_dup(js->range.before, js->range.nbefore);
	if (!bef)
		return st;
	nbef = tx_pieces_normalize(bef, js->range.nbefore);
	if (tx_predict(bef, nbef, js->range.target, js->range.ntarget, &want,
	               &nwant) == 0) {
		if (tx_pieces_equal(*now, *nnow, bef, nbef))
			st = TX_NOW_NOT_MOVED;
		else if (tx_pieces_equal(*now, *nnow, want, nwant))
			st = TX_NOW_MOVED;
		else
			st = TX_NOW_PARTLY;
	}
	free(want);
	free(bef);
	return st;
}

/* Where does the interrupted step js stand now? */
static enum tx_step_now step_state(const struct jr_step *js,
                                   tx_open_cb open_file, void *open_arg,
                                   struct rl_extent **now, size_t *nnow)
{
	uint64_t ino, gen;
	bool gk;
	enum tx_step_now st;
	int fd = open_file(open_arg, js->range.path, O_RDONLY);

	*now = NULL;
	*nnow = 0;
	if (fd < 0)
		return TX_NOW_CANNOT_OPEN;
	if (rl_file_identity(fd, &ino, &gen, &gk) < 0 || ino != js->range.ino ||
	    (gk && js->range.gen && gen != js->range.gen))
		st = TX_NOW_REPLACED;
	else
		st = range_state(fd, js, now, nnow);
	close(fd);
	return st;
}

/* Step js in flight: recorded as it stands, then as failed. */
static void recover_step(struct jr_journal *j, uint64_t id,
                         const struct jr_step *js, tx_open_cb open_file,
                         void *open_arg, struct tx_recovered_step *rs)
{
	struct rl_extent *now;
	size_t nnow;
	enum tx_step_now st = step_state(js, open_file, open_arg, &now, &nnow);
	unsigned idx = js->index;

	if (rs) {
		rs->index = idx;
		rs->path = strdup(js->range.path);
		rs->offset = js->range.offset;
		rs->length = js->range.length;
		rs->now = st;
	}
	if (now && (st == TX_NOW_MOVED || st == TX_NOW_PARTLY))
		jr_step_done(j, id, idx, now, nnow, 0);
	free(now);
	jr_step_failed(j, id, idx, EINTR,
	               "interrupted (found at a later start)");
}

int tx_recover(struct jr_journal *j, const struct jr_txn *t,
               tx_open_cb open_file, void *open_arg, struct tx_recovery *out)
{
	uint64_t id = t->id;
	int r = 0;

	memset(out, 0, sizeof(*out));
	out->id = id;
	out->command = strdup(t->command ? t->command : "");
	out->time = t->time;
	out->pid = t->pid;
	out->nplanned = t->nplanned;
	for (size_t i = 0; i < t->nsteps; i++)
		out->done += t->steps[i].state == JR_STEP_DONE;
	out->steps = calloc(t->nsteps + 1, sizeof(*out->steps));
	if (!out->command || !out->steps)
		r = -ENOMEM;
	for (size_t i = 0; t && i < t->nsteps; i++) {
		const struct jr_step *js = &t->steps[i];

		if (js->state != JR_STEP_PLANNED)
			continue;
		recover_step(j, id, js, open_file, open_arg,
		             out->steps ? &out->steps[out->nsteps++] : NULL);
		t = jr_find(j, id); /* the array may have moved */
	}
	jr_end(j, id, JR_ST_INTERRUPTED,
	       "the process died during the transaction");
	return r;
}

void tx_recovery_free(struct tx_recovery *r)
{
	for (size_t i = 0; i < r->nsteps; i++)
		free(r->steps[i].path);
	free(r->steps);
	free(r->command);
	memset(r, 0, sizeof(*r));
}
