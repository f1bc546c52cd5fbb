/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The volume lock (see vlock.h). */
#include "config.h"
#include "vlock.h"
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include "journal.h"
#include "units.h"

/* The command line recorded for others, at most this long. */
#define VL_CMDLINE_MAX 400
/* How long a refused process waits for the holder to write its pid (it
 * writes right after taking the lock). */
#define VL_HOLDER_WAIT_MS 200

const char *vl_dir(char *buf, size_t len)
{
	int n;

	if (geteuid() == 0)
		n = snprintf(buf, len, "%s", VL_ROOT_DIR);
	else
		n = snprintf(buf, len, VL_USER_DIR_FMT, (unsigned)geteuid());
	return n < 0 || (size_t)n >= len ? NULL : buf;
}

const char *vl_state_dir(char *buf, size_t len)
{
	return vl_dir(buf, len);
}

/* This process's command line as a shell would take it back, the program
 * by its base name: "relayout -e 'defrag /srv'". Cut at VL_CMDLINE_MAX
 * ("..."). "" when /proc is not there. */
static void own_cmdline(char *out, size_t outlen)
{
	char buf[VL_CMDLINE_MAX + 1], *text = NULL;
	size_t got = 0, tlen = 0;
	FILE *m;
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t r;

	out[0] = '\0';
	if (fd < 0)
		return;
	while (got < sizeof(buf) - 1 &&
	       (r = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)r;
	close(fd);
	buf[got] = '\0';
	m = open_memstream(&text, &tlen);
	if (!m)
		return;
	for (size_t i = 0; i < got; i += strlen(buf + i) + 1) {
		const char *w = buf + i;

		if (i == 0 && strrchr(w, '/'))
			w = strrchr(w, '/') + 1;
		fputs(i ? " " : "", m);
		units_put_word(m, w);
	}
	if (fclose(m) == 0 && text) {
		if (tlen >= outlen || got == sizeof(buf) - 1)
			snprintf(out, outlen, "%.*s...",
			         (int)(outlen > 4 ? outlen - 4 : 0), text);
		else
			snprintf(out, outlen, "%s", text);
	}
	free(text);
}

/* "pid\ncommand line\n" of the holder of fd's lock into msg. */
static void describe_holder(int fd, char *msg, size_t msglen)
{
	char buf[VL_CMDLINE_MAX + 64];
	long pid = 0;

	for (int waited = 0;; waited += 10) {
		ssize_t r = pread(fd, buf, sizeof(buf) - 1, 0);

		buf[r > 0 ? r : 0] = '\0';
		pid = strtol(buf, NULL, 10);
		if (pid > 0 || waited >= VL_HOLDER_WAIT_MS)
			break;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (pid <= 0) {
		snprintf(msg, msglen, "volume busy: another relayout holds it");
		return;
	}
	char *cmd = strchr(buf, '\n');
	cmd = cmd ? cmd + 1 : buf + strlen(buf);
	cmd[strcspn(cmd, "\n")] = '\0';
	if (*cmd)
		snprintf(msg, msglen,
		         "volume busy: relayout pid %ld (%s) holds it", pid,
		         cmd);
	else
		snprintf(msg, msglen, "volume busy: relayout pid %ld holds it",
		         pid);
}

/* The block device behind the mount's source (device), else st_dev. */
static dev_t volume_dev(const char *device, dev_t st_dev)
{
	struct stat st;

	if (device[0] == '/' && stat(device, &st) == 0 && S_ISBLK(st.st_mode))
		return st.st_rdev;
	return st_dev;
}

/* The first line of /sys/dev/block/MAJ:MIN/rel into buf ("" when there is
 * none); true when not empty. */
static bool sysfs_line(dev_t d, const char *rel, char *buf, size_t len)
{
	char p[256];
	ssize_t n;
	int fd;

	buf[0] = '\0';
	snprintf(p, sizeof(p), "/sys/dev/block/%u:%u/%s", major(d), minor(d),
	         rel);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, len - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	/* trailing blanks (SCSI serials are padded) */
	for (n = (ssize_t)strlen(buf); n > 0 && buf[n - 1] == ' '; n--)
		buf[n - 1] = '\0';
	return buf[0] != '\0';
}

int vl_volume_id(const char *device, dev_t st_dev, char *id, size_t idlen,
                 char *name, size_t namelen)
{
	static const char *const disk_ids[] = {
	    "wwid",    "device/wwid",    "serial",    "device/serial",
	    "../wwid", "../device/wwid", "../serial", "../device/serial"};
	char v[1024], part[32];
	dev_t d = volume_dev(device, st_dev);
	const char *src = device[0] ? device : "(no source)";
	struct stat st;
	int n = -1, m = -1;

	if (sysfs_line(d, "loop/backing_file", v, sizeof(v))) {
		if (stat(v, &st) == 0)
			n = snprintf(id, idlen, "loop:%u:%u:%llu",
			             major(st.st_dev), minor(st.st_dev),
			             (unsigned long long)st.st_ino);
		else
			n = snprintf(id, idlen, "loop:%s", v);
		m = snprintf(name, namelen, "%s (image %s)", src, v);
	} else if (sysfs_line(d, "dm/uuid", v, sizeof(v))) {
		n = snprintf(id, idlen, "dm:%s", v);
		m = snprintf(name, namelen, "%s (device-mapper %s)", src, v);
	} else {
		/* a partition's disk is its parent in sysfs */
		bool is_part = sysfs_line(d, "partition", part, sizeof(part));

		for (size_t i = 0;
		     n < 0 && i < sizeof(disk_ids) / sizeof(disk_ids[0]); i++) {
			if ((strncmp(disk_ids[i], "../", 3) == 0) != is_part)
				continue;
			if (sysfs_line(d, disk_ids[i], v, sizeof(v))) {
				n = snprintf(id, idlen, "disk:%s:%s", v,
				             is_part ? part : "");
				m = snprintf(name, namelen, "%s (disk %s)", src,
				             v);
			}
		}
		if (n < 0) {
			n = snprintf(id, idlen, "dev:%u:%u", major(d),
			             minor(d));
			m = snprintf(name, namelen, "%s (device %u:%u)", src,
			             major(d), minor(d));
		}
	}
	if (n < 0 || (size_t)n >= idlen || m < 0 || (size_t)m >= namelen)
		return -ENAMETOOLONG;
	return 0;
}

/* volume-<uuid>-<major>.<minor>.lock; a UUID is hex and dashes, anything
 * else becomes '_'. */
static void lock_name(const char *uuid, const char *device, dev_t st_dev,
                      char *out, size_t outlen)
{
	char u[41];
	size_t i;
	dev_t d = volume_dev(device, st_dev);

	for (i = 0; uuid[i] && i < sizeof(u) - 1; i++) {
		char c = uuid[i];

		u[i] = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		               (c >= 'A' && c <= 'Z') || c == '-'
		           ? c
		           : '_';
	}
	u[i] = '\0';
	snprintf(out, outlen, "volume-%s-%u.%u.lock", i ? u : "none", major(d),
	         minor(d));
}

int vl_lock(struct vl_lock *l, const char *dir, const char *uuid,
            const char *device, dev_t st_dev, char *msg, size_t msglen)
{
	char name[128], rec[VL_CMDLINE_MAX + 64], cmd[VL_CMDLINE_MAX + 1];
	struct stat a, b;
	int dfd, fd, n, e;

	lock_name(uuid, device, st_dev, name, sizeof(name));
	dfd = jr_open_private_dir(dir, "run-time directory", true, msg, msglen);
	if (dfd < 0)
		return dfd;
	for (;;) {
		fd = openat(dfd, name,
		            O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0) {
			e = -errno;
			goto fail;
		}
		if (fstat(fd, &a) < 0 || !S_ISREG(a.st_mode)) {
			e = -EINVAL;
			goto fail;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			e = errno == EWOULDBLOCK ? -EWOULDBLOCK : -errno;
			goto fail;
		}
		/* Still the file of that name (not one just unlinked)? */
		if (fstatat(dfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			break;
		close(fd);
	}
	close(dfd);
	if (asprintf(&l->path, "%s/%s", dir, name) < 0) {
		close(fd);
		snprintf(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	l->fd = fd;
	own_cmdline(cmd, sizeof(cmd));
	n = snprintf(rec, sizeof(rec), "%ld\n%s\n", (long)getpid(), cmd);
	/* Overwrite, then cut: a refused process never reads it empty. */
	if (pwrite(fd, rec, (size_t)n, 0) != n || ftruncate(fd, n) < 0) {
		/* only the message of a refused process suffers */
	}
	return 0;
fail:
	if (e == -EWOULDBLOCK)
		describe_holder(fd, msg, msglen);
	else
		snprintf(msg, msglen, "volume lock %s/%s: %s", dir, name,
		         e == -EINVAL ? "not a regular file" : strerror(-e));
	if (fd >= 0)
		close(fd);
	close(dfd);
	return e;
}

void vl_unlock(struct vl_lock *l)
{
	struct stat a, b;

	if (fstat(l->fd, &a) == 0 && lstat(l->path, &b) == 0 &&
	    a.st_ino == b.st_ino && a.st_dev == b.st_dev)
		unlink(l->path);
	close(l->fd); /* releases the lock */
	free(l->path);
	l->fd = -1;
	l->path = NULL;
}
