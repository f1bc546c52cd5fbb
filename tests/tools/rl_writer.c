/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * rl_writer: a concurrent writer for the movedata race tests.
 *
 *   rl_writer init FILE NBLOCKS          fill FILE with generation-0 blocks
 *   rl_writer run FILE MODE SECONDS LOG [N [PAUSE_US]]
 *                                        rewrite random blocks until the
 *                                        time is up, N writes (default 64)
 *                                        then a pause (default 1000 us);
 *                                        MODE buffered|
 *                                        direct|mmap; LOG gets "block seq"
 *                                        for the last write of every block
 *                                        MODE churn: buffered writes, hole
 *                                        punches, appends and truncates
 *                                        (the file grows to 5/4 of its
 *                                        size at most, shrinks to 1/2)
 *   rl_writer check FILE LOG             compare FILE with LOG (buffered
 *                                        and O_DIRECT reads); exit 1 on any
 *                                        mismatch
 *   rl_writer reopen DIR NFILES SECONDS LOG
 *                                        DIR/w0 .. DIR/w<NFILES-1> (made
 *                                        and filled first, 16 blocks each)
 *                                        rewritten a block at a time, each
 *                                        write through a new open by name
 *                                        (O_DIRECT and buffered in turn,
 *                                        an fdatasync after each buffered
 *                                        one): an open that misses the
 *                                        name fails (no O_CREAT); LOG gets
 *                                        "file block seq"
 *   rl_writer check-dir DIR LOG          compare DIR's files with that LOG
 *
 * A block is 4096 bytes: its first 16 bytes hold the block number and the
 * sequence number of the write, the rest a pseudo-random stream seeded from
 * both, so a stale, misplaced or torn block is always recognised.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BLK      4096u
#define ZEROS    UINT64_MAX /* log: the block reads as zeros (hole, regrown) */
#define SIZE_KEY UINT64_MAX /* log: "SIZE_KEY size" gives the file size */

static void fill(unsigned char *p, uint64_t blk, uint64_t seq)
{
	uint64_t x = (blk + 1) * 0x9E3779B97F4A7C15ull ^
	             (seq + 7) * 0xBF58476D1CE4E5B9ull;

	memcpy(p, &blk, 8);
	memcpy(p + 8, &seq, 8);
	for (unsigned i = 16; i < BLK; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(p + i, &x, 8);
	}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int do_init(const char *path, uint64_t n)
{
	unsigned char b[BLK];
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);

	if (fd < 0)
		return perror(path), 1;
	for (uint64_t i = 0; i < n; i++) {
		fill(b, i, 0);
		if (pwrite(fd, b, BLK, (off_t)(i * BLK)) != BLK)
			return perror("pwrite"), 1;
	}
	if (fsync(fd) < 0)
		return perror("fsync"), 1;
	close(fd);
	return 0;
}

/* One operation of the churn writer on block-granular state: last[b] is
 * the sequence number of block b's content (ZEROS: reads as zeros), *n
 * the size in blocks. 7/10 a write, 1/10 each a hole punch, an append
 * (while below nmax), a truncate by 1-16 blocks (not below nmax*2/5). */
static int churn_op(int fd, unsigned char *buf, uint64_t *last, uint64_t *n,
                    uint64_t nmax, uint64_t seq, uint64_t rnd)
{
	unsigned op = (unsigned)(rnd >> 40) % 10;
	uint64_t b = *n ? rnd % *n : 0;

	if (op == 7 && *n) {
		if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		              (off_t)(b * BLK), BLK) < 0)
			return perror("punch"), -1;
		last[b] = ZEROS;
		return 0;
	}
	if (op == 8 && *n < nmax) {
		b = (*n)++;
	} else if (op == 9 && *n > nmax * 2 / 5 + 16) {
		uint64_t to = *n - 1 - (rnd >> 20) % 16;

		if (ftruncate(fd, (off_t)(to * BLK)) < 0)
			return perror("truncate"), -1;
		for (uint64_t k = to; k < *n; k++)
			last[k] = ZEROS;
		*n = to;
		return 0;
	}
	fill(buf, b, seq);
	if (pwrite(fd, buf, BLK, (off_t)(b * BLK)) != BLK)
		return perror("pwrite"), -1;
	last[b] = seq;
	return 0;
}

static int do_run(const char *path, const char *mode, double secs,
                  const char *logpath, int per_ms, int pause_us)
{
	struct stat st;
	unsigned char *buf, *map = NULL;
	uint64_t *last, n, nmax, seq = 0;
	uint64_t rnd = (uint64_t)getpid() * 2654435761u;
	int flags = O_RDWR, fd;
	double end;
	FILE *log;

	bool churn = strcmp(mode, "churn") == 0;

	if (strcmp(mode, "direct") == 0)
		flags |= O_DIRECT;
	else if (strcmp(mode, "buffered") && strcmp(mode, "mmap") && !churn)
		return fprintf(stderr, "bad mode %s\n", mode), 2;
	fd = open(path, flags);
	if (fd < 0 || fstat(fd, &st) < 0)
		return perror(path), 1;
	n = (uint64_t)st.st_size / BLK;
	nmax = churn ? n + n / 4 : n;
	last = calloc(nmax ? nmax : 1, sizeof(*last));
	if (!last || posix_memalign((void **)&buf, BLK, BLK))
		return 1;
	if (strcmp(mode, "mmap") == 0) {
		map = mmap(NULL, n * BLK, PROT_READ | PROT_WRITE, MAP_SHARED,
		           fd, 0);
		if (map == MAP_FAILED)
			return perror("mmap"), 1;
	}
	end = now() + secs;
	while (now() < end) {
		for (int k = 0; k < per_ms; k++) {
			rnd ^= rnd << 13;
			rnd ^= rnd >> 7;
			rnd ^= rnd << 17;
			uint64_t b = rnd % n;

			seq++;
			if (churn) {
				if (churn_op(fd, buf, last, &n, nmax, seq,
				             rnd) < 0)
					return 1;
				continue;
			}
			fill(buf, b, seq);
			if (map) {
				memcpy(map + b * BLK, buf, BLK);
			} else if (pwrite(fd, buf, BLK, (off_t)(b * BLK)) !=
			           BLK) {
				perror("pwrite");
				return 1;
			}
			last[b] = seq;
		}
		usleep((useconds_t)pause_us);
	}
	if (map && msync(map, n * BLK, MS_SYNC) < 0)
		return perror("msync"), 1;
	if (fsync(fd) < 0)
		return perror("fsync"), 1;
	log = fopen(logpath, "w");
	if (!log)
		return perror(logpath), 1;
	for (uint64_t b = 0; b < n; b++)
		fprintf(log, "%" PRIu64 " %" PRIu64 "\n", b, last[b]);
	if (churn)
		fprintf(log, "%" PRIu64 " %" PRIu64 "\n", SIZE_KEY, n * BLK);
	fclose(log);
	printf("writes=%" PRIu64 "\n", seq);
	if (map)
		munmap(map, n * BLK);
	close(fd);
	free(last);
	free(buf);
	return 0;
}

static int check_with(const char *path, int flags, const uint64_t *last,
                      uint64_t n, const char *how)
{
	unsigned char *got, want[BLK];
	uint64_t bad = 0;
	int fd = open(path, O_RDONLY | flags);

	if (fd < 0 || posix_memalign((void **)&got, BLK, BLK))
		return perror(path), -1;
	for (uint64_t b = 0; b < n; b++) {
		if (last[b] == ZEROS)
			memset(want, 0, BLK);
		else
			fill(want, b, last[b]);
		if (pread(fd, got, BLK, (off_t)(b * BLK)) != BLK ||
		    memcmp(got, want, BLK)) {
			uint64_t gb, gs;
			memcpy(&gb, got, 8);
			memcpy(&gs, got + 8, 8);
			if (bad < 5)
				fprintf(stderr,
				        "%s: block %" PRIu64
				        ": want seq %" PRIu64
				        ", found block %" PRIu64 " seq %" PRIu64
				        "\n",
				        how, b, last[b], gb, gs);
			bad++;
		}
	}
	close(fd);
	free(got);
	printf("%s: %" PRIu64 " blocks, %" PRIu64 " mismatches\n", how, n, bad);
	return bad ? 1 : 0;
}

static int do_check(const char *path, const char *logpath)
{
	struct stat st;
	uint64_t n, b, s, *last, want_size = UINT64_MAX;
	FILE *log = fopen(logpath, "r");
	int rc = 0;

	if (!log || stat(path, &st) < 0)
		return perror("check"), 1;
	n = (uint64_t)st.st_size / BLK;
	last = calloc(n ? n : 1, sizeof(*last));
	if (!last)
		return 1;
	while (fscanf(log, "%" SCNu64 " %" SCNu64, &b, &s) == 2) {
		if (b == SIZE_KEY)
			want_size = s;
		else if (b < n)
			last[b] = s;
	}
	fclose(log);
	if (want_size != UINT64_MAX && want_size != (uint64_t)st.st_size) {
		fprintf(stderr, "size %" PRIu64 ", want %" PRIu64 "\n",
		        (uint64_t)st.st_size, want_size);
		rc = 1;
	}
	rc |= check_with(path, 0, last, n, "buffered");
	rc |= check_with(path, O_DIRECT, last, n, "direct");
	free(last);
	return rc;
}

#define REOPEN_BLOCKS 16

/* Every write through a new open of the name: a file given a new inode
 * meanwhile (or a directory made anew) must keep every write. */
static int do_reopen(const char *dir, unsigned nfiles, double secs,
                     const char *logpath)
{
	unsigned char *buf;
	uint64_t *last, seq = 0, rnd = (uint64_t)getpid() * 2654435761u;
	char path[4096];
	double end;
	FILE *log;

	if (!nfiles || nfiles > 100000)
		return fprintf(stderr, "bad file count\n"), 2;
	last = calloc((size_t)nfiles * REOPEN_BLOCKS, sizeof(*last));
	if (!last || posix_memalign((void **)&buf, BLK, BLK))
		return 1;
	for (unsigned f = 0; f < nfiles; f++) {
		snprintf(path, sizeof(path), "%s/w%u", dir, f);
		if (do_init(path, REOPEN_BLOCKS))
			return 1;
	}
	end = now() + secs;
	while (now() < end) {
		rnd ^= rnd << 13;
		rnd ^= rnd >> 7;
		rnd ^= rnd << 17;
		unsigned f = (unsigned)(rnd % nfiles);
		uint64_t b = (rnd >> 32) % REOPEN_BLOCKS;
		bool direct = (++seq & 1) != 0;
		int fd;

		snprintf(path, sizeof(path), "%s/w%u", dir, f);
		fd = open(path, O_RDWR | (direct ? O_DIRECT : 0));
		if (fd < 0)
			return perror(path), 1;
		fill(buf, b, seq);
		if (pwrite(fd, buf, BLK, (off_t)(b * BLK)) != BLK)
			return perror("pwrite"), 1;
		if (!direct && fdatasync(fd) < 0)
			return perror("fdatasync"), 1;
		close(fd);
		last[(size_t)f * REOPEN_BLOCKS + b] = seq;
	}
	log = fopen(logpath, "w");
	if (!log)
		return perror(logpath), 1;
	for (unsigned f = 0; f < nfiles; f++)
		for (uint64_t b = 0; b < REOPEN_BLOCKS; b++)
			fprintf(log, "w%u %" PRIu64 " %" PRIu64 "\n", f, b,
			        last[(size_t)f * REOPEN_BLOCKS + b]);
	fclose(log);
	printf("writes=%" PRIu64 "\n", seq);
	free(last);
	free(buf);
	return 0;
}

/* The files of a reopen LOG, each read buffered and with O_DIRECT. */
static int do_check_dir(const char *dir, const char *logpath)
{
	uint64_t last[REOPEN_BLOCKS], b, s;
	char name[256], cur[256] = "", path[4096];
	FILE *log = fopen(logpath, "r");
	int rc = 0, more;

	if (!log)
		return perror(logpath), 1;
	do {
		more = fscanf(log, "%255s %" SCNu64 " %" SCNu64, name, &b,
		              &s) == 3;
		if (*cur && (!more || strcmp(name, cur))) {
			snprintf(path, sizeof(path), "%s/%s", dir, cur);
			rc |= check_with(path, 0, last, REOPEN_BLOCKS,
			                 "buffered");
			rc |= check_with(path, O_DIRECT, last, REOPEN_BLOCKS,
			                 "direct");
		}
		if (more) {
			if (strcmp(name, cur))
				snprintf(cur, sizeof(cur), "%s", name);
			if (b < REOPEN_BLOCKS)
				last[b] = s;
		}
	} while (more);
	fclose(log);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "init") == 0)
		return do_init(argv[2], strtoull(argv[3], NULL, 0));
	if (argc >= 6 && argc <= 8 && strcmp(argv[1], "run") == 0)
		return do_run(argv[2], argv[3], atof(argv[4]), argv[5],
		              argc >= 7 ? atoi(argv[6]) : 64,
		              argc >= 8 ? atoi(argv[7]) : 1000);
	if (argc == 4 && strcmp(argv[1], "check") == 0)
		return do_check(argv[2], argv[3]);
	if (argc == 6 && strcmp(argv[1], "reopen") == 0)
		return do_reopen(argv[2], (unsigned)strtoul(argv[3], NULL, 0),
		                 atof(argv[4]), argv[5]);
	if (argc == 4 && strcmp(argv[1], "check-dir") == 0)
		return do_check_dir(argv[2], argv[3]);
	fprintf(stderr, "usage: rl_writer init FILE NBLOCKS | run FILE "
	                "buffered|direct|mmap|churn SECONDS LOG | check FILE "
	                "LOG | reopen DIR NFILES SECONDS LOG | check-dir DIR "
	                "LOG\n");
	/* Run by make check without arguments: nothing to do here. */
	return argc == 1 ? 77 : 2;
}
