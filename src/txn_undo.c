/* SPDX-License-Identifier: GPL-2.0-or-later */
/* An undo that fits the volume as it is now (see txn_undo.h). */
#include "config.h"
#include "txn_undo.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "mem.h"

#define FIT_WINDOW (1ull << 20) /* the first window around the old place */

/* The free runs of [start, start+len) taken out of fm; appended to
 * *saved (when saved is not NULL) so they can be given back. */
static int fm_take_free(struct pl_freemap *fm, uint64_t start, uint64_t len,
                        struct pl_run **saved, size_t *nsaved, size_t *cap)
{
	uint64_t end = start + len;

	for (;;) {
		size_t i = pl_fm_first(fm, start);
		uint64_t a, b;
		int r;

		if (i >= fm->n || fm->r[i].start >= end)
			return 0;
		a = fm->r[i].start > start ? fm->r[i].start : start;
		b = fm->r[i].start + fm->r[i].len;
		if (b > end)
			b = end;
		r = pl_fm_take(fm, a, b - a);
		if (r < 0)
			return r;
		if (saved) {
			if (mem_grow(saved, cap, *nsaved + 1, sizeof(**saved)) <
			    0)
				return -ENOMEM;
			(*saved)[*nsaved].start = a;
			(*saved)[(*nsaved)++].len = b - a;
		}
		start = b;
	}
}

/* How much of [x, x+len) from x on is free (0: x is not). */
static uint64_t fm_free_from(const struct pl_freemap *fm, uint64_t x,
                             uint64_t len)
{
	size_t i = pl_fm_first(fm, x);
	uint64_t e;

	if (i >= fm->n || fm->r[i].start > x)
		return 0;
	e = fm->r[i].start + fm->r[i].len - x;
	return e < len ? e : len;
}

/* How much of [x, x+len) from x on is not free. */
static uint64_t fm_busy_from(const struct pl_freemap *fm, uint64_t x,
                             uint64_t len)
{
	size_t i = pl_fm_first(fm, x);

	if (i >= fm->n || fm->r[i].start >= x + len)
		return len;
	return fm->r[i].start > x ? fm->r[i].start - x : 0;
}

/* The free run nearest to `near` that holds len bytes: windows around it
 * that double, inside its group first, then across the volume (in each
 * window the planner's choice: best fit, then nearest). */
static uint64_t find_near(struct pl_ctx *c, uint64_t len, uint64_t near)
{
	const struct rl_fs_info *fs = &c->g->fs;
	uint64_t gs = 0, ge = UINT64_MAX, vend = 0;

	if (c->fm.n)
		vend = c->fm.r[c->fm.n - 1].start + c->fm.r[c->fm.n - 1].len;
	if (fs->group_size) {
		uint64_t k =
		    near < fs->first_data_byte + fs->group_size
		        ? 0
		        : (near - fs->first_data_byte) / fs->group_size;
		if (fs->group_count && k >= fs->group_count)
			k = fs->group_count - 1;
		lm_group_range(c->m, k, &gs, &ge);
	}
	for (int pass = 0; pass < 2; pass++) {
		uint64_t lo_end = pass ? 0 : gs, hi_end = pass ? vend : ge;

		if (hi_end > vend)
			hi_end = vend;
		for (uint64_t w = len > FIT_WINDOW ? len : FIT_WINDOW;;
		     w = w < UINT64_MAX / 2 ? w * 2 : UINT64_MAX) {
			uint64_t lo = near > lo_end + w ? near - w : lo_end;
			uint64_t hi = near + w < hi_end && near + w > near
			                  ? near + w
			                  : hi_end;
			uint64_t g = pl_find_target(c, len, near, lo, hi);

			if (g != UINT64_MAX)
				return g;
			if (lo <= lo_end && hi >= hi_end)
				break;
		}
	}
	return UINT64_MAX;
}

/* pieces of p[0..n) outside the logical range [a, b), and those of
 * q[0..nq) inside it: a range's layout after an earlier step on the same
 * file left q over [a, b). */
static int overlay(struct rl_extent **p, size_t *n, const struct rl_extent *q,
                   size_t nq, uint64_t a, uint64_t b)
{
	struct rl_extent *o = calloc(2 * *n + nq + 1, sizeof(*o));
	size_t k;

	if (!o)
		return -ENOMEM;
	k = tx_pieces_clip(*p, *n, 0, a, o);
	k += tx_pieces_clip(*p, *n, b, UINT64_MAX - b, o + k);
	k += tx_pieces_clip(q, nq, a, b - a, o + k);
	free(*p);
	*p = o;
	*n = tx_pieces_normalize(o, k);
	return 0;
}

static int cmp_run(const void *a, const void *b)
{
	const struct pl_run *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* Reserve what the exact plan's steps after j put back exactly (free
 * parts taken out of the map, into *saved): a piece placed near its old
 * place must not take another step's old place. Their pieces are merged
 * first (an evacuated region's old places are a few runs). */
static int reserve_later(struct pl_ctx *c, const struct tx_plan *exact,
                         size_t j, struct pl_run **saved, size_t *nsaved,
                         size_t *cap)
{
	struct pl_run *all = NULL;
	size_t n = 0, acap = 0, k = 0;
	int r = 0;

	for (size_t i = j + 1; i < exact->nsteps && r == 0; i++) {
		const struct jr_range *e = &exact->steps[i].range;
		for (size_t q = 0; q < e->ntarget && r == 0; q++) {
			if (mem_grow(&all, &acap, n + 1, sizeof(*all)) < 0) {
				r = -ENOMEM;
				break;
			}
			all[n].start = e->target[q].physical;
			all[n++].len = e->target[q].length;
		}
	}
	if (r == 0 && n)
		mem_sort(all, n, sizeof(*all), cmp_run);
	for (size_t i = 0; r == 0 && i < n; i++) {
		if (k && all[i].start <= all[k - 1].start + all[k - 1].len) {
			uint64_t e = all[i].start + all[i].len;
			if (e > all[k - 1].start + all[k - 1].len)
				all[k - 1].len = e - all[k - 1].start;
			continue;
		}
		all[k++] = all[i];
	}
	for (size_t i = 0; r == 0 && i < k; i++)
		r = fm_take_free(&c->fm, all[i].start, all[i].len, saved,
		                 nsaved, cap);
	free(all);
	return r;
}

static int give_back(struct pl_ctx *c, const struct pl_run *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (pl_fm_give(&c->fm, r[i].start, r[i].len) < 0)
			return -ENOMEM;
	return 0;
}

/* Where the pieces tgt[0..n) of exact step j go now: the free parts where
 * they were, the rest near. Fills *out (malloc'ed, normalized, taken from
 * the free map) and fs's near fields. */
static int place_step(struct pl_ctx *c, const struct tx_plan *exact, size_t j,
                      const struct rl_extent *tgt, size_t n,
                      struct rl_extent **out, size_t *nout,
                      struct tx_fit_step *fs)
{
	struct rl_extent *o = NULL, *busy = NULL;
	size_t k = 0, cap = 0, nb = 0, bcap = 0, nsaved = 0, scap = 0;
	struct pl_run *saved = NULL;
	int r = 0;

	/* pass 1: the free parts stay exact, the rest is noted */
	for (size_t i = 0; i < n && r == 0; i++) {
		uint64_t x = tgt[i].physical, end = x + tgt[i].length;

		while (x < end && r == 0) {
			uint64_t f = fm_free_from(&c->fm, x, end - x);
			bool is_free = f > 0;
			uint64_t l =
			    is_free ? f : fm_busy_from(&c->fm, x, end - x);
			struct rl_extent **arr = is_free ? &o : &busy;
			size_t *cnt = is_free ? &k : &nb,
			       *cp = is_free ? &cap : &bcap;

			if (mem_grow(arr, cp, *cnt + 1, sizeof(**arr)) < 0) {
				r = -ENOMEM;
				break;
			}
			(*arr)[*cnt].logical =
			    tgt[i].logical + (x - tgt[i].physical);
			(*arr)[*cnt].physical = x;
			(*arr)[*cnt].length = l;
			(*arr)[*cnt].flags = 0;
			(*cnt)++;
			if (is_free)
				r = pl_fm_take(&c->fm, x, l);
			x += l;
		}
	}
	/* pass 2: the rest near its old place, not on a later step's */
	if (r == 0 && nb)
		r = reserve_later(c, exact, j, &saved, &nsaved, &scap);
	for (size_t i = 0; i < nb && r == 0; i++) {
		uint64_t g = find_near(c, busy[i].length, busy[i].physical);

		if (g == UINT64_MAX) {
			r = -ENOSPC;
			break;
		}
		if (!fs->near) {
			fs->old_at = busy[i].physical;
			fs->new_at = g;
		}
		fs->near += busy[i].length;
		r = pl_fm_take(&c->fm, g, busy[i].length);
		if (r == 0 && mem_grow(&o, &cap, k + 1, sizeof(*o)) < 0)
			r = -ENOMEM;
		if (r == 0) {
			o[k] = busy[i];
			o[k++].physical = g;
		}
	}
	if (give_back(c, saved, nsaved) < 0 && r == 0)
		r = -ENOMEM;
	free(saved);
	free(busy);
	if (r < 0) {
		free(o);
		return r;
	}
	*out = o ? o : calloc(1, sizeof(*o));
	*nout = tx_pieces_normalize(*out, k);
	return *out ? 0 : -ENOMEM;
}

/* Give back what the step frees: the blocks of bef under the logical
 * ranges of the pieces moved. */
static int give_freed(struct pl_ctx *c, const struct rl_extent *bef, size_t nb,
                      const struct rl_extent *tgt, size_t nt)
{
	struct rl_extent *cl = calloc(nb + 1, sizeof(*cl));
	int r = 0;

	if (!cl)
		return -ENOMEM;
	for (size_t i = 0; i < nt && r == 0; i++) {
		size_t k =
		    tx_pieces_clip(bef, nb, tgt[i].logical, tgt[i].length, cl);
		for (size_t q = 0; q < k && r == 0; q++)
			r = pl_fm_give(&c->fm, cl[q].physical, cl[q].length);
	}
	free(cl);
	return r;
}

/* Step j of the exact plan, fitted: bef is where its range is when it
 * runs (taken over). Adds the step to out (unless nothing moves) and
 * sets *aft to the range's layout afterwards. */
static int fit_step(struct pl_ctx *c, const struct tx_plan *exact, size_t j,
                    struct rl_extent *bef, size_t nbef, struct tx_plan *out,
                    struct tx_fit *fit, struct rl_extent **aft, size_t *naft)
{
	const struct tx_step *e = &exact->steps[j];
	struct rl_extent *want = NULL, *todo = NULL, *placed = NULL;
	size_t nwant, ntodo, nplaced = 0;
	struct tx_fit_step fs = {.exact = j};
	struct tx_step st;
	int r;

	memset(&st, 0, sizeof(st));
	/* where the exact plan puts the data; what of it has to move */
	r = tx_predict(e->range.before, e->range.nbefore, e->range.target,
	               e->range.ntarget, &want, &nwant);
	if (r == 0)
		r = tx_pieces_not_in_place(want, nwant, bef, nbef, &todo,
		                           &ntodo);
	free(want);
	if (r == 0 && ntodo)
		r = place_step(c, exact, j, todo, ntodo, &placed, &nplaced,
		               &fs);
	free(todo);
	if (r == 0 && nplaced)
		r = give_freed(c, bef, nbef, placed, nplaced);
	if (r == 0)
		r = tx_predict(bef, nbef, placed, nplaced, aft, naft);
	if (r < 0 || !nplaced) {
		free(bef);
		free(placed);
		if (r == -ENOSPC)
			fit->failed = j;
		return r;
	}
	st.range = e->range;
	st.range.path = strdup(e->range.path);
	st.range.before = bef;
	st.range.nbefore = nbef;
	st.range.target = placed;
	st.range.ntarget = nplaced;
	st.gen_known = e->gen_known;
	st.bytes = fs.bytes = tx_pieces_bytes(placed, nplaced);
	if (!st.range.path ||
	    mem_grow(&fit->steps, &fit->steps_cap, out->nsteps + 1,
	             sizeof(*fit->steps)) < 0) {
		tx_step_clear(&st);
		return -ENOMEM;
	}
	r = tx_plan_add(out, &st);
	if (r < 0) {
		tx_step_clear(&st);
		return r;
	}
	fit->steps[out->nsteps - 1] = fs;
	fit->nsteps = out->nsteps;
	fit->near += fs.near;
	return 0;
}

int tx_undo_fit(struct pl_ctx *c, const struct tx_plan *exact, size_t from,
                const uint64_t *excl, size_t nexcl,
                struct rl_extent *const *now, const size_t *nnow,
                struct tx_plan *out, struct tx_fit *fit)
{
	size_t n = exact->nsteps > from ? exact->nsteps - from : 0;
	struct rl_extent **aft = calloc(n + 1, sizeof(*aft));
	size_t *naft = calloc(n + 1, sizeof(*naft));
	int r = aft && naft ? 0 : -ENOMEM;

	memset(fit, 0, sizeof(*fit));
	out->undo_of = exact->undo_of;
	out->block_size = exact->block_size;
	if (r == 0 && exact->command &&
	    !(out->command = strdup(exact->command)))
		r = -ENOMEM;
	/* the blocks where a placement failed are not free to us */
	for (size_t x = 0; x < nexcl && r == 0; x++)
		r = fm_take_free(&c->fm, excl[2 * x],
		                 excl[2 * x + 1] - excl[2 * x], NULL, NULL,
		                 NULL);
	for (size_t j = 0; j < n && r == 0; j++) {
		const struct tx_step *e = &exact->steps[from + j];
		bool known = now && now[j];
		const struct rl_extent *b0 = known ? now[j] : e->range.before;
		size_t nb0 = known ? nnow[j] : e->range.nbefore;
		struct rl_extent *bef = jr_pieces_dup(b0, nb0);
		size_t nbef = nb0;
		uint64_t lo = e->range.offset, hi = lo + e->range.length;

		if (!bef) {
			r = -ENOMEM;
			break;
		}
		/* earlier steps on the same file left their ranges where
		 * their fitted targets are */
		for (size_t k = 0; k < j && r == 0; k++) {
			const struct tx_step *p = &exact->steps[from + k];
			uint64_t a = p->range.offset, b = a + p->range.length;

			if (p->range.ino != e->range.ino || b <= lo || a >= hi)
				continue;
			r = overlay(&bef, &nbef, aft[k], naft[k],
			            a > lo ? a : lo, b < hi ? b : hi);
		}
		if (r == 0)
			r = fit_step(c, exact, from + j, bef, nbef, out, fit,
			             &aft[j], &naft[j]);
		else
			free(bef);
	}
	for (size_t j = 0; j < n; j++)
		free(aft ? aft[j] : NULL);
	free(aft);
	free(naft);
	return r;
}

/* Remove step i of p. */
static void plan_drop(struct tx_plan *p, size_t i)
{
	p->total -= p->steps[i].bytes;
	tx_step_clear(&p->steps[i]);
	memmove(&p->steps[i], &p->steps[i + 1],
	        (p->nsteps - i - 1) * sizeof(*p->steps));
	p->nsteps--;
}

/* Step i of p starts from `now` (where an earlier undo left its range):
 * what it moves is recomputed; dropped when nothing is left. */
static int plan_restart(struct tx_plan *p, size_t i,
                        const struct rl_extent *now, size_t nnow)
{
	struct tx_step *st = &p->steps[i];
	struct rl_extent *want = NULL, *bef = jr_pieces_dup(now, nnow), *tgt;
	size_t nwant, ntgt;
	int r =
	    bef ? tx_predict(st->range.before, st->range.nbefore,
	                     st->range.target, st->range.ntarget, &want, &nwant)
	        : -ENOMEM;

	if (r == 0) {
		nnow = tx_pieces_normalize(bef, nnow);
		r = tx_pieces_not_in_place(want, nwant, bef, nnow, &tgt, &ntgt);
	}
	free(want);
	if (r < 0) {
		free(bef);
		return r;
	}
	free(st->range.before);
	free(st->range.target);
	st->range.before = bef;
	st->range.nbefore = nnow;
	st->range.target = tgt;
	st->range.ntarget = ntgt;
	p->total -= st->bytes;
	st->bytes = tx_pieces_bytes(tgt, ntgt);
	p->total += st->bytes;
	if (ntgt == 0)
		plan_drop(p, i);
	return 0;
}

/* The step of p that undo step us reverted (the same range, from where
 * the plan expects it), or p->nsteps. */
static size_t plan_step_of(const struct tx_plan *p, const struct jr_step *us)
{
	struct rl_extent *b =
	    jr_pieces_dup(us->range.before, us->range.nbefore);
	size_t nb, i;

	if (!b)
		return p->nsteps;
	nb = tx_pieces_normalize(b, us->range.nbefore);
	for (i = 0; i < p->nsteps; i++) {
		const struct jr_range *r = &p->steps[i].range;
		if (r->ino == us->range.ino && r->offset == us->range.offset &&
		    r->length == us->range.length &&
		    tx_pieces_equal(r->before, r->nbefore, b, nb))
			break;
	}
	free(b);
	return i;
}

int tx_plan_undo_rest(struct tx_plan *p, const struct jr_journal *j,
                      const struct jr_txn *t)
{
	int r = tx_plan_undo(p, t);

	for (size_t x = 0; r == 0 && x < j->ntxns; x++) {
		const struct jr_txn *u = &j->txns[x];

		/* (one undone since, i.e. redone, moved nothing back) */
		if (u->undo_of != t->id || u->id < t->id || u->undone ||
		    u->status == JR_ST_APPLIED || u->status == JR_ST_OPEN)
			continue;
		for (size_t k = 0; r == 0 && k < u->nsteps; k++) {
			const struct jr_step *us = &u->steps[k];
			size_t i = us->nafter ? plan_step_of(p, us) : p->nsteps;
			uint64_t a = us->range.offset, b = a + us->range.length;

			if (i >= p->nsteps)
				continue;
			if (us->state != JR_STEP_DONE) {
				r = plan_restart(p, i, us->after, us->nafter);
				continue;
			}
			/* reverted: the file's later steps start from there */
			for (size_t q = i + 1; r == 0 && q < p->nsteps;) {
				const struct jr_range *o = &p->steps[q].range;
				uint64_t lo = o->offset, hi = lo + o->length;
				struct rl_extent *nb;
				size_t n = o->nbefore, left = p->nsteps;

				if (o->ino != us->range.ino || hi <= a ||
				    lo >= b) {
					q++;
					continue;
				}
				nb = jr_pieces_dup(o->before, n);
				r = nb ? overlay(&nb, &n, us->after, us->nafter,
				                 a > lo ? a : lo,
				                 b < hi ? b : hi)
				       : -ENOMEM;
				if (r == 0)
					r = plan_restart(p, q, nb, n);
				free(nb);
				q += p->nsteps == left; /* else q was dropped */
			}
			if (r == 0)
				plan_drop(p, i);
		}
	}
	if (r == 0 && p->nsteps == 0)
		r = -EBADMSG;
	return r;
}

void tx_fit_free(struct tx_fit *f)
{
	free(f->steps);
	memset(f, 0, sizeof(*f));
}
