/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A transaction found open at a later start: its process died during
 * it. Each step it left in flight is looked at on the volume (not moved,
 * moved, or partly moved: every byte is at its old place or the target)
 * and the outcome recorded, so that undo can revert it; then the
 * transaction is closed as interrupted. The outcome is data; the
 * commands say it in words.
 */
#ifndef RL_TXN_RECOVER_H
#define RL_TXN_RECOVER_H
#include <stddef.h>
#include <stdint.h>
#include "journal.h"
#include "txn.h"

/* Where a step in flight stands now. */
enum tx_step_now {
	TX_NOW_CANNOT_OPEN, /* the file cannot be opened */
	TX_NOW_REPLACED,    /* another inode (or generation) at its path */
	TX_NOW_CANNOT_READ, /* its extents cannot be read */
	TX_NOW_NOT_MOVED,   /* the data is at its old place */
	TX_NOW_MOVED,       /* the data is at the target */
	TX_NOW_PARTLY,      /* part at the target, part at its old place */
};

struct tx_recovered_step {
	unsigned index; /* in the transaction (0-based) */
	char *path;
	uint64_t offset, length; /* the file range */
	enum tx_step_now now;
};

struct tx_recovery {
	uint64_t id;                     /* the transaction */
	char *command;                   /* its command text ("" when none) */
	uint64_t time;                   /* when it began (Unix seconds) */
	long pid;                        /* the process that ran it */
	size_t done;                     /* steps it completed */
	unsigned nplanned;               /* steps it planned */
	struct tx_recovered_step *steps; /* the steps in flight */
	size_t nsteps;
};

/* Look at the steps in flight of transaction t, the open one of the
 * locked journal j (files opened through open_file), record where each
 * stands (a moved or partly moved step as done, with its extents now;
 * every one as failed, EINTR) and end t as interrupted. Fills *out
 * (tx_recovery_free frees it). 0, or -ENOMEM when *out could not be
 * filled (the journal is closed all the same). */
int tx_recover(struct jr_journal *j, const struct jr_txn *t,
               tx_open_cb open_file, void *open_arg, struct tx_recovery *out);
void tx_recovery_free(struct tx_recovery *r);

#endif
