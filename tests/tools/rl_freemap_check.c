/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rl_freemap_check MOUNTPOINT [--seed N] [--exact-ext4]
 *
 * Checks rl_get_free_blocks / rl_space_walk against the filesystem mounted
 * at MOUNTPOINT (see tests/integ/freemap.sh):
 *  - the free list is sorted, non-overlapping, merged, inside [0, size);
 *  - paging with counts 1, 7, 1000 gives the same list as one big call,
 *    and so does rl_free_list (one walk, the array grown);
 *  - random [start, end) windows give the full list clipped to them;
 *  - no free extent overlaps a FIEMAP extent of any file or directory;
 *  - the free total relates to statfs as measured (see check_totals);
 *  - rl_space_walk agrees with get_free_blocks and covers in order;
 *  - an unprivileged caller gets -EPERM (btrfs) or the same answer.
 * Prints "free_bytes=N extents=N walk_us=N records=N" on success (stdout)
 * for the shell test; diagnostics go to stderr. Exit 0 ok, 1 failure,
 * 77 skip (not root), 2 usage.
 */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <relayout/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int failures;

#define FAIL(...)                                                              \
	do {                                                                   \
		fprintf(stderr, "FAIL: " __VA_ARGS__);                         \
		fputc('\n', stderr);                                           \
		failures++;                                                    \
	} while (0)

struct flist {
	struct rl_free_extent *v;
	size_t n, cap;
};

static void flist_push(struct flist *l, struct rl_free_extent e)
{
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 256;
		void *p = realloc(l->v, nc * sizeof(*l->v));
		if (!p) {
			perror("realloc");
			exit(1);
		}
		l->v = p;
		l->cap = nc;
	}
	l->v[l->n++] = e;
}

/* All free extents of [start, end) fetched count at a time. */
static int fetch_all(const char *mnt, uint64_t start, uint64_t end,
                     size_t count, struct flist *out)
{
	struct rl_free_extent *buf = calloc(count, sizeof(*buf));
	uint64_t pos = start;

	out->n = 0;
	if (!buf)
		return -ENOMEM;
	for (;;) {
		int r = rl_get_free_blocks(mnt, pos, end, count, buf);
		if (r < 0) {
			free(buf);
			return r;
		}
		for (int i = 0; i < r; i++)
			flist_push(out, buf[i]);
		if ((size_t)r < count)
			break;
		pos = buf[r - 1].start + buf[r - 1].len;
		if (end && pos >= end)
			break;
	}
	free(buf);
	return 0;
}

static bool flist_equal(const struct flist *a, const struct flist *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (a->v[i].start != b->v[i].start ||
		    a->v[i].len != b->v[i].len)
			return false;
	return true;
}

static void check_shape(const struct flist *l, uint64_t size, const char *what)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct rl_free_extent *e = &l->v[i];
		if (e->len == 0)
			FAIL("%s: extent %zu has length 0", what, i);
		if (e->start + e->len > size)
			FAIL("%s: extent %zu [%#" PRIx64 ", +%" PRIu64
			     ") past the end %#" PRIx64,
			     what, i, e->start, e->len, size);
		if (i && l->v[i - 1].start + l->v[i - 1].len >= e->start)
			FAIL(
			    "%s: extents %zu and %zu overlap, touch or are out "
			    "of order",
			    what, i - 1, i);
	}
}

/* The full list clipped to [a, b). */
static void clip_list(const struct flist *full, uint64_t a, uint64_t b,
                      struct flist *out)
{
	out->n = 0;
	for (size_t i = 0; i < full->n; i++) {
		uint64_t s = full->v[i].start, e = s + full->v[i].len;
		if (e <= a || s >= b)
			continue;
		flist_push(out, (struct rl_free_extent){s < a ? a : s,
		                                        (e > b ? b : e) -
		                                            (s < a ? a : s)});
	}
}

static uint64_t rnd64(void)
{
	return ((uint64_t)random() << 33) ^ ((uint64_t)random() << 2) ^
	       (uint64_t)random();
}

/* ------------------------------------------------------ FIEMAP overlap */

static const struct flist *g_free;
static dev_t g_dev;
static size_t g_files, g_extents;

/* Index of the first free extent ending after addr. */
static size_t first_after(const struct flist *l, uint64_t addr)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (l->v[mid].start + l->v[mid].len <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int visit(const char *path, const struct stat *st, int flag,
                 struct FTW *ftw)
{
	struct rl_extent *ext;
	size_t n;
	int fd, r;

	(void)ftw;
	if (st->st_dev != g_dev)
		return 0;
	if (flag != FTW_F && flag != FTW_D)
		return 0;
	if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode))
		return 0;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return 0; /* vanished */
	r = rl_get_extents(fd, &ext, &n);
	close(fd);
	if (r < 0) {
		if (!S_ISDIR(st->st_mode) && r != -EOPNOTSUPP)
			FAIL("%s: rl_get_extents: %s", path, strerror(-r));
		return 0;
	}
	g_files++;
	for (size_t i = 0; i < n; i++) {
		const struct rl_extent *e = &ext[i];
		/* No real address: inline, delayed, unknown. */
		if (e->flags &
		    (RL_EXT_UNKNOWN | RL_EXT_DELALLOC | RL_EXT_DATA_INLINE |
		     RL_EXT_NOT_ALIGNED | RL_EXT_ENCODED))
			continue;
		g_extents++;
		size_t k = first_after(g_free, e->physical);
		if (k < g_free->n &&
		    g_free->v[k].start < e->physical + e->length)
			FAIL("%s: extent [%#" PRIx64 ", +%" PRIu64
			     ") overlaps free [%#" PRIx64 ", +%" PRIu64 ")",
			     path, e->physical, e->length, g_free->v[k].start,
			     g_free->v[k].len);
	}
	free(ext);
	return 0;
}

/* ------------------------------------------------------------ space walk */

struct walk_state {
	uint64_t pos, free_bytes, records, data, meta, unknown;
	bool order_bad;
	struct flist free_merged;
};

static int walk_cb(const struct rl_space_rec *r, void *arg)
{
	struct walk_state *w = arg;

	w->records++;
	if (r->start + r->length < w->pos && !(r->flags & RL_SPACE_F_SHARED) &&
	    r->kind == RL_SPACE_FREE)
		w->order_bad = true;
	if (r->start + r->length > w->pos)
		w->pos = r->start + r->length;
	switch (r->kind) {
	case RL_SPACE_FREE: {
		struct flist *l = &w->free_merged;
		w->free_bytes += r->length;
		if (l->n &&
		    l->v[l->n - 1].start + l->v[l->n - 1].len == r->start)
			l->v[l->n - 1].len += r->length;
		else
			flist_push(
			    l, (struct rl_free_extent){r->start, r->length});
		break;
	}
	case RL_SPACE_DATA:
		w->data += r->length;
		break;
	case RL_SPACE_METADATA:
		w->meta += r->length;
		break;
	case RL_SPACE_UNKNOWN:
		w->unknown += r->length;
		break;
	}
	return 0;
}

/* ------------------------------------------------------------ privileges */

/* In a child running as nobody, ask again through /proc/self/fd (the test
 * volume's parent directory is private). 0: same list, -EPERM, or fail. */
static int unprivileged(const char *mnt, const struct flist *full,
                        int *child_ret)
{
	int fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int pfd[2];
	pid_t pid;

	if (fd < 0 || pipe(pfd) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		char p[64];
		struct flist l = {0};
		int r;

		close(pfd[0]);
		if (setresgid(65534, 65534, 65534) < 0 ||
		    setresuid(65534, 65534, 65534) < 0)
			_exit(3);
		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		r = fetch_all(p, 0, 0, 4096, &l);
		if (r == 0 && !flist_equal(&l, full))
			r = 1; /* answered, differently */
		if (write(pfd[1], &r, sizeof(r)) != sizeof(r))
			_exit(4);
		_exit(0);
	}
	close(pfd[1]);
	close(fd);
	int st, r = -EIO;
	if (read(pfd[0], &r, sizeof(r)) != sizeof(r))
		r = -EIO;
	close(pfd[0]);
	waitpid(pid, &st, 0);
	*child_ret = r;
	return 0;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int main(int argc, char **argv)
{
	struct rl_fs_info fs;
	struct flist full = {0}, l = {0}, exp = {0};
	struct statfs sf;
	unsigned seed = 1;
	bool exact_ext4 = false;
	const char *mnt = NULL;
	int r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = (unsigned)strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--exact-ext4"))
			exact_ext4 = true;
		else if (!mnt)
			mnt = argv[i];
		else {
			fprintf(stderr,
			        "usage: %s MOUNTPOINT [--seed N] "
			        "[--exact-ext4]\n",
			        argv[0]);
			return 2;
		}
	}
	if (!mnt) {
		fprintf(stderr, "usage: %s MOUNTPOINT\n", argv[0]);
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: needs root\n");
		return 77;
	}
	srandom(seed);
	r = rl_fs_probe(mnt, &fs);
	if (r < 0) {
		fprintf(stderr, "probe %s: %s\n", mnt, strerror(-r));
		return 1;
	}
	{
		int fd = open(mnt, O_RDONLY | O_DIRECTORY);
		if (fd >= 0) {
			syncfs(fd);
			close(fd);
		}
	}

	/* 1. one big call (paged only if it fills) */
	uint64_t t0 = now_us();
	r = fetch_all(mnt, 0, 0, 1u << 16, &full);
	uint64_t t_free = now_us() - t0;
	if (r < 0) {
		fprintf(stderr, "rl_get_free_blocks: %s\n", strerror(-r));
		return 1;
	}
	uint64_t total = 0, largest = 0;
	for (size_t i = 0; i < full.n; i++) {
		total += full.v[i].len;
		if (full.v[i].len > largest)
			largest = full.v[i].len;
	}
	check_shape(&full, fs.size, "full list");

	/* 2. paging */
	static const size_t counts[] = {1, 7, 1000};
	for (size_t c = 0; c < 3; c++) {
		r = fetch_all(mnt, 0, 0, counts[c], &l);
		if (r < 0)
			FAIL("paging by %zu: %s", counts[c], strerror(-r));
		else if (!flist_equal(&l, &full))
			FAIL("paging by %zu: %zu extents, one call %zu",
			     counts[c], l.n, full.n);
	}

	/* 3. random windows, block aligned and not */
	for (int i = 0; i < 60; i++) {
		uint64_t a = rnd64() % fs.size, b = rnd64() % fs.size;
		if (i % 2 == 0) {
			a -= a % fs.block_size;
			b -= b % fs.block_size;
		}
		if (i % 10 == 9 && full.n) { /* at extent edges */
			const struct rl_free_extent *e =
			    &full.v[(size_t)random() % full.n];
			a = e->start;
			b = e->start + e->len;
		}
		if (a > b) {
			uint64_t t = a;
			a = b;
			b = t;
		}
		if (a == b)
			b = a + 1;
		clip_list(&full, a, b, &exp);
		r = fetch_all(mnt, a, b, i % 3 == 0 ? 1 : 5, &l);
		if (r < 0)
			FAIL("window [%#" PRIx64 ", %#" PRIx64 "): %s", a, b,
			     strerror(-r));
		else if (!flist_equal(&l, &exp))
			FAIL("window [%#" PRIx64 ", %#" PRIx64
			     "): %zu extents, expected %zu",
			     a, b, l.n, exp.n);
		check_shape(&l, fs.size, "window");
		/* rl_free_list: the same in one walk */
		{
			struct flist one = {0};
			r = rl_free_list(mnt, a, b, &one.v, &one.n);
			one.cap = one.n;
			if (r < 0)
				FAIL("rl_free_list [%#" PRIx64 ", %#" PRIx64
				     "): %s",
				     a, b, strerror(-r));
			else if (!flist_equal(&one, &exp))
				FAIL("rl_free_list [%#" PRIx64 ", %#" PRIx64
				     "): %zu extents, expected %zu",
				     a, b, one.n, exp.n);
			free(one.v);
		}
	}
	{
		struct flist one = {0};
		r = rl_free_list(mnt, 0, 0, &one.v, &one.n);
		if (r < 0 || !flist_equal(&one, &full))
			FAIL("rl_free_list of the whole volume: %s, %zu "
			     "extents, expected %zu",
			     r < 0 ? strerror(-r) : "differs", one.n, full.n);
		free(one.v);
	}

	/* 4. FIEMAP of every file and directory against the free list */
	g_free = &full;
	g_dev = fs.st_dev;
	if (nftw(mnt, visit, 64, FTW_PHYS | FTW_MOUNT) < 0)
		FAIL("nftw %s: %s", mnt, strerror(errno));

	/* 5. the walk itself */
	struct walk_state w = {0};
	t0 = now_us();
	r = rl_space_walk(mnt, 0, 0, walk_cb, &w);
	uint64_t t_walk = now_us() - t0;
	if (r != 0)
		FAIL("rl_space_walk: %d", r);
	if (w.order_bad)
		FAIL("rl_space_walk: free records out of address order");
	if (!flist_equal(&w.free_merged, &full))
		FAIL("rl_space_walk free records (%zu merged) differ from "
		     "get_free_blocks (%zu)",
		     w.free_merged.n, full.n);

	/* 6. totals against statfs */
	if (statfs(mnt, &sf) < 0) {
		FAIL("statfs: %s", strerror(errno));
	} else {
		uint64_t bfree = (uint64_t)sf.f_bfree * (uint64_t)sf.f_bsize;
		int64_t diff = (int64_t)total - (int64_t)bfree;
		fprintf(stderr,
		        "%s: free %" PRIu64 " in %zu extents (largest %" PRIu64
		        "), statfs f_bfree*f_bsize %" PRIu64 " (map - statfs "
		        "= %" PRId64 ")\n",
		        rl_fs_type_name(fs.type), total, full.n, largest, bfree,
		        diff);
		if (fs.type == RL_FS_EXT4) {
			/* f_bfree counts blocks held by mballoc
			 * preallocations as free; GETFSMAP reads the buddy
			 * bitmaps, where they are taken. Equal once no
			 * preallocation is outstanding (after a remount). */
			if (diff > 0)
				FAIL("ext4: map shows more free than statfs");
			if (exact_ext4 && diff != 0)
				FAIL("ext4: map and statfs differ by %" PRId64,
				     diff);
		} else if (fs.type == RL_FS_XFS) {
			/* f_bfree = fdblocks - set-aside; fdblocks excludes
			 * the reserve pool (XFS_IOC_GET_RESBLKS) and the
			 * per-AG metadata reservations, which the free-space
			 * btrees (and so GETFSMAP) still count as free. */
			struct {
				uint64_t resblks, resblks_avail;
			} rb = {0, 0};
			int fd = open(mnt, O_RDONLY | O_DIRECTORY);
			if (fd < 0 || ioctl(fd, _IOR('X', 115, rb), &rb) < 0)
				FAIL("XFS_IOC_GET_RESBLKS: %s",
				     strerror(errno));
			if (fd >= 0)
				close(fd);
			int64_t pool = (int64_t)(rb.resblks_avail * sf.f_bsize);
			int64_t rest = diff - pool;
			fprintf(stderr,
			        "xfs: reserve pool %" PRId64 " bytes, per-AG "
			        "reservations + set-aside %" PRId64 " bytes "
			        "(%.2f%% of size)\n",
			        pool, rest,
			        100.0 * (double)rest / (double)fs.size);
			/* The per-AG reservations are at most a few percent
			 * (rmapbt ~1-2%, finobt and refcountbt less). */
			if (rest < 0 || (uint64_t)rest > fs.size / 25)
				FAIL("xfs: map - statfs - reserve pool = "
				     "%" PRId64
				     " bytes, outside [0, 4%% of size]",
				     rest);
		}
	}

	/* 7. without privileges */
	int child = 0;
	r = unprivileged(mnt, &full, &child);
	if (r < 0)
		FAIL("fork: %s", strerror(-r));
	else if (child == -EPERM)
		fprintf(stderr, "unprivileged: -EPERM\n");
	else if (child == 0 && fs.type != RL_FS_BTRFS)
		fprintf(stderr, "unprivileged: same answer (GETFSMAP needs no "
		                "privilege for free space)\n");
	else
		FAIL("unprivileged call returned %d", child);

	fprintf(stderr,
	        "walk: %" PRIu64 " records, data %" PRIu64 " metadata %" PRIu64
	        " unknown %" PRIu64 "; %zu files, %zu extents checked\n",
	        w.records, w.data, w.meta, w.unknown, g_files, g_extents);
	printf("free_bytes=%" PRIu64 " extents=%zu largest=%" PRIu64
	       " free_us=%" PRIu64 " walk_us=%" PRIu64 " records=%" PRIu64 "\n",
	       total, full.n, largest, t_free, t_walk, w.records);
	free(full.v);
	free(l.v);
	free(exp.v);
	free(w.free_merged.v);
	if (failures) {
		fprintf(stderr, "%d failure(s)\n", failures);
		return 1;
	}
	return 0;
}
