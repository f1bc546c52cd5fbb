/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Commands on the layout model: scan, frag, freefrag, who, show, find,
 * export, import, diff. */
#include "config.h"
#include "cmd_model.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "commands.h"
#include "layout_model.h"
#include "mem.h"
#include "output.h"
#include "scan.h"
#include "session.h"
#include "session_model.h"
#include "snapshot.h"
#include "units.h"

const struct cmd_opt cmd_opts_scan[] = {
    {"threads", "N", "worker threads (default 2)"},
    {NULL, NULL, NULL},
};
const struct cmd_opt cmd_opts_frag[] = {
    {"top", "N", "list the N most fragmented files (default 10)"},
    {NULL, NULL, NULL},
};
const struct cmd_opt cmd_opts_find[] = {
    {"next", NULL, "go to the next match of the last search (wraps)"},
    {"prev", NULL, "go to the previous match of the last search (wraps)"},
    {"all", NULL, "list every match (default: the first 20)"},
    {NULL, NULL, NULL},
};
const struct cmd_opt cmd_opts_freefrag[] = {
    {"groups", NULL, "also one line per block group / allocation group"},
    {NULL, NULL, NULL},
};

/* -------------------------------------------------------------- helpers */

static void free_map_note(struct rl_session *s, struct lm_model *m)
{
	int e = lm_free_map_status(m);

	if (e && !s->json)
		fprintf(s->out,
		        "note: free map unavailable (%s%s): free and "
		        "metadata space are not known\n",
		        rl_strerror(e), cmd_map_root_hint(e));
}

static const char *kind_name(enum lm_owner_kind k)
{
	switch (k) {
	case LM_OWN_FREE:
		return "free";
	case LM_OWN_META:
		return "metadata";
	case LM_OWN_FILE:
		return "file";
	default:
		return "unknown";
	}
}

static void to_rl(const struct lm_extent *e, size_t n, struct rl_extent *o)
{
	for (size_t i = 0; i < n; i++) {
		o[i].logical = e[i].logical;
		o[i].physical = e[i].physical;
		o[i].length = e[i].length;
		o[i].flags = e[i].flags;
	}
}

/* ----------------------------------------------------------------- scan */

enum cmd_status cmd_scan(struct rl_session *s, const struct cmd_call *c)
{
	struct scan_stats st;
	const char *tv;
	uint64_t threads = 0;

	if (cmd_has_opt(c, "threads", &tv) &&
	    (units_parse_size(tv, &threads) < 0 || threads < 1 ||
	     threads > 16)) {
		session_error(s, "--threads '%s': a number from 1 to 16", tv);
		return CMD_USAGE;
	}
	if (session_scan(s, (int)threads, &st) < 0)
		return CMD_FAIL;
	if (s->json) {
		cJSON *o = cJSON_CreateObject();
		out_add_name(o, "mountpoint", s->fs.mountpoint);
		out_add_u64(o, "files", st.files);
		out_add_u64(o, "directories", st.dirs);
		out_add_u64(o, "hardlinks", st.hardlinks);
		out_add_u64(o, "extents", st.extents);
		out_add_u64(o, "bytes", st.bytes);
		out_add_u64(o, "errors", st.errors);
		out_add_u64(o, "skipped", st.skipped);
		out_add_u64(o, "mounts_skipped", st.mounts);
		out_add_u64(o, "free_records", st.free_records);
		out_add_u64(o, "metadata_records", st.meta_records);
		if (st.free_map_err)
			cJSON_AddStringToObject(o, "free_map",
			                        rl_strerror(st.free_map_err));
		else
			cJSON_AddStringToObject(o, "free_map", "ok");
		cJSON_AddNumberToObject(o, "seconds", st.seconds);
		out_add_u64(o, "memory", lm_memory(s->model));
		return out_json_emit(s, o) < 0 ? CMD_FAIL : CMD_OK;
	}
	char b[32], mem[32];
	units_format_size(st.bytes, b, sizeof(b));
	units_format_size(lm_memory(s->model), mem, sizeof(mem));
	fprintf(s->out,
	        "%s: %" PRIu64 " files, %" PRIu64 " directories, %" PRIu64
	        " extra hard links, %" PRIu64 " extents (%s) in %.2f s\n",
	        OUT_ESC(s->fs.mountpoint), st.files, st.dirs, st.hardlinks,
	        st.extents, b, st.seconds);
	fprintf(s->out,
	        "%" PRIu64 " unreadable, %" PRIu64 " skipped "
	        "(symlinks, devices), %" PRIu64 " other mounts not "
	        "entered; %" PRIu64 " free and %" PRIu64
	        " metadata records; model %s\n",
	        st.errors, st.skipped, st.mounts, st.free_records,
	        st.meta_records, mem);
	free_map_note(s, s->model);
	return CMD_OK;
}

/* ----------------------------------------------------------------- frag */

struct frag_filter {
	char (*paths)[RL_PATH_MAX];
	int n;
};

static bool under(const char *p, const char *dir)
{
	size_t n = strlen(dir);

	if (strcmp(dir, ".") == 0)
		return true;
	return strncmp(p, dir, n) == 0 && (p[n] == '\0' || p[n] == '/');
}

static bool frag_want(const struct lm_model *m, uint32_t id, void *arg)
{
	struct frag_filter *ff = arg;
	const struct lm_file *f = lm_file(m, id);

	for (uint32_t k = 0; k < f->npaths; k++)
		for (int i = 0; i < ff->n; i++)
			if (under(lm_file_path(m, id, k), ff->paths[i]))
				return true;
	return false;
}

struct rank {
	uint32_t id;
	uint64_t excess;
	uint64_t extents;
};

static int cmp_rank(const void *a, const void *b)
{
	const struct rank *x = a, *y = b;

	if (x->excess != y->excess)
		return x->excess > y->excess ? -1 : 1;
	if (x->extents != y->extents)
		return x->extents > y->extents ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

enum cmd_status cmd_frag(struct rl_session *s, const struct cmd_call *c)
{
	struct lm_model *m = session_model(s);
	struct frag_filter flt = {0};
	struct lm_vol_frag vf;
	struct rank *rk = NULL;
	size_t nrk = 0;
	uint64_t top = 10;
	const char *tv;
	enum cmd_status st = CMD_OK;

	if (cmd_has_opt(c, "top", &tv) && units_parse_size(tv, &top) < 0) {
		session_error(s, "--top '%s': not a number", tv);
		return CMD_USAGE;
	}
	if (!m)
		return CMD_FAIL;
	if (c->argc) {
		flt.paths = calloc((size_t)c->argc, sizeof(*flt.paths));
		if (!flt.paths)
			return CMD_FAIL;
		for (int i = 0; i < c->argc; i++)
			if (session_model_path(s, m, c->argv[i], flt.paths[i],
			                       sizeof(flt.paths[i])) < 0) {
				free(flt.paths);
				return CMD_FAIL;
			}
		flt.n = c->argc;
	}
	lm_volume_frag(m, c->argc ? frag_want : NULL, &flt, &vf);
	rk = malloc((lm_file_count(m) + 1) * sizeof(*rk));
	if (!rk) {
		free(flt.paths);
		return CMD_FAIL;
	}
	for (size_t i = 0; i < lm_file_count(m); i++) {
		struct lm_file_frag ff;
		if (!S_ISREG(lm_file(m, (uint32_t)i)->mode) ||
		    (c->argc && !frag_want(m, (uint32_t)i, &flt)))
			continue;
		lm_file_frag(m, (uint32_t)i, &ff);
		if (!ff.fragmented)
			continue;
		rk[nrk].id = (uint32_t)i;
		rk[nrk].excess = ff.regions - ff.ideal;
		rk[nrk].extents = ff.extents;
		nrk++;
	}
	mem_sort(rk, nrk, sizeof(*rk), cmp_rank);
	if (top < nrk)
		nrk = (size_t)top;
	/* e4defrag's score is ext4's measure: not shown elsewhere */
	bool e4 = lm_geometry(m)->fs.type == RL_FS_EXT4;
	if (s->json) {
		cJSON *o = cJSON_CreateObject(), *e4o, *arr;
		out_add_u64(o, "files", vf.files);
		out_add_u64(o, "files_with_blocks", vf.with_blocks);
		out_add_u64(o, "fragmented_files", vf.fragmented);
		out_add_u64(o, "extents", vf.extents);
		out_add_u64(o, "regions", vf.regions);
		out_add_u64(o, "ideal_extents", vf.ideal);
		out_add_u64(o, "bytes", vf.bytes);
		out_add_u64(o, "fragmented_bytes", vf.fragmented_bytes);
		out_add_u64(o, "max_extent", lm_geometry(m)->max_extent);
		if (e4) {
			e4o = cJSON_AddObjectToObject(o, "e4defrag");
			out_add_u64(e4o, "now", vf.e4_now);
			out_add_u64(e4o, "best", vf.e4_best);
			out_add_u64(e4o, "blocks", vf.e4_blocks);
			cJSON_AddNumberToObject(e4o, "score", vf.e4_score);
		}
		arr = cJSON_AddArrayToObject(o, "top");
		for (size_t i = 0; i < nrk; i++) {
			struct lm_file_frag ff;
			const struct lm_file *f = lm_file(m, rk[i].id);
			cJSON *x = cJSON_CreateObject();
			lm_file_frag(m, rk[i].id, &ff);
			out_add_name(x, "path", lm_file_path(m, rk[i].id, 0));
			out_add_u64(x, "inode", f->ino);
			out_add_u64(x, "size", f->size);
			out_add_u64(x, "extents", ff.extents);
			out_add_u64(x, "regions", ff.regions);
			out_add_u64(x, "ideal", ff.ideal);
			if (e4) {
				out_add_u64(x, "e4_best", ff.e4_best);
				cJSON_AddNumberToObject(x, "e4_score",
				                        ff.e4_score);
			}
			cJSON_AddItemToArray(arr, x);
		}
		if (out_json_emit(s, o) < 0)
			st = CMD_FAIL;
	} else {
		char b[32], fb[32];
		units_format_size(vf.bytes, b, sizeof(b));
		units_format_size(vf.fragmented_bytes, fb, sizeof(fb));
		fprintf(s->out,
		        "%" PRIu64 " regular files, %" PRIu64
		        " with blocks (%s); %" PRIu64
		        " fragmented (%s, %.1f%%)\n",
		        vf.files, vf.with_blocks, b, vf.fragmented, fb,
		        vf.with_blocks ? 100.0 * (double)vf.fragmented /
		                             (double)vf.with_blocks
		                       : 0.0);
		fprintf(s->out,
		        "extents %" PRIu64 ", contiguous runs %" PRIu64
		        ", ideal %" PRIu64 " (max extent %" PRIu64 " bytes)\n",
		        vf.extents, vf.regions, vf.ideal,
		        lm_geometry(m)->max_extent);
		if (e4)
			fprintf(s->out,
			        "e4defrag: total/best extents %" PRIu64
			        "/%" PRIu64 ", fragmentation score %.0f "
			        "[0-30 no problem: 31-55 a little bit "
			        "fragmented: 56- needs defrag]\n",
			        vf.e4_now, vf.e4_best, vf.e4_score);
		/* the score column on ext4 only */
		int sw = e4 ? 7 : 0;
		if (nrk)
			fprintf(s->out, "%8s %8s %6s %10s%*s  %s\n", "extents",
			        "runs", "ideal", "size", sw, e4 ? "score" : "",
			        "file");
		for (size_t i = 0; i < nrk; i++) {
			struct lm_file_frag ff;
			char sz[32];
			lm_file_frag(m, rk[i].id, &ff);
			units_format_size(lm_file(m, rk[i].id)->size, sz,
			                  sizeof(sz));
			char sc[16] = "";
			if (e4)
				snprintf(sc, sizeof(sc), "%.0f", ff.e4_score);
			fprintf(s->out,
			        "%8" PRIu64 " %8" PRIu64 " %6" PRIu64
			        " %10s%*s  %s\n",
			        ff.extents, ff.regions, ff.ideal, sz, sw, sc,
			        OUT_ESC(lm_file_path(m, rk[i].id, 0)));
		}
	}
	free(rk);
	free(flt.paths);
	return st;
}

/* ------------------------------------------------------------- freefrag */

static cJSON *ff_json(const struct lm_freefrag *ff, uint32_t bs)
{
	cJSON *o = cJSON_CreateObject(), *b;

	out_add_u64(o, "start", ff->start);
	out_add_u64(o, "end", ff->end);
	out_add_u64(o, "free_bytes", ff->free_bytes);
	out_add_u64(o, "free_extents", ff->extents);
	out_add_u64(o, "largest", ff->largest);
	out_add_u64(o, "smallest", ff->smallest);
	b = cJSON_AddArrayToObject(o, "histogram");
	for (int i = 0; i < LM_FF_BUCKETS; i++) {
		if (!ff->count[i])
			continue;
		cJSON *x = cJSON_CreateObject();
		out_add_u64(x, "min", (uint64_t)bs << i);
		out_add_u64(x, "max",
		            i < 63 - 12 ? ((uint64_t)bs << (i + 1))
		                        : UINT64_MAX);
		out_add_u64(x, "count", ff->count[i]);
		out_add_u64(x, "bytes", ff->bytes[i]);
		cJSON_AddItemToArray(b, x);
	}
	return o;
}

enum cmd_status cmd_freefrag(struct rl_session *s, const struct cmd_call *c)
{
	struct lm_model *m = session_model(s);
	const struct lm_geometry *g;
	struct lm_freefrag ff;
	uint64_t start = 0, end;
	bool groups = cmd_has_opt(c, "groups", NULL);

	if (!m)
		return CMD_FAIL;
	g = lm_geometry(m);
	end = g->fs.size;
	if (c->argc == 1) {
		session_error(s, "give both START and END, or neither");
		return CMD_USAGE;
	}
	if (c->argc == 2 &&
	    (session_arg_size(s, "START", c->argv[0], &start) < 0 ||
	     session_arg_size(s, "END", c->argv[1], &end) < 0))
		return CMD_USAGE;
	if (end > g->fs.size)
		end = g->fs.size;
	if (end <= start) {
		session_error(s, "empty range");
		return CMD_USAGE;
	}
	if (lm_free_map_status(m)) {
		session_error(s, "free map unavailable (%s%s)",
		              rl_strerror(lm_free_map_status(m)),
		              cmd_map_root_hint(lm_free_map_status(m)));
		return CMD_FAIL;
	}
	if (lm_freefrag(m, start, end, &ff) < 0) {
		session_error(s, "out of memory");
		return CMD_FAIL;
	}
	if (s->json) {
		cJSON *o = ff_json(&ff, g->fs.block_size);
		if (groups) {
			cJSON *arr = cJSON_AddArrayToObject(o, "groups");
			for (uint64_t gi = 0; gi < g->fs.group_count; gi++) {
				uint64_t a, b;
				struct lm_freefrag gf;
				lm_group_range(m, gi, &a, &b);
				if (b <= start || a >= end)
					continue;
				lm_freefrag(m, a, b, &gf);
				cJSON *x = cJSON_CreateObject();
				out_add_u64(x, "group", gi);
				out_add_u64(x, "start", a);
				out_add_u64(x, "end", b);
				out_add_u64(x, "free_bytes", gf.free_bytes);
				out_add_u64(x, "free_extents", gf.extents);
				out_add_u64(x, "largest", gf.largest);
				cJSON_AddItemToArray(arr, x);
			}
		}
		return out_json_emit(s, o) < 0 ? CMD_FAIL : CMD_OK;
	}
	char tb[32], lb[32], sb[32], ab[32];
	units_format_size(ff.free_bytes, tb, sizeof(tb));
	units_format_size(ff.largest, lb, sizeof(lb));
	units_format_size(ff.smallest, sb, sizeof(sb));
	units_format_size(ff.extents ? ff.free_bytes / ff.extents : 0, ab,
	                  sizeof(ab));
	fprintf(s->out,
	        "range %#" PRIx64 "-%#" PRIx64 ": %" PRIu64
	        " free extents, %s free\n",
	        start, end, ff.extents, tb);
	fprintf(s->out, "min %s, max %s, average %s per free extent\n", sb, lb,
	        ab);
	fprintf(s->out,
	        "HISTOGRAM OF FREE EXTENT SIZES:\n%22s :  %12s  %12s  "
	        "%s\n",
	        "Extent Size Range", "Free extents", "Free Blocks", "Percent");
	for (int i = 0; i < LM_FF_BUCKETS; i++) {
		char lo[32], hi[32], range[80];
		if (!ff.count[i])
			continue;
		units_format_size((uint64_t)g->fs.block_size << i, lo,
		                  sizeof(lo));
		units_format_size((uint64_t)g->fs.block_size << (i + 1), hi,
		                  sizeof(hi));
		snprintf(range, sizeof(range), "%s...%s-", lo, hi);
		fprintf(s->out,
		        "%22s :  %12" PRIu64 "  %12" PRIu64 "  %6.2f%%\n",
		        range, ff.count[i], ff.bytes[i] / g->fs.block_size,
		        ff.free_bytes ? 100.0 * (double)ff.bytes[i] /
		                            (double)ff.free_bytes
		                      : 0.0);
	}
	if (groups && g->fs.group_count) {
		fprintf(s->out, "%8s %16s %12s %8s %12s\n", "group", "start",
		        "free", "extents", "largest");
		for (uint64_t gi = 0; gi < g->fs.group_count; gi++) {
			uint64_t a, b;
			struct lm_freefrag gf;
			char f1[32], f2[32];
			lm_group_range(m, gi, &a, &b);
			if (b <= start || a >= end)
				continue;
			lm_freefrag(m, a, b, &gf);
			units_format_size(gf.free_bytes, f1, sizeof(f1));
			units_format_size(gf.largest, f2, sizeof(f2));
			fprintf(s->out,
			        "%8" PRIu64 " %#16" PRIx64 " %12s %8" PRIu64
			        " %12s\n",
			        gi, a, f1, gf.extents, f2);
		}
	}
	return CMD_OK;
}

/* ------------------------------------------------------------------ who */

struct who_ctx {
	struct rl_session *s;
	struct lm_model *m;
	cJSON *arr;
};

static int who_cb(const struct lm_owner *o, void *arg)
{
	struct who_ctx *w = arg;
	char flags[128] = "";

	if (o->kind == LM_OWN_FILE)
		out_extent_flags(o->flags, flags, sizeof(flags));
	if (w->arr) {
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "kind", kind_name(o->kind));
		out_add_u64(x, "start", o->start);
		out_add_u64(x, "length", o->length);
		if (o->kind == LM_OWN_FILE) {
			const struct lm_file *f = lm_file(w->m, o->file);
			cJSON *p = cJSON_AddArrayToObject(x, "paths");
			for (uint32_t k = 0; k < f->npaths; k++)
				cJSON_AddItemToArray(
				    p, out_json_name(
				           lm_file_path(w->m, o->file, k)));
			out_add_u64(x, "inode", f->ino);
			out_add_u64(x, "logical", o->logical);
			cJSON_AddStringToObject(x, "flags", flags);
		} else if (o->kind == LM_OWN_META) {
			out_add_name(x, "label", o->label);
		}
		cJSON_AddItemToArray(w->arr, x);
		return 0;
	}
	fprintf(w->s->out, "%#14" PRIx64 " %12" PRIu64 "  %-8s", o->start,
	        o->length,
	        o->kind == LM_OWN_UNKNOWN ? "used" : kind_name(o->kind));
	if (o->kind == LM_OWN_UNKNOWN)
		fprintf(w->s->out, " %s", LM_UNATTRIBUTED);
	if (o->kind == LM_OWN_FILE) {
		const struct lm_file *f = lm_file(w->m, o->file);
		fprintf(w->s->out,
		        " %s (inode %" PRIu64 ", offset %" PRIu64 "%s%s)",
		        OUT_ESC(lm_file_path(w->m, o->file, 0)), f->ino,
		        o->logical, flags[0] ? ", " : "", flags);
		for (uint32_t k = 1; k < f->npaths; k++)
			fprintf(w->s->out, " = %s",
			        OUT_ESC(lm_file_path(w->m, o->file, k)));
	} else if (o->kind == LM_OWN_META) {
		fprintf(w->s->out, " %s", OUT_ESC(o->label));
	}
	fputc('\n', w->s->out);
	return 0;
}

enum cmd_status cmd_who(struct rl_session *s, const struct cmd_call *c)
{
	struct lm_model *m;
	uint64_t start, end;
	struct who_ctx w = {0};
	cJSON *o = NULL;

	if (session_arg_size(s, "START", c->argv[0], &start) < 0 ||
	    (c->argc > 1 && session_arg_size(s, "END", c->argv[1], &end) < 0))
		return CMD_USAGE;
	m = session_model(s);
	if (!m)
		return CMD_FAIL;
	if (c->argc == 1)
		end = start + lm_geometry(m)->fs.block_size;
	if (end <= start || start >= lm_geometry(m)->fs.size) {
		session_error(
		    s, "empty range or beyond the volume (size %" PRIu64 ")",
		    lm_geometry(m)->fs.size);
		return CMD_USAGE;
	}
	if (end > lm_geometry(m)->fs.size)
		end = lm_geometry(m)->fs.size;
	w.s = s;
	w.m = m;
	if (s->json) {
		o = cJSON_CreateObject();
		out_add_u64(o, "start", start);
		out_add_u64(o, "end", end);
		cJSON_AddBoolToObject(o, "free_map", !lm_free_map_status(m));
		w.arr = cJSON_AddArrayToObject(o, "owners");
	} else {
		free_map_note(s, m);
	}
	if (lm_owners(m, start, end, who_cb, &w) < 0) {
		cJSON_Delete(o);
		session_error(s, "out of memory");
		return CMD_FAIL;
	}
	if (o)
		return out_json_emit(s, o) < 0 ? CMD_FAIL : CMD_OK;
	return CMD_OK;
}

/* ----------------------------------------------------------------- show */

/* ----------------------------------------------------------------- find */

struct find_hit {
	uint64_t addr; /* first block (lowest logical offset) */
	uint32_t id;
};

static int hit_cmp(const void *a, const void *b)
{
	const struct find_hit *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* Where file id starts on the map: its lowest logical extent's block. */
static bool file_start(struct lm_model *m, uint32_t id, uint64_t *addr)
{
	size_t n;
	const struct lm_extent *e = lm_file_extents(m, id, &n);
	size_t lo = 0;

	if (!n)
		return false;
	for (size_t i = 1; i < n; i++)
		if (e[i].logical < e[lo].logical)
			lo = i;
	*addr = e[lo].physical;
	return true;
}

/* The files of m with blocks whose paths match, by first address, into
 * s->find. 0 or -ENOMEM. */
static int find_run(struct rl_session *s, struct lm_model *m)
{
	struct find_hit *h = NULL;
	size_t n = 0, cap = 0;
	uint32_t *ids;

	for (uint32_t id = 0; id < lm_file_count(m); id++) {
		const struct lm_file *f = lm_file(m, id);
		uint64_t addr;
		bool hit = false;

		if (S_ISDIR(f->mode) || !file_start(m, id, &addr))
			continue;
		for (uint32_t k = 0; k < f->npaths && !hit; k++)
			hit = session_name_match(s->find.pattern,
			                         lm_file_path(m, id, k));
		if (!hit)
			continue;
		if (mem_grow(&h, &cap, n + 1, sizeof(*h)) < 0) {
			free(h);
			return -ENOMEM;
		}
		h[n].addr = addr;
		h[n++].id = id;
	}
	if (n)
		mem_sort(h, n, sizeof(*h), hit_cmp);
	ids = malloc((n ? n : 1) * sizeof(*ids));
	if (!ids) {
		free(h);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		ids[i] = h[i].id;
	free(h);
	free(s->find.ids);
	s->find.ids = ids;
	s->find.n = n;
	s->find.cur = 0;
	s->find.model = m;
	return 0;
}

static cJSON *find_json_file(struct lm_model *m, uint32_t id)
{
	cJSON *o = cJSON_CreateObject();
	uint64_t addr = 0;

	file_start(m, id, &addr);
	out_add_name(o, "path", lm_file_path(m, id, 0));
	out_add_u64(o, "inode", lm_file(m, id)->ino);
	out_add_u64(o, "address", addr);
	out_add_u64(o, "size", lm_file(m, id)->size);
	return o;
}

static void find_line(struct rl_session *s, struct lm_model *m, size_t i)
{
	uint32_t id = s->find.ids[i];
	uint64_t addr = 0;
	char sz[32];

	file_start(m, id, &addr);
	units_format_size(lm_file(m, id)->size, sz, sizeof(sz));
	fprintf(s->out, "%5zu  0x%-12" PRIx64 " %10s  %s\n", i + 1, addr, sz,
	        OUT_ESC(lm_file_path(m, id, 0)));
}

enum cmd_status cmd_find_(struct rl_session *s, const struct cmd_call *c)
{
	bool next = cmd_has_opt(c, "next", NULL);
	bool prev = cmd_has_opt(c, "prev", NULL);
	bool all = cmd_has_opt(c, "all", NULL);
	struct lm_model *m;
	bool wrapped = false;

	if (next && prev) {
		session_error(s, "--next or --prev, not both");
		return CMD_USAGE;
	}
	if (c->argc && (next || prev)) {
		session_error(s, "--next and --prev take no PATTERN: they step "
		                 "through the last search's matches");
		return CMD_USAGE;
	}
	if (c->argc && !*c->argv[0]) {
		session_error(s, "empty PATTERN");
		return CMD_USAGE;
	}
	if (!c->argc && !s->find.pattern) {
		session_error(s, "no search yet: find PATTERN (/ in the map)");
		return CMD_FAIL;
	}
	m = session_model(s);
	if (!m)
		return CMD_FAIL;
	if (c->argc) {
		char *p = strdup(c->argv[0]);
		if (!p) {
			session_error(s, "out of memory");
			return CMD_FAIL;
		}
		free(s->find.pattern);
		s->find.pattern = p;
		s->find.model = NULL;
	}
	if (s->find.model != m && find_run(s, m) < 0) {
		session_error(s, "out of memory");
		return CMD_FAIL;
	}
	s->find.gen++;
	if (!s->find.n) {
		session_error(s, "no file matches '%s'", s->find.pattern);
		return CMD_FAIL;
	}
	if (next) {
		wrapped = s->find.cur + 1 >= s->find.n;
		s->find.cur = wrapped ? 0 : s->find.cur + 1;
	} else if (prev) {
		wrapped = s->find.cur == 0;
		s->find.cur = wrapped ? s->find.n - 1 : s->find.cur - 1;
	}
	if (s->json) {
		cJSON *o = cJSON_CreateObject();
		out_add_name(o, "pattern", s->find.pattern);
		out_add_u64(o, "count", s->find.n);
		out_add_u64(o, "current", s->find.cur + 1);
		cJSON_AddBoolToObject(o, "wrapped", wrapped);
		cJSON_AddItemToObject(
		    o, "match", find_json_file(m, s->find.ids[s->find.cur]));
		if (!next && !prev) {
			cJSON *a = cJSON_AddArrayToObject(o, "matches");
			for (size_t i = 0; i < s->find.n; i++)
				cJSON_AddItemToArray(
				    a, find_json_file(m, s->find.ids[i]));
		}
		return out_json_emit(s, o) < 0 ? CMD_FAIL : CMD_OK;
	}
	/* The list, then the current match: the last line is what the
	 * UI's message line shows. */
	if (!next && !prev) {
		size_t shown = all || s->find.n <= 20 ? s->find.n : 20;
		for (size_t i = 0; i < shown; i++)
			find_line(s, m, i);
		if (shown < s->find.n)
			fprintf(s->out,
			        "... %zu more (--all lists every one)\n",
			        s->find.n - shown);
	}
	uint32_t id = s->find.ids[s->find.cur];
	uint64_t addr = 0;

	file_start(m, id, &addr);
	fprintf(s->out, "match %zu of %zu for '%s': %s at 0x%" PRIx64 "%s\n",
	        s->find.cur + 1, s->find.n, OUT_ESC(s->find.pattern),
	        OUT_ESC(lm_file_path(m, id, 0)), addr,
	        !wrapped ? ""
	        : next   ? " (wrapped to the first)"
	                 : " (wrapped to the last)");
	return CMD_OK;
}

enum cmd_status cmd_show(struct rl_session *s, const struct cmd_call *c)
{
	struct lm_model *m = session_model(s);
	char rel[RL_PATH_MAX];
	const struct lm_file *f;
	const struct lm_extent *e;
	struct rl_extent *re;
	struct lm_file_frag ff;
	uint32_t id;
	size_t n;

	if (!m)
		return CMD_FAIL;
	if (session_model_path(s, m, c->argv[0], rel, sizeof(rel)) < 0)
		return CMD_FAIL;
	id = lm_find_path(m, rel);
	if (id == LM_NONE) {
		session_error(s,
		              "%s: not in the layout model (not a regular "
		              "file or directory on the volume, or created "
		              "after the scan)",
		              c->argv[0]);
		return CMD_FAIL;
	}
	(void)session_file_attrs(s, m, id); /* the generation */
	f = lm_file(m, id);
	e = lm_file_extents(m, id, &n);
	lm_file_frag(m, id, &ff);
	re = malloc((n ? n : 1) * sizeof(*re));
	if (!re)
		return CMD_FAIL;
	to_rl(e, n, re);
	if (s->json) {
		cJSON *o = cJSON_CreateObject(), *p;
		out_add_name(o, "file", rel);
		p = cJSON_AddArrayToObject(o, "paths");
		for (uint32_t k = 0; k < f->npaths; k++)
			cJSON_AddItemToArray(
			    p, out_json_name(lm_file_path(m, id, k)));
		out_add_u64(o, "inode", f->ino);
		if (f->flags & LM_FILE_HAS_GEN)
			out_add_u64(o, "generation", f->generation);
		out_add_u64(o, "size", f->size);
		out_add_u64(o, "mode", f->mode);
		if (f->err)
			cJSON_AddStringToObject(o, "error",
			                        rl_strerror(f->err));
		out_add_u64(o, "count", n);
		out_add_u64(o, "regions", ff.regions);
		out_add_u64(o, "ideal", ff.ideal);
		cJSON_AddBoolToObject(o, "fragmented", ff.fragmented);
		if (lm_geometry(m)->fs.type == RL_FS_EXT4)
			cJSON_AddNumberToObject(o, "e4_score", ff.e4_score);
		cJSON_AddBoolToObject(o, "selected",
		                      f->flags & LM_FILE_SELECTED);
		cJSON_AddItemToObject(o, "extents", out_extents_json(re, n));
		free(re);
		return out_json_emit(s, o) < 0 ? CMD_FAIL : CMD_OK;
	}
	fprintf(s->out, "%s: inode %" PRIu64 ", %" PRIu64 " bytes, mode %o",
	        OUT_ESC(rel), f->ino, f->size, f->mode);
	if (f->flags & LM_FILE_HAS_GEN)
		fprintf(s->out, ", generation %u", f->generation);
	fputc('\n', s->out);
	for (uint32_t k = 1; k < f->npaths; k++)
		fprintf(s->out, "  also: %s\n",
		        OUT_ESC(lm_file_path(m, id, k)));
	if (f->err)
		fprintf(s->out, "  unreadable: %s\n", rl_strerror(f->err));
	fprintf(s->out,
	        "%zu extent%s, %" PRIu64 " contiguous run%s, ideal %" PRIu64
	        "%s",
	        n, n == 1 ? "" : "s", ff.regions, ff.regions == 1 ? "" : "s",
	        ff.ideal, ff.fragmented ? " (fragmented)" : "");
	if (lm_geometry(m)->fs.type == RL_FS_EXT4)
		fprintf(s->out, "; e4defrag score %.0f", ff.e4_score);
	fputc('\n', s->out);
	if (n) {
		char flags[128];
		fprintf(s->out, "%4s %16s %18s %14s  %s\n", "#", "logical",
		        "physical", "length", "flags");
		for (size_t i = 0; i < n; i++) {
			out_extent_flags(re[i].flags, flags, sizeof(flags));
			fprintf(s->out,
			        "%4zu %16" PRIu64 " %#18" PRIx64 " %14" PRIu64
			        "  %s\n",
			        i, re[i].logical, re[i].physical, re[i].length,
			        flags);
		}
	}
	free(re);
	return CMD_OK;
}

/* ------------------------------------------------------ export / import */

enum cmd_status cmd_export(struct rl_session *s, const struct cmd_call *c)
{
	struct lm_model *m = session_model(s);
	bool private;
	int r;

	if (!m)
		return CMD_FAIL;
	/* names from directories others may not list stay the user's */
	private = session_output_private(s);
	r = snap_export(m, c->argv[0], private ? 0600 : 0666);
	if (r < 0) {
		session_error(s, "%s: cannot write snapshot: %s", c->argv[0],
		              out_file_strerror(r));
		return CMD_FAIL;
	}
	if (s->json) {
		cJSON *o = cJSON_CreateObject();
		out_add_name(o, "file", c->argv[0]);
		out_add_u64(o, "files", lm_file_count(m));
		out_add_u64(o, "extents", lm_extent_count(m));
		cJSON_AddBoolToObject(o, "private", private);
		return out_json_emit(s, o) < 0 ? CMD_FAIL : CMD_OK;
	}
	fprintf(s->out, "%s: %zu files, %" PRIu64 " extents written%s\n",
	        OUT_ESC(c->argv[0]), lm_file_count(m), lm_extent_count(m),
	        private ? " (private, 0600: it names files not every user "
	                  "may list)"
	                : "");
	return CMD_OK;
}

static struct lm_model *load(struct rl_session *s, const char *path)
{
	struct lm_model *m;
	char err[1024];

	if (snap_import(path, &m, err, sizeof(err)) < 0) {
		session_error(s, "%s", err);
		return NULL;
	}
	return m;
}

enum cmd_status cmd_import(struct rl_session *s, const struct cmd_call *c)
{
	struct lm_model *m = load(s, c->argv[0]);

	if (!m)
		return CMD_FAIL;
	lm_free(s->model);
	s->model = m;
	s->read_only_snapshot = true;
	if (s->json) {
		cJSON *o = cJSON_CreateObject();
		out_add_name(o, "file", c->argv[0]);
		out_add_name(o, "mountpoint", lm_geometry(m)->fs.mountpoint);
		out_add_u64(o, "files", lm_file_count(m));
		out_add_u64(o, "extents", lm_extent_count(m));
		cJSON_AddBoolToObject(o, "read_only", true);
		return out_json_emit(s, o) < 0 ? CMD_FAIL : CMD_OK;
	}
	fprintf(s->out,
	        "%s: snapshot of %s, %zu files, %" PRIu64
	        " extents; the view is now read-only\n",
	        OUT_ESC(c->argv[0]), OUT_ESC(lm_geometry(m)->fs.mountpoint),
	        lm_file_count(m), lm_extent_count(m));
	return CMD_OK;
}

int cmd_model_open_snapshot(struct rl_session *s)
{
	struct stat st;
	size_t n = s->path ? strlen(s->path) : 0;
	struct lm_model *m;

	if (n < 5 || strcmp(s->path + n - 5, ".json") != 0 ||
	    stat(s->path, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	m = load(s, s->path);
	if (!m)
		return -1;
	lm_free(s->model);
	s->model = m;
	s->read_only_snapshot = true;
	return 1;
}

/* ----------------------------------------------------------------- diff */

static bool same_extents(const struct lm_model *a, uint32_t ia,
                         const struct lm_model *b, uint32_t ib)
{
	size_t na, nb;
	const struct lm_extent *ea = lm_file_extents(a, ia, &na);
	const struct lm_extent *eb = lm_file_extents(b, ib, &nb);

	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (ea[i].logical != eb[i].logical ||
		    ea[i].physical != eb[i].physical ||
		    ea[i].length != eb[i].length)
			return false;
	return true;
}

static uint64_t free_total(struct lm_model *m)
{
	struct lm_freefrag ff;

	if (lm_free_map_status(m) ||
	    lm_freefrag(m, 0, lm_geometry(m)->fs.size, &ff) < 0)
		return 0;
	return ff.free_bytes;
}

enum cmd_status cmd_diff(struct rl_session *s, const struct cmd_call *c)
{
	struct lm_model *a, *b, *own_b = NULL;
	uint64_t added = 0, removed = 0, moved = 0, same = 0;
	cJSON *o = NULL, *ja = NULL, *jr = NULL, *jm = NULL;

	a = load(s, c->argv[0]);
	if (!a)
		return CMD_FAIL;
	if (c->argc > 1) {
		b = own_b = load(s, c->argv[1]);
	} else {
		b = session_model(s);
	}
	if (!b) {
		lm_free(a);
		return CMD_FAIL;
	}
	if (s->json) {
		o = cJSON_CreateObject();
		out_add_name(o, "a", c->argv[0]);
		out_add_name(o, "b",
		             c->argc > 1 ? c->argv[1] : "(current view)");
		jr = cJSON_AddArrayToObject(o, "removed");
		ja = cJSON_AddArrayToObject(o, "added");
		jm = cJSON_AddArrayToObject(o, "moved");
	}
	for (size_t i = 0; i < lm_file_count(a); i++) {
		const char *p = lm_file_path(a, (uint32_t)i, 0);
		uint32_t j = lm_find_path(b, p);
		if (j == LM_NONE) {
			removed++;
			if (o)
				cJSON_AddItemToArray(jr, out_json_name(p));
			else
				fprintf(s->out, "- %s\n", OUT_ESC(p));
		} else if (!same_extents(a, (uint32_t)i, b, j)) {
			size_t na, nb;
			lm_file_extents(a, (uint32_t)i, &na);
			lm_file_extents(b, j, &nb);
			moved++;
			if (o) {
				cJSON *x = cJSON_CreateObject();
				out_add_name(x, "path", p);
				out_add_u64(x, "extents_a", na);
				out_add_u64(x, "extents_b", nb);
				cJSON_AddItemToArray(jm, x);
			} else {
				fprintf(s->out, "~ %s (%zu -> %zu extents)\n",
				        OUT_ESC(p), na, nb);
			}
		} else {
			same++;
		}
	}
	for (size_t j = 0; j < lm_file_count(b); j++) {
		const char *p = lm_file_path(b, (uint32_t)j, 0);
		if (lm_find_path(a, p) != LM_NONE)
			continue;
		added++;
		if (o)
			cJSON_AddItemToArray(ja, out_json_name(p));
		else
			fprintf(s->out, "+ %s\n", OUT_ESC(p));
	}
	uint64_t fa = free_total(a), fb = free_total(b);
	struct lm_vol_frag va, vb;
	lm_volume_frag(a, NULL, NULL, &va);
	lm_volume_frag(b, NULL, NULL, &vb);
	enum cmd_status st = CMD_OK;
	if (o) {
		out_add_u64(o, "same", same);
		out_add_u64(o, "free_a", fa);
		out_add_u64(o, "free_b", fb);
		out_add_u64(o, "fragmented_a", va.fragmented);
		out_add_u64(o, "fragmented_b", vb.fragmented);
		if (out_json_emit(s, o) < 0)
			st = CMD_FAIL;
	} else {
		fprintf(s->out,
		        "%" PRIu64 " unchanged, %" PRIu64 " moved, %" PRIu64
		        " added, %" PRIu64 " removed; free %" PRIu64
		        " -> %" PRIu64 " bytes; fragmented files %" PRIu64
		        " -> %" PRIu64 "\n",
		        same, moved, added, removed, fa, fb, va.fragmented,
		        vb.fragmented);
	}
	lm_free(a);
	lm_free(own_b);
	return st;
}
