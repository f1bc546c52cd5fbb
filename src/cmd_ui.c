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
#include "planner.h"
#include "session.h"
#include "session_model.h"
#include "txn.h"
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
	id = session_model_find(s, m, c->argv[0]);
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

		if (ui && ui->pane == UI_PANE_OUTPUT) {
			/* the notes grouped, or every one */
			ui->out_full = !ui->out_full;
			ui->dirty = true;
		}
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

static bool confirm(struct ui *ui, const char *question);

/* q: with a pending plan, asks first. */
static enum cmd_status cmd_quit(struct rl_session *s, const struct cmd_call *c)
{
	struct ui *ui = s->ui;

	if (ui && ui->active && s->pending && s->pending->nsteps) {
		char q[600];
		snprintf(q, sizeof(q),
		         "A plan is pending (%.500s): quit without applying "
		         "it?",
		         ui->plan_summary ? ui->plan_summary
		                          : s->pending->command);
		if (!confirm(ui, q)) {
			ui_message(ui, false,
			           "not quit (a applies the plan, Esc "
			           "discards it)");
			return CMD_OK;
		}
	}
	if (ui)
		ui->quit = true;
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
		uint32_t id = session_model_find(s, m, a);
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
	/* what lies under it: the map keeps those cells' glyphs (the
	 * session's model: the map's may be an older one until it syncs) */
	if (s->model) {
		char what[512], sz[32];
		units_format_size(b - a, sz, sizeof(sz));
		if (pl_region_text(s->model, a, b, false, what, sizeof(what),
		                   NULL) == 0)
			fprintf(s->out,
			        "target 0x%" PRIx64 "..0x%" PRIx64
			        " (%s): %s\n",
			        a, b, sz, what);
	}
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

/* Run a command line whose output says nothing the user needs (plan
 * on|off, discard): its output shown only when it fails. */
static enum cmd_status quiet_exec(struct rl_session *s, const char *line)
{
	char *text = NULL;
	size_t len = 0;
	FILE *so = s->out, *se = s->err, *f = open_memstream(&text, &len);
	enum cmd_status st;

	if (!f)
		return cmd_exec_line(s, line);
	s->out = s->err = f;
	st = cmd_exec_line(s, line);
	s->out = so;
	s->err = se;
	fclose(f);
	if (st != CMD_OK && text)
		fputs(text, s->err);
	free(text);
	return st;
}

static bool plan_pending(const struct rl_session *s)
{
	return s->pending && s->pending->nsteps;
}

/* The selected regular files with data: count and bytes. */
static size_t selection(struct lm_model *m, uint64_t *bytes)
{
	size_t n = 0;

	*bytes = 0;
	for (uint32_t id = 0; id < lm_file_count(m); id++) {
		const struct lm_file *fl = lm_file(m, id);
		const struct lm_extent *e;
		size_t ne;

		if (!(fl->flags & LM_FILE_SELECTED) || !S_ISREG(fl->mode))
			continue;
		e = lm_file_extents(m, id, &ne);
		if (!ne)
			continue;
		for (size_t i = 0; i < ne; i++)
			*bytes += e[i].length;
		n++;
	}
	return n;
}

/* Where the pending plan's targets end (0: none). */
static uint64_t pending_end(const struct rl_session *s)
{
	uint64_t end = 0;

	for (size_t i = 0; s->pending && i < s->pending->nsteps; i++) {
		const struct jr_range *r = &s->pending->steps[i].range;
		for (size_t k = 0; k < r->ntarget; k++)
			if (r->target[k].physical + r->target[k].length > end)
				end =
				    r->target[k].physical + r->target[k].length;
	}
	return end;
}

/* The files a command takes at most at once (CMD_MAX_ARGS): a larger
 * selection is planned in parts, into the one pending plan. */
#define ACTION_FILES 60

/* Plan CMD (group or defrag) over the selection into the pending plan:
 * `CMD [--to GOAL [--end END]] -- PATH...`, in parts of ACTION_FILES
 * files; group's parts go back to back from goal, into the free runs of
 * the region up to end (when not 0). */
static enum cmd_status plan_selection(struct rl_session *s, struct ui *ui,
                                      const char *cmd, bool to, uint64_t goal,
                                      uint64_t end)
{
	struct lm_model *m = ui->model;
	uint32_t id = 0, nf = lm_file_count(m);
	enum cmd_status st = CMD_OK;

	while (st == CMD_OK && id < nf) {
		char *line = NULL;
		size_t len = 0, n = 0;
		FILE *f = open_memstream(&line, &len);

		if (!f) {
			session_error(s, "out of memory");
			return CMD_FAIL;
		}
		if (to && plan_pending(s))
			goal = pending_end(s);
		fprintf(f, "%s", cmd);
		if (to)
			fprintf(f, " --to 0x%" PRIx64, goal);
		if (to && end)
			fprintf(f, " --end 0x%" PRIx64, end);
		fprintf(f, " --");
		for (; id < nf && n < ACTION_FILES; id++) {
			const struct lm_file *fl = lm_file(m, id);
			size_t ne;
			if (!(fl->flags & LM_FILE_SELECTED) ||
			    !S_ISREG(fl->mode) ||
			    (lm_file_extents(m, id, &ne), ne == 0))
				continue;
			/* commands take paths as the user would: absolute */
			char abs[2 * 4096 + 2];
			snprintf(abs, sizeof(abs), "%s/%s",
			         lm_geometry(m)->fs.mountpoint,
			         lm_file_path(m, id, 0));
			fputc(' ', f);
			units_put_word(f, abs);
			n++;
		}
		fclose(f);
		if (n)
			st = cmd_exec_line(s, line);
		free(line);
	}
	return st;
}

static int path_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The pending plan in words: "N files (SIZE, K steps)". */
static void plan_words(const struct rl_session *s, char *buf, size_t size)
{
	const struct tx_plan *p = s->pending;
	const char **v = malloc((p->nsteps + 1) * sizeof(*v));
	size_t files = 0;
	char sz[32];

	for (size_t i = 0; v && i < p->nsteps; i++)
		v[i] = p->steps[i].range.path;
	if (v) {
		mem_sort(v, p->nsteps, sizeof(*v), path_cmp);
		for (size_t i = 0; i < p->nsteps; i++)
			files += i == 0 || strcmp(v[i - 1], v[i]);
	}
	free(v);
	units_format_size(p->total, sz, sizeof(sz));
	snprintf(buf, size, "%zu file%s (%s, %zu step%s)", files,
	         files == 1 ? "" : "s", sz, p->nsteps,
	         p->nsteps == 1 ? "" : "s");
}

enum ui_act {
	ACT_MOVE,
	ACT_DEFRAG,
	ACT_COMPACT,
	ACT_EVACUATE,
	ACT_UNDO,
	ACT_REDO,
	ACT_N
};
static const char *const act_names[ACT_N] = {
    "move", "defrag", "compact", "evacuate", "undo", "redo",
};

/* Plan action k into the session's pending plan (plan mode on for it):
 * CMD_OK with *summary (malloc'ed), or the failure, nothing pending. */
static enum cmd_status plan_action(struct rl_session *s, struct ui *ui,
                                   enum ui_act k, char **summary)
{
	bool was_on = s->plan_mode;
	uint64_t bytes = 0, a = ui->mark_start, b = ui->mark_end;
	size_t nsel = selection(ui->model, &bytes);
	char line[128], what[128];
	enum cmd_status st;
	int r;

	if ((k == ACT_MOVE || k == ACT_DEFRAG) && !nsel) {
		session_error(s, "nothing selected (Space on a file, or "
		                 "'select ...')");
		return CMD_FAIL;
	}
	if ((k == ACT_MOVE || k == ACT_EVACUATE) && !ui->have_target) {
		session_error(s, "no target region: mark one with m (start), "
		                 "then m (end), or 'target START END'");
		return CMD_FAIL;
	}
	if (k == ACT_MOVE && bytes > b - a) {
		char need[32], have[32];
		units_format_size(bytes, need, sizeof(need));
		units_format_size(b - a, have, sizeof(have));
		session_error(s,
		              "the target region (%s) is smaller than the "
		              "selection (%s)",
		              have, need);
		return CMD_FAIL;
	}
	if (!was_on && quiet_exec(s, "plan on") != CMD_OK)
		return CMD_FAIL;
	switch (k) {
	case ACT_MOVE:
		st = plan_selection(s, ui, "group", true, a, b);
		break;
	case ACT_DEFRAG:
		st = plan_selection(s, ui, "defrag", false, 0, 0);
		break;
	case ACT_COMPACT:
	case ACT_EVACUATE:
		if (ui->have_target)
			snprintf(line, sizeof(line),
			         "%s 0x%" PRIx64 " 0x%" PRIx64, act_names[k], a,
			         b);
		else
			snprintf(line, sizeof(line), "%s", act_names[k]);
		st = cmd_exec_line(s, line);
		break;
	default:
		st = cmd_exec_line(s, act_names[k]);
		break;
	}
	if (!was_on)
		quiet_exec(s, "plan off");
	if (st == CMD_OK && k == ACT_MOVE && pending_end(s) > b) {
		char end[32];
		units_format_size(pending_end(s) - a, end, sizeof(end));
		session_error(s,
		              "the plan needs %s from 0x%" PRIx64 ", beyond "
		              "the target region's end 0x%" PRIx64
		              " (mark a larger one)",
		              end, a, b);
		st = CMD_FAIL;
	}
	if (st != CMD_OK) {
		if (plan_pending(s))
			quiet_exec(s, "discard");
		return st;
	}
	if (!plan_pending(s))
		return CMD_OK; /* nothing to do: the command said so */
	plan_words(s, what, sizeof(what));
	switch (k) {
	case ACT_MOVE:
		r = asprintf(summary, "move %s to 0x%" PRIx64, what, a);
		break;
	case ACT_COMPACT:
	case ACT_EVACUATE:
		r = (ui->have_target
		         ? asprintf(summary,
		                    "%s 0x%" PRIx64 "..0x%" PRIx64 ": %s",
		                    act_names[k], a, b, what)
		         : asprintf(summary, "%s the volume: %s", act_names[k],
		                    what));
		break;
	case ACT_UNDO:
	case ACT_REDO:
		r = (*summary = strdup(what)) ? 0 : -1;
		break;
	default:
		r = asprintf(summary, "%s %s", act_names[k], what);
		break;
	}
	if (r < 0) {
		*summary = NULL;
		session_error(s, "out of memory");
		quiet_exec(s, "discard");
		return CMD_FAIL;
	}
	return CMD_OK;
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

/* Run a line that changes the disk, with the progress bar and the
 * cancel keys; the map follows the model it leaves. */
static enum cmd_status run_applying(struct rl_session *s, struct ui *ui,
                                    const char *line)
{
	enum cmd_status st;

	ui_message(ui, false, "applying... (Esc cancels)");
	ui_draw(ui);
	refresh();
	ui_progress_hooks(s, true);
	st = cmd_exec_line(s, line);
	ui_progress_hooks(s, false);
	ui_sync_session(s);
	return st;
}

/* Undo and redo: the preview is the command's own plan (plan mode), the
 * confirmation asks, and the command itself runs (journaled as an undo:
 * the pending plan is dropped first). */
static enum cmd_status undo_action(struct rl_session *s, struct ui *ui,
                                   enum ui_act k)
{
	char *summary = NULL, q[700];
	enum cmd_status st = plan_action(s, ui, k, &summary);

	if (st != CMD_OK || !summary)
		return st;
	snprintf(q, sizeof(q), "%s %.600s?", k == ACT_UNDO ? "Undo" : "Redo",
	         summary);
	ui_sync_session(s);
	if (!confirm(ui, q)) {
		quiet_exec(s, "discard");
		ui_sync_session(s);
		free(summary);
		ui_message(ui, false, "not %s",
		           k == ACT_UNDO ? "undone" : "redone");
		return CMD_OK;
	}
	quiet_exec(s, "discard");
	/* run, not planned, even when plan mode was on at the prompt */
	bool was_on = s->plan_mode;
	if (was_on)
		quiet_exec(s, "plan off");
	st = run_applying(s, ui, act_names[k]);
	if (was_on)
		quiet_exec(s, "plan on");
	if (st == CMD_OK)
		ui_message(ui, false, "%s: %s (%s)",
		           k == ACT_UNDO ? "undone" : "redone", summary,
		           k == ACT_UNDO ? "u: undo the one before, U: redo"
		                         : "U: redo the next, u: undo it");
	free(summary);
	return st;
}

static enum cmd_status cmd_action(struct rl_session *s,
                                  const struct cmd_call *c)
{
	struct ui *ui = need_active(s);
	const char *a = c->argv[0];
	char *summary = NULL;
	enum cmd_status st;
	int k;

	if (!ui)
		return CMD_FAIL;
	/* Refused early, with the real reason: not after a preview that
	 * passes and an apply that fails. */
	if (ui->readonly && strcmp(a, "discard") != 0) {
		const char *why = session_change_refusal(s);
		session_error(s, "%s",
		              why ? why
		              : s->read_only_snapshot
		                  ? "the view is a snapshot (read-only)"
		              : ui->ro_why ? ui->ro_why
		                           : "read-only view");
		return CMD_FAIL;
	}
	if (!strcmp(a, "discard")) {
		if (!plan_pending(s))
			return CMD_OK;
		st = quiet_exec(s, "discard");
		ui_sync_session(s);
		if (st == CMD_OK)
			ui_message(ui, false, "plan discarded");
		return st;
	}
	if (!strcmp(a, "apply")) {
		char q[600];

		if (!plan_pending(s)) {
			session_error(s, "no plan to apply (v: move the "
			                 "selection to the target, D, C, E: "
			                 "defrag, compact, evacuate)");
			return CMD_FAIL;
		}
		summary = ui->plan_summary ? strdup(ui->plan_summary) : NULL;
		snprintf(q, sizeof(q), "Apply: %.500s?",
		         summary ? summary : s->pending->command);
		if (!confirm(ui, q)) {
			free(summary);
			ui_message(ui, false,
			           "not applied (a asks again, Esc discards "
			           "the plan)");
			return CMD_OK;
		}
		st = run_applying(s, ui, "apply");
		if (st == CMD_OK)
			ui_message(ui, false, "applied: %s (u: undo)",
			           summary ? summary : "plan");
		free(summary);
		return st;
	}
	for (k = 0; k < ACT_N; k++)
		if (!strcmp(a, act_names[k]))
			break;
	if (k == ACT_N) {
		session_error(s, "usage: action move|defrag|compact|evacuate|"
		                 "undo|redo|apply|discard");
		return CMD_USAGE;
	}
	if (plan_pending(s)) {
		session_error(s, "a plan is pending: a applies it, Esc "
		                 "discards it");
		return CMD_FAIL;
	}
	if (k == ACT_UNDO || k == ACT_REDO)
		return undo_action(s, ui, (enum ui_act)k);
	st = plan_action(s, ui, (enum ui_act)k, &summary);
	ui_sync_session(s);
	if (st != CMD_OK || !summary)
		return st;
	free(ui->plan_summary);
	ui->plan_summary = summary;
	ui_message(ui, false, "plan: %s -- a applies, Esc discards", summary);
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
    .after = ui_sync_session,
};
