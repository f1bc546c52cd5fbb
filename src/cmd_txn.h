/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers of the transaction commands (src/cmd_txn.c) that the planner's
 * commands (src/cmd_plan.c) share. */
#ifndef RL_CMD_TXN_H
#define RL_CMD_TXN_H
#include <stdbool.h>
#include <stddef.h>
#include "commands.h"

struct rl_session;
struct tx_plan;

struct tx_step;
#include <cjson/cJSON.h>
/* One step as JSON: path, inode, offset, length, bytes, before, target,
 * after (predicted). */
cJSON *txc_step_json(const struct tx_step *st);
/* Print a plan (text or, with s->json, a JSON document). */
void txc_print_plan(struct rl_session *s, const struct tx_plan *p, bool dry);
/* Apply through tx_apply, journaled (options --rate, --io-priority,
 * --journal-dir of c). In plan mode the steps go to the pending plan. */
enum cmd_status txc_apply_plan(struct rl_session *s, const struct cmd_call *c,
                               struct tx_plan *p, const char *jdir);
/* Apply now, even in plan mode. */
enum cmd_status txc_apply_now(struct rl_session *s, const struct cmd_call *c,
                              struct tx_plan *p, const char *jdir);
/* Every target free now (syncfs first)? 0, 1 (why says), -errno. */
int txc_check_targets_free(struct rl_session *s, const struct tx_plan *p,
                           char *why, size_t wlen);
/* ext4/XFS; else reported. */
bool txc_placement_supported(struct rl_session *s);
/* Append p's steps to the session's pending plan. */
int txc_pending_add(struct rl_session *s, struct tx_plan *p);

/* move --make-room (src/cmd_plan.c): turn the one-step plan p into one
 * that first moves the target's occupants elsewhere. 0 or -errno (why
 * says). */
int cmd_plan_make_room(struct rl_session *s, struct tx_plan *p, char *why,
                       size_t wlen);

#endif
