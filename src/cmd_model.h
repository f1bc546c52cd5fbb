/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Layout-model commands: helpers shared with main(). */
#ifndef RL_CMD_MODEL_H
#define RL_CMD_MODEL_H

struct rl_session;

/* If s->path names a snapshot (ends in ".json" and is a regular file),
 * load it into s->model and make the session read-only. Returns 1 when
 * loaded, 0 when s->path is not a snapshot, -1 on error (reported). */
int cmd_model_open_snapshot(struct rl_session *s);

struct lm_model;
/* The session's model, scanned now if there is none (NULL: reported). */
struct lm_model *cmd_model_need(struct rl_session *s);
/* arg as the model's path (relative to the volume root). */
int cmd_model_path(struct rl_session *s, struct lm_model *m, const char *arg,
                   char *out, unsigned long size);
/* Read file id's generation and inode flags (which the scan does not
 * read) from the volume into the model, once: opened like any file named
 * by the user; if its path is now another inode, or it cannot be opened,
 * they stay unknown. Nothing is read from a snapshot. Returns 0 or
 * -errno. */
int cmd_model_file_attrs(struct rl_session *s, struct lm_model *m,
                         unsigned id);

#endif
