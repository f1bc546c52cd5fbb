/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer harness: the undo journal reader (jr_parse, src/journal.c).
 * Records carry CRC32C checksums, which random mutation almost never gets
 * right, so an input is either
 *   'R' + raw journal bytes (damage, cut tails, bad headers), or
 *   anything else: lines "T JSON" (T a record type digit), encoded with
 *   valid checksums behind a valid file header -- so the fuzzer reaches
 *   the JSON payloads and the transaction/step bookkeeping.
 * The parsed transactions are then walked like `undo` and `journal` do. */
#include "config.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char header[JR_HEADER_SIZE] = {
    'R', 'E', 'L', 'A', 'Y',        'O', 'U', 'T',
    'J', 'R', 'N', 'L', JR_VERSION, 0,   0,   0};

/* Build a journal from "T JSON" lines. Returns a malloc'ed buffer. */
static unsigned char *build(const uint8_t *data, size_t size, size_t *len)
{
	unsigned char *out = malloc(JR_HEADER_SIZE);
	size_t used = JR_HEADER_SIZE;
	size_t i = 0;

	if (!out)
		return NULL;
	memcpy(out, header, JR_HEADER_SIZE);
	while (i < size) {
		const uint8_t *nl = memchr(data + i, '\n', size - i);
		size_t end = nl ? (size_t)(nl - data) : size;
		char *line = strndup((const char *)data + i, end - i);
		unsigned char *rec, *p;
		size_t rlen;

		i = end + 1;
		if (!line)
			break;
		if (line[0] >= '0' && line[0] <= '9' && line[1] == ' ' &&
		    jr_encode((enum jr_type)(line[0] - '0'), line + 2, &rec,
		              &rlen) == 0) {
			p = realloc(out, used + rlen);
			if (!p) {
				free(rec);
				free(line);
				break;
			}
			out = p;
			memcpy(out + used, rec, rlen);
			used += rlen;
			free(rec);
		}
		free(line);
	}
	*len = used;
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jr_journal j;
	unsigned char *buf;
	size_t len;
	int r;

	if (size > 0 && data[0] == 'R') {
		len = size - 1;
		buf = malloc(len ? len : 1);
		if (!buf)
			return 0;
		memcpy(buf, data + 1, len);
	} else {
		buf = build(data, size, &len);
		if (!buf)
			return 0;
	}
	memset(&j, 0, sizeof(j));
	r = jr_parse(&j, buf, len);
	if (r == 0) {
		if (j.good_end > len || (j.corrupt && j.corrupt_at >= len))
			abort();
		if (!memchr(j.problem, '\0', sizeof(j.problem)))
			abort();
		for (size_t t = 0; t < j.ntxns; t++) {
			const struct jr_txn *x = &j.txns[t];

			if (jr_find(&j, x->id) == NULL)
				abort();
			(void)strlen(jr_status_name(x->status));
			for (size_t k = 0; k < x->nsteps; k++) {
				const struct jr_step *st = &x->steps[k];
				uint64_t sum = 0;

				if (st->range.path)
					(void)strlen(st->range.path);
				for (size_t q = 0; q < st->range.ntarget; q++)
					sum += st->range.target[q].length;
				for (size_t q = 0; q < st->range.nbefore; q++)
					sum += st->range.before[q].length;
				for (size_t q = 0; q < st->nafter; q++)
					sum += st->after[q].length;
				(void)sum;
			}
		}
		(void)jr_open_txn(&j);
	}
	jr_txns_free(j.txns, j.ntxns);
	free(buf);
	return 0;
}
