/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * movedata(datafd, spacefd, from, len): the RFC primitive, and
 * rl_movedata_at, where spacefd's offsets are datafd's shifted by sd =
 * space_from - data_from (below, "spacefd at x" means spacefd at x + sd).
 *
 * The range [lo, hi) that is worked on is [from, from+len) cut at datafd's
 * end of file rounded up to a block (the move never changes datafd's size;
 * on ext4 a truncate by someone else meanwhile ends the move at the new end,
 * and the check afterwards reports the file changed: -EBUSY). Inside it,
 * with D = the extents of datafd and S = the extents of spacefd:
 *
 *   S hole, D data   RFC: "a hole in spacefd becomes a hole in datafd":
 *                    datafd is punched there (this changes datafd's ctime and
 *                    mtime; mtime is put back, ctime cannot be).
 *   D hole, S data   RFC: "zeros afterwards": datafd keeps its hole (reads as
 *                    zeros) and spacefd is punched there.
 *   D data, S data   the move proper (below); afterwards spacefd is punched
 *                    over the range, which releases datafd's old blocks
 *                    (ext4: they were swapped into spacefd) or the second
 *                    reference to the new ones (XFS, btrfs).
 *   beyond datafd's EOF: spacefd is punched.
 *
 * With RL_MOVE_SPACE_FULL the first case is an error (-ENOSPC, nothing
 * changed): the caller allocated spacefd over the range, so a hole there
 * means the space file lost blocks, and punching datafd would destroy
 * data (a transaction retrying with a space file that an earlier -EBUSY
 * had released did exactly that on XFS under an O_DIRECT writer).
 * An -EBUSY on XFS/btrfs releases spacefd's blocks only over the part
 * that was remapped (datafd's now); the rest stays allocated.
 *
 * ext4: EXT4_IOC_MOVE_EXT per D∩S piece. Measured on 6.18 (4 KiB blocks):
 *  - an unwritten donor (fresh from fallocate) over a written original is
 *    fine: the data is copied into the donor's blocks and the original's
 *    extent ends up written. No flush of the donor is needed.
 *  - a donor with dirty page-cache pages gives EBUSY; so does an original
 *    whose pages are dirty or still pinned by the journal. The sequence that
 *    works: fdatasync(datafd) (FIEMAP_FLAG_SYNC does it), never write to the
 *    donor, and on EBUSY fdatasync both and retry (bounded, with back-off).
 *  - an original range whose data is still delayed-allocation (not yet on
 *    disk) has no extents: ENODATA. Hence the FIEMAP with SYNC first.
 *  - holes on either side are skipped and not counted in moved_len, which
 *    is why the pieces are computed here and each is moved on its own;
 *    moved_len shorter than the piece is continued from where it stopped.
 *  - mtime and ctime of both files are left alone.
 *  - an original cached in large folios (what sequential reads leave)
 *    costs a forced journal commit per page after the first of each
 *    folio (the kernel's EBUSY retry inside the ioctl): its clean cached
 *    pages are dropped before the move, and read ahead again as single
 *    pages.
 * XFS, btrfs: copy datafd's piece into spacefd's blocks at the same offset
 * (pread/pwrite, spacefd's preallocated extents are written in place),
 * then FIDEDUPERANGE src=spacefd dest=datafd: the kernel locks both
 * inodes, writes both ranges back and waits for them, compares the bytes
 * and only then remaps datafd onto spacefd's blocks (so the remap reaches
 * the log after the copy is on disk: no fdatasync of its own); a concurrent
 * write to datafd shows as FILE_DEDUPE_RANGE_DIFFERS and the piece is copied
 * again (bounded, then -EBUSY). Pieces are at most 16 MiB (btrfs' cap per call)
 * and never cross an extent boundary of either file; whole extents of datafd
 * inside the range are therefore fully remapped (btrfs frees a data extent only
 * when no part of it is referenced any more). Dedupe leaves mtime/ctime alone.
 *
 * Reads of datafd go through a second descriptor opened with O_NOATIME
 * (/proc/self/fd), so atime does not move; where that is refused (not the
 * owner, no CAP_FOWNER) datafd is read directly and atime/mtime are put
 * back with futimens, which sets ctime to the current time (kernel rule).
 *
 * Afterwards FIEMAP must show every moved piece of datafd on the physical
 * blocks spacefd had there before. When it does not: if datafd's ctime moved
 * during the call, a concurrent writer rewrote the piece after the move
 * (COW on XFS/btrfs puts the new data elsewhere), or a remap the kernel
 * reported done is found elsewhere (a write through a writable mmap moves
 * no timestamp): -EBUSY; else -EIO.
 *
 * Append-only datafd or spacefd: refused with -EPERM on every filesystem,
 * although MOVE_EXT and dedupe would accept it: append-only promises that
 * existing data is not modified, and the hole rules need punching, which
 * the kernel refuses on append-only files anyway.
 */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>
#include "fs_abi.h"
#include "fs_internal.h"
#include "fs_place.h"

#define MD_PIECE_MAX     (16u << 20) /* bytes per dedupe call (btrfs cap) */
#define MD_COPY_BUF      (1u << 20)
#define MD_EXT4_STEP     (4u << 20)  /* MOVE_EXT step, read ahead one step */
#define MD_STEP_MIN      (64u << 10) /* smallest dedupe step after DIFFERS */
#define MD_DIFFERS_TRIES 8
#define MD_BUSY_TRIES    16
#define MD_BAD_FLAGS                                                           \
	(RL_EXT_UNKNOWN | RL_EXT_ENCRYPTED | RL_EXT_NOT_ALIGNED |              \
	 RL_EXT_DATA_INLINE | RL_EXT_DATA_TAIL)

/* A run of file offsets [lo, hi) and where it starts physically. */
struct md_run {
	uint64_t lo, hi;
	uint64_t phys; /* physical address of lo (0 for holes) */
};

struct md_runs {
	struct md_run *v;
	size_t n, cap;
};

struct md_ctx {
	int dfd, sfd;
	/* spacefd's offset of datafd's offset x is x + sd (modulo 2^64):
	 * rl_movedata_at's space_from - data_from */
	uint64_t sd;
	/* XFS: a private file holding the block under datafd's partial last
	 * block (at datafd's offset tail_blk) when spacefd cannot be cut to
	 * end there (it holds blocks past it); -1: none */
	int tfd;
	uint64_t tail_blk;
	int rfd; /* datafd opened for reading (O_NOATIME when possible) */
	uint32_t bsize;
	uint64_t lo, hi;
	struct stat dst;           /* datafd at the start */
	uint64_t tail_lo, tail_hi; /* past datafd's EOF: spacefd punched */
	bool deduped;              /* a remap happened (XFS, btrfs) */
	uint64_t moved_hi;         /* remapped up to here (XFS, btrfs) */
	struct md_runs d, s;
	struct rl_move_stats st;
};

static int runs_push(struct md_runs *r, uint64_t lo, uint64_t hi, uint64_t phys)
{
	if (lo >= hi)
		return 0;
	if (r->n == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 16;
		struct md_run *p = realloc(r->v, ncap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		r->v = p;
		r->cap = ncap;
	}
	r->v[r->n++] = (struct md_run){lo, hi, phys};
	return 0;
}

/* Extents of fd clipped to [lo, hi) as runs. Refuses extents that cannot be
 * moved (inline, encrypted, ...) and, unless allowed, shared ones. */
static int load_runs(int fd, uint64_t lo, uint64_t hi, uint64_t shift,
                     bool check_shared, struct md_runs *out)
{
	struct rl_extent *ext;
	size_t n;
	int ret = rl_get_extents_range(fd, lo + shift, hi - lo, &ext, &n);

	out->n = 0;
	if (ret < 0)
		return ret;
	/* clipped in fd's offsets; fd's offset y is the caller's y - shift */
	for (size_t i = 0; i < n && ret == 0; i++) {
		uint64_t a = ext[i].logical, b = a + ext[i].length;
		uint64_t p = ext[i].physical;

		if (b <= lo + shift || a >= hi + shift)
			continue;
		/* (delalloc first: FIEMAP flags it unknown too; a writer
		 * between the flush and the look was said as "operation not
		 * supported" under load) */
		if (ext[i].flags & RL_EXT_DELALLOC)
			ret = -EBUSY; /* written since the FIEMAP's flush */
		else if (ext[i].flags & MD_BAD_FLAGS)
			ret = -EOPNOTSUPP;
		else if (check_shared && (ext[i].flags & RL_EXT_SHARED))
			ret = -RL_E_SHARED;
		if (ret)
			break;
		if (a < lo + shift) {
			p += lo + shift - a;
			a = lo + shift;
		}
		if (b > hi + shift)
			b = hi + shift;
		ret = runs_push(out, a - shift, b - shift, p);
	}
	free(ext);
	return ret;
}

/* out = a ∩ b (phys taken from a, phys2 of b kept in *bphys array if any),
 * or with subtract, out = a ∖ b. Both inputs sorted, non-overlapping. */
static int runs_combine(const struct md_runs *a, const struct md_runs *b,
                        bool subtract, struct md_runs *out,
                        struct md_runs *bpart)
{
	size_t j = 0;
	int ret = 0;

	out->n = 0;
	if (bpart)
		bpart->n = 0;
	for (size_t i = 0; i < a->n && ret == 0; i++) {
		uint64_t pos = a->v[i].lo, end = a->v[i].hi;

		while (j < b->n && b->v[j].hi <= pos)
			j++;
		for (size_t k = j; pos < end && ret == 0; k++) {
			uint64_t blo = k < b->n ? b->v[k].lo : UINT64_MAX;
			uint64_t bhi = k < b->n ? b->v[k].hi : UINT64_MAX;
			uint64_t gap_end = blo < end ? blo : end;

			if (subtract && pos < gap_end)
				ret =
				    runs_push(out, pos, gap_end,
				              a->v[i].phys + pos - a->v[i].lo);
			if (blo >= end)
				break;
			if (blo > pos)
				pos = blo;
			uint64_t iend = bhi < end ? bhi : end;
			if (!subtract && ret == 0) {
				ret =
				    runs_push(out, pos, iend,
				              a->v[i].phys + pos - a->v[i].lo);
				if (ret == 0 && bpart)
					ret = runs_push(bpart, pos, iend,
					                b->v[k].phys + pos -
					                    b->v[k].lo);
			}
			pos = iend;
		}
	}
	return ret;
}

static int punch(int fd, uint64_t lo, uint64_t hi)
{
	if (lo >= hi)
		return 0;
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)lo,
	              (off_t)(hi - lo)) < 0)
		return RL_NEG_ERRNO();
	return 0;
}

static int punch_runs(int fd, const struct md_runs *r, uint64_t shift)
{
	for (size_t i = 0; i < r->n; i++) {
		int ret = punch(fd, r->v[i].lo + shift, r->v[i].hi + shift);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* The file holding the space for datafd's offset x, and its offset there:
 * spacefd at x + sd, or the private tail file at x (runs never cross
 * tail_blk, see split_runs). */
static int sp_fd(const struct md_ctx *c, uint64_t x)
{
	return c->tfd >= 0 && x >= c->tail_blk ? c->tfd : c->sfd;
}

static uint64_t sp_off(const struct md_ctx *c, uint64_t x)
{
	return c->tfd >= 0 && x >= c->tail_blk ? x : x + c->sd;
}

/* Cut the runs of r (and the parallel runs of ph) at offset at. */
static int split_runs(struct md_runs *r, struct md_runs *ph, uint64_t at)
{
	for (size_t i = 0; i < r->n; i++) {
		struct md_run a = r->v[i], b = ph->v[i];

		if (a.lo >= at || a.hi <= at)
			continue;
		if (runs_push(r, 0, 1, 0) < 0 || runs_push(ph, 0, 1, 0) < 0)
			return -ENOMEM;
		memmove(r->v + i + 2, r->v + i + 1,
		        (r->n - i - 2) * sizeof(*r->v));
		memmove(ph->v + i + 2, ph->v + i + 1,
		        (ph->n - i - 2) * sizeof(*ph->v));
		r->v[i].hi = ph->v[i].hi = at;
		r->v[i + 1] = (struct md_run){at, a.hi, a.phys + (at - a.lo)};
		ph->v[i + 1] = (struct md_run){at, b.hi, b.phys + (at - b.lo)};
		break;
	}
	return 0;
}

/* Is the inode of a or of b an active swap file? (/proc/swaps lists
 * paths; read once for both, and only when some swap is active: a call
 * per step, 15,000 on an aged volume's compaction, read it each time.) */
static bool is_swapfile(const struct stat *a, const struct stat *b)
{
	char line[4096 + 64], path[4096];
	bool found = false;
	struct sysinfo si;
	FILE *f;

	if (sysinfo(&si) == 0 && si.totalswap == 0)
		return false;
	f = fopen("/proc/swaps", "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		struct stat sw;

		if (sscanf(line, "%4095s", path) != 1 || path[0] != '/')
			continue;
		if (stat(path, &sw) == 0 && S_ISREG(sw.st_mode) &&
		    ((sw.st_dev == a->st_dev && sw.st_ino == a->st_ino) ||
		     (sw.st_dev == b->st_dev && sw.st_ino == b->st_ino)))
			found = true;
	}
	fclose(f);
	return found;
}

static int check_attr_flags(int fd)
{
	int attr = 0;

	if (ioctl(fd, FS_IOC_GETFLAGS, &attr) < 0)
		return 0; /* no inode flags here: nothing to refuse */
	if (attr & (FS_IMMUTABLE_FL | FS_APPEND_FL))
		return -EPERM;
	return 0;
}

static bool writable(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl >= 0 &&
	       ((fl & O_ACCMODE) == O_WRONLY || (fl & O_ACCMODE) == O_RDWR);
}

static int validate(struct md_ctx *c, uint64_t from, uint64_t len,
                    unsigned flags, struct stat *sst)
{
	int ret;

	if (flags & ~RL_MOVE_ALL_FLAGS)
		return -EINVAL;
	if (fstat(c->dfd, &c->dst) < 0 || fstat(c->sfd, sst) < 0)
		return RL_NEG_ERRNO();
	if (!S_ISREG(c->dst.st_mode) || !S_ISREG(sst->st_mode))
		return -EINVAL;
	if (c->dst.st_dev != sst->st_dev)
		return -EXDEV;
	if (c->dst.st_ino == sst->st_ino)
		return -EINVAL;
	if (!writable(c->dfd) || !writable(c->sfd))
		return -EBADF;
	ret = rl_fd_block_size(c->dfd, &c->bsize);
	if (ret < 0)
		return ret;
	if (from % c->bsize || len % c->bsize)
		return -EINVAL;
	if (from + len < from || from + len > (uint64_t)INT64_MAX)
		return -EINVAL;
	ret = check_attr_flags(c->dfd);
	if (ret == 0)
		ret = check_attr_flags(c->sfd);
	if (ret < 0)
		return ret;
	if (is_swapfile(&c->dst, sst))
		return -ETXTBSY;
	return 0;
}

/* ------------------------------------------------------------------ ext4 */

/* Does fd now end at or below offset lo (truncated meanwhile)? */
static bool shrunk_below(int fd, uint64_t lo)
{
	struct stat st;

	return fstat(fd, &st) == 0 && (uint64_t)st.st_size <= lo;
}

static int ext4_move_piece(struct md_ctx *c, uint64_t lo, uint64_t hi)
{
	int busy = 0, stuck = 0;

	while (lo < hi) {
		struct rl_ext4_move_extent me = {
		    .donor_fd = (uint32_t)c->sfd,
		    .orig_start = lo / c->bsize,
		    .donor_start = (lo + c->sd) / c->bsize,
		    .len = (hi - lo) / c->bsize,
		};

		if (ioctl(c->dfd, RL_EXT4_IOC_MOVE_EXT, &me) < 0) {
			int e = errno;

			/* moved_len is reported on failure too: keep what
			 * was done, and count tries from there. */
			if (me.moved_len &&
			    me.moved_len <= (hi - lo) / c->bsize) {
				lo += me.moved_len * c->bsize;
				busy = 0;
			}

			if (e == ENODATA)
				return 0; /* no data left here (punched) */
			/* The kernel cuts the move at the file's end and
			 * refuses one left empty (EINVAL): a truncate since
			 * the range was computed. Nothing left here either;
			 * the check after the move sees the file changed. */
			if (e == EINVAL && shrunk_below(c->dfd, lo))
				return 0;
			if (e == ENOTTY)
				return -EOPNOTSUPP;
			if (e != EBUSY || ++busy > MD_BUSY_TRIES)
				return -e;
			c->st.busy_retries++;
			fdatasync(c->dfd);
			fdatasync(c->sfd);
			struct timespec ts = {0, 1000000L * busy};
			nanosleep(&ts, NULL);
			continue;
		}
		if (me.moved_len == 0) {
			/* Holes only (a concurrent punch?): nothing to do. */
			if (++stuck > 1)
				return 0;
			continue;
		}
		lo += me.moved_len * c->bsize;
	}
	return 0;
}

/* ------------------------------------------------------------ XFS, btrfs */

static int copy_piece(struct md_ctx *c, uint64_t lo, uint64_t hi, char *buf)
{
	while (lo < hi) {
		size_t want = hi - lo < MD_COPY_BUF ? hi - lo : MD_COPY_BUF;
		ssize_t n = pread(c->rfd, buf, want, (off_t)lo);

		if (n < 0)
			return RL_NEG_ERRNO();
		if (n == 0) { /* EOF moved down under us: zeros */
			n = (ssize_t)want;
			memset(buf, 0, want);
		}
		for (ssize_t done = 0; done < n;) {
			ssize_t w =
			    pwrite(sp_fd(c, lo), buf + done, (size_t)(n - done),
			           (off_t)sp_off(c, lo + (uint64_t)done));
			if (w < 0)
				return RL_NEG_ERRNO();
			done += w;
		}
		lo += (uint64_t)n;
	}
	return 0;
}

/* Has datafd's ctime moved since our own last change: someone wrote? */
static bool ctime_moved(const struct md_ctx *c)
{
	struct stat st;

	return fstat(c->dfd, &st) == 0 &&
	       (st.st_ctim.tv_sec != c->dst.st_ctim.tv_sec ||
	        st.st_ctim.tv_nsec != c->dst.st_ctim.tv_nsec);
}

/* Does datafd map [lo, hi) onto the physical run starting at phys? Read
 * without FIEMAP_FLAG_SYNC right after the remap: a flush here would write
 * a concurrent writer's dirty pages and (copy-on-write) relocate them, which
 * is the writer's doing, not a failed move. */
static int piece_placed(int fd, uint64_t lo, uint64_t hi, uint64_t phys)
{
	struct {
		struct fiemap fm;
		struct fiemap_extent fe[32];
	} m;
	uint64_t pos = lo;

	while (pos < hi) {
		memset(&m, 0, sizeof(m));
		m.fm.fm_start = pos;
		m.fm.fm_length = hi - pos;
		m.fm.fm_extent_count = 32;
		if (ioctl(fd, FS_IOC_FIEMAP, &m.fm) < 0)
			return RL_NEG_ERRNO();
		if (m.fm.fm_mapped_extents == 0)
			return -EIO;
		for (uint32_t i = 0; i < m.fm.fm_mapped_extents && pos < hi;
		     i++) {
			const struct fiemap_extent *e = &m.fe[i];

			/* Dirty pages written after the remap (btrfs reports
			 * them as delalloc): a concurrent writer's. */
			if ((e->fe_flags & (FIEMAP_EXTENT_DELALLOC |
			                    FIEMAP_EXTENT_UNKNOWN)) &&
			    e->fe_logical <= pos) {
				pos = e->fe_logical + e->fe_length;
				continue;
			}
			if (e->fe_logical > pos ||
			    e->fe_logical + e->fe_length <= pos ||
			    e->fe_physical + (pos - e->fe_logical) !=
			        phys + (pos - lo))
				return -EIO;
			pos = e->fe_logical + e->fe_length;
		}
	}
	return 0;
}

/* Remap [lo, hi) of datafd onto spacefd's blocks; the data is already
 * copied. A difference (concurrent write) is copied again and retried. */
static int dedupe_piece(struct md_ctx *c, uint64_t lo, uint64_t hi,
                        uint64_t phys, char *buf)
{
	struct {
		struct file_dedupe_range r;
		struct file_dedupe_range_info i;
	} d;
	uint64_t dsize = (uint64_t)c->dst.st_size, step = hi - lo, start = lo;
	int tries = 0, ret = 0, sfd = sp_fd(c, lo);

	/* The block holding EOF: dedupe up to EOF only (spacefd was cut to
	 * the same size: the kernel then remaps the whole block). */
	if (hi > dsize)
		hi = dsize;
	while (ret == 0 && lo < hi) {
		uint64_t end = hi - lo > step ? lo + step : hi;

		memset(&d, 0, sizeof(d));
		d.r.src_offset = sp_off(c, lo);
		d.r.src_length = end - lo;
		d.r.dest_count = 1;
		d.i.dest_fd = c->dfd;
		d.i.dest_offset = lo;
		if (ioctl(sfd, FIDEDUPERANGE, &d) < 0)
			return errno == ENOTTY ? -EOPNOTSUPP : RL_NEG_ERRNO();
		if (d.i.status < 0)
			return d.i.status;
		if (d.i.status == FILE_DEDUPE_RANGE_DIFFERS ||
		    d.i.bytes_deduped == 0) {
			/* datafd changed since the copy: copy that part
			 * again, and try smaller steps so a busy file still
			 * makes progress between its writes. */
			c->st.differs_retries++;
			if (++tries > MD_DIFFERS_TRIES)
				return -EBUSY;
			if (step > MD_STEP_MIN)
				step = step / 2 / c->bsize * c->bsize;
			if (step < MD_STEP_MIN)
				step = MD_STEP_MIN;
			ret = copy_piece(c, lo, end, buf);
			if (ret == 0 && fdatasync(sfd) < 0)
				ret = RL_NEG_ERRNO();
			continue;
		}
		/* Check the placement now and give spacefd's reference up
		 * at once: the blocks are then datafd's alone and a later
		 * write to them is not copied-on-write on XFS. */
		c->deduped = true;
		c->moved_hi = lo + d.i.bytes_deduped;
		ret = piece_placed(c->dfd, lo, lo + d.i.bytes_deduped,
		                   phys + (lo - start));
		/* The kernel compared the bytes under lock and reported the
		 * remap done, so a piece found elsewhere now was moved by a
		 * concurrent write: copy-on-write on btrfs (every write) and
		 * on XFS (while still shared). A write through an already
		 * faulted writable mmap changes no timestamp, so ctime cannot
		 * tell. The data is the writer's and intact: -EBUSY (retry),
		 * never a claimed placement. */
		if (ret == -EIO)
			ret = -EBUSY;
		/* Whole blocks only: punching part of the (shared) EOF
		 * block would zero it by a write, copy-on-write on XFS.
		 * Done even when the check failed: datafd maps the piece
		 * now and must not stay shared with spacefd. */
		uint64_t pe = (lo + d.i.bytes_deduped) / c->bsize * c->bsize;
		int pr = punch(sfd, sp_off(c, lo), sp_off(c, lo) + (pe - lo));
		if (ret == 0)
			ret = pr;
		tries = 0;
		lo += d.i.bytes_deduped;
	}
	return ret;
}

/* The dedupe of datafd's partial EOF block needs the space to end where
 * datafd ends (both ranges at EOF: the kernel then remaps the whole
 * block). spacefd is cut there for the call (*s_size: its size, put back
 * afterwards) when it maps nothing past that block. Else (a space file
 * holding the targets of other files too, rl_movedata_at) spacefd must keep
 * its size and its blocks: on XFS the block's data is copied into spacefd
 * (XFS clones no unwritten block), the block cloned into a private file at
 * datafd's offset, spacefd's reference dropped (the block is the private
 * file's alone: later writes stay in place) and that file cut where datafd
 * ends; the copy and the dedupe of that block then go through that file
 * (sp_fd). btrfs shares extents whole: a write into such a clone would be
 * copied elsewhere, so -EOPNOTSUPP there. tail_moved: the EOF block is one
 * to move (datafd data over spacefd blocks). */
static int match_tail_size(struct md_ctx *c, enum rl_fs_type type,
                           bool tail_moved, char *buf, uint64_t *s_size)
{
	uint64_t dsize = (uint64_t)c->dst.st_size;
	uint64_t blk = dsize / c->bsize * c->bsize;
	struct stat st;
	int n, root;

	if (fstat(c->sfd, &st) < 0)
		return RL_NEG_ERRNO();
	*s_size = (uint64_t)st.st_size;
	if (dsize % c->bsize == 0 || dsize >= c->hi || !tail_moved ||
	    (uint64_t)st.st_size == dsize + c->sd)
		return 0;
	/* btrfs, same offsets: cut as rl_movedata always did (what spacefd
	 * holds past datafd's end is released) */
	n = type == RL_FS_BTRFS && c->sd == 0
	        ? 0
	        : rl_extent_count(c->sfd, blk + c->bsize + c->sd, 0);
	if (n < 0)
		return n;
	if (n == 0) {
		if (ftruncate(c->sfd, (off_t)(dsize + c->sd)) < 0)
			return RL_NEG_ERRNO();
		return 0;
	}
	*s_size = 0; /* spacefd keeps its size */
	if (type != RL_FS_XFS)
		return -EOPNOTSUPP;
	/* The copy makes the block written: the clone writes it back and
	 * waits (the unwritten extent converted) before it remaps. */
	int r = copy_piece(c, blk, dsize, buf);

	if (r < 0)
		return r;
	root = rl_place_mount_root(c->sfd);
	if (root < 0)
		return root;
	r = rl_place_tmpfile(root);
	close(root);
	if (r < 0)
		return r;
	c->tfd = r;
	struct file_clone_range fcr = {
	    .src_fd = (int64_t)c->sfd,
	    .src_offset = blk + c->sd,
	    .src_length = c->bsize,
	    .dest_offset = blk,
	};
	if (ioctl(c->tfd, FICLONERANGE, &fcr) < 0)
		return errno == ENOTTY ? -EOPNOTSUPP : RL_NEG_ERRNO();
	c->tail_blk = blk;
	r = punch(c->sfd, blk + c->sd, blk + c->sd + c->bsize);
	if (r == 0 && ftruncate(c->tfd, (off_t)dsize) < 0)
		r = RL_NEG_ERRNO();
	return r;
}

/* ------------------------------------------------------------- common */

static int verify(struct md_ctx *c, const struct md_runs *moved,
                  const struct md_runs *sphys)
{
	struct md_runs now = {0};
	size_t k = 0;
	int ret = load_runs(c->dfd, c->lo, c->hi, 0, false, &now);

	for (size_t i = 0; ret == 0 && i < moved->n; i++) {
		uint64_t pos = moved->v[i].lo;

		while (ret == 0 && pos < moved->v[i].hi) {
			while (k < now.n && now.v[k].hi <= pos)
				k++;
			if (k == now.n || now.v[k].lo > pos ||
			    now.v[k].phys + (pos - now.v[k].lo) !=
			        sphys->v[i].phys + (pos - moved->v[i].lo)) {
				ret = -EIO;
				break;
			}
			pos = now.v[k].hi;
		}
	}
	free(now.v);
	if (ret == -EIO && (ctime_moved(c) || c->deduped))
		ret = -EBUSY; /* rewritten by someone after the move (see
		                 dedupe_piece: mmap writes move no ctime) */
	return ret;
}

static void restore_times(struct md_ctx *c)
{
	struct stat st;

	if (fstat(c->dfd, &st) < 0)
		return;
	if (st.st_atim.tv_sec == c->dst.st_atim.tv_sec &&
	    st.st_atim.tv_nsec == c->dst.st_atim.tv_nsec &&
	    st.st_mtim.tv_sec == c->dst.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == c->dst.st_mtim.tv_nsec)
		return;
	/* Only when the change is ours (a concurrent writer's mtime wins):
	 * dst.st_ctim is datafd's ctime after our own last change of it. */
	if (st.st_ctim.tv_sec != c->dst.st_ctim.tv_sec ||
	    st.st_ctim.tv_nsec != c->dst.st_ctim.tv_nsec)
		return;
	struct timespec ts[2] = {c->dst.st_atim, c->dst.st_mtim};
	futimens(c->dfd, ts);
}

static int open_reader(int fd)
{
	char p[64];
	int r;

	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	r = open(p, O_RDONLY | O_NOATIME | O_CLOEXEC);
	if (r < 0)
		r = open(p, O_RDONLY | O_CLOEXEC);
	return r;
}

static int move_all(struct md_ctx *c, enum rl_fs_type type, unsigned flags)
{
	struct md_runs sholes = {0}, dholes = {0}, moved = {0}, sphys = {0};
	uint64_t s_size = 0;
	char *buf = NULL;
	int ret;

	ret = load_runs(c->dfd, c->lo, c->hi, 0,
	                !(flags & RL_MOVE_ALLOW_SHARED), &c->d);
	if (ret == 0)
		ret = load_runs(c->sfd, c->lo, c->hi, c->sd, false, &c->s);
	/* D∖S: spacefd holes over datafd data; S∖D: the reverse. */
	if (ret == 0)
		ret = runs_combine(&c->d, &c->s, true, &sholes, NULL);
	if (ret == 0)
		ret = runs_combine(&c->s, &c->d, true, &dholes, NULL);
	if (ret == 0)
		ret = runs_combine(&c->d, &c->s, false, &moved, &sphys);
	/* The caller promised spacefd is allocated over datafd's data: a
	 * hole there means it lost blocks; refuse before changing anything
	 * rather than apply the RFC's hole rule to datafd. */
	if (ret == 0 && sholes.n && (flags & RL_MOVE_SPACE_FULL))
		ret = -ENOSPC;
	if (ret == 0 && sholes.n) {
		ret = punch_runs(c->dfd, &sholes, 0);
		struct stat st;
		if (fstat(c->dfd, &st) == 0)
			c->dst.st_ctim = st.st_ctim;
	}
	if (ret == 0)
		ret = punch_runs(c->sfd, &dholes, c->sd);
	if (ret == 0)
		ret = punch(c->sfd, c->tail_lo + c->sd, c->tail_hi + c->sd);
	if (ret == 0 && type != RL_FS_EXT4) {
		buf = malloc(MD_COPY_BUF);
		if (!buf)
			ret = -ENOMEM;
	}
	if (ret == 0 && type != RL_FS_EXT4) {
		ret = match_tail_size(c, type,
		                      moved.n && moved.v[moved.n - 1].hi >
		                                     (uint64_t)c->dst.st_size,
		                      buf, &s_size);
		if (ret == 0 && c->tfd >= 0)
			ret = split_runs(&moved, &sphys, c->tail_blk);
	}
	/* XFS/btrfs: copy everything before the first dedupe. On btrfs a
	 * write into a preallocated extent is done in place only while no
	 * other file references that extent; once part of it is deduped into
	 * datafd, later writes to the rest would be copied-on-write
	 * elsewhere and the move would land off spacefd's blocks. */
	for (size_t i = 0; ret == 0 && type != RL_FS_EXT4 && i < moved.n; i++) {
		uint64_t hi = moved.v[i].hi;

		if (hi > (uint64_t)c->dst.st_size)
			hi = (uint64_t)c->dst.st_size;
		/* Start this run's reads and overlap the next run's. */
		if (i == 0)
			readahead(c->rfd, (off64_t)moved.v[0].lo,
			          hi - moved.v[0].lo);
		if (i + 1 < moved.n)
			readahead(c->rfd, (off64_t)moved.v[i + 1].lo,
			          moved.v[i + 1].hi - moved.v[i + 1].lo);
		ret = copy_piece(c, moved.v[i].lo, hi, buf);
	}
	/* No fdatasync of the copies: the dedupe writes both ranges back
	 * and waits for them before it compares and remaps (and the remap
	 * is logged after the writes it depends on); a log force per step
	 * cost more than the copy. */
	for (size_t i = 0; ret == 0 && i < moved.n; i++) {
		for (uint64_t lo = moved.v[i].lo;
		     ret == 0 && lo < moved.v[i].hi;) {
			uint64_t hi = moved.v[i].hi;

			if (type == RL_FS_EXT4) {
				/* MOVE_EXT reads the data it copies one folio
				 * at a time, synchronously: keep the reads
				 * of the next step ahead (cold: 90 -> 340
				 * MB/s). */
				if (hi - lo > MD_EXT4_STEP)
					hi = lo + MD_EXT4_STEP;
				/* The piece's cached pages go first (clean
				 * ones: the FIEMAP above wrote them back).
				 * Sequential reads leave large folios in the
				 * cache; MOVE_EXT copies a page at a time, so
				 * from the second page of a large folio on it
				 * finds the folio dirty, fails to release it
				 * (EBUSY) and forces a journal commit before
				 * each retry: 6 commits per step on an aged
				 * volume read once before (4,816 steps: 30,600
				 * commits, 27 s; dropped first: 3,460, 11 s).
				 * readahead(2) fills the cache again with
				 * single pages. Pages mapped by a writer stay:
				 * then the retries as before. */
				if (lo == moved.v[i].lo) {
					posix_fadvise(
					    c->dfd, (off_t)lo,
					    (off_t)(moved.v[i].hi - lo),
					    POSIX_FADV_DONTNEED);
					readahead(c->dfd, (off64_t)lo, hi - lo);
				}
				if (hi < moved.v[i].hi)
					readahead(c->dfd, (off64_t)hi,
					          moved.v[i].hi - hi <
					                  MD_EXT4_STEP
					              ? moved.v[i].hi - hi
					              : MD_EXT4_STEP);
				ret = ext4_move_piece(c, lo, hi);
			} else {
				if (hi - lo > MD_PIECE_MAX)
					hi = lo + MD_PIECE_MAX;
				ret = dedupe_piece(c, lo, hi,
				                   sphys.v[i].phys +
				                       (lo - moved.v[i].lo),
				                   buf);
			}
			c->st.pieces++;
			lo = hi;
		}
	}
	/* spacefd keeps nothing in the range (ext4: datafd's old blocks;
	 * XFS/btrfs: the second reference to the moved blocks). */
	/* Punch before the size goes back up: growing would zero the rest of
	 * the shared EOF block by a write (copy-on-write on XFS). btrfs zeroes
	 * a partial EOF block it is asked to punch instead of releasing it:
	 * that block is punched again once the size is back. */
	/* On failure after a remap, spacefd drops what was remapped (a block
	 * datafd maps must not stay shared with the donor: XFS frees an
	 * unlinked donor only later, in the background) and keeps its blocks
	 * over the rest, so a caller can move that rest with the same space
	 * file. Pieces are remapped in order: below moved_hi all is done. */
	uint64_t rel_hi = c->hi;
	if (ret != 0)
		rel_hi = c->deduped ? (c->moved_hi + c->bsize - 1) / c->bsize *
		                          c->bsize
		                    : c->lo;
	if (rel_hi > c->hi)
		rel_hi = c->hi;
	if (rel_hi > c->lo) {
		int pr = punch(c->sfd, c->lo + c->sd, rel_hi + c->sd);
		if (ret == 0)
			ret = pr;
	}
	/* The private tail file: emptied (no partial block to zero, so no
	 * write) before it is closed, so datafd's EOF block is not left
	 * shared until XFS reclaims the unlinked file. On failure the block
	 * it still held is released with it (spacefd has a hole there). */
	if (c->tfd >= 0) {
		if (ftruncate(c->tfd, 0) < 0 && ret == 0)
			ret = RL_NEG_ERRNO();
		close(c->tfd);
		c->tfd = -1;
	}
	if (s_size && ftruncate(c->sfd, (off_t)s_size) < 0 && ret == 0)
		ret = RL_NEG_ERRNO();
	if (rel_hi == c->hi && rel_hi > c->lo && s_size) {
		int pr = punch(c->sfd, c->hi - c->bsize + c->sd, c->hi + c->sd);
		if (ret == 0)
			ret = pr;
	}
	/* ext4 moved under the inode locks and relocates nothing on write:
	 * check it all. XFS/btrfs pieces were checked as they were done
	 * (a writer may have relocated blocks since, by copy-on-write). */
	if (ret == 0 && type == RL_FS_EXT4)
		ret = verify(c, &moved, &sphys);
	free(buf);
	free(sholes.v);
	free(dholes.v);
	free(moved.v);
	free(sphys.v);
	return ret;
}

int rl_movedata(int datafd, int spacefd, uint64_t from, uint64_t len,
                unsigned flags)
{
	return rl_movedata_at_stats(datafd, spacefd, from, from, len, flags,
	                            NULL);
}

int rl_movedata_at(int datafd, int spacefd, uint64_t data_from,
                   uint64_t space_from, uint64_t len, unsigned flags)
{
	return rl_movedata_at_stats(datafd, spacefd, data_from, space_from, len,
	                            flags, NULL);
}

int rl_movedata_stats(int datafd, int spacefd, uint64_t from, uint64_t len,
                      unsigned flags, struct rl_move_stats *stats)
{
	return rl_movedata_at_stats(datafd, spacefd, from, from, len, flags,
	                            stats);
}

int rl_movedata_at_stats(int datafd, int spacefd, uint64_t from,
                         uint64_t space_from, uint64_t len, unsigned flags,
                         struct rl_move_stats *stats)
{
	struct md_ctx c = {.dfd = datafd, .sfd = spacefd, .rfd = -1, .tfd = -1};
	struct stat sst;
	enum rl_fs_type type;
	uint64_t eof;
	long page = sysconf(_SC_PAGESIZE);
	int ret;

	ret = validate(&c, from, len, flags, &sst);
	if (ret < 0)
		return ret;
	if (space_from % c.bsize || space_from + len < space_from ||
	    space_from + len > (uint64_t)INT64_MAX)
		return -EINVAL;
	c.sd = space_from - from;
	type = rl_fd_fs_type(datafd);
	if (type == RL_FS_OTHER)
		return -EOPNOTSUPP;
	/* EXT4_IOC_MOVE_EXT wants both starts at the same place in a page
	 * (blocks smaller than a page) */
	if (type == RL_FS_EXT4 && page > 0 && c.sd % (uint64_t)page)
		return -EINVAL;
	if (len == 0)
		return 0;
	eof = ((uint64_t)c.dst.st_size + c.bsize - 1) / c.bsize * c.bsize;
	c.lo = from;
	c.hi = from + len;
	if (c.hi > eof) {
		/* Past datafd's end spacefd only loses its blocks. */
		c.tail_lo = c.lo > eof ? c.lo : eof;
		c.tail_hi = c.hi;
		c.hi = c.tail_lo;
		if (c.lo >= c.hi)
			return punch(spacefd, c.tail_lo + c.sd,
			             c.tail_hi + c.sd);
	}
	if (type != RL_FS_EXT4) {
		c.rfd = open_reader(datafd);
		if (c.rfd < 0)
			return RL_NEG_ERRNO();
	}
	ret = move_all(&c, type, flags);
	restore_times(&c);
	if (stats) {
		stats->busy_retries += c.st.busy_retries;
		stats->differs_retries += c.st.differs_retries;
		stats->pieces += c.st.pieces;
	}
	if (c.rfd >= 0)
		close(c.rfd);
	free(c.d.v);
	free(c.s.v);
	return ret;
}
