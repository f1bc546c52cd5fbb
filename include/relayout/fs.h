/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * relayout primitives: the three system calls of the 2007 "online defrag" RFC
 * (get_free_blocks, allocate, movedata) realized on today's Linux, plus the
 * probe and extent queries they stand on.
 *
 * Conventions
 *  - Every function returns 0 (or a non-negative count) on success and a
 *    negative errno value on failure.  Nothing prints, nothing is global.
 *  - All offsets, addresses and lengths are in BYTES.  Physical addresses are
 *    byte offsets on the filesystem's device, except on btrfs, where they are
 *    btrfs *logical* addresses (the filesystem's own address space that spans
 *    all of its devices); rl_fs_info.addr_space says which.
 *  - Block alignment means the filesystem block size (rl_fs_info.block_size).
 */
#ifndef RELAYOUT_FS_H
#define RELAYOUT_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

enum rl_fs_type {
	RL_FS_OTHER = 0, /* read-only map from FIEMAP where it works */
	RL_FS_EXT4,
	RL_FS_XFS,
	RL_FS_BTRFS,
};

enum rl_addr_space {
	RL_ADDR_DEVICE = 0,   /* byte offsets on the block device */
	RL_ADDR_BTRFS_LOGICAL /* btrfs logical addresses */
};

/* Feature bits in rl_fs_info.features. */
#define RL_FEAT_GETFSMAP (1u << 0) /* FS_IOC_GETFSMAP answers */
#define RL_FEAT_REFLINK  (1u << 1) /* FICLONERANGE / shared extents */
#define RL_FEAT_RMAPBT   (1u << 2) /* XFS reverse-mapping btree: owners */
#define RL_FEAT_MOVE_EXT (1u << 3) /* EXT4_IOC_MOVE_EXT */
#define RL_FEAT_DEDUPE   (1u << 4) /* FIDEDUPERANGE based movedata */
#define RL_FEAT_PLACE    (1u << 5) /* exact placement possible */
#define RL_FEAT_BIGALLOC (1u << 6) /* ext4 bigalloc (moves unsupported) */

#define RL_PATH_MAX 4096

struct rl_fs_info {
	char mountpoint[RL_PATH_MAX]; /* target of the mount holding path */
	char device[RL_PATH_MAX];     /* source device (e.g. /dev/loop0) */
	char fstype[32];              /* "ext4", "xfs", "btrfs", ... */
	char uuid[40];                /* filesystem UUID (libblkid), or "" */
	char label[64];               /* filesystem label, or "" */
	enum rl_fs_type type;
	enum rl_addr_space addr_space;
	dev_t st_dev;          /* st_dev of files on this mount */
	uint32_t block_size;   /* filesystem block size in bytes */
	uint64_t size;         /* address space size in bytes (device size;
	                          btrfs: end of the highest chunk plus the
	                          unallocated device bytes; needs root,
	                          else statfs size) */
	uint64_t total_blocks; /* statfs f_blocks */
	uint64_t free_blocks;  /* statfs f_bfree */
	uint64_t avail_blocks; /* statfs f_bavail */
	uint64_t group_count;  /* ext4 block groups, XFS AGs, btrfs block
	                          groups = chunks (0 when not known) */
	uint64_t group_size;   /* bytes per ext4 group / XFS AG (0: varies) */
	uint64_t first_data_byte; /* ext4 s_first_data_block * block size */
	uint32_t xfs_agblklog; /* XFS: log2 of AG size rounded up, in blocks */
	uint32_t xfs_inopblog; /* XFS: log2 inodes per block */
	uint32_t ext4_inodes_per_group; /* ext4: inodes per block group */
	uint32_t ext4_flex_groups;      /* ext4: block groups per flex group (1:
	                                   no flex_bg) */
	uint32_t features;              /* RL_FEAT_* */
};

/* Fill *info for the filesystem mounted under path (any file or directory
 * on it). Uses libmount for the mount, libblkid for UUID/label, statfs, and
 * the filesystem's geometry (XFS_IOC_FSGEOMETRY; the ext4 superblock read
 * read-only from the device, which needs read access to it; without it the
 * group geometry is left 0). */
int rl_fs_probe(const char *path, struct rl_fs_info *info);

/* Name of a filesystem type ("ext4", "xfs", "btrfs", "other"). */
const char *rl_fs_type_name(enum rl_fs_type type);

/* ---------------------------------------------------------------- extents */

/* Extent flags: the FIEMAP_EXTENT_* values, kept verbatim. */
#define RL_EXT_LAST        0x00000001
#define RL_EXT_UNKNOWN     0x00000002
#define RL_EXT_DELALLOC    0x00000004
#define RL_EXT_ENCODED     0x00000008
#define RL_EXT_ENCRYPTED   0x00000080
#define RL_EXT_NOT_ALIGNED 0x00000100
#define RL_EXT_DATA_INLINE 0x00000200
#define RL_EXT_DATA_TAIL   0x00000400
#define RL_EXT_UNWRITTEN   0x00000800
#define RL_EXT_MERGED      0x00001000
#define RL_EXT_SHARED      0x00002000

struct rl_extent {
	uint64_t logical;  /* byte offset in the file */
	uint64_t physical; /* byte address (see addr_space) */
	uint64_t length;   /* bytes */
	uint32_t flags;    /* RL_EXT_* */
};

/* All extents of the open file fd (FIEMAP with FIEMAP_FLAG_SYNC, looping
 * until the last extent). *out is malloc'ed (free() it); *count is set.
 * Returns 0 or -errno. A file without blocks gives count 0. */
int rl_get_extents(int fd, struct rl_extent **out, size_t *count);

/* Same, for the byte range [start, start+len) only (len 0: to the end). */
int rl_get_extents_range(int fd, uint64_t start, uint64_t len,
                         struct rl_extent **out, size_t *count);

/* rl_get_extents without FIEMAP_FLAG_SYNC: dirty data not yet written
 * back shows as delayed-allocation extents (RL_EXT_DELALLOC / unknown
 * physical address) instead of being flushed first. For bulk readers
 * (the scan) that syncfs() the volume once up front. */
int rl_get_extents_nosync(int fd, struct rl_extent **out, size_t *count);

/* The extents of fd in [start, start+len) (len 0: to the end; with
 * FIEMAP_FLAG_SYNC when sync) appended to a reusable buffer: they go to
 * (*buf)[*n] on, *buf grows with realloc (*cap: its capacity in extents),
 * *n is advanced. On failure *n is unchanged (*buf may have grown: still
 * the caller's to free). Saves an allocation per file for bulk readers.
 * As with FIEMAP, an extent reaching past the range may be cut at its
 * end, and the last one in the range is flagged RL_EXT_LAST. Returns 0 or
 * -errno. */
/* The blocks holding fd's extended attributes (FIEMAP_FLAG_XATTR): ext4
 * reports its xattr block (and attributes inside the inode as one
 * RL_EXT_DATA_INLINE extent), XFS its attribute fork's extents; *out as
 * rl_get_extents. Returns 0 or -errno (-EOPNOTSUPP: no such FIEMAP, e.g.
 * btrfs). */
int rl_get_xattr_extents(int fd, struct rl_extent **out, size_t *count);

int rl_get_extents_append(int fd, uint64_t start, uint64_t len, bool sync,
                          struct rl_extent **buf, size_t *cap, size_t *n);

/* ---------------------------------------------------------------- a file */

/* The identity of the open file fd: its inode number and generation
 * (FS_IOC_GETVERSION; *gen_known false and *gen 0 when the filesystem
 * has none). ino NULL: not asked (no fstat). Returns 0 or -errno
 * (fstat). */
int rl_file_identity(int fd, uint64_t *ino, uint64_t *gen, bool *gen_known);

/* The inode flags of fd (FS_IOC_GETFLAGS: FS_IMMUTABLE_FL, ...). Returns
 * 0 or -errno (-ENOTTY: the filesystem has none). */
int rl_file_iflags(int fd, uint32_t *iflags);

/* ------------------------------------------------------------- space map */

enum rl_space_kind {
	RL_SPACE_FREE = 0,
	RL_SPACE_DATA,     /* file data (owner known or "unknown") */
	RL_SPACE_METADATA, /* filesystem metadata */
	RL_SPACE_UNKNOWN,  /* used, owner not reported by the filesystem */
};

struct rl_space_rec {
	uint64_t start;  /* byte address */
	uint64_t length; /* bytes */
	enum rl_space_kind kind;
	uint64_t owner;  /* inode number for DATA when known, else 0 */
	uint64_t offset; /* file byte offset for DATA when known */
	uint32_t flags;  /* RL_SPACE_F_* */
	char what[24];   /* owner label: "free", "superblock", "inodes",
	                    "log", "unknown", "inode", ... */
};
#define RL_SPACE_F_SHARED    0x1
#define RL_SPACE_F_UNWRITTEN 0x2
#define RL_SPACE_F_ATTR      0x4
#define RL_SPACE_F_BMBT      0x8

typedef int (*rl_space_cb)(const struct rl_space_rec *rec, void *arg);

/* Walk the space map of the filesystem holding path over [start, end)
 * (end 0: to the end), in address order, records clipped to the range.
 * cb returning non-zero stops the walk and that value is returned.
 *
 * ext4/XFS: FS_IOC_GETFSMAP on the data device only (an external log or
 * realtime device is not in the address space). FREE; METADATA for the
 * special owners, what = "fs-headers" (superblocks, XFS AG headers), "log",
 * "ag-metadata" (XFS free-space/rmap btrees, AGFL), "inode-btree",
 * "inodes" (inode tables/chunks), "refcount-btree", "cow-staging",
 * "defective", "group-desc", "reserved-gdt", "block-bitmap",
 * "inode-bitmap"; DATA with owner = inode and offset for XFS with rmapbt
 * (what "inode" or "attr"; a file's block-map btree blocks are METADATA
 * "bmbt" with the owner set and RL_SPACE_F_BMBT); UNKNOWN for all used
 * space ext4 does not attribute (file data, directories, journal blocks)
 * and, on XFS without rmapbt, for everything used. With reflink XFS reports
 * a shared block once per owner (records may then overlap).
 * ext4's map reads the buddy bitmaps: blocks held by mballoc
 * preallocations show as UNKNOWN although statfs counts them free.
 *
 * btrfs: its chunk and extent trees (lib/fs_btrfs.c), btrfs logical
 * addresses: DATA "data" (owner 0: btrfs does not say which file; shared
 * extents once, not flagged), METADATA "tree-block", FREE "free" (gaps in
 * block groups that take data), METADATA "metadata-bg"/"system-bg" (gaps in
 * metadata/system block groups: never usable for file data), and FREE
 * "unallocated" (device bytes in no chunk) placed right after the highest
 * chunk. Ranges covered by no chunk are not reported. syncfs() first.
 *
 * Privileges: btrfs needs CAP_SYS_ADMIN (-EPERM without). GETFSMAP answers
 * unprivileged callers on ext4 and XFS (XFS then leaves out rmapbt owners);
 * the free space is the same. Other filesystems: -EOPNOTSUPP. */
int rl_space_walk(const char *path, uint64_t start, uint64_t end,
                  rl_space_cb cb, void *arg);

/* The owners the space map leaves "unknown", where the filesystem lets us
 * name them; METADATA records (overlapping nothing of a file's FIEMAP
 * extents), in no particular order, cb as in rl_space_walk. fs: from
 * rl_fs_probe.
 *
 * ext4 (reads the block device read-only: needs read access to it, as the
 * probe's geometry does): what "journal" (owner: the journal inode, from
 * the superblock's s_journal_inum; its blocks from that inode's extent
 * tree, or the superblock's backup of it); and for each of the n inodes in
 * inos: what "extent-tree" (the blocks of its extent tree below the inode,
 * which FIEMAP does not report); and "resize-inode" (inode 7's
 * double-indirect block), "boot-block" (block 0 with 1 KiB blocks). Pass the
 * inodes whose st_blocks exceed their FIEMAP extents. XFS (inos ignored): "log"
 * (the internal log, XFS_IOC_FSGEOMETRY), "fs-headers" (each AG's first
 * sectors: superblock, AGF, AGI, AGFL), "inodes" (blocks of inode chunks
 * holding an inode in use, XFS_IOC_FSINUMBERS: CAP_SYS_ADMIN, else left out).
 * Use it on XFS without rmapbt: with it GETFSMAP names these owners itself.
 * Returns 0, a callback's non-zero value, -EOPNOTSUPP (other
 * filesystems), or -errno (the device could not be read). */
int rl_meta_walk(const struct rl_fs_info *fs, const uint64_t *inos, size_t n,
                 rl_space_cb cb, void *arg);

struct rl_free_extent {
	uint64_t start; /* byte address */
	uint64_t len;   /* bytes */
};

/* ext4: the parts of the n ranges (byte addresses; e.g. what the space map
 * and rl_meta_walk left without an owner) that the block bitmaps on the
 * device say are free: blocks the allocator holds in memory (mballoc
 * preallocations, blocks freed in a transaction not yet committed), which
 * GETFSMAP counts as used. Reported as METADATA "allocator-held" (in
 * address order within each range); groups whose bitmap is not
 * initialized on disk are left out. Reads the device read-only (as
 * rl_meta_walk). Returns 0, a callback's value, -EOPNOTSUPP (not ext4,
 * bigalloc) or -errno. */
int rl_ext4_held_walk(const struct rl_fs_info *fs,
                      const struct rl_free_extent *ranges, size_t n,
                      rl_space_cb cb, void *arg);

/* RFC get_free_blocks: up to count free extents of the filesystem mounted
 * at (or holding) path that intersect [start, end) (end 0: to the end),
 * clipped to that range, sorted, non-overlapping and merged where adjacent
 * (also across ext4 group / XFS AG boundaries). Returns the number filled.
 * To page through more, call again with start set to the end of the last
 * extent returned (the last extent of a full array is complete: it does
 * not continue past what was returned). The FREE records of rl_space_walk.
 * ext4/XFS: FS_IOC_GETFSMAP (device addresses). ext4: equals statfs
 * f_bfree when no mballoc preallocation is outstanding (less otherwise).
 * XFS: more than f_bfree by the reserve pool (XFS_IOC_GET_RESBLKS), the
 * per-AG metadata reservations and the allocator's set-aside, which the
 * free-space btrees count as free. btrfs: free space inside data block
 * groups plus unallocated device space, in btrfs logical addresses: the
 * unallocated bytes are reported as one extent starting at the end of the
 * highest chunk, where the next chunk will be placed (raw device bytes:
 * with DUP/RAID profiles a new chunk gets less). The answer may be stale
 * when it returns. */
int rl_get_free_blocks(const char *path, uint64_t start, uint64_t end,
                       size_t count, struct rl_free_extent *extents);

/* All the free extents of rl_get_free_blocks in [start, end) (end 0: to
 * the end) in one walk: *out (malloc'ed, NULL when none) gets *count
 * extents. 0 or -errno. */
int rl_free_list(const char *path, uint64_t start, uint64_t end,
                 struct rl_free_extent **out, size_t *count);
/* rl_free_list on an open descriptor (any file or directory) of an ext4
 * or XFS filesystem: no path opened; -EOPNOTSUPP on others. */
int rl_free_list_fd(int fd, uint64_t start, uint64_t end,
                    struct rl_free_extent **out, size_t *count);

/* Commit what the filesystem of fd (any file or directory on it) has
 * pending, so that the blocks freed before now are allocatable and show
 * as free. ext4: without the data write-back of syncfs (a whole-volume
 * compaction waited 1.1 s in 86 of them): a new O_TMPFILE inode in fd
 * (a directory) or in the directory fd's name is in is fsync'd, which
 * commits the running journal transaction, and with it the blocks freed
 * in it (ext4 with fast commits may commit only the inode: then the
 * caller's check that the blocks are free fails, as before a commit).
 * Elsewhere (XFS: a new inode can take an inode chunk's blocks), and
 * where that cannot be done: syncfs. 0 or -errno. */
int rl_fs_commit(int fd);

/* Make the blocks freed before now allocatable and visible as free on
 * the filesystem of fd: XFS frees the blocks of closed unlinked files
 * (a donor, a staging file) by background inode inactivation, which this
 * waits for (XFS_IOC_FREE_EOFBLOCKS; best effort, it also trims post-EOF
 * preallocations as XFS does in the background anyway); then the log
 * commits, so freed extents are no longer busy (ext4, XFS): on XFS by the
 * fsync of a new O_TMPFILE inode as rl_fs_commit does on ext4, a log
 * force without syncfs' write-back of every dirty file (half the wait
 * under buffered writers); elsewhere rl_fs_commit. 0 or -errno. */
int rl_free_space_settle(int fd);

/* ------------------------------------------------------------- allocate */

#define RL_ALLOC_FIXED_START (1u << 0) /* must start exactly at goal */
#define RL_ALLOC_FIXED_LEN   (1u << 1) /* exactly len, not "up to len" */
#define RL_ALLOC_CONTIGUOUS  (1u << 2) /* one physically contiguous run */
#define RL_ALLOC_ALL_FLAGS                                                     \
	(RL_ALLOC_FIXED_START | RL_ALLOC_FIXED_LEN | RL_ALLOC_CONTIGUOUS)

/* RFC allocate: give fd fresh blocks at its current file offset for up to
 * len bytes (the range must hold no blocks; past EOF the size grows). goal
 * is a physical byte address: a hint, or with RL_ALLOC_FIXED_START where
 * the run must begin. Blocks are allocated as unwritten extents. After the
 * allocation every promise of mode is checked with FIEMAP; when one does not
 * hold, what was allocated is released and an error returned: nothing stays
 * allocated. Returns the number of bytes allocated (> 0), or -errno:
 *  -EINVAL  unaligned offset/goal/len, unknown mode bits, len 0
 *  -ENOSPC  not enough free space (FIXED_START: the target is not free)
 *  -EBUSY   FIXED_START target taken or busy (retry may succeed)
 *  -EEXIST  the range already holds blocks
 *  -EOPNOTSUPP  the filesystem cannot honour the mode
 * Same as rl_allocate_ex(fd, mode, goal, len, NULL). */
int64_t rl_allocate(int fd, unsigned mode, uint64_t goal, uint64_t len);

/* Where rl_allocate's last placement landed is visible with
 * rl_get_extents_range(fd, offset, len, ...). */

/* ------------------------------------------------------ exact placement
 *
 * RL_ALLOC_FIXED_START is realized per filesystem by steering the kernel's
 * own allocator (there is no placement system call):
 *  - XFS with reflink: a one-block "anchor" cloned from any file whose
 *    block lies below the goal in the same AG into a private staging file
 *    makes the allocator's goal arithmetic ask for exactly the goal; the
 *    staged blocks are then cloned into fd (written: zero-filled first,
 *    as a clone skips unwritten blocks) and the staging file dropped. When
 *    fd holds no blocks at all and is open O_RDWR without O_APPEND (a
 *    fresh O_TMPFILE donor) and the target lies in one AG, the staged
 *    blocks are swapped in instead, as without reflink below: they reach
 *    fd unwritten and nothing is written (data moved in later is then
 *    written once, not twice).
 *    Without such a block (e.g. a goal among the first free blocks of an
 *    AG) the piece is staged as without reflink below (an anchor of our
 *    own, ".relayout-place"), but the anchor is cloned into a staging
 *    file whose inode is at the mount root and the staging inodes in the
 *    target AG are freed before the target is allocated (in an AG
 *    without inodes their inode chunk takes the first free blocks of the
 *    AG); the target is then cloned into fd the same way.
 *  - ext4: blocker allocations in private files steer mballoc's buddy
 *    allocator onto a buddy chunk of the target's free run, then requests
 *    merging with it take the rest (mballoc's exact merge goal); this
 *    needs some /sys/fs/ext4/<dev>/mb_* tunables changed while the
 *    placement runs (see below).
 *  - XFS without reflink: the target is built in a private staging file
 *    (anchor from the filestream allocator, which puts a file's first
 *    block at the lowest free block of its directory's AG; the staging
 *    file's directory is made in the target AG under ".relayout-place" at
 *    the mount root), shifted to fd's offset with FALLOC_FL_COLLAPSE_RANGE
 *    / FALLOC_FL_INSERT_RANGE and swapped into fd with XFS_IOC_SWAPEXT,
 *    which exchanges whole files. So fd must hold no blocks at all (else
 *    -EOPNOTSUPP) and be open O_RDWR without O_APPEND (else -EBADF); a
 *    write to it during the call makes the placement fail (-EBUSY: the
 *    kernel compares its timestamps). A fresh O_TMPFILE is the intended
 *    donor. Targets in an AG where no inode can be allocated (a nearly
 *    full AG) are unreachable: -EOPNOTSUPP. Making directories at the
 *    mount root needs write access there (else -EACCES).
 *    ".relayout-place" exists only while a placement runs; one left by a
 *    crash is removed by the next placement on the volume.
 *  - btrfs, others: -EOPNOTSUPP.
 * Where the kernel cannot place, the error says why:
 *  - -ENOSPC: the target is not free (GETFSMAP), or, on XFS, every attempt
 *    went to another AG: the target AG's free blocks are held back for its
 *    per-AG metadata reservations (finobt/refcountbt/rmapbt; an AG whose
 *    free space is little more than those, typically a nearly full AG),
 *    which the free-space btrees and so get_free_blocks count as free.
 *  - -EBUSY: the target was taken meanwhile, or (ext4) the blocker
 *    requests met another allocation in it; retries exhausted.
 *  - -EOPNOTSUPP (ext4): more blocker requests needed than the bound;
 *    (XFS) no block of any file below the goal in its AG, and the target
 *    AG takes no new inode or no anchor of our own reaches the goal;
 *    (XFS without reflink) the same, or fd holds blocks, or the staging
 *    file's new inode chunk lies in the target (in an AG without inodes
 *    the first chunk takes the first aligned free blocks, typically AG
 *    start + 64 KiB; the staging inode must stay in the AG until the
 *    swap, so targets covering it cannot be reached).
 * XFS anchors are taken from written, block-aligned data below EOF only
 * (a clone skips unwritten extents; a partial block at EOF cannot be
 * cloned by itself). Recently freed (busy) extents are made allocatable
 * with syncfs before every attempt. On ext4 the first group of a flex
 * group refuses power-of-two data requests (mballoc CR_POWER2_ALIGNED);
 * targets there are reached with the best-fit scan (mb_order2_req off,
 * mb_min_to_scan/mb_max_to_scan raised while the placement runs;
 * mb_max_linear_groups raised too, so that a scan from a lower group goes
 * up group by group instead of by the free-order lists).
 * Staging and blocker files are O_TMPFILE files on the same volume, so a
 * crash leaves nothing (XFS without reflink: see ".relayout-place"). A
 * request crossing an ext4 group or XFS AG boundary is placed piecewise
 * (one piece per group/AG, physically contiguous; XFS without reflink:
 * -EOPNOTSUPP, but such a range is never free: AGs begin with headers).
 *
 * Global tunables (ext4): the original values are written to a journal in
 * state_dir (fsync'ed) before anything is changed, and restored on every
 * return path. A program must block SIGINT/SIGTERM/SIGHUP (sigprocmask)
 * around the call so the restore always runs; after a SIGKILL or crash,
 * rl_tunables_recover() at the next start puts the values back. One
 * placement per device at a time: the journal is also a lock (flock). */

/* Bounded retries when the target was taken meanwhile (-EBUSY). */
#define RL_PLACE_DEFAULT_ATTEMPTS 4

struct rl_place_report {
	uint32_t attempts;     /* placement attempts made */
	uint32_t alloc_calls;  /* allocation requests issued */
	bool tunables_changed; /* global tunables were changed (and restored) */
	int tunables_restore_err; /* 0, or -errno restoring them (the journal
	                             is kept for rl_tunables_recover) */
	char tunables_dev[64];    /* /sys/fs/ext4/ name of the device, or "" */
};

struct rl_place_opts {
	const char *state_dir; /* journal directory; NULL: the environment
	                          variable RELAYOUT_STATE_DIR, else
	                          /run/relayout (created 0700) */
	bool no_tunables;      /* never change global tunables: fixed-start
	                          placement on ext4 fails with -EOPNOTSUPP */
	unsigned max_attempts; /* 0: RL_PLACE_DEFAULT_ATTEMPTS */
	struct rl_place_report *report;   /* filled when not NULL */
	struct rl_place_session *session; /* NULL: each placement alone */
	/* When set: asked before every allocation request and attempt; a
	 * non-zero answer ends the placement with -EINTR, nothing of it
	 * kept (a stop asked for while a long placement runs: up to 3,000
	 * requests an attempt on ext4). */
	int (*stop)(void *arg);
	void *stop_arg;
};

/* A placement session: several exact placements on one volume, made one
 * after the other with opts->session set, share what they need to reach
 * their targets until rl_place_session_end. On ext4 that is the global
 * tunables (set once, not per placement) and the blocker files: the free
 * chunks below a target that a placement had to take first stay taken,
 * so a later target of the same group above it needs none of them again.
 * Placing the targets of one group in ascending order then costs about
 * one request per free chunk of the group instead of one per free chunk
 * below each target. While a session is open it holds those blocks (the
 * blockers: free space below the targets placed so far), and the
 * tunables stay changed (recorded as for one placement): end it before
 * anything else needs that space. On XFS the session keeps, per AG, the
 * lowest file block that a clone can take as an anchor, found by one walk
 * of the volume (open until the session ends), instead of a walk per
 * placement: it anchors every later goal above it in its AG. Placements
 * on another device than the session's first, and on btrfs, do not use
 * it. */
struct rl_place_session;
/* *out gets a new session (nothing is held yet). 0 or -ENOMEM. */
int rl_place_session_begin(struct rl_place_session **out);
/* Offer file fd (a regular file of the session's volume; not kept, its
 * descriptor is duplicated) as an anchor for the session's later XFS
 * placements: its lowest block per AG that a clone can take is kept
 * where lower than the one kept, and a goal above it in its AG is then
 * reached from it instead of from one walk of the whole volume (each
 * file opened: a fifth of a second on 20,000 files). A block that has
 * moved meanwhile is checked for before it is used (FIEMAP; no longer
 * below the goal: the walk after all). 0 (also on other filesystems:
 * nothing kept), -EXDEV (another volume than the session's), -errno. */
int rl_place_session_hint(struct rl_place_session *s, int fd);
/* Release everything the session holds and restore the tunables. 0, or
 * -errno restoring them (the journal is kept for rl_tunables_recover).
 * NULL is allowed. Statistics first, when st is not NULL: placements
 * made with the session, allocation requests they issued, and walks of
 * the volume's directories for an XFS anchor (each opens every file
 * until it finds one; rl_place_session_hint spares them). */
struct rl_place_session_stats {
	uint32_t placements, requests, walks;
};
int rl_place_session_end(struct rl_place_session *s,
                         struct rl_place_session_stats *st);

/* rl_allocate with options (opts NULL: defaults, as rl_allocate). */
int64_t rl_allocate_ex(int fd, unsigned mode, uint64_t goal, uint64_t len,
                       const struct rl_place_opts *opts);

/* The state directory opts would use (state_dir, or the environment, or
 * the default). Never NULL. */
const char *rl_state_dir(const struct rl_place_opts *opts);

struct rl_tunable_restored {
	const char *dev;   /* /sys/fs/ext4/ name, e.g. "loop3" */
	const char *name;  /* e.g. "mb_max_to_scan" */
	const char *value; /* the value written back */
	int err;           /* 0 restored; -ENODEV device gone or now holding
	                      another filesystem (entry dropped); -errno */
};
typedef void (*rl_tunable_cb)(const struct rl_tunable_restored *r, void *arg);

/* Restore tunables left changed by a placement that did not finish
 * (crash, SIGKILL), from the journals in state_dir (NULL: as
 * rl_state_dir(NULL)). Journals held by a running placement are left
 * alone. cb (may be NULL) is called for every value handled. Returns the
 * number of values restored (0: nothing was left behind) or -errno. A
 * missing state directory is not an error. */
int rl_tunables_recover(const char *state_dir, rl_tunable_cb cb, void *arg);

/* ------------------------------------------------------------- movedata */

#define RL_MOVE_ALLOW_SHARED (1u << 0) /* move (and unshare) shared extents */
/* spacefd must hold blocks under every data block of datafd in the range:
 * where it has a hole there the call fails with -ENOSPC before anything
 * is changed, and datafd is never punched (the RFC's hole rule is off).
 * For callers that allocated spacefd's range themselves: a space file
 * that lost its blocks (released by an earlier -EBUSY, or by anyone)
 * then cannot punch the data file. Every relayout transaction uses it. */
#define RL_MOVE_SPACE_FULL (1u << 1)
#define RL_MOVE_ALL_FLAGS  (RL_MOVE_ALLOW_SHARED | RL_MOVE_SPACE_FULL)

/* RFC movedata: the blocks that carry spacefd's range [from, from+len)
 * replace the blocks of the same range of datafd, after datafd's data has
 * been copied into them. A hole in spacefd becomes a hole in datafd; a hole
 * in datafd over a data block of spacefd reads as zeros afterwards. datafd's
 * old blocks are released; spacefd is left with a hole over the range.
 * Content, size, owner, mode, xattrs and timestamps of datafd are kept
 * (the moves leave ctime alone; the one exception: where spacefd has a hole
 * over datafd data, datafd is punched, which sets ctime; mtime is restored).
 * The range is cut at datafd's end of file (rounded up to a block); past it
 * spacefd only loses its blocks. -EBUSY can come after part of the range
 * was moved (content is always intact). Then, on XFS and btrfs, the moved
 * part is datafd's and spacefd has holes over it; spacefd keeps its blocks
 * over the rest. On ext4 spacefd holds datafd's old blocks over the moved
 * part (moving that part again would move it back). So after -EBUSY, do
 * not call again over the whole range: the RFC hole rule would punch the
 * moved part of datafd (XFS, btrfs). Either move only what is not at its
 * target yet, or pass RL_MOVE_SPACE_FULL, which refuses (-ENOSPC) instead.
 * No write to datafd is lost: ext4 swaps under the inode locks
 * (EXT4_IOC_MOVE_EXT); XFS and btrfs copy then remap with FIDEDUPERANGE,
 * which compares the bytes under lock and refuses when they changed; that is
 * retried a bounded number of times, then -EBUSY.
 * Errors: -EINVAL unaligned, not regular, same file, unknown flags;
 * -EXDEV different filesystems; -EPERM immutable or append-only;
 * -ETXTBSY swap file; -EBADF fd not open for writing; -EBUSY the range kept
 * changing under us; -ENOSPC (RL_MOVE_SPACE_FULL) spacefd has a hole over
 * data of datafd; -EMLINK (RL_E_SHARED) the range holds extents shared
 * with other files and RL_MOVE_ALLOW_SHARED was not given; -EOPNOTSUPP the
 * filesystem cannot move data (or the file kind: inline, encrypted...). */
int rl_movedata(int datafd, int spacefd, uint64_t from, uint64_t len,
                unsigned flags);

/* movedata with the space at another offset: the blocks that carry
 * spacefd's range [space_from, space_from+len) replace the blocks of
 * datafd's range [data_from, data_from+len); datafd's offset x takes
 * spacefd's block at x - data_from + space_from. rl_movedata(d, s, from,
 * len, f) is rl_movedata_at(d, s, from, from, len, f). Everything said of
 * rl_movedata holds, with spacefd's offsets shifted: the hole rules,
 * RL_MOVE_SPACE_FULL, the refusal of shared extents, timestamps, -EBUSY
 * (what stays allocated in spacefd is at the shifted offsets), the check
 * that datafd ends on spacefd's blocks. So one space file can hold the
 * targets of many files (one allocation of a long run, then one call per
 * file onto its part): spacefd keeps its size, and outside
 * [space_from, space_from+len) its blocks. Per filesystem:
 *  - ext4: EXT4_IOC_MOVE_EXT with donor_start. Where blocks are smaller
 *    than a page, space_from - data_from must be a multiple of the page
 *    size (-EINVAL); the kernel needs both starts at the same place in a
 *    page.
 *  - XFS, btrfs: the data is copied into spacefd's range, then
 *    FIDEDUPERANGE spacefd@space_from -> datafd@data_from. A partial last
 *    block of datafd can only be deduplicated where both files end: when
 *    spacefd maps blocks past the one under it, XFS moves that block
 *    through a private clone (reflink) that ends where datafd ends; if the
 *    call then fails before that block was moved, spacefd has a hole there.
 *    btrfs shares extents whole, so that case is -EOPNOTSUPP there (and
 *    writes into a btrfs space file part of whose extent was already moved
 *    go elsewhere: give btrfs a space file per call).
 * Errors as rl_movedata; -EINVAL also for an unaligned space_from. */
int rl_movedata_at(int datafd, int spacefd, uint64_t data_from,
                   uint64_t space_from, uint64_t len, unsigned flags);

/* rl_movedata refuses a range holding shared extents without
 * RL_MOVE_ALLOW_SHARED by returning -EMLINK ("would unshare"). */
#define RL_E_SHARED EMLINK

/* --------------------------------------------------------------- resize */

/* Shrink the mounted XFS filesystem holding fd (any file or directory on
 * it) online to new_size bytes (block aligned, below its size now) with
 * XFS_IOC_FSGROWFSDATA, keeping its inode space limit (imaxpct). The
 * kernel gives up the end of the last allocation group only: the blocks
 * in [new_size, end) must all be free, and at least 64 blocks of the
 * last AG must stay. syncfs(fd) first, so that blocks freed just now
 * count as free. Not undoable here: growing back is the same ioctl
 * (xfs_growfs -d). Needs CAP_SYS_ADMIN.
 * Returns 0 or -errno: -EOPNOTSUPP not XFS (ext4 shrinks offline only,
 * with resize2fs; btrfs with 'btrfs filesystem resize'); -EINVAL new_size
 * unaligned, not below the size, or removing a whole AG (the kernel does
 * not do that); -ENOSPC blocks in the range given up are in use (data,
 * inodes, the log, metadata) or the last AG would no longer hold its
 * reservations; -EPERM without CAP_SYS_ADMIN. */
int rl_fs_shrink(int fd, uint64_t new_size);

/* The free bytes the last AG of the XFS holding fd must still have when
 * it is shrunk to new_size, into *bytes: the kernel re-establishes the
 * AG's metadata reservations (free-inode btree, refcount and reverse
 * mapping btrees at their largest) right after giving the end up, and
 * refuses with -ENOSPC when the free blocks left cannot hold them. Worked
 * out from the geometry as Linux 6.x does (xfs_ag_resv_init: the
 * free-inode btree sized for the AG's length before the shrink, the
 * others for the length after, the internal log left out), without the
 * blocks those btrees and the AGFL hold already, so a few blocks above
 * the kernel's own figure (measured on a 512 MiB, 2-AG XFS: 51 blocks
 * here; the kernel refused a shrink leaving 32 free, accepted one leaving
 * 48). Returns 0 or -errno (-EOPNOTSUPP: not XFS; -EINVAL: new_size not
 * inside the last AG). */
int rl_fs_shrink_reserve(int fd, uint64_t new_size, uint64_t *bytes);

/* XFS: make the kernel move the blocks of its last AG's free-space
 * btrees and free list (AGFL) out of [new_size, end), where no file can
 * take them away: only the kernel places them, and a shrink needs the
 * range all free. fd: any file or directory on the filesystem. In each
 * round a private O_TMPFILE gets blocks at the start of the AG's largest
 * free run (the range itself after an evacuation), every second block is
 * punched out -- one-block free extents, so that the free-space btrees
 * split, taking their new blocks from the oldest entries of the free
 * list, which the kernel refills from the AG's smallest free extents --
 * and then the rest, from the lowest address up, so that the btrees join
 * again and the blocks they free pass through the free list, which the
 * kernel trims from its oldest entry. The blocks the kernel takes for
 * its free list come from the AG's smallest free extents: with none
 * below new_size they come back into the range. Up to max_rounds rounds
 * (each twice the holes of the last: about a dozen btree leaves in the
 * first), checked with GETFSMAP before each; *rounds (may be NULL): the
 * rounds run (0: the range was free already). Returns 0 when the range
 * is one free extent, -EBUSY when it is still not after the rounds
 * (something else may be there: a file, inodes), -ENOSPC when the AG has
 * no free run of three blocks, -EINVAL new_size not inside the last AG
 * (or unaligned), -EOPNOTSUPP not XFS, or the placement's -errno. Runs
 * alongside other writers; their allocations can take the range again,
 * as they can after any evacuation. */
int rl_fs_shrink_clear(int fd, uint64_t new_size, unsigned max_rounds,
                       unsigned *rounds);

/* --------------------------------------------------------------- inodes */

/* The byte address of the block holding inode ino on the XFS fs describes
 * (rl_fs_probe), or UINT64_MAX when that is not known (not XFS). */
uint64_t rl_inode_addr(const struct rl_fs_info *fs, uint64_t ino);

/* An XFS inode chunk: 64 inodes from startino, allocmask bit k set when
 * inode startino + k is in use; addr: its first block's byte address. */
typedef int (*rl_chunk_cb)(uint64_t startino, uint64_t allocmask, uint64_t addr,
                           void *arg);
/* Call cb for each inode chunk of the XFS fs describes whose first block
 * lies in [start, end), in inode order (XFS_IOC_FSINUMBERS); a non-zero
 * return from cb stops the walk and is returned. 0, -EOPNOTSUPP (not
 * XFS) or -errno. */
int rl_inode_chunks(const struct rl_fs_info *fs, uint64_t start, uint64_t end,
                    rl_chunk_cb cb, void *arg);

/* An inode in use, as rl_inode_walk reports it. */
struct rl_inode_stat {
	uint64_t ino;
	uint64_t size;
	uint64_t extents; /* data extent records (XFS: one per run of
	                     blocks, written and unwritten apart; 0 for an
	                     empty file and data not yet allocated) */
	uint32_t mode;
	uint32_t nlink;
};
typedef int (*rl_inode_cb)(const struct rl_inode_stat *is, void *arg);
/* Call cb for every inode in use of the XFS fs describes, in inode
 * order, without opening any (XFS_IOC_BULKSTAT: CAP_SYS_ADMIN); a
 * non-zero return from cb stops the walk and is returned. With more than
 * one CPU the inodes are read by threads, in pieces of about the same
 * count cut at inode chunks (XFS_IOC_FSINUMBERS), and cb is called once
 * all are read. 0, -EOPNOTSUPP (not XFS, or a kernel without it) or
 * -errno. */
int rl_inode_walk(const struct rl_fs_info *fs, rl_inode_cb cb, void *arg);

/* Give the regular file name in the directory dirfd a new inode: XFS
 * cannot move an inode, and frees an inode chunk when its last inode is
 * freed, so this is how an inode chunk leaves a range (a shrink's). The
 * new inode is an O_TMPFILE made in the directory stagefd (on XFS it is
 * taken from stagefd's allocation group); it gets the old one's owner,
 * mode, extended attributes (ACLs, security labels), FS_IOC_FSGETXATTR
 * flags, extent size hint and project id, its data (shared with FICLONE
 * where the filesystem has reflink, else copied with its holes), size,
 * atime and mtime (fsync'ed when the data was copied: a clone is
 * metadata, logged in order before the exchange); then it takes the name's
 * place with RENAME_EXCHANGE and the old inode is unlinked. The inode number,
 * ctime and birth time change; dirfd's atime and mtime are put back. All of it
 * happens under a write lease on the old inode (F_SETLEASE: granted only while
 * nobody else has the file open or mapped; broken by an open or truncate from
 * anyone): a lease broken before the exchange was checked gives the name back
 * its old inode, and whoever opened it waits for the lease and then finds the
 * old inode in its place. The lease break signals the caller (SIGIO, whose
 * default action ends the process): the caller ignores or handles SIGIO first.
 * This checks the leases right after the exchange: an open(2) that found
 * the name just before it and reaches the lease a moment later is not
 * seen (measured: 4 of 48,519 appends by name lost with a 50 ms wait, none
 * of 175,000 with 1 s): where others may open the file, use the two
 * halves below with a grace period in between.
 * A new inode whose block lies in [avoid_start, avoid_end) is not used
 * (-ENOSPC: no inode outside the range could be had there).
 * Returns 0 (*new_ino: the new inode number) or -errno, and then the
 * file is as it was: -EINVAL not a regular file (or a name with '/'),
 * -EXDEV not on fs, -EMLINK more than one hard link, -EPERM immutable or
 * append-only, -EBUSY open by someone (or opened meanwhile), -ESTALE
 * the name was renamed meanwhile, -ENOSPC as above. */
int rl_renumber_file(const struct rl_fs_info *fs, int dirfd, const char *name,
                     int stagefd, uint64_t avoid_start, uint64_t avoid_end,
                     uint64_t *new_ino);

/* rl_renumber_file in two halves, so that a caller doing many files can
 * give the exchanged names one grace period together: an open(2) that
 * found the old inode by its name just before the exchange reaches the
 * lease (and breaks it) a moment later, inside the same system call; a
 * lease still unbroken after the grace means nobody did.
 * rl_renumber_begin does everything up to the exchange and returns a
 * handle (the old inode under its lease, its name the new inode's now);
 * The new inode is under a write lease from before the exchange too.
 * rl_renumber_end checks the leases: the old one unbroken, the old inode
 * is unlinked and 0 returned (*new_ino); broken (someone opens the old
 * inode and waits for the lease), the name gets the old inode back and
 * the new one is unlinked, -EBUSY (abort: the same, -ECANCELED); both
 * broken (one opener each), the name gets the old inode back and the new
 * one keeps its temporary name ".relayout-inode.INO.K" in the directory
 * (INO: *new_ino), so nothing written to either is lost, -EAGAIN. Each
 * handle holds three descriptors. */
struct rl_renumber;
int rl_renumber_begin(const struct rl_fs_info *fs, int dirfd, const char *name,
                      int stagefd, uint64_t avoid_start, uint64_t avoid_end,
                      struct rl_renumber **out);
int rl_renumber_end(struct rl_renumber *h, bool abort, uint64_t *new_ino);

/* Give the directory name in parentfd a new inode (and new directory
 * blocks): the empty directory newname in stagefd, made by the caller
 * (mkdirat; on XFS a new directory's inode is taken from the next
 * allocation group in turn, so the caller checks where it landed), gets
 * the old one's owner, mode, extended attributes (default ACLs too) and
 * inode flags; every file in it gets a hard link there under the same
 * name (its names stay in the old one, so a lookup by path finds every
 * file all along); when the old one's mtime has not changed meanwhile (an
 * entry made, removed or renamed: -EAGAIN, try again later), its
 * subdirectories are renamed into the new one (a lookup through one of
 * them can miss it for that moment), the new one takes the name's place
 * with RENAME_EXCHANGE, the links leave the old one (each renamed to a
 * private name and checked before it is removed), entries made in it
 * meanwhile by a lookup that found it before the exchange follow (an
 * entry whose name the new one has already is kept beside it as
 * "NAME.relayout-twice.K", counted in *twice), the old one is removed, and
 * atime and mtime of both directories are put back. A process whose
 * working directory (or open descriptor, or inotify watch) is the old
 * directory keeps the old one, removed: the caller checks there is none
 * first. Returns 0 (*new_ino) or -errno, and then the directory is as it
 * was (its entries in it, newname empty in stagefd): -EAGAIN changed
 * meanwhile, -EXDEV a mount point, not on fs, or an entry is a mount
 * point, -ENOTEMPTY newname is not empty, -EPERM immutable or append-only
 * (or an entry is), -ESTALE renamed meanwhile, -EBUSY a subdirectory is a
 * mount point, ... */
int rl_renumber_dir(const struct rl_fs_info *fs, int parentfd, const char *name,
                    int stagefd, const char *newname, uint64_t *new_ino,
                    size_t *twice);

/* Human-readable text for a relayout return value (negative errno), with
 * the relayout-specific meanings (e.g. -EMLINK: shared extents). */
const char *rl_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif /* RELAYOUT_FS_H */
