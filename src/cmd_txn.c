/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Transaction commands: move, log, undo (plans, apply, the undo journal). */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include "busy.h"
#include "commands.h"
#include "journal.h"
#include <relayout/layout_model.h>
#include "output.h"
#include "session.h"
#include "txn.h"
#include "cmd_txn.h"

#define TXC_CANCEL_CHUNK (4ull << 20) /* movedata call size under a UI */

static bool placement_supported(struct rl_session *s);
#include "units.h"
#include "vlock.h"

#define TXN_COMMON_OPTS                                                       \
	{"journal-dir", "DIR",                                                \
	     "the undo journal's directory (default $RELAYOUT_JOURNAL_DIR, "  \
	     "else /var/lib/relayout for root, "                              \
	     "~/.local/state/relayout/journal for others)"}
#define TXN_APPLY_OPTS                                                        \
	{"dry-run", NULL, "print the plan; change nothing"},                  \
	    {"rate", "MB/s", "throttle the data moved to MB/s (MiB/s)"},      \
	    {"io-priority", "idle|normal",                                    \
	     "I/O priority of the moves (default idle)"}

const struct cmd_opt cmd_opts_move[] = {
    {"to", "GOAL", "physical byte address where the range must start"},
    {"range", "OFF",
     "move only [OFF, OFF+LEN): LEN is the argument after FILE "
     "(or OFF:LEN)"},
    {"make-room", NULL,
     "move the target's occupants elsewhere first (same plan)"},
    TXN_APPLY_OPTS,
    TXN_COMMON_OPTS,
    {NULL, NULL, NULL},
};
const struct cmd_opt cmd_opts_log[] = {
    TXN_COMMON_OPTS,
    {NULL, NULL, NULL},
};
const struct cmd_opt cmd_opts_undo[] = {
    TXN_APPLY_OPTS,
    TXN_COMMON_OPTS,
    {NULL, NULL, NULL},
};

/* ---------------------------------------------------------------- helpers */

static int parse_size(struct rl_session *s, const char *what, const char *v,
                      uint64_t *out)
{
	int r = units_parse_size(v, out);
	if (r < 0)
		session_error(s, "%s '%s': %s", what, v,
		              r == -ERANGE ? "too large"
		                           : "not a size (bytes, 0x hex, or "
		                             "with K/M/G/T suffix)");
	return r;
}

static cJSON *pieces_to_json(const struct jr_piece *p, size_t n)
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

static void print_pieces(FILE *f, const char *label, const struct jr_piece *p,
                         size_t n)
{
	fprintf(f, "    %-7s", label);
	if (n == 0)
		fprintf(f, " (no blocks)");
	for (size_t i = 0; i < n; i++) {
		if (i == 8) {
			fprintf(f, " ... (%zu extents)", n);
			break;
		}
		fprintf(f, " %" PRIu64 "@0x%" PRIx64 "+%" PRIu64, p[i].logical,
		        p[i].physical, p[i].length);
	}
	fputc('\n', f);
}

/* Make path absolute (lexically; it is opened without following symlinks
 * later anyway). */
static char *abs_path(const char *path)
{
	char cwd[RL_PATH_MAX], *r;

	if (path[0] == '/')
		return strdup(path);
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	if (asprintf(&r, "%s/%s", strcmp(cwd, "/") ? cwd : "", path) < 0)
		return NULL;
	return r;
}

static int open_cb(void *arg, const char *path, int flags)
{
	return session_open_file(arg, path, flags);
}

static void progress_cb(const struct tx_progress *p, void *arg)
{
	struct rl_session *s = arg;
	FILE *f = s->err;
	char d[32], t[32], r[32], eta[32];

	if (s->progress || s->cancel_requested) {
		if (s->progress)
			s->progress(s, p);
		if (s->cancel_requested && s->cancel_requested(s))
			tx_request_cancel();
		return;
	}
	if (p->pausing)
		return; /* the line is up to date */
	if (p->reserving) {
		fprintf(f, "\r  holding the targets of the next %zu steps: "
		           "%zu  ",
		        p->reserving, p->reserved);
		if (p->reserved >= p->reserving)
			fputc('\n', f);
		fflush(f);
		return;
	}
	units_format_size(p->done, d, sizeof(d));
	units_format_size(p->total, t, sizeof(t));
	units_format_size((uint64_t)p->rate, r, sizeof(r));
	if (p->eta < 0)
		snprintf(eta, sizeof(eta), "?");
	else
		snprintf(eta, sizeof(eta), "%.0fs", p->eta);
	fprintf(f, "\r  step %zu/%zu: %s of %s (%3.0f%%) at %s/s, ETA %s  ",
	        p->step + 1, p->nsteps, d, t,
	        p->total ? 100.0 * (double)p->done / (double)p->total : 100.0, r,
	        eta);
	if (p->done >= p->total)
		fputc('\n', f);
	fflush(f);
}

/* ----------------------------------------------------- journal at start */

/* Where does an interrupted step stand now? */
static const char *step_state_now(struct rl_session *s, const struct jr_step *js,
                                  struct jr_piece **now, size_t *nnow)
{
	struct jr_piece *want = NULL, *bef = NULL;
	size_t nwant, nbef;
	uint64_t ino, gen;
	bool gk;
	const char *what = "unknown (cannot read the file)";
	int fd = session_open_file(s, js->path, O_RDONLY);

	*now = NULL;
	*nnow = 0;
	if (fd < 0)
		return "unknown (the file cannot be opened)";
	if (rl_file_identity(fd, &ino, &gen, &gk) < 0 || ino != js->ino ||
	    (gk && js->gen && gen != js->gen)) {
		close(fd);
		return "unknown (the file was replaced since)";
	}
	if (tx_range_pieces(fd, js->offset, js->length, now, nnow) < 0)
		goto out;
	bef = calloc(js->nbefore + 1, sizeof(*bef));
	if (!bef)
		goto out;
	memcpy(bef, js->before, js->nbefore * sizeof(*bef));
	nbef = tx_pieces_normalize(bef, js->nbefore);
	if (tx_predict(bef, nbef, js->target, js->ntarget, &want, &nwant) < 0)
		goto out;
	if (tx_pieces_equal(*now, *nnow, bef, nbef))
		what = "not moved (the data is at its old place)";
	else if (tx_pieces_equal(*now, *nnow, want, nwant))
		what = "moved (the data is at the target)";
	else
		what = "partly moved (part at the target, part at its old "
		       "place; every byte is in one of them)";
out:
	free(want);
	free(bef);
	close(fd);
	return what;
}

/* Report an interrupted transaction and, holding the lock, close it in
 * the journal (state of the step in flight recorded, so undo can revert
 * it). */
static void report_interrupted(struct rl_session *s, struct jr_journal *j,
                               struct jr_txn *t)
{
	char when[32];
	struct tm tm;
	time_t tt = (time_t)t->time;
	uint64_t id = t->id;
	size_t done = 0;

	gmtime_r(&tt, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%SZ", &tm);
	for (size_t i = 0; i < t->nsteps; i++)
		done += t->steps[i].state == JR_STEP_DONE;
	fprintf(s->err,
	        "relayout: note: transaction %" PRIu64 " ('%s', started %s by "
	        "pid %ld) was interrupted after %zu of %u steps\n",
	        id, t->command ? t->command : "", when, t->pid, done,
	        t->nplanned);
	for (size_t i = 0; i < t->nsteps; i++) {
		struct jr_step *js = &t->steps[i];
		struct jr_piece *now;
		size_t nnow;
		const char *st;
		unsigned idx;

		if (js->state != JR_STEP_PLANNED)
			continue;
		st = step_state_now(s, js, &now, &nnow);
		fprintf(s->err,
		        "relayout: note:   step %u (%s, range %" PRIu64 "+%" PRIu64
		        ") was in progress: %s; no data was lost\n",
		        js->index + 1, js->path, js->offset, js->length, st);
		idx = js->index;
		if (s->journal_locked && now && strncmp(st, "not", 3) != 0 &&
		    strncmp(st, "unknown", 7) != 0)
			jr_step_done(j, id, idx, now, nnow, 0);
		free(now);
		if (s->journal_locked) {
			jr_step_failed(j, id, idx, EINTR,
			               "interrupted (found at a later start)");
			t = jr_find(j, id); /* the array may have moved */
		}
	}
	if (s->journal_locked)
		jr_end(j, id, JR_ST_INTERRUPTED,
		       "the process died during the transaction");
	fprintf(s->err,
	        "relayout: note:   'log' lists it; 'undo %" PRIu64
	        "' moves what it moved back\n",
	        id);
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
		fprintf(s->err,
		        "relayout: warning: cannot restore %s of %s to %s: %s\n",
		        r->name, r->dev, r->value, rl_strerror(r->err));
}

/* Open the session's journal (once). lock: take the volume lock (needed
 * to append); try_lock: take it when free, else read only. */
static struct jr_journal *session_journal(struct rl_session *s, bool lock,
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
		session_error(s, "%s has no filesystem UUID: no undo journal "
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
		r = jr_open(dir, s->fs.uuid, JR_O_LOCK | (lock ? JR_O_CREATE : 0),
		            &j, &holder, msg, sizeof(msg));
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
			fprintf(s->err,
			        "relayout: warning: the journal %s/%s is corrupt "
			        "(%s): it is not trusted, nothing can be undone "
			        "from it and nothing is appended; move it aside "
			        "to go on\n",
			        j->dir, j->name, j->problem);
		else if (j->tail_damaged)
			fprintf(s->err,
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

/* ------------------------------------------------------ target checks */

struct owner_find {
	uint64_t lo, hi;
	dev_t dev;
	char found[1024];
	size_t used;
	unsigned nfound, nfiles;
};

#define OWNER_MAX_FILES 200000
#define OWNER_MAX_DEPTH 64

static void owner_note(struct owner_find *of, const char *path)
{
	int w;

	if (of->nfound++ >= 4)
		return;
	w = snprintf(of->found + of->used, sizeof(of->found) - of->used,
	             "%s%s", of->used ? ", " : "", path);
	if (w > 0 && (size_t)w < sizeof(of->found) - of->used)
		of->used += (size_t)w;
}

/* Which files have blocks in [lo, hi)? A walk of the mount that never
 * follows symlinks nor leaves the filesystem, bounded in files and depth.
 * path is the directory's name (for messages), dfd its open fd (taken). */
static void owner_walk(struct owner_find *of, int dfd, const char *path,
                       int depth)
{
	DIR *d = fdopendir(dfd);
	struct dirent *e;

	if (!d) {
		close(dfd);
		return;
	}
	while ((e = readdir(d)) && of->nfiles < OWNER_MAX_FILES) {
		struct stat st;
		char *sub;
		int fd;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    st.st_dev != of->dev)
			continue;
		if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
			continue;
		if (S_ISDIR(st.st_mode) && depth >= OWNER_MAX_DEPTH)
			continue;
		fd = openat(dirfd(d), e->d_name,
		            O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK |
		                (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
		if (fd < 0)
			continue;
		if (asprintf(&sub, "%s/%s", path, e->d_name) < 0) {
			close(fd);
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			owner_walk(of, fd, sub, depth + 1);
		} else {
			struct rl_extent *ext;
			size_t n;

			of->nfiles++;
			if (rl_get_extents(fd, &ext, &n) == 0) {
				for (size_t i = 0; i < n; i++)
					if (ext[i].physical < of->hi &&
					    ext[i].physical + ext[i].length >
					        of->lo) {
						owner_note(of, sub);
						break;
					}
				free(ext);
			}
			close(fd);
		}
		free(sub);
	}
	closedir(d);
}

struct occ {
	char text[1024];
	size_t used;
	bool metadata, unknown;
	uint64_t first_lo, first_hi;
};

static int occ_cb(const struct rl_space_rec *r, void *arg)
{
	struct occ *o = arg;
	char buf[160];
	int w;

	if (r->kind == RL_SPACE_FREE)
		return 0;
	if (!o->first_hi) {
		o->first_lo = r->start;
		o->first_hi = r->start + r->length;
	}
	if (r->kind == RL_SPACE_METADATA) {
		o->metadata = true;
		snprintf(buf, sizeof(buf), "filesystem metadata (%s) at 0x%" PRIx64
		         "+%" PRIu64, r->what, r->start, r->length);
	} else if (r->kind == RL_SPACE_DATA && r->owner) {
		snprintf(buf, sizeof(buf), "data of inode %" PRIu64 " at 0x%" PRIx64
		         "+%" PRIu64, r->owner, r->start, r->length);
	} else {
		o->unknown = true;
		snprintf(buf, sizeof(buf), "used blocks (%s) at 0x%" PRIx64 "+%" PRIu64,
		         r->what[0] ? r->what : "owner not reported", r->start,
		         r->length);
	}
	if (o->used < sizeof(o->text) - 200) {
		w = snprintf(o->text + o->used, sizeof(o->text) - o->used, "%s%s",
		             o->used ? "; " : "", buf);
		if (w > 0)
			o->used += (size_t)w;
	}
	return 0;
}

/* End of the block range containing pos that a step before step i of the
 * plan moves away (so it is free when step i runs), or pos. */
static uint64_t freed_by_earlier(const struct tx_plan *p, size_t i,
                                 uint64_t pos)
{
	for (size_t j = 0; j < i; j++)
		for (size_t k = 0; k < p->steps[j].nbefore; k++) {
			const struct jr_piece *b = &p->steps[j].before[k];
			if (b->physical <= pos && pos < b->physical + b->length)
				return b->physical + b->length;
		}
	return pos;
}

/* Is every target piece free? If not, say what occupies it. Returns 0
 * free, 1 occupied (reported), -errno. */
static int check_targets_free(struct rl_session *s, const struct tx_plan *p,
                              char *why, size_t wlen)
{
	struct rl_free_extent fe[64];
	uint64_t need = 0;
	int dfd;

	/* Blocks freed moments ago (a move, a deleted file) are free in the
	 * map only once the journal commits (ext4) / the log is forced (XFS
	 * busy extents): commit first. */
	dfd = open(s->fs.mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		syncfs(dfd);
		close(dfd);
	}

	/* A step needs its target while its old blocks are still held, and
	 * frees those afterwards: the plan needs, at its peak, the most any
	 * step needs beyond what the steps before it freed (not the sum). */
	{
		uint64_t alloc = 0, freed = 0;
		for (size_t i = 0; i < p->nsteps; i++) {
			uint64_t now;
			alloc += p->steps[i].bytes;
			now = alloc > freed ? alloc - freed : 0;
			if (now > need)
				need = now;
			freed += tx_pieces_bytes(p->steps[i].before,
			                         p->steps[i].nbefore);
		}
	}
	{
		struct statvfs sv;
		if (statvfs(s->fs.mountpoint, &sv) == 0)
			s->fs.free_blocks = sv.f_bfree * sv.f_frsize /
			                    s->fs.block_size;
	}
	if (need > s->fs.free_blocks * (uint64_t)s->fs.block_size) {
		char a[32], b[32];
		units_format_size(need, a, sizeof(a));
		units_format_size(s->fs.free_blocks * (uint64_t)s->fs.block_size,
		                  b, sizeof(b));
		snprintf(why, wlen, "not enough free space: the plan needs %s "
		                    "at once (its largest step, less what the "
		                    "steps before it free), the volume has %s "
		                    "free",
		         a, b);
		return 1;
	}
	for (size_t i = 0; i < p->nsteps; i++) {
		const struct tx_step *st = &p->steps[i];
		for (size_t k = 0; k < st->ntarget; k++) {
			uint64_t lo = st->target[k].physical,
			         hi = lo + st->target[k].length, pos = lo;
			int n;

			if (hi > s->fs.size) {
				snprintf(why, wlen,
				         "target 0x%" PRIx64 "..0x%" PRIx64
				         " ends beyond the end of the volume "
				         "(0x%" PRIx64 ")",
				         lo, hi, s->fs.size);
				return 1;
			}
			n = rl_get_free_blocks(s->fs.mountpoint, lo, hi, 64, fe);
			if (n < 0) {
				snprintf(why, wlen,
				         "cannot read the free-space map: %s%s",
				         rl_strerror(n),
				         n == -EPERM || n == -EACCES
				             ? " (it needs root)"
				             : "");
				return n;
			}
			/* free now, or freed by an earlier step of the plan
			 * by the time this one runs (sequenced plans: undo of
			 * a defrag, compact) */
			for (int q = 0; pos < hi;) {
				uint64_t e2;
				while (q < n && fe[q].start + fe[q].len <= pos)
					q++;
				if (q < n && fe[q].start <= pos) {
					pos = fe[q].start + fe[q].len;
					continue;
				}
				e2 = freed_by_earlier(p, i, pos);
				if (e2 <= pos)
					break;
				pos = e2;
			}
			if (pos >= hi)
				continue;
			/* [pos, ...) is not free: who holds it? */
			{
				struct occ o;
				uint64_t busy_hi = hi;
				for (int q = 0; q < n; q++)
					if (fe[q].start > pos) {
						busy_hi = fe[q].start;
						break;
					}
				memset(&o, 0, sizeof(o));
				rl_space_walk(s->fs.mountpoint, pos, busy_hi,
				              occ_cb, &o);
				if (!o.metadata) {
					struct owner_find of;
					memset(&of, 0, sizeof(of));
					of.lo = pos;
					of.hi = busy_hi;
					of.dev = s->fs.st_dev;
					int rfd = open(s->fs.mountpoint,
					               O_RDONLY | O_DIRECTORY |
					                   O_CLOEXEC);
					if (rfd >= 0)
						owner_walk(&of, rfd,
						           strcmp(s->fs.mountpoint, "/")
						               ? s->fs.mountpoint
						               : "",
						           0);
					if (of.nfound) {
						size_t u = o.used;
						snprintf(o.text + u,
						         sizeof(o.text) - u,
						         "%sheld by %s%s",
						         u ? "; " : "", of.found,
						         of.nfound > 4 ? ", ..." : "");
					}
				}
				snprintf(why, wlen,
				         "the target 0x%" PRIx64 "..0x%" PRIx64
				         " is not free: 0x%" PRIx64 "..0x%" PRIx64
				         " is in use%s%s",
				         lo, hi, pos, busy_hi,
				         o.text[0] ? ": " : "", o.text);
				return 1;
			}
		}
	}
	return 0;
}

/* ------------------------------------------------------------- output */

cJSON *txc_step_json(const struct tx_step *st)
{
	struct jr_piece *pred = NULL;
	size_t np = 0;
	cJSON *e = cJSON_CreateObject();

	out_add_name(e, "path", st->path);
	out_add_u64(e, "inode", st->ino);
	out_add_u64(e, "offset", st->offset);
	out_add_u64(e, "length", st->length);
	out_add_u64(e, "bytes", st->bytes);
	cJSON_AddItemToObject(e, "before", pieces_to_json(st->before, st->nbefore));
	cJSON_AddItemToObject(e, "target", pieces_to_json(st->target, st->ntarget));
	tx_predict(st->before, st->nbefore, st->target, st->ntarget, &pred, &np);
	cJSON_AddItemToObject(e, "after", pieces_to_json(pred, np));
	free(pred);
	return e;
}

static void print_plan(struct rl_session *s, const struct tx_plan *p,
                       bool dry)
{
	char sz[32];

	units_format_size(p->total, sz, sizeof(sz));
	if (s->json) {
		cJSON *o = cJSON_CreateObject(), *a;
		cJSON_AddBoolToObject(o, "dry_run", dry);
		out_add_name(o, "plan", p->command ? p->command : "");
		if (p->undo_of)
			out_add_u64(o, "undo_of", p->undo_of);
		out_add_u64(o, "bytes", p->total);
		a = cJSON_AddArrayToObject(o, "steps");
		for (size_t i = 0; i < p->nsteps; i++)
			cJSON_AddItemToArray(a, txc_step_json(&p->steps[i]));
		out_json_emit(s, o);
		return;
	}
	fprintf(s->out, "%splan: %s: %zu step%s, %s to move\n",
	        dry ? "dry run, " : "", OUT_ESC(p->command), p->nsteps,
	        p->nsteps == 1 ? "" : "s", sz);
	for (size_t i = 0; i < p->nsteps; i++) {
		const struct tx_step *st = &p->steps[i];
		struct jr_piece *pred = NULL;
		size_t np = 0;

		units_format_size(st->bytes, sz, sizeof(sz));
		fprintf(s->out, "  step %zu: %s [%" PRIu64 ", %" PRIu64 ") %s\n",
		        i + 1, OUT_ESC(st->path), st->offset,
		        st->offset + st->length, sz);
		print_pieces(s->out, "before", st->before, st->nbefore);
		print_pieces(s->out, "target", st->target, st->ntarget);
		if (tx_predict(st->before, st->nbefore, st->target, st->ntarget,
		               &pred, &np) == 0)
			print_pieces(s->out, "after", pred, np);
		free(pred);
	}
	if (dry)
		fprintf(s->out, "nothing was changed (--dry-run)\n");
}

/* Free records of [lo, hi) into the model. */
static void model_refresh_free(struct lm_model *m, const char *mnt,
                               uint64_t lo, uint64_t hi)
{
	struct rl_free_extent fe[256];
	uint32_t bs = lm_geometry(m)->block_size;
	int n = rl_get_free_blocks(mnt, lo, hi, 256, fe);

	if (n >= 0 && n < 256) {
		lm_refresh_free(m, lo, hi, fe, (size_t)n);
	} else if (n == 256 && bs && hi - lo >= 2 * (uint64_t)bs) {
		/* the answer may go on: each half on its own */
		uint64_t mid = lo + (hi - lo) / 2 / bs * bs;

		model_refresh_free(m, mnt, lo, mid);
		model_refresh_free(m, mnt, mid, hi);
	}
}

/* Bring the session's layout model up to date for one step of an apply:
 * the file's extents, the free space where its data was and went -- no
 * rescan. (tx_apply commits the log at the end of every step, so
 * GETFSMAP shows the blocks it freed as free.) */
static void model_refresh_step(struct rl_session *s, const struct tx_step *st)
{
	struct lm_model *m = s->model;
	uint32_t id = lm_find_inode(m, st->ino);
	struct rl_extent *ext;
	size_t n;
	int fd;

	if (id != LM_NONE) {
		fd = session_open_file(s, st->path, O_RDONLY);
		if (fd >= 0) {
			if (rl_get_extents(fd, &ext, &n) == 0) {
				lm_refresh_file(m, id, ext, n);
				free(ext);
			}
			close(fd);
		}
	}
	for (size_t k = 0; k < st->nbefore; k++)
		model_refresh_free(m, s->fs.mountpoint, st->before[k].physical,
		                   st->before[k].physical + st->before[k].length);
	for (size_t k = 0; k < st->ntarget; k++)
		model_refresh_free(m, s->fs.mountpoint, st->target[k].physical,
		                   st->target[k].physical + st->target[k].length);
}

static bool model_follows(const struct rl_session *s)
{
	return s->model && !s->read_only_snapshot;
}

struct apply_hooks {
	struct rl_session *s;
	const struct tx_plan *p;
};

/* A step has ended: unless 'set step-refresh off', the model follows it
 * now (the map shows the file at its new place while the next steps
 * run); then the front end's hook redraws. */
static void step_cb(const struct tx_progress *pr, void *arg)
{
	struct apply_hooks *h = arg;
	struct rl_session *s = h->s;

	if (model_follows(s) && !s->refresh_at_end && pr->step < h->p->nsteps)
		model_refresh_step(s, &h->p->steps[pr->step]);
	if (s->progress)
		s->progress(s, pr);
	if (s->cancel_requested && s->cancel_requested(s))
		tx_request_cancel();
}

static enum cmd_status apply_now(struct rl_session *s,
                                 const struct cmd_call *c,
                                 struct tx_plan *p, const char *jdir)
{
	struct tx_opts o;
	struct tx_result res;
	struct jr_journal *j;
	struct apply_hooks hooks = {s, p};
	const char *v;
	char sz[32], state_dir[4096];
	int r;

	memset(&o, 0, sizeof(o));
	if (cmd_has_opt(c, "rate", &v)) {
		char *end;
		double mb = strtod(v, &end);
		if (*end || !(mb > 0)) {
			session_error(s, "--rate '%s': not a positive number "
			                 "of MB/s",
			              v);
			return CMD_USAGE;
		}
		o.rate = (uint64_t)(mb * 1048576.0);
		if (o.rate < 1048576 / 4)
			o.chunk = 256 * 1024;
		else if (o.rate < (16ull << 20))
			o.chunk = o.rate / 4 / s->fs.block_size * s->fs.block_size;
	}
	if (cmd_has_opt(c, "io-priority", &v)) {
		if (strcmp(v, "normal") == 0)
			o.normal_io = true;
		else if (strcmp(v, "idle") != 0) {
			session_error(s, "--io-priority '%s': idle or normal", v);
			return CMD_USAGE;
		}
	}
	/* A front end that can cancel: a cancel is seen between movedata
	 * calls, so smaller calls make it prompter (ext4 moves 4 MiB per
	 * MOVE_EXT anyway; docs/BENCHMARKS.md: no measurable cost). */
	if (s->cancel_requested && (!o.chunk || o.chunk > TXC_CANCEL_CHUNK))
		o.chunk = TXC_CANCEL_CHUNK;
	o.open_file = open_cb;
	o.open_arg = s;
	o.handle_signals = true;
	if (s->progress || s->cancel_requested || isatty(fileno(s->err))) {
		o.progress = progress_cb;
		o.progress_arg = s;
	}
	if (s->progress || s->cancel_requested || model_follows(s)) {
		o.step_done = step_cb;
		o.step_arg = &hooks;
	}
	j = session_journal(s, true, false, jdir);
	if (!j)
		return CMD_FAIL;
	if (j->corrupt) {
		session_error(s, "the journal %s/%s is corrupt (%s): refusing to "
		                 "move data without a trustworthy undo log",
		              j->dir, j->name, j->problem);
		return CMD_FAIL;
	}
	/* the volume's, whatever the journal directory */
	o.state_dir = vl_state_dir(state_dir, sizeof(state_dir));
	o.no_tunables = s->no_tunables;
	r = tx_apply(p, j, &o, &res);
	s->last_steps_done = res.steps_done;
	s->last_err = r < 0 ? (res.err ? res.err : r) : 0;
	if (tx_stop_signal()) {
		s->stop_signal = tx_stop_signal();
		if (r == 0)
			fprintf(s->err,
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
	if (model_follows(s) && s->refresh_at_end)
		/* the steps done, and the one a failure or stop ended */
		for (size_t i = 0; i < p->nsteps && i <= res.steps_done; i++)
			if (i < res.steps_done || r < 0)
				model_refresh_step(s, &p->steps[i]);
	units_format_size(res.bytes, sz, sizeof(sz));
	if (s->json) {
		cJSON *out = cJSON_CreateObject(), *a;
		out_add_u64(out, "transaction", res.id);
		cJSON_AddStringToObject(out, "status", jr_status_name(res.status));
		out_add_u64(out, "bytes", res.bytes);
		out_add_u64(out, "steps_done", res.steps_done);
		out_add_u64(out, "steps", p->nsteps);
		if (p->undo_of)
			out_add_u64(out, "undo_of", p->undo_of);
		if (r < 0) {
			out_add_name(out, "error", res.message);
			out_add_u64(out, "failed_step", res.failed_step + 1);
		}
		a = cJSON_AddArrayToObject(out, "after");
		for (size_t i = 0; i < res.steps_done; i++) {
			const struct jr_txn *t = jr_find(j, res.id);
			const struct jr_step *js = t && i < t->nsteps ? &t->steps[i] : NULL;
			cJSON *e = cJSON_CreateObject();
			out_add_name(e, "path", p->steps[i].path);
			if (js)
				cJSON_AddItemToObject(e, "extents",
				                      pieces_to_json(js->after, js->nafter));
			cJSON_AddItemToArray(a, e);
		}
		out_json_emit(s, out);
	}
	if (r < 0) {
		fprintf(s->err, "relayout: %s: %stransaction %" PRIu64 " %s: %s\n",
		        s->cur_cmd,
		        res.status == JR_ST_STOPPED && tx_cancelled()
		            ? "cancelled: " : "",
		        res.id, jr_status_name(res.status),
		        OUT_ESC(res.message));
		if (res.err == -ETXTBSY && res.failed_step < p->nsteps) {
			const char *path = p->steps[res.failed_step].path;
			enum busy_kind k = busy_of_path(path);

			if (k != BUSY_NONE)
				fprintf(s->err, "relayout: note: %s is %s\n",
				        OUT_ESC(path), busy_reason(k));
		}
		cmd_root_hint(s, res.err);
		return CMD_FAIL;
	}
	if (!s->json)
		fprintf(s->out, "transaction %" PRIu64 ": %s moved in %zu step%s%s "
		                "(verified with FIEMAP; 'undo %" PRIu64 "' reverts it)\n",
		        res.id, sz, res.steps_done, res.steps_done == 1 ? "" : "s",
		        p->undo_of ? " back" : "", res.id);
	return CMD_OK;
}

int txc_pending_add(struct rl_session *s, struct tx_plan *p)
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
static enum cmd_status apply_plan(struct rl_session *s,
                                  const struct cmd_call *c,
                                  struct tx_plan *p, const char *jdir)
{
	size_t n = p->nsteps;
	char sz[32];

	if (!s->plan_mode)
		return apply_now(s, c, p, jdir);
	units_format_size(p->total, sz, sizeof(sz));
	if (txc_pending_add(s, p) < 0) {
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
		fprintf(s->out, "plan mode: %zu step%s (%s) added to the pending "
		                "plan (%zu steps); 'preview', 'apply' or "
		                "'discard'\n",
		        n, n == 1 ? "" : "s", sz, s->pending->nsteps);
	}
	return CMD_OK;
}

void txc_print_plan(struct rl_session *s, const struct tx_plan *p, bool dry)
{
	print_plan(s, p, dry);
}

enum cmd_status txc_apply_plan(struct rl_session *s, const struct cmd_call *c,
                               struct tx_plan *p, const char *jdir)
{
	return apply_plan(s, c, p, jdir);
}

enum cmd_status txc_apply_now(struct rl_session *s, const struct cmd_call *c,
                              struct tx_plan *p, const char *jdir)
{
	return apply_now(s, c, p, jdir);
}

int txc_check_targets_free(struct rl_session *s, const struct tx_plan *p,
                           char *why, size_t wlen)
{
	return check_targets_free(s, p, why, wlen);
}

bool txc_placement_supported(struct rl_session *s)
{
	return placement_supported(s);
}

static bool placement_supported(struct rl_session *s)
{
	/* Relocation needs movedata too: on XFS that is FIDEDUPERANGE. */
	if (s->fs.type == RL_FS_XFS && !(s->fs.features & RL_FEAT_REFLINK)) {
		session_error(s, "%s is XFS without reflink: moving data is "
		                 "not supported there (movedata needs "
		                 "FIDEDUPERANGE, which needs reflink); nothing "
		                 "was changed",
		              s->fs.mountpoint);
		return false;
	}
	if (s->fs.type == RL_FS_EXT4 || s->fs.type == RL_FS_XFS)
		return true;
	if (s->fs.type == RL_FS_BTRFS)
		session_error(s, "%s is btrfs: exact placement is not supported "
		                 "there (its allocator takes no physical goal); "
		                 "nothing was changed",
		              s->fs.mountpoint);
	else
		session_error(s, "%s is %s: relayout can only map it, not move "
		                 "data on it",
		              s->fs.mountpoint, s->fs.fstype);
	return false;
}

/* ------------------------------------------------------------------ move */

/* The end of move and undo: print the plan (--dry-run) or apply it. */
static enum cmd_status finish_plan(struct rl_session *s,
                                   const struct cmd_call *c,
                                   struct tx_plan *p, bool dry,
                                   const char *jdir)
{
	if (dry) {
		print_plan(s, p, true);
		return CMD_OK;
	}
	return apply_plan(s, c, p, jdir);
}

enum cmd_status cmd_move(struct rl_session *s, const struct cmd_call *c)
{
	const char *v, *jdir = NULL;
	uint64_t goal, off = 0, len = 0, bs;
	bool dry = cmd_has_opt(c, "dry-run", NULL), have_len = false;
	struct tx_plan p;
	struct stat sb;
	char *path, why[2048];
	int fd, r;
	enum cmd_status st = CMD_FAIL;

	cmd_has_opt(c, "journal-dir", &jdir);
	if (session_volume(s) < 0)
		return CMD_FAIL;
	if (!cmd_has_opt(c, "to", &v)) {
		session_error(s, "--to GOAL is required (the physical address "
		                 "where the data should start)");
		return CMD_USAGE;
	}
	if (parse_size(s, "GOAL", v, &goal) < 0)
		return CMD_USAGE;
	if (cmd_has_opt(c, "range", &v)) {
		char *colon = strpbrk(v, ":,");
		if (colon) {
			char *o2 = strndup(v, (size_t)(colon - v));
			r = o2 ? parse_size(s, "OFF", o2, &off) : -ENOMEM;
			free(o2);
			if (r < 0 || parse_size(s, "LEN", colon + 1, &len) < 0)
				return CMD_USAGE;
			have_len = true;
		} else {
			if (parse_size(s, "OFF", v, &off) < 0)
				return CMD_USAGE;
			if (c->argc < 2) {
				session_error(s, "--range OFF LEN: LEN missing");
				return CMD_USAGE;
			}
		}
		if (c->argc == 2) {
			if (parse_size(s, "LEN", c->argv[1], &len) < 0)
				return CMD_USAGE;
			have_len = true;
		}
		if (have_len && len == 0) {
			session_error(s, "LEN must not be 0");
			return CMD_USAGE;
		}
	} else if (c->argc == 2) {
		session_error(s, "a second argument is only LEN of --range OFF LEN");
		return CMD_USAGE;
	}
	if (!placement_supported(s))
		return CMD_FAIL;
	bs = s->fs.block_size;
	if (goal % bs || off % bs || len % bs) {
		session_error(s, "GOAL, OFF and LEN must be multiples of the "
		                 "block size (%" PRIu64 ")",
		              bs);
		return CMD_USAGE;
	}
	fd = session_open_file(s, c->argv[0], dry ? O_RDONLY : O_RDWR);
	if (fd < 0) {
		session_error(s, "%s: %s%s", c->argv[0],
		              fd == -EXDEV ? "on another filesystem than the volume "
		                             "(each volume is worked on by its own "
		                             "session)"
		              : fd == -ELOOP ? "a symbolic link (never followed)"
		              : fd == -EINVAL ? "not a regular file"
		              : fd == -EWOULDBLOCK
		                  ? "another process holds a lease on it (it "
		                    "was asked to give it up: try again in a "
		                    "moment); nothing was changed"
		              : fd == -ETXTBSY
		                  ? busy_reason(busy_of_path(c->argv[0]))
		                  : strerror(-fd),
		              fd == -EACCES || fd == -EPERM
		                  ? " (moving it needs write access; root moves "
		                    "any file)"
		                  : "");
		return CMD_FAIL;
	}
	if (fstat(fd, &sb) < 0) {
		session_error(s, "%s: %s", c->argv[0], strerror(errno));
		close(fd);
		return CMD_FAIL;
	}
	if (!have_len) {
		uint64_t end = ((uint64_t)sb.st_size + bs - 1) / bs * bs;
		if (off >= end) {
			session_error(s, "%s: nothing to move at offset %" PRIu64
			                 " (the file is %" PRIu64 " bytes)",
			              c->argv[0], off, (uint64_t)sb.st_size);
			close(fd);
			return CMD_FAIL;
		}
		len = end - off;
	}
	path = abs_path(c->argv[0]);
	tx_plan_init(&p);
	p.block_size = (uint32_t)bs;
	{
		const char *args[CMD_MAX_ARGS] = {path};
		p.command = path ? cmd_call_text(c, args) : NULL;
	}
	r = path && p.command ? tx_plan_move(&p, path, fd, off, len, goal)
	                      : -ENOMEM;
	close(fd);
	free(path);
	if (r < 0) {
		session_error(s, "%s: cannot plan: %s", c->argv[0], rl_strerror(r));
		goto out;
	}
	if (p.steps[0].nbefore == 0) {
		session_error(s, "%s: the range holds no data blocks: nothing to "
		                 "move",
		              c->argv[0]);
		goto out;
	}
	{
		struct tx_step *sp = &p.steps[0];
		struct jr_piece *pred;
		size_t np;
		if (tx_predict(sp->before, sp->nbefore, sp->target, sp->ntarget,
		               &pred, &np) == 0) {
			bool same = tx_pieces_equal(pred, np, sp->before, sp->nbefore);
			free(pred);
			if (same) {
				if (s->json) {
					print_plan(s, &p, true);
				} else {
					fprintf(s->out, "%s is already at 0x%" PRIx64
					                ": nothing to do\n",
					        OUT_ESC(c->argv[0]), goal);
				}
				st = CMD_OK;
				goto out;
			}
		}
	}
	r = check_targets_free(s, &p, why, sizeof(why));
	if (r == 1 && cmd_has_opt(c, "make-room", NULL)) {
		r = cmd_plan_make_room(s, &p, why, sizeof(why));
		if (r == 0)
			r = check_targets_free(s, &p, why, sizeof(why));
	}
	if (r != 0) {
		session_error(s, "%s; nothing was changed", why);
		goto out;
	}
	st = finish_plan(s, c, &p, dry, jdir);
out:
	tx_plan_free(&p);
	return st;
}

/* ------------------------------------------------------------------- log */

enum cmd_status cmd_log(struct rl_session *s, const struct cmd_call *c)
{
	const char *jdir = NULL;
	struct jr_journal *j;
	cJSON *o = NULL, *a = NULL;

	cmd_has_opt(c, "journal-dir", &jdir);
	if (session_volume(s) < 0)
		return CMD_FAIL;
	j = session_journal(s, false, true, jdir);
	if (!j)
		return CMD_FAIL;
	if (s->json) {
		o = cJSON_CreateObject();
		out_add_name(o, "journal", j->dir);
		cJSON_AddBoolToObject(o, "corrupt", j->corrupt);
		cJSON_AddBoolToObject(o, "tail_damaged", j->tail_damaged);
		if (j->problem[0])
			out_add_name(o, "problem", j->problem);
		a = cJSON_AddArrayToObject(o, "transactions");
	} else {
		if (j->corrupt)
			fprintf(s->out, "journal CORRUPT (%s): listed up to the "
			                "damage, not trusted\n",
			        j->problem);
		fprintf(s->out, "%5s  %-20s  %-11s  %12s  %5s  %s\n", "id",
		        "time (UTC)", "status", "bytes", "steps", "command");
	}
	for (size_t i = 0; i < j->ntxns; i++) {
		const struct jr_txn *t = &j->txns[i];
		char when[32];
		struct tm tm;
		time_t tt = (time_t)t->time;
		size_t done = 0;
		const char *stname = jr_status_name(t->status);

		for (size_t k = 0; k < t->nsteps; k++)
			done += t->steps[k].state == JR_STEP_DONE;
		gmtime_r(&tt, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		if (a) {
			cJSON *e = cJSON_CreateObject();
			out_add_u64(e, "id", t->id);
			cJSON_AddStringToObject(e, "time", when);
			out_add_name(e, "command", t->command ? t->command : "");
			out_add_u64(e, "bytes", t->bytes);
			cJSON_AddStringToObject(e, "status", stname);
			cJSON_AddBoolToObject(e, "interrupted",
			                      t->status == JR_ST_INTERRUPTED ||
			                          t->status == JR_ST_OPEN);
			out_add_u64(e, "steps", t->nplanned);
			out_add_u64(e, "steps_done", done);
			if (t->undo_of)
				out_add_u64(e, "undo_of", t->undo_of);
			cJSON_AddBoolToObject(e, "undone", t->undone);
			if (t->undone)
				out_add_u64(e, "undone_by", t->undone_by);
			if (t->end_message && t->end_message[0])
				out_add_name(e, "message", t->end_message);
			cJSON_AddItemToArray(a, e);
		} else {
			char extra[96] = "";
			if (t->undone)
				snprintf(extra, sizeof(extra), "  [undone by %" PRIu64 "]",
				         t->undone_by);
			fprintf(s->out, "%5" PRIu64 "  %-20s  %-11s  %12" PRIu64
			                "  %2zu/%-2u  %s%s%s\n",
			        t->id, when,
			        t->status == JR_ST_INTERRUPTED ? "INTERRUPTED"
			                                       : stname,
			        t->bytes, done, t->nplanned,
			        OUT_ESC(t->command ? t->command : ""), extra,
			        t->status == JR_ST_OPEN ? "  [running or crashed]" : "");
		}
	}
	if (o)
		out_json_emit(s, o);
	else if (j->ntxns == 0)
		fprintf(s->out, "(no transactions)\n");
	return j->corrupt ? CMD_FAIL : CMD_OK;
}

/* ------------------------------------------------------------------ undo */

static bool txn_moved_data(const struct jr_txn *t)
{
	for (size_t i = 0; i < t->nsteps; i++)
		if (t->steps[i].nafter)
			return true;
	return false;
}

/* Check every step of an undo plan against the file as it is now: the
 * same file, and where the transaction left it. A file that several
 * steps moved must be where the last of them left it; where the undo's
 * later steps expect it (where earlier steps of the transaction left it)
 * tx_apply checks when they run. */
static int check_undo_files(struct rl_session *s, const struct tx_plan *p,
                            uint64_t id, char *why, size_t wlen)
{
	for (size_t i = 0; i < p->nsteps; i++) {
		const struct tx_step *st = &p->steps[i];
		uint64_t ino, gen;
		bool gk;
		struct jr_piece *now = NULL, *parts = NULL;
		size_t nnow, nparts = 0;
		int same = 1, fd = session_open_file(s, st->path, O_RDONLY);

		if (fd < 0) {
			snprintf(why, wlen, "%s: %s", st->path, rl_strerror(fd));
			return 1;
		}
		if (rl_file_identity(fd, &ino, &gen, &gk) < 0 || ino != st->ino ||
		    (gk && st->gen_known && gen != st->gen)) {
			snprintf(why, wlen,
			         "%s is not the file transaction %" PRIu64
			         " moved (it was replaced since)",
			         st->path, id);
			close(fd);
			return 1;
		}
		if (tx_step_untouched(p, i, &parts, &nparts) < 0 ||
		    tx_range_pieces(fd, st->offset, st->length, &now,
		                    &nnow) < 0)
			same = 0;
		for (size_t k = 0; k < nparts && same == 1; k++)
			same = tx_pieces_equal_in(now, nnow, st->before,
			                          st->nbefore, parts[k].logical,
			                          parts[k].length);
		free(parts);
		free(now);
		close(fd);
		if (same != 1) {
			snprintf(why, wlen,
			         "%s changed since transaction %" PRIu64
			         " (its blocks moved again)",
			         st->path, id);
			return 1;
		}
	}
	return 0;
}

enum cmd_status cmd_undo(struct rl_session *s, const struct cmd_call *c)
{
	const char *jdir = NULL;
	bool dry = cmd_has_opt(c, "dry-run", NULL);
	struct jr_journal *j;
	struct jr_txn *t = NULL;
	struct tx_plan p;
	char why[2048];
	enum cmd_status st = CMD_FAIL;
	int r;

	cmd_has_opt(c, "journal-dir", &jdir);
	if (session_volume(s) < 0)
		return CMD_FAIL;
	if (!placement_supported(s))
		return CMD_FAIL;
	j = session_journal(s, !dry, dry, jdir);
	if (!j)
		return CMD_FAIL;
	if (j->corrupt) {
		session_error(s, "the journal %s/%s is corrupt (%s): nothing can "
		                 "be undone from it",
		              j->dir, j->name, j->problem);
		return CMD_FAIL;
	}
	if (c->argc == 1) {
		uint64_t id;
		if (units_parse_size(c->argv[0], &id) < 0 || !(t = jr_find(j, id))) {
			session_error(s, "no transaction '%s' in the journal (see 'log')",
			              c->argv[0]);
			return CMD_FAIL;
		}
		if (t->status == JR_ST_OPEN) {
			session_error(s, "transaction %" PRIu64 " is still open "
			                 "(running, or interrupted and not yet "
			                 "examined)",
			              id);
			return CMD_FAIL;
		}
		if (t->undone) {
			session_error(s, "transaction %" PRIu64 " was already undone "
			                 "by %" PRIu64 " ('undo %" PRIu64 "' redoes it)",
			              id, t->undone_by, t->undone_by);
			return CMD_FAIL;
		}
		if (!txn_moved_data(t)) {
			session_error(s, "transaction %" PRIu64 " moved no data: "
			                 "nothing to undo",
			              id);
			return CMD_FAIL;
		}
	} else {
		for (size_t i = j->ntxns; i-- > 0;) {
			struct jr_txn *x = &j->txns[i];
			if (x->status != JR_ST_OPEN && !x->undone && !x->undo_of &&
			    txn_moved_data(x)) {
				t = x;
				break;
			}
		}
		if (!t) {
			session_error(s, "nothing to undo: no transaction in the "
			                 "journal that moved data and was not undone");
			return CMD_FAIL;
		}
	}
	tx_plan_init(&p);
	p.block_size = s->fs.block_size;
	r = tx_plan_undo(&p, t);
	if (r < 0) {
		session_error(s, "transaction %" PRIu64 ": %s", t->id,
		              r == -EBADMSG ? "every range is already where it was"
		                            : rl_strerror(r));
		goto out;
	}
	r = check_undo_files(s, &p, t->id, why, sizeof(why));
	if (r == 0)
		r = check_targets_free(s, &p, why, sizeof(why));
	if (r != 0) {
		session_error(s, "cannot undo transaction %" PRIu64 ": %s; nothing "
		                 "was changed",
		              t->id, why);
		goto out;
	}
	st = finish_plan(s, c, &p, dry, jdir);
out:
	tx_plan_free(&p);
	return st;
}
