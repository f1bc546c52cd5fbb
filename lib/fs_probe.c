/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Filesystem probe: mount (libmount), identity (libblkid), geometry. */
#include "config.h"
#include <blkid.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libmount.h>
#include <limits.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include "fs_abi.h"
#include "fs_internal.h"

#ifndef XFS_SUPER_MAGIC
#define XFS_SUPER_MAGIC 0x58465342
#endif

const char *rl_fs_type_name(enum rl_fs_type type)
{
	switch (type) {
	case RL_FS_EXT4:
		return "ext4";
	case RL_FS_XFS:
		return "xfs";
	case RL_FS_BTRFS:
		return "btrfs";
	case RL_FS_OTHER:
		break;
	}
	return "other";
}

static enum rl_fs_type type_from_magic(long magic)
{
	switch ((unsigned long)magic) {
	case EXT4_SUPER_MAGIC: /* ext2/3/4 share it; probe tells them apart */
		return RL_FS_EXT4;
	case XFS_SUPER_MAGIC:
		return RL_FS_XFS;
	case BTRFS_SUPER_MAGIC:
		return RL_FS_BTRFS;
	}
	return RL_FS_OTHER;
}

enum rl_fs_type rl_fd_fs_type(int fd)
{
	struct statfs sf;

	if (fstatfs(fd, &sf) < 0)
		return RL_FS_OTHER;
	return type_from_magic(sf.f_type);
}

int rl_fd_block_size(int fd, uint32_t *bsize)
{
	struct statfs sf;

	if (fstatfs(fd, &sf) < 0)
		return RL_NEG_ERRNO();
	if (sf.f_bsize <= 0)
		return -EINVAL;
	*bsize = (uint32_t)sf.f_bsize;
	return 0;
}

static void copy_str(char *dst, size_t size, const char *src)
{
	if (!src)
		src = "";
	snprintf(dst, size, "%s", src);
}

/* Find the mount holding path. */
static int probe_mount(const char *path, struct rl_fs_info *info)
{
	struct libmnt_table *tb;
	struct libmnt_fs *fs;
	char *real;
	int ret = 0;

	real = realpath(path, NULL);
	if (!real)
		return RL_NEG_ERRNO();
	tb = mnt_new_table_from_file("/proc/self/mountinfo");
	if (!tb) {
		free(real);
		return -EIO;
	}
	fs = mnt_table_find_mountpoint(tb, real, MNT_ITER_BACKWARD);
	if (!fs) {
		ret = -ENOENT;
		goto out;
	}
	copy_str(info->mountpoint, sizeof(info->mountpoint),
	         mnt_fs_get_target(fs));
	copy_str(info->device, sizeof(info->device), mnt_fs_get_srcpath(fs));
	if (!info->device[0])
		copy_str(info->device, sizeof(info->device),
		         mnt_fs_get_source(fs));
	copy_str(info->fstype, sizeof(info->fstype), mnt_fs_get_fstype(fs));
out:
	mnt_unref_table(tb);
	free(real);
	return ret;
}

/* UUID and label with libblkid (needs read access to the device). */
static void probe_blkid(struct rl_fs_info *info)
{
	blkid_probe pr;
	const char *v;

	if (info->device[0] != '/')
		return;
	pr = blkid_new_probe_from_filename(info->device);
	if (!pr)
		return;
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(
	    pr, BLKID_SUBLKS_UUID | BLKID_SUBLKS_LABEL | BLKID_SUBLKS_TYPE);
	/* the mount table names the type: only its superblock is read (all
	 * of them, RAID signatures at the device's end included, were ~90
	 * reads and 1 MiB: 4 ms of a 30 ms defrag) */
	if (info->fstype[0]) {
		char *only[] = {info->fstype, NULL};
		blkid_probe_filter_superblocks_type(pr, BLKID_FLTR_ONLYIN,
		                                    only);
	}
	if (blkid_do_safeprobe(pr) == 0) {
		if (blkid_probe_lookup_value(pr, "UUID", &v, NULL) == 0)
			copy_str(info->uuid, sizeof(info->uuid), v);
		if (blkid_probe_lookup_value(pr, "LABEL", &v, NULL) == 0)
			copy_str(info->label, sizeof(info->label), v);
	}
	blkid_free_probe(pr);
}

/* Without read access to the device (an unprivileged user), the kernel
 * still tells the UUID (FS_IOC_GETFSUUID); written like blkid does. */
static void probe_fsuuid(int fd, struct rl_fs_info *info)
{
	struct rl_fsuuid2 u = {.len = sizeof(u.uuid)};
	const unsigned char *b = u.uuid;

	if (ioctl(fd, RL_FS_IOC_GETFSUUID, &u) < 0 || u.len != sizeof(u.uuid))
		return;
	snprintf(info->uuid, sizeof(info->uuid),
	         "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	         "%02x%02x%02x%02x%02x%02x",
	         b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
	         b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* ext4 geometry from the superblock, read read-only from the device. */
static void probe_ext4(struct rl_fs_info *info)
{
	unsigned char sb[1024];
	int fd;
	ssize_t n;
	uint64_t blocks, bpg;
	uint32_t incompat, ro_compat;

	info->features |= RL_FEAT_GETFSMAP | RL_FEAT_MOVE_EXT | RL_FEAT_PLACE;
	fd = open(info->device, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = pread(fd, sb, sizeof(sb), RL_EXT4_SB_OFFSET);
	close(fd);
	if (n != (ssize_t)sizeof(sb) ||
	    le16_at(sb, RL_EXT4_OFF_MAGIC) != RL_EXT4_SB_MAGIC)
		return;
	incompat = le32_at(sb, RL_EXT4_OFF_FEATURE_INCOMPAT);
	ro_compat = le32_at(sb, RL_EXT4_OFF_FEATURE_RO_COMPAT);
	blocks = le32_at(sb, RL_EXT4_OFF_BLOCKS_COUNT_LO);
	if (incompat & RL_EXT4_FEATURE_INCOMPAT_64BIT)
		blocks |= (uint64_t)le32_at(sb, RL_EXT4_OFF_BLOCKS_COUNT_HI)
		          << 32;
	bpg = le32_at(sb, RL_EXT4_OFF_BLOCKS_PER_GROUP);
	info->ext4_inodes_per_group = le32_at(sb, RL_EXT4_OFF_INODES_PER_GROUP);
	info->ext4_flex_groups = 1;
	if ((incompat & RL_EXT4_FEATURE_INCOMPAT_FLEX_BG) &&
	    sb[RL_EXT4_OFF_LOG_GROUPS_PER_FLEX] <= 31)
		info->ext4_flex_groups = 1u
		                         << sb[RL_EXT4_OFF_LOG_GROUPS_PER_FLEX];
	info->first_data_byte =
	    (uint64_t)le32_at(sb, RL_EXT4_OFF_FIRST_DATA_BLOCK) *
	    info->block_size;
	if (bpg) {
		uint64_t first = info->first_data_byte / info->block_size;
		info->group_size = bpg * info->block_size;
		info->group_count = (blocks - first + bpg - 1) / bpg;
	}
	info->size = blocks * info->block_size;
	if (ro_compat & RL_EXT4_FEATURE_RO_COMPAT_BIGALLOC) {
		info->features |= RL_FEAT_BIGALLOC;
		info->features &= ~(RL_FEAT_MOVE_EXT | RL_FEAT_PLACE);
	}
}

static void probe_xfs(int fd, struct rl_fs_info *info)
{
	struct rl_xfs_fsop_geom g;
	uint32_t v;

	info->features |= RL_FEAT_GETFSMAP | RL_FEAT_PLACE;
	memset(&g, 0, sizeof(g));
	if (ioctl(fd, RL_XFS_IOC_FSGEOMETRY, &g) < 0)
		return;
	info->group_count = g.agcount;
	info->group_size = (uint64_t)g.agblocks * g.blocksize;
	info->size = g.datablocks * g.blocksize;
	for (v = 0; (1ull << v) < g.agblocks; v++)
		;
	info->xfs_agblklog = v;
	for (v = 0; g.inodesize && (1u << v) < g.blocksize / g.inodesize; v++)
		;
	info->xfs_inopblog = v;
	/* FIDEDUPERANGE (movedata) needs reflink on XFS. */
	if (g.flags & RL_XFS_FSOP_GEOM_FLAGS_REFLINK)
		info->features |= RL_FEAT_REFLINK | RL_FEAT_DEDUPE;
	if (g.flags & RL_XFS_FSOP_GEOM_FLAGS_RMAPBT)
		info->features |= RL_FEAT_RMAPBT;
}

int rl_fs_probe(const char *path, struct rl_fs_info *info)
{
	struct statfs sf;
	struct stat st;
	int fd, ret;

	if (!path || !info)
		return -EINVAL;
	memset(info, 0, sizeof(*info));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return RL_NEG_ERRNO();
	if (fstat(fd, &st) < 0 || fstatfs(fd, &sf) < 0) {
		ret = RL_NEG_ERRNO();
		close(fd);
		return ret;
	}
	info->st_dev = st.st_dev;
	info->block_size = (uint32_t)sf.f_bsize;
	info->total_blocks = sf.f_blocks;
	info->free_blocks = sf.f_bfree;
	info->avail_blocks = sf.f_bavail;
	info->type = type_from_magic(sf.f_type);
	info->size = (uint64_t)sf.f_blocks * sf.f_bsize;

	ret = probe_mount(path, info);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	/* ext2/ext3 share ext4's magic: only call it ext4 when mounted so. */
	if (info->type == RL_FS_EXT4 && strcmp(info->fstype, "ext4") != 0)
		info->type = RL_FS_OTHER;
	if (info->device[0] == '/') {
		int dfd = open(info->device, O_RDONLY | O_CLOEXEC);
		uint64_t bytes;

		if (dfd >= 0) {
			if (ioctl(dfd, BLKGETSIZE64, &bytes) == 0 && bytes)
				info->size = bytes;
			close(dfd);
		}
	}
	probe_blkid(info);
	if (!info->uuid[0])
		probe_fsuuid(fd, info);

	switch (info->type) {
	case RL_FS_EXT4:
		probe_ext4(info);
		break;
	case RL_FS_XFS:
		probe_xfs(fd, info);
		break;
	case RL_FS_BTRFS:
		info->addr_space = RL_ADDR_BTRFS_LOGICAL;
		info->features |= RL_FEAT_REFLINK | RL_FEAT_DEDUPE;
		rl_btrfs_probe(fd, info);
		break;
	case RL_FS_OTHER:
		break;
	}
	close(fd);
	return 0;
}
