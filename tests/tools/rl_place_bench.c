/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rl_place_bench: exact-placement measurements and checks.
 *
 *   rl_place_bench [OPTIONS] MOUNTPOINT
 *     -n N         targets (default 200)
 *     -s SEED      random seed (default 1)
 *     -u           uniform over free extents (default: block-weighted)
 *     -m MAXBYTES  largest request (default 32 MiB)
 *     -w           run a concurrent small-file writer meanwhile
 *     -d DIR       state directory for the tunables journal
 *     -T           no tunables (ext4 then reports -EOPNOTSUPP)
 *     -v           one line per target
 *     -F           only print the free map ("start length" in bytes)
 *     -S N         the stop callback (rl_place_opts.stop) says stop from
 *                  its N+1th call in each placement on (counted "stopped")
 *
 * Targets are drawn from the free map (GETFSMAP), clipped to their group
 * or AG, sizes log-uniform between one block and MAXBYTES. Each target is
 * allocated with RL_ALLOC_FIXED_START|FIXED_LEN|CONTIGUOUS into a fresh
 * O_TMPFILE and checked independently with FIEMAP. Prints one summary
 * line: exact, retried (exact after >1 attempt), failed (error, by errno),
 * wrong (success reported but not where asked: must be 0), leaked blocks
 * (free blocks lost across the run, without a writer: must be 0) and
 * time per placement. Exit 1 when a wrong placement or a leak was seen.
 */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <relayout/fs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "fs_place.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A small-file writer: creates 4-64 KiB files, deletes older ones. */
static pid_t start_writer(const char *mnt)
{
	pid_t pid = fork();
	char dir[4096], p[4200];
	static char buf[65536];

	if (pid != 0)
		return pid;
	snprintf(dir, sizeof(dir), "%s/.bench-writer", mnt);
	mkdir(dir, 0700);
	memset(buf, 0x5a, sizeof(buf));
	for (unsigned long i = 0;; i++) {
		snprintf(p, sizeof(p), "%s/f%lu", dir, i % 4096);
		int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			size_t n = 4096 * (1 + (i * 7919) % 16);
			if (write(fd, buf, n) < 0)
				n = 0;
			close(fd);
		}
		if (i % 3 == 0) {
			snprintf(p, sizeof(p), "%s/f%lu", dir, (i * 31) % 4096);
			unlink(p);
		}
	}
}

/* -S N: the placements' stop callback answers "stop" from its N+1th
 * question on (each placement counts afresh). */
static long stop_after = -1, stop_asked;

static int stop_cb(void *arg)
{
	(void)arg;
	return stop_after >= 0 && stop_asked++ >= stop_after;
}

int main(int argc, char **argv)
{
	unsigned n = 200, seed = 1;
	bool uniform = false, writer = false, verbose = false, notun = false;
	bool dump = false;
	uint64_t maxb = 32 << 20;
	const char *state = NULL;
	int opt;

	while ((opt = getopt(argc, argv, "n:s:um:wd:TvFS:")) != -1) {
		switch (opt) {
		case 'S':
			stop_after = atol(optarg);
			break;
		case 'n':
			n = (unsigned)atoi(optarg);
			break;
		case 's':
			seed = (unsigned)atoi(optarg);
			break;
		case 'u':
			uniform = true;
			break;
		case 'm':
			maxb = strtoull(optarg, NULL, 0);
			break;
		case 'w':
			writer = true;
			break;
		case 'd':
			state = optarg;
			break;
		case 'T':
			notun = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'F':
			dump = true;
			break;
		default:
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: rl_place_bench [OPTIONS] MOUNTPOINT\n");
		return 2;
	}
	const char *mnt = argv[optind];
	struct rl_fs_info info;
	int r = rl_fs_probe(mnt, &info);
	if (r < 0) {
		fprintf(stderr, "probe %s: %s\n", mnt, rl_strerror(r));
		return 1;
	}
	int root = open(mnt, O_RDONLY | O_DIRECTORY);
	if (root < 0)
		return 1;
	uint64_t bs = info.block_size, gsz = info.group_size;
	if (dump) {
		struct rl_free_extent *fv;
		size_t fn;
		r = rl_place_free_list(root, 0, info.size, &fv, &fn);
		if (r < 0)
			return 1;
		for (size_t j = 0; j < fn; j++)
			printf("%" PRIu64 " %" PRIu64 "\n", fv[j].start,
			       fv[j].len);
		free(fv);
		return 0;
	}
	srandom(seed);

	pid_t wpid = writer ? start_writer(mnt) : 0;
	struct statvfs sv0, sv1;
	syncfs(root);
	statvfs(mnt, &sv0);

	unsigned exact = 0, retried = 0, wrong = 0, failed = 0;
	unsigned err_busy = 0, err_nospc = 0, err_other = 0, err_nosup = 0;
	unsigned err_intr = 0;
	double t_total = 0, t_max = 0;
	for (unsigned i = 0; i < n; i++) {
		struct rl_free_extent *fv;
		size_t fn;
		uint64_t total = 0, g, len;

		r = rl_place_free_list(root, 0, info.size, &fv, &fn);
		if (r < 0 || fn == 0) {
			fprintf(stderr, "free map: %s\n", rl_strerror(r));
			return 1;
		}
		size_t k = 0;
		if (uniform) {
			k = (size_t)random() % fn;
		} else {
			for (size_t j = 0; j < fn; j++)
				total += fv[j].len / bs;
			uint64_t b =
			    ((uint64_t)random() << 31 ^ (uint64_t)random()) %
			    total;
			for (k = 0; k < fn && b >= fv[k].len / bs; k++)
				b -= fv[k].len / bs;
		}
		uint64_t eb = fv[k].len / bs;
		g = fv[k].start + ((uint64_t)random() % eb) * bs;
		double lmax = log((double)(maxb / bs));
		len = (uint64_t)exp(lmax * (random() / (double)RAND_MAX)) * bs;
		if (len < bs)
			len = bs;
		if (g + len > fv[k].start + fv[k].len)
			len = fv[k].start + fv[k].len - g;
		if (gsz && g / gsz != (g + len - 1) / gsz)
			len = (g / gsz + 1) * gsz - g;
		free(fv);

		int fd = rl_place_tmpfile(root);
		if (fd < 0) {
			fprintf(stderr, "tmpfile: %s\n", rl_strerror(fd));
			return 1;
		}
		struct rl_place_report rep;
		struct rl_place_opts o = {.state_dir = state,
		                          .no_tunables = notun,
		                          .report = &rep,
		                          .stop = stop_cb};
		stop_asked = 0;
		double t0 = now();
		int64_t got =
		    rl_allocate_ex(fd,
		                   RL_ALLOC_FIXED_START | RL_ALLOC_FIXED_LEN |
		                       RL_ALLOC_CONTIGUOUS,
		                   g, len, &o);
		double dt = now() - t0;
		t_total += dt;
		if (dt > t_max)
			t_max = dt;
		const char *res;
		if (got > 0) {
			int ok = (uint64_t)got == len &&
			         rl_place_maps_exactly(fd, 0, len, g) == 1;
			if (ok) {
				exact++;
				if (rep.attempts > 1)
					retried++;
				res = "exact";
			} else {
				wrong++;
				res = "WRONG";
			}
		} else {
			failed++;
			if (got == -EBUSY)
				err_busy++;
			else if (got == -ENOSPC)
				err_nospc++;
			else if (got == -EOPNOTSUPP)
				err_nosup++;
			else if (got == -EINTR)
				err_intr++;
			else
				err_other++;
			res = rl_strerror((int)got);
		}
		/* nothing may stay allocated on failure */
		struct stat st;
		if (got < 0 && fstat(fd, &st) == 0 && st.st_blocks != 0) {
			wrong++;
			res = "FAILED-BUT-ALLOCATED";
		}
		if (verbose)
			printf("%4u goal %#" PRIx64 " len %" PRIu64
			       " attempts %u calls %u %.3fs %s\n",
			       i, g, len, rep.attempts, rep.alloc_calls, dt,
			       res);
		close(fd);
	}
	if (wpid > 0) {
		kill(wpid, SIGKILL);
		waitpid(wpid, NULL, 0);
	}
	/* Unlinked files are freed in the background (XFS inodegc): give
	 * the count a moment to settle before calling anything a leak. */
	for (int w = 0; w < 100; w++) {
		syncfs(root);
		statvfs(mnt, &sv1);
		if (writer || sv1.f_bfree >= sv0.f_bfree)
			break;
		usleep(100 * 1000);
	}
	long long leak =
	    writer ? 0 : (long long)sv0.f_bfree - (long long)sv1.f_bfree;
	printf("fs %s targets %u %s%s exact %u (%.1f%%) retried %u failed %u "
	       "(ebusy %u enospc %u eopnotsupp %u stopped %u other %u) wrong "
	       "%u leaked_blocks %lld mean %.3fs max %.3fs\n",
	       info.fstype, n, uniform ? "uniform" : "block-weighted",
	       writer ? " +writer" : "", exact, n ? 100.0 * exact / n : 0,
	       retried, failed, err_busy, err_nospc, err_nosup, err_intr,
	       err_other, wrong, leak, n ? t_total / n : 0, t_max);
	close(root);
	return wrong || leak ? 1 : 0;
}
