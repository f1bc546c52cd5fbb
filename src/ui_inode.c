/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The inode pane beside the map: for the file under the cursor (or the one
 * last selected / jumped to), its paths, inode, size, extents table and
 * fragmentation figures; for a cell without files, the owners in it.
 */
#include "config.h"
#include <curses.h>
#include <inttypes.h>
#include <relayout/layout_model.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
		        lm_file_path(m, id, k));
	units_format_size(fl->size, sz, sizeof(sz));
	fprintf(f, "inode %" PRIu64 "  size %s%s\n", fl->ino, sz,
	        fl->flags & LM_FILE_SELECTED ? "  [selected]" : "");
	lm_file_frag(m, id, &ff);
	fprintf(f, "extents %" PRIu64 "  runs %" PRIu64 "  ideal %" PRIu64
	           "%s\n",
	        ff.extents, ff.regions, ff.ideal,
	        ff.fragmented ? "  FRAGMENTED" : "");
	fprintf(f, "e4defrag score %.0f (best %" PRIu64 ")\n", ff.e4_score,
	        ff.e4_best);
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

struct owners_ctx {
	struct ui *ui;
	FILE *f;
	int n;
};

static int owner_line(const struct lm_owner *o, void *arg)
{
	struct owners_ctx *oc = arg;
	char sz[32];

	if (oc->n++ >= 500)
		return 1;
	units_format_size(o->length, sz, sizeof(sz));
	switch (o->kind) {
	case LM_OWN_FREE:
		fprintf(oc->f, "%-10" PRIx64 " %-9s free\n", o->start, sz);
		break;
	case LM_OWN_META:
		fprintf(oc->f, "%-10" PRIx64 " %-9s metadata %s\n", o->start,
		        sz, o->label ? o->label : "");
		break;
	case LM_OWN_FILE:
		fprintf(oc->f, "%-10" PRIx64 " %-9s %s @ 0x%" PRIx64 "\n",
		        o->start, sz, lm_file_path(oc->ui->model, o->file, 0),
		        o->logical);
		break;
	default:
		fprintf(oc->f, "%-10" PRIx64 " %-9s used (owner unknown)\n",
		        o->start, sz);
	}
	return 0;
}

char *ui_inode_text(struct ui *ui)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	uint64_t a, b;
	uint32_t id;

	if (!f)
		return NULL;
	ui_map_cursor_range(ui, &a, &b);
	id = ui_map_first_file(ui, a, b);
	if (id == LM_NONE && ui->pane_file != LM_NONE &&
	    ui->pane_file < lm_file_count(ui->model))
		id = ui->pane_file;
	if (id != LM_NONE) {
		file_text(ui, f, id);
		fprintf(f, "\nOwners of the cursor cell:\n");
	} else {
		fprintf(f, "Owners of 0x%" PRIx64 "-0x%" PRIx64 ":\n", a,
		        b ? b - 1 : 0);
	}
	struct owners_ctx oc = {ui, f, 0};
	if (b > a)
		lm_owners(ui->model, a, b, owner_line, &oc);
	if (oc.n > 500)
		fprintf(f, "(more owners not listed)\n");
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
