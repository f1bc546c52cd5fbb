/* Unit tests: plan arithmetic (normalize, predict, undo plans), the
 * apply refusing a changed file, an undo's file check, and closing an
 * interrupted transaction. */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "txn.h"
#include "txn_check.h"
#include "txn_recover.h"
#include "txn_undo.h"

#define K 4096u

/* A step that fails for lack of room says which kind: the block quota
 * (EDQUOT) like ENOSPC, and a volume gone read-only (EROFS). */
static void test_error_words(void **state)
{
	(void)state;
	assert_non_null(
	    strstr(rl_strerror(-EDQUOT), "disk quota exceeded (EDQUOT"));
	assert_non_null(
	    strstr(rl_strerror(-EROFS), "read-only filesystem (EROFS"));
	assert_non_null(strstr(rl_strerror(EROFS), "EROFS"));
}

static void test_normalize(void **state)
{
	struct rl_extent p[] = {
	    {2 * K, 102 * K, K, 0x800}, /* out of order, merges with next */
	    {0, 100 * K, 2 * K, 0},
	    {3 * K, 500 * K, K, 0}, /* logically adjacent, not physically */
	    {5 * K, 502 * K, K, 0}, /* physically adjacent, logical hole */
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
	struct rl_extent before[] = {{0, 10 * K, 2 * K, 0},
	                             {4 * K, 50 * K, 2 * K, 0}};
	struct rl_extent target[] = {{0, 1000 * K, 2 * K, 0},
	                             {4 * K, 1004 * K, 2 * K, 0}};
	struct rl_extent *out;
	size_t n;

	(void)state;
	assert_int_equal(tx_predict(before, 2, target, 2, &out, &n), 0);
	assert_int_equal(n, 2); /* the hole stays a hole */
	assert_int_equal(out[0].physical, 1000 * K);
	assert_int_equal(out[1].logical, 4 * K);
	assert_int_equal(out[1].physical, 1004 * K);
	free(out);

	/* a target covering only part: the rest stays */
	struct rl_extent part[] = {{K, 2000 * K, K, 0}};
	assert_int_equal(tx_predict(before, 2, part, 1, &out, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(out[0].physical, 10 * K);
	assert_int_equal(out[0].length, K);
	assert_int_equal(out[1].physical, 2000 * K);
	assert_int_equal(out[2].physical, 50 * K);
	free(out);
}

/* A step whose targets are where its data is changes nothing. */
static void test_in_place(void **state)
{
	struct rl_extent before[] = {{0, 10 * K, 2 * K, 0},
	                             {4 * K, 50 * K, 2 * K, 0}};
	struct rl_extent there[] = {{0, 10 * K, 2 * K, 0},
	                            {4 * K, 50 * K, 2 * K, 0}};
	struct rl_extent away[] = {{0, 1000 * K, 6 * K, 0}};
	struct tx_step st = {.range.before = before,
	                     .range.nbefore = 2,
	                     .range.target = there,
	                     .range.ntarget = 2};

	(void)state;
	assert_int_equal(tx_step_in_place(&st), 1);
	st.range.target = away;
	st.range.ntarget = 1;
	assert_int_equal(tx_step_in_place(&st), 0);
}

static void test_equal(void **state)
{
	struct rl_extent a[] = {{0, K, K, 0}}, b[] = {{0, K, K, 1}},
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
	struct rl_extent b0[] = {{0, 10 * K, 2 * K, 0},
	                         {2 * K, 30 * K, 2 * K, 0}};
	struct rl_extent a0[] = {{0, 800 * K, 4 * K, 0}};
	struct rl_extent b1[] = {{0, 60 * K, 2 * K, 0}};
	struct rl_extent a1[] = {{0, 60 * K, K, 0}, {K, 900 * K, K, 0}};
	struct jr_step steps[3] = {
	    {.index = 0,
	     .state = JR_STEP_DONE,
	     .after = a0,
	     .nafter = 1,
	     .range = {.path = (char *)"/m/f",
	               .ino = 11,
	               .gen = 5,
	               .offset = 0,
	               .length = 4 * K,
	               .before = b0,
	               .nbefore = 2}},
	    {.index = 1,
	     .state = JR_STEP_FAILED,
	     .after = a1,
	     .nafter = 2,
	     .range = {.path = (char *)"/m/g",
	               .ino = 12,
	               .offset = 0,
	               .length = 2 * K,
	               .before = b1,
	               .nbefore = 1}},
	    {.index = 2,
	     .state = JR_STEP_FAILED,
	     .range =
	         {.path = (char *)"/m/h", .ino = 13, .offset = 0, .length = K}},
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
	assert_string_equal(p.steps[0].range.path, "/m/g");
	assert_int_equal(p.steps[0].range.ntarget,
	                 1); /* only the moved block */
	assert_int_equal(p.steps[0].range.target[0].logical, K);
	assert_int_equal(p.steps[0].range.target[0].physical, 61 * K);
	assert_int_equal(p.steps[0].bytes, K);
	assert_false(p.steps[0].gen_known);
	assert_string_equal(p.steps[1].range.path, "/m/f");
	assert_int_equal(p.steps[1].range.ino, 11);
	assert_true(p.steps[1].gen_known);
	assert_int_equal(p.steps[1].range.ntarget, 2);
	assert_int_equal(p.steps[1].range.target[1].physical, 30 * K);
	assert_int_equal(p.steps[1].range.nbefore, 1);
	assert_int_equal(p.steps[1].range.before[0].physical, 800 * K);
	assert_int_equal(p.total, 5 * K);
	{
		/* the predicted result of the undo is the original layout */
		struct rl_extent *out;
		size_t n;
		assert_int_equal(tx_predict(p.steps[1].range.before,
		                            p.steps[1].range.nbefore,
		                            p.steps[1].range.target,
		                            p.steps[1].range.ntarget, &out, &n),
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

/* An undo of a transaction that moved one file twice (out of the way,
 * then to its place: journal steps 0 and 2 on f) checks f now against
 * where the last step left it, and where the undo's later step expects
 * f only for the part no earlier undo step moves. */
/* An undo that failed midway (g moved back, f part way): the next undo
 * plan leaves g out and starts f where it stands; once that undo is
 * undone (redone), the whole plan again. */
static void test_undo_rest(void **state)
{
	struct rl_extent fb[] = {{0, 100 * K, 4 * K, 0}};
	struct rl_extent fa[] = {{0, 500 * K, 4 * K, 0}};
	struct rl_extent gb[] = {{0, 200 * K, 2 * K, 0}};
	struct rl_extent ga[] = {{0, 600 * K, 2 * K, 0}};
	struct rl_extent fpart[] = {{0, 100 * K, K, 0}, {K, 501 * K, 3 * K, 0}};
	struct jr_step ts[2] = {
	    {.index = 0,
	     .state = JR_STEP_DONE,
	     .after = fa,
	     .nafter = 1,
	     .range = {.path = (char *)"/m/f",
	               .ino = 11,
	               .length = 4 * K,
	               .before = fb,
	               .nbefore = 1}},
	    {.index = 1,
	     .state = JR_STEP_DONE,
	     .after = ga,
	     .nafter = 1,
	     .range = {.path = (char *)"/m/g",
	               .ino = 12,
	               .length = 2 * K,
	               .before = gb,
	               .nbefore = 1}},
	};
	/* the undo: g back (done), f part way (failed) */
	struct jr_step us[2] = {
	    {.index = 0,
	     .state = JR_STEP_DONE,
	     .after = gb,
	     .nafter = 1,
	     .range = {.path = (char *)"/m/g",
	               .ino = 12,
	               .length = 2 * K,
	               .before = ga,
	               .nbefore = 1}},
	    {.index = 1,
	     .state = JR_STEP_FAILED,
	     .after = fpart,
	     .nafter = 2,
	     .range = {.path = (char *)"/m/f",
	               .ino = 11,
	               .length = 4 * K,
	               .before = fa,
	               .nbefore = 1}},
	};
	struct jr_txn t[2] = {
	    {.id = 3, .status = JR_ST_APPLIED, .steps = ts, .nsteps = 2},
	    {.id = 4,
	     .status = JR_ST_FAILED,
	     .undo_of = 3,
	     .steps = us,
	     .nsteps = 2},
	};
	struct jr_journal j = {.txns = t, .ntxns = 2};
	struct tx_plan p;

	(void)state;
	tx_plan_init(&p);
	assert_int_equal(tx_plan_undo_rest(&p, &j, &t[0]), 0);
	assert_int_equal(p.nsteps, 1);
	assert_string_equal(p.steps[0].range.path, "/m/f");
	assert_true(tx_pieces_equal(p.steps[0].range.before,
	                            p.steps[0].range.nbefore, fpart, 2));
	assert_int_equal(p.steps[0].range.ntarget, 1);
	assert_int_equal(p.steps[0].range.target[0].logical, K);
	assert_int_equal(p.steps[0].range.target[0].physical, 101 * K);
	assert_int_equal(p.steps[0].range.target[0].length, 3 * K);
	assert_int_equal(p.total, 3 * K);
	tx_plan_free(&p);
	/* redone since: it moved nothing back */
	t[1].undone = true;
	assert_int_equal(tx_plan_undo_rest(&p, &j, &t[0]), 0);
	assert_int_equal(p.nsteps, 2);
	tx_plan_free(&p);
}

static void test_undo_multistep(void **state)
{
	struct rl_extent b0[] = {{0, 100 * K, 4 * K, 0}};
	struct rl_extent a0[] = {{0, 500 * K, 4 * K, 0}}; /* scratch */
	struct rl_extent b1[] = {{0, 102 * K, K, 0}};
	struct rl_extent a1[] = {{0, 700 * K, K, 0}};
	struct rl_extent b2[] = {{0, 500 * K, 2 * K, 0}};
	struct rl_extent a2[] = {{0, 101 * K, 2 * K, 0}}; /* overlaps b0 */
	struct jr_step steps[3] = {
	    {.index = 0,
	     .state = JR_STEP_DONE,
	     .after = a0,
	     .nafter = 1,
	     .range = {.path = (char *)"/m/f",
	               .ino = 11,
	               .offset = 0,
	               .length = 4 * K,
	               .before = b0,
	               .nbefore = 1}},
	    {.index = 1,
	     .state = JR_STEP_DONE,
	     .after = a1,
	     .nafter = 1,
	     .range = {.path = (char *)"/m/g",
	               .ino = 12,
	               .offset = 0,
	               .length = K,
	               .before = b1,
	               .nbefore = 1}},
	    {.index = 2,
	     .state = JR_STEP_DONE,
	     .after = a2,
	     .nafter = 1,
	     .range = {.path = (char *)"/m/f",
	               .ino = 11,
	               .offset = 0,
	               .length = 2 * K,
	               .before = b2,
	               .nbefore = 1}},
	};
	struct jr_txn t = {.id = 3, .steps = steps, .nsteps = 3};
	struct rl_extent now[] = {{0, 101 * K, 2 * K, 0},
	                          {2 * K, 502 * K, 2 * K, 0}};
	struct rl_extent *parts;
	struct tx_plan p;
	size_t n;

	(void)state;
	tx_plan_init(&p);
	assert_int_equal(tx_plan_undo(&p, &t), 0);
	assert_int_equal(p.nsteps, 3);
	/* the first undo step (of journal step 2): all of its range */
	assert_int_equal(tx_step_untouched(&p, 0, &parts, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(parts[0].logical, 0);
	assert_int_equal(parts[0].length, 2 * K);
	free(parts);
	/* g: another file */
	assert_int_equal(tx_step_untouched(&p, 1, &parts, &n), 0);
	assert_int_equal(n, 1);
	free(parts);
	/* journal step 0: [0,2K) is moved by the undo's first step first */
	assert_string_equal(p.steps[2].range.path, "/m/f");
	assert_int_equal(tx_step_untouched(&p, 2, &parts, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(parts[0].logical, 2 * K);
	assert_int_equal(parts[0].length, 2 * K);
	/* f as the transaction left it: equal there, not over the range */
	assert_false(tx_pieces_equal(now, 2, p.steps[2].range.before,
	                             p.steps[2].range.nbefore));
	assert_int_equal(tx_pieces_equal_in(now, 2, p.steps[2].range.before,
	                                    p.steps[2].range.nbefore,
	                                    parts[0].logical, parts[0].length),
	                 1);
	assert_int_equal(tx_pieces_equal_in(now, 2, p.steps[0].range.before,
	                                    p.steps[0].range.nbefore, 0, 2 * K),
	                 1);
	/* its second half moved since: not equal */
	now[1].physical = 900 * K;
	assert_int_equal(tx_pieces_equal_in(now, 2, p.steps[2].range.before,
	                                    p.steps[2].range.nbefore,
	                                    parts[0].logical, parts[0].length),
	                 0);
	free(parts);
	tx_plan_free(&p);
}

/* The step_done callback: what it saw. */
struct step_seen {
	int calls;
	struct tx_progress last;
};

static void step_seen_cb(const struct tx_progress *p, void *arg)
{
	struct step_seen *ss = arg;

	ss->calls++;
	ss->last = *p;
}

static int plain_open(void *arg, const char *path, int flags)
{
	int fd;

	(void)arg;
	fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static void remove_dir(const char *dir)
{
	char cmd[400];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* A file of 8 KiB in a new directory of TMPDIR (dir, path) and a plan to
 * move it; the test is skipped when this filesystem gives no FIEMAP. */
static void file_and_plan(char *dir, size_t dlen, char *path, size_t plen,
                          struct tx_plan *p)
{
	char buf[8192];
	int fd, r;

	snprintf(dir, dlen, "%s/rl-txtest.XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(path, plen, "%s/f", dir);
	memset(buf, 'x', sizeof(buf));
	fd = open(path, O_RDWR | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, sizeof(buf)), sizeof(buf));
	assert_int_equal(fsync(fd), 0);
	tx_plan_init(p);
	p->command = strdup("move f");
	r = tx_plan_move(p, path, fd, 0, sizeof(buf), 1u << 30);
	close(fd);
	if (r < 0 || p->steps[0].range.nbefore == 0) {
		tx_plan_free(p);
		remove_dir(dir);
		skip(); /* no FIEMAP here */
	}
}

struct skip_seen {
	int calls, err;
	size_t step;
};

static void skip_seen_cb(void *arg, size_t step, int err)
{
	struct skip_seen *k = arg;

	k->calls++;
	k->step = step;
	k->err = err;
}

/* tx_apply refuses a file that changed after planning (another inode at
 * the path, or its blocks moved), journals the failed step and leaves the
 * file alone. Runs on TMPDIR's filesystem: the checks come before any
 * allocation. */
static void test_apply_changed(void **state)
{
	char dir[256], path[300], cmd[400];
	struct jr_journal *j;
	struct tx_plan p;
	struct tx_opts o;
	struct tx_result res;
	char buf[8192], msg[256];
	int fd;

	(void)state;
	file_and_plan(dir, sizeof(dir), path, sizeof(path), &p);
	memset(buf, 'x', sizeof(buf));
	snprintf(cmd, sizeof(cmd), "%s/j", dir);
	assert_int_equal(jr_open(cmd, "test-uuid", JR_O_LOCK | JR_O_CREATE, &j,
	                         NULL, msg, sizeof(msg)),
	                 0);
	memset(&o, 0, sizeof(o));
	o.normal_io = true;
	struct step_seen seen = {0};
	o.step_done = step_seen_cb;
	o.step_arg = &seen;

	/* blocks moved: punch the first block */
	fd = open(path, O_RDWR);
	assert_int_equal(
	    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096),
	    0);
	close(fd);
	assert_int_equal(tx_apply(&p, j, &o, &res), -ESTALE);
	assert_int_equal(res.status, JR_ST_FAILED);
	assert_non_null(strstr(res.message, "changed during planning"));
	assert_non_null(strstr(res.message, "step 1 of 1"));
	/* the step ran (past PLANNED): its end is reported, failed */
	assert_int_equal(seen.calls, 1);
	assert_true(seen.last.step_end);
	assert_int_equal(seen.last.step_err, -ESTALE);
	assert_int_equal(seen.last.step, 0);
	assert_int_equal(seen.last.nsteps, 1);
	assert_int_equal(seen.last.steps_done, 0);
	assert_string_equal(seen.last.path, path);

	/* with skip_missed: skipped (journaled as failed), the transaction
	 * goes on and ends applied; the caller hears of it */
	struct skip_seen sk = {0};
	o.skip_missed = true;
	o.skipped = skip_seen_cb;
	o.skip_arg = &sk;
	assert_int_equal(tx_apply(&p, j, &o, &res), 0);
	assert_int_equal(res.status, JR_ST_APPLIED);
	assert_int_equal(res.skipped, 1);
	assert_int_equal(res.steps_done, 0);
	assert_non_null(strstr(res.message, "1 of 1 steps skipped"));
	assert_non_null(strstr(res.message, "changed during planning"));
	assert_int_equal(sk.calls, 1);
	assert_int_equal(sk.step, 0);
	assert_int_equal(sk.err, -ESTALE);
	o.skip_missed = false;

	/* another file at the path */
	assert_int_equal(unlink(path), 0);
	fd = open(path, O_RDWR | O_CREAT, 0600);
	assert_int_equal(write(fd, buf, sizeof(buf)), sizeof(buf));
	close(fd);
	assert_int_equal(tx_apply(&p, j, &o, &res), -ESTALE);
	assert_non_null(strstr(res.message, "another file"));

	/* all three journaled: begin, planned, failed, end */
	jr_close(j);
	assert_int_equal(
	    jr_open(cmd, "test-uuid", 0, &j, NULL, msg, sizeof(msg)), 0);
	assert_int_equal(j->ntxns, 3);
	assert_int_equal(j->txns[1].status, JR_ST_APPLIED);
	assert_int_equal(j->txns[1].steps[0].state, JR_STEP_FAILED);
	assert_int_equal(j->txns[1].steps[0].err, ESTALE);
	assert_int_equal(j->txns[2].status, JR_ST_FAILED);
	assert_int_equal(j->txns[2].nsteps, 1);
	assert_int_equal(j->txns[2].steps[0].state, JR_STEP_FAILED);
	assert_int_equal(j->txns[2].steps[0].err, ESTALE);
	assert_int_equal(j->txns[2].steps[0].nafter, 0);
	jr_close(j);
	tx_plan_free(&p);
	remove_dir(dir);
}

/* An undo plan's files as it expects them: the same file, its blocks
 * where the transaction left them; else which step and why. */
static void test_check_undo_files(void **state)
{
	char dir[256], path[300];
	struct tx_plan p;
	struct tx_undo_check u;
	int fd;

	(void)state;
	file_and_plan(dir, sizeof(dir), path, sizeof(path), &p);
	/* as an undo: the step's "before" is where the file is now */
	assert_int_equal(tx_check_undo_files(&p, plain_open, NULL, &u), 0);
	assert_int_equal(u.kind, TX_UNDO_OK);

	fd = open(path, O_RDWR);
	assert_int_equal(
	    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096),
	    0);
	close(fd);
	assert_int_equal(tx_check_undo_files(&p, plain_open, NULL, &u), 1);
	assert_int_equal(u.kind, TX_UNDO_CHANGED);
	assert_int_equal(u.step, 0);

	assert_int_equal(unlink(path), 0);
	fd = open(path, O_RDWR | O_CREAT, 0600);
	close(fd);
	assert_int_equal(tx_check_undo_files(&p, plain_open, NULL, &u), 1);
	assert_int_equal(u.kind, TX_UNDO_REPLACED);

	assert_int_equal(unlink(path), 0);
	assert_int_equal(tx_check_undo_files(&p, plain_open, NULL, &u), 1);
	assert_int_equal(u.kind, TX_UNDO_CANNOT_OPEN);
	assert_int_equal(u.err, -ENOENT);
	tx_plan_free(&p);
	remove_dir(dir);
}

/* A transaction found open (its process died): each step in flight is
 * looked at and recorded as failed, the transaction ends interrupted;
 * what was found comes back as data. */
static void test_recover(void **state)
{
	char dir[256], path[300], jdir[300], msg[256];
	struct tx_plan p;
	struct jr_journal *j;
	struct jr_step js;
	struct tx_recovery r;
	const struct jr_txn *t;
	uint64_t id;

	(void)state;
	file_and_plan(dir, sizeof(dir), path, sizeof(path), &p);
	snprintf(jdir, sizeof(jdir), "%s/j", dir);
	assert_int_equal(jr_open(jdir, "test-uuid", JR_O_LOCK | JR_O_CREATE, &j,
	                         NULL, msg, sizeof(msg)),
	                 0);
	assert_int_equal(jr_begin(j, "move f", 0, 2, &id), 0);
	memset(&js, 0, sizeof(js));
	js.range.path = p.steps[0].range.path;
	js.range.ino = p.steps[0].range.ino;
	js.range.offset = p.steps[0].range.offset;
	js.range.length = p.steps[0].range.length;
	js.range.target = p.steps[0].range.target;
	js.range.ntarget = p.steps[0].range.ntarget;
	js.range.before = p.steps[0].range.before;
	js.range.nbefore = p.steps[0].range.nbefore;
	assert_int_equal(jr_step_planned(j, id, &js), 0);
	js.index = 1;
	js.range.path = "/nonexistent/relayout-test-file";
	assert_int_equal(jr_step_planned(j, id, &js), 0);
	t = jr_open_txn(j);
	assert_non_null(t);

	assert_int_equal(tx_recover(j, t, plain_open, NULL, &r), 0);
	assert_int_equal(r.id, id);
	assert_string_equal(r.command, "move f");
	assert_int_equal(r.done, 0);
	assert_int_equal(r.nplanned, 2);
	assert_int_equal(r.nsteps, 2);
	assert_int_equal(r.steps[0].index, 0);
	assert_string_equal(r.steps[0].path, path);
	assert_int_equal(r.steps[0].now, TX_NOW_NOT_MOVED);
	assert_int_equal(r.steps[1].index, 1);
	assert_int_equal(r.steps[1].now, TX_NOW_CANNOT_OPEN);
	tx_recovery_free(&r);

	t = jr_find(j, id);
	assert_non_null(t);
	assert_int_equal(t->status, JR_ST_INTERRUPTED);
	assert_null(jr_open_txn(j));
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(t->steps[i].state, JR_STEP_FAILED);
		assert_int_equal(t->steps[i].err, EINTR);
		assert_int_equal(t->steps[i].nafter, 0);
	}
	jr_close(j);
	tx_plan_free(&p);
	remove_dir(dir);
}

/* The rule tx_check_free_at implements, step by step over the earlier
 * steps as documented: the last earlier step whose target (first) or old
 * place holds pos decides; then an earlier step's target starting inside
 * the free range ends it. */
static uint64_t free_at_ref(const struct tx_plan *p, size_t i, uint64_t pos,
                            uint64_t free_end, size_t *taker)
{
	uint64_t end = free_end > pos ? free_end : pos;

	*taker = SIZE_MAX;
	for (size_t j = 0; j < i; j++) {
		const struct jr_range *r = &p->steps[j].range;
		bool hit = false;

		for (size_t k = 0; k < r->ntarget && !hit; k++)
			if (r->target[k].physical <= pos &&
			    pos < r->target[k].physical + r->target[k].length) {
				end = pos;
				*taker = j;
				hit = true;
			}
		for (size_t k = 0; k < r->nbefore && !hit; k++)
			if (r->before[k].physical <= pos &&
			    pos < r->before[k].physical + r->before[k].length) {
				end =
				    r->before[k].physical + r->before[k].length;
				*taker = SIZE_MAX;
				hit = true;
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

/* tx_check_free_at (an index of the plan's pieces) against the rule, on
 * random plans whose steps move ranges into and out of each other's
 * places (targets and old places overlapping, several pieces a step). */
static void test_check_free_at(void **state)
{
	unsigned seed = 12345;

	(void)state;
	for (int round = 0; round < 60; round++) {
		struct tx_plan p;
		struct tx_check_index *ix;
		size_t nsteps = 1 + rand_r(&seed) % 40;

		tx_plan_init(&p);
		for (size_t j = 0; j < nsteps; j++) {
			struct tx_step st = {0};
			size_t nt = rand_r(&seed) % 4,
			       nb = 1 + rand_r(&seed) % 3;

			st.range.path = strdup("/m/f");
			st.range.target =
			    calloc(nt + 1, sizeof(struct rl_extent));
			st.range.before = calloc(nb, sizeof(struct rl_extent));
			assert_non_null(st.range.path);
			assert_non_null(st.range.target);
			assert_non_null(st.range.before);
			for (size_t k = 0; k < nt; k++)
				st.range.target[k] = (struct rl_extent){
				    .physical = (rand_r(&seed) % 200) * 4096,
				    .length = (rand_r(&seed) % 12) * 4096};
			for (size_t k = 0; k < nb; k++)
				st.range.before[k] = (struct rl_extent){
				    .physical = (rand_r(&seed) % 200) * 4096,
				    .length = (1 + rand_r(&seed) % 12) * 4096};
			st.range.ntarget = nt;
			st.range.nbefore = nb;
			assert_int_equal(tx_plan_add(&p, &st), 0);
		}
		assert_int_equal(tx_check_index_build(&p, &ix), 0);
		for (int q = 0; q < 400; q++) {
			size_t i = rand_r(&seed) % (nsteps + 1), t1, t2;
			uint64_t pos = (rand_r(&seed) % 220) * 4096 +
			               (rand_r(&seed) % 2 ? 0 : 512);
			uint64_t fe = rand_r(&seed) % 2
			                  ? 0
			                  : pos + (rand_r(&seed) % 30) * 4096;
			uint64_t want = free_at_ref(&p, i, pos, fe, &t1);
			uint64_t got = tx_check_free_at(ix, i, pos, fe, &t2);

			assert_int_equal(got, want);
			assert_int_equal(t2, t1);
		}
		tx_check_index_free(ix);
		tx_plan_free(&p);
	}
}

/* A step with one target piece and one old place (bytes). */
static void add_step(struct tx_plan *p, uint64_t tgt, uint64_t before,
                     uint64_t len)
{
	struct tx_step st = {0};

	st.range.path = strdup("/m/f");
	st.range.target = calloc(1, sizeof(struct rl_extent));
	st.range.before = calloc(1, sizeof(struct rl_extent));
	assert_non_null(st.range.path);
	assert_non_null(st.range.target);
	assert_non_null(st.range.before);
	st.range.target[0] = (struct rl_extent){.physical = tgt, .length = len};
	st.range.before[0] =
	    (struct rl_extent){.physical = before, .length = len};
	st.range.ntarget = st.range.nbefore = 1;
	st.range.length = len;
	st.bytes = len;
	assert_int_equal(tx_plan_add(p, &st), 0);
}

/* Steps whose targets were taken since the plan are left out, and with
 * them the later steps that move into what those would have freed (a
 * compaction's window), transitively; the others keep their order. */
static void test_plan_dependents(void **state)
{
	struct tx_plan p;
	bool busy[6] = {false, true, false, false, false, false}, drop[6];

	(void)state;
	tx_plan_init(&p);
	add_step(&p, 0, 100 << 12, 4 << 12);         /* 0: free space */
	add_step(&p, 8 << 12, 40 << 12, 4 << 12);    /* 1: taken meanwhile */
	add_step(&p, 42 << 12, 60 << 12, 4 << 12);   /* 2: into 1's old place */
	add_step(&p, 61 << 12, 80 << 12, 2 << 12);   /* 3: into 2's */
	add_step(&p, 20 << 12, 120 << 12, 4 << 12);  /* 4: free space */
	add_step(&p, 100 << 12, 140 << 12, 4 << 12); /* 5: into 0's */
	assert_int_equal(tx_plan_dependents(&p, busy, drop), 3);
	assert_false(drop[0]);
	assert_true(drop[1] && drop[2] && drop[3]);
	assert_false(drop[4]);
	assert_false(drop[5]);
	tx_plan_drop(&p, drop);
	assert_int_equal(p.nsteps, 3);
	assert_int_equal(p.steps[0].range.target[0].physical, 0);
	assert_int_equal(p.steps[1].range.target[0].physical, 20 << 12);
	assert_int_equal(p.steps[2].range.target[0].physical, 100 << 12);
	assert_int_equal(p.total, 12 << 12);
	tx_plan_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check_free_at),
	    cmocka_unit_test(test_plan_dependents),
	    cmocka_unit_test(test_error_words),
	    cmocka_unit_test(test_normalize),
	    cmocka_unit_test(test_predict),
	    cmocka_unit_test(test_in_place),
	    cmocka_unit_test(test_equal),
	    cmocka_unit_test(test_undo_plan),
	    cmocka_unit_test(test_undo_multistep),
	    cmocka_unit_test(test_undo_rest),
	    cmocka_unit_test(test_apply_changed),
	    cmocka_unit_test(test_check_undo_files),
	    cmocka_unit_test(test_recover),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
