/* SPDX-License-Identifier: GPL-2.0-or-later */
/* JSON numbers for the program's documents (snapshots, the journal,
 * command output): one encoding of a uint64_t. Calls nothing else in the
 * tree, so every layer may use it. */
#ifndef RL_JSON_UTIL_H
#define RL_JSON_UTIL_H
#include <cjson/cJSON.h>
#include <stdint.h>

/* Integers up to this are exact in a double: JSON numbers. Larger ones
 * are decimal strings, so no precision is lost. */
#define JU_EXACT_MAX (1ull << 53)

/* v as a JSON number (v <= JU_EXACT_MAX) or a decimal string; NULL when
 * out of memory. */
cJSON *ju_u64(uint64_t v);

/* Add ju_u64(v) to obj under key. Returns the item, or NULL when out of
 * memory (obj unchanged). */
cJSON *ju_add_u64(cJSON *obj, const char *key, uint64_t v);

#endif
