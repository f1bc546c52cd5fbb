/* SPDX-License-Identifier: GPL-2.0-or-later */
/* relayout --demo: a scratch, fragmented volume that vanishes at exit. */
#ifndef RELAYOUT_DEMO_H
#define RELAYOUT_DEMO_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

/* The demo volume's UUID, the same on every demo. */
#define DEMO_UUID "72656c61-796f-4574-a064-656d6f000001"

struct demo_volume {
	char dir[1024];     /* private temporary directory */
	char mnt[PATH_MAX]; /* mount point inside it */
	char loopdev[32];   /* /dev/loopN */
	int loopfd;         /* holds the (auto-clearing) loop device */
	bool mounted;
};

/*
 * Create a small volume of KIND ("ext4", "xfs" or "btrfs") in a new
 * temporary directory (under $TMPDIR or /tmp), loop-mount it in a private
 * mount namespace of this process and fill it with a deterministic,
 * fragmented set of files. The image file is unlinked as soon as the loop
 * device holds it and the loop device clears itself on its last close, so
 * even a crash leaves no mount, loop device or image behind (only the
 * empty temporary directory). Needs root. Returns 0 or -errno, with a
 * message in why.
 */
int demo_create(const char *kind, struct demo_volume *v, char *why,
                size_t wlen);

/* Unmount, release the loop device, remove the temporary directory. */
void demo_destroy(struct demo_volume *v);

#endif
