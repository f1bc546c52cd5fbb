/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The session's layout model for the commands (layer 4): scanned on
 * demand, paths as the model keys them, the file attributes the scan
 * does not read, and the planner's hooks that ask the session about
 * files. */
#ifndef RL_SESSION_MODEL_H
#define RL_SESSION_MODEL_H
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
/* arg as the model's path (relative to the volume root). 0 or -errno
 * (reported). */
int session_model_path(struct rl_session *s, struct lm_model *m,
                       const char *arg, char *out, size_t size);
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
