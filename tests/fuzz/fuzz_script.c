/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer harness: the script reader. The input is a script file (a
 * memfd) run by cmd_exec_file in a session whose volume does not exist:
 * commands that need the volume must fail cleanly, the others (help, set,
 * echo, source, import, ...) run. Output goes to /dev/null. "record FILE"
 * is redirected to one file in the current directory (linked with
 * --wrap=session_record_start), so fuzzing writes nowhere else; run it in a
 * scratch directory with stdin from /dev/null and no controlling terminal
 * (tests/fuzz/run.sh does). */
#include "config.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "commands.h"
#include "fuzz_memfd.h"
#include "session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int __real_session_record_start(struct rl_session *s, const char *path);
int __wrap_session_record_start(struct rl_session *s, const char *path);

/* Every recording goes to one file in the current directory (run.sh runs
 * the harness in a scratch directory), removed before each input. */
#define FUZZ_RECORDING "fuzz-recording.rl"

int __wrap_session_record_start(struct rl_session *s, const char *path)
{
	(void)path;
	return __real_session_record_start(s, FUZZ_RECORDING);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	struct rl_session s;
	char path[64];
	enum cmd_status st;
	int fd;

	if (!devnull && !(devnull = fopen("/dev/null", "we")))
		abort();
	unlink(FUZZ_RECORDING);
	fd = fuzz_memfd(data, size, path, sizeof(path));
	if (fd < 0)
		return 0;
	session_init(&s);
	s.out = devnull;
	s.err = devnull;
	s.path = strdup("/nonexistent/relayout-fuzz-volume");
	st = cmd_exec_file(&s, path);
	if (st != CMD_OK && st != CMD_FAIL && st != CMD_USAGE)
		abort();
	if (s.source_depth != 0 || s.src_name != NULL)
		abort(); /* the reader restores the session */
	session_free(&s);
	close(fd);
	return 0;
}
