/* Unit tests: the planner on synthetic layout models. */
#include "config.h"
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>
#include "layout_model.h"
#include "planner.h"
#include "txn_undo.h"

#define KiB                1024ull
#define MiB                (1ull << 20)
#define FIXTURE_GROUP_SIZE (16 * MiB)
#define G2                 (32 * MiB) /* start of group 2 (16 MiB groups) */

#include "model_fixture.h"

static void test_freemap(void **state)
{
	struct pl_freemap fm;

	(void)state;
	pl_fm_init(&fm);
	assert_int_equal(pl_fm_give(&fm, 100, 10), 0);
	assert_int_equal(pl_fm_give(&fm, 120, 10), 0);
	assert_int_equal(fm.n, 2);
	assert_int_equal(pl_fm_give(&fm, 110, 10), 0); /* bridges both */
	assert_int_equal(fm.n, 1);
	assert_true(pl_fm_is_free(&fm, 100, 30));
	assert_false(pl_fm_is_free(&fm, 99, 2));
	assert_int_equal(pl_fm_take(&fm, 105, 5), 0);
	assert_int_equal(fm.n, 2);
	assert_int_equal(pl_fm_take(&fm, 104, 2), -EBUSY);
	assert_int_equal(pl_fm_bytes(&fm, 0, 1000), 25);
	assert_int_equal(pl_fm_bytes(&fm, 100, 110), 5);
	assert_int_equal(pl_fm_runs(&fm, 0, 1000), 2);
	assert_int_equal(pl_fm_take(&fm, 100, 5), 0);
	assert_int_equal(fm.n, 1);
	pl_fm_free(&fm);
}

static void test_defrag(void **state)
{
	struct lm_model *m = new_model(64 * MiB);
	struct rl_extent a[] = {{0, G2 + 0, 32 * KiB, 0},
	                        {32 * KiB, G2 + 1 * MiB, 32 * KiB, 0},
	                        {64 * KiB, G2 + 2 * MiB, 32 * KiB, 0}};
	struct rl_extent b[] = {{0, G2 + 3 * MiB, 64 * KiB, 0}};
	uint32_t ids[2];
	struct pl_ctx c;

	(void)state;
	ids[0] = add_file(m, 12, "dir/a", a, 3);
	ids[1] = add_file(m, 13, "dir/b", b, 1);
	lm_add_free(m, G2 + 4 * MiB, 64 * KiB); /* too small */
	lm_add_free(m, G2 + 5 * MiB, 1 * MiB);  /* fits, wasteful */
	lm_add_free(m, G2 + 8 * MiB, 96 * KiB); /* exact fit */
	assert_int_equal(pl_init(&c, m), 0);
	assert_int_equal(pl_defrag(&c, ids, 2, NULL), 0);
	assert_int_equal(c.nmv, 1);
	assert_int_equal(c.mv[0].file, ids[0]);
	assert_int_equal(c.mv[0].goal, G2 + 8 * MiB);
	assert_int_equal(c.bytes, 96 * KiB);
	assert_int_equal(pl_file_regions(&c, ids[0]), 1);
	assert_non_null(strstr(c.report, "skip dir/b: already optimal"));
	/* the old blocks are free in the predicted map, the target is not */
	assert_true(pl_fm_is_free(&c.fm, G2, 32 * KiB));
	assert_false(pl_fm_is_free(&c.fm, G2 + 8 * MiB, BS));
	{
		struct tx_plan p;
		struct lm_model *pm;
		size_t n;
		const struct lm_extent *e;
		tx_plan_init(&p);
		assert_int_equal(pl_to_plan(&c, "/mnt", &p), 0);
		assert_int_equal(p.nsteps, 1);
		assert_string_equal(p.steps[0].range.path, "/mnt/dir/a");
		assert_int_equal(p.steps[0].range.ino, 12);
		assert_int_equal(p.steps[0].range.nbefore, 3);
		assert_int_equal(p.steps[0].range.ntarget, 1);
		assert_int_equal(p.steps[0].range.target[0].physical,
		                 G2 + 8 * MiB);
		pm = pl_predict_model(m, &p, "/mnt");
		assert_non_null(pm);
		e = lm_file_extents(pm, lm_find_inode(pm, 12), &n);
		assert_int_equal(n, 1);
		assert_int_equal(e[0].physical, G2 + 8 * MiB);
		assert_int_equal(e[0].length, 96 * KiB);
		lm_free(pm);
		tx_plan_free(&p);
	}
	pl_fini(&c);
	lm_free(m);
}

/* A file the session says cannot be written now (pl_ctx.file_busy: a
 * running program) is skipped with the reason; the others are planned. */
static const char *busy_a(void *arg, uint32_t id)
{
	return id == *(uint32_t *)arg ? "the executable of a running program"
	                              : NULL;
}

static void test_defrag_busy(void **state)
{
	struct lm_model *m = new_model(64 * MiB);
	struct rl_extent a[] = {{0, G2 + 0, 32 * KiB, 0},
	                        {32 * KiB, G2 + 1 * MiB, 32 * KiB, 0}};
	struct rl_extent b[] = {{0, G2 + 2 * MiB, 32 * KiB, 0},
	                        {32 * KiB, G2 + 3 * MiB, 32 * KiB, 0}};
	uint32_t ids[2];
	struct pl_ctx c;

	(void)state;
	ids[0] = add_file(m, 12, "dir/a", a, 2);
	ids[1] = add_file(m, 13, "dir/b", b, 2);
	lm_add_free(m, G2 + 8 * MiB, 1 * MiB);
	assert_int_equal(pl_init(&c, m), 0);
	c.file_busy = busy_a;
	c.file_busy_arg = &ids[0];
	assert_int_equal(pl_defrag(&c, ids, 2, NULL), 0);
	assert_int_equal(c.nmv, 1);
	assert_int_equal(c.mv[0].file, ids[1]);
	assert_non_null(strstr(c.report, "skip dir/a: cannot move: the "
	                                 "executable of a running program"));
	{
		const char *why;
		assert_int_equal(pl_unmovable(&c, ids[0], &why), PL_STUCK_BUSY);
		assert_string_equal(why, "the executable of a running program");
		assert_int_equal(pl_unmovable(&c, ids[1], &why), PL_MOVABLE);
		assert_null(why);
	}
	/* grouping it fails with the file and the reason */
	assert_int_equal(pl_group(&c, ids, 2, G2 + 8 * MiB, false), -EPERM);
	assert_int_equal(c.outcome.code, PL_GROUP_STUCK);
	assert_int_equal(c.outcome.file, ids[0]);
	assert_int_equal(c.outcome.stuck, PL_STUCK_BUSY);
	pl_fini(&c);
	lm_free(m);
}

/* Holes and preallocation past EOF: only logically contiguous data below
 * EOF moves, and only the runs that are in more than one piece. */
static void test_defrag_holes_eof(void **state)
{
	struct lm_model *m = new_model(64 * MiB);
	/* s: two data runs, each contiguous, far apart (a sparse file) */
	struct rl_extent s[] = {{0, G2, 64 * KiB, 0},
	                        {8 * MiB, G2 + 2 * MiB, 64 * KiB, 0}};
	/* t: one contiguous run, then a run in two pieces after a hole */
	struct rl_extent t[] = {
	    {0, G2 + 3 * MiB, 64 * KiB, 0},
	    {1 * MiB, G2 + 4 * MiB, 32 * KiB, 0},
	    {1 * MiB + 32 * KiB, G2 + 5 * MiB, 32 * KiB, 0}};
	/* u: data below EOF in three pieces, the last one continued by
	 * preallocated blocks past EOF */
	struct rl_extent u[] = {
	    {0, G2 + 6 * MiB, 32 * KiB, 0},
	    {32 * KiB, G2 + 6 * MiB + 512 * KiB, 16 * KiB, 0},
	    {48 * KiB, G2 + 7 * MiB, 16 * KiB, 0},
	    {64 * KiB, G2 + 7 * MiB + 16 * KiB, 64 * KiB, RL_EXT_UNWRITTEN}};
	struct lm_file_info fi = {
	    .ino = 14, .mode = S_IFREG | 0644, .size = 64 * KiB - 100};
	uint32_t ids[3];
	struct pl_ctx c;

	(void)state;
	ids[0] = add_file(m, 12, "s", s, 2);
	ids[1] = add_file(m, 13, "t", t, 3);
	assert_int_equal(lm_add_file(m, &fi, "u", u, 4, &ids[2]), 0);
	lm_add_free(m, G2 + 8 * MiB, 64 * KiB);
	lm_add_free(m, G2 + 9 * MiB, 16 * MiB);
	assert_int_equal(pl_init(&c, m), 0);
	assert_int_equal(pl_defrag(&c, ids, 3, NULL), 0);
	assert_non_null(strstr(c.report, "skip s: would not improve"));
	assert_int_equal(c.nmv, 2);
	/* t: only [1 MiB, 1 MiB + 64 KiB) moves, to the exact fit */
	assert_int_equal(c.mv[0].file, ids[1]);
	assert_int_equal(c.mv[0].off, 1 * MiB);
	assert_int_equal(c.mv[0].len, 64 * KiB);
	assert_int_equal(c.mv[0].goal, G2 + 8 * MiB);
	/* u: the data below EOF only; the preallocation stays */
	assert_int_equal(c.mv[1].file, ids[2]);
	assert_int_equal(c.mv[1].off, 0);
	assert_int_equal(c.mv[1].len, 64 * KiB);
	assert_int_equal(c.bytes, 128 * KiB);
	assert_int_equal(pl_file_regions(&c, ids[1]), 2);
	assert_int_equal(pl_file_regions(&c, ids[2]), 2);
	pl_fini(&c);
	lm_free(m);
}

/* ext4: a target at an unaligned start of a free run, with many free
 * blocks of that order below it in the group, costs a blocker request
 * each; the end of the same run (same waste) is cheap and is chosen. */
static void test_defrag_ext4_cheap(void **state)
{
	struct lm_model *m = new_model(64 * MiB);
	struct rl_extent a[] = {{0, G2 + 16 * MiB, 2 * BS, 0},
	                        {2 * BS, G2 + 16 * MiB + 100 * BS, 3 * BS, 0}};
	uint32_t id;
	struct pl_ctx c;

	(void)state;
	id = add_file(m, 12, "a", a, 2);
	for (unsigned i = 0; i < 100; i++)
		lm_add_free(m, G2 + 2 * i * BS, BS);
	lm_add_free(m, G2 + 257 * BS, (1024 - 257) * BS);
	assert_int_equal(pl_init(&c, m), 0);
	assert_int_equal(pl_defrag(&c, &id, 1, NULL), 0);
	assert_int_equal(c.nmv, 1);
	assert_int_equal(c.mv[0].goal, G2 + (1024 - 5) * BS);
	pl_fini(&c);
	lm_free(m);
}

/* ext4: the placement cost of a target counts the free chunks of its
 * order below it in its own group only, also when pl_find_target has
 * walked the runs of a group below first (it counts them once per call,
 * group by group). Group 2: 100 single free blocks, then a 5-block run at
 * an odd block (a blocker request per single block below: not cheap).
 * Group 3: the same run with nothing below it (cheap): chosen, although
 * group 2's is nearer. */
static void test_find_target_ext4_cost(void **state)
{
	struct lm_model *m = new_model(64 * MiB);
	const uint64_t g3 = G2 + FIXTURE_GROUP_SIZE;
	struct pl_ctx c;

	(void)state;
	for (unsigned i = 0; i < 100; i++)
		lm_add_free(m, G2 + 2 * i * BS, BS);
	lm_add_free(m, G2 + 301 * BS, 5 * BS);
	lm_add_free(m, g3 + 1 * BS, 5 * BS);
	assert_int_equal(pl_init(&c, m), 0);
	assert_int_equal(pl_find_target(&c, 5 * BS, 0, 0, 64 * MiB),
	                 g3 + 1 * BS);
	/* group 2 alone: its run, expensive or not */
	assert_int_equal(pl_find_target(&c, 5 * BS, 0, 0, g3), G2 + 301 * BS);
	/* a single block: the best fit, the lowest of group 2's */
	assert_int_equal(pl_find_target(&c, BS, G2, 0, 64 * MiB), G2);
	pl_fini(&c);
	lm_free(m);
}

/* The counts below a run are kept per group across calls: a change of
 * the free runs before it in the group (here 100 two-block runs cut to
 * single blocks, the number of runs unchanged) is seen at the next call.
 * pl_fm_track: a give or take bumps the units it touches. */
static void test_find_target_ext4_cost_cache(void **state)
{
	struct lm_model *m = new_model(64 * MiB);
	const uint64_t g3 = G2 + FIXTURE_GROUP_SIZE;
	struct pl_ctx c;
	uint32_t v1, v2, v3;

	(void)state;
	for (unsigned i = 0; i < 100; i++) {
		lm_add_free(m, G2 + 2 * i * BS, BS);
		lm_add_free(m, g3 + 4 * i * BS, 2 * BS);
	}
	lm_add_free(m, G2 + 401 * BS, 5 * BS);
	lm_add_free(m, g3 + 401 * BS, 5 * BS);
	assert_int_equal(pl_init(&c, m), 0);
	assert_non_null(c.fm.ver);
	assert_int_equal(pl_find_target(&c, 5 * BS, 0, 0, 64 * MiB),
	                 g3 + 401 * BS);
	v1 = c.fm.ver[1];
	v2 = c.fm.ver[2];
	v3 = c.fm.ver[3];
	for (unsigned i = 0; i < 100; i++)
		assert_int_equal(pl_fm_take(&c.fm, g3 + (4 * i + 1) * BS, BS),
		                 0);
	assert_int_equal(c.fm.ver[1], v1);
	assert_int_equal(c.fm.ver[2], v2);
	assert_true(c.fm.ver[3] >= v3 + 100);
	/* both groups now alike: the nearer */
	assert_int_equal(pl_find_target(&c, 5 * BS, 0, 0, 64 * MiB),
	                 G2 + 401 * BS);
	pl_fini(&c);
	lm_free(m);
}

/* A data run no single free run inside one group takes is split over the
 * fewest free runs: across a group end inside one free run (physically
 * contiguous: one run), else over the largest free runs; never into as
 * many pieces as it has now. */
static void test_defrag_split(void **state)
{
	struct lm_model *m = new_model(128 * MiB);
	struct rl_extent a[10], b[4];
	uint32_t ids[2];
	struct pl_ctx c;
	uint64_t t = 0;

	(void)state;
	for (unsigned i = 0; i < 10; i++) /* 20 MiB in 10 pieces */
		a[i] = (struct rl_extent){i * 2 * MiB, 4 * MiB * i + 2 * MiB,
		                          2 * MiB, 0};
	ids[0] = add_file(m, 12, "a", a, 10);
	lm_add_free(m, G2 + 8 * MiB, 24 * MiB); /* crosses 48 MiB */
	assert_int_equal(pl_init(&c, m), 0);
	assert_int_equal(pl_defrag(&c, ids, 1, NULL), 0);
	assert_int_equal(c.nmv, 2); /* one move per group */
	assert_int_equal(c.mv[0].goal, G2 + 8 * MiB);
	assert_int_equal(c.mv[0].len, 8 * MiB);
	assert_int_equal(c.mv[1].goal, 48 * MiB);
	assert_int_equal(c.mv[1].off, 8 * MiB);
	assert_int_equal(c.mv[1].len, 12 * MiB);
	assert_int_equal(pl_file_regions(&c, ids[0]), 1);
	assert_int_equal(c.bytes, 20 * MiB);
	assert_non_null(strstr(c.report, "runs -> 1 piece"));
	pl_fini(&c);
	lm_free(m);

	/* separate free runs: 12 + 6 + 2 (of 4) MiB, three pieces */
	m = new_model(128 * MiB);
	ids[0] = add_file(m, 12, "a", a, 10);
	lm_add_free(m, 96 * MiB, 6 * MiB);
	lm_add_free(m, 80 * MiB, 12 * MiB);
	lm_add_free(m, 112 * MiB, 4 * MiB);
	assert_int_equal(pl_init(&c, m), 0);
	assert_int_equal(pl_defrag(&c, ids, 1, NULL), 0);
	assert_int_equal(c.nmv, 3);
	assert_int_equal(c.mv[0].goal, 80 * MiB);
	assert_int_equal(c.mv[0].len, 12 * MiB);
	assert_int_equal(c.mv[1].goal, 96 * MiB);
	assert_int_equal(c.mv[1].len, 6 * MiB);
	assert_int_equal(c.mv[2].goal, 112 * MiB);
	assert_int_equal(c.mv[2].len, 2 * MiB);
	for (size_t i = 0; i < c.nmv; i++)
		t += c.mv[i].len;
	assert_int_equal(t, 20 * MiB);
	assert_int_equal(pl_file_regions(&c, ids[0]), 3);
	pl_fini(&c);
	lm_free(m);

	/* 4 pieces now; free runs of 1 MiB only: 4 or more pieces would
	 * not improve it */
	m = new_model(128 * MiB);
	for (unsigned i = 0; i < 4; i++)
		b[i] = (struct rl_extent){i * MiB, 2 * MiB * i, MiB, 0};
	ids[1] = add_file(m, 13, "b", b, 4);
	for (unsigned i = 0; i < 8; i++)
		lm_add_free(m, 64 * MiB + 2 * MiB * i, MiB);
	assert_int_equal(pl_init(&c, m), 0);
	assert_int_equal(pl_defrag(&c, &ids[1], 1, NULL), 0);
	assert_int_equal(c.nmv, 0);
	assert_non_null(strstr(c.report, "would not improve"));
	pl_fini(&c);
	lm_free(m);
}

/* A defrag step holds its target and its old blocks together: no step
 * larger than the volume can allocate at once (statfs free, less a
 * margin). A 20 MiB file, 10 MiB free by statfs, one 24 MiB free run (XFS
 * counts per-AG reservations as free space): consecutive steps of at most
 * 9.6875 MiB in the run, the file one run in the end. */
static void test_defrag_step_cap(void **state)
{
	struct lm_geometry g;
	struct rl_extent a[10];
	struct lm_model *m;
	uint32_t id;
	struct pl_ctx c;
	uint64_t t = 0;

	(void)state;
	memset(&g, 0, sizeof(g));
	snprintf(g.fs.mountpoint, sizeof(g.fs.mountpoint), "/mnt");
	snprintf(g.fs.fstype, sizeof(g.fs.fstype), "ext4");
	g.fs.type = RL_FS_EXT4;
	g.fs.block_size = BS;
	g.fs.size = 128 * MiB;
	g.fs.group_size = FIXTURE_GROUP_SIZE;
	g.fs.group_count = 128 * MiB / FIXTURE_GROUP_SIZE;
	g.fs.free_blocks = 10 * MiB / BS;
	g.max_extent = lm_max_extent(RL_FS_EXT4, BS);
	g.flex_groups = 16;
	m = lm_new(&g);
	assert_non_null(m);
	for (unsigned i = 0; i < 10; i++)
		a[i] = (struct rl_extent){i * 2 * MiB, 4 * MiB * i + 2 * MiB,
		                          2 * MiB, 0};
	id = add_file(m, 12, "a", a, 10);
	lm_add_free(m, 80 * MiB, 24 * MiB);
	assert_int_equal(pl_init(&c, m), 0);
	assert_int_equal(pl_defrag(&c, &id, 1, NULL), 0);
	assert_int_equal(c.nmv, 3);
	for (size_t i = 0; i < c.nmv; i++) {
		assert_true(c.mv[i].len <= 10 * MiB - 10 * MiB / 32);
		assert_int_equal(c.mv[i].goal, 80 * MiB + t);
		assert_int_equal(c.mv[i].off, t);
		t += c.mv[i].len;
	}
	assert_int_equal(t, 20 * MiB);
	assert_int_equal(pl_file_regions(&c, id), 1);
	pl_fini(&c);
	lm_free(m);
}

/* Preallocation past EOF that writeback left delalloc (XFS speculative
 * preallocation on a full volume) does not stop defrag, which moves the
 * data below EOF; delalloc below EOF does. pl_unmovable still names it. */
static void test_defrag_delalloc_tail(void **state)
{
	struct lm_model *m = new_model(64 * MiB);
	struct rl_extent a[] = {{0, G2, 32 * KiB, 0},
	                        {32 * KiB, G2 + 1 * MiB, 32 * KiB, 0},
	                        {64 * KiB, 0, 64 * KiB, RL_EXT_DELALLOC}};
	struct rl_extent b[] = {{0, G2 + 2 * MiB, 32 * KiB, 0},
	                        {32 * KiB, G2 + 3 * MiB, 32 * KiB, 0},
	                        {64 * KiB, 0, 64 * KiB, RL_EXT_DELALLOC}};
	struct lm_file_info fa = {
	    .ino = 12, .mode = S_IFREG | 0644, .size = 64 * KiB};
	struct lm_file_info fb = {
	    .ino = 13, .mode = S_IFREG | 0644, .size = 100 * KiB};
	uint32_t ids[2];
	struct pl_ctx c;

	(void)state;
	assert_int_equal(lm_add_file(m, &fa, "a", a, 3, &ids[0]), 0);
	assert_int_equal(lm_add_file(m, &fb, "b", b, 3, &ids[1]), 0);
	lm_add_free(m, G2 + 8 * MiB, 1 * MiB);
	assert_int_equal(pl_init(&c, m), 0);
	assert_int_equal(pl_unmovable(&c, ids[0], NULL), PL_STUCK_DELALLOC);
	assert_int_equal(pl_defrag(&c, ids, 2, NULL), 0);
	assert_int_equal(c.nmv, 1);
	assert_int_equal(c.mv[0].file, ids[0]);
	assert_int_equal(c.mv[0].off, 0);
	assert_int_equal(c.mv[0].len, 64 * KiB);
	assert_non_null(strstr(c.report, "preallocation past EOF"));
	assert_non_null(strstr(c.report, "skip b: cannot move: extents not "
	                                 "yet allocated"));
	pl_fini(&c);
	lm_free(m);
}

static void test_defrag_no_room(void **state)
{
	struct lm_model *m = new_model(64 * MiB);
	struct rl_extent a[] = {{0, G2, 32 * KiB, 0},
	                        {32 * KiB, G2 + 1 * MiB, 32 * KiB, 0}};
	uint32_t id;
	struct pl_ctx c;
	struct pl_defrag_opts o = {.min_extents = 3};

	(void)state;
	id = add_file(m, 12, "a", a, 2);
	lm_add_free(m, G2 + 4 * MiB, 32 * KiB);
	assert_int_equal(pl_init(&c, m), 0);
	assert_int_equal(pl_defrag(&c, &id, 1, &o), 0);
	assert_non_null(strstr(c.report, "fewer than --min-extents"));
	assert_int_equal(pl_defrag(&c, &id, 1, NULL), 0);
	assert_int_equal(c.nmv, 0);
	assert_non_null(strstr(c.report, "would not improve"));
	pl_fini(&c);
	lm_free(m);
}

static void test_compact(void **state)
{
	struct lm_model *m = new_model(64 * MiB);
	uint64_t s = G2, e = G2 + 1 * MiB;
	/* a stays below the boundary (s + 192K); b above it moves down,
	 * in parts: no free run below the boundary holds 128 KiB */
	struct rl_extent a[] = {{0, s + 16 * KiB, 64 * KiB, 0}};
	struct rl_extent b[] = {{0, s + 256 * KiB, 128 * KiB, 0}};
	struct rl_extent x[] = {{0, G2 + 4 * MiB, 4 * KiB, 0}};
	struct pl_ctx c;

	(void)state;
	add_file(m, 20, "a", a, 1);
	add_file(m, 21, "b", b, 1);
	add_file(m, 22, "x", x, 1);
	lm_add_free(m, s, 16 * KiB);
	lm_add_free(m, s + 80 * KiB, 176 * KiB);
	lm_add_free(m, s + 384 * KiB, e - s - 384 * KiB);
	lm_add_free(m, G2 + 8 * MiB, 1 * MiB); /* never used */
	assert_int_equal(pl_init(&c, m), 0);
	assert_int_equal(pl_compact(&c, s, e), 0);
	assert_true(c.has_min);
	assert_int_equal(c.min_bytes, 128 * KiB);
	assert_int_equal(c.bytes, 128 * KiB);
	assert_int_equal(c.nmv, 2);
	assert_int_equal(c.scratch_peak, 0);
	for (size_t i = 0; i < c.nmv; i++) {
		assert_int_equal(c.mv[i].file, 1);
		assert_true(c.mv[i].goal < s + 192 * KiB);
	}
	assert_int_equal(pl_fm_runs(&c.fm, s, e), 1);
	assert_true(pl_fm_is_free(&c.fm, s + 192 * KiB, e - s - 192 * KiB));
	assert_true(pl_fm_is_free(&c.fm, G2 + 8 * MiB, 1 * MiB));
	pl_fini(&c);
	lm_free(m);
}

/* A range no free run below the boundary holds: a small piece between
 * two free runs moves out of the way (within the budget) and the range
 * stays in one piece, instead of being moved in parts. */
static void test_compact_evict(void **state)
{
	struct lm_model *m = new_model(64 * MiB);
	uint64_t s = G2, e = G2 + 1 * MiB;
	struct rl_extent x[] = {{0, s + 60 * KiB, 4 * KiB, 0}};
	struct rl_extent f[] = {{0, s + 128 * KiB, 244 * KiB, 0}};
	struct rl_extent y[] = {{0, s + 600 * KiB, 124 * KiB, 0}};
	struct pl_ctx c;

	(void)state;
	add_file(m, 20, "x", x, 1);
	add_file(m, 21, "f", f, 1);
	add_file(m, 22, "y", y, 1);
	lm_add_free(m, s, 60 * KiB);
	lm_add_free(m, s + 64 * KiB, 64 * KiB);
	lm_add_free(m, s + 372 * KiB, 228 * KiB);
	lm_add_free(m, s + 724 * KiB, e - s - 724 * KiB);
	assert_int_equal(pl_init(&c, m), 0);
	assert_int_equal(pl_compact(&c, s, e), 0);
	assert_int_equal(c.min_bytes, 124 * KiB);
	assert_int_equal(c.nmv, 2);
	/* x first (out of the way), then y in one piece where x was */
	assert_int_equal(c.mv[0].file, 0);
	assert_int_equal(c.mv[0].goal, s + 124 * KiB);
	assert_int_equal(c.mv[1].file, 2);
	assert_int_equal(c.mv[1].goal, s);
	assert_int_equal(c.bytes, 128 * KiB);
	assert_int_equal(pl_file_regions(&c, 2), 1);
	assert_true(pl_fm_is_free(&c.fm, s + 372 * KiB, e - s - 372 * KiB));
	assert_int_equal(pl_fm_runs(&c.fm, s, e), 1);
	assert_non_null(strstr(c.report, "1 range moved out of the way"));
	pl_fini(&c);
	lm_free(m);
}

/* Apply c's moves in their order to fm (the free space before the plan):
 * every target is free when its move runs. */
static void replay_plan(const struct pl_ctx *c, struct pl_freemap *fm)
{
	for (size_t i = 0; i < c->nmv; i++) {
		const struct pl_move *mv = &c->mv[i];

		for (size_t k = 0; k < mv->ntarget; k++)
			assert_int_equal(pl_fm_take(fm, mv->target[k].physical,
			                            mv->target[k].length),
			                 0);
		for (size_t k = 0; k < mv->nbefore; k++)
			assert_int_equal(pl_fm_give(fm, mv->before[k].physical,
			                            mv->before[k].length),
			                 0);
	}
}

/* Two ranges that no free run holds, each given a window by moving a
 * small piece out of the way: the moves out of the way come first (the
 * windows are emptied before any is filled, so the transaction holds
 * them in one batch), the rest in the address order of their targets,
 * and the plan stays valid in that order: every target is free when its
 * move runs, given what the moves before it took and left. */
static void test_compact_evict_first(void **state)
{
	struct lm_model *m = new_model(64 * MiB);
	uint64_t s = G2, e = G2 + 1 * MiB;
	struct rl_extent x1[] = {{0, s + 60 * KiB, 4 * KiB, 0}};
	struct rl_extent f1[] = {{0, s + 128 * KiB, 244 * KiB, 0}};
	struct rl_extent x2[] = {{0, s + 432 * KiB, 4 * KiB, 0}};
	struct rl_extent f2[] = {{0, s + 500 * KiB, 100 * KiB, 0}};
	struct rl_extent g[] = {{0, s + 608 * KiB, 8 * KiB, 0}};
	struct rl_extent y1[] = {{0, s + 624 * KiB, 124 * KiB, 0}};
	struct rl_extent y2[] = {{0, s + 748 * KiB, 124 * KiB, 0}};
	/* free runs (KiB from s: start, length) */
	static const uint64_t fr[][2] = {{0, 60},   {64, 64}, {372, 60},
	                                 {436, 64}, {600, 8}, {616, 8},
	                                 {872, 152}};
	struct pl_freemap fm;
	struct pl_ctx c;
	size_t nev = 0, i;
	uint32_t iy1, iy2;

	(void)state;
	add_file(m, 20, "x1", x1, 1);
	add_file(m, 21, "f1", f1, 1);
	add_file(m, 22, "x2", x2, 1);
	add_file(m, 23, "f2", f2, 1);
	add_file(m, 24, "g", g, 1);
	iy1 = add_file(m, 25, "y1", y1, 1);
	iy2 = add_file(m, 26, "y2", y2, 1);
	for (i = 0; i < sizeof(fr) / sizeof(fr[0]); i++)
		lm_add_free(m, s + fr[i][0] * KiB, fr[i][1] * KiB);
	assert_int_equal(pl_init(&c, m), 0);
	assert_int_equal(pl_compact(&c, s, e), 0);
	assert_non_null(strstr(c.report, "2 ranges moved out of the way"));
	for (i = 0; i < c.nmv && !strcmp(c.mv[i].why, "out of the way"); i++)
		nev++;
	assert_int_equal(nev, 2);
	for (i = nev; i < c.nmv; i++) {
		assert_string_not_equal(c.mv[i].why, "out of the way");
		if (i > nev)
			assert_true(c.mv[i].goal > c.mv[i - 1].goal);
	}
	assert_int_equal(pl_file_regions(&c, iy1), 1);
	assert_int_equal(pl_file_regions(&c, iy2), 1);
	/* valid in this order */
	pl_fm_init(&fm);
	for (i = 0; i < sizeof(fr) / sizeof(fr[0]); i++)
		assert_int_equal(
		    pl_fm_give(&fm, s + fr[i][0] * KiB, fr[i][1] * KiB), 0);
	replay_plan(&c, &fm);
	assert_int_equal(pl_fm_runs(&fm, s, e), pl_fm_runs(&c.fm, s, e));
	pl_fm_free(&fm);
	pl_fini(&c);
	lm_free(m);
}

/* Five 8 KiB free runs between metadata, one 64 KiB run: free runs
 * s..s+80K (8K free, 8K metadata, five times), then what the caller puts
 * at s+80K. */
static void five_small_runs(struct lm_model *m, uint64_t s)
{
	for (uint64_t k = 0; k < 5; k++) {
		lm_add_free(m, s + k * 16 * KiB, 8 * KiB);
		lm_add_metadata(m, s + k * 16 * KiB + 8 * KiB, 8 * KiB,
		                "inode table");
	}
}

/* A range that would be moved in more parts than its file's inode holds
 * extents (the filesystem would allocate a tree block where it likes,
 * beyond the boundary once the rest is full) is not split: it goes whole
 * to the lowest run above the boundary, after c's move (which frees
 * nothing it takes, but its target is what the others leave there); its
 * bytes stay free below the boundary, in the runs too small for it. */
static void test_compact_parts_last(void **state)
{
	struct lm_model *m = new_model(64 * MiB);
	uint64_t s = G2, e = G2 + 1 * MiB;
	struct rl_extent b[] = {{0, s + 300 * KiB, 40 * KiB, 0}};
	struct rl_extent c64[] = {{0, s + 400 * KiB, 64 * KiB, 0}};
	struct pl_ctx c;
	uint32_t ib, ic;

	(void)state;
	five_small_runs(m, s);
	ib = add_file(m, 20, "b", b, 1);
	ic = add_file(m, 21, "c", c64, 1);
	lm_add_free(m, s + 80 * KiB, 220 * KiB);
	lm_add_free(m, s + 340 * KiB, 60 * KiB);
	lm_add_free(m, s + 464 * KiB, e - s - 464 * KiB);
	assert_int_equal(pl_init(&c, m), 0);
	assert_int_equal(pl_compact(&c, s, e), 0);
	assert_int_equal(c.nmv, 2);
	assert_int_equal(c.mv[0].file, ic);
	assert_int_equal(c.mv[0].goal, s + 80 * KiB);
	/* the boundary: 40K in the small runs, then c's 64K from s+80K */
	assert_int_equal(c.mv[1].file, ib);
	assert_int_equal(c.mv[1].goal, s + 144 * KiB);
	assert_int_equal(c.mv[1].len, 40 * KiB);
	assert_non_null(strstr(c.report, "1 range (40.0 KiB) did not fit one "
	                                 "free run below the boundary"));
	assert_null(strstr(c.report, "go last"));
	/* the free space above b's new place: one run to the end */
	assert_int_equal(pl_fm_runs(&c.fm, s + 144 * KiB, e), 1);
	pl_fini(&c);
	lm_free(m);
}

/* A 64 MiB model whose inode geometry is known: 8 inodes a group, no
 * flex groups (inode 20 is in group 2). From s: a single free block,
 * metadata to s+16K, then five_small_runs. */
static struct lm_model *tree_model(uint64_t s)
{
	struct lm_model *m = new_model(64 * MiB);
	struct lm_geometry g = *lm_geometry(m);

	g.fs.ext4_inodes_per_group = 8;
	g.flex_groups = 1;
	lm_free(m);
	m = lm_new(&g);
	assert_non_null(m);
	lm_add_free(m, s, 4 * KiB); /* the single free block */
	lm_add_metadata(m, s + 4 * KiB, 12 * KiB, "inode table");
	five_small_runs(m, s + 16 * KiB);
	return m;
}

/* File id's moves come after every other one and lie inside [lo, hi):
 * how many. */
static size_t moves_last_inside(const struct pl_ctx *c, uint32_t id,
                                uint64_t lo, uint64_t hi)
{
	size_t parts = 0;

	for (size_t i = 0; i < c->nmv; i++) {
		if (c->mv[i].file != id) {
			assert_int_equal(parts, 0);
			continue;
		}
		parts++;
		assert_true(c->mv[i].goal >= lo &&
		            c->mv[i].goal + c->mv[i].len <= hi);
	}
	return parts;
}

/* test_compact_parts_last's ranges where the inode geometry is known
 * (8 inodes a group, no flex groups: b's inode 20 is in group 2) and a
 * single free block leads the region (group 2): that block is kept free
 * for b's tree block, so b may go in five parts to the small runs below
 * the boundary, its moves last; the boundary lies a block higher. */
static void test_compact_tree_hole(void **state)
{
	struct lm_model *m = tree_model(G2);
	uint64_t s = G2, e = G2 + 1 * MiB;
	struct rl_extent b[] = {{0, s + 316 * KiB, 40 * KiB, 0}};
	struct rl_extent c64[] = {{0, s + 416 * KiB, 64 * KiB, 0}};
	struct pl_ctx c;
	uint32_t ib;
	char want[160];

	(void)state;
	lm_add_free(m, s + 96 * KiB, 220 * KiB);
	ib = add_file(m, 20, "b", b, 1);
	add_file(m, 21, "c", c64, 1);
	lm_add_free(m, s + 356 * KiB, 60 * KiB);
	lm_add_free(m, s + 480 * KiB, e - s - 480 * KiB);
	assert_int_equal(pl_init(&c, m), 0);
	assert_int_equal(pl_compact(&c, s, e), 0);
	/* last, in the small runs */
	assert_int_equal(moves_last_inside(&c, ib, s + 16 * KiB, s + 96 * KiB),
	                 5);
	assert_int_equal(pl_file_regions(&c, ib), 5);
	snprintf(want, sizeof(want),
	         "kept free for extent-tree blocks: 1 single block from "
	         "0x%" PRIx64 " (group 2), 1 of them for files",
	         (uint64_t)s);
	assert_non_null(strstr(c.report, want));
	assert_non_null(strstr(c.report, "go last (each such file gets a "
	                                 "tree block the filesystem places: "
	                                 "in a block kept free for it)"));
	/* the block is free, the rest below the boundary full, one run
	 * from the boundary (c's 64 KiB from s+96K: 4 KiB higher than the
	 * 104 KiB of data would need) to the end */
	assert_true(pl_fm_is_free(&c.fm, s, 4 * KiB));
	assert_int_equal(c.run_lo, s + 160 * KiB);
	assert_int_equal(pl_fm_runs(&c.fm, s + 4 * KiB, c.run_lo), 0);
	assert_int_equal(pl_fm_runs(&c.fm, c.run_lo, e), 1);
	pl_fini(&c);
	lm_free(m);
}

/* test_compact_tree_hole with b in two ranges above the boundary (40 and
 * 16 KiB, a hole in the file between them) and two more small runs: the block
 * goes to b for its larger range, and the moves of the smaller one go last too
 * (the tree may grow with either). */
static void test_compact_tree_hole_ranges(void **state)
{
	struct lm_model *m = tree_model(G2);
	uint64_t s = G2, e = G2 + 1 * MiB;
	struct rl_extent b[] = {{0, s + 316 * KiB, 40 * KiB, 0},
	                        {64 * KiB, s + 364 * KiB, 16 * KiB, 0}};
	struct rl_extent c64[] = {{0, s + 416 * KiB, 64 * KiB, 0}};
	struct pl_ctx c;
	uint32_t ib;

	(void)state;
	for (uint64_t k = 0; k < 2; k++) { /* runs 6 and 7 */
		lm_add_free(m, s + (96 + k * 16) * KiB, 8 * KiB);
		lm_add_metadata(m, s + (104 + k * 16) * KiB, 8 * KiB,
		                "inode table");
	}
	lm_add_free(m, s + 128 * KiB, 188 * KiB);
	ib = add_file(m, 20, "b", b, 2);
	add_file(m, 21, "c", c64, 1);
	lm_add_free(m, s + 356 * KiB, 8 * KiB);
	lm_add_free(m, s + 380 * KiB, 36 * KiB);
	lm_add_free(m, s + 480 * KiB, e - s - 480 * KiB);
	assert_int_equal(pl_init(&c, m), 0);
	assert_int_equal(pl_compact(&c, s, e), 0);
	assert_int_equal(moves_last_inside(&c, ib, s + 16 * KiB, s + 128 * KiB),
	                 7);
	assert_non_null(strstr(c.report, "7 moves of files left with more "
	                                 "extents than their inodes hold go "
	                                 "last"));
	assert_true(pl_fm_is_free(&c.fm, s, 4 * KiB));
	assert_int_equal(pl_fm_runs(&c.fm, c.run_lo, e), 1);
	pl_fini(&c);
	lm_free(m);
}

/* The same range when the lowest run above the boundary that holds it
 * lies above the range itself: moved there it would leave a hole as large
 * as itself and gain nothing. It stays, listed with its place. */
static void test_compact_parts_stay(void **state)
{
	struct lm_model *m = new_model(64 * MiB);
	uint64_t s = G2, e = G2 + 1 * MiB;
	struct rl_extent b[] = {{0, s + 100 * KiB, 40 * KiB, 0}};
	struct pl_ctx c;
	char want[128];

	(void)state;
	five_small_runs(m, s);
	add_file(m, 20, "b", b, 1);
	lm_add_free(m, s + 80 * KiB, 20 * KiB);
	lm_add_metadata(m, s + 140 * KiB, 20 * KiB, "inode table");
	lm_add_free(m, s + 160 * KiB, e - s - 160 * KiB);
	assert_int_equal(pl_init(&c, m), 0);
	assert_int_equal(pl_compact(&c, s, e), 0);
	assert_int_equal(c.nmv, 0);
	snprintf(want, sizeof(want),
	         "stays: 0x%" PRIx64 "..0x%" PRIx64 " (40.0 KiB): b: no free "
	         "run between the boundary and it holds it whole",
	         (uint64_t)(s + 100 * KiB), (uint64_t)(s + 140 * KiB));
	assert_non_null(strstr(c.report, want));
	assert_non_null(strstr(c.report, "1 range (40.0 KiB) did not fit"));
	assert_non_null(strstr(c.report, "left where it is"));
	pl_fini(&c);
	lm_free(m);
}

/* The window for x would move q out of the way in five parts (no free
 * run holds it whole): its file would get a tree block next to its old
 * place, in the window, before x moves there. No window then: q stays;
 * x in parts would need seven extents: it goes whole right above the
 * boundary. */
static void test_compact_evict_no_parts(void **state)
{
	struct lm_model *m = new_model(64 * MiB);
	uint64_t s = G2, e = G2 + 1 * MiB;
	struct rl_extent q[] = {{0, s + 88 * KiB, 40 * KiB, 0}};
	struct rl_extent x[] = {{0, s + 400 * KiB, 64 * KiB, 0}};
	struct pl_ctx c;
	uint32_t ix;

	(void)state;
	five_small_runs(m, s);
	add_file(m, 20, "q", q, 1);
	ix = add_file(m, 21, "x", x, 1);
	/* the window [s+80K, s+144K): 8K free, q, 16K free */
	lm_add_free(m, s + 80 * KiB, 8 * KiB);
	lm_add_free(m, s + 128 * KiB, 272 * KiB);
	lm_add_free(m, s + 464 * KiB, e - s - 464 * KiB);
	assert_int_equal(pl_init(&c, m), 0);
	assert_int_equal(pl_compact(&c, s, e), 0);
	assert_int_equal(c.min_bytes, 64 * KiB);
	assert_int_equal(c.nmv, 1);
	assert_int_equal(c.mv[0].file, ix);
	assert_int_equal(c.mv[0].goal, s + 144 * KiB);
	assert_null(strstr(c.report, "moved out of the way"));
	assert_int_equal(pl_fm_runs(&c.fm, s + 144 * KiB, e), 1);
	pl_fini(&c);
	lm_free(m);
}

/* A 64 KiB file right above the boundary; below it the free space in
 * eight 8 KiB runs between 8 KiB files, a metadata block every 32 KiB: no
 * 64 KiB window without metadata, and in the free runs as they are the
 * file would need eight extents (its inode holds four). It goes in
 * three parts (24 + 24 + 16 KiB, one 8 KiB file out of each window:
 * cheaper than two 32 KiB windows of two files each), to windows made
 * free; the free space from the boundary on is one run. The first 32
 * KiB hold their two files side by side (free, file, file, free): a 24
 * KiB window there holds both, so the 24 KiB parts go higher and the
 * 16 KiB part, chosen last, lowest -- the parts still follow the file's
 * data in address order. */
static void test_compact_evict_parts(void **state)
{
	struct lm_model *m = new_model(64 * MiB);
	uint64_t s = G2, e = G2 + 1 * MiB, k;
	struct rl_extent x[] = {{0, s + 144 * KiB, 64 * KiB, 0}};
	struct pl_freemap fm;
	struct pl_ctx c;
	uint32_t ix;
	size_t i, parts = 0;

	(void)state;
	for (k = 0; k < 4; k++) { /* [36k, 36k+32): free, file, free, file */
		uint64_t a = s + k * 36 * KiB;
		char name[8];

		for (uint64_t j = 0; j < 2; j++) {
			struct rl_extent p[] = {
			    {0, a + ((k ? 16 : 8) * j + 8) * KiB, 8 * KiB, 0}};
			snprintf(name, sizeof(name), "p%" PRIu64, 2 * k + j);
			add_file(m, 30 + 2 * k + j, name, p, 1);
			lm_add_free(m, a + (k ? 16 : 24) * j * KiB, 8 * KiB);
		}
		lm_add_metadata(m, a + 32 * KiB, 4 * KiB, "inode table");
	}
	ix = add_file(m, 20, "x", x, 1);
	lm_add_free(m, s + 208 * KiB, e - s - 208 * KiB);
	assert_int_equal(pl_init(&c, m), 0);
	assert_int_equal(pl_compact(&c, s, e), 0);
	assert_int_equal(c.min_bytes, 64 * KiB);
	for (i = 0; i < c.nmv; i++) {
		if (c.mv[i].file != ix)
			continue;
		parts++;
		/* its data ascending: a later part lies higher */
		for (size_t q = 0; q < c.nmv; q++)
			if (c.mv[q].file == ix && c.mv[q].off > c.mv[i].off)
				assert_true(c.mv[q].goal > c.mv[i].goal);
	}
	assert_int_equal(parts, 3);
	assert_int_equal(pl_file_regions(&c, ix), 3);
	assert_int_equal(c.whole_bytes, 24 * KiB);
	assert_int_equal(c.whole_for, 64 * KiB);
	assert_int_equal(c.bytes, 88 * KiB);
	assert_non_null(strstr(c.report, "some in a few parts"));
	/* nothing free below the boundary, one run from it to the end */
	assert_int_equal(pl_fm_runs(&c.fm, s, s + 144 * KiB), 0);
	assert_int_equal(pl_fm_runs(&c.fm, s + 144 * KiB, e), 1);
	/* valid in the plan's order */
	pl_fm_init(&fm);
	for (k = 0; k < 8; k++)
		assert_int_equal(
		    pl_fm_give(
		        &fm, s + (k / 2 * 36 + k % 2 * (k / 2 ? 16 : 24)) * KiB,
		        8 * KiB),
		    0);
	assert_int_equal(pl_fm_give(&fm, s + 208 * KiB, e - s - 208 * KiB), 0);
	replay_plan(&c, &fm);
	assert_int_equal(pl_fm_runs(&fm, s, e), 1);
	pl_fm_free(&fm);
	pl_fini(&c);
	lm_free(m);
}

/* test_compact_parts_last's layout on XFS with 512-byte inodes: an inode
 * holds 10 extents there (half its literal area), so b in five parts
 * keeps its extents in the inode, and its moves need not go last. */
static void test_compact_parts_xfs(void **state)
{
	struct lm_model *m = new_model(64 * MiB);
	struct lm_geometry g = *lm_geometry(m);
	uint64_t s = G2, e = G2 + 1 * MiB;
	struct rl_extent b[] = {{0, s + 300 * KiB, 40 * KiB, 0}};
	struct rl_extent c64[] = {{0, s + 400 * KiB, 64 * KiB, 0}};
	struct rl_extent low[] = {{0, 1 * MiB, 64 * KiB, 0}};
	struct pl_ctx c;
	uint32_t ib;
	size_t parts = 0;

	(void)state;
	g.fs.type = RL_FS_XFS;
	g.fs.xfs_inopblog = 3; /* 8 inodes of 512 bytes per 4 KiB block */
	g.max_extent = lm_max_extent(RL_FS_XFS, BS);
	lm_free(m);
	m = lm_new(&g);
	assert_non_null(m);
	five_small_runs(m, s);
	ib = add_file(m, 20, "b", b, 1);
	add_file(m, 21, "c", c64, 1);
	add_file(m, 22, "low", low, 1); /* data below: an anchor */
	lm_add_free(m, s + 80 * KiB, 220 * KiB);
	lm_add_free(m, s + 340 * KiB, 60 * KiB);
	lm_add_free(m, s + 464 * KiB, e - s - 464 * KiB);
	assert_int_equal(pl_init(&c, m), 0);
	assert_int_equal(pl_compact(&c, s, e), 0);
	for (size_t i = 0; i < c.nmv; i++)
		if (c.mv[i].file == ib)
			parts++;
	assert_int_equal(parts, 5);
	assert_null(strstr(c.report, "more extents than their inodes hold"));
	pl_fini(&c);
	lm_free(m);
}

/* No free space outside the region (the whole volume): the region's own
 * free space is enough; only the part of a above the boundary moves. */
static void test_compact_in_place(void **state)
{
	struct lm_model *m = new_model(64 * MiB);
	uint64_t s = G2, e = G2 + 1 * MiB;
	struct rl_extent a[] = {{0, s + 16 * KiB, 64 * KiB, 0}};
	struct pl_ctx c;

	(void)state;
	add_file(m, 20, "a", a, 1);
	lm_add_free(m, s, 16 * KiB);
	lm_add_free(m, s + 80 * KiB, e - s - 80 * KiB);
	assert_int_equal(pl_init(&c, m), 0);
	assert_int_equal(pl_compact(&c, s, e), 0);
	assert_int_equal(c.min_bytes, 16 * KiB);
	assert_int_equal(c.nmv, 1);
	assert_int_equal(c.mv[0].off, 48 * KiB);
	assert_int_equal(c.mv[0].len, 16 * KiB);
	assert_int_equal(c.mv[0].goal, s);
	assert_int_equal(pl_fm_runs(&c.fm, s, e), 1);
	assert_true(pl_fm_is_free(&c.fm, s + 64 * KiB, e - s - 64 * KiB));
	pl_fini(&c);

	/* a region without one whole block */
	assert_int_equal(pl_init(&c, m), 0);
	assert_int_equal(pl_compact(&c, s + 1, s + BS - 1), -EINVAL);
	assert_int_equal(c.outcome.code, PL_REGION_EMPTY);
	pl_fini(&c);
	lm_free(m);
}

/* What cannot move stays and is listed: metadata, blocks of no known
 * file, a directory, the preallocation past EOF; the free space ends as
 * one run but for them. A file reaching outside the region has its part
 * inside moved, the rest stays. */
static void test_compact_fixed(void **state)
{
	struct lm_model *m = new_model(64 * MiB);
	uint64_t s = G2, e = G2 + 1 * MiB;
	/* straddles the region's start: 32K outside, 32K inside */
	struct rl_extent st[] = {{0, s - 32 * KiB, 64 * KiB, 0}};
	struct rl_extent d[] = {{0, s + 600 * KiB, 4 * KiB, 0}};
	/* 8K of data, 8K preallocated past EOF */
	struct rl_extent pre[] = {{0, s + 700 * KiB, 16 * KiB, 0}};
	struct rl_extent f[] = {{0, s + 800 * KiB, 64 * KiB, 0}};
	struct lm_file_info di = {.ino = 31, .mode = S_IFDIR | 0755};
	struct lm_file_info pi = {
	    .ino = 32, .mode = S_IFREG | 0644, .size = 8 * KiB};
	uint32_t id;
	struct pl_ctx c;

	(void)state;
	add_file(m, 30, "straddle", st, 1);
	assert_int_equal(lm_add_file(m, &di, "dir", d, 1, &id), 0);
	assert_int_equal(lm_add_file(m, &pi, "pre", pre, 1, &id), 0);
	add_file(m, 33, "f", f, 1);
	lm_add_metadata(m, s + 500 * KiB, 16 * KiB, "inode table");
	/* [s + 900K, s + 904K): in no record (unknown) */
	lm_add_free(m, s + 32 * KiB, 468 * KiB);
	lm_add_free(m, s + 516 * KiB, 84 * KiB);
	lm_add_free(m, s + 604 * KiB, 96 * KiB);
	lm_add_free(m, s + 716 * KiB, 84 * KiB);
	lm_add_free(m, s + 864 * KiB, 36 * KiB);
	lm_add_free(m, s + 904 * KiB, e - s - 904 * KiB);
	assert_int_equal(pl_init(&c, m), 0);
	assert_int_equal(pl_compact(&c, s, e), 0);
	/* movable: straddle's 32K in the region (stays: it is at the
	 * start), pre's 8K, f's 64K: 104K fit below s + 104K */
	assert_int_equal(c.min_bytes, 72 * KiB);
	assert_int_equal(c.nmv, 2);
	for (size_t i = 0; i < c.nmv; i++)
		assert_true(c.mv[i].goal >= s + 32 * KiB &&
		            c.mv[i].goal < s + 104 * KiB);
	/* the free space from s + 104K to the end, but what stays */
	assert_true(pl_fm_is_free(&c.fm, s + 104 * KiB, 396 * KiB));
	assert_false(pl_fm_is_free(&c.fm, s + 500 * KiB, BS));
	assert_false(pl_fm_is_free(&c.fm, s + 600 * KiB, BS));
	assert_false(pl_fm_is_free(&c.fm, s + 708 * KiB, BS));
	assert_false(pl_fm_is_free(&c.fm, s + 900 * KiB, BS));
	assert_true(pl_fm_is_free(&c.fm, s + 716 * KiB, 184 * KiB));
	assert_int_equal(pl_fm_runs(&c.fm, s, e), 5);
	assert_non_null(strstr(c.report, "stays: dir (4.0 KiB in the "
	                                 "region): a directory"));
	assert_non_null(strstr(c.report, "stays: pre: 8.0 KiB preallocated"));
	assert_non_null(strstr(c.report, "filesystem metadata (inode table)"));
	assert_non_null(strstr(c.report, "in use by no file the scan knows"));
	/* straddle: its outside half untouched */
	{
		size_t n;
		const struct rl_extent *x = pl_file_extents(&c, 0, &n);
		assert_int_equal(n, 1);
		assert_int_equal(x[0].physical, s - 32 * KiB);
	}
	pl_fini(&c);
	lm_free(m);
}

/* An XFS AG keeps its reservation: the estimate from the free-space
 * figures (measured on a 512 MiB volume: 4 AGs of 32768 blocks, GETFSMAP
 * 114640 free blocks, statfs 107269: an allocation leaving fewer than
 * 230 blocks free in the AG answered ENOSPC), and no target there. */
/* The files that stay are listed in address order, not in the order the
 * scan found them (its threads make that differ from run to run). */
static void test_compact_notes_order(void **state)
{
	struct lm_model *m = new_model(64 * MiB);
	uint64_t s = G2, e = G2 + 1 * MiB;
	struct rl_extent hi[] = {{0, s + 600 * KiB, 4 * KiB, 0}};
	struct rl_extent lo[] = {{0, s + 100 * KiB, 4 * KiB, 0}};
	struct lm_file_info d1 = {.ino = 40, .mode = S_IFDIR | 0755};
	struct lm_file_info d2 = {.ino = 41, .mode = S_IFDIR | 0755};
	const char *a, *b;
	uint32_t id;
	struct pl_ctx c;

	(void)state;
	assert_int_equal(lm_add_file(m, &d1, "dhi", hi, 1, &id), 0);
	assert_int_equal(lm_add_file(m, &d2, "dlo", lo, 1, &id), 0);
	lm_add_free(m, s, 100 * KiB);
	lm_add_free(m, s + 104 * KiB, 496 * KiB);
	lm_add_free(m, s + 604 * KiB, e - s - 604 * KiB);
	assert_int_equal(pl_init(&c, m), 0);
	assert_int_equal(pl_compact(&c, s, e), 0);
	a = strstr(c.report, "stays: dlo (");
	b = strstr(c.report, "stays: dhi (");
	assert_non_null(a);
	assert_non_null(b);
	assert_true(a < b);
	pl_fini(&c);
	lm_free(m);
}

static void test_keep_group_free(void **state)
{
	struct lm_geometry g;
	struct lm_model *m;
	struct rl_extent a[] = {{0, 4 * MiB, 64 * KiB, 0}};
	struct pl_evac_report er;
	struct pl_ctx c;

	(void)state;
	memset(&g, 0, sizeof(g));
	g.fs.type = RL_FS_XFS;
	g.fs.block_size = BS;
	g.fs.size = 512 * MiB;
	g.fs.group_size = 128 * MiB;
	g.fs.group_count = 4;
	g.fs.total_blocks = 114688;
	g.fs.free_blocks = 107269;
	assert_int_equal(pl_xfs_group_keep(&g, 114640ull * BS),
	                 (196 + 64) * BS);
	g.fs.free_blocks = 0; /* a snapshot: 1/128 of an AG */
	assert_int_equal(pl_xfs_group_keep(&g, 114640ull * BS),
	                 (256 + 64) * BS);
	g.fs.type = RL_FS_EXT4;
	assert_int_equal(pl_xfs_group_keep(&g, 114640ull * BS), 0);

	g.fs.type = RL_FS_XFS;
	g.fs.size = 64 * MiB;
	g.fs.group_size = FIXTURE_GROUP_SIZE;
	m = lm_new(&g);
	assert_non_null(m);
	add_file(m, 20, "a", a, 1);
	lm_add_free(m, 8 * MiB, 1 * MiB);   /* group 0 */
	lm_add_free(m, 20 * MiB, 96 * KiB); /* group 1 */
	lm_add_free(m, 30 * MiB, 2 * MiB);  /* group 1, its end */
	assert_int_equal(pl_init(&c, m), 0);
	assert_int_equal(pl_keep_group_free(&c, 1 * MiB), 0);
	assert_int_equal(pl_fm_bytes(&c.resv, 0, 16 * MiB), 1 * MiB);
	assert_true(pl_fm_is_free(&c.resv, 8 * MiB, 1 * MiB));
	assert_true(pl_fm_is_free(&c.resv, 31 * MiB, 1 * MiB));
	/* the best fit would be the 96K run: a goes there; a run of 1 MiB
	 * fits only in group 1 below its kept top MiB */
	assert_int_equal(pl_find_target(&c, 64 * KiB, 0, 0, 64 * MiB),
	                 20 * MiB);
	assert_int_equal(pl_find_target(&c, 1 * MiB, 0, 0, 64 * MiB), 30 * MiB);
	assert_int_equal(pl_find_target(&c, 1 * MiB + BS, 0, 0, 64 * MiB),
	                 UINT64_MAX);
	assert_int_equal(pl_evacuate(&c, 0, 16 * MiB, &er), 0);
	assert_int_equal(c.nmv, 1);
	assert_int_equal(c.mv[0].goal, 20 * MiB);
	pl_fini(&c);
	lm_free(m);
}

static void test_evacuate(void **state)
{
	struct lm_model *m = new_model(64 * MiB);
	uint64_t s = G2, e = G2 + 1 * MiB;
	struct rl_extent a[] = {{0, s + 64 * KiB, 64 * KiB, 0}};
	struct rl_extent sh[] = {{0, s + 256 * KiB, 64 * KiB, RL_EXT_SHARED}};
	struct pl_evac_report er;
	struct pl_ctx c;

	(void)state;
	add_file(m, 20, "a", a, 1);
	add_file(m, 21, "shared", sh, 1);
	lm_add_metadata(m, s, 64 * KiB, "inode table");
	lm_add_free(m, s + 128 * KiB, 128 * KiB);
	lm_add_free(m, G2 + 8 * MiB, 1 * MiB);
	assert_int_equal(pl_init(&c, m), 0);
	assert_int_equal(pl_evacuate(&c, s, e, &er), 0);
	assert_int_equal(c.nmv, 1);
	assert_true(c.mv[0].goal >= e);
	assert_int_equal(er.meta, 64 * KiB);
	assert_int_equal(er.shared, 64 * KiB);
	assert_int_equal(er.movable, 64 * KiB);
	assert_int_equal(er.files_immovable, 1);
	assert_int_equal(pl_unmovable(&c, 1, NULL), PL_STUCK_SHARED);
	assert_int_equal(c.outcome.code, PL_DONE);
	/* the per-file note stays a line of the report */
	assert_non_null(strstr(c.report, "cannot move shared"));
	pl_fini(&c);

	/* --unshare moves it too */
	assert_int_equal(pl_init(&c, m), 0);
	c.unshare = true;
	assert_int_equal(pl_evacuate(&c, s, e, &er), 0);
	assert_int_equal(c.nmv, 2);
	pl_fini(&c);
	lm_free(m);
}

static void test_evacuate_no_space(void **state)
{
	struct lm_model *m = new_model(64 * MiB);
	uint64_t s = G2, e = G2 + 1 * MiB;
	struct rl_extent a[] = {{0, s, 512 * KiB, 0}};
	struct pl_evac_report er;
	struct pl_ctx c;

	(void)state;
	add_file(m, 20, "a", a, 1);
	lm_add_free(m, G2 + 8 * MiB, 256 * KiB);
	assert_int_equal(pl_init(&c, m), 0);
	assert_int_equal(pl_evacuate(&c, s, e, &er), -ENOSPC);
	assert_int_equal(c.outcome.code, PL_NOT_ENOUGH_SPACE);
	assert_int_equal(c.outcome.len, 512 * KiB);
	assert_int_equal(c.outcome.avail, 256 * KiB);
	/* the text: rendered once, the same line in the report */
	{
		char buf[256];
		pl_outcome_format(&c, &c.outcome, buf, sizeof(buf));
		assert_string_equal(buf, "not enough free space outside the "
		                         "region: 512.0 KiB to move, 256.0 KiB "
		                         "free outside");
		assert_non_null(strstr(c.report, buf));
	}
	pl_fini(&c);
	lm_free(m);
}

/* The files of the group tests: a (64 KiB) and b (32 KiB) to group
 * (their ids in ids), "other" (len bytes at at) in the way. */
static struct lm_model *group_model(uint32_t *ids, uint64_t at, uint64_t len)
{
	struct lm_model *m = new_model(64 * MiB);
	struct rl_extent a[] = {{0, G2, 64 * KiB, 0}};
	struct rl_extent b[] = {{0, G2 + 512 * KiB, 32 * KiB, 0}};
	struct rl_extent o[] = {{0, at, len, 0}};

	ids[0] = add_file(m, 20, "a", a, 1);
	ids[1] = add_file(m, 21, "b", b, 1);
	add_file(m, 22, "other", o, 1);
	return m;
}

static void test_group(void **state)
{
	uint64_t goal = G2 + 2 * MiB;
	uint32_t ids[2];
	struct lm_model *m = group_model(ids, goal + 64 * KiB, 8 * KiB);
	struct pl_ctx c;

	(void)state;
	lm_add_free(m, goal, 64 * KiB);
	lm_add_free(m, goal + 72 * KiB, 1 * MiB);
	lm_add_free(m, G2 + 8 * MiB, 1 * MiB);
	assert_int_equal(pl_init(&c, m), 0);
	assert_int_equal(pl_group(&c, ids, 2, goal, false), -EBUSY);
	assert_int_equal(c.outcome.code, PL_TARGET_OCCUPIED);
	assert_int_equal(c.outcome.file, 2);
	assert_int_equal(c.outcome.at, goal + 64 * KiB); /* b's target */
	assert_int_equal(c.outcome.end, goal + 96 * KiB);
	pl_fini(&c);
	assert_int_equal(pl_init(&c, m), 0);
	assert_int_equal(pl_group(&c, ids, 2, goal + 1, true), -EINVAL);
	assert_int_equal(c.outcome.code, PL_GOAL_UNALIGNED);
	pl_fini(&c);
	assert_int_equal(pl_init(&c, m), 0);
	assert_int_equal(pl_group(&c, ids, 2, goal, true), 0);
	assert_int_equal(c.nmv, 3);
	assert_int_equal(c.mv[0].goal, goal);
	assert_string_equal(c.mv[1].why, "make room");
	assert_true(c.mv[1].goal >= goal + 96 * KiB ||
	            c.mv[1].goal + 8 * KiB <= goal);
	assert_int_equal(c.mv[2].goal, goal + 64 * KiB);
	pl_fini(&c);
	lm_free(m);
}

/* A region that starts on used blocks: metadata, space no record names,
 * another file. The files go into its free runs, in order; a region with
 * no run that takes a file is refused, saying what it holds. */
static void test_group_region(void **state)
{
	uint64_t lo = G2 + 2 * MiB;
	uint32_t ids[2];
	struct lm_model *m = group_model(ids, lo + 208 * KiB, 16 * KiB);
	struct pl_ctx c;
	char buf[512];

	(void)state;
	/* lo: 148 KiB of inodes, 12 KiB unnamed, 48 KiB free (too small
	 * for a), other's 16 KiB, then 1 MiB free */
	lm_add_metadata(m, lo, 148 * KiB, "inodes");
	lm_add_free(m, lo + 160 * KiB, 48 * KiB);
	lm_add_free(m, lo + 224 * KiB, 1 * MiB);
	assert_int_equal(pl_region_text(m, lo, lo + 224 * KiB, false, buf,
	                                sizeof(buf), NULL),
	                 0);
	assert_string_equal(buf, "48.0 KiB free in 1 run (largest 48.0 KiB), "
	                         "148.0 KiB metadata (inodes), 16.0 KiB data "
	                         "of other, 12.0 KiB in use by the "
	                         "filesystem, owner not reported by the "
	                         "kernel");
	/* without a region end: refused, naming what is there */
	assert_int_equal(pl_init(&c, m), 0);
	assert_true(pl_group(&c, ids, 2, lo, false) < 0);
	assert_int_equal(c.outcome.code, PL_TARGET_NOT_FREE);
	pl_outcome_format(&c, &c.outcome, buf, sizeof(buf));
	assert_non_null(strstr(buf, "it holds 64.0 KiB metadata (inodes)"));
	assert_non_null(strstr(buf, "--end END"));
	pl_fini(&c);
	/* the region: a skips the inodes and the run too small for it, b
	 * follows it */
	assert_int_equal(pl_init(&c, m), 0);
	assert_int_equal(pl_group_in(&c, ids, 2, lo, lo + 2 * MiB, false), 0);
	assert_int_equal(c.nmv, 2);
	assert_int_equal(c.mv[0].goal, lo + 224 * KiB);
	assert_int_equal(c.mv[1].goal, lo + 288 * KiB);
	assert_non_null(strstr(c.report, "placed in the free runs"));
	pl_fini(&c);
	/* b alone fits the 48 KiB run first */
	assert_int_equal(pl_init(&c, m), 0);
	assert_int_equal(pl_group_in(&c, &ids[1], 1, lo, lo + 2 * MiB, false),
	                 0);
	assert_int_equal(c.mv[0].goal, lo + 160 * KiB);
	pl_fini(&c);
	/* a region with no run that takes a */
	assert_int_equal(pl_init(&c, m), 0);
	assert_int_equal(pl_group_in(&c, ids, 2, lo, lo + 224 * KiB, false),
	                 -ENOSPC);
	assert_int_equal(c.outcome.code, PL_REGION_NO_RUN);
	pl_outcome_format(&c, &c.outcome, buf, sizeof(buf));
	assert_non_null(strstr(buf, "the region has 48.0 KiB free"));
	assert_non_null(strstr(buf, "148.0 KiB metadata (inodes)"));
	assert_non_null(strstr(buf, "--make-room"));
	pl_fini(&c);
	lm_free(m);
}

static struct tx_step undo_step(uint64_t ino, const char *path,
                                struct rl_extent before,
                                struct rl_extent target)
{
	struct tx_step st;

	memset(&st, 0, sizeof(st));
	st.range.path = strdup(path);
	st.range.ino = ino;
	st.range.length = before.length;
	st.range.before = jr_pieces_dup(&before, 1);
	st.range.nbefore = 1;
	st.range.target = jr_pieces_dup(&target, 1);
	st.range.ntarget = 1;
	st.bytes = target.length;
	return st;
}

/* Does [a, a+n) overlap [b, b+m)? */
static bool overlaps(uint64_t a, uint64_t n, uint64_t b, uint64_t m)
{
	return a < b + m && b < a + n;
}

/* An undo fitted to blocks taken since: a (moved twice: to scratch S,
 * then on) and b go back. The first 64 KiB of S and 64 KiB of a's old
 * place are taken: those parts go near (in the group, never onto b's or
 * a's other old places), the rest exactly; a's second step starts where
 * its first left it. */
static void test_undo_fit(void **state)
{
	struct lm_model *m = new_model(64 * MiB);
	const uint64_t A = G2 + 1 * MiB, S = G2 + 6 * MiB, B = A + 256 * KiB;
	struct rl_extent ea = {0, G2 + 8 * MiB, 256 * KiB, 0},
	                 eb = {0, G2 + 9 * MiB, 128 * KiB, 0};
	struct tx_plan p, out;
	struct tx_step st;
	struct tx_fit fit;
	struct pl_ctx c;
	const struct tx_step *s0, *s2;

	(void)state;
	add_file(m, 12, "a", &ea, 1);
	add_file(m, 13, "b", &eb, 1);
	lm_add_free(m, A, 64 * KiB);              /* then 64K taken */
	lm_add_free(m, A + 128 * KiB, 256 * KiB); /* a's rest, b's */
	lm_add_free(m, G2 + 2 * MiB, 256 * KiB);  /* nearby */
	lm_add_free(m, S + 64 * KiB, 192 * KiB);  /* S but 64K */
	assert_int_equal(pl_init(&c, m), 0);
	tx_plan_init(&p);
	tx_plan_init(&out);
	st =
	    undo_step(12, "/mnt/a", ea, (struct rl_extent){0, S, 256 * KiB, 0});
	assert_int_equal(tx_plan_add(&p, &st), 0);
	st =
	    undo_step(13, "/mnt/b", eb, (struct rl_extent){0, B, 128 * KiB, 0});
	assert_int_equal(tx_plan_add(&p, &st), 0);
	st = undo_step(12, "/mnt/a", (struct rl_extent){0, S, 256 * KiB, 0},
	               (struct rl_extent){0, A, 256 * KiB, 0});
	assert_int_equal(tx_plan_add(&p, &st), 0);
	p.undo_of = 7;
	assert_int_equal(
	    tx_undo_fit(&c, &p, 0, NULL, 0, NULL, NULL, &out, &fit), 0);
	assert_int_equal(out.nsteps, 3);
	assert_int_equal(out.undo_of, 7);
	assert_int_equal(fit.near, 128 * KiB);
	s0 = &out.steps[0];
	s2 = &out.steps[2];
	/* step 0: 64K near, the rest of S exact */
	assert_int_equal(fit.steps[0].near, 64 * KiB);
	assert_int_equal(fit.steps[0].old_at, S);
	assert_int_equal(s0->range.ntarget, 2);
	assert_int_equal(s0->range.target[1].logical, 64 * KiB);
	assert_int_equal(s0->range.target[1].physical, S + 64 * KiB);
	assert_int_equal(s0->range.target[0].length, 64 * KiB);
	/* b: exact */
	assert_int_equal(fit.steps[1].near, 0);
	assert_int_equal(out.steps[1].range.target[0].physical, B);
	/* a's second step starts where the first left it */
	assert_true(tx_pieces_equal(s2->range.before, s2->range.nbefore,
	                            s0->range.target, s0->range.ntarget));
	assert_int_equal(fit.steps[2].near, 64 * KiB);
	assert_int_equal(fit.steps[2].old_at, A + 64 * KiB);
	assert_int_equal(s2->range.ntarget, 3);
	assert_int_equal(s2->range.target[0].physical, A);
	assert_int_equal(s2->range.target[2].physical, A + 128 * KiB);
	/* the near pieces: in group 2, on no old place, not on each other */
	for (int k = 0; k < 2; k++) {
		const struct rl_extent *n =
		    k ? &s2->range.target[1] : &s0->range.target[0];
		assert_true(n->physical >= G2 && n->physical < G2 + 16 * MiB);
		assert_false(overlaps(n->physical, n->length, A, 384 * KiB));
		assert_false(overlaps(n->physical, n->length, S, 256 * KiB));
	}
	assert_false(overlaps(s0->range.target[0].physical, 64 * KiB,
	                      s2->range.target[1].physical, 64 * KiB));
	tx_fit_free(&fit);
	tx_plan_free(&out);
	tx_plan_free(&p);
	pl_fini(&c);
	lm_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_freemap),
	    cmocka_unit_test(test_defrag),
	    cmocka_unit_test(test_defrag_busy),
	    cmocka_unit_test(test_defrag_no_room),
	    cmocka_unit_test(test_defrag_holes_eof),
	    cmocka_unit_test(test_defrag_ext4_cheap),
	    cmocka_unit_test(test_find_target_ext4_cost),
	    cmocka_unit_test(test_find_target_ext4_cost_cache),
	    cmocka_unit_test(test_defrag_split),
	    cmocka_unit_test(test_defrag_step_cap),
	    cmocka_unit_test(test_defrag_delalloc_tail),
	    cmocka_unit_test(test_compact),
	    cmocka_unit_test(test_compact_evict),
	    cmocka_unit_test(test_compact_evict_first),
	    cmocka_unit_test(test_compact_parts_last),
	    cmocka_unit_test(test_compact_parts_stay),
	    cmocka_unit_test(test_compact_evict_no_parts),
	    cmocka_unit_test(test_compact_evict_parts),
	    cmocka_unit_test(test_compact_tree_hole),
	    cmocka_unit_test(test_compact_tree_hole_ranges),
	    cmocka_unit_test(test_compact_parts_xfs),
	    cmocka_unit_test(test_compact_in_place),
	    cmocka_unit_test(test_compact_fixed),
	    cmocka_unit_test(test_compact_notes_order),
	    cmocka_unit_test(test_keep_group_free),
	    cmocka_unit_test(test_evacuate),
	    cmocka_unit_test(test_evacuate_no_space),
	    cmocka_unit_test(test_group),
	    cmocka_unit_test(test_group_region),
	    cmocka_unit_test(test_undo_fit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
