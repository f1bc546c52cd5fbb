/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Transactions in a session, for the commands that change the disk
 * (src/session_txn.h): the session's journal, the target check and the
 * apply with the session's hooks, their results in words. */
#include "config.h"
#include "session_txn.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "busy.h"
#include "journal.h"
#include "layout_model.h"
#include "mem.h"
#include "output.h"
#include "session.h"
#include "txn.h"
#include "txn_check.h"
#include "txn_model.h"
#include "txn_recover.h"
#include "units.h"
#include "vlock.h"

#define SESSION_CANCEL_CHUNK (4ull << 20) /* movedata call size under a UI */

static cJSON *pieces_to_json(const struct rl_extent *p, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; a && i < n; i++) {
		cJSON *e = cJSON_CreateObject();
		out_add_u64(e, "logical", p[i].logical);
		out_add_u64(e, "physical", p[i].physical);
		out_add_u64(e, "length", p[i].length);
		cJSON_AddItemToArray(a, e);
	}
	return a;
}

/* ----------------------------------------------------- journal at start */

static const char *step_now_text(enum tx_step_now st)
{
	switch (st) {
	case TX_NOW_CANNOT_OPEN:
		return "unknown (the file cannot be opened)";
	case TX_NOW_REPLACED:
		return "unknown (the file was replaced since)";
	case TX_NOW_CANNOT_READ:
		break;
	case TX_NOW_NOT_MOVED:
		return "not moved (the data is at its old place)";
	case TX_NOW_MOVED:
		return "moved (the data is at the target)";
	case TX_NOW_PARTLY:
		return "partly moved (part at the target, part at its old "
		       "place; every byte is in one of them)";
	}
	return "unknown (cannot read the file)";
}

int session_open_cb(void *arg, const char *path, int flags)
{
	return session_open_file(arg, path, flags);
}

/* Close an interrupted transaction in the journal (the lock is held:
 * the state of the steps in flight recorded, so undo can revert them)
 * and report it. */
static void report_interrupted(struct rl_session *s, struct jr_journal *j,
                               const struct jr_txn *t)
{
	struct tx_recovery r;
	char when[32];
	struct tm tm;
	time_t tt;

	tx_recover(j, t, session_open_cb, s, &r);
	tt = (time_t)r.time;
	gmtime_r(&tt, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%SZ", &tm);
	fprintf(s->err,
	        "relayout: note: transaction %" PRIu64 " ('%s', started %s by "
	        "pid %ld) was interrupted after %zu of %u steps\n",
	        r.id, r.command ? r.command : "", when, r.pid, r.done,
	        r.nplanned);
	for (size_t i = 0; i < r.nsteps; i++) {
		const struct tx_recovered_step *rs = &r.steps[i];

		fprintf(s->err,
		        "relayout: note:   step %u (%s, range %" PRIu64
		        "+%" PRIu64 ") was in progress: %s; no data was lost\n",
		        rs->index + 1, rs->path ? rs->path : "", rs->offset,
		        rs->length, step_now_text(rs->now));
	}
	fprintf(s->err,
	        "relayout: note:   'log' lists it; 'undo %" PRIu64
	        "' moves what it moved back\n",
	        r.id);
	tx_recovery_free(&r);
}

static void tunable_cb(const struct rl_tunable_restored *r, void *arg)
{
	struct rl_session *s = arg;

	if (r->err == 0)
		fprintf(s->err,
		        "relayout: note: restored %s of %s to %s (left changed "
		        "by an interrupted placement)\n",
		        r->name, r->dev, r->value);
	else if (r->err != -ENODEV)
		fprintf(
		    s->err,
		    "relayout: warning: cannot restore %s of %s to %s: %s\n",
		    r->name, r->dev, r->value, rl_strerror(r->err));
}

/* Open the session's journal (once). lock: take the volume lock (needed
 * to append); try_lock: take it when free, else read only. */
struct jr_journal *session_journal(struct rl_session *s, bool lock,
                                   bool try_lock, const char *dir_opt)
{
	char msg[512], dirbuf[4096];
	long holder = 0;
	const char *dir;
	struct jr_journal *j = NULL;
	int r;

	if (dir_opt && (!s->journal_dir || strcmp(dir_opt, s->journal_dir))) {
		jr_close(s->journal);
		s->journal = NULL;
		s->journal_checked = false;
		free(s->journal_dir);
		s->journal_dir = strdup(dir_opt);
	}
	if (s->journal && (s->journal_locked || !(lock || try_lock)))
		return s->journal;
	if (s->journal && try_lock && !lock)
		return s->journal;
	jr_close(s->journal);
	s->journal = NULL;
	s->journal_locked = false;
	if (!s->fs.uuid[0]) {
		session_error(s,
		              "%s has no filesystem UUID: no undo journal "
		              "can be kept for it",
		              s->fs.mountpoint);
		return NULL;
	}
	dir = jr_dir_choice(s->journal_dir, dirbuf, sizeof(dirbuf));
	if (!dir) {
		session_error(s, "no journal directory: neither HOME nor "
		                 "XDG_STATE_HOME is set (an absolute path); "
		                 "name one with --journal-dir DIR");
		return NULL;
	}
	if (lock && session_volume_lock(s) < 0)
		return NULL;
	if (lock || try_lock) {
		r = jr_open(dir, s->fs.uuid,
		            JR_O_LOCK | (lock ? JR_O_CREATE : 0), &j, &holder,
		            msg, sizeof(msg));
		if (r == -EWOULDBLOCK && try_lock && !lock)
			r = jr_open(dir, s->fs.uuid, 0, &j, NULL, msg,
			            sizeof(msg));
		else if (r == 0)
			s->journal_locked = j->lockfd >= 0;
	} else {
		r = jr_open(dir, s->fs.uuid, 0, &j, NULL, msg, sizeof(msg));
	}
	if (r < 0) {
		session_error(s, "%s", msg[0] ? msg : rl_strerror(r));
		return NULL;
	}
	/* copies of a filesystem share its UUID, and so this journal: its
	 * transactions say on which volume they were made */
	{
		char vid[1200], vname[1400];

		if (vl_volume_id(s->fs.device, s->fs.st_dev, vid, sizeof(vid),
		                 vname, sizeof(vname)) == 0 &&
		    jr_set_volume(j, vid, vname) < 0) {
			jr_close(j);
			session_error(s, "out of memory");
			return NULL;
		}
	}
	s->journal = j;
	if (!s->journal_checked) {
		struct jr_txn *t;

		s->journal_checked = true;
		/* Before the volume lock, placements saved the ext4 tunables
		 * next to the journal: put back what one killed mid-way left
		 * changed there (now they are in vl_state_dir, restored at
		 * every start: main). */
		if (s->journal_locked)
			rl_tunables_recover(j->dir, tunable_cb, s);
		if (j->corrupt)
			fprintf(
			    s->err,
			    "relayout: warning: the journal %s/%s is corrupt "
			    "(%s): it is not trusted, nothing can be undone "
			    "from it and nothing is appended; move it aside "
			    "to go on\n",
			    j->dir, j->name, j->problem);
		else if (j->tail_damaged)
			fprintf(
			    s->err,
			    "relayout: warning: the journal %s/%s ends in a "
			    "damaged record (%s), as a crash during a write "
			    "leaves it; the records before it are intact%s\n",
			    j->dir, j->name, j->problem,
			    s->journal_locked ? " (the damaged tail is cut "
			                        "off at the next append)"
			                      : "");
		t = j->corrupt ? NULL : jr_open_txn(j);
		if (t && s->journal_locked)
			report_interrupted(s, j, t);
		else if (t)
			fprintf(s->err,
			        "relayout: note: transaction %" PRIu64
			        " ('%s') is open: pid %ld is running it or it "
			        "was interrupted\n",
			        t->id, t->command ? t->command : "", t->pid);
	}
	return j;
}

/* ---------------------------------------------------------- placement */

bool session_placement_supported(struct rl_session *s)
{
	/* Relocation needs movedata too: on XFS that is FIDEDUPERANGE. */
	if (s->fs.type == RL_FS_XFS && !(s->fs.features & RL_FEAT_REFLINK)) {
		session_error(s,
		              "%s is XFS without reflink: moving data is "
		              "not supported there (movedata needs "
		              "FIDEDUPERANGE, which needs reflink); nothing "
		              "was changed",
		              s->fs.mountpoint);
		return false;
	}
	if (s->fs.type == RL_FS_EXT4 || s->fs.type == RL_FS_XFS)
		return true;
	if (s->fs.type == RL_FS_BTRFS)
		session_error(s,
		              "%s is btrfs: exact placement is not supported "
		              "there (its allocator takes no physical goal); "
		              "nothing was changed",
		              s->fs.mountpoint);
	else
		session_error(s,
		              "%s is %s: relayout can only map it, not move "
		              "data on it",
		              s->fs.mountpoint, s->fs.fstype);
	return false;
}

/* ------------------------------------------------------ target checks */

/* One used record of a busy target, as the check's message says it. */
static void used_text(const struct rl_space_rec *r, char *buf, size_t len)
{
	if (r->kind == RL_SPACE_METADATA)
		snprintf(buf, len,
		         "filesystem metadata (%s) at 0x%" PRIx64 "+%" PRIu64,
		         r->what, r->start, r->length);
	else if (r->kind == RL_SPACE_DATA && r->owner)
		snprintf(buf, len,
		         "data of inode %" PRIu64 " at 0x%" PRIx64 "+%" PRIu64,
		         r->owner, r->start, r->length);
	else
		snprintf(buf, len,
		         "used blocks (owner not reported by the kernel) at "
		         "0x%" PRIx64 "+%" PRIu64,
		         r->start, r->length);
}

/* "the target ... is not free: ... is in use: <records>; held by
 * <owners>" (at most 1 KiB of records and owners). */
static void busy_text(const struct tx_check *c, char *why, size_t wlen)
{
	char text[1024] = "", found[1024] = "", buf[160];
	size_t used = 0, fused = 0;
	int w;

	for (size_t i = 0; i < c->nused && used < sizeof(text) - 200; i++) {
		used_text(&c->used[i], buf, sizeof(buf));
		w = snprintf(text + used, sizeof(text) - used, "%s%s",
		             used ? "; " : "", buf);
		if (w > 0)
			used += (size_t)w;
	}
	for (unsigned i = 0; i < c->nowners && i < TX_CHECK_MAX_OWNERS; i++) {
		w = snprintf(found + fused, sizeof(found) - fused, "%s%s",
		             fused ? ", " : "",
		             c->owners[i] ? c->owners[i] : "");
		if (w > 0 && (size_t)w < sizeof(found) - fused)
			fused += (size_t)w;
	}
	if (c->nowners)
		snprintf(text + used, sizeof(text) - used, "%sheld by %s%s",
		         used ? "; " : "", found,
		         c->nowners > TX_CHECK_MAX_OWNERS ? ", ..." : "");
	snprintf(why, wlen,
	         "the target 0x%" PRIx64 "..0x%" PRIx64
	         " is not free: 0x%" PRIx64 "..0x%" PRIx64 " is in use%s%s",
	         c->lo, c->hi, c->busy_lo, c->busy_hi, text[0] ? ": " : "",
	         text);
}

/* Why a check of plan p failed, in words. */
static void check_text(const struct tx_plan *p, const struct tx_check *c,
                       char *why, size_t wlen)
{
	char a[32], b[32];

	switch (c->kind) {
	case TX_CHECK_FREE:
		break;
	case TX_CHECK_TAKEN:
		snprintf(why, wlen,
		         "step %zu (%s) needs 0x%" PRIx64 "..0x%" PRIx64
		         ", where step %zu puts %s first",
		         c->step + 1, OUT_ESC(p->steps[c->step].range.path),
		         c->busy_lo, c->hi, c->taker + 1,
		         OUT_ESC(p->steps[c->taker].range.path));
		break;
	case TX_CHECK_NO_SPACE:
		units_format_size(c->need, a, sizeof(a));
		units_format_size(c->avail, b, sizeof(b));
		snprintf(why, wlen,
		         "not enough free space: the plan needs %s "
		         "at once (its largest step, less what the "
		         "steps before it free), the volume has %s "
		         "free",
		         a, b);
		break;
	case TX_CHECK_BEYOND_END:
		snprintf(why, wlen,
		         "target 0x%" PRIx64 "..0x%" PRIx64
		         " ends beyond the end of the volume (0x%" PRIx64 ")",
		         c->lo, c->hi, c->volume_size);
		break;
	case TX_CHECK_NO_MAP:
		snprintf(why, wlen, "cannot read the free-space map: %s%s",
		         rl_strerror(c->err),
		         c->err == -EPERM || c->err == -EACCES
		             ? " (it needs root)"
		             : "");
		break;
	case TX_CHECK_BUSY:
		busy_text(c, why, wlen);
		break;
	}
}

int session_check_targets(struct rl_session *s, const struct tx_plan *p,
                          char *why, size_t wlen)
{
	return session_check_targets_busy(s, p, why, wlen, NULL, true);
}

int session_check_targets_busy(struct rl_session *s, const struct tx_plan *p,
                               char *why, size_t wlen, uint64_t busy[2],
                               bool owners)
{
	struct tx_check c;
	int r = tx_check_targets(p, &s->fs, owners, &c);

	if (r != 0)
		check_text(p, &c, why, wlen);
	if (busy) {
		busy[0] = busy[1] = 0;
		if (r == 1 &&
		    (c.kind == TX_CHECK_BUSY || c.kind == TX_CHECK_TAKEN)) {
			busy[0] = c.busy_lo;
			busy[1] = c.busy_hi;
		}
	}
	tx_check_fini(&c);
	return r;
}

/* ------------------------------------------------------------- output */

cJSON *session_step_json(const struct tx_step *st)
{
	struct rl_extent *pred = NULL;
	size_t np = 0;
	cJSON *e = cJSON_CreateObject();

	out_add_name(e, "path", st->range.path);
	out_add_u64(e, "inode", st->range.ino);
	out_add_u64(e, "offset", st->range.offset);
	out_add_u64(e, "length", st->range.length);
	out_add_u64(e, "bytes", st->bytes);
	if (st->anyplace)
		cJSON_AddBoolToObject(e, "any_place", true);
	cJSON_AddItemToObject(
	    e, "before", pieces_to_json(st->range.before, st->range.nbefore));
	cJSON_AddItemToObject(
	    e, "target", pieces_to_json(st->range.target, st->range.ntarget));
	tx_predict(st->range.before, st->range.nbefore, st->range.target,
	           st->range.ntarget, &pred, &np);
	cJSON_AddItemToObject(e, "after", pieces_to_json(pred, np));
	free(pred);
	return e;
}

static bool model_follows(const struct rl_session *s)
{
	return s->model && !s->read_only_snapshot;
}

/* What the apply's hooks share: the plan's files, and the progress line
 * on stderr (one a second at most: \r-updated on a terminal, whole lines
 * otherwise). */
struct apply_hooks {
	struct rl_session *s;
	const struct tx_plan *p;
	size_t files;        /* distinct files (inodes) in the plan */
	size_t *files_after; /* [k]: files whose every step is among the
	                        first k (nsteps + 1 entries), or NULL */
	double t0, last;     /* start, the last line (monotonic s) */
	bool tty;            /* stderr is a terminal */
	bool open_line;      /* a \r line is on the terminal unfinished */
	bool printed;        /* a line was printed */
	/* steps whose free space the model has not read again yet: read
	 * after one settle of the volume (model_settle) */
	size_t *unsettled, nunsettled, capunsettled;
	double settled; /* the last model_settle (monotonic s) */
};

#define SESSION_PROGRESS_EVERY 1.0 /* s between progress lines */
/* s between two reads of the free space freed by the steps, when a front
 * end shows the map during an apply (each costs a log commit) */
#define SESSION_SETTLE_EVERY 0.25
/* steps past which a settle reads the whole free map again, not the
 * ranges of each step */
#define SESSION_SETTLE_WHOLE 256

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Bring the session's layout model up to date for step i of an apply:
 * its file now (read on fd, the step's, when >= 0); the free space of its
 * ranges after the next settle (model_settle), as a step's freed blocks show as
 * free only once the filesystem has settled them. */
static void model_refresh_step(struct apply_hooks *h, size_t i, int fd)
{
	struct rl_session *s = h->s;

	tx_model_refresh_file(s->model, &h->p->steps[i], fd, session_open_cb,
	                      s);
	if (mem_grow(&h->unsettled, &h->capunsettled, h->nunsettled + 1,
	             sizeof(*h->unsettled)) == 0)
		h->unsettled[h->nunsettled++] = i;
}

/* Settle the volume once and read the free space of the steps refreshed
 * since the last time. */
static void model_settle(struct apply_hooks *h)
{
	struct rl_session *s = h->s;

	h->settled = mono_now();
	if (!h->nunsettled)
		return;
	session_settle(s);
	/* many steps: one read of the whole free map costs less than two
	 * per step */
	if (h->nunsettled > SESSION_SETTLE_WHOLE &&
	    tx_model_refresh_free_all(s->model, s->fs.mountpoint) == 0) {
		h->nunsettled = 0;
		return;
	}
	for (size_t k = 0; k < h->nunsettled; k++)
		tx_model_refresh_free(s->model, s->fs.mountpoint,
		                      &h->p->steps[h->unsettled[k]]);
	h->nunsettled = 0;
}

static int step_ino_cmp(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;

	if (x[0] != y[0])
		return x[0] < y[0] ? -1 : 1;
	return x[1] < y[1] ? -1 : x[1] > y[1];
}

/* Count the plan's files, and after how many steps each is done (a file
 * moved in several steps is done after its last). */
static void hooks_count_files(struct apply_hooks *h)
{
	size_t n = h->p->nsteps;
	uint64_t *pair = n ? malloc(n * 2 * sizeof(*pair)) : NULL;
	bool *last = n ? calloc(n, sizeof(*last)) : NULL;

	h->files_after = calloc(n + 1, sizeof(*h->files_after));
	if (!pair || !last || !h->files_after) {
		free(h->files_after);
		h->files_after = NULL;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		/* no inode number: a file of its own */
		pair[2 * i] = h->p->steps[i].range.ino
		                  ? h->p->steps[i].range.ino
		                  : UINT64_MAX - i;
		pair[2 * i + 1] = i;
	}
	mem_sort(pair, n, 2 * sizeof(*pair), step_ino_cmp);
	for (size_t i = 0; i < n; i++)
		if (i + 1 == n || pair[2 * (i + 1)] != pair[2 * i]) {
			last[pair[2 * i + 1]] = true;
			h->files++;
		}
	for (size_t k = 0; k < n; k++)
		h->files_after[k + 1] = h->files_after[k] + last[k];
out:
	free(pair);
	free(last);
}

/* p with the plan's files filled in, into q. */
static void with_files(const struct apply_hooks *h, const struct tx_progress *p,
                       struct tx_progress *q)
{
	size_t k = p->steps_done;

	*q = *p;
	if (!h->files_after)
		return;
	if (p->step_end && p->step_err == 0 && k <= p->step)
		k = p->step + 1; /* the step that just ended counts */
	if (k > h->p->nsteps)
		k = h->p->nsteps;
	q->files = h->files;
	q->files_done = h->files_after[k];
}

/* The overall progress on stderr: files, bytes, rate, time left. */
static void progress_line(struct apply_hooks *h, const struct tx_progress *p)
{
	struct rl_session *s = h->s;
	FILE *f = s->err;
	char line[512], d[32], t[32], r[32], eta[32];
	double now = mono_now();
	bool last = !p->reserving && p->done >= p->total &&
	            p->steps_done + (p->step_end && !p->step_err) >= p->nsteps;

	if (last ? !h->printed : now - h->last < SESSION_PROGRESS_EVERY)
		return;
	h->last = now;
	if (p->reserving) {
		snprintf(line, sizeof(line),
		         "relayout: %s: holding the targets of the next %zu "
		         "steps: %zu held",
		         s->cur_cmd ? s->cur_cmd : "apply", p->reserving,
		         p->reserved);
	} else {
		units_format_size(p->done, d, sizeof(d));
		units_format_size(p->total, t, sizeof(t));
		units_format_size((uint64_t)p->rate, r, sizeof(r));
		units_format_eta(p->eta, eta, sizeof(eta));
		snprintf(line, sizeof(line),
		         "relayout: %s: %zu/%zu files, %s of %s (%.0f%%), "
		         "%s/s, ETA %s",
		         s->cur_cmd ? s->cur_cmd : "apply", p->files_done,
		         p->files, d, t,
		         p->total ? 100.0 * (double)p->done / (double)p->total
		                  : 100.0,
		         r, eta);
	}
	if (h->tty) {
		fprintf(f, "\r%s\033[K", line);
		h->open_line = !last;
		if (last)
			fputc('\n', f);
	} else {
		fprintf(f, "%s\n", line);
	}
	h->printed = true;
	fflush(f);
}

/* Every movedata chunk (and ~50 ms of a --rate pause): the front end's
 * hooks, else the line on stderr. */
static void progress_cb(const struct tx_progress *p, void *arg)
{
	struct apply_hooks *h = arg;
	struct rl_session *s = h->s;
	struct tx_progress q;

	with_files(h, p, &q);
	if (s->progress || s->cancel_requested) {
		if (s->progress)
			s->progress(s, &q);
		if (s->cancel_requested && s->cancel_requested(s))
			tx_request_cancel();
		return;
	}
	if (!s->no_progress)
		progress_line(h, &q);
}

/* A step skipped (tx_opts.skip_missed): the command's next round plans
 * it again, around its target when that was taken, without its file when
 * that changed. */
static void step_skipped(void *arg, size_t i, int err)
{
	struct apply_hooks *h = arg;
	struct rl_session *s = h->s;
	const struct tx_step *st = &h->p->steps[i];

	s->plan_left_out++;
	if (err == -EBUSY || err == -ENOSPC)
		(void)session_exclude_targets(&s->plan_excl, &s->nplan_excl,
		                              st);
	if (err == -ESTALE) {
		uint64_t *v = realloc(s->plan_changed,
		                      (s->nplan_changed + 1) * sizeof(*v));
		if (v) {
			v[s->nplan_changed++] = st->range.ino;
			s->plan_changed = v;
		}
	}
}

/* A step has ended: unless 'set step-refresh off', the model follows it
 * now (the map shows the file at its new place while the next steps
 * run); then the front end's hook redraws. */
static void step_cb(const struct tx_progress *pr, void *arg)
{
	struct apply_hooks *h = arg;
	struct rl_session *s = h->s;
	struct tx_progress q;

	with_files(h, pr, &q);
	if (model_follows(s) && !s->refresh_at_end && pr->step < h->p->nsteps) {
		model_refresh_step(h, pr->step, pr->fd);
		/* a front end showing the map: its free space too, at most
		 * every SESSION_SETTLE_EVERY s; otherwise at the end */
		if (s->progress &&
		    mono_now() - h->settled >= SESSION_SETTLE_EVERY)
			model_settle(h);
	}
	if (s->progress)
		s->progress(s, &q);
	else if (!s->cancel_requested && !s->no_progress)
		progress_line(h, &q);
	if (s->cancel_requested && s->cancel_requested(s))
		tx_request_cancel();
}

/* XFS anchors for the apply (tx_opts.anchors): per AG, the first
 * ANCHORS_PER_AG regular files in address order of the model whose data
 * there starts with a whole block below EOF (a clone takes only those).
 * The placement checks each before it uses it. */
#define ANCHORS_PER_AG 2
struct anchor_find {
	const struct lm_model *m;
	uint32_t ids[ANCHORS_PER_AG];
	size_t n;
	uint32_t bs;
};

static int anchor_owner(const struct lm_owner *o, void *arg)
{
	struct anchor_find *a = arg;
	const struct lm_file *f;

	if (o->kind != LM_OWN_FILE ||
	    (o->flags & (RL_EXT_UNWRITTEN | RL_EXT_DELALLOC | RL_EXT_UNKNOWN |
	                 RL_EXT_DATA_INLINE | RL_EXT_ENCODED)))
		return 0;
	f = lm_file(a->m, o->file);
	if (!f || !S_ISREG(f->mode) || o->logical + a->bs > f->size)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (a->ids[i] == o->file)
			return 0;
	a->ids[a->n++] = o->file;
	return a->n == ANCHORS_PER_AG;
}

static size_t anchor_paths(struct rl_session *s, char ***out)
{
	struct lm_model *m = s->model;
	char **v;
	size_t n = 0;

	*out = NULL;
	if (!m || s->fs.type != RL_FS_XFS || !s->fs.group_count)
		return 0;
	v = calloc(s->fs.group_count * ANCHORS_PER_AG, sizeof(*v));
	if (!v)
		return 0;
	for (uint64_t g = 0; g < s->fs.group_count; g++) {
		struct anchor_find a = {.m = m, .bs = s->fs.block_size};
		uint64_t gs, ge;

		lm_group_range(m, g, &gs, &ge);
		if (ge <= gs || lm_owners(m, gs, ge, anchor_owner, &a) < 0)
			continue;
		for (size_t i = 0; i < a.n; i++) {
			const char *rel = lm_file_path(m, a.ids[i], 0);
			if (rel && asprintf(&v[n], "%s/%s", /* as the scan's */
			                    strcmp(s->fs.mountpoint, "/")
			                        ? s->fs.mountpoint
			                        : "",
			                    rel) >= 0)
				n++;
		}
	}
	*out = v;
	return n;
}

enum cmd_status session_apply_now(struct rl_session *s,
                                  const struct cmd_call *c, struct tx_plan *p,
                                  const char *jdir)
{
	struct tx_opts o;
	struct tx_result res;
	struct jr_journal *j;
	struct apply_hooks hooks = {.s = s, .p = p};
	const char *v;
	char sz[32], state_dir[4096], **anchors = NULL;
	int r;

	memset(&o, 0, sizeof(o));
	if (cmd_has_opt(c, "rate", &v)) {
		char *end;
		double mb = strtod(v, &end);
		if (*end || !(mb > 0)) {
			session_error(s,
			              "--rate '%s': not a positive number "
			              "of MB/s",
			              v);
			return CMD_USAGE;
		}
		o.rate = (uint64_t)(mb * 1048576.0);
		if (o.rate < 1048576 / 4)
			o.chunk = 256 * 1024;
		else if (o.rate < (16ull << 20))
			o.chunk =
			    o.rate / 4 / s->fs.block_size * s->fs.block_size;
	}
	if (cmd_has_opt(c, "io-priority", &v)) {
		if (strcmp(v, "normal") == 0)
			o.normal_io = true;
		else if (strcmp(v, "idle") != 0) {
			session_error(s, "--io-priority '%s': idle or normal",
			              v);
			return CMD_USAGE;
		}
	}
	/* A front end that can cancel: a cancel is seen between movedata
	 * calls, so smaller calls make it prompter (ext4 moves 4 MiB per
	 * MOVE_EXT anyway; docs/BENCHMARKS.md: no measurable cost). */
	if (s->cancel_requested && (!o.chunk || o.chunk > SESSION_CANCEL_CHUNK))
		o.chunk = SESSION_CANCEL_CHUNK;
	o.open_file = session_open_cb;
	o.open_arg = s;
	o.handle_signals = true;
	hooks.t0 = hooks.last = mono_now();
	hooks.tty = isatty(fileno(s->err));
	if (s->progress || s->cancel_requested || !s->no_progress) {
		hooks_count_files(&hooks);
		o.progress = progress_cb;
		o.progress_arg = &hooks;
	}
	o.step_done = step_cb;
	o.step_arg = &hooks;
	j = session_journal(s, true, false, jdir);
	if (j && j->corrupt) {
		session_error(s,
		              "the journal %s/%s is corrupt (%s): refusing to "
		              "move data without a trustworthy undo log",
		              j->dir, j->name, j->problem);
		j = NULL;
	}
	if (!j) {
		free(hooks.files_after);
		return CMD_FAIL;
	}
	/* the volume's, whatever the journal directory */
	o.state_dir = vl_state_dir(state_dir, sizeof(state_dir));
	o.no_tunables = s->no_tunables;
	/* defrag, compact, evacuate, shrink (not group, not a pending plan):
	 * a step a writer got in the way of is skipped, planned again */
	o.skip_missed = s->plan_drop_ok && !s->plan_mode;
	o.skipped = step_skipped;
	o.skip_arg = &hooks;
	o.nanchors = anchor_paths(s, &anchors);
	o.anchors = (const char *const *)anchors;
	j->next_group = s->txn_group;
	r = tx_apply(p, j, &o, &res);
	for (size_t i = 0; i < o.nanchors; i++)
		free(anchors[i]);
	free(anchors);
	if (hooks.open_line) /* stopped or failed mid-way */
		fputc('\n', s->err);
	free(hooks.files_after);
	j->next_group = 0;
	if (!s->txn_group)
		s->txn_group = res.id; /* the command's next ones join it */
	s->last_steps_done = res.steps_done;
	s->last_bytes_done = res.bytes;
	s->last_err = r < 0 ? (res.err ? res.err : r) : 0;
	if (tx_stop_signal()) {
		s->stop_signal = tx_stop_signal();
		if (r == 0)
			fprintf(
			    s->err,
			    "relayout: %s: %s received during the last step: "
			    "transaction %" PRIu64 " completed; stopping "
			    "here\n",
			    s->cur_cmd,
			    s->stop_signal == SIGTERM ? "SIGTERM" : "SIGINT",
			    res.id);
	}
	/* a cancel from the front end stops what follows, as SIGINT does */
	if (r < 0 && res.status == JR_ST_STOPPED && tx_cancelled() &&
	    !s->stop_signal)
		s->stop_signal = SIGINT;
	if (model_follows(s) && s->refresh_at_end) {
		/* the steps done, and the one a failure or stop ended */
		for (size_t i = 0;
		     i < p->nsteps && i <= res.steps_done + res.skipped; i++)
			if (i < res.steps_done + res.skipped || r < 0)
				model_refresh_step(&hooks, i, -1);
	} else if (model_follows(s) && r < 0 && res.steps_done < p->nsteps)
		/* the file a failure ended on (changed meanwhile: a plan
		 * made again sees it as it is now) */
		model_refresh_step(&hooks, res.steps_done, -1);
	if (model_follows(s))
		model_settle(&hooks);
	free(hooks.unsettled);
	units_format_size(res.bytes, sz, sizeof(sz));
	if (s->json) {
		cJSON *out = cJSON_CreateObject(), *a;
		out_add_u64(out, "transaction", res.id);
		cJSON_AddStringToObject(out, "status",
		                        jr_status_name(res.status));
		out_add_u64(out, "bytes", res.bytes);
		out_add_u64(out, "steps_done", res.steps_done);
		out_add_u64(out, "steps", p->nsteps);
		out_add_u64(out, "unchanged", res.unchanged);
		if (s->fs.type == RL_FS_XFS)
			out_add_u64(out, "anchor_walks", res.anchor_walks);
		if (p->undo_of)
			out_add_u64(out, "undo_of", p->undo_of);
		if (r < 0) {
			out_add_name(out, "error", res.message);
			out_add_u64(out, "failed_step", res.failed_step + 1);
		}
		if (res.skipped)
			out_add_u64(out, "skipped", res.skipped);
		a = cJSON_AddArrayToObject(out, "after");
		for (size_t i = 0, n = 0; i < p->nsteps && n < res.steps_done;
		     i++) {
			const struct jr_txn *t = jr_find(j, res.id);
			const struct jr_step *js =
			    t && i < t->nsteps ? &t->steps[i] : NULL;
			cJSON *e;

			if (res.skipped && (!js || js->state != JR_STEP_DONE))
				continue; /* a step skipped */
			n++;
			e = cJSON_CreateObject();
			out_add_name(e, "path", p->steps[i].range.path);
			if (js)
				cJSON_AddItemToObject(
				    e, "extents",
				    pieces_to_json(js->after, js->nafter));
			cJSON_AddItemToArray(a, e);
		}
		out_json_emit(s, out);
	}
	if (r < 0) {
		fprintf(
		    s->err, "relayout: %s: %stransaction %" PRIu64 " %s: %s\n",
		    s->cur_cmd,
		    res.status == JR_ST_STOPPED && tx_cancelled()
		        ? "cancelled: "
		        : "",
		    res.id, jr_status_name(res.status), OUT_ESC(res.message));
		if (res.err == -ETXTBSY && res.failed_step < p->nsteps) {
			const char *path = p->steps[res.failed_step].range.path;
			enum busy_kind k = busy_of_path(path);

			if (k != BUSY_NONE)
				fprintf(s->err, "relayout: note: %s is %s\n",
				        OUT_ESC(path), busy_reason(k));
		}
		cmd_root_hint(s, res.err);
		return CMD_FAIL;
	}
	if (!s->json && session_plan_anyplace(p)) {
		size_t moved = res.steps_done - res.unchanged;
		char kept[96] = "";
		if (res.unchanged)
			snprintf(kept, sizeof(kept),
			         "; %zu left as they were: the allocator gave "
			         "no fewer runs",
			         res.unchanged);
		fprintf(s->out,
		        "transaction %" PRIu64 ": %s moved in %zu step%s "
		        "(verified with FIEMAP%s); no 'undo' here: the "
		        "allocator takes no place to put the data back\n",
		        res.id, sz, moved, moved == 1 ? "" : "s", kept);
	} else if (!s->json)
		fprintf(
		    s->out,
		    "transaction %" PRIu64 ": %s moved in %zu step%s%s "
		    "(verified with FIEMAP; 'undo %" PRIu64 "' reverts it)\n",
		    res.id, sz, res.steps_done, res.steps_done == 1 ? "" : "s",
		    p->undo_of ? " back" : "", res.id);
	if (res.skipped)
		fprintf(s->err, "relayout: %s: %s\n", s->cur_cmd,
		        OUT_ESC(res.message));
	return CMD_OK;
}

bool session_plan_anyplace(const struct tx_plan *p)
{
	for (size_t i = 0; i < p->nsteps; i++)
		if (!p->steps[i].anyplace)
			return false;
	return p->nsteps > 0;
}

void session_settle(struct rl_session *s)
{
	int fd = open(s->fs.mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		rl_free_space_settle(fd);
		close(fd);
	}
}

void session_settle_replan(struct rl_session *s)
{
	session_settle(s);
	if (model_follows(s))
		(void)tx_model_refresh_free_all(s->model, s->fs.mountpoint);
}

ssize_t session_drop_busy(struct rl_session *s, struct tx_plan *p)
{
	bool *drop = calloc(p->nsteps + 1, sizeof(*drop));
	bool *busy = calloc(p->nsteps + 1, sizeof(*busy));
	ssize_t n =
	    drop && busy ? tx_check_busy_steps(p, &s->fs, drop, busy) : -ENOMEM;

	if (n > 0 && (size_t)n < p->nsteps) {
		for (size_t i = 0; i < p->nsteps; i++)
			if (busy[i])
				(void)session_exclude_targets(&s->plan_excl,
				                              &s->nplan_excl,
				                              &p->steps[i]);
		tx_plan_drop(p, drop);
	} else if (n > 0) {
		n = 0; /* all of them: nothing left to run */
	}
	free(drop);
	free(busy);
	return n;
}

int session_exclude_range(uint64_t **excl, size_t *n, uint64_t lo, uint64_t hi)
{
	uint64_t *nx = realloc(*excl, (*n + 1) * 2 * sizeof(*nx));

	if (!nx)
		return -ENOMEM;
	*excl = nx;
	nx[2 * *n] = lo;
	nx[2 * *n + 1] = hi;
	(*n)++;
	return 0;
}

int session_exclude_targets(uint64_t **excl, size_t *n,
                            const struct tx_step *st)
{
	for (size_t k = 0; k < st->range.ntarget; k++) {
		const struct rl_extent *t = &st->range.target[k];

		if (session_exclude_range(excl, n, t->physical,
		                          t->physical + t->length) < 0)
			return -ENOMEM;
	}
	return 0;
}

int session_pending_add(struct rl_session *s, struct tx_plan *p)
{
	struct tx_plan *q = s->pending;
	char *cmd;

	if (!q) {
		q = calloc(1, sizeof(*q));
		if (!q)
			return -ENOMEM;
		tx_plan_init(q);
		q->block_size = p->block_size;
		s->pending = q;
	}
	if (asprintf(&cmd, "%s%s%s", q->command ? q->command : "",
	             q->command ? "; " : "", p->command ? p->command : "") < 0)
		return -ENOMEM;
	free(q->command);
	q->command = cmd;
	for (size_t i = 0; i < p->nsteps; i++) {
		int r = tx_plan_add(q, &p->steps[i]);
		if (r < 0)
			return r;
	}
	p->nsteps = 0;
	p->total = 0;
	return 0;
}

/* In plan mode the plan joins the pending one; else it is applied. */
enum cmd_status session_apply_plan(struct rl_session *s,
                                   const struct cmd_call *c, struct tx_plan *p,
                                   const char *jdir)
{
	size_t n = p->nsteps;
	char sz[32];

	if (!s->plan_mode)
		return session_apply_now(s, c, p, jdir);
	units_format_size(p->total, sz, sizeof(sz));
	if (session_pending_add(s, p) < 0) {
		session_error(s, "out of memory");
		return CMD_FAIL;
	}
	if (s->json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddBoolToObject(o, "pending", true);
		out_add_u64(o, "steps_added", n);
		out_add_u64(o, "pending_steps", s->pending->nsteps);
		out_add_u64(o, "pending_bytes", s->pending->total);
		out_json_emit(s, o);
	} else {
		fprintf(s->out,
		        "plan mode: %zu step%s (%s) added to the pending "
		        "plan (%zu steps); 'preview', 'apply' or "
		        "'discard'\n",
		        n, n == 1 ? "" : "s", sz, s->pending->nsteps);
	}
	return CMD_OK;
}
