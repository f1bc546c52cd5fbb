/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The interactive UI: an ncursesw allocation map of the volume, an inode
 * pane, a readline prompt and an output pane.
 *
 * Layering: keys are bound to command lines (`bind KEY COMMAND`); a key
 * press runs its line through the one executor (cmd_exec_line), exactly as
 * the prompt, scripts and replayed recordings do. The UI-only commands
 * (zoom, pan, goto, select, mark, pane, save-screen, ...) change the state
 * below; the draw functions read that state and the layout model. The UI
 * never calls an ioctl: all data comes from the model and from commands.
 *
 * The configuration part of struct ui (bindings, colours) exists without a
 * terminal, so `bind`, `color` and `theme` also work in scripts (a theme
 * can be checked with `relayout -e 'theme mono'`).
 */
#ifndef RL_UI_H
#define RL_UI_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct rl_session;
struct rl_find;
struct lm_model;

/* Colour roles: one per thing drawn. Names are what `color ROLE` takes. */
#define UI_ROLE_TABLE(X)                                                       \
	X(DEFAULT, "default", "everything else")                               \
	X(FREE, "free", "free space")                                          \
	X(MIXED, "mixed", "partly free")                                       \
	X(META, "metadata", "filesystem metadata")                             \
	X(DATA, "data", "file data")                                           \
	X(FRAG, "frag", "data of fragmented files")                            \
	X(SHARED, "shared", "shared (reflinked) data")                         \
	X(UNWRITTEN, "unwritten", "unwritten (preallocated) data")             \
	X(UNKNOWN, "unknown", "used, owner not known")                         \
	X(SELECTED, "selected", "data of selected files")                      \
	X(MATCH, "match", "data of the files the search found")                \
	X(TARGET, "target", "the marked target region")                        \
	X(PLANNED, "planned", "planned destinations (preview)")                \
	X(CURSOR, "cursor", "the cursor cell")                                 \
	X(GROUP, "group", "group / AG boundary")                               \
	X(TITLE, "title", "title and scale line")                              \
	X(STATUS, "status", "status line")                                     \
	X(LEGEND, "legend", "legend")                                          \
	X(PANE, "pane", "inode and output panes")                              \
	X(PANE_TITLE, "pane-title", "pane headings")                           \
	X(ERROR, "error", "error messages")                                    \
	X(PROMPT, "prompt", "the command prompt")

enum ui_role {
#define X(id, name, help) UI_ROLE_##id,
	UI_ROLE_TABLE(X)
#undef X
	    UI_ROLE_N
};

struct ui_color {
	short fg, bg; /* -1: terminal default; 0..255 */
	int attrs;    /* UI_ATTR_* */
	bool set;
};
#define UI_ATTR_BOLD      0x1
#define UI_ATTR_UNDERLINE 0x2
#define UI_ATTR_REVERSE   0x4
#define UI_ATTR_DIM       0x8
#define UI_ATTR_STANDOUT  0x10

struct ui_binding {
	int key;    /* curses key code (UI_KEY_* for the wheel) */
	char *line; /* command line */
};

/* Pseudo key codes for the mouse wheel (beyond curses' KEY_MAX). */
#define UI_KEY_WHEEL_UP   0x10001
#define UI_KEY_WHEEL_DOWN 0x10002

enum ui_pane { UI_PANE_NONE = 0, UI_PANE_INODE, UI_PANE_OUTPUT };

/* A byte range of the volume. */
struct ui_range {
	uint64_t start, len;
};

struct ui {
	/* ------------------------------------------- configuration */
	struct ui_binding *binds;
	size_t nbinds, capbinds;
	struct ui_color colors[UI_ROLE_N];
	char theme[64];
	bool no_color; /* NO_COLOR set, or mono requested */

	/* ------------------------------------------------- runtime */
	bool active; /* curses is up */
	bool quit;
	struct lm_model *model;
	bool readonly;      /* snapshot, or no root */
	const char *ro_why; /* why read-only */
	int rows, cols;     /* terminal size */
	/* The map: cell = cell_blocks blocks; view starts at row view_row. */
	uint64_t block;       /* block size, bytes */
	uint64_t size;        /* address space, bytes */
	uint64_t cell_blocks; /* current zoom */
	uint64_t max_cell_blocks;
	uint64_t cursor;   /* byte address of the cursor */
	uint64_t view_row; /* first map row shown */
	int map_x, map_y, map_w, map_h;
	/* Target region [mark_start, mark_end), mark_pending: first m done */
	bool mark_pending, have_target;
	uint64_t mark_start, mark_end;
	/* The preview of a plan: the session's pending plan (made by an
	 * action, or in plan mode at the prompt), its targets (planned)
	 * and the places it frees (vacated), sorted and merged, drawn on
	 * the map; rebuilt by ui_sync_session when the plan changes. */
	char *plan_summary; /* what the pending action does, in words */
	struct ui_range *planned, *vacated;
	size_t nplanned, nvacated;
	const void *plan_seen; /* the pending plan they were built from */
	size_t plan_seen_steps;
	/* Keys typed while a plan is applied (but the cancel keys): run
	 * after it, in order (ungetch); those beyond the queue are counted
	 * and said. */
	int keyq[64];
	int nkeyq, keyq_lost;
	/* Inode pane: the file shown (LM_NONE: owners of the cursor cell). */
	enum ui_pane pane;
	uint32_t pane_file;
	int pane_scroll;
	int pane_sel;    /* selected row of the owners list */
	int pane_sort;   /* UI_SORT_* */
	int pane_header; /* lines above the owners list */
	/* Output pane: text of the last commands, scrollable. */
	char *out_text;
	size_t out_len;
	int out_scroll;
	bool out_full;  /* every note, not grouped (ui_notes_group) */
	char msg[2048]; /* the message below the map (wrapped when long) */
	bool msg_error;
	bool help_shown; /* the ? screen */
	int help_scroll;
	bool dirty; /* redraw needed */
	/* Apply in progress (ui_progress_hooks) */
	bool cancel;      /* Esc/C-c/q pressed: stop the transaction */
	double prog_last; /* when the bar was last drawn */
	/* The session's search (find): its generation as last followed;
	 * the extents of the matched files, sorted and merged, which the map
	 * highlights (made again when it is drawn after a command). */
	const struct rl_find *find;
	unsigned find_gen;
	bool hits_stale;
	struct ui_range *hits;
	size_t nhits;
	/* Prompt */
	bool prompt_active;
	char *history_path;
};

/* The UI as the session's front end (src/cmd_ui.c: its commands and
 * ui_free); main() installs it before any command runs. */
extern const struct rl_frontend ui_frontend;

/* The session's UI state (configuration part made on demand). NULL only
 * when out of memory. */
struct ui *ui_get(struct rl_session *s);
void ui_free(struct ui *ui);

/* Run the interactive UI on the session's volume (or snapshot). theme:
 * a theme name or NULL; acts: nacts command lines (kinds[i] 'e') or
 * scripts ('x') run inside the UI first (--ui -x REPLAY). Returns the exit
 * status (0 ok). */
int ui_run(struct rl_session *s, const char *theme, const char **acts,
           const char *kinds, int nacts);

/* ------------------------------------------------------ ui_keys.c */

/* Key name ("q", "C-l", "Up", "PgDn", "Space", "WheelUp", "F1") to code,
 * or -1; and back (buf of at least 16 bytes). */
int ui_key_parse(const char *name);
const char *ui_key_name(int key, char *buf, size_t size);
/* Bind (line NULL: unbind). Returns 0 or -ENOMEM. */
int ui_bind(struct ui *ui, int key, const char *line);
const char *ui_binding(const struct ui *ui, int key);
/* The compiled-in default bindings, a script of `bind` lines. */
extern const char ui_default_bindings[];
/* Text of the help screen (bindings, then UI commands), malloc'ed. */
char *ui_help_text(const struct ui *ui);

/* ------------------------------------------------------ ui_theme.c */

int ui_role_parse(const char *name);
const char *ui_role_name(int role);
/* "red", "brightblue", "default", "color123", "123". -1 default; -2 bad. */
int ui_color_parse(const char *name);
/* Resolve a theme name to a file path (RELAYOUT_THEMES_DIR, then the
 * installed RL_DATADIR/themes). NAME containing '/' is taken as a path.
 * Returns 0 or -ENOENT. */
int ui_theme_path(const char *name, char *buf, size_t size);
/* Apply colours to curses (after a change). */
void ui_theme_apply(struct ui *ui);
/* curses attribute for a role. */
int ui_attr(const struct ui *ui, int role);

/* ------------------------------------------------------- ui_map.c */

/* Map states (a cell's dominant state). */
enum ui_cell {
	UI_CELL_FREE = 0,
	UI_CELL_MIXED,
	UI_CELL_META,
	UI_CELL_DATA,
	UI_CELL_FRAG,
	UI_CELL_SHARED,
	UI_CELL_UNWRITTEN,
	UI_CELL_UNKNOWN,
	UI_CELL_SELECTED,
	UI_CELL_TARGET,
	UI_CELL_PLANNED,
	UI_CELL_VACATED, /* selected data a pending move frees */
	UI_CELL_MATCH,   /* data of a file the search found */
	UI_CELL_OUTSIDE, /* past the end of the volume */
	UI_CELL_N
};
struct ui_cell_style {
	char glyph;
	int role;
	const char *name;
};
extern const struct ui_cell_style ui_cell_styles[UI_CELL_N];

/* Set the geometry from the model and the window; keep the cursor. */
void ui_map_layout(struct ui *ui);
uint64_t ui_map_cell_bytes(const struct ui *ui);
/* Zoom in (dir > 0) or out around the cursor. Returns false at a limit. */
bool ui_map_zoom(struct ui *ui, int dir);
/* Zoom so that one cell is n blocks (clamped). */
void ui_map_zoom_to(struct ui *ui, uint64_t n);
/* Move the cursor by dx cells and dy rows, keeping it on screen. */
void ui_map_move(struct ui *ui, int64_t dx, int64_t dy);
void ui_map_goto(struct ui *ui, uint64_t addr);
/* Range of the cursor's cell. */
void ui_map_cursor_range(const struct ui *ui, uint64_t *start, uint64_t *end);
/* Classify [start, end). */
enum ui_cell ui_map_classify(struct ui *ui, uint64_t start, uint64_t end);
void ui_map_draw(struct ui *ui);
/* Status line text for the cursor. */
void ui_map_status(struct ui *ui, char *buf, size_t size);
/* First file owner of [start, end), or UINT32_MAX. */
uint32_t ui_map_first_file(struct ui *ui, uint64_t start, uint64_t end);

/* ----------------------------------------------------- ui_inode.c */

/* Lines of the inode pane (the file under the cursor: paths, inode,
 * extents, fragmentation; then the owners of the target region when the
 * cursor is in it, else of the cursor's cell), into a malloc'ed text. */
char *ui_inode_text(struct ui *ui);
enum { UI_SORT_ADDR = 0, UI_SORT_SIZE, UI_SORT_NAME };
/* An owner of the pane's region (per file, or per kind). */
struct ui_owner {
	int kind; /* enum lm_owner_kind */
	uint32_t file;
	uint64_t start, bytes; /* first address, bytes in the region */
	const char *label;
};
/* The owners list as drawn (malloc'ed); count or -ENOMEM. */
ssize_t ui_inode_owners(struct ui *ui, struct ui_owner **out);
void ui_inode_draw(struct ui *ui, int y, int x, int h, int w);

/* ------------------------------------------------------ ui_pane.c */

/* Draw text (lines) in a box, from line first, under an optional title. */
void ui_draw_pane(struct ui *ui, int y, int x, int h, int w, const char *title,
                  const char *text, int first);
/* text with its lines longer than width broken (at a blank when there
 * is one in the line's last half, else at width), malloc'ed; NULL when
 * out of memory. Continuation lines start with indent blanks. */
char *ui_text_wrap(const char *text, int width, int indent);
/* Lines of a text that wrapped to width gives (at least 1). */
int ui_text_lines(const char *text, int width, int indent);
/* The notes of a plan grouped: within each command's output (blocks
 * that start with a "> " line), lines alike ("skip PATH: already optimal
 * (...)" for every PATH) that occur at least 3 times become one line
 * "WORD ...: REASON (xN; Enter lists them)" where the first was;
 * malloc'ed, NULL when out of memory. */
char *ui_notes_group(const char *text);
/* The message line's text (drawn with the next screen). */
void ui_message(struct ui *ui, bool error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---------------------------------------------------- ui_prompt.c */

/* Open the prompt with initial text; runs until Enter/Esc. Returns the
 * line typed (malloc'ed, in the history when not empty), or NULL for Esc. */
char *ui_prompt_read(struct ui *ui, const char *initial);
/* redraw: draws the whole screen (the prompt redraws on a resize and when
 * it shows completions). */
void ui_prompt_init(struct ui *ui, void (*redraw)(struct ui *ui));
void ui_prompt_done(struct ui *ui);
/* Complete a command name (readline generator style). */
char *ui_complete_command(const char *text, int state);

/* ------------------------------------------------------ ui_main.c */

/* Follow the session after a command: its model (a rescan or an import
 * replaces it) and read-only state. */
void ui_sync_session(struct rl_session *s);
/* Drop the pending action and its preview. */
void ui_plan_clear(struct ui *ui);

/* Run a command line from the UI with its output captured into the
 * output pane / message line. */
int ui_exec(struct rl_session *s, const char *line);
/* The message line after a command (status st, enum cmd_status): the
 * error when it failed (error: the session's last error, or ""), else
 * the handler's message, else the last line of its output text. */
void ui_outcome(struct ui *ui, int st, const char *error, const char *text);
/* Redraw the whole screen (without refresh). */
void ui_draw(struct ui *ui);
/* Write the current screen as text to f. */
int ui_screen_text(FILE *f);
/* Append text to the output pane. */
void ui_output_append(struct ui *ui, const char *text, size_t len);

struct tx_progress;
/* The apply progress bar in buf (at most width columns):
 * "[#####.....] 45% 3/7 files, 12.0 MiB of 26.5 MiB, 85.3 MB/s, ETA 0:02,
 * step 2/5 PATH" (PATH escaped; MB = 2^20 bytes as in --rate; the files
 * when the plan moves more than one). */
void ui_progress_format(char *buf, size_t size, int width,
                        const struct tx_progress *p);
/* Install (on) or remove the session's progress and cancel hooks: the
 * bar on the status line while a plan is applied, Esc/C-c/q cancel. */
void ui_progress_hooks(struct rl_session *s, bool on);

#endif
