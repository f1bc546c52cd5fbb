/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the UI's parts that need no terminal: key names, colours,
 * bindings through the executor, the help text, the map's cell
 * classification, zoom and cursor arithmetic, and the status line. */
#include "config.h"
#include <curses.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>
#include "commands.h"
#include "layout_model.h"
#include "session.h"
#include "txn.h"
#include "ui.h"

#define BS  4096u
#define MiB (1ull << 20)

static void t_keys(void **state)
{
	static const char *const names[] = {"q",     "C-l",  "Up",   "PgDn",
	                                    "Space", "Esc",  "F1",   "WheelUp",
	                                    "?",     "Home", "Enter"};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int k = ui_key_parse(names[i]);
		assert_true(k >= 0);
		assert_string_equal(ui_key_name(k, buf, sizeof(buf)), names[i]);
	}
	assert_int_equal(ui_key_parse("C-a"), 1);
	assert_int_equal(ui_key_parse("up"), KEY_UP);
	assert_int_equal(ui_key_parse(""), -1);
	assert_int_equal(ui_key_parse("nosuchkey"), -1);
	assert_int_equal(ui_key_parse("C-1"), -1);
}

static void t_colors(void **state)
{
	(void)state;
	assert_int_equal(ui_color_parse("default"), -1);
	assert_int_equal(ui_color_parse("red"), 1);
	assert_int_equal(ui_color_parse("brightred"), 9);
	assert_int_equal(ui_color_parse("color240"), 240);
	assert_int_equal(ui_color_parse("17"), 17);
	assert_int_equal(ui_color_parse("256"), -2);
	assert_int_equal(ui_color_parse("mauve"), -2);
	assert_int_equal(ui_role_parse("free"), UI_ROLE_FREE);
	assert_int_equal(ui_role_parse("pane-title"), UI_ROLE_PANE_TITLE);
	assert_int_equal(ui_role_parse("nosuch"), -1);
}

/* Default bindings and colours go through the one executor. */
static void t_bind_exec(void **state)
{
	struct rl_session s;
	char *out = NULL, *help;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	const char *p = ui_default_bindings;

	(void)state;
	session_init(&s);
	s.frontend = &ui_frontend;
	s.out = s.err = f;
	while (*p) {
		size_t n = strcspn(p, "\n");
		char line[256];
		snprintf(line, sizeof(line), "%.*s", (int)n, p);
		assert_int_equal(cmd_exec_line(&s, line), CMD_OK);
		p += n + (p[n] == '\n');
	}
	assert_string_equal(ui_binding(s.ui, 'q'), "quit");
	assert_string_equal(ui_binding(s.ui, ' '), "pick");
	assert_string_equal(ui_binding(s.ui, 'g'), "prompt \"goto \"");
	assert_int_equal(cmd_exec_line(&s, "bind x 'zoom in'; bind q"), CMD_OK);
	assert_string_equal(ui_binding(s.ui, 'x'), "zoom in");
	assert_null(ui_binding(s.ui, 'q'));
	assert_int_equal(cmd_exec_line(&s, "bind NoSuchKey quit"), CMD_USAGE);
	assert_int_equal(cmd_exec_line(&s, "color free red default bold"),
	                 CMD_OK);
	assert_true(s.ui->colors[UI_ROLE_FREE].set);
	assert_int_equal(s.ui->colors[UI_ROLE_FREE].fg, 1);
	assert_int_equal(s.ui->colors[UI_ROLE_FREE].attrs, UI_ATTR_BOLD);
	assert_int_equal(cmd_exec_line(&s, "color free mauve default"),
	                 CMD_USAGE);
	assert_int_equal(cmd_exec_line(&s, "color free red default blink"),
	                 CMD_USAGE);
	/* View commands succeed without the UI; save-screen needs it. */
	assert_int_equal(cmd_exec_line(&s, "zoom in; pan left 3"), CMD_OK);
	assert_int_equal(cmd_exec_line(&s, "zoom sideways"), CMD_USAGE);
	assert_int_equal(cmd_exec_line(&s, "save-screen /dev/null"), CMD_FAIL);
	help = ui_help_text(s.ui);
	assert_non_null(help);
	assert_non_null(strstr(help, "x "));
	assert_non_null(strstr(help, "zoom in"));
	assert_non_null(strstr(help, "save-screen"));
	/* a key says what it does, not its command's generic text */
	assert_non_null(strstr(help, "cursor one cell left"));
	assert_non_null(strstr(help, "redo what u undid last"));
	free(help);
	fclose(f);
	free(out);
	s.out = stdout;
	s.err = stderr;
	session_free(&s);
}

/* Without a front end (rl-docgen, the fuzzers) the UI's commands fail
 * and say why; the others run. */
static void t_no_frontend(void **state)
{
	struct rl_session s;
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	(void)state;
	session_init(&s);
	s.out = s.err = f;
	assert_int_equal(cmd_exec_line(&s, "bind x quit"), CMD_FAIL);
	assert_int_equal(cmd_exec_line(&s, "zoom in"), CMD_FAIL);
	assert_int_equal(cmd_exec_line(&s, "zoom sideways"), CMD_FAIL);
	assert_int_equal(cmd_exec_line(&s, "echo hi"), CMD_OK);
	assert_null(s.ui);
	fflush(f);
	assert_non_null(strstr(out, "bind: needs the interactive UI"));
	assert_non_null(strstr(out, "hi\n"));
	fclose(f);
	free(out);
	s.out = stdout;
	s.err = stderr;
	session_free(&s);
}

/* A 64 MiB volume: metadata at 0-1 MiB, "a" contiguous at 1-3 MiB,
 * "dir/frag" in 3 pieces, an unwritten file at 6 MiB, free from 8 MiB. */
static struct lm_model *sample(uint32_t *ids)
{
	static const struct {
		const char *path;
		struct rl_extent e[3];
		size_t n;
	} files[] = {
	    {"a", {{0, 1 * MiB, 2 * MiB, 0}}, 1},
	    {"dir/frag",
	     {{0, 3 * MiB, 65536, 0},
	      {65536, 4 * MiB, 65536, 0},
	      {131072, 5 * MiB, 65536, 0}},
	     3},
	    {"pre", {{0, 6 * MiB, 1 * MiB, RL_EXT_UNWRITTEN}}, 1},
	};
	struct rl_fs_info fs = {.mountpoint = "/mnt",
	                        .fstype = "ext4",
	                        .type = RL_FS_EXT4,
	                        .block_size = BS,
	                        .size = 64 * MiB,
	                        .total_blocks = 64 * MiB / BS,
	                        .group_count = 2,
	                        .group_size = 32 * MiB};
	struct lm_geometry g;
	struct lm_model *m;

	lm_geometry_from_fs(&g, &fs);
	m = lm_new(&g);
	assert_non_null(m);
	assert_int_equal(lm_add_metadata(m, 0, 1 * MiB, "fs-headers"), 0);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		const struct rl_extent *last = &files[i].e[files[i].n - 1];
		struct lm_file_info fi = {.ino = 12 + i,
		                          .mode = S_IFREG | 0644,
		                          .size = last->logical + last->length};
		assert_int_equal(lm_add_file(m, &fi, files[i].path, files[i].e,
		                             files[i].n, &ids[i]),
		                 0);
	}
	assert_int_equal(lm_add_free(m, 8 * MiB, 56 * MiB), 0);
	return m;
}

static void t_map(void **state)
{
	struct ui ui;
	uint32_t ids[3], a, frag;
	uint64_t s0, e0;
	char st[512];

	(void)state;
	memset(&ui, 0, sizeof(ui));
	ui.model = sample(ids);
	a = ids[0];
	frag = ids[1];
	ui.pane_file = LM_NONE;
	ui.rows = 21;
	ui.cols = 74;
	ui_map_layout(&ui);
	/* Row addresses first ("0x" and 7 digits for 64 MiB, a space), then
	 * 64 x 16 cells for 16384 blocks: 16 blocks (64 KiB) per cell (the
	 * legend takes two rows at 74 columns). */
	assert_int_equal(ui.map_x, 10);
	assert_int_equal(ui.map_w, 64);
	assert_int_equal(ui.map_h, 16);
	assert_int_equal(ui.max_cell_blocks, 16);
	assert_int_equal(ui_map_cell_bytes(&ui), 64 * 1024);
	assert_int_equal(ui_map_classify(&ui, 0, 64 * 1024), UI_CELL_META);
	assert_int_equal(ui_map_classify(&ui, MiB, MiB + 65536), UI_CELL_DATA);
	assert_int_equal(ui_map_classify(&ui, 3 * MiB, 3 * MiB + 65536),
	                 UI_CELL_FRAG);
	assert_int_equal(ui_map_classify(&ui, 6 * MiB, 6 * MiB + 65536),
	                 UI_CELL_UNWRITTEN);
	assert_int_equal(ui_map_classify(&ui, 9 * MiB, 9 * MiB + 65536),
	                 UI_CELL_FREE);
	/* Half free, half unknown: mixed. */
	assert_int_equal(ui_map_classify(&ui, 8 * MiB - 65536, 8 * MiB + 65536),
	                 UI_CELL_MIXED);
	assert_int_equal(ui_map_classify(&ui, 64 * MiB, 65 * MiB),
	                 UI_CELL_OUTSIDE);
	lm_select(ui.model, a, true);
	assert_int_equal(ui_map_classify(&ui, MiB, MiB + 65536),
	                 UI_CELL_SELECTED);

	/* The cursor on frag's second piece: status names file and offset. */
	ui_map_goto(&ui, 4 * MiB + 8192);
	ui_map_zoom_to(&ui, 1);
	ui_map_cursor_range(&ui, &s0, &e0);
	assert_int_equal(s0, 4 * MiB + 8192);
	assert_int_equal(e0, 4 * MiB + 8192 + BS);
	ui_map_status(&ui, st, sizeof(st));
	assert_non_null(strstr(st, "0x402000-0x402fff dir/frag @ 0x12000 "));
	assert_non_null(strstr(st, "1 block/cell"));
	assert_int_equal(ui_map_first_file(&ui, s0, e0), frag);

	/* Zoom keeps the cursor in its cell; limits hold. */
	assert_false(ui_map_zoom(&ui, 1));
	assert_true(ui_map_zoom(&ui, -1));
	assert_int_equal(ui.cell_blocks, 2);
	ui_map_cursor_range(&ui, &s0, &e0);
	assert_true(s0 <= 4 * MiB + 8192 && 4 * MiB + 8192 < e0);
	ui_map_zoom_to(&ui, 1000);
	assert_int_equal(ui.cell_blocks, 16);
	assert_false(ui_map_zoom(&ui, -1));

	/* Moves clamp to the volume; the view follows the cursor. */
	ui_map_goto(&ui, 0);
	ui_map_move(&ui, -5, -5);
	assert_int_equal(ui.cursor, 0);
	ui_map_move(&ui, 3, 1);
	assert_int_equal(ui.cursor, (uint64_t)(64 + 3) * 65536);
	ui_map_zoom_to(&ui, 1);
	ui_map_move(&ui, 0, 100000);
	assert_true(ui.cursor < 64 * MiB);
	assert_true(ui.view_row > 0);
	assert_true(ui.cursor / BS / 64 >= ui.view_row &&
	            ui.cursor / BS / 64 < ui.view_row + 16);
	/* Too narrow for 48 cells beside the addresses: none. */
	ui.cols = 57;
	ui_map_layout(&ui);
	assert_int_equal(ui.map_x, 0);
	assert_int_equal(ui.map_w, 57);
	lm_free(ui.model);
}

/* Selection filters through the executor, on the session's model. */
static void t_select(void **state)
{
	struct rl_session s;
	uint32_t ids[3];
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	(void)state;
	session_init(&s);
	s.frontend = &ui_frontend;
	s.out = s.err = f;
	s.model = sample(ids);
	assert_int_equal(cmd_exec_line(&s, "select frag>1"), CMD_OK);
	assert_true(lm_file(s.model, ids[1])->flags & LM_FILE_SELECTED);
	assert_false(lm_file(s.model, ids[0])->flags & LM_FILE_SELECTED);
	assert_int_equal(cmd_exec_line(&s, "select clear; select path 'p*'"),
	                 CMD_OK);
	assert_false(lm_file(s.model, ids[1])->flags & LM_FILE_SELECTED);
	assert_true(lm_file(s.model, ids[2])->flags & LM_FILE_SELECTED);
	assert_int_equal(cmd_exec_line(&s, "select size>1M"), CMD_OK);
	assert_true(lm_file(s.model, ids[0])->flags & LM_FILE_SELECTED);
	assert_int_equal(cmd_exec_line(&s, "select --off /mnt/a"), CMD_OK);
	assert_false(lm_file(s.model, ids[0])->flags & LM_FILE_SELECTED);
	assert_int_equal(cmd_exec_line(&s, "select nosuch"), CMD_FAIL);
	assert_int_equal(cmd_exec_line(&s, "select frag>x"), CMD_USAGE);
	assert_int_equal(cmd_exec_line(&s, "target 0x100000 0x200000"), CMD_OK);
	assert_true(s.ui->have_target);
	assert_int_equal(s.ui->mark_end, 0x200000);
	assert_int_equal(cmd_exec_line(&s, "target 5 1"), CMD_USAGE);
	/* goto a file works without the UI too (nothing to show). */
	assert_int_equal(cmd_exec_line(&s, "goto dir/frag"), CMD_OK);
	assert_int_equal(cmd_exec_line(&s, "goto nosuch"), CMD_FAIL);
	fclose(f);
	free(out);
	s.out = stdout;
	s.err = stderr;
	session_free(&s);
}

/* The apply progress bar: fill, percent, sizes, rate, ETA, step, path
 * escaped and elided from the start to fit the width. */
static void t_progress(void **state)
{
	struct tx_progress p = {.done = 12 * MiB,
	                        .total = 24 * MiB,
	                        .rate = 85.3 * MiB,
	                        .eta = 2.2,
	                        .step = 1,
	                        .nsteps = 5,
	                        .path = "/mnt/a\nb"};
	char buf[1024];

	(void)state;
	ui_progress_format(buf, sizeof(buf), 200, &p);
	assert_string_equal(buf, "[#####.....] 50% 12.0 MiB of 24.0 MiB, "
	                         "85.3 MB/s, ETA 0:02, step 2/5 /mnt/a\\nb");
	p.done = p.total;
	p.eta = -1;
	p.path = "/mnt/dir/file.dat";
	ui_progress_format(buf, sizeof(buf), 80, &p);
	assert_true(strlen(buf) <= 80);
	assert_non_null(strstr(buf, "[##########] 100% "));
	assert_non_null(strstr(buf, "ETA ?, step 2/5 ...")); /* elided */
	assert_non_null(strstr(buf, "file.dat"));
	p.eta = 3725;
	p.path = NULL;
	ui_progress_format(buf, sizeof(buf), 200, &p);
	assert_non_null(strstr(buf, "ETA 1:02:05, step 2/5"));
	assert_int_equal(buf[strlen(buf) - 1], '5'); /* no trailing space */
	ui_progress_format(buf, sizeof(buf), 10, &p);
	assert_string_equal(buf, "[#########");
	p.files = 7;
	p.files_done = 3;
	ui_progress_format(buf, sizeof(buf), 200, &p);
	assert_non_null(
	    strstr(buf, "] 100% 3/7 files, 24.0 MiB of 24.0 MiB, "));
}

/* Long lines wrap at a blank, or hard when there is none; short lines
 * and empty lines stay. */
static void t_wrap(void **state)
{
	char *t;

	(void)state;
	t = ui_text_wrap("short\n\nthe quick brown fox jumps", 10, 0);
	assert_non_null(t);
	assert_string_equal(t, "short\n\nthe quick\nbrown fox\njumps\n");
	assert_int_equal(
	    ui_text_lines("short\n\nthe quick brown fox jumps", 10, 0), 5);
	free(t);
	/* no blank: cut at the width; continuation lines indented */
	t = ui_text_wrap("abcdefghijklmnopqrstuvwxyz", 10, 2);
	assert_string_equal(t, "abcdefghij\n  klmnopqr\n  stuvwxyz\n");
	free(t);
	/* a line as wide as the screen stays one line */
	t = ui_text_wrap("0123456789", 10, 2);
	assert_string_equal(t, "0123456789\n");
	assert_int_equal(ui_text_lines("0123456789", 10, 2), 1);
	assert_int_equal(ui_text_lines("", 10, 0), 1);
	free(t);
}

/* A plan's notes alike are one line with a count, per command's output;
 * fewer than 3 alike, and other lines, stay as they are, in order. */
static void t_notes(void **state)
{
	char *g;
	const char *text = "> defrag --recursive .\n"
	                   "skip a: already optimal (1 contiguous run)\n"
	                   "skip b: no data blocks\n"
	                   "skip c: already optimal (2 contiguous runs)\n"
	                   "stays: 0x0..0x1000 (4.0 KiB): metadata\n"
	                   "skip d: already optimal (1 contiguous run)\n"
	                   "stays: 0x9000..0xa000 (4.0 KiB): metadata\n"
	                   "plan: 2 steps, 8.0 KiB to move\n"
	                   "> defrag x\n"
	                   "skip x: already optimal (1 contiguous run)\n"
	                   "skip y: already optimal (1 contiguous run)\n";

	(void)state;
	g = ui_notes_group(text);
	assert_non_null(g);
	assert_string_equal(g,
	                    "> defrag --recursive .\n"
	                    "skip ...: already optimal (x3; Enter lists them)\n"
	                    "skip b: no data blocks\n"
	                    "stays: 0x0..0x1000 (4.0 KiB): metadata\n"
	                    "stays: 0x9000..0xa000 (4.0 KiB): metadata\n"
	                    "plan: 2 steps, 8.0 KiB to move\n"
	                    "> defrag x\n"
	                    "skip x: already optimal (1 contiguous run)\n"
	                    "skip y: already optimal (1 contiguous run)\n");
	free(g);
	g = ui_notes_group("stays: 1 (x): m\nstays: 2 (y): m\nstays: 3: m\n");
	assert_string_equal(g, "stays: ... m (x3; Enter lists them)\n");
	free(g);
	g = ui_notes_group("");
	assert_string_equal(g, "");
	free(g);
}

/* The message line says the outcome: the error, else the handler's
 * message, else the summary (the last line), not the first note. */
static void t_outcome(void **state)
{
	struct ui ui;

	(void)state;
	memset(&ui, 0, sizeof(ui));
	ui_outcome(&ui, CMD_OK, "",
	           "stays: 0x0..0x1000: metadata\n"
	           "plan: 3 steps\n");
	assert_string_equal(ui.msg, "plan: 3 steps (o: the output)");
	assert_false(ui.msg_error);
	ui_outcome(&ui, CMD_FAIL, "group: refusing a plan",
	           "skip a: x\n"
	           "relayout: group: "
	           "refusing a plan\n");
	assert_string_equal(ui.msg,
	                    "error: group: refusing a plan (o: the output)");
	assert_true(ui.msg_error);
	ui_message(&ui, false, "plan: move 2 files");
	ui_outcome(&ui, CMD_OK, "", "skip a: x\nplan mode: 2 steps\n");
	assert_string_equal(ui.msg, "plan: move 2 files");
	ui.msg[0] = '\0';
	ui_outcome(&ui, CMD_OK, "", "hello\n");
	assert_string_equal(ui.msg, "hello");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(t_keys),      cmocka_unit_test(t_colors),
	    cmocka_unit_test(t_bind_exec), cmocka_unit_test(t_no_frontend),
	    cmocka_unit_test(t_map),       cmocka_unit_test(t_select),
	    cmocka_unit_test(t_progress),  cmocka_unit_test(t_wrap),
	    cmocka_unit_test(t_notes),     cmocka_unit_test(t_outcome),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
