/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"
#include "session.h"
#include "txn.h"
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "journal.h"
#include "output.h"
#include <relayout/layout_model.h>

void session_init(struct rl_session *s)
{
	memset(s, 0, sizeof(*s));
	s->out = stdout;
	s->err = stderr;
}

int session_record_start(struct rl_session *s, const char *path)
{
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	int fd;
	FILE *f;

	session_record_stop(s);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC,
	          0600);
	if (fd < 0)
		return -errno;
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
	free(s->journal_dir);
	free(s->path);
	lm_free(s->model);
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
		session_error(s, "%s is a snapshot (read-only): there is no "
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

void session_error(struct rl_session *s, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(s->err, "relayout: ");
	if (s->src_name)
		fprintf(s->err, "%s:%d: ", s->src_name, s->src_line);
	if (s->cur_cmd)
		fprintf(s->err, "%s: ", s->cur_cmd);
	fprintf(s->err, "%s\n", msg);
	if (s->json)
		out_json_error(s, msg);
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
	/* Back to blocking mode for the I/O that follows. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}
