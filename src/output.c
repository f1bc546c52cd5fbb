/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"
#include "output.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include "session.h"

static const struct {
	uint32_t flag;
	const char *name;
} extent_flag_names[] = {
    {RL_EXT_LAST, "last"},           {RL_EXT_UNKNOWN, "unknown"},
    {RL_EXT_DELALLOC, "delalloc"},   {RL_EXT_ENCODED, "encoded"},
    {RL_EXT_ENCRYPTED, "encrypted"}, {RL_EXT_NOT_ALIGNED, "not_aligned"},
    {RL_EXT_DATA_INLINE, "inline"},  {RL_EXT_DATA_TAIL, "tail"},
    {RL_EXT_UNWRITTEN, "unwritten"}, {RL_EXT_MERGED, "merged"},
    {RL_EXT_SHARED, "shared"},
};

/* Length of the valid UTF-8 sequence at p (1-4), 0 if invalid; *cp gets
 * the code point. */
static size_t utf8_seq(const unsigned char *p, uint32_t *cp)
{
	uint32_t c = p[0], min;
	size_t n;

	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if ((c & 0xe0) == 0xc0) {
		n = 2, c &= 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		n = 3, c &= 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		n = 4, c &= 0x07, min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80) /* also stops at the NUL */
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* Valid, but not to be shown as is (controls, invisible reordering). */
static bool cp_hidden(uint32_t c)
{
	return (c >= 0x80 && c <= 0x9f) || c == 0x200e || c == 0x200f ||
	       c == 0x2028 || c == 0x2029 || (c >= 0x202a && c <= 0x202e) ||
	       (c >= 0x2066 && c <= 0x2069);
}

bool out_utf8_valid(const char *raw)
{
	const unsigned char *p = (const unsigned char *)raw;
	uint32_t cp;

	while (*p) {
		size_t n = utf8_seq(p, &cp);
		if (!n)
			return false;
		p += n;
	}
	return true;
}

const char *out_esc(const char *raw, char *buf, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)(raw ? raw : "(null)");
	size_t used = 0;

	if (size == 0)
		return buf;
	while (*p) {
		char tmp[32];
		size_t tn = 0;
		uint32_t cp;
		size_t n = utf8_seq(p, &cp);

		if (n == 1 && cp == '\\') {
			tmp[tn++] = '\\', tmp[tn++] = '\\';
		} else if (n == 1 && (cp == '\n' || cp == '\t' || cp == '\r')) {
			tmp[tn++] = '\\';
			tmp[tn++] = cp == '\n' ? 'n' : cp == '\t' ? 't' : 'r';
		} else if (n && cp >= 0x20 && cp != 0x7f && !cp_hidden(cp)) {
			memcpy(tmp, p, n);
			tn = n;
		} else {
			if (!n)
				n = 1; /* one invalid byte */
			for (size_t i = 0; i < n; i++) {
				tmp[tn++] = '\\', tmp[tn++] = 'x';
				tmp[tn++] = hex[p[i] >> 4];
				tmp[tn++] = hex[p[i] & 15];
			}
		}
		if (used + tn + 1 > size) {
			/* does not fit: end in "..." */
			while (used > 0 && used + 4 > size)
				used--;
			/* never cut a UTF-8 sequence */
			while (used > 0 &&
			       ((unsigned char)buf[used] & 0xc0) == 0x80)
				used--;
			if (used + 4 <= size) {
				memcpy(buf + used, "...", 3);
				used += 3;
			}
			break;
		}
		memcpy(buf + used, tmp, tn);
		used += tn;
		p += n;
	}
	buf[used] = '\0';
	return buf;
}

cJSON *out_json_name(const char *raw)
{
	cJSON *j;
	char *buf;

	if (!raw)
		return cJSON_CreateNull();
	if (out_utf8_valid(raw))
		return cJSON_CreateString(raw);
	buf = malloc(strlen(raw) * 4 + 1);
	if (!buf)
		return NULL;
	j = cJSON_CreateString(out_esc(raw, buf, strlen(raw) * 4 + 1));
	free(buf);
	return j;
}

cJSON *out_add_name(cJSON *obj, const char *key, const char *raw)
{
	cJSON *j = out_json_name(raw);

	if (!j)
		return NULL;
	if (!cJSON_AddItemToObject(obj, key, j)) {
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

int out_json_emit(struct rl_session *s, cJSON *obj)
{
	char *text;

	if (!obj)
		return -ENOMEM;
	if (s->cur_cmd && !cJSON_GetObjectItemCaseSensitive(obj, "command")) {
		/* Put "command" first: easier to read in a stream. */
		cJSON *wrap = cJSON_CreateObject();

		if (!wrap ||
		    !cJSON_AddStringToObject(wrap, "command", s->cur_cmd)) {
			cJSON_Delete(wrap);
			cJSON_Delete(obj);
			return -ENOMEM;
		}
		while (obj->child) {
			cJSON *it = cJSON_DetachItemViaPointer(obj, obj->child);
			const char *key = it->string;
			it->string = NULL;
			cJSON_AddItemToObject(wrap, key, it);
			free((char *)key);
		}
		cJSON_Delete(obj);
		obj = wrap;
	}
	text = cJSON_PrintUnformatted(obj);
	cJSON_Delete(obj);
	if (!text)
		return -ENOMEM;
	fprintf(s->out, "%s\n", text);
	fflush(s->out);
	free(text);
	return 0;
}

void out_json_error(struct rl_session *s, const char *msg)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return;
	out_add_name(o, "error", msg);
	out_json_emit(s, o);
}

void out_extent_flags(uint32_t flags, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0;
	     i < sizeof(extent_flag_names) / sizeof(extent_flag_names[0]);
	     i++) {
		if (!(flags & extent_flag_names[i].flag) ||
		    extent_flag_names[i].flag == RL_EXT_LAST)
			continue;
		int n = snprintf(buf + used, size - used, "%s%s",
		                 used ? "," : "", extent_flag_names[i].name);
		if (n < 0 || (size_t)n >= size - used)
			break;
		used += (size_t)n;
	}
}

cJSON *out_extents_json(const struct rl_extent *ext, size_t n)
{
	cJSON *arr = cJSON_CreateArray();

	if (!arr)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		cJSON *e = cJSON_CreateObject();
		cJSON *fl = cJSON_CreateArray();

		if (!e || !fl) {
			cJSON_Delete(e);
			cJSON_Delete(fl);
			cJSON_Delete(arr);
			return NULL;
		}
		out_add_u64(e, "logical", ext[i].logical);
		out_add_u64(e, "physical", ext[i].physical);
		out_add_u64(e, "length", ext[i].length);
		for (size_t k = 0; k < sizeof(extent_flag_names) /
		                           sizeof(extent_flag_names[0]);
		     k++)
			if (ext[i].flags & extent_flag_names[k].flag)
				cJSON_AddItemToArray(
				    fl, cJSON_CreateString(
				            extent_flag_names[k].name));
		cJSON_AddItemToObject(e, "flags", fl);
		cJSON_AddItemToArray(arr, e);
	}
	return arr;
}

/* ------------------------------------------------------- files written */

int out_file_open(struct out_file *of, const char *path, mode_t mode)
{
	static const char set[] = "abcdefghijklmnopqrstuvwxyz"
	                          "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	size_t len = strlen(path);
	struct stat st;
	int fd = -1, r = -EEXIST;

	memset(of, 0, sizeof(*of));
	/* a device, FIFO or directory is never replaced (a symbolic link
	 * is: the rename does not follow it) */
	if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode) &&
	    !S_ISLNK(st.st_mode))
		return -EINVAL;
	of->path = strdup(path);
	of->tmp = malloc(len + 8);
	if (!of->path || !of->tmp) {
		r = -ENOMEM;
		goto fail;
	}
	/* mkstemp would make it 0600 whatever mode and the umask say */
	for (int tries = 0; fd < 0 && r == -EEXIST && tries < 100; tries++) {
		unsigned char rnd[6];

		if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
			for (size_t i = 0; i < sizeof(rnd); i++)
				rnd[i] = (unsigned char)(rand() ^ getpid());
		memcpy(of->tmp, path, len);
		of->tmp[len] = '.';
		for (size_t i = 0; i < sizeof(rnd); i++)
			of->tmp[len + 1 + i] = set[rnd[i] % (sizeof(set) - 1)];
		of->tmp[len + 7] = '\0';
		fd = open(of->tmp,
		          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		          mode);
		r = fd < 0 ? -errno : 0;
	}
	if (fd < 0)
		goto fail;
	of->f = fdopen(fd, "w");
	if (of->f)
		return 0;
	r = -errno;
	close(fd);
	unlink(of->tmp);
fail:
	free(of->path);
	free(of->tmp);
	memset(of, 0, sizeof(*of));
	return r;
}

int out_file_close(struct out_file *of, int err)
{
	if (!of->f)
		return err ? err : -EBADF;
	if (err == 0 && fflush(of->f) != 0)
		err = -errno;
	if (err == 0 && fsync(fileno(of->f)) != 0)
		err = -errno;
	if (fclose(of->f) != 0 && err == 0)
		err = -errno;
	if (err == 0 && rename(of->tmp, of->path) != 0)
		err = -errno;
	if (err != 0)
		unlink(of->tmp);
	free(of->path);
	free(of->tmp);
	memset(of, 0, sizeof(*of));
	return err;
}

const char *out_file_strerror(int err)
{
	return err == -EINVAL ? "not a regular file" : strerror(-err);
}

/* The notes out_report groups: a "skip PATH" line that ends in this
 * reason, or (paren) in it and a " (...)" after it. */
static const struct {
	const char *why;
	bool paren;
} report_kinds[] = {
    {": already optimal", true},
    {": no data blocks", false},
};
#define REPORT_KINDS (sizeof(report_kinds) / sizeof(report_kinds[0]))

/* The kind of the line [p, e), or REPORT_KINDS. */
static size_t report_kind(const char *p, const char *e)
{
	if (e - p < 5 || memcmp(p, "skip ", 5) != 0)
		return REPORT_KINDS;
	for (size_t k = 0; k < REPORT_KINDS; k++) {
		size_t n = strlen(report_kinds[k].why);
		const char *end = e;

		if (report_kinds[k].paren) { /* the last " (" of "...)" */
			if (e[-1] != ')')
				continue;
			while (end > p + 5 &&
			       !(end[-1] == '(' && end[-2] == ' '))
				end--;
			end -= 2;
		}
		if (end - (p + 5) > (ptrdiff_t)n &&
		    memcmp(end - n, report_kinds[k].why, n) == 0)
			return k;
	}
	return REPORT_KINDS;
}

void out_report(FILE *f, const char *report)
{
	size_t total[REPORT_KINDS] = {0}, seen[REPORT_KINDS] = {0};
	const char *p, *e;

	if (!report)
		return;
	for (p = report; *p; p = *e ? e + 1 : e) {
		size_t k;
		e = strchrnul(p, '\n');
		k = report_kind(p, e);
		if (k < REPORT_KINDS)
			total[k]++;
	}
	for (p = report; *p; p = *e ? e + 1 : e) {
		size_t k;
		e = strchrnul(p, '\n');
		k = report_kind(p, e);
		if (k < REPORT_KINDS && ++seen[k] > OUT_REPORT_KEEP) {
			size_t more = total[k] - OUT_REPORT_KEEP;
			if (seen[k] == OUT_REPORT_KEEP + 1)
				fprintf(f,
				        "skip ...%s: %zu more file%s (--json "
				        "lists each)\n",
				        report_kinds[k].why, more,
				        more == 1 ? "" : "s");
			continue;
		}
		fprintf(f, "%.*s\n", (int)(e - p), p);
	}
}
