/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The planner: relocation plans from the layout model (see planner.h). */
#include "config.h"
#include "planner.h"
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "mem.h"
#include "units.h"

#define PL_IMMUTABLE_FL 0x00000010 /* FS_IMMUTABLE_FL */
#define PL_APPEND_FL    0x00000020 /* FS_APPEND_FL */

/* a / d, d > 0: a shift when d is a power of two (block sizes, ext4
 * group sizes; a division costs tens of cycles in the planner's loops) */
static inline uint64_t pl_div(uint64_t a, uint64_t d)
{
	return (d & (d - 1)) == 0 ? a >> __builtin_ctzll(d) : a / d;
}

/* ------------------------------------------------------------ free map */

/* buddy orders counted: log2(block size) + 2 at most (64 KiB blocks: 18) */
#define PL_EXT4_ORDERS 24

/* ext4_place_cost's counts of free buddy chunks below a point, kept
 * across calls (c->e4g, one a group): pre[j] the counts below
 * the group's free run j (runs counted from the first that ends in the
 * group), pre[0..n] known; valid while fm.ver of the group is ver. */
struct pl_e4group {
	bool valid;
	uint32_t ver;
	size_t n, cap;
	uint64_t (*pre)[PL_EXT4_ORDERS];
};

void pl_fm_init(struct pl_freemap *fm)
{
	memset(fm, 0, sizeof(*fm));
}

void pl_fm_free(struct pl_freemap *fm)
{
	free(fm->r);
	free(fm->ver);
	memset(fm, 0, sizeof(*fm));
}

int pl_fm_track(struct pl_freemap *fm, uint64_t base, uint64_t unit, size_t n)
{
	uint32_t *v;

	if (!unit || !n)
		return -EINVAL;
	v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	free(fm->ver);
	fm->ver = v;
	fm->nver = n;
	fm->vbase = base;
	fm->vunit = unit;
	return 0;
}

static size_t fm_unit(const struct pl_freemap *fm, uint64_t x)
{
	uint64_t u = x < fm->vbase ? 0 : (x - fm->vbase) / fm->vunit;

	return u < fm->nver ? (size_t)u : fm->nver - 1;
}

/* [start, end) changes: bump the units it touches, and those of the
 * blocks right before and after it (a run there may merge with it or
 * be cut). */
static void fm_touch(struct pl_freemap *fm, uint64_t start, uint64_t end)
{
	if (!fm->ver)
		return;
	for (size_t u = fm_unit(fm, start ? start - 1 : 0),
	            e = fm_unit(fm, end);
	     u <= e; u++)
		fm->ver[u]++;
}

/* First run with start > x. */
static size_t fm_upper(const struct pl_freemap *fm, uint64_t x)
{
	size_t lo = 0, hi = fm->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (fm->r[mid].start <= x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* First run that ends after x (the one holding x, or the next). */
static size_t fm_first(const struct pl_freemap *fm, uint64_t x)
{
	size_t i = fm_upper(fm, x);

	if (i > 0 && fm->r[i - 1].start + fm->r[i - 1].len > x)
		i--;
	return i;
}

size_t pl_fm_first(const struct pl_freemap *fm, uint64_t x)
{
	return fm_first(fm, x);
}

int pl_fm_give(struct pl_freemap *fm, uint64_t start, uint64_t len)
{
	uint64_t end = start + len;
	size_t i, j;

	if (!len)
		return 0;
	fm_touch(fm, start, end);
	i = fm_upper(fm, start);
	/* merge with the run before when it touches */
	if (i > 0 && fm->r[i - 1].start + fm->r[i - 1].len >= start) {
		i--;
		if (fm->r[i].start < start)
			start = fm->r[i].start;
		if (fm->r[i].start + fm->r[i].len > end)
			end = fm->r[i].start + fm->r[i].len;
	}
	j = i;
	while (j < fm->n && fm->r[j].start <= end) {
		if (fm->r[j].start + fm->r[j].len > end)
			end = fm->r[j].start + fm->r[j].len;
		j++;
	}
	/* replace r[i..j) by one run */
	if (j == i) {
		if (mem_grow(&fm->r, &fm->cap, fm->n + 1, sizeof(*fm->r)) < 0)
			return -ENOMEM;
		memmove(fm->r + i + 1, fm->r + i, (fm->n - i) * sizeof(*fm->r));
		fm->n++;
	} else if (j > i + 1) {
		memmove(fm->r + i + 1, fm->r + j, (fm->n - j) * sizeof(*fm->r));
		fm->n -= j - i - 1;
	}
	fm->r[i].start = start;
	fm->r[i].len = end - start;
	return 0;
}

int pl_fm_take(struct pl_freemap *fm, uint64_t start, uint64_t len)
{
	size_t i = fm_upper(fm, start);
	struct pl_run *r;
	uint64_t end = start + len, rend;

	if (!len)
		return 0;
	if (i == 0)
		return -EBUSY;
	r = &fm->r[i - 1];
	rend = r->start + r->len;
	if (rend < end)
		return -EBUSY;
	fm_touch(fm, start, end);
	if (r->start == start && rend == end) {
		memmove(r, r + 1, (fm->n - i) * sizeof(*r));
		fm->n--;
	} else if (r->start == start) {
		r->start = end;
		r->len = rend - end;
	} else if (rend == end) {
		r->len = start - r->start;
	} else {
		r->len = start - r->start;
		return pl_fm_give(fm, end, rend - end);
	}
	return 0;
}

bool pl_fm_is_free(const struct pl_freemap *fm, uint64_t start, uint64_t len)
{
	size_t i = fm_upper(fm, start);

	if (!len)
		return true;
	return i > 0 && fm->r[i - 1].start + fm->r[i - 1].len >= start + len;
}

/* Bytes of [a, a+len) inside [lo, hi). */
static uint64_t clip_len(uint64_t a, uint64_t len, uint64_t lo, uint64_t hi)
{
	uint64_t b = a + len;

	if (a < lo)
		a = lo;
	if (b > hi)
		b = hi;
	return a < b ? b - a : 0;
}

uint64_t pl_fm_bytes(const struct pl_freemap *fm, uint64_t lo, uint64_t hi)
{
	uint64_t t = 0;

	for (size_t i = 0; i < fm->n; i++)
		t += clip_len(fm->r[i].start, fm->r[i].len, lo, hi);
	return t;
}

size_t pl_fm_runs(const struct pl_freemap *fm, uint64_t lo, uint64_t hi)
{
	size_t k = 0;

	for (size_t i = 0; i < fm->n; i++)
		if (fm->r[i].start < hi && fm->r[i].start + fm->r[i].len > lo)
			k++;
	return k;
}

/* ------------------------------------------------------------- context */

void pl_note(struct pl_ctx *c, const char *fmt, ...)
{
	va_list ap;
	char buf[1024];
	int w;

	va_start(ap, fmt);
	w = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (w < 0)
		return;
	if ((size_t)w >= sizeof(buf))
		w = sizeof(buf) - 1;
	if (c->rlen + (size_t)w + 2 > c->rcap) {
		size_t nc = (c->rcap + (size_t)w + 2) * 2;
		char *nr = realloc(c->report, nc);
		if (!nr)
			return;
		c->report = nr;
		c->rcap = nc;
	}
	memcpy(c->report + c->rlen, buf, (size_t)w);
	c->rlen += (size_t)w;
	c->report[c->rlen++] = '\n';
	c->report[c->rlen] = 0;
}

int pl_init(struct pl_ctx *c, struct lm_model *m)
{
	struct lm_space *sp = NULL;
	ssize_t ns;

	memset(c, 0, sizeof(*c));
	c->m = m;
	c->g = lm_geometry(m);
	c->bs = c->g->fs.block_size ? c->g->fs.block_size : 4096;
	c->xfs_anchor = c->g->fs.type == RL_FS_XFS;
	c->anyplace = c->g->fs.type == RL_FS_BTRFS;
	pl_fm_init(&c->fm);
	if (lm_free_map_status(m) != 0)
		return -ENODATA;
	if (c->g->fs.type == RL_FS_EXT4 && c->g->fs.group_size) {
		size_t ng =
		    c->g->fs.group_count
		        ? (size_t)c->g->fs.group_count
		        : (size_t)((c->g->fs.size + c->g->fs.group_size - 1) /
		                   c->g->fs.group_size);
		if (!ng)
			ng = 1;
		c->e4g = calloc(ng, sizeof(*c->e4g));
		if (!c->e4g || pl_fm_track(&c->fm, c->g->fs.first_data_byte,
		                           c->g->fs.group_size, ng) < 0)
			return -ENOMEM;
	}
	ns = lm_space_list(m, LM_SPACE_FREE, &sp);
	if (ns < 0)
		return (int)ns;
	for (ssize_t i = 0; i < ns; i++)
		if (pl_fm_give(&c->fm, sp[i].start, sp[i].length) < 0) {
			free(sp);
			return -ENOMEM;
		}
	free(sp);
	c->nfiles = lm_file_count(m);
	c->ext = calloc(c->nfiles + 1, sizeof(*c->ext));
	c->next = calloc(c->nfiles + 1, sizeof(*c->next));
	if (!c->ext || !c->next)
		return -ENOMEM;
	for (size_t i = 0; i < c->nfiles; i++) {
		size_t n;
		const struct lm_extent *e = lm_file_extents(m, (uint32_t)i, &n);
		c->ext[i] = calloc(n + 1, sizeof(**c->ext));
		if (!c->ext[i])
			return -ENOMEM;
		for (size_t k = 0; k < n; k++) {
			c->ext[i][k].logical = e[k].logical;
			c->ext[i][k].physical = e[k].physical;
			c->ext[i][k].length = e[k].length;
			c->ext[i][k].flags = e[k].flags;
		}
		c->next[i] = n;
	}
	return 0;
}

void pl_fini(struct pl_ctx *c)
{
	for (size_t g = 0; c->e4g && g < c->fm.nver; g++)
		free(c->e4g[g].pre);
	free(c->e4g);
	pl_fm_free(&c->fm);
	pl_fm_free(&c->resv);
	free(c->holes);
	free(c->tree_grant);
	for (size_t i = 0; c->ext && i < c->nfiles; i++)
		free(c->ext[i]);
	free(c->ext);
	free(c->next);
	for (size_t i = 0; i < c->nmv; i++) {
		free(c->mv[i].before);
		free(c->mv[i].target);
	}
	free(c->mv);
	free(c->report);
	memset(c, 0, sizeof(*c));
}

const struct rl_extent *pl_file_extents(struct pl_ctx *c, uint32_t id,
                                        size_t *n)
{
	*n = id < c->nfiles ? c->next[id] : 0;
	return id < c->nfiles ? c->ext[id] : NULL;
}

bool pl_file_span(struct pl_ctx *c, uint32_t id, uint64_t *off, uint64_t *len,
                  uint64_t *bytes)
{
	size_t n;
	const struct rl_extent *e = pl_file_extents(c, id, &n);
	uint64_t lo = UINT64_MAX, hi = 0, b = 0;

	for (size_t i = 0; i < n; i++) {
		if (e[i].logical < lo)
			lo = e[i].logical;
		if (e[i].logical + e[i].length > hi)
			hi = e[i].logical + e[i].length;
		b += e[i].length;
	}
	if (!n || hi <= lo)
		return false;
	lo = lo / c->bs * c->bs;
	hi = (hi + c->bs - 1) / c->bs * c->bs;
	*off = lo;
	*len = hi - lo;
	if (bytes)
		*bytes = b;
	return true;
}

static int cmp_ext_logical(const void *a, const void *b)
{
	const struct rl_extent *x = a, *y = b;
	return x->logical < y->logical ? -1 : x->logical > y->logical;
}

/* Physically contiguous runs of file id's data below eof (the parts of
 * extents past it left out). */
static uint64_t regions_below(struct pl_ctx *c, uint32_t id, uint64_t eof)
{
	size_t n, m = 0;
	const struct rl_extent *e = pl_file_extents(c, id, &n);
	struct rl_extent *s;
	uint64_t k = 0;

	if (!n)
		return 0;
	s = malloc(n * sizeof(*s));
	if (!s)
		return n;
	for (size_t i = 0; i < n; i++)
		if (e[i].logical < eof) {
			s[m] = e[i];
			if (s[m].logical + s[m].length > eof)
				s[m].length = eof - s[m].logical;
			m++;
		}
	mem_sort(s, m, sizeof(*s), cmp_ext_logical);
	for (size_t i = 0; i < m; i++)
		if (i == 0 ||
		    s[i - 1].physical + s[i - 1].length != s[i].physical)
			k++;
	free(s);
	return k;
}

uint64_t pl_file_regions(struct pl_ctx *c, uint32_t id)
{
	return regions_below(c, id, UINT64_MAX);
}

/* File id, its generation and inode flags read first when unknown. */
static const struct lm_file *file_with_attrs(struct pl_ctx *c, uint32_t id)
{
	const struct lm_file *f = lm_file(c->m, id);
	const unsigned both = LM_FILE_HAS_GEN | LM_FILE_HAS_IFLAGS;

	if (f && c->file_attrs && (f->flags & both) != both &&
	    !(f->flags & LM_FILE_ATTRS_READ)) {
		(void)c->file_attrs(c->file_attrs_arg, id);
		f = lm_file(c->m, id);
	}
	return f;
}

static const char *const stuck_text[] = {
    [PL_STUCK_NO_FILE] = "not in the model",
    [PL_STUCK_UNREADABLE] = "could not be read when the model was scanned",
    [PL_STUCK_DIR] = "a directory (directory blocks are not moved)",
    [PL_STUCK_NOT_REG] = "not a regular file",
    [PL_STUCK_INLINE] = "inline data (no blocks of its own)",
    [PL_STUCK_ENCODED] = "encoded or encrypted extents",
    [PL_STUCK_DELALLOC] = "extents not yet allocated (delalloc)",
    [PL_STUCK_UNALIGNED] = "extents not block aligned",
    [PL_STUCK_SHARED] = "shared (reflinked) extents; --unshare copies them",
    [PL_STUCK_IMMUTABLE] = "immutable (chattr +i)",
    [PL_STUCK_APPEND] = "append-only (chattr +a)",
};

/* Why file id cannot move, from the model (the busy hook not asked);
 * extents at or past `eof` (a block boundary) are not asked for being
 * allocated (preallocation past EOF that writeback left delalloc, as XFS
 * speculative preallocation on a full volume: defrag moves the data below
 * EOF only). */
static enum pl_stuck stuck_in_model(struct pl_ctx *c, uint32_t id, uint64_t eof)
{
	const struct lm_file *f = lm_file(c->m, id);
	size_t n;
	const struct rl_extent *e = pl_file_extents(c, id, &n);

	if (!f)
		return PL_STUCK_NO_FILE;
	if (f->err)
		return PL_STUCK_UNREADABLE;
	if (S_ISDIR(f->mode))
		return PL_STUCK_DIR;
	if (!S_ISREG(f->mode))
		return PL_STUCK_NOT_REG;
	for (size_t i = 0; i < n; i++) {
		if (e[i].flags & (RL_EXT_DATA_INLINE | RL_EXT_DATA_TAIL))
			return PL_STUCK_INLINE;
		if (e[i].flags & (RL_EXT_ENCODED | RL_EXT_ENCRYPTED))
			return PL_STUCK_ENCODED;
		if ((e[i].flags & (RL_EXT_UNKNOWN | RL_EXT_DELALLOC)) &&
		    e[i].logical < eof)
			return PL_STUCK_DELALLOC;
		if (e[i].flags & RL_EXT_NOT_ALIGNED)
			return PL_STUCK_UNALIGNED;
		if ((e[i].flags & RL_EXT_SHARED) && !c->unshare)
			return PL_STUCK_SHARED;
	}
	f = file_with_attrs(c, id); /* last: it may read the file */
	if ((f->flags & LM_FILE_HAS_IFLAGS) && (f->iflags & PL_IMMUTABLE_FL))
		return PL_STUCK_IMMUTABLE;
	if ((f->flags & LM_FILE_HAS_IFLAGS) && (f->iflags & PL_APPEND_FL))
		return PL_STUCK_APPEND;
	return PL_MOVABLE;
}

/* pl_unmovable, extents at or past eof not asked for being allocated. */
static enum pl_stuck unmovable_below(struct pl_ctx *c, uint32_t id,
                                     uint64_t eof, const char **why)
{
	enum pl_stuck k = stuck_in_model(c, id, eof);
	const char *w = stuck_text[k];

	if (k == PL_MOVABLE && c->file_busy &&
	    (w = c->file_busy(c->file_busy_arg, id)))
		k = PL_STUCK_BUSY;
	if (why)
		*why = w;
	return k;
}

enum pl_stuck pl_unmovable(struct pl_ctx *c, uint32_t id, const char **why)
{
	return unmovable_below(c, id, UINT64_MAX, why);
}

static uint64_t group_of(const struct lm_geometry *g, uint64_t a)
{
	uint64_t k;

	if (!g->fs.group_size)
		return 0;
	if (a < g->fs.first_data_byte + g->fs.group_size)
		return 0;
	k = pl_div(a - g->fs.first_data_byte, g->fs.group_size);
	if (g->fs.group_count && k >= g->fs.group_count)
		k = g->fs.group_count - 1;
	return k;
}

/* Is there file data below a in its group (the XFS reflink anchor)?
 * Predicted: any file extent in [group start, a). */
static bool anchor_ok(struct pl_ctx *c, uint64_t a)
{
	uint64_t gs, ge;
	struct lm_stats st;

	if (!c->xfs_anchor)
		return true;
	lm_group_range(c->m, group_of(c->g, a), &gs, &ge);
	if (a <= gs)
		return false;
	if (lm_range_stats(c->m, gs, a, &st) == 0 && st.bytes[LM_CAT_DATA])
		return true;
	/* data moved there by the plan counts too */
	for (size_t i = 0; i < c->nmv; i++)
		if (c->mv[i].goal >= gs && c->mv[i].goal < a)
			return true;
	return false;
}

/* ext4: buddy-aligned chunks (in blocks, relative to the group start) of
 * at most PL_EXT4_CHUNK blocks, as the exact placement cuts a target. */
#define PL_EXT4_CHUNK 2048u
/* Costs below this estimate count as cheap (a few hundredths of a
 * second); above it a target costs up to a second of blocker requests. */
#define PL_EXT4_CHEAP 64u

/* Maximal free buddy chunks of exactly n blocks (n == PL_EXT4_CHUNK: at
 * least n, counted in n-block pieces) in [gs, end), predicted map. */
static uint64_t ext4_chunks_below(struct pl_ctx *c, uint64_t gs, uint64_t end,
                                  uint64_t n)
{
	uint64_t k = 0, bs = c->bs;
	size_t i = fm_first(&c->fm, gs);
	for (; i < c->fm.n && c->fm.r[i].start < end; i++) {
		uint64_t a = c->fm.r[i].start, b = a + c->fm.r[i].len;
		if (a < gs)
			a = gs;
		if (b > end)
			b = end;
		a = (a - gs + bs - 1) / bs;
		b = (b - gs) / bs;
		while (a < b) { /* greedy aligned decomposition */
			uint64_t m = 8192;
			while (m > 1 && (a % m || a + m > b))
				m /= 2;
			if (m == n || (n == PL_EXT4_CHUNK && m > n))
				k += m / n;
			a += m;
		}
	}
	return k;
}

/* ext4: estimated requests of the chunk-by-chunk placement of [a, a+len)
 * (when no chunk of the free run qualifies, below): per chunk container,
 * one request per free chunk of its order below it in the group (each is
 * kept as a blocker), plus the container itself. */
static uint64_t ext4_chunks_cost(struct pl_ctx *c, uint64_t a, uint64_t len)
{
	uint64_t gs, ge, bs = c->bs, cost = 0, lo, hi, gend, cont_lo = 0,
	                 cont_hi = 0;

	lm_group_range(c->m, group_of(c->g, a), &gs, &ge);
	lo = (a - gs) / bs;
	hi = (a + len - gs) / bs;
	gend = (ge - gs) / bs;
	for (uint64_t b = lo; b < hi;) {
		uint64_t n = PL_EXT4_CHUNK;
		while (n > 1 && (b % n || b + n > hi || b + n > gend))
			n /= 2;
		if (!(b >= cont_lo && b + n <= cont_hi)) {
			uint64_t cs = b, cn = n;
			/* the largest free aligned block around it, the target
			 * counted as free (it is, when the step runs) */
			while (cn < PL_EXT4_CHUNK) {
				uint64_t ps = cs - cs % (2 * cn);
				if (ps + 2 * cn > gend ||
				    !pl_fm_is_free(&c->fm, gs + ps * bs,
				                   2 * cn * bs))
					break;
				cs = ps;
				cn *= 2;
			}
			cost += 1 + ext4_chunks_below(c, gs, gs + cs * bs, cn);
			cont_lo = cs;
			cont_hi = cs + cn;
		}
		b += n;
	}
	return cost;
}

/* ext4: blocks written per request-equivalent in the placement cost (a
 * 2048-block merge request writes 8 MiB with 4 KiB blocks; on
 * bench/defrag.sh one such request cost roughly as much as eight
 * one-block blocker requests, docs/BENCHMARKS.md "defrag"). */
#define PL_EXT4_BLOCKS_PER_REQ 256u

/* ext4: estimated cost of the exact placement of [a, a+len) (claim_run in
 * lib/fs_place_ext4.c), in requests plus blocks written / 256: one buddy
 * chunk of the free run holding a, at or below a and of at most
 * PL_EXT4_CHUNK blocks, is taken with one blocker request per free chunk
 * of its order below it in the group -- the chunk with the fewest, the
 * lowest of those (in the first group of a flex group, the chunk at the
 * run's start) -- then grown to the target end with about one request per
 * PL_EXT4_CHUNK blocks. Blocks written besides the target's: the blockers
 * and the run from the chunk to the target start. 0 on other
 * filesystems. */
/* The free buddy chunks per order of one ext4 group below a point of the
 * predicted map (ext4_place_cost): free runs r[first of the group .. i)
 * folded in. pl_find_target keeps one while it walks the runs of the map
 * in address order, so each run is folded once per call instead of once
 * per candidate above it in its group. Valid while the map is unchanged. */

struct ext4_below {
	uint64_t gs; /* group start (blocks); UINT64_MAX: nothing yet */
	size_t i;    /* the next run to fold in */
	uint64_t below[PL_EXT4_ORDERS];
};

/* Count the free buddy chunks of run i clipped to [gs, ge) (blocks) up to
 * block tlo in below[]. With ra != UINT64_MAX also choose, among the
 * chunks at or above ra (the target's own run) of at most PL_EXT4_CHUNK
 * blocks, the one with the fewest of its order below it (ff: the one at
 * ra): *best, *bests, *bestn. */
static void ext4_fold_run(const struct pl_ctx *c, size_t i, uint64_t gs,
                          uint64_t ge, uint64_t tlo, uint64_t ra, bool ff,
                          uint64_t *below, uint64_t *best, uint64_t *bests,
                          uint64_t *bestn)
{
	uint64_t bs = c->bs;
	uint64_t s = pl_div(c->fm.r[i].start + bs - 1, bs);
	uint64_t t = pl_div(c->fm.r[i].start + c->fm.r[i].len, bs);
	/* largest buddy order: log2(block size) + 1 (block sizes are
	 * powers of two) */
	unsigned maxk = bs > 1 ? (unsigned)__builtin_ctzll(bs) : 1;

	if (maxk > PL_EXT4_ORDERS - 2)
		maxk = PL_EXT4_ORDERS - 2;
	maxk++;
	s = s > gs ? s : gs;
	t = t < ge ? t : ge;
	while (s < t && s <= tlo) {
		/* the chunk at s: aligned to its size from the group start,
		 * ending by t, of order maxk at most */
		unsigned k = 63 - (unsigned)__builtin_clzll(t - s);

		if (s > gs && (unsigned)__builtin_ctzll(s - gs) < k)
			k = (unsigned)__builtin_ctzll(s - gs);
		if (k > maxk)
			k = maxk;
		if (ra != UINT64_MAX && s >= ra &&
		    (1ull << k) <= PL_EXT4_CHUNK &&
		    (ff ? s == ra : below[k] < *best)) {
			*best = below[k];
			*bests = s;
			*bestn = 1ull << k;
		}
		below[k]++;
		s += 1ull << k;
	}
}

/* (run: the index of the free run holding a, which the caller knows) */
static uint64_t ext4_place_cost(struct pl_ctx *c, uint64_t a, uint64_t len,
                                struct ext4_below *cb, size_t run)
{
	uint64_t bs = c->bs, g, gs, ge, ra, tlo, thi, below[PL_EXT4_ORDERS];
	uint64_t best = UINT64_MAX, bests = 0, bestn = 0;
	struct ext4_below local = {.gs = UINT64_MAX};
	bool ff;
	size_t i;

	if (c->g->fs.type != RL_FS_EXT4 || !c->g->fs.group_size)
		return 0;
	if (!cb)
		cb = &local;
	g = group_of(c->g, a);
	gs = pl_div(c->g->fs.first_data_byte + g * c->g->fs.group_size, bs);
	ge = gs + pl_div(c->g->fs.group_size, bs);
	tlo = pl_div(a, bs);
	thi = pl_div(a + len, bs);
	ff = c->g->flex_groups >= 4 &&
	     pl_div(g, c->g->flex_groups) * c->g->flex_groups == g;
	i = run < c->fm.n && c->fm.r[run].start <= a &&
	            a < c->fm.r[run].start + c->fm.r[run].len
	        ? run + 1
	        : fm_upper(&c->fm, a);
	if (i == 0)
		return ext4_chunks_cost(c, a, len);
	i--; /* the free run holding a */
	ra = pl_div(c->fm.r[i].start, bs);
	if (ra < gs)
		ra = gs;
	if (cb->gs != gs || cb->i > i) {
		cb->gs = gs;
		cb->i = fm_first(&c->fm, gs * bs);
		memset(cb->below, 0, sizeof(cb->below));
	}
	if (c->e4g && c->fm.ver && g < c->fm.nver && i >= cb->i) {
		/* cb->i: the group's first run; the runs below a's, whole,
		 * folded once while the group is unchanged */
		struct pl_e4group *q = &c->e4g[g];
		size_t j = i - cb->i;

		if (!q->valid || q->ver != c->fm.ver[g]) {
			q->valid = true;
			q->ver = c->fm.ver[g];
			q->n = 0;
		}
		if (mem_grow(&q->pre, &q->cap, j + 1, sizeof(*q->pre)) < 0)
			return ext4_chunks_cost(c, a, len);
		if (q->n == 0)
			memset(q->pre[0], 0, sizeof(q->pre[0]));
		for (; q->n < j; q->n++) {
			memcpy(q->pre[q->n + 1], q->pre[q->n],
			       sizeof(q->pre[0]));
			ext4_fold_run(c, cb->i + q->n, gs, ge, UINT64_MAX,
			              UINT64_MAX, false, q->pre[q->n + 1],
			              &best, &bests, &bestn);
		}
		memcpy(below, q->pre[j], sizeof(below));
	} else {
		for (; cb->i < i; cb->i++) /* the runs below a's, whole */
			ext4_fold_run(c, cb->i, gs, ge, UINT64_MAX, UINT64_MAX,
			              false, cb->below, &best, &bests, &bestn);
		memcpy(below, cb->below, sizeof(below));
	}
	ext4_fold_run(c, i, gs, ge, tlo, ra, ff, below, &best, &bests, &bestn);
	if (best == UINT64_MAX)
		return ext4_chunks_cost(c, a, len);
	return 1 + best + (thi - bests + PL_EXT4_CHUNK - 1) / PL_EXT4_CHUNK +
	       (best * bestn + tlo - bests) / PL_EXT4_BLOCKS_PER_REQ;
}

/* A candidate target's ranking: with an anchor (XFS) first; then, on
 * ext4, cheap to place (blocker requests cost up to a second per target);
 * then best fit, fewer requests, nearest. */
struct cand {
	uint64_t waste, dist, cost;
	bool anchor, cheap;
};

static bool cand_better(const struct cand *x, const struct cand *y)
{
	if (x->anchor != y->anchor)
		return x->anchor;
	if (x->cheap != y->cheap)
		return x->cheap;
	if (x->waste != y->waste)
		return x->waste < y->waste;
	if (x->cost != y->cost)
		return x->cost < y->cost;
	return x->dist < y->dist;
}

/* The end of a run of fm overlapping [lo, hi) (the first), or 0. */
static uint64_t fm_overlap_end(const struct pl_freemap *fm, uint64_t lo,
                               uint64_t hi)
{
	size_t i = fm_first(fm, lo);

	return i < fm->n && fm->r[i].start < hi ? fm->r[i].start + fm->r[i].len
	                                        : 0;
}

/* The end of a never-to-use target (a missed one, or space kept free)
 * overlapping [lo, hi), or 0. */
/* The end of the kept range (c->resv) overlapping [lo, hi), 0 if none;
 * at once where [lo, hi) lies outside all of them (the planner asks for
 * every candidate: kept blocks for tree blocks lie in a few groups). */
static uint64_t resv_overlap_end(const struct pl_ctx *c, uint64_t lo,
                                 uint64_t hi)
{
	const struct pl_freemap *k = &c->resv;

	if (!k->n || hi <= k->r[0].start ||
	    lo >= k->r[k->n - 1].start + k->r[k->n - 1].len)
		return 0;
	return fm_overlap_end(k, lo, hi);
}

static uint64_t excluded(const struct pl_ctx *c, uint64_t lo, uint64_t hi)
{
	for (size_t x = 0; x < c->nexcl; x++)
		if (c->excl[2 * x] < hi && c->excl[2 * x + 1] > lo)
			return c->excl[2 * x + 1];
	return resv_overlap_end(c, lo, hi);
}

/* ------------------------------------------------- kept free per group */

uint64_t pl_xfs_group_keep(const struct lm_geometry *g, uint64_t fm_free)
{
	uint64_t bs = g->fs.block_size ? g->fs.block_size : 4096;
	uint64_t ags = g->fs.group_count, agb = g->fs.group_size / bs;
	uint64_t hidden, pool, aside, per;

	if (g->fs.type != RL_FS_XFS || !ags || !agb)
		return 0;
	if (!g->fs.free_blocks || !g->fs.total_blocks)
		return (agb / 128 + 64) * bs;
	hidden = fm_free / bs > g->fs.free_blocks
	             ? fm_free / bs - g->fs.free_blocks
	             : 0;
	pool = g->fs.size / bs / 20;
	if (pool > 8192)
		pool = 8192;
	aside = 8 * ags;
	per = hidden > pool + aside ? (hidden - pool - aside) / ags : 0;
	if (per > agb / 16)
		per = agb / 16;
	return (per + 64) * bs;
}

int pl_keep_group_free(struct pl_ctx *c, uint64_t bytes)
{
	uint64_t gs, ge, gn = c->g->fs.group_count;

	pl_fm_free(&c->resv);
	c->group_keep = bytes / c->bs * c->bs;
	if (!c->group_keep || !c->g->fs.group_size)
		return 0;
	if (!gn)
		gn = (c->g->fs.size + c->g->fs.group_size - 1) /
		     c->g->fs.group_size;
	for (uint64_t g = 0; g < gn; g++) {
		uint64_t left = c->group_keep;
		size_t i;

		lm_group_range(c->m, g, &gs, &ge);
		i = fm_upper(&c->fm, ge > 0 ? ge - 1 : 0);
		/* from the group's highest free run down */
		while (i > 0 && left) {
			uint64_t a = c->fm.r[i - 1].start;
			uint64_t b = a + c->fm.r[i - 1].len;
			i--;
			if (b <= gs)
				break;
			if (a < gs)
				a = gs;
			if (b > ge)
				b = ge;
			if (a >= b)
				continue;
			if (b - a > left)
				a = (b - left) / c->bs * c->bs;
			if (pl_fm_give(&c->resv, a, b - a) < 0)
				return -ENOMEM;
			left -= b - a > left ? left : b - a;
		}
	}
	return 0;
}

/* Free run i of the predicted map clipped to [lo, hi), whole blocks:
 * [*a, *b) (empty when *b <= *a). */
static void run_blocks(const struct pl_ctx *c, size_t i, uint64_t lo,
                       uint64_t hi, uint64_t *a, uint64_t *b)
{
	*a = c->fm.r[i].start;
	*b = *a + c->fm.r[i].len;
	if (*a < lo)
		*a = lo;
	if (*b > hi)
		*b = hi;
	*a = pl_div(*a + c->bs - 1, c->bs) * c->bs;
	*b = pl_div(*b, c->bs) * c->bs;
}

uint64_t pl_find_target(struct pl_ctx *c, uint64_t len, uint64_t near,
                        uint64_t lo, uint64_t hi)
{
	uint64_t best = UINT64_MAX;
	struct cand bk = {UINT64_MAX, UINT64_MAX, UINT64_MAX, false, false};
	struct ext4_below cb = {.gs = UINT64_MAX};

	/* no missed target anywhere: a run clear of the kept ranges
	 * (c->resv) has its candidates cut only at its group's end, the
	 * avoided region and [lo, hi) */
	bool plain_map = c->nexcl == 0;

	if (!len)
		return UINT64_MAX;
	for (size_t i = fm_first(&c->fm, lo);
	     i < c->fm.n && c->fm.r[i].start < hi; i++) {
		uint64_t a, b, rs = c->fm.r[i].start, re = rs + c->fm.r[i].len;

		if (c->fm.r[i].len < len)
			continue;
		/* Once the best is cheap, a run inside [lo, hi), inside one
		 * group, clear of the avoided region and block-aligned has
		 * candidates of waste re - rs - len only: more than the
		 * best's, none of them can win (the skip below, without
		 * looking at its group and exclusions: most of the planner's
		 * time on an aged volume's 8,000 free runs) */
		if (plain_map && best != UINT64_MAX && bk.cheap &&
		    (bk.anchor || !c->xfs_anchor) && re - rs - len > bk.waste &&
		    rs >= lo && re <= hi && ((rs | re) & (c->bs - 1)) == 0 &&
		    !(c->avoid_hi > c->avoid_lo && rs < c->avoid_hi &&
		      re > c->avoid_lo) &&
		    group_of(c->g, rs) == group_of(c->g, re - 1) &&
		    !resv_overlap_end(c, rs, re))
			continue;
		run_blocks(c, i, lo, hi, &a, &b);
		/* split at the avoided region and at group ends */
		while (a + len <= b) {
			uint64_t pe = b, gs, ge;

			if (c->avoid_hi > c->avoid_lo && a < c->avoid_hi &&
			    pe > c->avoid_lo) {
				if (a >= c->avoid_lo) {
					a = c->avoid_hi;
					continue;
				}
				pe = c->avoid_lo;
			}
			lm_group_range(c->m, group_of(c->g, a), &gs, &ge);
			if (ge < pe)
				pe = ge;
			{
				uint64_t x = excluded(c, a, a + len);
				if (x) {
					a = (x + c->bs - 1) / c->bs * c->bs;
					continue;
				}
			}
			/* at the start of the free run, and on ext4 also at
			 * its end (the other alignment may be cheaper to
			 * place); same waste, one free run left either way */
			for (int end = 0; end < 2 && pe >= a + len; end++) {
				struct cand k;
				uint64_t at = a;
				if (end)
					at = pl_div(pe - len, c->bs) * c->bs;
				if (end &&
				    (c->g->fs.type != RL_FS_EXT4 || at == a ||
				     excluded(c, at, at + len)))
					break;
				k.waste = pe - a - len;
				k.dist = at > near ? at - near : near - at;
				k.anchor = anchor_ok(c, at);
				/* the cost decides only against a best that is
				 * not cheap, or at no more waste: else skip it
				 * (it is most of the planner's time on ext4) */
				if (best != UINT64_MAX &&
				    k.anchor == bk.anchor && bk.cheap &&
				    k.waste > bk.waste)
					continue;
				k.cost = ext4_place_cost(c, at, len, &cb, i);
				k.cheap = k.cost <= PL_EXT4_CHEAP;
				if (cand_better(&k, &bk)) {
					best = at;
					bk = k;
				}
			}
			if (pe >= b)
				break;
			a = pe;
		}
	}
	return best;
}

/* Replace the range [off, off+len) of file id's predicted extents by
 * `after` (sorted pieces). */
static int replace_range(struct pl_ctx *c, uint32_t id, uint64_t off,
                         uint64_t len, const struct rl_extent *after, size_t na)
{
	size_t n = c->next[id], k = 0;
	struct rl_extent *e = c->ext[id];
	struct rl_extent *o = calloc(2 * n + na + 1, sizeof(*o));
	uint64_t end = off + len;

	if (!o)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		uint64_t a = e[i].logical, b = a + e[i].length;
		if (b <= off || a >= end) {
			o[k++] = e[i];
			continue;
		}
		if (a < off) {
			o[k] = e[i];
			o[k++].length = off - a;
		}
		if (b > end) {
			o[k] = e[i];
			o[k].logical = end;
			o[k].physical = e[i].physical + (end - a);
			o[k++].length = b - end;
		}
	}
	for (size_t i = 0; i < na; i++) {
		o[k] = after[i];
		o[k++].flags = 0;
	}
	mem_sort(o, k, sizeof(*o), cmp_ext_logical);
	free(c->ext[id]);
	c->ext[id] = o;
	c->next[id] = k;
	return 0;
}

/* The predicted pieces of [off, off+len) of file id (normalized). */
static int range_pieces(struct pl_ctx *c, uint32_t id, uint64_t off,
                        uint64_t len, struct rl_extent **out, size_t *np,
                        bool *shared)
{
	size_t n = c->next[id], k = 0;
	const struct rl_extent *e = c->ext[id];
	struct rl_extent *p = calloc(n + 1, sizeof(*p));
	uint64_t end = off + len;

	if (!p)
		return -ENOMEM;
	if (shared)
		*shared = false;
	for (size_t i = 0; i < n; i++) {
		uint64_t a = e[i].logical, b = a + e[i].length;
		if (b <= off || a >= end)
			continue;
		if (a < off)
			a = off;
		if (b > end)
			b = end;
		p[k].logical = a;
		p[k].physical = e[i].physical + (a - e[i].logical);
		p[k++].length = b - a;
		if (shared && (e[i].flags & RL_EXT_SHARED))
			*shared = true;
	}
	*out = p;
	*np = tx_pieces_normalize(p, k);
	return 0;
}

static int apply_move(struct pl_ctx *c, uint32_t id, uint64_t off, uint64_t len,
                      const struct rl_extent *bef, size_t nb,
                      const struct rl_extent *tgt, size_t nt, bool shared)
{
	struct rl_extent *after = NULL;
	size_t na;
	int r;

	for (size_t i = 0; i < nt; i++)
		if (!pl_fm_is_free(&c->fm, tgt[i].physical, tgt[i].length))
			return -EBUSY;
	r = tx_predict(bef, nb, tgt, nt, &after, &na);
	if (r < 0)
		return r;
	for (size_t i = 0; i < nt && r == 0; i++)
		r = pl_fm_take(&c->fm, tgt[i].physical, tgt[i].length);
	if (r == 0)
		r = replace_range(c, id, off, len, after, na);
	/* the old blocks are free after the step (shared ones stay with
	 * their other owners) */
	for (size_t i = 0; i < nb && r == 0 && !shared; i++)
		r = pl_fm_give(&c->fm, bef[i].physical, bef[i].length);
	free(after);
	return r;
}

/* Append move *mv to the plan when r (its planning so far) is 0; else,
 * or when out of memory, free its arrays. Returns r or -ENOMEM. */
static int push_move(struct pl_ctx *c, struct pl_move *mv, int r)
{
	if (r == 0 &&
	    mem_grow(&c->mv, &c->capmv, c->nmv + 1, sizeof(*c->mv)) < 0)
		r = -ENOMEM;
	if (r < 0) {
		free(mv->before);
		free(mv->target);
		return r;
	}
	c->mv[c->nmv++] = *mv;
	c->bytes += mv->bytes;
	return 0;
}

int pl_add_move(struct pl_ctx *c, uint32_t id, uint64_t off, uint64_t len,
                uint64_t goal, const char *why)
{
	struct pl_move mv;
	bool shared;
	int r;

	if (id >= c->nfiles)
		return -EINVAL;
	memset(&mv, 0, sizeof(mv));
	mv.file = id;
	mv.off = off;
	mv.len = len;
	mv.goal = goal;
	mv.why = why;
	r = range_pieces(c, id, off, len, &mv.before, &mv.nbefore, &shared);
	if (r < 0)
		return r;
	mv.shared = shared;
	mv.target = calloc(mv.nbefore + 1, sizeof(*mv.target));
	if (!mv.target) {
		free(mv.before);
		return -ENOMEM;
	}
	for (size_t i = 0; i < mv.nbefore; i++) {
		mv.target[i].logical = mv.before[i].logical;
		mv.target[i].physical = goal + (mv.before[i].logical - off);
		mv.target[i].length = mv.before[i].length;
		mv.bytes += mv.before[i].length;
	}
	mv.ntarget = tx_pieces_normalize(mv.target, mv.nbefore);
	r = apply_move(c, id, off, len, mv.before, mv.nbefore, mv.target,
	               mv.ntarget, shared);
	return push_move(c, &mv, r);
}

/* A move of [off, off+len) of file id with no chosen place (btrfs: see
 * pl_ctx.anyplace): predicted as one run where its first piece is (the
 * free map is left alone: where it lands is not known before it runs). */
static int add_move_any(struct pl_ctx *c, uint32_t id, uint64_t off,
                        uint64_t len)
{
	struct pl_move mv;
	struct rl_extent one;
	int r;

	memset(&mv, 0, sizeof(mv));
	mv.file = id;
	mv.off = off;
	mv.len = len;
	mv.goal = UINT64_MAX;
	mv.why = "defrag";
	mv.anyplace = true;
	r = range_pieces(c, id, off, len, &mv.before, &mv.nbefore, &mv.shared);
	if (r < 0)
		return r;
	if (!mv.nbefore) {
		free(mv.before);
		return 0;
	}
	for (size_t i = 0; i < mv.nbefore; i++)
		mv.bytes += mv.before[i].length;
	one = mv.before[0];
	one.length = mv.before[mv.nbefore - 1].logical +
	             mv.before[mv.nbefore - 1].length - one.logical;
	mv.target = calloc(1, sizeof(*mv.target));
	r = mv.target ? replace_range(c, id, off, len, &one, 1) : -ENOMEM;
	return push_move(c, &mv, r);
}

static const char *fpath(struct pl_ctx *c, uint32_t id)
{
	const char *p = lm_file_path(c->m, id, 0);
	return p ? p : "?";
}

static const char *sz(uint64_t v, char *buf)
{
	units_format_size(v, buf, 32);
	return buf;
}

/* ------------------------------------------------- what a region holds */

/* metadata kinds tallied; the RT_SHOWN largest are named */
#define RT_LABELS 12
#define RT_SHOWN  3
struct region_tally {
	struct lm_model *m;
	uint64_t free, free_runs, largest, run, run_end;
	uint64_t meta, data, unknown, files;
	uint32_t last_file, first_file;
	const char *label[RT_LABELS];
	uint64_t label_bytes[RT_LABELS];
	size_t nlabels;
};

static int region_tally_cb(const struct lm_owner *o, void *arg)
{
	struct region_tally *t = arg;

	switch (o->kind) {
	case LM_OWN_FREE:
		t->free += o->length;
		if (t->run && t->run_end == o->start) {
			t->run += o->length;
		} else {
			t->run = o->length;
			t->free_runs++;
		}
		t->run_end = o->start + o->length;
		if (t->run > t->largest)
			t->largest = t->run;
		return 0;
	case LM_OWN_META: {
		size_t k = 0;
		t->meta += o->length;
		while (k < t->nlabels && strcmp(t->label[k], o->label))
			k++;
		if (k == t->nlabels && k < RT_LABELS)
			t->label[t->nlabels++] = o->label;
		if (k < t->nlabels)
			t->label_bytes[k] += o->length;
		break;
	}
	case LM_OWN_FILE:
		t->data += o->length;
		if (o->file != t->last_file) /* in address order: a file's
		                                pieces mostly come together */
			t->files++;
		if (t->first_file == LM_NONE)
			t->first_file = o->file;
		t->last_file = o->file;
		break;
	default:
		t->unknown += o->length;
		break;
	}
	t->run = 0;
	return 0;
}

int pl_region_text(struct lm_model *m, uint64_t lo, uint64_t hi, bool used,
                   char *buf, size_t size, uint64_t *data)
{
	struct region_tally t = {
	    .m = m, .last_file = LM_NONE, .first_file = LM_NONE};
	char a[32], b[32];
	size_t n = 0;
	int r;

	if (!size)
		return -EINVAL;
	buf[0] = '\0';
	r = lm_owners(m, lo, hi, region_tally_cb, &t);
	if (r < 0)
		return r;
	if (data)
		*data = t.data;
#define RT_ADD(...)                                                            \
	do {                                                                   \
		if (n < size)                                                  \
			n += (size_t)snprintf(buf + n, size - n, __VA_ARGS__); \
	} while (0)
	if (!used)
		RT_ADD("%s free in %" PRIu64 " run%s (largest %s)",
		       sz(t.free, a), t.free_runs, t.free_runs == 1 ? "" : "s",
		       sz(t.largest, b));
	/* the largest kinds first (a selection sort of a dozen) */
	uint64_t rest = t.meta;
	for (size_t k = 0; k < t.nlabels && k < RT_SHOWN; k++) {
		size_t big = k;
		for (size_t j = k + 1; j < t.nlabels; j++)
			if (t.label_bytes[j] > t.label_bytes[big])
				big = j;
		const char *l = t.label[big];
		uint64_t lb = t.label_bytes[big];
		t.label[big] = t.label[k];
		t.label_bytes[big] = t.label_bytes[k];
		RT_ADD("%s%s metadata (%s)", n ? ", " : "", sz(lb, a), l);
		rest -= lb;
	}
	if (rest)
		RT_ADD(", %s other metadata", sz(rest, a));
	if (t.data) {
		const char *p = lm_file_path(m, t.first_file, 0);
		if (p && !strcmp(p, "."))
			p = "the root directory";
		RT_ADD("%s%s data of %s%s", n ? ", " : "", sz(t.data, a),
		       p ? p : "?", t.files > 1 ? " and other files" : "");
	}
	if (t.unknown)
		RT_ADD("%s%s %s", n ? ", " : "", sz(t.unknown, a),
		       LM_UNATTRIBUTED);
	if (!n)
		RT_ADD("nothing in use");
#undef RT_ADD
	return 0;
}

/* Does file id's data overlap [lo, hi)? */
static bool file_overlaps(struct pl_ctx *c, uint32_t id, uint64_t lo,
                          uint64_t hi)
{
	for (size_t k = 0; k < c->next[id]; k++)
		if (c->ext[id][k].physical < hi &&
		    c->ext[id][k].physical + c->ext[id][k].length > lo)
			return true;
	return false;
}

/* Bytes of file id's data inside [lo, hi). */
static uint64_t file_bytes_in(struct pl_ctx *c, uint32_t id, uint64_t lo,
                              uint64_t hi)
{
	uint64_t t = 0;

	for (size_t k = 0; k < c->next[id]; k++)
		t += clip_len(c->ext[id][k].physical, c->ext[id][k].length, lo,
		              hi);
	return t;
}

/* The bytes of file id's shared (reflinked) extents in [lo, hi). */
static uint64_t shared_bytes_in(struct pl_ctx *c, uint32_t id, uint64_t lo,
                                uint64_t hi)
{
	uint64_t t = 0;

	for (size_t k = 0; k < c->next[id]; k++)
		if (c->ext[id][k].flags & RL_EXT_SHARED)
			t += clip_len(c->ext[id][k].physical,
			              c->ext[id][k].length, lo, hi);
	return t;
}

static uint64_t first_physical(struct pl_ctx *c, uint32_t id, uint64_t lo)
{
	uint64_t m = UINT64_MAX;

	for (size_t k = 0; k < c->next[id]; k++) {
		uint64_t a = c->ext[id][k].physical;
		if (a + c->ext[id][k].length > lo && a < m)
			m = a < lo ? lo : a;
	}
	return m;
}

void pl_outcome_format(struct pl_ctx *c, const struct pl_outcome *o, char *buf,
                       size_t size)
{
	const char *f = fpath(c, o->file);
	char a[32], b[32], a2[32];

	switch (o->code) {
	case PL_DONE: /* no reason of the planner's */
		snprintf(buf, size, "%s", "");
		break;
	case PL_REGION_EMPTY:
		snprintf(buf, size, "the region is empty");
		break;
	case PL_NO_FIT:
		snprintf(buf, size,
		         "cannot complete: %s (%s) does not fit "
		         "between 0x%" PRIx64 " and the region's "
		         "end 0x%" PRIx64 " (blocks that stay are in "
		         "the way)",
		         f, sz(o->len, a), o->at, o->end);
		break;
	case PL_NO_SCRATCH:
		snprintf(buf, size,
		         "cannot complete: scratch space outside the "
		         "region is needed for %s (%s)",
		         f, sz(o->len, a));
		break;
	case PL_TARGET_FAILED:
		snprintf(buf, size, "cannot complete: %s at 0x%" PRIx64 ": %s",
		         f, o->at, strerror(-o->err));
		break;
	case PL_NOT_ENOUGH_SPACE:
		snprintf(buf, size,
		         "not enough free space outside the region: "
		         "%s to move, %s free outside",
		         sz(o->len, a), sz(o->avail, b));
		break;
	case PL_EXTENT_NO_RUN:
	case PL_AWAY_NO_RUN:
		snprintf(
		    buf, size,
		    o->code == PL_EXTENT_NO_RUN
		        ? "cannot move %s of %s: no free run %s fits it"
		        : "no free run of %s (inside one group) to move %s "
		          "out of the way%s",
		    sz(o->len, a), f,
		    o->code != PL_EXTENT_NO_RUN ? ""
		    : o->where                  ? o->where
		                                : "outside the region");
		break;
	case PL_GOAL_UNALIGNED:
		snprintf(buf, size, "GOAL must be block aligned");
		break;
	case PL_GROUP_STUCK:
	case PL_AWAY_STUCK:
		snprintf(buf, size,
		         o->code == PL_GROUP_STUCK
		             ? "cannot group %s: %s"
		             : "cannot move %s out of the "
		               "way: %s",
		         f, o->stuck_why);
		break;
	case PL_GROUP_CROSSES:
		snprintf(buf, size,
		         "cannot complete: %s would cross the group "
		         "boundary at 0x%" PRIx64 " (placement stays "
		         "inside one group)",
		         f, o->at);
		break;
	case PL_TARGET_OCCUPIED:
		snprintf(buf, size,
		         "cannot complete: 0x%" PRIx64 "..0x%" PRIx64
		         " holds data of %s (--make-room moves it "
		         "elsewhere)",
		         o->at, o->end, f);
		break;
	case PL_TARGET_NOT_FREE: {
		char what[300];
		pl_region_text(c->m, o->at, o->at + o->len, true, what,
		               sizeof(what), NULL);
		snprintf(buf, size,
		         "cannot complete: %s at 0x%" PRIx64 " (%s): "
		         "the target is not free, it holds %s (--end END "
		         "places the files into the free runs of the region "
		         "GOAL..END)",
		         f, o->at, sz(o->len, a), what);
		break;
	}
	case PL_REGION_NO_RUN: {
		uint64_t big = 0, data = 0;
		char what[300] = "";
		for (size_t i = 0; i < c->fm.n; i++) {
			uint64_t l = clip_len(c->fm.r[i].start, c->fm.r[i].len,
			                      o->at, o->end);
			big = l > big ? l : big;
		}
		pl_region_text(c->m, o->at, o->end, true, what, sizeof(what),
		               &data);
		snprintf(buf, size,
		         "no free run left inside 0x%" PRIx64 "..0x%" PRIx64
		         " takes %s (%s): the region has %s free (planned "
		         "moves counted) in %zu run%s, the largest %s; it "
		         "holds %s%s",
		         o->at, o->end, f, sz(o->len, a),
		         sz(pl_fm_bytes(&c->fm, o->at, o->end), b),
		         pl_fm_runs(&c->fm, o->at, o->end),
		         pl_fm_runs(&c->fm, o->at, o->end) == 1 ? "" : "s",
		         sz(big, a2), what,
		         data ? " (--make-room moves other files' data out "
		                "of it)"
		              : "");
		break;
	}
	case PL_AWAY_FAILED:
		snprintf(buf, size, "%s: cannot plan a move: %s", f,
		         strerror(-o->err));
		break;
	case PL_ROOM_PINNED:
		snprintf(buf, size,
		         "0x%" PRIx64 "..0x%" PRIx64 " holds %s of "
		         "metadata or blocks of no known file: they "
		         "cannot be moved",
		         o->at, o->end, sz(o->len, a));
		break;
	}
}

/* The call cannot complete: o becomes c->outcome, its text a line of the
 * report. Returns o.err. */
static int fail(struct pl_ctx *c, struct pl_outcome o)
{
	char buf[1024];

	c->outcome = o;
	pl_outcome_format(c, &o, buf, sizeof(buf));
	pl_note(c, "%s", buf);
	return o.err;
}

/* Move file id (whole) somewhere outside [alo, ahi). */
static int move_away(struct pl_ctx *c, uint32_t id, uint64_t alo, uint64_t ahi,
                     const char *why)
{
	uint64_t off, len, goal, slo = c->avoid_lo, shi = c->avoid_hi;
	const char *um;
	enum pl_stuck k = pl_unmovable(c, id, &um);
	int r;

	if (k != PL_MOVABLE)
		return fail(c, (struct pl_outcome){.code = PL_AWAY_STUCK,
		                                   .err = -EPERM,
		                                   .file = id,
		                                   .stuck = k,
		                                   .stuck_why = um});
	if (!pl_file_span(c, id, &off, &len, NULL))
		return 0;
	c->avoid_lo = alo;
	c->avoid_hi = ahi;
	goal =
	    pl_find_target(c, len, first_physical(c, id, 0), 0, c->g->fs.size);
	c->avoid_lo = slo;
	c->avoid_hi = shi;
	if (goal == UINT64_MAX)
		return fail(c, (struct pl_outcome){.code = PL_AWAY_NO_RUN,
		                                   .err = -ENOSPC,
		                                   .file = id,
		                                   .len = len});
	r = pl_add_move(c, id, off, len, goal, why);
	if (r < 0)
		return fail(c, (struct pl_outcome){.code = PL_AWAY_FAILED,
		                                   .err = r,
		                                   .file = id});
	return r;
}

int pl_make_room(struct pl_ctx *c, uint64_t lo, uint64_t hi, uint64_t keep_lo,
                 uint64_t keep_hi)
{
	uint64_t alo = lo < keep_lo ? lo : keep_lo;
	uint64_t ahi = hi > keep_hi ? hi : keep_hi;
	uint64_t used = 0;
	int r;

	for (uint32_t id = 0; id < c->nfiles; id++)
		if (file_overlaps(c, id, lo, hi))
			used += file_bytes_in(c, id, lo, hi);
	if (hi - lo > pl_fm_bytes(&c->fm, lo, hi) + used)
		return fail(c, (struct pl_outcome){
		                   .code = PL_ROOM_PINNED,
		                   .err = -EPERM,
		                   .at = lo,
		                   .end = hi,
		                   .len = hi - lo -
		                          pl_fm_bytes(&c->fm, lo, hi) - used});
	for (uint32_t id = 0; id < c->nfiles; id++) {
		if (!file_overlaps(c, id, lo, hi))
			continue;
		r = move_away(c, id, alo, ahi, "make room");
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---------------------------------------------------------------- defrag */

/* A logically contiguous run of a file's data (holes and EOF end one):
 * the unit defrag moves, so holes stay holes and cost no free space. */
struct dgroup {
	uint64_t off, len; /* file range (block aligned) */
	uint64_t runs;     /* physically contiguous runs in it now */
	uint64_t bytes;    /* data bytes */
	bool move;
};

/* The data groups of file id below eof (blocks past EOF -- preallocated
 * space -- stay: movedata cannot move them, see fs_movedata.c), and the
 * runs of the blocks past EOF. */
static int defrag_groups(struct pl_ctx *c, uint32_t id, uint64_t eof,
                         struct dgroup **out, size_t *ng, uint64_t *tail)
{
	size_t n = c->next[id], k = 0;
	const struct rl_extent *e = c->ext[id];
	struct dgroup *g = calloc(n + 1, sizeof(*g));
	uint64_t pend = 0, tend = UINT64_MAX;

	*tail = 0;
	if (!g)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		uint64_t lo = e[i].logical, len = e[i].length;
		uint64_t ph = e[i].physical;
		if (lo + len > eof) { /* the part past EOF */
			uint64_t a = lo > eof ? lo : eof;
			if (ph + (a - lo) != tend)
				(*tail)++;
			tend = ph + len;
			if (lo >= eof)
				continue;
			len = eof - lo;
		}
		if (k && g[k - 1].off + g[k - 1].len == lo) {
			g[k - 1].len += len;
			g[k - 1].bytes += len;
			if (ph != pend)
				g[k - 1].runs++;
		} else {
			g[k].off = lo;
			g[k].len = len;
			g[k].bytes = len;
			g[k++].runs = 1;
		}
		pend = ph + len;
	}
	for (size_t i = 0; i < k; i++) {
		uint64_t hi = (g[i].off + g[i].len + c->bs - 1) / c->bs * c->bs;
		g[i].off = g[i].off / c->bs * c->bs;
		g[i].len = hi - g[i].off;
	}
	*out = g;
	*ng = k;
	return 0;
}

/* A free span a data group can be split over when no single free run
 * takes it: [a, b), block aligned, outside the avoided region and the
 * excluded targets; on XFS inside one AG (split_pieces asks for the
 * anchor below it). On
 * ext4 a span may cross group ends (one move per group, physically
 * contiguous: one run), but not with blocks smaller than a page: there
 * the placement of a piece ending at a group end claims a few blocks past
 * it (EXT4_IOC_MOVE_EXT page alignment), which the next piece, held
 * ahead, already has (measured: EOPNOTSUPP on ext4 with 1 KiB blocks). */
#define PL_PAGE_SIZE 4096u
struct fspan {
	uint64_t a, b;
	bool used;
};

/* XFS: the end of the part of free span [a, pe) of AG [gs, ge) one
 * allocation can take: XFS keeps blocks of each AG free for its per-AG
 * reservations and the AGFL, and refuses (ENOSPC) an allocation that
 * would leave fewer; measured on a 19,200-block AG: 128 blocks left was
 * refused, 256 worked. Kept: max(256 blocks, 1/64 of the AG). */
static uint64_t xfs_usable_end(struct pl_ctx *c, uint64_t a, uint64_t pe,
                               uint64_t gs, uint64_t ge)
{
	uint64_t keep = (ge - gs) / 64, agfree = pl_fm_bytes(&c->fm, gs, ge);

	if (keep < 256 * c->bs)
		keep = 256 * c->bs;
	if (agfree <= keep)
		return a;
	if (pe - a > agfree - keep)
		pe = a + (agfree - keep) / c->bs * c->bs;
	return pe;
}

static int free_spans(struct pl_ctx *c, struct fspan **out, size_t *ns)
{
	struct fspan *sp = NULL;
	size_t n = 0, cap = 0;

	for (size_t i = 0; i < c->fm.n; i++) {
		uint64_t a = (c->fm.r[i].start + c->bs - 1) / c->bs * c->bs;
		uint64_t b =
		    (c->fm.r[i].start + c->fm.r[i].len) / c->bs * c->bs;

		while (a < b) {
			uint64_t pe = b, gs, ge;
			bool cut = false;

			/* the avoided region (x == nexcl) and the
			 * excluded targets */
			for (size_t x = 0; x <= c->nexcl && !cut; x++) {
				uint64_t s =
				    x < c->nexcl ? c->excl[2 * x] : c->avoid_lo;
				uint64_t e = x < c->nexcl ? c->excl[2 * x + 1]
				                          : c->avoid_hi;
				if (s >= pe || e <= a || e <= s)
					continue;
				if (s <= a) {
					a = (e + c->bs - 1) / c->bs * c->bs;
					cut = true;
				} else {
					pe = s / c->bs * c->bs;
				}
			}
			if (cut)
				continue;
			if (c->xfs_anchor || c->bs < PL_PAGE_SIZE) {
				lm_group_range(c->m, group_of(c->g, a), &gs,
				               &ge);
				if (ge < pe)
					pe = ge;
			}
			if (pe > a) {
				uint64_t use = pe;
				if (c->xfs_anchor)
					use = xfs_usable_end(c, a, pe, gs, ge);
				if (mem_grow(&sp, &cap, n + 1, sizeof(*sp)) <
				    0) {
					free(sp);
					return -ENOMEM;
				}
				if (use > a)
					sp[n++] = (struct fspan){a, use, false};
			}
			a = pe > a ? pe : a + c->bs;
		}
	}
	*out = sp;
	*ns = n;
	return 0;
}

/* Cover len bytes with the fewest free spans: the best-fitting span for
 * what is left, else the largest one, at most maxk pieces; on XFS a span
 * without the anchor below it is passed over (asked only of the spans
 * chosen: it is not cheap). pick[k]: the span of piece k, plen[k] its
 * length. Returns the number of pieces, 0 when maxk pieces do not cover
 * len. */
static size_t split_pieces(struct pl_ctx *c, struct fspan *sp, size_t ns,
                           uint64_t len, size_t maxk, size_t *pick,
                           uint64_t *plen)
{
	size_t k = 0;

	while (len && k < maxk) {
		size_t fit = SIZE_MAX, big = SIZE_MAX;

		for (size_t i = 0; i < ns; i++) {
			uint64_t l = sp[i].b - sp[i].a;
			if (sp[i].used)
				continue;
			if (l >= len &&
			    (fit == SIZE_MAX || l < sp[fit].b - sp[fit].a))
				fit = i;
			if (big == SIZE_MAX || l > sp[big].b - sp[big].a)
				big = i;
		}
		if (fit == SIZE_MAX)
			fit = big;
		if (fit == SIZE_MAX)
			return 0;
		sp[fit].used = true;
		if (c->xfs_anchor && !anchor_ok(c, sp[fit].a))
			continue;
		pick[k] = fit;
		plen[k] =
		    sp[fit].b - sp[fit].a < len ? sp[fit].b - sp[fit].a : len;
		len -= plen[k++];
	}
	return len ? 0 : k;
}

/* pl_add_move of [off, off+len) to goal as consecutive steps of at most
 * what the volume can allocate at once: a step holds its target and its
 * old blocks together, and the free count the plan is checked against
 * (statfs: on XFS less than the free runs by the per-AG reservations)
 * can be less than the largest free run of a full volume. The pieces
 * follow each other in the run, so the file stays one run there. */
static int add_move_capped(struct pl_ctx *c, uint32_t id, uint64_t off,
                           uint64_t len, uint64_t goal, const char *why)
{
	uint64_t avail = c->g->fs.free_blocks * c->bs, cap = UINT64_MAX;
	int r = 0;

	if (avail)
		cap = (avail - avail / 32) / c->bs * c->bs;
	if (cap < c->bs)
		cap = c->bs;
	while (len && r == 0) {
		uint64_t l = len < cap ? len : cap;
		r = pl_add_move(c, id, off, l, goal, why);
		off += l;
		goal += l;
		len -= l;
	}
	return r;
}

/* Move data group g of file id over the fewest free spans, split at
 * group ends, when that leaves fewer runs than it has now: the number of
 * pieces, 0 when it would not improve, or -errno. */
static int defrag_split(struct pl_ctx *c, uint32_t id, const struct dgroup *g)
{
	struct fspan *sp = NULL;
	size_t ns = 0, k, maxk = g->runs > 1 ? (size_t)g->runs - 1 : 0;
	size_t *pick = NULL;
	uint64_t *plen = NULL, pos = g->off;
	int r = free_spans(c, &sp, &ns);

	if (r < 0)
		return r;
	if (maxk > ns)
		maxk = ns;
	pick = calloc(maxk + 1, sizeof(*pick));
	plen = calloc(maxk + 1, sizeof(*plen));
	if (!pick || !plen) {
		r = -ENOMEM;
		goto out;
	}
	k = split_pieces(c, sp, ns, g->len, maxk, pick, plen);
	for (size_t i = 0; i < k && r == 0; i++) {
		uint64_t at = sp[pick[i]].a, left = plen[i];

		while (left && r == 0) { /* one move per group */
			uint64_t gs, ge, l;
			lm_group_range(c->m, group_of(c->g, at), &gs, &ge);
			l = ge - at < left ? ge - at : left;
			r = add_move_capped(c, id, pos, l, at, "defrag");
			at += l;
			pos += l;
			left -= l;
		}
	}
	if (r == 0)
		r = (int)k;
out:
	free(pick);
	free(plen);
	free(sp);
	return r;
}

int pl_defrag(struct pl_ctx *c, const uint32_t *ids, size_t n,
              const struct pl_defrag_opts *o)
{
	char a[32], b[32];

	for (size_t i = 0; i < n; i++) {
		uint32_t id = ids[i];
		const struct lm_file *f = lm_file(c->m, id);
		struct lm_file_frag ff;
		struct dgroup *g = NULL;
		size_t ng = 0, nmv0 = c->nmv;
		uint64_t off, len, bytes, regions, after, tail, eof, moved = 0;
		uint64_t below;
		uint64_t largest = 0, need = 0;
		const char *um;

		if (!pl_file_span(c, id, &off, &len, &bytes)) {
			pl_note(c, "skip %s: no data blocks", fpath(c, id));
			continue;
		}
		lm_file_frag(c->m, id, &ff);
		regions = pl_file_regions(c, id);
		if (o && o->min_extents && c->next[id] < o->min_extents) {
			pl_note(c,
			        "skip %s: %zu extent%s (fewer than "
			        "--min-extents %" PRIu64 ")",
			        fpath(c, id), c->next[id],
			        c->next[id] == 1 ? "" : "s", o->min_extents);
			continue;
		}
		if (regions <= 1 || regions <= ff.ideal) {
			pl_note(c,
			        "skip %s: already optimal (%" PRIu64
			        " contiguous run%s)",
			        fpath(c, id), regions, regions == 1 ? "" : "s");
			continue;
		}
		eof = f ? (f->size + c->bs - 1) / c->bs * c->bs : UINT64_MAX;
		if (unmovable_below(c, id, eof, &um) != PL_MOVABLE) {
			pl_note(c, "skip %s: cannot move: %s", fpath(c, id),
			        um);
			continue;
		}
		if (defrag_groups(c, id, eof, &g, &ng, &tail) < 0)
			return -ENOMEM;
		/* Only groups in more pieces than they need move; the
		 * predicted result must have fewer runs of data below EOF
		 * than now (else the move is bytes for nothing, as xfs_fsr's
		 * "no improvement"). Preallocation past EOF is not counted:
		 * it stays where it is (movedata cannot move it), and XFS
		 * drops its speculative preallocation by itself. */
		below = regions_below(c, id, eof);
		after = 0;
		for (size_t k = 0; k < ng; k++) {
			uint64_t mx =
			    c->g->max_extent ? c->g->max_extent : UINT64_MAX;
			uint64_t ideal =
			    g[k].bytes / mx + (g[k].bytes % mx != 0);
			g[k].move = g[k].runs > (ideal ? ideal : 1);
			after += g[k].move ? 1 : g[k].runs;
			if (g[k].move && g[k].len > need)
				need = g[k].len;
		}
		if (!need || after >= below) {
			pl_note(c,
			        "skip %s: would not improve (%" PRIu64
			        " contiguous runs%s; each data run between "
			        "holes is in one piece already)",
			        fpath(c, id), below, tail ? " below EOF" : "");
			free(g);
			continue;
		}
		for (size_t k = 0; k < ng; k++) {
			uint64_t goal;
			int r;
			if (!g[k].move)
				continue;
			if (c->anyplace) {
				r = add_move_any(c, id, g[k].off, g[k].len);
				if (r < 0)
					pl_note(c, "skip %s: %s", fpath(c, id),
					        strerror(-r));
				else
					moved += c->mv[c->nmv - 1].bytes;
				continue;
			}
			goal = pl_find_target(c, g[k].len,
			                      first_physical(c, id, 0), 0,
			                      c->g->fs.size);
			if (goal == UINT64_MAX) {
				size_t m0 = c->nmv;
				/* no single run: the fewest large ones */
				r = defrag_split(c, id, &g[k]);
				for (size_t q = m0; q < c->nmv; q++)
					moved += c->mv[q].bytes;
				if (r > 0) {
					pl_note(c,
					        "defrag %s [%" PRIu64
					        ", %" PRIu64 "): no free run "
					        "of %s: %" PRIu64 " runs -> "
					        "%d piece%s",
					        fpath(c, id), g[k].off,
					        g[k].off + g[k].len,
					        sz(g[k].len, a), g[k].runs, r,
					        r == 1 ? "" : "s");
					continue;
				}
				if (r < 0) {
					pl_note(c, "skip %s: %s", fpath(c, id),
					        strerror(-r));
					continue;
				}
				for (size_t q = 0; q < c->fm.n; q++)
					if (c->fm.r[q].len > largest)
						largest = c->fm.r[q].len;
				pl_note(c,
				        "skip %s [%" PRIu64 ", %" PRIu64
				        "): would not improve: no free run "
				        "of %s inside one group, and no "
				        "fewer than %" PRIu64 " free runs "
				        "take it (largest free run %s)",
				        fpath(c, id), g[k].off,
				        g[k].off + g[k].len, sz(g[k].len, a),
				        g[k].runs, sz(largest, b));
				continue;
			}
			size_t m1 = c->nmv;
			r = add_move_capped(c, id, g[k].off, g[k].len, goal,
			                    "defrag");
			for (size_t q = m1; q < c->nmv; q++)
				moved += c->mv[q].bytes;
			if (r < 0) {
				pl_note(c, "skip %s: %s", fpath(c, id),
				        strerror(-r));
				continue;
			}
		}
		free(g);
		if (c->nmv > nmv0 && c->mv[nmv0].anyplace)
			pl_note(c,
			        "defrag %s: %" PRIu64 " runs -> %" PRIu64
			        " where the allocator puts it (%s; moved only "
			        "if it gives fewer runs, checked first)",
			        fpath(c, id), regions, pl_file_regions(c, id),
			        sz(moved, a));
		else if (c->nmv > nmv0)
			pl_note(c,
			        "defrag %s: %" PRIu64 " runs -> %" PRIu64
			        " at 0x%" PRIx64 " (%s)",
			        fpath(c, id), regions, pl_file_regions(c, id),
			        c->mv[nmv0].goal, sz(moved, a));
		if (c->nmv > nmv0 && tail)
			pl_note(c,
			        "  %s: the preallocation past EOF (%" PRIu64
			        " run%s) is not moved%s",
			        fpath(c, id), tail, tail == 1 ? "" : "s",
			        c->g->fs.type == RL_FS_XFS
			            ? " (XFS may free it when the file is "
			              "closed)"
			            : "");
	}
	return 0;
}

/* --------------------------------------------------------------- compact */

/* Is file id, range [off, off+len), laid out contiguously from goal? */
static bool file_at(struct pl_ctx *c, uint32_t id, uint64_t off, uint64_t goal)
{
	for (size_t k = 0; k < c->next[id]; k++)
		if (c->ext[id][k].physical !=
		    goal + (c->ext[id][k].logical - off))
			return false;
	return true;
}

/* A piece of movable file data inside a region (predicted). */
struct rpiece {
	uint32_t id;
	uint64_t logical, physical, len;
};

static int cmp_rpiece_phys(const void *a, const void *b)
{
	const struct rpiece *x = a, *y = b;
	return x->physical < y->physical ? -1 : x->physical > y->physical;
}

static int cmp_rpiece_file(const void *a, const void *b)
{
	const struct rpiece *x = a, *y = b;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->logical < y->logical ? -1 : x->logical > y->logical;
}

/* What stays in a region, by reason (bytes), and the notes' count. */
struct rsum {
	uint64_t movable, stuck[PL_STUCK_BUSY + 1], past_eof;
	/* bytes of shared extents: of files that stay (shared_stuck) and of
	 * files that move, copied apart with --unshare (unshared) */
	uint64_t shared_stuck, unshared;
	uint64_t files_movable, files_stuck;
	size_t noted;
	const char *verb; /* "stays: " (compact), "cannot move " */
};

/* Per command at most this many lines name a file or range that stays;
 * a count of the rest follows. */
#define PL_NOTE_MAX 100
/* and at most this many lines name a range that stays above the final
 * free run's start (each breaks the run: all are named but on huge
 * volumes) */
#define PL_NOTE_RANGES 2000

static int push_piece(struct rpiece **p, size_t *n, size_t *cap,
                      struct rpiece x)
{
	if (mem_grow(p, cap, *n + 1, sizeof(**p)) < 0)
		return -ENOMEM;
	(*p)[(*n)++] = x;
	return 0;
}

/* A file region_pieces names: where its data in the region starts, and
 * its bytes there (in), of which movable (mv; a file that cannot move:
 * stuck). */
struct rnote {
	uint64_t at, in, mv;
	uint32_t id;
	bool stuck;
};

static int cmp_rnote(const void *x, const void *y)
{
	const struct rnote *a = x, *b = y;

	if (a->at != b->at)
		return a->at < b->at ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

/* The lowest address of file id's data in [lo, hi). */
static uint64_t first_in(struct pl_ctx *c, uint32_t id, uint64_t lo,
                         uint64_t hi)
{
	uint64_t at = UINT64_MAX;

	for (size_t k = 0; k < c->next[id]; k++) {
		const struct rl_extent *e = &c->ext[id][k];
		uint64_t pa = e->physical < lo ? lo : e->physical;
		if (e->physical < hi && e->physical + e->length > lo && pa < at)
			at = pa;
	}
	return at;
}

/* The notes of region_pieces, in address order (file ids follow the
 * scan's order, which its threads make differ from run to run). */
static void rnotes_emit(struct pl_ctx *c, struct rnote *v, size_t n, size_t max,
                        const struct rsum *rs)
{
	char a[32];

	mem_sort(v, n, sizeof(*v), cmp_rnote);
	for (size_t i = 0; i < n && i < max; i++) {
		const char *um = NULL;
		if (v[i].stuck) {
			pl_unmovable(c, v[i].id, &um);
			pl_note(c, "%s%s (%s in the region): %s", rs->verb,
			        fpath(c, v[i].id), sz(v[i].in, a),
			        um ? um : "");
		} else
			pl_note(c,
			        "%s%s: %s preallocated past its end of file "
			        "(movedata moves data below EOF only)",
			        rs->verb, fpath(c, v[i].id),
			        sz(v[i].in - v[i].mv, a));
	}
}

/* The movable data of [lo, hi) as pieces (clipped to it): the files that
 * can move, below their EOF (blocks past EOF stay: movedata cannot move
 * them). The files that cannot move are noted with the reason. */
static int region_pieces(struct pl_ctx *c, uint64_t lo, uint64_t hi,
                         struct rpiece **out, size_t *np, struct rsum *rs)
{
	struct rpiece *p = NULL;
	struct rnote *nv = NULL;
	size_t n = 0, cap = 0, nn = 0, ncap = 0, noted0 = rs->noted;

	for (uint32_t id = 0; id < c->nfiles; id++) {
		const struct lm_file *f;
		const char *um;
		enum pl_stuck k;
		uint64_t in, eof, mv = 0;

		if (!file_overlaps(c, id, lo, hi))
			continue;
		in = file_bytes_in(c, id, lo, hi);
		k = pl_unmovable(c, id, &um);
		if (k != PL_MOVABLE) {
			rs->stuck[k] += in;
			if (k == PL_STUCK_SHARED)
				rs->shared_stuck +=
				    shared_bytes_in(c, id, lo, hi);
			rs->files_stuck++;
			rs->noted++;
			if (mem_grow(&nv, &ncap, nn + 1, sizeof(*nv)) < 0)
				goto nomem;
			nv[nn++] = (struct rnote){first_in(c, id, lo, hi), in,
			                          0, id, true};
			continue;
		}
		f = lm_file(c->m, id);
		eof = (f->size + c->bs - 1) / c->bs * c->bs;
		for (size_t q = 0; q < c->next[id]; q++) {
			const struct rl_extent *e = &c->ext[id][q];
			uint64_t pa = e->physical, pb = pa + e->length, l;
			if (pb <= lo || pa >= hi)
				continue;
			if (pa < lo)
				pa = lo;
			if (pb > hi)
				pb = hi;
			l = e->logical + (pa - e->physical);
			if (l >= eof)
				continue;
			if (l + (pb - pa) > eof)
				pb = pa + (eof - l);
			if (push_piece(&p, &n, &cap,
			               (struct rpiece){id, l, pa, pb - pa}) < 0)
				goto nomem;
			mv += pb - pa;
		}
		rs->movable += mv;
		rs->unshared += shared_bytes_in(c, id, lo, hi);
		rs->past_eof += in - mv;
		if (mv)
			rs->files_movable++;
		if (in > mv) {
			rs->noted++;
			if (mem_grow(&nv, &ncap, nn + 1, sizeof(*nv)) < 0)
				goto nomem;
			nv[nn++] = (struct rnote){first_in(c, id, lo, hi), in,
			                          mv, id, false};
		}
	}
	rnotes_emit(c, nv, nn, noted0 < PL_NOTE_MAX ? PL_NOTE_MAX - noted0 : 0,
	            rs);
	free(nv);
	if (rs->noted > PL_NOTE_MAX)
		pl_note(c, "(and %zu more files that %s)",
		        rs->noted - PL_NOTE_MAX,
		        rs->verb[0] == 's' ? "stay" : "cannot move");
	*out = p;
	*np = n;
	return 0;
nomem:
	free(p);
	free(nv);
	return -ENOMEM;
}

/* Free runs of [lo, hi) a target may use: block aligned, not kept free
 * (c->resv), cut at group boundaries. *out malloc'd. */
static int usable_runs(struct pl_ctx *c, uint64_t lo, uint64_t hi,
                       struct pl_run **out, size_t *nr)
{
	struct pl_run *r = NULL;
	size_t n = 0, cap = 0, i = fm_first(&c->fm, lo);

	for (; i < c->fm.n && c->fm.r[i].start < hi; i++) {
		uint64_t a, b;

		run_blocks(c, i, lo, hi, &a, &b);
		while (a < b) {
			uint64_t pe = b, gs, ge, x;
			size_t k = fm_upper(&c->resv, a);

			if (k > 0 &&
			    c->resv.r[k - 1].start + c->resv.r[k - 1].len >
			        a) { /* a is kept free */
				a = c->resv.r[k - 1].start +
				    c->resv.r[k - 1].len;
				continue;
			}
			if (k < c->resv.n && c->resv.r[k].start < pe)
				pe = c->resv.r[k].start;
			lm_group_range(c->m, group_of(c->g, a), &gs, &ge);
			if (ge < pe && ge > a)
				pe = ge;
			/* and never a missed target (--retry) */
			for (size_t q = 0; q < c->nexcl && a < pe; q++) {
				uint64_t xa = c->excl[2 * q] / c->bs * c->bs;
				uint64_t xb = (c->excl[2 * q + 1] + c->bs - 1) /
				              c->bs * c->bs;
				if (xa <= a && xb > a)
					a = xb < b ? xb : b;
				else if (xa > a && xa < pe)
					pe = xa;
			}
			if (a >= pe)
				continue;
			x = a;
			a = pe;
			if (mem_grow(&r, &cap, n + 1, sizeof(*r)) < 0) {
				free(r);
				return -ENOMEM;
			}
			r[n].start = x;
			r[n++].len = pe - x;
		}
	}
	*out = r;
	*nr = n;
	return 0;
}

/* A range of a file to move: logically contiguous data. */
struct pitem {
	uint32_t id;
	uint64_t off, len, phys; /* phys: where it starts now */
};

static int cmp_pitem(const void *a, const void *b)
{
	const struct pitem *x = a, *y = b;
	if (x->len != y->len)
		return x->len > y->len ? -1 : 1;
	return x->phys < y->phys ? -1 : x->phys > y->phys;
}

/* The pieces as items: per file, logically adjacent pieces merged
 * (pieces sorted by file and logical offset first). *out malloc'd. */
static int pieces_items(struct pl_ctx *c, struct rpiece *p, size_t n,
                        struct pitem **out, size_t *ni)
{
	struct pitem *it = calloc(n + 1, sizeof(*it));
	size_t k = 0;

	if (!it)
		return -ENOMEM;
	mem_sort(p, n, sizeof(*p), cmp_rpiece_file);
	for (size_t i = 0; i < n; i++) {
		if (k && it[k - 1].id == p[i].id &&
		    it[k - 1].off + it[k - 1].len == p[i].logical) {
			it[k - 1].len += p[i].len;
			continue;
		}
		it[k].id = p[i].id;
		it[k].off = p[i].logical;
		it[k].len = p[i].len;
		it[k++].phys = p[i].physical;
	}
	for (size_t i = 0; i < k; i++) { /* whole blocks */
		uint64_t e =
		    (it[i].off + it[i].len + c->bs - 1) / c->bs * c->bs;
		it[i].off = it[i].off / c->bs * c->bs;
		it[i].len = e - it[i].off;
	}
	mem_sort(it, k, sizeof(*it), cmp_pitem);
	*out = it;
	*ni = k;
	return 0;
}

/* The largest usable free run in [lo, hi) outside [avoid_lo, avoid_hi)
 * (inside one group): its start, *len its length; UINT64_MAX if none. */
static uint64_t largest_run(struct pl_ctx *c, uint64_t lo, uint64_t hi,
                            uint64_t *len)
{
	struct pl_run *r = NULL;
	size_t n = 0;
	uint64_t best = UINT64_MAX;

	*len = 0;
	if (usable_runs(c, lo, hi, &r, &n) < 0)
		return UINT64_MAX;
	for (size_t i = 0; i < n; i++) {
		uint64_t a = r[i].start, b = a + r[i].len;
		if (c->avoid_hi > c->avoid_lo && a < c->avoid_hi &&
		    b > c->avoid_lo) {
			if (a >= c->avoid_lo)
				a = c->avoid_hi > b ? b : c->avoid_hi;
			else
				b = c->avoid_lo;
		}
		if (excluded(c, a, b) || b <= a)
			continue;
		if (b - a > *len) {
			*len = b - a;
			best = a;
		}
	}
	free(r);
	return best;
}

static int cmp_move_goal(const void *a, const void *b)
{
	const struct pl_move *x = a, *y = b;
	return x->goal < y->goal ? -1 : x->goal > y->goal;
}

/* compact: data that stays below the boundary may move out of the way
 * to make one run for a range that no free run holds (instead of moving
 * it in parts), within a budget of bytes beyond the minimum. */
#define PL_EVICT_PCT 15 /* % of the minimum */
static const char pl_why_evict[] = "out of the way";
struct evict {
	struct rpiece *low; /* pieces below the boundary, by address */
	bool *gone;         /* moved out of the way already */
	size_t n;
	uint64_t budget, spent;
	char b1[32], b2[32];
};

/* Cost of making [w, w+len) one free run: the bytes of the pieces that
 * would move out of it (whole pieces), or UINT64_MAX when other used
 * blocks (what stays, targets of the plan) lie in it. */
static uint64_t window_cost(struct pl_ctx *c, const struct evict *ev,
                            uint64_t w, uint64_t len)
{
	uint64_t e = w + len, covered = 0, cost = 0, fr = 0;
	size_t lo = 0, hi = ev->n, i = fm_first(&c->fm, w);

	for (; i < c->fm.n && c->fm.r[i].start < e; i++)
		fr += clip_len(c->fm.r[i].start, c->fm.r[i].len, w, e);
	while (lo < hi) { /* first piece ending after w */
		size_t mid = (lo + hi) / 2;
		if (ev->low[mid].physical + ev->low[mid].len <= w)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = lo; i < ev->n && ev->low[i].physical < e; i++) {
		if (ev->gone[i])
			continue;
		covered += clip_len(ev->low[i].physical, ev->low[i].len, w, e);
		cost += ev->low[i].len;
	}
	return covered + fr == len ? cost : UINT64_MAX;
}

/* Extents a file's inode holds in itself, without an extent-tree block
 * (ext4: 4) or a bmap btree block (XFS: its literal area after the
 * 176-byte core, 16 bytes an extent, halved: extended attributes can
 * take the rest; 10 with 512-byte inodes); 4 where not known (a
 * snapshot). */
#define PL_INODE_EXTENTS 4
static size_t inode_extents(const struct pl_ctx *c)
{
	const struct rl_fs_info *fs = &c->g->fs;

	if (fs->type == RL_FS_XFS && fs->xfs_inopblog && fs->block_size) {
		uint32_t isize = fs->block_size >> fs->xfs_inopblog;
		size_t n = isize > 176 ? (isize - 176) / 16 / 2 : 0;
		if (n > PL_INODE_EXTENTS)
			return n;
	}
	return PL_INODE_EXTENTS;
}

static bool too_many_parts(struct pl_ctx *c, const struct pitem *x, uint64_t lo,
                           uint64_t hi);

/* ------------------------------------------- ext4: room for tree blocks */

/* A file whose extents outgrow its inode (four on ext4) gets an
 * extent-tree block from the kernel (ext4_ext_grow_indepth) with the goal
 * ext4_inode_to_goal_block: the start of the inode's group, or with four
 * or more groups per flex group that of the flex group's second (the
 * first is for directories). Traced on this kernel (6.18) on the 2 GiB
 * aged ext4 volume: every such block was asked for at group 1's start and
 * found (CR_GOAL_LEN_FAST) in the first group whose free space the
 * allocator's lists offered -- group 12, above the boundary of a
 * whole-volume compaction, 9 blocks in 6 places: 739.8 MiB free in 7
 * runs where the plan said one. Inside a group it takes the first free
 * extent of exactly one block, or after ten candidates the smallest.
 * So single free blocks of the goal group below the boundary are kept
 * free, one for each file that would otherwise stay whole at a cost;
 * such a file may then go in any number of parts, its moves last (when
 * every other target of the group is filled), and the transaction
 * commits the journal before a move that makes a tree grow (blocks
 * freed since the last commit -- placement blockers, a tree block freed
 * by a merge -- are not given out before it: src/txn.c). The group of
 * file id, or UINT64_MAX where not known. */
static uint64_t tree_goal_group(const struct pl_ctx *c, uint32_t id)
{
	const struct lm_file *f = lm_file(c->m, id);
	uint64_t ipg = c->g->fs.ext4_inodes_per_group, fl = c->g->flex_groups;
	uint64_t g;

	if (c->g->fs.type != RL_FS_EXT4 || !ipg || !f || !f->ino)
		return UINT64_MAX;
	g = (f->ino - 1) / ipg;
	if (fl >= 4)
		g = g / fl * fl + 1; /* (files moved are regular files) */
	return !c->g->fs.group_count || g < c->g->fs.group_count ? g
	                                                         : UINT64_MAX;
}

/* Give file id one of the blocks kept free in its goal group: true when
 * it has one (now or before). */
static bool tree_grant(struct pl_ctx *c, uint32_t id)
{
	uint64_t g;

	if (!c->tree_grant || id >= c->nfiles)
		return false;
	if (c->tree_grant[id])
		return true;
	g = tree_goal_group(c, id);
	for (size_t i = 0; i < c->nholes; i++)
		if (!c->holes[i].used && c->holes[i].group == g) {
			c->holes[i].used = true;
			c->holes_used++;
			c->tree_grant[id] = true;
			return true;
		}
	return false;
}

/* File id got no more extents than its inode holds after all: its block
 * goes back. */
static void tree_ungrant(struct pl_ctx *c, uint32_t id)
{
	uint64_t g;

	if (!c->tree_grant || id >= c->nfiles || !c->tree_grant[id])
		return;
	c->tree_grant[id] = false;
	g = tree_goal_group(c, id);
	for (size_t i = c->nholes; i-- > 0;)
		if (c->holes[i].used && c->holes[i].group == g) {
			c->holes[i].used = false;
			c->holes_used--;
			return;
		}
}

static size_t parts_allowed(const struct pl_ctx *c, const struct pitem *x);

/* Sorted run lengths v[0..*n) (ascending): take len from the smallest
 * that holds it (true), else nothing (false). */
static bool lens_take_fit(uint64_t *v, size_t *n, uint64_t len)
{
	size_t a = 0, b = *n, k;
	uint64_t rest;

	while (a < b) { /* the first >= len */
		size_t m = a + (b - a) / 2;
		if (v[m] < len)
			a = m + 1;
		else
			b = m;
	}
	if (a == *n)
		return false;
	rest = v[a] - len;
	for (k = a; k > 0 && v[k - 1] > rest; k--) /* shift up, re-insert */
		v[k] = v[k - 1];
	v[k] = rest;
	return true;
}

/* How many files of it[0..n) (largest first, as place_items takes them)
 * would find no free run of [lo, hi) that holds them whole -- the runs
 * the larger ones took gone, best fit -- and in parts to the largest runs
 * would need more extents than their inodes hold: per goal group into
 * need[] (an estimate: windows made free are not counted, a block too
 * many is kept free then). 0 or -ENOMEM. */
static int tree_need(struct pl_ctx *c, uint64_t lo, uint64_t hi,
                     const struct pitem *it, size_t n, uint64_t *need)
{
	struct pl_run *r = NULL;
	size_t nr = 0, nv = 0;
	uint64_t *v, budget = 0, spent = 0;
	bool *seen;

	if (usable_runs(c, lo, hi, &r, &nr) < 0)
		return -ENOMEM;
	v = malloc((nr + 1) * sizeof(*v));
	seen = calloc(c->nfiles + 1, sizeof(*seen));
	if (!v || !seen) {
		free(r);
		free(v);
		free(seen);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nr; i++)
		v[nv++] = r[i].len;
	free(r);
	for (size_t i = 0; i < n; i++)
		budget += it[i].len;
	budget = budget * PL_EVICT_PCT / 100;
	mem_sort(v, nv, sizeof(*v), mem_cmp_u64);
	for (size_t i = 0; i < n; i++) {
		uint64_t left = it[i].len, g;
		size_t parts = 0;

		if (lens_take_fit(v, &nv, left))
			continue;
		/* a window made free within the budget (evict_window: at
		 * most half of it in use), counted at the most */
		if (spent + left <= budget) {
			spent += left;
			continue;
		}
		while (left && nv && v[nv - 1]) { /* in parts, largest first */
			uint64_t t = v[nv - 1] < left ? v[nv - 1] : left;
			left -= t;
			parts++;
			if (!lens_take_fit(v, &nv, t))
				break;
		}
		g = tree_goal_group(c, it[i].id);
		if (g == UINT64_MAX || seen[it[i].id] ||
		    parts <= parts_allowed(c, &it[i]))
			continue;
		seen[it[i].id] = true;
		need[g]++;
	}
	free(v);
	free(seen);
	return 0;
}

/* Before a compaction's plan (ext4, the inode geometry known): keep free
 * the lowest single free blocks of each goal group below hi (the
 * boundary), one for each file tree_need counts. Returns how many, or
 * -ENOMEM. */
static int tree_holes_reserve(struct pl_ctx *c, uint64_t lo, uint64_t hi,
                              const struct pitem *it, size_t n)
{
	uint64_t *need = NULL;
	size_t ng, got = 0;
	int r = 0;

	if (c->g->fs.type != RL_FS_EXT4 || !c->g->fs.ext4_inodes_per_group ||
	    !c->g->fs.group_count || !c->g->fs.group_size || c->nholes)
		return 0;
	ng = (size_t)c->g->fs.group_count;
	need = calloc(ng, sizeof(*need));
	if (!need)
		return -ENOMEM;
	r = tree_need(c, lo, hi, it, n, need);
	if (r < 0)
		goto out;
	for (size_t g = 0; g < ng; g++) {
		uint64_t gs, ge;
		if (!need[g])
			continue;
		lm_group_range(c->m, g, &gs, &ge);
		if (gs < lo)
			gs = lo;
		if (ge > hi)
			ge = hi;
		for (size_t i = fm_first(&c->fm, gs);
		     i < c->fm.n && need[g] && c->fm.r[i].start < ge; i++) {
			uint64_t a = c->fm.r[i].start;
			struct pl_tree_hole *h;
			if (c->fm.r[i].len != c->bs || a < gs ||
			    excluded(c, a, a + c->bs))
				continue;
			h = realloc(c->holes, (c->nholes + 1) * sizeof(*h));
			if (!h || pl_fm_give(&c->resv, a, c->bs) < 0) {
				if (h)
					c->holes = h;
				r = -ENOMEM;
				goto out;
			}
			c->holes = h;
			c->holes[c->nholes++] =
			    (struct pl_tree_hole){a, (uint64_t)g, false};
			need[g]--;
			got++;
		}
	}
	if (got && !c->tree_grant) {
		c->tree_grant = calloc(c->nfiles + 1, sizeof(*c->tree_grant));
		if (!c->tree_grant)
			r = -ENOMEM;
	}
out:
	free(need);
	return r < 0 ? r : (int)got;
}

/* The cheapest window of len bytes starting at a run of r[0..nr) below
 * hi, inside one group, outside c->excl: its start in *w, its cost
 * (window_cost), UINT64_MAX when none. */
static uint64_t best_window(struct pl_ctx *c, const struct evict *ev,
                            const struct pl_run *r, size_t nr, uint64_t len,
                            uint64_t hi, uint64_t *w)
{
	uint64_t best = UINT64_MAX;

	*w = 0;
	for (size_t i = 0; i < nr; i++) {
		uint64_t s = r[i].start, gs, ge, k;
		lm_group_range(c->m, group_of(c->g, s), &gs, &ge);
		if (s + len > hi || s + len > ge || excluded(c, s, s + len))
			continue;
		k = window_cost(c, ev, s, len);
		if (k < best) {
			best = k;
			*w = s;
		}
	}
	return best;
}

/* Free bytes of runs r[0..nr) outside [w, w+len). */
static uint64_t room_outside(const struct pl_run *r, size_t nr, uint64_t w,
                             uint64_t len)
{
	uint64_t room = 0;

	for (size_t i = 0; i < nr; i++)
		room += r[i].len - clip_len(r[i].start, r[i].len, w, w + len);
	return room;
}

/* A piece that no free run holds whole goes out of the way in parts;
 * when they leave its file with more extents than its inode holds, the
 * filesystem allocates a tree block next to the file's old place -- in
 * the window [w, w+len) (c->avoid_*), before the range moves there (its
 * step then fails): true when a piece in the window is such a one.
 * (Whole: no longer than the largest run outside it.) */
static bool window_splits_file(struct pl_ctx *c, const struct evict *ev,
                               uint64_t w, uint64_t len, uint64_t lo,
                               uint64_t hi)
{
	uint64_t maxrun = 0;

	if (largest_run(c, lo, hi, &maxrun) == UINT64_MAX)
		maxrun = 0;
	for (size_t i = 0; i < ev->n; i++) {
		const struct rpiece *q = &ev->low[i];
		struct pitem pi = {q->id, q->logical, q->len, q->physical};

		if (ev->gone[i] || q->physical >= w + len ||
		    q->physical + q->len <= w || q->len <= maxrun ||
		    c->next[q->id] > inode_extents(c) || /* a tree already */
		    !too_many_parts(c, &pi, lo, hi))
			continue;
		return true;
	}
	return false;
}

/* Move the pieces in [w, w+len) out of the way to free space of
 * [lo, hi) outside it (c->avoid_* the window): best fit, else in parts.
 * Returns how many, or -errno with c->outcome set. */
static int clear_window(struct pl_ctx *c, struct evict *ev, uint64_t w,
                        uint64_t len, uint64_t lo, uint64_t hi)
{
	int moved = 0;

	for (size_t i = 0; i < ev->n; i++) {
		struct rpiece *q = &ev->low[i];
		uint64_t off = q->logical, left = q->len, g, take, run;
		if (ev->gone[i] || q->physical >= w + len ||
		    q->physical + q->len <= w)
			continue;
		while (left) { /* best fit, else in parts */
			take = left;
			g = pl_find_target(c, left, q->physical, lo, hi);
			if (g == UINT64_MAX) {
				g = largest_run(c, lo, hi, &run);
				take = run < left ? run : left;
			}
			if (g == UINT64_MAX || pl_add_move(c, q->id, off, take,
			                                   g, pl_why_evict) < 0)
				break;
			off += take;
			left -= take;
		}
		ev->gone[i] = true;
		ev->spent += q->len - left;
		moved++;
		if (left) /* cannot happen: the window held the room */
			return fail(
			    c, (struct pl_outcome){.code = PL_EXTENT_NO_RUN,
			                           .err = -ENOSPC,
			                           .file = q->id,
			                           .len = left,
			                           .where = "below the "
			                                    "boundary"});
	}
	return moved;
}

/* The cheapest window for item x in [lo, hi) whose pieces have room
 * outside it: its cost (UINT64_MAX: none), its start in *bw. */
static uint64_t window_for(struct pl_ctx *c, const struct evict *ev,
                           const struct pitem *x, uint64_t lo, uint64_t hi,
                           uint64_t *bw)
{
	struct pl_run *r = NULL;
	size_t nr = 0;
	uint64_t best;

	if (usable_runs(c, lo, hi, &r, &nr) < 0)
		return UINT64_MAX;
	best = best_window(c, ev, r, nr, x->len, hi, bw);
	/* the window's pieces go to free space of [lo, hi) outside it:
	 * without room for them there (the reserves kept free, the runs
	 * the filesystem does not give), no window */
	if (best != UINT64_MAX && room_outside(r, nr, *bw, x->len) < best)
		best = UINT64_MAX;
	free(r);
	return best;
}

/* Empty the window [bw, bw + x->len) for x: the count of pieces moved
 * out of the way, *goal bw (UINT64_MAX, 0 moved: a piece there would
 * leave its file with more extents than its inode holds). */
static int window_apply(struct pl_ctx *c, struct evict *ev,
                        const struct pitem *x, uint64_t lo, uint64_t hi,
                        uint64_t bw, uint64_t *goal)
{
	uint64_t slo = c->avoid_lo, shi = c->avoid_hi;
	int moved = 0;
	bool splits;

	*goal = UINT64_MAX;
	c->avoid_lo = bw;
	c->avoid_hi = bw + x->len;
	splits = window_splits_file(c, ev, bw, x->len, lo, hi);
	if (!splits)
		moved = clear_window(c, ev, bw, x->len, lo, hi);
	c->avoid_lo = slo;
	c->avoid_hi = shi;
	if (!splits && moved >= 0 && pl_fm_is_free(&c->fm, bw, x->len))
		*goal = bw;
	return moved;
}

/* Make one free run for item x in [lo, hi) by moving the pieces in the
 * cheapest window out of the way (best fit elsewhere in [lo, hi), never
 * into the window): *goal the window's start, the count of pieces moved;
 * 0 with *goal UINT64_MAX when no window is within the budget (at most
 * half the item's bytes, in all ev->budget beyond the minimum). */
static int evict_window(struct pl_ctx *c, struct evict *ev,
                        const struct pitem *x, uint64_t lo, uint64_t hi,
                        uint64_t *goal)
{
	uint64_t best, bw;

	*goal = UINT64_MAX;
	/* (a window costs something: else a free run held x) */
	if (ev->spent >= ev->budget)
		return 0;
	best = window_for(c, ev, x, lo, hi, &bw);
	if (best == UINT64_MAX || best > x->len / 2 ||
	    ev->spent + best > ev->budget)
		return 0;
	return window_apply(c, ev, x, lo, hi, bw, goal);
}

static int place_in_parts(struct pl_ctx *c, const struct pitem *x, uint64_t lo,
                          uint64_t hi, const char *why, const char *where);

/* How many parts item x may go in without leaving its file with more
 * extents than its inode holds (SIZE_MAX: it has a tree already, or a
 * block kept free for one: any). */
static size_t parts_allowed(const struct pl_ctx *c, const struct pitem *x)
{
	size_t now = c->next[x->id], in = 0, cap = inode_extents(c);

	if (now > cap || (c->tree_grant && c->tree_grant[x->id]))
		return SIZE_MAX;
	for (size_t k = 0; k < now; k++)
		in += c->ext[x->id][k].logical >= x->off &&
		      c->ext[x->id][k].logical < x->off + x->len;
	return cap - (now - in);
}

/* Item x, which no window holds whole and whose file in parts to the
 * largest runs would need more extents than its inode holds: in k parts
 * (2 <= k <= what its inode allows), each in a window made free by
 * moving what is there out of the way, every window costing at most its
 * part; the k that costs least. On an aged 128 MiB ext4 volume a 15.5
 * MiB file right above the boundary of a whole-volume compaction stayed
 * where it was (no 15.5 MiB window below the boundary without a
 * directory block), and 15.5 MiB of the 35 MiB free stayed below it in
 * 113 runs. Returns the pieces moved out of the way (*placed: x's parts
 * are in the plan), or -errno. */
static int evict_parts(struct pl_ctx *c, struct evict *ev,
                       const struct pitem *x, uint64_t lo, uint64_t hi,
                       const char *why, bool *placed)
{
	size_t kmax = parts_allowed(c, x), n0 = c->nexcl, bestk = 0;
	const uint64_t *ex0 = c->excl;
	uint64_t *ex = NULL, *win = NULL, *bwin = NULL, bcost = UINT64_MAX;
	uint64_t slo = c->avoid_lo, shi = c->avoid_hi;
	struct pl_run *r = NULL;
	size_t nr = 0;
	int moved = 0, m;

	*placed = false;
	if (kmax < 2 || kmax == SIZE_MAX || x->len < 2 * c->bs)
		return 0;
	if (kmax > x->len / c->bs)
		kmax = x->len / c->bs;
	ex = malloc((2 * (n0 + kmax) + 1) * sizeof(*ex));
	win = malloc((2 * kmax + 1) * sizeof(*win));
	bwin = malloc((2 * kmax + 1) * sizeof(*bwin));
	if (!ex || !win || !bwin) {
		moved = -ENOMEM;
		goto out;
	}
	if (n0)
		memcpy(ex, ex0, 2 * n0 * sizeof(*ex));
	c->excl = ex;
	for (size_t k = 2; k <= kmax; k++) {
		uint64_t part = (x->len / k + c->bs - 1) / c->bs * c->bs;
		uint64_t tot = 0, done = 0, w, cj;
		size_t j = 0;
		bool ok = true;

		c->nexcl = n0;
		for (; done < x->len; j++) {
			uint64_t len =
			    x->len - done < part ? x->len - done : part;
			if (usable_runs(c, lo, hi, &r, &nr) < 0) {
				moved = -ENOMEM;
				goto out;
			}
			cj = best_window(c, ev, r, nr, len, hi, &w);
			free(r);
			r = NULL;
			ok = cj != UINT64_MAX && cj <= len;
			if (!ok)
				break;
			tot += cj;
			win[2 * j] = w;
			win[2 * j + 1] = w + len;
			ex[2 * c->nexcl] = w;
			ex[2 * c->nexcl + 1] = w + len;
			c->nexcl++;
			done += len;
		}
		/* room for what they hold outside every window */
		if (ok) {
			uint64_t room = 0;
			if (usable_runs(c, lo, hi, &r, &nr) < 0) {
				moved = -ENOMEM;
				goto out;
			}
			room = room_outside(r, nr, 0, 0);
			free(r);
			r = NULL;
			ok = room >= tot;
		}
		for (size_t q = 0; ok && q < j; q++) {
			c->avoid_lo = win[2 * q];
			c->avoid_hi = win[2 * q + 1];
			ok = !window_splits_file(c, ev, win[2 * q],
			                         win[2 * q + 1] - win[2 * q],
			                         lo, hi);
		}
		c->avoid_lo = slo;
		c->avoid_hi = shi;
		if (ok && tot < bcost) {
			bcost = tot;
			bestk = j;
			memcpy(bwin, win, 2 * j * sizeof(*win));
		}
	}
	if (!bestk)
		goto out;
	/* x's parts follow the windows' addresses (its data ascending),
	 * each as long as its window */
	mem_sort(bwin, bestk, 2 * sizeof(*bwin), mem_cmp_u64);
	/* every window kept from the others' pieces */
	c->nexcl = n0;
	for (size_t q = 0; q < bestk; q++) {
		ex[2 * c->nexcl] = bwin[2 * q];
		ex[2 * c->nexcl + 1] = bwin[2 * q + 1];
		c->nexcl++;
	}
	for (size_t q = 0; q < bestk; q++) {
		c->avoid_lo = bwin[2 * q];
		c->avoid_hi = bwin[2 * q + 1];
		m = clear_window(c, ev, bwin[2 * q],
		                 bwin[2 * q + 1] - bwin[2 * q], lo, hi);
		c->avoid_lo = slo;
		c->avoid_hi = shi;
		if (m < 0) {
			moved = m;
			goto out;
		}
		moved += m;
	}
	c->excl = ex0;
	c->nexcl = n0;
	uint64_t off = 0;
	for (size_t q = 0; q < bestk; q++) {
		uint64_t len = bwin[2 * q + 1] - bwin[2 * q];
		struct pitem part = {x->id, x->off + off, len, x->phys + off};

		/* (free now: the window held only pieces and free runs) */
		if (!pl_fm_is_free(&c->fm, bwin[2 * q], len))
			m = place_in_parts(c, &part, lo, hi, why,
			                   "below the boundary");
		else if ((m = pl_add_move(c, x->id, part.off, len, bwin[2 * q],
		                          why)) < 0)
			m = fail(c,
			         (struct pl_outcome){.code = PL_TARGET_FAILED,
			                             .err = m,
			                             .file = x->id,
			                             .at = bwin[2 * q]});
		if (m < 0) {
			moved = m;
			goto out;
		}
		off += len;
	}
	*placed = true;
out:
	c->excl = ex0;
	c->nexcl = n0;
	c->avoid_lo = slo;
	c->avoid_hi = shi;
	free(r);
	free(ex);
	free(win);
	free(bwin);
	return moved;
}

/* Item x fits no free run and no window within the budget. Where its
 * file in parts would need more extents than its inode holds (*many:
 * too_many_parts; -1 once the plan changed), an extent-tree block the
 * filesystem puts next to the extent just allocated is often another
 * target: a window beyond the budget (at most x's bytes), or where none
 * holds it whole, a few for as many parts as its inode holds
 * (evict_parts, *placed; on the aged 2 GiB volume, weighing those
 * against a dear single window too saved 0.7 % of the bytes for 60 %
 * more planner time). What that costs goes to c->whole_*. Returns the
 * pieces moved out of the way, or -errno. */
static int evict_whole(struct pl_ctx *c, struct evict *ev,
                       const struct pitem *x, uint64_t lo, uint64_t hi,
                       const char *why, int *many, uint64_t *goal, bool *placed)
{
	uint64_t spent0 = ev->spent, bw = 0;
	int r = 0;

	*many = too_many_parts(c, x, lo, hi);
	if (!*many)
		return 0;
	if (window_for(c, ev, x, lo, hi, &bw) <= x->len)
		r = window_apply(c, ev, x, lo, hi, bw, goal);
	if (r == 0 && *goal == UINT64_MAX)
		r = evict_parts(c, ev, x, lo, hi, why, placed);
	if (r != 0)
		*many = -1;
	if (r >= 0 && (*placed || *goal != UINT64_MAX)) {
		c->whole_bytes += ev->spent - spent0;
		c->whole_for += x->len;
	}
	return r;
}

static int cmp_run_len_desc(const void *a, const void *b)
{
	const struct pl_run *x = a, *y = b;
	return x->len != y->len ? (x->len > y->len ? -1 : 1) : 0;
}

/* Would item x, moved in parts to the largest runs of [lo, hi) (outside
 * c->avoid_*), leave its file with more extents than the inode holds
 * (when it holds them now)? */
static bool too_many_parts(struct pl_ctx *c, const struct pitem *x, uint64_t lo,
                           uint64_t hi)
{
	struct pl_run *r = NULL;
	size_t nr = 0, parts = 0, allowed = parts_allowed(c, x);
	uint64_t left = x->len;

	if (allowed == SIZE_MAX || usable_runs(c, lo, hi, &r, &nr) < 0)
		return false;
	mem_sort(r, nr, sizeof(*r), cmp_run_len_desc);
	for (size_t i = 0; i < nr && left; i++) {
		uint64_t a = r[i].start, b = a + r[i].len;
		if (c->avoid_hi > c->avoid_lo && a < c->avoid_hi &&
		    b > c->avoid_lo)
			continue;
		left -= r[i].len < left ? r[i].len : left;
		parts++;
	}
	free(r);
	return parts > allowed;
}

/* Moves [from, from + n) of the plan with those whose front[i] is set
 * first, each part in its order. Returns how many went first, or
 * -ENOMEM. */
static ssize_t moves_front(struct pl_ctx *c, size_t from, size_t n,
                           const bool *front)
{
	size_t a = 0, b = 0;
	struct pl_move *tmp = malloc((n ? n : 1) * sizeof(*tmp));

	if (!tmp)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		b += front[i]; /* where the others start */
	for (size_t i = 0; i < n; i++)
		tmp[front[i] ? a++ : b++] = c->mv[from + i];
	memcpy(c->mv + from, tmp, n * sizeof(*tmp));
	free(tmp);
	return (ssize_t)a;
}

/* Moves [from, c->nmv) of the plan with those inside the index ranges
 * late[0..nlate) ([start, end) pairs, ascending) put last, each part in
 * its order. Returns how many went last, or -ENOMEM. */
static ssize_t moves_last(struct pl_ctx *c, size_t from, const size_t *late,
                          size_t nlate)
{
	size_t n = c->nmv - from, q = 0;
	bool *front;
	ssize_t r;

	if (!nlate)
		return 0;
	front = malloc(n ? n : 1);
	if (!front)
		return -ENOMEM;
	for (size_t i = from; i < c->nmv; i++) {
		while (q < nlate && late[2 * q + 1] <= i)
			q++;
		front[i - from] = !(q < nlate && late[2 * q] <= i);
	}
	r = moves_front(c, from, n, front);
	free(front);
	return r < 0 ? r : (ssize_t)n - r;
}

/* Moves [from, to) of the plan with the moves out of the way first, each
 * part in its order. Returns how many went first, or -ENOMEM. */
static ssize_t evictions_first(struct pl_ctx *c, size_t from, size_t to)
{
	bool *front = malloc(to > from ? to - from : 1);
	ssize_t r;

	if (!front)
		return -ENOMEM;
	for (size_t i = from; i < to; i++)
		front[i - from] = c->mv[i].why == pl_why_evict;
	r = moves_front(c, from, to - from, front);
	free(front);
	return r;
}

static uint64_t first_fit(struct pl_ctx *c, uint64_t len, uint64_t lo,
                          uint64_t hi);

/* Move item x in parts to the largest runs of [lo, hi). */
static int place_in_parts(struct pl_ctx *c, const struct pitem *x, uint64_t lo,
                          uint64_t hi, const char *why, const char *where)
{
	uint64_t off = x->off, left = x->len, run, take, goal;
	int r;

	while (left) {
		goal = largest_run(c, lo, hi, &run);
		if (goal == UINT64_MAX)
			return fail(
			    c, (struct pl_outcome){.code = PL_EXTENT_NO_RUN,
			                           .err = -ENOSPC,
			                           .file = x->id,
			                           .len = left,
			                           .where = where});
		take = run < left ? run : left;
		r = pl_add_move(c, x->id, off, take, goal, why);
		if (r < 0)
			return fail(
			    c, (struct pl_outcome){.code = PL_TARGET_FAILED,
			                           .err = r,
			                           .file = x->id,
			                           .at = goal});
		off += take;
		left -= take;
	}
	return 0;
}

/* Remember moves [k0, c->nmv) to go last (moves_last). */
static int late_add(size_t **late, size_t *clate, size_t *nlate, size_t k0,
                    size_t k1)
{
	if (mem_grow(late, clate, 2 * *nlate + 2, sizeof(**late)) < 0)
		return -ENOMEM;
	(*late)[2 * *nlate] = k0;
	(*late)[2 * *nlate + 1] = k1;
	(*nlate)++;
	return 0;
}

/* Place the items (largest first) in free space of [lo, hi) (outside
 * c->avoid_*), each in its best-fitting run (pl_find_target), or where
 * none holds it in the largest runs, in parts (noted: `where` no run
 * held them). The moves are independent (no target is data an item
 * leaves): they end in the address order of their targets. An item
 * whose parts leave its file with more extents than its inode holds
 * goes last: the filesystem then allocates a tree block for it where it
 * chooses, which must not be a later step's target not held yet (its
 * blocks not all free yet): that step would fail. Last, every other
 * target is filled by then. (ext4 asks for the first tree block of a
 * file at ext4_inode_to_goal_block's goal and takes the goal group's
 * first single free block, but not one freed since the journal's last
 * commit nor one a placement's blockers hold; with every group below
 * the boundary filled it took one beyond it, where the tree blocks split
 * the free run a whole-volume compaction makes: an aged 2 GiB volume, 9
 * files, the run 68 % of the free space.) A file given a block kept free
 * in its goal group (tree_grant) goes in parts, last, and the
 * transaction commits the journal before the move that grows its tree
 * (src/txn.c). Without one, with spill_hi above hi (a compaction: the
 * region's end), such an item is not
 * split: once every other item is placed it goes whole to the lowest run
 * of [hi, spill_hi) that holds it (what the others left above the
 * boundary: the free run then starts after it), and only where none does,
 * in parts. Its bytes stay free below hi, in the small runs no item fit
 * (on an aged 2 GiB ext4 volume 9 files of 17 blocks were split into
 * 2-block parts, and their tree blocks cut the volume's free run at 67 %).
 * On failure c->outcome says why. */
static int place_items(struct pl_ctx *c, const struct pitem *it, size_t n,
                       uint64_t lo, uint64_t hi, uint64_t spill_hi,
                       const char *why, const char *where, struct evict *ev)
{
	size_t nmv0 = c->nmv, *late = NULL, nlate = 0, clate = 0;
	size_t *spill = NULL, nspill = 0, cspill = 0;
	uint64_t split = 0, evicted = 0, spilled = 0, spilled_bytes = 0;
	uint64_t stayed = 0, stayed_bytes = 0, parted = 0;
	size_t trees = 0;      /* late moves of files that get a tree block */
	size_t kept_trees = 0; /* of them: in a block kept free for it */
	uint32_t granted = UINT32_MAX; /* the last item's file, given one */
	char s1[32], s2[32];
	ssize_t nl;
	int r;

	for (size_t i = 0; i <= n; i++) {
		/* the last item's file kept within its inode: block back */
		if (granted != UINT32_MAX &&
		    c->next[granted] <= inode_extents(c))
			tree_ungrant(c, granted);
		granted = UINT32_MAX;
		if (i == n)
			break;
		uint64_t off = it[i].off, left = it[i].len;
		uint64_t goal = pl_find_target(c, left, it[i].phys, lo, hi);

		/* in parts, would the file need more extents than its
		 * inode holds? (-1: not known yet; the answer holds while
		 * the predicted map is unchanged) */
		int many = -1;

		/* no free run holds it whole: may it go in parts with a
		 * block kept free for its tree block? (tree_goal_group) */
		if (goal == UINT64_MAX && c->holes_used < c->nholes &&
		    !c->tree_grant[it[i].id] &&
		    c->next[it[i].id] <= inode_extents(c) &&
		    too_many_parts(c, &it[i], lo, hi) &&
		    tree_grant(c, it[i].id))
			granted = it[i].id;

		if (goal == UINT64_MAX && ev) {
			r = evict_window(c, ev, &it[i], lo, hi, &goal);
			if (r == 0 && goal == UINT64_MAX) {
				bool placed = false;

				r = evict_whole(c, ev, &it[i], lo, hi, why,
				                &many, &goal, &placed);
				if (r >= 0 && placed) {
					evicted += r;
					parted++;
					continue;
				}
			}
			if (r < 0)
				goto fail;
			evicted += r;
		}
		size_t k0 = c->nmv;
		if (goal != UINT64_MAX) {
			r = pl_add_move(c, it[i].id, off, left, goal, why);
			if (r < 0) {
				r = fail(c, (struct pl_outcome){
				                .code = PL_TARGET_FAILED,
				                .err = r,
				                .file = it[i].id,
				                .at = goal});
				goto fail;
			}
			continue;
		}
		bool tail =
		    many >= 0 ? many : too_many_parts(c, &it[i], lo, hi);
		if (tail && spill_hi > hi) { /* whole, above, after the rest */
			if (mem_grow(&spill, &cspill, nspill + 1,
			             sizeof(*spill)) < 0) {
				r = -ENOMEM;
				goto fail;
			}
			spill[nspill++] = i;
			continue;
		}
		split++;
		r = place_in_parts(c, &it[i], lo, hi, why, where);
		/* (a file given its block: this item's parts last too, where
		 * an earlier, larger item of it got the block) */
		bool kept = c->tree_grant && c->tree_grant[it[i].id];
		if (r == 0 && (tail || kept) && c->nmv > k0) {
			trees += c->nmv - k0;
			if (kept)
				kept_trees += c->nmv - k0;
			r = late_add(&late, &clate, &nlate, k0, c->nmv);
		}
		if (r < 0)
			goto fail;
	}
	for (size_t s = 0; s < nspill; s++) {
		const struct pitem *x = &it[spill[s]];
		uint64_t goal = first_fit(c, x->len, hi, spill_hi);
		size_t k0 = c->nmv;

		/* no free run between the boundary and where it is holds it:
		 * higher up it would leave a hole as large as itself and gain
		 * nothing (on an aged 128 MiB ext4 volume a 15.5 MiB file was
		 * moved from right above the boundary to the volume's end) */
		if (goal != UINT64_MAX && goal >= x->phys) {
			stayed++;
			stayed_bytes += x->len;
			pl_note(
			    c,
			    "stays: 0x%" PRIx64 "..0x%" PRIx64 " (%s): %s: no "
			    "free run between the boundary and it holds it "
			    "whole (in parts its file would need more extents "
			    "than its inode holds)",
			    x->phys, x->phys + x->len, sz(x->len, s1),
			    fpath(c, x->id));
			continue;
		}
		if (goal != UINT64_MAX) {
			r = pl_add_move(c, x->id, x->off, x->len, goal, why);
			if (r < 0)
				r = fail(c, (struct pl_outcome){
				                .code = PL_TARGET_FAILED,
				                .err = r,
				                .file = x->id,
				                .at = goal});
			spilled++;
			spilled_bytes += x->len;
		} else {
			split++;
			r = place_in_parts(c, x, lo, hi, why, where);
			trees += c->nmv - k0;
		}
		/* its target: what other moves leave above the boundary */
		if (r == 0 && c->nmv > k0)
			r = late_add(&late, &clate, &nlate, k0, c->nmv);
		if (r < 0)
			goto fail;
	}
	free(spill);
	spill = NULL;
	/* (a late item's targets are free space no other move leaves, and
	 * what it leaves no other move takes: last is as safe) */
	nl = moves_last(c, nmv0, late, nlate);
	free(late);
	late = NULL;
	if (nl < 0)
		return (int)nl;
	/* Moves out of the way must run before the move they make room
	 * for. On ext4 they go first, in their order (one may take what
	 * another left beside its window); the rest are then independent
	 * (their targets are free space or what those moves left; what they
	 * leave lies outside [lo, hi): items come from outside the target
	 * range), so they run in the address order of their targets, the
	 * windows among them: the transaction holds the windows emptied by
	 * then in one batch (one journal commit for the freed blocks, one
	 * placement session) instead of one each. On XFS that order made a
	 * placement miss (ENOSPC in an AG's group compaction, 5 runs of 6,
	 * then a re-plan): there the plan order stays. */
	ssize_t nev = 0;
	bool sorted = !evicted;

	if (evicted && c->g->fs.type == RL_FS_EXT4) {
		nev = evictions_first(c, nmv0, c->nmv - (size_t)nl);
		if (nev < 0)
			return (int)nev;
		sorted = true;
	}
	if (sorted) {
		mem_sort(c->mv + nmv0 + (size_t)nev,
		         c->nmv - nmv0 - (size_t)nev - (size_t)nl,
		         sizeof(*c->mv), cmp_move_goal);
		mem_sort(c->mv + c->nmv - (size_t)nl, (size_t)nl,
		         sizeof(*c->mv), cmp_move_goal);
	}
	if (split)
		pl_note(c,
		        "%" PRIu64 " range%s did not fit one free run %s: "
		        "moved in parts to the largest ones",
		        split, split == 1 ? "" : "s", where);
	for (int w = 0; w < 2; w++) { /* whole: moved above, or stayed */
		uint64_t k = w ? stayed : spilled;
		uint64_t kb = w ? stayed_bytes : spilled_bytes;
		char tail[160];

		if (!k)
			continue;
		if (w)
			snprintf(tail, sizeof(tail),
			         ", and no free run between the boundary and "
			         "where %s holds %s whole: left where %s",
			         k == 1 ? "it is" : "they are",
			         k == 1 ? "it" : "them",
			         k == 1 ? "it is" : "they are");
		else
			snprintf(tail, sizeof(tail),
			         ": moved whole right above it (%s stays free "
			         "below it, in runs too small for any range)",
			         sz(kb, s2));
		pl_note(c,
		        "%" PRIu64 " range%s (%s) did not fit one free run %s "
		        "and would leave %s file with more extents than its "
		        "inode holds%s",
		        k, k == 1 ? "" : "s", sz(kb, s1), where,
		        k == 1 ? "its" : "each", tail);
	}
	if (evicted) {
		char whole[256] = "";

		if (c->whole_bytes)
			snprintf(whole, sizeof(whole),
			         "; %s of it for %s of ranges that in more "
			         "parts would leave their files with more "
			         "extents than their inodes hold%s",
			         sz(c->whole_bytes, s1), sz(c->whole_for, s2),
			         parted ? ", some in a few parts" : "");
		pl_note(c,
		        "%" PRIu64 " range%s moved out of the way to make one "
		        "run for a larger one (%s of %s allowed beyond the "
		        "minimum%s)",
		        evicted, evicted == 1 ? "" : "s", sz(ev->spent, ev->b1),
		        sz(ev->budget, ev->b2), whole);
	}
	if (trees)
		pl_note(c,
		        "%zu move%s of files left with more extents than their "
		        "inodes hold go last (each such file gets a tree block "
		        "the filesystem places%s)",
		        trees, trees == 1 ? "" : "s",
		        kept_trees == trees ? ": in a block kept free for it"
		        : kept_trees
		            ? "; for the moves of some, in a block kept "
		              "free for it, for the others where it "
		              "can be, beyond the boundary too"
		            : ", which can be beyond the boundary");
	return 0;
fail:
	free(late);
	free(spill);
	return r;
}

/* Used blocks of [lo, hi) that no movable piece holds (p sorted by
 * physical address): the blocks that stay. cb(c, a, b, arg) per run. */
static void fixed_runs(struct pl_ctx *c, uint64_t lo, uint64_t hi,
                       const struct rpiece *p, size_t n,
                       void (*cb)(struct pl_ctx *, uint64_t, uint64_t, void *),
                       void *arg)
{
	uint64_t pos = lo;
	size_t q = 0, i = fm_first(&c->fm, lo);
	while (pos < hi) {
		uint64_t nx = hi;
		bool moved = false;
		while (i < c->fm.n && c->fm.r[i].start + c->fm.r[i].len <= pos)
			i++;
		while (q < n && p[q].physical + p[q].len <= pos)
			q++;
		if (i < c->fm.n && c->fm.r[i].start <= pos) {
			pos = c->fm.r[i].start + c->fm.r[i].len;
			moved = true;
		}
		for (size_t k = q; k < n && p[k].physical <= pos; k++)
			if (p[k].physical + p[k].len > pos) {
				pos = p[k].physical + p[k].len;
				moved = true;
			}
		if (moved)
			continue;
		if (i < c->fm.n && c->fm.r[i].start < nx)
			nx = c->fm.r[i].start;
		if (q < n && p[q].physical < nx)
			nx = p[q].physical;
		if (nx > hi)
			nx = hi;
		cb(c, pos, nx, arg);
		pos = nx;
	}
}

/* What holds the blocks that stay: counted, and named up to a limit. */
struct fixed_note {
	uint64_t meta, unknown, files, n, lines;
};

static int fixed_owner(const struct lm_owner *o, void *arg)
{
	struct fixed_note *fn = arg;

	if (o->kind == LM_OWN_META)
		fn->meta += o->length;
	else if (o->kind == LM_OWN_FILE)
		fn->files += o->length;
	else if (o->kind == LM_OWN_UNKNOWN)
		fn->unknown += o->length;
	return 0;
}

/* The first owner of a fixed run, in words. */
struct fixed_name {
	char buf[512];
	bool done;
	struct pl_ctx *c;
};

static int fixed_name_cb(const struct lm_owner *o, void *arg)
{
	struct fixed_name *fx = arg;
	const char *um = NULL;

	if (fx->done || o->kind == LM_OWN_FREE)
		return 0;
	fx->done = true;
	if (o->kind == LM_OWN_META)
		snprintf(fx->buf, sizeof(fx->buf), "filesystem metadata (%s)",
		         o->label ? o->label : "?");
	else if (o->kind == LM_OWN_FILE) {
		if (pl_unmovable(fx->c, o->file, &um) == PL_MOVABLE)
			um = "preallocated past its end of file";
		snprintf(fx->buf, sizeof(fx->buf), "%s: %s",
		         fpath(fx->c, o->file), um);
	} else
		snprintf(fx->buf, sizeof(fx->buf),
		         "in use by no file the scan knows (inodes, directory, "
		         "extent-tree or btree blocks, the journal or log, or "
		         "blocks allocated since the scan)");
	return 0;
}

struct fixed_walk {
	uint64_t from; /* name each run at or above this address */
	struct fixed_note fn;
};

static void fixed_cb(struct pl_ctx *c, uint64_t a, uint64_t b, void *arg)
{
	struct fixed_walk *fw = arg;
	char s1[32];

	fw->fn.n++;
	lm_owners(c->m, a, b, fixed_owner, &fw->fn);
	if (b <= fw->from)
		return;
	if (fw->fn.lines++ < PL_NOTE_RANGES) {
		struct fixed_name fx = {.c = c};
		lm_owners(c->m, a, b, fixed_name_cb, &fx);
		pl_note(c, "stays: 0x%" PRIx64 "..0x%" PRIx64 " (%s): %s", a, b,
		        sz(b - a, s1), fx.done ? fx.buf : "in use");
	}
}

/* Note the blocks of [lo, hi) that stay, naming those at or above
 * `from`; returns their bytes. */
static uint64_t note_fixed(struct pl_ctx *c, uint64_t lo, uint64_t hi,
                           struct rpiece *p, size_t n, uint64_t from)
{
	struct fixed_walk fw = {.from = from};
	char s1[32], s2[32], s3[32];

	mem_sort(p, n, sizeof(*p), cmp_rpiece_phys);
	fixed_runs(c, lo, hi, p, n, fixed_cb, &fw);
	if (fw.fn.lines > PL_NOTE_RANGES)
		pl_note(c, "(and %" PRIu64 " more ranges that stay)",
		        fw.fn.lines - PL_NOTE_RANGES);
	if (fw.fn.n)
		pl_note(c,
		        "stays in the region: %" PRIu64 " ranges: %s of "
		        "metadata, %s in use by no file the scan knows, %s of "
		        "files that cannot move",
		        fw.fn.n, sz(fw.fn.meta, s1), sz(fw.fn.unknown, s2),
		        sz(fw.fn.files, s3));
	return fw.fn.meta + fw.fn.unknown + fw.fn.files;
}

/* The lowest boundary b in [lo, hi) such that the movable data of the
 * region (total) fits below it: usable free space and movable pieces (p,
 * sorted by physical) below b add up to total. */
static uint64_t compact_boundary(struct pl_ctx *c, uint64_t lo, uint64_t hi,
                                 const struct rpiece *p, size_t n,
                                 const struct pl_run *fr, size_t nf,
                                 uint64_t total)
{
	uint64_t have = 0;
	size_t i = 0, q = 0;

	if (!total)
		return lo;
	while (i < nf || q < n) {
		uint64_t a, l;
		if (q >= n || (i < nf && fr[i].start < p[q].physical)) {
			a = fr[i].start;
			l = fr[i++].len;
		} else {
			a = p[q].physical;
			l = p[q++].len;
		}
		if (have + l >= total)
			return (a + (total - have) + c->bs - 1) / c->bs * c->bs;
		have += l;
	}
	return hi;
}

int pl_compact(struct pl_ctx *c, uint64_t start, uint64_t end)
{
	struct rpiece *p = NULL, *up = NULL;
	struct pl_run *fr = NULL;
	struct pitem *it = NULL;
	size_t n = 0, nf = 0, nu = 0, cap = 0, ni = 0;
	struct rsum rs = {.verb = "stays: "};
	struct evict ev = {0};
	uint64_t b, kept;
	char s1[32], s2[32], s3[32];
	int r;

	start = (start + c->bs - 1) / c->bs * c->bs;
	end = end / c->bs * c->bs;
	if (end <= start)
		return fail(c, (struct pl_outcome){.code = PL_REGION_EMPTY,
		                                   .err = -EINVAL});
	r = region_pieces(c, start, end, &p, &n, &rs);
	if (r == 0)
		r = usable_runs(c, start, end, &fr, &nf);
	if (r < 0)
		goto out;
	mem_sort(p, n, sizeof(*p), cmp_rpiece_phys);
	/* (twice where blocks are kept free for extent-tree blocks: the
	 * boundary moves up by as many) */
	for (int pass = 0; pass < 2; pass++) {
		b = compact_boundary(c, start, end, p, n, fr, nf, rs.movable);
		/* the pieces above the boundary move (split at it) */
		nu = 0;
		for (size_t i = 0; i < n && r == 0; i++) {
			struct rpiece x = p[i];
			if (x.physical + x.len <= b)
				continue;
			if (x.physical < b) {
				x.logical += b - x.physical;
				x.len -= b - x.physical;
				x.physical = b;
			}
			r = push_piece(&up, &nu, &cap, x);
		}
		free(it);
		it = NULL;
		if (r == 0)
			r = pieces_items(c, up, nu, &it, &ni);
		if (r == 0 && pass == 0)
			r = tree_holes_reserve(c, start, b, it, ni);
		if (r <= 0 || pass)
			break;
		free(fr);
		fr = NULL;
		nf = 0;
		r = usable_runs(c, start, end, &fr, &nf);
		if (r < 0)
			break;
	}
	if (r < 0)
		goto out;
	r = 0;
	c->has_min = true;
	c->min_bytes = c->whole_bytes = c->whole_for = 0;
	for (size_t i = 0; i < nu; i++)
		c->min_bytes += up[i].len;
	pl_note(c,
	        "region 0x%" PRIx64 "..0x%" PRIx64 ": %s of movable data "
	        "(%" PRIu64 " files), %s free; it fits below 0x%" PRIx64
	        ": the %s above moves down (%zu ranges)",
	        start, end, sz(rs.movable, s1), rs.files_movable,
	        sz(pl_fm_bytes(&c->fm, start, end), s2), b,
	        sz(c->min_bytes, s3), ni);
	/* what stays, from the map before the moves */
	c->fixed_bytes = note_fixed(c, start, end, p, n, b);
	/* the data below the boundary that may move out of the way */
	ev.low = calloc(n + 1, sizeof(*ev.low));
	ev.gone = calloc(n + 1, sizeof(*ev.gone));
	if (!ev.low || !ev.gone) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (p[i].physical + p[i].len <= b)
			ev.low[ev.n++] = p[i];
	ev.budget = c->min_bytes * PL_EVICT_PCT / 100;
	r = place_items(c, it, ni, start, b, end, "compact",
	                "below the boundary", &ev);
	if (r < 0)
		goto out;
	kept = c->group_keep ? pl_fm_bytes(&c->resv, start, b) : 0;
	for (size_t i = fm_first(&c->resv, start);
	     kept && i < c->resv.n && c->resv.r[i].start < b; i++)
		pl_note(c, "kept free: 0x%" PRIx64 "..0x%" PRIx64 " (%s)",
		        c->resv.r[i].start,
		        c->resv.r[i].start + c->resv.r[i].len,
		        sz(c->resv.r[i].len, s1));
	if (c->nholes)
		pl_note(c,
		        "kept free for extent-tree blocks: %zu single block%s "
		        "from 0x%" PRIx64 " (group %" PRIu64 "%s), %zu of them "
		        "for files that go in more parts than their inodes "
		        "hold (the kernel puts such a file's new tree block in "
		        "the first single free block of its inode's group, or "
		        "of its flex group's second)",
		        c->nholes, c->nholes == 1 ? "" : "s", c->holes[0].at,
		        c->holes[0].group,
		        c->holes[c->nholes - 1].group != c->holes[0].group
		            ? " and others"
		            : "",
		        c->holes_used);
	if (kept)
		pl_note(c,
		        "kept free below 0x%" PRIx64 ": %s (%s per group: the "
		        "allocator answers ENOSPC for an allocation that would "
		        "take an AG's reservation)",
		        b, sz(kept, s1), sz(c->group_keep, s2));
	{
		size_t runs = pl_fm_runs(&c->fm, b, end);
		uint64_t fb = pl_fm_bytes(&c->fm, start, end);
		uint64_t below = pl_fm_bytes(&c->fm, start, b);
		c->run_lo = b;
		c->run_hi = end;
		c->run_count = runs;
		c->run_free = fb - below;
		c->run_start = start;
		c->run_below = below;
		pl_note(c,
		        "after: %s free in the region, %s of it from 0x%" PRIx64
		        " to the end in %zu run%s%s; %s free below it",
		        sz(fb, s1), sz(fb - below, s2), b, runs,
		        runs == 1 ? "" : "s",
		        runs > 1 ? " (between blocks that stay)" : "",
		        sz(below, s3));
	}
out:
	free(ev.low);
	free(ev.gone);
	free(p);
	free(up);
	free(fr);
	free(it);
	return r;
}

/* -------------------------------------------------------------- evacuate */

int pl_evacuate(struct pl_ctx *c, uint64_t start, uint64_t end,
                struct pl_evac_report *er)
{
	struct lm_stats st;
	struct rpiece *p = NULL;
	struct pitem *it = NULL;
	size_t n = 0, ni = 0, nmv0 = c->nmv;
	struct rsum rs = {.verb = "cannot move "};
	uint64_t filebytes;
	char a[32];
	int r;

	memset(er, 0, sizeof(*er));
	start = start / c->bs * c->bs;
	end = (end + c->bs - 1) / c->bs * c->bs;
	if (end <= start)
		return -EINVAL;
	r = region_pieces(c, start, end, &p, &n, &rs);
	if (r < 0)
		return r;
	er->movable = rs.movable;
	er->files_movable = rs.files_movable;
	er->files_immovable = rs.files_stuck;
	/* shared: the bytes of shared extents among what cannot move */
	er->shared = rs.shared_stuck;
	er->unshared = rs.unshared;
	for (int k = 1; k <= PL_STUCK_BUSY; k++)
		er->immovable += rs.stuck[k];
	er->immovable += rs.past_eof;
	filebytes = er->movable + er->immovable;
	if (lm_range_stats(c->m, start, end, &st) == 0) {
		er->meta = st.bytes[LM_CAT_META];
		er->unknown = st.unknown;
	}
	if (er->meta)
		pl_note(c, "cannot move %s of filesystem metadata",
		        sz(er->meta, a));
	if (er->unknown)
		pl_note(c, "cannot move %s of blocks in use by no known file",
		        sz(er->unknown, a));
	c->has_min = true;
	c->min_bytes = er->movable;
	c->whole_bytes = c->whole_for = 0;
	{
		struct pl_run *fr = NULL;
		size_t nf = 0;
		if (usable_runs(c, 0, start, &fr, &nf) == 0)
			for (size_t i = 0; i < nf; i++)
				er->free_out += fr[i].len;
		free(fr);
		fr = NULL;
		if (usable_runs(c, end, c->g->fs.size, &fr, &nf) == 0)
			for (size_t i = 0; i < nf; i++)
				er->free_out += fr[i].len;
		free(fr);
	}
	if (er->movable > er->free_out) {
		r = fail(c, (struct pl_outcome){.code = PL_NOT_ENOUGH_SPACE,
		                                .err = -ENOSPC,
		                                .len = er->movable,
		                                .avail = er->free_out});
		goto out;
	}
	r = pieces_items(c, p, n, &it, &ni);
	if (r < 0)
		goto out;
	c->avoid_lo = start;
	c->avoid_hi = end;
	r = place_items(c, it, ni, 0, c->g->fs.size, 0, "evacuate",
	                "outside the region", NULL);
	c->avoid_lo = c->avoid_hi = 0;
	for (size_t i = nmv0; i < c->nmv; i++)
		er->moved += c->mv[i].bytes;
	if (r < 0)
		goto out;
	if (c->group_keep)
		pl_note(c,
		        "kept free: %s per group (the allocator answers "
		        "ENOSPC for an allocation that would take an AG's "
		        "reservation)",
		        sz(c->group_keep, a));
	{
		char t1[32], t2[32], t3[32], t4[32], t5[32], t6[32], t7[32];
		char t8[32], un[96] = "";
		if (er->unshared)
			snprintf(un, sizeof(un),
			         "; %s shared, copied apart: --unshare",
			         sz(er->unshared, t8));
		pl_note(c,
		        "region 0x%" PRIx64 "..0x%" PRIx64 ": %s of file "
		        "data, %s movable (%" PRIu64 " files%s), %s moved by "
		        "the plan, %s cannot move (%" PRIu64 " files; %s "
		        "shared), %s metadata, %s free outside",
		        start, end, sz(filebytes, t1), sz(er->movable, t2),
		        er->files_movable, un, sz(er->moved, t3),
		        sz(er->immovable, t4), er->files_immovable,
		        sz(er->shared, t5), sz(er->meta, t6),
		        sz(er->free_out, t7));
	}
out:
	free(p);
	free(it);
	return r;
}

/* ----------------------------------------------------------------- group */

/* The first place at or after lo where len bytes are free in the
 * predicted map, inside [lo, hi) and one group, not excluded: its
 * address, or UINT64_MAX. */
static uint64_t first_fit(struct pl_ctx *c, uint64_t len, uint64_t lo,
                          uint64_t hi)
{
	for (size_t i = fm_first(&c->fm, lo);
	     i < c->fm.n && c->fm.r[i].start < hi; i++) {
		uint64_t a, b;

		run_blocks(c, i, lo, hi, &a, &b);
		while (a + len <= b) {
			uint64_t gs, ge, x = excluded(c, a, a + len);
			if (x) {
				a = (x + c->bs - 1) / c->bs * c->bs;
				continue;
			}
			lm_group_range(c->m, group_of(c->g, a), &gs, &ge);
			if (a + len <= ge)
				return a;
			a = ge;
		}
	}
	return UINT64_MAX;
}

int pl_group(struct pl_ctx *c, const uint32_t *ids, size_t n, uint64_t goal,
             bool make_room)
{
	return pl_group_in(c, ids, n, goal, 0, make_room);
}

int pl_group_in(struct pl_ctx *c, const uint32_t *ids, size_t n, uint64_t goal,
                uint64_t end, bool make_room)
{
	uint64_t cur = goal, total = 0;
	size_t skipped = 0;
	int r;

	if (goal % c->bs)
		return fail(c, (struct pl_outcome){.code = PL_GOAL_UNALIGNED,
		                                   .err = -EINVAL});
	for (size_t i = 0; i < n; i++) {
		uint64_t off, len;
		const char *um;
		enum pl_stuck k = pl_unmovable(c, ids[i], &um);
		if (k != PL_MOVABLE)
			return fail(c,
			            (struct pl_outcome){.code = PL_GROUP_STUCK,
			                                .err = -EPERM,
			                                .file = ids[i],
			                                .stuck = k,
			                                .stuck_why = um});
		if (pl_file_span(c, ids[i], &off, &len, NULL))
			total += len;
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t id = ids[i];
		uint64_t off, len, gs, ge;

		if (!pl_file_span(c, id, &off, &len, NULL)) {
			pl_note(c, "skip %s: no data blocks", fpath(c, id));
			continue;
		}
		/* a region: in its free runs, in order (what is in use there
		 * stays; the files already there count as placed) */
		if (end && !make_room && !file_at(c, id, off, cur)) {
			lm_group_range(c->m, group_of(c->g, cur), &gs, &ge);
			if (cur + len > ge || cur + len > end ||
			    !pl_fm_is_free(&c->fm, cur, len)) {
				uint64_t at = first_fit(c, len, cur, end);
				if (at == UINT64_MAX)
					return fail(
					    c, (struct pl_outcome){
					           .code = PL_REGION_NO_RUN,
					           .err = -ENOSPC,
					           .file = id,
					           .at = goal,
					           .end = end,
					           .len = len});
				skipped++;
				cur = at;
			}
		}
		if (end && cur + len > end)
			return fail(
			    c, (struct pl_outcome){.code = PL_REGION_NO_RUN,
			                           .err = -ENOSPC,
			                           .file = id,
			                           .at = goal,
			                           .end = end,
			                           .len = len});
		lm_group_range(c->m, group_of(c->g, cur), &gs, &ge);
		if (cur + len > ge)
			return fail(
			    c, (struct pl_outcome){.code = PL_GROUP_CROSSES,
			                           .err = -EINVAL,
			                           .file = id,
			                           .at = ge});
		if (file_at(c, id, off, cur)) {
			cur += len;
			continue;
		}
		/* occupants: the grouped files themselves always move out of
		 * the way; others only with --make-room */
		for (uint32_t o = 0; o < c->nfiles; o++) {
			bool member = false;
			if (!file_overlaps(c, o, cur, cur + len))
				continue;
			for (size_t q = i; q < n; q++)
				member |= ids[q] == o;
			if (!member && !make_room)
				return fail(c, (struct pl_outcome){
				                   .code = PL_TARGET_OCCUPIED,
				                   .err = -EBUSY,
				                   .file = o,
				                   .at = cur,
				                   .end = cur + len});
			r = move_away(c, o, goal, goal + total,
			              member ? "scratch" : "make room");
			if (r < 0)
				return r;
		}
		r = pl_add_move(c, id, off, len, cur, "group");
		if (r < 0)
			return fail(
			    c, (struct pl_outcome){.code = PL_TARGET_NOT_FREE,
			                           .err = r,
			                           .file = id,
			                           .at = cur,
			                           .len = len});
		cur += len;
	}
	if (skipped)
		pl_note(c,
		        "placed in the free runs of 0x%" PRIx64 "..0x%" PRIx64
		        ": %zu used part%s of the region skipped",
		        goal, end, skipped, skipped == 1 ? "" : "s");
	return 0;
}

/* ------------------------------------------------------------ to a plan */

int pl_to_plan(struct pl_ctx *c, const char *root, struct tx_plan *p)
{
	for (size_t i = 0; i < c->nmv; i++) {
		const struct pl_move *mv = &c->mv[i];
		const struct lm_file *f = file_with_attrs(c, mv->file);
		struct tx_step st;
		int r;

		memset(&st, 0, sizeof(st));
		if (asprintf(&st.range.path, "%s/%s",
		             strcmp(root, "/") ? root : "",
		             fpath(c, mv->file)) < 0)
			return -ENOMEM;
		st.range.ino = f->ino;
		st.range.gen = f->generation;
		st.gen_known = (f->flags & LM_FILE_HAS_GEN) != 0;
		st.range.offset = mv->off;
		st.range.length = mv->len;
		st.range.before = jr_pieces_dup(mv->before, mv->nbefore);
		st.range.target = jr_pieces_dup(mv->target, mv->ntarget);
		if (!st.range.before || !st.range.target) {
			tx_step_clear(&st);
			return -ENOMEM;
		}
		st.range.nbefore = mv->nbefore;
		st.range.ntarget = mv->ntarget;
		st.bytes = mv->bytes;
		/* copies shared extents apart (journaled: undo cannot
		 * share them again) */
		st.unshare = c->unshare && mv->shared;
		st.anyplace = mv->anyplace;
		r = tx_plan_add(p, &st);
		if (r < 0) {
			tx_step_clear(&st);
			return r;
		}
	}
	p->block_size = (uint32_t)c->bs;
	return 0;
}

int pl_replay(struct pl_ctx *c, const struct tx_plan *p, const char *root)
{
	(void)root;
	for (size_t i = 0; i < p->nsteps; i++) {
		const struct tx_step *st = &p->steps[i];
		uint32_t id = lm_find_inode(c->m, st->range.ino);
		int r;

		if (id == LM_NONE || id >= c->nfiles || st->anyplace)
			continue; /* anyplace: not known where it goes */
		/* with --unshare the old blocks may stay another file's:
		 * not given back (conservative) */
		r = apply_move(c, id, st->range.offset, st->range.length,
		               st->range.before, st->range.nbefore,
		               st->range.target, st->range.ntarget,
		               st->unshare);
		if (r < 0)
			return r;
	}
	return 0;
}

struct lm_model *pl_predict_model(struct lm_model *m, const struct tx_plan *p,
                                  const char *root)
{
	struct pl_ctx c;
	struct lm_model *n = NULL;
	struct lm_space *sp = NULL;
	ssize_t ns;

	if (pl_init(&c, m) < 0 || pl_replay(&c, p, root) < 0)
		goto out;
	n = lm_new(lm_geometry(m));
	if (!n)
		goto out;
	for (uint32_t id = 0; id < c.nfiles; id++) {
		const struct lm_file *f = lm_file(m, id);
		struct lm_file_info fi = {
		    .ino = f->ino,
		    .size = f->size,
		    .generation = f->generation,
		    .mode = f->mode,
		    .iflags = f->iflags,
		    .flags = f->flags & (LM_FILE_HAS_GEN | LM_FILE_HAS_IFLAGS |
		                         LM_FILE_SELECTED),
		    .err = f->err,
		};
		uint32_t nid;

		if (lm_add_file(n, &fi, lm_file_path(m, id, 0), c.ext[id],
		                c.next[id], &nid) < 0)
			goto fail;
		for (uint32_t k = 1; k < f->npaths; k++)
			lm_add_path(n, nid, lm_file_path(m, id, k));
	}
	ns = lm_space_list(m, LM_SPACE_META, &sp);
	for (ssize_t i = 0; i < ns; i++)
		lm_add_metadata(n, sp[i].start, sp[i].length,
		                lm_label(m, sp[i].label));
	free(sp);
	for (size_t i = 0; i < c.fm.n; i++)
		lm_add_free(n, c.fm.r[i].start, c.fm.r[i].len);
	lm_set_free_map_status(n, lm_free_map_status(m));
	lm_set_created(n, lm_created(m));
	goto out;
fail:
	lm_free(n);
	n = NULL;
out:
	pl_fini(&c);
	return n;
}
