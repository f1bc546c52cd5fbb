/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rl_populate: fill a mounted test volume deterministically from a seed.
 *
 *   rl_populate [-v] [-m MANIFEST] DIR SEED [SCALE]
 *   rl_populate [-v] --verify DIR MANIFEST
 *
 * The same SEED on the same kind and size of volume gives the same
 * directories, files, sizes and contents every time: everything comes from
 * a splitmix64 generator (never rand()), and file contents are a pure
 * function of (seed, file, offset). The amount of data is scaled to the
 * volume: SCALE 1 writes about 40% of its size (rounded to a power of two
 * so that small differences in filesystem overhead do not change it),
 * and never more than 60% of the space available now.
 *
 * What it makes (all under DIR):
 *   churn/     many files, about half deleted at the end: fragmented free
 *              space;
 *   frag/      files grown by interleaved, fsync'ed appends: fragmented;
 *   sparse/    files with holes (data, hole, data; leading and trailing
 *              holes; alternating runs);
 *   unwritten/ fallocated files (with and without FALLOC_FL_KEEP_SIZE),
 *              partially written;
 *   tiny/, tree/  many files smaller than 1 KiB, in nested directories;
 *   reflink/   orig and its FICLONE clone where the filesystem can
 *              (skipped silently elsewhere);
 *   tree/a/link-to-frag0 (symlink), tree/d/hardlink-s0 (hard link).
 *
 * With -m, a manifest of every regular file that remains is written to
 * MANIFEST ("-" for stdout; keep it outside the volume): one line
 * "<fnv1a-64 hex> <size> <path relative to DIR>", sorted by path, after a
 * "#" header. --verify re-hashes every listed file and exits 1 listing the
 * mismatches. Errors name the path and the reason; exit status 1.
 */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define GOLDEN     0x9e3779b97f4a7c15ULL
#define KiB        ((uint64_t)1024)
#define MiB        (KiB * KiB)
#define BUF_SIZE   (1024 * 1024)
#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME  0x100000001b3ULL

/* ------------------------------------------------------------- errors */

static bool verbose;

static void __attribute__((noreturn, format(printf, 2, 3)))
die(int err, const char *fmt, ...)
{
	va_list ap;

	fputs("rl_populate: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (err)
		fprintf(stderr, ": %s", strerror(err));
	fputc('\n', stderr);
	exit(1);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (!p)
		die(ENOMEM, "malloc %zu", n);
	return p;
}

/* ---------------------------------------------------------- generator */

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

struct rng {
	uint64_t s;
};

/* One independent stream per purpose, so changing one part of the
 * population does not shift the others. */
static struct rng rng_stream(uint64_t seed, uint64_t tag)
{
	struct rng r = {mix64(seed ^ mix64(tag * GOLDEN + 1))};
	return r;
}

static uint64_t rng_next(struct rng *r)
{
	r->s += GOLDEN;
	return mix64(r->s);
}

/* Uniform enough in [lo, hi] (inclusive). */
static uint64_t rng_range(struct rng *r, uint64_t lo, uint64_t hi)
{
	return lo + rng_next(r) % (hi - lo + 1);
}

/* File contents: byte at offset off of the file with key is a pure
 * function of both, so any write order gives the same file. */
static void fill_content(uint64_t key, uint64_t off, unsigned char *buf,
                         size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint64_t pos = off + i;
		uint64_t w = mix64(key + (pos / 8) * GOLDEN);

		for (unsigned b = pos % 8; b < 8 && i < len; b++, i++)
			buf[i] = (unsigned char)(w >> (8 * b));
	}
}

/* ------------------------------------------------------------ context */

struct entry {
	char *path; /* relative to the volume directory */
	bool deleted;
};

struct pop {
	const char *dir;
	uint64_t seed;
	uint64_t budget; /* bytes of data to write, scaled to the volume */
	struct entry *files;
	size_t nfiles, cap;
	unsigned char *buf;
	uint64_t written;
};

static const char *full_path(const struct pop *p, const char *rel)
{
	static char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/%s", p->dir, rel);

	if (n < 0 || (size_t)n >= sizeof(path))
		die(ENAMETOOLONG, "%s/%s", p->dir, rel);
	return path;
}

static size_t record(struct pop *p, const char *rel)
{
	if (p->nfiles == p->cap) {
		size_t ncap = p->cap ? p->cap * 2 : 256;
		struct entry *n = realloc(p->files, ncap * sizeof(*n));

		if (!n)
			die(ENOMEM, "file list");
		p->files = n;
		p->cap = ncap;
	}
	p->files[p->nfiles].path = strdup(rel);
	if (!p->files[p->nfiles].path)
		die(ENOMEM, "file list");
	p->files[p->nfiles].deleted = false;
	return p->nfiles++;
}

static void make_dir(const struct pop *p, const char *rel)
{
	const char *path = full_path(p, rel);

	if (mkdir(path, 0755) < 0)
		die(errno, "mkdir %s", path);
}

/* Create a new regular file (never overwrite: a second populate of the
 * same directory is an error) and record it. */
static int create_file(struct pop *p, const char *rel)
{
	const char *path = full_path(p, rel);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	if (fd < 0)
		die(errno, "create %s", path);
	record(p, rel);
	return fd;
}

static void write_data(struct pop *p, int fd, const char *rel, uint64_t key,
                       uint64_t off, uint64_t len)
{
	while (len) {
		size_t n = len < BUF_SIZE ? (size_t)len : BUF_SIZE;
		ssize_t w;

		fill_content(key, off, p->buf, n);
		w = pwrite(fd, p->buf, n, (off_t)off);
		if (w < 0)
			die(errno, "write %s at %" PRIu64, full_path(p, rel),
			    off);
		if (w == 0)
			die(ENOSPC, "write %s at %" PRIu64, full_path(p, rel),
			    off);
		off += (uint64_t)w;
		len -= (uint64_t)w;
		p->written += (uint64_t)w;
	}
}

static void sync_file(const struct pop *p, int fd, const char *rel)
{
	if (fsync(fd) < 0)
		die(errno, "fsync %s", full_path(p, rel));
}

static void close_file(const struct pop *p, int fd, const char *rel)
{
	if (close(fd) < 0)
		die(errno, "close %s", full_path(p, rel));
}

static void set_size(const struct pop *p, int fd, const char *rel,
                     uint64_t size)
{
	if (ftruncate(fd, (off_t)size) < 0)
		die(errno, "truncate %s to %" PRIu64, full_path(p, rel), size);
}

static void prealloc(const struct pop *p, int fd, const char *rel, int mode,
                     uint64_t off, uint64_t len)
{
	if (fallocate(fd, mode, (off_t)off, (off_t)len) < 0)
		die(errno, "fallocate %s [%" PRIu64 ", +%" PRIu64 ")%s",
		    full_path(p, rel), off, len,
		    mode & FALLOC_FL_KEEP_SIZE ? " keep-size" : "");
}

/* Key of a file's contents: seed and a per-file number. */
static uint64_t file_key(const struct pop *p, uint64_t tag, uint64_t i)
{
	return mix64(p->seed ^ mix64((tag << 32 | i) + GOLDEN));
}

static uint64_t round_up(uint64_t v, uint64_t to)
{
	return (v + to - 1) / to * to;
}

/* ------------------------------------------------------- the sections */

enum tag { T_CHURN = 1, T_FRAG, T_SPARSE, T_UNWR, T_TINY, T_REFLINK, T_DEL };

static const char *const tree_dirs[] = {
    "tree",   "tree/a", "tree/a/b", "tree/a/b/c", "tree/a/b/c/deep",
    "tree/d", "tiny",
};
#define N_TREE_DIRS (sizeof(tree_dirs) / sizeof(tree_dirs[0]))

static void make_dirs(const struct pop *p)
{
	static const char *const top[] = {"churn", "frag", "sparse",
	                                  "unwritten", "reflink"};

	for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++)
		make_dir(p, top[i]);
	for (size_t i = 0; i < N_TREE_DIRS; i++)
		make_dir(p, tree_dirs[i]);
}

/* Many files of 4 KiB..128 KiB, about 30% of the budget; half of them are
 * deleted at the very end (delete_churn) to fragment the free space. */
static void make_churn(struct pop *p)
{
	struct rng r = rng_stream(p->seed, T_CHURN);
	uint64_t target = p->budget * 3 / 10, total = 0;
	char rel[64];

	for (unsigned i = 0; total < target; i++) {
		uint64_t size = rng_range(&r, 4 * KiB, 128 * KiB);
		int fd;

		snprintf(rel, sizeof(rel), "churn/c%05u", i);
		fd = create_file(p, rel);
		write_data(p, fd, rel, file_key(p, T_CHURN, i), 0, size);
		close_file(p, fd, rel);
		total += size;
	}
}

/* Free whatever is allocated past size (nothing on most filesystems). */
static void drop_post_eof(const struct pop *p, int fd, const char *rel,
                          uint64_t size)
{
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	              (off_t)round_up(size, 4 * KiB),
	              (off_t)(1024 * MiB)) < 0 &&
	    errno != EOPNOTSUPP)
		die(errno, "punch past EOF of %s", full_path(p, rel));
}

/* Six files grown together: each round appends a chunk to every file in
 * turn, fsyncs and closes it, so the allocator hands out interleaved
 * pieces. The speculative preallocations would otherwise keep each
 * file's next chunks next to its previous ones: the last close of a writer
 * drops ext4's inode preallocation, and XFS's post-EOF blocks (which it
 * keeps after the first close) are punched away. */
#define N_FRAG      6
#define FRAG_ROUNDS 64

static void make_frag(struct pop *p)
{
	struct rng r = rng_stream(p->seed, T_FRAG);
	uint64_t mean = p->budget * 3 / 10 / N_FRAG / FRAG_ROUNDS;
	uint64_t end[N_FRAG] = {0};
	char rel[N_FRAG][32];

	mean = mean < 8 * KiB ? 8 * KiB : mean;
	for (unsigned f = 0; f < N_FRAG; f++) {
		snprintf(rel[f], sizeof(rel[f]), "frag/f%u", f);
		close_file(p, create_file(p, rel[f]), rel[f]);
	}
	for (unsigned round = 0; round < FRAG_ROUNDS; round++) {
		for (unsigned f = 0; f < N_FRAG; f++) {
			const char *path = full_path(p, rel[f]);
			uint64_t len = round_up(
			    rng_range(&r, mean / 2, mean * 3 / 2), 4 * KiB);
			int fd = open(path, O_WRONLY | O_CLOEXEC);

			if (fd < 0)
				die(errno, "open %s", path);
			/* some files end with a partial block */
			if (round == FRAG_ROUNDS - 1 && (f & 1))
				len -= rng_range(&r, 1, 4 * KiB - 1);
			write_data(p, fd, rel[f], file_key(p, T_FRAG, f),
			           end[f], len);
			end[f] += len;
			sync_file(p, fd, rel[f]);
			drop_post_eof(p, fd, rel[f], end[f]);
			close_file(p, fd, rel[f]);
		}
	}
}

/* Sparse files; every boundary is 64 KiB aligned so holes are real with
 * any block size. The data runs are written from the end backwards: an
 * append would let XFS preallocate past EOF and turn the next hole into an
 * unwritten extent. */
static void make_sparse(struct pop *p)
{
	/* about 48 units of data in all, a tenth of the budget */
	uint64_t unit = p->budget / 10 / 48 / (64 * KiB);
	uint64_t size, run = 64 * KiB, key;
	char rel[32];
	int fd;

	unit = (unit ? unit : 1) * 64 * KiB;
	size = unit * 64;

	/* s0: data, hole, data, hole, data up to the end */
	snprintf(rel, sizeof(rel), "sparse/s0");
	key = file_key(p, T_SPARSE, 0);
	fd = create_file(p, rel);
	write_data(p, fd, rel, key, unit * 56, unit * 8);
	write_data(p, fd, rel, key, unit * 24, unit * 8);
	write_data(p, fd, rel, key, 0, unit * 8);
	close_file(p, fd, rel);

	/* s1: leading hole, data, trailing hole (size set past the data) */
	snprintf(rel, sizeof(rel), "sparse/s1");
	fd = create_file(p, rel);
	set_size(p, fd, rel, size);
	write_data(p, fd, rel, file_key(p, T_SPARSE, 1), unit * 16, unit * 16);
	close_file(p, fd, rel);

	/* s2: alternating 64 KiB runs of data and hole, odd tail */
	snprintf(rel, sizeof(rel), "sparse/s2");
	key = file_key(p, T_SPARSE, 2);
	fd = create_file(p, rel);
	write_data(p, fd, rel, key, unit * 32, 1000);
	for (uint64_t off = unit * 16; off >= 2 * run;) {
		off -= 2 * run;
		write_data(p, fd, rel, key, off, run);
	}
	close_file(p, fd, rel);

	/* s3: one huge hole between two small data runs */
	snprintf(rel, sizeof(rel), "sparse/s3");
	key = file_key(p, T_SPARSE, 3);
	fd = create_file(p, rel);
	write_data(p, fd, rel, key, size * 4, run);
	write_data(p, fd, rel, key, 0, run);
	close_file(p, fd, rel);
}

/* Files with unwritten (preallocated, never written) extents. */
static void make_unwritten(struct pop *p)
{
	uint64_t len = round_up(p->budget / 10 / 4, 64 * KiB);
	char rel[32];
	int fd;

	/* u0: fallocate sets the size, only the second quarter written */
	snprintf(rel, sizeof(rel), "unwritten/u0");
	fd = create_file(p, rel);
	prealloc(p, fd, rel, 0, 0, len);
	write_data(p, fd, rel, file_key(p, T_UNWR, 0), len / 4, len / 4);
	sync_file(p, fd, rel);
	close_file(p, fd, rel);

	/* u1: data, then preallocated space past EOF (KEEP_SIZE) */
	snprintf(rel, sizeof(rel), "unwritten/u1");
	fd = create_file(p, rel);
	write_data(p, fd, rel, file_key(p, T_UNWR, 1), 0, len / 2 + 123);
	sync_file(p, fd, rel);
	prealloc(p, fd, rel, FALLOC_FL_KEEP_SIZE, len / 2 + 123, len / 2);
	close_file(p, fd, rel);

	/* u2: KEEP_SIZE preallocation, the first third written into it */
	snprintf(rel, sizeof(rel), "unwritten/u2");
	fd = create_file(p, rel);
	prealloc(p, fd, rel, FALLOC_FL_KEEP_SIZE, 0, len);
	write_data(p, fd, rel, file_key(p, T_UNWR, 2), 0, len / 3);
	sync_file(p, fd, rel);
	close_file(p, fd, rel);

	/* u3: preallocated and never written: reads as zeros */
	snprintf(rel, sizeof(rel), "unwritten/u3");
	fd = create_file(p, rel);
	prealloc(p, fd, rel, 0, 0, len / 4);
	close_file(p, fd, rel);
}

/* Many files under 1 KiB (less than a block on every test volume),
 * spread over the nested directories. */
static void make_tiny(struct pop *p)
{
	struct rng r = rng_stream(p->seed, T_TINY);
	uint64_t count = p->budget / (128 * KiB);
	char rel[64];

	count = count < 50 ? 50 : count > 4000 ? 4000 : count;
	for (unsigned i = 0; i < count; i++) {
		const char *d = tree_dirs[rng_range(&r, 0, N_TREE_DIRS - 1)];
		uint64_t size = rng_range(&r, 1, 900);
		int fd;

		snprintf(rel, sizeof(rel), "%s/t%05u", d, i);
		fd = create_file(p, rel);
		write_data(p, fd, rel, file_key(p, T_TINY, i), 0, size);
		close_file(p, fd, rel);
	}
}

/* reflink/orig and reflink/clone sharing all their extents, where the
 * filesystem supports FICLONE; nothing at all where it does not. */
static void make_reflink(struct pop *p)
{
	uint64_t len = round_up(p->budget / 20, 64 * KiB) + 777;
	const char *orig = "reflink/orig", *clone = "reflink/clone";
	int src, dst, err;
	size_t idx;

	src = create_file(p, orig);
	write_data(p, src, orig, file_key(p, T_REFLINK, 0), 0, len);
	sync_file(p, src, orig);
	dst = create_file(p, clone);
	idx = p->nfiles - 1;
	err = ioctl(dst, FICLONE, src) < 0 ? errno : 0;
	close_file(p, dst, clone);
	close_file(p, src, orig);
	if (!err)
		return;
	if (err != EOPNOTSUPP && err != ENOTTY && err != EINVAL && err != EXDEV)
		die(err, "FICLONE %s", full_path(p, clone));
	p->files[idx].deleted = true;
	if (unlink(full_path(p, clone)) < 0)
		die(errno, "unlink %s", full_path(p, clone));
	if (verbose)
		fprintf(stderr, "rl_populate: no reflink here (%s)\n",
		        strerror(err));
}

static void make_links(struct pop *p)
{
	char target[PATH_MAX];

	snprintf(target, sizeof(target), "%s", full_path(p, "sparse/s0"));
	if (link(target, full_path(p, "tree/d/hardlink-s0")) < 0)
		die(errno, "link %s", full_path(p, "tree/d/hardlink-s0"));
	record(p, "tree/d/hardlink-s0");
	if (symlink("../../frag/f0", full_path(p, "tree/a/link-to-frag0")) < 0)
		die(errno, "symlink %s", full_path(p, "tree/a/link-to-frag0"));
}

/* Delete about half of the churn files, chosen by the seed. */
static void delete_churn(struct pop *p)
{
	struct rng r = rng_stream(p->seed, T_DEL);

	for (size_t i = 0; i < p->nfiles; i++) {
		struct entry *e = &p->files[i];

		if (e->deleted || strncmp(e->path, "churn/", 6) != 0)
			continue;
		if (rng_next(&r) & 1)
			continue;
		if (unlink(full_path(p, e->path)) < 0)
			die(errno, "unlink %s", full_path(p, e->path));
		e->deleted = true;
	}
}

/* Flush this filesystem only (sync() would flush everyone's volumes). */
static void sync_volume(const struct pop *p)
{
	int fd = open(p->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		die(errno, "open %s", p->dir);
	if (syncfs(fd) < 0)
		die(errno, "syncfs %s", p->dir);
	close(fd);
}

/* ----------------------------------------------------------- manifest */

/* FNV-1a 64 of a file's contents (holes read as zeros); size in *size. */
static uint64_t hash_file(const char *path, unsigned char *buf, uint64_t *size)
{
	uint64_t h = FNV_OFFSET, total = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		die(errno, "open %s", path);
	while ((n = read(fd, buf, BUF_SIZE)) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			h ^= buf[i];
			h *= FNV_PRIME;
		}
		total += (uint64_t)n;
	}
	if (n < 0)
		die(errno, "read %s", path);
	close(fd);
	*size = total;
	return h;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->path,
	              ((const struct entry *)b)->path);
}

static void write_manifest(struct pop *p, const char *out, double scale)
{
	FILE *f = strcmp(out, "-") == 0 ? stdout : fopen(out, "w");

	if (!f)
		die(errno, "create %s", out);
	qsort(p->files, p->nfiles, sizeof(*p->files), cmp_entry);
	fprintf(f,
	        "# rl_populate manifest v1 seed=%" PRIu64
	        " scale=%g budget=%" PRIu64 "\n",
	        p->seed, scale, p->budget);
	for (size_t i = 0; i < p->nfiles; i++) {
		uint64_t size, h;

		if (p->files[i].deleted)
			continue;
		h = hash_file(full_path(p, p->files[i].path), p->buf, &size);
		fprintf(f, "%016" PRIx64 " %" PRIu64 " %s\n", h, size,
		        p->files[i].path);
	}
	if (fflush(f) != 0 || ferror(f))
		die(errno, "write %s", out);
	if (f != stdout && fclose(f) != 0)
		die(errno, "close %s", out);
}

static int verify(const char *dir, const char *manifest)
{
	FILE *f = fopen(manifest, "r");
	unsigned char *buf = xmalloc(BUF_SIZE);
	char line[PATH_MAX + 64], path[PATH_MAX + 64];
	unsigned long lineno = 0, checked = 0, bad = 0;

	if (!f)
		die(errno, "open %s", manifest);
	while (fgets(line, sizeof(line), f)) {
		uint64_t want_h, want_size, h, size;
		int pos = 0;
		struct stat st;

		lineno++;
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (sscanf(line, "%" SCNx64 " %" SCNu64 " %n", &want_h,
		           &want_size, &pos) != 2 ||
		    !line[pos])
			die(0, "%s:%lu: malformed line", manifest, lineno);
		snprintf(path, sizeof(path), "%s/%s", dir, line + pos);
		checked++;
		if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
			const char *why = "not a regular file";

			if (lstat(path, &st) < 0)
				why = strerror(errno);
			fprintf(stderr, "MISMATCH %s: %s\n", line + pos, why);
			bad++;
			continue;
		}
		h = hash_file(path, buf, &size);
		if (size != want_size) {
			fprintf(stderr,
			        "MISMATCH %s: size %" PRIu64
			        ", manifest says %" PRIu64 "\n",
			        line + pos, size, want_size);
			bad++;
		} else if (h != want_h) {
			fprintf(stderr,
			        "MISMATCH %s: content hash %016" PRIx64
			        ", manifest says %016" PRIx64 "\n",
			        line + pos, h, want_h);
			bad++;
		}
	}
	if (ferror(f))
		die(errno, "read %s", manifest);
	fclose(f);
	free(buf);
	if (bad) {
		fprintf(stderr,
		        "rl_populate: %lu of %lu files differ from %s\n", bad,
		        checked, manifest);
		return 1;
	}
	if (verbose)
		fprintf(stderr, "rl_populate: %lu files verified\n", checked);
	return 0;
}

/* ------------------------------------------------------------- budget */

/* Bytes to write: SCALE x 40% of the volume's size rounded to the nearest
 * power of two (in log scale), capped to 60% of what is available. */
static uint64_t volume_budget(const char *dir, double scale)
{
	struct statvfs sv;
	uint64_t total, nominal = 1, avail, budget;

	if (statvfs(dir, &sv) < 0)
		die(errno, "statvfs %s", dir);
	total = (uint64_t)sv.f_blocks * sv.f_frsize;
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	while (nominal * 2 <= total)
		nominal *= 2;
	/* total in [nominal, 2 nominal): nearer 2 nominal above sqrt(2) */
	if ((double)total >= (double)nominal * 1.41421356)
		nominal *= 2;
	budget = (uint64_t)((double)nominal * 0.4 * scale);
	if (budget > avail / 10 * 6) {
		fprintf(stderr,
		        "rl_populate: %s: only %" PRIu64
		        " MiB available, writing less than asked\n",
		        dir, avail / MiB);
		budget = avail / 10 * 6;
	}
	if (budget < 4 * MiB)
		die(ENOSPC, "%s: %" PRIu64 " KiB available", dir, avail / KiB);
	return budget / MiB * MiB;
}

/* --------------------------------------------------------------- main */

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr, "usage: rl_populate [-v] [-m MANIFEST] DIR SEED "
	                "[SCALE]\n"
	                "       rl_populate [-v] --verify DIR MANIFEST\n");
	exit(2);
}

static uint64_t parse_u64(const char *s, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-')
		die(0, "bad %s '%s'", what, s);
	return v;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"verify", no_argument, NULL, 'V'},
	    {"manifest", required_argument, NULL, 'm'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct pop p;
	const char *manifest = NULL;
	bool do_verify = false;
	double scale = 1.0;
	struct stat st;
	int c;

	while ((c = getopt_long(argc, argv, "m:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'V':
			do_verify = true;
			break;
		case 'm':
			manifest = optarg;
			break;
		case 'v':
			verbose = true;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (do_verify) {
		if (argc != 2)
			usage();
		return verify(argv[0], argv[1]);
	}
	if (argc < 2 || argc > 3)
		usage();

	memset(&p, 0, sizeof(p));
	p.dir = argv[0];
	p.seed = parse_u64(argv[1], "SEED");
	if (argc == 3) {
		char *end;

		scale = strtod(argv[2], &end);
		if (end == argv[2] || *end || !(scale > 0 && scale <= 16))
			die(0, "bad SCALE '%s' (0 < SCALE <= 16)", argv[2]);
	}
	if (stat(p.dir, &st) < 0)
		die(errno, "%s", p.dir);
	if (!S_ISDIR(st.st_mode))
		die(ENOTDIR, "%s", p.dir);
	p.budget = volume_budget(p.dir, scale);
	p.buf = xmalloc(BUF_SIZE);

	make_dirs(&p);
	make_churn(&p);
	make_frag(&p);
	make_sparse(&p);
	make_unwritten(&p);
	make_tiny(&p);
	make_reflink(&p);
	make_links(&p);
	delete_churn(&p);
	sync_volume(&p);
	if (manifest)
		write_manifest(&p, manifest, scale);
	if (verbose)
		fprintf(stderr,
		        "rl_populate: %s: seed %" PRIu64 ", budget %" PRIu64
		        " MiB, %zu files made, %" PRIu64 " MiB written\n",
		        p.dir, p.seed, p.budget / MiB, p.nfiles,
		        p.written / MiB);
	for (size_t i = 0; i < p.nfiles; i++)
		free(p.files[i].path);
	free(p.files);
	free(p.buf);
	return 0;
}
