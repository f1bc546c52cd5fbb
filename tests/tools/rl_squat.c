/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rl_squat: take blocks at an exact place, as another program would
 * (outside relayout's volume lock), for the undo tests.
 *
 *   rl_squat FILE GOAL LEN
 *       create FILE (0600) and allocate LEN bytes of it at the physical
 *       byte address GOAL (RL_ALLOC_FIXED_START | CONTIGUOUS | FIXED_LEN;
 *       the state directory from RELAYOUT_STATE_DIR). Exit 0 when the
 *       blocks were taken there, 1 (with the error) when not.
 */
#include "config.h"
#include <fcntl.h>
#include <inttypes.h>
#include <relayout/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	uint64_t goal, len;
	int64_t got;
	int fd;

	if (argc != 4) {
		fprintf(stderr, "usage: rl_squat FILE GOAL LEN\n");
		return 2;
	}
	goal = strtoull(argv[2], NULL, 0);
	len = strtoull(argv[3], NULL, 0);
	fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	got = rl_allocate_ex(
	    fd, RL_ALLOC_FIXED_START | RL_ALLOC_CONTIGUOUS | RL_ALLOC_FIXED_LEN,
	    goal, len, NULL);
	if (got < 0 || (uint64_t)got != len) {
		fprintf(stderr,
		        "rl_squat: %s at 0x%" PRIx64 "+%" PRIu64 ": %s\n",
		        argv[1], goal, len,
		        got < 0 ? rl_strerror((int)got) : "short allocation");
		close(fd);
		return 1;
	}
	fsync(fd);
	/* the placement's staging files are freed in the background (XFS):
	 * done before we say we are */
	rl_free_space_settle(fd);
	close(fd);
	return 0;
}
