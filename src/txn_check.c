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
#include "mem.h"
#include "planner.h"
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

/* The plan's pieces (every step's targets and old places) by start, so
 * that the steps covering a byte are found without a pass over every
 * earlier step for each target piece (n^2 for a plan of n steps: 0.4 s of
 * a 9,000-step compaction). */
struct ck_ent {
	uint64_t lo, hi;
	size_t step, idx; /* step, piece in its list */
	bool target;
};
struct tx_check_index {
	struct ck_ent *v; /* all pieces, by lo */
	uint64_t *maxhi;  /* maxhi[k]: the largest hi of v[0..k] */
	size_t n;
	struct ck_ent *t; /* the targets, by lo */
	size_t nt;
};

static int cmp_ent(const void *a, const void *b)
{
	const struct ck_ent *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

void tx_check_index_free(struct tx_check_index *ix)
{
	if (!ix)
		return;
	free(ix->v);
	free(ix->maxhi);
	free(ix->t);
	free(ix);
}

int tx_check_index_build(const struct tx_plan *p, struct tx_check_index **out)
{
	struct tx_check_index *ix = calloc(1, sizeof(*ix));
	size_t n = 0, nt = 0;

	*out = NULL;
	if (!ix)
		return -ENOMEM;
	for (size_t j = 0; j < p->nsteps; j++) {
		n += p->steps[j].range.ntarget + p->steps[j].range.nbefore;
		nt += p->steps[j].range.ntarget;
	}
	ix->v = malloc((n ? n : 1) * sizeof(*ix->v));
	ix->maxhi = malloc((n ? n : 1) * sizeof(*ix->maxhi));
	ix->t = malloc((nt ? nt : 1) * sizeof(*ix->t));
	if (!ix->v || !ix->maxhi || !ix->t) {
		tx_check_index_free(ix);
		return -ENOMEM;
	}
	for (size_t j = 0; j < p->nsteps; j++) {
		const struct jr_range *r = &p->steps[j].range;

		for (size_t k = 0; k < r->ntarget; k++) {
			struct ck_ent e = {r->target[k].physical,
			                   r->target[k].physical +
			                       r->target[k].length,
			                   j, k, true};
			ix->v[ix->n++] = e;
			ix->t[ix->nt++] = e;
		}
		for (size_t k = 0; k < r->nbefore; k++)
			ix->v[ix->n++] = (struct ck_ent){
			    r->before[k].physical,
			    r->before[k].physical + r->before[k].length, j, k,
			    false};
	}
	mem_sort(ix->v, ix->n, sizeof(*ix->v), cmp_ent);
	mem_sort(ix->t, ix->nt, sizeof(*ix->t), cmp_ent);
	for (size_t k = 0; k < ix->n; k++)
		ix->maxhi[k] = k && ix->maxhi[k - 1] > ix->v[k].hi
		                   ? ix->maxhi[k - 1]
		                   : ix->v[k].hi;
	*out = ix;
	return 0;
}

/* The first entry of v[0..n) (by lo) whose lo is above pos. */
static size_t first_above(const struct ck_ent *v, size_t n, uint64_t pos)
{
	size_t a = 0, b = n;

	while (a < b) {
		size_t m = a + (b - a) / 2;
		if (v[m].lo <= pos)
			a = m + 1;
		else
			b = m;
	}
	return a;
}

/* Is physical byte pos free when step i of the plan runs? Free now
 * (free_end: where that free extent ends, or 0 when pos is in use now)
 * or freed by an earlier step (a block range it moves away), unless a
 * step after that puts data there again (*taker: that step, else
 * SIZE_MAX; an undo of --unshare puts two files back on the blocks they
 * shared): the last earlier step whose target or old place holds pos
 * says which. Returns the end of the free range from pos (it ends where
 * an earlier step's target begins), or pos when pos is not free. */
uint64_t tx_check_free_at(const struct tx_check_index *ix, size_t i,
                          uint64_t pos, uint64_t free_end, size_t *taker)
{
	uint64_t end = free_end > pos ? free_end : pos;
	const struct ck_ent *best = NULL;
	size_t a = first_above(ix->v, ix->n, pos);

	*taker = SIZE_MAX;
	for (size_t k = a; k-- > 0;) {
		const struct ck_ent *e = &ix->v[k];

		if (ix->maxhi[k] <= pos)
			break; /* nothing at or before k reaches pos */
		if (e->hi <= pos || e->step >= i)
			continue;
		/* the later step wins; in one step its target, then the
		 * piece first in its list */
		if (!best || e->step > best->step ||
		    (e->step == best->step && e->target && !best->target) ||
		    (e->step == best->step && e->target == best->target &&
		     e->idx < best->idx))
			best = e;
	}
	if (best && best->target) {
		end = pos;
		*taker = best->step;
	} else if (best) {
		end = best->hi;
	}
	if (end > pos)
		for (size_t k = first_above(ix->t, ix->nt, pos);
		     k < ix->nt && ix->t[k].lo < end; k++)
			if (ix->t[k].step < i) {
				end = ix->t[k].lo;
				break;
			}
	return end;
}

/* The first byte from lo on (below hi) that is not free when step i runs
 * (fe: the n free extents of [lo, hi) now; sequenced plans: undo of a
 * defrag, compact); hi or more when there is none. *taker: the earlier
 * step that puts data there, or SIZE_MAX. */
static uint64_t first_busy(const struct tx_check_index *ix, size_t i,
                           const struct pl_run *fe, size_t n, uint64_t lo,
                           uint64_t hi, size_t *taker)
{
	uint64_t pos = lo, e2, fend;
	size_t q = 0;

	*taker = SIZE_MAX;
	while (pos < hi) {
		while (q < n && fe[q].start + fe[q].len <= pos)
			q++;
		fend =
		    q < n && fe[q].start <= pos ? fe[q].start + fe[q].len : 0;
		e2 = tx_check_free_at(ix, i, pos, fend, taker);
		if (e2 <= pos)
			break;
		pos = e2;
	}
	return pos;
}

/* Target piece t of step i: 0 free, else 1 or -errno with c filled. */
/* Where target piece t of step i is not free when the step runs (see
 * first_busy; map: the free extents under the plan's targets now), or
 * its end or beyond when it is; *fe, *n: the free extents of the piece. */
static uint64_t piece_first_busy(const struct tx_check_index *ix, size_t i,
                                 const struct rl_extent *t,
                                 const struct pl_freemap *map,
                                 const struct pl_run **fe, size_t *n,
                                 size_t *taker)
{
	uint64_t lo = t->physical, hi = lo + t->length;
	size_t a;

	/* the free extents that end above lo, up to the first at or above
	 * hi (a target of a compaction can span hundreds: small gaps
	 * between pieces earlier steps move) */
	a = pl_fm_first(map, lo);
	*fe = map->r + a;
	for (*n = 0; a + *n < map->n && (*fe)[*n].start < hi; (*n)++)
		;
	return first_busy(ix, i, *fe, *n, lo, hi, taker);
}

static int check_piece(const struct tx_check_index *ix, size_t i,
                       const struct rl_extent *t, const struct rl_fs_info *fs,
                       const struct pl_freemap *map, bool owners,
                       struct tx_check *c)
{
	const struct pl_run *fe;
	uint64_t lo = t->physical, hi = lo + t->length, pos;
	size_t taker, n;

	c->lo = lo;
	c->hi = hi;
	if (hi > fs->size) {
		c->kind = TX_CHECK_BEYOND_END;
		c->volume_size = fs->size;
		return 1;
	}
	pos = piece_first_busy(ix, i, t, map, &fe, &n, &taker);
	if (pos >= hi)
		return 0;
	if (taker != SIZE_MAX) {
		/* an earlier step of the plan puts its data there */
		c->kind = TX_CHECK_TAKEN;
		c->step = i;
		c->taker = taker;
		c->busy_lo = pos;
		c->busy_hi = hi;
		return 1;
	}
	/* [pos, ...) is not free: who holds it? */
	c->kind = TX_CHECK_BUSY;
	c->busy_lo = pos;
	c->busy_hi = hi;
	for (size_t q = 0; q < n; q++)
		if (fe[q].start > pos) {
			c->busy_hi = fe[q].start < hi ? fe[q].start : hi;
			break;
		}
	rl_space_walk(fs->mountpoint, c->busy_lo, c->busy_hi, used_cb, c);
	if (!c->metadata && owners)
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
		rl_fs_commit(dfd);
		close(dfd);
	}
}

static int targets_map(const struct tx_plan *p, const struct rl_fs_info *fs,
                       struct pl_freemap *map);

int tx_check_targets(const struct tx_plan *p, struct rl_fs_info *fs,
                     bool owners, struct tx_check *out)
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
	struct tx_check_index *ix;
	struct pl_freemap map;
	int r = tx_check_index_build(p, &ix);

	if (r == 0) {
		r = targets_map(p, fs, &map);
		if (r < 0)
			tx_check_index_free(ix);
	}
	if (r < 0) {
		out->kind = TX_CHECK_NO_MAP;
		out->err = r;
		return r;
	}
	for (size_t i = 0; r == 0 && i < p->nsteps; i++)
		for (size_t k = 0; r == 0 && k < p->steps[i].range.ntarget; k++)
			r = check_piece(ix, i, &p->steps[i].range.target[k], fs,
			                &map, owners, out);
	pl_fm_free(&map);
	tx_check_index_free(ix);
	return r;
}

/* The free extents under all of p's targets now, in one walk (not one
 * per piece: 7,205 of them in a whole-volume compaction); each piece looks
 * up its own free runs in it. 0 or -errno. */
static int targets_map(const struct tx_plan *p, const struct rl_fs_info *fs,
                       struct pl_freemap *map)
{
	struct rl_free_extent *fe = NULL;
	size_t nfe = 0;
	uint64_t lo = UINT64_MAX, hi = 0;
	int r = 0;

	pl_fm_init(map);
	for (size_t i = 0; i < p->nsteps; i++)
		for (size_t k = 0; k < p->steps[i].range.ntarget; k++) {
			const struct rl_extent *t =
			    &p->steps[i].range.target[k];
			if (t->length == 0)
				continue;
			if (t->physical < lo)
				lo = t->physical;
			if (t->physical + t->length > hi)
				hi = t->physical + t->length;
		}
	if (hi > fs->size)
		hi = fs->size; /* a piece beyond the end is said as such */
	if (lo < hi &&
	    (r = rl_free_list(fs->mountpoint, lo, hi, &fe, &nfe)) < 0)
		return r;
	for (size_t k = 0; r == 0 && k < nfe; k++) /* in order: appended */
		r = pl_fm_give(map, fe[k].start, fe[k].len);
	free(fe);
	if (r < 0)
		pl_fm_free(map);
	return r;
}

ssize_t tx_plan_dependents(const struct tx_plan *p, const bool *busy,
                           bool *drop)
{
	struct pl_freemap gone; /* the old places of the steps left out */
	ssize_t nd = 0;
	int r = 0;

	pl_fm_init(&gone);
	for (size_t i = 0; r == 0 && i < p->nsteps; i++) {
		const struct tx_step *st = &p->steps[i];

		drop[i] = busy[i];
		for (size_t k = 0; k < st->range.ntarget && !drop[i]; k++) {
			const struct rl_extent *t = &st->range.target[k];
			size_t g = pl_fm_first(&gone, t->physical);

			drop[i] = t->length && g < gone.n &&
			          gone.r[g].start < t->physical + t->length;
		}
		for (size_t k = 0; drop[i] && r == 0 && k < st->range.nbefore;
		     k++)
			r = pl_fm_give(&gone, st->range.before[k].physical,
			               st->range.before[k].length);
		nd += drop[i];
	}
	pl_fm_free(&gone);
	return r < 0 ? r : nd;
}

ssize_t tx_check_busy_steps(const struct tx_plan *p,
                            const struct rl_fs_info *fs, bool *drop, bool *busy)
{
	struct tx_check_index *ix;
	struct pl_freemap map;
	int r = tx_check_index_build(p, &ix);

	if (r < 0)
		return r;
	r = targets_map(p, fs, &map);
	if (r < 0) {
		tx_check_index_free(ix);
		return r;
	}
	for (size_t i = 0; i < p->nsteps; i++) {
		const struct tx_step *st = &p->steps[i];

		busy[i] = false;
		for (size_t k = 0; k < st->range.ntarget && !busy[i]; k++) {
			const struct rl_extent *t = &st->range.target[k];
			const struct pl_run *fe;
			size_t n, taker;

			if (t->length == 0 ||
			    t->physical + t->length > fs->size)
				continue;
			/* in use, and not by a step of the plan */
			busy[i] =
			    piece_first_busy(ix, i, t, &map, &fe, &n, &taker) <
			        t->physical + t->length &&
			    taker == SIZE_MAX;
		}
	}
	pl_fm_free(&map);
	tx_check_index_free(ix);
	return tx_plan_dependents(p, busy, drop);
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
