/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The planner: builds relocation plans (src/txn.h) from the layout model.
 * Pure logic -- no I/O -- so it is tested on synthetic models.
 *
 * A planning context starts from the model (files' extents, the free map)
 * and keeps the *predicted* state as moves are added: a move's target must
 * be free at the time its step runs (the predicted free map), and the
 * file's old blocks become free after it. Every move is one whole file (or
 * one range of it) placed contiguously at a goal: data extent at logical L
 * goes to goal + (L - off), holes stay holes.
 *
 * Placement constraints (ext4/XFS): a target lies inside one group / AG and
 * inside one free extent, block aligned; on XFS a target needs file data
 * below it in the same AG (the reflink anchor), which target searches
 * prefer.
 */
#ifndef RL_PLANNER_H
#define RL_PLANNER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "layout_model.h"
#include "txn.h"

/* Why a file cannot be moved (pl_unmovable). */
enum pl_stuck {
	PL_MOVABLE = 0,
	PL_STUCK_NO_FILE,    /* not in the model */
	PL_STUCK_UNREADABLE, /* the scan could not read it */
	PL_STUCK_DIR,        /* a directory */
	PL_STUCK_NOT_REG,    /* not a regular file */
	PL_STUCK_INLINE,     /* inline data */
	PL_STUCK_ENCODED,    /* encoded or encrypted extents */
	PL_STUCK_DELALLOC,   /* extents not yet allocated */
	PL_STUCK_UNALIGNED,  /* extents not block aligned */
	PL_STUCK_SHARED,     /* shared extents without --unshare */
	PL_STUCK_IMMUTABLE,  /* chattr +i */
	PL_STUCK_APPEND,     /* chattr +a */
	PL_STUCK_BUSY,       /* the file_busy hook's reason */
};

/* Why a planner call could not complete: set in pl_ctx.outcome when a
 * pl_* planner returns < 0 for a reason of its own (code PL_DONE when it
 * failed without one, e.g. -ENOMEM). The fields a code uses are named
 * next to it; pl_outcome_format renders the text (also noted in the
 * report as the line it was always). */
enum pl_code {
	PL_DONE = 0,
	PL_REGION_EMPTY,     /* compact: no whole block in the region */
	PL_NO_FIT,           /* compact: file, len, at, end */
	PL_NO_SCRATCH,       /* compact: file, len */
	PL_TARGET_FAILED,    /* compact: file, at, err */
	PL_NOT_ENOUGH_SPACE, /* evacuate: len to move, avail outside */
	PL_EXTENT_NO_RUN,    /* evacuate: len of file */
	PL_GOAL_UNALIGNED,   /* group */
	PL_GROUP_STUCK,      /* group: file, stuck, stuck_why */
	PL_GROUP_CROSSES,    /* group: file, the boundary at */
	PL_TARGET_OCCUPIED,  /* group: [at, end) holds data of file */
	PL_TARGET_NOT_FREE,  /* group: file at at, len */
	PL_AWAY_STUCK,       /* out of the way: file, stuck, stuck_why */
	PL_AWAY_NO_RUN,      /* out of the way: file, len */
	PL_AWAY_FAILED,      /* out of the way: file, err */
	PL_ROOM_PINNED,      /* make room: [at, end) holds len unmovable */
	PL_REGION_NO_RUN,    /* group --end: no free run in [at, end) takes
	                        file's len */
};
struct pl_outcome {
	enum pl_code code;
	int err;             /* the -errno returned */
	uint32_t file;       /* the file's id in the model */
	uint64_t at, end;    /* addresses */
	uint64_t len, avail; /* byte counts */
	enum pl_stuck stuck;
	const char *stuck_why; /* its text (the busy hook's reason) */
	const char *where;     /* PL_EXTENT_NO_RUN: where no run fits */
};

/* Free map: sorted, merged [start, start+len). */
struct pl_run {
	uint64_t start, len;
};
/* ver (optional, pl_fm_track): a change counter per unit of unit bytes
 * from base, bumped by every give/take that touches the unit or its
 * edges, so a result computed from one unit's runs is known to hold
 * while its counter is unchanged. */
struct pl_freemap {
	struct pl_run *r;
	size_t n, cap;
	uint32_t *ver;
	size_t nver;
	uint64_t vbase, vunit;
};

void pl_fm_init(struct pl_freemap *fm);
void pl_fm_free(struct pl_freemap *fm);
int pl_fm_give(struct pl_freemap *fm, uint64_t start, uint64_t len);
/* Count changes per unit of unit bytes from base, n units (the last one
 * also takes everything above it): fm->ver. */
int pl_fm_track(struct pl_freemap *fm, uint64_t base, uint64_t unit, size_t n);
/* Remove [start, start+len): -EBUSY unless all of it is free. */
int pl_fm_take(struct pl_freemap *fm, uint64_t start, uint64_t len);
bool pl_fm_is_free(const struct pl_freemap *fm, uint64_t start, uint64_t len);
uint64_t pl_fm_bytes(const struct pl_freemap *fm, uint64_t lo, uint64_t hi);
/* The index of the first run that ends after x (the one holding x, or
 * the next; fm->n when none). */
size_t pl_fm_first(const struct pl_freemap *fm, uint64_t x);
/* Free runs inside [lo, hi) (clipped). */
size_t pl_fm_runs(const struct pl_freemap *fm, uint64_t lo, uint64_t hi);

/* One planned move. */
struct pl_move {
	uint32_t file;
	uint64_t off, len; /* file range */
	uint64_t goal;     /* physical start of the range's new place */
	uint64_t bytes;    /* data bytes moved */
	const char *why;   /* "defrag", "make room", "scratch", ... */
	bool anyplace;     /* no goal: where the allocator puts it
	                      (tx_step.anyplace); goal UINT64_MAX */
	bool shared;       /* the range has shared (reflinked) extents */
	struct rl_extent *before, *target; /* extents of the range then */
	size_t nbefore, ntarget;
};

struct pl_tree_hole {
	uint64_t at;    /* the block's address */
	uint64_t group; /* the goal group it serves */
	bool used;      /* granted to a file */
};

struct pl_ctx {
	struct lm_model *m;
	const struct lm_geometry *g;
	uint64_t bs;
	struct pl_freemap fm; /* predicted free map */
	/* ext4: free buddy chunks per order below each free run of a group
	 * (planner.c, ext4_place_cost), one entry a group, valid while the
	 * group's fm.ver is unchanged */
	struct pl_e4group *e4g;
	struct rl_extent **ext; /* predicted extents per file */
	size_t *next;
	size_t nfiles;
	struct pl_move *mv;
	size_t nmv, capmv;
	uint64_t bytes;                 /* data bytes to move */
	uint64_t scratch, scratch_peak; /* bytes parked outside (compact) */
	char *report;                   /* lines: what was skipped and why */
	size_t rlen, rcap;
	struct pl_outcome outcome; /* why the last call failed */
	bool xfs_anchor;           /* XFS: targets need data below in the AG */
	bool unshare;              /* shared extents may move (duplicated) */
	bool anyplace;             /* no placement control (btrfs): defrag
	                              moves go where the allocator puts
	                              them, checked when they run */
	/* Region targets must avoid: [avoid_lo, avoid_hi). */
	uint64_t avoid_lo, avoid_hi;
	/* Targets never to use (placement missed them): [start, end)
	 * pairs. */
	const uint64_t *excl;
	size_t nexcl;
	/* Free space kept free in each group (pl_keep_group_free): the
	 * highest free runs of each group, group_keep bytes of them. No
	 * target the planner chooses lies there (XFS answers ENOSPC for an
	 * allocation that would take an AG's reservation). */
	struct pl_freemap resv;
	uint64_t group_keep;
	/* ext4 compaction: single free blocks kept free for the extent-tree
	 * block of a file that goes in more parts than its inode holds (the
	 * kernel puts that block in the first single free block of the
	 * file's goal group: planner.c, tree_holes_reserve); a file given
	 * one has tree_grant[id] set. */
	struct pl_tree_hole *holes;
	size_t nholes, holes_used;
	bool *tree_grant;
	/* compact, evacuate: the fewest data bytes the command must move
	 * (the movable data above the final free run, or in the region);
	 * has_min false for the other commands. */
	uint64_t min_bytes;
	bool has_min;
	/* compact: bytes moved out of the way, beyond the budget where
	 * needed, to make one run for ranges that in parts would leave
	 * their file with more extents than its inode holds (whole_bytes,
	 * each window at most its range's length), and those ranges' bytes
	 * (whole_for): the part of the plan above the minimum that keeps
	 * files whole. */
	uint64_t whole_bytes, whole_for;
	/* compact, evacuate: bytes of the region that stay (metadata,
	 * blocks of no known file, files that cannot move). */
	uint64_t fixed_bytes;
	/* compact: the region's free space is predicted from run_lo to
	 * run_hi in run_count runs, run_free bytes, and run_below bytes
	 * free from the region's start run_start to run_lo (run_hi 0: not
	 * a compaction) */
	uint64_t run_lo, run_hi, run_free, run_start, run_below;
	size_t run_count;
	/* Reads a file's generation and inode flags into the model (the
	 * scan leaves them unknown; lm_set_file_attrs); NULL: unknown ones
	 * stay unknown (an unknown iflags does not make a file unmovable,
	 * an unknown generation is not compared when the plan runs). */
	int (*file_attrs)(void *arg, uint32_t id);
	void *file_attrs_arg;
	/* Why file id cannot be written now although the model does not
	 * say so (a running program, an active swap file: src/busy.h), or
	 * NULL; such a file is not moved (pl_unmovable). NULL: none is. */
	const char *(*file_busy)(void *arg, uint32_t id);
	void *file_busy_arg;
};

/* Set up from the model (its free map is needed: -ENODATA when the model
 * has none). */
int pl_init(struct pl_ctx *c, struct lm_model *m);
void pl_fini(struct pl_ctx *c);
/* Append to the report (a line). */
void pl_note(struct pl_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The predicted extents of file id. */
const struct rl_extent *pl_file_extents(struct pl_ctx *c, uint32_t id,
                                        size_t *n);
/* The file's data range [off, off+len) (block aligned) and data bytes;
 * false when it has no data blocks. */
bool pl_file_span(struct pl_ctx *c, uint32_t id, uint64_t *off, uint64_t *len,
                  uint64_t *bytes);
/* Predicted physically contiguous runs of file id. */
uint64_t pl_file_regions(struct pl_ctx *c, uint32_t id);
/* PL_MOVABLE when the file can be moved, else why not; *why (if not
 * NULL): the reason's text, NULL when movable. */
enum pl_stuck pl_unmovable(struct pl_ctx *c, uint32_t id, const char **why);
/* The text of an outcome (one line, no newline) into buf. */
void pl_outcome_format(struct pl_ctx *c, const struct pl_outcome *o, char *buf,
                       size_t size);

/* Keep `bytes` free in every group: the highest free runs of each group
 * (in the predicted map now) holding that much go to c->resv, and no
 * target the planner chooses lies there (pl_find_target, compact,
 * evacuate). Call after pl_init (and pl_replay). 0 or -ENOMEM. */
int pl_keep_group_free(struct pl_ctx *c, uint64_t bytes);
/* How much an XFS AG must keep free for an allocation there to succeed:
 * the per-AG metadata reservations (finobt, refcount and rmap btrees)
 * and the AGFL refill, estimated from what the free-space btrees count
 * as free (fm_free: GETFSMAP) beyond statfs f_bfree, less the reserve
 * pool (min(5 %, 8192 blocks)) and the set-aside (8 blocks per AG), per
 * AG, plus 64 blocks (AGFL refill, a bmap btree split). 0 on other
 * filesystems; a model without statfs figures (a snapshot) gets 1/128
 * of an AG plus 64 blocks. */
uint64_t pl_xfs_group_keep(const struct lm_geometry *g, uint64_t fm_free);

/* Best free run for len bytes: best fit (least waste), then nearest to
 * `near`, inside one group, not in [avoid_lo, avoid_hi), not kept free
 * (c->resv), within [lo, hi). Returns the goal or UINT64_MAX. */
uint64_t pl_find_target(struct pl_ctx *c, uint64_t len, uint64_t near,
                        uint64_t lo, uint64_t hi);
/* Add a move of [off, off+len) of file id to goal (target must be free in
 * the predicted map: -EBUSY otherwise). */
int pl_add_move(struct pl_ctx *c, uint32_t id, uint64_t off, uint64_t len,
                uint64_t goal, const char *why);
/* Move every file holding part of [lo, hi) elsewhere (outside [lo, hi)
 * and outside [keep_lo, keep_hi)). Returns 0 or -errno (c->outcome). */
int pl_make_room(struct pl_ctx *c, uint64_t lo, uint64_t hi, uint64_t keep_lo,
                 uint64_t keep_hi);

/* ----------------------------------------------------------- commands */

struct pl_defrag_opts {
	uint64_t min_extents; /* only files with at least this many extents */
};
/* Defragment files ids[0..n). Files that are optimal or would not improve
 * are skipped with a note. Returns 0 or -errno. */
int pl_defrag(struct pl_ctx *c, const uint32_t *ids, size_t n,
              const struct pl_defrag_opts *o);
/* Pack [start, end) toward its start: its free space ends as one run
 * from a boundary B to its end, but for the blocks that cannot move
 * (metadata, blocks of no known file, directories, immutable, busy or
 * shared files, preallocation past EOF), each noted with the reason,
 * and what pl_keep_group_free keeps. B is the lowest boundary the
 * movable data fits below; only the data above B moves (c->min_bytes),
 * into the free space below B, best fit, largest first; a piece no free
 * run below B holds is split over the largest ones. Files with data
 * outside the region have their part inside moved (range steps). No
 * scratch space outside the region is needed. -EINVAL (region empty),
 * -ENOMEM, or a move's error, with the reason in c->outcome. */
int pl_compact(struct pl_ctx *c, uint64_t start, uint64_t end);

struct pl_evac_report {
	/* immovable: file bytes that stay (shared ones among them: shared);
	 * unshared: shared bytes of movable files (--unshare copies them) */
	uint64_t meta, unknown, immovable, shared, unshared, movable, moved,
	    free_out;
	uint64_t files_movable, files_immovable;
};
/* Move the data in [start, end) out of it: the part of each movable
 * file inside the region (range steps: data outside stays where it is),
 * best fit outside the region, largest first, split over the largest
 * free runs where no one run holds it; what cannot move is noted with
 * the reason. 0 or -errno (c->outcome). */
int pl_evacuate(struct pl_ctx *c, uint64_t start, uint64_t end,
                struct pl_evac_report *r);
/* Files back to back from goal, in order. make_room: move occupants.
 * 0 or -errno (c->outcome). */
int pl_group(struct pl_ctx *c, const uint32_t *ids, size_t n, uint64_t goal,
             bool make_room);
/* pl_group inside the region [goal, end) (end 0: no region, as
 * pl_group): without make_room a file whose place is not free (in use by
 * metadata, other files, space no record names, or past a group end) goes
 * to the next free run of the region that takes it whole, the order kept;
 * PL_REGION_NO_RUN when none is left. */
int pl_group_in(struct pl_ctx *c, const uint32_t *ids, size_t n, uint64_t goal,
                uint64_t end, bool make_room);

/* What [lo, hi) holds, in words, from the model: its free bytes, free
 * runs and the largest (unless used), then the metadata by label, file
 * data (the first file named, "and other files"), and the space no record
 * names, each with its bytes; "nothing in use" when nothing is. *data
 * (when not NULL): the file data bytes. 0, or -EINVAL / -ENOMEM
 * (lm_owners). */
int pl_region_text(struct lm_model *m, uint64_t lo, uint64_t hi, bool used,
                   char *buf, size_t size, uint64_t *data);

/* The moves as a txn plan (steps' before = predicted extents then).
 * root: the mount point (paths become absolute). */
int pl_to_plan(struct pl_ctx *c, const char *root, struct tx_plan *p);

/* A copy of the model with the plan's predicted result (files' extents,
 * the free map). NULL on error. */
struct lm_model *pl_predict_model(struct lm_model *m, const struct tx_plan *p,
                                  const char *root);

/* Replay an existing plan into the predicted state (plan mode: a new
 * command plans on top of the pending one). */
int pl_replay(struct pl_ctx *c, const struct tx_plan *p, const char *root);

#endif
