/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"
#include "session.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "commands.h"
#include "journal.h"
#include "layout_model.h"
#include "output.h"
#include "txn.h"
#include "units.h"
#include "vlock.h"

void session_init(struct rl_session *s)
{
	memset(s, 0, sizeof(*s));
	s->out = stdout;
	s->err = stderr;
}

/* Open the recording: relative to its directory, which must be the
 * caller's or root's and not writable by others (unless sticky); the file
 * is never a symlink, created 0600, and if it exists it must be the
 * caller's own regular file. */
static int record_open(const char *path)
{
	char *dir = strdup(path), *slash;
	const char *base;
	struct stat st;
	uid_t me = geteuid();
	int dfd, fd, ret = 0;

	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (!slash) {
		base = path;
		dfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else {
		base = path + (slash - dir) + 1;
		if (slash == dir)
			slash[1] = '\0'; /* "/" */
		else
			*slash = '\0';
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	free(dir);
	if (dfd < 0)
		return -errno;
	if (!*base) {
		close(dfd);
		return -EISDIR;
	}
	if (fstat(dfd, &st) < 0) {
		ret = -errno;
	} else if (!jr_dir_trusted(&st)) {
		ret = -EPERM;
	}
	if (ret < 0) {
		close(dfd);
		return ret;
	}
	fd = openat(dfd, base,
	            O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC |
	                O_NONBLOCK,
	            0600);
	ret = fd < 0 ? -errno : 0;
	close(dfd);
	if (ret < 0)
		return ret;
	if (fstat(fd, &st) < 0)
		ret = -errno;
	else if (!S_ISREG(st.st_mode))
		ret = -EINVAL;
	else if (st.st_uid != me)
		ret = -EPERM;
	if (ret < 0) {
		close(fd);
		return ret;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

const char *session_record_strerror(int err)
{
	switch (err) {
	case -ELOOP:
		return "is a symbolic link";
	case -EPERM:
		return "the file or its directory is controlled by another "
		       "user (owned by another user, or writable by others)";
	case -EINVAL:
		return "not a regular file";
	case -EDEADLK:
		return "is a script being run (its reader would read what is "
		       "recorded for ever)";
	default:
		return strerror(-err);
	}
}

char *session_state_file(const char *name)
{
	char dir[4096], msg[512], *path;
	int fd;

	if (jr_state_home(dir, sizeof(dir)) < 0)
		return NULL;
	fd = jr_open_dir(dir, true, msg, sizeof(msg));
	if (fd < 0)
		return NULL;
	close(fd);
	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return NULL;
	return path;
}

bool session_is_sourcing(const struct rl_session *s, const struct stat *st)
{
	if (!S_ISREG(st->st_mode))
		return false;
	for (int k = 0; k < s->source_depth; k++)
		if (s->sourcing[k].dev == st->st_dev &&
		    s->sourcing[k].ino == st->st_ino)
			return true;
	return false;
}

bool session_is_recording(const struct rl_session *s, const struct stat *st)
{
	struct stat r;

	return s->record && fstat(fileno(s->record), &r) == 0 &&
	       r.st_dev == st->st_dev && r.st_ino == st->st_ino;
}

int session_record_start(struct rl_session *s, const char *path)
{
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	struct stat st;
	int fd;
	FILE *f;

	fd = record_open(path);
	if (fd < 0)
		return fd;
	/* Recording into a script being run would feed every recorded
	 * line back to its reader: the script never ends. */
	if (fstat(fd, &st) == 0 && session_is_sourcing(s, &st)) {
		close(fd);
		return -EDEADLK;
	}
	session_record_stop(s);
	f = fdopen(fd, "a");
	if (!f) {
		int ret = -errno;
		close(fd);
		return ret;
	}
	s->record = f;
	s->record_path = strdup(path);
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(f, "# relayout %s recording, %s\n", PACKAGE_VERSION, when);
	if (s->path && !s->fs_probed) {
		s->fs_err = rl_fs_probe(s->path, &s->fs);
		s->fs_probed = true;
	}
	if (s->fs_probed && s->fs_err == 0) {
		fprintf(f, "# volume: %s (%s on %s)\n", s->fs.mountpoint,
		        s->fs.fstype, s->fs.device);
		if (s->fs.uuid[0])
			fprintf(f, "volume-uuid %s\n", s->fs.uuid);
	}
	fflush(f);
	return 0;
}

void session_record_stop(struct rl_session *s)
{
	if (s->record)
		fclose(s->record);
	s->record = NULL;
	free(s->record_path);
	s->record_path = NULL;
}

void session_free(struct rl_session *s)
{
	session_record_stop(s);
	jr_close(s->journal);
	if (s->volume_lock) {
		vl_unlock(s->volume_lock);
		free(s->volume_lock);
	}
	free(s->journal_dir);
	free(s->path);
	free(s->find.pattern);
	free(s->find.ids);
	lm_free(s->model);
	free(s->model_seeds);
	if (s->frontend && s->frontend->free)
		s->frontend->free(s->ui);
	if (s->pending) {
		tx_plan_free(s->pending);
		free(s->pending);
	}
	memset(s, 0, sizeof(*s));
}

int session_volume(struct rl_session *s)
{
	if (!s->path) {
		session_error(s, "no volume: name a path on a mounted "
		                 "filesystem");
		return -EINVAL;
	}
	if (s->read_only_snapshot) {
		session_error(s,
		              "%s is a snapshot (read-only): there is no "
		              "live volume to ask",
		              s->path);
		return -ENODEV;
	}
	if (!s->fs_probed) {
		s->fs_err = rl_fs_probe(s->path, &s->fs);
		s->fs_probed = true;
	}
	if (s->fs_err < 0)
		session_error(s, "%s: cannot probe filesystem: %s", s->path,
		              rl_strerror(s->fs_err));
	return s->fs_err;
}

bool session_output_private(const struct rl_session *s)
{
	return geteuid() == 0 || (s->model && lm_names_private(s->model));
}

int session_volume_lock(struct rl_session *s)
{
	char dir[4096], msg[1024];
	struct vl_lock *l;
	int r;

	if (s->volume_lock)
		return 0;
	r = session_volume(s);
	if (r < 0)
		return r;
	if (!vl_dir(dir, sizeof(dir))) {
		session_error(s, "no run-time directory for the volume lock");
		return -ENAMETOOLONG;
	}
	l = malloc(sizeof(*l));
	r = l ? vl_lock(l, dir, s->fs.uuid, s->fs.device, s->fs.st_dev, msg,
	                sizeof(msg))
	      : -ENOMEM;
	if (r < 0) {
		session_error(s, "%s", l ? msg : "out of memory");
		free(l);
		return r;
	}
	s->volume_lock = l;
	return 0;
}

int session_arg_size(struct rl_session *s, const char *what, const char *arg,
                     uint64_t *v)
{
	int r = units_parse_size(arg, v);

	if (r < 0)
		session_error(s, "%s '%s': %s", what, arg,
		              units_size_error(r, true));
	return r;
}

void session_error(struct rl_session *s, const char *fmt, ...)
{
	char msg[2048], esc[OUT_ESC_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Messages quote names (user arguments, paths on the volume): one
	 * line, escaped like every name. */
	fprintf(s->err, "relayout: ");
	if (s->src_name)
		fprintf(s->err,
		        "%s:%d: ", out_esc(s->src_name, esc, sizeof(esc)),
		        s->src_line);
	if (s->cur_cmd)
		fprintf(s->err, "%s: ", s->cur_cmd);
	fprintf(s->err, "%s\n", out_esc(msg, esc, sizeof(esc)));
	{
		size_t n = 0, k = sizeof(s->last_error) - 1, l;
		if (s->cur_cmd)
			n = (size_t)snprintf(s->last_error, k,
			                     "%s: ", s->cur_cmd);
		n = n < k ? n : k;
		l = strlen(esc);
		l = l < k - n ? l : k - n;
		memcpy(s->last_error + n, esc, l);
		s->last_error[n + l] = '\0';
	}
	if (s->json)
		out_json_error(s, msg);
}

/* Probe the volume once, quietly (the command that needs it reports). */
static bool probed(struct rl_session *s)
{
	if (!s->path || s->read_only_snapshot)
		return false;
	if (!s->fs_probed) {
		s->fs_err = rl_fs_probe(s->path, &s->fs);
		s->fs_probed = true;
	}
	return s->fs_err == 0;
}

const char *session_change_refusal(struct rl_session *s)
{
	if (geteuid() == 0 || !probed(s) || s->fs.type != RL_FS_EXT4)
		return NULL;
	return "not root: moving data on ext4 needs root (exact placement "
	       "reads the device's geometry and changes the allocator's "
	       "tunables); as a user you can look (the map, scan, frag, "
	       "find, show, who, free, freefrag, export) and plan with "
	       "--dry-run or 'plan on' and 'preview'; nothing was changed";
}

const char *session_access(struct rl_session *s, bool brief)
{
	if (s->read_only_snapshot)
		return brief ? "read-only: snapshot"
		             : "read-only: a snapshot (nothing to change)";
	if (!probed(s))
		return brief ? "read-only: no volume" : "read-only: no volume";
	if (s->fs.type == RL_FS_OTHER)
		return brief ? "read-only: map only"
		             : "read-only: relayout maps this filesystem only";
	if (s->fs.type == RL_FS_XFS && !(s->fs.features & RL_FEAT_REFLINK))
		return brief ? "read-only: no reflink"
		             : "read-only: XFS without reflink (moving data "
		               "needs FIDEDUPERANGE)";
	if (geteuid() == 0)
		return "read-write";
	if (s->fs.type == RL_FS_EXT4)
		return brief ? "read-only: ext4 needs root"
		             : "read-only: not root (moving data on ext4 "
		               "needs root; you can map, scan, find, and plan "
		               "with --dry-run)";
	return brief ? "read-write: own files"
	             : "read-write for the files you own (not root)";
}

/* path opened with no symbolic link in any component, in one call
 * (openat2 RESOLVE_NO_SYMLINKS, Linux 5.6); -1 when that fails for any
 * reason: then the walk below opens it, or says why not. */
static int open_no_symlinks(const char *path, int oflags, mode_t mode)
{
#ifdef SYS_openat2
	struct open_how how = {.flags = (uint64_t)oflags,
	                       .mode = (oflags & O_CREAT) ? mode : 0,
	                       .resolve = RESOLVE_NO_SYMLINKS};

	return (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));
#else
	(void)path;
	(void)oflags;
	(void)mode;
	return -1;
#endif
}

int session_open_file(struct rl_session *s, const char *path, int flags)
{
	char *copy, *p, *next;
	int dirfd, fd, ret;
	struct stat st;
	int acc = flags & O_ACCMODE;
	int creat = flags & O_CREAT;

	if (!path || !*path)
		return -EINVAL;
	/* One call where the kernel can refuse every link on the way; the
	 * walk (a call per component) where it cannot, and for the error. */
	fd = open_no_symlinks(path,
	                      acc | (creat ? O_CREAT : 0) | O_NOFOLLOW |
	                          O_CLOEXEC | O_NONBLOCK,
	                      0600);
	if (fd >= 0)
		goto opened;
	copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	dirfd = open(path[0] == '/' ? "/" : ".",
	             O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		ret = -errno;
		free(copy);
		return ret;
	}
	p = copy;
	while (*p == '/')
		p++;
	for (;;) {
		next = strchr(p, '/');
		if (next) {
			*next++ = '\0';
			while (*next == '/')
				next++;
			if (!*next)
				next = NULL; /* trailing slash */
		}
		if (!next)
			break;
		if (*p) {
			fd = openat(dirfd, p,
			            O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			                O_CLOEXEC);
			if (fd < 0) {
				ret = errno == ENOTDIR ? -ELOOP : -errno;
				if (ret == -ELOOP) {
					struct stat lst;
					if (fstatat(dirfd, p, &lst,
					            AT_SYMLINK_NOFOLLOW) == 0 &&
					    !S_ISLNK(lst.st_mode))
						ret = -ENOTDIR;
				}
				close(dirfd);
				free(copy);
				return ret;
			}
			close(dirfd);
			dirfd = fd;
		}
		p = next;
	}
	fd = openat(dirfd, *p ? p : ".",
	            acc | (creat ? O_CREAT : 0) | O_NOFOLLOW | O_CLOEXEC |
	                O_NONBLOCK,
	            0600);
	ret = fd < 0 ? -errno : 0;
	close(dirfd);
	free(copy);
	if (ret < 0)
		return ret;
opened:
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	if (s->fs_probed && s->fs_err == 0 && st.st_dev != s->fs.st_dev) {
		close(fd);
		return -EXDEV;
	}
	/* Changing a file (moving its blocks) is for its owner or root: a
	 * file someone else left writable is still not the caller's. */
	if (acc != O_RDONLY && geteuid() != 0 && st.st_uid != geteuid()) {
		close(fd);
		return -EPERM;
	}
	/* Back to blocking mode for the I/O that follows. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}
