/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Are a plan's targets free, are an undo's files as it expects?
 * (src/txn_check.h) */
#include "config.h"
#include "txn_check.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include "txn.h"

#define OWNER_MAX_FILES 200000
#define OWNER_MAX_DEPTH 64

/* ------------------------------------------------------------ the owners */

struct owner_find {
	uint64_t lo, hi;
	dev_t dev;
	unsigned nfiles;
	struct tx_check *out;
};

static void owner_note(struct owner_find *of, const char *path)
{
	struct tx_check *c = of->out;

	if (c->nowners < TX_CHECK_MAX_OWNERS)
		c->owners[c->nowners] = strdup(path);
	c->nowners++;
}

/* Does the file open as fd (named path, taken) have blocks in [lo, hi)? */
static void owner_file(struct owner_find *of, int fd, const char *path)
{
	struct rl_extent *ext;
	size_t n;

	of->nfiles++;
	if (rl_get_extents(fd, &ext, &n) == 0) {
		for (size_t i = 0; i < n; i++)
			if (ext[i].physical < of->hi &&
			    ext[i].physical + ext[i].length > of->lo) {
				owner_note(of, path);
				break;
			}
		free(ext);
	}
	close(fd);
}

static void owner_walk(struct owner_find *of, int dfd, const char *path,
                       int depth);

/* Entry name of directory d (named path): a regular file to look at, a
 * directory to walk, or neither. */
static void owner_entry(struct owner_find *of, DIR *d, const char *path,
                        const char *name, int depth)
{
	struct stat st;
	char *sub;
	int fd;

	if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    st.st_dev != of->dev)
		return;
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		return;
	if (S_ISDIR(st.st_mode) && depth >= OWNER_MAX_DEPTH)
		return;
	fd = openat(dirfd(d), name,
	            O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK |
	                (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
	if (fd < 0)
		return;
	if (asprintf(&sub, "%s/%s", path, name) < 0) {
		close(fd);
		return;
	}
	if (S_ISDIR(st.st_mode))
		owner_walk(of, fd, sub, depth + 1);
	else
		owner_file(of, fd, sub);
	free(sub);
}

/* Which files have blocks in [lo, hi)? A walk of the mount that never
 * follows symlinks nor leaves the filesystem, bounded in files and depth.
 * path is the directory's name (for the owners), dfd its open fd
 * (taken). */
static void owner_walk(struct owner_find *of, int dfd, const char *path,
                       int depth)
{
	DIR *d = fdopendir(dfd);
	struct dirent *e;

	if (!d) {
		close(dfd);
		return;
	}
	while ((e = readdir(d)) && of->nfiles < OWNER_MAX_FILES)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			owner_entry(of, d, path, e->d_name, depth);
	closedir(d);
}

static void find_owners(const struct rl_fs_info *fs, struct tx_check *c)
{
	struct owner_find of = {
	    .lo = c->busy_lo, .hi = c->busy_hi, .dev = fs->st_dev, .out = c};
	int rfd = open(fs->mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (rfd >= 0)
		owner_walk(&of, rfd,
		           strcmp(fs->mountpoint, "/") ? fs->mountpoint : "",
		           0);
}

/* --------------------------------------------------------- the space map */

static int used_cb(const struct rl_space_rec *r, void *arg)
{
	struct tx_check *c = arg;

	if (r->kind == RL_SPACE_FREE)
		return 0;
	if (r->kind == RL_SPACE_METADATA)
		c->metadata = true;
	if (c->nused < TX_CHECK_MAX_USED)
		c->used[c->nused++] = *r;
	return 0;
}

/* The piece of pieces e (n) holding physical byte pos, or NULL. */
static const struct rl_extent *piece_at(const struct rl_extent *e, size_t n,
                                        uint64_t pos)
{
	for (size_t k = 0; k < n; k++)
		if (e[k].physical <= pos && pos < e[k].physical + e[k].length)
			return &e[k];
	return NULL;
}

/* Is physical byte pos free when step i of plan p runs? Free now
 * (free_end: where that free extent ends, or 0 when pos is in use now)
 * or freed by an earlier step (a block range it moves away), unless a
 * step after that puts data there again (*taker: that step, else
 * SIZE_MAX; an undo of --unshare puts two files back on the blocks they
 * shared). Returns the end of the free range from pos (it ends where an
 * earlier step's target begins), or pos when pos is not free. */
static uint64_t free_at_step(const struct tx_plan *p, size_t i, uint64_t pos,
                             uint64_t free_end, size_t *taker)
{
	uint64_t end = free_end > pos ? free_end : pos;

	*taker = SIZE_MAX;
	for (size_t j = 0; j < i; j++) {
		const struct tx_step *st = &p->steps[j];
		const struct rl_extent *b;

		if (piece_at(st->range.target, st->range.ntarget, pos)) {
			end = pos;
			*taker = j;
		} else if ((b = piece_at(st->range.before, st->range.nbefore,
		                         pos))) {
			end = b->physical + b->length;
			*taker = SIZE_MAX;
		}
	}
	for (size_t j = 0; j < i && end > pos; j++)
		for (size_t k = 0; k < p->steps[j].range.ntarget; k++) {
			uint64_t a = p->steps[j].range.target[k].physical;
			if (a > pos && a < end)
				end = a;
		}
	return end;
}

/* The first byte from lo on (below hi) that is not free when step i runs
 * (fe: the n free extents of [lo, hi) now; sequenced plans: undo of a
 * defrag, compact); hi or more when there is none. *taker: the earlier
 * step that puts data there, or SIZE_MAX. */
static uint64_t first_busy(const struct tx_plan *p, size_t i,
                           const struct rl_free_extent *fe, size_t n,
                           uint64_t lo, uint64_t hi, size_t *taker)
{
	uint64_t pos = lo, e2, fend;
	size_t q = 0;

	*taker = SIZE_MAX;
	while (pos < hi) {
		while (q < n && fe[q].start + fe[q].len <= pos)
			q++;
		fend =
		    q < n && fe[q].start <= pos ? fe[q].start + fe[q].len : 0;
		e2 = free_at_step(p, i, pos, fend, taker);
		if (e2 <= pos)
			break;
		pos = e2;
	}
	return pos;
}

/* Target piece t of step i: 0 free, else 1 or -errno with c filled. */
static int check_piece(const struct tx_plan *p, size_t i,
                       const struct rl_extent *t, const struct rl_fs_info *fs,
                       struct tx_check *c)
{
	struct rl_free_extent *fe = NULL;
	uint64_t lo = t->physical, hi = lo + t->length, pos;
	size_t taker, n = 0;
	int r;

	c->lo = lo;
	c->hi = hi;
	if (hi > fs->size) {
		c->kind = TX_CHECK_BEYOND_END;
		c->volume_size = fs->size;
		return 1;
	}
	/* every free extent of the target (a target of a compaction can
	 * span hundreds: small gaps between pieces earlier steps move) */
	r = tx_free_extents(fs->mountpoint, lo, hi, &fe, &n);
	if (r < 0) {
		free(fe);
		c->kind = TX_CHECK_NO_MAP;
		c->err = r;
		return r;
	}
	pos = first_busy(p, i, fe, n, lo, hi, &taker);
	if (pos >= hi) {
		free(fe);
		return 0;
	}
	if (taker != SIZE_MAX) {
		/* an earlier step of the plan puts its data there */
		c->kind = TX_CHECK_TAKEN;
		c->step = i;
		c->taker = taker;
		c->busy_lo = pos;
		c->busy_hi = hi;
		free(fe);
		return 1;
	}
	/* [pos, ...) is not free: who holds it? */
	c->kind = TX_CHECK_BUSY;
	c->busy_lo = pos;
	c->busy_hi = hi;
	for (size_t q = 0; q < n; q++)
		if (fe[q].start > pos) {
			c->busy_hi = fe[q].start;
			break;
		}
	free(fe);
	rl_space_walk(fs->mountpoint, c->busy_lo, c->busy_hi, used_cb, c);
	if (!c->metadata)
		find_owners(fs, c);
	return 1;
}

/* ------------------------------------------------------------ the check */

/* A step needs its target while its old blocks are still held, and frees
 * those afterwards: the plan needs, at its peak, the most any step needs
 * beyond what the steps before it freed (not the sum). */
static uint64_t plan_peak(const struct tx_plan *p)
{
	uint64_t alloc = 0, freed = 0, need = 0, now;

	for (size_t i = 0; i < p->nsteps; i++) {
		alloc += p->steps[i].bytes;
		now = alloc > freed ? alloc - freed : 0;
		if (now > need)
			need = now;
		freed += tx_pieces_bytes(p->steps[i].range.before,
		                         p->steps[i].range.nbefore);
	}
	return need;
}

/* Blocks freed moments ago (a move, a deleted file) are free in the map
 * only once the journal commits (ext4) / the log is forced (XFS busy
 * extents): commit first. */
static void commit_volume(const char *mnt)
{
	int dfd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd >= 0) {
		syncfs(dfd);
		close(dfd);
	}
}

int tx_check_targets(const struct tx_plan *p, struct rl_fs_info *fs,
                     struct tx_check *out)
{
	struct statvfs sv;

	memset(out, 0, sizeof(*out));
	commit_volume(fs->mountpoint);
	out->need = plan_peak(p);
	if (statvfs(fs->mountpoint, &sv) == 0)
		fs->free_blocks = sv.f_bfree * sv.f_frsize / fs->block_size;
	out->avail = fs->free_blocks * (uint64_t)fs->block_size;
	if (out->need > out->avail) {
		out->kind = TX_CHECK_NO_SPACE;
		return 1;
	}
	for (size_t i = 0; i < p->nsteps; i++)
		for (size_t k = 0; k < p->steps[i].range.ntarget; k++) {
			int r = check_piece(p, i, &p->steps[i].range.target[k],
			                    fs, out);
			if (r != 0)
				return r;
		}
	return 0;
}

void tx_check_fini(struct tx_check *c)
{
	for (unsigned i = 0; i < c->nowners && i < TX_CHECK_MAX_OWNERS; i++)
		free(c->owners[i]);
	c->nowners = 0;
}

/* ------------------------------------------------------------ undo files */

/* Step i of the undo plan p against its file (open as fd). */
static enum tx_undo_kind undo_step_check(const struct tx_plan *p, size_t i,
                                         int fd)
{
	const struct tx_step *st = &p->steps[i];
	uint64_t ino, gen;
	bool gk;
	struct rl_extent *now = NULL, *parts = NULL;
	size_t nnow, nparts = 0;
	int same = 1;

	if (rl_file_identity(fd, &ino, &gen, &gk) < 0 || ino != st->range.ino ||
	    (gk && st->gen_known && gen != st->range.gen))
		return TX_UNDO_REPLACED;
	if (tx_step_untouched(p, i, &parts, &nparts) < 0 ||
	    tx_range_pieces(fd, st->range.offset, st->range.length, &now,
	                    &nnow) < 0)
		same = 0;
	for (size_t k = 0; k < nparts && same == 1; k++)
		same = tx_pieces_equal_in(now, nnow, st->range.before,
		                          st->range.nbefore, parts[k].logical,
		                          parts[k].length);
	free(parts);
	free(now);
	return same == 1 ? TX_UNDO_OK : TX_UNDO_CHANGED;
}

int tx_check_undo_files(const struct tx_plan *p, tx_open_cb open_file,
                        void *open_arg, struct tx_undo_check *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < p->nsteps; i++) {
		int fd = open_file(open_arg, p->steps[i].range.path, O_RDONLY);

		out->step = i;
		if (fd < 0) {
			out->kind = TX_UNDO_CANNOT_OPEN;
			out->err = fd;
			return 1;
		}
		out->kind = undo_step_check(p, i, fd);
		close(fd);
		if (out->kind != TX_UNDO_OK)
			return 1;
	}
	return 0;
}
