/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Relocation plans and tx_apply (see txn.h). */
#include "config.h"
#include "txn.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>
#include "mem.h"

#define TX_DEFAULT_CHUNK (16ull << 20)
#define TX_BUSY_RETRIES  5
/* Exact re-allocations of lost target pieces per chunk, at most (each is a
 * placement: on ext4 up to hundreds of allocation calls). */
#define TX_REHOLD_MAX 16
#define TX_POLL_S     0.05 /* --rate pauses poll for a cancel this often */
/* Targets are held this many steps ahead at most (fewer when the
 * open-file limit is low: one open donor per target piece). */
#define TX_RESERVE_MAX 4096

/* ---------------------------------------------------------------- pieces */

void tx_step_clear(struct tx_step *st)
{
	jr_range_clear(&st->range);
	memset(st, 0, sizeof(*st));
}

void tx_plan_init(struct tx_plan *p)
{
	memset(p, 0, sizeof(*p));
}

void tx_plan_free(struct tx_plan *p)
{
	for (size_t i = 0; i < p->nsteps; i++)
		tx_step_clear(&p->steps[i]);
	free(p->steps);
	free(p->command);
	memset(p, 0, sizeof(*p));
}

void tx_plan_drop(struct tx_plan *p, const bool *drop)
{
	size_t w = 0;

	for (size_t i = 0; i < p->nsteps; i++) {
		if (drop[i]) {
			p->total -= p->steps[i].bytes;
			tx_step_clear(&p->steps[i]);
			continue;
		}
		p->steps[w++] = p->steps[i];
	}
	p->nsteps = w;
}

int tx_plan_add(struct tx_plan *p, struct tx_step *st)
{
	if (mem_grow(&p->steps, &p->steps_cap, p->nsteps + 1,
	             sizeof(*p->steps)) < 0)
		return -ENOMEM;
	p->steps[p->nsteps++] = *st;
	p->total += st->bytes;
	memset(st, 0, sizeof(*st));
	return 0;
}

static int cmp_piece(const void *a, const void *b)
{
	const struct rl_extent *x = a, *y = b;
	return x->logical < y->logical ? -1 : x->logical > y->logical;
}

size_t tx_pieces_normalize(struct rl_extent *p, size_t n)
{
	size_t k = 0;

	if (n == 0)
		return 0;
	mem_sort(p, n, sizeof(*p), cmp_piece);
	for (size_t i = 0; i < n; i++) {
		p[i].flags = 0;
		if (k > 0 &&
		    p[k - 1].logical + p[k - 1].length == p[i].logical &&
		    p[k - 1].physical + p[k - 1].length == p[i].physical) {
			p[k - 1].length += p[i].length;
			continue;
		}
		p[k++] = p[i];
	}
	return k;
}

bool tx_pieces_equal(const struct rl_extent *a, size_t na,
                     const struct rl_extent *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (a[i].logical != b[i].logical ||
		    a[i].physical != b[i].physical ||
		    a[i].length != b[i].length)
			return false;
	return true;
}

uint64_t tx_pieces_bytes(const struct rl_extent *p, size_t n)
{
	uint64_t s = 0;
	for (size_t i = 0; i < n; i++)
		s += p[i].length;
	return s;
}

int tx_range_pieces(int fd, uint64_t off, uint64_t len, struct rl_extent **out,
                    size_t *n)
{
	struct rl_extent *p;
	size_t cnt, k = 0;
	int r = rl_get_extents_range(fd, off, len, &p, &cnt);

	*out = NULL;
	*n = 0;
	if (r < 0)
		return r;
	/* Clip to the range, in place. */
	for (size_t i = 0; i < cnt; i++) {
		uint64_t lo = p[i].logical, hi = lo + p[i].length;
		uint64_t ph = p[i].physical;

		if (hi <= off || lo >= off + len)
			continue;
		if (lo < off) {
			ph += off - lo;
			lo = off;
		}
		if (hi > off + len)
			hi = off + len;
		p[k] = p[i];
		p[k].logical = lo;
		p[k].physical = ph;
		p[k].length = hi - lo;
		k++;
	}
	*out = p;
	*n = tx_pieces_normalize(p, k);
	return 0;
}

int tx_predict(const struct rl_extent *before, size_t nbefore,
               const struct rl_extent *target, size_t ntarget,
               struct rl_extent **out, size_t *n)
{
	/* Each data byte at logical L moves to the target piece holding L;
	 * bytes outside every target piece stay where they are. */
	size_t cap = nbefore * (ntarget + 2) + 1, k = 0;
	struct rl_extent *p = calloc(cap, sizeof(*p));

	if (!p)
		return -ENOMEM;
	for (size_t i = 0; i < nbefore; i++) {
		uint64_t lo = before[i].logical, hi = lo + before[i].length;
		while (lo < hi) {
			const struct rl_extent *t = NULL;
			uint64_t next = hi;
			for (size_t q = 0; q < ntarget; q++) {
				uint64_t tl = target[q].logical,
				         th = tl + target[q].length;
				if (tl <= lo && lo < th) {
					t = &target[q];
					break;
				}
				if (tl > lo && tl < next)
					next = tl;
			}
			if (t) {
				uint64_t e = t->logical + t->length;
				if (e > hi)
					e = hi;
				p[k].logical = lo;
				p[k].physical = t->physical + (lo - t->logical);
				p[k].length = e - lo;
				lo = e;
			} else {
				p[k].logical = lo;
				p[k].physical = before[i].physical +
				                (lo - before[i].logical);
				p[k].length = next - lo;
				lo = next;
			}
			if (++k >= cap)
				break;
		}
	}
	*out = p;
	*n = tx_pieces_normalize(p, k);
	return 0;
}

int tx_step_in_place(const struct tx_step *st)
{
	struct rl_extent *pred;
	size_t np;
	bool same;
	int r = tx_predict(st->range.before, st->range.nbefore,
	                   st->range.target, st->range.ntarget, &pred, &np);

	if (r < 0)
		return r;
	same = tx_pieces_equal(pred, np, st->range.before, st->range.nbefore);
	free(pred);
	return same;
}

/* ---------------------------------------------------------------- plans */

int tx_plan_move(struct tx_plan *p, const char *path, int fd, uint64_t off,
                 uint64_t len, uint64_t goal)
{
	struct tx_step st;
	int r;

	memset(&st, 0, sizeof(st));
	st.range.path = strdup(path);
	if (!st.range.path)
		return -ENOMEM;
	st.range.offset = off;
	st.range.length = len;
	r = rl_file_identity(fd, &st.range.ino, &st.range.gen, &st.gen_known);
	if (r == 0)
		r = tx_range_pieces(fd, off, len, &st.range.before,
		                    &st.range.nbefore);
	if (r < 0)
		goto fail;
	/* Only data moves: every extent goes to goal + its distance from
	 * off; holes stay holes (so an undo restores them exactly). */
	st.range.target = calloc(st.range.nbefore ? st.range.nbefore : 1,
	                         sizeof(*st.range.target));
	if (!st.range.target) {
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < st.range.nbefore; i++) {
		st.range.target[i].logical = st.range.before[i].logical;
		st.range.target[i].physical =
		    goal + (st.range.before[i].logical - off);
		st.range.target[i].length = st.range.before[i].length;
	}
	st.range.ntarget =
	    tx_pieces_normalize(st.range.target, st.range.nbefore);
	/* Pieces already in place need no move. */
	st.bytes = tx_pieces_bytes(st.range.before, st.range.nbefore);
	r = tx_plan_add(p, &st);
	if (r == 0)
		return 0;
fail:
	tx_step_clear(&st);
	return r;
}

/* target minus the parts where `have` already maps identically. Inside
 * one `have` piece the mapping is linear, so between consecutive piece
 * boundaries a range is either wholly in place or wholly not. */
static int subtract_in_place(const struct rl_extent *target, size_t nt,
                             const struct rl_extent *have, size_t nh,
                             struct rl_extent **out, size_t *n)
{
	size_t cap = nt * (2 * nh + 2) + 1, k = 0;
	struct rl_extent *p = calloc(cap, sizeof(*p));
	uint64_t *bnd = calloc(2 * nh + 2, sizeof(*bnd));

	if (!p || !bnd) {
		free(p);
		free(bnd);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nt; i++) {
		uint64_t lo = target[i].logical, hi = lo + target[i].length;
		size_t nb = 0;

		bnd[nb++] = lo;
		bnd[nb++] = hi;
		for (size_t q = 0; q < nh; q++) {
			uint64_t hl = have[q].logical, hh = hl + have[q].length;
			if (hl > lo && hl < hi)
				bnd[nb++] = hl;
			if (hh > lo && hh < hi)
				bnd[nb++] = hh;
		}
		mem_sort(bnd, nb, sizeof(*bnd), mem_cmp_u64);
		for (size_t b = 0; b + 1 < nb; b++) {
			uint64_t a = bnd[b], e = bnd[b + 1];
			uint64_t tp = target[i].physical + (a - lo);
			bool in_place = false;

			if (a == e)
				continue;
			for (size_t q = 0; q < nh; q++) {
				uint64_t hl = have[q].logical;
				if (hl <= a && a < hl + have[q].length) {
					in_place =
					    have[q].physical + (a - hl) == tp;
					break;
				}
			}
			if (in_place)
				continue;
			p[k].logical = a;
			p[k].physical = tp;
			p[k].length = e - a;
			k++;
		}
	}
	free(bnd);
	*out = p;
	*n = tx_pieces_normalize(p, k);
	return 0;
}

int tx_plan_undo(struct tx_plan *p, const struct jr_txn *t)
{
	char buf[64];
	int r = 0;

	for (size_t i = t->nsteps; i-- > 0;) {
		const struct jr_step *js = &t->steps[i];
		struct tx_step st;
		struct rl_extent *orig;
		size_t norig;

		if (js->nafter == 0 || !js->range.path)
			continue; /* nothing moved in this step */
		/* The same file range, going from where the step left it
		 * (its after) back to where it was (its before, less what is
		 * there already). */
		memset(&st, 0, sizeof(st));
		if (jr_range_copy(&st.range, &js->range) < 0)
			return -ENOMEM;
		st.gen_known = st.range.gen != 0;
		orig = st.range.before;
		norig = tx_pieces_normalize(orig, st.range.nbefore);
		free(st.range.target);
		st.range.target = NULL;
		st.range.ntarget = 0;
		st.range.before = jr_pieces_dup(js->after, js->nafter);
		if (!st.range.before) {
			free(orig);
			tx_step_clear(&st);
			return -ENOMEM;
		}
		st.range.nbefore =
		    tx_pieces_normalize(st.range.before, js->nafter);
		r = subtract_in_place(orig, norig, st.range.before,
		                      st.range.nbefore, &st.range.target,
		                      &st.range.ntarget);
		free(orig);
		if (r < 0) {
			tx_step_clear(&st);
			return r;
		}
		st.bytes = tx_pieces_bytes(st.range.target, st.range.ntarget);
		if (st.range.ntarget == 0) {
			tx_step_clear(&st);
			continue;
		}
		r = tx_plan_add(p, &st);
		if (r < 0) {
			tx_step_clear(&st);
			return r;
		}
	}
	if (p->nsteps == 0)
		return -EBADMSG;
	p->undo_of = t->id;
	snprintf(buf, sizeof(buf), "undo %llu", (unsigned long long)t->id);
	free(p->command);
	p->command = strdup(buf);
	return p->command ? 0 : -ENOMEM;
}

int tx_step_untouched(const struct tx_plan *p, size_t i, struct rl_extent **out,
                      size_t *n)
{
	const struct tx_step *st = &p->steps[i];
	uint64_t pos = st->range.offset,
	         end = st->range.offset + st->range.length;
	struct rl_extent *cov = calloc(i + 1, sizeof(*cov)), *r;
	size_t nc = 0, k = 0;

	*out = NULL;
	*n = 0;
	if (!cov)
		return -ENOMEM;
	/* what the earlier steps on this file cover of the range */
	for (size_t j = 0; j < i; j++) {
		const struct tx_step *e = &p->steps[j];
		uint64_t lo = e->range.offset,
		         hi = e->range.offset + e->range.length;

		if (e->range.ino != st->range.ino || hi <= pos || lo >= end)
			continue;
		cov[nc].logical = lo > pos ? lo : pos;
		cov[nc].length = (hi < end ? hi : end) - cov[nc].logical;
		nc++;
	}
	mem_sort(cov, nc, sizeof(*cov), cmp_piece);
	r = calloc(nc + 1, sizeof(*r));
	if (!r) {
		free(cov);
		return -ENOMEM;
	}
	/* the rest of it */
	for (size_t j = 0; j <= nc && pos < end; j++) {
		uint64_t next = j < nc ? cov[j].logical : end;

		if (next > pos) {
			r[k].logical = pos;
			r[k].length = next - pos;
			k++;
		}
		if (j < nc && cov[j].logical + cov[j].length > pos)
			pos = cov[j].logical + cov[j].length;
	}
	free(cov);
	*out = r;
	*n = k;
	return 0;
}

/* The pieces of p[0..n) inside [off, off+len), cut at its ends, into out
 * (room for n). */
static size_t pieces_clip(const struct rl_extent *p, size_t n, uint64_t off,
                          uint64_t len, struct rl_extent *out)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t lo = p[i].logical, hi = lo + p[i].length;

		if (hi <= off || lo >= off + len)
			continue;
		out[k] = p[i];
		if (lo < off) {
			out[k].physical += off - lo;
			out[k].logical = off;
		}
		if (hi > off + len)
			hi = off + len;
		out[k].length = hi - out[k].logical;
		k++;
	}
	return k;
}

int tx_pieces_equal_in(const struct rl_extent *a, size_t na,
                       const struct rl_extent *b, size_t nb, uint64_t off,
                       uint64_t len)
{
	struct rl_extent *ca = calloc(na + 1, sizeof(*ca)),
	                 *cb = calloc(nb + 1, sizeof(*cb));
	int r = -ENOMEM;

	if (ca && cb) {
		size_t ka = pieces_clip(a, na, off, len, ca),
		       kb = pieces_clip(b, nb, off, len, cb);

		ka = tx_pieces_normalize(ca, ka);
		kb = tx_pieces_normalize(cb, kb);
		r = tx_pieces_equal(ca, ka, cb, kb);
	}
	free(ca);
	free(cb);
	return r;
}

int tx_pieces_not_in_place(const struct rl_extent *want, size_t nw,
                           const struct rl_extent *have, size_t nh,
                           struct rl_extent **out, size_t *n)
{
	return subtract_in_place(want, nw, have, nh, out, n);
}

size_t tx_pieces_clip(const struct rl_extent *p, size_t n, uint64_t off,
                      uint64_t len, struct rl_extent *out)
{
	return pieces_clip(p, n, off, len, out);
}

/* ----------------------------------------------------------------- apply */

static volatile sig_atomic_t tx_stop_requested;

static void on_stop_signal(int sig)
{
	tx_stop_requested = sig;
}

int tx_stop_signal(void)
{
	return (int)tx_stop_requested;
}

static volatile sig_atomic_t tx_cancel_requested;

void tx_request_cancel(void)
{
	tx_cancel_requested = 1;
}

bool tx_cancelled(void)
{
	return tx_cancel_requested != 0;
}

/* How often stop_pending asks the kernel: a placement asks before each
 * of its requests (a whole-volume compaction: 57,000 sigpending calls,
 * each a system call) */
#define STOP_POLL_NS 10000000L

/* stop_pending's last answer and when to ask the kernel again (reset
 * when an apply starts: a signal taken since is not pending any more) */
static struct {
	struct timespec next;
	int last;
} stop_poll;

/* SIGINT/SIGTERM are blocked during a step: is one waiting? (A move
 * stops between chunks, not only between steps.) Asked of the kernel at
 * most every STOP_POLL_NS (the clock is read without a system call), the
 * last answer given in between (a blocked signal stays pending): a stop
 * is seen that much later at most. */
static int stop_pending(void)
{
	struct timespec now;
	sigset_t pend;

	if (clock_gettime(CLOCK_MONOTONIC_COARSE, &now) == 0) {
		if (now.tv_sec < stop_poll.next.tv_sec ||
		    (now.tv_sec == stop_poll.next.tv_sec &&
		     now.tv_nsec < stop_poll.next.tv_nsec))
			return stop_poll.last;
		stop_poll.next = now;
		stop_poll.next.tv_nsec += STOP_POLL_NS;
		if (stop_poll.next.tv_nsec >= 1000000000L) {
			stop_poll.next.tv_sec++;
			stop_poll.next.tv_nsec -= 1000000000L;
		}
	}
	stop_poll.last = 0;
	if (sigpending(&pend) < 0)
		return 0;
	if (sigismember(&pend, SIGTERM))
		stop_poll.last = SIGTERM;
	else if (sigismember(&pend, SIGINT))
		stop_poll.last = SIGINT;
	return stop_poll.last;
}

/* rl_place_opts.stop of the apply's placements: a cancel, or (when the
 * apply handles them) a stop signal waiting. */
static int place_stop(void *arg)
{
	const struct tx_opts *o = arg;

	return tx_cancel_requested || (o->handle_signals && stop_pending());
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define IOPRIO_CLASS_SHIFT 13
#define IOPRIO_CLASS_IDLE  3
#define IOPRIO_WHO_PROCESS 1

static int ioprio_get_self(void)
{
#ifdef SYS_ioprio_get
	return (int)syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0);
#else
	return -1;
#endif
}

static void ioprio_set_self(int prio)
{
#ifdef SYS_ioprio_set
	if (prio >= 0)
		syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, prio);
#else
	(void)prio;
#endif
}

/* A donor: an O_TMPFILE holding target blocks for one or more steps
 * (one exact placement of a run of targets that many steps share, or the
 * pieces of one step at their file offsets). Closed when no piece uses it
 * any more; whatever it still holds is then freed. */
struct tx_space {
	int fd;
	size_t refs; /* target pieces it holds */
};

/* Where a step's targets are held: per target piece k its donor (sp[k],
 * NULL: not held yet) and the donor's offset of the piece's file offset
 * x, x + delta[k] (rl_movedata_at). sp NULL: nothing tried yet. */
struct tx_held {
	struct tx_space **sp;
	uint64_t *delta;
	size_t n;      /* the step's target pieces */
	size_t nheld;  /* sp[] entries set */
	bool not_free; /* the last try found a piece not free (yet) */
};

struct apply_ctx {
	const struct tx_plan *p;
	const struct tx_opts *o;
	struct tx_result *res;
	double t0;
	uint64_t done;
	struct tx_held *held; /* per step: the donors holding its targets */
	size_t fd_budget;     /* donors that may be open at once */
	size_t fds_held;      /* donors open now (struct tx_space) */
	long page;            /* ext4 moves between equal page offsets */
	size_t reserve_next;  /* the next step to try to hold targets for */
	size_t reserving;     /* > 0: the first hold, that many steps */
	size_t reserved;      /* steps held so far in the first hold */
	struct rl_place_session *session; /* while a batch is held */
	/* XFS: one session for the whole apply (what it keeps is the AGs'
	 * anchors, no blocks): the steps' own placements use it too */
	struct rl_place_session *xsession;
	size_t *ready; /* steps whose emptied targets wait to be held */
	size_t nready, cap_ready;
	bool prefetch;        /* read the next steps' files ahead */
	bool ext4;            /* the plan's files are on ext4 */
	size_t prefetch_next; /* the next step to read ahead */
	int step_fd;          /* the file of the step that ended, open until its
	                         step_done callback returned (-1: none) */
};

/* Call cb (when set) with where the apply stands in step `step`. */
static void notify(struct apply_ctx *c, tx_progress_cb cb, void *arg,
                   size_t step, bool pausing, bool step_end, int err)
{
	struct tx_progress pr;
	double el = now_s() - c->t0;

	if (!cb)
		return;
	memset(&pr, 0, sizeof(pr));
	pr.done = c->done;
	pr.total = c->p->total;
	pr.rate = el > 0 ? (double)c->done / el : 0;
	pr.eta = pr.rate > 0 ? (double)(pr.total - c->done) / pr.rate : -1;
	pr.step = step;
	pr.nsteps = c->p->nsteps;
	pr.path = step < c->p->nsteps ? c->p->steps[step].range.path : NULL;
	pr.steps_done = c->res->steps_done;
	pr.pausing = pausing;
	pr.step_end = step_end;
	pr.step_err = err;
	pr.reserving = c->reserving;
	pr.reserved = c->reserved;
	pr.fd = step_end ? c->step_fd : -1;
	cb(&pr, arg);
}

static void report(struct apply_ctx *c, size_t step, bool pausing)
{
	notify(c, c->o->progress, c->o->progress_arg, step, pausing, false, 0);
}

/* Step `step` has ended with r (see tx_opts.step_done). */
static void report_step_end(struct apply_ctx *c, size_t step, int r)
{
	notify(c, c->o->step_done, c->o->step_arg, step, false, true, r);
}

/* --rate: sleep until the bytes moved are due, in slices of at most
 * TX_POLL_S that report progress (where a front end polls its cancel key)
 * and end early on a cancel or a stop signal, so neither waits for a
 * whole chunk's pause. */
static void throttle(struct apply_ctx *c, size_t step)
{
	double want;

	if (!c->o->rate)
		return;
	want = (double)c->done / (double)c->o->rate;
	for (;;) {
		double d = want - (now_s() - c->t0);
		struct timespec ts;

		if (d <= 0 || tx_cancel_requested ||
		    (c->o->handle_signals && stop_pending()))
			return;
		if (d > TX_POLL_S)
			d = TX_POLL_S;
		ts.tv_sec = (time_t)d;
		ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL);
		report(c, step, true);
	}
}

/* The donor: an O_TMPFILE in the file's directory (same filesystem),
 * else at the mount's root. */
static int open_donor(const char *path, dev_t dev)
{
	char *dir = strdup(path), *slash;
	int fd = -1, dfd;
	struct stat st;

	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	free(dir);
	if (dfd < 0)
		return -errno;
	if (fstat(dfd, &st) < 0 || st.st_dev != dev) {
		close(dfd);
		return -EXDEV;
	}
	fd = openat(dfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		fd = -errno;
	close(dfd);
	return fd;
}

/* Does the file range now map as predicted? On success *now holds the
 * range's pieces (the step's "after"). */
static int verify_moved(int fd, const struct tx_step *st, char *why,
                        size_t wlen, struct rl_extent **out, size_t *nout)
{
	struct rl_extent *now = NULL, *want = NULL;
	size_t nnow, nwant;
	int r = tx_range_pieces(fd, st->range.offset, st->range.length, &now,
	                        &nnow);

	if (r < 0) {
		snprintf(why, wlen, "FIEMAP after the move: %s", strerror(-r));
		return r;
	}
	r = tx_predict(st->range.before, st->range.nbefore, st->range.target,
	               st->range.ntarget, &want, &nwant);
	if (r == 0 && !tx_pieces_equal(now, nnow, want, nwant)) {
		snprintf(why, wlen,
		         "FIEMAP after the move does not show the range at the "
		         "target (%zu extents, first at 0x%llx)",
		         nnow,
		         nnow ? (unsigned long long)now[0].physical : 0ull);
		r = -EIO;
	}
	if (r == 0) {
		*out = now;
		*nout = nnow;
	} else {
		free(now);
	}
	free(want);
	return r;
}

/* ------------------------------------------------------------ holding */

static void space_unref(struct apply_ctx *c, struct tx_space *sp)
{
	if (--sp->refs > 0)
		return;
	close(sp->fd);
	free(sp);
	c->fds_held--;
}

/* A new donor in the directory of path (device dev), no piece yet. */
static int space_new(struct apply_ctx *c, const char *path, dev_t dev,
                     struct tx_space **out)
{
	struct tx_space *sp = calloc(1, sizeof(*sp));
	int d;

	if (!sp)
		return -ENOMEM;
	d = open_donor(path, dev);
	if (d < 0) {
		free(sp);
		return d;
	}
	sp->fd = d;
	sp->refs = 1; /* the caller's, until it hands out pieces */
	c->fds_held++;
	*out = sp;
	return 0;
}

/* Allocate len bytes exactly at physical phys into donor sp at offset
 * off and check (FIEMAP) that it holds exactly them there. */
static int space_alloc(struct apply_ctx *c, struct tx_space *sp, uint64_t off,
                       uint64_t phys, uint64_t len, char *why, size_t wlen)
{
	struct rl_place_opts popts;
	struct rl_extent *dp = NULL;
	size_t nd;
	int64_t got;
	int r;

	/* Blocks freed moments ago (an undo, a file deleted before the plan,
	 * an earlier step) stay busy until the log commits: the exact
	 * placement (rl_allocate_ex with RL_ALLOC_FIXED_START,
	 * lib/fs_place_*.c) commits it before every attempt, so no syncfs
	 * here. */
	memset(&popts, 0, sizeof(popts));
	popts.state_dir = c->o->state_dir;
	popts.no_tunables = c->o->no_tunables;
	popts.session = c->session ? c->session : c->xsession;
	popts.stop = place_stop;
	popts.stop_arg = (void *)c->o;
	if (lseek(sp->fd, (off_t)off, SEEK_SET) < 0)
		return -errno;
	got = rl_allocate_ex(sp->fd,
	                     RL_ALLOC_FIXED_START | RL_ALLOC_CONTIGUOUS |
	                         RL_ALLOC_FIXED_LEN,
	                     phys, len, &popts);
	if (got == -EINTR) {
		snprintf(why, wlen,
		         "%s while its target was being placed (nothing of "
		         "this step was moved or kept allocated)",
		         tx_cancel_requested ? "cancelled by the user"
		                             : "stopped by a signal");
		return -EINTR;
	}
	if (got < 0 || (uint64_t)got != len) {
		r = got < 0 ? (int)got : -ENOSPC;
		snprintf(why, wlen, "allocate %llu bytes at 0x%llx: %s%s",
		         (unsigned long long)len, (unsigned long long)phys,
		         rl_strerror(r),
		         r == -EOPNOTSUPP && c->o->no_tunables
		             ? " (exact placement on ext4 needs its "
		               "tunables: 'set tunables on')"
		             : "");
		if (got > 0)
			fallocate(sp->fd,
			          FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			          (off_t)off, (off_t)len);
		return r;
	}
	r = tx_range_pieces(sp->fd, off, len, &dp, &nd);
	if (r == 0 && (nd != 1 || dp[0].logical != off ||
	               dp[0].physical != phys || dp[0].length != len)) {
		snprintf(why, wlen,
		         "the allocation did not land at the target "
		         "(FIEMAP: %zu extents, first at 0x%llx)",
		         nd, nd ? (unsigned long long)dp[0].physical : 0ull);
		r = -EIO;
	}
	if (r < 0)
		fallocate(sp->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		          (off_t)off, (off_t)len);
	free(dp);
	return r;
}

static int held_init(struct tx_held *h, size_t n)
{
	h->sp = calloc(n ? n : 1, sizeof(*h->sp));
	h->delta = calloc(n ? n : 1, sizeof(*h->delta));
	if (!h->sp || !h->delta) {
		free(h->sp);
		free(h->delta);
		h->sp = NULL;
		h->delta = NULL;
		return -ENOMEM;
	}
	h->n = n;
	h->nheld = 0;
	return 0;
}

/* Piece k of a step is held by sp at donor offset x + delta. */
static void held_set(struct tx_held *h, size_t k, struct tx_space *sp,
                     uint64_t delta)
{
	sp->refs++;
	h->sp[k] = sp;
	h->delta[k] = delta;
	h->nheld++;
}

/* Give up what h holds for step st: its pieces in a donor shared with
 * other steps are released there now (a failed step's targets, or on
 * ext4 nothing: movedata released the old blocks it swapped in); a donor
 * no piece uses any more is closed. */
static void held_release(struct apply_ctx *c, const struct tx_step *st,
                         struct tx_held *h)
{
	for (size_t k = 0; h->sp && k < h->n; k++) {
		struct tx_space *sp = h->sp[k];
		const struct rl_extent *t = &st->range.target[k];

		if (!sp)
			continue;
		if (sp->refs > 1)
			fallocate(sp->fd,
			          FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			          (off_t)(t->logical + h->delta[k]),
			          (off_t)t->length);
		space_unref(c, sp);
	}
	free(h->sp);
	free(h->delta);
	memset(h, 0, sizeof(*h));
}

/* Hold the target pieces of step st (device dev) that h does not hold
 * yet, each at its file offset. per_piece: one donor per piece; a piece
 * that cannot be held is left out (when keep_going, the others are still
 * tried) and the first error returned, h keeping what it holds. Else one
 * donor for all pieces, all or none. A donor of one extent needs no
 * extent-tree block on ext4; one of many does, and ext4 puts that block
 * next to the extent just allocated, often another target. 0 when every
 * piece is held. */
static int hold_targets(struct apply_ctx *c, const struct tx_step *st,
                        dev_t dev, bool per_piece, bool keep_going,
                        struct tx_held *h, char *why, size_t wlen)
{
	struct tx_space *one = NULL;
	int ret = 0;

	if (!h->sp && held_init(h, st->range.ntarget) < 0)
		return -ENOMEM;
	for (size_t k = 0; k < h->n; k++) {
		const struct rl_extent *t = &st->range.target[k];
		struct tx_space *sp = one;
		int r = 0;

		if (h->sp[k])
			continue;
		if (!sp) {
			r = space_new(c, st->range.path, dev, &sp);
			if (r < 0)
				snprintf(why, wlen,
				         "cannot create the donor file: %s",
				         rl_strerror(r));
			else if (!per_piece)
				one = sp;
		}
		if (r == 0)
			r = space_alloc(c, sp, t->logical, t->physical,
			                t->length, why, wlen);
		if (r == 0)
			held_set(h, k, sp, 0);
		if (per_piece && sp)
			space_unref(c, sp); /* the creator's reference */
		if (r == 0)
			continue;
		if (ret == 0)
			ret = r;
		if (!keep_going || !per_piece)
			break;
	}
	if (one)
		space_unref(c, one);
	if (ret < 0 && !per_piece)
		held_release(c, st, h);
	return ret;
}

/* A target piece of a batch being held (hold_batch). */
struct tx_bpiece {
	uint64_t phys, len;
	size_t step, k;
};

static int cmp_bpiece(const void *a, const void *b)
{
	const struct tx_bpiece *x = a, *y = b;
	return x->phys < y->phys ? -1 : x->phys > y->phys;
}

/* plan order: step, then piece */
static int cmp_bpiece_plan(const void *a, const void *b)
{
	const struct tx_bpiece *x = a, *y = b;

	if (x->step != y->step)
		return x->step < y->step ? -1 : 1;
	return x->k < y->k ? -1 : x->k > y->k;
}

/* A run of a batch: pieces [i, j) of its piece array, from phys on. */
struct tx_brun {
	size_t i, j;
	uint64_t phys;
};

static int cmp_brun(const void *a, const void *b)
{
	const struct tx_brun *x = a, *y = b;
	return x->phys < y->phys ? -1 : x->phys > y->phys;
}

/* Runs of a batch are cut at this length (a failed placement then costs
 * less; ext4 extents end at 128 MiB anyway). */
#define TX_RUN_MAX (64ull << 20)
/* and take only pieces below this length: batching pays for many small
 * targets; a large piece is one placement anyway, and ext4 missed large
 * merged runs now and then (two 8 MiB targets of a group, torture.sh) */
#define TX_RUN_PIECE_MAX (1ull << 20)

/* Does run [rs, re) of a batch, starting with piece `first`, take piece
 * b, the next in plan order? Right after it or right before it physically
 * (an undo's steps come newest first: its targets often descend), not
 * too long, and
 * (ext4, blocks smaller than a page) the same distance between file and
 * donor offsets modulo a page. So the steps use a run's donor from its
 * start on, and it stays one extent (the rest of the run) between them:
 * a donor of many extents needs extent-tree blocks (ext4, XFS), which the
 * filesystem puts next to its extents, often on a later target. */
static bool run_takes(const struct apply_ctx *c, const struct tx_bpiece *first,
                      uint64_t rs, uint64_t re, const struct tx_bpiece *b)
{
	const struct rl_extent *t0 =
	    &c->p->steps[first->step].range.target[first->k];
	const struct rl_extent *t = &c->p->steps[b->step].range.target[b->k];
	uint64_t pg = (uint64_t)c->page;

	return (b->phys == re || b->phys + b->len == rs) &&
	       re - rs + b->len <= TX_RUN_MAX && b->len < TX_RUN_PIECE_MAX &&
	       first->len < TX_RUN_PIECE_MAX &&
	       (t->physical - t->logical) % pg ==
	           (t0->physical - t0->logical) % pg;
}

/* A step's file opened to be read (not to move it): the caller's
 * opener, else never through a symbolic link. fd or -errno. */
static int step_open_ro(const struct apply_ctx *c, const char *path)
{
	int fd;

	if (c->o->open_file)
		return c->o->open_file(c->o->open_arg, path, O_RDONLY);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* XFS: the caller's anchors offered to the placement session. */
static void hint_anchors(struct apply_ctx *c)
{
	for (size_t i = 0; i < c->o->nanchors; i++) {
		int fd = step_open_ro(c, c->o->anchors[i]);

		if (fd < 0)
			continue;
		(void)rl_place_session_hint(c->xsession, fd);
		close(fd);
	}
}

/* Hold the targets of run v[0..n) (adjacent pieces) with one placement
 * into one donor, at donor offset physical - base (base: the run's start,
 * moved down to keep file and donor offsets equal modulo a page). When
 * that fails (a part the filesystem does not give: an XFS AG's last
 * blocks, a run across ext4 groups; or taken meanwhile), each half on its
 * own, down to single pieces, held at their file offsets as before
 * batches. A piece not free (yet) marks its step not_free. */
static void hold_run(struct apply_ctx *c, const struct tx_bpiece *v, size_t n,
                     dev_t dev)
{
	const struct tx_plan *p = c->p;
	const struct tx_step *st0 = &p->steps[v[0].step];
	const struct rl_extent *t0 = &st0->range.target[v[0].k];
	uint64_t pg = (uint64_t)c->page, start = v[0].phys;
	uint64_t len = v[n - 1].phys + v[n - 1].len - start;
	uint64_t base = start - (start - (t0->physical - t0->logical)) % pg;
	struct tx_space *sp = NULL;
	char why[512];
	int r;

	if (n == 1)
		base = t0->physical - t0->logical; /* at its file offset */
	r = space_new(c, st0->range.path, dev, &sp);
	if (r == 0)
		r = space_alloc(c, sp, start - base, start, len, why,
		                sizeof(why));
	for (size_t i = 0; r == 0 && i < n; i++) {
		const struct rl_extent *t =
		    &p->steps[v[i].step].range.target[v[i].k];

		held_set(&c->held[v[i].step], v[i].k, sp,
		         t->physical - t->logical - base);
	}
	if (sp)
		space_unref(c, sp); /* the creator's reference */
	if (r < 0 && n > 1 && r != -EINTR && !tx_cancel_requested) {
		hold_run(c, v, n / 2, dev);
		hold_run(c, v + n / 2, n - n / 2, dev);
	} else if (r == -ENOSPC || r == -EBUSY) {
		/* not free (yet): an earlier step may free it */
		c->held[v[0].step].not_free = true;
	}
}

/* Hold the targets not held yet of the steps ks[0..nk): those free now
 * (GETFSMAP, after a settle of what the steps run so far freed), in plan
 * order, merged into runs where each piece follows the
 * one before physically (run_takes), one exact placement per run
 * (hold_run). So the placements grow with the runs (the free gaps the plan
 * fills, in its order), not with the files. A
 * piece not free now (an earlier step frees it) marks its step not_free;
 * a step whose targets cannot be held allocates the rest when it runs. */
static void hold_batch(struct apply_ctx *c, const size_t *ks, size_t nk)
{
	const struct tx_plan *p = c->p;
	struct tx_bpiece *v = NULL;
	struct tx_brun *runs = NULL;
	struct rl_free_extent *fr = NULL;
	size_t nv = 0, cap = 0, nfr = 0, f = 0, rcap = 0;
	uint64_t lo = UINT64_MAX, hi = 0, prev_end = 0;
	struct stat sb;
	int fd = -1;

	for (size_t i = 0; i < nk; i++) {
		const struct tx_step *st = &p->steps[ks[i]];
		struct tx_held *h = &c->held[ks[i]];

		if (!h->sp && held_init(h, st->range.ntarget) < 0)
			goto out;
		h->not_free = false;
		for (size_t k = 0; k < st->range.ntarget; k++) {
			const struct rl_extent *t = &st->range.target[k];

			if (h->sp[k] || t->length == 0)
				continue;
			if (mem_grow(&v, &cap, nv + 1, sizeof(*v)) < 0)
				goto out;
			v[nv++] = (struct tx_bpiece){t->physical, t->length,
			                             ks[i], k};
			if (t->physical < lo)
				lo = t->physical;
			if (t->physical + t->length > hi)
				hi = t->physical + t->length;
		}
		/* a file of the batch for the free map and the device */
		if (fd < 0) {
			fd = step_open_ro(c, st->range.path);
			if (fd >= 0 &&
			    (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode))) {
				close(fd);
				fd = -1;
			}
		}
	}
	/* what the steps run so far freed shows as free once settled */
	if (nv > 0 && fd >= 0)
		rl_free_space_settle(fd);
	if (nv == 0 || fd < 0 || rl_free_list_fd(fd, lo, hi, &fr, &nfr) < 0)
		goto out;
	mem_sort(v, nv, sizeof(*v), cmp_bpiece);
	/* Keep the pieces inside a free extent. Pieces that overlap (two
	 * steps filling the same place in turn) are all left out: holding the
	 * later one would take the earlier one's target; the earlier one
	 * allocates it when it runs. */
	size_t nk2 = 0;
	struct tx_bpiece reach = {0}; /* the piece reaching prev_end */
	for (size_t i = 0; i < nv; i++) {
		struct tx_bpiece cur = v[i];
		bool overlap = i > 0 && cur.phys < prev_end, free_now = false;

		while (f < nfr && fr[f].start + fr[f].len <= cur.phys)
			f++;
		if (f < nfr && fr[f].start <= cur.phys &&
		    cur.phys + cur.len <= fr[f].start + fr[f].len && !overlap)
			free_now = true;
		if (overlap && nk2 > 0 && v[nk2 - 1].step == reach.step &&
		    v[nk2 - 1].k == reach.k)
			nk2--; /* the piece it overlaps goes too */
		if (i == 0 || cur.phys + cur.len > prev_end) {
			prev_end = cur.phys + cur.len;
			reach = cur;
		}
		if (!free_now) {
			c->held[cur.step].not_free = true;
			continue;
		}
		v[nk2++] = cur;
	}
	mem_sort(v, nk2, sizeof(*v), cmp_bpiece_plan);
	/* the runs, in plan order while the open-file budget lasts */
	size_t nr = 0, want = 0;
	for (size_t i = 0; i < nk2;) {
		size_t j = i + 1;
		uint64_t rs = v[i].phys, re = v[i].phys + v[i].len;
		bool down = j < nk2 && v[j].phys + v[j].len == rs;

		/* a run grows one way: up, or down (then reversed, so that
		 * hold_run sees it in physical order) */
		while (j < nk2 && run_takes(c, &v[i], rs, re, &v[j]) &&
		       (down ? v[j].phys + v[j].len == rs : v[j].phys == re)) {
			if (down)
				rs = v[j].phys;
			else
				re = v[j].phys + v[j].len;
			j++;
		}
		for (size_t a = i, b = j - 1; down && a < b; a++, b--) {
			struct tx_bpiece t = v[a];
			v[a] = v[b];
			v[b] = t;
		}
		if (c->fds_held + want + (j - i) > c->fd_budget)
			break; /* the rest when it runs */
		if (mem_grow(&runs, &rcap, nr + 1, sizeof(*runs)) < 0)
			break;
		runs[nr++] = (struct tx_brun){i, j, v[i].phys};
		want += j - i;
		i = j;
	}
	/* then in address order, in one placement session: on ext4 the
	 * free chunks a placement takes below its target to reach it stay
	 * taken for the targets above it (lib/fs_place_ext4.c), so a group
	 * full of small gaps costs one request per gap, not one per gap
	 * below each target */
	mem_sort(runs, nr, sizeof(*runs), cmp_brun);
	if (nr > 1 && !c->xsession)
		(void)rl_place_session_begin(&c->session);
	for (size_t r = 0; r < nr; r++) {
		if (tx_cancel_requested ||
		    (c->o->handle_signals && stop_pending()))
			break;
		hold_run(c, v + runs[r].i, runs[r].j - runs[r].i, sb.st_dev);
	}
	/* (a tunable not restored is recorded for rl_tunables_recover,
	 * as after any placement) */
	(void)rl_place_session_end(c->session, NULL);
	c->session = NULL;
out:
	if (fd >= 0)
		close(fd);
	free(v);
	free(runs);
	free(fr);
}

/* Do the physical ranges of two piece lists overlap? */
static bool pieces_overlap(const struct rl_extent *a, size_t na,
                           const struct rl_extent *b, size_t nb)
{
	for (size_t i = 0; i < na; i++)
		for (size_t k = 0; k < nb; k++)
			if (a[i].physical < b[k].physical + b[k].length &&
			    b[k].physical < a[i].physical + a[i].length)
				return true;
	return false;
}

/* Target pieces of step k not held yet. */
static size_t unheld(const struct apply_ctx *c, size_t k)
{
	return c->p->steps[k].range.ntarget - c->held[k].nheld;
}

/* Does a step in [from, k) that has not run yet vacate part of step k's
 * target (its old place overlaps it)? Then k's target cannot be free
 * before that step ran: holding it now would only pay for a settle (a
 * journal commit on ext4), a free-space query and a failed placement,
 * once for each step that empties a window piece by piece (an aged
 * volume's compaction: 120 small files out of the way, then one file
 * into the window). */
static bool vacated_later(const struct apply_ctx *c, size_t from, size_t k)
{
	const struct tx_step *sk = &c->p->steps[k];

	for (size_t j = from; j < k; j++)
		if (pieces_overlap(sk->range.target, sk->range.ntarget,
		                   c->p->steps[j].range.before,
		                   c->p->steps[j].range.nbefore))
			return true;
	return false;
}

/* Steps whose emptied targets wait to be held together (hold_ahead): at
 * most this many; then they are held at once. */
#define TX_READY_MAX 512

/* Add step k to the steps whose targets are free now but not held yet
 * (c->ready); false when it cannot be remembered (no memory). */
static bool ready_add(struct apply_ctx *c, size_t k)
{
	if (mem_grow(&c->ready, &c->cap_ready, c->nready + 1,
	             sizeof(*c->ready)) < 0)
		return false;
	c->ready[c->nready++] = k;
	return true;
}

/* Before step `from` runs: hold the targets of the steps ahead that were
 * not tried yet, while the open-file budget lasts (counted as if every
 * target piece needed a donor of its own), at most TX_RESERVE_MAX steps
 * ahead, in batches (hold_batch). A target that is free now is then kept
 * from everything else the plan allocates (ext4 extent-tree blocks of the
 * files moved before it: an undo restoring many files would otherwise
 * find a later file's original place taken) and from other writers. A
 * step whose targets are not free yet (an earlier step frees them) or
 * cannot be held now allocates them when it runs, as before. Stops early
 * on a cancel or a stop signal.
 * A target that the steps run so far have emptied (the window that moves
 * out of the way made for a larger file) waits in c->ready until that
 * step is next, a top-up batch runs, or TX_READY_MAX wait: then they are
 * held in one batch. Each batch settles the freed blocks first (a journal
 * commit on ext4) and opens one placement session: a compaction whose
 * plan empties its windows first and fills them after holds them all
 * at once instead of paying both per window. */
static void hold_ahead(struct apply_ctx *c, size_t from)
{
	size_t end = from + TX_RESERVE_MAX, *ks, nk = 0, want = 0;
	bool now = false;

	if (!c->held)
		return;
	if (end > c->p->nsteps)
		end = c->p->nsteps;
	if (c->reserve_next < from)
		c->reserve_next = from;
	/* What the step before freed (its old place) may be a later step's
	 * target that was not free before: ready once no step before it
	 * frees more of it. */
	for (size_t k = from; from > 0 && k < c->reserve_next; k++) {
		const struct tx_step *prev = &c->p->steps[from - 1];

		if (c->held[k].not_free && unheld(c, k) &&
		    pieces_overlap(c->p->steps[k].range.target,
		                   c->p->steps[k].range.ntarget,
		                   prev->range.before, prev->range.nbefore) &&
		    !vacated_later(c, from, k) && !ready_add(c, k))
			now = true; /* (no memory: hold what waits) */
	}
	/* the ones still waiting (not run, not held meanwhile) */
	size_t w = 0;
	for (size_t i = 0; i < c->nready; i++) {
		size_t k = c->ready[i];

		if (k < from || !unheld(c, k))
			continue;
		c->ready[w++] = k;
		now = now || k == from;
	}
	c->nready = w;
	/* Top up in batches, not one step per step run: a batch of one
	 * placement gets no session (each pays for every free chunk below
	 * its target again). So the window is refilled when a quarter of
	 * it can be added, or when it is empty. */
	if (c->reserve_next > from &&
	    (end - c->reserve_next < TX_RESERVE_MAX / 4 ||
	     c->fd_budget - c->fds_held < c->fd_budget / 4))
		end = c->reserve_next;
	if (!c->nready && c->reserve_next >= end)
		return;
	ks = malloc((end - c->reserve_next + c->nready + 1) * sizeof(*ks));
	if (!ks)
		return;
	while (c->reserve_next < end) {
		size_t k = c->reserve_next;
		const struct tx_step *st = &c->p->steps[k];

		if (tx_cancel_requested ||
		    (c->o->handle_signals && stop_pending()))
			break;
		if (st->range.ntarget > c->fd_budget - c->fds_held - want &&
		    st->range.ntarget <= c->fd_budget)
			break; /* when earlier steps have released theirs */
		c->reserve_next++;
		/* none, or more than may ever be open: allocated when it
		 * runs */
		if (st->range.ntarget && st->range.ntarget <= c->fd_budget) {
			ks[nk++] = k;
			want += st->range.ntarget;
		}
	}
	size_t topped = nk;
	/* the waiting ones go with a top-up batch, or on their own when one
	 * of them is next or too many wait */
	if (c->nready && (now || nk || c->nready >= TX_READY_MAX)) {
		for (size_t i = 0; i < c->nready; i++) {
			size_t k = c->ready[i];

			if (want + unheld(c, k) > c->fd_budget - c->fds_held)
				continue; /* allocated when it runs */
			ks[nk++] = k;
			want += unheld(c, k);
		}
		c->nready = 0;
	}
	if (nk)
		hold_batch(c, ks, nk);
	if (c->reserving) {
		c->reserved += topped;
		report(c, from, false);
	}
	free(ks);
}

/* Read-ahead of the steps after the one running: at most this many steps
 * and (about) this many bytes ahead. */
#define TX_PREFETCH_STEPS 32
#define TX_PREFETCH_BYTES (16ull << 20)

/* Before step `from` runs: start the reads of the next steps' ranges
 * (POSIX_FADV_WILLNEED: the kernel reads them in the background), so that
 * a step finds its data in the page cache instead of waiting for each
 * small file's read in turn. Not on ext4, whose movedata drops a range's
 * cached pages before it moves them (large folios, lib/fs_movedata.c). */
static void prefetch_ahead(struct apply_ctx *c, size_t from)
{
	const struct tx_plan *p = c->p;
	uint64_t bytes = 0;

	if (!c->prefetch)
		return;
	if (c->prefetch_next <= from)
		c->prefetch_next = from + 1;
	for (size_t k = from + 1; k < c->prefetch_next; k++)
		bytes += p->steps[k].range.length;
	while (c->prefetch_next < p->nsteps &&
	       c->prefetch_next <= from + TX_PREFETCH_STEPS &&
	       bytes < TX_PREFETCH_BYTES) {
		const struct tx_step *st = &p->steps[c->prefetch_next++];
		int fd = step_open_ro(c, st->range.path);

		bytes += st->range.length;
		if (fd < 0)
			continue;
		(void)posix_fadvise(fd, (off_t)st->range.offset,
		                    (off_t)st->range.length,
		                    POSIX_FADV_WILLNEED);
		close(fd);
	}
}

/* The filesystem magic of path (statfs f_type), 0 when unknown: XFS
 * (0x58465342) placement sessions hold no blocks; ext4 (0xEF53) movedata
 * drops cached pages (no read-ahead). */
static long fs_magic(const char *path)
{
	struct statfs sf;

	return statfs(path, &sf) == 0 ? (long)sf.f_type : 0;
}

/* Open files a placement session may hold (its blocker files, at most
 * 1024 in lib/fs_place_ext4.c; beyond the limit it lets them go). */
#define TX_SESSION_FILES 1024

/* How many donors may be held open at once: what the open-file limit
 * leaves (raised to its hard limit when that is needed, never beyond),
 * keeping 256 descriptors for everything else and, when the limit is
 * high enough, TX_SESSION_FILES for a placement session. */
static size_t hold_budget(const struct tx_plan *p, struct rlimit *old)
{
	struct rlimit rl;
	rlim_t want = 256 + TX_SESSION_FILES;

	for (size_t k = 0; k < p->nsteps && k < TX_RESERVE_MAX; k++)
		want += p->steps[k].range.ntarget;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 0;
	*old = rl;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want &&
	    rl.rlim_max > rl.rlim_cur) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want
		                  ? want
		                  : rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		return (size_t)want;
	if (rl.rlim_cur >= 256 + 2 * TX_SESSION_FILES)
		return (size_t)(rl.rlim_cur - 256 - TX_SESSION_FILES);
	return rl.rlim_cur > 256 ? (size_t)(rl.rlim_cur - 256) : 0;
}

/* Physical address of file offset x in target piece t. */
static uint64_t target_at(const struct rl_extent *t, uint64_t x)
{
	return t->physical + (x - t->logical);
}

/* The runs of [lo, hi) of fd (inside target piece t) whose data is not
 * at the target yet, as [logical, logical + length) (physical unused): a
 * run spans consecutive extents off their target and the holes between
 * them, and ends at data that is at its target already (moving that again
 * would need the donor's blocks there, which it gave up). So the first
 * pass over a chunk is one run, one movedata call, as before. */
static int chunk_todo(int fd, const struct rl_extent *t, uint64_t lo,
                      uint64_t hi, struct rl_extent **todo, size_t *n)
{
	int r = tx_range_pieces(fd, lo, hi - lo, todo, n);
	struct rl_extent *p = *todo;
	size_t k = 0;
	bool open = false;

	if (r < 0)
		return r;
	for (size_t i = 0; i < *n; i++) {
		if (p[i].physical == target_at(t, p[i].logical)) {
			open = false;
			continue;
		}
		if (open) {
			p[k - 1].length =
			    p[i].logical + p[i].length - p[k - 1].logical;
		} else {
			p[k++] = p[i];
			open = true;
		}
	}
	*n = k;
	return 0;
}

/* Make sure the donor holds target piece t's blocks over [lo, hi) (file
 * offsets; the donor's are x + delta): where it does not (an earlier -EBUSY
 * on XFS/btrfs released what it had there, or a partial move left other
 * blocks), drop what it has there and allocate exactly the target again.
 * -EBUSY when the target was taken meanwhile (someone else allocated it),
 * or when *budget placements were spent already (counted down). */
static int donor_rehold(struct apply_ctx *c, int donor, uint64_t delta,
                        const struct rl_extent *t, uint64_t lo, uint64_t hi,
                        int *budget)
{
	struct rl_extent *dp;
	size_t nd;
	uint64_t pos = lo;
	int r = tx_range_pieces(donor, lo + delta, hi - lo, &dp, &nd);
	struct rl_place_opts popts;

	if (r < 0)
		return r;
	for (size_t i = 0; i < nd; i++)
		dp[i].logical -= delta; /* in file offsets from here */
	memset(&popts, 0, sizeof(popts));
	popts.state_dir = c->o->state_dir;
	popts.no_tunables = c->o->no_tunables;
	popts.session = c->xsession;
	popts.stop = place_stop;
	popts.stop_arg = (void *)c->o;
	for (size_t i = 0; r == 0 && pos < hi; i++) {
		/* [pos, gap_end) is not held right; then dp[i] is (or not) */
		uint64_t gap_end = hi;
		bool right = false;

		if (i < nd) {
			right = dp[i].physical == target_at(t, dp[i].logical);
			gap_end = right ? dp[i].logical : hi;
		}
		if (!right && i < nd)
			continue; /* a wrong piece: part of the gap */
		if (gap_end > pos && --*budget < 0) {
			r = -EBUSY; /* the file keeps changing: give up */
			break;
		}
		if (gap_end > pos) {
			int64_t got;

			if (fallocate(donor,
			              FALLOC_FL_PUNCH_HOLE |
			                  FALLOC_FL_KEEP_SIZE,
			              (off_t)(pos + delta),
			              (off_t)(gap_end - pos)) < 0 ||
			    lseek(donor, (off_t)(pos + delta), SEEK_SET) < 0) {
				r = -errno;
				break;
			}
			got = rl_allocate_ex(
			    donor,
			    RL_ALLOC_FIXED_START | RL_ALLOC_CONTIGUOUS |
			        RL_ALLOC_FIXED_LEN,
			    target_at(t, pos), gap_end - pos, &popts);
			if (got < 0 || (uint64_t)got != gap_end - pos)
				r = got == -ENOSPC || got >= 0 ? -EBUSY
				                               : (int)got;
		}
		if (i < nd)
			pos = dp[i].logical + dp[i].length;
		else
			pos = hi;
	}
	free(dp);
	return r;
}

/* Move [lo, hi) of fd (inside target piece t) onto the donor's blocks,
 * until FIEMAP shows all of its data at the target (a concurrent write can
 * put a moved piece elsewhere again: copy-on-write on XFS and btrfs), at
 * most TX_BUSY_RETRIES more times, then -EBUSY. Every call of movedata is
 * over data not at the target yet, with the donor checked to hold the
 * target there (RL_MOVE_SPACE_FULL makes the library refuse rather than
 * punch fd if it does not): a retry after -EBUSY never hands movedata a
 * space file that lost its blocks. */
static int move_chunk(struct apply_ctx *c, int fd, int donor, uint64_t delta,
                      const struct rl_extent *t, uint64_t lo, uint64_t hi,
                      unsigned mflags)
{
	int budget = TX_REHOLD_MAX;

	for (int tries = 0;; tries++) {
		struct rl_extent *todo;
		size_t n;
		int r = chunk_todo(fd, t, lo, hi, &todo, &n);

		if (r == 0 && n > 0 && tries == TX_BUSY_RETRIES)
			r = -EBUSY; /* still rewritten elsewhere meanwhile */
		if (r < 0 || n == 0) {
			free(todo);
			return r;
		}
		if (tries > 0)
			fdatasync(fd);
		for (size_t k = 0; r == 0 && k < n; k++)
			r = donor_rehold(c, donor, delta, t, todo[k].logical,
			                 todo[k].logical + todo[k].length,
			                 &budget);
		for (size_t k = 0; r == 0 && k < n; k++)
			r = rl_movedata_at(
			    fd, donor, todo[k].logical, todo[k].logical + delta,
			    todo[k].length, RL_MOVE_SPACE_FULL | mflags);
		free(todo);
		if (r < 0 && r != -EBUSY && r != -ENOSPC)
			return r;
	}
}

/* A failed step's reason: nothing of it remains. */
static void say_nothing_moved(char *why, size_t wlen)
{
	size_t l = strlen(why);

	snprintf(why + l, wlen - l, "%s",
	         "; nothing of this step was moved or kept allocated");
}

/* The file of the step that just ended: kept open for its step_done
 * callback (tx_progress.fd), closed after it (step_done_fd). */
static void step_keep_fd(struct apply_ctx *c, int fd)
{
	if (c->step_fd >= 0)
		close(c->step_fd);
	c->step_fd = fd;
}

static void step_done_fd(struct apply_ctx *c)
{
	step_keep_fd(c, -1);
}

/* Open the file of step st for writing and check it is the file the
 * plan saw, with its range where the plan saw it: *cur its pieces now.
 * Returns the fd (>= 0), or -errno with why set (*cur NULL, fd
 * closed). */
static int step_open(struct apply_ctx *c, const struct tx_step *st,
                     struct stat *sb, struct rl_extent **cur, size_t *ncur,
                     char *why, size_t wlen)
{
	uint64_t ino, gen;
	bool gk;
	int fd, r;

	*cur = NULL;
	fd = c->o->open_file
	         ? c->o->open_file(c->o->open_arg, st->range.path, O_RDWR)
	         : open(st->range.path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, wlen,
		         "cannot open: %s; nothing of this step was moved",
		         rl_strerror(fd));
		return fd;
	}
	r = rl_file_identity(fd, &ino, &gen, &gk);
	if (r < 0) {
		snprintf(why, wlen, "fstat: %s", strerror(-r));
		goto fail;
	}
	if (ino != st->range.ino ||
	    (st->gen_known && gk && gen != st->range.gen)) {
		snprintf(why, wlen,
		         "changed during planning: it is another file now "
		         "(inode %llu generation %llu, planned %llu/%llu)",
		         (unsigned long long)ino, (unsigned long long)gen,
		         (unsigned long long)st->range.ino,
		         (unsigned long long)st->range.gen);
		r = -ESTALE;
		goto fail;
	}
	r = tx_range_pieces(fd, st->range.offset, st->range.length, cur, ncur);
	if (r < 0) {
		snprintf(why, wlen, "FIEMAP: %s", strerror(-r));
		goto fail;
	}
	if (!tx_pieces_equal(*cur, *ncur, st->range.before,
	                     st->range.nbefore)) {
		snprintf(why, wlen,
		         "changed during planning: its blocks are not where "
		         "the plan saw them (%zu extents now, %zu planned)",
		         *ncur, st->range.nbefore);
		r = -ESTALE;
		goto fail;
	}
	if (fstat(fd, sb) < 0) {
		r = -errno;
		goto fail;
	}
	return fd;
fail:
	free(*cur);
	*cur = NULL;
	close(fd);
	say_nothing_moved(why, wlen);
	return r;
}

/* ext4: would the step leave its file with more extents than its inode
 * holds (four), where it has no more now? Counted from FIEMAP: the
 * extents outside the range, those cut by its ends, and the target's
 * pieces (merges not counted: rather once too often; nor ext4's cut of
 * a piece longer than an extent, 128 MiB at 4 KiB blocks). */
#define TX_EXT4_INODE_EXTENTS 4
static bool grows_tree(int fd, const struct tx_step *st, const struct stat *sb)
{
	uint64_t lo = st->range.offset, hi = lo + st->range.length, in = 0;
	size_t n = 0, after = st->range.ntarget;
	struct rl_extent *e = NULL;

	/* (no FIEMAP where the range alone is in more pieces: a tree
	 * already; nor where its pieces are every block the file has --
	 * none past EOF, no tree block -- so its target's pieces are all) */
	if (st->range.nbefore > TX_EXT4_INODE_EXTENTS)
		return false;
	for (size_t k = 0; k < st->range.nbefore; k++)
		in += st->range.before[k].length;
	if ((uint64_t)sb->st_blocks * 512 <= in)
		return after > TX_EXT4_INODE_EXTENTS;
	/* (not known: a commit too many) */
	if (rl_get_extents_nosync(fd, &e, &n) < 0)
		return true;
	for (size_t i = 0; i < n && n <= TX_EXT4_INODE_EXTENTS; i++) {
		uint64_t a = e[i].logical, b = a + e[i].length;
		if (b <= lo || a >= hi)
			after++;
		else
			after += (a < lo) + (b > hi);
	}
	free(e);
	return n <= TX_EXT4_INODE_EXTENTS && after > TX_EXT4_INODE_EXTENTS;
}

static int run_step(struct apply_ctx *c, struct jr_journal *j, size_t i,
                    struct rl_extent **after, size_t *nafter, char *why,
                    size_t wlen)
{
	const struct tx_step *st = &c->p->steps[i];
	struct rl_extent *cur = NULL;
	size_t ncur;
	struct stat sb;
	int fd, r;
	struct tx_held h = {.sp = NULL};
	uint64_t chunk = c->o->chunk ? c->o->chunk : TX_DEFAULT_CHUNK;
	bool moving = false; /* movedata was called: record a partial move */
	int sig = 0;

	fd = step_open(c, st, &sb, &cur, &ncur, why, wlen);
	if (fd < 0)
		return fd;
	if (c->held && c->held[i].sp) {
		/* held (in part) since before the earlier steps ran */
		h = c->held[i];
		memset(&c->held[i], 0, sizeof(c->held[i]));
		if (h.nheld < h.n && h.n - h.nheld > c->fd_budget - c->fds_held)
			held_release(c, st, &h); /* no room for the rest: one
			                            donor */
	}
	if (!h.sp || h.nheld < h.n) {
		r = hold_targets(c, st, sb.st_dev,
		                 h.sp || st->range.ntarget <=
		                             c->fd_budget - c->fds_held,
		                 false, &h, why, wlen);
		if (r < 0)
			goto out;
	}
	/* A file that outgrows its inode gets a tree block (ext4), which
	 * the kernel puts in the first single free block of the file's goal
	 * group -- where the plan keeps one free (src/planner.c,
	 * tree_goal_group) -- but not in one freed since the journal's last
	 * commit: the blockers of this step's placement, a tree block freed
	 * by an earlier move's merge. So commit first. */
	if (c->ext4 && grows_tree(fd, st, &sb))
		(void)rl_fs_commit(fd);
	/* move, chunk by chunk */
	for (size_t k = 0; k < st->range.ntarget; k++) {
		const struct rl_extent *t = &st->range.target[k];
		int donor = h.sp[k]->fd;
		uint64_t delta = h.delta[k];
		for (uint64_t pos = t->logical; pos < t->logical + t->length;) {
			uint64_t n = t->logical + t->length - pos;
			if (n > chunk)
				n = chunk;
			if ((c->o->handle_signals &&
			     (sig = stop_pending()) != 0) ||
			    tx_cancel_requested) {
				r = -EINTR;
				snprintf(why, wlen,
				         "%s between chunks, at file "
				         "offset %llu (%s)",
				         tx_cancel_requested
				             ? "cancelled by the user"
				         : sig == SIGTERM ? "stopped by SIGTERM"
				                          : "stopped by SIGINT",
				         (unsigned long long)pos,
				         moving
				             ? "the range is partly moved; "
				               "every byte is in one place or "
				               "the other; 'undo' moves it back"
				             : "nothing of it was moved");
				goto out;
			}
			moving = true;
			r = move_chunk(c, fd, donor, delta, t, pos, pos + n,
			               st->unshare ? RL_MOVE_ALLOW_SHARED : 0);
			if (r < 0) {
				snprintf(why, wlen,
				         "movedata at file offset %llu: %s",
				         (unsigned long long)pos,
				         rl_strerror(r));
				goto out;
			}
			pos += n;
			c->done += n;
			report(c, i, false);
			throttle(c, i);
		}
	}
	r = verify_moved(fd, st, why, wlen, after, nafter);
out:
	if (r < 0 && moving && *after == NULL) {
		/* Record where the range is now (a partial move) so the
		 * journal can say so and an undo can take it back. */
		struct rl_extent *now;
		size_t nn;
		if (tx_range_pieces(fd, st->range.offset, st->range.length,
		                    &now, &nn) == 0 &&
		    !tx_pieces_equal(now, nn, st->range.before,
		                     st->range.nbefore)) {
			*after = now;
			*nafter = nn;
		} else if (now) {
			free(now);
		}
	}
	if (r < 0 && !moving && r != -EINTR)
		/* say so: nothing of the step remains (the donor, released
		 * below, holds whatever was allocated) */
		say_nothing_moved(why, wlen);
	(void)j;
	free(cur);
	held_release(c, st, &h); /* what the donors still hold is freed */
	/* What the step freed (the file's old blocks, the donor's after the
	 * swap, or what a failed step had allocated, released by that
	 * close; XFS frees the closed donor in the background) is settled
	 * when it is wanted, not after every step (a log commit each): an
	 * exact placement settles before it looks (lib/fs_place_*.c), a
	 * hold of the targets a step freed settles first (hold_ahead), and
	 * so does the front end before it reads the free space again.
	 * The file stays open for the step_done callback (step_done_fd). */
	step_keep_fd(c, fd);
	return r;
}

/* Journal batches: the PLANNED records of up to TX_JR_BATCH steps from
 * `from` on are written together and made durable with one sync before
 * the first of them runs; their DONE and FAILED records follow without a
 * sync of their own (synced with the next batch, or by jr_end). A crash
 * loses at most those: recovery finds where each PLANNED step stands from
 * the extents of its file's range. So a batch ends before a step on a
 * range that a step of the batch moves already (those extents must tell
 * one step's outcome). *to: the first step past the records written. */
#define TX_JR_BATCH 64
static int journal_batch(const struct tx_plan *p, struct jr_journal *j,
                         uint64_t id, size_t from, size_t *to)
{
	size_t k;
	int r = 0;

	for (k = from; k < p->nsteps && k - from < TX_JR_BATCH; k++) {
		const struct tx_step *st = &p->steps[k];
		struct jr_step js;
		bool seen = false;

		for (size_t m = from; m < k && !seen; m++) {
			const struct jr_range *a = &p->steps[m].range;
			seen =
			    a->ino == st->range.ino &&
			    a->offset < st->range.offset + st->range.length &&
			    st->range.offset < a->offset + a->length;
		}
		if (seen && k > from)
			break;
		memset(&js, 0, sizeof(js));
		js.index = (unsigned)k;
		js.range = st->range; /* borrowed: the record is written */
		js.unshare = st->unshare;
		r = jr_step_planned(j, id, &js);
		if (r < 0)
			break;
	}
	*to = k;
	return r < 0 ? r : jr_sync(j);
}

/* A step with no chosen place (tx_step.anyplace: btrfs, whose allocator
 * takes no goal): the donor gets the whole range in one fallocate where
 * the allocator chooses; only when FIEMAP shows it in fewer runs than the
 * range has now is the range moved onto it (movedata: a copy and a
 * content-checked remap), else nothing moves and *unchanged is set (*after
 * the range as it is). */
static int run_step_any(struct apply_ctx *c, size_t i, struct rl_extent **after,
                        size_t *nafter, bool *unchanged, char *why, size_t wlen)
{
	const struct tx_step *st = &c->p->steps[i];
	struct tx_step loc;
	struct rl_extent *cur = NULL, *dp = NULL;
	size_t ncur = 0, nd = 0;
	/* One movedata call per donor piece, not per chunk: it copies the
	 * whole range into the donor before its first remap; on btrfs a
	 * later call would write into a donor extent already shared with
	 * the file (copy-on-write: elsewhere; measured: EBUSY at the second
	 * 16 MiB chunk). */
	const uint64_t chunk = UINT64_MAX;
	unsigned mflags =
	    RL_MOVE_SPACE_FULL | (st->unshare ? RL_MOVE_ALLOW_SHARED : 0);
	struct stat sb;
	bool moving = false;
	int64_t got;
	int fd, donor = -1, r;

	*unchanged = false;
	fd = step_open(c, st, &sb, &cur, &ncur, why, wlen);
	if (fd < 0)
		return fd;
	donor = open_donor(st->range.path, sb.st_dev);
	if (donor < 0) {
		r = donor;
		snprintf(why, wlen, "cannot create the donor file: %s",
		         rl_strerror(r));
		goto out;
	}
	if (lseek(donor, (off_t)st->range.offset, SEEK_SET) < 0) {
		r = -errno;
		goto out;
	}
	got = rl_allocate_ex(donor, RL_ALLOC_FIXED_LEN, 0, st->range.length,
	                     NULL);
	r = got < 0 ? (int)got
	    : (uint64_t)got != st->range.length
	        ? -ENOSPC
	        : tx_range_pieces(donor, st->range.offset, st->range.length,
	                          &dp, &nd);
	if (r < 0) {
		snprintf(why, wlen, "allocate %llu bytes: %s",
		         (unsigned long long)st->range.length, rl_strerror(r));
		goto out;
	}
	if (nd >= ncur) { /* no better than now: leave it */
		*unchanged = true;
		*after = cur;
		*nafter = ncur;
		cur = NULL;
		goto out;
	}
	for (size_t k = 0; r == 0 && k < nd; k++) {
		uint64_t end = dp[k].logical + dp[k].length, n;

		for (uint64_t pos = dp[k].logical; r == 0 && pos < end;
		     pos += n) {
			n = end - pos < chunk ? end - pos : chunk;
			if ((c->o->handle_signals && stop_pending()) ||
			    tx_cancel_requested) {
				r = -EINTR;
				snprintf(why, wlen,
				         "stopped between chunks, at file "
				         "offset %llu (%s)",
				         (unsigned long long)pos,
				         moving ? "the range is partly moved"
				                : "nothing of it was moved");
				break;
			}
			moving = true;
			r = rl_movedata(fd, donor, pos, n, mflags);
			if (r < 0) {
				snprintf(why, wlen,
				         "movedata at file offset %llu: %s",
				         (unsigned long long)pos,
				         rl_strerror(r));
				break;
			}
			c->done += n;
			report(c, i, false);
			throttle(c, i);
		}
	}
	if (r == 0) {
		loc = *st;
		loc.range.target = dp;
		loc.range.ntarget = nd;
		r = verify_moved(fd, &loc, why, wlen, after, nafter);
	}
out:
	if (r < 0 && moving && *after == NULL &&
	    tx_range_pieces(fd, st->range.offset, st->range.length, after,
	                    nafter) < 0)
		*after = NULL; /* where it is now, for the journal */
	if (r < 0 && !moving && r != -EINTR)
		say_nothing_moved(why, wlen);
	free(cur);
	free(dp);
	if (donor >= 0)
		close(donor);
	step_keep_fd(c, fd); /* what it freed: settled when wanted
	                        (run_step) */
	return r;
}

/* The old places of the steps skipped (tx_opts.skip_missed), sorted by
 * physical address (the data of different steps does not overlap). */
struct tx_gone {
	struct rl_extent *v;
	size_t n, cap;
};

/* Skip step i (it failed before anything of it moved): its old place
 * stays taken, and a later step whose target overlaps it is skipped when
 * it comes (skip_needed). 0 or -ENOMEM. */
static int skip_step(const struct tx_plan *p, struct tx_gone *g, size_t i)
{
	const struct tx_step *st = &p->steps[i];

	for (size_t k = 0; k < st->range.nbefore; k++) {
		const struct rl_extent *b = &st->range.before[k];
		size_t lo = 0, hi = g->n;

		if (mem_grow(&g->v, &g->cap, g->n + 1, sizeof(*g->v)) < 0)
			return -ENOMEM;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (g->v[mid].physical < b->physical)
				lo = mid + 1;
			else
				hi = mid;
		}
		memmove(g->v + lo + 1, g->v + lo, (g->n - lo) * sizeof(*g->v));
		g->v[lo] = *b;
		g->n++;
	}
	return 0;
}

/* Does a target piece of step st overlap the old place of a skipped
 * step? */
static bool skip_needed(const struct tx_gone *g, const struct tx_step *st)
{
	for (size_t k = 0; g->n && k < st->range.ntarget; k++) {
		uint64_t a = st->range.target[k].physical;
		uint64_t b = a + st->range.target[k].length;
		size_t lo = 0, hi = g->n;

		/* the first old piece starting at or after b; the one before
		 * it is the only other candidate besides those in [a, b) */
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (g->v[mid].physical < b)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (a < b && lo > 0 &&
		    g->v[lo - 1].physical + g->v[lo - 1].length > a)
			return true;
	}
	return false;
}

int tx_apply(const struct tx_plan *p, struct jr_journal *j,
             const struct tx_opts *o, struct tx_result *res)
{
	struct apply_ctx c = {
	    .p = p, .o = o, .res = res, .t0 = now_s(), .step_fd = -1};
	struct sigaction sa, old_int, old_term;
	sigset_t block, oldmask;
	int old_prio = -1, ret = 0;
	uint64_t id;
	struct rlimit nofile = {0, 0};
	size_t journaled = 0, unrun = 0; /* PLANNED records; steps ended */
	struct tx_gone gone = {0};       /* old places of the steps skipped */

	memset(res, 0, sizeof(*res));
	ret = jr_begin(j, p->command, p->undo_of, (unsigned)p->nsteps, &id);
	if (ret < 0) {
		snprintf(res->message, sizeof(res->message),
		         "cannot write the journal: %s", strerror(-ret));
		res->status = JR_ST_FAILED;
		return ret;
	}
	res->id = id;
	if (!o->normal_io) {
		old_prio = ioprio_get_self();
		ioprio_set_self(IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT);
	}
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	tx_stop_requested = 0;
	memset(&stop_poll, 0, sizeof(stop_poll));
	tx_cancel_requested = 0;
	if (o->handle_signals) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_stop_signal;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, &old_int);
		sigaction(SIGTERM, &sa, &old_term);
	}
	res->status = JR_ST_APPLIED;
	c.fd_budget = hold_budget(p, &nofile);
	c.page = sysconf(_SC_PAGESIZE);
	if (c.page <= 0)
		c.page = 4096;
	if (p->nsteps > 1)
		c.held = calloc(p->nsteps, sizeof(*c.held)); /* NULL: none */
	if (p->nsteps > 0) {
		long magic = fs_magic(p->steps[0].range.path);

		/* (the XFS session holds no blocks: one step gains from its
		 * anchors too) */
		if (magic == 0x58465342 &&
		    rl_place_session_begin(&c.xsession) == 0)
			hint_anchors(&c);
		c.prefetch = p->nsteps > 1 && magic != 0xEF53;
		c.ext4 = magic == 0xEF53;
	}
	jr_defer_sync(j, true);
	for (size_t i = 0; i < p->nsteps; i++) {
		const struct tx_step *st = &p->steps[i];
		struct rl_extent *after = NULL;
		size_t nafter = 0;
		char why[512] = "";
		bool ran = false; /* past PLANNED: the step_done callback */
		bool unchanged = false; /* anyplace: no better place */
		int r;

		sigprocmask(SIG_BLOCK, &block, &oldmask);
		if (!tx_stop_requested && !tx_cancel_requested) {
			if (i == 0)
				c.reserving = p->nsteps < TX_RESERVE_MAX
				                  ? p->nsteps
				                  : TX_RESERVE_MAX;
			hold_ahead(&c, i);
			prefetch_ahead(&c, i);
			if (c.reserving && c.reserved &&
			    c.reserved < c.reserving) {
				/* stopped early (open-file budget, stop):
				 * end the progress line there */
				c.reserving = c.reserved;
				report(&c, i, false);
			}
			c.reserving = 0;
			if (o->handle_signals && stop_pending())
				sigprocmask(SIG_SETMASK, &oldmask, NULL);
		}
		if (tx_stop_requested || tx_cancel_requested) {
			sigprocmask(SIG_SETMASK, &oldmask, NULL);
			res->status = JR_ST_STOPPED;
			ret = -EINTR;
			snprintf(res->message, sizeof(res->message),
			         "%s before step %zu of %zu "
			         "(%zu steps applied)",
			         tx_cancel_requested ? "cancelled by the user"
			                             : "stopped by a signal",
			         i + 1, p->nsteps, i);
			break;
		}
		r = i < journaled ? 0 : journal_batch(p, j, id, i, &journaled);
		if (r < 0) {
			snprintf(why, sizeof(why),
			         "cannot write the journal: %s", strerror(-r));
		} else if (skip_needed(&gone, st)) {
			/* an earlier step skipped: its old place, part of this
			 * target, stays taken */
			ran = true;
			r = -EAGAIN;
			snprintf(
			    why, sizeof(why),
			    "skipped: its target is where a skipped earlier "
			    "step's data stays; nothing of this step was "
			    "moved");
			jr_step_failed(j, id, (unsigned)i, r, why);
		} else {
			ran = true;
			r = st->anyplace
			        ? run_step_any(&c, i, &after, &nafter,
			                       &unchanged, why, sizeof(why))
			        : run_step(&c, j, i, &after, &nafter, why,
			                   sizeof(why));
			if (r == 0) {
				r = jr_step_done(j, id, (unsigned)i, after,
				                 nafter,
				                 unchanged ? 0 : st->bytes);
				if (r < 0)
					snprintf(why, sizeof(why),
					         "moved, but cannot write the "
					         "journal: %s",
					         strerror(-r));
			} else {
				if (after)
					jr_step_done(j, id, (unsigned)i, after,
					             nafter, 0);
				jr_step_failed(j, id, (unsigned)i, r, why);
			}
		}
		bool partial = after != NULL;
		free(after);
		sigprocmask(SIG_SETMASK, &oldmask, NULL);
		unrun = ran ? i + 1 : i; /* (not ran: the journal failed) */
		if (r == 0) {
			res->steps_done++;
			res->bytes += unchanged ? 0 : st->bytes;
			res->unchanged += unchanged;
		}
		if (ran)
			report_step_end(&c, i, r);
		step_done_fd(&c);
		if (r < 0) {
			/* a signal between chunks stops the plan, and so does
			 * the volume turning read-only between steps (a
			 * remount cannot happen while a step holds the file
			 * open for writing); anything else fails it */
			bool stop =
			    (r == -EINTR &&
			     ((o->handle_signals && tx_stop_requested) ||
			      tx_cancel_requested)) ||
			    r == -EROFS;
			if (!stop && ran && !partial && o->skip_missed &&
			    (r == -EBUSY || r == -ENOSPC || r == -ESTALE ||
			     r == -EAGAIN) &&
			    skip_step(p, &gone, i) == 0) {
				if (!res->skipped++)
					snprintf(
					    res->message, sizeof(res->message),
					    "step %zu of %zu (%s) skipped: %s",
					    i + 1, p->nsteps, st->range.path,
					    why);
				if (o->skipped)
					o->skipped(o->skip_arg, i, r);
				/* what it holds is free for the others */
				if (c.held)
					held_release(&c, st, &c.held[i]);
				continue;
			}
			res->status = stop ? JR_ST_STOPPED : JR_ST_FAILED;
			res->failed_step = i;
			res->err = r;
			ret = r;
			snprintf(res->message, sizeof(res->message),
			         "step %zu of %zu (%s, range %llu+%llu)%s: "
			         "%s%s",
			         i + 1, p->nsteps, st->range.path,
			         (unsigned long long)st->range.offset,
			         (unsigned long long)st->range.length,
			         stop ? "" : " failed", why,
			         i ? "; the earlier steps stay applied" : "");
			break;
		}
	}
	free(gone.v);
	if (res->status == JR_ST_APPLIED && res->skipped) {
		char first[sizeof(res->message)];

		memcpy(first, res->message, sizeof(first));
		snprintf(res->message, sizeof(res->message),
		         "%zu of %zu steps skipped (nothing of them moved; the "
		         "others applied); the first: %.900s",
		         res->skipped, p->nsteps, first);
	}
	/* steps of the last journal batch that did not run */
	for (size_t k = unrun; k < journaled; k++)
		jr_step_failed(j, id, (unsigned)k, ECANCELED,
		               "not run: the transaction ended before it");
	jr_defer_sync(j, false);
	step_done_fd(&c);
	for (size_t k = 0; c.held && k < p->nsteps; k++)
		held_release(&c, &p->steps[k], &c.held[k]);
	free(c.held);
	free(c.ready);
	struct rl_place_session_stats pst = {0};
	(void)rl_place_session_end(c.xsession, &pst);
	res->anchor_walks = pst.walks;
	if (nofile.rlim_cur)
		(void)setrlimit(RLIMIT_NOFILE, &nofile); /* as it was */
	jr_end(j, id, res->status, res->message);
	if (o->handle_signals) {
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
	}
	if (!o->normal_io && old_prio >= 0)
		ioprio_set_self(old_prio);
	return ret;
}
