/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The layout model: everything relayout knows about where data lives on one
 * volume -- geometry, free space, metadata, files with their extents -- and
 * the queries the map, the commands and the planner ask of it.
 *
 * A live scan (src/scan.c) and a JSON snapshot (src/snapshot.c) both fill
 * the same model. The model does no I/O: no ioctls, no curses.
 *
 * Addresses and lengths are bytes, as in <relayout/fs.h>.
 *
 * Memory (measured by lm_memory()): 32 bytes per extent slot, 16 bytes per
 * index entry (one per extent, one per 1 MiB chunk of longer extents), 4
 * bytes per index entry of prefix sums (56 bytes per block of 16 entries),
 * so about 52 bytes per extent; 48 bytes per file, 16 per path plus the
 * path text in one arena, 8-16 bytes per file and per path in the two hash
 * tables (4-byte slots at a load of 1/4 to 1/2 after lm_trim(), under 1/4
 * while building). lm_trim() gives back the arrays' growth slack after a
 * bulk load.
 *
 * The physical index is a sorted array of (start, length, owner) entries
 * with prefix sums per category every LM_BLOCK entries. Changes
 * (lm_refresh_file, lm_refresh_free, lm_select) mark entries dead and queue
 * new ones; the next query merges them in one linear pass (O(n + k log k))
 * and recomputes the prefix sums (O(n)). Queries are then two binary
 * searches plus at most LM_BLOCK entries at each end.
 *
 * Not thread safe: callers serialize (the scan does, under its lock).
 */
#ifndef RELAYOUT_LAYOUT_MODEL_H
#define RELAYOUT_LAYOUT_MODEL_H

#include <relayout/fs.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LM_NONE UINT32_MAX

/* Volume geometry: the probe's rl_fs_info, plus the figures fragmentation
 * is measured against. A model read from a snapshot has no live volume:
 * the fs fields a snapshot does not record (st_dev, avail_blocks,
 * xfs_agblklog, xfs_inopblog) are 0 there. fs.size is the address space
 * size: every extent lies below it. */
struct lm_geometry {
	struct rl_fs_info fs;
	/* Longest extent the filesystem can make, bytes (lm_max_extent). */
	uint64_t max_extent;
	/* ext4 groups per flex group for e4defrag's "best" count (mke2fs
	 * default 16; 0 or 1: no flex_bg). */
	uint32_t flex_groups;
};

/* Longest extent: ext4 32768 blocks (128 MiB with 4 KiB blocks), XFS
 * 2^21 - 1 blocks (~8 GiB with 4 KiB blocks), btrfs 128 MiB, other
 * filesystems 128 MiB. */
uint64_t lm_max_extent(enum rl_fs_type type, uint32_t block_size);

/* Fill g from a probe (max_extent and flex_groups defaulted). */
void lm_geometry_from_fs(struct lm_geometry *g, const struct rl_fs_info *fs);

/* A file (regular file or directory). */
#define LM_FILE_HAS_GEN    0x01 /* generation is known */
#define LM_FILE_HAS_IFLAGS 0x02 /* iflags is known */
#define LM_FILE_SELECTED   0x04 /* the user selected it */
#define LM_FILE_FRAG       0x08 /* (derived) more fragments than ideal */
#define LM_FILE_ATTRS_READ                                                     \
	0x10 /* lm_set_file_attrs was called (even                             \
	        with nothing known: reading failed) */

/* 48 bytes. */
struct lm_file {
	uint64_t ino;
	uint64_t size;       /* st_size */
	uint32_t generation; /* FS_IOC_GETVERSION */
	uint32_t mode;       /* st_mode */
	uint32_t iflags;     /* FS_IOC_GETFLAGS */
	uint16_t flags;      /* LM_FILE_* */
	int16_t err;         /* 0, or -errno when the item was unreadable */
	uint32_t ext_first, ext_count; /* (internal) its extent slots */
	uint32_t path_first;           /* (internal) */
	uint16_t npaths;               /* at most LM_MAX_PATHS */
};

/* Paths (hard links) of one file the model keeps. */
#define LM_MAX_PATHS 65535

/* An extent of a file: an rl_extent plus the owning file. 32 bytes. */
struct lm_extent {
	uint64_t logical;
	uint64_t physical;
	uint64_t length;
	uint32_t flags; /* RL_EXT_* */
	uint32_t file;
};

/* What the model records about a file when it is added. */
struct lm_file_info {
	uint64_t ino;
	uint64_t size;
	uint32_t generation;
	uint32_t mode;
	uint32_t iflags;
	uint32_t flags; /* LM_FILE_HAS_GEN | LM_FILE_HAS_IFLAGS | SELECTED */
	int32_t err;
};

/* A free or metadata extent. */
enum lm_space_kind { LM_SPACE_FREE = 0, LM_SPACE_META = 1 };
struct lm_space {
	uint64_t start;
	uint64_t length;
	uint32_t kind;  /* lm_space_kind */
	uint32_t label; /* metadata label index (lm_label) */
};

struct lm_model;

struct lm_model *lm_new(const struct lm_geometry *g);
void lm_free(struct lm_model *m);
const struct lm_geometry *lm_geometry(const struct lm_model *m);
/* Bytes of memory the model holds. */
size_t lm_memory(const struct lm_model *m);

/* ----------------------------------------------------------- building */

/* Add a file with one path (relative to the volume root, no leading '/')
 * and its extents (copied; any order). *id gets the new file's id (ids
 * are 0..lm_file_count()-1 in insertion order). Returns 0, -EINVAL (bad
 * path, zero-length extent or an extent beyond the volume size, fi->err
 * below -32768), -EEXIST (inode already present: use lm_add_path), -ENOMEM
 * or -E2BIG. */
int lm_add_file(struct lm_model *m, const struct lm_file_info *fi,
                const char *path, const struct rl_extent *ext, size_t n,
                uint32_t *id);
/* A bulk loader that knows about how many files will come (a scan: the
 * inodes in use) sizes the inode and path hash tables for them at once
 * instead of rebuilding them as they grow, and the arrays it fills (file
 * records, paths, extents, index entries) on transparent huge pages.
 * Only a hint: fewer or more may be added; lm_trim gives back what was
 * not used. Returns 0 or -ENOMEM. */
int lm_reserve(struct lm_model *m, size_t files);
/* Another hint: a file with this inode and path is about to be added
 * (lm_add_file) or looked up. Starts fetching the hash slots into the
 * cache, so that a loader adding a batch of files waits for those memory
 * reads once for the batch instead of twice per file. */
void lm_prefetch(const struct lm_model *m, uint64_t ino, const char *path);
/* Another path (hard link) of file id (-E2BIG beyond LM_MAX_PATHS). */
int lm_add_path(struct lm_model *m, uint32_t id, const char *path);
/* Is p a valid model path (relative, no empty, "." or ".." component; "."
 * alone is the root)? If not, *why (when why is not NULL) says why. */
bool lm_path_valid(const char *p, const char **why);
/* Free / metadata extents. Returns 0, -EINVAL (empty or beyond the volume
 * size) or -ENOMEM. */
int lm_add_free(struct lm_model *m, uint64_t start, uint64_t len);
int lm_add_metadata(struct lm_model *m, uint64_t start, uint64_t len,
                    const char *label);

/* Free-map status: 0 when the free/metadata records are complete, else
 * the -errno that made the free map unavailable (-EOPNOTSUPP, -EPERM). */
void lm_set_free_map_status(struct lm_model *m, int err);
int lm_free_map_status(const struct lm_model *m);
/* Creation time (seconds since the epoch, UTC) and scan counters. */
void lm_set_created(struct lm_model *m, int64_t t);
int64_t lm_created(const struct lm_model *m);

/* ------------------------------------------------------------ reading */

size_t lm_file_count(const struct lm_model *m);
const struct lm_file *lm_file(const struct lm_model *m, uint32_t id);
const struct lm_extent *lm_file_extents(const struct lm_model *m, uint32_t id,
                                        size_t *n);
/* Path k (0 <= k < npaths) of file id. */
const char *lm_file_path(const struct lm_model *m, uint32_t id, uint32_t k);
/* File by inode / by path (relative to the root), or LM_NONE. */
uint32_t lm_find_inode(const struct lm_model *m, uint64_t ino);
uint32_t lm_find_path(const struct lm_model *m, const char *path);
/* Metadata label text. */
const char *lm_label(const struct lm_model *m, uint32_t label);

/* Free (kind LM_SPACE_FREE) or metadata records sorted by start, in a
 * malloc'ed array (free() it). Returns the count or -ENOMEM. */
ssize_t lm_space_list(struct lm_model *m, enum lm_space_kind kind,
                      struct lm_space **out);

/* Total number of extents of all files. */
uint64_t lm_extent_count(const struct lm_model *m);

/* Does the model name a file or directory that not every user may list:
 * one whose directory lacks S_IROTH or S_IXOTH, or is not in the model
 * (its mode unknown)? A file written from the model (a snapshot, a saved
 * screen) is then made private. */
bool lm_names_private(const struct lm_model *m);

/* ---------------------------------------------------------- selection */

void lm_select(struct lm_model *m, uint32_t id, bool on);
void lm_select_clear(struct lm_model *m);

/* ------------------------------------------------------------- owners */

/* What the map and the reports call space in use that no record names:
 * the filesystem uses it, the kernel does not say for what (allocator
 * preallocations, XFS btree blocks without rmapbt, ...). */
#define LM_UNATTRIBUTED                                                        \
	"in use by the filesystem, owner not reported by the kernel"

enum lm_owner_kind {
	LM_OWN_FREE = 0,
	LM_OWN_META,
	LM_OWN_FILE,
	LM_OWN_UNKNOWN /* in no record: used, owner not known */
};

struct lm_owner {
	enum lm_owner_kind kind;
	uint64_t start, length; /* the part inside the asked range */
	uint32_t file;          /* LM_OWN_FILE: file id */
	uint64_t logical;       /* LM_OWN_FILE: file offset of start */
	uint32_t flags;         /* LM_OWN_FILE: RL_EXT_* */
	const char *label;      /* LM_OWN_META: label */
};

typedef int (*lm_owner_cb)(const struct lm_owner *o, void *arg);

/* Report every owner of any part of [start, end) in address order
 * (overlapping owners -- shared extents -- each reported; parts in no
 * record as LM_OWN_UNKNOWN). cb returning non-zero stops the walk and that
 * value is returned. Returns 0, -EINVAL (end <= start) or -ENOMEM. */
int lm_owners(struct lm_model *m, uint64_t start, uint64_t end, lm_owner_cb cb,
              void *arg);

/* -------------------------------------------------------- range stats */

enum lm_cat {
	LM_CAT_FREE = 0,
	LM_CAT_META,
	LM_CAT_DATA,      /* file extents (each owner of a shared extent) */
	LM_CAT_FRAG,      /* data of files with more fragments than ideal */
	LM_CAT_SHARED,    /* data in extents flagged shared */
	LM_CAT_UNWRITTEN, /* data in unwritten (preallocated) extents */
	LM_CAT_SELECTED,  /* data of selected files */
	LM_CAT_N
};

struct lm_stats {
	uint64_t bytes[LM_CAT_N];
	/* Bytes in no record (used, owner unknown): the range length minus
	 * free, metadata and data, 0 if those exceed it (sharing). */
	uint64_t unknown;
};

/* Bytes of each category inside [start, end). Returns 0, -EINVAL or
 * -ENOMEM (when a pending index update could not be merged). */
int lm_range_stats(struct lm_model *m, uint64_t start, uint64_t end,
                   struct lm_stats *st);

/* ------------------------------------------------------ fragmentation */

struct lm_file_frag {
	uint64_t extents; /* extents as recorded (FIEMAP) */
	uint64_t regions; /* physically contiguous runs (e4defrag's
	                     "physical count") */
	uint64_t ideal;   /* ceil(allocated / max_extent), 0 if nothing
	                     allocated */
	uint64_t blocks;  /* allocated blocks */
	uint64_t e4_best; /* e4defrag's best count: blocks per flex group */
	double e4_score;  /* e4defrag -c score of this file alone */
	bool fragmented;  /* regions > ideal */
};

void lm_file_frag(const struct lm_model *m, uint32_t id,
                  struct lm_file_frag *ff);

/* e4defrag's score from its ratio: extents over best per 100 blocks. */
double lm_e4_score(uint64_t now, uint64_t best, uint64_t blocks);

struct lm_vol_frag {
	uint64_t files;       /* regular files considered */
	uint64_t with_blocks; /* of which with allocated blocks */
	uint64_t fragmented;  /* of which fragmented */
	uint64_t extents, regions, ideal;
	uint64_t bytes, fragmented_bytes;
	/* e4defrag -c figures (regular files with blocks, outside
	 * lost+found): Total/best extents, blocks, score. */
	uint64_t e4_now, e4_best, e4_blocks;
	double e4_score;
};

/* Volume (or subset: want(id) true; want NULL = all) figures. */
void lm_volume_frag(const struct lm_model *m,
                    bool (*want)(const struct lm_model *, uint32_t, void *),
                    void *arg, struct lm_vol_frag *vf);

/* Free-space histogram, e2freefrag style: bucket i counts free extents of
 * 2^i to 2^(i+1)-1 blocks (extents under one block go to bucket 0).
 * Adjacent free records are merged; extents are clipped to the range. */
#define LM_FF_BUCKETS 64
struct lm_freefrag {
	uint64_t start, end;
	uint64_t free_bytes;
	uint64_t extents;
	uint64_t largest, smallest;
	uint64_t count[LM_FF_BUCKETS];
	uint64_t bytes[LM_FF_BUCKETS];
};

int lm_freefrag(struct lm_model *m, uint64_t start, uint64_t end,
                struct lm_freefrag *ff);

/* Start and end of group g (ext4 block group, XFS AG): [start, end). */
void lm_group_range(const struct lm_model *m, uint64_t g, uint64_t *start,
                    uint64_t *end);

/* ------------------------------------------------------------ refresh */

/* Record file id's generation (when have & LM_FILE_HAS_GEN) and inode
 * flags (have & LM_FILE_HAS_IFLAGS), read later than the scan: the scan
 * leaves both unknown, they are read when a file is shown or planned.
 * Sets LM_FILE_ATTRS_READ (also with have 0: reading was tried and
 * failed, do not try again). Returns 0 or -EINVAL (no such file). */
int lm_set_file_attrs(struct lm_model *m, uint32_t id, unsigned have,
                      uint32_t generation, uint32_t iflags);
/* Replace file id's extents (after a move; no rescan). */
int lm_refresh_file(struct lm_model *m, uint32_t id,
                    const struct rl_extent *ext, size_t n);
/* Replace the free records inside [start, end) by the given extents
 * (clipped to the range); records straddling the range keep their outside
 * parts. */
int lm_refresh_free(struct lm_model *m, uint64_t start, uint64_t end,
                    const struct rl_free_extent *fe, size_t n);

/* Bring the index up to date now (queries do it on demand). */
int lm_sync(struct lm_model *m);

/* lm_sync, then give back the growth slack of the arrays (files,
 * extents, paths, index) and the build buffers: call it after a bulk
 * load (scan, import). Later additions grow the arrays again. Returns 0
 * or -ENOMEM (from lm_sync; the model stays valid). */
int lm_trim(struct lm_model *m);

#ifdef __cplusplus
}
#endif
#endif
