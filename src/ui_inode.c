/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The inode pane beside the map: for the file under the cursor (or the one
 * last selected / jumped to), its paths, inode, size, extents table and
 * fragmentation figures; for a cell without files, the owners in it.
 */
#include "config.h"
#include <curses.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "layout_model.h"
#include "mem.h"
#include "output.h"
#include "ui.h"
#include "units.h"

static void file_text(struct ui *ui, FILE *f, uint32_t id)
{
	struct lm_model *m = ui->model;
	const struct lm_file *fl = lm_file(m, id);
	const struct lm_extent *e;
	struct lm_file_frag ff;
	char sz[32], fl_s[64];
	size_t n;

	for (uint32_t k = 0; k < fl->npaths; k++)
		fprintf(f, "%s%s\n", k ? "  also " : "",
		        OUT_ESC(lm_file_path(m, id, k)));
	units_format_size(fl->size, sz, sizeof(sz));
	fprintf(f, "inode %" PRIu64 "  size %s%s\n", fl->ino, sz,
	        fl->flags & LM_FILE_SELECTED ? "  [selected]" : "");
	lm_file_frag(m, id, &ff);
	fprintf(f,
	        "extents %" PRIu64 "  runs %" PRIu64 "  ideal %" PRIu64 "%s\n",
	        ff.extents, ff.regions, ff.ideal,
	        ff.fragmented ? "  FRAGMENTED" : "");
	if (lm_geometry(m)->fs.type == RL_FS_EXT4)
		fprintf(f, "e4defrag score %.0f (best %" PRIu64 ")\n",
		        ff.e4_score, ff.e4_best);
	if (fl->err)
		fprintf(f, "unreadable: error %d\n", fl->err);
	fprintf(f, "%-10s %-12s %-9s %s\n", "logical", "physical", "length",
	        "flags");
	e = lm_file_extents(m, id, &n);
	for (size_t i = 0; i < n; i++) {
		units_format_size(e[i].length, sz, sizeof(sz));
		out_extent_flags(e[i].flags, fl_s, sizeof(fl_s));
		fprintf(f, "%-10" PRIx64 " %-12" PRIx64 " %-9s %s\n",
		        e[i].logical, e[i].physical, sz, fl_s);
	}
}

/* The pane's region: the marked target when the cursor is inside it,
 * else the cursor's cell. */
static void pane_region(struct ui *ui, uint64_t *a, uint64_t *b,
                        const char **what)
{
	if (ui->have_target && ui->cursor >= ui->mark_start &&
	    ui->cursor < ui->mark_end) {
		*a = ui->mark_start;
		*b = ui->mark_end;
		*what = "target region";
		return;
	}
	ui_map_cursor_range(ui, a, b);
	*what = "cursor cell";
}

struct owners_ctx {
	struct ui_owner *v;
	size_t n, cap;
	int err;
};

static int owner_add(const struct lm_owner *o, void *arg)
{
	struct owners_ctx *oc = arg;

	for (size_t i = 0; i < oc->n; i++) {
		struct ui_owner *e = &oc->v[i];
		if ((int)o->kind == e->kind &&
		    (o->kind != LM_OWN_FILE || o->file == e->file)) {
			e->bytes += o->length;
			return 0;
		}
	}
	if (oc->n >= 5000)
		return 1; /* enough to show */
	if (mem_grow(&oc->v, &oc->cap, oc->n + 1, sizeof(*oc->v)) < 0) {
		oc->err = -ENOMEM;
		return 1;
	}
	oc->v[oc->n++] = (struct ui_owner){(int)o->kind, o->file, o->start,
	                                   o->length, o->label};
	return 0;
}

static const struct lm_model *sort_model;
static int sort_key;

static int cmp_owner(const void *x, const void *y)
{
	const struct ui_owner *a = x, *b = y;

	if (sort_key == UI_SORT_SIZE && a->bytes != b->bytes)
		return a->bytes > b->bytes ? -1 : 1;
	if (sort_key == UI_SORT_NAME && a->kind == LM_OWN_FILE &&
	    b->kind == LM_OWN_FILE) {
		int c = strcmp(lm_file_path(sort_model, a->file, 0),
		               lm_file_path(sort_model, b->file, 0));
		if (c)
			return c;
	}
	if (sort_key == UI_SORT_NAME && a->kind != b->kind)
		return a->kind == LM_OWN_FILE ? -1 : 1;
	return a->start < b->start ? -1 : a->start > b->start;
}

ssize_t ui_inode_owners(struct ui *ui, struct ui_owner **out)
{
	struct owners_ctx oc = {NULL, 0, 0, 0};
	uint64_t a, b;
	const char *what;

	*out = NULL;
	if (!ui->model)
		return 0;
	pane_region(ui, &a, &b, &what);
	if (b > a)
		lm_owners(ui->model, a, b, owner_add, &oc);
	if (oc.err) {
		free(oc.v);
		return oc.err;
	}
	sort_model = ui->model;
	sort_key = ui->pane_sort;
	if (oc.n)
		mem_sort(oc.v, oc.n, sizeof(*oc.v), cmp_owner);
	*out = oc.v;
	return (ssize_t)oc.n;
}

char *ui_inode_text(struct ui *ui)
{
	static const char *const sorts[] = {"address", "size", "name"};
	char *text = NULL, sz[32];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct ui_owner *v;
	ssize_t n;
	uint64_t a, b, cs, ce;
	const char *what;
	uint32_t id;

	if (!f)
		return NULL;
	ui_map_cursor_range(ui, &cs, &ce);
	id = ui_map_first_file(ui, cs, ce);
	if (id == LM_NONE && ui->pane_file != LM_NONE &&
	    ui->pane_file < lm_file_count(ui->model))
		id = ui->pane_file;
	ui->pane_header = 0;
	if (id != LM_NONE) {
		file_text(ui, f, id);
		fputc('\n', f);
	}
	pane_region(ui, &a, &b, &what);
	fprintf(f,
	        "Owners of the %s, by %s\n0x%" PRIx64 "-0x%" PRIx64
	        " (S sort, Enter go)\n",
	        what, sorts[ui->pane_sort % 3], a, b ? b - 1 : 0);
	fflush(f);
	for (const char *p = text; p && *p; p++)
		ui->pane_header += *p == '\n';
	n = ui_inode_owners(ui, &v);
	if (ui->pane_sel >= n)
		ui->pane_sel = n > 0 ? (int)n - 1 : 0;
	for (ssize_t i = 0; i < n; i++) {
		const char *mark = i == ui->pane_sel ? ">" : " ";
		units_format_size(v[i].bytes, sz, sizeof(sz));
		switch (v[i].kind) {
		case LM_OWN_FREE:
			fprintf(f, "%s%-10" PRIx64 " %-9s free\n", mark,
			        v[i].start, sz);
			break;
		case LM_OWN_META:
			fprintf(f, "%s%-10" PRIx64 " %-9s metadata %s\n", mark,
			        v[i].start, sz, v[i].label ? v[i].label : "");
			break;
		case LM_OWN_FILE:
			fprintf(f, "%s%-10" PRIx64 " %-9s %s\n", mark,
			        v[i].start, sz,
			        OUT_ESC(lm_file_path(ui->model, v[i].file, 0)));
			break;
		default:
			fprintf(f, "%s%-10" PRIx64 " %-9s %s\n", mark,
			        v[i].start, sz, LM_UNATTRIBUTED);
		}
	}
	free(v);
	fclose(f);
	return text;
}

void ui_inode_draw(struct ui *ui, int y, int x, int h, int w)
{
	char *t = ui_inode_text(ui);

	ui_draw_pane(ui, y, x, h, w, " Inode (J/K scroll, i close)", t,
	             ui->pane_scroll);
	free(t);
}
