/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Output of command results: text for people, JSON (one document per
 * command, one line each) for programs. */
#ifndef RL_OUTPUT_H
#define RL_OUTPUT_H
#include <cjson/cJSON.h>
#include <relayout/fs.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include "json_util.h"

struct rl_session;

/*
 * Names (file names and paths from the volume, paths the user typed,
 * mount points, labels) are never printed raw: they may hold newlines,
 * terminal escapes or bytes that are not UTF-8. One scheme, used for every
 * name in text output, on screen, in messages and (for strings that are not
 * valid UTF-8) in JSON; docs/hostile-input.md describes it:
 *   \\ for a backslash; \n \t \r; \xNN for every other byte below 0x20,
 *   0x7f, every byte that is not part of valid UTF-8 (stray continuation
 *   bytes, overlong forms, surrogates, code points above U+10FFFF,
 *   truncated sequences), and each byte of the C1 controls U+0080-U+009F,
 *   the line/paragraph separators U+2028/U+2029 and the bidirectional
 *   controls (U+200E, U+200F, U+202A-U+202E, U+2066-U+2069).
 * Everything else (printable ASCII, valid UTF-8) is copied.
 */
#define OUT_ESC_MAX 16384

/* Escape raw into buf (size bytes, OUT_ESC_MAX holds any PATH_MAX name);
 * a result that does not fit ends in "...". Returns buf. */
const char *out_esc(const char *raw, char *buf, size_t size);

/* out_esc into a temporary buffer that lives until the end of the
 * enclosing block: fprintf(f, "%s\n", OUT_ESC(path)). */
#define OUT_ESC(raw) out_esc((raw), (char[OUT_ESC_MAX]){0}, OUT_ESC_MAX)

/* Is raw valid UTF-8 (no overlong forms, no surrogates)? */
bool out_utf8_valid(const char *raw);

/* A JSON string for a name: raw when it is valid UTF-8 (JSON's own escapes
 * keep it exact), else the out_esc form, so every JSON document relayout
 * writes is valid UTF-8. */
cJSON *out_json_name(const char *raw);
/* cJSON_AddItemToObject(obj, key, out_json_name(raw)). */
cJSON *out_add_name(cJSON *obj, const char *key, const char *raw);

/* Print obj as one line of JSON on s->out, adding "command": CMD, and free
 * it. Returns 0 or -ENOMEM. */
int out_json_emit(struct rl_session *s, cJSON *obj);

/* {"command": CMD, "error": msg} */
void out_json_error(struct rl_session *s, const char *msg);

/* Add a uint64 to obj as a JSON number (exact up to 2^53; larger values
 * are added as a decimal string so no precision is lost): the commands'
 * name for ju_add_u64, the program's one encoder. */
static inline cJSON *out_add_u64(cJSON *obj, const char *key, uint64_t v)
{
	return ju_add_u64(obj, key, v);
}

/* Array of {"logical","physical","length","flags":[...]} */
cJSON *out_extents_json(const struct rl_extent *ext, size_t n);

/* Names of RL_EXT_* flags, comma separated ("unwritten,shared"), or "". */
void out_extent_flags(uint32_t flags, char *buf, size_t size);

/* A plan's report (its notes, one per line) printed for people: of the
 * notes a whole-volume plan makes by the thousand ("skip PATH: already
 * optimal (...)", "skip PATH: no data blocks"), the first OUT_REPORT_KEEP
 * of each kind are printed and the rest counted in one line where the
 * next would have been ("skip ...: already optimal: N more files (--json
 * lists each)"); every other line as it is. JSON output keeps them all. */
#define OUT_REPORT_KEEP 10
void out_report(FILE *f, const char *report);

/* A file written for the user (a snapshot, a saved screen). out_file_open
 * creates it under a temporary name next to path (PATH.XXXXXX, never
 * through a symlink) with mode, which the umask narrows as for any new
 * file; out_file_close renames it over path once complete, so a reader
 * never sees half of it and an older file's mode does not carry over. */
struct out_file {
	FILE *f; /* write here */
	char *tmp;
	char *path;
};
/* 0 or -errno (out_file_strerror). */
int out_file_open(struct out_file *of, const char *path, mode_t mode);
/* err 0: flush, fsync, rename into place; otherwise (or when that fails)
 * remove the temporary file. Returns err, else 0 or the first -errno. */
int out_file_close(struct out_file *of, int err);
/* What an out_file error means: -EINVAL "not a regular file" (path names
 * a device, FIFO or directory), else strerror. */
const char *out_file_strerror(int err);

#endif
