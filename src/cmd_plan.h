/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the planner commands (src/cmd_plan.c) share with other commands. */
#ifndef RL_CMD_PLAN_H
#define RL_CMD_PLAN_H
#include "commands.h"
#include "planner.h"
#include "session_model.h"

/* session_plan_init for a planner command (session_plan_fini ends it),
 * with c's --unshare; a failure is reported. 0 or -errno. */
int cmd_plan_init(struct rl_session *s, const struct cmd_call *c,
                  struct lm_model *m, struct pl_ctx *ctx,
                  struct session_plan_hooks *hooks);

/* shrink SIZE (src/cmd_shrink.c): evacuate [START, end of the volume) as
 * the evacuate command does, with c's options (--dry-run, --retry,
 * --rate, --unshare, ...): the plan printed, then applied as one
 * journaled, undoable transaction (CMD_OK also when there was nothing to
 * move). START is c->argv[0] (SIZE, or below it: the journal names the
 * command as typed, c->words). */
enum cmd_status cmd_plan_evacuate_tail(struct rl_session *s,
                                       const struct cmd_call *c);

#endif
