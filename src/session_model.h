/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The session's layout model for the commands (layer 4): scanned on
 * demand, paths as the model keys them, the file attributes the scan
 * does not read, and the planner's hooks that ask the session about
 * files. */
#ifndef RL_SESSION_MODEL_H
#define RL_SESSION_MODEL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "busy.h"
#include "planner.h"

struct rl_session;
struct lm_model;
struct scan_stats;

/* Scan the volume into s->model (threads 0: the default), a progress
 * line on a terminal. 0 or -errno (reported). */
int session_scan(struct rl_session *s, int threads, struct scan_stats *st);
/* The session's model, scanned now if there is none (NULL: reported). */
struct lm_model *session_model(struct rl_session *s);
/* The same, a scan made now reading every regular file's generation and
 * inode flags as it goes (scan_opts.attrs): for a plan over a region,
 * which needs them for most files. */
struct lm_model *session_model_attrs(struct rl_session *s);
/* A partial model: of the regular files only those whose inode numbers
 * are in only[0 .. n) (sorted; n may be 0, only then NULL) (scan_opts.only);
 * s->model_partial is set,
 * s->model_passed = passed (the caller's count of the files left out).
 * 0 or -errno (said). */
int session_scan_only(struct rl_session *s, const uint64_t *only, size_t n,
                      uint64_t passed, struct scan_stats *st);
/* A partial model of no regular file that names the directories
 * rels[0 .. n) (relative to the mount point) and nothing under them, and
 * no free space (scan_opts.roots, no_descend, no_free_map): for a command
 * whose prefilter found nothing to do under them. As session_scan_only. */
int session_scan_dirs(struct rl_session *s, const char *const *rels, size_t n,
                      uint64_t passed, struct scan_stats *st);
/* Drop a partial model (the next command scans the whole volume). */
void session_model_drop_partial(struct rl_session *s);
/*
 * The one way a path on the volume is named (every command that takes one,
 * through the executor, and completion):
 *   - an absolute path must lie under the mount point mp;
 *   - a relative path is taken from the current directory cwd when cwd is
 *     on the volume (cwd NULL: it is not, or the view is a snapshot),
 *     unless it does not exist there and exists from the volume's root;
 *     "." and ".." and paths starting "./" or "../" are always taken from
 *     cwd;
 *   - otherwise it is taken from the volume's root (volume-relative, as
 *     frag, find and recordings print paths).
 * "." and ".." are taken lexically; symlinks are never resolved. exists
 * (NULL: nothing exists) answers for an absolute path. Writes the path
 * relative to the volume root ("." for the root) to out. 0, -EXDEV (not
 * under mp), -ENAMETOOLONG, -ENOENT (empty). Pure but for exists.
 */
int session_path_resolve(const char *mp, const char *cwd, const char *arg,
                         bool (*exists)(const char *abs, void *ctx), void *ctx,
                         char *out, size_t size);
/* session_path_resolve for the session: mount point of the model (else of
 * the volume, probed), the process's cwd (not for a snapshot), lstat.
 * *abs (when abs is not NULL): the path under the mount point,
 * malloc'ed. 0 or -errno (reported). */
int session_resolve_path(struct rl_session *s, const char *arg, char *rel,
                         size_t size, char **abs);
/* session_resolve_path without a message. */
int session_resolve_quiet(struct rl_session *s, const char *arg, char *rel,
                          size_t size);
/* arg as the model's path (relative to the volume root), resolved as
 * session_resolve_path does under m's mount point. 0 or -errno
 * (reported). */
int session_model_path(struct rl_session *s, struct lm_model *m,
                       const char *arg, char *out, size_t size);
/* The file of m that arg names (resolved so), or LM_NONE; quiet. */
uint32_t session_model_find(struct rl_session *s, struct lm_model *m,
                            const char *arg);
/* Does a file's path (relative to the volume root) match a search
 * pattern? A pattern with *, ? or [ is a glob (fnmatch), else a
 * substring; it is matched against the file's name, or against the whole
 * path when it holds a '/'; without upper-case letters case is ignored
 * (as vim's smartcase). Pure. */
bool session_name_match(const char *pattern, const char *path);

/* Read file id's generation and inode flags (which the scan does not
 * read) from the volume into the model, once: opened like any file named
 * by the user; if its path is now another inode, or it cannot be opened,
 * they stay unknown. Nothing is read from a snapshot. Returns 0 or
 * -errno. */
int session_file_attrs(struct rl_session *s, struct lm_model *m, uint32_t id);

/* What the planner asks the session about files: their attributes, and
 * which cannot be written now (read once a plan). */
struct session_plan_hooks {
	struct rl_session *s;
	struct lm_model *m;
	struct busy_set busy;
};
/* pl_init with the session's hooks (session_plan_fini ends both). */
int session_plan_init(struct pl_ctx *ctx, struct session_plan_hooks *h,
                      struct rl_session *s, struct lm_model *m);
void session_plan_fini(struct pl_ctx *ctx, struct session_plan_hooks *h);

#endif
