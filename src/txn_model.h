/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The layout model following an apply: after a step, the step's file
 * and the free space where its data was and went are read again from
 * the volume into the model -- no rescan. */
#ifndef RL_TXN_MODEL_H
#define RL_TXN_MODEL_H
#include "txn.h"

struct lm_model;

/* Bring m (the model of the volume mounted at mnt) up to date for step
 * st: its file's extents (opened through open_file) and the free space
 * of its ranges before and its targets. (tx_apply commits the log at the
 * end of every step, so GETFSMAP shows the blocks it freed as free.)
 * What cannot be read stays as it was. */
void tx_model_refresh_step(struct lm_model *m, const char *mnt,
                           const struct tx_step *st, tx_open_cb open_file,
                           void *open_arg);

#endif
