/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Exact placement on XFS. With reflink (below); without it see "XFS
 * without reflink" further down (staging file swapped into the donor).
 *
 * XFS chooses the goal of an allocation past the last extent of a file
 * from that extent: goal = P + (L - X) when logical X maps to physical P,
 * as long as the goal stays in P's AG, and tries that exact block first.
 * So, per AG-sized piece [G, G+n) of the request:
 *  1. find any file block P in the same AG below G (a walk of the volume,
 *     FIEMAP) and clone that one block into a private O_TMPFILE staging
 *     file at offset 0: the anchor;
 *  2. fallocate n bytes in the staging file at L = G - P: the allocator
 *     asks for exactly G;
 *  3. check with FIEMAP that [L, L+n) maps to [G, G+n).
 *  4. write zeros over it (a clone skips unwritten extents), so the
 *     blocks reach fd written (zero-filled), not unwritten.
 * When no file block below G in its AG can be cloned (typically a goal
 * among the first free blocks of an AG: below it are only the AG headers
 * and btree blocks), steps 1-3 are those of "XFS without reflink": a
 * staging file with an anchor of its own (the filestream allocator's,
 * at the lowest free block of the AG, else a plain one next to the
 * inode), which also reaches goals at or in front of the anchor. Its
 * anchor is written, cloned into an O_TMPFILE at the mount root and the
 * staging file and its directory dropped before the target is asked
 * for: in an AG without inodes their inode chunk took the first free
 * aligned blocks of the AG (and each retry's chunk the blocks after it),
 * often the target itself (anchor_move). The piece then sits in that
 * O_TMPFILE and goes on with step 4.
 * When every piece is staged, each is cloned into fd at its offset and
 * the staging files are punched (dropping their share at once, so fd does
 * not see shared extents) and closed. An empty donor (a fresh O_TMPFILE,
 * open read-write) with a one-piece target gets it by XFS_IOC_SWAPEXT
 * instead (shift_and_swap, as without reflink; the anchor is punched
 * first): no zeros are written, the blocks arrive unwritten, and the data
 * a move copies into the donor afterwards is the only write of the
 * target. A staged target of n extents (an anchor of our own inside it
 * is written, the rest not: three) needs n blocks of the donor's own
 * for the swap, one every other block of the target: a target shorter
 * than 2n - 1 blocks goes the clone way. Nothing is allocated to fd before
 * every piece sits in place; on any failure the staging files are dropped
 * and nothing stays allocated.
 */
#include "config.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fs_abi.h"
#include "fs_internal.h"
#include "fs_place.h"

/* How much of the volume the anchor search may look at. */
#define ANCHOR_MAX_FILES 200000
#define ANCHOR_MAX_DEPTH 64
/* Most pieces one request may need (AGs spanned). */
#define XFS_MAX_PIECES 64

struct anchor_search {
	dev_t dev;
	uint64_t lo, hi; /* the anchor block must lie in [lo, hi) */
	uint32_t bs;
	unsigned budget;    /* files left to look at */
	int stage;          /* the staging file the anchor is cloned into */
	uint64_t off, phys; /* candidate: offset and block */
	bool lowest;        /* a file's lowest block, not its highest */
	/* when set: look at every file (no clone) for each AG's lowest
	 * block, in one walk, not one per AG: the records of the nall AGs
	 * of agbytes each; those not walked yet get their lowest block,
	 * its file (kept open) and offset */
	struct rl_xfs_ag_anchor *all;
	size_t nall;
	uint64_t agbytes;
};

#define ANCHOR_SKIP_FLAGS                                                      \
	(RL_EXT_UNKNOWN | RL_EXT_DELALLOC | RL_EXT_ENCODED |                   \
	 RL_EXT_DATA_INLINE | RL_EXT_DATA_TAIL | RL_EXT_NOT_ALIGNED |          \
	 RL_EXT_ENCRYPTED | RL_EXT_UNWRITTEN)

/* Does file fd (size bytes) hold a block in [lo, hi) that a clone can
 * take? Takes the highest one. Unwritten extents are skipped (a clone
 * leaves a hole for them), and so is a partial block at EOF (FICLONERANGE
 * of a whole block past EOF is -EINVAL). */
static bool anchor_in_ext(struct anchor_search *a, const struct rl_extent *ext,
                          size_t n, uint64_t size)
{
	bool found = false;

	for (size_t i = 0; i < n; i++) {
		uint64_t p = ext[i].physical, e = p + ext[i].length;

		if (ext[i].flags & ANCHOR_SKIP_FLAGS)
			continue;
		if (e <= a->lo || p >= a->hi)
			continue;
		if (e > a->hi)
			e = a->hi;
		/* Only blocks wholly below EOF. */
		uint64_t lend = ext[i].logical + (e - p);
		if (lend > size) {
			uint64_t cut = lend - size;
			cut = (cut + a->bs - 1) / a->bs * a->bs;
			if (cut >= e - p)
				continue;
			e -= cut;
		}
		uint64_t blk = e - a->bs;
		if (a->lowest) /* the extent's first block in [lo, hi) */
			blk = p > a->lo ? p : a->lo;
		if (blk < p || blk < a->lo || blk + a->bs > e ||
		    (blk - p) % a->bs)
			continue;
		if (!found || (a->lowest ? blk < a->phys : blk > a->phys)) {
			a->phys = blk;
			a->off = ext[i].logical + (blk - ext[i].physical);
			found = true;
		}
	}
	return found;
}

static bool anchor_in_file(struct anchor_search *a, int fd, uint64_t size)
{
	struct rl_extent *ext;
	size_t n;
	bool found;

	if (rl_get_extents(fd, &ext, &n) < 0)
		return false;
	found = anchor_in_ext(a, ext, n, size);
	free(ext);
	return found;
}

/* a->all: file fd's lowest block per AG not walked yet, kept (its file
 * open) where it is lower than the one found so far. */
static void anchor_all(const struct anchor_search *a, int fd, uint64_t size)
{
	struct rl_extent *ext;
	size_t n;

	if (rl_get_extents(fd, &ext, &n) < 0)
		return;
	for (size_t g = 0; g < a->nall; g++) {
		struct rl_xfs_ag_anchor *k = &a->all[g];
		struct anchor_search b = *a;
		int d;

		if (k->walked || k->own)
			continue;
		b.lo = g * a->agbytes;
		b.hi = b.lo + a->agbytes;
		if (!anchor_in_ext(&b, ext, n, size) ||
		    (k->have && b.phys >= k->phys))
			continue;
		d = dup(fd);
		if (d < 0)
			continue;
		if (k->have)
			close(k->fd);
		*k = (struct rl_xfs_ag_anchor){
		    .have = true, .fd = d, .off = b.off, .phys = b.phys};
	}
	free(ext);
}

static int anchor_phys(int stage, uint64_t off, uint32_t bs, uint64_t *phys);

/* Clone the candidate block of fd to offset 0 of the staging file and
 * check with FIEMAP that it is there (the file may change meanwhile, a
 * clone may fail: then the search goes on). */
static bool anchor_clone(struct anchor_search *a, int fd)
{
	struct file_clone_range r = {.src_fd = fd,
	                             .src_offset = a->off,
	                             .src_length = a->bs,
	                             .dest_offset = 0};
	uint64_t p;

	if (ioctl(a->stage, FICLONERANGE, &r) == 0 &&
	    anchor_phys(a->stage, 0, a->bs, &p) == 0 && p >= a->lo &&
	    p + a->bs <= a->hi) {
		a->phys = p;
		return true;
	}
	fallocate(a->stage, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
	          a->bs);
	return false;
}

/* Depth-first walk of directory dfd (consumed). true when found. */
static bool anchor_walk(struct anchor_search *a, int dfd, int depth)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	bool found = false;

	if (!d) {
		close(dfd);
		return false;
	}
	while (!found && a->budget && (de = readdir(d))) {
		struct stat st;
		int fd;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (de->d_type == DT_DIR && depth < ANCHOR_MAX_DEPTH) {
			fd = openat(dirfd(d), de->d_name,
			            O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			                O_CLOEXEC);
			if (fd < 0)
				continue;
			if (fstat(fd, &st) < 0 || st.st_dev != a->dev) {
				close(fd);
				continue;
			}
			found = anchor_walk(a, fd, depth + 1);
			continue;
		}
		if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
			continue;
		fd = openat(dirfd(d), de->d_name,
		            O_RDONLY | O_NOFOLLOW | O_NOATIME | O_NONBLOCK |
		                O_CLOEXEC);
		if (fd < 0)
			continue;
		a->budget--;
		if (a->all) {
			if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
			    st.st_dev == a->dev)
				anchor_all(a, fd, (uint64_t)st.st_size);
			close(fd);
			continue;
		}
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    st.st_dev == a->dev &&
		    anchor_in_file(a, fd, (uint64_t)st.st_size) &&
		    anchor_clone(a, fd))
			found = true;
		close(fd);
		if (found)
			break;
	}
	closedir(d);
	return found;
}

/* Where the one block at offset off of stage sits. 0 or -errno. */
static int anchor_phys(int stage, uint64_t off, uint32_t bs, uint64_t *phys)
{
	struct rl_extent *ext;
	size_t n;
	int ret = rl_get_extents_range(stage, off, bs, &ext, &n);

	if (ret < 0)
		return ret;
	if (n != 1 || ext[0].logical > off ||
	    ext[0].logical + ext[0].length < off + bs)
		ret = -EBUSY;
	else
		*phys = ext[0].physical + (off - ext[0].logical);
	free(ext);
	return ret;
}

/* Anchor staging file stage for goal g: a block of any file in [lo, g)
 * cloned to offset 0; *phys gets where it is (FIEMAP). known: a session's
 * record of this AG (NULL: none), all/nall: the records of every AG, which
 * one walk fills when known was not walked yet. 0, -EOPNOTSUPP (no such
 * block), -errno. */
static int anchor_stage(int rootfd, int stage, uint64_t lo, uint64_t g,
                        uint64_t ag_end, uint32_t bs, uint64_t *phys,
                        struct rl_xfs_ag_anchor *known,
                        struct rl_xfs_ag_anchor *all, size_t nall,
                        uint32_t *walks)
{
	struct anchor_search a = {.lo = lo,
	                          .hi = g,
	                          .bs = bs,
	                          .budget = ANCHOR_MAX_FILES,
	                          .stage = stage};
	struct stat st;
	int d;

	if (fstat(rootfd, &st) < 0)
		return RL_NEG_ERRNO();
	a.dev = st.st_dev;
	/* In a session: one walk of the whole volume finds each AG's
	 * lowest file block that a clone can take; it anchors every goal
	 * above it (any block below the goal in its AG does). A goal at or
	 * below it has none below it (as of that walk). */
	if (known && !known->walked &&
	    !(known->have && known->phys + bs <= g)) {
		/* (a block offered below the goal anchors it without the
		 * walk: rl_place_session_hint) */
		a.lowest = true;
		a.all = all;
		a.nall = nall;
		a.agbytes = ag_end - lo;
		d = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (d < 0)
			return RL_NEG_ERRNO();
		(*walks)++;
		(void)anchor_walk(&a, d, 0);
		for (size_t i = 0; i < nall; i++)
			all[i].walked = true;
		a.lowest = false;
		a.all = NULL;
	}
	if (known && known->have && known->phys + bs <= g) {
		a.off = known->off;
		if (anchor_clone(&a, known->fd)) {
			*phys = a.phys;
			return 0;
		}
		close(known->fd); /* changed since: walk as without */
		known->have = false;
		known->walked = false;
	} else if (known && known->walked) {
		return -EOPNOTSUPP;
	}
	d = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d < 0)
		return RL_NEG_ERRNO();
	(*walks)++;
	if (!anchor_walk(&a, d, 0))
		return -EOPNOTSUPP;
	*phys = a.phys;
	return 0;
}

struct piece {
	uint64_t goal, len;
	int stage;     /* staging file, or -1 */
	uint64_t soff; /* where the piece sits in it */
	/* A written block that stays shared with a file while the
	 * placement runs (the anchor: of stage at offset 0, or the session's
	 * anchor of the AG), or src -1: the donor's own blocks for a swap
	 * are cloned from it (shift_and_swap). */
	int src;
	uint64_t src_off;
};

static void drop_stage(struct piece *p)
{
	if (p->stage < 0)
		return;
	/* Punch first: the clone into fd must not stay shared. */
	fallocate(p->stage, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
	          (off_t)(p->soff + p->len));
	close(p->stage);
	p->stage = -1;
}

/* Write zeros over [off, off+len) of fd (already allocated there). */
static int zero_fill(int fd, uint64_t off, uint64_t len)
{
	static const size_t chunk = 1 << 20;
	char *z = calloc(1, chunk);
	int ret = 0;

	if (!z)
		return -ENOMEM;
	while (len && ret == 0) {
		size_t n = len < chunk ? (size_t)len : chunk;
		ssize_t w = pwrite(fd, z, n, (off_t)off);
		if (w <= 0)
			ret = w < 0 ? RL_NEG_ERRNO() : -EIO;
		else {
			off += (uint64_t)w;
			len -= (uint64_t)w;
		}
	}
	free(z);
	return ret;
}

/* A missed piece: -EXDEV when it went to another AG (the target AG
 * refused the allocation as a whole: its free space is held back for the
 * per-AG metadata reservations, or its AGF was locked by another
 * allocation), else -EBUSY. */
static int other_ag(int stage, uint64_t off, uint64_t len, uint64_t ag_start,
                    uint64_t agbytes)
{
	struct rl_extent *ext;
	size_t n;
	int ret = rl_get_extents_range(stage, off, len, &ext, &n);

	if (ret < 0)
		return ret;
	ret = -EBUSY;
	if (n > 0 && (ext[0].physical < ag_start ||
	              ext[0].physical >= ag_start + agbytes))
		ret = -EXDEV;
	free(ext);
	return ret;
}

static int stage_own(int fd, int rootfd, uint64_t goal, uint64_t len,
                     const struct rl_xfs_fsop_geom *g, unsigned shift,
                     int *stage, uint64_t *tl, struct rl_place_report *rep,
                     struct rl_xfs_ag_anchor *keep);

/* The session's record of AG ag_start for the volume of rootfd, or
 * NULL (no session, another volume, no memory). */
static struct rl_xfs_ag_anchor *ag_anchor(struct rl_place_session *ses,
                                          int rootfd, uint64_t ag_start,
                                          const struct rl_xfs_fsop_geom *geo)
{
	uint64_t ag = ag_start / ((uint64_t)geo->agblocks * geo->blocksize);
	struct stat st;

	if (!ses || fstat(rootfd, &st) < 0)
		return NULL;
	if (ses->xfs_nag && ses->xfs_dev != st.st_dev)
		return NULL;
	if (ag >= ses->xfs_nag) {
		size_t n = geo->agcount > ag ? geo->agcount : ag + 1;
		struct rl_xfs_ag_anchor *v =
		    realloc(ses->xfs_ag, n * sizeof(*v));

		if (!v)
			return NULL;
		memset(v + ses->xfs_nag, 0, (n - ses->xfs_nag) * sizeof(*v));
		ses->xfs_ag = v;
		ses->xfs_nag = n;
		ses->xfs_dev = st.st_dev;
	}
	return &ses->xfs_ag[ag];
}

int rl_place_session_hint(struct rl_place_session *ses, int fd)
{
	struct rl_xfs_fsop_geom g;
	struct anchor_search a = {.lowest = true};
	struct stat st;
	uint64_t agbytes;

	if (!ses || fd < 0)
		return -EINVAL;
	if (fstat(fd, &st) < 0)
		return RL_NEG_ERRNO();
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	memset(&g, 0, sizeof(g));
	if (ioctl(fd, RL_XFS_IOC_FSGEOMETRY, &g) < 0)
		return 0; /* not XFS: nothing to keep */
	if (g.blocksize == 0 || g.agblocks == 0 || g.agcount == 0)
		return -EIO;
	agbytes = (uint64_t)g.agblocks * g.blocksize;
	/* the records of every AG (a volume's first placement makes them) */
	if (!ag_anchor(ses, fd, (uint64_t)(g.agcount - 1) * agbytes, &g))
		return ses->xfs_nag && ses->xfs_dev != st.st_dev ? -EXDEV
		                                                 : -ENOMEM;
	a.dev = st.st_dev;
	a.bs = g.blocksize;
	a.all = ses->xfs_ag;
	a.nall = ses->xfs_nag;
	a.agbytes = agbytes;
	anchor_all(&a, fd, (uint64_t)st.st_size);
	return 0;
}

/* Stage one piece for fd. 0, or -EBUSY (missed), -EXDEV (went to another
 * AG), -ENOSPC, -EOPNOTSUPP (no anchor reaches it), -errno. */
static int stage_piece(int fd, int rootfd, struct piece *p, uint64_t ag_start,
                       const struct rl_xfs_fsop_geom *geo, unsigned shift,
                       bool zero, struct rl_place_report *rep,
                       struct rl_place_session *ses)
{
	uint64_t anchor = 0;
	int ret;

	struct rl_xfs_ag_anchor *known = ag_anchor(ses, rootfd, ag_start, geo);
	uint32_t walks = 0;

	p->stage = rl_place_tmpfile(rootfd);
	if (p->stage < 0)
		return p->stage;
	p->soff = 0;
	p->src = -1;
	ret = anchor_stage(rootfd, p->stage, ag_start, p->goal,
	                   ag_start + (uint64_t)geo->agblocks * geo->blocksize,
	                   geo->blocksize, &anchor, known,
	                   known ? ses->xfs_ag : NULL, known ? ses->xfs_nag : 0,
	                   &walks);
	if (ses)
		ses->stats.walks += walks;
	if (ret == -EOPNOTSUPP) {
		/* No block below the goal to clone: an anchor of our own. */
		close(p->stage);
		p->stage = -1;
		ret = stage_own(fd, rootfd, p->goal, p->len, geo, shift,
		                &p->stage, &p->soff, rep, known);
		if (ret < 0)
			return ret;
		if (known && known->have) {
			p->src = known->fd;
			p->src_off = known->off;
		}
		return zero ? zero_fill(p->stage, p->soff, p->len) : 0;
	}
	rep->alloc_calls++;
	if (ret < 0)
		return ret;
	p->src = p->stage; /* the anchor, a clone: at offset 0 */
	p->src_off = 0;
	p->soff = p->goal - anchor;
	if (fallocate(p->stage, 0, (off_t)p->soff, (off_t)p->len) < 0)
		return RL_NEG_ERRNO();
	rep->alloc_calls++;
	ret = rl_place_maps_exactly(p->stage, p->soff, p->len, p->goal);
	if (ret == 0)
		return other_ag(p->stage, p->soff, p->len, ag_start,
		                (uint64_t)geo->agblocks * geo->blocksize);
	if (ret < 0)
		return ret;
	/* Clones skip unwritten extents: write the zeros. */
	return zero ? zero_fill(p->stage, p->soff, p->len) : 0;
}

static int shift_and_swap(int fd, int stage, uint64_t tl, uint64_t off,
                          uint64_t goal, uint64_t len, uint64_t size,
                          uint32_t bs, int n, bool own_made);
static void match_owner(int stage, int fd);

/* The donor's own blocks for a swap (shift_and_swap: n one-block extents,
 * one every other block from off) as clones of the block at src_off of
 * src, a block some other file keeps. Allocated ones would go where XFS
 * puts a new file's first blocks -- next to the target just placed, the
 * next target of a compaction -- and, freed with the staging file after
 * the swap, stay busy until the log commits: the next placement there
 * missed and settled (174 log forces in a compaction of 3,055 steps).
 * Clones free nothing when the staging file drops them. true when made;
 * false (nothing cloned) when a clone fails: allocated then. */
static bool own_blocks_cloned(int fd, uint64_t off, uint32_t bs, int n, int src,
                              uint64_t src_off)
{
	for (int k = 0; src >= 0 && k < n; k++) {
		struct file_clone_range r = {
		    .src_fd = src,
		    .src_offset = src_off,
		    .src_length = bs,
		    .dest_offset = off + 2 * (uint64_t)k * bs,
		};
		if (ioctl(fd, FICLONERANGE, &r) < 0) {
			if (k > 0)
				fallocate(fd,
				          FALLOC_FL_PUNCH_HOLE |
				              FALLOC_FL_KEEP_SIZE,
				          (off_t)off, (off_t)(2 * k * bs));
			return false;
		}
	}
	return src >= 0;
}

/* One attempt at placing all pieces and moving them into fd. */
static int64_t place_once(int fd, int rootfd, uint64_t off, uint64_t goal,
                          struct piece *pc, int npc, uint64_t swap_size,
                          const struct rl_xfs_fsop_geom *g, unsigned shift,
                          struct rl_place_report *rep,
                          struct rl_place_session *ses)
{
	uint64_t agbytes = (uint64_t)g->agblocks * g->blocksize;
	int64_t ret = 0;
	int i, n = 0;

	for (i = 0; i < npc && ret == 0; i++) {
		uint64_t ag_start = pc[i].goal / agbytes * agbytes;
		ret = stage_piece(fd, rootfd, &pc[i], ag_start, g, shift,
		                  !swap_size, rep, ses);
	}
	if (swap_size && ret == 0) {
		/* The swap wants the donor to hold as many extents as the
		 * staging file (an anchor of our own inside the target is
		 * written, the rest not: three), one every other block of
		 * the target (shift_and_swap): too short, clone instead. */
		n = rl_extent_count(pc[0].stage, pc[0].soff, pc[0].len);
		if (n < 0)
			ret = n;
		else if (n == 0 ||
		         (uint64_t)(2 * n - 1) * g->blocksize > pc[0].len) {
			swap_size = 0;
			ret = zero_fill(pc[0].stage, pc[0].soff, pc[0].len);
		}
	}
	if (swap_size && ret == 0) {
		/* An empty donor and one piece: swap the staging file in
		 * instead of cloning (its blocks stay unwritten, nothing is
		 * written twice). Only the target may stay in it: the
		 * anchor (a clone) goes. */
		const int punch = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
		bool own = own_blocks_cloned(fd, off, g->blocksize, n,
		                             pc[0].src, pc[0].src_off);

		if (pc[0].soff &&
		    fallocate(pc[0].stage, punch, 0, (off_t)pc[0].soff) < 0)
			ret = RL_NEG_ERRNO();
		if (ret == 0) {
			match_owner(pc[0].stage, fd);
			ret = shift_and_swap(fd, pc[0].stage, pc[0].soff, off,
			                     goal, pc[0].len, swap_size,
			                     g->blocksize, n, own);
		}
		drop_stage(&pc[0]);
		return ret;
	}
	for (i = 0; i < npc && ret == 0; i++) {
		struct file_clone_range r = {
		    .src_fd = pc[i].stage,
		    .src_offset = pc[i].soff,
		    .src_length = pc[i].len,
		    .dest_offset = off + (pc[i].goal - goal),
		};
		if (ioctl(fd, FICLONERANGE, &r) < 0)
			ret = RL_NEG_ERRNO();
	}
	for (i = 0; i < npc; i++)
		drop_stage(&pc[i]);
	return ret;
}

/* ------------------------------------------------- XFS without reflink
 *
 * Without FICLONERANGE nothing can be cloned in as an anchor, and the one
 * way to hand blocks to another file is XFS_IOC_SWAPEXT, which exchanges
 * whole data forks. So the target is built in a private staging file
 * whose data fork is then swapped with the donor's:
 *  1. a staging file whose directory is in the target AG: a directory
 *     made for the purpose under XFS_PRIVATE_DIR at the mount root (new
 *     directories rotate over the AGs; mkdir until one lands there), or
 *     the mount root itself when it is in the AG;
 *  2. one block at logical A (the AG size): the anchor P. First try: the
 *     directory and a named file in it carry the filestream flag; the
 *     filestream allocator aims a file's first block at block 0 of its
 *     directory's AG, so P is the lowest free block of the AG, at or below
 *     every free target there. (It finds the AG through the file's name,
 *     so an O_TMPFILE does not work; the name is removed, and the flag
 *     cleared, right after the anchor is allocated. Removing the
 *     directory ends its stream, so the next placement's stream can take
 *     the same AG.) Further tries: an O_TMPFILE in another new directory
 *     of the AG; its first block goes next to its inode;
 *  3. P below the goal G: n bytes at A + (G - P) (xfs_bmap_adjacent's goal
 *     past the last extent is P + distance, with no limit). P at or above
 *     G: the G..P bytes right in front of the anchor, at A - (P - G) (the
 *     goal in front of an extent is its start minus the distance as long
 *     as the distance is at most 4 times the length: here it equals the
 *     length); this needs [G, P) free and at most XFS_FRONT_MAX; then the
 *     rest behind the anchor;
 *  4. everything but the target punched; FALLOC_FL_COLLAPSE_RANGE or
 *     FALLOC_FL_INSERT_RANGE shift it (logical offsets only) to the
 *     donor's offset, the size is made the donor's new size;
 *  5. XFS_IOC_SWAPEXT with the donor as the swap's target: the kernel
 *     compares the target's timestamps with those we read before checking
 *     its contents, so a write to the donor in between makes it refuse
 *     (-EBUSY). It also wants the target to hold at least as many
 *     extents as the other file: the donor gets as many blocks of its own
 *     just before (one every other block of the range, separate
 *     extents), which the swap hands to the staging file.
 * The donor must therefore hold no blocks at all (the swap exchanges
 * everything) and be open read-write without O_APPEND: a fresh O_TMPFILE,
 * as `place` uses. A donor with blocks gets -EOPNOTSUPP, one opened
 * otherwise -EBADF. A concurrent writer of the donor makes the placement
 * fail (-EBUSY: contents or timestamps changed), as far as timestamps
 * show writes (the caveat of kernel-checked swaps: a store through a
 * page that is already mapped writable changes none; the donor has no
 * blocks, so only pages dirtied and not yet written back could be such,
 * and FIEMAP's flush write-protects them again). The blocks reach the
 * donor unwritten (reading zeros), as fallocate gives them.
 * Unreachable (-EOPNOTSUPP): targets in an AG where no directory can be
 * made (no free inode and no room for an inode chunk: a nearly full AG),
 * targets holding the staging inodes' new inode chunk (in an AG without
 * inodes the first chunk takes the first aligned free blocks next to the
 * inode btree root, later ones follow the last allocated: AGI newino;
 * the staging file's inode must stay in the AG until the swap), and, when the
 * filestream anchor fails, a goal with used space between it and every anchor
 * the tried directories give. A request crossing an AG boundary cannot be free
 * (AGs begin with their headers). A crash can leave XFS_PRIVATE_DIR (with a
 * directory and a one-block file in it): every placement on the volume removes
 * them when it starts and when it ends (only when XFS_PRIVATE_DIR is ours:
 * owned by us, 0700).
 */

/* At the mount root; documented in include/relayout/fs.h. */
#define XFS_PRIVATE_DIR ".relayout-place"
/* The filestream staging file's name while it gets its first block. */
#define XFS_STAGE_NAME "stage"
/* Most bytes allocated in front of a plain anchor to reach a goal below
 * it (punched again at once). */
#define XFS_FRONT_MAX (256ull << 20)
/* Staging directories (anchors) tried per attempt. */
#define XFS_SWAP_DIRS 4

/* Remove XFS_PRIVATE_DIR and what is in it: our own directories and
 * those of placements that died (named after their pid; a running
 * placement's are left alone, and so is XFS_PRIVATE_DIR then). */
static void private_dir_clean(int rootfd)
{
	int d = openat(rootfd, XFS_PRIVATE_DIR,
	               O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *dir;
	struct dirent *de;
	struct stat st;

	if (d < 0)
		return;
	if (fstat(d, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 077)) {
		close(d); /* not ours: leave it alone */
		return;
	}
	dir = fdopendir(d);
	if (!dir) {
		close(d);
		return;
	}
	while ((de = readdir(dir))) {
		long pid;
		int sub;

		/* d.PID.N: left alone while PID runs (a placement now). */
		if (sscanf(de->d_name, "d.%ld.", &pid) != 1 ||
		    (pid != (long)getpid() &&
		     (kill((pid_t)pid, 0) == 0 || errno != ESRCH)))
			continue;
		sub = openat(dirfd(dir), de->d_name,
		             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub >= 0) {
			unlinkat(sub, XFS_STAGE_NAME, 0);
			close(sub);
		}
		unlinkat(dirfd(dir), de->d_name, AT_REMOVEDIR);
	}
	closedir(dir);
	unlinkat(rootfd, XFS_PRIVATE_DIR, AT_REMOVEDIR);
}

/* XFS_PRIVATE_DIR, made if missing: a directory of ours (not a symlink,
 * owned by us, 0700, on this filesystem). fd or -errno. */
static int private_dir_open(int rootfd)
{
	struct stat st, rs;
	int d;

	if (mkdirat(rootfd, XFS_PRIVATE_DIR, 0700) < 0 && errno != EEXIST)
		return RL_NEG_ERRNO();
	d = openat(rootfd, XFS_PRIVATE_DIR,
	           O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d < 0)
		return RL_NEG_ERRNO();
	if (fstat(d, &st) < 0 || fstat(rootfd, &rs) < 0 ||
	    st.st_dev != rs.st_dev || st.st_uid != geteuid() ||
	    (st.st_mode & 077)) {
		close(d);
		return -EPERM;
	}
	return d;
}

/* Mark fd (a file, or a directory: new files inherit it) for the
 * filestream allocator: a file's first block then goes to the lowest free
 * block of its directory's AG (the stream's goal is AG block 0), an
 * anchor below every free target there. Best effort: FIEMAP shows where
 * the anchor really went. */
static void set_filestream(int fd)
{
	struct fsxattr fa;

	if (ioctl(fd, FS_IOC_FSGETXATTR, &fa) < 0)
		return;
	fa.fsx_xflags |= FS_XFLAG_FILESTREAM;
	ioctl(fd, FS_IOC_FSSETXATTR, &fa);
}

/* A staging file: a private O_TMPFILE with its inode in AG ag. */
struct staging {
	int fd;
	int pfd;      /* XFS_PRIVATE_DIR, or -1 */
	char dir[64]; /* its directory in XFS_PRIVATE_DIR, or "" (root) */
	bool named;   /* a named file XFS_STAGE_NAME in dir (filestream) */
};

/* The filestream staging file has its first block: drop its name and
 * the flag (later allocations take their goal from the anchor). */
static void staging_unname(struct staging *st)
{
	struct fsxattr fa;
	int d;

	if (!st->named)
		return;
	st->named = false;
	if (ioctl(st->fd, FS_IOC_FSGETXATTR, &fa) == 0) {
		fa.fsx_xflags &= ~(__u32)FS_XFLAG_FILESTREAM;
		ioctl(st->fd, FS_IOC_FSSETXATTR, &fa);
	}
	d = openat(st->pfd, st->dir,
	           O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d >= 0) {
		unlinkat(d, XFS_STAGE_NAME, 0);
		close(d);
	}
}

/* Close the staging file and remove its directory (which, with the
 * filestream flag, also ends the stream the kernel associated with it, so
 * the AG is free for the next stream). */
static void staging_drop(struct staging *st)
{
	if (st->fd >= 0) {
		staging_unname(st);
		close(st->fd);
	}
	st->fd = -1;
	if (st->dir[0])
		unlinkat(st->pfd, st->dir, AT_REMOVEDIR);
	st->dir[0] = '\0';
}

/* Make *st. *seq counts the directories tried so far (0: the mount root)
 * and goes on from there, so that the next call gives another directory
 * (and maybe another anchor). filestream: a named file in a directory of
 * ours, both marked for the filestream allocator (it finds the AG through
 * the file's name: an O_TMPFILE has none, and the stream is tied to the
 * directory, which ends it when removed). 0, -ENOENT (no directory in
 * the AG in tries), -errno. */
static int staging_make(struct staging *st, int rootfd, uint64_t ag,
                        unsigned shift, unsigned tries, unsigned *seq,
                        bool filestream)
{
	int ret = -ENOENT;

	st->fd = -1;
	st->dir[0] = '\0';
	while (ret == -ENOENT && *seq < tries) {
		unsigned i = (*seq)++;
		struct stat sb;
		int d, fd = -1;

		if (i == 0) {
			if (filestream)
				continue;
			d = dup(rootfd);
		} else {
			if (st->pfd < 0 &&
			    (st->pfd = private_dir_open(rootfd)) < 0) {
				ret = st->pfd;
				break;
			}
			snprintf(st->dir, sizeof(st->dir), "d.%ld.%u",
			         (long)getpid(), i);
			if (mkdirat(st->pfd, st->dir, 0700) < 0) {
				st->dir[0] = '\0';
				if (errno != ENOENT && errno != EEXIST) {
					ret = RL_NEG_ERRNO();
					break;
				}
				/* Removed under us: open it again. */
				close(st->pfd);
				st->pfd = -1;
				continue;
			}
			d = openat(st->pfd, st->dir,
			           O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			               O_CLOEXEC);
		}
		if (d >= 0 && fstat(d, &sb) == 0 &&
		    (sb.st_ino >> shift) == ag) {
			if (filestream) {
				set_filestream(d);
				fd = openat(d, XFS_STAGE_NAME,
				            O_RDWR | O_CREAT | O_EXCL |
				                O_NOFOLLOW | O_CLOEXEC,
				            0600);
				st->named = fd >= 0;
			} else {
				fd = rl_place_tmpfile(d);
			}
		}
		if (d >= 0)
			close(d);
		if (fd >= 0 && fstat(fd, &sb) == 0 &&
		    (sb.st_ino >> shift) == ag) {
			st->fd = fd;
			if (filestream)
				set_filestream(fd);
			ret = 0;
		} else {
			st->fd = fd;
			staging_drop(st);
		}
	}
	return ret;
}

/* With reflink: clone the anchor (offset a of st's file) into an
 * O_TMPFILE at the mount root (its inode in the root's AG) and drop st's
 * file and directory, whose inodes are in the target AG. In an AG that
 * had no inodes, their inode chunk went where XFS puts the AG's first
 * chunk, the first aligned free blocks after the AG headers, and each
 * later chunk goes right after the last one allocated (the AGI's
 * newino): both among the first free blocks of the AG, where targets
 * near the AG start lie. Once the chunk is freed (inactivation, then the
 * log commit: settle) the target around it is free again, and the
 * cloned anchor still gives the goals. 0 or -errno. */
static int anchor_move(struct staging *st, int rootfd, uint64_t a, uint32_t bs)
{
	int t = rl_place_tmpfile(rootfd), ret;
	struct file_clone_range r = {.src_fd = st->fd,
	                             .src_offset = a,
	                             .src_length = bs,
	                             .dest_offset = a};

	if (t < 0)
		return t;
	/* A clone skips unwritten blocks: write the anchor first. */
	if ((ret = zero_fill(st->fd, a, bs)) < 0 ||
	    (ioctl(t, FICLONERANGE, &r) < 0 && (ret = RL_NEG_ERRNO()) < 0)) {
		close(t);
		return ret;
	}
	close(st->fd);
	st->fd = t;
	if (st->dir[0])
		unlinkat(st->pfd, st->dir, AT_REMOVEDIR);
	st->dir[0] = '\0';
	rl_free_space_settle(t);
	return 0;
}

/* An anchor of our own (anchor_move: at the AG's first free blocks, where
 * a new directory's inode chunk went) also anchors the later goals above
 * it in the AG: its block is cloned into a file of the session's (keep,
 * when lower than what keep has), so that they clone it instead of
 * making a directory and settling the log each (an undo into an emptied
 * AG made one per step). give_up_anchors drops it when a target covers
 * it. */
static void keep_anchor(struct rl_xfs_ag_anchor *keep, int rootfd, int stage,
                        uint64_t a, uint32_t bs, uint64_t p)
{
	struct file_clone_range r = {
	    .src_fd = stage, .src_offset = a, .src_length = bs};
	uint64_t q;
	int k;

	if (!keep || (keep->have && keep->phys <= p))
		return;
	k = rl_place_tmpfile(rootfd);
	if (k < 0)
		return;
	if (ioctl(k, FICLONERANGE, &r) < 0 || anchor_phys(k, 0, bs, &q) < 0 ||
	    q != p) {
		close(k);
		return;
	}
	if (keep->have)
		close(keep->fd);
	keep->have = keep->own = true;
	keep->fd = k;
	keep->off = 0;
	keep->phys = p;
}

/* Anchors of our own that the session keeps (keep_anchor) inside [goal,
 * goal+len): given up before the target is asked for, which they would
 * otherwise make look taken (their blocks are free after a settle). */
static void give_up_anchors(struct rl_place_session *ses, int rootfd,
                            uint64_t goal, uint64_t len, uint32_t bs)
{
	struct stat st;
	bool freed = false;

	if (!ses || !ses->xfs_nag || fstat(rootfd, &st) < 0 ||
	    ses->xfs_dev != st.st_dev)
		return;
	for (size_t i = 0; i < ses->xfs_nag; i++) {
		struct rl_xfs_ag_anchor *k = &ses->xfs_ag[i];
		if (k->have && k->own && k->phys < goal + len &&
		    goal < k->phys + bs) {
			close(k->fd);
			k->have = k->own = false;
			freed = true;
		}
	}
	if (freed)
		rl_free_space_settle(rootfd);
}

/* Build the target [goal, goal+len) in the empty staging file stage: on
 * success *tl is where it sits (logically) and stage holds nothing else.
 * With reflink (rootfd >= 0) the anchor moves out of st's file first
 * (anchor_move), st->fd becoming the O_TMPFILE.
 * 0; -EOPNOTSUPP this anchor cannot reach the goal (used space between);
 * -EXDEV / -EBUSY missed (another AG / taken); -errno. */
static int stage_target(struct staging *st, int rootfd, uint64_t goal,
                        uint64_t len, uint64_t ag_lo, uint64_t agbytes,
                        uint32_t bs, uint64_t *tl, struct rl_place_report *rep,
                        struct rl_xfs_ag_anchor *keep)
{
	const int punch = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	int stage = st->fd;
	uint64_t a = agbytes; /* anchor offset: room for any distance below */
	uint64_t p, lo;
	int ret;

	if (fallocate(stage, 0, (off_t)a, (off_t)bs) < 0)
		return RL_NEG_ERRNO();
	rep->alloc_calls++;
	staging_unname(st);
	if (rootfd >= 0) {
		ret = anchor_move(st, rootfd, a, bs);
		if (ret < 0)
			return ret;
		stage = st->fd;
	}
	ret = anchor_phys(stage, a, bs, &p);
	if (ret < 0)
		return ret;
	if (p < ag_lo || p >= ag_lo + agbytes)
		return -EXDEV; /* the AG refused even one block */
	/* kept only below the goal: a block of the target must not stay
	 * shared with a file of ours */
	if (rootfd >= 0 && p + bs <= goal)
		keep_anchor(keep, rootfd, stage, a, bs, p);
	if (p + bs <= goal) {
		/* Below the goal: past the anchor, at its distance. */
		*tl = a + (goal - p);
		if (fallocate(stage, 0, (off_t)*tl, (off_t)len) < 0)
			return RL_NEG_ERRNO();
		rep->alloc_calls++;
		ret = rl_place_maps_exactly(stage, *tl, len, goal);
		if (ret == 0)
			return other_ag(stage, *tl, len, ag_lo, agbytes);
		if (ret < 0)
			return ret;
		return fallocate(stage, punch, (off_t)a, (off_t)bs) < 0
		           ? RL_NEG_ERRNO()
		           : 0;
	}
	if (p >= goal + len) {
		/* Above it: [goal, p) must be free, asked for in front
		 * (and not too much of it: it is held until punched). */
		if (p - goal > XFS_FRONT_MAX)
			return -EOPNOTSUPP;
		ret = rl_place_range_free(stage, goal, p - goal);
		if (ret <= 0)
			return ret < 0 ? ret : -EOPNOTSUPP;
	}
	*tl = a - (p - goal);
	if (p > goal) {
		if (fallocate(stage, 0, (off_t)*tl, (off_t)(p - goal)) < 0)
			return RL_NEG_ERRNO();
		rep->alloc_calls++;
	}
	if (p + bs < goal + len) {
		/* The anchor is inside the target: the rest behind it. */
		if (fallocate(stage, 0, (off_t)(a + bs),
		              (off_t)(goal + len - p - bs)) < 0)
			return RL_NEG_ERRNO();
		rep->alloc_calls++;
	}
	lo = *tl < a ? *tl : a;
	ret = rl_place_maps_exactly(stage, *tl, len, goal);
	if (ret == 0)
		return other_ag(stage, lo, bs, ag_lo, agbytes);
	if (ret < 0)
		return ret;
	/* Drop what lies beyond the target (part of the run in front, the
	 * anchor). */
	if (*tl + len < a + bs && fallocate(stage, punch, (off_t)(*tl + len),
	                                    (off_t)(a + bs - *tl - len)) < 0)
		return RL_NEG_ERRNO();
	return 0;
}

/* Exchange the data forks of target and tmp (XFS_IOC_SWAPEXT). The
 * kernel refuses (-EBUSY) when target's ctime or mtime is not what *tst
 * says, (-EFAULT) when a size is not size, (-EINVAL) when target holds
 * fewer extents than tmp. */
static int swap_forks(int target, int tmp, uint64_t size,
                      const struct stat *tst)
{
	struct rl_xfs_swapext sx;

	memset(&sx, 0, sizeof(sx));
	sx.sx_fdtarget = target;
	sx.sx_fdtmp = tmp;
	sx.sx_length = (__s64)size;
	sx.sx_stat.bs_mtime.tv_sec = tst->st_mtim.tv_sec;
	sx.sx_stat.bs_mtime.tv_nsec = (__s32)tst->st_mtim.tv_nsec;
	sx.sx_stat.bs_ctime.tv_sec = tst->st_ctim.tv_sec;
	sx.sx_stat.bs_ctime.tv_nsec = (__s32)tst->st_ctim.tv_nsec;
	if (ioctl(tmp, RL_XFS_IOC_SWAPEXT, &sx) < 0)
		return errno == ENOTTY ? -EOPNOTSUPP : RL_NEG_ERRNO();
	return 0;
}

/* Does fd hold exactly n one-block extents, at off, off + 2 bs, ...
 * (what shift_and_swap gave it)? 1, 0, -errno. */
static int holds_own_blocks(int fd, uint64_t off, uint32_t bs, int n)
{
	struct rl_extent *ext;
	size_t cnt;
	int ret = rl_get_extents(fd, &ext, &cnt);

	if (ret < 0)
		return ret;
	ret = cnt == (size_t)n;
	for (size_t k = 0; ret && k < cnt; k++)
		ret = ext[k].logical == off + 2 * k * bs && ext[k].length == bs;
	free(ext);
	return ret;
}

/* Move the target staged at tl to off, give stage the donor's new size
 * and swap it into fd. The donor is the swap's target, so the kernel
 * checks that nobody wrote to it after we looked (its timestamps); as
 * target it must hold at least as many extents as the staging file (n,
 * which holds only the target): it gets n blocks of its own first, one
 * every other block from off (separate extents), which go to the staging
 * file in the swap and are dropped with it (own_made: the caller gave
 * them already, as clones: own_blocks_cloned). A target too short for
 * them (2n - 1 blocks): -EOPNOTSUPP. */
static int shift_and_swap(int fd, int stage, uint64_t tl, uint64_t off,
                          uint64_t goal, uint64_t len, uint64_t size,
                          uint32_t bs, int n, bool own_made)
{
	struct stat st;
	int ret;

	if (tl > off && fallocate(stage, FALLOC_FL_COLLAPSE_RANGE, (off_t)off,
	                          (off_t)(tl - off)) < 0)
		return RL_NEG_ERRNO();
	if (tl < off && fallocate(stage, FALLOC_FL_INSERT_RANGE, (off_t)tl,
	                          (off_t)(off - tl)) < 0)
		return RL_NEG_ERRNO();
	if (ftruncate(stage, (off_t)size) < 0)
		return RL_NEG_ERRNO();
	ret = rl_place_maps_exactly(stage, off, len, goal);
	if (ret <= 0)
		return ret < 0 ? ret : -EIO;
	if (fstat(fd, &st) < 0)
		return RL_NEG_ERRNO();
	if (n <= 0 || (uint64_t)(2 * n - 1) * bs > len)
		return -EOPNOTSUPP;
	if ((uint64_t)st.st_size != size && ftruncate(fd, (off_t)size) < 0)
		return RL_NEG_ERRNO();
	for (int k = 0; !own_made && k < n; k++)
		if (fallocate(fd, FALLOC_FL_KEEP_SIZE,
		              (off_t)(off + 2 * (uint64_t)k * bs),
		              (off_t)bs) < 0)
			return RL_NEG_ERRNO();
	/* The timestamps first, then the contents (FIEMAP flushes): a
	 * write before this look shows in the contents, one after it in
	 * the timestamps, which the kernel compares. */
	if (fstat(fd, &st) < 0)
		return RL_NEG_ERRNO();
	ret = holds_own_blocks(fd, off, bs, n);
	if (ret <= 0)
		return ret < 0 ? ret : -EBUSY; /* written meanwhile */
	return swap_forks(fd, stage, size, &st);
}
/* Give stage fd's owner, group and project: with quotas enforced the
 * swap requires them equal (and the staged blocks are charged to whom
 * they will belong). Best effort: the swap says -EINVAL otherwise. */
static void match_owner(int stage, int fd)
{
	struct fsxattr fa, sa;
	struct stat st;

	if (fstat(fd, &st) == 0 && fchown(stage, st.st_uid, st.st_gid) < 0 &&
	    errno == EPERM)
		return;
	if (ioctl(fd, FS_IOC_FSGETXATTR, &fa) == 0 &&
	    ioctl(stage, FS_IOC_FSGETXATTR, &sa) == 0 &&
	    sa.fsx_projid != fa.fsx_projid) {
		sa.fsx_projid = fa.fsx_projid;
		ioctl(stage, FS_IOC_FSSETXATTR, &sa);
	}
}

/* Stage [goal, goal+len) (one AG) for fd in a staging file with an
 * anchor of its own: *stage gets it (an unnamed file holding just the
 * target, at *tl, owned like fd). The first staging file uses the
 * filestream allocator (anchor at the lowest free block of the AG); the
 * others plain allocation (anchor next to their inode), which reaches
 * goals above that anchor or, with free space in between, below it.
 * 0, -EOPNOTSUPP (no anchor reaches the goal, no directory in the AG),
 * -EXDEV / -EBUSY (missed), -errno. */
static int stage_own(int fd, int rootfd, uint64_t goal, uint64_t len,
                     const struct rl_xfs_fsop_geom *g, unsigned shift,
                     int *stage, uint64_t *tl, struct rl_place_report *rep,
                     struct rl_xfs_ag_anchor *keep)
{
	uint64_t agbytes = (uint64_t)g->agblocks * g->blocksize;
	uint64_t ag = goal / agbytes;
	struct staging st = {.fd = -1, .pfd = -1};
	bool reflink = g->flags & RL_XFS_FSOP_GEOM_FLAGS_REFLINK;
	unsigned seq = 0;
	int ret = -EOPNOTSUPP;

	if ((goal + len - 1) / agbytes != ag)
		return -EOPNOTSUPP;
	for (unsigned k = 0;
	     k < XFS_SWAP_DIRS && (ret == -EOPNOTSUPP || ret == -EXDEV); k++) {
		int r = staging_make(&st, rootfd, ag, shift, 2 * g->agcount + 1,
		                     &seq, k == 0);

		if (r < 0) {
			if (r != -ENOENT)
				ret = r;
			break;
		}
		if (k > 0)
			rl_free_space_settle(fd); /* what the last try freed */
		match_owner(st.fd, fd);
		if (!reflink) {
			/* The staging file keeps its inode in the AG (the
			 * swap takes its data fork): a new inode chunk in
			 * the target (an AG without inodes) stays there. */
			r = rl_place_range_free(st.fd, goal, len);
			if (r <= 0) {
				ret = r < 0 ? r : -EOPNOTSUPP;
				staging_drop(&st);
				continue;
			}
		}
		ret = stage_target(&st, reflink ? rootfd : -1, goal, len,
		                   ag * agbytes, agbytes, g->blocksize, tl, rep,
		                   keep);
		if (ret == 0) {
			*stage = st.fd; /* unnamed now: keep it */
			st.fd = -1;
		}
		staging_drop(&st);
	}
	if (st.pfd >= 0)
		close(st.pfd);
	return ret;
}

/* One attempt without reflink: single piece (one AG), staged and swapped
 * into fd. */
static int place_swap(int fd, int rootfd, uint64_t off, uint64_t goal,
                      uint64_t len, uint64_t size,
                      const struct rl_xfs_fsop_geom *g, unsigned shift,
                      struct rl_place_report *rep)
{
	uint64_t tl = 0;
	int stage = -1;
	int ret =
	    stage_own(fd, rootfd, goal, len, g, shift, &stage, &tl, rep, NULL);

	if (ret == 0) {
		ret = rl_extent_count(stage, 0, 0);
		if (ret >= 0)
			ret = shift_and_swap(fd, stage, tl, off, goal, len,
			                     size, g->blocksize, ret, false);
		close(stage);
	}
	return ret;
}

int64_t rl_place_xfs(int fd, uint64_t off, uint64_t goal, uint64_t len,
                     unsigned mode, struct rl_place_ctx *ctx)
{
	struct rl_xfs_fsop_geom g;
	struct piece pc[XFS_MAX_PIECES];
	struct stat st;
	uint64_t agbytes, pos;
	int npc = 0, rootfd, r;
	unsigned agblklog = 0, inopblog = 0, shift;
	int64_t ret = -EBUSY;
	unsigned other_ag_misses = 0;
	bool reflink, swap_in = false;
	uint64_t size;

	(void)mode;
	memset(&g, 0, sizeof(g));
	if (ioctl(fd, RL_XFS_IOC_FSGEOMETRY, &g) < 0)
		return RL_NEG_ERRNO();
	reflink = g.flags & RL_XFS_FSOP_GEOM_FLAGS_REFLINK;
	if (g.blocksize == 0 || g.agblocks == 0)
		return -EIO;
	agbytes = (uint64_t)g.agblocks * g.blocksize;
	/* AG of an inode number: ino >> (agblklog + inopblog). */
	while ((1ull << agblklog) < g.agblocks)
		agblklog++;
	while (g.inodesize && (g.inodesize << inopblog) < g.blocksize)
		inopblog++;
	shift = agblklog + inopblog;
	if (goal + len > g.datablocks * g.blocksize || goal + len < goal)
		return -EINVAL;
	for (pos = goal; pos < goal + len; npc++) {
		uint64_t end = (pos / agbytes + 1) * agbytes;

		if (npc == XFS_MAX_PIECES)
			return -E2BIG;
		if (end > goal + len)
			end = goal + len;
		pc[npc] =
		    (struct piece){.goal = pos, .len = end - pos, .stage = -1};
		pos = end;
	}
	if (fstat(fd, &st) < 0)
		return RL_NEG_ERRNO();
	size =
	    (uint64_t)st.st_size > off + len ? (uint64_t)st.st_size : off + len;
	/* The swap needs both files read-write, not append-only, and
	 * exchanges all of the donor's blocks: without reflink it is the
	 * only way (else -EBADF / -EOPNOTSUPP). With reflink an empty donor
	 * (a fresh O_TMPFILE, as `place` and transactions use) gets a
	 * one-piece target by the swap too, unwritten: the clone would need
	 * it written (zeros) first, and the data moved in later would be the
	 * second write. */
	if (!reflink || npc == 1) {
		int fl = fcntl(fd, F_GETFL);

		if (fl < 0)
			return RL_NEG_ERRNO();
		swap_in = (fl & O_ACCMODE) == O_RDWR && !(fl & O_APPEND);
		if (!reflink && !swap_in)
			return -EBADF;
		r = swap_in ? rl_extent_count(fd, 0, 0) : 0;
		if (r < 0)
			return r;
		swap_in = swap_in && r == 0;
		if (!reflink && !swap_in)
			return -EOPNOTSUPP;
	}
	rootfd = rl_place_session_root(ctx->session, fd);
	if (rootfd < 0)
		return rootfd;
	private_dir_clean(rootfd);
	give_up_anchors(ctx->session, rootfd, goal, len, g.blocksize);
	for (unsigned a = 0; a < ctx->max_attempts; a++) {
		if (rl_place_stopped(ctx)) {
			ret = -EINTR;
			break;
		}
		ctx->rep->attempts++;
		/* Recently freed extents: freed in the background, busy
		 * until the log commits. Settled (a syncfs) when the target
		 * does not show free yet, and before every later attempt
		 * (an allocation steers around busy extents): not before a
		 * first attempt at a target that shows free (a transaction's
		 * batch of placements settles once before it, and its
		 * placements free nothing: one syncfs per placement was a
		 * fifth of an aged volume's compaction). */
		r = a == 0 ? rl_place_range_free(fd, goal, len) : 0;
		if (r == 0) {
			rl_free_space_settle(fd);
			r = rl_place_range_free(fd, goal, len);
		}
		if (r <= 0) {
			/* Not free: at first sight ENOSPC, later taken. */
			ret = r < 0 ? r : a == 0 ? -ENOSPC : -EBUSY;
			break;
		}
		if (reflink)
			ret = place_once(fd, rootfd, off, goal, pc, npc,
			                 swap_in ? size : 0, &g, shift,
			                 ctx->rep, ctx->session);
		else
			ret = place_swap(fd, rootfd, off, goal, len, size, &g,
			                 shift, ctx->rep);
		if (ret == 0) {
			ret = (int64_t)len;
			break;
		}
		rl_release_range(fd, off, len, (uint64_t)st.st_size);
		if (ret == -EXDEV) {
			other_ag_misses++;
			ret = -EBUSY;
		}
		if (ret != -EBUSY)
			break;
	}
	/* Every attempt went to another AG: the free blocks of the target AG
	 * are held back by XFS (per-AG reservations), not allocatable. */
	if (ret == -EBUSY && other_ag_misses == ctx->rep->attempts)
		ret = -ENOSPC;
	private_dir_clean(rootfd);
	close(rootfd);
	return ret;
}
