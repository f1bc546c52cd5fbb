/* Unit tests: running programs and active swap files (src/busy.c). */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <relayout/fs.h>
#include <setjmp.h>
#include <signal.h>
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
#include "busy.h"

/* The swap files of text (the format of /proc/swaps) into b. */
static void add_swaps(struct busy_set *b, char *text)
{
	FILE *f = fmemopen(text, strlen(text), "r");

	assert_non_null(f);
	assert_int_equal(busy_add_swaps(b, f), 0);
	fclose(f);
}

/* /proc/swaps lines: a blank in a path is written \040; paths that do
 * not exist (another mount namespace) and the header are left out. */
static void test_swaps(void **state)
{
	char dir[] = "/tmp/rl-busy-XXXXXX", path[64], text[512];
	struct busy_set b = {0};
	struct stat st;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/swap file", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(stat(path, &st), 0);
	snprintf(text, sizeof(text),
	         "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
	         "/dev/zram0                              partition\t"
	         "1048572\t\t0\t\t100\n"
	         "%s/swap\\040file                file\t\t1024\t\t0\t\t-2\n"
	         "/nonexistent/swap                       file\t\t1024\t\t0"
	         "\t\t-3\n",
	         dir);
	add_swaps(&b, text);
	assert_int_equal(b.n, 1); /* not the device, not the missing file */
	assert_int_equal(busy_find(&b, st.st_dev, st.st_ino), BUSY_SWAP);
	assert_int_equal(busy_find(&b, st.st_dev, st.st_ino + 1), BUSY_NONE);
	busy_free(&b);
	unlink(path);
	rmdir(dir);
}

/* Files another process holds open (busy_load_open), looked up in the
 * sorted set: each found, with the kind added first winning for a file
 * that is both a swap file and open; others not found. */
static void test_open_sorted(void **state)
{
	char dir[] = "/tmp/rl-busy-XXXXXX", path[64], text[512];
	struct busy_set b = {0};
	struct stat st[40];
	int go[2], ready[2];
	pid_t pid;
	FILE *f;
	char c = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	for (int i = 0; i < 40; i++) {
		snprintf(path, sizeof(path), "%s/f%d", dir, i);
		f = fopen(path, "w");
		assert_non_null(f);
		fclose(f);
		assert_int_equal(stat(path, &st[i]), 0);
	}
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) { /* holds the even ones open */
		for (int i = 0; i < 40; i += 2) {
			snprintf(path, sizeof(path), "%s/f%d", dir, i);
			if (open(path, O_RDONLY) < 0)
				_exit(1);
		}
		if (write(ready[1], "x", 1) != 1 || read(go[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	assert_int_equal(read(ready[0], &c, 1), 1);
	/* f0 is a swap file too (added first) */
	snprintf(text, sizeof(text),
	         "Filename\tType\tSize\tUsed\tPriority\n"
	         "%s/f0 file 1024 0 -2\n",
	         dir);
	add_swaps(&b, text);
	assert_int_equal(busy_load_open(&b, st[0].st_dev), 0);
	assert_true(b.sorted);
	if (write(go[1], "x", 1) != 1)
		fail();
	waitpid(pid, NULL, 0);
	assert_int_equal(busy_find(&b, st[0].st_dev, st[0].st_ino), BUSY_SWAP);
	for (int i = 1; i < 40; i++)
		assert_int_equal(busy_find(&b, st[i].st_dev, st[i].st_ino),
		                 i % 2 ? BUSY_NONE : BUSY_OPEN);
	busy_free(&b);
	for (int i = 0; i < 40; i++) {
		snprintf(path, sizeof(path), "%s/f%d", dir, i);
		unlink(path);
	}
	rmdir(dir);
}

/* A child running sleep(1) is a running program (a child, not this
 * test's own executable: under valgrind /proc/self/exe names the test
 * while /proc/PID/exe is valgrind's tool); the reasons say which is
 * which, and an unknown one keeps the library's message. */
static void test_programs(void **state)
{
	struct busy_set b = {0};
	struct stat st;
	char exe[4096], link[64];
	ssize_t n = -1;
	pid_t pid = fork();

	(void)state;
	assert_true(pid >= 0);
	if (pid == 0) {
		execlp("sleep", "sleep", "30", (char *)NULL);
		_exit(127);
	}
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	for (int i = 0; i < 500; i++) { /* until exec is done: up to 5 s */
		n = readlink(link, exe, sizeof(exe) - 1);
		if (n > 0 && (exe[n] = '\0', strstr(exe, "sleep")))
			break;
		usleep(10000);
	}
	int found = -1, by_path = -1;
	if (n > 0 && stat(exe, &st) == 0 && busy_load(&b) == 0) {
		found = busy_find(&b, st.st_dev, st.st_ino);
		by_path = busy_of_path(exe);
	}
	busy_free(&b);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	assert_true(n > 0);
	assert_int_equal(found, BUSY_PROGRAM);
	assert_int_equal(by_path, BUSY_PROGRAM);
	assert_int_equal(busy_of_path("/nonexistent"), BUSY_NONE);
	assert_non_null(strstr(busy_reason(BUSY_PROGRAM), "running program"));
	assert_non_null(strstr(busy_reason(BUSY_SWAP), "active swap file"));
	assert_string_equal(busy_reason(BUSY_NONE), rl_strerror(-ETXTBSY));
	assert_non_null(strstr(rl_strerror(-ETXTBSY),
	                       "a running program or an active swap file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_swaps),
	    cmocka_unit_test(test_open_sorted),
	    cmocka_unit_test(test_programs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
