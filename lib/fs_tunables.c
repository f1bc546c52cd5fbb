/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Global tunables changed for a placement (/sys/fs/ext4/<dev>/mb_*), with
 * a durable journal of the original values.
 *
 * The journal STATE_DIR/ext4-tunables.<dev> is written and fsync'ed (file
 * and directory) before any value changes, and unlinked once the values
 * are back. It is flock'ed while its placement runs, so it doubles as the
 * per-device lock (two placements must not record each other's values as
 * "originals"), and a journal that can be locked belongs to a run that
 * died: rl_tunables_recover(), or the next placement on that device,
 * restores it. The filesystem UUID is recorded so values are never written
 * to a different filesystem that now sits on the same device.
 *
 *   relayout-tunables 1
 *   dev loop3
 *   uuid 0123456789abcdef0123456789abcdef
 *   set mb_max_to_scan 200
 */
#include "config.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "fs_abi.h"
#include "fs_internal.h"
#include "fs_place.h"

#define JOURNAL_PREFIX "ext4-tunables."
#define JOURNAL_MAGIC  "relayout-tunables 1"
/* How long a placement waits for another one on the same device. */
#define LOCK_WAIT_MS  30000
#define EXT4_OFF_UUID 0x68

static int sysfs_path(char *buf, size_t size, const char *dev, const char *name)
{
	int n = snprintf(buf, size, "/sys/fs/ext4/%s%s%s", dev, name ? "/" : "",
	                 name ? name : "");
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int sysfs_read(const char *dev, const char *name, char *val, size_t size)
{
	char p[512];
	int fd, ret;
	ssize_t n;

	ret = sysfs_path(p, sizeof(p), dev, name);
	if (ret < 0)
		return ret;
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ENODEV : RL_NEG_ERRNO();
	n = read(fd, val, size - 1);
	ret = n < 0 ? RL_NEG_ERRNO() : 0;
	close(fd);
	if (ret < 0)
		return ret;
	val[n] = '\0';
	val[strcspn(val, "\n")] = '\0';
	return 0;
}

static int sysfs_write(const char *dev, const char *name, const char *val)
{
	char p[512];
	int fd, ret;
	size_t len = strlen(val);

	ret = sysfs_path(p, sizeof(p), dev, name);
	if (ret < 0)
		return ret;
	fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ENODEV : RL_NEG_ERRNO();
	ret = write(fd, val, len) == (ssize_t)len ? 0 : RL_NEG_ERRNO();
	close(fd);
	return ret;
}

/* UUID of the ext4 filesystem on /dev/<dev> as hex, or "" if unreadable. */
static void dev_uuid(const char *dev, char out[33])
{
	unsigned char u[16];
	char p[300];
	int fd;

	out[0] = '\0';
	snprintf(p, sizeof(p), "/dev/%s", dev);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (pread(fd, u, sizeof(u), RL_EXT4_SB_OFFSET + EXT4_OFF_UUID) ==
	    (ssize_t)sizeof(u))
		for (int i = 0; i < 16; i++)
			snprintf(out + 2 * i, 3, "%02x", u[i]);
	close(fd);
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return RL_NEG_ERRNO();
	ret = fsync(fd) < 0 ? RL_NEG_ERRNO() : 0;
	close(fd);
	return ret;
}

/* Restore the values a journal (open, locked) holds. Calls cb for each;
 * returns how many were restored, or -errno of the first failure (the
 * journal must then be kept). Entries for a device that is gone or holds
 * another filesystem are dropped (reported with -ENODEV). */
static int journal_replay(int fd, rl_tunable_cb cb, void *arg)
{
	char line[256], dev[64] = "", uuid[64] = "", cur[33];
	int restored = 0, err = 0;
	bool magic = false, same_fs = true;
	FILE *f;
	int dfd = dup(fd);

	if (dfd < 0)
		return RL_NEG_ERRNO();
	lseek(dfd, 0, SEEK_SET);
	f = fdopen(dfd, "r");
	if (!f) {
		close(dfd);
		return -ENOMEM;
	}
	while (fgets(line, sizeof(line), f)) {
		char name[64], val[64];

		line[strcspn(line, "\n")] = '\0';
		if (!strcmp(line, JOURNAL_MAGIC)) {
			magic = true;
		} else if (sscanf(line, "dev %63s", dev) == 1) {
			continue;
		} else if (sscanf(line, "uuid %63s", uuid) == 1) {
			dev_uuid(dev, cur);
			same_fs = !cur[0] || !strcmp(cur, uuid);
		} else if (magic && dev[0] &&
		           sscanf(line, "set %63s %63s", name, val) == 2) {
			int r = same_fs ? sysfs_write(dev, name, val) : -ENODEV;
			struct rl_tunable_restored rr = {dev, name, val, r};

			if (cb)
				cb(&rr, arg);
			if (r == 0)
				restored++;
			else if (r != -ENODEV && !err)
				err = r;
		}
	}
	fclose(f);
	return err ? err : restored;
}

/* Open and lock the journal of dev. Waits for another placement on the
 * same device up to LOCK_WAIT_MS. Returns the fd or -errno. */
static int journal_lock(const char *path, bool wait)
{
	for (int waited = 0;;) {
		struct stat a, b;
		int fd =
		    open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

		if (fd < 0)
			return RL_NEG_ERRNO();
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			int e = errno;
			close(fd);
			if (e != EWOULDBLOCK)
				return -e;
			if (!wait || waited >= LOCK_WAIT_MS)
				return -EBUSY;
			struct timespec ts = {0, 50 * 1000 * 1000};
			nanosleep(&ts, NULL);
			waited += 50;
			continue;
		}
		/* Still the linked journal (not one just unlinked)? */
		if (fstat(fd, &a) == 0 && stat(path, &b) == 0 &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			return fd;
		close(fd);
	}
}

int rl_tunables_set(struct rl_tunables *t, const char *state_dir,
                    const char *dev, const char *const *names,
                    const char *const *values, int n)
{
	char buf[4096], uuid[33];
	size_t used = 0;
	int fd, ret, i;

	memset(t, 0, sizeof(*t));
	t->lock_fd = -1;
	if (n > RL_TUNABLES_MAX || strchr(dev, '/') || !dev[0])
		return -EINVAL;
	snprintf(t->dev, sizeof(t->dev), "%s", dev);
	ret = snprintf(t->journal, sizeof(t->journal),
	               "%s/" JOURNAL_PREFIX "%s", state_dir, dev);
	if (ret < 0 || (size_t)ret >= sizeof(t->journal))
		return -ENAMETOOLONG;
	if (mkdir(state_dir, 0700) < 0 && errno != EEXIST)
		return RL_NEG_ERRNO();
	fd = journal_lock(t->journal, true);
	if (fd < 0)
		return fd;
	/* A journal left by a run that died: put its values back first. */
	ret = journal_replay(fd, NULL, NULL);
	if (ret < 0)
		goto fail_unlocked;
	for (i = 0; i < n; i++) {
		snprintf(t->name[i], sizeof(t->name[i]), "%s", names[i]);
		ret = sysfs_read(dev, names[i], t->orig[i], sizeof(t->orig[i]));
		if (ret < 0)
			goto fail_unlocked;
	}
	dev_uuid(dev, uuid);
	used = (size_t)snprintf(buf, sizeof(buf),
	                        JOURNAL_MAGIC "\ndev %s\n"
	                                      "uuid %s\n",
	                        dev, uuid[0] ? uuid : "-");
	for (i = 0; i < n && used < sizeof(buf); i++)
		used += (size_t)snprintf(buf + used, sizeof(buf) - used,
		                         "set %s %s\n", t->name[i], t->orig[i]);
	if (used >= sizeof(buf)) {
		ret = -ENAMETOOLONG;
		goto fail_unlocked;
	}
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, used, 0) != (ssize_t)used ||
	    fsync(fd) < 0) {
		ret = RL_NEG_ERRNO();
		goto fail_unlocked;
	}
	ret = fsync_dir(state_dir);
	if (ret < 0)
		goto fail_unlocked;
	t->lock_fd = fd;
	t->n = n;
	for (i = 0; i < n; i++) {
		ret = sysfs_write(dev, names[i], values[i]);
		if (ret < 0) {
			rl_tunables_restore(t);
			return ret;
		}
	}
	return 0;
fail_unlocked:
	/* Nothing changed: an empty journal is dropped. */
	if (ftruncate(fd, 0) == 0)
		unlink(t->journal);
	close(fd);
	return ret;
}

int rl_tunables_restore(struct rl_tunables *t)
{
	int ret = 0;

	if (t->lock_fd < 0)
		return 0;
	for (int i = 0; i < t->n; i++) {
		int r = sysfs_write(t->dev, t->name[i], t->orig[i]);
		if (r < 0 && r != -ENODEV && !ret)
			ret = r;
	}
	if (ret == 0) {
		unlink(t->journal);
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s", t->journal);
		char *slash = strrchr(dir, '/');
		if (slash) {
			*slash = '\0';
			fsync_dir(dir[0] ? dir : "/");
		}
	}
	close(t->lock_fd);
	t->lock_fd = -1;
	return ret;
}

/* The directory of the journals (rl_allocate_ex passes it on to the
 * placement; rl_tunables_recover reads it). */
const char *rl_state_dir(const struct rl_place_opts *opts)
{
	const char *d = opts ? opts->state_dir : NULL;

	if (!d || !*d)
		d = getenv("RELAYOUT_STATE_DIR");
	if (!d || !*d)
		d = "/run/relayout"; /* run time: a reboot resets the
		                       tunables and empties it together */
	return d;
}

int rl_tunables_recover(const char *state_dir, rl_tunable_cb cb, void *arg)
{
	struct dirent *de;
	DIR *d;
	int total = 0, err = 0;
	bool removed = false;

	if (!state_dir)
		state_dir = rl_state_dir(NULL);
	d = opendir(state_dir);
	if (!d)
		return errno == ENOENT ? 0 : RL_NEG_ERRNO();
	while ((de = readdir(d))) {
		char path[4096];
		int fd, r;

		if (strncmp(de->d_name, JOURNAL_PREFIX, strlen(JOURNAL_PREFIX)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", state_dir, de->d_name);
		fd = journal_lock(path, false);
		if (fd < 0)
			continue; /* a placement is running: its own job */
		r = journal_replay(fd, cb, arg);
		if (r >= 0) {
			total += r;
			removed |= unlink(path) == 0;
		} else if (!err) {
			err = r;
		}
		close(fd);
	}
	closedir(d);
	if (removed) /* (a start with nothing to restore syncs nothing) */
		fsync_dir(state_dir);
	return err ? err : total;
}
