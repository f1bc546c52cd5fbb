/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal helpers shared by the primitives (lib/fs_*.c). */
#ifndef RL_FS_INTERNAL_H
#define RL_FS_INTERNAL_H

#include <endian.h>
#include <relayout/fs.h>
#include <string.h>

/* Errno-returning wrappers: return -errno of the failing call. */
#define RL_NEG_ERRNO() (errno ? -errno : -EIO)

/* Little-endian fields of on-disk structures read from a device (the
 * ext4 superblock, group descriptors, inodes). */
static inline uint32_t le32_at(const unsigned char *b, size_t off)
{
	uint32_t v;
	memcpy(&v, b + off, sizeof(v));
	return le32toh(v);
}

static inline uint16_t le16_at(const unsigned char *b, size_t off)
{
	uint16_t v;
	memcpy(&v, b + off, sizeof(v));
	return le16toh(v);
}

/* Identify the filesystem of an open fd (statfs magic) without probing
 * the mount: RL_FS_EXT4, RL_FS_XFS, RL_FS_BTRFS or RL_FS_OTHER. */
enum rl_fs_type rl_fd_fs_type(int fd);
/* Filesystem block size of the filesystem holding fd (statfs f_bsize). */
int rl_fd_block_size(int fd, uint32_t *bsize);

/* btrfs space map (lib/fs_btrfs.c). */
int rl_btrfs_space_walk(const char *path, uint64_t start, uint64_t end,
                        rl_space_cb cb, void *arg);

/* How many extents FIEMAP reports over [start, start+len) of fd (len 0:
 * to the end), as rl_get_extents_range. >= 0 or -errno. */
int rl_extent_count(int fd, uint64_t start, uint64_t len);

/* rl_get_extents_range without FIEMAP_FLAG_SYNC: no writeback is started
 * or waited for (delayed extents show as RL_EXT_DELALLOC). */
int rl_get_extents_range_nosync(int fd, uint64_t start, uint64_t len,
                                struct rl_extent **out, size_t *count);

/* Do the extents ext[0..n) (FIEMAP of [off, off+len)) map that range to
 * [phys, phys+len), allocated (not delayed)? */
bool rl_place_ext_exact(const struct rl_extent *ext, size_t n, uint64_t off,
                        uint64_t len, uint64_t phys);

/* btrfs geometry for rl_fs_probe: address-space size (end of the highest
 * chunk), block-group count, UUID when libblkid could not read it. */
void rl_btrfs_probe(int fd, struct rl_fs_info *info);

/* Placement strategies (lib/fs_place_*.c): allocate len bytes exactly at
 * physical byte goal into fd at file offset off, contiguously. Return bytes
 * allocated or -errno, leaving nothing allocated on failure. The context is
 * in lib/fs_place.h. */
struct rl_place_ctx;
int64_t rl_place_xfs(int fd, uint64_t off, uint64_t goal, uint64_t len,
                     unsigned mode, struct rl_place_ctx *ctx);
int64_t rl_place_ext4(int fd, uint64_t off, uint64_t goal, uint64_t len,
                      unsigned mode, struct rl_place_ctx *ctx);

/* rl_movedata with counters of what it had to retry (tests, benchmarks).
 * stats may be NULL; counters are added to. */
struct rl_move_stats {
	uint64_t pieces;          /* MOVE_EXT / dedupe pieces done */
	uint64_t busy_retries;    /* ext4 MOVE_EXT EBUSY, retried */
	uint64_t differs_retries; /* dedupe DIFFERS, copied again */
};
int rl_movedata_stats(int datafd, int spacefd, uint64_t from, uint64_t len,
                      unsigned flags, struct rl_move_stats *stats);
/* rl_movedata_at with those counters. */
int rl_movedata_at_stats(int datafd, int spacefd, uint64_t data_from,
                         uint64_t space_from, uint64_t len, unsigned flags,
                         struct rl_move_stats *stats);

#endif
