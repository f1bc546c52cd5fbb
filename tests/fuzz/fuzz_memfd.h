/* SPDX-License-Identifier: GPL-2.0-or-later */
/* For harnesses whose code under test reads a file: the input as a memfd,
 * named by path ("/proc/self/fd/N"). Returns the fd (close it) or -1. */
#ifndef RL_FUZZ_MEMFD_H
#define RL_FUZZ_MEMFD_H
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

static inline int fuzz_memfd(const uint8_t *data, size_t size, char *path,
                             size_t pathlen)
{
	int fd = memfd_create("fuzz-input", MFD_CLOEXEC);

	if (fd < 0)
		return -1;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return -1;
	}
	snprintf(path, pathlen, "/proc/self/fd/%d", fd);
	return fd;
}

#endif
