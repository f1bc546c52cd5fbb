/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The undo journal (see journal.h for the format and the guarantees).
 *
 * Payload keys (JSON):
 *   BEGIN   {"txn","time","command","uuid","undo_of","steps","pid",
 *            "volume","volume_name"[,"group"]}   ("volume",
 *            "volume_name": since volumes with one UUID are told apart;
 *            absent in older journals. "group": the first transaction of
 *            the same command, only in the later ones; journals without
 *            it read as one transaction per command)
 *   PLANNED {"txn","step","path","ino","gen","offset","length",
 *            "target":[[logical,physical,length,flags]...],"before":[...]}
 *   DONE    {"txn","step","after":[...],"bytes"}
 *   FAILED  {"txn","step","errno","message"}
 *   END     {"txn","status","message"}
 */
#include "config.h"
#include "journal.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "json_util.h"
#include "mem.h"

static const char jr_magic_file[12] = {'R', 'E', 'L', 'A', 'Y', 'O',
                                       'U', 'T', 'J', 'R', 'N', 'L'};
#define JR_REC_MAGIC 0x524a4c52u /* "RLJR" little endian */

/* ----------------------------------------------------------------- CRC32C */

static uint32_t crc_table[256];
static bool crc_ready;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		crc_table[i] = c;
	}
	crc_ready = true;
}

uint32_t jr_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	if (!crc_ready)
		crc_init();
	crc = ~crc;
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

const char *jr_status_name(enum jr_status st)
{
	switch (st) {
	case JR_ST_OPEN:
		return "open";
	case JR_ST_APPLIED:
		return "applied";
	case JR_ST_FAILED:
		return "failed";
	case JR_ST_STOPPED:
		return "stopped";
	case JR_ST_INTERRUPTED:
		return "interrupted";
	}
	return "?";
}

static enum jr_status status_from_name(const char *s)
{
	static const enum jr_status all[] = {JR_ST_APPLIED, JR_ST_FAILED,
	                                     JR_ST_STOPPED, JR_ST_INTERRUPTED};
	for (size_t i = 0; s && i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(s, jr_status_name(all[i])) == 0)
			return all[i];
	return JR_ST_FAILED;
}

/* --------------------------------------------------------------- records */

int jr_encode(enum jr_type type, const char *payload, unsigned char **out,
              size_t *outlen)
{
	size_t plen = strlen(payload);
	unsigned char *b;

	if (plen > JR_MAX_PAYLOAD)
		return -E2BIG;
	b = malloc(plen + JR_REC_OVERHEAD);
	if (!b)
		return -ENOMEM;
	put32(b, JR_REC_MAGIC);
	b[4] = (unsigned char)type;
	b[5] = (unsigned char)((unsigned)type >> 8);
	b[6] = b[7] = 0;
	put32(b + 8, (uint32_t)plen);
	put32(b + 12, jr_crc32c(0, b, 12));
	memcpy(b + 16, payload, plen);
	put32(b + 16 + plen, jr_crc32c(0, payload, plen));
	*out = b;
	*outlen = plen + JR_REC_OVERHEAD;
	return 0;
}

static uint64_t json_u64(const cJSON *v)
{
	/* Out of range (negative, NaN, 2^64 and more: a damaged payload)
	 * saturates instead of converting: a double beyond the range of
	 * uint64_t is undefined behaviour (found by tests/fuzz/fuzz_journal).
	 */
	if (cJSON_IsNumber(v)) {
		double d = v->valuedouble;
		if (!(d > 0))
			return 0;
		return d >= 18446744073709551616.0 ? UINT64_MAX : (uint64_t)d;
	}
	if (cJSON_IsString(v))
		return strtoull(v->valuestring, NULL, 10);
	return 0;
}

static uint64_t get_u64(const cJSON *o, const char *k)
{
	return json_u64(cJSON_GetObjectItemCaseSensitive(o, k));
}

static char *get_str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
}

static cJSON *pieces_json(const struct rl_extent *p, size_t n)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; a && i < n; i++) {
		cJSON *e = cJSON_CreateArray();

		cJSON_AddItemToArray(e, ju_u64(p[i].logical));
		cJSON_AddItemToArray(e, ju_u64(p[i].physical));
		cJSON_AddItemToArray(e, ju_u64(p[i].length));
		cJSON_AddItemToArray(e, ju_u64(p[i].flags));
		cJSON_AddItemToArray(a, e);
	}
	return a;
}

static int pieces_parse(const cJSON *a, struct rl_extent **out, size_t *n)
{
	int cnt = cJSON_GetArraySize(a);
	struct rl_extent *p;
	int i = 0;
	const cJSON *e;

	*out = NULL;
	*n = 0;
	if (!cJSON_IsArray(a) || cnt == 0)
		return 0;
	p = calloc((size_t)cnt, sizeof(*p));
	if (!p)
		return -ENOMEM;
	cJSON_ArrayForEach(e, a)
	{
		if (cJSON_GetArraySize(e) != 4) {
			free(p);
			return -EBADMSG;
		}
		p[i].logical = json_u64(cJSON_GetArrayItem(e, 0));
		p[i].physical = json_u64(cJSON_GetArrayItem(e, 1));
		p[i].length = json_u64(cJSON_GetArrayItem(e, 2));
		p[i].flags = (uint32_t)json_u64(cJSON_GetArrayItem(e, 3));
		i++;
	}
	*out = p;
	*n = (size_t)cnt;
	return 0;
}

struct rl_extent *jr_pieces_dup(const struct rl_extent *p, size_t n)
{
	struct rl_extent *d = calloc(n + 1, sizeof(*d));

	if (d && n)
		memcpy(d, p, n * sizeof(*d));
	return d;
}

int jr_range_copy(struct jr_range *dst, const struct jr_range *src)
{
	*dst = *src;
	dst->path = src->path ? strdup(src->path) : NULL;
	dst->target = jr_pieces_dup(src->target, src->ntarget);
	dst->before = jr_pieces_dup(src->before, src->nbefore);
	if ((src->path && !dst->path) || !dst->target || !dst->before) {
		jr_range_clear(dst);
		return -ENOMEM;
	}
	return 0;
}

void jr_range_clear(struct jr_range *r)
{
	free(r->path);
	free(r->target);
	free(r->before);
	memset(r, 0, sizeof(*r));
}

void jr_step_free(struct jr_step *st)
{
	jr_range_clear(&st->range);
	free(st->after);
	free(st->message);
	memset(st, 0, sizeof(*st));
}

void jr_txns_free(struct jr_txn *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < t[i].nsteps; k++)
			jr_step_free(&t[i].steps[k]);
		free(t[i].steps);
		free(t[i].command);
		free(t[i].uuid);
		free(t[i].volume);
		free(t[i].volume_name);
		free(t[i].end_message);
	}
	free(t);
}

struct jr_txn *jr_find(struct jr_journal *j, uint64_t id)
{
	for (size_t i = 0; i < j->ntxns; i++)
		if (j->txns[i].id == id)
			return &j->txns[i];
	return NULL;
}

int jr_set_volume(struct jr_journal *j, const char *id, const char *name)
{
	char *a = strdup(id), *b = strdup(name);

	if (!a || !b) {
		free(a);
		free(b);
		return -ENOMEM;
	}
	free(j->volume);
	free(j->volume_name);
	j->volume = a;
	j->volume_name = b;
	return 0;
}

bool jr_txn_here(const struct jr_journal *j, const struct jr_txn *t)
{
	return !j->volume || !t->volume || !strcmp(j->volume, t->volume);
}

struct jr_txn *jr_open_txn(struct jr_journal *j)
{
	for (size_t i = j->ntxns; i-- > 0;)
		if (j->txns[i].status == JR_ST_OPEN &&
		    jr_txn_here(j, &j->txns[i]))
			return &j->txns[i];
	return NULL;
}

static bool moved_data(const struct jr_txn *t)
{
	for (size_t i = 0; i < t->nsteps; i++)
		if (t->steps[i].nafter)
			return true;
	return false;
}

enum jr_undo_state jr_undoable(const struct jr_txn *t)
{
	if (t->status == JR_ST_OPEN)
		return JR_UNDO_OPEN;
	if (t->undone)
		return JR_UNDO_UNDONE;
	return moved_data(t) ? JR_UNDO_OK : JR_UNDO_NO_DATA;
}

struct jr_txn *jr_last_undoable(struct jr_journal *j)
{
	for (size_t i = j->ntxns; i-- > 0;)
		if (!j->txns[i].undo_of && jr_txn_here(j, &j->txns[i]) &&
		    jr_undoable(&j->txns[i]) == JR_UNDO_OK)
			return &j->txns[i];
	return NULL;
}

size_t jr_group_undoable(struct jr_journal *j, const struct jr_txn *t,
                         struct jr_txn **out)
{
	size_t n = 0;

	for (size_t i = j->ntxns; i-- > 0;)
		if (j->txns[i].group == t->group && !j->txns[i].undo_of &&
		    jr_txn_here(j, &j->txns[i]) &&
		    jr_undoable(&j->txns[i]) == JR_UNDO_OK)
			out[n++] = &j->txns[i];
	return n;
}

struct jr_txn *jr_last_redoable(struct jr_journal *j)
{
	for (size_t i = j->ntxns; i-- > 0;) {
		struct jr_txn *t = &j->txns[i], *x;

		if (!jr_txn_here(j, t) || t->status == JR_ST_OPEN)
			continue;
		if (!t->undo_of) {
			if (jr_undoable(t) != JR_UNDO_NO_DATA)
				return NULL; /* a command after the undo */
			continue;
		}
		x = jr_find(j, t->undo_of);
		if (x && !x->undo_of && jr_undoable(t) == JR_UNDO_OK)
			return t;
	}
	return NULL;
}

size_t jr_group_redoable(struct jr_journal *j, const struct jr_txn *t,
                         struct jr_txn **out)
{
	size_t n = 0;

	for (size_t i = j->ntxns; i-- > 0;)
		if (j->txns[i].group == t->group && j->txns[i].undo_of &&
		    jr_txn_here(j, &j->txns[i]) &&
		    jr_undoable(&j->txns[i]) == JR_UNDO_OK)
			out[n++] = &j->txns[i];
	return n;
}

static struct jr_step *find_step(struct jr_txn *t, unsigned index)
{
	for (size_t i = 0; i < t->nsteps; i++)
		if (t->steps[i].index == index)
			return &t->steps[i];
	return NULL;
}

/* Recompute "undone" flags: walk in order; an applied undo toggles its
 * target (undoing an undo re-does the original). */
static void recompute_undone(struct jr_journal *j)
{
	for (size_t i = 0; i < j->ntxns; i++) {
		j->txns[i].undone = false;
		j->txns[i].undone_by = 0;
	}
	for (size_t i = 0; i < j->ntxns; i++) {
		struct jr_txn *t = &j->txns[i], *x, *y;

		if (!t->undo_of || t->status != JR_ST_APPLIED)
			continue;
		x = jr_find(j, t->undo_of);
		if (!x)
			continue;
		x->undone = true;
		x->undone_by = t->id;
		if (x->undo_of && (y = jr_find(j, x->undo_of)) &&
		    y->undone_by == x->id) {
			y->undone = false;
			y->undone_by = 0;
		}
	}
}

/* Data bytes of st's range that its DONE extents no longer map where
 * they were before the step: what a step that ended part way (failed,
 * stopped, interrupted; its DONE record says 0 bytes) moved, and what
 * an undo moves back. */
static uint64_t moved_bytes(const struct jr_step *st)
{
	uint64_t n = 0;

	for (size_t a = 0; a < st->nafter; a++) {
		const struct rl_extent *x = &st->after[a];
		uint64_t stay = 0;

		for (size_t b = 0; b < st->range.nbefore; b++) {
			const struct rl_extent *y = &st->range.before[b];
			uint64_t lo =
			    x->logical > y->logical ? x->logical : y->logical;
			uint64_t hi = x->logical + x->length;

			if (y->logical + y->length < hi)
				hi = y->logical + y->length;
			if (lo < hi && x->physical + y->logical ==
			                   y->physical + x->logical)
				stay += hi - lo;
		}
		n += x->length - stay;
	}
	return n;
}

/* Apply one record to the in-memory view. -EBADMSG when it makes no
 * sense (a valid checksum over nonsense is corruption too). */
static int apply_record(struct jr_journal *j, unsigned type, const char *pl,
                        size_t plen)
{
	cJSON *o = cJSON_ParseWithLength(pl, plen);
	struct jr_txn *t;
	struct jr_step *st;
	int ret = 0;

	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return -EBADMSG;
	}
	uint64_t id = get_u64(o, "txn");
	if (type == JR_BEGIN) {
		if (id == 0 || jr_find(j, id)) {
			ret = -EBADMSG;
			goto out;
		}
		if (mem_grow(&j->txns, &j->txns_cap, j->ntxns + 1,
		             sizeof(*j->txns)) < 0) {
			ret = -ENOMEM;
			goto out;
		}
		t = &j->txns[j->ntxns++];
		memset(t, 0, sizeof(*t));
		t->id = id;
		t->time = (int64_t)get_u64(o, "time");
		t->command = get_str(o, "command");
		t->uuid = get_str(o, "uuid");
		t->volume = get_str(o, "volume");
		t->volume_name = get_str(o, "volume_name");
		t->undo_of = get_u64(o, "undo_of");
		t->group = get_u64(o, "group") ? get_u64(o, "group") : id;
		t->nplanned = (unsigned)get_u64(o, "steps");
		t->pid = (long)get_u64(o, "pid");
		t->status = JR_ST_OPEN;
		goto out;
	}
	t = jr_find(j, id);
	if (!t) {
		ret = -EBADMSG;
		goto out;
	}
	switch (type) {
	case JR_PLANNED: {
		if (mem_grow(&t->steps, &t->steps_cap, t->nsteps + 1,
		             sizeof(*t->steps)) < 0) {
			ret = -ENOMEM;
			goto out;
		}
		st = &t->steps[t->nsteps++];
		memset(st, 0, sizeof(*st));
		st->index = (unsigned)get_u64(o, "step");
		st->state = JR_STEP_PLANNED;
		st->range.path = get_str(o, "path");
		st->range.ino = get_u64(o, "ino");
		st->range.gen = get_u64(o, "gen");
		st->range.offset = get_u64(o, "offset");
		st->range.length = get_u64(o, "length");
		st->unshare = cJSON_IsTrue(
		    cJSON_GetObjectItemCaseSensitive(o, "unshare"));
		if (pieces_parse(cJSON_GetObjectItemCaseSensitive(o, "target"),
		                 &st->range.target, &st->range.ntarget) < 0 ||
		    pieces_parse(cJSON_GetObjectItemCaseSensitive(o, "before"),
		                 &st->range.before, &st->range.nbefore) < 0)
			ret = -EBADMSG;
		break;
	}
	case JR_DONE:
		st = find_step(t, (unsigned)get_u64(o, "step"));
		if (!st) {
			ret = -EBADMSG;
			break;
		}
		free(st->after);
		st->state = JR_STEP_DONE;
		if (pieces_parse(cJSON_GetObjectItemCaseSensitive(o, "after"),
		                 &st->after, &st->nafter) < 0) {
			ret = -EBADMSG;
			break;
		}
		/* 0: the step ended part way; count it from the extents */
		t->bytes +=
		    get_u64(o, "bytes") ? get_u64(o, "bytes") : moved_bytes(st);
		break;
	case JR_FAILED:
		st = find_step(t, (unsigned)get_u64(o, "step"));
		if (!st) {
			ret = -EBADMSG;
			break;
		}
		st->state = JR_STEP_FAILED;
		st->err = (int)get_u64(o, "errno");
		free(st->message);
		st->message = get_str(o, "message");
		break;
	case JR_END: {
		char *s = get_str(o, "status");
		t->status = status_from_name(s);
		free(s);
		free(t->end_message);
		t->end_message = get_str(o, "message");
		break;
	}
	default:
		ret = -EBADMSG;
	}
out:
	cJSON_Delete(o);
	return ret;
}

static bool all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

int jr_parse(struct jr_journal *j, const unsigned char *buf, size_t len)
{
	size_t off;

	jr_txns_free(j->txns, j->ntxns);
	j->txns = NULL;
	j->ntxns = j->txns_cap = 0;
	j->tail_damaged = j->corrupt = false;
	j->corrupt_at = 0;
	j->problem[0] = '\0';
	j->file_size = len;
	j->good_end = 0;
	if (len == 0)
		return 0; /* new, empty */
	if (len < JR_HEADER_SIZE) {
		if (memcmp(buf, jr_magic_file,
		           len < sizeof(jr_magic_file) ? len
		                                       : sizeof(jr_magic_file)))
			goto notjournal;
		j->tail_damaged = true;
		snprintf(j->problem, sizeof(j->problem),
		         "journal header cut short (%zu bytes)", len);
		return 0;
	}
	if (memcmp(buf, jr_magic_file, sizeof(jr_magic_file)) != 0)
		goto notjournal;
	if (get32(buf + 12) != JR_VERSION) {
		snprintf(j->problem, sizeof(j->problem),
		         "journal format version %u (this relayout reads %u)",
		         get32(buf + 12), JR_VERSION);
		return -EPROTONOSUPPORT;
	}
	off = JR_HEADER_SIZE;
	j->good_end = off;
	while (off < len) {
		size_t rest = len - off;
		const unsigned char *r = buf + off;
		uint32_t plen;
		unsigned type;
		int ret;

		if (all_zero(r, rest)) {
			j->tail_damaged = true;
			snprintf(j->problem, sizeof(j->problem),
			         "%zu zero bytes after the last record at "
			         "offset %zu",
			         rest, off);
			return 0;
		}
		if (rest < 16) {
			j->tail_damaged = true;
			snprintf(j->problem, sizeof(j->problem),
			         "last record cut short at offset %zu "
			         "(%zu of its header bytes)",
			         off, rest);
			return 0;
		}
		if (get32(r) != JR_REC_MAGIC ||
		    get32(r + 12) != jr_crc32c(0, r, 12) || r[6] || r[7]) {
			j->corrupt = true;
			j->corrupt_at = off;
			snprintf(j->problem, sizeof(j->problem),
			         "bad record header at offset %zu", off);
			return 0;
		}
		type = (unsigned)r[4] | (unsigned)r[5] << 8;
		plen = get32(r + 8);
		if (plen > JR_MAX_PAYLOAD) {
			j->corrupt = true;
			j->corrupt_at = off;
			snprintf(j->problem, sizeof(j->problem),
			         "record at offset %zu claims %u bytes", off,
			         plen);
			return 0;
		}
		if ((size_t)plen + JR_REC_OVERHEAD > rest) {
			j->tail_damaged = true;
			snprintf(j->problem, sizeof(j->problem),
			         "last record cut short at offset %zu "
			         "(%zu of %u bytes)",
			         off, rest, plen + JR_REC_OVERHEAD);
			return 0;
		}
		if (get32(r + 16 + plen) != jr_crc32c(0, r + 16, plen)) {
			if ((size_t)plen + JR_REC_OVERHEAD == rest) {
				j->tail_damaged = true;
				snprintf(j->problem, sizeof(j->problem),
				         "last record at offset %zu fails its "
				         "checksum (torn write)",
				         off);
			} else {
				j->corrupt = true;
				j->corrupt_at = off;
				snprintf(j->problem, sizeof(j->problem),
				         "record at offset %zu fails its "
				         "checksum",
				         off);
			}
			return 0;
		}
		ret = apply_record(j, type, (const char *)r + 16, plen);
		if (ret == -ENOMEM)
			return ret;
		if (ret < 0) {
			j->corrupt = true;
			j->corrupt_at = off;
			snprintf(j->problem, sizeof(j->problem),
			         "record at offset %zu (type %u) does not fit "
			         "the journal",
			         off, type);
			return 0;
		}
		off += plen + JR_REC_OVERHEAD;
		j->good_end = off;
	}
	recompute_undone(j);
	return 0;
notjournal:
	j->corrupt = true;
	snprintf(j->problem, sizeof(j->problem), "not a relayout journal");
	return -EBADMSG;
}

/* ------------------------------------------------------------- directory */

int jr_state_home(char *buf, size_t len)
{
	const char *st = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	int n;

	/* The XDG base directory spec: relative paths are invalid and
	 * ignored. */
	if (st && st[0] == '/')
		n = snprintf(buf, len, "%s/relayout", st);
	else if (home && home[0] == '/')
		n = snprintf(buf, len, "%s/.local/state/relayout", home);
	else
		return -ENOENT;
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

const char *jr_dir_choice(const char *explicit_dir, char *buf, size_t len)
{
	const char *e;
	size_t n;

	if (explicit_dir && *explicit_dir)
		return explicit_dir;
	e = getenv(JR_ENV_DIR);
	if (e && *e)
		return e;
	if (geteuid() == 0)
		return JR_DEFAULT_DIR;
	if (jr_state_home(buf, len) < 0)
		return NULL;
	n = strlen(buf);
	if (n + sizeof("/journal") > len)
		return NULL;
	memcpy(buf + n, "/journal", sizeof("/journal"));
	return buf;
}

bool jr_dir_trusted(const struct stat *st)
{
	if (st->st_uid != geteuid() && st->st_uid != 0)
		return false;
	if (st->st_mode & S_ISVTX)
		return true; /* like /tmp: others cannot rename our entries */
	if (st->st_mode & S_IWOTH)
		return false;
	return !(st->st_mode & S_IWGRP) || st->st_gid == getegid() ||
	       st->st_gid == 0;
}

static int check_dir(int fd, const char *what, const char *dir, char *msg,
                     size_t msglen)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_uid != geteuid()) {
		snprintf(msg, msglen,
		         "%s %s is owned by uid %u, not by uid %u: refused",
		         what, dir, (unsigned)st.st_uid, (unsigned)geteuid());
		return -EPERM;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(msg, msglen,
		         "%s %s is writable by %s (mode %04o): refused", what,
		         dir, (st.st_mode & S_IWOTH) ? "everyone" : "its group",
		         (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

/* A directory on the way to a private directory: whoever controls it can
 * swap what lies below it. */
static int check_parent(int fd, const char *what, const char *dir, int complen,
                        char *msg, size_t msglen)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (jr_dir_trusted(&st))
		return 0;
	snprintf(msg, msglen,
	         "%s %s: the directory %.*s on its path is controlled by "
	         "another user (owner uid %u, mode %04o): refused",
	         what, dir, complen, dir, (unsigned)st.st_uid,
	         (unsigned)(st.st_mode & 07777));
	return -EPERM;
}

int jr_open_dir(const char *dir, bool create, char *msg, size_t msglen)
{
	return jr_open_private_dir(dir, "journal directory", create, msg,
	                           msglen);
}

int jr_open_private_dir(const char *dir, const char *what, bool create,
                        char *msg, size_t msglen)
{
	char *copy, *p, *next;
	int fd, nfd, ret = 0;
	bool last;

	msg[0] = '\0';
	if (!dir || !*dir) {
		snprintf(msg, msglen, "empty %s name", what);
		return -EINVAL;
	}
	copy = strdup(dir);
	if (!copy)
		return -ENOMEM;
	fd =
	    open(dir[0] == '/' ? "/" : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		free(copy);
		return -errno;
	}
	for (p = copy; p; p = next) {
		while (*p == '/')
			p++;
		next = strchr(p, '/');
		if (next)
			*next++ = '\0';
		if (!*p)
			continue;
		last = !next || !*next;
		nfd = openat(fd, p,
		             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0 && errno == ENOENT && create) {
			/* private, like the XDG spec asks of new state
			 * directories */
			if (mkdirat(fd, p, 0700) < 0 && errno != EEXIST) {
				ret = -errno;
				snprintf(msg, msglen, "cannot create %s %s: %s",
				         what, dir, strerror(errno));
				break;
			}
			fsync(fd);
			nfd = openat(fd, p,
			             O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			                 O_CLOEXEC);
		}
		if (nfd < 0) {
			ret = -errno;
			if (ret == -ENOTDIR || ret == -ELOOP) {
				struct stat lst;
				if (fstatat(fd, p, &lst, AT_SYMLINK_NOFOLLOW) ==
				        0 &&
				    S_ISLNK(lst.st_mode))
					ret = -ELOOP;
				else
					ret = -ENOTDIR;
			}
			if (ret == -ELOOP)
				snprintf(msg, msglen,
				         "%s %s: %.*s is a symbolic link "
				         "(never followed): refused",
				         what, dir, (int)(p - copy + strlen(p)),
				         dir);
			else
				snprintf(msg, msglen, "%s %s: %s", what, dir,
				         strerror(-ret));
			break;
		}
		close(fd);
		fd = nfd;
		if (!last) {
			ret = check_parent(fd, what, dir,
			                   (int)(p - copy + strlen(p)), msg,
			                   msglen);
			if (ret < 0)
				break;
		}
	}
	free(copy);
	if (ret == 0)
		ret = check_dir(fd, what, dir, msg, msglen);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	return fd;
}

/* ------------------------------------------------------------------ open */

static int read_all(int fd, unsigned char **out, size_t *len)
{
	struct stat st;
	unsigned char *b;
	size_t got = 0;

	if (fstat(fd, &st) < 0)
		return -errno;
	b = malloc((size_t)st.st_size + 1);
	if (!b)
		return -ENOMEM;
	while (got < (size_t)st.st_size) {
		ssize_t r =
		    pread(fd, b + got, (size_t)st.st_size - got, (off_t)got);
		if (r < 0) {
			int e = -errno;
			free(b);
			return e;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	*out = b;
	*len = got;
	return 0;
}

static int take_lock(struct jr_journal *j, long *holder, char *msg,
                     size_t msglen)
{
	char lname[64], pidbuf[32];
	int fd;

	snprintf(lname, sizeof(lname), "%s.lock", j->uuid);
	fd = openat(j->dirfd, lname, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	            0600);
	if (fd < 0) {
		int e = -errno;
		snprintf(msg, msglen, "cannot open lock file %s/%s: %s", j->dir,
		         lname, strerror(errno));
		return e;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno == EWOULDBLOCK ? -EWOULDBLOCK : -errno;
		ssize_t r = pread(fd, pidbuf, sizeof(pidbuf) - 1, 0);
		long pid = 0;

		if (r > 0) {
			pidbuf[r] = '\0';
			pid = strtol(pidbuf, NULL, 10);
		}
		if (holder)
			*holder = pid;
		/* the volume lock is taken first: the holder may well work
		 * on a copy of this filesystem (same UUID, same journal) */
		snprintf(msg, msglen,
		         "another relayout is working on this volume or on "
		         "another one with the same UUID (pid %ld holds the "
		         "journal %s/%s.journal)",
		         pid, j->dir, j->uuid);
		close(fd);
		return e;
	}
	int n = snprintf(pidbuf, sizeof(pidbuf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == 0 && pwrite(fd, pidbuf, (size_t)n, 0) == n)
		fdatasync(fd);
	j->lockfd = fd;
	return 0;
}

int jr_reload(struct jr_journal *j)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	int ret;

	if (j->fd < 0)
		return jr_parse(j, (const unsigned char *)"", 0);
	ret = read_all(j->fd, &buf, &len);
	if (ret < 0)
		return ret;
	ret = jr_parse(j, buf, len);
	free(buf);
	return ret;
}

int jr_open(const char *dir, const char *uuid, unsigned flags,
            struct jr_journal **out, long *holder, char *msg, size_t msglen)
{
	struct jr_journal *j;
	int ret;

	*out = NULL;
	msg[0] = '\0';
	if (holder)
		*holder = 0;
	if (!uuid || !*uuid || strlen(uuid) >= sizeof(j->uuid) ||
	    strchr(uuid, '/') || uuid[0] == '.') {
		snprintf(msg, msglen,
		         "the volume has no usable UUID: no "
		         "journal can be kept for it");
		return -EINVAL;
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->fd = j->lockfd = j->dirfd = -1;
	snprintf(j->uuid, sizeof(j->uuid), "%s", uuid);
	j->dir = strdup(dir);
	if (asprintf(&j->name, "%s.journal", uuid) < 0)
		j->name = NULL;
	if (!j->dir || !j->name) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = jr_open_dir(dir, flags & JR_O_CREATE, msg, msglen);
	if (ret == -ENOENT && !(flags & JR_O_CREATE)) {
		/* no directory: no journal yet */
		j->dirfd = -1;
		msg[0] = '\0';
		*out = j;
		return 0;
	}
	if (ret < 0)
		goto fail;
	j->dirfd = ret;
	if (flags & JR_O_LOCK) {
		ret = take_lock(j, holder, msg, msglen);
		if (ret < 0)
			goto fail;
	}
	j->fd = openat(j->dirfd, j->name,
	               ((flags & JR_O_LOCK) ? O_RDWR : O_RDONLY) | O_NOFOLLOW |
	                   O_CLOEXEC);
	if (j->fd < 0 && errno == ENOENT && (flags & JR_O_CREATE)) {
		j->fd = openat(
		    j->dirfd, j->name,
		    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (j->fd >= 0) {
			unsigned char h[JR_HEADER_SIZE];
			memcpy(h, jr_magic_file, sizeof(jr_magic_file));
			put32(h + 12, JR_VERSION);
			if (pwrite(j->fd, h, sizeof(h), 0) != sizeof(h) ||
			    fdatasync(j->fd) < 0 || fsync(j->dirfd) < 0) {
				ret = errno ? -errno : -EIO;
				snprintf(msg, msglen,
				         "cannot write journal %s/%s: %s", dir,
				         j->name, strerror(-ret));
				goto fail;
			}
		}
	}
	if (j->fd < 0) {
		if (errno == ENOENT) {
			*out = j; /* read-only view of a missing journal */
			return 0;
		}
		ret = -errno;
		snprintf(msg, msglen, "cannot open journal %s/%s: %s", dir,
		         j->name, strerror(errno));
		goto fail;
	}
	{
		struct stat st;
		if (fstat(j->fd, &st) == 0 && !S_ISREG(st.st_mode)) {
			ret = -EINVAL;
			snprintf(msg, msglen,
			         "journal %s/%s is not a regular "
			         "file: refused",
			         dir, j->name);
			goto fail;
		}
	}
	ret = jr_reload(j);
	if (ret < 0) {
		if (!msg[0])
			snprintf(msg, msglen, "journal %s/%s: %s", dir, j->name,
			         j->problem[0] ? j->problem : strerror(-ret));
		goto fail;
	}
	*out = j;
	return 0;
fail:
	jr_close(j);
	return ret;
}

void jr_close(struct jr_journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	if (j->lockfd >= 0)
		close(j->lockfd); /* releases the flock */
	if (j->dirfd >= 0)
		close(j->dirfd);
	jr_txns_free(j->txns, j->ntxns);
	free(j->volume);
	free(j->volume_name);
	free(j->dir);
	free(j->name);
	free(j);
}

/* ---------------------------------------------------------------- append */

static int append_record(struct jr_journal *j, enum jr_type type, cJSON *o)
{
	char *pl;
	unsigned char *rec;
	size_t len, done = 0;
	int ret;

	if (j->fd < 0 || j->lockfd < 0) {
		cJSON_Delete(o);
		return -EBADF;
	}
	if (j->corrupt) {
		cJSON_Delete(o);
		return -EBADMSG;
	}
	pl = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!pl)
		return -ENOMEM;
	ret = jr_encode(type, pl, &rec, &len);
	if (ret < 0) {
		free(pl);
		return ret;
	}
	if (j->tail_damaged || j->file_size != j->good_end) {
		/* Cut the damaged tail (it was reported when read). */
		if (ftruncate(j->fd, (off_t)j->good_end) < 0) {
			ret = -errno;
			goto out;
		}
		if (j->good_end < JR_HEADER_SIZE) {
			unsigned char h[JR_HEADER_SIZE];
			memcpy(h, jr_magic_file, sizeof(jr_magic_file));
			put32(h + 12, JR_VERSION);
			if (pwrite(j->fd, h, sizeof(h), 0) != sizeof(h)) {
				ret = errno ? -errno : -EIO;
				goto out;
			}
			j->good_end = JR_HEADER_SIZE;
		}
		j->file_size = j->good_end;
		j->tail_damaged = false;
	}
	while (done < len) {
		ssize_t w = pwrite(j->fd, rec + done, len - done,
		                   (off_t)(j->good_end + done));
		if (w < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		done += (size_t)w;
	}
	if (ret == 0) {
		bool step =
		    type == JR_PLANNED || type == JR_DONE || type == JR_FAILED;
		if (j->defer_sync && step)
			j->unsynced = true;
		else if (fdatasync(j->fd) < 0)
			ret = -errno;
		else
			j->unsynced = false;
	}
	if (ret < 0) {
		/* Leave no partial record behind if we can help it. */
		if (ftruncate(j->fd, (off_t)j->good_end) == 0)
			fdatasync(j->fd);
		goto out;
	}
	ret = apply_record(j, type, pl, strlen(pl));
	j->good_end += len;
	j->file_size = j->good_end;
	recompute_undone(j);
out:
	free(rec);
	free(pl);
	return ret;
}

static bool id_listed(const uint64_t *ids, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/* Write all of buf to fd from offset 0. */
static int write_all(int fd, const unsigned char *buf, size_t len)
{
	for (size_t done = 0; done < len;) {
		ssize_t w = pwrite(fd, buf + done, len - done, (off_t)done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		done += (size_t)w;
	}
	return 0;
}

int jr_forget(struct jr_journal *j, const uint64_t *ids, size_t n,
              uint64_t *freed)
{
	unsigned char *buf = NULL, *nb = NULL;
	size_t len = 0, nl = 0, off;
	char tmp[64];
	int fd = -1, ret;

	if (freed)
		*freed = 0;
	if (j->fd < 0 || j->lockfd < 0 || j->dirfd < 0)
		return -EBADF;
	ret = jr_reload(j);
	if (ret < 0)
		return ret;
	if (j->corrupt)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		const struct jr_txn *t = jr_find(j, ids[i]);
		if (!t)
			return -ENOENT;
		if (t->status == JR_ST_OPEN)
			return -EBUSY;
	}
	ret = read_all(j->fd, &buf, &len);
	if (ret < 0)
		return ret;
	if (len > j->good_end)
		len = j->good_end; /* the damaged tail is left out */
	nb = malloc(len > JR_HEADER_SIZE ? len : JR_HEADER_SIZE);
	if (!nb) {
		ret = -ENOMEM;
		goto out;
	}
	memcpy(nb, jr_magic_file, sizeof(jr_magic_file));
	put32(nb + 12, JR_VERSION);
	nl = JR_HEADER_SIZE;
	/* the records were checked by jr_reload: walk their framing */
	for (off = JR_HEADER_SIZE; off + JR_REC_OVERHEAD <= len;) {
		uint32_t plen = get32(buf + off + 8);
		size_t rl = (size_t)plen + JR_REC_OVERHEAD;
		cJSON *o =
		    cJSON_ParseWithLength((const char *)buf + off + 16, plen);
		uint64_t id = get_u64(o, "txn");

		cJSON_Delete(o);
		if (!id_listed(ids, n, id)) {
			memcpy(nb + nl, buf + off, rl);
			nl += rl;
		}
		off += rl;
	}
	snprintf(tmp, sizeof(tmp), "%s.journal.new", j->uuid);
	if (unlinkat(j->dirfd, tmp, 0) < 0 && errno != ENOENT) {
		ret = -errno;
		goto out;
	}
	fd = openat(j->dirfd, tmp,
	            O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	ret = write_all(fd, nb, nl);
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	if (ret == 0 && renameat(j->dirfd, tmp, j->dirfd, j->name) < 0)
		ret = -errno;
	if (ret < 0) {
		unlinkat(j->dirfd, tmp, 0);
		close(fd);
		goto out;
	}
	fsync(j->dirfd);
	close(j->fd);
	j->fd = fd;
	if (freed)
		*freed = j->file_size > nl ? j->file_size - nl : 0;
	ret = jr_reload(j);
out:
	free(buf);
	free(nb);
	return ret;
}

void jr_defer_sync(struct jr_journal *j, bool on)
{
	j->defer_sync = on;
}

int jr_sync(struct jr_journal *j)
{
	if (!j->unsynced)
		return 0;
	if (fdatasync(j->fd) < 0)
		return -errno;
	j->unsynced = false;
	return 0;
}

int jr_begin(struct jr_journal *j, const char *command, uint64_t undo_of,
             unsigned nsteps, uint64_t *id)
{
	uint64_t next = 1;
	cJSON *o;
	int ret;

	for (size_t i = 0; i < j->ntxns; i++)
		if (j->txns[i].id >= next)
			next = j->txns[i].id + 1;
	o = cJSON_CreateObject();
	if (!o)
		return -ENOMEM;
	ju_add_u64(o, "txn", next);
	ju_add_u64(o, "time", (uint64_t)time(NULL));
	cJSON_AddStringToObject(o, "command", command ? command : "");
	cJSON_AddStringToObject(o, "uuid", j->uuid);
	ju_add_u64(o, "undo_of", undo_of);
	ju_add_u64(o, "steps", nsteps);
	ju_add_u64(o, "pid", (uint64_t)getpid());
	if (j->volume) {
		cJSON_AddStringToObject(o, "volume", j->volume);
		cJSON_AddStringToObject(o, "volume_name", j->volume_name);
	}
	if (j->next_group && j->next_group != next)
		ju_add_u64(o, "group", j->next_group);
	ret = append_record(j, JR_BEGIN, o);
	if (ret == 0)
		*id = next;
	return ret;
}

int jr_step_planned(struct jr_journal *j, uint64_t id,
                    const struct jr_step *step)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return -ENOMEM;
	ju_add_u64(o, "txn", id);
	ju_add_u64(o, "step", step->index);
	cJSON_AddStringToObject(o, "path",
	                        step->range.path ? step->range.path : "");
	ju_add_u64(o, "ino", step->range.ino);
	ju_add_u64(o, "gen", step->range.gen);
	ju_add_u64(o, "offset", step->range.offset);
	ju_add_u64(o, "length", step->range.length);
	cJSON_AddItemToObject(
	    o, "target", pieces_json(step->range.target, step->range.ntarget));
	cJSON_AddItemToObject(
	    o, "before", pieces_json(step->range.before, step->range.nbefore));
	if (step->unshare)
		cJSON_AddTrueToObject(o, "unshare");
	return append_record(j, JR_PLANNED, o);
}

int jr_step_done(struct jr_journal *j, uint64_t id, unsigned index,
                 const struct rl_extent *after, size_t nafter, uint64_t bytes)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return -ENOMEM;
	ju_add_u64(o, "txn", id);
	ju_add_u64(o, "step", index);
	cJSON_AddItemToObject(o, "after", pieces_json(after, nafter));
	ju_add_u64(o, "bytes", bytes);
	return append_record(j, JR_DONE, o);
}

int jr_step_failed(struct jr_journal *j, uint64_t id, unsigned index, int err,
                   const char *message)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return -ENOMEM;
	ju_add_u64(o, "txn", id);
	ju_add_u64(o, "step", index);
	ju_add_u64(o, "errno", (uint64_t)(err < 0 ? -err : err));
	cJSON_AddStringToObject(o, "message", message ? message : "");
	return append_record(j, JR_FAILED, o);
}

int jr_end(struct jr_journal *j, uint64_t id, enum jr_status st,
           const char *message)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return -ENOMEM;
	ju_add_u64(o, "txn", id);
	cJSON_AddStringToObject(o, "status", jr_status_name(st));
	cJSON_AddStringToObject(o, "message", message ? message : "");
	return append_record(j, JR_END, o);
}
