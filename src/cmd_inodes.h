/* SPDX-License-Identifier: GPL-2.0-or-later */
/* New inodes for the files and directories whose inodes (XFS inode
 * chunks) or directory blocks lie in a range: what `shrink --move-inodes`
 * does before its evacuation, since XFS cannot move an inode chunk but
 * frees one when its last inode goes (rl_renumber_file, rl_renumber_dir). */
#ifndef RL_CMD_INODES_H
#define RL_CMD_INODES_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "session.h"

struct inodes_report {
	size_t chunks;       /* inode chunks in the range */
	size_t chunks_clear; /* of them, every inode in use moves (dry run:
	                        would move) */
	size_t files, dirs;  /* given new inodes (dry run: would be) */
	size_t skipped;      /* in the range, could not be */
	size_t unknown;      /* inodes in use there the scan has not seen */
	size_t put_back;     /* opened by someone while given a new inode:
	                        the old one put back (and tried again) */
	size_t kept_both;    /* opened under both inodes: the new one kept
	                        beside the old under its temporary name */
	size_t open_now;     /* files open in a process when listed: tried
	                        (a lease tells whether they still are) */
	uint64_t stays;      /* the highest byte a chunk that stays ends at
	                        (0: none) */
	char stays_why[512]; /* why that chunk stays */
	uint64_t *clear;     /* the first byte of each chunk that leaves,
	                        ascending (free() it) */
	uint64_t chunk_bytes;
};

/* Does [start, start + len) lie inside a chunk of rep->clear? */
bool inodes_in_clear(const struct inodes_report *rep, uint64_t start,
                     uint64_t len);

/* Give every file and directory whose inode lies in [start, end), and
 * every directory with directory blocks there, a new inode below start
 * (in an allocation group other than start's). Files that cannot get one
 * (open in a process, hard-linked, immutable, other than a regular file
 * or directory) are named on the error stream (the first few) and
 * counted; their chunks stay. dry: count only (and name those found
 * now; without dry, only those that fail while moving are named). XFS only
 * (else -EOPNOTSUPP); 0, or -errno when it could not be done at all (reported).
 */
int inodes_move(struct rl_session *s, uint64_t start, uint64_t end, bool dry,
                struct inodes_report *rep);

/* What inodes_move found (dry) or is about to do, on the output stream:
 * "would give / giving N files and M directories new inodes ...". */
void inodes_print(struct rl_session *s, const struct inodes_report *ir,
                  bool dry);
/* What it did: "gave N files and M directories new inodes; K kept
 * theirs; ...". */
void inodes_print_done(struct rl_session *s, const struct inodes_report *ir);

#endif
