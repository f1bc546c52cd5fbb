/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The owners GETFSMAP leaves unnamed: space the filesystem uses for itself
 * that its space map reports as "unknown" (ext4 always; XFS without the
 * reverse-mapping btree).
 *
 * ext4: the journal, and the extent-tree and resize-inode blocks of the
 * inodes asked about, from the on-disk structures read read-only from the
 * block device (the probe reads the superblock the same way). The journal's
 * inode is the superblock's s_journal_inum; its block map is read from the
 * inode table (or the superblock's backup copy of it). The mounted
 * filesystem keeps its metadata in the block device's page cache, so a
 * buffered read sees what the kernel has, written back or not.
 *
 * XFS: the internal log (XFS_IOC_FSGEOMETRY), each AG's header sectors,
 * and the inode chunks that hold inodes in use (XFS_IOC_FSINUMBERS).
 *
 * Everything read from the device is untrusted: every field is checked
 * against the geometry before it is used, tree depth and fan-out are
 * bounded, and blocks outside the filesystem are not reported.
 */
#include "config.h"
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "fs_abi.h"
#include "fs_internal.h"

/* ext4 on-disk offsets (superblock, group descriptor, inode, extents). */
#define SB_INODES_COUNT     0x00
#define SB_FIRST_DATA_BLOCK 0x14
#define SB_LOG_BLOCK_SIZE   0x18
#define SB_INODES_PER_GROUP 0x28
#define SB_INODE_SIZE       0x58
#define SB_FEATURE_INCOMPAT 0x60
#define SB_JOURNAL_INUM     0xE0
#define SB_JNL_BACKUP_TYPE  0xFD
#define SB_DESC_SIZE        0xFE
#define SB_JNL_BLOCKS       0x10C
#define INCOMPAT_META_BG    0x10
#define JNL_BACKUP_BLOCKS   1
#define GD_BLOCK_BITMAP_LO  0x00
#define GD_BLOCK_BITMAP_HI  0x20
#define GD_FLAGS            0x12
#define GD_BLOCK_UNINIT     0x2
#define GD_INODE_TABLE_LO   0x08
#define GD_INODE_TABLE_HI   0x28
#define INO_FLAGS           0x20
#define INO_BLOCK           0x28
#define INO_FL_EXTENTS      0x80000
#define INO_FL_INLINE_DATA  0x10000000
#define EXT_MAGIC           0xF30A
#define EXT_MAX_DEPTH       5
#define RESIZE_INO          7
#define DIND_BLOCK          13

struct ext4_geo {
	int fd;
	uint32_t bs;
	uint64_t blocks;
	uint32_t ipg, bpg, first, isize, dsize;
	bool bigalloc;
	uint64_t inodes;
	uint64_t gdt_block; /* first block of the group descriptors */
	bool meta_bg;
	unsigned char *buf; /* one block */
};

static int read_at(int fd, void *buf, size_t len, uint64_t off)
{
	ssize_t n = pread(fd, buf, len, (off_t)off);

	if (n < 0)
		return RL_NEG_ERRNO();
	return (size_t)n == len ? 0 : -EIO;
}

/* Report blocks [blk, blk+n) as metadata what of inode ino. */
static int emit(rl_space_cb cb, void *arg, uint64_t start, uint64_t len,
                uint64_t ino, const char *what)
{
	struct rl_space_rec r;

	memset(&r, 0, sizeof(r));
	r.start = start;
	r.length = len;
	r.kind = RL_SPACE_METADATA;
	r.owner = ino;
	snprintf(r.what, sizeof(r.what), "%s", what);
	return cb(&r, arg);
}

/* The extent tree whose root node is node (len bytes: an inode's i_block
 * or a tree block), depth levels above its leaves. Reports the tree blocks
 * below the root as "extent-tree" (tree) and, when data is set, the leaves'
 * extents as data (the journal's blocks). */
static int ext4_tree(struct ext4_geo *g, const unsigned char *node, size_t len,
                     int level, uint64_t ino, const char *data, rl_space_cb cb,
                     void *arg)
{
	uint16_t entries, depth;
	unsigned char *blk;
	int r = 0;

	if (len < 12 || le16_at(node, 0) != EXT_MAGIC)
		return 0;
	entries = le16_at(node, 2);
	depth = le16_at(node, 6);
	if (depth > EXT_MAX_DEPTH || level > EXT_MAX_DEPTH ||
	    (size_t)entries > (len - 12) / 12)
		return 0;
	for (uint16_t i = 0; i < entries && r == 0; i++) {
		const unsigned char *e = node + 12 + 12 * (size_t)i;

		if (depth == 0) {
			uint64_t l = le16_at(e, 4), p;

			if (!data)
				continue;
			if (l > 32768)
				l -= 32768; /* unwritten */
			p = ((uint64_t)le16_at(e, 6) << 32) | le32_at(e, 8);
			if (l && p < g->blocks && l <= g->blocks - p)
				r = emit(cb, arg, p * g->bs, l * g->bs, ino,
				         data);
			continue;
		}
		uint64_t child =
		    ((uint64_t)le16_at(e, 8) << 32) | le32_at(e, 4);
		if (child == 0 || child >= g->blocks)
			continue;
		r = emit(cb, arg, child * g->bs, g->bs, ino, "extent-tree");
		if (r)
			break;
		blk = malloc(g->bs);
		if (!blk)
			return -ENOMEM;
		if (read_at(g->fd, blk, g->bs, child * g->bs) == 0 &&
		    le16_at(blk, 6) + 1 == depth)
			r = ext4_tree(g, blk, g->bs, level + 1, ino, data, cb,
			              arg);
		free(blk);
	}
	return r;
}

/* The raw inode ino into g->buf (its first isize bytes). */
static int ext4_inode(struct ext4_geo *g, uint64_t ino)
{
	uint64_t grp, idx, gd_off, table;
	unsigned char gd[64];
	int r;

	if (ino == 0 || ino > g->inodes || g->meta_bg)
		return -EINVAL;
	grp = (ino - 1) / g->ipg;
	idx = (ino - 1) % g->ipg;
	gd_off = g->gdt_block * g->bs + grp * g->dsize;
	r = read_at(g->fd, gd, g->dsize, gd_off);
	if (r < 0)
		return r;
	table = le32_at(gd, GD_INODE_TABLE_LO);
	if (g->dsize >= 64)
		table |= (uint64_t)le32_at(gd, GD_INODE_TABLE_HI) << 32;
	if (table == 0 || table >= g->blocks)
		return -EIO;
	return read_at(g->fd, g->buf, g->isize, table * g->bs + idx * g->isize);
}

/* The blocks of inode ino that FIEMAP does not report: its extent-tree
 * blocks (or, for the resize inode, its double-indirect block). */
static int ext4_inode_meta(struct ext4_geo *g, uint64_t ino, rl_space_cb cb,
                           void *arg)
{
	uint32_t flags;

	if (ext4_inode(g, ino) < 0)
		return 0;
	flags = le32_at(g->buf, INO_FLAGS);
	if (ino == RESIZE_INO) {
		uint64_t d = le32_at(g->buf, INO_BLOCK + 4 * DIND_BLOCK);
		if (d && d < g->blocks && !(flags & INO_FL_EXTENTS))
			return emit(cb, arg, d * g->bs, g->bs, ino,
			            "resize-inode");
		return 0;
	}
	if (!(flags & INO_FL_EXTENTS) || (flags & INO_FL_INLINE_DATA))
		return 0;
	return ext4_tree(g, g->buf + INO_BLOCK, 60, 0, ino, NULL, cb, arg);
}

/* The journal: its inode's extent tree, from the inode table, else from
 * the superblock's backup of its block map. */
static int ext4_journal(struct ext4_geo *g, const unsigned char *sb,
                        rl_space_cb cb, void *arg)
{
	uint64_t ino = le32_at(sb, SB_JOURNAL_INUM);
	const unsigned char *root = NULL;

	if (ino == 0)
		return 0; /* no journal, or an external one */
	if (ext4_inode(g, ino) == 0 &&
	    (le32_at(g->buf, INO_FLAGS) & INO_FL_EXTENTS))
		root = g->buf + INO_BLOCK;
	else if (sb[SB_JNL_BACKUP_TYPE] == JNL_BACKUP_BLOCKS)
		root = sb + SB_JNL_BLOCKS;
	if (!root)
		return 0;
	/* the root node is copied: the walk below reuses g->buf */
	unsigned char node[60];
	memcpy(node, root, sizeof(node));
	return ext4_tree(g, node, sizeof(node), 0, ino, "journal", cb, arg);
}

/* Open fs's device and read its geometry into g (the superblock into
 * sb); ext4_close(g) after. 0 or -errno (-EIO: not an ext4 superblock
 * this code reads). */
static int ext4_open(const struct rl_fs_info *fs, struct ext4_geo *g,
                     unsigned char *sb)
{
	uint32_t incompat, lbs;
	int r;

	memset(g, 0, sizeof(*g));
	g->fd = open(fs->device, O_RDONLY | O_CLOEXEC);
	if (g->fd < 0)
		return RL_NEG_ERRNO();
	r = read_at(g->fd, sb, 1024, RL_EXT4_SB_OFFSET);
	if (r < 0)
		return r;
	lbs = le32_at(sb, SB_LOG_BLOCK_SIZE);
	if (le16_at(sb, RL_EXT4_OFF_MAGIC) != RL_EXT4_SB_MAGIC || lbs > 6)
		return -EIO;
	g->bs = 1024u << lbs;
	incompat = le32_at(sb, SB_FEATURE_INCOMPAT);
	g->blocks = le32_at(sb, RL_EXT4_OFF_BLOCKS_COUNT_LO);
	g->dsize = 32;
	if (incompat & RL_EXT4_FEATURE_INCOMPAT_64BIT) {
		g->blocks |= (uint64_t)le32_at(sb, RL_EXT4_OFF_BLOCKS_COUNT_HI)
		             << 32;
		g->dsize = le16_at(sb, SB_DESC_SIZE);
	}
	g->meta_bg = (incompat & INCOMPAT_META_BG) != 0;
	g->ipg = le32_at(sb, SB_INODES_PER_GROUP);
	g->bpg = le32_at(sb, RL_EXT4_OFF_BLOCKS_PER_GROUP);
	g->first = le32_at(sb, SB_FIRST_DATA_BLOCK);
	g->isize = le16_at(sb, SB_INODE_SIZE);
	g->inodes = le32_at(sb, SB_INODES_COUNT);
	g->gdt_block = g->first + 1;
	if (g->bs != fs->block_size || g->ipg == 0 || g->bpg == 0 ||
	    g->bpg > 8 * g->bs || g->isize < 128 || g->isize > g->bs ||
	    g->dsize < 32 || g->dsize > 64 || (g->dsize & (g->dsize - 1)))
		return -EIO;
	g->bigalloc = (le32_at(sb, RL_EXT4_OFF_FEATURE_RO_COMPAT) &
	               RL_EXT4_FEATURE_RO_COMPAT_BIGALLOC) != 0;
	g->buf = malloc(g->bs);
	return g->buf ? 0 : -ENOMEM;
}

static void ext4_close(struct ext4_geo *g)
{
	free(g->buf);
	if (g->fd >= 0)
		close(g->fd);
}

static int ext4_meta_walk(const struct rl_fs_info *fs, const uint64_t *inos,
                          size_t n, rl_space_cb cb, void *arg)
{
	unsigned char sb[1024];
	struct ext4_geo g;
	int r = ext4_open(fs, &g, sb);

	if (r == 0)
		r = ext4_journal(&g, sb, cb, arg);
	/* 1 KiB blocks: block 0 (the boot sector, the superblock's first
	 * bytes) is in no group */
	if (r == 0 && g.first)
		r = emit(cb, arg, 0, (uint64_t)g.first * g.bs, 0, "boot-block");
	if (r == 0)
		r = ext4_inode_meta(&g, RESIZE_INO, cb, arg);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = ext4_inode_meta(&g, inos[i], cb, arg);
	ext4_close(&g);
	return r;
}

/* Group grp's block bitmap into g->buf: 0, 1 when the group has none on
 * disk (BLOCK_UNINIT: the kernel computes it), or -errno. */
static int ext4_bitmap(struct ext4_geo *g, uint64_t grp)
{
	unsigned char gd[64];
	uint64_t bb;
	int r;

	if (g->meta_bg)
		return 1;
	r = read_at(g->fd, gd, g->dsize, g->gdt_block * g->bs + grp * g->dsize);
	if (r < 0)
		return r;
	if (le16_at(gd, GD_FLAGS) & GD_BLOCK_UNINIT)
		return 1;
	bb = le32_at(gd, GD_BLOCK_BITMAP_LO);
	if (g->dsize >= 64)
		bb |= (uint64_t)le32_at(gd, GD_BLOCK_BITMAP_HI) << 32;
	if (bb == 0 || bb >= g->blocks)
		return -EIO;
	return read_at(g->fd, g->buf, g->bs, bb * g->bs);
}

int rl_ext4_held_walk(const struct rl_fs_info *fs,
                      const struct rl_free_extent *ranges, size_t n,
                      rl_space_cb cb, void *arg)
{
	unsigned char sb[1024];
	struct ext4_geo g;
	uint64_t have = UINT64_MAX; /* the group whose bitmap is in buf */
	int r;

	if (!fs || !cb || (n && !ranges))
		return -EINVAL;
	if (fs->type != RL_FS_EXT4 || fs->device[0] != '/')
		return -EOPNOTSUPP;
	r = ext4_open(fs, &g, sb);
	if (r == 0 && g.bigalloc)
		r = -EOPNOTSUPP; /* its bitmaps count clusters */
	for (size_t i = 0; r == 0 && i < n; i++) {
		uint64_t b = ranges[i].start / g.bs;
		uint64_t e = (ranges[i].start + ranges[i].len) / g.bs;
		uint64_t run = 0, run_start = 0;
		bool ok = false;

		if (e > g.blocks)
			e = g.blocks;
		for (; r == 0 && b <= e; b++) {
			bool held = false;
			if (b < e && b >= g.first) {
				uint64_t grp = (b - g.first) / g.bpg;
				uint64_t bit = (b - g.first) % g.bpg;
				if (grp != have) {
					int k = ext4_bitmap(&g, grp);
					if (k < 0) {
						r = k;
						break;
					}
					ok = k == 0;
					have = grp;
				}
				held =
				    ok && !(g.buf[bit / 8] & (1u << (bit % 8)));
			}
			if (held) {
				if (!run)
					run_start = b;
				run++;
			} else if (run) {
				r = emit(cb, arg, run_start * g.bs, run * g.bs,
				         0, "allocator-held");
				run = 0;
			}
		}
	}
	ext4_close(&g);
	return r;
}

/* ------------------------------------------------------------------ XFS */

/* An XFS fsblock number (AG number above agblklog bits) as a byte
 * address. */
static uint64_t xfs_fsb_byte(const struct rl_xfs_fsop_geom *x,
                             uint32_t agblklog, uint64_t fsb)
{
	uint64_t ag = fsb >> agblklog, agbno = fsb & ((1ull << agblklog) - 1);

	return (ag * x->agblocks + agbno) * x->blocksize;
}

/* ---- XFS per-AG btrees and free list, read from the device ----
 * Without the reverse-mapping btree the kernel names none of these
 * blocks (GETFSMAP: "unknown"). Their roots and the free list (AGFL) are
 * in the AG headers; the blocks of each level are found from the root's
 * first child along the right-sibling links. What the device holds may
 * lag the log by a few seconds (a root moves only when a tree gains or
 * loses a level): each block is checked for its magic number, and what
 * does not check is left unnamed. */
#define XFS_NULLAGBLOCK    0xffffffffu
#define XFS_AGF_BNO_ROOT   16
#define XFS_AGF_CNT_ROOT   20
#define XFS_AGF_BNO_LEVEL  28
#define XFS_AGF_CNT_LEVEL  32
#define XFS_AGF_FLFIRST    40
#define XFS_AGF_FLCOUNT    48
#define XFS_AGF_REFC_ROOT  88
#define XFS_AGF_REFC_LEVEL 92
#define XFS_AGI_ROOT       20
#define XFS_AGI_LEVEL      24
#define XFS_AGI_FREE_ROOT  328
#define XFS_AGI_FREE_LEVEL 332
#define XFS_AGFL_HDR       36 /* v5: magic, seqno, uuid, lsn, crc */
#define XFS_BT_MAX_LEVELS  9

static uint32_t be32_at(const unsigned char *b, size_t off)
{
	return (uint32_t)b[off] << 24 | (uint32_t)b[off + 1] << 16 |
	       (uint32_t)b[off + 2] << 8 | b[off + 3];
}

struct xfs_dev {
	int fd; /* O_DIRECT: XFS's buffers are not the device's page cache */
	const struct rl_xfs_fsop_geom *x;
	unsigned char *buf; /* one block */
	unsigned char *hdr; /* two sectors: the AGF and the AGI */
	rl_space_cb cb;
	void *arg;
};

/* The short-form btree block header's length for magic m (v5 magics end
 * in '3' or are "R3FC"), 0 when m is not one of want's two magics. */
static size_t bt_hdr(const unsigned char *b, const char *v4, const char *v5)
{
	if (!memcmp(b, v5, 4))
		return 56;
	if (v4 && !memcmp(b, v4, 4))
		return 16;
	return 0;
}

/* Every block of the btree of AG agno rooted at root, levels high, keys
 * keylen bytes, magic numbers v4 / v5: reported as label. */
static int xfs_bt_walk(struct xfs_dev *d, uint32_t agno, uint32_t root,
                       uint32_t levels, size_t keylen, const char *v4,
                       const char *v5, const char *label)
{
	const struct rl_xfs_fsop_geom *x = d->x;
	uint64_t ag0 = (uint64_t)agno * x->agblocks * x->blocksize;
	uint32_t first = root, budget = x->agblocks;
	int r = 0;

	if (levels < 1 || levels > XFS_BT_MAX_LEVELS)
		return 0;
	for (uint32_t lvl = levels; lvl >= 1 && first < x->agblocks; lvl--) {
		uint32_t b = first, next = XFS_NULLAGBLOCK;

		while (r == 0 && b < x->agblocks && budget--) {
			uint64_t at = ag0 + (uint64_t)b * x->blocksize;
			size_t hdr;

			if (read_at(d->fd, d->buf, x->blocksize, at) < 0)
				return 0;
			hdr = bt_hdr(d->buf, v4, v5);
			/* the level in the block: lvl - 1 */
			if (!hdr ||
			    (uint32_t)(d->buf[4] << 8 | d->buf[5]) != lvl - 1)
				return 0;
			r = emit(d->cb, d->arg, at, x->blocksize, 0, label);
			if (b == first && lvl > 1) {
				size_t maxrecs =
				    (x->blocksize - hdr) / (keylen + 4);
				next = be32_at(d->buf, hdr + maxrecs * keylen);
			}
			b = be32_at(d->buf, 12); /* right sibling */
		}
		first = next;
	}
	return r;
}

/* The AGF's and AGI's btrees and the AGFL of AG agno. */
static int xfs_ag_meta(struct xfs_dev *d, uint32_t agno)
{
	const struct rl_xfs_fsop_geom *x = d->x;
	uint64_t ag0 = (uint64_t)agno * x->agblocks * x->blocksize;
	unsigned char *agf = d->hdr, *agi = d->hdr + x->sectsize;
	uint32_t sect = x->sectsize, slots, first, count;
	int r;

	if (read_at(d->fd, agf, sect, ag0 + sect) < 0 ||
	    read_at(d->fd, agi, sect, ag0 + 2ull * sect) < 0)
		return 0;
	if (memcmp(agf, "XAGF", 4) || memcmp(agi, "XAGI", 4))
		return 0;
	r = xfs_bt_walk(d, agno, be32_at(agf, XFS_AGF_BNO_ROOT),
	                be32_at(agf, XFS_AGF_BNO_LEVEL), 8, "ABTB", "AB3B",
	                "free-space btree");
	if (r == 0)
		r = xfs_bt_walk(d, agno, be32_at(agf, XFS_AGF_CNT_ROOT),
		                be32_at(agf, XFS_AGF_CNT_LEVEL), 8, "ABTC",
		                "AB3C", "free-space btree");
	if (r == 0 && (x->flags & RL_XFS_FSOP_GEOM_FLAGS_REFLINK))
		r = xfs_bt_walk(d, agno, be32_at(agf, XFS_AGF_REFC_ROOT),
		                be32_at(agf, XFS_AGF_REFC_LEVEL), 4, NULL,
		                "R3FC", "refcount btree");
	if (r == 0)
		r = xfs_bt_walk(d, agno, be32_at(agi, XFS_AGI_ROOT),
		                be32_at(agi, XFS_AGI_LEVEL), 4, "IABT", "IAB3",
		                "inode btree");
	if (r == 0 && (x->flags & RL_XFS_FSOP_GEOM_FLAGS_FINOBT))
		r = xfs_bt_walk(d, agno, be32_at(agi, XFS_AGI_FREE_ROOT),
		                be32_at(agi, XFS_AGI_FREE_LEVEL), 4, "FIBT",
		                "FIB3", "inode btree");
	/* the free list: flcount blocks from slot flfirst, circular */
	if (r || read_at(d->fd, d->buf, sect, ag0 + 3ull * sect) < 0 ||
	    memcmp(d->buf, "XAFL", 4))
		return r;
	slots = (sect - XFS_AGFL_HDR) / 4;
	first = be32_at(agf, XFS_AGF_FLFIRST);
	count = be32_at(agf, XFS_AGF_FLCOUNT);
	for (uint32_t i = 0; r == 0 && i < count && i < slots && first < slots;
	     i++) {
		uint32_t b =
		    be32_at(d->buf, XFS_AGFL_HDR + 4 * ((first + i) % slots));
		if (b < x->agblocks)
			r = emit(d->cb, d->arg,
			         ag0 + (uint64_t)b * x->blocksize, x->blocksize,
			         0, "free-list (AGFL)");
	}
	return r;
}

/* Each AG's btrees and free list, when the device can be read (root);
 * not without the reverse-mapping btree: GETFSMAP names them then. */
static int xfs_ags_meta(const struct rl_fs_info *fs,
                        const struct rl_xfs_fsop_geom *x, rl_space_cb cb,
                        void *arg)
{
	struct xfs_dev d = {.x = x, .cb = cb, .arg = arg};
	int r = 0;

	if ((x->flags & RL_XFS_FSOP_GEOM_FLAGS_RMAPBT) ||
	    fs->device[0] != '/' || x->sectsize < 512 ||
	    x->sectsize > x->blocksize)
		return 0;
	d.fd = open(fs->device, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (d.fd < 0)
		return 0;
	if (posix_memalign((void **)&d.buf, 4096, x->blocksize) == 0 &&
	    posix_memalign((void **)&d.hdr, 4096, 2ull * x->sectsize) == 0) {
		for (uint32_t ag = 0; r == 0 && ag < x->agcount; ag++)
			r = xfs_ag_meta(&d, ag);
	}
	free(d.buf);
	free(d.hdr);
	close(d.fd);
	return r;
}

/* The clusters of an inode chunk that have inodes in use, as "inodes". */
struct chunk_emit {
	rl_space_cb cb;
	void *arg;
	uint32_t inopb, per, bs;
};

static int chunk_emit_cb(uint64_t startino, uint64_t allocmask, uint64_t addr,
                         void *arg)
{
	struct chunk_emit *ce = arg;
	int r = 0;

	(void)startino;
	for (uint32_t k = 0; r == 0 && k < 64; k += ce->per) {
		uint64_t m =
		    ce->per >= 64 ? ~0ull : ((1ull << ce->per) - 1) << k;
		/* allocmask: 1 = inode in use */
		if ((allocmask & m) == 0)
			continue;
		r = emit(ce->cb, ce->arg,
		         addr + (uint64_t)k / ce->inopb * ce->bs,
		         (uint64_t)ce->per / ce->inopb * ce->bs, 0, "inodes");
	}
	return r;
}

static int xfs_meta_walk(const struct rl_fs_info *fs, rl_space_cb cb, void *arg)
{
	struct rl_xfs_fsop_geom x;
	uint32_t agblklog = fs->xfs_agblklog, inopb;
	int fd, r = 0;

	fd = open(fs->mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return RL_NEG_ERRNO();
	memset(&x, 0, sizeof(x));
	if (ioctl(fd, RL_XFS_IOC_FSGEOMETRY, &x) < 0) {
		r = RL_NEG_ERRNO();
		goto out;
	}
	if (!x.blocksize || !x.agblocks || !x.inodesize ||
	    x.inodesize > x.blocksize || !agblklog) {
		r = -EIO;
		goto out;
	}
	inopb = x.blocksize / x.inodesize;
	/* the internal log (logstart 0: an external log device) */
	if (x.logstart && x.logblocks)
		r = emit(cb, arg, xfs_fsb_byte(&x, agblklog, x.logstart),
		         (uint64_t)x.logblocks * x.blocksize, 0, "log");
	/* each AG's superblock, AGF, AGI and AGFL: its first 4 sectors */
	for (uint32_t ag = 0; r == 0 && ag < x.agcount; ag++) {
		uint64_t len = 4ull * x.sectsize;
		len = (len + x.blocksize - 1) / x.blocksize * x.blocksize;
		r = emit(cb, arg, (uint64_t)ag * x.agblocks * x.blocksize, len,
		         0, "fs-headers");
	}
	/* inode chunks with inodes in use: 64 inodes each, allocated on
	 * disk a cluster at a time (a sparse chunk has holes where it has
	 * no cluster, and FSINUMBERS does not say where: its free inodes
	 * look the same). An inode cluster is 32 inodes (XFS's 8 KiB of
	 * 256-byte inodes, scaled with the inode size) or one block: every
	 * cluster with an inode in use is reported whole. */
	if (r == 0) {
		struct chunk_emit ce = {
		    .cb = cb, .arg = arg, .inopb = inopb, .bs = x.blocksize};
		ce.per = inopb > 32 ? inopb : 32;
		if (ce.per > 64)
			ce.per = 64;
		r = rl_inode_chunks(fs, 0, UINT64_MAX, chunk_emit_cb, &ce);
	}
	if (r == 0)
		r = xfs_ags_meta(fs, &x, cb, arg);
out:
	close(fd);
	return r;
}

int rl_meta_walk(const struct rl_fs_info *fs, const uint64_t *inos, size_t n,
                 rl_space_cb cb, void *arg)
{
	if (!fs || !cb || (n && !inos))
		return -EINVAL;
	switch (fs->type) {
	case RL_FS_EXT4:
		if (fs->device[0] != '/')
			return -ENODEV;
		return ext4_meta_walk(fs, inos, n, cb, arg);
	case RL_FS_XFS:
		return xfs_meta_walk(fs, cb, arg);
	default:
		return -EOPNOTSUPP;
	}
}
