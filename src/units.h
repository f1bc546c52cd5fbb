/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The command line's words: sizes and addresses parsed and formatted,
 * words quoted. Calls nothing else in the tree. */
#ifndef RL_UNITS_H
#define RL_UNITS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Parse a byte count: decimal or 0x hex, optional suffix K, M, G, T, P
 * (powers of 1024; "KiB", "K", "k" and "KB" are all 1024) or "B". No sign,
 * no fraction, no trailing garbage; overflow is an error.
 * Returns 0 or -EINVAL (not a size) / -ERANGE (too large). */
int units_parse_size(const char *s, uint64_t *out);

/* Why units_parse_size refused a word, the end of "WHAT 'WORD': why":
 * "too large" (-ERANGE), else "not a size (bytes, 0x hex, or with K/M/G/T
 * suffix)", with addr "not a size or address (...)". */
const char *units_size_error(int err, bool addr);

/* Format bytes for people: "0 B", "512 B", "4.0 KiB", "1.5 GiB". */
void units_format_size(uint64_t bytes, char *buf, size_t size);

/* Format a time left for people: "0:05", "12:34", "1:02:05" (minutes and
 * seconds, hours when there are any); "?" when secs < 0 (unknown). */
void units_format_eta(double secs, char *buf, size_t size);

/* Write one word to f so that cmd_split (and a POSIX shell) reads it
 * back as it is: unchanged when made of safe characters only, else in
 * single quotes (a quote inside as '\''). The one quoting of the command
 * language: recordings, the journal's command lines, the UI's. */
void units_put_word(FILE *f, const char *word);

#endif
