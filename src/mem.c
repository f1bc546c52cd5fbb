/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"
#include "mem.h"
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* mem_grow's slow path: need > *cap. */
int mem_grow_to(void *pp, size_t *cap, size_t need, size_t elem)
{
	size_t ncap = *cap ? *cap : 16;
	void *p, *np;

	while (ncap < need) {
		if (ncap > SIZE_MAX / 2 / elem)
			return -ENOMEM;
		ncap *= 2;
	}
	/* *pp is some T *: read and write it as bytes, not through a
	 * void ** that would alias it */
	memcpy(&p, pp, sizeof(p));
	np = realloc(p, ncap * elem);
	if (!np)
		return -ENOMEM;
	memcpy(pp, &np, sizeof(np));
	*cap = ncap;
	return 0;
}
