/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Sizes and addresses on the command line: parse and format. */
#ifndef RL_UNITS_H
#define RL_UNITS_H
#include <stddef.h>
#include <stdint.h>

/* Parse a byte count: decimal or 0x hex, optional suffix K, M, G, T, P
 * (powers of 1024; "KiB", "K", "k" and "KB" are all 1024) or "B". No sign,
 * no fraction, no trailing garbage; overflow is an error.
 * Returns 0 or -EINVAL (not a size) / -ERANGE (too large). */
int units_parse_size(const char *s, uint64_t *out);

/* Format bytes for people: "0 B", "512 B", "4.0 KiB", "1.5 GiB". */
void units_format_size(uint64_t bytes, char *buf, size_t size);

#endif
