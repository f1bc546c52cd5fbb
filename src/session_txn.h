/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Transactions in a session (layer 4), for the commands that change the
 * disk (src/cmd_txn.c, src/cmd_plan.c): the session's journal, whether
 * the volume takes placements, the target check, and the apply with the
 * session's hooks and options; what they find is said in words here. */
#ifndef RL_SESSION_TXN_H
#define RL_SESSION_TXN_H
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "commands.h"

struct rl_session;
struct tx_plan;
struct tx_step;
struct jr_journal;

/* Append step st's target pieces to the [start, end) pairs *excl (*n
 * pairs): targets a placement refused, never to plan on again. 0 or
 * -ENOMEM. */
int session_exclude_targets(uint64_t **excl, size_t *n,
                            const struct tx_step *st);
/* Append [lo, hi) to them. 0 or -ENOMEM. */
int session_exclude_range(uint64_t **excl, size_t *n, uint64_t lo, uint64_t hi);
/* Plan p failed its check with a target in use since it was made (a
 * writer allocated there): leave out the steps whose targets are in use
 * and the later ones that need what those would have freed
 * (tx_check_busy_steps); the targets in use are avoided (s->plan_excl)
 * when the command plans again. How many were left out (0: none, or all
 * of them: p unchanged), or -errno. */
ssize_t session_drop_busy(struct rl_session *s, struct tx_plan *p);

/* Wait until what was freed moments ago is free in the space map (XFS
 * frees closed unlinked files, e.g. donors held ahead, in the
 * background). */
void session_settle(struct rl_session *s);
/* session_settle, then read the volume's free space again into the model
 * (what the filesystem allocated on its own during the apply lies outside
 * the steps' ranges): before a plan is made again after a failed apply. */
void session_settle_replan(struct rl_session *s);

/* Open the session's journal (once). lock: take the volume lock (needed
 * to append); try_lock: take it when free, else read only. dir_opt:
 * --journal-dir, or NULL. At the first open, say what the journal holds
 * that needs saying (damage, an interrupted transaction, which is closed
 * when the lock is held). NULL: reported. */
struct jr_journal *session_journal(struct rl_session *s, bool lock,
                                   bool try_lock, const char *dir_opt);
/* session_open_file as a tx_open_cb (arg: the session). */
int session_open_cb(void *arg, const char *path, int flags);
/* ext4/XFS with what moves need; else reported. */
bool session_placement_supported(struct rl_session *s);
/* Every target free now (syncfs first)? 0, 1 (why says), -errno. */
int session_check_targets(struct rl_session *s, const struct tx_plan *p,
                          char *why, size_t wlen);
/* The same; at 1, busy (when not NULL) gets the first range in use where
 * a target lies ([0, 0) when the reason is another). owners: name the
 * files holding it (a walk of the volume). */
int session_check_targets_busy(struct rl_session *s, const struct tx_plan *p,
                               char *why, size_t wlen, uint64_t busy[2],
                               bool owners);
/* One step as JSON: path, inode, offset, length, bytes, before, target,
 * after (predicted). */
cJSON *session_step_json(const struct tx_step *st);
/* Apply through tx_apply, journaled (options --rate, --io-priority,
 * --journal-dir of c). In plan mode the steps go to the pending plan. */
enum cmd_status session_apply_plan(struct rl_session *s,
                                   const struct cmd_call *c, struct tx_plan *p,
                                   const char *jdir);
/* Apply now, even in plan mode. */
enum cmd_status session_apply_now(struct rl_session *s,
                                  const struct cmd_call *c, struct tx_plan *p,
                                  const char *jdir);
/* Append p's steps to the session's pending plan. */
int session_pending_add(struct rl_session *s, struct tx_plan *p);

/* Are all steps of p anyplace ones (btrfs defrag: no exact placement,
 * no undo)? false for an empty plan. */
bool session_plan_anyplace(const struct tx_plan *p);

#endif
