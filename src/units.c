/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"
#include "units.h"
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int units_parse_size(const char *s, uint64_t *out)
{
	uint64_t v = 0, mult = 1;
	unsigned base = 10;
	const char *p = s;
	int digits = 0;

	if (!s || !out)
		return -EINVAL;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	for (; *p; p++) {
		unsigned d;

		if (isdigit((unsigned char)*p))
			d = (unsigned)(*p - '0');
		else if (base == 16 && isxdigit((unsigned char)*p))
			d = (unsigned)(tolower((unsigned char)*p) - 'a' + 10);
		else
			break;
		if (v > (UINT64_MAX - d) / base)
			return -ERANGE;
		v = v * base + d;
		digits++;
	}
	if (!digits)
		return -EINVAL;
	if (*p) {
		static const char units[] = "KMGTP";
		const char *u = strchr(units, toupper((unsigned char)*p));

		if (base == 16 && *p != 'B' && !u)
			return -EINVAL;
		if (u && *p) {
			for (long i = 0; i <= u - units; i++)
				mult *= 1024;
			p++;
			if (*p == 'i' || *p == 'I') {
				p++;
				if (*p != 'B' && *p != 'b')
					return -EINVAL;
			}
			if (*p == 'B' || *p == 'b')
				p++;
		} else if (*p == 'B' || *p == 'b') {
			p++;
		}
		if (*p)
			return -EINVAL;
	}
	if (v && mult > UINT64_MAX / v)
		return -ERANGE;
	*out = v * mult;
	return 0;
}

const char *units_size_error(int err, bool addr)
{
	if (err == -ERANGE)
		return "too large";
	return addr ? "not a size or address (bytes, 0x hex, or with K/M/G/T "
	              "suffix)"
	            : "not a size (bytes, 0x hex, or with K/M/G/T suffix)";
}

void units_format_size(uint64_t bytes, char *buf, size_t size)
{
	static const char *names[] = {"B",   "KiB", "MiB", "GiB",
	                              "TiB", "PiB", "EiB"};
	double v = (double)bytes;
	int i = 0;

	if (bytes < 1024) {
		snprintf(buf, size, "%llu B", (unsigned long long)bytes);
		return;
	}
	while (v >= 1024.0 && i < 6) {
		v /= 1024.0;
		i++;
	}
	snprintf(buf, size, "%.1f %s", v, names[i]);
}

void units_format_eta(double secs, char *buf, size_t size)
{
	unsigned long e;

	if (secs < 0) {
		snprintf(buf, size, "?");
		return;
	}
	e = (unsigned long)(secs + 0.5);
	if (e >= 3600)
		snprintf(buf, size, "%lu:%02lu:%02lu", e / 3600, e / 60 % 60,
		         e % 60);
	else
		snprintf(buf, size, "%lu:%02lu", e / 60, e % 60);
}

void units_put_word(FILE *f, const char *word)
{
	bool plain = *word != '\0';

	for (const char *q = word; *q; q++)
		if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
		      (*q >= '0' && *q <= '9') || strchr("-_./=:,+@%", *q)))
			plain = false;
	if (plain) {
		fputs(word, f);
		return;
	}
	fputc('\'', f);
	for (const char *q = word; *q; q++) {
		if (*q == '\'')
			fputs("'\\''", f);
		else
			fputc(*q, f);
	}
	fputc('\'', f);
}
