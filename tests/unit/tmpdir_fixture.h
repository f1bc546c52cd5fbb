/* A private temporary directory for each test: `base`, made by
 * tmpdir_setup (under $TMPDIR, else /tmp) and removed with everything in
 * it by tmpdir_teardown. Define TMPDIR_PREFIX ("rl-xtest") and, for work
 * to do after the directory is made, TMPDIR_AFTER_SETUP() before
 * including. */
#ifndef RELAYOUT_TESTS_TMPDIR_FIXTURE_H
#define RELAYOUT_TESTS_TMPDIR_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

#ifndef TMPDIR_PREFIX
#error "define TMPDIR_PREFIX before including tmpdir_fixture.h"
#endif
#ifndef TMPDIR_AFTER_SETUP
#define TMPDIR_AFTER_SETUP() ((void)0)
#endif

static char base[256];

static int tmpdir_setup(void **state)
{
	(void)state;
	snprintf(base, sizeof(base), "%s/" TMPDIR_PREFIX ".XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(base))
		return -1;
	TMPDIR_AFTER_SETUP();
	return 0;
}

static int tmpdir_teardown(void **state)
{
	char cmd[512];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd) == 0 ? 0 : -1;
}

#endif
