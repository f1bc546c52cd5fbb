/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Output of command results: text for people, JSON (one document per
 * command, one line each) for programs. */
#ifndef RL_OUTPUT_H
#define RL_OUTPUT_H
#include <cjson/cJSON.h>
#include <relayout/fs.h>
#include <stdint.h>

struct rl_session;

/* Print obj as one line of JSON on s->out, adding "command": CMD, and free
 * it. Returns 0 or -ENOMEM. */
int out_json_emit(struct rl_session *s, cJSON *obj);

/* {"command": CMD, "error": msg} */
void out_json_error(struct rl_session *s, const char *msg);

/* Add a uint64 to obj as a JSON number (exact up to 2^53; larger values
 * are added as a decimal string so no precision is lost). */
cJSON *out_add_u64(cJSON *obj, const char *key, uint64_t v);

/* Array of {"logical","physical","length","flags":[...]} */
cJSON *out_extents_json(const struct rl_extent *ext, size_t n);

/* Names of RL_EXT_* flags, comma separated ("unwritten,shared"), or "". */
void out_extent_flags(uint32_t flags, char *buf, size_t size);

#endif
