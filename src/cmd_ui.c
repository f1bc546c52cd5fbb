/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The UI's commands (flagged CMD_F_UI): key bindings, colours and themes,
 * the view (zoom, pan, goto, pane), selection and the target region, the
 * prompt and save-screen. Keys run these through the executor like any
 * other command, so a recording captures what the keys did. The table
 * (src/commands.h) names them; the executor reaches these handlers
 * through the session's front end, ui_frontend at the end of this file.
 *
 * Without the terminal UI (-e, -x): bind, color, theme, select and target
 * work (configuration and model state); the view commands (zoom, pan,
 * goto, pane, redraw) do nothing and succeed, so a recorded UI session
 * replays in batch mode; save-screen, keys, prompt and mark need the UI.
 */
#include "config.h"
#include <curses.h>
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "commands.h"
#include "layout_model.h"
#include "mem.h"
#include "output.h"
#include "session.h"
#include "ui.h"
#include "units.h"

static struct ui *need_ui(struct rl_session *s)
{
	struct ui *ui = ui_get(s);

	if (!ui)
		session_error(s, "out of memory");
	return ui;
}

/* The interactive UI, or NULL after reporting that it is needed. */
static struct ui *need_active(struct rl_session *s)
{
	struct ui *ui = s->ui;

	if (!ui || !ui->active) {
		session_error(s, "needs the interactive UI (relayout PATH "
		                 "on a terminal)");
		return NULL;
	}
	return ui;
}

/* The view commands succeed without the UI (a recorded session replays
 * in batch mode); returns NULL then. */
static struct ui *view_ui(struct rl_session *s)
{
	return s->ui && s->ui->active ? s->ui : NULL;
}

/* The model, scanned on demand through the `scan` command. */
static struct lm_model *need_model(struct rl_session *s)
{
	if (!s->model && cmd_exec_line(s, "scan") != CMD_OK)
		return NULL;
	if (!s->model)
		session_error(s, "no layout model");
	return s->model;
}

/* ------------------------------------------------------------- bind */

static enum cmd_status cmd_bind(struct rl_session *s, const struct cmd_call *c)
{
	struct ui *ui = need_ui(s);
	char line[1024];
	size_t used = 0;
	int key;

	if (!ui)
		return CMD_FAIL;
	key = ui_key_parse(c->argv[0]);
	if (key < 0) {
		session_error(s,
		              "'%s': not a key name (a character, C-x, Up, "
		              "Down, Left, Right, PgUp, PgDn, Home, End, "
		              "Enter, Esc, Space, Tab, F1..F12, WheelUp, "
		              "WheelDown)",
		              c->argv[0]);
		return CMD_USAGE;
	}
	line[0] = '\0';
	for (int i = 1; i < c->argc; i++) {
		int n = snprintf(line + used, sizeof(line) - used, "%s%s",
		                 i > 1 ? " " : "", c->argv[i]);
		if (n < 0 || (size_t)n >= sizeof(line) - used) {
			session_error(s, "command too long");
			return CMD_USAGE;
		}
		used += (size_t)n;
	}
	if (ui_bind(ui, key, c->argc > 1 ? line : NULL) < 0) {
		session_error(s, "out of memory");
		return CMD_FAIL;
	}
	return CMD_OK;
}

/* ------------------------------------------------------ color, theme */

static enum cmd_status cmd_color(struct rl_session *s, const struct cmd_call *c)
{
	static const struct {
		const char *name;
		int bit;
	} attrs[] = {
	    {"normal", 0},
	    {"bold", UI_ATTR_BOLD},
	    {"underline", UI_ATTR_UNDERLINE},
	    {"reverse", UI_ATTR_REVERSE},
	    {"dim", UI_ATTR_DIM},
	    {"standout", UI_ATTR_STANDOUT},
	};
	struct ui *ui = need_ui(s);
	int role, fg, bg, at = 0;

	if (!ui)
		return CMD_FAIL;
	role = ui_role_parse(c->argv[0]);
	if (role < 0) {
		session_error(s, "'%s': unknown colour role (see 'help color')",
		              c->argv[0]);
		return CMD_USAGE;
	}
	fg = ui_color_parse(c->argv[1]);
	bg = ui_color_parse(c->argv[2]);
	if (fg < -1 || bg < -1) {
		session_error(s,
		              "'%s': not a colour (default, black, red, "
		              "green, yellow, blue, magenta, cyan, white, "
		              "bright..., 0-255)",
		              fg < -1 ? c->argv[1] : c->argv[2]);
		return CMD_USAGE;
	}
	for (int i = 3; i < c->argc; i++) {
		size_t k;
		for (k = 0; k < sizeof(attrs) / sizeof(attrs[0]); k++)
			if (!strcmp(c->argv[i], attrs[k].name))
				break;
		if (k == sizeof(attrs) / sizeof(attrs[0])) {
			session_error(s,
			              "'%s': not an attribute (normal, "
			              "bold, underline, reverse, dim, "
			              "standout)",
			              c->argv[i]);
			return CMD_USAGE;
		}
		at |= attrs[k].bit;
	}
	ui->colors[role].fg = (short)fg;
	ui->colors[role].bg = (short)bg;
	ui->colors[role].attrs = at;
	ui->colors[role].set = true;
	if (ui->active) {
		ui_theme_apply(ui);
		ui->dirty = true;
	}
	return CMD_OK;
}

static enum cmd_status cmd_theme(struct rl_session *s, const struct cmd_call *c)
{
	struct ui *ui = need_ui(s);
	char path[4096];
	struct ui_color saved[UI_ROLE_N];
	enum cmd_status st;

	if (!ui)
		return CMD_FAIL;
	if (ui_theme_path(c->argv[0], path, sizeof(path)) < 0) {
		session_error(s,
		              "theme '%s' not found (looked in "
		              "$RELAYOUT_THEMES_DIR and %s/themes)",
		              c->argv[0], RL_DATADIR);
		return CMD_FAIL;
	}
	memcpy(saved, ui->colors, sizeof(saved));
	memset(ui->colors, 0, sizeof(ui->colors));
	st = cmd_exec_file(s, path);
	if (st != CMD_OK) {
		memcpy(ui->colors, saved, sizeof(saved));
		return st;
	}
	snprintf(ui->theme, sizeof(ui->theme), "%s", c->argv[0]);
	if (ui->active) {
		ui_theme_apply(ui);
		ui->dirty = true;
	}
	return CMD_OK;
}

/* -------------------------------------------------------------- view */

static enum cmd_status cmd_zoom(struct rl_session *s, const struct cmd_call *c)
{
	struct ui *ui = view_ui(s);
	const char *a = c->argv[0];
	uint64_t n;

	if (strcmp(a, "in") && strcmp(a, "out") && strcmp(a, "min") &&
	    strcmp(a, "max") && units_parse_size(a, &n) < 0) {
		session_error(s,
		              "'%s': expected in, out, min (whole volume), "
		              "max (one block per cell) or a number of "
		              "blocks per cell",
		              a);
		return CMD_USAGE;
	}
	if (!ui)
		return CMD_OK;
	if (!strcmp(a, "in"))
		ui_map_zoom(ui, 1);
	else if (!strcmp(a, "out"))
		ui_map_zoom(ui, -1);
	else if (!strcmp(a, "min"))
		ui_map_zoom_to(ui, ui->max_cell_blocks);
	else if (!strcmp(a, "max"))
		ui_map_zoom_to(ui, 1);
	else
		ui_map_zoom_to(ui, n);
	ui->dirty = true;
	return CMD_OK;
}

static enum cmd_status cmd_pan(struct rl_session *s, const struct cmd_call *c)
{
	static const char *const dirs[] = {"left", "right", "up",   "down",
	                                   "pgup", "pgdn",  "home", "end"};
	struct ui *ui = view_ui(s);
	uint64_t n = 1;
	size_t d;

	for (d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++)
		if (!strcmp(c->argv[0], dirs[d]))
			break;
	if (d == sizeof(dirs) / sizeof(dirs[0]) ||
	    (c->argc > 1 &&
	     (units_parse_size(c->argv[1], &n) < 0 || n > 1000000))) {
		session_error(s, "usage: pan left|right|up|down|pgup|pgdn|"
		                 "home|end [N]");
		return CMD_USAGE;
	}
	if (!ui)
		return CMD_OK;
	int64_t k = (int64_t)n, page = ui->map_h > 1 ? ui->map_h - 1 : 1;
	switch (d) {
	case 0:
		ui_map_move(ui, -k, 0);
		break;
	case 1:
		ui_map_move(ui, k, 0);
		break;
	case 2:
		ui_map_move(ui, 0, -k);
		break;
	case 3:
		ui_map_move(ui, 0, k);
		break;
	case 4:
		ui_map_move(ui, 0, -k * page);
		break;
	case 5:
		ui_map_move(ui, 0, k * page);
		break;
	case 6:
		ui_map_goto(ui, 0);
		break;
	default:
		ui_map_goto(ui, ui->size ? ui->size - 1 : 0);
		break;
	}
	ui->dirty = true;
	return CMD_OK;
}

/* A file of the model named by path: relative to the volume root, or
 * absolute under the mount point. */
static uint32_t find_file(struct lm_model *m, const char *path)
{
	const struct lm_geometry *g = lm_geometry(m);
	size_t ml = strlen(g->fs.mountpoint);

	if (path[0] == '/' && ml && !strncmp(path, g->fs.mountpoint, ml) &&
	    (path[ml] == '/' || path[ml] == '\0'))
		path += ml;
	while (*path == '/')
		path++;
	return lm_find_path(m, path);
}

static enum cmd_status cmd_goto_(struct rl_session *s, const struct cmd_call *c)
{
	struct ui *ui = view_ui(s);
	struct lm_model *m;
	uint64_t addr;
	uint32_t id;

	if (units_parse_size(c->argv[0], &addr) == 0) {
		if (ui) {
			if (ui->size && addr >= ui->size) {
				session_error(s,
				              "0x%" PRIx64 " is beyond the "
				              "end of the volume (0x%" PRIx64
				              ")",
				              addr, ui->size);
				return CMD_FAIL;
			}
			ui_map_goto(ui, addr);
			ui->dirty = true;
		}
		return CMD_OK;
	}
	m = need_model(s);
	if (!m)
		return CMD_FAIL;
	id = find_file(m, c->argv[0]);
	if (id == LM_NONE) {
		session_error(s,
		              "'%s': not an address and not a file in the "
		              "layout model",
		              c->argv[0]);
		return CMD_FAIL;
	}
	size_t n;
	const struct lm_extent *e = lm_file_extents(m, id, &n);
	if (!n) {
		session_error(s, "'%s' has no blocks", c->argv[0]);
		return CMD_FAIL;
	}
	uint64_t low = e[0].physical;
	for (size_t i = 0; i < n; i++)
		if (e[i].logical < e[0].logical)
			low = e[i].physical;
	if (ui) {
		ui_map_goto(ui, low);
		ui->pane_file = id;
		ui->dirty = true;
	}
	return CMD_OK;
}

static enum cmd_status cmd_pane(struct rl_session *s, const struct cmd_call *c)
{
	struct ui *ui = view_ui(s);
	const char *a = c->argv[0];
	enum ui_pane p;

	if (!strcmp(a, "scroll")) {
		long n = c->argc > 1 ? strtol(c->argv[1], NULL, 10) : 1;
		if (!ui)
			return CMD_OK;
		if (ui->pane == UI_PANE_OUTPUT) {
			if (ui->out_scroll < 0)
				ui->out_scroll = 1 << 30;
			ui->out_scroll += (int)n;
			if (ui->out_scroll < 0)
				ui->out_scroll = 0;
		} else {
			/* The inode pane: move the owners list's row, and
			 * scroll to keep it in view. */
			int h = ui->map_h > 1 ? ui->map_h : 1;
			ui->pane_sel += (int)n;
			if (ui->pane_sel < 0)
				ui->pane_sel = 0;
			free(ui_inode_text(ui)); /* clamps pane_sel */
			int line = ui->pane_header + ui->pane_sel;
			if (line < ui->pane_scroll || n < 0)
				ui->pane_scroll = line < ui->pane_scroll
				                      ? line
				                      : ui->pane_scroll;
			if (line >= ui->pane_scroll + h)
				ui->pane_scroll = line - h + 1;
			if (ui->pane_sel == 0 && n < 0)
				ui->pane_scroll = 0;
		}
		ui->dirty = true;
		return CMD_OK;
	}
	if (!strcmp(a, "sort")) {
		static const char *const sorts[] = {"address", "size", "name"};
		const char *w = c->argc > 1 ? c->argv[1] : "next";
		int k;
		for (k = 0; k < 3; k++)
			if (!strcmp(w, sorts[k]))
				break;
		if (k == 3 && strcmp(w, "next")) {
			session_error(s, "usage: pane sort address|size|name|"
			                 "next");
			return CMD_USAGE;
		}
		if (ui) {
			ui->pane_sort = k == 3 ? (ui->pane_sort + 1) % 3 : k;
			ui->pane_sel = 0;
			ui->dirty = true;
		}
		return CMD_OK;
	}
	if (!strcmp(a, "open")) {
		struct ui_owner *v;
		ssize_t n;
		enum cmd_status st = CMD_OK;

		if (!ui || ui->pane != UI_PANE_INODE)
			return CMD_OK;
		n = ui_inode_owners(ui, &v);
		if (n > ui->pane_sel && v[ui->pane_sel].kind == LM_OWN_FILE) {
			char *line = NULL;
			size_t len = 0;
			FILE *f = open_memstream(&line, &len);
			if (f) {
				fputs("goto ", f);
				units_put_word(
				    f, lm_file_path(ui->model,
				                    v[ui->pane_sel].file, 0));
				fclose(f);
				st = cmd_exec_line(s, line);
				free(line);
			}
		} else if (n >= 0) {
			session_error(s, "the selected row is not a file");
			st = CMD_FAIL;
		}
		free(v);
		return st;
	}
	if (!strcmp(a, "inode"))
		p = UI_PANE_INODE;
	else if (!strcmp(a, "output"))
		p = UI_PANE_OUTPUT;
	else if (!strcmp(a, "none"))
		p = UI_PANE_NONE;
	else {
		session_error(s, "usage: pane inode|output|none|scroll N|"
		                 "sort WHAT|open");
		return CMD_USAGE;
	}
	if (!ui)
		return CMD_OK;
	/* The key toggles: the same pane again closes it. */
	ui->pane = ui->pane == p ? UI_PANE_NONE : p;
	ui->pane_scroll = 0;
	ui->pane_sel = 0;
	ui_map_layout(ui);
	ui->dirty = true;
	return CMD_OK;
}

static enum cmd_status cmd_redraw(struct rl_session *s,
                                  const struct cmd_call *c)
{
	struct ui *ui = view_ui(s);

	if (ui) {
		clearok(curscr, TRUE);
		ui->dirty = true;
	}
	return CMD_OK;
}

static enum cmd_status cmd_quit(struct rl_session *s, const struct cmd_call *c)
{
	if (s->ui)
		s->ui->quit = true;
	return CMD_OK;
}

static enum cmd_status cmd_keys(struct rl_session *s, const struct cmd_call *c)
{
	struct ui *ui = s->ui;

	if (!ui || !ui->active) {
		/* Without the UI: print the same text. */
		char *t = ui ? ui_help_text(ui) : NULL;
		if (!t) {
			session_error(s, "no key bindings (they are set when "
			                 "the UI starts)");
			return CMD_FAIL;
		}
		fputs(t, s->out);
		free(t);
		return CMD_OK;
	}
	ui->help_shown = true;
	ui->help_scroll = 0;
	ui->dirty = true;
	return CMD_OK;
}

static enum cmd_status cmd_prompt(struct rl_session *s,
                                  const struct cmd_call *c)
{
	struct ui *ui = need_active(s);
	char *line;

	if (!ui)
		return CMD_FAIL;
	line = ui_prompt_read(ui, c->argc ? c->argv[0] : "");
	if (line && *line)
		ui_exec(s, line);
	free(line);
	return CMD_OK;
}

static enum cmd_status cmd_save_screen(struct rl_session *s,
                                       const struct cmd_call *c)
{
	struct ui *ui = need_active(s);
	struct out_file of;
	int r;

	if (!ui)
		return CMD_FAIL;
	ui_draw(ui); /* the screen as it stands, without the prompt */
	/* it shows names: private as an export would be */
	r = out_file_open(&of, c->argv[0],
	                  session_output_private(s) ? 0600 : 0666);
	if (r == 0)
		r = out_file_close(&of, ui_screen_text(of.f));
	if (r < 0) {
		session_error(s, "%s: %s", c->argv[0], out_file_strerror(r));
		return CMD_FAIL;
	}
	ui->dirty = true;
	return CMD_OK;
}

/* --------------------------------------------------------- selection */

struct sel_filter {
	enum { SEL_GLOB, SEL_FRAG, SEL_SIZE } kind;
	const char *glob;
	uint64_t n;
};

static bool sel_match(struct lm_model *m, uint32_t id,
                      const struct sel_filter *f)
{
	const struct lm_file *fl = lm_file(m, id);

	switch (f->kind) {
	case SEL_GLOB:
		for (uint32_t k = 0; k < fl->npaths; k++) {
			const char *p = lm_file_path(m, id, k);
			if (p && fnmatch(f->glob, p, 0) == 0)
				return true;
		}
		return false;
	case SEL_FRAG: {
		struct lm_file_frag ff;
		lm_file_frag(m, id, &ff);
		return ff.regions > f->n;
	}
	default:
		return fl->size > f->n;
	}
}

static enum cmd_status cmd_select(struct rl_session *s,
                                  const struct cmd_call *c)
{
	bool on = !cmd_has_opt(c, "off", NULL);
	struct sel_filter f = {SEL_GLOB, NULL, 0};
	const char *a = c->argv[0];
	struct lm_model *m;
	struct ui *ui = s->ui;
	size_t count = 0;

	m = need_model(s);
	if (!m)
		return CMD_FAIL;
	if (!strcmp(a, "clear")) {
		lm_select_clear(m);
		goto done;
	}
	if (!strcmp(a, "path")) {
		if (c->argc < 2) {
			session_error(s, "usage: select path GLOB");
			return CMD_USAGE;
		}
		f.glob = c->argv[1];
	} else if (!strncmp(a, "frag>", 5) || !strncmp(a, "size>", 5)) {
		f.kind = a[0] == 'f' ? SEL_FRAG : SEL_SIZE;
		if (units_parse_size(a + 5, &f.n) < 0) {
			session_error(s, "'%s': expected %s>N", a,
			              a[0] == 'f' ? "frag" : "size");
			return CMD_USAGE;
		}
	} else {
		uint32_t id = find_file(m, a);
		if (id == LM_NONE) {
			session_error(s,
			              "'%s': no such file in the layout "
			              "model",
			              a);
			return CMD_FAIL;
		}
		lm_select(m, id, on);
		count = 1;
		goto done;
	}
	for (uint32_t id = 0; id < lm_file_count(m); id++)
		if (sel_match(m, id, &f)) {
			lm_select(m, id, on);
			count++;
		}
	if (ui && ui->active)
		ui_message(ui, false, "%zu file%s %sselected", count,
		           count == 1 ? "" : "s", on ? "" : "de");
done:
	if (ui)
		ui->dirty = true;
	return CMD_OK;
}

/* The key's form: select or deselect the file under the cursor by running
 * (and so recording) `select [--off] -- PATH`. */
static enum cmd_status cmd_pick(struct rl_session *s, const struct cmd_call *c)
{
	struct ui *ui = need_active(s);
	uint64_t st, en;
	uint32_t id;
	char *line = NULL;
	size_t len = 0;
	FILE *f;
	enum cmd_status r;

	if (!ui)
		return CMD_FAIL;
	ui_map_cursor_range(ui, &st, &en);
	id = ui_map_first_file(ui, st, en);
	if (id == LM_NONE) {
		session_error(s, "no file under the cursor");
		return CMD_FAIL;
	}
	f = open_memstream(&line, &len);
	if (!f) {
		session_error(s, "out of memory");
		return CMD_FAIL;
	}
	fprintf(f, "select %s-- ",
	        lm_file(ui->model, id)->flags & LM_FILE_SELECTED ? "--off "
	                                                         : "");
	units_put_word(f, lm_file_path(ui->model, id, 0));
	fclose(f);
	ui->pane_file = id;
	r = cmd_exec_line(s, line);
	free(line);
	return r;
}

/* ----------------------------------------------------- target region */

static enum cmd_status cmd_target(struct rl_session *s,
                                  const struct cmd_call *c)
{
	struct ui *ui = need_ui(s);
	uint64_t a, b;

	if (!ui)
		return CMD_FAIL;
	if (!strcmp(c->argv[0], "clear")) {
		ui->have_target = ui->mark_pending = false;
		ui->dirty = true;
		return CMD_OK;
	}
	if (c->argc < 2 || units_parse_size(c->argv[0], &a) < 0 ||
	    units_parse_size(c->argv[1], &b) < 0 || b <= a) {
		session_error(s, "usage: target START END (END above START) "
		                 "| target clear");
		return CMD_USAGE;
	}
	ui->mark_start = a;
	ui->mark_end = b;
	ui->have_target = true;
	ui->mark_pending = false;
	ui->dirty = true;
	return CMD_OK;
}

static enum cmd_status cmd_mark(struct rl_session *s, const struct cmd_call *c)
{
	struct ui *ui = need_active(s);
	uint64_t a, b;
	char line[128];

	if (!ui)
		return CMD_FAIL;
	if (c->argc && !strcmp(c->argv[0], "clear"))
		return cmd_exec_line(s, "target clear");
	ui_map_cursor_range(ui, &a, &b);
	if (!ui->mark_pending) {
		ui->mark_pending = true;
		ui->mark_start = a;
		ui_message(ui, false,
		           "target starts at 0x%" PRIx64 ": move, then m again",
		           a);
		return CMD_OK;
	}
	if (a < ui->mark_start)
		snprintf(line, sizeof(line), "target 0x%" PRIx64 " 0x%" PRIx64,
		         a, ui->mark_start + ui_map_cell_bytes(ui));
	else
		snprintf(line, sizeof(line), "target 0x%" PRIx64 " 0x%" PRIx64,
		         ui->mark_start, b);
	return cmd_exec_line(s, line);
}

/* ----------------------------------------------------------- actions */

/* Build the move of the selected files into the target region, packed
 * from its start: *real gets the command line, *preview the same with
 * --dry-run, planned destinations go into ui. */
static int plan_move(struct rl_session *s, struct ui *ui, char **real,
                     char **preview, char **summary)
{
	struct lm_model *m = ui->model;
	char *rt = NULL, *pt = NULL;
	size_t rl = 0, pl = 0, nfiles = 0;
	FILE *rf, *pf;
	uint64_t goal = ui->mark_start, bytes = 0, runs = 0;

	if (!ui->have_target) {
		session_error(s, "no target region: mark one with m (start), "
		                 "then m (end), or 'target START END'");
		return -EINVAL;
	}
	rf = open_memstream(&rt, &rl);
	pf = open_memstream(&pt, &pl);
	if (!rf || !pf) {
		if (rf)
			fclose(rf);
		free(rt);
		session_error(s, "out of memory");
		return -ENOMEM;
	}
	for (uint32_t id = 0; id < lm_file_count(m); id++) {
		const struct lm_file *fl = lm_file(m, id);
		const struct lm_extent *e;
		size_t n;
		uint64_t len = 0;

		if (!(fl->flags & LM_FILE_SELECTED) || !S_ISREG(fl->mode))
			continue;
		e = lm_file_extents(m, id, &n);
		for (size_t i = 0; i < n; i++)
			len += e[i].length;
		if (!len)
			continue;
		len = (len + ui->block - 1) / ui->block * ui->block;
		struct lm_file_frag ff;
		lm_file_frag(m, id, &ff);
		runs += ff.regions;
		if (mem_grow(&ui->planned, &ui->planned_cap, ui->nplanned + 1,
		             sizeof(*ui->planned)) < 0)
			break;
		ui->planned[ui->nplanned].start = goal;
		ui->planned[ui->nplanned++].len = len;
		fprintf(rf, "%smove --to 0x%" PRIx64 " -- ", nfiles ? "; " : "",
		        goal);
		fprintf(pf, "%smove --dry-run --to 0x%" PRIx64 " -- ",
		        nfiles ? "; " : "", goal);
		/* Commands take paths as the user would: absolute. */
		char abs[2 * 4096 + 2];
		snprintf(abs, sizeof(abs), "%s/%s",
		         lm_geometry(m)->fs.mountpoint, lm_file_path(m, id, 0));
		units_put_word(rf, abs);
		units_put_word(pf, abs);
		goal += len;
		bytes += len;
		nfiles++;
	}
	fclose(rf);
	fclose(pf);
	if (!nfiles || goal > ui->mark_end) {
		char need[32], have[32];
		units_format_size(bytes, need, sizeof(need));
		units_format_size(ui->mark_end - ui->mark_start, have,
		                  sizeof(have));
		if (!nfiles)
			session_error(s,
			              "nothing selected (Space on a file, or "
			              "'select ...')");
		else
			session_error(s,
			              "the target region (%s) is smaller "
			              "than the selection (%s)",
			              have, need);
		free(rt);
		free(pt);
		return -EINVAL;
	}
	char b[32];
	units_format_size(bytes, b, sizeof(b));
	if (asprintf(summary,
	             "move %zu file%s (%s) to 0x%" PRIx64 ", runs %" PRIu64
	             " -> %zu",
	             nfiles, nfiles == 1 ? "" : "s", b, ui->mark_start, runs,
	             nfiles) < 0)
		*summary = NULL;
	*real = rt;
	*preview = pt;
	return 0;
}

/* Ask y/n on the message line. */
static bool confirm(struct ui *ui, const char *question)
{
	ui_message(ui, false, "%s (y/n)", question);
	ui_draw(ui);
	refresh();
	for (;;) {
		int ch = getch();
		if (ch == 'y' || ch == 'Y')
			return true;
		if (ch == 'n' || ch == 'N' || ch == 27 || ch == 3 || ch == 'q')
			return false;
	}
}

static enum cmd_status cmd_action(struct rl_session *s,
                                  const struct cmd_call *c)
{
	struct ui *ui = need_active(s);
	const char *a = c->argv[0];
	char *real = NULL, *preview = NULL, *summary = NULL;
	enum cmd_status st;

	if (!ui)
		return CMD_FAIL;
	if (!strcmp(a, "discard")) {
		if (!ui->plan_line)
			return CMD_OK;
		ui_plan_clear(ui);
		ui_message(ui, false, "plan discarded");
		return CMD_OK;
	}
	if (!strcmp(a, "apply")) {
		char q[600];

		if (!ui->plan_line) {
			session_error(s, "no plan to apply (v: move the "
			                 "selection to the target, u: undo)");
			return CMD_FAIL;
		}
		snprintf(q, sizeof(q), "Apply: %.500s?",
		         ui->plan_summary ? ui->plan_summary : ui->plan_line);
		if (!confirm(ui, q)) {
			ui_message(ui, false,
			           "not applied (Esc discards the "
			           "plan)");
			return CMD_OK;
		}
		ui_message(ui, false, "applying... (Esc cancels)");
		ui_draw(ui);
		refresh();
		real = ui->plan_line;
		summary = ui->plan_summary;
		ui->plan_line = ui->plan_summary = NULL;
		ui_plan_clear(ui);
		ui_progress_hooks(s, true);
		st = cmd_exec_line(s, real);
		ui_progress_hooks(s, false);
		free(real);
		/* The transaction updates the session's model (extents of
		 * the moved files, free space at both ends): the map follows
		 * without a rescan. */
		ui_sync_session(s);
		if (st == CMD_OK)
			ui_message(ui, false, "applied: %s (u: undo)",
			           summary ? summary : "plan");
		else
			ui->msg[0] = '\0'; /* the command's error shows */
		free(summary);
		return st;
	}
	ui_plan_clear(ui);
	if (!strcmp(a, "move")) {
		if (plan_move(s, ui, &real, &preview, &summary) < 0) {
			ui_plan_clear(ui);
			return CMD_FAIL;
		}
	} else if (!strcmp(a, "undo")) {
		real = strdup("undo");
		preview = strdup("undo --dry-run");
		summary = strdup("undo the last transaction");
	} else {
		session_error(s, "usage: action move|undo|apply|discard");
		return CMD_USAGE;
	}
	if (!real || !preview) {
		free(real);
		free(preview);
		free(summary);
		session_error(s, "out of memory");
		return CMD_FAIL;
	}
	/* The preview is the command's own dry run: it checks the plan. */
	st = cmd_exec_line(s, preview);
	free(preview);
	if (st != CMD_OK) {
		free(real);
		free(summary);
		ui_plan_clear(ui);
		return st;
	}
	ui->plan_line = real;
	ui->plan_summary = summary;
	ui_message(ui, false, "plan: %s -- a applies, Esc discards",
	           summary ? summary : real);
	return CMD_OK;
}

/* The UI as the session's front end (main() installs it). */
static const cmd_handler ui_commands[CMD_UI_N] = {
#define X(name, id, args, mn, mx, fl, opts, help) [CMD_UI_##id] = cmd_##id,
    RL_UI_COMMANDS(X)
#undef X
};

const struct rl_frontend ui_frontend = {
    .commands = ui_commands,
    .free = ui_free,
};
