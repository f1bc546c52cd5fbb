/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Exact placement on ext4.
 *
 * mballoc has no exact goal, but it can be steered:
 *  - the goal *group* of a data allocation comes from the file's nearest
 *    extent: goal = P + (L - X) when logical X maps to physical P, as long
 *    as the file is not open for write and the request ends at i_size (no
 *    preallocation, no stream allocation replacing the goal group);
 *  - with /sys/fs/ext4/<dev>/mb_order2_req at 0 every power-of-two request
 *    is served by the buddy scan of the goal group: the lowest free buddy
 *    chunk of the smallest order that fits.
 *  - a request that continues a file's extent logically (written back
 *    while the file is open for write, so that ext4_mb_normalize_request
 *    runs) gets the merge goal: the extent's last physical block + 1,
 *    which ext4_mb_find_by_goal takes when it is free for the whole
 *    normalized request. The normalized request of a large file is the
 *    aligned window of EXT4_WINDOW_BLOCKS holding it, cut at the file's
 *    neighbouring extents: a request starting right after the extent and
 *    ending on a window boundary is normalized to itself.
 * A target inside one group: in the free run holding it, take one buddy
 * chunk at or below the target start into a private O_TMPFILE: requests
 * of its size are issued steered to its group by an anchor block in the
 * same file; every request that lands below the chunk is kept as a
 * "blocker" until the chunk itself is the lowest one left of its order
 * and the next request lands on it (checked with FIEMAP). The chunk with
 * the fewest free chunks of its order below it is chosen, and the file's
 * logical offset is chosen so that the target end falls on a window
 * boundary. Then the chunk is grown to the target end with merges, one
 * request per window (claim_run, grow_right): a few requests beyond the
 * blockers, however many single blocks lie below the target. Where the
 * end cannot be put on a window boundary (a chunk near its group's end,
 * whose request's goal must stay in the group), the last merge takes the
 * whole window when the free run reaches its boundary; else blocks
 * allocated at the file's logical end of the target first (a right
 * neighbour: the normalized request is cut at the file's next allocated
 * block) keep the last merge to itself. The neighbour asks for one block
 * more than the target's free run holds: a single block would go to the
 * group's smallest free run, often the target's own unclaimed rest.
 * A target across groups is cut at group boundaries and into
 * buddy-aligned power-of-two chunks, each taken with blockers as above.
 * Non-merge requests are issued as a write through a separate write fd,
 * closed, then written back (sync_file_range) through a read-only fd;
 * writeback allocates when it starts, so with 4 KiB blocks the I/O of the
 * zeros is not waited for (FIEMAP without its sync flag). Each file
 * holds at most four extents (they stay in the inode: no extent-tree block is
 * ever allocated, near the target or elsewhere). When every chunk is held, fd's
 * range is fallocated (anywhere) and EXT4_IOC_MOVE_EXT swaps the held blocks
 * in; closing the private files then frees the blockers and the swapped-out
 * blocks. The first group of a flex group refuses power-of-two data requests
 * (CR_POWER2_ALIGNED skips it): there the best-fit scan serves them
 * (mb_order2_req off) and the chunk taken is the one at the start of the
 * free run. Single blocks always go through the first-fit scan: with
 * mb_min_to_scan/mb_max_to_scan raised it takes the group's first free
 * single-block chunk. A new file's first block goes to the first free
 * block of its goal group: an anchor that lands in the target is asked
 * again in the next group; in the last group (or a volume of one group)
 * for more blocks than the target holds, which no chunk or free run of
 * the target can serve (else every blocker below the target taken, the
 * anchor landed in the target again: EBUSY, every time); there an anchor
 * on the very block a one-block chunk request is about to take is that
 * chunk (a claim larger than a request from the start of the only free
 * run, on a volume of one group: every anchor lands on it).
 * In a placement session what its files hold at or above a placed target
 * stays taken, as spares: the blocks fd's range was fallocated on (the
 * first free blocks of its goal group: in a compaction often the next
 * target), anchors, the claimed run's tail. A later target is moved in
 * from the spares that cover it, and only the parts they do not cover are
 * claimed; an anchor that lands in the target becomes a spare and the
 * claim starts over around it. Given back, they would be allocatable
 * again only after a journal commit (rl_fs_commit).
 * The tunables are recorded durably before they are changed and restored
 * on every return (lib/fs_tunables.c).
 */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "fs_abi.h"
#include "fs_internal.h"
#include "fs_place.h"

#define EXT4_MAX_CHUNK_BLOCKS 2048 /* writeback maps at most this */
#define EXT4_MAX_REQUESTS     3000 /* per attempt, blockers included */
#define EXT4_MAX_FILE_EXTENTS 4    /* extents that fit in the inode */
#define EXT4_MAX_RESTARTS     8    /* anchors in the target, per attempt */
/* A data request of a large file is normalized to the aligned window of
 * this many blocks holding it (8 MiB with 4 KiB blocks, 2 MiB with 1 KiB),
 * cut at the file's neighbouring extents. */
#define EXT4_WINDOW_BLOCKS 2048
/* Logical block of the anchor: files up to mb_stream_req blocks (16 by
 * default) are served from the locality group's preallocation. */
#define EXT4_ANCHOR_LBLK 65536

struct sfile {
	int ro; /* read-only fd: the file is never open for write
	           while it allocates */
	int extents;
	uint64_t last_l; /* last extent: logical block, physical block, */
	uint64_t last_p; /* length in blocks */
	uint64_t last_n;
	uint64_t hi; /* end (block) of its highest extent so far */
};

struct held {
	size_t file;      /* index in e->f */
	uint64_t l, p, n; /* logical block, physical block, blocks */
};

/* The chunk loop's containers (claim_gap): chunks taken whole, of which
 * the target's pieces are cut; the latest carry over to the target's next
 * gap. A request for a container can land on another chunk of the target
 * first (a larger chunk at the target's start is split only when no chunk
 * of the requested order is left in the group, and the target's own tail
 * can hold one): kept as a container too. */
#define EXT4_MAX_CONTS 16
struct conts {
	struct held c[EXT4_MAX_CONTS];
	size_t n;
};

struct ext4_place {
	int rootfd;
	uint32_t bs;
	struct sfile *f;
	size_t nf, capf;
	uint8_t *zero;
	uint64_t nblocks; /* blocks in the filesystem */
	uint64_t first;   /* first data block, blocks per group */
	uint64_t bpg;
	bool flex_first; /* the target touches a first group of a flex group */
	bool keep;       /* a session: blockers stay after a placement */
	uint64_t ptlo, pthi; /* the placement's whole target (blocks) */
	uint64_t pphase;     /* fd's logical block - physical block over the
	                      * target, modulo blocks per page (move_in) */
	struct rl_place_report *rep;
	int (*stop)(void *arg); /* this placement's (rl_place_opts.stop) */
	void *stop_arg;
	/* A session's spares: what fd's range held before the held chunks
	 * were moved in, now in the files that hosted them (move_in). fd's
	 * range is allocated anywhere first: on the first free blocks of its
	 * goal group, often the session's next target. Given back, those
	 * blocks would be allocatable again only after a journal commit;
	 * kept, a later target they cover is moved in from them with no
	 * request at all (place_once). Physical order. */
	struct held *spare;
	size_t nspare, capspare;
};

static int mem_grow_spare(struct ext4_place *e)
{
	if (e->nspare == e->capspare) {
		size_t nc = e->capspare ? 2 * e->capspare : 16;
		struct held *v = realloc(e->spare, nc * sizeof(*v));
		if (!v)
			return -ENOMEM;
		e->spare = v;
		e->capspare = nc;
	}
	return 0;
}

static int cmp_held(const void *a, const void *b)
{
	const struct held *x = a, *y = b;

	return x->p < y->p ? -1 : x->p > y->p;
}

/* Blocks per page (1 when blocks are not smaller than a page). */
static uint64_t blocks_per_page(const struct ext4_place *e)
{
	long page = sysconf(_SC_PAGESIZE);

	return page > (long)e->bs ? (uint64_t)page / e->bs : 1;
}

static int new_sfile(struct ext4_place *e, struct sfile **out)
{
	char p[64];
	int rw, ro;

	if (e->nf == e->capf) {
		size_t nc = e->capf ? e->capf * 2 : 64;
		struct sfile *v = realloc(e->f, nc * sizeof(*v));
		if (!v)
			return -ENOMEM;
		e->f = v;
		e->capf = nc;
	}
	rw = rl_place_tmpfile(e->rootfd);
	if (rw < 0)
		return rw;
	snprintf(p, sizeof(p), "/proc/self/fd/%d", rw);
	ro = open(p, O_RDONLY | O_CLOEXEC);
	close(rw);
	if (ro < 0)
		return RL_NEG_ERRNO();
	e->f[e->nf] = (struct sfile){.ro = ro};
	*out = &e->f[e->nf++];
	return 0;
}

/* Write back [off, off + len) of fd far enough for its blocks to be
 * allocated, and read its extents (*ext, *cnt). ext4 allocates delayed
 * blocks when writeback starts, before the I/O is submitted: waiting for
 * the I/O (zeros nobody reads) is not needed, and FIEMAP without its sync
 * flag does not wait for it either. Only where writeback skipped a page
 * (one under write-out already: the range still shows delayed
 * allocation) does it wait for everything. With blocks smaller than a
 * page (wait), a request can share a page with the one before it, still
 * under write-out: its blocks in that page would be allocated apart from
 * the others, so there every request waits for its I/O. 0 or -errno. */
static int writeback(int fd, uint64_t off, uint64_t len, bool wait,
                     struct rl_extent **ext, size_t *cnt)
{
	int ret;

	if (!wait) {
		bool delayed = false;

		if (sync_file_range(fd, (off_t)off, (off_t)len,
		                    SYNC_FILE_RANGE_WRITE) < 0)
			return RL_NEG_ERRNO();
		ret = rl_get_extents_range_nosync(fd, off, len, ext, cnt);
		if (ret < 0)
			return ret;
		for (size_t i = 0; i < *cnt; i++)
			if ((*ext)[i].flags &
			    (RL_EXT_DELALLOC | RL_EXT_UNKNOWN))
				delayed = true;
		if (!delayed)
			return 0;
		free(*ext);
		*ext = NULL;
	}
	if (sync_file_range(fd, (off_t)off, (off_t)len,
	                    SYNC_FILE_RANGE_WAIT_BEFORE |
	                        SYNC_FILE_RANGE_WRITE |
	                        SYNC_FILE_RANGE_WAIT_AFTER) < 0)
		return RL_NEG_ERRNO();
	return rl_get_extents_range_nosync(fd, off, len, ext, cnt);
}

/* Issue one allocation of n blocks at logical block l of f: write zeros
 * through a separate fd, close it, write it back (writeback). *phys gets
 * where it landed
 * (first block), *contig whether it is one physical run. */
static int request(struct ext4_place *e, struct sfile *f, uint64_t l,
                   uint64_t n, bool merge, uint64_t *phys, bool *contig)
{
	char p[64];
	struct rl_extent *ext = NULL;
	size_t cnt = 0;
	int w, ret = 0;
	uint64_t off = l * e->bs, len = n * e->bs;

	if (e->stop && e->stop(e->stop_arg))
		return -EINTR;
	snprintf(p, sizeof(p), "/proc/self/fd/%d", f->ro);
	w = open(p, O_WRONLY | O_CLOEXEC);
	if (w < 0)
		return RL_NEG_ERRNO();
	for (uint64_t done = 0; done < len && ret == 0;) {
		size_t chunk =
		    (size_t)(len - done <
		                     EXT4_MAX_CHUNK_BLOCKS * (uint64_t)e->bs
		                 ? len - done
		                 : EXT4_MAX_CHUNK_BLOCKS * (uint64_t)e->bs);
		ssize_t r = pwrite(w, e->zero, chunk, (off_t)(off + done));
		if (r <= 0)
			ret = r < 0 ? RL_NEG_ERRNO() : -EIO;
		else
			done += (uint64_t)r;
	}
	/* A merge is written back while the file is open for write: then
	 * the request is normalized and gets the exact goal of a merge.
	 * Writeback allocates the blocks (delalloc); it need not wait for
	 * the journal commit an fdatasync would force (a device flush per
	 * request): the buddy bitmaps and the extent tree that the next
	 * request and FIEMAP see are updated in memory at once, and the
	 * private files never need to survive a crash. */
	if (ret == 0 && merge)
		ret =
		    writeback(w, off, len, blocks_per_page(e) > 1, &ext, &cnt);
	close(w);
	if (ret == 0 && !merge)
		ret = writeback(f->ro, off, len, blocks_per_page(e) > 1, &ext,
		                &cnt);
	e->rep->alloc_calls++;
	if (ret < 0)
		return ret;
	if (cnt == 0) {
		free(ext);
		return -EIO;
	}
	*phys = ext[0].physical + (off - ext[0].logical);
	*contig = rl_place_ext_exact(ext, cnt, off, len, *phys);
	for (size_t i = 0; i < cnt; i++)
		if ((ext[i].physical + ext[i].length) / e->bs > f->hi)
			f->hi = (ext[i].physical + ext[i].length) / e->bs;
	/* Count extents as the inode holds them (merges do not add). */
	if (!(f->extents && f->last_l + f->last_n == l &&
	      f->last_p + f->last_n == *phys / e->bs))
		f->extents += cnt;
	f->last_l = l;
	f->last_p = *phys / e->bs;
	f->last_n = n;
	free(ext);
	return 0;
}

/* Logical block at which a request in f asks for physical block gblk:
 * goal = last_p + (l - last_l). A goal below f's last extent cannot be
 * expressed; then the goal is pointed past the end of the filesystem,
 * which mballoc resets to the first data block: the scan starts at group
 * 0 and goes up, so gblk is still reached, after blockers below it. */
static uint64_t logical_for(const struct ext4_place *e, const struct sfile *f,
                            uint64_t gblk)
{
	if (f->last_p + f->last_n <= gblk)
		return f->last_l + (gblk - f->last_p);
	return f->last_l + (e->nblocks + 1 - f->last_p);
}

/* Does any block of f's logical blocks [l, l+n) lie in [tlo, thi)? 1 yes,
 * 0 no, -errno. (Right after a request: allocated, no sync needed.) */
static int maps_into(const struct ext4_place *e, const struct sfile *f,
                     uint64_t l, uint64_t n, uint64_t tlo, uint64_t thi)
{
	struct rl_extent *x;
	size_t nx;
	bool hit = false;
	int ret =
	    rl_get_extents_range_nosync(f->ro, l * e->bs, n * e->bs, &x, &nx);

	if (ret < 0)
		return ret;
	for (size_t i = 0; i < nx; i++)
		if (x[i].physical / e->bs < thi &&
		    (x[i].physical + x[i].length) / e->bs > tlo)
			hit = true;
	free(x);
	return hit;
}

/* A private file with room for one more extent (preferably one whose
 * last extent lies below gblk; only such a one when below), or a new one
 * with a one-block anchor. want: the block the caller is about to take
 * with a one-block request (else UINT64_MAX): where no group lies above
 * the target, an anchor that lands on it is that block, held (returns
 * 1: *out holds it at EXT4_ANCHOR_LBLK). */
static int host_for(struct ext4_place *e, uint64_t gblk, bool below,
                    uint64_t tlo, uint64_t thi, uint64_t want,
                    struct sfile **out)
{
	struct sfile *f = NULL, *any = NULL;
	uint64_t phys;
	bool contig;
	int ret;

	for (size_t i = e->nf; i-- > 0;) {
		f = &e->f[i];
		if (f->extents >= EXT4_MAX_FILE_EXTENTS)
			continue;
		if (f->last_p + f->last_n <= gblk) {
			*out = f;
			return 0;
		}
		if (!any)
			any = f;
	}
	if (any && !below) {
		*out = any;
		return 0;
	}
	ret = new_sfile(e, &f);
	if (ret < 0)
		return ret;
	/* Past mb_stream_req, or the locality group's preallocation serves
	 * the request wherever it is. */
	ret = request(e, f, EXT4_ANCHOR_LBLK, 1, false, &phys, &contig);
	if (ret < 0)
		return ret;
	if ((phys / e->bs >= tlo && phys / e->bs < thi) ||
	    (e->keep && phys / e->bs >= e->ptlo && phys / e->bs < e->pthi)) {
		/* The anchor took a target block: with delalloc a new file
		 * starts at the first free block of its goal group, which can
		 * be the target. Ask again with the goal reset to the start of
		 * the filesystem (the scan starts in group 0, below), then
		 * give the first block back and wait for the commit that
		 * makes it allocatable again. */
		char p[64];
		int w;
		uint64_t g = 0;

		/* When the blocks below the target are held already
		 * (earlier targets of a transaction, a session's blockers),
		 * the scan from group 0 ends on the target again: the lowest
		 * single-block buddy chunk of the group can be its last block.
		 * Then the anchor goes to the next group (requests from it
		 * scan from group 0 up: their goal lies below it). */
		/* With no group above (the last group, or a volume of one
		 * group), the scan from group 0 is all there is: then the
		 * anchor asks for more blocks than the target holds, a
		 * chunk (or, where the best-fit scan serves, a free run) of
		 * the target's own cannot serve it. */
		uint64_t next =
		    thi - 1 - (thi - 1 - e->first) % e->bpg + e->bpg;
		uint64_t n = 1, l;
		bool in_target = false;

		uint64_t first_anchor = phys / e->bs;

		/* With no group above, a new file's first block goes to the
		 * first free block of the group whatever is asked: on a
		 * volume of one group whose free space starts below the
		 * target in one run (a fresh 64 MiB ext4), the anchor asked
		 * again, for at most EXT4_MAX_CHUNK_BLOCKS, landed in a claim
		 * of more blocks than that every time (-EBUSY, every attempt).
		 * There an anchor on the very block the caller takes next is
		 * that block. */
		if (next >= e->nblocks && first_anchor == want) {
			*out = f;
			return 1;
		}
		if (next < e->nblocks)
			g = next;
		else
			while (n <= thi - tlo && n < EXT4_MAX_CHUNK_BLOCKS)
				n *= 2;
		l = logical_for(e, f, g);
		ret = request(e, f, l, n, false, &phys, &contig);
		if (ret < 0)
			return ret;
		/* In a session (4 KiB blocks), the block it took is the
		 * placement's own: kept as a spare, it is moved in with the
		 * rest, and the placement starts over around it (-EAGAIN)
		 * with no commit. */
		if (n == 1 && e->keep && blocks_per_page(e) == 1 &&
		    first_anchor >= e->ptlo && first_anchor < e->pthi &&
		    !(phys / e->bs >= e->ptlo && phys / e->bs < e->pthi) &&
		    mem_grow_spare(e) == 0) {
			e->spare[e->nspare++] =
			    (struct held){.file = (size_t)(f - e->f),
			                  .l = EXT4_ANCHOR_LBLK,
			                  .p = first_anchor,
			                  .n = 1};
			qsort(e->spare, e->nspare, sizeof(*e->spare), cmp_held);
			return -EAGAIN;
		}
		if (n > 1) {
			ret = maps_into(e, f, l, n, tlo, thi);
			if (ret < 0)
				return ret;
			in_target = ret == 1;
		}
		snprintf(p, sizeof(p), "/proc/self/fd/%d", f->ro);
		w = open(p, O_WRONLY | O_CLOEXEC);
		if (w < 0)
			return RL_NEG_ERRNO();
		ret = fallocate(w, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		                (off_t)(EXT4_ANCHOR_LBLK * (uint64_t)e->bs),
		                (off_t)e->bs) < 0
		          ? RL_NEG_ERRNO()
		          : 0;
		close(w);
		if (ret == 0)
			ret = rl_fs_commit(e->rootfd);
		if (ret < 0)
			return ret;
		if (in_target || (phys / e->bs >= tlo && phys / e->bs < thi))
			return -EBUSY;
	}
	*out = f;
	return 0;
}

/* Is [a, b) (blocks) entirely inside one extent of the free list? */
static bool blocks_free(const struct rl_free_extent *fv, size_t fn, uint32_t bs,
                        uint64_t a, uint64_t b)
{
	for (size_t i = 0; i < fn; i++)
		if (fv[i].start / bs <= a &&
		    (fv[i].start + fv[i].len) / bs >= b)
			return true;
	return false;
}

/* l (from logical_for) moved so that the file's logical-to-physical
 * offset at cblk puts physical block end on a window boundary:
 * (l - cblk + end) % EXT4_WINDOW_BLOCKS == 0. The goal moves by less
 * than a window and stays in cblk's group (only the group steers a
 * request that is not a merge); l unchanged when it cannot. */
static uint64_t align_logical(const struct ext4_place *e, const struct sfile *f,
                              uint64_t l, uint64_t cblk, uint64_t end)
{
	const uint64_t w = EXT4_WINDOW_BLOCKS;
	uint64_t s = (w - (l + end - cblk) % w) % w; /* modulo 2^64: w | 2^64 */
	uint64_t gstart = cblk - (cblk - e->first) % e->bpg;
	uint64_t goal = f->last_p + (l - f->last_l);

	if (goal != cblk)
		return l + s; /* goal past the end: stays past it */
	if (cblk + s < gstart + e->bpg)
		return l + s;
	if (s < w && cblk + s - w >= gstart &&
	    cblk + s - w >= f->last_p + f->last_n)
		return l + s - w;
	return l;
}

/* Blocks of f from logical block l, allocated anywhere but in [tlo, thi)
 * (a right neighbour: mballoc cuts a normalized request at the file's
 * next allocated block). One block would be served by the first-fit scan
 * of the goal group (the goal follows from f's last extent: thi, in the
 * target's group), which takes the group's smallest free run near its
 * start: often the unclaimed rest of the target itself, every time. So
 * the neighbour asks for one block more than the free run [tlo, runend)
 * holds: no part of that run can serve it. f's last extent stays what
 * grow_right continues. -EBUSY when a block landed in [tlo, thi). */
static int right_neighbour(struct ext4_place *e, struct sfile *f, uint64_t l,
                           uint64_t tlo, uint64_t thi, uint64_t runend)
{
	uint64_t ll = f->last_l, lp = f->last_p, ln = f->last_n, phys;
	uint64_t n = runend > tlo ? runend - tlo + 1 : 1;
	bool contig;
	int ret = request(e, f, l, n, false, &phys, &contig);

	f->last_l = ll;
	f->last_p = lp;
	f->last_n = ln;
	if (ret < 0)
		return ret;
	if (contig)
		return phys / e->bs < thi && phys / e->bs + n > tlo ? -EBUSY
		                                                    : 0;
	ret = maps_into(e, f, l, n, tlo, thi);
	return ret < 0 ? ret : ret == 1 ? -EBUSY : 0;
}

/* Grow f's last extent (physically followed by free blocks up to runend)
 * up to physical block end. Each request continues the last extent
 * logically and ends on a window boundary or at end (aligned by
 * align_logical): its normalized window is exactly the request, and
 * mballoc's merge goal (ext4_mb_normalize_request: left neighbour's last
 * block + 1, taken by ext4_mb_find_by_goal when free for the whole
 * length) is exactly the next block. When the end could not be aligned
 * (a chunk near its group's end: the goal of its request had to stay in
 * the group), the last request takes the whole window where the free run
 * reaches its boundary (blocks past end: spares in a session, given back
 * otherwise), else a right neighbour at the end cuts the window there.
 * -EBUSY when a block went elsewhere (taken meanwhile). */
static int grow_right(struct ext4_place *e, struct sfile *f, uint64_t end,
                      uint64_t runend)
{
	while (f->last_p + f->last_n < end) {
		uint64_t l = f->last_l + f->last_n, p = f->last_p + f->last_n;
		uint64_t m = EXT4_WINDOW_BLOCKS - l % EXT4_WINDOW_BLOCKS;
		uint64_t phys;
		bool contig;
		int ret;

		if (m > end - p && p + m > runend) {
			m = end - p;
			if (f->extents + 1 < EXT4_MAX_FILE_EXTENTS &&
			    (ret = right_neighbour(e, f, l + m, p, end,
			                           runend)) < 0)
				return ret;
		}
		ret = request(e, f, l, m, true, &phys, &contig);
		if (ret < 0)
			return ret;
		if (phys / e->bs != p || !contig)
			return -EBUSY;
	}
	return 0;
}

/* Blocks smaller than a page: EXT4_IOC_MOVE_EXT moves a held chunk into
 * fd only at the same block within a page on both sides (move_in). A
 * chunk requested at logical block l for physical cblk (l's goal) lands
 * on the page phase l - cblk; the placement wants e->pphase. Move l up
 * to it: the goal moves up by as much (under a page), which changes
 * nothing while it stays in cblk's group -- a request that does not
 * merge is not normalized (the private files are not open for write),
 * so mballoc takes only the goal's group from it, not the block.
 * (Measured on groups.sh's volume, 1 KiB blocks: a target across groups
 * refused here with -EOPNOTSUPP 42 times in 80 compactions; 12 of them
 * needed a second transaction. None since.) */
static uint64_t phase_logical(const struct ext4_place *e, uint64_t l,
                              uint64_t cblk)
{
	uint64_t bpp = blocks_per_page(e);
	uint64_t d = (e->pphase + cblk % bpp + bpp - l % bpp) % bpp;
	uint64_t gstart = cblk - (cblk - e->first) % e->bpg;

	return cblk + d < gstart + e->bpg ? l + d : l;
}

/* Take the buddy chunk [cblk, cblk+n) into a private file: *h gets where
 * it is held. Requests of its size land on the lowest chunk of that order
 * in the group; those below it are kept as blockers. The target is
 * [tlo, thi): any request hitting it elsewhere than at cblk is -EBUSY. */
static int take_chunk(struct ext4_place *e, uint64_t cblk, uint64_t n,
                      uint64_t tlo, uint64_t thi, uint64_t align_end,
                      struct held *h, struct conts *early, unsigned *budget)
{
	bool checked = false;

	while (*budget > 0) {
		struct sfile *f = NULL;
		uint64_t phys, l, pb;
		bool contig;
		int ret;

		(*budget)--;
		/* With a file ending a window below cblk, align_logical can
		 * move the goal either way. */
		ret = host_for(
		    e,
		    align_end && cblk - e->first >= EXT4_WINDOW_BLOCKS
		        ? cblk - EXT4_WINDOW_BLOCKS
		        : cblk,
		    align_end != 0, tlo, thi, n == 1 ? cblk : UINT64_MAX, &f);
		if (ret < 0)
			return ret;
		if (ret == 1) { /* its anchor is the chunk */
			*h = (struct held){.file = (size_t)(f - e->f),
			                   .l = EXT4_ANCHOR_LBLK,
			                   .p = cblk,
			                   .n = 1};
			return 0;
		}
		l = logical_for(e, f, cblk);
		if (align_end)
			l = align_logical(e, f, l, cblk, align_end);
		else
			l = phase_logical(e, l, cblk);
		ret = request(e, f, l, n, false, &phys, &contig);
		if (ret < 0)
			return ret;
		pb = phys / e->bs;
		if (pb == cblk && contig) {
			*h = (struct held){.file = (size_t)(f - e->f),
			                   .l = l,
			                   .p = pb,
			                   .n = n};
			return 0;
		}
		if (pb < thi && pb + n > tlo) {
			/* another chunk of the target: a container too */
			if (early && contig && early->n < EXT4_MAX_CONTS) {
				early->c[early->n++] =
				    (struct held){.file = (size_t)(f - e->f),
				                  .l = l,
				                  .p = pb,
				                  .n = n};
				continue;
			}
			return -EBUSY; /* a part of the target went elsewhere */
		}
		/* A blocker: keep it, the next request goes higher. At the
		 * first, is the chunk still free? After a request for the
		 * blocks just below it, a block can stay unallocatable until
		 * the next journal commit (measured on an aged volume: the
		 * target's last block, after requests for the blocks below;
		 * free again after a commit). Every request of the chunk's size
		 * then lands elsewhere and the budget goes on blockers (3,000
		 * requests, then the placement failed). Commit once; still
		 * not free, the chunk was taken: -EBUSY (planned again). */
		if (!checked) {
			checked = true;
			ret = rl_place_range_free(e->rootfd, cblk * e->bs,
			                          n * e->bs);
			if (ret == 0) {
				rl_fs_commit(e->rootfd);
				ret = rl_place_range_free(
				    e->rootfd, cblk * e->bs, n * e->bs);
			}
			if (ret <= 0)
				return ret < 0 ? ret : -EBUSY;
		}
	}
	return -EOPNOTSUPP; /* too many chunks of this order below it */
}

/* /sys/fs/ext4/ name of the device holding fd ("loop3"). */
static int sysfs_name(int fd, char *buf, size_t size)
{
	struct stat st;
	char link[128], target[512];
	ssize_t n;

	if (fstat(fd, &st) < 0)
		return RL_NEG_ERRNO();
	snprintf(link, sizeof(link), "/sys/dev/block/%u:%u", major(st.st_dev),
	         minor(st.st_dev));
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return RL_NEG_ERRNO();
	target[n] = '\0';
	const char *b = strrchr(target, '/');
	b = b ? b + 1 : target;
	if (strlen(b) >= size)
		return -ENAMETOOLONG;
	memcpy(buf, b, strlen(b) + 1);
	return 0;
}

static void release_files(struct ext4_place *e)
{
	for (size_t i = 0; i < e->nf; i++)
		close(e->f[i].ro);
	e->nf = 0;
	e->nspare = 0;
}

/* Drop spare k from the list (its blocks stay where they are). */
static void spare_remove(struct ext4_place *e, size_t k)
{
	memmove(&e->spare[k], &e->spare[k + 1],
	        (e->nspare - k - 1) * sizeof(*e->spare));
	e->nspare--;
}

/* Is [lo, hi) of file i's logical blocks inside one of its spares? */
static bool in_spare(const struct ext4_place *e, size_t i, uint64_t lo,
                     uint64_t hi)
{
	for (size_t k = 0; k < e->nspare; k++)
		if (e->spare[k].file == i && e->spare[k].l <= lo &&
		    hi <= e->spare[k].l + e->spare[k].n)
			return true;
	return false;
}

/* Move the held chunks into fd at off. */
static int move_in(struct ext4_place *e, int fd, uint64_t off, uint64_t goal,
                   uint64_t len, const struct held *h, size_t nh)
{
	uint64_t bpp = blocks_per_page(e);

	/* EXT4_IOC_MOVE_EXT refuses (-EINVAL) offsets at different blocks
	 * within a page (blocks smaller than a page). */
	for (size_t i = 0; i < nh; i++)
		if (((off + (h[i].p * e->bs - goal)) / e->bs - h[i].l) % bpp)
			return -EOPNOTSUPP;
	struct rl_extent *fx = NULL;
	size_t nfx = 0;

	if (fallocate(fd, 0, (off_t)off, (off_t)len) < 0)
		return RL_NEG_ERRNO();
	/* where fd's range went: the spares once the chunks are in */
	if (e->keep && rl_get_extents_range(fd, off, len, &fx, &nfx) < 0)
		nfx = 0;
	for (size_t i = 0; i < nh; i++) {
		char p[64];
		int w;

		snprintf(p, sizeof(p), "/proc/self/fd/%d", e->f[h[i].file].ro);
		w = open(p, O_RDWR | O_CLOEXEC);
		if (w < 0)
			return RL_NEG_ERRNO();
		struct rl_ext4_move_extent me = {
		    .donor_fd = (uint32_t)w,
		    .orig_start = (off + (h[i].p * e->bs - goal)) / e->bs,
		    .donor_start = h[i].l,
		    .len = h[i].n,
		};
		int r = ioctl(fd, RL_EXT4_IOC_MOVE_EXT, &me);
		int err = r < 0 ? RL_NEG_ERRNO() : 0;
		close(w);
		if (err == 0 && me.moved_len != h[i].n)
			err = -EBUSY;
		if (err < 0) {
			free(fx);
			return err;
		}
	}
	for (size_t i = 0; i < nh; i++) {
		uint64_t o = (off + (h[i].p * e->bs - goal)) / e->bs;

		for (size_t k = 0; k < nfx; k++) {
			uint64_t xl = fx[k].logical / e->bs;
			uint64_t a = xl > o ? xl : o;
			uint64_t b = xl + fx[k].length / e->bs;

			if (b > o + h[i].n)
				b = o + h[i].n;
			if (a >= b)
				continue;
			if (mem_grow_spare(e) < 0)
				break; /* given back by the trim, as before */
			e->spare[e->nspare++] = (struct held){
			    .file = h[i].file,
			    .l = h[i].l + (a - o),
			    .p = fx[k].physical / e->bs + (a - xl),
			    .n = b - a};
		}
	}
	free(fx);
	if (e->nspare > 1)
		qsort(e->spare, e->nspare, sizeof(*e->spare), cmp_held);
	return 0;
}

/* The free run of fv holding block blk: [*a, *b). false if none. */
static bool run_of(const struct rl_free_extent *fv, size_t fn, uint32_t bs,
                   uint64_t blk, uint64_t *a, uint64_t *b)
{
	for (size_t i = 0; i < fn; i++) {
		uint64_t s = fv[i].start / bs,
		         t = (fv[i].start + fv[i].len) / bs;
		if (s <= blk && blk < t) {
			*a = s;
			*b = t;
			return true;
		}
	}
	return false;
}

/* Claim the free run [A, B) holding the target (clipped to its group)
 * up to thi, from a buddy chunk at or below tlo: take the chunk with
 * blockers (take_chunk), then grow it to thi with merges (grow_right).
 * Requests of a chunk's order land on the lowest free chunk of that order
 * in the group, so each chunk of its order below it costs a blocker: the
 * chunk with the fewest is chosen. In the first group of a flex group, where
 * the best-fit scan serves the requests (the first piece of the requested
 * length from the group's first free block), the chunk at A.
 * *h gets [tlo, thi). -ERANGE before any request when no chunk fits. */
static int claim_run(struct ext4_place *e, uint64_t tlo, uint64_t thi,
                     uint64_t olblk, const struct rl_free_extent *fv, size_t fn,
                     struct held *h)
{
	uint64_t a, b, gstart, gend, end, best = 0, bestcost = UINT64_MAX;
	uint64_t below[64] = {0};
	unsigned bestk = 0, maxk = 1, budget = EXT4_MAX_REQUESTS;
	struct held c;
	int ret;

	if (!run_of(fv, fn, e->bs, tlo, &a, &b) || b < thi)
		return -EBUSY; /* no longer free */
	while ((1u << maxk) < e->bs)
		maxk++;
	maxk++; /* largest buddy order: log2(block size) + 1 */
	gstart = tlo - (tlo - e->first) % e->bpg;
	gend = gstart + e->bpg;
	a = a > gstart ? a : gstart;
	b = b < gend ? b : gend;
	/* With no group above, a new private file's first block (its
	 * anchor) lands on the group's first free block whatever is asked
	 * (host_for): with the best-fit scan serving from the run's start,
	 * at the chunk's first block, which the chunk's request then misses
	 * (-EBUSY every attempt: a 64 MiB volume of one group, its free run
	 * starting on a 4-block boundary). Where the run's start is the
	 * group's first free block the chunk is that one block: the anchor
	 * is the chunk (host_for), grown to the target's end. */
	bool anchor_chunk = e->flex_first && gend >= e->nblocks;
	for (size_t i = 0; i < fn && anchor_chunk; i++)
		if (fv[i].start / e->bs < a &&
		    (fv[i].start + fv[i].len) / e->bs > gstart)
			anchor_chunk = false; /* free blocks below it */
	for (size_t i = 0; i < fn; i++) {
		uint64_t s = fv[i].start / e->bs;
		uint64_t t = (fv[i].start + fv[i].len) / e->bs;

		s = s > gstart ? s : gstart;
		t = t < gend ? t : gend;
		while (s < t && s <= tlo) {
			unsigned k = 0;
			uint64_t cost;

			while (k < maxk && (s - gstart) % (2ull << k) == 0 &&
			       s + (2ull << k) <= t &&
			       !(anchor_chunk && s == a))
				k++;
			cost = below[k];
			if (s >= a && (1ull << k) <= EXT4_MAX_CHUNK_BLOCKS &&
			    (e->flex_first ? s == a : cost < bestcost)) {
				best = s;
				bestk = k;
				bestcost = cost;
			}
			below[k]++;
			s += 1ull << k;
		}
	}
	if (bestcost == UINT64_MAX)
		return -ERANGE;
	{
		/* EXT4_IOC_MOVE_EXT wants fd's and the donor's offsets at the
		 * same block within a page. The donor's follows from the
		 * window alignment of the end: when blocks are smaller than a
		 * page, the run is claimed a few blocks past the target. */
		uint64_t bpp = blocks_per_page(e);

		end = thi + (bpp - (thi - tlo + olblk) % bpp) % bpp;
		if (end > b)
			return -ERANGE;
	}
	/* On an idle volume exactly bestcost blockers are needed. Many more
	 * means others allocate and free below the chunk meanwhile: give up
	 * this attempt (-EBUSY, retried with a fresh free map). */
	if (bestcost >= EXT4_MAX_REQUESTS)
		return -EOPNOTSUPP;
	if (2 * bestcost + 64 < budget)
		budget = (unsigned)(2 * bestcost + 64);
	ret = take_chunk(e, best, 1ull << bestk, best, end, end, &c, NULL,
	                 &budget);
	if (ret == -EOPNOTSUPP && budget == 0 &&
	    2 * bestcost + 64 < EXT4_MAX_REQUESTS)
		ret = -EBUSY;
	if (ret < 0)
		return ret;
	ret = grow_right(e, &e->f[c.file], end, b);
	if (ret < 0)
		return ret;
	*h = (struct held){
	    .file = c.file, .l = c.l + (tlo - best), .p = tlo, .n = thi - tlo};
	return 0;
}

/* In a session, after a placement at [tlo, ...): a later placement of
 * the session is for a target above this one (transactions place in
 * address order). Its files' blocks below tlo stay as they are
 * (blockers, anchors below). What they hold at or above tlo -- what fd
 * had there before the held chunks were moved in (allocated anywhere,
 * often on a later target), the claimed run's tail, anchors (a new
 * file's first block lands on the first free block of its goal group,
 * which can be a later target) -- becomes spares: a later target they
 * cover in whole or in part is moved in from them (place_once)
 * with no request and no wait for a commit, which a block
 * given back would need. With blocks smaller than a page those are given
 * back instead (spares rarely have the page offsets EXT4_IOC_MOVE_EXT
 * wants). A file with blocks at or above tlo takes no more requests (its
 * last extent no longer steers them). */
static int trim_session(struct ext4_place *e, uint64_t tlo)
{
	bool spare_all = blocks_per_page(e) == 1, sorted = true;

	for (size_t i = 0; i < e->nf; i++) {
		struct sfile *f = &e->f[i];
		struct rl_extent *x = NULL;
		size_t n = 0;
		char p[64];
		int w, r;

		if (f->hi <= tlo)
			continue;
		f->extents = EXT4_MAX_FILE_EXTENTS + 1; /* spent */
		f->hi = 0;
		r = rl_get_extents(f->ro, &x, &n);
		if (r < 0)
			return r;
		snprintf(p, sizeof(p), "/proc/self/fd/%d", f->ro);
		w = open(p, O_WRONLY | O_CLOEXEC);
		if (w < 0) {
			free(x);
			return RL_NEG_ERRNO();
		}
		for (size_t k = 0; k < n && r == 0; k++) {
			uint64_t pe = (x[k].physical + x[k].length) / e->bs;

			if (pe <= tlo) {
				if (pe > f->hi)
					f->hi = pe;
				continue; /* below the target: kept */
			}
			uint64_t xl = x[k].logical / e->bs,
			         xh = (x[k].logical + x[k].length) / e->bs;
			if (in_spare(e, i, xl, xh))
				continue; /* kept for a later target */
			/* spares in it (it reaches beyond them) go too */
			for (size_t q = 0; q < e->nspare;)
				if (e->spare[q].file == i &&
				    e->spare[q].l < xh &&
				    e->spare[q].l + e->spare[q].n > xl)
					spare_remove(e, q);
				else
					q++;
			/* with blocks as large as a page, kept whole as a
			 * spare: given back, it would be allocatable again
			 * only after a commit, and it is often a later
			 * target (or next to one) */
			if (spare_all && mem_grow_spare(e) == 0) {
				e->spare[e->nspare++] =
				    (struct held){.file = i,
				                  .l = xl,
				                  .p = x[k].physical / e->bs,
				                  .n = xh - xl};
				sorted = false;
				continue;
			}
			if (fallocate(
			        w, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			        (off_t)x[k].logical, (off_t)x[k].length) < 0)
				r = RL_NEG_ERRNO();
		}
		close(w);
		free(x);
		if (r < 0)
			return r;
	}
	if (!sorted && e->nspare > 1)
		qsort(e->spare, e->nspare, sizeof(*e->spare), cmp_held);
	return 0;
}

/* In a session, after the held chunks h went into fd: the files that
 * hosted them are trimmed with the rest (trim_session). */
static void after_move_in(struct ext4_place *e, uint64_t tlo,
                          const struct held *h, size_t nh)
{
	for (size_t i = 0; i < nh; i++)
		e->f[h[i].file].hi = UINT64_MAX; /* hosts: trimmed */
	if (trim_session(e, tlo) < 0)
		release_files(e); /* the placement stands; the
		                     session starts over */
}

static int grow_held(struct held **h, size_t *nh, size_t *caph)
{
	if (*nh == *caph) {
		struct held *v = realloc(*h, 2 * *caph * sizeof(**h));
		if (!v)
			return -ENOMEM;
		*h = v;
		*caph *= 2;
	}
	return 0;
}

/* The container of k holding [lo, hi), or NULL. */
static const struct held *cont_find(const struct conts *k, uint64_t lo,
                                    uint64_t hi)
{
	for (size_t i = k->n; i-- > 0;)
		if (lo >= k->c[i].p && hi <= k->c[i].p + k->c[i].n)
			return &k->c[i];
	return NULL;
}

/* Claim [lo, hi) (blocks, free in fv) into held pieces appended to *h:
 * claim_run when it lies in one group; else (or when no chunk of its
 * free run fits) cut at group boundaries into buddy-aligned power-of-two
 * chunks, each taken as part of its container: the largest free
 * buddy-aligned block around it (at most EXT4_MAX_CHUNK_BLOCKS), which is
 * what a request of that order gets. The containers (*k) carry over to
 * the target's next gap, which may lie in one. olblk: fd's logical block
 * at lo. */
static int claim_gap(struct ext4_place *e, uint64_t lo, uint64_t hi,
                     uint64_t olblk, const struct rl_free_extent *fv, size_t fn,
                     struct held **h, size_t *nh, size_t *caph,
                     unsigned *budget, struct conts *k)
{
	uint64_t bs = e->bs, first = e->first, bpg = e->bpg;
	bool one_group = (lo - first) / bpg == (hi - 1 - first) / bpg;
	const struct held *cont;
	int ret = 0;

	/* inside a container an earlier gap of the target took */
	if ((cont = cont_find(k, lo, hi))) {
		if (grow_held(h, nh, caph) < 0)
			return -ENOMEM;
		(*h)[(*nh)++] = (struct held){.file = cont->file,
		                              .l = cont->l + (lo - cont->p),
		                              .p = lo,
		                              .n = hi - lo};
		return 0;
	}
	if (one_group) {
		if (grow_held(h, nh, caph) < 0)
			return -ENOMEM;
		ret = claim_run(e, lo, hi, olblk, fv, fn, &(*h)[*nh]);
		if (ret == 0) {
			(*nh)++;
			return 0;
		}
		if (ret != -ERANGE)
			return ret;
		ret = 0; /* no chunk to start from: chunks as below */
	}
	for (uint64_t b = lo; b < hi && ret == 0;) {
		uint64_t rel = (b - first) % bpg;
		uint64_t gend = b - rel + bpg;
		uint64_t n = EXT4_MAX_CHUNK_BLOCKS;

		while (n > 1 && (rel % n || b + n > hi || b + n > gend))
			n /= 2;
		if (!(cont = cont_find(k, b, b + n))) {
			/* grow to the container */
			uint64_t cs = b, cn = n;
			struct held c;

			while (cn < EXT4_MAX_CHUNK_BLOCKS) {
				uint64_t crel = (cs - first) % bpg;
				uint64_t ps = cs - crel % (2 * cn);
				if (ps + 2 * cn > gend ||
				    !blocks_free(fv, fn, (uint32_t)bs, ps,
				                 ps + 2 * cn))
					break;
				cs = ps;
				cn *= 2;
			}
			size_t k0 = k->n;
			uint64_t ra, rb;

			ret = take_chunk(e, cs, cn, e->ptlo, e->pthi, 0, &c, k,
			                 budget);
			if (ret < 0)
				break;
			/* The gap's first container, in one group, nothing
			 * of the gap taken besides: grow it to the gap's end
			 * with merges (a request per window, as claim_run)
			 * instead of cutting the rest into chunks, each with
			 * blockers of its own order (thousands, for a large
			 * target ending in small ones). */
			if (b == lo && k->n == k0 && cs + cn < hi &&
			    one_group &&
			    e->f[c.file].extents + 1 < EXT4_MAX_FILE_EXTENTS &&
			    run_of(fv, fn, (uint32_t)bs, lo, &ra, &rb) &&
			    rb >= hi) {
				ret = grow_right(e, &e->f[c.file], hi,
				                 rb < gend ? rb : gend);
				if (ret < 0)
					break;
				if (grow_held(h, nh, caph) < 0)
					return -ENOMEM;
				(*h)[(*nh)++] =
				    (struct held){.file = c.file,
				                  .l = c.l + (lo - cs),
				                  .p = lo,
				                  .n = hi - lo};
				return 0;
			}
			if (k->n == EXT4_MAX_CONTS) /* the oldest goes */
				memmove(k->c, k->c + 1,
				        (--k->n) * sizeof(*k->c));
			k->c[k->n++] = c;
			cont = &k->c[k->n - 1];
		}
		if (grow_held(h, nh, caph) < 0)
			return -ENOMEM;
		(*h)[(*nh)++] = (struct held){.file = cont->file,
		                              .l = cont->l + (b - cont->p),
		                              .p = b,
		                              .n = n};
		b += n;
	}
	return ret;
}

/* Move the spares (or their parts) inside [tlo, thi) out of the list
 * into held pieces appended to *h; what lies outside stays spare. */
static int spares_take(struct ext4_place *e, uint64_t tlo, uint64_t thi,
                       struct held **h, size_t *nh, size_t *caph)
{
	for (size_t k = 0; k < e->nspare;) {
		struct held s = e->spare[k];
		uint64_t a = s.p > tlo ? s.p : tlo;
		uint64_t b = s.p + s.n < thi ? s.p + s.n : thi;

		if (a >= b) {
			k++;
			continue;
		}
		if (grow_held(h, nh, caph) < 0)
			return -ENOMEM;
		(*h)[(*nh)++] = (struct held){
		    .file = s.file, .l = s.l + (a - s.p), .p = a, .n = b - a};
		spare_remove(e, k);
		if (b < s.p + s.n && mem_grow_spare(e) == 0)
			e->spare[e->nspare++] =
			    (struct held){.file = s.file,
			                  .l = s.l + (b - s.p),
			                  .p = b,
			                  .n = s.p + s.n - b};
		if (a > s.p && mem_grow_spare(e) == 0)
			e->spare[e->nspare++] = (struct held){
			    .file = s.file, .l = s.l, .p = s.p, .n = a - s.p};
	}
	if (e->nspare > 1)
		qsort(e->spare, e->nspare, sizeof(*e->spare), cmp_held);
	return 0;
}

/* The parts of [tlo, thi) that no spare covers, one after the other:
 * *lo, *hi from *k (start at 0) on; false when there are no more. */
static bool next_gap(const struct ext4_place *e, uint64_t tlo, uint64_t thi,
                     size_t *k, uint64_t *cur, uint64_t *lo, uint64_t *hi)
{
	if (*cur < tlo)
		*cur = tlo;
	while (*cur < thi) {
		uint64_t sa = thi, sb = thi;

		while (*k < e->nspare &&
		       e->spare[*k].p + e->spare[*k].n <= *cur)
			(*k)++;
		if (*k < e->nspare && e->spare[*k].p < thi) {
			sa = e->spare[*k].p;
			sb = sa + e->spare[*k].n;
		}
		if (sa > *cur) {
			*lo = *cur;
			*hi = sa;
			*cur = sa;
			return true;
		}
		*cur = sb; /* a spare covers cur */
	}
	return false;
}

/* One attempt: the parts of the target that the session's spares do not
 * cover are claimed (claim_gap), then everything is moved in. -EAGAIN
 * when an anchor landed in the target (now a spare, as is what the
 * attempt held so far): start over around it. */
static int place_once(struct ext4_place *e, int fd, uint64_t off, uint64_t goal,
                      uint64_t len, uint64_t gsize, uint64_t first)
{
	uint64_t bs = e->bs, tlo = goal / bs, thi = (goal + len) / bs;
	uint64_t bpg = gsize / bs, cur = tlo, lo, hi;
	struct rl_free_extent *fv = NULL;
	size_t fn = 0, nh = 0, caph = 64, k = 0;
	struct held *h = calloc(caph, sizeof(*h));
	struct conts ck = {.n = 0}; /* the chunk loop's containers */
	bool have_fv = false;
	unsigned budget = EXT4_MAX_REQUESTS;
	int ret;

	if (!h)
		return -ENOMEM;
	e->first = first;
	e->bpg = bpg;
	e->ptlo = tlo;
	e->pthi = thi;
	{
		uint64_t bpp = blocks_per_page(e);

		e->pphase = (off / bs % bpp + bpp - tlo % bpp) % bpp;
	}
	ret = 0;
	/* (a target the spares cover whole needs no free list) */
	while (ret == 0 && next_gap(e, tlo, thi, &k, &cur, &lo, &hi)) {
		if (!have_fv) {
			uint64_t g0 = first + (tlo - first) / bpg * bpg;
			uint64_t g1 =
			    first + ((thi - 1 - first) / bpg + 1) * bpg;
			/* nothing decides on free space further up than a
			 * chunk container past the target's end (claim_gap)
			 * or the last merge window (grow_right) reaches; a
			 * run cut here reaches past that window, so it never
			 * sizes a right neighbour */
			if (g1 > thi + 2 * EXT4_WINDOW_BLOCKS)
				g1 = thi + 2 * EXT4_WINDOW_BLOCKS;
			ret =
			    rl_place_free_list(fd, g0 * bs, g1 * bs, &fv, &fn);
			have_fv = ret == 0;
			if (ret < 0)
				break;
		}
		ret = claim_gap(e, lo, hi, off / bs + (lo - tlo), fv, fn, &h,
		                &nh, &caph, &budget, &ck);
	}
	free(fv);
	if (ret == -EAGAIN) {
		/* what is held so far waits as spares for the next try */
		for (size_t i = 0; i < nh && mem_grow_spare(e) == 0; i++)
			e->spare[e->nspare++] = h[i];
		if (e->nspare > 1)
			qsort(e->spare, e->nspare, sizeof(*e->spare), cmp_held);
	}
	if (ret == 0)
		ret = spares_take(e, tlo, thi, &h, &nh, &caph);
	if (ret == 0)
		ret = move_in(e, fd, off, goal, len, h, nh);
	if (ret == 0 && e->keep)
		after_move_in(e, goal / bs, h, nh);
	free(h);
	return ret;
}

/* Are the parts of [goal, goal + len) that no spare covers free (to
 * GETFSMAP)? 1 yes, 0 no, or -errno. */
static int gaps_free(const struct ext4_place *e, int fd, uint64_t goal,
                     uint64_t len)
{
	uint64_t tlo = goal / e->bs, thi = (goal + len) / e->bs, cur = tlo;
	uint64_t lo, hi;
	size_t k = 0;
	int r = 1;

	while (r == 1 && next_gap(e, tlo, thi, &k, &cur, &lo, &hi))
		r = rl_place_range_free(fd, lo * e->bs, (hi - lo) * e->bs);
	return r;
}

/* Give spare k back (punched from its file) and drop it. */
static int spare_drop(struct ext4_place *e, size_t k)
{
	char p[64];
	int w, r = 0;

	snprintf(p, sizeof(p), "/proc/self/fd/%d", e->f[e->spare[k].file].ro);
	w = open(p, O_WRONLY | O_CLOEXEC);
	if (w < 0)
		r = RL_NEG_ERRNO();
	else if (fallocate(w, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	                   (off_t)(e->spare[k].l * e->bs),
	                   (off_t)(e->spare[k].n * e->bs)) < 0)
		r = RL_NEG_ERRNO();
	if (w >= 0)
		close(w);
	spare_remove(e, k);
	return r;
}

/* The spares a session's placement at [goal, goal + len) cannot use,
 * given back. With blocks as large as a page none: place_once moves the
 * target in from the spares that cover it, in whole or in part, and
 * claims only the rest. With smaller blocks EXT4_IOC_MOVE_EXT wants equal
 * offsets within a page, which spares rarely have: unless the spares
 * overlapping the target cover it whole at such offsets, they are given
 * back, so that the target can be claimed after a commit as before. */
static int spares_prune(struct ext4_place *e, uint64_t off, uint64_t goal,
                        uint64_t len)
{
	uint64_t tlo = goal / e->bs, thi = (goal + len) / e->bs, cur = tlo;
	uint64_t bpp = blocks_per_page(e);
	size_t first = e->nspare;
	bool ok = true;

	if (bpp == 1)
		return 0;
	for (size_t k = 0; k < e->nspare; k++) {
		const struct held *s = &e->spare[k];

		if (s->p + s->n <= tlo || s->p >= thi)
			continue;
		if (first == e->nspare)
			first = k;
		if (s->p > cur || (((off + (cur * e->bs - goal)) / e->bs -
		                    (s->l + (cur - s->p))) %
		                   bpp))
			ok = false;
		cur = s->p + s->n;
	}
	if (first == e->nspare || (ok && cur >= thi))
		return 0;
	for (size_t k = first; k < e->nspare;)
		if (e->spare[k].p < thi &&
		    e->spare[k].p + e->spare[k].n > tlo) {
			int r = spare_drop(e, k);
			if (r < 0)
				return r;
		} else {
			k++;
		}
	return 0;
}

/* log2 of the groups per flex group (superblock of /dev/<dev>), 0 when
 * there are no flex groups or it cannot be read. */
static unsigned log_groups_per_flex(const char *dev)
{
	char p[96];
	uint8_t sb[1024];
	int d;

	snprintf(p, sizeof(p), "/dev/%s", dev);
	d = open(p, O_RDONLY | O_CLOEXEC);
	if (d < 0)
		return 0;
	ssize_t n = pread(d, sb, sizeof(sb), 1024);
	close(d);
	/* s_magic 0xEF53 at 0x38; FLEX_BG (incompat 0x200) at 0x60;
	 * s_log_groups_per_flex at 0x174. */
	if (n != (ssize_t)sizeof(sb) || sb[0x38] != 0x53 || sb[0x39] != 0xEF ||
	    !(sb[0x61] & 0x02) || sb[0x174] > 31)
		return 0;
	return sb[0x174];
}

/* The ext4 state of a placement session (include/relayout/fs.h): that
 * of the placements made with it on one device, kept between them. */
struct ext4_session {
	bool active; /* set up for dev: e, info, dev_name */
	dev_t dev;
	struct ext4_place e;
	struct rl_fs_info info;
	char dev_name[64];
	unsigned lf; /* log2 of the groups per flex group (superblock) */
	struct rl_tunables t;
	int tun; /* tunables set: 0 none, 1 the normal set, 2 flex-first */
};

/* Session files beyond this are let go (blockers and all) before the
 * next placement: each is an open file. */
#define EXT4_SESSION_MAX_FILES 1024

int rl_place_ext4_session_free(struct ext4_session *s)
{
	int r = 0;

	if (!s)
		return 0;
	if (s->active) {
		release_files(&s->e);
		free(s->e.f);
		free(s->e.spare);
		free(s->e.zero);
		close(s->e.rootfd);
	}
	if (s->tun)
		r = rl_tunables_restore(&s->t);
	free(s);
	return r;
}

/* Set up e for fd's filesystem: root directory, geometry, device name,
 * a zero buffer. Also checks that the target is free. */
static int ext4_setup(int fd, uint64_t goal, uint64_t len, struct ext4_place *e,
                      struct rl_fs_info *info, char *dev, size_t devsize)
{
	char mnt[64];
	int r;

	r = rl_fd_block_size(fd, &e->bs);
	if (r < 0)
		return r;
	e->rootfd = rl_place_mount_root(fd);
	if (e->rootfd < 0)
		return e->rootfd;
	snprintf(mnt, sizeof(mnt), "/proc/self/fd/%d", e->rootfd);
	r = rl_fs_probe(mnt, info);
	if (r == 0 &&
	    (!info->group_size || (info->features & RL_FEAT_BIGALLOC)))
		r = -EOPNOTSUPP;
	if (r == 0 && goal + len > info->size)
		r = -EINVAL;
	e->nblocks = info->size / e->bs;
	if (r == 0)
		r = sysfs_name(fd, dev, devsize);
	e->zero = r == 0 ? calloc(EXT4_MAX_CHUNK_BLOCKS, e->bs) : NULL;
	if (r == 0 && !e->zero)
		r = -ENOMEM;
	if (r < 0) {
		free(e->zero);
		e->zero = NULL;
		close(e->rootfd);
		e->rootfd = -1;
	}
	return r;
}

int64_t rl_place_ext4(int fd, uint64_t off, uint64_t goal, uint64_t len,
                      unsigned mode, struct rl_place_ctx *ctx)
{
	/* Single blocks go through the first-fit scan: with the scan limits
	 * raised it takes the group's first free single-block chunk rather
	 * than the best of the first few free extents (min_to_scan). */
	/* With mb_optimize_scan (the default) the groups after the goal
	 * group are scanned in order for mb_max_linear_groups (4) groups
	 * only, then taken from lists by free order: a request whose goal
	 * was reset to group 0 (a host whose last extent lies above the
	 * target) then skipped a target in group 5 or above for one in any
	 * group of the list, and the placement failed after its budget of
	 * requests and attempts (a 1 KiB-block volume: 4 transactions and
	 * 6,000 journal commits where one transaction and 600 sufficed).
	 * Raised while placing, where the kernel has it (5.13 on). */
	static const char *const names[] = {"mb_order2_req", "mb_min_to_scan",
	                                    "mb_max_to_scan",
	                                    "mb_max_linear_groups"};
	static const char *const values[] = {"0", "1000000", "1000000",
	                                     "1000000"};
	/* The first group of a flex group (with 4 or more groups per flex
	 * group) refuses power-of-two data requests (ext4_mb_good_group,
	 * CR_POWER2_ALIGNED): there requests go through the best-fit scan
	 * (order2 requests off) of the whole group. */
	static const char *const values_ff[] = {"64", "1000000", "1000000",
	                                        "1000000"};
	struct ext4_session *ses = NULL;
	struct ext4_place local = {.rootfd = -1}, *e = &local;
	struct rl_tunables local_t, *t = &local_t;
	int local_tun = 0, *tun = &local_tun;
	struct rl_fs_info local_info, *info = &local_info;
	char local_dev[64], *dev = local_dev;
	struct stat st;
	int64_t ret = -EBUSY;
	int r;

	(void)mode;
	if (ctx->no_tunables)
		return -EOPNOTSUPP; /* would need global tunables changed */
	if (fstat(fd, &st) < 0)
		return RL_NEG_ERRNO();
	if (ctx->session && !ctx->session->ext4)
		ctx->session->ext4 = calloc(1, sizeof(*ctx->session->ext4));
	if (ctx->session)
		ses = ctx->session->ext4; /* NULL (no memory): alone */
	if (ses && ses->active && ses->dev != st.st_dev)
		ses = NULL; /* another volume: alone */
	if (ses) {
		e = &ses->e;
		t = &ses->t;
		tun = &ses->tun;
		info = &ses->info;
		dev = ses->dev_name;
	}
	if (!ses || !ses->active) {
		*e = (struct ext4_place){.rootfd = -1};
		r = ext4_setup(fd, goal, len, e, info, dev, sizeof(local_dev));
		if (r < 0)
			return r;
		if (ses) {
			ses->active = true;
			ses->dev = st.st_dev;
			ses->lf = log_groups_per_flex(dev);
			e->keep = true;
		}
	} else if (goal + len > info->size) {
		return -EINVAL;
	}
	e->rep = ctx->rep;
	e->stop = ctx->stop;
	e->stop_arg = ctx->stop_arg;
	/* The session's spares that cover the target are moved in
	 * (place_once); those it cannot use are given back first. */
	if (ses && e->nspare && (r = spares_prune(e, off, goal, len)) < 0) {
		release_files(e);
		return r;
	}
	/* A target that is not free fails before anything global changes
	 * (transactions ask for targets that are not free yet, to hold
	 * them as soon as they are). Freed blocks show as free (to
	 * GETFSMAP as to the allocator: the buddy bitmaps) after the log
	 * commits: commit only when the target does not show free yet. */
	r = gaps_free(e, fd, goal, len);
	if (r == 0) {
		rl_fs_commit(e->rootfd);
		r = gaps_free(e, fd, goal, len);
	}
	r = r < 0 ? r : r == 0 ? -ENOSPC : 0;
	if (r == 0) {
		/* (a session reads the superblock once) */
		unsigned lf = ses ? ses->lf : log_groups_per_flex(dev);
		uint64_t bpg = info->group_size / e->bs,
		         first = info->first_data_byte / e->bs;
		bool ff = false;
		for (uint64_t gr = (goal / e->bs - first) / bpg;
		     gr <= ((goal + len) / e->bs - 1 - first) / bpg; gr++)
			if (lf >= 2 && gr % (1u << lf) == 0)
				ff = true;
		e->flex_first = ff;
		if (*tun && *tun != (ff ? 2 : 1)) {
			r = rl_tunables_restore(t);
			*tun = 0;
		}
		if (r == 0 && !*tun) {
			char lin[160];

			snprintf(lin, sizeof(lin),
			         "/sys/fs/ext4/%s/mb_max_linear_groups", dev);
			r = rl_tunables_set(t, ctx->state_dir, dev, names,
			                    ff ? values_ff : values,
			                    access(lin, F_OK) == 0 ? 4 : 3);
			if (r == 0)
				*tun = ff ? 2 : 1;
		}
	}
	if (r < 0) {
		if (!ses) {
			free(e->zero);
			close(e->rootfd);
		}
		return r;
	}
	ctx->rep->tunables_changed = true;
	snprintf(ctx->rep->tunables_dev, sizeof(ctx->rep->tunables_dev), "%s",
	         dev);
	if (ses && e->nf > EXT4_SESSION_MAX_FILES)
		release_files(e);
	for (unsigned a = 0; a < ctx->max_attempts; a++) {
		if (rl_place_stopped(ctx)) {
			ret = -EINTR;
			break;
		}
		ctx->rep->attempts++;
		if (a > 0) /* freed blocks are reusable after the commit
		                      (the first attempt: above) */
			rl_fs_commit(e->rootfd);
		r = a > 0 ? gaps_free(e, fd, goal, len) : 1;
		if (r <= 0) {
			ret = r < 0 ? r : -EBUSY;
			break;
		}
		r = place_once(e, fd, off, goal, len, info->group_size,
		               info->first_data_byte / e->bs);
		/* an anchor in the target is a spare now: around it */
		for (unsigned re = 0; r == -EAGAIN && re < EXT4_MAX_RESTARTS;
		     re++)
			r = place_once(e, fd, off, goal, len, info->group_size,
			               info->first_data_byte / e->bs);
		if (r == -EAGAIN)
			r = -EBUSY;
		if (r < 0 || !ses)
			release_files(e); /* a session keeps its blockers */
		if (r == 0) {
			ret = (int64_t)len;
			break;
		}
		rl_release_range(fd, off, len, (uint64_t)st.st_size);
		ret = r;
		if (r == -EMFILE || r == -ENFILE) {
			if (!ses || a > 0)
				break;
			continue; /* the session's files let go: again */
		}
		if (r != -EBUSY)
			break;
	}
	if (ses)
		return ret;
	release_files(e);
	ctx->rep->tunables_restore_err = rl_tunables_restore(t);
	free(e->f);
	free(e->spare);
	free(e->zero);
	close(e->rootfd);
	return ret;
}
