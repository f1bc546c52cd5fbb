/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The `:` prompt: GNU readline driven through its callback interface from
 * the curses key loop (rl_getc_function hands readline the key curses
 * read; rl_redisplay_function draws the line on the message row). History
 * lives in $XDG_STATE_HOME/relayout/history (default ~/.local/state),
 * a directory checked like the journal's (session_state_file): without a
 * safe one there is no history file;
 * completion offers command names from the command table, theme names
 * after `theme`, and file names elsewhere.
 */
#include "config.h"
#include <curses.h>
#include <dirent.h>
#include <errno.h>
#include <readline/history.h>
#include <readline/readline.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "commands.h"
#include "layout_model.h"
#include "session.h"
#include "ui.h"

/* Readline's callback interface has no user pointer: the one prompt. */
static struct ui *p_ui;
static void (*p_redraw)(struct ui *ui);
static int p_key;
static bool p_have_key, p_done;
static char *p_line;

static int p_getc(FILE *f)
{
	(void)f;
	p_have_key = false;
	return p_key;
}

static int p_input_available(void)
{
	return p_have_key;
}

static void p_redisplay(void)
{
	struct ui *ui = p_ui;
	const char *prompt = rl_display_prompt ? rl_display_prompt : "";
	int plen = (int)strlen(prompt), y = ui->rows - 2, w = ui->cols;
	int point = rl_point, off = 0;

	if (y < 0)
		y = 0;
	/* Scroll the line horizontally to keep the point visible. */
	if (plen + point >= w - 1)
		off = plen + point - (w - 2);
	attrset(ui_attr(ui, UI_ROLE_PROMPT));
	mvhline(y, 0, ' ', w);
	if (off < plen)
		mvaddnstr(y, 0, prompt + off, w);
	int x = plen > off ? plen - off : 0;
	int from = off > plen ? off - plen : 0;
	if ((int)strlen(rl_line_buffer) > from)
		mvaddnstr(y, x, rl_line_buffer + from, w - x);
	attrset(A_NORMAL);
	move(y, plen + point - off);
	refresh();
}

static void p_handler(char *line)
{
	p_line = line;
	p_done = true;
	rl_callback_handler_remove();
}

/* Matches are shown on the message line, not printed by readline. */
static void p_display_matches(char **matches, int n, int max)
{
	char buf[512];
	size_t used = 0;

	(void)max;
	buf[0] = '\0';
	for (int i = 1; i <= n && used < sizeof(buf) - 1; i++) {
		int k =
		    snprintf(buf + used, sizeof(buf) - used, "%s ", matches[i]);
		if (k < 0)
			break;
		used += (size_t)k;
	}
	ui_message(p_ui, false, "%s", buf);
	p_redraw(p_ui);
	p_redisplay();
}

char *ui_complete_command(const char *text, int state)
{
	static size_t i, len;

	if (!state) {
		i = 0;
		len = strlen(text);
	}
	while (i < cmd_table_len) {
		const char *n = cmd_table[i++].name;
		if (!strncmp(n, text, len))
			return strdup(n);
	}
	return NULL;
}

static char *complete_theme(const char *text, int state)
{
	static DIR *d;
	static char dir[4096];
	struct dirent *de;
	size_t len = strlen(text);

	if (!state) {
		char *slash;
		if (d)
			closedir(d);
		d = NULL;
		/* The directory the default theme is found in. */
		if (ui_theme_path("default", dir, sizeof(dir)) == 0 &&
		    (slash = strrchr(dir, '/'))) {
			*slash = '\0';
			d = opendir(dir);
		}
	}
	while (d && (de = readdir(d))) {
		size_t n = strlen(de->d_name);
		if (n > 6 && !strcmp(de->d_name + n - 6, ".theme") &&
		    !strncmp(de->d_name, text, len))
			return strndup(de->d_name, n - 6);
	}
	if (d) {
		closedir(d);
		d = NULL;
	}
	return NULL;
}

/* Paths of files in the layout model, in the form the text started:
 * absolute under the mount point when it starts with '/', else relative
 * to the volume root (what every command resolves, session_path_resolve).
 */
static char *complete_volume_path(const char *text, int state)
{
	static uint32_t i;
	static size_t len, ml;
	static const char *mp;
	struct lm_model *m = p_ui->model;

	if (!state) {
		i = 0;
		len = strlen(text);
		mp = m ? lm_geometry(m)->fs.mountpoint : "";
		ml = strcmp(mp, "/") ? strlen(mp) : 0;
	}
	if (!m)
		return NULL;
	if (text[0] == '/') {
		/* the mount point itself, then the paths under it */
		while (i < lm_file_count(m)) {
			const char *p = lm_file_path(m, i++, 0);
			char *abs;
			if (!p || asprintf(&abs, "%s/%s", ml ? mp : "", p) < 0)
				continue;
			if (!strncmp(abs, text, len))
				return abs;
			free(abs);
		}
		return NULL;
	}
	while (i < lm_file_count(m)) {
		const char *p = lm_file_path(m, i++, 0);
		if (p && !strncmp(p, text, len))
			return strdup(p);
	}
	return NULL;
}

/* Does the line's command take paths on the volume (CMD_F_PATHS: FILE,
 * PATH, or FILE as one of its forms, as goto and select)? */
static bool takes_volume_path(void)
{
	char name[32];
	size_t n = strcspn(rl_line_buffer, " ");
	const struct cmd_def *d;

	if (n >= sizeof(name))
		return false;
	memcpy(name, rl_line_buffer, n);
	name[n] = '\0';
	d = cmd_find(name);
	return d && (d->flags & CMD_F_PATHS);
}

static bool first_word_is(const char *const *words)
{
	for (; *words; words++) {
		size_t n = strlen(*words);
		if (!strncmp(rl_line_buffer, *words, n) &&
		    rl_line_buffer[n] == ' ')
			return true;
	}
	return false;
}

static char **p_complete(const char *text, int start, int end)
{
	static const char *const themes[] = {"theme", NULL};

	(void)end;
	if (start == 0)
		return rl_completion_matches(text, ui_complete_command);
	if (first_word_is(themes)) {
		rl_attempted_completion_over = 1;
		return rl_completion_matches(text, complete_theme);
	}
	if (takes_volume_path() && p_ui->model) {
		rl_attempted_completion_over = 1;
		return rl_completion_matches(text, complete_volume_path);
	}
	return NULL; /* file names */
}

void ui_prompt_init(struct ui *ui, void (*redraw)(struct ui *ui))
{
	p_ui = ui;
	p_redraw = redraw;
	rl_readline_name = "relayout";
	rl_catch_signals = 0;
	rl_catch_sigwinch = 0;
	rl_change_environment = 0;
	rl_prep_term_function = NULL;
	rl_deprep_term_function = NULL;
	rl_getc_function = p_getc;
	rl_input_available_hook = p_input_available;
	rl_redisplay_function = p_redisplay;
	rl_completion_display_matches_hook = p_display_matches;
	rl_attempted_completion_function = p_complete;
	rl_variable_bind("bell-style", "none");
	using_history();
	stifle_history(1000);
	ui->history_path = session_state_file("history");
	if (ui->history_path)
		read_history(ui->history_path);
}

void ui_prompt_done(struct ui *ui)
{
	if (ui->history_path)
		write_history(ui->history_path);
}

/* Curses keys to what readline expects. */
static int map_key(int ch)
{
	switch (ch) {
	case KEY_LEFT:
		return 2; /* C-b */
	case KEY_RIGHT:
		return 6; /* C-f */
	case KEY_UP:
		return 16; /* C-p */
	case KEY_DOWN:
		return 14; /* C-n */
	case KEY_HOME:
		return 1; /* C-a */
	case KEY_END:
		return 5; /* C-e */
	case KEY_BACKSPACE:
		return 127;
	case KEY_DC:
		return rl_end > rl_point ? 4 : -1;
	case KEY_ENTER:
		return '\r';
	default:
		return ch < 256 ? ch : -1;
	}
}

char *ui_prompt_read(struct ui *ui, const char *initial)
{
	char *line;

	p_ui = ui;
	p_done = false;
	p_line = NULL;
	ui->prompt_active = true;
	curs_set(1);
	rl_callback_handler_install(":", p_handler);
	if (initial && *initial)
		rl_insert_text(initial);
	p_redraw(ui);
	p_redisplay();
	while (!p_done) {
		int ch = getch();

		if (ch == ERR)
			continue;
		if (ch == KEY_RESIZE) {
			getmaxyx(stdscr, ui->rows, ui->cols);
			ui_map_layout(ui);
			p_redraw(ui);
			p_redisplay();
			continue;
		}
		if (ch == 27 || ch == 3 || ch == 7) { /* Esc, C-c, C-g */
			rl_replace_line("", 0);
			rl_callback_handler_remove();
			break;
		}
		if (ch == 4 && rl_end == 0) /* C-d on an empty line */
			continue;
		ch = map_key(ch);
		if (ch < 0)
			continue;
		p_key = ch;
		p_have_key = true;
		rl_callback_read_char();
	}
	curs_set(0);
	ui->prompt_active = false;
	ui->msg[0] = '\0';
	ui->dirty = true;
	line = p_line;
	p_line = NULL;
	if (line && *line)
		add_history(line);
	return line;
}
