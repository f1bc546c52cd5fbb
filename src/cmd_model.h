/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Layout-model commands: helpers shared with main(). */
#ifndef RL_CMD_MODEL_H
#define RL_CMD_MODEL_H

struct rl_session;

/* If s->path names a snapshot (ends in ".json" and is a regular file),
 * load it into s->model and make the session read-only. Returns 1 when
 * loaded, 0 when s->path is not a snapshot, -1 on error (reported). */
int cmd_model_open_snapshot(struct rl_session *s);

#endif
