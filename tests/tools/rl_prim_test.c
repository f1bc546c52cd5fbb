/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * rl_prim_test: cmocka tests of rl_movedata on a mounted test volume.
 *
 *   RL_TEST_MNT=/mnt/x [RL_TEST_MNT2=/mnt/y] rl_prim_test
 *       run the tests on the volume at RL_TEST_MNT (RL_TEST_MNT2, another
 *       filesystem, enables the cross-filesystem case); without RL_TEST_MNT
 *       the program exits 77 (skip)
 *   rl_prim_test move-loop FILE SECONDS [SHIFT_KIB]
 *       relocate FILE over and over (donor: O_TMPFILE + rl_allocate, then
 *       rl_movedata of the whole file) for SECONDS; prints the counters;
 *       with SHIFT_KIB the donor's range starts there (rl_movedata_at),
 *       with more of the donor after it (but on btrfs)
 *   rl_prim_test move FILE [CHUNK_MIB]
 *       relocate FILE once, print the seconds it took (benchmark driver);
 *       with CHUNK_MIB in rl_movedata calls of that size, printing the
 *       longest call's seconds too
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fs_internal.h"

static const char *mnt;
static uint32_t bsize;
static enum rl_fs_type fstype;
static int seq;

/* ---------------------------------------------------------------- helpers */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void path_of(char *p, size_t n, const char *name)
{
	snprintf(p, n, "%s/%s.%d", mnt, name, seq++);
}

static void pattern(unsigned char *b, size_t len, uint64_t off, unsigned seed)
{
	for (size_t i = 0; i < len; i++) {
		uint64_t x = (off + i) / 8 * 2654435761u + seed;
		b[i] = (unsigned char)(x ^ (x >> 13) ^ (off + i));
	}
}

/* A file of size bytes. With chunk < size it is fragmented: each chunk is
 * preallocated in turn with a chunk of a spacer file in between (fallocate
 * allocates at once, unlike delayed allocation), then written. */
static int make_file(const char *name, uint64_t size, uint64_t chunk,
                     unsigned seed)
{
	char p[4096];
	unsigned char *b = malloc(chunk);
	int fd, spacer = -1;

	assert_non_null(b);
	path_of(p, sizeof(p), name);
	fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	if (chunk < size) {
		path_of(p, sizeof(p), "spacer");
		spacer = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
		assert_true(spacer >= 0);
	}
	for (uint64_t off = 0; spacer >= 0 && off < size; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;

		assert_int_equal(fallocate(fd, 0, (off_t)off, (off_t)n), 0);
		assert_int_equal(fallocate(spacer, 0, (off_t)off, (off_t)n), 0);
	}
	for (uint64_t off = 0; off < size; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;

		pattern(b, n, off, seed);
		assert_int_equal(pwrite(fd, b, n, (off_t)off), (ssize_t)n);
	}
	fsync(fd);
	if (spacer >= 0)
		close(spacer);
	free(b);
	return fd;
}

static unsigned char *read_all(int fd, uint64_t *size)
{
	struct stat st;
	unsigned char *b;

	assert_int_equal(fstat(fd, &st), 0);
	*size = (uint64_t)st.st_size;
	b = malloc(*size + 1);
	assert_non_null(b);
	assert_int_equal(pread(fd, b, *size, 0), (ssize_t)*size);
	return b;
}

static uint64_t round_up(uint64_t v)
{
	return (v + bsize - 1) / bsize * bsize;
}

/* A donor: O_TMPFILE on the volume with len bytes allocated at 0. */
static int make_donor(const char *dir, uint64_t len)
{
	int fd = open(dir, O_TMPFILE | O_RDWR, 0600);
	int64_t got;

	if (fd < 0)
		return -errno;
	got = rl_allocate(fd, 0, 0, len);
	if (got != (int64_t)len) {
		close(fd);
		return got < 0 ? (int)got : -ENOSPC;
	}
	return fd;
}

static struct rl_extent *extents(int fd, uint64_t lo, uint64_t len, size_t *n)
{
	struct rl_extent *e = NULL;

	assert_int_equal(rl_get_extents_range(fd, lo, len, &e, n), 0);
	return e;
}

/* Bytes of [lo, hi) that fd maps. */
static uint64_t mapped_bytes(int fd, uint64_t lo, uint64_t hi)
{
	size_t n;
	struct rl_extent *e = extents(fd, lo, hi - lo, &n);
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t a = e[i].logical, b = a + e[i].length;
		a = a < lo ? lo : a;
		b = b > hi ? hi : b;
		if (a < b)
			sum += b - a;
	}
	free(e);
	return sum;
}

/* Does any extent of a overlap physically any extent of b? */
static bool phys_overlap(const struct rl_extent *a, size_t na,
                         const struct rl_extent *b, size_t nb)
{
	for (size_t i = 0; i < na; i++)
		for (size_t j = 0; j < nb; j++)
			if (a[i].physical < b[j].physical + b[j].length &&
			    b[j].physical < a[i].physical + a[i].length)
				return true;
	return false;
}

/* Is every old extent reported free by rl_get_free_blocks? Skipped (true)
 * when that function does not work on this filesystem/branch. On btrfs an
 * extent that reaches outside the moved range [from, end) stays referenced
 * by the rest of the file (btrfs frees a data extent only when no part of
 * it is referenced any more), so only extents inside the range are checked
 * there. */
static bool old_blocks_free(const struct rl_extent *old, size_t n,
                            uint64_t from, uint64_t end)
{
	struct rl_free_extent fe[256];
	int fd = open(mnt, O_RDONLY);

	if (fd >= 0) {
		syncfs(fd);
		close(fd);
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t a = old[i].physical, b = a + old[i].length;
		int r;

		if (fstype == RL_FS_BTRFS &&
		    (old[i].logical < from ||
		     old[i].logical + old[i].length > end))
			continue;
		r = rl_get_free_blocks(mnt, a, b, 256, fe);
		uint64_t sum = 0;

		if (r < 0) {
			print_message("  (rl_get_free_blocks: %s: free check "
			              "skipped)\n",
			              rl_strerror(r));
			return true;
		}
		for (int k = 0; k < r; k++)
			sum += fe[k].len;
		if (sum != b - a) {
			print_message("  old extent %" PRIu64 "+%" PRIu64
			              ": %" PRIu64 " bytes free\n",
			              a, b - a, sum);
			return false;
		}
	}
	return true;
}

static bool same_time(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* Move the whole of fd onto a fresh donor and check everything the RFC
 * and the API promise. */
static void move_and_check(int fd, uint64_t from, uint64_t len)
{
	struct stat before, after;
	struct timespec past[2] = {{1000000000, 123}, {1100000000, 456}};
	uint64_t size, size2, end;
	unsigned char *want, *got;
	struct rl_extent *old, *sp, *now;
	size_t nold, nsp, nnow;
	int donor;

	assert_int_equal(futimens(fd, past), 0);
	want = read_all(fd, &size);
	end = len ? from + len : round_up(size);
	if (!len)
		len = end - from;
	donor = make_donor(mnt, round_up(size));
	assert_true(donor >= 0);
	old = extents(fd, from, len, &nold);
	sp = extents(donor, from, len, &nsp);
	assert_int_equal(fstat(fd, &before), 0);

	assert_int_equal(rl_movedata(fd, donor, from, len, 0), 0);

	assert_int_equal(fstat(fd, &after), 0);
	assert_int_equal(before.st_size, after.st_size);
	assert_true(same_time(before.st_mtim, after.st_mtim));
	assert_true(same_time(before.st_ctim, after.st_ctim));
	assert_true(same_time(before.st_atim, after.st_atim));
	assert_int_equal(before.st_mode, after.st_mode);
	assert_int_equal(before.st_uid, after.st_uid);
	/* content (cold: drop this file's cache first) */
	fdatasync(fd);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	got = read_all(fd, &size2);
	assert_int_equal(size, size2);
	assert_memory_equal(want, got, size);
	/* the donor holds nothing in the range any more */
	assert_int_equal(mapped_bytes(donor, from, end), 0);
	/* the file now sits on the donor's old blocks, not on its own */
	now = extents(fd, from, len, &nnow);
	assert_true(phys_overlap(now, nnow, sp, nsp) || nnow == 0);
	assert_false(phys_overlap(now, nnow, old, nold));
	assert_true(old_blocks_free(old, nold, from, end));
	free(now);
	/* nothing shared once the donor is gone (btrfs: a donor extent
	 * partly outside the range is shared until then) */
	close(donor);
	syncfs(fd);
	now = extents(fd, from, len, &nnow);
	for (size_t i = 0; i < nnow; i++)
		assert_false(now[i].flags & RL_EXT_SHARED);
	free(now);
	free(old);
	free(sp);
	free(want);
	free(got);
}

/* ------------------------------------------------------------------ tests */

static void t_small(void **state)
{
	(void)state;
	int fd = make_file("small", 3 * bsize, 3 * bsize, 1);
	move_and_check(fd, 0, 0);
	close(fd);
}

static void t_unaligned_size(void **state)
{
	(void)state;
	int fd = make_file("tail", 10 * bsize + 1234, 1 << 20, 2);
	move_and_check(fd, 0, 0);
	close(fd);
}

static void t_large(void **state)
{
	(void)state;
	int fd = make_file("large", 48u << 20, 48u << 20, 3);
	move_and_check(fd, 0, 0);
	close(fd);
}

static void t_multi_extent(void **state)
{
	(void)state;
	int fd = make_file("frag", 4u << 20, 64 * 1024, 4);
	size_t n;
	free(extents(fd, 0, 0, &n));
	print_message("  %zu extents before\n", n);
	assert_true(n > 4);
	move_and_check(fd, 0, 0);
	close(fd);
}

static void t_partial_range(void **state)
{
	(void)state;
	int fd = make_file("part", 2u << 20, 128 * 1024, 5);
	move_and_check(fd, 64 * (uint64_t)bsize, 100 * (uint64_t)bsize);
	close(fd);
}

static void t_past_eof(void **state)
{
	(void)state;
	/* range runs past EOF: size unchanged, donor loses it all */
	int fd = make_file("eof", 5 * bsize, 5 * bsize, 6);
	move_and_check(fd, 0, 16 * (uint64_t)bsize);
	close(fd);
}

/* A hole in spacefd becomes a hole in datafd. */
static void t_hole_in_space(void **state)
{
	(void)state;
	uint64_t size = 64 * (uint64_t)bsize, hlo = 16 * bsize,
	         hhi = 40 * (uint64_t)bsize, sz;
	int fd = make_file("sphole", size, size, 7);
	unsigned char *want = read_all(fd, &sz), *got;
	int donor = make_donor(mnt, size);

	assert_true(donor >= 0);
	assert_int_equal(fallocate(donor,
	                           FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	                           (off_t)hlo, (off_t)(hhi - hlo)),
	                 0);
	assert_int_equal(rl_movedata(fd, donor, 0, size, 0), 0);
	memset(want + hlo, 0, hhi - hlo);
	got = read_all(fd, &sz);
	assert_int_equal(sz, size);
	assert_memory_equal(want, got, size);
	assert_int_equal(mapped_bytes(fd, hlo, hhi), 0);
	assert_int_equal(mapped_bytes(fd, 0, size), size - (hhi - hlo));
	assert_int_equal(mapped_bytes(donor, 0, size), 0);
	free(want);
	free(got);
	close(donor);
	close(fd);
}

/* A hole in datafd over spacefd data reads as zeros afterwards. */
static void t_hole_in_data(void **state)
{
	(void)state;
	uint64_t size = 64 * (uint64_t)bsize, hlo = 8 * bsize,
	         hhi = 20 * (uint64_t)bsize, sz;
	int fd = make_file("dthole", size, size, 8);
	unsigned char *want, *got;

	assert_int_equal(fallocate(fd,
	                           FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	                           (off_t)hlo, (off_t)(hhi - hlo)),
	                 0);
	want = read_all(fd, &sz);
	move_and_check(fd, 0, 0); /* timestamps, blocks, donor empty */
	got = read_all(fd, &sz);
	assert_memory_equal(want, got, size);
	for (uint64_t i = hlo; i < hhi; i++)
		assert_int_equal(got[i], 0);
	free(want);
	free(got);
	close(fd);
}

/* -------------------------------------------------------------- errors */

static void t_errors(void **state)
{
	(void)state;
	char p[4096];
	int fd = make_file("err", 8 * bsize, 8 * bsize, 9);
	int fd2 = make_file("err2", 8 * bsize, 8 * bsize, 9);
	int donor = make_donor(mnt, 8 * (uint64_t)bsize);
	int dir = open(mnt, O_RDONLY | O_DIRECTORY), ro;
	uint64_t L = 8 * (uint64_t)bsize;

	assert_true(donor >= 0 && dir >= 0);
	assert_int_equal(rl_movedata(fd, donor, 1, L, 0), -EINVAL);
	assert_int_equal(rl_movedata(fd, donor, 0, L - 1, 0), -EINVAL);
	assert_int_equal(rl_movedata(fd, donor, 0, L, 0x80), -EINVAL);
	assert_int_equal(rl_movedata(dir, donor, 0, L, 0), -EINVAL);
	assert_int_equal(rl_movedata(fd, dir, 0, L, 0), -EINVAL);
	assert_int_equal(rl_movedata(fd, fd, 0, L, 0), -EINVAL);
	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	ro = open(p, O_RDONLY);
	assert_true(ro >= 0);
	assert_int_equal(rl_movedata(ro, donor, 0, L, 0), -EBADF);
	close(ro);

	/* immutable / append-only (datafd, then spacefd) */
	int attrs[] = {FS_IMMUTABLE_FL, FS_APPEND_FL};
	for (int i = 0; i < 2; i++) {
		int f = 0;
		assert_int_equal(ioctl(fd2, FS_IOC_GETFLAGS, &f), 0);
		f |= attrs[i];
		assert_int_equal(ioctl(fd2, FS_IOC_SETFLAGS, &f), 0);
		assert_int_equal(rl_movedata(fd2, donor, 0, L, 0), -EPERM);
		assert_int_equal(rl_movedata(fd, fd2, 0, L, 0), -EPERM);
		f &= ~attrs[i];
		assert_int_equal(ioctl(fd2, FS_IOC_SETFLAGS, &f), 0);
	}
	/* after all the refusals the file and donor are untouched */
	assert_int_equal(mapped_bytes(donor, 0, L), L);
	move_and_check(fd2, 0, 0);

	/* tmpfs (memfd): not a supported filesystem */
	int m1 = memfd_create("a", 0), m2 = memfd_create("b", 0);
	assert_int_equal(ftruncate(m1, 4096), 0);
	assert_int_equal(ftruncate(m2, 4096), 0);
	assert_int_equal(rl_movedata(m1, m2, 0, 4096, 0), -EOPNOTSUPP);
	close(m1);
	close(m2);
	close(fd);
	close(fd2);
	close(donor);
	close(dir);
}

static void t_cross_fs(void **state)
{
	(void)state;
	const char *m2 = getenv("RL_TEST_MNT2");
	char p[4096];
	int fd, other;

	if (!m2 || !*m2)
		skip();
	fd = make_file("xdev", 4 * bsize, 4 * bsize, 10);
	snprintf(p, sizeof(p), "%s/xdev.%d", m2, seq++);
	other = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(other >= 0);
	assert_int_equal(ftruncate(other, 4 * (off_t)bsize), 0);
	assert_int_equal(rl_movedata(fd, other, 0, 4 * (uint64_t)bsize, 0),
	                 -EXDEV);
	close(other);
	unlink(p);
	close(fd);
}

static void t_swapfile(void **state)
{
	(void)state;
	char p[4096], cmd[4200];
	uint64_t size = 16u << 20;
	int fd, donor, r;

	path_of(p, sizeof(p), "swap");
	fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	if (fstype == RL_FS_BTRFS) {
		int f = FS_NOCOW_FL;
		ioctl(fd, FS_IOC_SETFLAGS, &f);
	}
	assert_int_equal(fallocate(fd, 0, 0, (off_t)size), 0);
	snprintf(cmd, sizeof(cmd), "mkswap -q '%s' >/dev/null 2>&1", p);
	if (system(cmd) != 0 || swapon(p, 0) != 0) {
		print_message("  swapon not possible here (%s): skipped\n",
		              strerror(errno));
		close(fd);
		unlink(p);
		skip();
		return;
	}
	donor = make_donor(mnt, size);
	assert_true(donor >= 0);
	r = rl_movedata(fd, donor, 0, size, 0);
	swapoff(p);
	assert_int_equal(r, -ETXTBSY);
	close(donor);
	close(fd);
	unlink(p);
}

static void t_shared(void **state)
{
	(void)state;
	uint64_t size = 32 * (uint64_t)bsize;
	int fd, clone, donor;
	char p[4096];
	size_t n;
	struct rl_extent *e;

	if (fstype == RL_FS_EXT4)
		skip();
	fd = make_file("shsrc", size, size, 11);
	path_of(p, sizeof(p), "shclone");
	clone = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(clone >= 0);
	if (ioctl(clone, FICLONE, fd) < 0) {
		print_message("  FICLONE: %s: skipped\n", strerror(errno));
		skip();
	}
	donor = make_donor(mnt, size);
	assert_true(donor >= 0);
	assert_int_equal(rl_movedata(clone, donor, 0, size, 0), -RL_E_SHARED);
	assert_int_equal(mapped_bytes(donor, 0, size), size);
	assert_int_equal(
	    rl_movedata(clone, donor, 0, size, RL_MOVE_ALLOW_SHARED), 0);
	e = extents(clone, 0, size, &n);
	for (size_t i = 0; i < n; i++)
		assert_false(e[i].flags & RL_EXT_SHARED);
	free(e);
	uint64_t s1, s2;
	unsigned char *a = read_all(fd, &s1), *b = read_all(clone, &s2);
	assert_memory_equal(a, b, size);
	free(a);
	free(b);
	close(donor);
	close(clone);
	close(fd);
}

/* ------------------------------------------------------ rl_movedata_at */

/* Physical address of offset off in the extents e (0: a hole). */
static uint64_t phys_at(const struct rl_extent *e, size_t n, uint64_t off)
{
	for (size_t i = 0; i < n; i++)
		if (e[i].logical <= off && off < e[i].logical + e[i].length)
			return e[i].physical + (off - e[i].logical);
	return 0;
}

/* Move all of fd onto donor's blocks at space_from with rl_movedata_at
 * and check the promises: content, size, timestamps, fd now on exactly
 * the donor's blocks of the shifted range, the donor with a hole there
 * and everything else of it as before, its size kept. */
static void move_at_and_check(int fd, int donor, uint64_t space_from)
{
	struct stat before, after, dbefore, dafter;
	struct timespec past[2] = {{1000000000, 123}, {1100000000, 456}};
	uint64_t size, size2, len, dlen;
	unsigned char *want, *got;
	struct rl_extent *sp, *now, *dall, *dall2;
	size_t nsp, nnow, ndall, ndall2;

	assert_int_equal(futimens(fd, past), 0);
	want = read_all(fd, &size);
	len = round_up(size);
	assert_int_equal(fstat(donor, &dbefore), 0);
	dlen = round_up((uint64_t)dbefore.st_size);
	sp = extents(donor, space_from, len, &nsp);
	dall = extents(donor, 0, dlen, &ndall);
	assert_int_equal(fstat(fd, &before), 0);

	int r = rl_movedata_at(fd, donor, 0, space_from, len, 0);
	if (r)
		print_message("  rl_movedata_at(0, %" PRIu64 ", %" PRIu64
		              "): %s\n",
		              space_from, len, rl_strerror(r));
	assert_int_equal(r, 0);

	assert_int_equal(fstat(fd, &after), 0);
	assert_int_equal(fstat(donor, &dafter), 0);
	assert_int_equal(before.st_size, after.st_size);
	assert_int_equal(dbefore.st_size, dafter.st_size);
	assert_true(same_time(before.st_mtim, after.st_mtim));
	assert_true(same_time(before.st_ctim, after.st_ctim));
	assert_true(same_time(before.st_atim, after.st_atim));
	fdatasync(fd);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	got = read_all(fd, &size2);
	assert_int_equal(size, size2);
	assert_memory_equal(want, got, size);
	/* every block of fd sits on the donor's block at the shifted offset */
	now = extents(fd, 0, len, &nnow);
	assert_true(nnow > 0);
	for (size_t i = 0; i < nnow; i++)
		for (uint64_t o = 0; o < now[i].length; o += bsize) {
			uint64_t p =
			    phys_at(sp, nsp, space_from + now[i].logical + o);
			if (p != now[i].physical + o)
				print_message(
				    "  offset %" PRIu64 ": at %" PRIu64
				    ", donor had %" PRIu64 "\n",
				    now[i].logical + o, now[i].physical + o, p);
			assert_int_equal(p, now[i].physical + o);
			/* btrfs: shared while the donor holds the rest of
			 * the extent */
			if (fstype != RL_FS_BTRFS)
				assert_false(now[i].flags & RL_EXT_SHARED);
		}
	/* the donor: a hole over the range, the rest as it was */
	assert_int_equal(mapped_bytes(donor, space_from, space_from + len), 0);
	dall2 = extents(donor, 0, dlen, &ndall2);
	for (uint64_t o = 0; o < dlen; o += bsize)
		if (o < space_from || o >= space_from + len)
			assert_int_equal(phys_at(dall2, ndall2, o),
			                 phys_at(dall, ndall, o));
	free(now);
	free(dall);
	free(dall2);
	free(sp);
	free(want);
	free(got);
}

/* Three files onto consecutive parts of one donor, out of order, with
 * partial last blocks and space before and after: what a transaction does
 * with one placement for many steps. */
static void t_at_shared_donor(void **state)
{
	(void)state;
	uint64_t sz[3] = {5 * (uint64_t)bsize + 123, 1u << 20,
	                  37 * (uint64_t)bsize + 1};
	uint64_t off[3], pos = 2 * (uint64_t)bsize;
	int fd[3], donor, order[3] = {2, 0, 1};
	/* ext4 moves only between the same places in a page */
	uint64_t al = fstype == RL_FS_EXT4 && bsize < 4096 ? 4096 : bsize;

	if (fstype == RL_FS_BTRFS)
		skip(); /* extents are shared whole there: t_at_btrfs */
	for (int i = 0; i < 3; i++) {
		fd[i] = make_file("atf", sz[i], i == 1 ? 64 * 1024 : sz[i],
		                  20 + (unsigned)i);
		pos = (pos + al - 1) / al * al;
		off[i] = pos;
		pos += round_up(sz[i]);
	}
	donor = make_donor(mnt, pos + 3 * (uint64_t)bsize);
	assert_true(donor >= 0);
	for (int k = 0; k < 3; k++)
		move_at_and_check(fd[order[k]], donor, off[order[k]]);
	/* only the space before and after is left */
	uint64_t moved = 0;
	for (int i = 0; i < 3; i++)
		moved += round_up(sz[i]);
	assert_int_equal(mapped_bytes(donor, 0, pos + 3 * (uint64_t)bsize),
	                 pos + 3 * (uint64_t)bsize - moved);
	for (int i = 0; i < 3; i++)
		close(fd[i]);
	close(donor);
}

/* btrfs: a donor per call; a partial last block with more of the donor
 * behind it cannot be moved there (-EOPNOTSUPP, nothing changed). */
static void t_at_btrfs(void **state)
{
	(void)state;
	uint64_t size = 24 * (uint64_t)bsize, sh = 8 * (uint64_t)bsize, s1, s2;
	int fd, donor;
	struct rl_extent *e1, *e2;
	size_t n1, n2;
	unsigned char *a, *b;

	if (fstype != RL_FS_BTRFS)
		skip();
	fd = make_file("atb", size, size, 30);
	donor = make_donor(mnt, sh + size);
	assert_true(donor >= 0);
	move_at_and_check(fd, donor, sh);
	close(donor);
	close(fd);
	fd = make_file("atb", size - 100, size, 31);
	donor = make_donor(mnt, sh + size + 4 * (uint64_t)bsize);
	assert_true(donor >= 0);
	e1 = extents(fd, 0, size, &n1);
	a = read_all(fd, &s1);
	assert_int_equal(rl_movedata_at(fd, donor, 0, sh, size, 0),
	                 -EOPNOTSUPP);
	e2 = extents(fd, 0, size, &n2);
	b = read_all(fd, &s2);
	assert_int_equal(s1, s2);
	assert_memory_equal(a, b, s1);
	assert_int_equal(n1, n2);
	assert_int_equal(e1[0].physical, e2[0].physical);
	free(e1);
	free(e2);
	free(a);
	free(b);
	close(donor);
	close(fd);
}

static void t_at_errors(void **state)
{
	(void)state;
	uint64_t L = 16 * (uint64_t)bsize;
	int fd = make_file("ate", L, L, 40);
	int donor = make_donor(mnt, 3 * L);
	struct rl_extent *e1, *e2;
	size_t n1, n2;

	assert_true(donor >= 0);
	e1 = extents(fd, 0, L, &n1);
	assert_int_equal(rl_movedata_at(fd, donor, 0, 1, L, 0), -EINVAL);
	if (fstype == RL_FS_EXT4 && bsize < 4096)
		assert_int_equal(rl_movedata_at(fd, donor, 0, bsize, L, 0),
		                 -EINVAL);
	assert_int_equal(rl_movedata_at(fd, donor, 0, UINT64_MAX / 2, L, 0),
	                 -EINVAL);
	/* a hole in the donor at the shifted range: refused with
	 * RL_MOVE_SPACE_FULL; the same range unshifted has blocks */
	assert_int_equal(fallocate(donor,
	                           FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	                           (off_t)L + 4 * bsize, 4 * (off_t)bsize),
	                 0);
	assert_int_equal(rl_movedata_at(fd, donor, 0, L, L, RL_MOVE_SPACE_FULL),
	                 -ENOSPC);
	e2 = extents(fd, 0, L, &n2);
	assert_int_equal(n1, n2);
	for (size_t i = 0; i < n1; i++)
		assert_int_equal(e1[i].physical, e2[i].physical);
	assert_int_equal(mapped_bytes(donor, 0, 3 * L), 3 * L - 4 * bsize);
	free(e1);
	free(e2);
	/* the range past the hole moves */
	move_at_and_check(fd, donor, 2 * L);
	close(donor);
	close(fd);
}

static void t_at_shared(void **state)
{
	(void)state;
	uint64_t size = 32 * (uint64_t)bsize;
	int fd, clone, donor;
	char p[4096];

	if (fstype == RL_FS_EXT4)
		skip();
	fd = make_file("atsh", size, size, 41);
	path_of(p, sizeof(p), "atshclone");
	clone = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(clone >= 0);
	if (ioctl(clone, FICLONE, fd) < 0)
		skip();
	donor = make_donor(mnt, 2 * size);
	assert_true(donor >= 0);
	assert_int_equal(rl_movedata_at(clone, donor, 0, size, size, 0),
	                 -RL_E_SHARED);
	assert_int_equal(mapped_bytes(donor, 0, 2 * size), 2 * size);
	close(donor);
	close(clone);
	close(fd);
}

/* ------------------------------------------------------- drivers */

static int move_loop(const char *file, double secs, uint64_t shift)
{
	char *dup = strdup(file), *dir = dirname(dup);
	struct rl_move_stats st = {0};
	unsigned long moves = 0, busy = 0, fails = 0;
	double end = now() + secs;
	int fd = open(file, O_RDWR);

	if (fd < 0)
		return perror(file), 1;
	while (now() < end) {
		struct stat s;
		int donor, r;

		fstat(fd, &s);
		/* shifted: space before and (but btrfs) after the target */
		donor = make_donor(dir, round_up((uint64_t)s.st_size) + shift +
		                            (shift && fstype != RL_FS_BTRFS
		                                 ? 4 * (uint64_t)bsize
		                                 : 0));
		if (donor < 0) {
			fprintf(stderr, "donor: %s\n", rl_strerror(donor));
			return 1;
		}
		r = rl_movedata_at_stats(fd, donor, 0, shift,
		                         round_up((uint64_t)s.st_size), 0, &st);
		close(donor);
		if (r == 0)
			moves++;
		else if (r == -EBUSY)
			busy++;
		else {
			fails++;
			fprintf(stderr, "movedata: %s\n", rl_strerror(r));
			if (fails > 3)
				break;
		}
	}
	close(fd);
	free(dup);
	printf("moves=%lu ebusy_returns=%lu failures=%lu busy_retries=%" PRIu64
	       " differs_retries=%" PRIu64 "\n",
	       moves, busy, fails, st.busy_retries, st.differs_retries);
	return fails ? 1 : 0;
}

/* Relocate file once; chunk > 0: in rl_movedata calls of chunk bytes
 * (as tx_apply does), printing the longest call too -- a cancel waits
 * for one call. */
static int move_once(const char *file, uint64_t chunk)
{
	char *dup = strdup(file), *dir = dirname(dup);
	struct stat s;
	int fd = open(file, O_RDWR), donor, r = 0;
	uint64_t len;
	double t0, longest = 0;

	if (fd < 0 || fstat(fd, &s) < 0)
		return perror(file), 1;
	len = round_up((uint64_t)s.st_size);
	t0 = now();
	donor = make_donor(dir, len);
	if (donor < 0)
		return fprintf(stderr, "donor: %s\n", rl_strerror(donor)), 1;
	for (uint64_t pos = 0; pos < len && r == 0;) {
		uint64_t n = chunk && chunk < len - pos ? chunk : len - pos;
		double t = now();

		r = rl_movedata(fd, donor, pos, n, 0);
		if (now() - t > longest)
			longest = now() - t;
		pos += n;
	}
	close(donor);
	close(fd);
	free(dup);
	if (r < 0)
		return fprintf(stderr, "%s: %s\n", file, rl_strerror(r)), 1;
	if (chunk)
		printf("%.6f %.6f\n", now() - t0, longest);
	else
		printf("%.6f\n", now() - t0);
	return 0;
}

/* rl_fs_shrink_clear: what it refuses, and with no rounds allowed it
 * only says whether the range is free (nothing is allocated). */
static void t_shrink_clear(void **state)
{
	struct rl_fs_info fi;
	uint64_t ag0, end;
	unsigned rounds = 7;
	int dir = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

	(void)state;
	assert_true(dir >= 0);
	assert_int_equal(rl_fs_probe(mnt, &fi), 0);
	if (fstype != RL_FS_XFS) {
		assert_int_equal(
		    rl_fs_shrink_clear(dir, fi.size / 2, 1, &rounds),
		    -EOPNOTSUPP);
		assert_int_equal(rounds, 0);
		close(dir);
		return;
	}
	assert_true(fi.group_count >= 2 && fi.group_size > 0);
	ag0 = (fi.group_count - 1) * fi.group_size;
	end = fi.size;
	/* below the last AG, at or past the end, unaligned */
	assert_int_equal(rl_fs_shrink_clear(dir, ag0 - bsize, 1, NULL),
	                 -EINVAL);
	assert_int_equal(rl_fs_shrink_clear(dir, ag0, 1, NULL), -EINVAL);
	assert_int_equal(rl_fs_shrink_clear(dir, end, 1, NULL), -EINVAL);
	assert_int_equal(rl_fs_shrink_clear(dir, end - bsize + 1, 1, NULL),
	                 -EINVAL);
	/* no rounds: 0 (free) or -EBUSY, and nothing run */
	r = rl_fs_shrink_clear(dir, end - 4 * (uint64_t)bsize, 0, &rounds);
	assert_true(r == 0 || r == -EBUSY);
	assert_int_equal(rounds, 0);
	close(dir);
}

int main(int argc, char **argv)
{
	struct rl_fs_info info;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(t_small),
	    cmocka_unit_test(t_unaligned_size),
	    cmocka_unit_test(t_large),
	    cmocka_unit_test(t_multi_extent),
	    cmocka_unit_test(t_partial_range),
	    cmocka_unit_test(t_past_eof),
	    cmocka_unit_test(t_hole_in_space),
	    cmocka_unit_test(t_hole_in_data),
	    cmocka_unit_test(t_errors),
	    cmocka_unit_test(t_cross_fs),
	    cmocka_unit_test(t_swapfile),
	    cmocka_unit_test(t_shared),
	    cmocka_unit_test(t_at_shared_donor),
	    cmocka_unit_test(t_at_btrfs),
	    cmocka_unit_test(t_at_errors),
	    cmocka_unit_test(t_at_shared),
	    cmocka_unit_test(t_shrink_clear),
	};
	int fd;

	if ((argc == 4 || argc == 5) && strcmp(argv[1], "move-loop") == 0) {
		bsize = 4096;
		fd = open(argv[2], O_RDONLY);
		if (fd >= 0 && rl_fd_block_size(fd, &bsize) < 0)
			bsize = 4096;
		if (fd >= 0) {
			fstype = rl_fd_fs_type(fd);
			close(fd);
		}
		return move_loop(argv[2], atof(argv[3]),
		                 argc == 5 ? strtoull(argv[4], NULL, 0) << 10
		                           : 0);
	}
	if ((argc == 3 || argc == 4) && strcmp(argv[1], "move") == 0) {
		fd = open(argv[2], O_RDONLY);
		if (fd < 0 || rl_fd_block_size(fd, &bsize) < 0)
			return 1;
		close(fd);
		return move_once(
		    argv[2], argc == 4 ? strtoull(argv[3], NULL, 0) << 20 : 0);
	}
	mnt = getenv("RL_TEST_MNT");
	if (!mnt || !*mnt) {
		fprintf(stderr, "RL_TEST_MNT not set: skipped\n");
		return 77;
	}
	if (rl_fs_probe(mnt, &info) < 0)
		return 1;
	bsize = info.block_size;
	fstype = info.type;
	print_message("movedata tests on %s (%s, %u-byte blocks)\n", mnt,
	              info.fstype, bsize);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
