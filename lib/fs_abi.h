/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Kernel ABI definitions not exported by the linux-libc-dev headers that
 * Debian 12 ships (ext4 and XFS ioctls). Layouts follow the kernel's UAPI.
 */
#ifndef RL_FS_ABI_H
#define RL_FS_ABI_H

#include <linux/types.h>
#include <sys/ioctl.h>

/* ext4: EXT4_IOC_MOVE_EXT */
struct rl_ext4_move_extent {
	__u32 reserved; /* must be zero */
	__u32 donor_fd;
	__u64 orig_start; /* logical start offset in blocks */
	__u64 donor_start;
	__u64 len;       /* blocks */
	__u64 moved_len; /* out: blocks moved */
};
#define RL_EXT4_IOC_MOVE_EXT _IOWR('f', 15, struct rl_ext4_move_extent)

/* FS_IOC_GETFSUUID (Linux 6.8): the filesystem's UUID, for any user. */
struct rl_fsuuid2 {
	__u8 len;
	__u8 uuid[16];
};
#define RL_FS_IOC_GETFSUUID _IOR(0x15, 0, struct rl_fsuuid2)

/* ext4 on-disk superblock fields we read (offsets from the superblock
 * start, which is at byte 1024 of the device). Little endian. */
#define RL_EXT4_SB_OFFSET                  1024
#define RL_EXT4_SB_MAGIC                   0xEF53
#define RL_EXT4_OFF_BLOCKS_COUNT_LO        0x04
#define RL_EXT4_OFF_FIRST_DATA_BLOCK       0x14
#define RL_EXT4_OFF_LOG_BLOCK_SIZE         0x18
#define RL_EXT4_OFF_LOG_CLUSTER_SIZE       0x1C
#define RL_EXT4_OFF_BLOCKS_PER_GROUP       0x20
#define RL_EXT4_OFF_INODES_PER_GROUP       0x28
#define RL_EXT4_OFF_MAGIC                  0x38
#define RL_EXT4_OFF_FEATURE_INCOMPAT       0x60
#define RL_EXT4_OFF_FEATURE_RO_COMPAT      0x64
#define RL_EXT4_OFF_BLOCKS_COUNT_HI        0x150
#define RL_EXT4_OFF_LOG_GROUPS_PER_FLEX    0x174
#define RL_EXT4_FEATURE_INCOMPAT_64BIT     0x80
#define RL_EXT4_FEATURE_INCOMPAT_FLEX_BG   0x200
#define RL_EXT4_FEATURE_RO_COMPAT_BIGALLOC 0x200

/* XFS: XFS_IOC_FSGEOMETRY (v5 layout, struct xfs_fsop_geom) */
struct rl_xfs_fsop_geom {
	__u32 blocksize;
	__u32 rtextsize;
	__u32 agblocks;
	__u32 agcount;
	__u32 logblocks;
	__u32 sectsize;
	__u32 inodesize;
	__u32 imaxpct;
	__u64 datablocks;
	__u64 rtblocks;
	__u64 rtextents;
	__u64 logstart;
	unsigned char uuid[16];
	__u32 sunit;
	__u32 swidth;
	__s32 version;
	__u32 flags;
	__u32 logsectsize;
	__u32 rtsectsize;
	__u32 dirblocksize;
	__u32 logsunit;
	__u32 sick;
	__u32 checked;
	__u64 reserved[17];
};
#define RL_XFS_IOC_FSGEOMETRY          _IOR('X', 126, struct rl_xfs_fsop_geom)
#define RL_XFS_FSOP_GEOM_FLAGS_FINOBT  (1u << 17)
#define RL_XFS_FSOP_GEOM_FLAGS_RMAPBT  (1u << 19)
#define RL_XFS_FSOP_GEOM_FLAGS_REFLINK (1u << 20)

/* XFS: XFS_IOC_SWAPEXT (struct xfs_swapext with struct xfs_bstat) */
struct rl_xfs_bstime {
	long tv_sec; /* __kernel_long_t */
	__s32 tv_nsec;
};
struct rl_xfs_bstat {
	__u64 bs_ino;
	__u16 bs_mode;
	__u16 bs_nlink;
	__u32 bs_uid;
	__u32 bs_gid;
	__u32 bs_rdev;
	__s32 bs_blksize;
	__s64 bs_size;
	struct rl_xfs_bstime bs_atime;
	struct rl_xfs_bstime bs_mtime;
	struct rl_xfs_bstime bs_ctime;
	__s64 bs_blocks;
	__u32 bs_xflags;
	__s32 bs_extsize;
	__s32 bs_extents;
	__u32 bs_gen;
	__u16 bs_projid_lo;
	__u16 bs_forkoff;
	__u16 bs_projid_hi;
	__u16 bs_sick;
	__u16 bs_checked;
	unsigned char bs_pad[2];
	__u32 bs_cowextsize;
	__u32 bs_dmevmask;
	__u16 bs_dmstate;
	__u16 bs_aextents;
};
struct rl_xfs_swapext {
	__s64 sx_version; /* 0 */
	__s64 sx_fdtarget;
	__s64 sx_fdtmp;
	__s64 sx_offset;
	__s64 sx_length;
	char sx_pad[16];
	struct rl_xfs_bstat sx_stat;
};
#define RL_XFS_IOC_SWAPEXT _IOWR('X', 109, struct rl_xfs_swapext)

/* XFS_IOC_FREE_EOFBLOCKS (xfs_fs.h, struct xfs_fs_eofblocks): trims
 * post-EOF preallocations and waits for the background inactivation of
 * unlinked inodes (which frees their blocks). */
struct rl_xfs_fs_eofblocks {
	__u32 eof_version; /* 1 */
	__u32 eof_flags;
	__u32 eof_uid;
	__u32 eof_gid;
	__u32 eof_prid;
	__u32 pad32;
	__u64 eof_min_file_size;
	__u64 pad64[12];
};
#define RL_XFS_EOFBLOCKS_VERSION  1
#define RL_XFS_IOC_FREE_EOFBLOCKS _IOR('X', 58, struct rl_xfs_fs_eofblocks)

/* XFS: XFS_IOC_FSGROWFSDATA (struct xfs_growfs_data); a smaller newblocks
 * shrinks the last AG (Linux 5.12 on). */
struct rl_xfs_growfs_data {
	__u64 newblocks; /* new data subvolume size, fsblocks */
	__u32 imaxpct;   /* new inode space percentage limit */
};
#define RL_XFS_IOC_FSGROWFSDATA _IOW('X', 110, struct rl_xfs_growfs_data)

/* XFS: XFS_IOC_FSINUMBERS (struct xfs_fsop_bulkreq of struct xfs_inogrp):
 * the inode chunks in use, 64 inodes each; xi_allocmask 1 = in use. */
struct rl_xfs_inogrp {
	__u64 xi_startino;
	__s32 xi_alloccount;
	__u64 xi_allocmask;
};
struct rl_xfs_fsop_bulkreq {
	__u64 *lastip;
	__s32 icount;
	void *ubuffer;
	__s32 *ocount;
};
#define RL_XFS_IOC_FSINUMBERS _IOWR('X', 103, struct rl_xfs_fsop_bulkreq)
/* XFS: XFS_IOC_BULKSTAT (v5): a header, then icount struct
 * rl_xfs_bulkstat; hdr.ino is the next inode to look at (in and out). */
struct rl_xfs_bulk_ireq {
	__u64 ino;
	__u32 flags;
	__u32 icount;
	__u32 ocount;
	__u32 agno;
	__u64 reserved[5];
};
struct rl_xfs_bulkstat {
	__u64 bs_ino;
	__u64 bs_size;
	__u64 bs_blocks;
	__u64 bs_xflags;
	__s64 bs_atime, bs_mtime, bs_ctime, bs_btime;
	__u32 bs_gen, bs_uid, bs_gid, bs_projectid;
	__u32 bs_atime_nsec, bs_mtime_nsec, bs_ctime_nsec, bs_btime_nsec;
	__u32 bs_blksize, bs_rdev, bs_cowextsize_blks, bs_extsize_blks;
	__u32 bs_nlink;
	__u32 bs_extents; /* data fork extent records */
	__u32 bs_aextents;
	__u16 bs_version, bs_forkoff, bs_sick, bs_checked, bs_mode, bs_pad2;
	__u64 bs_extents64;
	__u64 bs_pad[6];
};
#define RL_XFS_IOC_BULKSTAT _IOR('X', 127, struct rl_xfs_bulk_ireq)
_Static_assert(sizeof(struct rl_xfs_bulk_ireq) == 64, "xfs_bulk_ireq");
_Static_assert(sizeof(struct rl_xfs_bulkstat) == 192, "xfs_bulkstat");
/* XFS: XFS_IOC_GETBMAPX (an array of struct getbmapx, the first one the
 * request; the ioctl number is made with the smaller struct getbmap);
 * offsets, blocks and lengths in 512-byte units, block -1 a hole, -2 a
 * delayed allocation. */
struct rl_getbmapx {
	__s64 bmv_offset;
	__s64 bmv_block;
	__s64 bmv_length;
	__s32 bmv_count;
	__s32 bmv_entries;
	__s32 bmv_iflags;
	__s32 bmv_oflags;
	__s32 bmv_unused1;
	__s32 bmv_unused2;
};
struct rl_getbmap {
	__s64 bmv_offset;
	__s64 bmv_block;
	__s64 bmv_length;
	__s32 bmv_count;
	__s32 bmv_entries;
};
#define RL_XFS_IOC_GETBMAPX _IOWR('X', 56, struct rl_getbmap)
#define RL_BMV_OF_PREALLOC  0x1
#define RL_BMV_OF_LAST      0x4
#define RL_BMV_OF_SHARED    0x8
#endif
