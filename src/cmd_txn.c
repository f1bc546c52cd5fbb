/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Transaction commands: move, log, undo. They parse, call the transaction
 * layer (src/txn.c, src/txn_check.c, src/journal.c) through the session
 * (src/session_txn.c) and print. */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "busy.h"
#include "commands.h"
#include "journal.h"
#include "layout_model.h"
#include "output.h"
#include "planner.h"
#include "scan.h"
#include "session.h"
#include "session_model.h"
#include "session_txn.h"
#include "txn.h"
#include "txn_check.h"
#include "txn_undo.h"
#include "units.h"

#define TXN_APPLY_OPTS                                                         \
	{"dry-run", NULL, "print the plan; change nothing"},                   \
	    {"rate", "MB/s", "throttle the data moved to MB/s (MiB/s)"},       \
	{                                                                      \
		"io-priority", "idle|normal",                                  \
		    "I/O priority of the moves (default idle)"                 \
	}

const struct cmd_opt cmd_opts_move[] = {
    {"to", "GOAL", "physical byte address where the range must start"},
    {"range", "OFF",
     "move only [OFF, OFF+LEN): LEN is the argument after FILE "
     "(or OFF:LEN)"},
    {"make-room", NULL,
     "move the target's occupants elsewhere first (same plan)"},
    TXN_APPLY_OPTS,
    CMD_OPT_JOURNAL_DIR,
    {NULL, NULL, NULL},
};
const struct cmd_opt cmd_opts_log[] = {
    {"forget", "ID|all",
     "drop the transactions up to ID (with the rest of ID's command; "
     "'all': every one that ended) from this volume's journal: they can "
     "no longer be undone, and the journal shrinks"},
    CMD_OPT_JOURNAL_DIR,
    {NULL, NULL, NULL},
};
const struct cmd_opt cmd_opts_undo[] = {
    TXN_APPLY_OPTS,
    CMD_OPT_JOURNAL_DIR,
    {NULL, NULL, NULL},
};

/* ---------------------------------------------------------------- helpers */

static int parse_size(struct rl_session *s, const char *what, const char *v,
                      uint64_t *out)
{
	int r = units_parse_size(v, out);
	if (r < 0)
		session_error(s, "%s '%s': %s", what, v,
		              units_size_error(r, false));
	return r;
}

static void print_pieces(FILE *f, const char *label, const struct rl_extent *p,
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

/* ------------------------------------------------------------- output */

static void print_plan(struct rl_session *s, const struct tx_plan *p, bool dry)
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
			cJSON_AddItemToArray(a,
			                     session_step_json(&p->steps[i]));
		out_json_emit(s, o);
		return;
	}
	fprintf(s->out, "%splan: %s: %zu step%s, %s to move\n",
	        dry ? "dry run, " : "", OUT_ESC(p->command), p->nsteps,
	        p->nsteps == 1 ? "" : "s", sz);
	for (size_t i = 0; i < p->nsteps; i++) {
		const struct tx_step *st = &p->steps[i];
		struct rl_extent *pred = NULL;
		size_t np = 0;

		units_format_size(st->bytes, sz, sizeof(sz));
		fprintf(s->out,
		        "  step %zu: %s [%" PRIu64 ", %" PRIu64 ") %s\n", i + 1,
		        OUT_ESC(st->range.path), st->range.offset,
		        st->range.offset + st->range.length, sz);
		print_pieces(s->out, "before", st->range.before,
		             st->range.nbefore);
		print_pieces(s->out, "target", st->range.target,
		             st->range.ntarget);
		if (tx_predict(st->range.before, st->range.nbefore,
		               st->range.target, st->range.ntarget, &pred,
		               &np) == 0)
			print_pieces(s->out, "after", pred, np);
		free(pred);
	}
	if (dry)
		fprintf(s->out, "nothing was changed (--dry-run)\n");
}

/* ------------------------------------------------------ move --make-room */

/* move --make-room: turn the one-step plan p into one that first moves
 * the target's occupants elsewhere. 0 or -errno (why says). */
static int make_room(struct rl_session *s, struct tx_plan *p, char *why,
                     size_t wlen)
{
	struct lm_model *m;
	struct pl_ctx ctx;
	struct session_plan_hooks hooks;
	struct tx_plan q;
	const struct tx_step *st;
	uint64_t lo = UINT64_MAX, hi = 0, goal;
	uint32_t id;
	int r;

	if (p->nsteps != 1 || p->steps[0].range.ntarget == 0)
		return -EINVAL;
	m = session_model(s);
	if (!m)
		return -ENODATA;
	st = &p->steps[0];
	id = lm_find_inode(m, st->range.ino);
	if (id == LM_NONE) {
		snprintf(why, wlen, "%s is not in the layout model ('scan')",
		         st->range.path);
		return -ENOENT;
	}
	r = session_plan_init(&ctx, &hooks, s, m);
	if (r == 0 && s->plan_mode && s->pending)
		r = pl_replay(&ctx, s->pending, s->fs.mountpoint);
	if (r < 0) {
		snprintf(why, wlen, "cannot plan: %s", rl_strerror(r));
		session_plan_fini(&ctx, &hooks);
		return r;
	}
	for (size_t k = 0; k < st->range.ntarget; k++) {
		if (st->range.target[k].physical < lo)
			lo = st->range.target[k].physical;
		if (st->range.target[k].physical + st->range.target[k].length >
		    hi)
			hi = st->range.target[k].physical +
			     st->range.target[k].length;
	}
	goal = st->range.target[0].physical -
	       (st->range.target[0].logical - st->range.offset);
	r = pl_make_room(&ctx, lo, hi, lo, hi);
	if (r == 0)
		r = pl_add_move(&ctx, id, st->range.offset, st->range.length,
		                goal, "move");
	if (r < 0) {
		snprintf(why, wlen, "--make-room: %s%s",
		         ctx.report ? ctx.report : "", rl_strerror(r));
		session_plan_fini(&ctx, &hooks);
		return r;
	}
	tx_plan_init(&q);
	r = pl_to_plan(&ctx, s->fs.mountpoint, &q);
	if (r == 0) {
		q.command = p->command;
		p->command = NULL;
		tx_plan_free(p);
		*p = q;
		if (ctx.report && !s->json)
			out_report(s->out, ctx.report);
	} else {
		tx_plan_free(&q);
	}
	session_plan_fini(&ctx, &hooks);
	return r;
}

/* ------------------------------------------------------------------ move */

/* The end of move and undo: print the plan (--dry-run) or apply it. */
static enum cmd_status finish_plan(struct rl_session *s,
                                   const struct cmd_call *c, struct tx_plan *p,
                                   bool dry, const char *jdir)
{
	if (dry) {
		print_plan(s, p, true);
		return CMD_OK;
	}
	return session_apply_plan(s, c, p, jdir);
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
				session_error(s,
				              "--range OFF LEN: LEN missing");
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
		session_error(
		    s, "a second argument is only LEN of --range OFF LEN");
		return CMD_USAGE;
	}
	if (!session_placement_supported(s))
		return CMD_FAIL;
	bs = s->fs.block_size;
	if (goal % bs || off % bs || len % bs) {
		session_error(s,
		              "GOAL, OFF and LEN must be multiples of the "
		              "block size (%" PRIu64 ")",
		              bs);
		return CMD_USAGE;
	}
	fd = session_open_file(s, c->argv[0], dry ? O_RDONLY : O_RDWR);
	if (fd < 0) {
		session_error(
		    s, "%s: %s%s", c->argv[0],
		    fd == -EXDEV    ? "on another filesystem than the volume "
		                      "(each volume is worked on by its own "
		                      "session)"
		    : fd == -ELOOP  ? "a symbolic link (never followed)"
		    : fd == -EINVAL ? "not a regular file"
		    : fd == -EWOULDBLOCK
		        ? "another process holds a lease on it (it "
		          "was asked to give it up: try again in a "
		          "moment); nothing was changed"
		    : fd == -ETXTBSY ? busy_reason(busy_of_path(c->argv[0]))
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
			session_error(s,
			              "%s: nothing to move at offset %" PRIu64
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
		session_error(s, "%s: cannot plan: %s", c->argv[0],
		              rl_strerror(r));
		goto out;
	}
	if (p.steps[0].range.nbefore == 0) {
		session_error(s,
		              "%s: the range holds no data blocks: nothing to "
		              "move",
		              c->argv[0]);
		goto out;
	}
	if (tx_step_in_place(&p.steps[0]) == 1) {
		if (s->json) {
			print_plan(s, &p, true);
		} else {
			fprintf(s->out,
			        "%s is already at 0x%" PRIx64
			        ": nothing to do\n",
			        OUT_ESC(c->argv[0]), goal);
		}
		st = CMD_OK;
		goto out;
	}
	r = session_check_targets(s, &p, why, sizeof(why));
	if (r == 1 && cmd_has_opt(c, "make-room", NULL)) {
		r = make_room(s, &p, why, sizeof(why));
		if (r == 0)
			r = session_check_targets(s, &p, why, sizeof(why));
	}
	if (r == 1 && !cmd_has_opt(c, "make-room", NULL)) {
		/* what the scan saw there, and the ways around it */
		char held[400] = "";
		if (s->model)
			pl_region_text(s->model, goal,
			               goal + p.steps[0].range.length, true,
			               held, sizeof(held), NULL);
		session_error(s,
		              "%s%s%s; nothing was changed ('group --to GOAL "
		              "--end END FILE' places it into the free runs of "
		              "a region; --make-room moves other files' data "
		              "out of the way)",
		              why, held[0] ? "; the last scan saw there: " : "",
		              held);
		goto out;
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

/* log --forget ID|all: this volume's transactions up to ID and the rest
 * of their commands, or all that ended, dropped from the journal. */
static enum cmd_status log_forget(struct rl_session *s, const char *what,
                                  const char *jdir)
{
	struct jr_journal *j = session_journal(s, true, false, jdir);
	bool all = !strcmp(what, "all");
	uint64_t upto = 0, freed = 0, lo = UINT64_MAX, hi = 0;
	uint64_t *ids = NULL;
	size_t n = 0, open = 0;
	char *end = NULL, b1[32], b2[32];
	int r;

	if (!j)
		return CMD_FAIL;
	if (!all) {
		errno = 0;
		upto = strtoull(what, &end, 10);
		if (errno || !end || *end || !upto || what[0] == '-') {
			session_error(s,
			              "--forget '%s': not a transaction id "
			              "(a number from 'log') or 'all'",
			              what);
			return CMD_FAIL;
		}
		const struct jr_txn *t = jr_find(j, upto);
		if (!t || !jr_txn_here(j, t)) {
			session_error(s,
			              "--forget %" PRIu64
			              ": no such transaction of this volume in "
			              "%s/%s ('log' lists them); nothing was "
			              "changed",
			              upto, j->dir, j->name);
			return CMD_FAIL;
		}
	}
	if (j->corrupt) {
		session_error(s,
		              "--forget: the journal %s/%s is corrupt (%s): "
		              "nothing was changed",
		              j->dir, j->name, j->problem);
		return CMD_FAIL;
	}
	ids = calloc(j->ntxns + 1, sizeof(*ids));
	if (!ids) {
		session_error(s, "out of memory");
		return CMD_FAIL;
	}
	/* whole commands: a command's group is its first transaction, so
	 * the transactions up to ID and the rest of their commands are those
	 * whose group is at most ID */
	for (size_t i = 0; i < j->ntxns; i++) {
		const struct jr_txn *t = &j->txns[i];
		if (!jr_txn_here(j, t) ||
		    (!all && t->id > upto && t->group > upto))
			continue;
		if (t->status == JR_ST_OPEN && all) {
			open++;
			continue;
		}
		ids[n++] = t->id;
	}
	for (size_t i = 0; i < n; i++) {
		const struct jr_txn *t = jr_find(j, ids[i]);
		if (t->status == JR_ST_OPEN) {
			session_error(s,
			              "--forget: transaction %" PRIu64
			              " ('%s') is still open (running, or "
			              "interrupted and not yet finished): "
			              "nothing was changed",
			              t->id, t->command ? t->command : "");
			free(ids);
			return CMD_FAIL;
		}
		lo = ids[i] < lo ? ids[i] : lo;
		hi = ids[i] > hi ? ids[i] : hi;
	}
	r = n ? jr_forget(j, ids, n, &freed) : 0;
	free(ids);
	if (r < 0) {
		session_error(s, "--forget: rewriting %s/%s: %s%s", j->dir,
		              j->name, rl_strerror(r),
		              "; the journal is as it was");
		return CMD_FAIL;
	}
	units_format_size(freed, b1, sizeof(b1));
	units_format_size(j->file_size, b2, sizeof(b2));
	if (s->json) {
		cJSON *o = cJSON_CreateObject();
		out_add_name(o, "journal", j->dir);
		out_add_u64(o, "forgotten", n);
		if (n) {
			out_add_u64(o, "first", lo);
			out_add_u64(o, "last", hi);
		}
		out_add_u64(o, "open_kept", open);
		out_add_u64(o, "bytes_freed", freed);
		out_add_u64(o, "journal_bytes", j->file_size);
		out_json_emit(s, o);
	} else if (!n) {
		fprintf(s->out, "nothing to forget%s\n",
		        open ? " (the open transaction stays)" : "");
	} else {
		fprintf(s->out,
		        "forgot %zu transaction%s (%" PRIu64 "..%" PRIu64
		        "): they can no longer be undone; the journal is %s "
		        "smaller (now %s)%s\n",
		        n, n == 1 ? "" : "s", lo, hi, b1, b2,
		        open ? "; the open transaction stays" : "");
	}
	return CMD_OK;
}

enum cmd_status cmd_log(struct rl_session *s, const struct cmd_call *c)
{
	const char *jdir = NULL, *forget = NULL;
	struct jr_journal *j;
	cJSON *o = NULL, *a = NULL;

	cmd_has_opt(c, "journal-dir", &jdir);
	if (cmd_has_opt(c, "forget", &forget))
		return log_forget(s, forget, jdir);
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
			fprintf(s->out,
			        "journal CORRUPT (%s): listed up to the "
			        "damage, not trusted\n",
			        j->problem);
		fprintf(s->out, "%5s  %-20s  %-11s  %12s  %5s  %s\n", "id",
		        "time (UTC)", "status", "bytes", "steps", "command");
	}
	size_t others = 0;
	const char *other_name = NULL;

	for (size_t i = 0; i < j->ntxns; i++) {
		const struct jr_txn *t = &j->txns[i];
		char when[32];

		/* copies of the filesystem (same UUID) share the journal:
		 * their transactions are not this volume's */
		if (!jr_txn_here(j, t)) {
			others++;
			if (!other_name)
				other_name = t->volume_name;
			continue;
		}
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
			out_add_name(e, "command",
			             t->command ? t->command : "");
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
				snprintf(extra, sizeof(extra),
				         "  [undone by %" PRIu64 "]",
				         t->undone_by);
			fprintf(s->out,
			        "%5" PRIu64 "  %-20s  %-11s  %12" PRIu64
			        "  %2zu/%-2u  %s%s%s\n",
			        t->id, when,
			        t->status == JR_ST_INTERRUPTED ? "INTERRUPTED"
			                                       : stname,
			        t->bytes, done, t->nplanned,
			        OUT_ESC(t->command ? t->command : ""), extra,
			        t->status == JR_ST_OPEN
			            ? "  [running or crashed]"
			            : "");
		}
	}
	if (o) {
		out_add_u64(o, "other_volumes_transactions", others);
		out_json_emit(s, o);
	} else {
		if (j->ntxns == others)
			fprintf(s->out, "(no transactions)\n");
		if (others)
			fprintf(s->out,
			        "(%zu transaction%s of other volumes with this "
			        "UUID not shown, e.g. on %s; this is %s)\n",
			        others, others == 1 ? "" : "s",
			        OUT_ESC(other_name ? other_name : "?"),
			        OUT_ESC(j->volume_name ? j->volume_name : "?"));
	}
	return j->corrupt ? CMD_FAIL : CMD_OK;
}

/* ------------------------------------------------------------------ undo */

/* Did transaction t copy shared extents apart (a step journaled with
 * "unshare": --unshare; those copies cannot be shared again)? */
static bool unshared(const struct jr_txn *t)
{
	for (size_t i = 0; t && i < t->nsteps; i++)
		if (t->steps[i].unshare)
			return true;
	return false;
}

/* The files of the undo plan p as transaction id left them? 0, or 1
 * (why says). */
static int check_undo_files(struct rl_session *s, const struct tx_plan *p,
                            uint64_t id, char *why, size_t wlen)
{
	struct tx_undo_check u;
	const char *path;

	if (tx_check_undo_files(p, session_open_cb, s, &u) == 0)
		return 0;
	path = p->steps[u.step].range.path;
	switch (u.kind) {
	case TX_UNDO_OK:
		break;
	case TX_UNDO_CANNOT_OPEN:
		snprintf(why, wlen, "%s: %s", path, rl_strerror(u.err));
		break;
	case TX_UNDO_REPLACED:
		snprintf(why, wlen,
		         "%s is not the file transaction %" PRIu64
		         " moved (it was replaced since)",
		         path, id);
		break;
	case TX_UNDO_CHANGED:
		snprintf(why, wlen,
		         "%s changed since transaction %" PRIu64
		         " (its blocks moved again)",
		         path, id);
		break;
	}
	return 1;
}

/* Placements refused this many times in one undo: give up. */
#define UNDO_ROUNDS 32

/* An undo of one transaction as it runs: the exact plan (everything back
 * where it was), where each of its steps went (near: not exactly), the
 * targets a placement refused. */
struct undo_run {
	uint64_t id;              /* the transaction undone */
	struct tx_plan exact;     /* tx_plan_undo */
	struct tx_fit_step *went; /* per exact step; bytes 0: not applied */
	uint64_t *excl;           /* [start, end) pairs never to use */
	size_t nexcl;
};

static void undo_run_free(struct undo_run *u)
{
	tx_plan_free(&u->exact);
	free(u->went);
	free(u->excl);
}

/* The fit of a plan that goes back exactly: step i is exact step i. */
static int fit_exact(const struct tx_plan *p, struct tx_fit *fit)
{
	memset(fit, 0, sizeof(*fit));
	fit->steps = calloc(p->nsteps + 1, sizeof(*fit->steps));
	if (!fit->steps)
		return -ENOMEM;
	fit->nsteps = p->nsteps;
	for (size_t i = 0; i < p->nsteps; i++) {
		fit->steps[i].exact = i;
		fit->steps[i].bytes = p->steps[i].bytes;
	}
	return 0;
}

/* Where the ranges of exact steps [from, n) are now, for the first step
 * of each file among them (the others follow from it): now[j] NULL where
 * it cannot be read (the step then expects its `before`). */
static void undo_where_now(struct rl_session *s, const struct tx_plan *e,
                           size_t from, struct rl_extent **now, size_t *nnow)
{
	for (size_t j = from; j < e->nsteps; j++) {
		const struct jr_range *r = &e->steps[j].range;
		bool first = true;
		int fd;

		for (size_t k = from; k < j && first; k++)
			first = e->steps[k].range.ino != r->ino;
		if (!first)
			continue;
		fd = session_open_file(s, r->path, O_RDONLY);
		if (fd < 0)
			continue;
		if (tx_range_pieces(fd, r->offset, r->length, &now[j - from],
		                    &nnow[j - from]) < 0)
			now[j - from] = NULL;
		close(fd);
	}
}

/* Plan exact steps [from, n) of u onto the volume as it is now (a fresh
 * scan): into p (empty) and fit. refresh: read where the ranges are now
 * (a later round: earlier steps may have gone near, the failed one may
 * have moved part way). 0, or -errno (why says). */
static int undo_fit(struct rl_session *s, struct undo_run *u, size_t from,
                    bool refresh, struct tx_plan *p, struct tx_fit *fit,
                    char *why, size_t wlen)
{
	size_t n = u->exact.nsteps - from;
	struct rl_extent **now = calloc(n + 1, sizeof(*now));
	size_t *nnow = calloc(n + 1, sizeof(*nnow));
	struct session_plan_hooks hooks;
	struct scan_stats ss;
	struct pl_ctx ctx;
	int r = now && nnow ? 0 : -ENOMEM;

	if (r == 0 && refresh)
		undo_where_now(s, &u->exact, from, now, nnow);
	if (r == 0 && (r = session_scan(s, 0, &ss)) < 0)
		snprintf(why, wlen, "cannot scan the volume: %s",
		         rl_strerror(r));
	if (r == 0) {
		r = session_plan_init(&ctx, &hooks, s, s->model);
		if (r == 0)
			r = tx_undo_fit(&ctx, &u->exact, from, u->excl,
			                u->nexcl, now, nnow, p, fit);
		if (r == -ENOSPC)
			snprintf(why, wlen,
			         "no free run holds the data of %s (step %zu) "
			         "near its old place or anywhere else",
			         u->exact.steps[fit->failed].range.path,
			         fit->failed + 1);
		else if (r < 0)
			snprintf(why, wlen, "cannot plan: %s", rl_strerror(r));
		session_plan_fini(&ctx, &hooks);
	}
	for (size_t j = 0; now && j < n; j++)
		free(now[j]);
	free(now);
	free(nnow);
	return r;
}

/* A placement the filesystem refused at a step's target (taken
 * meanwhile, or held back): planning around it may help. */
static bool placement_refused(int err)
{
	return err == -ENOSPC || err == -EBUSY || err == -EINVAL ||
	       err == -EOPNOTSUPP;
}

/* "N files put back exactly, M near their old place": per file, from
 * went (per exact step, bytes 0: not done). In JSON only when M > 0. */
static void report_near(struct rl_session *s, const struct undo_run *u,
                        const struct tx_fit_step *went, bool planned)
{
	const struct tx_plan *e = &u->exact;
	size_t files = 0, near = 0, shown = 0;
	uint64_t gsz = s->fs.group_size;
	cJSON *o = NULL, *a = NULL;

	for (size_t i = 0; i < e->nsteps; i++) {
		bool first = true;
		for (size_t k = 0; k < i && first; k++)
			first = e->steps[k].range.ino != e->steps[i].range.ino;
		if (!first)
			continue;
		files++;
		for (size_t k = i; k < e->nsteps; k++)
			if (e->steps[k].range.ino == e->steps[i].range.ino &&
			    went[k].near) {
				near++;
				break;
			}
	}
	if (near == 0)
		return;
	if (s->json) {
		o = cJSON_CreateObject();
		out_add_u64(o, "undo_of", u->id);
		cJSON_AddBoolToObject(o, "planned", planned);
		out_add_u64(o, "files_exact", files - near);
		out_add_u64(o, "files_near", near);
		a = cJSON_AddArrayToObject(o, "near");
	} else {
		fprintf(s->out,
		        "undo of transaction %" PRIu64 ": %zu file%s %s back "
		        "exactly, %zu near %s old place (the old blocks were "
		        "taken since, or the filesystem held them back):\n",
		        u->id, files - near, files - near == 1 ? "" : "s",
		        planned ? "go" : "put", near,
		        near == 1 ? "its" : "their");
	}
	for (size_t i = 0; i < e->nsteps; i++) {
		const struct jr_range *r = &e->steps[i].range;
		uint64_t nb = 0, all = 0, old_at = 0, new_at = 0, d;
		bool first = true;
		char x[32], y[32], z[32];

		for (size_t k = 0; k < i && first; k++)
			first = e->steps[k].range.ino != r->ino;
		for (size_t k = i; first && k < e->nsteps; k++) {
			if (e->steps[k].range.ino != r->ino)
				continue;
			all += e->steps[k].bytes;
			if (went[k].near && !nb) {
				old_at = went[k].old_at;
				new_at = went[k].new_at;
			}
			nb += went[k].near;
		}
		if (!first || !nb)
			continue;
		d = new_at > old_at ? new_at - old_at : old_at - new_at;
		if (a) {
			cJSON *f = cJSON_CreateObject();
			out_add_name(f, "path", r->path);
			out_add_u64(f, "bytes", all);
			out_add_u64(f, "near_bytes", nb);
			out_add_u64(f, "old", old_at);
			out_add_u64(f, "new", new_at);
			cJSON_AddItemToArray(a, f);
			continue;
		}
		if (++shown > 20)
			continue;
		units_format_size(nb, x, sizeof(x));
		units_format_size(all, y, sizeof(y));
		units_format_size(d, z, sizeof(z));
		fprintf(s->out,
		        "  %s: %s of %s at 0x%" PRIx64 " instead of 0x%" PRIx64
		        " (%s %s%s)\n",
		        OUT_ESC(r->path), x, y, new_at, old_at, z,
		        new_at > old_at ? "above" : "below",
		        gsz && (new_at - s->fs.first_data_byte) / gsz ==
		                    (old_at - s->fs.first_data_byte) / gsz
		            ? ", same group"
		            : "");
	}
	if (o)
		out_json_emit(s, o);
	else if (shown > 20)
		fprintf(s->out, "  ... and %zu more\n", shown - 20);
}

/* Remember where the first k steps of the fitted plan went. */
static void undo_note_done(struct undo_run *u, const struct tx_fit *fit,
                           size_t k)
{
	for (size_t i = 0; i < k && i < fit->nsteps; i++)
		u->went[fit->steps[i].exact] = fit->steps[i];
}

/* Apply plan p (fit: where its steps go); when a placement is refused
 * at a step's target, plan the rest again around it (a new transaction,
 * also undoing transaction u->id), up to UNDO_ROUNDS times. */
static enum cmd_status undo_apply(struct rl_session *s,
                                  const struct cmd_call *c, struct undo_run *u,
                                  struct tx_plan *p, struct tx_fit *fit,
                                  const char *jdir)
{
	struct tx_plan q;
	char why[2048];
	enum cmd_status st;

	size_t refused = SIZE_MAX; /* the step refused last */

	tx_plan_init(&q);
	for (int round = 0;; round++) {
		size_t k, from;
		int r;

		st = session_apply_now(s, c, p, jdir);
		k = s->last_steps_done;
		undo_note_done(u, fit, k);
		if (st == CMD_OK || !placement_refused(s->last_err) ||
		    s->stop_signal || k >= p->nsteps || round >= UNDO_ROUNDS)
			break;
		from = fit->steps[k].exact;
		fprintf(s->err,
		        "relayout: undo: the filesystem refused the place of "
		        "step %zu (%s, %s): planning the rest of the undo "
		        "again%s\n",
		        from + 1, OUT_ESC(p->steps[k].range.path),
		        rl_strerror(s->last_err),
		        from == refused ? " around it" : "");
		/* the first time from a fresh scan (taken blocks are seen
		 * there; blocks freed moments ago may just not have been free
		 * yet), the second time without that step's targets */
		r = from == refused ? session_exclude_targets(
		                          &u->excl, &u->nexcl, &p->steps[k])
		                    : 0;
		refused = from;
		session_settle_replan(s);
		tx_plan_free(&q);
		tx_fit_free(fit);
		tx_plan_init(&q);
		if (r == 0)
			r = undo_fit(s, u, from, true, &q, fit, why,
			             sizeof(why));
		if (r == 0 && q.nsteps == 0)
			break; /* nothing left to move */
		if (r == 0)
			r = session_check_targets(s, &q, why, sizeof(why));
		if (r != 0) {
			session_error(
			    s,
			    "cannot go on with the undo of transaction "
			    "%" PRIu64 " from step %zu: %s; the steps "
			    "before it stay undone ('log')",
			    u->id, from + 1,
			    r < 0 && !why[0] ? rl_strerror(r) : why);
			st = CMD_FAIL;
			break;
		}
		p = &q;
	}
	report_near(s, u, u->went, false);
	tx_plan_free(&q);
	return st;
}

/* Does an old place of undo plan p lie beyond the volume's end now (it
 * was shrunk since)? Then nothing near it is what the undo promised: say
 * so (why) instead of putting the data elsewhere. */
static bool beyond_end(struct rl_session *s, const struct tx_plan *p, char *why,
                       size_t wlen)
{
	char a[32];

	for (size_t i = 0; i < p->nsteps; i++)
		for (size_t k = 0; k < p->steps[i].range.ntarget; k++) {
			const struct rl_extent *t =
			    &p->steps[i].range.target[k];
			if (t->physical + t->length <= s->fs.size)
				continue;
			units_format_size(s->fs.size, a, sizeof(a));
			snprintf(why, wlen,
			         "its old place 0x%" PRIx64 "..0x%" PRIx64
			         " lies beyond the end of the volume, now %s "
			         "(it was shrunk since: grow it back first, "
			         "e.g. 'xfs_growfs -d MOUNTPOINT')",
			         t->physical, t->physical + t->length, a);
			return true;
		}
	return false;
}

/* Undo transaction id: exactly where the blocks are free, near where
 * they were taken meanwhile. check: the files (and targets) are checked
 * (a dry run of a command's older transactions cannot be: the newer ones
 * are not undone yet). */
static enum cmd_status undo_txn(struct rl_session *s, const struct cmd_call *c,
                                struct jr_journal *j, uint64_t id, bool dry,
                                bool check, const char *jdir)
{
	struct undo_run u = {.id = id};
	struct tx_plan p, *cur = &u.exact;
	struct tx_fit fit = {0};
	char why[2048], why2[2048] = "";
	enum cmd_status st = CMD_FAIL;
	int r;

	tx_plan_init(&u.exact);
	tx_plan_init(&p);
	u.exact.block_size = s->fs.block_size;
	r = tx_plan_undo_rest(&u.exact, j, jr_find(j, id));
	if (r < 0) {
		session_error(s, "transaction %" PRIu64 ": %s", id,
		              r == -EBADMSG
		                  ? "every range is already where it was"
		                  : rl_strerror(r));
		goto out;
	}
	u.went = calloc(u.exact.nsteps + 1, sizeof(*u.went));
	if (!u.went || fit_exact(&u.exact, &fit) < 0) {
		session_error(s, "out of memory");
		goto out;
	}
	/* files changed since, or old places the volume no longer has */
	if (check && (check_undo_files(s, &u.exact, id, why, sizeof(why)) ||
	              beyond_end(s, &u.exact, why, sizeof(why)))) {
		session_error(s,
		              "cannot undo transaction %" PRIu64
		              ": %s; nothing was changed",
		              id, why);
		goto out;
	}
	r = check ? session_check_targets(s, &u.exact, why, sizeof(why)) : 0;
	if (r == 1 && unshared(jr_find(j, id))) {
		/* near is no help: its old blocks are (were) shared */
		snprintf(why2, sizeof(why2),
		         "it copied shared (reflinked) extents apart with "
		         "--unshare: their old blocks were, or still are, "
		         "another file's too, and undo cannot make two files "
		         "share blocks again");
		r = 2;
	}
	if (r == 1) {
		/* old blocks taken (or the volume shrunk): near them */
		tx_fit_free(&fit);
		r = undo_fit(s, &u, 0, false, &p, &fit, why2, sizeof(why2));
		if (r == 0)
			r = session_check_targets(s, &p, why2, sizeof(why2));
		cur = &p;
	}
	if (r == 2) {
		session_error(s,
		              "cannot undo transaction %" PRIu64
		              ": %s; nothing "
		              "was changed (%s)",
		              id, why, why2);
		goto out;
	}
	if (r != 0) {
		session_error(
		    s,
		    "cannot undo transaction %" PRIu64 ": %s%s%s; "
		    "nothing was changed",
		    id, why, why2[0] ? "; and not near it either: " : "", why2);
		goto out;
	}
	if (dry || s->plan_mode) {
		struct tx_fit_step *w = calloc(u.exact.nsteps + 1, sizeof(*w));
		for (size_t i = 0; w && i < fit.nsteps; i++)
			w[fit.steps[i].exact] = fit.steps[i];
		if (w)
			report_near(s, &u, w, true);
		free(w);
		st = finish_plan(s, c, cur, dry, jdir);
		goto out;
	}
	st = undo_apply(s, c, &u, cur, &fit, jdir);
out:
	tx_fit_free(&fit);
	tx_plan_free(&p);
	undo_run_free(&u);
	return st;
}

/* Which transaction 'undo ID' names, checked: NULL (said why) when it
 * cannot be undone. */
static struct jr_txn *undo_named(struct rl_session *s, struct jr_journal *j,
                                 const char *arg)
{
	uint64_t id;
	struct jr_txn *t;
	enum jr_undo_state u;

	if (units_parse_size(arg, &id) < 0 || !(t = jr_find(j, id))) {
		session_error(
		    s, "no transaction '%s' in the journal (see 'log')", arg);
		return NULL;
	}
	if (!jr_txn_here(j, t)) {
		session_error(s,
		              "transaction %" PRIu64 " was recorded on another "
		              "volume with the same UUID, %s; this is %s: undo "
		              "it there",
		              id,
		              OUT_ESC(t->volume_name ? t->volume_name : "?"),
		              OUT_ESC(j->volume_name ? j->volume_name : "?"));
		return NULL;
	}
	u = jr_undoable(t);
	if (u == JR_UNDO_OPEN)
		session_error(s,
		              "transaction %" PRIu64 " is still open "
		              "(running, or interrupted and not yet examined)",
		              id);
	else if (u == JR_UNDO_UNDONE)
		session_error(s,
		              "transaction %" PRIu64 " was already undone "
		              "by %" PRIu64 " ('undo %" PRIu64 "' redoes it)",
		              id, t->undone_by, t->undone_by);
	else if (u == JR_UNDO_NO_DATA)
		session_error(s,
		              "transaction %" PRIu64 " moved no data: "
		              "nothing to undo",
		              id);
	return u == JR_UNDO_OK ? t : NULL;
}

/* The journal for undo and redo, or NULL (said why). */
static struct jr_journal *undo_journal(struct rl_session *s,
                                       const struct cmd_call *c, bool dry,
                                       const char **jdir)
{
	struct jr_journal *j;

	*jdir = NULL;
	cmd_has_opt(c, "journal-dir", jdir);
	if (!session_placement_supported(s))
		return NULL;
	j = session_journal(s, !dry, dry, *jdir);
	if (j && j->corrupt) {
		session_error(s,
		              "the journal %s/%s is corrupt (%s): nothing can "
		              "be undone from it",
		              j->dir, j->name, j->problem);
		return NULL;
	}
	return j;
}

/* Undo the n transactions ids (newest first); what: "undo" or "redo". */
static enum cmd_status undo_ids(struct rl_session *s, const struct cmd_call *c,
                                struct jr_journal *j, const uint64_t *ids,
                                size_t n, bool dry, const char *jdir)
{
	const char *what = c->def->name;
	enum cmd_status st = CMD_OK;

	for (size_t i = 0; i < n && st == CMD_OK; i++) {
		if (n > 1 && !s->json)
			fprintf(s->out,
			        "%s: transaction %" PRIu64 " (%zu of %zu "
			        "that the command made, newest first)\n",
			        what, ids[i], i + 1, n);
		/* (a dry run or a pending plan cannot check the older ones:
		 * the newer ones are not undone yet) */
		st = undo_txn(s, c, j, ids[i], dry,
		              i == 0 || !(dry || s->plan_mode), jdir);
		if (st != CMD_OK && i > 0)
			fprintf(s->err,
			        "relayout: %s: %zu of the command's %zu "
			        "transactions were reverted; '%s' again goes "
			        "on with the rest\n",
			        what, i, n, what);
		if (s->stop_signal)
			break;
	}
	return st;
}

/* Undo the transactions of t's command (redo: of t's undo), newest
 * first; one: t alone. */
static enum cmd_status
undo_group(struct rl_session *s, const struct cmd_call *c, struct jr_journal *j,
           struct jr_txn *t, bool redo, bool one, bool dry, const char *jdir)
{
	struct jr_txn **grp = calloc(j->ntxns + 1, sizeof(*grp));
	uint64_t *ids = calloc(j->ntxns + 1, sizeof(*ids));
	enum cmd_status st;
	size_t n;

	if (!grp || !ids) {
		free(grp);
		free(ids);
		session_error(s, "out of memory");
		return CMD_FAIL;
	}
	/* (ids: the journal's array grows as the undos are journaled) */
	n = redo ? jr_group_redoable(j, t, grp) : jr_group_undoable(j, t, grp);
	if (one) {
		if (n > 1 && !s->json)
			fprintf(
			    s->err,
			    "relayout: note: transaction %" PRIu64 " is one "
			    "of %zu that '%s' made and that are not undone; "
			    "'undo' without an id reverts them all\n",
			    t->id, n, t->command ? t->command : "");
		ids[0] = t->id;
		n = 1;
	} else {
		for (size_t i = 0; i < n; i++)
			ids[i] = grp[i]->id;
	}
	free(grp);
	st = undo_ids(s, c, j, ids, n, dry, jdir);
	free(ids);
	return st;
}

/* undo ID: that transaction; undo: every one the last command made;
 * redo: every one the last undo made, as long as no command moved data
 * after it. */
static enum cmd_status undo_cmd(struct rl_session *s, const struct cmd_call *c,
                                bool redo)
{
	const char *jdir;
	bool dry = cmd_has_opt(c, "dry-run", NULL);
	struct jr_journal *j = undo_journal(s, c, dry, &jdir);
	struct jr_txn *t;

	if (!j)
		return CMD_FAIL;
	if (redo)
		t = jr_last_redoable(j);
	else
		t = c->argc == 1 ? undo_named(s, j, c->argv[0])
		                 : jr_last_undoable(j);
	if (!t && redo)
		session_error(s, "nothing to redo: no undo since the last "
		                 "command that moved data");
	else if (!t && c->argc == 0)
		session_error(s, "nothing to undo: no transaction in the "
		                 "journal that moved data and was not undone");
	if (!t)
		return CMD_FAIL;
	return undo_group(s, c, j, t, redo, !redo && c->argc == 1, dry, jdir);
}

enum cmd_status cmd_undo(struct rl_session *s, const struct cmd_call *c)
{
	return undo_cmd(s, c, false);
}

enum cmd_status cmd_redo(struct rl_session *s, const struct cmd_call *c)
{
	return undo_cmd(s, c, true);
}
