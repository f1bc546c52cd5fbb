/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The session's layout model for the commands: scanned on demand, paths
 * as the model keys them, the file attributes the scan leaves out, and
 * the planner's questions about files (src/session_model.h). */
#include "config.h"
#include "session_model.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "busy.h"
#include "layout_model.h"
#include "scan.h"
#include "session.h"

/* ----------------------------------------------------------------- scan */

static void scan_progress(const struct scan_stats *st, void *arg)
{
	struct rl_session *s = arg;

	fprintf(s->err,
	        "\rscanned %" PRIu64 " files, %" PRIu64 " directories, %" PRIu64
	        " MiB",
	        st->files, st->dirs, st->bytes >> 20);
	fflush(s->err);
}

int session_scan(struct rl_session *s, int threads, struct scan_stats *st)
{
	struct scan_opts o = {.threads = threads};
	struct lm_model *m;
	int r;

	if (s->read_only_snapshot) {
		session_error(s, "the view is a snapshot (read-only): nothing "
		                 "to scan");
		return -EROFS;
	}
	if (session_volume(s) < 0)
		return -ENODEV;
	if (isatty(fileno(s->err)) && !s->json) {
		o.progress = scan_progress;
		o.arg = s;
	}
	r = scan_volume(&s->fs, &o, &m, st);
	if (o.progress)
		fputc('\n', s->err);
	if (r < 0) {
		session_error(s, "cannot scan %s: %s", s->fs.mountpoint,
		              rl_strerror(r));
		return r;
	}
	lm_free(s->model);
	s->model = m;
	return 0;
}

/* The session's model: scanned now if there is none yet. */
struct lm_model *session_model(struct rl_session *s)
{
	struct scan_stats st;

	if (s->model)
		return s->model;
	return session_scan(s, 0, &st) < 0 ? NULL : s->model;
}

/* Collapse "//", "/./" and "/dir/.." of an absolute path in place, without
 * looking at the filesystem ("/.." stays "/"). */
static void normalize_path(char *path)
{
	char *out = path, *p = path;

	while (*p) {
		while (*p == '/')
			p++;
		char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);
		if (n == 0 || (n == 1 && p[0] == '.')) {
			/* nothing */
		} else if (n == 2 && p[0] == '.' && p[1] == '.') {
			while (out > path && out[-1] != '/')
				out--;
			if (out > path)
				out--; /* the slash before it */
		} else {
			*out++ = '/';
			memmove(out, p, n);
			out += n;
		}
		p = end;
	}
	if (out == path)
		*out++ = '/';
	*out = '\0';
}

/* The path of arg relative to the volume root, as the model keys it.
 * Absolute paths must lie under the mount point; relative paths are taken
 * from the current directory when it is on the volume, else from the root.
 * Symlinks are never resolved: "." and ".." are taken lexically. */
int session_model_path(struct rl_session *s, struct lm_model *m,
                       const char *arg, char *out, size_t size)
{
	const char *mp = lm_geometry(m)->fs.mountpoint;
	char abs[PATH_MAX * 2];
	size_t ml = strlen(mp);

	abs[0] = '\0';
	if (arg[0] == '/') {
		snprintf(abs, sizeof(abs), "%s", arg);
	} else if (!s->read_only_snapshot) {
		char cwd[PATH_MAX];
		if (getcwd(cwd, sizeof(cwd)) && strncmp(cwd, mp, ml) == 0 &&
		    (cwd[ml] == '/' || cwd[ml] == '\0'))
			snprintf(abs, sizeof(abs), "%s/%s", cwd, arg);
	}
	const char *rel = arg;
	if (abs[0]) {
		/* Lexically: symlinks, even in the directory part, are never
		 * resolved (the model holds no path through one). */
		normalize_path(abs);
		if (strcmp(mp, "/") == 0) {
			rel = abs + 1;
		} else if (strncmp(abs, mp, ml) == 0 &&
		           (abs[ml] == '/' || abs[ml] == '\0')) {
			rel = abs + ml;
			while (*rel == '/')
				rel++;
		} else {
			session_error(s, "%s: not on the volume %s", arg, mp);
			return -EXDEV;
		}
	}
	while (rel[0] == '.' && rel[1] == '/')
		rel += 2;
	if (!*rel || strcmp(rel, ".") == 0 || strcmp(rel, "./") == 0)
		rel = ".";
	size_t n = strlen(rel);
	if (n >= size) {
		session_error(s, "%s: path too long", arg);
		return -ENAMETOOLONG;
	}
	memcpy(out, rel, n + 1);
	/* drop a trailing slash */
	while (n > 1 && out[n - 1] == '/')
		out[--n] = '\0';
	return 0;
}

/* ------------------------------------------------------ file attributes */

int session_file_attrs(struct rl_session *s, struct lm_model *m, uint32_t id)
{
	const struct lm_file *f = lm_file(m, id);
	const char *rel, *mp = s->fs.mountpoint;
	uint64_t ino, gen;
	uint32_t fl = 0;
	unsigned have = 0;
	bool gk;
	char *path;
	int fd, r;

	if (!f)
		return -EINVAL;
	if (s->read_only_snapshot || (f->flags & LM_FILE_ATTRS_READ))
		return 0;
	rel = lm_file_path(m, id, 0);
	if (!S_ISREG(f->mode) || f->err || !rel) {
		lm_set_file_attrs(m, id, 0, 0, 0);
		return 0;
	}
	if (asprintf(&path, "%s/%s", strcmp(mp, "/") ? mp : "", rel) < 0)
		return -ENOMEM;
	fd = session_open_file(s, path, O_RDONLY);
	free(path);
	if (fd < 0) {
		lm_set_file_attrs(m, id, 0, 0, 0);
		return fd;
	}
	r = rl_file_identity(fd, &ino, &gen, &gk);
	if (r == 0 && ino != f->ino)
		r = -ESTALE; /* another file there now: tell nothing */
	if (r == 0) {
		have = gk ? LM_FILE_HAS_GEN : 0;
		if (rl_file_iflags(fd, &fl) == 0)
			have |= LM_FILE_HAS_IFLAGS;
	}
	close(fd);
	lm_set_file_attrs(m, id, have, (uint32_t)gen, fl);
	return r;
}

/* ------------------------------------------------------ planner hooks */

static int plan_file_attrs(void *arg, uint32_t id)
{
	struct session_plan_hooks *h = arg;

	return session_file_attrs(h->s, h->m, id);
}

static const char *plan_file_busy(void *arg, uint32_t id)
{
	struct session_plan_hooks *h = arg;
	const struct lm_file *f = lm_file(h->m, id);
	enum busy_kind k;

	if (!f || busy_load(&h->busy) < 0)
		return NULL;
	k = busy_find(&h->busy, h->s->fs.st_dev, (ino_t)f->ino);
	return k == BUSY_NONE ? NULL : busy_reason(k);
}

int session_plan_init(struct pl_ctx *ctx, struct session_plan_hooks *h,
                      struct rl_session *s, struct lm_model *m)
{
	int r = pl_init(ctx, m);

	memset(h, 0, sizeof(*h));
	h->s = s;
	h->m = m;
	ctx->file_attrs = plan_file_attrs;
	ctx->file_attrs_arg = h;
	ctx->file_busy = plan_file_busy;
	ctx->file_busy_arg = h;
	return r;
}

void session_plan_fini(struct pl_ctx *ctx, struct session_plan_hooks *h)
{
	pl_fini(ctx);
	busy_free(&h->busy);
}
