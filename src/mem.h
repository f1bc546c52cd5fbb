/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Growing arrays, for the program (the library, src/fs_*, has its own):
 * the capacity doubles, so n appends cost O(n). Calls nothing else in the
 * tree. */
#ifndef RL_MEM_H
#define RL_MEM_H
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int mem_grow_to(void *pp, size_t *cap, size_t need, size_t elem);

/* Make room for need elements of elem bytes in the array *pp (a pointer
 * to the array's pointer, e.g. &v) of capacity *cap: when need > *cap the
 * array is reallocated to at least twice *cap (at least 16) and *cap
 * updated. Returns 0, or -ENOMEM with *pp and *cap unchanged. */
static inline int mem_grow(void *pp, size_t *cap, size_t need, size_t elem)
{
	return need <= *cap ? 0 : mem_grow_to(pp, cap, need, elem);
}

/* qsort that accepts an empty array, whose pointer may be NULL (qsort's
 * is declared never NULL, even for 0 elements). */
static inline void mem_sort(void *base, size_t n, size_t elem,
                            int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, elem, cmp);
}

/* mem_sort's comparison of uint64_t values, ascending. */
static inline int mem_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

#endif
