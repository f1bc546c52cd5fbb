/* Unit tests: plan arithmetic (normalize, predict, undo plans). */
#include "config.h"
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "txn.h"

#define K 4096u

static void test_normalize(void **state)
{
	struct jr_piece p[] = {
	    {2 * K, 102 * K, K, 0x800}, /* out of order, merges with next */
	    {0, 100 * K, 2 * K, 0},
	    {3 * K, 500 * K, K, 0},     /* logically adjacent, not physically */
	    {5 * K, 502 * K, K, 0},     /* physically adjacent, logical hole */
	};
	size_t n = tx_pieces_normalize(p, 4);

	(void)state;
	assert_int_equal(n, 3);
	assert_int_equal(p[0].logical, 0);
	assert_int_equal(p[0].physical, 100 * K);
	assert_int_equal(p[0].length, 3 * K);
	assert_int_equal(p[0].flags, 0);
	assert_int_equal(p[1].physical, 500 * K);
	assert_int_equal(p[2].logical, 5 * K);
	assert_int_equal(tx_pieces_bytes(p, n), 5 * K);
	assert_int_equal(tx_pieces_normalize(p, 0), 0);
}

static void test_predict(void **state)
{
	/* data at [0,2K) and [4K,6K) with a hole; target: one run at 1000 */
	struct jr_piece before[] = {{0, 10 * K, 2 * K, 0},
	                            {4 * K, 50 * K, 2 * K, 0}};
	struct jr_piece target[] = {{0, 1000 * K, 2 * K, 0},
	                            {4 * K, 1004 * K, 2 * K, 0}};
	struct jr_piece *out;
	size_t n;

	(void)state;
	assert_int_equal(tx_predict(before, 2, target, 2, &out, &n), 0);
	assert_int_equal(n, 2); /* the hole stays a hole */
	assert_int_equal(out[0].physical, 1000 * K);
	assert_int_equal(out[1].logical, 4 * K);
	assert_int_equal(out[1].physical, 1004 * K);
	free(out);

	/* a target covering only part: the rest stays */
	struct jr_piece part[] = {{K, 2000 * K, K, 0}};
	assert_int_equal(tx_predict(before, 2, part, 1, &out, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(out[0].physical, 10 * K);
	assert_int_equal(out[0].length, K);
	assert_int_equal(out[1].physical, 2000 * K);
	assert_int_equal(out[2].physical, 50 * K);
	free(out);
}

static void test_equal(void **state)
{
	struct jr_piece a[] = {{0, K, K, 0}}, b[] = {{0, K, K, 1}},
	                c[] = {{0, 2 * K, K, 0}};
	(void)state;
	assert_true(tx_pieces_equal(a, 1, b, 1)); /* flags ignored */
	assert_false(tx_pieces_equal(a, 1, c, 1));
	assert_false(tx_pieces_equal(a, 1, c, 0));
}

static void test_undo_plan(void **state)
{
	/* Step 0 moved [0,4K) from two places onto one run at 800;
	 * step 1 moved [0,2K) of g but only the second block changed. */
	struct jr_piece b0[] = {{0, 10 * K, 2 * K, 0}, {2 * K, 30 * K, 2 * K, 0}};
	struct jr_piece a0[] = {{0, 800 * K, 4 * K, 0}};
	struct jr_piece b1[] = {{0, 60 * K, 2 * K, 0}};
	struct jr_piece a1[] = {{0, 60 * K, K, 0}, {K, 900 * K, K, 0}};
	struct jr_step steps[3] = {
	    {.index = 0, .state = JR_STEP_DONE, .path = (char *)"/m/f",
	     .ino = 11, .gen = 5, .offset = 0, .length = 4 * K,
	     .before = b0, .nbefore = 2, .after = a0, .nafter = 1},
	    {.index = 1, .state = JR_STEP_FAILED, .path = (char *)"/m/g",
	     .ino = 12, .offset = 0, .length = 2 * K, .before = b1,
	     .nbefore = 1, .after = a1, .nafter = 2},
	    {.index = 2, .state = JR_STEP_FAILED, .path = (char *)"/m/h",
	     .ino = 13, .offset = 0, .length = K},
	};
	struct jr_txn t = {.id = 7, .steps = steps, .nsteps = 3};
	struct tx_plan p;

	(void)state;
	tx_plan_init(&p);
	assert_int_equal(tx_plan_undo(&p, &t), 0);
	assert_int_equal(p.undo_of, 7);
	assert_string_equal(p.command, "undo 7");
	assert_int_equal(p.nsteps, 2);
	/* newest first */
	assert_string_equal(p.steps[0].path, "/m/g");
	assert_int_equal(p.steps[0].ntarget, 1); /* only the moved block */
	assert_int_equal(p.steps[0].target[0].logical, K);
	assert_int_equal(p.steps[0].target[0].physical, 61 * K);
	assert_int_equal(p.steps[0].bytes, K);
	assert_false(p.steps[0].gen_known);
	assert_string_equal(p.steps[1].path, "/m/f");
	assert_int_equal(p.steps[1].ino, 11);
	assert_true(p.steps[1].gen_known);
	assert_int_equal(p.steps[1].ntarget, 2);
	assert_int_equal(p.steps[1].target[1].physical, 30 * K);
	assert_int_equal(p.steps[1].nbefore, 1);
	assert_int_equal(p.steps[1].before[0].physical, 800 * K);
	assert_int_equal(p.total, 5 * K);
	{
		/* the predicted result of the undo is the original layout */
		struct jr_piece *out;
		size_t n;
		assert_int_equal(tx_predict(p.steps[1].before, p.steps[1].nbefore,
		                            p.steps[1].target, p.steps[1].ntarget,
		                            &out, &n),
		                 0);
		assert_true(tx_pieces_equal(out, n, b0, 2));
		free(out);
	}
	tx_plan_free(&p);

	/* nothing moved: nothing to undo */
	t.nsteps = 0;
	tx_plan_init(&p);
	assert_int_equal(tx_plan_undo(&p, &t), -EBADMSG);
	tx_plan_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_normalize),
	    cmocka_unit_test(test_predict),
	    cmocka_unit_test(test_equal),
	    cmocka_unit_test(test_undo_plan),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
