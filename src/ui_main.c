/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The UI's main loop: terminal setup and restore (every exit path,
 * signals, a crash handler), resize, key -> bound command line -> the
 * executor, output capture into the message line and the output pane.
 */
#include "config.h"
#include <curses.h>
#include <errno.h>
#include <locale.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "commands.h"
#include "layout_model.h"
#include "mem.h"
#include "output.h"
#include "session.h"
#include "txn.h"
#include "ui.h"

#define UI_MIN_COLS 40
#define UI_MIN_ROWS 12

static volatile sig_atomic_t ui_signal;
static volatile sig_atomic_t ui_curses_up;

struct ui *ui_get(struct rl_session *s)
{
	if (!s->ui) {
		s->ui = calloc(1, sizeof(*s->ui));
		if (s->ui) {
			const char *nc = getenv("NO_COLOR");
			s->ui->no_color = nc && *nc;
			s->ui->pane_file = LM_NONE;
		}
	}
	return s->ui;
}

void ui_free(struct ui *ui)
{
	if (!ui)
		return;
	for (size_t i = 0; i < ui->nbinds; i++)
		free(ui->binds[i].line);
	free(ui->binds);
	free(ui->out_text);
	free(ui->history_path);
	free(ui->hits);
	ui_plan_clear(ui);
	free(ui);
}

void ui_plan_clear(struct ui *ui)
{
	free(ui->plan_summary);
	free(ui->planned);
	free(ui->vacated);
	ui->plan_summary = NULL;
	ui->planned = ui->vacated = NULL;
	ui->nplanned = ui->nvacated = 0;
	ui->plan_seen = NULL;
	ui->plan_seen_steps = 0;
	ui->dirty = true;
}

static int range_cmp(const void *a, const void *b)
{
	const struct ui_range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Sort the k ranges of v and merge those that meet; how many remain. */
static size_t ranges_merge(struct ui_range *v, size_t k)
{
	size_t n = 0;

	mem_sort(v, k, sizeof(*v), range_cmp);
	for (size_t i = 0; i < k; i++) {
		if (n && v[i].start <= v[n - 1].start + v[n - 1].len) {
			uint64_t end = v[i].start + v[i].len;
			if (end > v[n - 1].start + v[n - 1].len)
				v[n - 1].len = end - v[n - 1].start;
		} else {
			v[n++] = v[i];
		}
	}
	return n;
}

/* The n pieces of each step's range (which: target or before) as sorted,
 * merged ranges in *out; how many, or -ENOMEM. */
static ssize_t plan_ranges(const struct tx_plan *p, bool target,
                           struct ui_range **out)
{
	size_t n = 0, k = 0;
	struct ui_range *v;

	for (size_t i = 0; i < p->nsteps; i++)
		n += target ? p->steps[i].range.ntarget
		            : p->steps[i].range.nbefore;
	v = malloc((n ? n : 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < p->nsteps; i++) {
		const struct jr_range *r = &p->steps[i].range;
		const struct rl_extent *e = target ? r->target : r->before;
		size_t m = target ? r->ntarget : r->nbefore;
		for (size_t j = 0; j < m; j++)
			v[k++] = (struct ui_range){e[j].physical, e[j].length};
	}
	*out = v;
	return (ssize_t)ranges_merge(v, k);
}

/* The preview follows the session's pending plan. */
static void sync_plan(struct rl_session *s, struct ui *ui)
{
	const struct tx_plan *p =
	    s->pending && s->pending->nsteps ? s->pending : NULL;
	ssize_t a, b;

	if (p == ui->plan_seen && (!p || p->nsteps == ui->plan_seen_steps))
		return;
	free(ui->planned);
	free(ui->vacated);
	ui->planned = ui->vacated = NULL;
	ui->nplanned = ui->nvacated = 0;
	ui->plan_seen = p;
	ui->plan_seen_steps = p ? p->nsteps : 0;
	ui->dirty = true;
	/* the action's words describe the plan it made, not another */
	free(ui->plan_summary);
	ui->plan_summary = NULL;
	if (!p)
		return;
	a = plan_ranges(p, true, &ui->planned);
	b = plan_ranges(p, false, &ui->vacated);
	ui->nplanned = a > 0 ? (size_t)a : 0;
	ui->nvacated = b > 0 ? (size_t)b : 0;
}

/* The extents of the files the session's search found, sorted and
 * merged, into ui->hits (none when the search was made on another model:
 * the next find makes it again). Made when the map is drawn after a
 * command, not after every command of a script. */
static void sync_hits(struct ui *ui)
{
	const struct rl_find *fd = ui->find;
	size_t n = 0, cap = 0;
	struct ui_range *h = NULL;

	free(ui->hits);
	ui->hits = NULL;
	ui->nhits = 0;
	ui->hits_stale = false;
	if (!ui->model || !fd || fd->model != ui->model)
		return;
	for (size_t i = 0; i < fd->n; i++) {
		size_t ne;
		const struct lm_extent *e =
		    lm_file_extents(ui->model, fd->ids[i], &ne);
		for (size_t k = 0; k < ne; k++) {
			if (mem_grow(&h, &cap, n + 1, sizeof(*h)) < 0) {
				free(h);
				return;
			}
			h[n++] = (struct ui_range){e[k].physical, e[k].length};
		}
	}
	ui->hits = h;
	ui->nhits = n ? ranges_merge(h, n) : 0;
}

/* After a find: the map goes to its current match (the file's first
 * block) and the inode pane shows that file. */
static void follow_find(struct rl_session *s, struct ui *ui)
{
	uint32_t id;
	size_t n;
	const struct lm_extent *e;

	ui->find = &s->find;
	ui->hits_stale = true;
	if (ui->find_gen == s->find.gen)
		return;
	ui->find_gen = s->find.gen;
	if (!ui->model || s->find.model != ui->model ||
	    s->find.cur >= s->find.n)
		return;
	id = s->find.ids[s->find.cur];
	e = lm_file_extents(ui->model, id, &n);
	if (!n)
		return;
	size_t lo = 0;
	for (size_t i = 1; i < n; i++)
		if (e[i].logical < e[lo].logical)
			lo = i;
	ui_map_goto(ui, e[lo].physical);
	ui->pane_file = id;
	ui->dirty = true;
}

void ui_sync_session(struct rl_session *s)
{
	struct ui *ui = s->ui;

	if (!ui)
		return;
	/* What the user may do, as the session says it ("read-only: ext4
	 * needs root", "read-write: own files"): the status line shows it,
	 * and the actions that would change the disk are refused early. */
	{
		const char *acc = session_access(s, true),
		           *c = strchr(acc, ':');

		ui->readonly = strncmp(acc, "read-only", 9) == 0;
		ui->ro_why = c ? c + 2 : NULL;
	}
	sync_plan(s, ui);
	if (ui->model != s->model) {
		ui->model = s->model;
		if (ui->pane_file != LM_NONE && ui->model &&
		    ui->pane_file >= lm_file_count(ui->model))
			ui->pane_file = LM_NONE;
		if (ui->active && ui->model)
			ui_map_layout(ui);
	}
	follow_find(s, ui);
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Keys typed during an apply: Esc, C-c (raw mode) or q cancel it; the
 * others are queued, to run when it ends (ui_progress_hooks). Never
 * blocks. */
static bool progress_cancel(struct rl_session *s)
{
	struct ui *ui = s->ui;
	int ch;

	if (!ui || !ui->active)
		return false;
	timeout(0);
	while ((ch = getch()) != ERR) {
		if (ch == 27 || ch == 3 || ch == 'q')
			ui->cancel = true;
		else if (ch == KEY_RESIZE || ch == KEY_MOUSE)
			continue;
		else if (ui->nkeyq <
		         (int)(sizeof(ui->keyq) / sizeof(ui->keyq[0])))
			ui->keyq[ui->nkeyq++] = ch;
		else
			ui->keyq_lost++;
	}
	timeout(250);
	return ui->cancel;
}

/* The keys typed during an apply, back in the input (ungetch is a
 * stack: the last first), to run in the order typed. */
static void keys_requeue(struct ui *ui)
{
	while (ui->nkeyq > 0)
		ungetch(ui->keyq[--ui->nkeyq]);
}

/* During an apply the message line carries the progress bar and the
 * status line stays the cursor's. A step's end redraws everything (the
 * model follows each step: the map shows the file at its new place);
 * chunks redraw the bar only, at most ~10 times a second (but always
 * the last one). */
static void progress_draw(struct rl_session *s, const struct tx_progress *p)
{
	struct ui *ui = s->ui;
	char line[1024];
	const char *hint =
	    ui && ui->cancel ? " (cancelling...)" : " (Esc cancels)";
	int w;
	double now = mono_s();

	if (!ui || !ui->active || ui->cols < UI_MIN_COLS ||
	    ui->rows < UI_MIN_ROWS)
		return;
	if (!p->step_end && now - ui->prog_last < 0.1 && p->done < p->total)
		return;
	ui->prog_last = now;
	if (p->step_end) {
		ui_sync_session(s);
		ui_draw(ui);
	}
	w = ui->cols - (int)strlen(hint);
	ui_progress_format(line, sizeof(line) - strlen(hint), w, p);
	strcat(line, hint); /* room was left for it */
	attrset(ui_attr(ui, UI_ROLE_DEFAULT));
	mvhline(ui->rows - 2, 0, ' ', ui->cols);
	mvaddnstr(ui->rows - 2, 0, line, ui->cols);
	attrset(A_NORMAL);
	refresh();
}

void ui_progress_hooks(struct rl_session *s, bool on)
{
	if (on && s->ui) {
		s->ui->cancel = false;
		s->ui->prog_last = 0;
		s->progress = progress_draw;
		s->cancel_requested = progress_cancel;
	} else {
		s->progress = NULL;
		s->cancel_requested = NULL;
		if (s->ui && s->ui->active)
			keys_requeue(s->ui);
	}
}

void ui_output_append(struct ui *ui, const char *text, size_t len)
{
	/* Keep the last 256 KiB. */
	const size_t keep = 256 * 1024;
	char *n = realloc(ui->out_text, ui->out_len + len + 1);

	if (!n)
		return;
	ui->out_text = n;
	memcpy(n + ui->out_len, text, len);
	ui->out_len += len;
	n[ui->out_len] = '\0';
	if (ui->out_len > keep) {
		size_t cut = ui->out_len - keep;
		char *nl = memchr(n + cut, '\n', ui->out_len - cut);
		if (nl)
			cut = (size_t)(nl + 1 - n);
		memmove(n, n + cut, ui->out_len - cut + 1);
		ui->out_len -= cut;
	}
	ui->out_scroll = -1; /* follow the end */
}

/* The outcome of a command on the message line: its error when it
 * failed, else the handler's own message, else the last line of its
 * output (the summary; the notes before it are in the output pane). */
void ui_outcome(struct ui *ui, int st, const char *error, const char *text)
{
	const char *t = text ? text : "", *last = NULL;
	size_t n = 0, lines = 0;

	for (const char *p = t; *p;) {
		size_t l = strcspn(p, "\n");
		if (l) {
			last = p;
			n = l;
		}
		lines++;
		p += l + (p[l] == '\n');
	}
	if (st != CMD_OK && error && *error) {
		ui_message(ui, true, "error: %s%s", error,
		           lines > 1 ? " (o: the output)" : "");
		return;
	}
	if (ui->msg[0] && st == CMD_OK)
		return; /* the handler's message */
	if (last)
		ui_message(ui, st != CMD_OK, "%.*s%s", (int)n, last,
		           lines > 1 ? " (o: the output)" : "");
}

int ui_exec(struct rl_session *s, const char *line)
{
	struct ui *ui = s->ui;
	char *text = NULL;
	size_t len = 0;
	FILE *saved_out = s->out, *saved_err = s->err, *f;
	enum cmd_status st;

	/* interactive: a signal that stopped an earlier move ends that
	 * line only, not the session */
	s->stop_signal = 0;
	f = open_memstream(&text, &len);
	if (!f)
		return cmd_exec_line(s, line);
	s->out = f;
	s->err = f;
	if (ui)
		ui->msg[0] = '\0'; /* a handler's own message wins */
	s->last_error[0] = '\0';
	/* a move typed at the prompt shows its progress too */
	if (ui && ui->active)
		ui_progress_hooks(s, true);
	st = cmd_exec_line(s, line);
	ui_progress_hooks(s, false);
	s->out = saved_out;
	s->err = saved_err;
	fclose(f);
	ui_sync_session(s);
	if (len > 0 && ui) {
		char echo[300];
		int n = snprintf(echo, sizeof(echo), "> %s\n", line);

		ui_output_append(ui, echo, n > 0 ? (size_t)n : 0);
		ui_output_append(ui, text, len);
	}
	if (ui)
		ui_outcome(ui, st, s->last_error, text);
	if (ui && ui->keyq_lost) {
		ui_message(ui, true,
		           "%d keys typed while the plan ran were not run (at "
		           "most %zu wait)",
		           ui->keyq_lost,
		           sizeof(ui->keyq) / sizeof(ui->keyq[0]));
		ui->keyq_lost = 0;
	}
	free(text);
	if (ui)
		ui->dirty = true;
	return (int)st;
}

/* The output pane: the notes grouped (Enter: every one), lines wrapped
 * to the pane's width; J/K scroll by screen lines. */
static void draw_output_pane(struct ui *ui, int y, int x, int h, int w)
{
	char *g = ui->out_full ? NULL : ui_notes_group(ui->out_text);
	char *t = ui_text_wrap(g ? g : ui->out_text, w, 2);
	const char *p = t ? t : "";
	int nlines = 0, first;

	free(g);
	for (const char *q = p; *q; q++)
		if (*q == '\n')
			nlines++;
	if (ui->out_scroll < 0 || ui->out_scroll > nlines - (h - 1))
		first = nlines - (h - 1);
	else
		first = ui->out_scroll;
	if (first < 0)
		first = 0;
	ui_draw_pane(ui, y, x, h, w,
	             ui->out_full ? " Output, all notes (Enter groups, J/K)"
	                          : " Output (J/K scroll, Enter all notes)",
	             p, first);
	free(t);
}

static void draw_text_screen(struct ui *ui, const char *text, int scroll)
{
	/* nothing cut: a long line goes on under its description (the
	 * help's third column) */
	char *t = ui_text_wrap(text, ui->cols, 39);

	erase();
	ui_draw_pane(ui, 0, 0, ui->rows - 1, ui->cols, NULL, t ? t : text,
	             scroll);
	free(t);
	attrset(ui_attr(ui, UI_ROLE_STATUS));
	mvhline(ui->rows - 1, 0, ' ', ui->cols);
	mvaddnstr(ui->rows - 1, 0,
	          " Help: j/k/PgUp/PgDn scroll, any other key closes",
	          ui->cols);
	attrset(A_NORMAL);
}

void ui_draw(struct ui *ui)
{
	char status[1024];

	if (ui->hits_stale)
		sync_hits(ui);
	erase();
	if (ui->cols < UI_MIN_COLS || ui->rows < UI_MIN_ROWS) {
		char m[128], *t;
		int n, y;

		snprintf(m, sizeof(m),
		         "Terminal too small (%dx%d): relayout needs %dx%d "
		         "(q quits)",
		         ui->cols, ui->rows, UI_MIN_COLS, UI_MIN_ROWS);
		t = ui_text_wrap(m, ui->cols, 0);
		n = ui_text_lines(m, ui->cols, 0);
		y = ui->rows > n ? (ui->rows - n) / 2 : 0;
		ui_draw_pane(ui, y, 0, ui->rows - y, ui->cols, NULL, t ? t : m,
		             0);
		free(t);
		return;
	}
	if (ui->help_shown) {
		char *t = ui_help_text(ui);
		draw_text_screen(ui, t ? t : "out of memory", ui->help_scroll);
		free(t);
		return;
	}
	if (!ui->model) {
		mvaddnstr(0, 0, "no layout model", ui->cols);
		return;
	}
	ui_map_draw(ui);
	if (ui->pane != UI_PANE_NONE && ui->map_w < ui->cols) {
		int px = ui->map_x + ui->map_w + 1, pw = ui->cols - px;
		int ph = ui->map_h;

		attrset(ui_attr(ui, UI_ROLE_PANE));
		mvvline(1, ui->map_x + ui->map_w, '|', ph);
		attrset(A_NORMAL);
		if (ui->pane == UI_PANE_INODE)
			ui_inode_draw(ui, 1, px, ph, pw);
		else
			draw_output_pane(ui, 1, px, ph, pw);
	}
	/* message line: a long message wraps upward over the map (at most
	 * a third of the screen; the output pane has it whole) */
	{
		int n = ui_text_lines(ui->msg, ui->cols, 2), top;
		char *t = n > 1 ? ui_text_wrap(ui->msg, ui->cols, 2) : NULL;

		if (n > ui->rows / 3)
			n = ui->rows / 3 > 0 ? ui->rows / 3 : 1;
		top = ui->rows - 1 - n;
		attrset(ui_attr(ui, ui->msg_error ? UI_ROLE_ERROR
		                                  : UI_ROLE_DEFAULT));
		for (int r = top; r < ui->rows - 1; r++)
			mvhline(r, 0, ' ', ui->cols);
		if (t) {
			const char *p = t;
			for (int r = top; r < ui->rows - 1 && *p; r++) {
				size_t k = strcspn(p, "\n");
				mvaddnstr(r, 0, p, (int)k);
				p += k + (p[k] == '\n');
			}
			free(t);
		} else {
			mvaddnstr(ui->rows - 2, 0, ui->msg, ui->cols);
		}
	}
	attrset(ui_attr(ui, UI_ROLE_STATUS));
	mvhline(ui->rows - 1, 0, ' ', ui->cols);
	ui_map_status(ui, status, sizeof(status));
	mvaddnstr(ui->rows - 1, 0, status, ui->cols);
	attrset(A_NORMAL);
}

int ui_screen_text(FILE *f)
{
	int rows, cols;

	getmaxyx(stdscr, rows, cols);
	for (int y = 0; y < rows; y++) {
		char line[1024];
		int n = 0;

		for (int x = 0; x < cols && n < (int)sizeof(line) - 1; x++) {
			chtype ch = mvinch(y, x);
			char c = (char)(ch & A_CHARTEXT);
			line[n++] = (c >= ' ' && c < 127) ? c : '?';
		}
		while (n > 0 && line[n - 1] == ' ')
			n--;
		line[n] = '\0';
		fprintf(f, "%s\n", line);
	}
	return ferror(f) ? -EIO : 0;
}

/* ---------------------------------------------------------- signals */

static void restore_terminal(void)
{
	if (ui_curses_up) {
		ui_curses_up = 0;
		endwin();
	}
}

static void on_quit_signal(int sig)
{
	ui_signal = sig;
}

static void on_crash(int sig)
{
	/* Not async-signal-safe, but the process is dying anyway: give the
	 * user a usable terminal back, then die of the same signal. */
	restore_terminal();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_quit_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_crash;
	sa.sa_flags = SA_RESETHAND;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGABRT, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGFPE, &sa, NULL);
	sigaction(SIGILL, &sa, NULL);
}

/* ------------------------------------------------------------- loop */

/* A click moves the cursor to the cell. */
static void click(struct ui *ui, int y, int x)
{
	int r = y - ui->map_y, c = x - ui->map_x;
	uint64_t cb = ui_map_cell_bytes(ui);

	if (!cb || r < 0 || c < 0 || r >= ui->map_h || c >= ui->map_w)
		return;
	ui_map_goto(ui, ((ui->view_row + (uint64_t)r) * (uint64_t)ui->map_w +
	                 (uint64_t)c) *
	                    cb);
	ui->dirty = true;
}

static int read_key(struct ui *ui)
{
	int ch = getch();
	MEVENT ev;

	if (ch == '\r' || ch == KEY_ENTER)
		return '\n';
	if (ch != KEY_MOUSE)
		return ch;
	if (getmouse(&ev) != OK)
		return ERR;
	if (ev.bstate & BUTTON1_CLICKED) {
		click(ui, ev.y, ev.x);
		return ERR;
	}
	if (ev.bstate & BUTTON4_PRESSED)
		return UI_KEY_WHEEL_UP;
#ifdef BUTTON5_PRESSED
	if (ev.bstate & BUTTON5_PRESSED)
		return UI_KEY_WHEEL_DOWN;
#endif
	return KEY_MOUSE;
}

static void on_resize(struct ui *ui)
{
	getmaxyx(stdscr, ui->rows, ui->cols);
	ui_map_layout(ui);
	ui->dirty = true;
}

/* Run the line bound to key. */
static void run_key(struct rl_session *s, struct ui *ui, int key)
{
	const char *line = ui_binding(ui, key);
	char name[32];

	if (!line) {
		ui_message(ui, false, "%s: not bound (? lists the keys)",
		           ui_key_name(key, name, sizeof(name)));
		return;
	}
	ui->msg[0] = '\0';
	ui->msg_error = false;
	ui_exec(s, line);
}

static void help_key(struct ui *ui, int ch)
{
	switch (ch) {
	case 'j':
	case KEY_DOWN:
		ui->help_scroll++;
		break;
	case 'k':
	case KEY_UP:
		if (ui->help_scroll > 0)
			ui->help_scroll--;
		break;
	case KEY_NPAGE:
	case ' ':
		ui->help_scroll += ui->rows - 2;
		break;
	case KEY_PPAGE:
		ui->help_scroll -= ui->rows - 2;
		if (ui->help_scroll < 0)
			ui->help_scroll = 0;
		break;
	default:
		ui->help_shown = false;
	}
	ui->dirty = true;
}

/* Load the model through the commands: a snapshot was loaded by main;
 * a live volume is scanned by the `scan` command. */
static int ui_model(struct rl_session *s, struct ui *ui)
{
	if (!s->model) {
		char *text = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&text, &len), *so = s->out,
		     *se = s->err;
		enum cmd_status st;

		if (f) {
			s->out = f;
			s->err = f;
		}
		st = cmd_exec_line(s, "scan");
		if (f) {
			s->out = so;
			s->err = se;
			fclose(f);
		}
		if (st != CMD_OK || !s->model) {
			fprintf(s->err, "%s", text ? text : "");
			fprintf(s->err,
			        "relayout: cannot build the layout "
			        "model of %s\n",
			        s->path ? OUT_ESC(s->path) : ".");
			free(text);
			return -1;
		}
		free(text);
	}
	ui_sync_session(s);
	return 0;
}

int ui_run(struct rl_session *s, const char *theme, const char **acts,
           const char *kinds, int nacts)
{
	struct ui *ui = ui_get(s);
	enum cmd_status st;
	char tl[512];
	int ret = 0;

	if (!ui)
		return 1;
	if (ui_model(s, ui) < 0)
		return 1;
	/* Default bindings: a script in the command language. */
	{
		const char *p = ui_default_bindings;
		while (*p) {
			size_t n = strcspn(p, "\n");
			char line[256];
			snprintf(line, sizeof(line), "%.*s", (int)n, p);
			if (cmd_exec_line(s, line) != CMD_OK)
				fprintf(s->err,
				        "relayout: default bindings: "
				        "%s\n",
				        line);
			p += n + (p[n] == '\n');
		}
	}
	if (!theme)
		theme = ui->no_color ? "mono" : "default";
	snprintf(tl, sizeof(tl), "theme '%s'", theme);
	if (cmd_exec_line(s, tl) != CMD_OK && strcmp(theme, "default"))
		return 1;

	setlocale(LC_ALL, "");
	if (!initscr()) {
		fprintf(s->err, "relayout: cannot initialise the terminal\n");
		return 1;
	}
	ui_curses_up = 1;
	ui->active = true;
	install_signals();
	atexit(restore_terminal);
	cbreak();
	noecho();
	nonl();
	raw();
	keypad(stdscr, TRUE);
	curs_set(0);
	set_escdelay(25);
	timeout(250);
	mousemask(BUTTON1_CLICKED | BUTTON4_PRESSED
#ifdef BUTTON5_PRESSED
	              | BUTTON5_PRESSED
#endif
	          ,
	          NULL);
	if (has_colors() && !ui->no_color) {
		start_color();
		use_default_colors();
		ui_theme_apply(ui);
	}
	ui_prompt_init(ui, ui_draw);
	on_resize(ui);
	ui_message(ui, false, "? keys, : prompt, q quit");
	for (int i = 0; i < nacts; i++) {
		if (kinds[i] == 'e') {
			st = (enum cmd_status)ui_exec(s, acts[i]);
		} else {
			snprintf(tl, sizeof(tl), "source '%s'", acts[i]);
			st = (enum cmd_status)ui_exec(s, tl);
		}
		if (st != CMD_OK)
			ret = (int)st;
	}
	while (!ui->quit && !ui_signal) {
		int ch;

		if (ui->dirty) {
			ui_draw(ui);
			refresh();
			ui->dirty = false;
		}
		ch = read_key(ui);
		if (ch == ERR)
			continue;
		if (ch == KEY_RESIZE) {
			on_resize(ui);
			continue;
		}
		if (ch == KEY_MOUSE)
			continue;
		if (ui->cols < UI_MIN_COLS || ui->rows < UI_MIN_ROWS) {
			if (ch == 'q' || ch == 3)
				ui->quit = true;
			continue;
		}
		if (ui->help_shown) {
			help_key(ui, ch);
			continue;
		}
		run_key(s, ui, ch);
	}
	ui_prompt_done(ui);
	ui->active = false;
	restore_terminal();
	if (ui_signal) {
		int sig = ui_signal;
		signal(sig, SIG_DFL);
		raise(sig);
	}
	return ret;
}
