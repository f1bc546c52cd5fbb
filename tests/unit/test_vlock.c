/* Unit tests: the volume lock (src/vlock.c). Everything runs in a private
 * temporary directory. */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include "vlock.h"

#define UUID "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"

static char run[600];
#define TMPDIR_PREFIX        "rl-vltest"
#define TMPDIR_AFTER_SETUP() snprintf(run, sizeof(run), "%s/run/relayout", base)
#include "tmpdir_fixture.h"

static int lock(struct vl_lock *l, const char *uuid, dev_t dev, char *msg,
                size_t len)
{
	return vl_lock(l, run, uuid, "/nonexistent", dev, msg, len);
}

static void test_busy(void **state)
{
	char msg[1024], want[64], path[700], rec[64];
	struct vl_lock a, b;
	struct stat st;
	int fd;

	(void)state;
	assert_int_equal(lock(&a, UUID, makedev(7, 3), msg, sizeof(msg)), 0);
	assert_int_equal(stat(run, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	/* the holder's pid, then its command line */
	snprintf(path, sizeof(path), "%s/volume-" UUID "-7.3.lock", run);
	assert_string_equal(a.path, path);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	memset(rec, 0, sizeof(rec));
	assert_true(read(fd, rec, sizeof(rec) - 1) > 0);
	close(fd);
	snprintf(want, sizeof(want), "%ld\ntest_vlock", (long)getpid());
	assert_true(strncmp(rec, want, strlen(want)) == 0);
	/* a second holder of the same volume is refused, naming the first */
	assert_int_equal(lock(&b, UUID, makedev(7, 3), msg, sizeof(msg)),
	                 -EWOULDBLOCK);
	snprintf(want, sizeof(want),
	         "volume busy: relayout pid %ld (test_vlock", (long)getpid());
	assert_non_null(strstr(msg, want));
	assert_non_null(strstr(msg, ") holds it"));
	/* another device, another filesystem: other volumes */
	assert_int_equal(lock(&b, UUID, makedev(7, 4), msg, sizeof(msg)), 0);
	vl_unlock(&b);
	assert_int_equal(lock(&b, "11111111-2222-3333-4444-555555555555",
	                      makedev(7, 3), msg, sizeof(msg)),
	                 0);
	vl_unlock(&b);
	/* let go of: the file is gone, the lock free */
	vl_unlock(&a);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(lock(&a, UUID, makedev(7, 3), msg, sizeof(msg)), 0);
	vl_unlock(&a);
}

/* A holder that dies (SIGKILL) leaves its file but no lock behind. */
static void test_crash_releases(void **state)
{
	char msg[1024];
	struct vl_lock l;
	int pipefd[2], st;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char c = lock(&l, UUID, makedev(7, 3), msg, sizeof(msg)) == 0;
		if (write(pipefd[1], &c, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	char c = 0;
	assert_int_equal(read(pipefd[0], &c, 1), 1);
	assert_int_equal(c, 1);
	assert_int_equal(lock(&l, UUID, makedev(7, 3), msg, sizeof(msg)),
	                 -EWOULDBLOCK);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(lock(&l, UUID, makedev(7, 3), msg, sizeof(msg)), 0);
	vl_unlock(&l);
	close(pipefd[0]);
	close(pipefd[1]);
}

/* The directory is checked like a journal directory: a symlink is
 * refused, never followed; a strange UUID cannot leave it. */
static void test_dir_checks(void **state)
{
	char msg[1024], d[512], path[600];
	struct vl_lock l;

	(void)state;
	snprintf(d, sizeof(d), "%s/real", base);
	assert_int_equal(mkdir(d, 0700), 0);
	snprintf(run, sizeof(run), "%s/link", base);
	assert_int_equal(symlink(d, run), 0);
	assert_int_equal(lock(&l, UUID, makedev(7, 3), msg, sizeof(msg)),
	                 -ELOOP);
	assert_non_null(strstr(msg, "run-time directory"));
	assert_non_null(strstr(msg, "symbolic link"));
	snprintf(run, sizeof(run), "%s", d);
	assert_int_equal(lock(&l, "../../x", makedev(7, 3), msg, sizeof(msg)),
	                 0);
	snprintf(path, sizeof(path), "%s/volume-______x-7.3.lock", d);
	assert_string_equal(l.path, path);
	assert_int_equal(access(path, F_OK), 0);
	vl_unlock(&l);
}

static void test_dirs(void **state)
{
	char buf[256];

	(void)state;
	if (geteuid() == 0) {
		assert_string_equal(vl_dir(buf, sizeof(buf)), "/run/relayout");
	} else {
		char want[64];
		snprintf(want, sizeof(want), "/tmp/relayout-%u",
		         (unsigned)geteuid());
		assert_string_equal(vl_dir(buf, sizeof(buf)), want);
	}
	/* neither the lock nor the saved tunables move: one place per
	 * volume, whatever the environment */
	setenv("RELAYOUT_STATE_DIR", "/somewhere", 1);
	assert_string_equal(vl_state_dir(buf, sizeof(buf)),
	                    vl_dir(buf + 128, 128));
	assert_string_not_equal(vl_dir(buf, sizeof(buf)), "/somewhere");
	unsetenv("RELAYOUT_STATE_DIR");
	assert_string_equal(vl_state_dir(buf, sizeof(buf)),
	                    vl_dir(buf + 128, 128));
	assert_null(vl_dir(buf, 4));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_busy, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_crash_releases, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_dir_checks, tmpdir_setup,
	                                    tmpdir_teardown),
	    cmocka_unit_test(test_dirs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
