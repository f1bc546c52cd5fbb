/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Running programs and active swap files: files no step can move (see
 * busy.h). */
#include "config.h"
#include "busy.h"
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <relayout/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "mem.h"

static int add(struct busy_set *b, const struct stat *st, enum busy_kind k)
{
	if (!S_ISREG(st->st_mode))
		return 0;
	if (mem_grow(&b->ids, &b->cap, b->n + 1, sizeof(*b->ids)) < 0)
		return -ENOMEM;
	b->ids[b->n].dev = st->st_dev;
	b->ids[b->n].ino = st->st_ino;
	b->ids[b->n].kind = k;
	b->n++;
	return 0;
}

/* /proc/swaps writes blanks, tabs, newlines and backslashes in a path
 * as octal escapes (\040 ...): undo them in place. */
static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
			              (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

int busy_add_swaps(struct busy_set *b, FILE *f)
{
	char line[8192];

	while (fgets(line, sizeof(line), f)) {
		char *end = line;
		struct stat st;

		if (line[0] != '/')
			continue; /* the header, or a truncated line */
		while (*end && !isspace((unsigned char)*end))
			end++;
		*end = '\0';
		unescape(line);
		if (stat(line, &st) == 0 && add(b, &st, BUSY_SWAP) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int add_programs(struct busy_set *b)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int r = 0;

	if (!d)
		return 0;
	while (r == 0 && (e = readdir(d))) {
		char path[sizeof(e->d_name) + 8];
		struct stat st;

		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "%s/exe", e->d_name);
		/* the link leads to the executable, also a deleted one;
		 * kernel threads have none, other users' processes are
		 * not ours to look at */
		if (fstatat(dirfd(d), path, &st, 0) == 0)
			r = add(b, &st, BUSY_PROGRAM);
	}
	closedir(d);
	return r;
}

int busy_load(struct busy_set *b)
{
	FILE *f;
	int r = 0;

	if (b->loaded)
		return 0;
	f = fopen("/proc/swaps", "re");
	if (f) {
		r = busy_add_swaps(b, f);
		fclose(f);
	}
	if (r == 0)
		r = add_programs(b);
	b->loaded = r == 0;
	return r;
}

enum busy_kind busy_find(const struct busy_set *b, dev_t dev, ino_t ino)
{
	for (size_t i = 0; i < b->n; i++)
		if (b->ids[i].dev == dev && b->ids[i].ino == ino)
			return b->ids[i].kind;
	return BUSY_NONE;
}

void busy_free(struct busy_set *b)
{
	free(b->ids);
	memset(b, 0, sizeof(*b));
}

enum busy_kind busy_of_path(const char *path)
{
	struct busy_set b = {0};
	enum busy_kind k = BUSY_NONE;
	struct stat st;

	if (fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    busy_load(&b) == 0)
		k = busy_find(&b, st.st_dev, st.st_ino);
	busy_free(&b);
	return k;
}

const char *busy_reason(enum busy_kind k)
{
	switch (k) {
	case BUSY_SWAP:
		return "an active swap file (ETXTBSY: the kernel keeps its "
		       "blocks where they are until 'swapoff')";
	case BUSY_PROGRAM:
		return "the executable of a running program (ETXTBSY: the "
		       "kernel lets no one write it while it runs)";
	default:
		return rl_strerror(-ETXTBSY);
	}
}
