/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The layout model following an apply: after a step, the step's file
 * and the free space where its data was and went are read again from
 * the volume into the model -- no rescan. */
#ifndef RL_TXN_MODEL_H
#define RL_TXN_MODEL_H
#include "txn.h"

struct lm_model;

/* Bring m up to date for step st: its file's extents (read on fd when
 * it is >= 0, else opened through open_file). What cannot be read stays
 * as it was. */
void tx_model_refresh_file(struct lm_model *m, const struct tx_step *st, int fd,
                           tx_open_cb open_file, void *open_arg);

/* Bring m (the model of the volume mounted at mnt) up to date for the
 * free space of step st's ranges before and its targets. Blocks a step
 * freed show as free once the filesystem has settled them
 * (rl_free_space_settle: the log committed, XFS's background freeing
 * done): settle once, then refresh the steps since the last settle. */
void tx_model_refresh_free(struct lm_model *m, const char *mnt,
                           const struct tx_step *st);

/* Read the free space of the whole volume (mounted at mnt) again into m,
 * in one walk: what the filesystem allocated on its own during an apply
 * (ext4 extent-tree blocks of the files moved in parts, XFS btree blocks)
 * lies outside the steps' ranges, and a plan made again from m would
 * take it for free space. 0 or -errno (m unchanged). */
int tx_model_refresh_free_all(struct lm_model *m, const char *mnt);

#endif
