/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer harness: the JSON snapshot loader. snap_import reads a file,
 * so the input goes through a memfd (the path /proc/self/fd/N) once in a
 * while, and straight through snap_import_buf otherwise (faster). A loaded
 * model is exported again: whatever the loader accepts must be usable. */
#include "config.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fuzz_memfd.h"
#include "snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void use_model(struct lm_model *m)
{
	FILE *f = fopen("/dev/null", "we");

	if (f) {
		if (snap_write(m, f) < 0)
			abort();
		fclose(f);
	}
	lm_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned count;
	struct lm_model *m = NULL;
	char err[512];
	int r;

	if (count++ % 16 == 0) {
		char path[64];
		int fd = fuzz_memfd(data, size, path, sizeof(path));

		if (fd < 0)
			return 0;
		r = snap_import(path, &m, err, sizeof(err));
		close(fd);
	} else {
		r = snap_import_buf((const char *)data, size, "fuzz", &m, err,
		                    sizeof(err));
	}
	if (r == 0) {
		if (!m)
			abort();
		use_model(m);
	} else if (m || !memchr(err, '\0', sizeof(err)) || !err[0]) {
		abort(); /* an error leaves no model and says why */
	}
	return 0;
}
