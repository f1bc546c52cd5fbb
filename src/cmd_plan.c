/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Planner commands: defrag, compact, evacuate, group; plan mode: plan,
 * preview, apply, discard. Plans come from src/planner.c, run through
 * src/txn.c (journaled, verified with FIEMAP). */
#include "config.h"
#include "cmd_plan.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cmd_inodes.h"
#include "commands.h"
#include "layout_model.h"
#include "mem.h"
#include "output.h"
#include "planner.h"
#include "scan.h"
#include "session.h"
#include "session_model.h"
#include "session_txn.h"
#include "txn.h"
#include "units.h"

#define PLAN_APPLY_OPTS                                                        \
	{"dry-run", NULL, "print the plan and the report; change nothing"},    \
	    {"retry", "N",                                                     \
	     "after a missed placement, or a target found in use when the "    \
	     "plan is checked (those steps are left out, the others run), "    \
	     "plan again around it (from the free space read again), up to "   \
	     "N times (default: 3; group: 0); for N > 0 rounds that applied "  \
	     "steps do not count (at most 16 of them)"},                       \
	    {"rate", "MB/s", "throttle the data moved to MB/s (MiB/s)"},       \
	    {"io-priority", "idle|normal",                                     \
	     "I/O priority of the moves (default idle)"},                      \
	    CMD_OPT_JOURNAL_DIR

const struct cmd_opt cmd_opts_defrag[] = {
    {"min-extents", "N", "only files with at least N extents"},
    {"recursive", NULL, "the files under directories too"},
    {"unshare", NULL, "move shared (reflinked) extents too (copies them)"},
    PLAN_APPLY_OPTS,
    {NULL, NULL, NULL},
};
const struct cmd_opt cmd_opts_compact[] = {
    PLAN_APPLY_OPTS,
    {NULL, NULL, NULL},
};
const struct cmd_opt cmd_opts_evacuate[] = {
    {"unshare", NULL, "move shared (reflinked) extents too (copies them)"},
    {"move-inodes", NULL,
     "XFS: give the files and directories whose inodes or directory "
     "blocks lie in the region new inodes outside it first (their inode "
     "numbers and ctime change; open, hard-linked and immutable files "
     "keep theirs, and are named)"},
    PLAN_APPLY_OPTS,
    {NULL, NULL, NULL},
};
const struct cmd_opt cmd_opts_shrink[] = {
    {"unshare", NULL, "move shared (reflinked) extents too (copies them)"},
    {"move-inodes", NULL,
     "XFS: give the files and directories whose inodes or directory "
     "blocks lie from SIZE on new inodes below it first (their inode "
     "numbers and ctime change; open, hard-linked and immutable files "
     "keep theirs, and are named)"},
    PLAN_APPLY_OPTS,
    {NULL, NULL, NULL},
};
const struct cmd_opt cmd_opts_group[] = {
    {"to", "GOAL", "physical byte address where the first file starts"},
    {"end", "END",
     "a region GOAL..END: the files go into its free runs, in order, "
     "around what is in use there"},
    {"make-room", NULL, "move other files' data off the target first"},
    PLAN_APPLY_OPTS,
    {NULL, NULL, NULL},
};
const struct cmd_opt cmd_opts_apply[] = {
    {"rate", "MB/s", "throttle the data moved to MB/s (MiB/s)"},
    {"io-priority", "idle|normal", "I/O priority of the moves (default idle)"},
    {"journal-dir", "DIR", "the undo journal's directory"},
    {NULL, NULL, NULL},
};

/* Regions (physically contiguous runs) of file id before the plan and
 * predicted after it, summed over the files the plan moves. */
static void frag_sums(struct pl_ctx *c, uint64_t *files, uint64_t *before,
                      uint64_t *after)
{
	bool *seen = calloc(c->nfiles + 1, sizeof(*seen));

	*files = *before = *after = 0;
	if (!seen)
		return;
	for (size_t i = 0; i < c->nmv; i++) {
		uint32_t id = c->mv[i].file;
		struct lm_file_frag ff;
		if (seen[id])
			continue;
		seen[id] = true;
		lm_file_frag(c->m, id, &ff);
		(*files)++;
		*before += ff.regions;
		*after += pl_file_regions(c, id);
	}
	free(seen);
}

/* " (the minimum M: R x)" after a byte count moved. */
static void print_min(struct rl_session *s, uint64_t moved, uint64_t min)
{
	char m[32];

	units_format_size(min, m, sizeof(m));
	if (min)
		fprintf(s->out, " (the minimum is %s: %.2fx)", m,
		        (double)moved / (double)min);
	else
		fprintf(s->out, " (the minimum is 0)");
}

/* Print the plan with the report: text, or one JSON document. */
static void print_planned(struct rl_session *s, struct pl_ctx *c,
                          const struct tx_plan *p, bool dry)
{
	uint64_t nf, fb, fa;
	char sz[32], sc[32];

	frag_sums(c, &nf, &fb, &fa);
	if (s->json) {
		cJSON *o = cJSON_CreateObject(), *a, *r;
		char *line, *save = NULL,
		            *rep = strdup(c->report ? c->report : "");

		cJSON_AddBoolToObject(o, "dry_run", dry);
		cJSON_AddBoolToObject(o, "pending", s->plan_mode && !dry);
		cJSON_AddStringToObject(o, "plan",
		                        p->command ? p->command : "");
		out_add_u64(o, "bytes", p->total);
		out_add_u64(o, "scratch_bytes", c->scratch_peak);
		if (c->has_min) {
			out_add_u64(o, "min_bytes", c->min_bytes);
			out_add_u64(o, "fixed_bytes", c->fixed_bytes);
			out_add_u64(o, "whole_bytes", c->whole_bytes);
			out_add_u64(o, "whole_for_bytes", c->whole_for);
			/* ext4: single blocks kept free for extent-tree
			 * blocks, and how many files were given one */
			out_add_u64(o, "tree_blocks_kept", c->nholes);
			out_add_u64(o, "tree_blocks_given", c->holes_used);
		}
		out_add_u64(o, "files", nf);
		cJSON *fr = cJSON_AddObjectToObject(o, "fragmentation");
		out_add_u64(fr, "regions_before", fb);
		out_add_u64(fr, "regions_after", fa);
		a = cJSON_AddArrayToObject(o, "steps");
		for (size_t i = 0; i < p->nsteps; i++) {
			cJSON *e = session_step_json(&p->steps[i]);
			if (i < c->nmv && c->mv[i].why)
				cJSON_AddStringToObject(e, "why", c->mv[i].why);
			cJSON_AddItemToArray(a, e);
		}
		r = cJSON_AddArrayToObject(o, "report");
		for (line = rep ? strtok_r(rep, "\n", &save) : NULL; line;
		     line = strtok_r(NULL, "\n", &save))
			cJSON_AddItemToArray(r, cJSON_CreateString(line));
		free(rep);
		out_json_emit(s, o);
		return;
	}
	out_report(s->out, c->report);
	units_format_size(p->total, sz, sizeof(sz));
	units_format_size(c->scratch_peak, sc, sizeof(sc));
	fprintf(s->out, "plan: %zu step%s, %s to move", p->nsteps,
	        p->nsteps == 1 ? "" : "s", sz);
	if (c->has_min)
		print_min(s, p->total, c->min_bytes);
	fprintf(s->out,
	        "; %" PRIu64 " file%s: %" PRIu64 " contiguous runs -> %" PRIu64
	        " (predicted)%s%s\n",
	        nf, nf == 1 ? "" : "s", fb, fa,
	        c->scratch_peak ? "; scratch " : "", c->scratch_peak ? sc : "");
	if (dry) {
		for (size_t i = 0; i < p->nsteps; i++) {
			const struct tx_step *st = &p->steps[i];
			char to[40];

			units_format_size(st->bytes, sz, sizeof(sz));
			snprintf(to, sizeof(to), "0x%" PRIx64,
			         st->range.ntarget
			             ? st->range.target[0].physical
			             : 0);
			fprintf(s->out,
			        "  step %zu: %s [%" PRIu64 ", %" PRIu64
			        ") %s -> %s%s%s\n",
			        i + 1, st->range.path, st->range.offset,
			        st->range.offset + st->range.length, sz,
			        st->anyplace ? "where the allocator puts it"
			                     : to,
			        i < c->nmv && c->mv[i].why ? " " : "",
			        i < c->nmv && c->mv[i].why ? c->mv[i].why : "");
		}
		fprintf(s->out, "nothing was changed (--dry-run)\n");
	}
}

enum pl_kind { PK_DEFRAG, PK_COMPACT, PK_EVACUATE, PK_GROUP, PK_SHRINK };

static int push_id(uint32_t **a, size_t *k, size_t *cap, uint32_t id)
{
	if (mem_grow(a, cap, *k + 1, sizeof(**a)) < 0)
		return -ENOMEM;
	(*a)[(*k)++] = id;
	return 0;
}

/* Resolve PATH arguments to file ids (directories with --recursive);
 * abs[i] (c->argc entries, freed by the caller): argument i as an
 * absolute path, for the journal. */
static int collect_files(struct rl_session *s, struct lm_model *m,
                         const struct cmd_call *c, bool recursive, bool dirs_ok,
                         uint32_t **ids, size_t *n, char **abs)
{
	size_t cap = 64, k = 0, nf = lm_file_count(m);
	uint32_t *a = malloc(cap * sizeof(*a));

	if (!a)
		return -ENOMEM;
	for (int i = 0; i < c->argc; i++) {
		char rel[RL_PATH_MAX];
		uint32_t id;
		const struct lm_file *f;

		if (session_model_path(s, m, c->argv[i], rel, sizeof(rel)) <
		    0) {
			free(a);
			return -EINVAL;
		}
		if (c->argv[i][0] == '/')
			; /* as typed */
		else if (strcmp(rel, ".") == 0)
			abs[i] = strdup(s->fs.mountpoint);
		else if (asprintf(&abs[i], "%s/%s",
		                  strcmp(s->fs.mountpoint, "/")
		                      ? s->fs.mountpoint
		                      : "",
		                  rel) < 0)
			abs[i] = NULL;
		id = lm_find_path(m, rel);
		if (id == LM_NONE) {
			session_error(s,
			              "%s: not in the layout model (not on "
			              "the volume, or created after the scan: "
			              "run 'scan')",
			              c->argv[i]);
			free(a);
			return -ENOENT;
		}
		f = lm_file(m, id);
		if (S_ISDIR(f->mode)) {
			size_t rl = strlen(rel);
			if (!recursive || !dirs_ok) {
				session_error(
				    s, "%s is a directory%s", c->argv[i],
				    dirs_ok ? " (--recursive takes the "
				              "files under it)"
				            : "");
				free(a);
				return -EISDIR;
			}
			for (uint32_t q = 0; q < nf; q++) {
				const struct lm_file *g = lm_file(m, q);
				const char *p = lm_file_path(m, q, 0);
				if (!S_ISREG(g->mode) || !p)
					continue;
				if (strcmp(rel, ".") &&
				    (strncmp(p, rel, rl) || p[rl] != '/'))
					continue;
				if (push_id(&a, &k, &cap, q) < 0) {
					free(a);
					return -ENOMEM;
				}
			}
			continue;
		}
		if (push_id(&a, &k, &cap, id) < 0) {
			free(a);
			return -ENOMEM;
		}
	}
	*ids = a;
	*n = k;
	return 0;
}

/* One planner command: its context, arguments and plan (plan_run_free
 * ends all of them). */
struct plan_run {
	struct pl_ctx ctx;
	struct session_plan_hooks hooks;
	uint32_t *ids;
	size_t nids;
	char *abs[CMD_MAX_ARGS];
	struct tx_plan p;
};

static void plan_run_free(struct plan_run *pr, const struct cmd_call *c)
{
	for (int i = 0; i < c->argc; i++)
		free(pr->abs[i]);
	free(pr->ids);
	tx_plan_free(&pr->p);
	session_plan_fini(&pr->ctx, &pr->hooks);
}

int cmd_plan_init(struct rl_session *s, const struct cmd_call *c,
                  struct lm_model *m, struct pl_ctx *ctx,
                  struct session_plan_hooks *hooks)
{
	int r = session_plan_init(ctx, hooks, s, m);

	if (r < 0) {
		session_error(s, "cannot plan: %s",
		              r == -ENODATA ? "the free-space map is not "
		                              "available (it needs root)"
		                            : rl_strerror(r));
		return r;
	}
	ctx->unshare = cmd_has_opt(c, "unshare", NULL);
	return 0;
}

/* The planning context from the model, on top of the pending plan in
 * plan mode. */
static enum cmd_status plan_start(struct rl_session *s,
                                  const struct cmd_call *c, struct lm_model *m,
                                  struct plan_run *pr)
{
	int r;

	if (cmd_plan_init(s, c, m, &pr->ctx, &pr->hooks) < 0)
		return CMD_FAIL;
	pr->ctx.excl = s->plan_excl;
	pr->ctx.nexcl = s->nplan_excl;
	if (s->plan_mode && s->pending &&
	    (r = pl_replay(&pr->ctx, s->pending, s->fs.mountpoint)) < 0) {
		session_error(s,
		              "the pending plan does not fit the model any "
		              "more (%s): 'discard' it",
		              rl_strerror(r));
		return CMD_FAIL;
	}
	/* targets only where the filesystem will allocate (XFS: never an
	 * AG's reservation) */
	r = pl_keep_group_free(
	    &pr->ctx,
	    pl_xfs_group_keep(pr->ctx.g,
	                      pl_fm_bytes(&pr->ctx.fm, 0, pr->ctx.g->fs.size)));
	if (r < 0) {
		session_error(s, "cannot plan: %s", rl_strerror(r));
		return CMD_FAIL;
	}
	return CMD_OK;
}

/* START END of compact and evacuate: a non-empty range in the volume. */
static enum cmd_status plan_range(struct rl_session *s,
                                  const struct cmd_call *c, uint64_t *a,
                                  uint64_t *b)
{
	if (c->argc == 0) { /* the whole volume */
		*a = 0;
		*b = s->fs.size;
		return CMD_OK;
	}
	if (c->argc != 2) {
		session_error(s,
		              "START and END, or neither (the whole volume)");
		return CMD_USAGE;
	}
	if (session_arg_size(s, "START", c->argv[0], a) < 0 ||
	    session_arg_size(s, "END", c->argv[1], b) < 0)
		return CMD_USAGE;
	if (*b <= *a || *b > s->fs.size) {
		session_error(s,
		              "START..END must be a non-empty range inside "
		              "the volume (0..0x%" PRIx64 ")",
		              (uint64_t)s->fs.size);
		return CMD_USAGE;
	}
	return CMD_OK;
}

/* A partial model's anchor files (defrag_prefilter) are not the
 * command's: out of ids (counted in the note of the files left out). */
static void drop_seeds(const struct rl_session *s, const struct lm_model *m,
                       uint32_t *ids, size_t *n)
{
	size_t k = 0;

	if (!s->model_partial || !s->model_nseeds)
		return;
	for (size_t i = 0; i < *n; i++) {
		const struct lm_file *f = lm_file(m, ids[i]);
		if (f && bsearch(&f->ino, s->model_seeds, s->model_nseeds,
		                 sizeof(*s->model_seeds), mem_cmp_u64))
			continue;
		ids[k++] = ids[i];
	}
	*n = k;
}

/* Read the command's arguments and run the planner: CMD_OK with its
 * result in *r (the reason in pr->ctx.outcome), or the arguments'
 * status. */
static enum cmd_status plan_compute(struct rl_session *s,
                                    const struct cmd_call *c, enum pl_kind kind,
                                    struct lm_model *m, struct plan_run *pr,
                                    int *r)
{
	struct pl_defrag_opts o = {0};
	struct pl_evac_report er;
	const char *v;
	uint64_t a = 0, b = 0;
	enum cmd_status st = CMD_OK;

	switch (kind) {
	case PK_DEFRAG:
		if (cmd_has_opt(c, "min-extents", &v) &&
		    session_arg_size(s, "--min-extents", v, &o.min_extents) < 0)
			return CMD_USAGE;
		if (collect_files(s, m, c, cmd_has_opt(c, "recursive", NULL),
		                  true, &pr->ids, &pr->nids, pr->abs) < 0)
			return CMD_FAIL;
		drop_seeds(s, m, pr->ids, &pr->nids);
		*r = pl_defrag(&pr->ctx, pr->ids, pr->nids, &o);
		if (s->model_partial && s->model_passed &&
		    cmd_has_opt(c, "recursive", NULL))
			pl_note(&pr->ctx,
			        "skip ...: already optimal: %" PRIu64
			        " files of the volume have one extent or none "
			        "(XFS bulkstat)",
			        s->model_passed);
		break;
	case PK_COMPACT:
		st = plan_range(s, c, &a, &b);
		if (st == CMD_OK)
			*r = pl_compact(&pr->ctx, a, b);
		break;
	case PK_EVACUATE:
		st = plan_range(s, c, &a, &b);
		if (st == CMD_OK)
			*r = pl_evacuate(&pr->ctx, a, b, &er);
		break;
	case PK_SHRINK:
		/* shrink SIZE: everything from SIZE to the end goes */
		if (session_arg_size(s, "SIZE", c->argv[0], &a) < 0)
			return CMD_USAGE;
		*r = pl_evacuate(&pr->ctx, a, s->fs.size, &er);
		break;
	case PK_GROUP:
		if (!cmd_has_opt(c, "to", &v)) {
			session_error(s, "--to GOAL is required");
			return CMD_USAGE;
		}
		if (session_arg_size(s, "GOAL", v, &a) < 0)
			return CMD_USAGE;
		b = 0;
		if (cmd_has_opt(c, "end", &v)) {
			if (session_arg_size(s, "END", v, &b) < 0)
				return CMD_USAGE;
			if (b <= a) {
				session_error(s,
				              "--end END must lie above GOAL");
				return CMD_USAGE;
			}
		}
		if (collect_files(s, m, c, false, false, &pr->ids, &pr->nids,
		                  pr->abs) < 0)
			return CMD_FAIL;
		*r = pl_group_in(&pr->ctx, pr->ids, pr->nids, a, b,
		                 cmd_has_opt(c, "make-room", NULL));
		break;
	}
	return st;
}

/* Does the refusal name this reason? Not those it never named (the
 * report printed above it shows them). */
static bool refusal_names(enum pl_code k)
{
	switch (k) {
	case PL_DONE:
	case PL_REGION_EMPTY:
	case PL_GOAL_UNALIGNED:
	case PL_AWAY_FAILED:
	case PL_ROOM_PINNED:
		return false;
	default:
		return true;
	}
}

/* The planner returned r < 0: the report, then why nothing runs. */
static void plan_refuse(struct rl_session *s, struct pl_ctx *ctx, int r)
{
	char why[1024] = "";

	if (ctx->report && !s->json)
		out_report(s->err, ctx->report);
	if (refusal_names(ctx->outcome.code))
		pl_outcome_format(ctx, &ctx->outcome, why, sizeof(why));
	/* what is in the way is the reason: no errno text for it */
	if (ctx->outcome.code == PL_TARGET_NOT_FREE ||
	    ctx->outcome.code == PL_REGION_NO_RUN)
		session_error(s,
		              "refusing a plan that cannot complete: %s; "
		              "nothing was changed",
		              why);
	else
		session_error(s,
		              "refusing a plan that cannot complete: %s%s(%s); "
		              "nothing was changed",
		              why, *why ? " " : "", rl_strerror(r));
}

/* After a step whose placement missed (the apply failed at step
 * s->last_steps_done), remember its targets: --retry plans around
 * them. */
static void plan_note_missed(struct rl_session *s, const struct tx_plan *p)
{
	if (s->plan_mode ||
	    (s->last_err != -EBUSY && s->last_err != -ENOSPC &&
	     s->last_err != -EINVAL && s->last_err != -EOPNOTSUPP) ||
	    s->last_steps_done >= p->nsteps)
		return;
	(void)session_exclude_targets(&s->plan_excl, &s->nplan_excl,
	                              &p->steps[s->last_steps_done]);
}

/* compact, every step applied: the region's free space now against the
 * plan's prediction, said when it is in more runs (what is in use there
 * no step put there). */
static void check_runs(struct rl_session *s, const struct cmd_call *c,
                       const struct pl_ctx *ctx)
{
	struct rl_free_extent *fe = NULL;
	uint64_t fb = 0, big = 0, below = 0, used;
	char a[32], b[32], u[32];
	size_t n = 0, runs = 0;

	if (!ctx->run_hi || ctx->run_hi <= ctx->run_lo)
		return;
	/* blocks the steps freed show as free once settled */
	session_settle(s);
	/* One read from the region's start: below the boundary, more free
	 * than the plan left there is blocks in use by no file at the scan
	 * that the apply let go (ext4: what mballoc had preallocated for a
	 * file, given back when the move closed it; extent-tree blocks of
	 * files now in fewer extents; XFS: blocks past a file's end trimmed
	 * at its close): the next round moves the data above into them
	 * (run). From the boundary on: its runs. */
	if (rl_free_list(s->fs.mountpoint, ctx->run_start, ctx->run_hi, &fe,
	                 &n) < 0)
		n = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t x = fe[i].start, e = x + fe[i].len;
		uint64_t lo = x > ctx->run_start ? x : ctx->run_start;
		uint64_t hi = e < ctx->run_lo ? e : ctx->run_lo;

		below += hi > lo ? hi - lo : 0;
		x = x > ctx->run_lo ? x : ctx->run_lo;
		e = e < ctx->run_hi ? e : ctx->run_hi;
		if (e <= x)
			continue;
		runs++;
		fb += e - x;
		if (e - x > big)
			big = e - x;
	}
	s->plan_freed = below > ctx->run_below ? below - ctx->run_below : 0;
	free(fe);
	if (runs <= ctx->run_count || !fb)
		return;
	/* of what the plan left free there (blocks that stay are not free
	 * in either) */
	used = ctx->run_free > fb ? ctx->run_free - fb : 0;
	units_format_size(big, a, sizeof(a));
	units_format_size(fb, b, sizeof(b));
	units_format_size(used, u, sizeof(u));
	fprintf(s->json ? s->err : s->out,
	        "%s: the free space from 0x%" PRIx64 " to the end is in %zu "
	        "runs, not %zu as planned: the largest %s of %s (%u%%); %s "
	        "the plan left free there is in use: data written "
	        "since the plan, or blocks the filesystem placed itself (ext4: "
	        "the extent-tree block of a file split past the four extents "
	        "its inode holds)\n",
	        c->def->name, ctx->run_lo, runs, ctx->run_count, a, b,
	        (unsigned)(big * 100 / fb), u);
}

/* How often a plan is checked again while writers keep taking its targets
 * (RELAYOUT_PLAN_CHECKS, 0-64; default 8); then the rest is applied
 * unchecked, a step whose target was taken being skipped. */
static int plan_checks(void)
{
	const char *e = getenv("RELAYOUT_PLAN_CHECKS");
	char *end;
	long v;

	if (!e || !*e)
		return 8;
	v = strtol(e, &end, 10);
	return *end || v < 0 ? 8 : v > 64 ? 64 : (int)v;
}

/* The planned moves as a plan: printed, and applied (or added to the
 * pending plan) unless --dry-run. */
static enum cmd_status plan_finish(struct rl_session *s,
                                   const struct cmd_call *c,
                                   struct plan_run *pr, bool dry,
                                   const char *jdir)
{
	struct tx_plan *p = &pr->p;
	enum cmd_status st;
	int r = pl_to_plan(&pr->ctx, s->fs.mountpoint, p);

	if (r < 0) {
		session_error(s, "cannot plan: %s", rl_strerror(r));
		return CMD_FAIL;
	}
	if (p->nsteps == 0) {
		if (s->json)
			print_planned(s, &pr->ctx, p, true);
		else {
			out_report(s->out, pr->ctx.report);
			fprintf(s->out, "nothing to do\n");
		}
		return CMD_OK;
	}
	if (dry || !s->json)
		print_planned(s, &pr->ctx, p, dry);
	if (dry)
		return CMD_OK;
	if (!s->plan_mode) {
		char why[2048];
		uint64_t busy[2];
		r = session_check_targets_busy(s, p, why, sizeof(why), busy,
		                               true);
		if (r == 1 && busy[1] > busy[0])
			/* --retry plans again around it (XFS frees the
			 * donors of a failed transaction in the
			 * background: their blocks can still be in use
			 * when the next plan is checked) */
			(void)session_exclude_range(
			    &s->plan_excl, &s->nplan_excl, busy[0], busy[1]);
		/* A writer took some targets since the plan: the other
		 * steps run, those (and the ones that need what they
		 * would free) are planned again after them. Checked
		 * again after each drop: a steady writer takes more
		 * while the check reads (torture.sh: 60-80 of 1,270
		 * steps each time, three times in a row). */
		int checks = plan_checks();

		/* After that many checks, each finding another target taken
		 * (the churn of torture.sh on a 58 %-full XFS volume: nine in
		 * a row, round after round, nothing applied), what the last
		 * one found is left out and the rest applied unchecked: a
		 * target taken meanwhile makes its step fail before it moves
		 * anything, and the apply skips it with the steps that depend
		 * on it (tx_opts.skip_missed); the next round plans them. */
		for (int k = 0; r == 1 && s->plan_drop_ok && busy[1] > busy[0];
		     k++) {
			ssize_t nd = session_drop_busy(s, p);
			bool last = k >= checks;

			if (nd <= 0)
				break;
			s->plan_left_out += (size_t)nd;
			fprintf(s->err,
			        "relayout: %s: %zd step%s left out: %s; %sthe "
			        "%zu other%s%s\n",
			        c->def->name, nd, nd == 1 ? "" : "s", why,
			        last ? "" : "planned again after ", p->nsteps,
			        p->nsteps == 1 ? "" : "s",
			        last
			            ? " applied without checking again (a step "
			              "whose target is taken meanwhile is "
			              "skipped)"
			            : "");
			if (last) {
				r = 0;
				break;
			}
			/* (no walk naming the owners: the writer goes on
			 * meanwhile) */
			r = session_check_targets_busy(s, p, why, sizeof(why),
			                               busy, false);
		}
		if (r != 0) {
			session_error(s,
			              "%s (the layout changed since the scan? "
			              "'scan' again); nothing was changed",
			              why);
			return CMD_FAIL;
		}
	}
	if (s->json && pr->ctx.report && !s->plan_mode)
		fputs(pr->ctx.report, s->err);
	s->last_err = 0;
	st = session_apply_plan(s, c, p, jdir);
	if (st != CMD_OK)
		plan_note_missed(s, p);
	if (pr->ctx.has_min && !s->json && !s->plan_mode) {
		uint64_t done = s->last_bytes_done;
		char m[32];
		units_format_size(done, m, sizeof(m));
		fprintf(s->out, "%s: moved %s in %zu of %zu steps",
		        c->def->name, m, s->last_steps_done, p->nsteps);
		print_min(s, done, pr->ctx.min_bytes);
		fprintf(s->out, "\n");
	}
	if (st == CMD_OK && !s->plan_mode && s->last_steps_done == p->nsteps &&
	    !s->plan_left_out)
		check_runs(s, c, &pr->ctx);
	return st;
}

/* Files in one extent the partial model takes too, per AG: the first
 * ones by inode number (their data lies low in the AG, near their inode
 * chunk): the apply finds an anchor for its XFS targets among them
 * (tx_opts.anchors) instead of walking the whole volume for one. */
#define FRAG_SEEDS_PER_AG 4

struct frag_inos {
	uint64_t *v;
	size_t n, cap;
	uint64_t whole; /* regular files in one extent or none, not taken */
	const struct rl_fs_info *fs;
	uint8_t *seeds; /* per AG: seed files taken */
	uint64_t *sv;   /* and their inode numbers */
	size_t sn, scap;
	bool named_only; /* not --recursive: only the files named (and the
	                    seeds) */
};

static int frag_take(struct frag_inos *f, uint64_t ino)
{
	if (mem_grow(&f->v, &f->cap, f->n + 1, sizeof(*f->v)) < 0)
		return -ENOMEM;
	f->v[f->n++] = ino;
	return 0;
}

static int frag_cb(const struct rl_inode_stat *is, void *arg)
{
	struct frag_inos *f = arg;

	if (!S_ISREG(is->mode))
		return 0;
	if (is->extents < 2) {
		unsigned sh = f->fs->xfs_agblklog + f->fs->xfs_inopblog;
		uint64_t ag = sh < 64 ? is->ino >> sh : 0;

		f->whole++; /* a seed too: not the command's */
		if (!f->seeds || is->extents != 1 || ag >= f->fs->group_count ||
		    is->size < 2ull * f->fs->block_size ||
		    f->seeds[ag] >= FRAG_SEEDS_PER_AG)
			return 0;
		f->seeds[ag]++;
		if (mem_grow(&f->sv, &f->scap, f->sn + 1, sizeof(*f->sv)) < 0)
			return -ENOMEM;
		f->sv[f->sn++] = is->ino;
		return frag_take(f, is->ino);
	}
	return f->named_only ? 0 : frag_take(f, is->ino);
}

/* defrag on XFS, no model yet: as xfs_fsr does, the extent count of
 * every inode first (one bulkstat walk, no file opened); only the
 * regular files in two or more extents, and the files named, are then
 * looked at (a partial model, dropped when the command ends): a file in
 * one extent is one run, nothing to defragment. The dirty data is
 * written first (syncfs: data not yet allocated has no extent). Any
 * failure (not root, an old kernel): the whole volume is scanned as
 * always. */
static void defrag_prefilter(struct rl_session *s, const struct cmd_call *c)
{
	struct frag_inos f = {0};
	struct scan_stats st;
	char **rels = NULL; /* the directories named */
	size_t nrels = 0;
	bool dirs_only = true;
	int fd;

	if (s->model || s->plan_mode || s->read_only_snapshot ||
	    session_volume(s) < 0 || s->fs.type != RL_FS_XFS)
		return;
	fd = open(s->fs.mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	(void)syncfs(fd);
	f.fs = &s->fs;
	f.named_only = !cmd_has_opt(c, "recursive", NULL);
	f.seeds = calloc(s->fs.group_count ? s->fs.group_count : 1, 1);
	if (rl_inode_walk(&s->fs, frag_cb, &f) < 0)
		goto out;
	mem_sort(f.v, f.n, sizeof(*f.v), mem_cmp_u64); /* bsearch below */
	mem_sort(f.sv, f.sn, sizeof(*f.sv), mem_cmp_u64);
	rels = calloc((size_t)c->argc + 1, sizeof(*rels));
	if (!rels)
		goto out;
	for (int i = 0; i < c->argc; i++) {
		char rel[RL_PATH_MAX];
		struct stat sb;

		if (session_resolve_quiet(s, c->argv[i], rel, sizeof(rel)) < 0)
			goto out; /* the whole scan, then the error, once */
		if (fstatat(fd, rel, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			dirs_only = false;
			continue;
		}
		if (S_ISDIR(sb.st_mode) && dirs_only &&
		    !(rels[nrels++] = strdup(rel)))
			goto out;
		if (!S_ISREG(sb.st_mode))
			continue;
		dirs_only = false;
		uint64_t ino = sb.st_ino, *seed;
		seed = bsearch(&ino, f.sv, f.sn, sizeof(*f.sv), mem_cmp_u64);
		if (seed) { /* named: the command's after all */
			memmove(seed, seed + 1,
			        (size_t)(f.sv + --f.sn - seed) * sizeof(*seed));
			f.whole--;
		}
		if (bsearch(&ino, f.v, f.n, sizeof(*f.v), mem_cmp_u64))
			continue; /* taken already, or named twice */
		if (frag_take(&f, ino) < 0)
			goto out;
		/* opened: not among the ones left out */
		if (f.whole)
			f.whole--;
		mem_sort(f.v, f.n, sizeof(*f.v), mem_cmp_u64);
	}
	if (f.n == f.sn && dirs_only && nrels && !f.named_only) {
		/* nothing to defragment on the volume: a model of the
		 * directories named (the plan is empty), no walk */
		(void)session_scan_dirs(s, (const char *const *)rels, nrels,
		                        f.whole, &st);
	} else if (session_scan_only(s, f.v, f.n, f.whole, &st) == 0) {
		s->model_seeds = f.sv;
		s->model_nseeds = f.sn;
		f.sv = NULL;
	}
out:
	close(fd);
	for (size_t i = 0; rels && i < nrels; i++)
		free(rels[i]);
	free(rels);
	free(f.v);
	free(f.seeds);
	free(f.sv);
}

static enum cmd_status do_plan_cmd(struct rl_session *s,
                                   const struct cmd_call *c, enum pl_kind kind)
{
	bool dry = cmd_has_opt(c, "dry-run", NULL);
	const char *jdir = NULL;
	struct lm_model *m;
	struct plan_run pr;
	enum cmd_status st;
	int r = 0;

	cmd_has_opt(c, "journal-dir", &jdir);
	/* btrfs: defrag needs no exact placement (pl_ctx.anyplace) */
	if (!(kind == PK_DEFRAG && s->fs.type == RL_FS_BTRFS) &&
	    !session_placement_supported(s))
		return CMD_FAIL;
	if (kind == PK_DEFRAG)
		defrag_prefilter(s, c);
	/* a region's plan reads the attributes of most files in it */
	m = kind == PK_COMPACT || kind == PK_EVACUATE || kind == PK_SHRINK
	        ? session_model_attrs(s)
	        : session_model(s);
	if (!m)
		return CMD_FAIL;
	memset(&pr, 0, sizeof(pr));
	tx_plan_init(&pr.p);
	st = plan_start(s, c, m, &pr);
	if (st == CMD_OK)
		st = plan_compute(s, c, kind, m, &pr, &r);
	if (st == CMD_OK) {
		pr.p.command = cmd_call_text(c, (const char *const *)pr.abs);
		if (r < 0) {
			plan_refuse(s, &pr.ctx, r);
			st = CMD_FAIL;
		} else {
			st = plan_finish(s, c, &pr, dry, jdir);
		}
	}
	plan_run_free(&pr, c);
	return st;
}

/* A missed placement does not end a defrag, compact, evacuate or
 * shrink: by default it plans again around it this many times. A group
 * promises exact places: only with --retry. */
#define PLAN_RETRIES_DEFAULT 3
/* Rounds that applied steps do not count as retries (a volume in use: a
 * writer keeps taking targets, each round moves part of the rest), up to
 * this many beyond the retries. */
#define PLAN_PROGRESS_ROUNDS 16
/* compact: rounds for space below the boundary that came free during an
 * apply (check_runs, s->plan_freed), at most this many, and after the
 * first only while no more comes free each time (ext4: each round's
 * moves let go of the preallocations of the files it moved, a few
 * blocks each; on a 128 MiB aged volume 828 KiB, then 8 KiB a round for
 * seven rounds; on another 16 KiB, then 16 KiB again). What still came
 * free after the last round is said. */
#define PLAN_FREED_ROUNDS 8

/* --retry N: after a step whose placement missed (the plan stops there,
 * earlier steps stay), plan again from the layout now, avoiding the
 * missed targets: up to N more transactions. */
static enum cmd_status run(struct rl_session *s, const struct cmd_call *c,
                           enum pl_kind k)
{
	const char *v;
	uint64_t retries = k == PK_GROUP ? 0 : PLAN_RETRIES_DEFAULT;
	enum cmd_status st;
	size_t nexcl;

	if (cmd_has_opt(c, "retry", &v) &&
	    (units_parse_size(v, &retries) < 0 || retries > 100)) {
		session_error(s, "--retry '%s': a count 0..100", v);
		return CMD_USAGE;
	}
	s->plan_drop_ok = k != PK_GROUP;
	uint64_t freed_rounds = 0, freed_last = 0;
	for (uint64_t round = 0, used = 0;; round++) {
		char when[64];

		nexcl = s->nplan_excl;
		s->plan_left_out = 0;
		s->plan_freed = 0;
		s->last_err = 0;
		s->last_steps_done = 0;
		st = do_plan_cmd(s, c, k);
		/* compact: space below its boundary came free during the apply
		 * (check_runs): another round, while no more comes free */
		bool freed = k == PK_COMPACT && st == CMD_OK &&
		             !s->plan_left_out && s->plan_freed &&
		             freed_rounds < PLAN_FREED_ROUNDS &&
		             (!freed_rounds || s->plan_freed <= freed_last);
		/* steps applied this round: the next is no retry (--retry 0:
		 * one round, as asked) */
		bool progress =
		    s->last_steps_done > 0 && s->plan_drop_ok && retries > 0;
		if (!progress)
			used++;
		/* a stop (SIGINT, SIGTERM, a cancel) ends the command */
		if (s->last_err == -EINTR || s->stop_signal)
			break;
		if (used > retries || round >= retries + PLAN_PROGRESS_ROUNDS ||
		    cmd_has_opt(c, "dry-run", NULL) ||
		    (st == CMD_OK && !s->plan_left_out && !freed) ||
		    (st == CMD_FAIL && s->nplan_excl == nexcl) ||
		    (st != CMD_OK && st != CMD_FAIL))
			break;
		if (progress)
			snprintf(when, sizeof(when),
			         "round %" PRIu64 ": %zu step%s applied in the "
			         "last",
			         round + 2, s->last_steps_done,
			         s->last_steps_done == 1 ? "" : "s");
		else
			snprintf(when, sizeof(when),
			         "retry %" PRIu64 " of %" PRIu64, used,
			         retries);
		if (freed) {
			char b[32];

			freed_rounds++;
			freed_last = s->plan_freed;
			units_format_size(s->plan_freed, b, sizeof(b));
			fflush(s->out);
			fprintf(
			    s->err,
			    "relayout: %s: %s below the plan's boundary came "
			    "free during the apply (blocks no file held at "
			    "the scan: ext4 preallocations, extent-tree "
			    "blocks, blocks past a file's end): planning "
			    "again (%s)\n",
			    c->def->name, b, when);
		} else if (st == CMD_OK)
			fprintf(s->err,
			        "relayout: %s: planning again for the %zu "
			        "step%s left out (%s)\n",
			        c->def->name, s->plan_left_out,
			        s->plan_left_out == 1 ? "" : "s", when);
		else
			fprintf(s->err,
			        "relayout: %s: a target was missed or in use: "
			        "planning again around it (%s)\n",
			        c->def->name, when);
		/* the donors it held are free again; the filesystem's own
		 * allocations of the apply are seen */
		session_settle_replan(s);
	}
	if (st == CMD_OK && s->plan_freed && !s->plan_left_out &&
	    !cmd_has_opt(c, "dry-run", NULL)) {
		char b[32];

		units_format_size(s->plan_freed, b, sizeof(b));
		fprintf(s->json ? s->err : s->out,
		        "%s: %s below the plan's boundary came free during "
		        "the last apply and stays free (blocks no file held at "
		        "the scan; %s)\n",
		        c->def->name, b,
		        !retries ? "no round for it with --retry 0"
		        : freed_rounds >= PLAN_FREED_ROUNDS
		            ? "the rounds for such blocks are used up"
		        : freed_rounds && s->plan_freed > freed_last
		            ? "more than in the round before"
		            : "the command's rounds ended");
	}
	if (st == CMD_OK && s->plan_left_out) {
		session_error(s,
		              "%zu step%s left out: their targets were taken "
		              "since the plan in every round (a writer "
		              "allocating there); the rest is applied: run it "
		              "again, or with a larger --retry",
		              s->plan_left_out,
		              s->plan_left_out == 1 ? "" : "s");
		st = CMD_FAIL;
	}
	s->plan_drop_ok = false;
	s->plan_left_out = 0;
	free(s->plan_changed);
	s->plan_changed = NULL;
	s->nplan_changed = 0;
	free(s->plan_excl);
	s->plan_excl = NULL;
	s->nplan_excl = 0;
	return st;
}

enum cmd_status cmd_defrag(struct rl_session *s, const struct cmd_call *c)
{
	enum cmd_status st = run(s, c, PK_DEFRAG);

	session_model_drop_partial(s);
	return st;
}

enum cmd_status cmd_compact(struct rl_session *s, const struct cmd_call *c)
{
	return run(s, c, PK_COMPACT);
}

/* evacuate --move-inodes (XFS): the files and directories whose inodes
 * (or directory blocks) lie in [START, END) get new inodes outside it
 * first (src/cmd_inodes.c); then the evacuation as without it. */
static enum cmd_status evacuate_inodes(struct rl_session *s,
                                       const struct cmd_call *c)
{
	bool dry = cmd_has_opt(c, "dry-run", NULL);
	struct inodes_report ir;
	uint64_t lo, hi;
	int r;

	if (s->fs.type != RL_FS_XFS) {
		session_error(s, "--move-inodes is for XFS (%s is %s)",
		              s->fs.mountpoint, s->fs.fstype);
		return CMD_USAGE;
	}
	if (s->plan_mode) {
		session_error(s,
		              "--move-inodes does not join a pending plan "
		              "(new inodes are not a step): 'plan off' first");
		return CMD_FAIL;
	}
	if (session_arg_size(s, "START", c->argv[0], &lo) < 0 ||
	    session_arg_size(s, "END", c->argv[1], &hi) < 0)
		return CMD_USAGE;
	if (hi <= lo) {
		session_error(s, "END must be above START");
		return CMD_USAGE;
	}
	r = inodes_move(s, lo, hi, true, &ir);
	free(ir.clear);
	if (r < 0)
		return CMD_FAIL;
	inodes_print(s, &ir, dry);
	if (dry)
		return CMD_OK;
	r = inodes_move(s, lo, hi, false, &ir);
	free(ir.clear);
	inodes_print_done(s, &ir);
	return r < 0 ? CMD_FAIL : CMD_OK;
}

enum cmd_status cmd_evacuate(struct rl_session *s, const struct cmd_call *c)
{
	if (cmd_has_opt(c, "move-inodes", NULL)) {
		enum cmd_status st = evacuate_inodes(s, c);
		if (st != CMD_OK)
			return st;
	}
	return run(s, c, PK_EVACUATE);
}

enum cmd_status cmd_group(struct rl_session *s, const struct cmd_call *c)
{
	return run(s, c, PK_GROUP);
}

enum cmd_status cmd_plan_evacuate_tail(struct rl_session *s,
                                       const struct cmd_call *c)
{
	return run(s, c, PK_SHRINK);
}

/* ------------------------------------------------------------ plan mode */

enum cmd_status cmd_plan(struct rl_session *s, const struct cmd_call *c)
{
	if (c->argc == 0) {
		fprintf(s->out, "plan mode %s; pending plan: %zu steps\n",
		        s->plan_mode ? "on" : "off",
		        s->pending ? s->pending->nsteps : 0);
		return CMD_OK;
	}
	if (strcmp(c->argv[0], "on") == 0)
		s->plan_mode = true;
	else if (strcmp(c->argv[0], "off") == 0)
		s->plan_mode = false;
	else {
		session_error(s, "on or off");
		return CMD_USAGE;
	}
	if (!s->json)
		fprintf(s->out, "plan mode %s%s\n", s->plan_mode ? "on" : "off",
		        !s->plan_mode && s->pending && s->pending->nsteps
		            ? " (the pending plan stays: 'apply' or 'discard')"
		            : "");
	return CMD_OK;
}

enum cmd_status cmd_preview(struct rl_session *s, const struct cmd_call *c)
{
	struct lm_model *m, *pm;
	enum cmd_status st = CMD_OK;

	if (!s->pending || s->pending->nsteps == 0) {
		session_error(s, "no pending plan ('plan on', then commands)");
		return CMD_FAIL;
	}
	m = session_model(s);
	if (!m)
		return CMD_FAIL;
	pm = pl_predict_model(m, s->pending, s->fs.mountpoint);
	if (!pm) {
		session_error(s,
		              "cannot predict the layout: the pending plan "
		              "does not fit the model any more ('discard' it)");
		return CMD_FAIL;
	}
	if (c->argc > 0) {
		static const char *const ok[] = {
		    "frag", "freefrag", "who", "show", "export", "info", NULL};
		char *line;
		bool allowed = false;

		for (int i = 0; ok[i]; i++)
			allowed |= strcmp(c->argv[0], ok[i]) == 0;
		if (!allowed) {
			session_error(s,
			              "preview runs frag, freefrag, who, show "
			              "or export on the predicted layout");
			lm_free(pm);
			return CMD_USAGE;
		}
		line = cmd_words_text(c->argv, c->argc);
		if (!line) {
			session_error(s, "out of memory");
			lm_free(pm);
			return CMD_FAIL;
		}
		s->model = pm;
		st = cmd_exec_line(s, line);
		s->model = m;
		free(line);
		lm_free(pm);
		return st;
	}
	{
		struct lm_vol_frag vb, va;
		struct lm_freefrag fb, fa;
		char sz[32];
		lm_volume_frag(m, NULL, NULL, &vb);
		lm_volume_frag(pm, NULL, NULL, &va);
		lm_freefrag(m, 0, lm_geometry(m)->fs.size, &fb);
		lm_freefrag(pm, 0, lm_geometry(m)->fs.size, &fa);
		units_format_size(s->pending->total, sz, sizeof(sz));
		if (s->json) {
			cJSON *o = cJSON_CreateObject(), *x;
			cJSON_AddStringToObject(
			    o, "plan",
			    s->pending->command ? s->pending->command : "");
			out_add_u64(o, "steps", s->pending->nsteps);
			out_add_u64(o, "bytes", s->pending->total);
			x = cJSON_AddObjectToObject(o, "before");
			out_add_u64(x, "fragmented_files", vb.fragmented);
			out_add_u64(x, "regions", vb.regions);
			out_add_u64(x, "free_extents", fb.extents);
			out_add_u64(x, "largest_free", fb.largest);
			x = cJSON_AddObjectToObject(o, "after");
			out_add_u64(x, "fragmented_files", va.fragmented);
			out_add_u64(x, "regions", va.regions);
			out_add_u64(x, "free_extents", fa.extents);
			out_add_u64(x, "largest_free", fa.largest);
			x = cJSON_AddArrayToObject(o, "steps_detail");
			for (size_t i = 0; i < s->pending->nsteps; i++)
				cJSON_AddItemToArray(
				    x,
				    session_step_json(&s->pending->steps[i]));
			out_json_emit(s, o);
		} else {
			fprintf(s->out,
			        "pending plan: %s\n  %zu steps, %s to "
			        "move\n",
			        s->pending->command ? s->pending->command : "",
			        s->pending->nsteps, sz);
			fprintf(s->out,
			        "  fragmented files %" PRIu64 " -> %" PRIu64
			        ", contiguous runs %" PRIu64 " -> %" PRIu64
			        "\n",
			        vb.fragmented, va.fragmented, vb.regions,
			        va.regions);
			fprintf(s->out,
			        "  free extents %" PRIu64 " -> %" PRIu64
			        ", largest free extent %" PRIu64 " -> %" PRIu64
			        " bytes\n",
			        fb.extents, fa.extents, fb.largest, fa.largest);
			fprintf(s->out,
			        "  ('preview frag|freefrag|who|show ...' "
			        "shows the predicted layout)\n");
		}
	}
	lm_free(pm);
	return st;
}

enum cmd_status cmd_apply(struct rl_session *s, const struct cmd_call *c)
{
	const char *jdir = NULL;
	enum cmd_status st;
	struct tx_plan *p = s->pending;

	if (!p || p->nsteps == 0) {
		session_error(s, "no pending plan");
		return CMD_FAIL;
	}
	cmd_has_opt(c, "journal-dir", &jdir);
	if (!session_plan_anyplace(p) && !session_placement_supported(s))
		return CMD_FAIL;
	s->pending = NULL;
	st = session_apply_now(s, c, p, jdir);
	tx_plan_free(p);
	free(p);
	return st;
}

enum cmd_status cmd_discard(struct rl_session *s, const struct cmd_call *c)
{
	size_t n = s->pending ? s->pending->nsteps : 0;

	(void)c;
	if (s->pending) {
		tx_plan_free(s->pending);
		free(s->pending);
		s->pending = NULL;
	}
	if (!s->json)
		fprintf(s->out, "pending plan discarded (%zu steps)\n", n);
	return CMD_OK;
}
