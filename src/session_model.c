/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The session's layout model for the commands: scanned on demand, paths
 * as the model keys them, the file attributes the scan leaves out, and
 * the planner's questions about files (src/session_model.h). */
#include "config.h"
#include "session_model.h"
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
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

static int scan_with(struct rl_session *s, struct scan_opts *o,
                     struct scan_stats *st);

int session_scan(struct rl_session *s, int threads, struct scan_stats *st)
{
	struct scan_opts o = {.threads = threads};

	return scan_with(s, &o, st);
}

/* A partial model (scan_opts.only): s->model_partial, s->model_passed */
static int scan_partial(struct rl_session *s, struct scan_opts *o,
                        uint64_t passed, struct scan_stats *st)
{
	int r = scan_with(s, o, st);

	if (r == 0) {
		s->model_partial = true;
		s->model_passed = passed;
	}
	return r;
}

/* a filter that lets no regular file through still filters */
static const uint64_t no_inodes[1];

int session_scan_only(struct rl_session *s, const uint64_t *only, size_t n,
                      uint64_t passed, struct scan_stats *st)
{
	struct scan_opts o = {.only = n ? only : no_inodes, .nonly = n};

	return scan_partial(s, &o, passed, st);
}

int session_scan_dirs(struct rl_session *s, const char *const *rels, size_t n,
                      uint64_t passed, struct scan_stats *st)
{
	struct scan_opts o = {.only = no_inodes,
	                      .roots = rels,
	                      .nroots = n,
	                      .no_descend = true,
	                      .no_free_map = true};

	return scan_partial(s, &o, passed, st);
}

void session_model_drop_partial(struct rl_session *s)
{
	if (!s->model_partial)
		return;
	lm_free(s->model);
	s->model = NULL;
	s->model_partial = false;
	s->model_passed = 0;
	free(s->model_seeds);
	s->model_seeds = NULL;
	s->model_nseeds = 0;
}

static int scan_with(struct rl_session *s, struct scan_opts *o,
                     struct scan_stats *st)
{
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
		o->progress = scan_progress;
		o->arg = s;
	}
	r = scan_volume(&s->fs, o, &m, st);
	if (o->progress)
		fputc('\n', s->err);
	if (r < 0) {
		session_error(s, "cannot scan %s: %s", s->fs.mountpoint,
		              rl_strerror(r));
		return r;
	}
	lm_free(s->model);
	s->model = m;
	s->model_partial = false;
	s->model_passed = 0;
	free(s->model_seeds);
	s->model_seeds = NULL;
	s->model_nseeds = 0;
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

struct lm_model *session_model_attrs(struct rl_session *s)
{
	struct scan_opts o = {.attrs = true};
	struct scan_stats st;

	if (s->model)
		return s->model;
	return scan_with(s, &o, &st) < 0 ? NULL : s->model;
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

/* "mp/rel" (rel "." or "": mp itself) into buf; false when too long. */
static bool join_path(char *buf, size_t size, const char *mp, const char *rel)
{
	int n;

	if (!*rel || strcmp(rel, ".") == 0)
		n = snprintf(buf, size, "%s", mp);
	else
		n = snprintf(buf, size, "%s/%s", strcmp(mp, "/") ? mp : "",
		             rel);
	return n >= 0 && (size_t)n < size;
}

/* The volume-relative form of an absolute, normalized path, or NULL when
 * it is not under mp. */
static const char *under_mount(const char *abs, const char *mp)
{
	size_t ml = strlen(mp);

	if (strcmp(mp, "/") == 0)
		return abs + 1;
	if (strncmp(abs, mp, ml) != 0 || (abs[ml] != '/' && abs[ml] != '\0'))
		return NULL;
	abs += ml;
	while (*abs == '/')
		abs++;
	return abs;
}

int session_path_resolve(const char *mp, const char *cwd, const char *arg,
                         bool (*exists)(const char *abs, void *ctx), void *ctx,
                         char *out, size_t size)
{
	char abs[PATH_MAX * 2];
	const char *rel;
	size_t n;

	if (!arg || !*arg)
		return -ENOENT;
	if (arg[0] == '/') {
		if (strlen(arg) >= sizeof(abs))
			return -ENAMETOOLONG;
		strcpy(abs, arg);
	} else {
		bool dotted =
		    arg[0] == '.' &&
		    (arg[1] == '\0' || arg[1] == '/' ||
		     (arg[1] == '.' && (arg[2] == '\0' || arg[2] == '/')));
		int k = snprintf(abs, sizeof(abs), "%s/%s", mp, arg);

		if (k < 0 || (size_t)k >= sizeof(abs))
			return -ENAMETOOLONG;
		if (cwd && (cwd = under_mount(cwd, mp)) != NULL) {
			/* From the current directory (on the volume), unless
			 * the path exists only from the volume's root. */
			char here[PATH_MAX * 2];

			k = snprintf(here, sizeof(here), "%s/%s/%s", mp, cwd,
			             arg);
			if (k < 0 || (size_t)k >= sizeof(here))
				return -ENAMETOOLONG;
			normalize_path(here);
			normalize_path(abs);
			if (dotted || !exists || exists(here, ctx) ||
			    !exists(abs, ctx))
				strcpy(abs, here);
		}
	}
	/* Lexically: symlinks, even in the directory part, are never
	 * resolved (the model holds no path through one). */
	normalize_path(abs);
	rel = under_mount(abs, mp);
	if (!rel)
		return -EXDEV;
	if (!*rel)
		rel = ".";
	n = strlen(rel);
	if (n >= size)
		return -ENAMETOOLONG;
	memcpy(out, rel, n + 1);
	return 0;
}

/* Does abs exist (not followed if a symlink)? */
static bool path_exists(const char *abs, void *ctx)
{
	struct stat st;

	(void)ctx;
	return fstatat(AT_FDCWD, abs, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* The mount point paths are taken under: the model's (a snapshot's is the
 * one it was taken at), else the probed volume's. NULL: reported. */
static const char *session_mountpoint(struct rl_session *s)
{
	if (s->model)
		return lm_geometry(s->model)->fs.mountpoint;
	if (session_volume(s) < 0)
		return NULL;
	return s->fs.mountpoint;
}

static int resolve_in(struct rl_session *s, const char *mp, const char *arg,
                      char *rel, size_t size, bool report)
{
	char cwd[PATH_MAX];
	bool live = !s->read_only_snapshot;
	int r;

	if (live && !getcwd(cwd, sizeof(cwd)))
		live = false;
	r = session_path_resolve(mp, live ? cwd : NULL, arg,
	                         live ? path_exists : NULL, NULL, rel, size);
	if (!report)
		return r;
	if (r == -EXDEV)
		session_error(
		    s,
		    "%s: not on the volume %s (on another filesystem, "
		    "or outside its mount point: each volume is worked "
		    "on by its own session)",
		    arg, mp);
	else if (r == -ENAMETOOLONG)
		session_error(s, "%s: path too long", arg);
	else if (r < 0)
		session_error(s, "'%s': not a path", arg);
	return r;
}

int session_resolve_path(struct rl_session *s, const char *arg, char *rel,
                         size_t size, char **abs)
{
	const char *mp = session_mountpoint(s);
	char buf[PATH_MAX * 2];
	int r;

	if (!mp)
		return -ENODEV;
	r = resolve_in(s, mp, arg, rel, size, true);
	if (r < 0 || !abs)
		return r;
	if (!join_path(buf, sizeof(buf), mp, rel)) {
		session_error(s, "%s: path too long", arg);
		return -ENAMETOOLONG;
	}
	*abs = strdup(buf);
	return *abs ? 0 : -ENOMEM;
}

int session_resolve_quiet(struct rl_session *s, const char *arg, char *rel,
                          size_t size)
{
	const char *mp = session_mountpoint(s);

	return mp ? resolve_in(s, mp, arg, rel, size, false) : -ENODEV;
}

int session_model_path(struct rl_session *s, struct lm_model *m,
                       const char *arg, char *out, size_t size)
{
	return resolve_in(s, lm_geometry(m)->fs.mountpoint, arg, out, size,
	                  true);
}

uint32_t session_model_find(struct rl_session *s, struct lm_model *m,
                            const char *arg)
{
	char rel[PATH_MAX * 2];

	if (resolve_in(s, lm_geometry(m)->fs.mountpoint, arg, rel, sizeof(rel),
	               false) < 0)
		return LM_NONE;
	return lm_find_path(m, rel);
}

/* ---------------------------------------------------------- search */

bool session_name_match(const char *pattern, const char *path)
{
	bool fold = true;
	const char *subject = path;

	if (!pattern || !path || !*pattern)
		return false;
	for (const char *p = pattern; *p; p++)
		if (isupper((unsigned char)*p))
			fold = false;
	if (!strchr(pattern, '/')) {
		const char *slash = strrchr(path, '/');
		subject = slash ? slash + 1 : path;
	}
	if (strpbrk(pattern, "*?["))
		return fnmatch(pattern, subject, fold ? FNM_CASEFOLD : 0) == 0;
	return fold ? strcasestr(subject, pattern) != NULL
	            : strstr(subject, pattern) != NULL;
}

/* ------------------------------------------------------ file attributes */

int session_file_attrs(struct rl_session *s, struct lm_model *m, uint32_t id)
{
	const struct lm_file *f = lm_file(m, id);
	const char *rel, *mp = s->fs.mountpoint;
	struct lm_file_info fi = {0};
	uint64_t ino;
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
	r = scan_file_attrs(fd, &ino, &fi);
	if (r == 0 && ino != f->ino)
		r = -ESTALE; /* another file there now: tell nothing */
	close(fd);
	lm_set_file_attrs(
	    m, id,
	    r == 0 ? fi.flags & (LM_FILE_HAS_GEN | LM_FILE_HAS_IFLAGS) : 0,
	    fi.generation, fi.iflags);
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

	if (!f)
		return NULL;
	for (size_t i = 0; i < h->s->nplan_changed; i++)
		if (h->s->plan_changed[i] == f->ino)
			return "changed while this command ran (a writer): "
			       "left for a later run";
	if (busy_load(&h->busy) < 0)
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
