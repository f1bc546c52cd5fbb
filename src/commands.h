/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The command language. One table (RL_COMMAND_TABLE) drives dispatch,
 * argument checks, `help`, completion and the man page's command list.
 * Every state change goes through a command, whether it comes from -e, a
 * script, a recording being replayed, the prompt or a key.
 */
#ifndef RL_COMMANDS_H
#define RL_COMMANDS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct rl_session;

/* Command flags. */
#define CMD_F_VOLUME 0x01 /* works on the session's volume (or snapshot) */
#define CMD_F_DISK   0x02 /* changes the disk */
#define CMD_F_ROOT_MAP                                                         \
	0x04             /* needs root on btrfs: its free-space map            \
	                    (ext4 and XFS give GETFSMAP to every user) */
#define CMD_F_UI    0x08 /* interactive only */
#define CMD_F_NOREC 0x10 /* not written to recordings (meta commands) */
#define CMD_F_LIVE                                                             \
	0x40 /* needs the mounted volume itself, not a                         \
	        snapshot: the executor probes it first */
#define CMD_F_ROOT_EXT4                                                        \
	0x20 /* needs root on ext4: exact placement reads                      \
	        the device's geometry and changes the                          \
	        allocator's tunables (XFS: any user, for                       \
	        the files they may write) */
#define CMD_F_PATHS                                                            \
	0x80 /* the arguments named FILE, PATH, DATAFILE or SPACEFILE in its   \
	        synopsis are paths on the volume: the executor resolves them   \
	        (session_resolve_path) to the path under the mount point, and  \
	        recordings hold them relative to the volume's root */

/* What the flags users should know of say (help COMMAND, the man page):
 * lower case, without a full stop; in this order. */
struct cmd_flag_note {
	unsigned flag;
	const char *note;
};
extern const struct cmd_flag_note cmd_flag_notes[];
extern const size_t cmd_flag_notes_len;

/* Status of a command: the process exit codes. */
enum cmd_status { CMD_OK = 0, CMD_FAIL = 1, CMD_USAGE = 2 };

#define CMD_MAX_OPTS 16
#define CMD_MAX_ARGS 64

/* An option a command accepts: "--name" with or without a value. */
struct cmd_opt {
	const char *name; /* without the leading "--" */
	const char *arg;  /* value placeholder ("N"), NULL for a flag */
	const char *help;
};

/* --journal-dir, which every journaling command takes (one text). */
#define CMD_OPT_JOURNAL_DIR                                                    \
	{                                                                      \
		"journal-dir", "DIR",                                          \
		    "the undo journal's directory (default "                   \
		    "$RELAYOUT_JOURNAL_DIR, "                                  \
		    "else /var/lib/relayout for root, "                        \
		    "~/.local/state/relayout/journal for others)"              \
	}

/* A parsed invocation. */
struct cmd_call {
	const struct cmd_def *def;
	int argc;                         /* positional arguments */
	char *argv[CMD_MAX_ARGS + 1];     /* (pointers into the words) */
	unsigned opts;                    /* bit i: opts[i] was given */
	const char *optval[CMD_MAX_OPTS]; /* value of opts[i] */
	bool json;    /* --json: this command prints JSON (every command) */
	char **words; /* the command as typed (words[0]: its name) */
	int nwords;
};

typedef enum cmd_status (*cmd_handler)(struct rl_session *s,
                                       const struct cmd_call *c);

struct cmd_def {
	const char *name;
	const char *args; /* synopsis of positional arguments */
	int argmin, argmax;
	unsigned flags;
	const struct cmd_opt *opts; /* NULL-terminated, or NULL */
	cmd_handler handler;
	const char *help; /* one line */
	int ui_id; /* CMD_F_UI: its enum cmd_ui_id (struct rl_frontend) */
};

/*
 * The table. X(name, id, args, argmin, argmax, flags, opts, help)
 *   name: what users type; id: C identifier (handler cmd_<id>, options
 *   cmd_opts_<id> or NULL). The UI's commands (RL_UI_COMMANDS) are rows
 *   of XUI, with the same arguments: their handlers are the front end's.
 */
#define RL_COMMAND_TABLE(X, XUI)                                               \
	X("help", help, "[COMMAND]", 0, 1, 0, NULL,                            \
	  "List the commands, or describe one")                                \
	X("info", info, "", 0, 0, CMD_F_VOLUME | CMD_F_LIVE, NULL,             \
	  "Summary of the volume: device, type, geometry, space")              \
	X("free", free, "[START [END]]", 0, 2,                                 \
	  CMD_F_VOLUME | CMD_F_LIVE | CMD_F_ROOT_MAP, cmd_opts_free,           \
	  "Free space extents between START and END "                          \
	  "(get_free_blocks)")                                                 \
	X("extents", extents, "FILE", 1, 1,                                    \
	  CMD_F_VOLUME | CMD_F_LIVE | CMD_F_PATHS, NULL,                       \
	  "A file's extents (FIEMAP): logical, physical, length, flags")       \
	X("allocate", allocate, "FILE OFFSET GOAL LEN", 4, 4,                  \
	  CMD_F_PATHS | CMD_F_VOLUME | CMD_F_LIVE | CMD_F_DISK |               \
	      CMD_F_ROOT_EXT4,                                                 \
	  cmd_opts_allocate,                                                   \
	  "Allocate LEN bytes to FILE at OFFSET, near (or exactly at) GOAL")   \
	X("movedata", movedata, "DATAFILE SPACEFILE FROM LEN", 4, 4,           \
	  CMD_F_PATHS | CMD_F_VOLUME | CMD_F_LIVE | CMD_F_DISK,                \
	  cmd_opts_movedata,                                                   \
	  "Move DATAFILE's range onto the blocks SPACEFILE holds there")       \
	X("move", move, "FILE [LEN]", 1, 2,                                    \
	  CMD_F_PATHS | CMD_F_VOLUME | CMD_F_LIVE | CMD_F_DISK |               \
	      CMD_F_ROOT_EXT4,                                                 \
	  cmd_opts_move,                                                       \
	  "Move FILE (or --range OFF LEN of it) contiguously to physical "     \
	  "address --to GOAL, journaled")                                      \
	X("log", log, "", 0, 0, CMD_F_VOLUME | CMD_F_LIVE, cmd_opts_log,       \
	  "List the journaled transactions of the volume: id, time, "          \
	  "command, bytes, status (--forget drops old ones)")                  \
	X("undo", undo, "[ID]", 0, 1,                                          \
	  CMD_F_VOLUME | CMD_F_LIVE | CMD_F_DISK | CMD_F_ROOT_EXT4,            \
	  cmd_opts_undo,                                                       \
	  "Move the data of the last command's transactions (all of them, "    \
	  "newest first), or of transaction ID, back to its previous "         \
	  "extents; parts whose blocks were taken since go as near them as "   \
	  "the volume allows, each such file named; a stopped undo goes on "   \
	  "where it ended")                                                    \
	X("redo", redo, "", 0, 0,                                              \
	  CMD_F_VOLUME | CMD_F_LIVE | CMD_F_DISK | CMD_F_ROOT_EXT4,            \
	  cmd_opts_undo,                                                       \
	  "Revert the last undo (every transaction it made), as long as no "   \
	  "command moved data after it")                                       \
	X("place", place, "FILE GOAL", 2, 2,                                   \
	  CMD_F_PATHS | CMD_F_VOLUME | CMD_F_LIVE | CMD_F_DISK |               \
	      CMD_F_ROOT_EXT4,                                                 \
	  cmd_opts_place,                                                      \
	  "Move all of FILE to start exactly at physical address GOAL")        \
	X("set", set, "OPTION [VALUE]", 1, 2, 0, NULL,                         \
	  "Set a session option: json, continue-on-error, tunables, "          \
	  "step-refresh, progress on|off")                                     \
	X("echo", echo, "[TEXT...]", 0, CMD_MAX_ARGS, 0, NULL, "Print TEXT")   \
	X("source", source, "SCRIPT", 1, 1, CMD_F_NOREC, NULL,                 \
	  "Run the commands in SCRIPT")                                        \
	X("record", record, "FILE|stop", 1, 1, CMD_F_NOREC, NULL,              \
	  "Append every command run from now on to FILE, a replayable "        \
	  "script ('record stop' ends it)")                                    \
	X("volume-uuid", volume_uuid, "UUID", 1, 1, CMD_F_VOLUME | CMD_F_LIVE, \
	  NULL,                                                                \
	  "Fail unless the volume's UUID is UUID (recordings begin with it; "  \
	  "relayout --force only warns)")                                      \
	RL_MODEL_COMMANDS(X)                                                   \
	RL_UI_COMMANDS(XUI)                                                    \
	RL_PLAN_COMMANDS(X)

/* Planner commands (src/cmd_plan.c). */
#define RL_PLAN_COMMANDS(X)                                                    \
	X("defrag", defrag, "PATH...", 1, CMD_MAX_ARGS,                        \
	  CMD_F_PATHS | CMD_F_VOLUME | CMD_F_LIVE | CMD_F_DISK |               \
	      CMD_F_ROOT_EXT4,                                                 \
	  cmd_opts_defrag,                                                     \
	  "Make each fragmented file contiguous in the best-fitting free "     \
	  "run, or in the fewest large runs when no free run takes it (on "    \
	  "btrfs: where the allocator puts it, if that is fewer runs), as a "  \
	  "journaled plan")                                                    \
	X("compact", compact, "[START END]", 0, 2,                             \
	  CMD_F_VOLUME | CMD_F_LIVE | CMD_F_DISK | CMD_F_ROOT_EXT4,            \
	  cmd_opts_compact,                                                    \
	  "Pack the data of a physical region (default: the whole volume) "    \
	  "toward its start so its free space ends as one run at its end, "    \
	  "but for blocks that cannot move (listed with the reason); after "   \
	  "the moves, says when the free space is in more runs than "          \
	  "planned")                                                           \
	X("evacuate", evacuate, "START END", 2, 2,                             \
	  CMD_F_VOLUME | CMD_F_LIVE | CMD_F_DISK | CMD_F_ROOT_EXT4,            \
	  cmd_opts_evacuate,                                                   \
	  "Move every movable byte out of a physical region (report what "     \
	  "cannot move and why)")                                              \
	X("shrink", shrink, "SIZE", 1, 1,                                      \
	  CMD_F_VOLUME | CMD_F_LIVE | CMD_F_DISK | CMD_F_ROOT_EXT4,            \
	  cmd_opts_shrink,                                                     \
	  "Evacuate everything from SIZE to the end, then shrink the "         \
	  "filesystem to SIZE: XFS online; ext4: the offline resize2fs "       \
	  "steps are printed")                                                 \
	X("group", group, "FILE...", 1, CMD_MAX_ARGS,                          \
	  CMD_F_PATHS | CMD_F_VOLUME | CMD_F_LIVE | CMD_F_DISK |               \
	      CMD_F_ROOT_EXT4,                                                 \
	  cmd_opts_group,                                                      \
	  "Lay FILEs back to back, in order, from physical address --to GOAL") \
	X("plan", plan, "on|off", 0, 1, CMD_F_VOLUME, NULL,                    \
	  "Plan mode: disk-changing commands add to a pending plan instead "   \
	  "of applying")                                                       \
	X("preview", preview, "[frag|freefrag|who|show ARGS...]", 0,           \
	  CMD_MAX_ARGS, CMD_F_VOLUME, NULL,                                    \
	  "The pending plan and the predicted layout (or a report run on "     \
	  "the predicted layout)")                                             \
	X("apply", apply, "", 0, 0,                                            \
	  CMD_F_VOLUME | CMD_F_LIVE | CMD_F_DISK | CMD_F_ROOT_EXT4,            \
	  cmd_opts_apply, "Apply the pending plan (journaled)")                \
	X("discard", discard, "", 0, 0, CMD_F_VOLUME, NULL,                    \
	  "Drop the pending plan")

/* Layout-model commands (src/cmd_model.c). */
#define RL_MODEL_COMMANDS(X)                                                   \
	X("scan", scan, "", 0, 0, CMD_F_VOLUME, cmd_opts_scan,                 \
	  "Scan the volume into the layout model (others scan on demand)")     \
	X("frag", frag, "[PATH...]", 0, CMD_MAX_ARGS,                          \
	  CMD_F_PATHS | CMD_F_VOLUME, cmd_opts_frag,                           \
	  "Fragmentation of the volume or of PATHs, worst "                    \
	  "files first")                                                       \
	X("freefrag", freefrag, "[START END]", 0, 2,                           \
	  CMD_F_VOLUME | CMD_F_ROOT_MAP, cmd_opts_freefrag,                    \
	  "Free-space fragmentation: histogram of free extent sizes")          \
	X("who", who, "START [END]", 1, 2, CMD_F_VOLUME, NULL,                 \
	  "What owns the physical range START..END: files, free, metadata")    \
	X("show", show, "FILE", 1, 1, CMD_F_PATHS | CMD_F_VOLUME, NULL,        \
	  "A file in the layout model: paths, extents, fragmentation")         \
	X("find", find_, "[PATTERN]", 0, 1, CMD_F_VOLUME, cmd_opts_find,       \
	  "Find files by name: a substring, or a glob when PATTERN has * ? "   \
	  "or [ (the whole path when it has a /; case ignored without "        \
	  "upper case); lists them by address; --next/--prev step through "    \
	  "them (the map highlights them, / n N)")                             \
	X("export", export, "FILE", 1, 1, CMD_F_VOLUME, NULL,                  \
	  "Write the layout model to a JSON snapshot FILE (umask; 0600 when "  \
	  "it names files not every user may list)")                           \
	X("import", import, "FILE", 1, 1, 0, NULL,                             \
	  "Load a JSON snapshot: the view becomes read-only")                  \
	X("diff", diff, "A.json [B.json]", 1, 2, CMD_F_VOLUME, NULL,           \
	  "Compare two snapshots (B: the current view)")

/* Commands of the interactive UI (handlers in src/cmd_ui.c, reached
 * through the session's front end, struct rl_frontend). */
#define RL_UI_COMMANDS(X)                                                      \
	X("bind", bind, "KEY [COMMAND...]", 1, CMD_MAX_ARGS,                   \
	  CMD_F_UI | CMD_F_NOREC, NULL,                                        \
	  "Bind KEY to a command line (without COMMAND: unbind)")              \
	X("color", color, "ROLE FG BG [ATTR...]", 3, 8,                        \
	  CMD_F_UI | CMD_F_NOREC, NULL,                                        \
	  "Colours of a UI role (themes are scripts of these)")                \
	X("theme", theme, "NAME", 1, 1, CMD_F_UI | CMD_F_NOREC, NULL,          \
	  "Load the theme NAME (share/themes/NAME.theme) or a theme file")     \
	X("zoom", zoom, "in|out|min|max|BLOCKS", 1, 1, CMD_F_UI, NULL,         \
	  "Zoom the map around the cursor (max: one block per cell)")          \
	X("pan", pan, "DIRECTION [N]", 1, 2, CMD_F_UI, NULL,                   \
	  "Move the cursor: left, right, up, down, pgup, pgdn, home, end")     \
	X("goto", goto_, "ADDR|FILE", 1, 1, CMD_F_UI | CMD_F_PATHS, NULL,      \
	  "Move the cursor to an address or to a file's first extent")         \
	X("pane", pane, "inode|output|none|scroll N|sort WHAT|open", 1, 2,     \
	  CMD_F_UI, NULL,                                                      \
	  "Toggle the inode or output pane; scroll, sort, open a row")         \
	X("pick", pick, "", 0, 0, CMD_F_UI | CMD_F_NOREC, NULL,                \
	  "Select or deselect the file under the cursor (recorded as "         \
	  "select)")                                                           \
	X("select", select, "clear|FILE|path GLOB|frag>N|size>SIZE", 1, 2,     \
	  CMD_F_UI | CMD_F_PATHS, cmd_opts_select,                             \
	  "Select files (the map shows them; actions work on them)")           \
	X("target", target, "START END|clear", 1, 2, CMD_F_UI, NULL,           \
	  "Set the target region for moves (the map marks it)")                \
	X("mark", mark, "[clear]", 0, 1, CMD_F_UI | CMD_F_NOREC, NULL,         \
	  "Mark the target region on the map: at its start, then its end")     \
	X("keys", keys, "", 0, 0, CMD_F_UI | CMD_F_NOREC, NULL,                \
	  "Show the key bindings and the commands")                            \
	X("prompt", prompt, "[TEXT]", 0, 1, CMD_F_UI | CMD_F_NOREC, NULL,      \
	  "Open the command prompt (with TEXT typed in)")                      \
	X("redraw", redraw, "", 0, 0, CMD_F_UI | CMD_F_NOREC, NULL,            \
	  "Redraw the screen")                                                 \
	X("save-screen", save_screen, "FILE", 1, 1, CMD_F_UI | CMD_F_NOREC,    \
	  NULL, "Write the screen as text to FILE (screen tests)")             \
	X("action", action,                                                    \
	  "move|defrag|compact|evacuate|undo|redo|apply|discard", 1, 1,        \
	  CMD_F_UI | CMD_F_NOREC, NULL,                                        \
	  "Plan an action with the planner (the selection or the target "      \
	  "region; preview on the map), apply it as one transaction after a "  \
	  "confirmation, or discard it; undo, redo after a confirmation")      \
	X("quit", quit, "", 0, 0, CMD_F_UI | CMD_F_NOREC, NULL,                \
	  "Leave the interactive UI")

#define X(name, id, args, mn, mx, fl, opts, help)                              \
	enum cmd_status cmd_##id(struct rl_session *s,                         \
	                         const struct cmd_call *c);
#define XUI(name, id, args, mn, mx, fl, opts, help)
RL_COMMAND_TABLE(X, XUI)
#undef XUI
#undef X

/* The UI's commands, numbered: CMD_UI_bind, ... */
enum cmd_ui_id {
#define X(name, id, args, mn, mx, fl, opts, help) CMD_UI_##id,
	RL_UI_COMMANDS(X)
#undef X
	    CMD_UI_N
};

/* What the core needs of a front end (the UI): the program installs one
 * in the session (s->frontend) before any command runs; the core calls
 * the UI through it only. Without one (rl-docgen, the unit tests, the
 * fuzzers) the UI's commands fail, saying that they need the UI. */
struct ui;
struct rl_frontend {
	/* The handlers of the UI's commands, by enum cmd_ui_id (a NULL
	 * entry: the command needs the UI). */
	const cmd_handler *commands;
	/* Free the front end's state, s->ui (session_free). */
	void (*free)(struct ui *ui);
	/* Called after every command the executor runs (NULL: none): the
	 * front end follows the session (its model, the search) command by
	 * command, in a script or a replayed recording as from a key. */
	void (*after)(struct rl_session *s);
};

extern const struct cmd_opt cmd_opts_free[];
extern const struct cmd_opt cmd_opts_allocate[];
extern const struct cmd_opt cmd_opts_movedata[];
extern const struct cmd_opt cmd_opts_move[];
extern const struct cmd_opt cmd_opts_log[];
extern const struct cmd_opt cmd_opts_undo[];
extern const struct cmd_opt cmd_opts_scan[];
extern const struct cmd_opt cmd_opts_frag[];
extern const struct cmd_opt cmd_opts_find[];
extern const struct cmd_opt cmd_opts_freefrag[];
extern const struct cmd_opt cmd_opts_place[];
extern const struct cmd_opt cmd_opts_select[];
extern const struct cmd_opt cmd_opts_defrag[];
extern const struct cmd_opt cmd_opts_compact[];
extern const struct cmd_opt cmd_opts_evacuate[];
extern const struct cmd_opt cmd_opts_shrink[];
extern const struct cmd_opt cmd_opts_group[];
extern const struct cmd_opt cmd_opts_apply[];

/* After err from an exact placement: when it is what a user meets on
 * ext4 (-EOPNOTSUPP, not root), a note on s->err that the command
 * needs root there (the CMD_F_ROOT_EXT4 note). */
void cmd_root_hint(struct rl_session *s, int err);

/* " (the free-space map needs root)" after -EPERM or -EACCES reading
 * it (btrfs), else "". */
const char *cmd_map_root_hint(int err);

/* The table, and its length. */
extern const struct cmd_def cmd_table[];
extern const size_t cmd_table_len;

const struct cmd_def *cmd_find(const char *name);

/* Is positional argument k of d a path on the volume (CMD_F_PATHS and
 * its synopsis word is FILE, PATH, DATAFILE or SPACEFILE)? */
bool cmd_arg_is_path(const struct cmd_def *d, int k);
/* Does arg, positional argument k of d (CMD_F_PATHS), name a file in one
 * of the forms of a synopsis word like ADDR|FILE or clear|FILE|path (not
 * an address, a keyword or an x>N filter)? goto and select resolve such a
 * FILE themselves; the executor records it volume-relative. */
bool cmd_arg_names_file(const struct cmd_def *d, int k, const char *arg);

/* Did the call give option NAME? Its value (or NULL) via *val. */
bool cmd_has_opt(const struct cmd_call *c, const char *name, const char **val);

/* Split one line into commands and words. Words are separated by blanks;
 * ';' ends a command; '#' at the start of a word starts a comment; single
 * quotes take text literally; double quotes allow \" and \\; a backslash
 * outside quotes escapes the next character. On success *cmds is an array
 * of *ncmds NULL-terminated word vectors (free with cmd_free_split).
 * Returns 0 or -EINVAL (unterminated quote) / -E2BIG / -ENOMEM. */
int cmd_split(const char *line, char ****cmds, size_t *ncmds);
void cmd_free_split(char ***cmds, size_t ncmds);

/* Parse words (argv[0] is the command name) into a call, checking options
 * and the argument count. On a usage error returns CMD_USAGE and writes a
 * message to err (size errlen). */
enum cmd_status cmd_parse(int argc, char **argv, struct cmd_call *c, char *err,
                          size_t errlen);

/* Execute one line (possibly several commands separated by ';'). Returns
 * the worst status; stops at the first failure unless continue-on-error. */
enum cmd_status cmd_exec_line(struct rl_session *s, const char *line);

/* Execute a script file ("-" for stdin). Errors read "FILE:LINE: ...". */
enum cmd_status cmd_exec_file(struct rl_session *s, const char *path);

/* The words as one line that cmd_split (and a POSIX shell) reads back
 * as they are (units_put_word each, separated by blanks). malloc'ed; NULL
 * when out of memory. */
char *cmd_words_text(char *const *words, int n);

/* The call as one line (for the journal: log shows it, and it re-runs):
 * every word as typed, options included, quoted by units_put_word, except
 * that positional argument k is args[k] when args (c->argc entries) and
 * args[k] are not NULL (a path made absolute as the command resolved
 * it). malloc'ed; NULL when out of memory. */
char *cmd_call_text(const struct cmd_call *c, const char *const *args);

/* Usage text of one command ("allocate [--fixed-start] ... FILE ..."). */
void cmd_synopsis(const struct cmd_def *d, char *buf, size_t size);

#endif
