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
#include <sys/sysmacros.h>
#include <unistd.h>
#include "mem.h"

static int add_id(struct busy_set *b, dev_t dev, ino_t ino, enum busy_kind k)
{
	if (mem_grow(&b->ids, &b->cap, b->n + 1, sizeof(*b->ids)) < 0)
		return -ENOMEM;
	b->ids[b->n].dev = dev;
	b->ids[b->n].ino = ino;
	b->ids[b->n].kind = k;
	b->n++;
	b->sorted = false;
	return 0;
}

static int id_cmp(const void *x, const void *y)
{
	const struct busy_id *a = x, *b = y;

	if (a->dev != b->dev)
		return a->dev < b->dev ? -1 : 1;
	if (a->ino != b->ino)
		return a->ino < b->ino ? -1 : 1;
	return (int)a->kind - (int)b->kind;
}

/* After a load: sorted, so that busy_find does not walk all of them for
 * each file asked (thousands of open files times thousands of files). The
 * lowest kind of an inode listed twice comes first: a swap file or a
 * program's executable before an open file, as they were added. */
static void sort_ids(struct busy_set *b)
{
	mem_sort(b->ids, b->n, sizeof(*b->ids), id_cmp);
	b->sorted = true;
}

static int add(struct busy_set *b, const struct stat *st, enum busy_kind k)
{
	return S_ISREG(st->st_mode) ? add_id(b, st->st_dev, st->st_ino, k) : 0;
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
	sort_ids(b);
	return r;
}

/* The inodes an inotify or fanotify descriptor watches, from its fdinfo
 * lines ("inotify wd:1 ino:1a2b sdev:700001 ..."; sdev is the kernel's
 * device number, major above 20 bits). */
static int add_watches(struct busy_set *b, int procfd, const char *pid,
                       const char *fd, dev_t dev)
{
	char path[320], line[512];
	FILE *f;
	int r = 0, ffd;

	snprintf(path, sizeof(path), "%s/fdinfo/%s", pid, fd);
	ffd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
	if (ffd < 0)
		return 0;
	f = fdopen(ffd, "r");
	if (!f) {
		close(ffd);
		return 0;
	}
	while (r == 0 && fgets(line, sizeof(line), f)) {
		char *p = strstr(line, " ino:"), *q = strstr(line, " sdev:");
		unsigned long long ino;
		unsigned long sdev;

		if ((strncmp(line, "inotify ", 8) &&
		     strncmp(line, "fanotify ", 9)) ||
		    !p || !q)
			continue;
		ino = strtoull(p + 5, NULL, 16);
		sdev = strtoul(q + 6, NULL, 16);
		if (makedev(sdev >> 20, sdev & 0xfffff) == dev)
			r = add_id(b, dev, (ino_t)ino, BUSY_OPEN);
	}
	fclose(f);
	return r;
}

/* One process's descriptors, working and root directories on dev. */
static int add_process(struct busy_set *b, int procfd, const char *pid,
                       dev_t dev)
{
	static const char *const links[] = {"cwd", "root"};
	char path[320];
	struct stat st;
	struct dirent *e;
	DIR *d;
	int r = 0, dfd;

	for (size_t i = 0; r == 0 && i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", pid, links[i]);
		if (fstatat(procfd, path, &st, 0) == 0 && st.st_dev == dev)
			r = add_id(b, dev, st.st_ino, BUSY_OPEN);
	}
	snprintf(path, sizeof(path), "%s/fd", pid);
	dfd = openat(procfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return r;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return r;
	}
	while (r == 0 && (e = readdir(d))) {
		char target[64];
		ssize_t n;

		if (e->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, 0) == 0 &&
		    st.st_dev == dev) {
			r = add_id(b, dev, st.st_ino, BUSY_OPEN);
			continue;
		}
		n = readlinkat(dirfd(d), e->d_name, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			if (strstr(target, "inotify") ||
			    strstr(target, "fanotify"))
				r = add_watches(b, procfd, pid, e->d_name, dev);
		}
	}
	closedir(d);
	return r;
}

int busy_load_open(struct busy_set *b, dev_t dev)
{
	char self[32];
	int procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = 0;
	struct dirent *e;
	DIR *d;

	if (procfd < 0)
		return 0;
	d = fdopendir(procfd);
	if (!d) {
		close(procfd);
		return 0;
	}
	snprintf(self, sizeof(self), "%d", (int)getpid());
	while (r == 0 && (e = readdir(d))) {
		if (!isdigit((unsigned char)e->d_name[0]) ||
		    !strcmp(e->d_name, self))
			continue;
		r = add_process(b, dirfd(d), e->d_name, dev);
	}
	closedir(d);
	sort_ids(b);
	return r;
}

enum busy_kind busy_find(const struct busy_set *b, dev_t dev, ino_t ino)
{
	struct busy_id key = {.dev = dev, .ino = ino, .kind = BUSY_NONE};
	size_t lo = 0, hi = b->n;

	if (!b->sorted) {
		for (size_t i = 0; i < b->n; i++)
			if (b->ids[i].dev == dev && b->ids[i].ino == ino)
				return b->ids[i].kind;
		return BUSY_NONE;
	}
	/* the first entry not below (dev, ino, BUSY_NONE) */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (id_cmp(&b->ids[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < b->n && b->ids[lo].dev == dev && b->ids[lo].ino == ino)
		return b->ids[lo].kind;
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
	case BUSY_OPEN:
		return "open in a process (a descriptor, a working "
		       "directory or an inotify watch)";
	default:
		return rl_strerror(-ETXTBSY);
	}
}
