/* SPDX-License-Identifier: GPL-2.0-or-later */
/* New inodes for what lies in a range: see cmd_inodes.h. */
#include "config.h"
#include "cmd_inodes.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include "busy.h"
#include "layout_model.h"
#include "mem.h"
#include "output.h"
#include "scan.h"
#include "session_model.h"

/* Skipped files named on the error stream; the rest are counted. */
#define INODES_NAMED 10

struct chunk {
	uint64_t startino, mask, addr;
};

struct cand {
	uint32_t file;
	bool dir;
};

struct inodes_ctx {
	struct rl_session *s;
	struct lm_model *m;
	struct busy_set busy;
	uint64_t start, end, root_ino, chunk_bytes;
	struct chunk *ch;
	size_t nch, chcap;
	struct cand *c;
	size_t nc, ccap;
	uint8_t *seen; /* per file id: already a candidate */
	struct inodes_report *rep;
	size_t named, clearcap;
	bool quiet; /* listing again before the moves: named already */
	const struct cand **again; /* files found open: tried again */
	size_t nagain, againcap;
	bool last_try;
};

static int chunk_cb(uint64_t startino, uint64_t mask, uint64_t addr, void *arg)
{
	struct inodes_ctx *x = arg;

	if (mem_grow(&x->ch, &x->chcap, x->nch + 1, sizeof(*x->ch)) < 0)
		return -ENOMEM;
	x->ch[x->nch++] = (struct chunk){startino, mask, addr};
	return 0;
}

/* Why file id cannot get a new inode, or NULL when it can. */
static const char *why_not(struct inodes_ctx *x, uint32_t id)
{
	const struct lm_file *f = lm_file(x->m, id);
	enum busy_kind k;

	if (f->err)
		return "unreadable in the scan";
	if (!S_ISREG(f->mode) && !S_ISDIR(f->mode))
		return "neither a regular file nor a directory";
	if (S_ISDIR(f->mode) && f->ino == x->root_ino)
		return "the root directory";
	if (S_ISREG(f->mode) && f->npaths != 1)
		return "hard-linked (a new inode would part its names)";
	if ((f->flags & LM_FILE_HAS_IFLAGS) &&
	    (f->iflags & (FS_IMMUTABLE_FL | FS_APPEND_FL)))
		return "immutable or append-only";
	k = busy_find(&x->busy, x->s->fs.st_dev, (ino_t)f->ino);
	/* a file open now may be closed by the time its turn comes (its
	 * lease says): it is tried, and tried again at the end */
	if (k == BUSY_OPEN && S_ISREG(f->mode)) {
		x->rep->open_now++;
		return NULL;
	}
	if (k != BUSY_NONE)
		return busy_reason(k);
	return NULL;
}

static int add_cand(struct inodes_ctx *x, uint32_t id)
{
	if (x->seen[id])
		return 0;
	x->seen[id] = 1;
	if (mem_grow(&x->c, &x->ccap, x->nc + 1, sizeof(*x->c)) < 0)
		return -ENOMEM;
	x->c[x->nc++] = (struct cand){id, S_ISDIR(lm_file(x->m, id)->mode)};
	return 0;
}

/* A file or directory that keeps its inode in the way: named (the first
 * few) and counted. */
static void skipped(struct inodes_ctx *x, const char *path, uint64_t ino,
                    const char *why)
{
	x->rep->skipped++;
	if (x->quiet)
		return;
	if (x->named++ < INODES_NAMED)
		fprintf(x->s->err,
		        "relayout: note: %s (inode %" PRIu64
		        ") keeps its inode: %s\n",
		        path ? OUT_ESC(path) : "?", ino, why);
}

/* The chunks' inodes in use: candidates, or why the chunk stays. */
static int classify(struct inodes_ctx *x)
{
	for (size_t i = 0; i < x->nch; i++) {
		const struct chunk *c = &x->ch[i];
		const char *stay = NULL;
		char buf[256];

		for (unsigned k = 0; k < 64; k++) {
			uint64_t ino = c->startino + k;
			uint32_t id;
			const char *why;

			if (!(c->mask & (1ull << k)))
				continue;
			id = lm_find_inode(x->m, ino);
			if (id == LM_NONE) {
				x->rep->unknown++;
				snprintf(buf, sizeof(buf),
				         "inode %" PRIu64
				         " is in use and not in the tree the "
				         "scan walked (a symbolic link, device "
				         "or socket, or a deleted file still "
				         "open)",
				         ino);
				stay = buf;
				continue;
			}
			why = why_not(x, id);
			if (why) {
				if (!stay) {
					const char *p =
					    lm_file_path(x->m, id, 0);
					snprintf(buf, sizeof(buf), "%s: %s",
					         p ? p : "?", why);
					stay = buf;
				}
				skipped(x, lm_file_path(x->m, id, 0), ino, why);
				continue;
			}
			if (add_cand(x, id) < 0)
				return -ENOMEM;
		}
		if (!stay) {
			if (mem_grow(&x->rep->clear, &x->clearcap,
			             x->rep->chunks_clear + 1,
			             sizeof(*x->rep->clear)) < 0)
				return -ENOMEM;
			x->rep->clear[x->rep->chunks_clear++] = c->addr;
		} else if (c->addr + x->chunk_bytes > x->rep->stays) {
			x->rep->stays = c->addr + x->chunk_bytes;
			snprintf(x->rep->stays_why, sizeof(x->rep->stays_why),
			         "the inode chunk at 0x%" PRIx64 " stays: %s",
			         c->addr, stay);
		}
	}
	return 0;
}

/* Directories with blocks in the range. */
static int dir_owner_cb(const struct lm_owner *o, void *arg)
{
	struct inodes_ctx *x = arg;
	const struct lm_file *f;
	const char *why;

	if (o->kind != LM_OWN_FILE || x->seen[o->file])
		return 0;
	f = lm_file(x->m, o->file);
	if (!S_ISDIR(f->mode))
		return 0;
	why = why_not(x, o->file);
	if (why) {
		x->seen[o->file] = 1;
		skipped(x, lm_file_path(x->m, o->file, 0), f->ino, why);
		return 0;
	}
	return add_cand(x, o->file);
}

/* Split path (relative to the root) into its directory, opened beneath
 * rootfd, and its last name (*base points into path). */
static int open_parent(int rootfd, const char *path, const char **base)
{
	const char *sl = strrchr(path, '/');
	char *dir;
	int fd;

	if (!sl) {
		*base = path;
		return scan_open_beneath(rootfd, ".",
		                         O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	*base = sl + 1;
	dir = strndup(path, (size_t)(sl - path));
	if (!dir)
		return -ENOMEM;
	fd = scan_open_beneath(rootfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	return fd;
}

/* Does the inode of name in dirfd (a new directory) lie in an AG that
 * no part of [start, end) is in? Files made in it, and its own blocks,
 * are then taken from that AG. */
static bool dir_placed(const struct inodes_ctx *x, int dirfd, const char *name)
{
	const struct rl_fs_info *fs = &x->s->fs;
	uint64_t gs = fs->group_size, a, ag;
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	a = rl_inode_addr(fs, st.st_ino);
	if (a == UINT64_MAX)
		return false;
	ag = a / gs * gs;
	return ag + gs <= x->start || ag >= x->end;
}

/* The names made in the stage directory: the stage itself at the root,
 * "d.K" inside it. */
struct stage {
	int rootfd, fd;
	struct stat root; /* the root's times are put back at the end */
	char name[64];
	unsigned next, misses[256], nmiss;
};

/* A directory at the root whose inode lies in an AG outside the range:
 * new files made in it take their inodes from that AG. */
static int stage_open(struct inodes_ctx *x, struct stage *st)
{
	char miss[64][64];
	unsigned n = 0, tries = (unsigned)x->s->fs.group_count * 2 + 2;
	int r = -ENOSPC;

	if (tries > 64)
		tries = 64;
	st->fd = -1;
	if (fstat(st->rootfd, &st->root) < 0)
		return -errno;
	for (unsigned k = 0; k < tries; k++) {
		snprintf(st->name, sizeof(st->name), ".relayout-inodes.%d.%u",
		         (int)getpid(), k);
		if (mkdirat(st->rootfd, st->name, 0700) < 0) {
			r = -errno;
			if (r == -EEXIST)
				continue;
			break;
		}
		if (dir_placed(x, st->rootfd, st->name)) {
			st->fd = openat(st->rootfd, st->name,
			                O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			                    O_CLOEXEC);
			r = st->fd < 0 ? -errno : 0;
			break;
		}
		snprintf(miss[n++], sizeof(miss[0]), "%s", st->name);
	}
	for (unsigned i = 0; i < n; i++)
		(void)unlinkat(st->rootfd, miss[i], AT_REMOVEDIR);
	if (r < 0 && st->fd < 0)
		st->name[0] = '\0';
	return r;
}

/* An empty directory "d.K" in the stage whose inode lies in an AG
 * outside the range (its blocks then go there too); misses are kept until the
 * end (they hold the free inodes they took) and removed then. */
static int stage_dir(struct inodes_ctx *x, struct stage *st, char *name,
                     size_t size)
{
	unsigned tries = (unsigned)x->s->fs.group_count * 2 + 2;

	for (unsigned k = 0; k < tries; k++) {
		snprintf(name, size, "d.%u", st->next++);
		if (mkdirat(st->fd, name, 0700) < 0)
			return -errno;
		if (dir_placed(x, st->fd, name))
			return 0;
		if (st->nmiss < sizeof(st->misses) / sizeof(st->misses[0]))
			st->misses[st->nmiss++] = st->next - 1;
		else
			(void)unlinkat(st->fd, name, AT_REMOVEDIR);
	}
	return -ENOSPC;
}

static void stage_close(struct stage *st)
{
	char name[32];

	if (st->fd >= 0) {
		for (unsigned i = 0; i < st->nmiss; i++) {
			snprintf(name, sizeof(name), "d.%u", st->misses[i]);
			(void)unlinkat(st->fd, name, AT_REMOVEDIR);
		}
		close(st->fd);
	}
	if (st->name[0])
		(void)unlinkat(st->rootfd, st->name, AT_REMOVEDIR);
	if (st->root.st_ino) {
		struct timespec ts[2] = {st->root.st_atim, st->root.st_mtim};
		(void)futimens(st->rootfd, ts);
	}
}

/* Files exchanged and waiting for their grace period (rl_renumber_begin):
 * at most this many at a time (two descriptors each; the open-file limit
 * is raised for them, and the batch made smaller when it cannot be). */
#define INODES_BATCH 1024
/* The grace period: an open(2) that found an old inode by its name just
 * before the exchange breaks its lease within the same system call, but
 * on a loaded machine the opener can be preempted in between. Measured
 * (2 cores, 2 CPU hogs, 3 shells appending to random files by name):
 * with 50 ms 4 of 48,519 appends went to old inodes after their end;
 * with 1 s none of 174,859. */
#define INODES_GRACE_MS 1000

/* Files found open: tried again this many times, this far apart. */
#define INODES_TRIES    8
#define INODES_RETRY_MS 100

struct batch {
	struct rl_renumber *h[INODES_BATCH];
	const struct cand *c[INODES_BATCH];
	size_t n, max;
};

/* The batch's size: the open-file limit raised as far as allowed (until
 * relayout exits), three descriptors a file, 64 kept for the rest. */
static size_t batch_max(void)
{
	struct rlimit rl;
	rlim_t want = 3 * INODES_BATCH + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 16;
	if (rl.rlim_cur < want) {
		rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < 3 * 16 + 64)
		return 16;
	return rl.rlim_cur >= want ? INODES_BATCH : (rl.rlim_cur - 64) / 3;
}

static void report(struct inodes_ctx *x, const struct cand *c, int r)
{
	const struct lm_file *f = lm_file(x->m, c->file);

	if (r == 0) {
		if (c->dir)
			x->rep->dirs++;
		else
			x->rep->files++;
		return;
	}
	/* a file opened, a directory whose entries changed: again later */
	if (((r == -EBUSY && !c->dir) || (r == -EAGAIN && c->dir)) &&
	    !x->last_try &&
	    mem_grow(&x->again, &x->againcap, x->nagain + 1,
	             sizeof(*x->again)) == 0) {
		x->again[x->nagain++] = c;
		return;
	}
	skipped(x, lm_file_path(x->m, c->file, 0), f->ino,
	        r == -EBUSY    ? "open in a process (or opened meanwhile: the "
	                         "old inode is back in its place)"
	        : r == -EAGAIN ? "its entries kept changing while it was "
	                         "being given a new inode"
	        : r == -EMLINK ? "hard-linked"
	        : r == -EPERM  ? "immutable or append-only"
	                       : rl_strerror(r));
}

/* After the grace period: each file's lease checked, its old inode
 * unlinked, or given its name back. */
static void batch_end(struct inodes_ctx *x, struct batch *b)
{
	if (!b->n)
		return;
	usleep(INODES_GRACE_MS * 1000);
	/* last begun, first ended: each end puts its directory's times back
	 * as its begin found them, so the first begin's (the times before
	 * the batch) are the ones that stay */
	for (size_t i = b->n; i-- > 0;) {
		uint64_t ino = 0;
		int r = rl_renumber_end(b->h[i], false, &ino);
		if (r == -EBUSY)
			x->rep->put_back++;
		if (r == -EAGAIN) {
			const char *p = lm_file_path(x->m, b->c[i]->file, 0);
			x->rep->kept_both++;
			fprintf(
			    x->s->err,
			    "relayout: warning: %s was opened under its old "
			    "and its new inode at once: the old one is back "
			    "in its place, the new one (inode %" PRIu64
			    ") stays beside it as .relayout-inode.%" PRIu64
			    ".* (what was written to it is there)\n",
			    p ? OUT_ESC(p) : "?", ino, ino);
		}
		report(x, b->c[i], r);
	}
	b->n = 0;
}

/* Give candidate c a new inode (a file: exchanged now, ended with the
 * batch). 0, or -ENOSPC to stop (no inode outside the range could be
 * had); other failures are reported as skipped. */
static int move_one(struct inodes_ctx *x, struct stage *st, struct batch *b,
                    const struct cand *c)
{
	const struct lm_file *f = lm_file(x->m, c->file);
	const char *path = lm_file_path(x->m, c->file, 0), *base;
	char dname[32];
	struct stat now;
	uint64_t ino = 0;
	int pfd, r;

	if (!path)
		return 0;
	pfd = open_parent(st->rootfd, path, &base);
	if (pfd < 0) {
		skipped(x, path, f->ino, rl_strerror(pfd));
		return 0;
	}
	if (fstatat(pfd, base, &now, AT_SYMLINK_NOFOLLOW) < 0 ||
	    now.st_ino != f->ino) {
		close(pfd);
		skipped(x, path, f->ino, "changed since the scan");
		return 0;
	}
	if (!c->dir) {
		r = rl_renumber_begin(&x->s->fs, pfd, base, st->fd, x->start,
		                      x->end, &b->h[b->n]);
		close(pfd);
		if (r == 0) {
			b->c[b->n++] = c;
			if (b->n >= b->max)
				batch_end(x, b);
			return 0;
		}
	} else {
		/* the batch first: its files' names are in directories */
		batch_end(x, b);
		r = stage_dir(x, st, dname, sizeof(dname));
		if (r == 0) {
			size_t twice = 0;
			r = rl_renumber_dir(&x->s->fs, pfd, base, st->fd, dname,
			                    &ino, &twice);
			if (twice)
				fprintf(
				    x->s->err,
				    "relayout: warning: %zu name%s in %s %s "
				    "made again while its entries moved to "
				    "its new inode: both kept, the later as "
				    "NAME.relayout-twice.K\n",
				    twice, twice == 1 ? "" : "s", OUT_ESC(path),
				    twice == 1 ? "was" : "were");
			if (r < 0)
				(void)unlinkat(st->fd, dname, AT_REMOVEDIR);
		}
		close(pfd);
	}
	if (r == -ENOSPC)
		return r;
	report(x, c, r);
	return 0;
}

static int run(struct inodes_ctx *x)
{
	struct sigaction ign = {.sa_handler = SIG_IGN}, old;
	struct stage st = {.fd = -1};
	struct batch *b = calloc(1, sizeof(*b));
	int r;

	if (!b)
		return -ENOMEM;
	b->max = batch_max();
	st.rootfd =
	    open(x->s->fs.mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st.rootfd < 0) {
		r = -errno;
		free(b);
		return r;
	}
	/* a broken lease (someone opened a file being given a new inode)
	 * is signalled with SIGIO; rl_renumber_end sees it in the lease */
	sigaction(SIGIO, &ign, &old);
	r = stage_open(x, &st);
	for (size_t i = 0; r == 0 && i < x->nc; i++)
		r = move_one(x, &st, b, &x->c[i]);
	batch_end(x, b);
	/* files that were open: a few more tries, a moment apart */
	for (int k = 0; r == 0 && k < INODES_TRIES && x->nagain; k++) {
		const struct cand **list = x->again;
		size_t n = x->nagain;

		x->again = NULL;
		x->nagain = x->againcap = 0;
		x->last_try = k == INODES_TRIES - 1;
		usleep(INODES_RETRY_MS * 1000);
		for (size_t i = 0; r == 0 && i < n; i++)
			r = move_one(x, &st, b, list[i]);
		batch_end(x, b);
		free(list);
	}
	free(x->again);
	stage_close(&st);
	/* the old inodes are freed in the background: wait for it, so the
	 * chunks they leave are free for what comes next (XFS's statfs
	 * flushes its inode inactivation; then the log commits) */
	{
		struct statfs sf;
		(void)fstatfs(st.rootfd, &sf);
	}
	(void)rl_fs_commit(st.rootfd);
	sigaction(SIGIO, &old, NULL);
	close(st.rootfd);
	free(b);
	return r;
}

void inodes_print(struct rl_session *s, const struct inodes_report *ir,
                  bool dry)
{
	if (s->json)
		return;
	fprintf(s->out,
	        "%s %zu files and %zu directories new inodes outside the "
	        "range (inode chunks in it: %zu, of which %zu %s free; their "
	        "inode numbers and ctime change)\n",
	        dry ? "would give" : "giving", ir->files, ir->dirs, ir->chunks,
	        ir->chunks_clear, dry ? "would then be" : "are then");
	if (ir->open_now)
		fprintf(s->out,
		        "%zu of the files are open in a process now: one still "
		        "open when its turn comes (and at %d more tries) keeps "
		        "its inode, and its inode chunk stays\n",
		        ir->open_now, INODES_TRIES);
}

void inodes_print_done(struct rl_session *s, const struct inodes_report *ir)
{
	if (s->json)
		return;
	fprintf(s->out,
	        "gave %zu files and %zu directories new inodes; %zu kept "
	        "theirs; %zu times a file was opened while at it and its old "
	        "inode put back (then tried again)\n",
	        ir->files, ir->dirs, ir->skipped, ir->put_back);
}

bool inodes_in_clear(const struct inodes_report *rep, uint64_t start,
                     uint64_t len)
{
	uint64_t pos = start, end = start + len;

	/* chunks next to each other are one metadata record in the model:
	 * each part must lie in a chunk that leaves */
	while (pos < end) {
		size_t lo = 0, hi = rep->chunks_clear;

		/* the last chunk starting at or below pos */
		while (hi - lo > 1) {
			size_t mid = lo + (hi - lo) / 2;
			if (rep->clear[mid] <= pos)
				lo = mid;
			else
				hi = mid;
		}
		if (!rep->chunks_clear || rep->clear[lo] > pos ||
		    pos >= rep->clear[lo] + rep->chunk_bytes)
			return false;
		pos = rep->clear[lo] + rep->chunk_bytes;
	}
	return len > 0;
}

/* Names an interrupted --move-inodes leaves (killed between the steps of
 * a file or directory): the new inode not yet in place, or the old one
 * after the exchange, under ".relayout-inode.INO.K"; a staging directory
 * ".relayout-inodes.PID.K" at the root (with the new directories made in
 * it, holding second links to files); ".relayout-gone.PID.K", a second
 * link on its way out. Every name of the volume still holds its file, in
 * full: these are copies or second links. Said once per command. */
static void leftovers_warn(struct inodes_ctx *x)
{
	static const char *const pre[] = {
	    ".relayout-inode.", ".relayout-inodes.", ".relayout-gone."};
	const char *ex = NULL;
	size_t n = 0;

	for (uint32_t id = 0; id < lm_file_count(x->m); id++) {
		const char *p = lm_file_path(x->m, id, 0), *b;
		if (!p)
			continue;
		b = strrchr(p, '/');
		b = b ? b + 1 : p;
		for (size_t k = 0; k < sizeof(pre) / sizeof(pre[0]); k++)
			if (!strncmp(b, pre[k], strlen(pre[k]))) {
				if (!ex)
					ex = p;
				n++;
				break;
			}
	}
	if (n)
		fprintf(x->s->err,
		        "relayout: warning: %zu name%s left by an interrupted "
		        "--move-inodes (e.g. %s): each is a copy of a file, or "
		        "a second link to one, made while it got a new inode; "
		        "the file's own name holds its data as it was then, "
		        "unless a process wrote to the other one at that "
		        "moment: compare them before removing the .relayout-* "
		        "name\n",
		        n, n == 1 ? "" : "s", OUT_ESC(ex));
}

int inodes_move(struct rl_session *s, uint64_t start, uint64_t end, bool dry,
                struct inodes_report *rep)
{
	struct inodes_ctx x = {.s = s, .start = start, .end = end, .rep = rep};
	const struct rl_fs_info *fs = &s->fs;
	struct stat rst;
	int r;

	memset(rep, 0, sizeof(*rep));
	if (fs->type != RL_FS_XFS || !fs->group_size) {
		session_error(s, "only XFS inodes can be given new places "
		                 "here (--move-inodes)");
		return -EOPNOTSUPP;
	}
	if (geteuid() != 0) {
		session_error(
		    s, "--move-inodes needs root: it lists the inode chunks "
		       "(XFS_IOC_FSINUMBERS), must see every process's open "
		       "files, working directories and inotify watches, and "
		       "takes leases on the files");
		return -EPERM;
	}
	x.m = session_model(s);
	if (!x.m)
		return -ENODATA;
	if (stat(fs->mountpoint, &rst) < 0) {
		r = -errno;
		session_error(s, "%s: %s", OUT_ESC(fs->mountpoint),
		              strerror(errno));
		return r;
	}
	x.root_ino = rst.st_ino;
	if (dry)
		leftovers_warn(&x);
	x.chunk_bytes = 64ull * (fs->block_size >> fs->xfs_inopblog);
	rep->chunk_bytes = x.chunk_bytes;
	x.seen = calloc(lm_file_count(x.m) + 1, 1);
	r = x.seen ? 0 : -ENOMEM;
	if (r == 0)
		r = busy_load(&x.busy);
	if (r == 0)
		r = busy_load_open(&x.busy, fs->st_dev);
	if (r == 0)
		r = rl_inode_chunks(fs, start, end, chunk_cb, &x);
	if (r == 0) {
		rep->chunks = x.nch;
		x.quiet = !dry; /* listed by a dry run just before */
		r = classify(&x);
	}
	if (r == 0)
		r = lm_owners(x.m, start, end, dir_owner_cb, &x);
	x.quiet = false;
	if (r < 0)
		session_error(s,
		              "cannot list the inodes in 0x%" PRIx64
		              "..0x%" PRIx64 ": %s",
		              start, end, rl_strerror(r));
	if (r == 0 && dry) {
		for (size_t i = 0; i < x.nc; i++) {
			if (x.c[i].dir)
				rep->dirs++;
			else
				rep->files++;
		}
	} else if (r == 0) {
		r = run(&x);
		/* the files have new inode numbers: the model is read again */
		lm_free(s->model);
		s->model = NULL;
		x.m = NULL;
		(void)session_model(s);
		if (r == -ENOSPC)
			session_error(s,
			              "no free inode outside 0x%" PRIx64
			              "..0x%" PRIx64
			              " could be had for the rest (%zu files "
			              "and directories moved)",
			              start, end, rep->files + rep->dirs);
		else if (r < 0)
			session_error(s, "cannot give inodes new places: %s",
			              rl_strerror(r));
	}
	if (x.named > INODES_NAMED)
		fprintf(s->err,
		        "relayout: note: and %zu more keep their inodes\n",
		        x.named - INODES_NAMED);
	busy_free(&x.busy);
	free(x.seen);
	free(x.ch);
	free(x.c);
	return r;
}
