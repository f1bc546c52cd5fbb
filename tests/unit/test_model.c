/* Unit tests: the layout model on synthetic layouts. */
#include "config.h"
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "layout_model.h"
#include "snapshot.h"

#define MiB                (1ull << 20)
#define FIXTURE_GROUP_SIZE (128 * MiB)

#include "model_fixture.h"

/* --------------------------------------------------------------- owners */

struct seen {
	struct lm_owner o[32];
	int n;
};

static int collect(const struct lm_owner *o, void *arg)
{
	struct seen *s = arg;

	if (s->n < 32)
		s->o[s->n++] = *o;
	return 0;
}

static void test_owners(void **state)
{
	struct lm_model *m = new_model(64 * MiB);
	struct rl_extent a[] = {{0, 8 * BS, 4 * BS, 0},
	                        {4 * BS, 800 * BS, 2 * BS, RL_EXT_UNWRITTEN}};
	struct rl_extent b[] = {{0, 12 * BS, 3 * MiB, 0}};
	struct seen s = {0};
	uint32_t fa, fb;

	(void)state;
	fa = add_file(m, 11, "dir/a", a, 2);
	fb = add_file(m, 12, "b", b, 1);
	assert_int_equal(lm_add_path(m, fa, "dir/a-link"), 0);
	assert_int_equal(lm_add_free(m, 0, 4 * BS), 0);
	assert_int_equal(lm_add_metadata(m, 4 * BS, 4 * BS, "inodes"), 0);

	/* [2 blocks into free, ..., into b's 2nd MiB chunk] */
	assert_int_equal(lm_owners(m, 2 * BS, 12 * BS + MiB + BS, collect, &s),
	                 0);
	assert_int_equal(s.n, 4);
	assert_int_equal(s.o[0].kind, LM_OWN_FREE);
	assert_true(s.o[0].start == 2 * BS && s.o[0].length == 2 * BS);
	assert_int_equal(s.o[1].kind, LM_OWN_META);
	assert_string_equal(s.o[1].label, "inodes");
	assert_int_equal(s.o[2].kind, LM_OWN_FILE);
	assert_int_equal(s.o[2].file, fa);
	assert_true(s.o[2].logical == 0 && s.o[2].length == 4 * BS);
	assert_int_equal(s.o[3].kind, LM_OWN_FILE);
	assert_int_equal(s.o[3].file, fb);
	/* chunks of one extent are merged into one report */
	assert_true(s.o[3].start == 12 * BS && s.o[3].length == MiB + BS);

	/* a range inside the 2nd chunk of b: logical offset follows */
	s.n = 0;
	assert_int_equal(lm_owners(m, 12 * BS + 2 * MiB + BS,
	                           12 * BS + 2 * MiB + 2 * BS, collect, &s),
	                 0);
	assert_int_equal(s.n, 1);
	assert_true(s.o[0].logical == 2 * MiB + BS);

	/* a gap is reported as unknown; unwritten flag passes through */
	s.n = 0;
	uint64_t e = 12 * BS + 3 * MiB;
	assert_int_equal(lm_owners(m, e - BS, e + 2 * BS, collect, &s), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.o[1].kind, LM_OWN_UNKNOWN);
	assert_true(s.o[1].start == e && s.o[1].length == 2 * BS);

	assert_int_equal(lm_find_path(m, "dir/a-link"), fa);
	assert_int_equal(lm_find_inode(m, 12), fb);
	assert_string_equal(lm_file_path(m, fa, 1), "dir/a-link");
	/* a file's paths stay in byte order whatever order they came in */
	assert_int_equal(lm_add_path(m, fa, "0-first"), 0);
	assert_int_equal(lm_add_path(m, fa, "z-last"), 0);
	assert_string_equal(lm_file_path(m, fa, 0), "0-first");
	assert_string_equal(lm_file_path(m, fa, 3), "z-last");
	for (uint32_t k = 1; k < 4; k++)
		assert_true(strcmp(lm_file_path(m, fa, k - 1),
		                   lm_file_path(m, fa, k)) < 0);
	assert_int_equal(lm_owners(m, 5, 5, collect, &s), -EINVAL);
	lm_free(m);
}

static void test_reject(void **state)
{
	struct lm_model *m = new_model(16 * MiB);
	struct lm_file_info fi = {.ino = 5, .mode = S_IFREG};
	struct rl_extent beyond = {0, 16 * MiB - BS, 2 * BS, 0};
	struct rl_extent empty = {0, 0, 0, 0};
	uint32_t id;

	(void)state;
	assert_int_equal(lm_add_file(m, &fi, "x", &beyond, 1, &id), -EINVAL);
	assert_int_equal(lm_add_file(m, &fi, "x", &empty, 1, &id), -EINVAL);
	assert_int_equal(lm_add_file(m, &fi, "../x", NULL, 0, &id), -EINVAL);
	assert_int_equal(lm_add_file(m, &fi, "/x", NULL, 0, &id), -EINVAL);
	assert_int_equal(lm_add_file(m, &fi, "a//x", NULL, 0, &id), -EINVAL);
	assert_int_equal(lm_add_file(m, &fi, "a/x/", NULL, 0, &id), -EINVAL);
	assert_int_equal(lm_file_count(m), 0);
	assert_int_equal(lm_add_file(m, &fi, "x", NULL, 0, &id), 0);
	assert_int_equal(lm_add_file(m, &fi, "y", NULL, 0, &id), -EEXIST);
	fi.ino = 6;
	assert_int_equal(lm_add_file(m, &fi, "x", NULL, 0, &id), -EEXIST);
	assert_int_equal(lm_add_file(m, &fi, "y", NULL, 0, &id), 0);
	assert_int_equal(lm_find_path(m, "y"), 1);
	assert_int_equal(lm_find_inode(m, 6), 1);
	assert_int_equal(lm_add_free(m, 16 * MiB, BS), -EINVAL);
	lm_free(m);
}

/* ------------------------------------------- range stats vs brute force */

struct rec {
	uint64_t start, len;
	unsigned cats;
};

struct layout {
	struct lm_model *m;
	struct rec *r;
	size_t n;
};

static unsigned ext_cats(const struct lm_model *m, uint32_t id,
                         const struct lm_extent *e)
{
	const struct lm_file *f = lm_file(m, id);
	unsigned c = 1u << LM_CAT_DATA;

	if (f->flags & LM_FILE_FRAG)
		c |= 1u << LM_CAT_FRAG;
	if (f->flags & LM_FILE_SELECTED)
		c |= 1u << LM_CAT_SELECTED;
	if (e->flags & RL_EXT_SHARED)
		c |= 1u << LM_CAT_SHARED;
	if (e->flags & RL_EXT_UNWRITTEN)
		c |= 1u << LM_CAT_UNWRITTEN;
	return c;
}

/* The reference: every record of the model, from its public accessors. */
static void reference(struct lm_model *m, struct layout *L)
{
	struct lm_space *sp;
	ssize_t ns;

	L->m = m;
	L->n = 0;
	free(L->r);
	L->r = malloc((lm_extent_count(m) + 100000) * sizeof(*L->r));
	for (uint32_t i = 0; i < lm_file_count(m); i++) {
		size_t n;
		const struct lm_extent *e = lm_file_extents(m, i, &n);
		for (size_t k = 0; k < n; k++)
			L->r[L->n++] = (struct rec){e[k].physical, e[k].length,
			                            ext_cats(m, i, &e[k])};
	}
	for (int kind = 0; kind < 2; kind++) {
		ns = lm_space_list(m, kind, &sp);
		for (ssize_t k = 0; k < ns; k++)
			L->r[L->n++] = (struct rec){
			    sp[k].start, sp[k].length,
			    1u << (kind ? LM_CAT_META : LM_CAT_FREE)};
		free(sp);
	}
}

static void brute(const struct layout *L, uint64_t a, uint64_t b, uint64_t *out)
{
	memset(out, 0, sizeof(uint64_t) * LM_CAT_N);
	for (size_t i = 0; i < L->n; i++) {
		uint64_t s = L->r[i].start, t = s + L->r[i].len;
		if (s < a)
			s = a;
		if (t > b)
			t = b;
		if (t <= s)
			continue;
		for (int c = 0; c < LM_CAT_N; c++)
			if (L->r[i].cats & (1u << c))
				out[c] += t - s;
	}
}

static void check_ranges(struct lm_model *m, struct layout *L, uint64_t size,
                         unsigned seed)
{
	static const uint64_t grains[] = {BS,  3 * BS,  64 * BS,
	                                  MiB, 5 * MiB, 7 * MiB + 3 * BS};
	uint64_t want[LM_CAT_N];
	struct lm_stats st;

	reference(m, L);
	for (size_t g = 0; g < sizeof(grains) / sizeof(grains[0]); g++) {
		for (uint64_t a = 0; a < size; a += grains[g]) {
			uint64_t b =
			    a + grains[g] > size ? size : a + grains[g];
			assert_int_equal(lm_range_stats(m, a, b, &st), 0);
			brute(L, a, b, want);
			for (int c = 0; c < LM_CAT_N; c++)
				if (st.bytes[c] != want[c]) {
					fail_msg(
					    "seed %u range [%llu,%llu) "
					    "cat %d: %llu != %llu",
					    seed, (unsigned long long)a,
					    (unsigned long long)b, c,
					    (unsigned long long)st.bytes[c],
					    (unsigned long long)want[c]);
				}
		}
	}
	/* random unaligned ranges */
	for (int i = 0; i < 300; i++) {
		uint64_t a = (uint64_t)rand() * 7919 % size;
		uint64_t b = a + 1 + (uint64_t)rand() * 104729 % (size - a);
		assert_int_equal(lm_range_stats(m, a, b, &st), 0);
		brute(L, a, b, want);
		for (int c = 0; c < LM_CAT_N; c++)
			assert_true(st.bytes[c] == want[c]);
	}
}

/* A random layout: free and metadata runs, files with 1..8 extents, some
 * longer than the 1 MiB index chunk, some shared (overlapping), some
 * unwritten, some selected. */
static struct lm_model *random_layout(unsigned seed, uint64_t size)
{
	struct lm_model *m = new_model(size);
	uint64_t pos = 0, ino = 100;
	char path[64];

	srand(seed);
	while (pos < size) {
		uint64_t len = (uint64_t)(1 + rand() % 64) * BS;
		int what = rand() % 10;

		if (rand() % 20 == 0)
			len = (uint64_t)(1 + rand() % 3) * MiB + BS;
		if (pos + len > size)
			len = size - pos;
		if (what < 2) {
			assert_int_equal(lm_add_free(m, pos, len), 0);
		} else if (what < 3) {
			assert_int_equal(lm_add_metadata(m, pos, len, "gdt"),
			                 0);
		} else if (what < 9) {
			struct rl_extent e[8];
			int n = 1 + rand() % 8;
			uint64_t lp = 0, p = pos, left = len;
			int k;
			for (k = 0; k < n && left >= BS; k++) {
				uint64_t l =
				    k == n - 1
				        ? left
				        : BS * (1 + rand() % (left / BS));
				if (l > left)
					l = left;
				e[k] = (struct rl_extent){
				    lp, p, l,
				    rand() % 5 == 0 ? RL_EXT_UNWRITTEN : 0};
				lp += l + (rand() % 2) * BS;
				p += l;
				left -= l;
			}
			snprintf(path, sizeof(path), "f%llu",
			         (unsigned long long)ino);
			uint32_t id = add_file(m, ino++, path, e, (size_t)k);
			if (rand() % 4 == 0)
				lm_select(m, id, true);
			/* sometimes another file shares the first extent */
			if (rand() % 6 == 0) {
				struct rl_extent sh = e[0];
				sh.flags |= RL_EXT_SHARED;
				snprintf(path, sizeof(path), "s%llu",
				         (unsigned long long)ino);
				add_file(m, ino++, path, &sh, 1);
			}
		} /* else: a gap (unknown) */
		pos += len;
	}
	return m;
}

static void test_range_stats_random(void **state)
{
	struct layout L = {0};

	(void)state;
	for (unsigned seed = 1; seed <= 6; seed++) {
		uint64_t size = (seed % 2 ? 48 : 96) * MiB + seed * BS;
		struct lm_model *m = random_layout(seed, size);
		check_ranges(m, &L, size, seed);
		/* flip selections: the prefix sums follow */
		for (uint32_t i = 0; i < lm_file_count(m); i += 3)
			lm_select(m, i,
			          !(lm_file(m, i)->flags & LM_FILE_SELECTED));
		check_ranges(m, &L, size, seed + 100);
		lm_free(m);
	}
	free(L.r);
}

/* -------------------------------------------------------- fragmentation */

static void test_frag(void **state)
{
	struct lm_model *m = new_model(1024 * MiB);
	struct lm_file_frag ff;
	struct lm_vol_frag vf;
	uint32_t id;

	(void)state;
	/* 200 MiB in one physical run, cut at 128 MiB as ext4 FIEMAP does:
	 * 2 extents, 1 run, ideal 2 -> not fragmented */
	struct rl_extent big[] = {{0, 256 * MiB, 128 * MiB, 0},
	                          {128 * MiB, 384 * MiB, 72 * MiB, 0}};
	id = add_file(m, 20, "big", big, 2);
	lm_file_frag(m, id, &ff);
	assert_int_equal(ff.extents, 2);
	assert_int_equal(ff.regions, 1);
	assert_int_equal(ff.ideal, 2);
	assert_false(ff.fragmented);
	/* e4defrag: blocks 51200, best = ceil(51200 / (32768*16)) = 1,
	 * ratio = (2-1)*100/51200 = 0.001953125, score = 8 * ratio */
	assert_int_equal(ff.blocks, 51200);
	assert_int_equal(ff.e4_best, 1);
	assert_true(ff.e4_score > 0.015624 && ff.e4_score < 0.015626);

	/* 10 blocks in 5 pieces: ratio = (5-1)*100/10 = 40 > 10:
	 * score = 80 + 20*40/100 = 88 */
	struct rl_extent frag[5];
	for (int i = 0; i < 5; i++)
		frag[i] = (struct rl_extent){
		    (uint64_t)i * 2 * BS, (uint64_t)(i * 10) * BS, 2 * BS, 0};
	id = add_file(m, 21, "frag", frag, 5);
	lm_file_frag(m, id, &ff);
	assert_int_equal(ff.regions, 5);
	assert_int_equal(ff.ideal, 1);
	assert_true(ff.fragmented);
	assert_true(ff.e4_score > 87.999 && ff.e4_score < 88.001);

	/* 100 blocks in 2 pieces: ratio 1, score 8 */
	struct rl_extent two[] = {{0, 600 * MiB, 50 * BS, 0},
	                          {50 * BS, 700 * MiB, 50 * BS, 0}};
	id = add_file(m, 22, "two", two, 2);
	lm_file_frag(m, id, &ff);
	assert_true(ff.e4_score > 7.999 && ff.e4_score < 8.001);

	/* volume: now 2+5+2 = 9, best 3, blocks 51310:
	 * ratio = 6*100/51310, score = 8 * ratio */
	lm_volume_frag(m, NULL, NULL, &vf);
	assert_int_equal(vf.files, 3);
	assert_int_equal(vf.fragmented, 2);
	assert_int_equal(vf.e4_now, 9);
	assert_int_equal(vf.e4_best, 3);
	assert_int_equal(vf.e4_blocks, 51310);
	double want = 8.0 * (600.0 / 51310.0);
	assert_true(vf.e4_score > want - 0.001 && vf.e4_score < want + 0.001);
	assert_true(lm_e4_score(0, 0, 0) == 0);
	lm_free(m);

	assert_true(lm_max_extent(RL_FS_EXT4, 4096) == 128 * MiB);
	assert_true(lm_max_extent(RL_FS_EXT4, 1024) == 32 * MiB);
	assert_true(lm_max_extent(RL_FS_XFS, 4096) ==
	            ((1ull << 21) - 1) * 4096);
}

static void test_freefrag(void **state)
{
	struct lm_model *m = new_model(256 * MiB);
	struct lm_freefrag ff;

	(void)state;
	assert_int_equal(lm_add_free(m, 0, BS), 0);           /* 1 blk */
	assert_int_equal(lm_add_free(m, 10 * BS, 3 * BS), 0); /* 3 */
	assert_int_equal(lm_add_free(m, 20 * BS, 4 * BS), 0); /* 4+4 merged */
	assert_int_equal(lm_add_free(m, 24 * BS, 4 * BS), 0);
	assert_int_equal(lm_add_free(m, 100 * MiB, 3 * MiB), 0); /* 768 */
	assert_int_equal(lm_add_free(m, 127 * MiB, 2 * MiB),
	                 0); /* spans g0/g1 */
	assert_int_equal(lm_freefrag(m, 0, 256 * MiB, &ff), 0);
	assert_int_equal(ff.extents, 5);
	assert_int_equal(ff.count[0], 1);
	assert_int_equal(ff.count[1], 1);
	assert_int_equal(ff.count[3], 1);
	assert_int_equal(ff.count[9], 2); /* 768 and 512 blocks */
	assert_true(ff.bytes[3] == 8 * BS);
	assert_true(ff.largest == 3 * MiB && ff.smallest == BS);
	assert_true(ff.free_bytes == (1 + 3 + 8) * BS + 5 * MiB);
	/* per group: the extent across the boundary is cut */
	uint64_t a, b;
	lm_group_range(m, 1, &a, &b);
	assert_true(a == 128 * MiB && b == 256 * MiB);
	assert_int_equal(lm_freefrag(m, a, b, &ff), 0);
	assert_int_equal(ff.extents, 1);
	assert_true(ff.free_bytes == MiB);
	assert_int_equal(ff.count[8], 1);
	lm_free(m);
}

/* ----------------------------------------------- refresh equals rebuild */

static void test_refresh(void **state)
{
	const uint64_t size = 64 * MiB;
	struct layout L1 = {0}, L2 = {0};

	(void)state;
	for (unsigned seed = 11; seed <= 14; seed++) {
		struct lm_model *m = random_layout(seed, size);
		lm_sync(m);
		/* move some files: new extents at random places in a region
		 * we then declare no longer free */
		for (int round = 0; round < 40; round++) {
			uint32_t id = (uint32_t)rand() % lm_file_count(m);
			size_t n;
			lm_file_extents(m, id, &n);
			struct rl_extent ne[3];
			int k = 1 + rand() % 3;
			uint64_t p = (uint64_t)(rand() % 16000) * BS;
			for (int i = 0; i < k; i++) {
				ne[i] = (struct rl_extent){
				    (uint64_t)i * 8 * BS, p,
				    (uint64_t)(1 + rand() % 8) * BS, 0};
				p += 9 * BS + (uint64_t)(rand() % 2) * MiB;
				if (p + 8 * BS > size)
					p = 0;
			}
			assert_int_equal(lm_refresh_file(m, id, ne, (size_t)k),
			                 0);
			if (round % 3 == 0) {
				uint64_t a = (uint64_t)(rand() % 15000) * BS;
				uint64_t b =
				    a + (uint64_t)(1 + rand() % 700) * BS;
				struct rl_free_extent fe[2] = {
				    {a + BS, 2 * BS}, {b - 3 * BS, 2 * MiB}};
				assert_int_equal(
				    lm_refresh_free(m, a, b, fe, 2), 0);
			}
			if (round % 7 == 0)
				check_ranges(m, &L1, size, seed * 1000 + round);
		}
		/* refreshes of the same file and the same free range in a
		 * row, with no query between them (their index entries are
		 * still queued when the next one replaces them) */
		for (int again = 0; again < 3; again++) {
			struct rl_extent ne = {0, (uint64_t)(100 + again) * BS,
			                       (uint64_t)(again + 1) * BS, 0};
			struct rl_free_extent fe = {
			    (uint64_t)(200 + again) * BS, BS};
			assert_int_equal(lm_refresh_file(m, 0, &ne, 1), 0);
			assert_int_equal(
			    lm_refresh_free(m, 199 * BS, 210 * BS, &fe, 1), 0);
		}
		/* rebuild from the refreshed model's contents */
		struct lm_model *r = new_model(size);
		for (uint32_t i = 0; i < lm_file_count(m); i++) {
			size_t n;
			const struct lm_extent *e = lm_file_extents(m, i, &n);
			struct rl_extent *re = malloc((n + 1) * sizeof(*re));
			for (size_t k = 0; k < n; k++)
				re[k] = (struct rl_extent){
				    e[k].logical, e[k].physical, e[k].length,
				    e[k].flags};
			struct lm_file_info fi = {.ino = lm_file(m, i)->ino,
			                          .mode = lm_file(m, i)->mode,
			                          .size = lm_file(m, i)->size};
			fi.flags = lm_file(m, i)->flags & LM_FILE_SELECTED;
			uint32_t id;
			assert_int_equal(lm_add_file(r, &fi,
			                             lm_file_path(m, i, 0), re,
			                             n, &id),
			                 0);
			free(re);
		}
		struct lm_space *sp;
		for (int kind = 0; kind < 2; kind++) {
			ssize_t ns = lm_space_list(m, kind, &sp);
			for (ssize_t k = 0; k < ns; k++)
				assert_int_equal(
				    kind ? lm_add_metadata(r, sp[k].start,
				                           sp[k].length, "gdt")
				         : lm_add_free(r, sp[k].start,
				                       sp[k].length),
				    0);
			free(sp);
		}
		struct lm_stats s1, s2;
		for (uint64_t a = 0; a < size; a += 5 * BS) {
			uint64_t b = a + 37 * BS > size ? size : a + 37 * BS;
			lm_range_stats(m, a, b, &s1);
			lm_range_stats(r, a, b, &s2);
			assert_memory_equal(&s1, &s2, sizeof(s1));
		}
		struct lm_freefrag f1, f2;
		lm_freefrag(m, 0, size, &f1);
		lm_freefrag(r, 0, size, &f2);
		assert_memory_equal(&f1, &f2, sizeof(f1));
		check_ranges(r, &L2, size, seed);
		lm_free(r);
		lm_free(m);
	}
	free(L1.r);
	free(L2.r);
}

/* ------------------------------------------------------------- trim */

/* lm_trim gives back slack; the trimmed model answers like an untrimmed
 * twin, before and after further additions and refreshes. */
static void test_trim(void **state)
{
	const uint64_t size = 64 * MiB;

	(void)state;
	for (unsigned seed = 21; seed <= 23; seed++) {
		struct lm_model *m = random_layout(seed, size);
		struct lm_model *t = random_layout(seed, size);
		size_t before = lm_memory(t);

		assert_int_equal(lm_trim(t), 0);
		assert_true(lm_memory(t) <= before);
		assert_int_equal(lm_trim(t), 0); /* idempotent */
		for (int step = 0; step < 2; step++) {
			assert_int_equal(lm_file_count(m), lm_file_count(t));
			for (uint32_t i = 0; i < lm_file_count(t); i++) {
				assert_int_equal(
				    lm_find_inode(t, lm_file(t, i)->ino), i);
				assert_int_equal(
				    lm_find_path(t, lm_file_path(t, i, 0)), i);
				assert_memory_equal(lm_file(m, i),
				                    lm_file(t, i),
				                    sizeof(struct lm_file));
			}
			struct lm_stats s1, s2;
			for (uint64_t a = 0; a < size; a += 7 * BS) {
				uint64_t b =
				    a + 41 * BS > size ? size : a + 41 * BS;
				assert_int_equal(lm_range_stats(m, a, b, &s1),
				                 0);
				assert_int_equal(lm_range_stats(t, a, b, &s2),
				                 0);
				assert_memory_equal(&s1, &s2, sizeof(s1));
			}
			/* grow again after the trim: more files, a refresh
			 * that fits the old slots and one that does not */
			struct rl_extent e = {0, size - 2 * BS, BS, 0};
			struct rl_extent ne[2] = {{0, size - BS, BS, 0},
			                          {BS, size - 4 * BS, BS, 0}};
			char path[32];
			snprintf(path, sizeof(path), "new%d", step);
			add_file(m, 900000 + (uint64_t)step, path, &e, 1);
			add_file(t, 900000 + (uint64_t)step, path, &e, 1);
			assert_int_equal(lm_refresh_file(m, 0, ne, 1), 0);
			assert_int_equal(lm_refresh_file(t, 0, ne, 1), 0);
			assert_int_equal(lm_refresh_file(m, 1, ne, 2), 0);
			assert_int_equal(lm_refresh_file(t, 1, ne, 2), 0);
			assert_int_equal(lm_add_path(m, 2, "link"),
			                 step ? -EEXIST : 0);
			assert_int_equal(lm_add_path(t, 2, "link"),
			                 step ? -EEXIST : 0);
		}
		lm_free(m);
		lm_free(t);
	}
}

/* The index sort on more entries than the small-sort cutoff: blocks of a
 * volume given to files (one block each) and free records in shuffled
 * order; mode 0: files only (the entries arrive in id order), 1: free
 * records interleaved (space ids out of order), 2: then every file moved
 * (refreshed into its old slot, newest file first: queued ids falling).
 * Every block's owner must be the one given. */
static void test_index_sort(void **state)
{
	const uint32_t nblk = 20000;
	uint32_t *perm = malloc(nblk * sizeof(*perm));
	uint32_t *owner = malloc(nblk * sizeof(*owner));

	(void)state;
	assert_non_null(perm);
	assert_non_null(owner);
	for (int mode = 0; mode < 3; mode++) {
		struct lm_model *m = new_model((uint64_t)nblk * BS * 4096);
		uint32_t nf = 0;
		char path[32];

		srand(77 + (unsigned)mode);
		for (uint32_t i = 0; i < nblk; i++)
			perm[i] = i;
		for (uint32_t i = nblk - 1; i > 0; i--) {
			uint32_t j = (uint32_t)rand() % (i + 1), t = perm[i];
			perm[i] = perm[j];
			perm[j] = t;
		}
		/* spread over 4096 x the blocks: starts differ in high bits */
		for (uint32_t i = 0; i < nblk; i++) {
			uint64_t at = (uint64_t)perm[i] * 4096 * BS;
			if (mode && i % 3 == 0) {
				assert_int_equal(lm_add_free(m, at, BS), 0);
				owner[perm[i]] = LM_NONE;
				continue;
			}
			struct rl_extent e = {0, at, BS, 0};
			snprintf(path, sizeof(path), "f%u", i);
			owner[perm[i]] = add_file(m, 1000 + i, path, &e, 1);
			nf++;
		}
		assert_int_equal(lm_sync(m), 0);
		if (mode == 2) /* move every file one block up, newest first */
			for (uint32_t id = nf; id-- > 0;) {
				size_t n;
				const struct lm_extent *x =
				    lm_file_extents(m, id, &n);
				struct rl_extent e = {0, x->physical + BS, BS,
				                      0};
				assert_int_equal(lm_refresh_file(m, id, &e, 1),
				                 0);
			}
		for (uint32_t b = 0; b < nblk; b++) {
			struct seen s = {0};
			uint64_t at =
			    (uint64_t)b * 4096 * BS + (mode == 2) * BS;
			if (mode == 2 && owner[b] == LM_NONE)
				at -= BS; /* free records did not move */
			assert_int_equal(lm_owners(m, at, at + BS, collect, &s),
			                 0);
			assert_int_equal(s.n, 1);
			if (owner[b] == LM_NONE) {
				assert_int_equal(s.o[0].kind, LM_OWN_FREE);
			} else {
				assert_int_equal(s.o[0].kind, LM_OWN_FILE);
				assert_int_equal(s.o[0].file, owner[b]);
			}
		}
		lm_free(m);
	}
	free(perm);
	free(owner);
}

/* A scan's bulk load: lm_reserve (too few, exact, too many), lm_prefetch
 * before each add; every file found by inode and path, duplicates still
 * refused; attributes unknown until lm_set_file_attrs. */
static void test_reserve_attrs(void **state)
{
	const size_t want[] = {0, 10, 1000, 5000};

	(void)state;
	for (size_t w = 0; w < sizeof(want) / sizeof(want[0]); w++) {
		struct lm_model *m = new_model(64 * MiB);
		char path[32];

		assert_int_equal(lm_reserve(m, want[w]), 0);
		for (uint64_t i = 0; i < 1000; i++) {
			struct rl_extent e = {0, (i + 1) * BS, BS, 0};
			snprintf(path, sizeof(path), "d%u/f%u",
			         (unsigned)(i % 7), (unsigned)i);
			lm_prefetch(m, 100 + i, path);
			assert_int_equal(add_file(m, 100 + i, path, &e, 1), i);
			if (i == 500) /* reserving later keeps what is there */
				assert_int_equal(lm_reserve(m, 2000), 0);
		}
		for (uint64_t i = 0; i < 1000; i++) {
			snprintf(path, sizeof(path), "d%u/f%u",
			         (unsigned)(i % 7), (unsigned)i);
			assert_int_equal(lm_find_inode(m, 100 + i), i);
			assert_int_equal(lm_find_path(m, path), i);
		}
		struct lm_file_info fi = {.ino = 100, .mode = S_IFREG};
		assert_int_equal(lm_add_file(m, &fi, "other", NULL, 0, NULL),
		                 -EEXIST);
		fi.ino = 5;
		assert_int_equal(lm_add_file(m, &fi, "d0/f0", NULL, 0, NULL),
		                 -EEXIST);
		lm_prefetch(m, 7, NULL);

		const struct lm_file *f = lm_file(m, 3);
		assert_int_equal(f->flags &
		                     (LM_FILE_HAS_GEN | LM_FILE_HAS_IFLAGS |
		                      LM_FILE_ATTRS_READ),
		                 0);
		assert_int_equal(
		    lm_set_file_attrs(m, 3, LM_FILE_HAS_GEN, 77, 9), 0);
		f = lm_file(m, 3);
		assert_int_equal(f->generation, 77);
		assert_int_equal(f->iflags, 0); /* not given */
		assert_int_equal(f->flags &
		                     (LM_FILE_HAS_GEN | LM_FILE_HAS_IFLAGS |
		                      LM_FILE_ATTRS_READ),
		                 LM_FILE_HAS_GEN | LM_FILE_ATTRS_READ);
		assert_int_equal(lm_set_file_attrs(m, 4, 0, 1, 1), 0);
		assert_int_equal(lm_file(m, 4)->flags &
		                     (LM_FILE_HAS_GEN | LM_FILE_HAS_IFLAGS |
		                      LM_FILE_ATTRS_READ),
		                 LM_FILE_ATTRS_READ);
		assert_int_equal(
		    lm_set_file_attrs(m, 4, LM_FILE_HAS_IFLAGS, 0, 0x10), 0);
		assert_int_equal(lm_file(m, 4)->iflags, 0x10);
		assert_int_equal(lm_set_file_attrs(m, 1000, 0, 0, 0), -EINVAL);
		assert_int_equal(lm_trim(m), 0);
		assert_int_equal(lm_find_inode(m, 1099), 999);
		lm_free(m);
	}
}

/* An add that fails after the file went into the inode and path tables
 * (an extent whose logical end wraps: store_extents refuses it) takes it
 * out again: nothing of it is found, its inode and path may be added
 * later, and the model is the one a build without the failures makes
 * (the same files, extents, owners and snapshot), through table growth. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 20);

	assert_non_null(f);
	assert_non_null(buf);
	assert_true(fread(buf, 1, (1 << 20) - 1, f) < (1 << 20) - 1);
	fclose(f);
	return buf;
}

static void test_add_rollback(void **state)
{
	struct lm_model *m = new_model(64 * MiB), *clean = new_model(64 * MiB);
	const uint32_t n = 300;
	char path[32], pm[] = "/tmp/rl-test-model-XXXXXX", pc[64];
	uint32_t id;

	(void)state;
	for (uint32_t i = 0; i < n; i++) {
		struct rl_extent e = {0, (i + 1) * BS, BS, 0};
		struct rl_extent bad[2] = {
		    {0, (i + 1) * BS, BS, 0},
		    {UINT64_MAX - BS, (i + 2) * BS, 2 * BS, 0}};
		struct lm_file_info fi = {.ino = 100000 + i,
		                          .mode = S_IFREG | 0644};

		snprintf(path, sizeof(path), "d%u/f%u", i % 5, i);
		assert_int_equal(add_file(m, 100 + i, path, &e, 1), i);
		assert_int_equal(add_file(clean, 100 + i, path, &e, 1), i);
		snprintf(path, sizeof(path), "bad/f%u", i);
		assert_int_equal(lm_add_file(m, &fi, path, bad, 2, &id),
		                 -EINVAL);
		assert_int_equal(lm_find_inode(m, fi.ino), LM_NONE);
		assert_int_equal(lm_find_path(m, path), LM_NONE);
		assert_int_equal(lm_file_count(m), i + 1);
		assert_int_equal(lm_extent_count(m), i + 1);
	}
	for (uint32_t i = 0; i < n; i++) {
		struct seen s = {.n = 0};

		snprintf(path, sizeof(path), "d%u/f%u", i % 5, i);
		assert_int_equal(lm_find_inode(m, 100 + i), i);
		assert_int_equal(lm_find_path(m, path), i);
		assert_int_equal(
		    lm_owners(m, (i + 1) * BS, (i + 2) * BS, collect, &s), 0);
		assert_int_equal(s.n, 1);
		assert_int_equal(s.o[0].file, i);
	}
	struct lm_file_info fi = {.ino = 100000, .mode = S_IFREG | 0644};
	assert_int_equal(lm_add_file(m, &fi, "bad/f0", NULL, 0, &id), 0);
	assert_int_equal(id, n);
	assert_int_equal(lm_add_file(clean, &fi, "bad/f0", NULL, 0, &id), 0);
	assert_int_equal(lm_find_inode(m, 100000), n);
	assert_int_equal(lm_find_path(m, "bad/f0"), n);

	int fd = mkstemp(pm);
	assert_true(fd >= 0);
	close(fd);
	snprintf(pc, sizeof(pc), "%s.clean", pm);
	assert_int_equal(snap_export(m, pm, 0600), 0);
	assert_int_equal(snap_export(clean, pc, 0600), 0);
	char *a = slurp(pm), *b = slurp(pc);
	assert_string_equal(a, b);
	free(a);
	free(b);
	unlink(pm);
	unlink(pc);
	lm_free(m);
	lm_free(clean);
}

/* ------------------------------------------------------------ bench */

/* Build a model of N single-extent files (env RL_BENCH_EXTENTS, default
 * 1,000,000) and time the index build, range stats (one per map cell of a
 * 4000-cell map) and a refresh. Prints the figures; asserts only sanity. */
static void add_dir(struct lm_model *m, uint64_t ino, const char *path,
                    mode_t perm)
{
	struct lm_file_info fi = {.ino = ino, .mode = S_IFDIR | perm};

	assert_int_equal(lm_add_file(m, &fi, path, NULL, 0, NULL), 0);
}

/* The root (0755) holds a file and directory d (perm): no private name;
 * once a file in d is added, want. */
static void check_names_in(mode_t perm, bool want)
{
	struct lm_model *m = new_model(64 * MiB);

	add_dir(m, 2, ".", 0755);
	add_dir(m, 3, "d", perm);
	add_file(m, 10, "top", NULL, 0);
	assert_false(lm_names_private(m));
	add_file(m, 11, "d/x", NULL, 0);
	assert_int_equal(lm_names_private(m), want);
	lm_free(m);
}

/* Names that not every user may list: a file or directory in a
 * directory without o+r or o+x, or in one the model does not have. */
static void test_names_private(void **state)
{
	struct lm_model *m = new_model(64 * MiB);

	(void)state;
	assert_false(lm_names_private(m));
	check_names_in(0755, false);
	check_names_in(0700, true); /* empty (lost+found): not private */
	check_names_in(0711, true); /* searchable, not readable */
	check_names_in(0744, true); /* readable, not searchable */
	/* a directory the model does not have: its mode is unknown */
	add_file(m, 10, "where/x", NULL, 0);
	assert_true(lm_names_private(m));
	lm_free(m);
}

static void test_bench(void **state)
{
	const char *env = getenv("RL_BENCH_EXTENTS");
	uint64_t n = env ? strtoull(env, NULL, 10) : 1000000;
	uint64_t size = (n * 3 + 1000) * BS;
	struct lm_model *m = new_model(size);
	struct timespec t0, t1, t2, t3;
	struct lm_stats st;
	uint64_t total = 0;
	char path[64];

	(void)state;
	srand(7);
	struct lm_file_info fi = {.mode = S_IFREG | 0644, .size = BS};
	for (uint64_t i = 0; i < n; i++) {
		/* scattered: files in a random permutation of slots */
		uint64_t slot = (i * 2654435761u) % (n * 3);
		struct rl_extent e = {0, slot * BS, BS, 0};
		fi.ino = i + 1;
		snprintf(path, sizeof(path), "d%llu/f%llu",
		         (unsigned long long)(i / 1000), (unsigned long long)i);
		assert_int_equal(lm_add_file(m, &fi, path, &e, 1, NULL), 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(lm_sync(m), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	const int cells = 4000;
	for (int c = 0; c < cells; c++) {
		uint64_t a = size / cells * (uint64_t)c;
		uint64_t b = c == cells - 1 ? size : a + size / cells;
		lm_range_stats(m, a, b, &st);
		total += st.bytes[LM_CAT_DATA];
	}
	clock_gettime(CLOCK_MONOTONIC, &t2);
	assert_true(total == n * BS);
	struct rl_extent ne = {0, (n * 3 + 10) * BS, BS, 0};
	assert_int_equal(lm_refresh_file(m, 5, &ne, 1), 0);
	lm_range_stats(m, 0, size, &st);
	clock_gettime(CLOCK_MONOTONIC, &t3);
	assert_true(st.bytes[LM_CAT_DATA] == n * BS);
	double build = (double)(t1.tv_sec - t0.tv_sec) +
	               (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	double q = ((double)(t2.tv_sec - t1.tv_sec) +
	            (double)(t2.tv_nsec - t1.tv_nsec) / 1e9) /
	           cells;
	double ref = (double)(t3.tv_sec - t2.tv_sec) +
	             (double)(t3.tv_nsec - t2.tv_nsec) / 1e9;
	assert_int_equal(lm_trim(m), 0); /* as after a scan or an import */
	size_t mem = lm_memory(m);
	printf("# bench: %llu extents: index build %.3f s, range stats "
	       "%.2f us/cell, refresh+resync %.3f s, memory %.1f MiB "
	       "(%.0f bytes/extent incl. file and path)\n",
	       (unsigned long long)n, build, q * 1e6, ref,
	       (double)mem / 1048576.0, (double)mem / (double)n);
	lm_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_owners),
	    cmocka_unit_test(test_reject),
	    cmocka_unit_test(test_range_stats_random),
	    cmocka_unit_test(test_frag),
	    cmocka_unit_test(test_freefrag),
	    cmocka_unit_test(test_refresh),
	    cmocka_unit_test(test_trim),
	    cmocka_unit_test(test_reserve_attrs),
	    cmocka_unit_test(test_add_rollback),
	    cmocka_unit_test(test_index_sort),
	    cmocka_unit_test(test_names_private),
	    cmocka_unit_test(test_bench),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
