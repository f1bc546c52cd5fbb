/* Unit tests: the undo journal (format, damage detection, lock, directory
 * safety). Everything runs in a private temporary directory. */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include "journal.h"

#define UUID "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"

static char jdir[300];
#define TMPDIR_PREFIX        "rl-jtest"
#define TMPDIR_AFTER_SETUP() snprintf(jdir, sizeof(jdir), "%s/j", base)
#include "tmpdir_fixture.h"

static struct jr_journal *open_rw(void)
{
	struct jr_journal *j;
	char msg[256];
	int r = jr_open(jdir, UUID, JR_O_LOCK | JR_O_CREATE, &j, NULL, msg,
	                sizeof(msg));
	if (r < 0)
		fprintf(stderr, "jr_open: %d %s\n", r, msg);
	assert_int_equal(r, 0);
	return j;
}

static struct jr_journal *open_ro(void)
{
	struct jr_journal *j;
	char msg[256];
	assert_int_equal(jr_open(jdir, UUID, 0, &j, NULL, msg, sizeof(msg)), 0);
	return j;
}

/* One transaction with two steps: step 0 done, step 1 failed. Returns the
 * journal file's size before the END record. */
static void write_sample(struct jr_journal *j, uint64_t *id, bool end)
{
	struct rl_extent tgt = {0, 1 << 20, 8192, 0};
	struct rl_extent before[2] = {{0, 40960, 4096, 0},
	                              {4096, 409600, 4096, 0x800}};
	struct rl_extent after = {0, 1 << 20, 8192, 0};
	struct jr_step st = {.index = 0,
	                     .range.path = (char *)"dir/file a",
	                     .range.ino = 12,
	                     .range.gen = 0xdeadbeef,
	                     .range.offset = 0,
	                     .range.length = 8192,
	                     .range.target = &tgt,
	                     .range.ntarget = 1,
	                     .range.before = before,
	                     .range.nbefore = 2};

	assert_int_equal(jr_begin(j, "move 'dir/file a' --to 1M", 0, 2, id), 0);
	assert_int_equal(jr_step_planned(j, *id, &st), 0);
	assert_int_equal(jr_step_done(j, *id, 0, &after, 1, 8192), 0);
	st.index = 1;
	st.range.path = (char *)"b";
	st.unshare = true;
	/* step records of a batch: written, synced at once by jr_sync */
	jr_defer_sync(j, true);
	assert_int_equal(jr_step_planned(j, *id, &st), 0);
	assert_true(j->unsynced);
	assert_int_equal(jr_sync(j), 0);
	assert_false(j->unsynced);
	assert_int_equal(jr_step_failed(j, *id, 1, EBUSY, "target taken"), 0);
	assert_true(j->unsynced);
	jr_defer_sync(j, false);
	if (end) {
		assert_int_equal(jr_end(j, *id, JR_ST_FAILED, "step 2"), 0);
		assert_false(j->unsynced); /* END syncs what came before */
	}
}

static void check_sample(struct jr_txn *t)
{
	assert_non_null(t);
	assert_string_equal(t->command, "move 'dir/file a' --to 1M");
	assert_string_equal(t->uuid, UUID);
	assert_int_equal(t->nsteps, 2);
	assert_int_equal(t->bytes, 8192);
	assert_string_equal(t->steps[0].range.path, "dir/file a");
	assert_int_equal(t->steps[0].range.gen, 0xdeadbeef);
	assert_int_equal(t->steps[0].state, JR_STEP_DONE);
	assert_int_equal(t->steps[0].range.nbefore, 2);
	assert_int_equal(t->steps[0].range.before[1].physical, 409600);
	assert_int_equal(t->steps[0].range.before[1].flags, 0x800);
	assert_int_equal(t->steps[0].nafter, 1);
	assert_int_equal(t->steps[0].after[0].physical, 1 << 20);
	assert_false(t->steps[0].unshare);
	assert_true(t->steps[1].unshare);
	assert_int_equal(t->steps[1].state, JR_STEP_FAILED);
	assert_int_equal(t->steps[1].err, EBUSY);
	assert_string_equal(t->steps[1].message, "target taken");
}

static void test_crc(void **state)
{
	(void)state;
	assert_int_equal(jr_crc32c(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(jr_crc32c(0, "", 0), 0);
}

static void test_roundtrip(void **state)
{
	struct jr_journal *j = open_rw();
	uint64_t id, id2;
	struct stat st;
	char path[400];

	(void)state;
	write_sample(j, &id, true);
	assert_int_equal(id, 1);
	assert_int_equal(jr_begin(j, "undo 1", 1, 1, &id2), 0);
	assert_int_equal(id2, 2);
	assert_int_equal(jr_end(j, id2, JR_ST_APPLIED, NULL), 0);
	assert_true(jr_find(j, 1)->undone);
	jr_close(j);

	/* directory 0700, journal 0600 */
	assert_int_equal(stat(jdir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/%s.journal", jdir, UUID);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	j = open_ro();
	assert_false(j->corrupt);
	assert_false(j->tail_damaged);
	assert_int_equal(j->ntxns, 2);
	check_sample(jr_find(j, 1));
	assert_int_equal(jr_find(j, 1)->status, JR_ST_FAILED);
	assert_int_equal(jr_find(j, 2)->status, JR_ST_APPLIED);
	assert_int_equal(jr_find(j, 2)->undo_of, 1);
	assert_true(jr_find(j, 1)->undone);
	assert_null(jr_open_txn(j));
	jr_close(j);

	/* undo of the undo re-does */
	j = open_rw();
	assert_int_equal(jr_begin(j, "undo 2", 2, 1, &id), 0);
	assert_int_equal(jr_end(j, id, JR_ST_APPLIED, NULL), 0);
	assert_false(jr_find(j, 1)->undone);
	assert_true(jr_find(j, 2)->undone);
	jr_close(j);
}

/* jr_forget drops exactly the records of the transactions named: the
 * others read back whole (same steps, same undo state), the file is
 * smaller, appends go on after it; an open transaction, an unknown id
 * and a reader without the lock are refused, nothing changed. */
static void test_forget(void **state)
{
	struct jr_journal *j = open_rw(), *r;
	uint64_t id1, id2, id3, id4, freed = 0, ids[2];
	size_t size0;

	(void)state;
	write_sample(j, &id1, true);
	write_sample(j, &id2, true);
	assert_int_equal(jr_begin(j, "undo 2", id2, 1, &id3), 0);
	assert_int_equal(jr_end(j, id3, JR_ST_APPLIED, NULL), 0);
	assert_int_equal(jr_begin(j, "still running", 0, 1, &id4), 0);
	size0 = (size_t)j->file_size;
	ids[0] = id4;
	assert_int_equal(jr_forget(j, ids, 1, &freed), -EBUSY);
	ids[0] = 99;
	assert_int_equal(jr_forget(j, ids, 1, &freed), -ENOENT);
	assert_int_equal(j->file_size, size0);
	r = open_ro();
	ids[0] = id1;
	assert_int_equal(jr_forget(r, ids, 1, &freed), -EBADF);
	jr_close(r);
	assert_int_equal(jr_forget(j, ids, 1, &freed), 0);
	assert_true(freed > 0);
	assert_int_equal(j->file_size, size0 - freed);
	assert_int_equal(j->ntxns, 3);
	assert_null(jr_find(j, id1));
	check_sample(jr_find(j, id2));
	assert_true(jr_find(j, id2)->undone);
	assert_int_equal(jr_find(j, id4)->status, JR_ST_OPEN);
	/* appends go on in the new file */
	assert_int_equal(jr_end(j, id4, JR_ST_APPLIED, NULL), 0);
	jr_close(j);
	j = open_ro();
	assert_false(j->corrupt);
	assert_false(j->tail_damaged);
	assert_int_equal(j->ntxns, 3);
	assert_null(jr_find(j, id1));
	check_sample(jr_find(j, id2));
	assert_true(jr_find(j, id2)->undone);
	assert_int_equal(jr_find(j, id4)->status, JR_ST_APPLIED);
	jr_close(j);
	/* all of them: an empty journal, numbering from 1 again */
	j = open_rw();
	ids[0] = id2;
	ids[1] = id3;
	assert_int_equal(jr_forget(j, ids, 2, NULL), 0);
	ids[0] = id4;
	assert_int_equal(jr_forget(j, ids, 1, NULL), 0);
	assert_int_equal(j->ntxns, 0);
	assert_int_equal(j->file_size, JR_HEADER_SIZE);
	assert_int_equal(jr_begin(j, "again", 0, 0, &id1), 0);
	assert_int_equal(id1, 1);
	jr_close(j);
}

/* A step that ended part way (stopped between chunks, or found
 * interrupted) is journaled DONE with its extents and 0 bytes: the bytes
 * moved count what its extents show moved (what an undo moves back). */
static void test_partial_bytes(void **state)
{
	struct jr_journal *j = open_rw();
	struct rl_extent part[2] = {{0, 1 << 20, 4096, 0},
	                            {4096, 409600, 4096, 0}};
	struct rl_extent before[2] = {{0, 40960, 4096, 0},
	                              {4096, 409600, 4096, 0}};
	struct jr_step st = {.index = 2,
	                     .range.path = (char *)"b",
	                     .range.ino = 13,
	                     .range.offset = 0,
	                     .range.length = 8192,
	                     .range.target = part,
	                     .range.ntarget = 1,
	                     .range.before = before,
	                     .range.nbefore = 2};
	uint64_t id;

	(void)state;
	write_sample(j, &id, false); /* step 0: 8192 bytes done */
	assert_int_equal(jr_step_planned(j, id, &st), 0);
	assert_int_equal(jr_step_done(j, id, 2, part, 2, 0), 0);
	assert_int_equal(jr_step_failed(j, id, 2, EINTR, "stopped"), 0);
	assert_int_equal(jr_end(j, id, JR_ST_STOPPED, "stopped"), 0);
	assert_int_equal(jr_find(j, id)->bytes, 8192 + 4096);
	jr_close(j);
	j = open_ro();
	assert_int_equal(jr_find(j, id)->bytes, 8192 + 4096);
	jr_close(j);
}

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *b;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	b = malloc((size_t)n + 1);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return b;
}

static void test_truncated_tail(void **state)
{
	struct jr_journal *j = open_rw();
	uint64_t id;
	char path[400];
	unsigned char *buf;
	size_t len, before_end;

	(void)state;
	write_sample(j, &id, false);
	before_end = (size_t)j->good_end;
	assert_int_equal(jr_end(j, id, JR_ST_FAILED, "step 2"), 0);
	jr_close(j);
	snprintf(path, sizeof(path), "%s/%s.journal", jdir, UUID);
	buf = slurp(path, &len);

	/* Cut at every byte offset inside the last record. */
	for (size_t cut = before_end; cut < len; cut++) {
		struct jr_journal pj;
		memset(&pj, 0, sizeof(pj));
		assert_int_equal(jr_parse(&pj, buf, cut), 0);
		assert_false(pj.corrupt);
		assert_int_equal(pj.tail_damaged, cut != before_end);
		assert_int_equal(pj.good_end, before_end);
		assert_int_equal(pj.ntxns, 1);
		assert_int_equal(pj.txns[0].status, JR_ST_OPEN);
		check_sample(&pj.txns[0]);
		jr_txns_free(pj.txns, pj.ntxns);
	}
	/* Zero bytes appended (a crash after the size grew): tail damage. */
	{
		unsigned char *z = calloc(1, len + 100);
		struct jr_journal pj;
		memcpy(z, buf, len);
		memset(&pj, 0, sizeof(pj));
		assert_int_equal(jr_parse(&pj, z, len + 100), 0);
		assert_true(pj.tail_damaged);
		assert_false(pj.corrupt);
		assert_int_equal(pj.good_end, len);
		jr_txns_free(pj.txns, pj.ntxns);
		free(z);
	}

	/* On disk: reading reports the damage; the next append cuts it. */
	assert_int_equal(truncate(path, (off_t)(len - 3)), 0);
	j = open_rw();
	assert_true(j->tail_damaged);
	assert_false(j->corrupt);
	assert_non_null(jr_open_txn(j));
	assert_int_equal(jr_end(j, id, JR_ST_INTERRUPTED, "found"), 0);
	jr_close(j);
	j = open_ro();
	assert_false(j->tail_damaged);
	assert_false(j->corrupt);
	assert_int_equal(jr_find(j, id)->status, JR_ST_INTERRUPTED);
	jr_close(j);
	free(buf);
}

static void test_corrupt_middle(void **state)
{
	struct jr_journal *j = open_rw();
	uint64_t id;
	char path[400];
	unsigned char *buf;
	size_t len, last_start;

	(void)state;
	write_sample(j, &id, false);
	last_start = (size_t)j->good_end;
	assert_int_equal(jr_end(j, id, JR_ST_FAILED, NULL), 0);
	jr_close(j);
	snprintf(path, sizeof(path), "%s/%s.journal", jdir, UUID);
	buf = slurp(path, &len);

	/* Flip one bit in every byte before the last record: corrupt (or,
	 * in the file header, not a journal / another version). */
	for (size_t pos = 0; pos < last_start; pos++) {
		struct jr_journal pj;
		int r;
		memset(&pj, 0, sizeof(pj));
		buf[pos] ^= 0x10;
		r = jr_parse(&pj, buf, len);
		if (pos < JR_HEADER_SIZE)
			assert_true(r == -EBADMSG || r == -EPROTONOSUPPORT);
		else {
			assert_int_equal(r, 0);
			assert_true(pj.corrupt);
		}
		buf[pos] ^= 0x10;
		jr_txns_free(pj.txns, pj.ntxns);
	}

	/* On disk: corrupt journal refuses appends. */
	buf[JR_HEADER_SIZE + 20] ^= 0xff;
	{
		FILE *f = fopen(path, "wb");
		assert_int_equal(fwrite(buf, 1, len, f), len);
		fclose(f);
	}
	j = open_rw();
	assert_true(j->corrupt);
	assert_true(strstr(j->problem, "offset") != NULL);
	assert_int_equal(jr_begin(j, "x", 0, 1, &id), -EBADMSG);
	jr_close(j);
	free(buf);
}

static void test_wrong_version(void **state)
{
	struct jr_journal *j = open_rw();
	uint64_t id;
	char path[400], msg[256];
	unsigned char v = 7;
	int fd;

	(void)state;
	write_sample(j, &id, true);
	jr_close(j);
	snprintf(path, sizeof(path), "%s/%s.journal", jdir, UUID);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, &v, 1, 12), 1);
	close(fd);
	assert_int_equal(jr_open(jdir, UUID, 0, &j, NULL, msg, sizeof(msg)),
	                 -EPROTONOSUPPORT);
	assert_true(strstr(msg, "version 7") != NULL);
	/* not a journal at all */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "hello, world, not a journal", 27), 27);
	close(fd);
	assert_int_equal(jr_open(jdir, UUID, 0, &j, NULL, msg, sizeof(msg)),
	                 -EBADMSG);
}

static void test_lock(void **state)
{
	struct jr_journal *j = open_rw(), *j2;
	char msg[256];
	long holder = 0;
	int pfd[2], status;
	pid_t pid;

	(void)state;
	/* flock is per open file description: a second open in this process
	 * conflicts too, but test across processes as in real life. */
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	if (pid == 0) {
		int r = jr_open(jdir, UUID, JR_O_LOCK, &j2, &holder, msg,
		                sizeof(msg));
		char res = (r == -EWOULDBLOCK && holder == (long)getppid() &&
		            strstr(msg, "another relayout is working on this "
		                        "volume or on another one with the "
		                        "same UUID (pid"))
		               ? 'y'
		               : 'n';
		if (write(pfd[1], &res, 1) != 1)
			_exit(2);
		_exit(0);
	}
	{
		char res = 0;
		assert_int_equal(read(pfd[0], &res, 1), 1);
		assert_int_equal(res, 'y');
	}
	waitpid(pid, &status, 0);
	/* read-only access works while locked */
	assert_int_equal(jr_open(jdir, UUID, 0, &j2, NULL, msg, sizeof(msg)),
	                 0);
	jr_close(j2);
	jr_close(j);
	/* released on close */
	assert_int_equal(
	    jr_open(jdir, UUID, JR_O_LOCK, &j2, &holder, msg, sizeof(msg)), 0);
	jr_close(j2);
	close(pfd[0]);
	close(pfd[1]);
}

static void test_unsafe_dirs(void **state)
{
	char d[400], l[400], msg[256];
	struct jr_journal *j;
	int fd;

	(void)state;
	/* world-writable */
	snprintf(d, sizeof(d), "%s/ww", base);
	assert_int_equal(mkdir(d, 0700), 0);
	assert_int_equal(chmod(d, 0777), 0);
	assert_int_equal(jr_open(d, UUID, JR_O_CREATE | JR_O_LOCK, &j, NULL,
	                         msg, sizeof(msg)),
	                 -EPERM);
	assert_true(strstr(msg, "writable by everyone") != NULL);
	/* group-writable */
	assert_int_equal(chmod(d, 0770), 0);
	assert_int_equal(
	    jr_open(d, UUID, JR_O_CREATE, &j, NULL, msg, sizeof(msg)), -EPERM);
	assert_true(strstr(msg, "group") != NULL);
	/* symlink to a good directory: refused, never followed */
	assert_int_equal(chmod(d, 0700), 0);
	snprintf(l, sizeof(l), "%s/link", base);
	assert_int_equal(symlink(d, l), 0);
	fd = jr_open_dir(l, true, msg, sizeof(msg));
	assert_int_equal(fd, -ELOOP);
	assert_true(strstr(msg, "symbolic link") != NULL);
	/* symlink in the middle of the path */
	snprintf(l, sizeof(l), "%s/link/sub", base);
	assert_int_equal(jr_open_dir(l, true, msg, sizeof(msg)), -ELOOP);
	/* foreign owner (needs root to chown) */
	if (geteuid() == 0) {
		snprintf(d, sizeof(d), "%s/foreign", base);
		assert_int_equal(mkdir(d, 0700), 0);
		assert_int_equal(chown(d, 65534, 65534), 0);
		assert_int_equal(
		    jr_open(d, UUID, JR_O_CREATE, &j, NULL, msg, sizeof(msg)),
		    -EPERM);
		assert_true(strstr(msg, "owned by uid 65534") != NULL);
	}
	/* the journal file itself a symlink */
	snprintf(d, sizeof(d), "%s/ok", base);
	assert_int_equal(mkdir(d, 0700), 0);
	snprintf(l, sizeof(l), "%s/ok/%s.journal", base, UUID);
	assert_int_equal(symlink("/etc/passwd", l), 0);
	assert_true(jr_open(d, UUID, JR_O_CREATE | JR_O_LOCK, &j, NULL, msg,
	                    sizeof(msg)) < 0);
	/* creation: a missing directory is made 0700 */
	snprintf(d, sizeof(d), "%s/new", base);
	assert_int_equal(jr_open(d, UUID, JR_O_CREATE | JR_O_LOCK, &j, NULL,
	                         msg, sizeof(msg)),
	                 0);
	jr_close(j);
	/* a missing journal reads as empty without creating anything */
	snprintf(d, sizeof(d), "%s/absent", base);
	assert_int_equal(jr_open(d, UUID, 0, &j, NULL, msg, sizeof(msg)), 0);
	assert_int_equal(j->ntxns, 0);
	jr_close(j);
	assert_int_equal(access(d, F_OK), -1);
	/* bad UUIDs */
	assert_int_equal(jr_open(d, "../x", 0, &j, NULL, msg, sizeof(msg)),
	                 -EINVAL);
	assert_int_equal(jr_open(d, "", 0, &j, NULL, msg, sizeof(msg)),
	                 -EINVAL);
}

static void test_dir_choice(void **state)
{
	char b[256];
	const char *home = getenv("HOME"), *xdg = getenv("XDG_STATE_HOME");
	char *shome = home ? strdup(home) : NULL;
	char *sxdg = xdg ? strdup(xdg) : NULL;

	(void)state;
	unsetenv(JR_ENV_DIR);
	setenv("HOME", "/home/u", 1);
	unsetenv("XDG_STATE_HOME");
	if (geteuid() == 0)
		assert_string_equal(jr_dir_choice(NULL, b, sizeof(b)),
		                    JR_DEFAULT_DIR);
	else
		assert_string_equal(jr_dir_choice(NULL, b, sizeof(b)),
		                    "/home/u/.local/state/relayout/journal");
	setenv(JR_ENV_DIR, "/tmp/x", 1);
	assert_string_equal(jr_dir_choice(NULL, b, sizeof(b)), "/tmp/x");
	assert_string_equal(jr_dir_choice("/opt/y", b, sizeof(b)), "/opt/y");
	unsetenv(JR_ENV_DIR);
	/* the per-user state directory (the non-root default) */
	assert_int_equal(jr_state_home(b, sizeof(b)), 0);
	assert_string_equal(b, "/home/u/.local/state/relayout");
	setenv("XDG_STATE_HOME", "/st", 1);
	assert_int_equal(jr_state_home(b, sizeof(b)), 0);
	assert_string_equal(b, "/st/relayout");
	/* relative values are ignored (XDG base directory spec) */
	setenv("XDG_STATE_HOME", "st", 1);
	assert_int_equal(jr_state_home(b, sizeof(b)), 0);
	assert_string_equal(b, "/home/u/.local/state/relayout");
	setenv("HOME", "rel", 1);
	assert_int_equal(jr_state_home(b, sizeof(b)), -ENOENT);
	unsetenv("HOME");
	assert_int_equal(jr_state_home(b, sizeof(b)), -ENOENT);
	if (geteuid() != 0)
		assert_null(jr_dir_choice(NULL, b, sizeof(b)));
	setenv("HOME", "/h", 1);
	assert_int_equal(jr_state_home(b, 8), -ENAMETOOLONG);
	if (shome)
		setenv("HOME", shome, 1);
	else
		unsetenv("HOME");
	if (sxdg)
		setenv("XDG_STATE_HOME", sxdg, 1);
	else
		unsetenv("XDG_STATE_HOME");
	free(shome);
	free(sxdg);
}

/* Directories on the way to the journal directory: one another user
 * controls is refused, sticky ones (like /tmp) are fine. */
static void test_dir_parents(void **state)
{
	char d[600], msg[512];
	int fd;

	(void)state;
	snprintf(d, sizeof(d), "%s/open", base);
	assert_int_equal(mkdir(d, 0700), 0);
	assert_int_equal(chmod(d, 0777), 0);
	snprintf(d, sizeof(d), "%s/open/j", base);
	assert_int_equal(jr_open_dir(d, true, msg, sizeof(msg)), -EPERM);
	assert_true(strstr(msg, "/open on its path is controlled by another "
	                        "user") != NULL);
	snprintf(d, sizeof(d), "%s/open", base);
	assert_int_equal(chmod(d, 01777), 0);
	snprintf(d, sizeof(d), "%s/open/j", base);
	fd = jr_open_dir(d, true, msg, sizeof(msg));
	assert_true(fd >= 0);
	close(fd);
	/* missing components are created private */
	snprintf(d, sizeof(d), "%s/a/b/c", base);
	fd = jr_open_dir(d, true, msg, sizeof(msg));
	assert_true(fd >= 0);
	close(fd);
	{
		struct stat st;
		snprintf(d, sizeof(d), "%s/a", base);
		assert_int_equal(stat(d, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0700);
	}
	if (geteuid() == 0) {
		snprintf(d, sizeof(d), "%s/theirs", base);
		assert_int_equal(mkdir(d, 0755), 0);
		assert_int_equal(chown(d, 65534, 65534), 0);
		snprintf(d, sizeof(d), "%s/theirs/j", base);
		assert_int_equal(mkdir(d, 0700), 0);
		assert_int_equal(jr_open_dir(d, true, msg, sizeof(msg)),
		                 -EPERM);
		assert_true(strstr(msg, "owner uid 65534") != NULL);
	}
}

/* Which transactions undo takes: ended, not undone, moved data; without
 * an id the newest such that is not an undo itself. */
static void test_undoable(void **state)
{
	struct rl_extent pc = {0, 4096, 4096, 0};
	struct jr_step moved = {.after = &pc, .nafter = 1}, failed = {0};
	struct jr_txn t[4] = {
	    {.id = 1, .status = JR_ST_APPLIED, .steps = &moved, .nsteps = 1},
	    {.id = 2, .status = JR_ST_FAILED, .steps = &failed, .nsteps = 1},
	    {.id = 3,
	     .status = JR_ST_APPLIED,
	     .steps = &moved,
	     .nsteps = 1,
	     .undo_of = 1},
	    {.id = 4, .status = JR_ST_OPEN, .steps = &moved, .nsteps = 1},
	};
	struct jr_journal j = {.txns = t, .ntxns = 4};

	(void)state;
	assert_int_equal(jr_undoable(&t[0]), JR_UNDO_OK);
	assert_int_equal(jr_undoable(&t[1]), JR_UNDO_NO_DATA);
	assert_int_equal(jr_undoable(&t[2]), JR_UNDO_OK);
	assert_int_equal(jr_undoable(&t[3]), JR_UNDO_OPEN);
	assert_ptr_equal(jr_last_undoable(&j), &t[0]);
	t[0].undone = true;
	t[0].undone_by = 3;
	assert_int_equal(jr_undoable(&t[0]), JR_UNDO_UNDONE);
	assert_null(jr_last_undoable(&j));
}

/* What redo takes: the newest undo of a command that is not undone,
 * while no command moved data after it; redos (undos of undos) step
 * over, so u u U U walks back and forth through the history. */
static void test_redoable(void **state)
{
	struct rl_extent pc = {0, 4096, 4096, 0};
	struct jr_step moved = {.after = &pc, .nafter = 1};
	/* commands 1, 2; undo of 2 (3), undo of 1 (4), redo of 4 (5) */
	struct jr_txn t[6] = {
	    {.id = 1, .group = 1, .undone = true, .undone_by = 4},
	    {.id = 2, .group = 2, .undone = true, .undone_by = 3},
	    {.id = 3, .group = 3, .undo_of = 2},
	    {.id = 4, .group = 4, .undo_of = 1},
	    {.id = 5, .group = 5, .undo_of = 4},
	    {.id = 6, .group = 6},
	};
	struct jr_journal j = {.txns = t, .ntxns = 4};
	struct jr_txn *out[6];

	(void)state;
	for (int i = 0; i < 6; i++) {
		t[i].status = JR_ST_APPLIED;
		t[i].steps = &moved;
		t[i].nsteps = 1;
	}
	/* after u u: U redoes the last undo (of 1) */
	assert_ptr_equal(jr_last_redoable(&j), &t[3]);
	assert_int_equal(jr_group_redoable(&j, &t[3], out), 1);
	assert_ptr_equal(out[0], &t[3]);
	assert_null(jr_last_undoable(&j));
	/* after U (5 undid 4, 1 done again): U again redoes 2 */
	j.ntxns = 5;
	t[3].undone = true;
	t[3].undone_by = 5;
	t[0].undone = false;
	assert_ptr_equal(jr_last_redoable(&j), &t[2]);
	assert_ptr_equal(jr_last_undoable(&j), &t[0]);
	/* a new command (6) after the undos: nothing to redo */
	j.ntxns = 6;
	assert_null(jr_last_redoable(&j));
	assert_ptr_equal(jr_last_undoable(&j), &t[5]);
}

/* Copies of a filesystem share its UUID and so the journal: each
 * transaction records its volume; one written before that (no volume)
 * is taken as anyone's, so old journals read as before. */
static void test_volumes(void **state)
{
	struct jr_journal *j = open_rw();
	uint64_t id_old, id_a, id_b;

	(void)state;
	/* a record from before volumes were told apart */
	write_sample(j, &id_old, true);
	assert_int_equal(
	    jr_set_volume(j, "loop:0:42:7", "/dev/loop1 (image a)"), 0);
	write_sample(j, &id_a, true);
	assert_int_equal(
	    jr_set_volume(j, "loop:0:42:8", "/dev/loop2 (image b)"), 0);
	write_sample(j, &id_b, false);
	jr_close(j);

	j = open_ro();
	assert_null(jr_find(j, id_old)->volume);
	assert_string_equal(jr_find(j, id_a)->volume, "loop:0:42:7");
	assert_string_equal(jr_find(j, id_a)->volume_name,
	                    "/dev/loop1 (image a)");
	/* no volume of its own: everything is listed, as before */
	assert_true(jr_txn_here(j, jr_find(j, id_b)));
	assert_ptr_equal(jr_open_txn(j), jr_find(j, id_b));
	/* on a: its own, the old one; b's open one is not a's to recover */
	assert_int_equal(jr_set_volume(j, "loop:0:42:7", "a"), 0);
	assert_true(jr_txn_here(j, jr_find(j, id_old)));
	assert_true(jr_txn_here(j, jr_find(j, id_a)));
	assert_false(jr_txn_here(j, jr_find(j, id_b)));
	assert_null(jr_open_txn(j));
	assert_ptr_equal(jr_last_undoable(j), jr_find(j, id_a));
	/* on b: a's transaction is not b's to undo */
	assert_int_equal(jr_set_volume(j, "loop:0:42:8", "b"), 0);
	assert_false(jr_txn_here(j, jr_find(j, id_a)));
	assert_ptr_equal(jr_open_txn(j), jr_find(j, id_b));
	assert_ptr_equal(jr_last_undoable(j), jr_find(j, id_old));
	jr_close(j);
}

/* The transactions of one command (--retry makes several): "group" in
 * the later ones' BEGIN, read back; a plain undo takes them all, newest
 * first. A transaction without the key (older journals, or the first of
 * a command) is a group of its own. */
static void test_groups(void **state)
{
	struct jr_journal *j = open_rw();
	struct jr_txn *out[8];
	uint64_t id[4];
	size_t n;

	(void)state;
	for (int i = 0; i < 4; i++) {
		j->next_group = i == 1 || i == 2 ? id[0] : 0;
		write_sample(j, &id[i], true);
	}
	j->next_group = 0;
	jr_close(j);
	j = open_ro();
	assert_int_equal(j->ntxns, 4);
	assert_int_equal(j->txns[0].group, id[0]);
	assert_int_equal(j->txns[1].group, id[0]);
	assert_int_equal(j->txns[2].group, id[0]);
	assert_int_equal(j->txns[3].group, id[3]);
	n = jr_group_undoable(j, &j->txns[2], out);
	assert_int_equal(n, 3);
	assert_int_equal(out[0]->id, id[2]);
	assert_int_equal(out[1]->id, id[1]);
	assert_int_equal(out[2]->id, id[0]);
	assert_int_equal(jr_group_undoable(j, &j->txns[3], out), 1);
	assert_ptr_equal(out[0], &j->txns[3]);
	/* an undone one is left out */
	j->txns[1].undone = true;
	assert_int_equal(jr_group_undoable(j, &j->txns[0], out), 2);
	jr_close(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crc),
	    cmocka_unit_test(test_redoable),
	    cmocka_unit_test_setup_teardown(test_dir_parents, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_roundtrip, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_forget, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_partial_bytes, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_truncated_tail, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_corrupt_middle, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_version, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_lock, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_unsafe_dirs, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test(test_dir_choice),
	    cmocka_unit_test(test_undoable),
	    cmocka_unit_test_setup_teardown(test_volumes, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_groups, tmpdir_setup,
	                                    tmpdir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
