/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * relayout --demo: make a scratch volume to look at and play with.
 *
 * The volume lives in a private mount namespace of this process, on an
 * auto-clearing loop device over an image file that is unlinked as soon as
 * the loop device holds it: when relayout exits (or crashes) the mount goes
 * with the namespace, the loop device clears itself on its last close and
 * the image's space is freed. Nobody else sees the mount.
 *
 * A new mount namespace starts with a copy of every mount there is, and a
 * copy keeps its filesystem alive: an administrator who unmounts a USB disk
 * while the demo runs would see umount succeed and the disk stay in use
 * (with propagation off, as on many hosts, nothing tells the copy). So
 * the demo drops, in its namespace, every mount it does not need.
 */
#define _GNU_SOURCE
#include "config.h"
#include "demo.h"
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libmount.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/loop.h>
#include <sched.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define KiB 1024ull
#define MiB (KiB * KiB)

static int fail(char *why, size_t wlen, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *why, size_t wlen, int err, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(why, wlen, fmt, ap);
	va_end(ap);
	n = strlen(why);
	if (err && n < wlen)
		snprintf(why + n, wlen - n, ": %s", strerror(err));
	return -(err ? err : EINVAL);
}

/* Run mkfs.KIND quietly on the image; its messages go to our stderr. */
static int run_mkfs(const char *kind, const char *image, char *why, size_t wlen)
{
	char prog[32];
	bool ext4 = strcmp(kind, "ext4") == 0;
	bool xfs = strcmp(kind, "xfs") == 0;
	char *argv[12];
	int k = 0;

	/* The same volume every time: a fixed UUID (recordings begin with
	 * `volume-uuid`, so one made on a demo replays on a fresh one) and,
	 * on ext4, the directory hash seed, which Orlov's choice of groups
	 * for top-level directories follows; ext4: 4 KiB blocks, as on real
	 * volumes (mkfs picks 1 KiB for small ones). */

	argv[k++] = prog;
	argv[k++] = "-q";
	argv[k++] = ext4 ? "-F" : "-f";
	argv[k++] = xfs ? "-m" : "-U";
	argv[k++] = xfs ? "uuid=" DEMO_UUID : DEMO_UUID;
	if (ext4) {
		argv[k++] = "-b";
		argv[k++] = "4096";
		argv[k++] = "-E";
		argv[k++] = "hash_seed=" DEMO_UUID;
	}
	argv[k++] = (char *)image;
	argv[k] = NULL;
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int r, status;

	snprintf(prog, sizeof(prog), "mkfs.%s", kind);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null",
	                                 O_WRONLY, 0);
	r = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		return fail(why, wlen, r, "cannot run %s (is it installed?)",
		            prog);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return fail(why, wlen, errno, "waiting for %s", prog);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return fail(why, wlen, 0, "%s failed on %s", prog, image);
	return 0;
}

/* Attach image to a free loop device that clears itself on last close. */
static int attach_loop(struct demo_volume *v, int imgfd, char *why, size_t wlen)
{
	struct loop_config lc;
	int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);

	if (ctl < 0)
		return fail(why, wlen, errno, "/dev/loop-control");
	memset(&lc, 0, sizeof(lc));
	lc.fd = (uint32_t)imgfd;
	lc.info.lo_flags = LO_FLAGS_AUTOCLEAR;
	for (int tries = 0; tries < 16; tries++) {
		int n = ioctl(ctl, LOOP_CTL_GET_FREE);

		if (n < 0) {
			int e = errno;
			close(ctl);
			return fail(why, wlen, e, "no free loop device");
		}
		snprintf(v->loopdev, sizeof(v->loopdev), "/dev/loop%d", n);
		v->loopfd = open(v->loopdev, O_RDWR | O_CLOEXEC);
		if (v->loopfd < 0)
			continue;
		if (ioctl(v->loopfd, LOOP_CONFIGURE, &lc) == 0) {
			close(ctl);
			return 0;
		}
		/* taken by someone else meanwhile: try the next one */
		close(v->loopfd);
		v->loopfd = -1;
	}
	close(ctl);
	return fail(why, wlen, EBUSY, "could not claim a loop device");
}

/* ------------------------------------------------------------ contents */

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Write len pseudo-random bytes at off of path (created if needed). */
static int put(const char *path, uint64_t off, uint64_t len, uint64_t *rng,
               bool sync)
{
	static unsigned char buf[256 * 1024];
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644), r = 0;

	if (fd < 0)
		return -errno;
	while (len > 0 && r == 0) {
		size_t n = len < sizeof(buf) ? (size_t)len : sizeof(buf);

		for (size_t i = 0; i + 8 <= n; i += 8) {
			uint64_t x = splitmix(rng);
			memcpy(buf + i, &x, 8);
		}
		if (pwrite(fd, buf, n, (off_t)off) != (ssize_t)n)
			r = errno ? -errno : -EIO;
		off += n;
		len -= n;
	}
	if (r == 0 && sync) {
		if (fdatasync(fd) < 0)
			r = -errno;
		/* drop speculative preallocation past EOF, so the next
		 * append is allocated anew (interleaved with the others) */
		else if (fallocate(fd,
		                   FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		                   (off_t)off, (off_t)(64 * MiB)) < 0 &&
		         errno != EOPNOTSUPP)
			r = -errno;
	}
	close(fd);
	return r;
}

/*
 * docs/    180 small files (4-96 KiB), every other one deleted afterwards:
 *          fragmented free space;
 * frag/    8 files grown by 40 rounds of interleaved, synced appends:
 *          fragmented files;
 * media/   4 contiguous 8 MiB files.
 */
static int populate(const char *mnt, char *why, size_t wlen)
{
	char p[PATH_MAX + 64];
	uint64_t rng = 7, end[8] = {0};
	int r;

	for (const char *d = "docs\0frag\0media\0"; *d; d += strlen(d) + 1) {
		snprintf(p, sizeof(p), "%s/%s", mnt, d);
		if (mkdir(p, 0755) < 0)
			return fail(why, wlen, errno, "mkdir %s", p);
	}
	for (int i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s/media/clip%d.bin", mnt, i);
		if ((r = put(p, 0, 8 * MiB, &rng, true)) < 0)
			return fail(why, wlen, -r, "writing %s", p);
	}
	for (int i = 0; i < 180; i++) {
		uint64_t len = (1 + splitmix(&rng) % 24) * 4 * KiB;

		snprintf(p, sizeof(p), "%s/docs/note%03d.txt", mnt, i);
		if ((r = put(p, 0, len, &rng, true)) < 0)
			return fail(why, wlen, -r, "writing %s", p);
	}
	for (int round = 0; round < 40; round++)
		for (int f = 0; f < 8; f++) {
			uint64_t len = (4 + splitmix(&rng) % 13) * 4 * KiB;

			snprintf(p, sizeof(p), "%s/frag/data%d.db", mnt, f);
			if ((r = put(p, end[f], len, &rng, true)) < 0)
				return fail(why, wlen, -r, "writing %s", p);
			end[f] += len;
		}
	for (int i = 0; i < 180; i += 2) {
		snprintf(p, sizeof(p), "%s/docs/note%03d.txt", mnt, i);
		if (unlink(p) < 0)
			return fail(why, wlen, errno, "unlink %s", p);
	}
	r = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r >= 0) {
		syncfs(r);
		close(r);
	}
	return 0;
}

/* ---------------------------------------------------------- lifecycle */

/* Is mount point TARGET an ancestor of (or at) PATH? */
static bool mount_covers(const char *target, const char *path)
{
	size_t n = strlen(target);

	if (!path || path[0] != '/')
		return false;
	if (strcmp(target, "/") == 0)
		return true;
	return strncmp(target, path, n) == 0 &&
	       (path[n] == '/' || path[n] == '\0');
}

/* In our own namespace, detach the copies of mounts the demo does not
 * need: everything but pseudo filesystems and the mounts on the way to
 * the system's directories, the temporary directory, the working
 * directory, the home and XDG directories, the themes and the program
 * itself. Best effort: a copy that stays only costs what it did before. */
static void drop_foreign_mounts(const char *tmp)
{
	static const char *const sys[] = {"/",     "/usr", "/etc",   "/bin",
	                                  "/sbin", "/lib", "/lib64", "/dev",
	                                  "/proc", "/sys", "/run",   "/var"};
	const char *keep[32];
	char cwd[PATH_MAX], exe[PATH_MAX];
	size_t nk = 0, i;
	struct libmnt_table *tb;
	struct libmnt_iter *it;
	struct libmnt_fs *fs;
	ssize_t n;

	for (i = 0; i < sizeof(sys) / sizeof(sys[0]); i++)
		keep[nk++] = sys[i];
	keep[nk++] = tmp;
	if (getcwd(cwd, sizeof(cwd)))
		keep[nk++] = cwd;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		keep[nk++] = exe;
	}
	keep[nk++] = getenv("HOME");
	keep[nk++] = getenv("XDG_STATE_HOME");
	keep[nk++] = getenv("XDG_CONFIG_HOME");
	keep[nk++] = getenv("RELAYOUT_THEMES_DIR");
	keep[nk++] = RL_DATADIR;

	tb = mnt_new_table_from_file("/proc/self/mountinfo");
	it = mnt_new_iter(MNT_ITER_BACKWARD); /* children before parents */
	while (tb && it && mnt_table_next_fs(tb, it, &fs) == 0) {
		const char *t = mnt_fs_get_target(fs);
		bool needed = mnt_fs_is_pseudofs(fs);

		for (i = 0; t && !needed && i < nk; i++)
			needed = mount_covers(t, keep[i]);
		if (t && !needed)
			(void)umount2(t, MNT_DETACH | UMOUNT_NOFOLLOW);
	}
	mnt_free_iter(it);
	mnt_unref_table(tb);
}

int demo_create(const char *kind, struct demo_volume *v, char *why, size_t wlen)
{
	const char *tmp = getenv("TMPDIR");
	char image[PATH_MAX + 16];
	uint64_t size = strcmp(kind, "xfs") == 0 ? 320 * MiB : 256 * MiB;
	int imgfd, r;

	memset(v, 0, sizeof(*v));
	v->loopfd = -1;
	if (strcmp(kind, "ext4") && strcmp(kind, "xfs") &&
	    strcmp(kind, "btrfs"))
		return fail(why, wlen, 0, "--demo '%s': ext4, xfs or btrfs",
		            kind);
	if (geteuid() != 0) {
		fail(why, wlen, 0,
		     "--demo needs root (it loop-mounts a scratch volume)");
		return -EPERM;
	}
	/* A mount namespace of our own: the demo's mount is invisible to
	 * everyone else and goes away with this process. */
	if (unshare(CLONE_NEWNS) < 0)
		return fail(why, wlen, errno, "unshare(CLONE_NEWNS)");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return fail(why, wlen, errno, "making mounts private");
	if (!tmp || tmp[0] != '/')
		tmp = "/tmp";
	drop_foreign_mounts(tmp);
	snprintf(v->dir, sizeof(v->dir), "%s/relayout-demo.XXXXXX", tmp);
	if (!mkdtemp(v->dir)) {
		int e = errno;
		v->dir[0] = '\0';
		return fail(why, wlen, e, "mkdtemp in %s", tmp);
	}
	snprintf(image, sizeof(image), "%s/image", v->dir);
	snprintf(v->mnt, sizeof(v->mnt), "%s/mnt", v->dir);
	imgfd = open(image, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (imgfd < 0) {
		r = fail(why, wlen, errno, "%s", image);
		goto err;
	}
	if (ftruncate(imgfd, (off_t)size) < 0) {
		r = fail(why, wlen, errno, "%s", image);
		close(imgfd);
		goto err;
	}
	r = run_mkfs(kind, image, why, wlen);
	if (r == 0)
		r = attach_loop(v, imgfd, why, wlen);
	close(imgfd);
	unlink(image);
	if (r < 0)
		goto err;
	if (mkdir(v->mnt, 0755) < 0) {
		r = fail(why, wlen, errno, "mkdir %s", v->mnt);
		goto err;
	}
	if (mount(v->loopdev, v->mnt, kind, 0, NULL) < 0) {
		r = fail(why, wlen, errno, "mount %s on %s", v->loopdev,
		         v->mnt);
		goto err;
	}
	v->mounted = true;
	/* ext4 gives small files their blocks from per-CPU preallocations:
	 * on one CPU only, the layout is the same on every run. */
	{
		cpu_set_t was, one;
		bool pinned = sched_getaffinity(0, sizeof(was), &was) == 0;
		int cpu = sched_getcpu();

		CPU_ZERO(&one);
		CPU_SET(cpu < 0 ? 0 : cpu, &one);
		pinned = pinned && sched_setaffinity(0, sizeof(one), &one) == 0;
		r = populate(v->mnt, why, wlen);
		if (pinned)
			sched_setaffinity(0, sizeof(was), &was);
	}
	if (r < 0)
		goto err;
	return 0;
err:
	demo_destroy(v);
	return r;
}

static int rm_entry(const char *path, const struct stat *sb, int type,
                    struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void demo_destroy(struct demo_volume *v)
{
	if (v->mounted && umount2(v->mnt, 0) < 0)
		umount2(v->mnt, MNT_DETACH);
	v->mounted = false;
	if (v->loopfd >= 0)
		close(v->loopfd); /* auto-clear: the device is released */
	v->loopfd = -1;
	/* the journal and state the demo kept in its directory; FTW_MOUNT:
	 * never into another filesystem */
	if (v->dir[0])
		nftw(v->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	v->dir[0] = '\0';
}
