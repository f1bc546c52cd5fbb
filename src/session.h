/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A relayout session: the volume it works on and the output settings.
 * Everything a command needs is here; there are no globals. */
#ifndef RL_SESSION_H
#define RL_SESSION_H
#include <relayout/fs.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

struct lm_model;
struct ui;
struct rl_frontend;
struct jr_journal;
struct vl_lock;
struct tx_plan;
struct tx_progress;

/* Scripts nest at most this deep (source, -x). */
#define RL_SOURCE_MAX 16

struct rl_session {
	char *path; /* what the user named (volume or snapshot) */
	bool fs_probed;
	int fs_err;           /* probe result when fs_probed */
	struct rl_fs_info fs; /* the volume */
	bool json;            /* one JSON document per command */
	bool continue_on_error;
	int stop_signal;      /* SIGINT/SIGTERM stopped a move: stop the
	                         script (even with -k) */
	FILE *out;            /* normal output (stdout) */
	FILE *err;            /* messages (stderr) */
	const char *src_name; /* script name for "FILE:LINE:" or NULL */
	int src_line;
	const char *cur_cmd; /* command being executed */
	/* The last session_error, as printed but for "relayout: " (the UI
	 * shows it on its message line). */
	char last_error[1024];
	FILE *record; /* recording script, or NULL */
	char *record_path;
	int source_depth;  /* nesting of scripts */
	struct {           /* the regular files being run, outermost */
		dev_t dev; /* first (a script may not run itself) */
		ino_t ino;
	} sourcing[RL_SOURCE_MAX];
	bool force;        /* --force: volume-uuid mismatches only warn */
	char *journal_dir; /* --journal-dir (NULL: env or default) */
	struct jr_journal *journal;  /* opened by the first command needing
	                                it (src/session_txn.c) */
	bool journal_locked;         /* journal opened with the volume lock */
	bool journal_checked;        /* start-of-session report made */
	struct vl_lock *volume_lock; /* (src/vlock.h) taken by the first
	                                command that changes the disk, kept
	                                to the end; NULL: not held */
	/* The layout model (src/cmd_model.c): scanned on demand, or loaded
	 * from a snapshot; then read_only_snapshot is set and every command
	 * flagged CMD_F_DISK is refused. */
	struct lm_model *model;
	/* the model holds only some regular files (session_scan_only): the
	 * command that made it drops it when it ends */
	bool model_partial;
	uint64_t model_passed; /* the files it left out */
	/* files it holds only as XFS anchors (not the command's: sorted
	 * inode numbers) */
	uint64_t *model_seeds;
	size_t model_nseeds;
	bool read_only_snapshot;
	struct ui *ui; /* UI state and configuration (src/ui.h), or NULL */
	const struct rl_frontend *frontend; /* the UI's hooks (commands.h),
	                                       or NULL: no UI */
	bool no_tunables;      /* never change global fs tunables (ext4
	                          fixed-start placement then unsupported) */
	bool tunables_noticed; /* the "tunables changed" notice was shown */
	bool refresh_at_end;   /* 'set step-refresh off': the model follows
	                          an apply once at its end, not per step */
	bool no_progress;      /* 'set progress off': no progress line of an
	                          apply on stderr */
	/* Plan mode (src/cmd_plan.c): disk-changing commands add their
	 * steps to the pending plan instead of applying them. */
	bool plan_mode;
	struct tx_plan *pending;
	/* The last apply: steps done and -errno of a failure (0: none). */
	size_t last_steps_done;
	uint64_t last_bytes_done; /* bytes the last apply moved */
	int last_err;
	/* The first transaction the command running made (0: none yet):
	 * the later ones are journaled in its group, which a plain 'undo'
	 * reverts as a whole. The executor clears it for each command. */
	uint64_t txn_group;
	/* Targets a placement missed during this command's retries
	 * (--retry): [start, end) pairs the planner avoids. */
	uint64_t *plan_excl;
	size_t nplan_excl;
	/* This command may leave out steps whose targets were taken since
	 * its plan (not group: it promises exact places), and how many the
	 * last plan left out (planned again in the next round). */
	bool plan_drop_ok;
	size_t plan_left_out;
	/* compact: bytes below the last plan's boundary that came free
	 * during its apply beyond what it left free there (check_runs):
	 * the next round moves the data above into them. */
	uint64_t plan_freed;
	/* Inodes whose step found them changed since the plan (a writer):
	 * the command's later rounds leave them where they are. */
	uint64_t *plan_changed;
	size_t nplan_changed;
	/* The last search (find, src/cmd_model.c): its pattern, the files
	 * that match in the order of their first block, the current one
	 * (index into ids), the model they were found in (another one, after
	 * a rescan: found again). gen changes with every find: the UI
	 * highlights the matches and goes to the current one. */
	struct rl_find {
		char *pattern;
		uint32_t *ids;
		size_t n, cur;
		const struct lm_model *model;
		unsigned gen;
	} find;
	/* Optional hooks a front end (the UI) installs while it applies a
	 * plan: progress is called after every moved chunk and every ~50 ms
	 * of a --rate pause (instead of the stderr line), and once more when
	 * a step ends (p->step_end), after s->model was brought up to date
	 * for that step: the front end redraws the map then. cancel_requested,
	 * polled after each, stops the transaction between chunks as SIGINT
	 * does (status "stopped"). They must not call back into the
	 * session's commands. */
	void (*progress)(struct rl_session *s, const struct tx_progress *p);
	bool (*cancel_requested)(struct rl_session *s);
	void *progress_arg;
};

void session_init(struct rl_session *s);

/* Start recording to path (append; created 0600, never through a
 * symlink, never in a directory another user controls nor into another
 * user's file), writing a header that names the volume. Returns 0 or
 * -errno: -ELOOP symlink, -EPERM another user's, -EINVAL not a regular
 * file (session_record_strerror says it in words). */
int session_record_start(struct rl_session *s, const char *path);
/* Whether the file of st (fstat) is a script being run (source), or the
 * recording in progress. */
bool session_is_sourcing(const struct rl_session *s, const struct stat *st);
bool session_is_recording(const struct rl_session *s, const struct stat *st);
const char *session_record_strerror(int err);
void session_record_stop(struct rl_session *s);
void session_free(struct rl_session *s);

/* NAME in relayout's per-user state directory ($XDG_STATE_HOME/relayout,
 * default ~/.local/state/relayout), which is created 0700 and checked
 * like the journal directory (jr_open_dir: no symlink, owned by the
 * effective user, nothing on its path another user controls). A malloc'd
 * path, or NULL when there is no such directory or it is refused. */
char *session_state_file(const char *name);

/* Probe the volume (once). Returns 0 or -errno; reports the error. */
int session_volume(struct rl_session *s);

/* Is a file written from the session's view for the user (export,
 * save-screen) to be private: run as root (it may name anything), or the
 * model names files that not every user may list (lm_names_private)? */
bool session_output_private(const struct rl_session *s);

/* Take the volume lock (src/vlock.h) for the rest of the session, unless
 * held already: one relayout at a time changes a volume. Probes the volume
 * first. 0, or -errno after reporting why (-EWOULDBLOCK: another relayout
 * holds it, named by pid and command line). */
int session_volume_lock(struct rl_session *s);

/* Report an error for the current command: "relayout: [FILE:LINE: ]CMD:
 * message" on s->err; with --json also {"command","error"} on s->out. */
void session_error(struct rl_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Parse a size or address argument (bytes, 0x hex, K/M/G/T suffix) into
 * *v; on failure report an error naming WHAT and the argument and return
 * -EINVAL or -ERANGE. */
int session_arg_size(struct rl_session *s, const char *what, const char *arg,
                     uint64_t *v);

/* Open a file named by the user safely: every path component is opened
 * relative to its parent directory with O_NOFOLLOW (symlinks are never
 * followed), the result must be a regular file on the session's volume
 * (same st_dev). flags: O_RDONLY / O_RDWR, plus O_CREAT to create it
 * (mode 0600). Returns an fd or -errno; -ELOOP for a symlink, -EXDEV for
 * another filesystem, -EINVAL for a non-regular file, -EPERM when a caller
 * other than root opens another user's file for writing. */
int session_open_file(struct rl_session *s, const char *path, int flags);

/* Why this session cannot change the volume's layout at all, in words
 * (NULL: it can, as far as the user goes): not root on ext4, where exact
 * placement reads the device's geometry and changes the allocator's
 * tunables. Probes the volume when it was not. Nothing is reported. */
const char *session_change_refusal(struct rl_session *s);
/* What the user may do on the volume, one line for info and the UI's
 * status ("read-write", "read-write: own files", "read-only: ..."):
 * short (at most 32 bytes) when brief. */
const char *session_access(struct rl_session *s, bool brief);

#endif
