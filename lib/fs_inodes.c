/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Inodes that sit where they are in the way: where an XFS inode lives
 * (rl_inode_addr), the XFS inode chunks of a range (rl_inode_chunks), and
 * giving a file or a directory a new inode in its place
 * (rl_renumber_file, rl_renumber_dir). XFS cannot move an inode chunk;
 * it frees one when its last inode is freed, so an inode chunk leaves a
 * range when all its files have new inodes elsewhere. */
#include "config.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <relayout/fs.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include "fs_abi.h"
#include "fs_internal.h"

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

uint64_t rl_inode_addr(const struct rl_fs_info *fs, uint64_t ino)
{
	uint64_t ag, agbno, inopblog, agblklog;

	if (!fs || fs->type != RL_FS_XFS || !fs->xfs_agblklog ||
	    !fs->group_size || !fs->block_size)
		return UINT64_MAX;
	inopblog = fs->xfs_inopblog;
	agblklog = fs->xfs_agblklog;
	ag = ino >> (agblklog + inopblog);
	agbno = (ino >> inopblog) & ((1ull << agblklog) - 1);
	return ag * fs->group_size + agbno * fs->block_size;
}

/* fs's mount point opened (a directory fd), -EINVAL (no fs),
 * -EOPNOTSUPP (not XFS) or -errno. */
static int xfs_root_open(const struct rl_fs_info *fs)
{
	int fd;

	if (!fs)
		return -EINVAL;
	if (fs->type != RL_FS_XFS)
		return -EOPNOTSUPP;
	fd = open(fs->mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? RL_NEG_ERRNO() : fd;
}

/* Every inode chunk in use (XFS_IOC_FSINUMBERS, no inode read), in inode
 * order, to each() until it returns non-zero: that, 0 or -errno. */
static int inumbers_each(int fd,
                         int (*each)(const struct rl_xfs_inogrp *, void *),
                         void *arg)
{
	struct rl_xfs_inogrp grp[256];
	struct rl_xfs_fsop_bulkreq req;
	__u64 last = 0;
	int32_t got = 0;
	int r = 0;

	for (;;) {
		memset(&req, 0, sizeof(req));
		req.lastip = &last;
		req.icount = (int32_t)(sizeof(grp) / sizeof(grp[0]));
		req.ubuffer = grp;
		req.ocount = &got;
		if (ioctl(fd, RL_XFS_IOC_FSINUMBERS, &req) < 0)
			return RL_NEG_ERRNO();
		if (got <= 0)
			return 0;
		for (int32_t i = 0; r == 0 && i < got; i++)
			r = each(&grp[i], arg);
		if (r)
			return r;
	}
}

struct chunks_in {
	const struct rl_fs_info *fs;
	uint64_t start, end;
	rl_chunk_cb cb;
	void *arg;
};

static int chunk_in_range(const struct rl_xfs_inogrp *g, void *arg)
{
	struct chunks_in *c = arg;
	uint64_t a = rl_inode_addr(c->fs, g->xi_startino);

	if (a >= c->start && a < c->end)
		return c->cb(g->xi_startino, g->xi_allocmask, a, c->arg);
	return 0;
}

int rl_inode_chunks(const struct rl_fs_info *fs, uint64_t start, uint64_t end,
                    rl_chunk_cb cb, void *arg)
{
	struct chunks_in c = {fs, start, end, cb, arg};
	int fd, r;

	if (!cb || start > end)
		return -EINVAL;
	fd = xfs_root_open(fs);
	if (fd < 0)
		return fd;
	r = inumbers_each(fd, chunk_in_range, &c);
	close(fd);
	return r;
}

/* Inodes per XFS_IOC_BULKSTAT call (192 bytes each). */
#define BULK_N 512
/* Threads of a walk, each taking a piece of the inodes at a time (the
 * kernel reads each inode, and its cluster buffers, per call: the pieces
 * are independent). */
#define WALK_THREADS_MAX 8
/* pieces per thread: a thread that ends early takes another */
#define WALK_PIECES_PER_THREAD 4
/* a piece asks for this many inodes more than it expects (inodes made
 * since the count): the rest, up to its end, in further calls */
#define WALK_SLACK 16

/* Bulkstat from req->ino on, each inode handed to each(). */
static int bulk_run(int fd, struct rl_xfs_bulk_ireq *req,
                    int (*each)(const struct rl_inode_stat *, void *),
                    void *arg)
{
	struct rl_xfs_bulkstat *bs = (struct rl_xfs_bulkstat *)(req + 1);
	int r = 0;

	for (;;) {
		req->icount = BULK_N;
		req->ocount = 0;
		if (ioctl(fd, RL_XFS_IOC_BULKSTAT, req) < 0)
			return errno == ENOTTY ? -EOPNOTSUPP : RL_NEG_ERRNO();
		if (req->ocount == 0)
			return 0;
		for (uint32_t i = 0; r == 0 && i < req->ocount; i++) {
			struct rl_inode_stat is = {
			    .ino = bs[i].bs_ino,
			    .size = bs[i].bs_size,
			    .extents = bs[i].bs_extents,
			    .mode = bs[i].bs_mode,
			    .nlink = bs[i].bs_nlink,
			};
			r = each(&is, arg);
		}
		if (r)
			return r;
	}
}

/* A piece of the walk: the inodes from number lo on, below hi, about n of
 * them (the inode chunks' counts); gathered by a thread. */
struct walk_piece {
	uint64_t lo, hi, n;
	struct rl_inode_stat *v;
	size_t nv, cap;
	int err;
};

struct walk_ctx {
	pthread_mutex_t lock;
	int fd;
	size_t next, count; /* the next piece to take, the pieces */
	struct walk_piece *pieces;
	size_t *order; /* the pieces in the order taken */
};

static int gather(struct walk_piece *p, const struct rl_xfs_bulkstat *bs)
{
	if (p->nv == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : p->n + WALK_SLACK;
		void *v = realloc(p->v, cap * sizeof(*p->v));
		if (!v)
			return -ENOMEM;
		p->v = v;
		p->cap = cap;
	}
	p->v[p->nv++] = (struct rl_inode_stat){
	    .ino = bs->bs_ino,
	    .size = bs->bs_size,
	    .extents = bs->bs_extents,
	    .mode = bs->bs_mode,
	    .nlink = bs->bs_nlink,
	};
	return 0;
}

/* The inodes of piece p: from p->lo until one at p->hi or beyond. */
static int bulk_piece(int fd, struct rl_xfs_bulk_ireq *req,
                      struct walk_piece *p)
{
	struct rl_xfs_bulkstat *bs = (struct rl_xfs_bulkstat *)(req + 1);

	memset(req, 0, sizeof(*req));
	req->ino = p->lo;
	for (;;) {
		uint64_t want = (p->n > p->nv ? p->n - p->nv : 0) + WALK_SLACK;

		req->icount = (uint32_t)(want < BULK_N ? want : BULK_N);
		req->ocount = 0;
		if (ioctl(fd, RL_XFS_IOC_BULKSTAT, req) < 0)
			return errno == ENOTTY ? -EOPNOTSUPP : RL_NEG_ERRNO();
		if (req->ocount == 0)
			return 0;
		for (uint32_t i = 0; i < req->ocount; i++) {
			if (bs[i].bs_ino >= p->hi)
				return 0;
			if (gather(p, &bs[i]) < 0)
				return -ENOMEM;
		}
	}
}

static void *walk_worker(void *arg)
{
	struct walk_ctx *w = arg;
	struct rl_xfs_bulk_ireq *req =
	    calloc(1, sizeof(*req) + BULK_N * sizeof(struct rl_xfs_bulkstat));

	for (;;) {
		size_t k;

		pthread_mutex_lock(&w->lock);
		k = w->next < w->count ? w->order[w->next++] : SIZE_MAX;
		pthread_mutex_unlock(&w->lock);
		if (k == SIZE_MAX)
			break;
		w->pieces[k].err =
		    req ? bulk_piece(w->fd, req, &w->pieces[k]) : -ENOMEM;
	}
	free(req);
	return NULL;
}

/* The inode chunks in use and their counts, for walk_cut. */
struct chunk_list {
	struct {
		uint64_t ino, n;
	} * v;
	size_t n, cap;
	uint64_t total;
};

static int chunk_add(const struct rl_xfs_inogrp *g, void *arg)
{
	struct chunk_list *l = arg;

	if (l->n == l->cap) {
		size_t nc = l->cap ? 2 * l->cap : 1024;
		void *v = realloc(l->v, nc * sizeof(*l->v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = nc;
	}
	l->v[l->n].ino = g->xi_startino;
	l->v[l->n].n = g->xi_alloccount > 0 ? (uint64_t)g->xi_alloccount : 0;
	l->total += l->v[l->n++].n;
	return 0;
}

/* The walk cut into about `want` pieces of the same number of inodes,
 * at inode chunk boundaries (the chunks in use and their counts: no
 * inode read), a piece in one AG (agshift: inode number to AG):
 * *out malloc'ed, 0 or -errno. */
static int walk_cut(int fd, size_t want, unsigned agshift,
                    struct walk_piece **out, size_t *np)
{
	struct chunk_list ch = {0};
	size_t k = 0, cap = 2 * want + 64;
	uint64_t acc = 0, per;
	int r = inumbers_each(fd, chunk_add, &ch);

	if (r < 0 || !(*out = calloc(cap, sizeof(**out)))) {
		free(ch.v);
		return r < 0 ? r : -ENOMEM;
	}
	per = ch.total / want + 1;
	/* the first piece from inode 0 (inodes in chunks made since) */
	for (size_t i = 0; i < ch.n; i++) {
		bool ag_change =
		    i > 0 && agshift < 64 &&
		    ch.v[i].ino >> agshift != ch.v[i - 1].ino >> agshift;
		if ((acc >= per || (ag_change && acc > 0)) && k + 1 < cap) {
			(*out)[k].hi = ch.v[i].ino;
			(*out)[++k].lo = ch.v[i].ino;
			acc = 0;
		}
		acc += ch.v[i].n;
		(*out)[k].n += ch.v[i].n;
	}
	(*out)[k].hi = UINT64_MAX;
	*np = k + 1;
	free(ch.v);
	return 0;
}

/* The pieces walked by threads, then cb called in inode order. 1: no
 * thread started, or no piece cut (the caller walks alone; cb not
 * called yet), else 0 or -errno. */
static int walk_parallel(int fd, int nth, unsigned agshift, rl_inode_cb cb,
                         void *arg)
{
	struct walk_ctx w = {.fd = fd};
	pthread_t th[WALK_THREADS_MAX];
	int started = 0, r = 0;

	if (walk_cut(fd, (size_t)nth * WALK_PIECES_PER_THREAD, agshift,
	             &w.pieces, &w.count) < 0)
		return 1;
	/* taken one AG after the other, round and round: threads at work
	 * at the same time are in different AGs (each AG's inode cache
	 * has a lock of its own) */
	w.order = malloc(w.count * sizeof(*w.order));
	if (!w.order) {
		free(w.pieces);
		return 1;
	}
	for (size_t n = 0, round = 0; n < w.count; round++) {
		uint64_t ag = UINT64_MAX;
		size_t in_ag = 0;
		for (size_t k = 0; k < w.count; k++) {
			uint64_t a =
			    agshift < 64 ? w.pieces[k].lo >> agshift : 0;
			if (a != ag) {
				ag = a;
				in_ag = 0;
			}
			if (in_ag++ == round)
				w.order[n++] = k;
		}
	}
	pthread_mutex_init(&w.lock, NULL);
	for (int i = 0; i < nth && (size_t)i < w.count; i++)
		if (pthread_create(&th[i], NULL, walk_worker, &w) == 0)
			started++;
	if (started == 0)
		r = 1;
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&w.lock);
	for (size_t k = 0; r == 0 && k < w.count; k++) {
		r = w.pieces[k].err;
		for (size_t i = 0; r == 0 && i < w.pieces[k].nv; i++)
			r = cb(&w.pieces[k].v[i], arg);
	}
	for (size_t k = 0; k < w.count; k++)
		free(w.pieces[k].v);
	free(w.pieces);
	free(w.order);
	return r;
}

int rl_inode_walk(const struct rl_fs_info *fs, rl_inode_cb cb, void *arg)
{
	struct rl_xfs_bulk_ireq *req;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int fd, r = 1;

	if (!cb)
		return -EINVAL;
	fd = xfs_root_open(fs);
	if (fd < 0)
		return fd;
	/* cut by the inode chunks now (a grown volume has more AGs than
	 * the probe saw) */
	if (cpus > 1) {
		int nth =
		    (int)(cpus < WALK_THREADS_MAX ? cpus : WALK_THREADS_MAX);
		r = walk_parallel(
		    fd, nth,
		    fs->xfs_agblklog ? fs->xfs_agblklog + fs->xfs_inopblog : 64,
		    cb, arg);
	}
	if (r == 1) {
		req = calloc(1, sizeof(*req) +
		                    BULK_N * sizeof(struct rl_xfs_bulkstat));
		r = req ? bulk_run(fd, req, cb, arg) : -ENOMEM;
		free(req);
	}
	close(fd);
	return r;
}

/* ------------------------------------------------- copying an inode's
 * attributes */

/* Copy the extended attributes of from to to (ACLs, security labels and
 * trusted ones are extended attributes too). 0 or -errno. */
static int copy_xattrs(int from, int to)
{
	char *names = NULL, *val = NULL;
	ssize_t n, vn;
	size_t vcap = 0;
	int r = 0;

	n = flistxattr(from, NULL, 0);
	if (n < 0)
		return errno == ENOTSUP ? 0 : RL_NEG_ERRNO();
	if (n == 0)
		return 0;
	names = malloc((size_t)n + 1);
	if (!names)
		return -ENOMEM;
	n = flistxattr(from, names, (size_t)n);
	if (n < 0) {
		r = RL_NEG_ERRNO();
		goto out;
	}
	names[n] = '\0';
	for (char *p = names; r == 0 && p < names + n; p += strlen(p) + 1) {
		vn = fgetxattr(from, p, NULL, 0);
		if (vn < 0) {
			r = RL_NEG_ERRNO();
			break;
		}
		if ((size_t)vn + 1 > vcap) {
			char *v = realloc(val, (size_t)vn + 1);
			if (!v) {
				r = -ENOMEM;
				break;
			}
			val = v;
			vcap = (size_t)vn + 1;
		}
		vn = fgetxattr(from, p, val, vcap);
		if (vn < 0 || fsetxattr(to, p, val, (size_t)vn, 0) < 0)
			r = RL_NEG_ERRNO();
	}
out:
	free(names);
	free(val);
	return r;
}

/* Owner, mode, extended attributes and the inode flags and project
 * settings of FS_IOC_FSGETXATTR (not immutable / append-only: those are
 * refused before) from from (whose stat is st) to to. 0 or -errno. */
static int copy_attrs(int from, const struct stat *st, int to)
{
	struct fsxattr fa;
	int r;

	if (fchown(to, st->st_uid, st->st_gid) < 0 ||
	    fchmod(to, st->st_mode & 07777) < 0)
		return RL_NEG_ERRNO();
	r = copy_xattrs(from, to);
	if (r < 0)
		return r;
	memset(&fa, 0, sizeof(fa));
	if (ioctl(from, FS_IOC_FSGETXATTR, &fa) < 0)
		return errno == ENOTTY || errno == EOPNOTSUPP ? 0
		                                              : RL_NEG_ERRNO();
	fa.fsx_xflags &= ~(uint32_t)(FS_XFLAG_IMMUTABLE | FS_XFLAG_APPEND |
	                             FS_XFLAG_HASATTR);
	fa.fsx_nextents = 0;
	if (ioctl(to, FS_IOC_FSSETXATTR, &fa) < 0)
		return RL_NEG_ERRNO();
	return 0;
}

/* Whether fd's inode is immutable or append-only (those refuse the
 * renaming and linking the new inode needs, and are meant to stay). */
static bool pinned_inode(int fd)
{
	uint32_t fl = 0;

	return rl_file_iflags(fd, &fl) == 0 &&
	       (fl & (FS_IMMUTABLE_FL | FS_APPEND_FL));
}

/* The data of from (size bytes) into the empty to: shared with FICLONE
 * where the filesystem has reflink (1), else copied, holes kept (0). */
static int copy_data(int from, int to, uint64_t size)
{
	off_t pos = 0, data, hole;

	if (ioctl(to, FICLONE, from) == 0)
		return 1;
	if (errno != EOPNOTSUPP && errno != EXDEV && errno != EINVAL &&
	    errno != ENOTTY)
		return RL_NEG_ERRNO();
	while ((uint64_t)pos < size) {
		data = lseek(from, pos, SEEK_DATA);
		if (data < 0) {
			if (errno == ENXIO)
				break;
			return RL_NEG_ERRNO();
		}
		hole = lseek(from, data, SEEK_HOLE);
		if (hole < 0)
			return RL_NEG_ERRNO();
		for (off_t in = data, out = data; in < hole;) {
			ssize_t k = copy_file_range(from, &in, to, &out,
			                            (size_t)(hole - in), 0);
			if (k < 0)
				return RL_NEG_ERRNO();
			if (k == 0)
				return -EIO; /* shrank meanwhile */
			out = in;
		}
		pos = hole;
	}
	if (ftruncate(to, (off_t)size) < 0)
		return RL_NEG_ERRNO();
	return 0;
}

/* A free name ".relayout-inode.INO.K" in dirfd for the new inode while the
 * two are exchanged. */
static int link_temp(int fd, int dirfd, uint64_t ino, char *name, size_t size)
{
	for (int k = 0; k < 100; k++) {
		snprintf(name, size, ".relayout-inode.%llu.%d",
		         (unsigned long long)ino, k);
		if (linkat(fd, "", dirfd, name, AT_EMPTY_PATH) == 0)
			return 0;
		if (errno != EEXIST)
			return RL_NEG_ERRNO();
	}
	return -EEXIST;
}

/* Is the name tmp in dirfd the inode ino? */
static bool name_is(int dirfd, const char *name, dev_t dev, ino_t ino)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       st.st_dev == dev && st.st_ino == ino;
}

/* The new inode's (fd) place is not in [avoid_start, avoid_end)? */
static int new_inode_ok(const struct rl_fs_info *fs, int fd,
                        uint64_t avoid_start, uint64_t avoid_end, uint64_t *ino)
{
	struct stat st;
	uint64_t a;

	if (fstat(fd, &st) < 0)
		return RL_NEG_ERRNO();
	*ino = st.st_ino;
	a = rl_inode_addr(fs, st.st_ino);
	if (a != UINT64_MAX && a >= avoid_start && a < avoid_end)
		return -ENOSPC;
	return 0;
}

/* The directory's times back as they were (the linking, exchanging and
 * unlinking of its entries changed them). */
static void dir_times_back(int dirfd, const struct stat *d)
{
	struct timespec ts[2] = {d->st_atim, d->st_mtim};

	(void)futimens(dirfd, ts);
}

/* A file given a new inode, between the exchange and its end. */
struct rl_renumber {
	int fd;          /* the old inode, under a write lease */
	int nfd;         /* the new inode, under a write lease */
	int dirfd;       /* its directory (a dup) */
	struct stat st;  /* the old inode */
	struct stat dst; /* the directory, before */
	uint64_t ino;    /* the new inode */
	char name[256];  /* the name, now the new inode's */
	char tmp[64];    /* the old inode's name meanwhile */
};

/* The name goes back to the old inode, the new one is unlinked. */
static int renumber_back(struct rl_renumber *h)
{
	int r = 0;

	if (renameat2(h->dirfd, h->tmp, h->dirfd, h->name, RENAME_EXCHANGE) < 0)
		r = RL_NEG_ERRNO();
	else if (name_is(h->dirfd, h->tmp, h->st.st_dev, (ino_t)h->ino))
		(void)unlinkat(h->dirfd, h->tmp, 0);
	return r;
}

static void renumber_free(struct rl_renumber *h)
{
	dir_times_back(h->dirfd, &h->dst);
	(void)fcntl(h->fd, F_SETLEASE, F_UNLCK);
	(void)fcntl(h->nfd, F_SETLEASE, F_UNLCK);
	close(h->fd);
	close(h->nfd);
	close(h->dirfd);
	free(h);
}

int rl_renumber_begin(const struct rl_fs_info *fs, int dirfd, const char *name,
                      int stagefd, uint64_t avoid_start, uint64_t avoid_end,
                      struct rl_renumber **out)
{
	struct rl_renumber *h;
	struct stat sst;
	int nfd = -1, r;
	bool linked = false;

	*out = NULL;
	if (!fs || !name || !*name || strchr(name, '/') ||
	    strlen(name) >= sizeof(h->name) || dirfd < 0 || stagefd < 0)
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	snprintf(h->name, sizeof(h->name), "%s", name);
	h->fd = -1;
	h->nfd = -1;
	h->dirfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
	if (h->dirfd < 0 || fstat(dirfd, &h->dst) < 0 ||
	    fstat(stagefd, &sst) < 0) {
		r = RL_NEG_ERRNO();
		goto fail;
	}
	h->fd =
	    openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (h->fd < 0 || fstat(h->fd, &h->st) < 0) {
		r = RL_NEG_ERRNO();
		goto fail;
	}
	if (!S_ISREG(h->st.st_mode)) {
		r = -EINVAL;
		goto fail;
	}
	if (h->st.st_dev != h->dst.st_dev || h->st.st_dev != sst.st_dev ||
	    h->st.st_dev != fs->st_dev) {
		r = -EXDEV;
		goto fail;
	}
	if (h->st.st_nlink != 1) {
		r = -EMLINK;
		goto fail;
	}
	if (pinned_inode(h->fd)) {
		r = -EPERM;
		goto fail;
	}
	/* A write lease: granted only while no one else has the file open
	 * (or mapped), and broken by anyone who opens or truncates it. */
	if (fcntl(h->fd, F_SETLEASE, F_WRLCK) < 0) {
		r = errno == EAGAIN ? -EBUSY : RL_NEG_ERRNO();
		goto fail;
	}
	nfd = openat(stagefd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC,
	             h->st.st_mode & 07777);
	if (nfd < 0) {
		r = RL_NEG_ERRNO();
		goto fail;
	}
	r = new_inode_ok(fs, nfd, avoid_start, avoid_end, &h->ino);
	if (r == 0)
		r = copy_attrs(h->fd, &h->st, nfd);
	if (r == 0)
		r = copy_data(h->fd, nfd, (uint64_t)h->st.st_size);
	/* copied data must be on disk before the name leads to it; a
	 * clone is metadata, logged before the exchange is */
	if (r == 0 && fsync(nfd) < 0)
		r = RL_NEG_ERRNO();
	if (r >= 0) {
		struct timespec ts[2] = {h->st.st_atim, h->st.st_mtim};
		r = futimens(nfd, ts) < 0 ? RL_NEG_ERRNO() : 0;
	}
	if (r == 0 && fcntl(h->fd, F_GETLEASE) != F_WRLCK)
		r = -EBUSY; /* opened meanwhile */
	if (r == 0)
		r = link_temp(nfd, dirfd, h->ino, h->tmp, sizeof(h->tmp));
	if (r < 0)
		goto fail;
	linked = true;
	/* the new inode under a lease too: whoever opens it once it has
	 * the name is seen (and waits) as well */
	if (fcntl(nfd, F_SETLEASE, F_WRLCK) < 0) {
		r = RL_NEG_ERRNO();
		goto fail;
	}
	if (renameat2(dirfd, h->tmp, dirfd, name, RENAME_EXCHANGE) < 0) {
		r = RL_NEG_ERRNO();
		goto fail;
	}
	/* the exchange took the inode we hold, not one renamed there
	 * meanwhile */
	if (!name_is(dirfd, h->tmp, h->st.st_dev, h->st.st_ino)) {
		r = -ESTALE;
		if (renameat2(dirfd, h->tmp, dirfd, name, RENAME_EXCHANGE) < 0)
			linked = false; /* leave both names */
		goto fail;
	}
	h->nfd = nfd;
	*out = h;
	return 0;
fail:
	if (linked)
		(void)unlinkat(dirfd, h->tmp, 0);
	if (nfd >= 0) {
		(void)fcntl(nfd, F_SETLEASE, F_UNLCK);
		close(nfd);
	}
	if (h->fd >= 0 && h->dirfd >= 0 && linked)
		dir_times_back(h->dirfd, &h->dst);
	if (h->fd >= 0) {
		(void)fcntl(h->fd, F_SETLEASE, F_UNLCK);
		close(h->fd);
	}
	if (h->dirfd >= 0)
		close(h->dirfd);
	free(h);
	return r;
}

int rl_renumber_end(struct rl_renumber *h, bool abort, uint64_t *new_ino)
{
	bool old_opened, new_opened;
	int r = 0;

	if (!h)
		return -EINVAL;
	old_opened = abort || fcntl(h->fd, F_GETLEASE) != F_WRLCK;
	new_opened = fcntl(h->nfd, F_GETLEASE) != F_WRLCK;
	if (!old_opened) {
		/* nobody found the old inode by its name: it goes (whoever
		 * opened the new one goes on with it) */
		if (unlinkat(h->dirfd, h->tmp, 0) < 0) {
			r = RL_NEG_ERRNO();
			(void)renumber_back(h);
		} else if (new_ino) {
			*new_ino = h->ino;
		}
	} else if (!new_opened) {
		/* someone found the name before the exchange and opens the
		 * old inode (it waits for the lease): the name goes back to
		 * it, the new one, which nobody opened, goes */
		r = renumber_back(h);
		if (r == 0)
			r = abort ? -ECANCELED : -EBUSY;
	} else {
		/* one opener each: the name goes back to the old inode, the
		 * new one keeps its temporary name, so that what is written
		 * to it is not lost */
		if (renameat2(h->dirfd, h->tmp, h->dirfd, h->name,
		              RENAME_EXCHANGE) < 0)
			r = RL_NEG_ERRNO();
		else
			r = -EAGAIN;
		if (new_ino)
			*new_ino = h->ino;
	}
	renumber_free(h);
	return r;
}

int rl_renumber_file(const struct rl_fs_info *fs, int dirfd, const char *name,
                     int stagefd, uint64_t avoid_start, uint64_t avoid_end,
                     uint64_t *new_ino)
{
	struct rl_renumber *h;
	int r = rl_renumber_begin(fs, dirfd, name, stagefd, avoid_start,
	                          avoid_end, &h);

	return r < 0 ? r : rl_renumber_end(h, false, new_ino);
}

/* The entry src of from into to as name (a rename that replaces
 * nothing); a name that to has already goes to it as
 * "NAME.relayout-twice.K", counted in *twice: both are kept. 1 when src is
 * gone (removed meanwhile), 0 done, or -errno. */
static int put_entry(int from, const char *src, int to, const char *name,
                     size_t *twice)
{
	char alt[NAME_MAX + 1];
	int r;

	if (renameat2(from, src, to, name, RENAME_NOREPLACE) == 0)
		return 0;
	r = RL_NEG_ERRNO();
	for (int k = 0; r == -EEXIST && k < 100; k++) {
		int n = snprintf(alt, sizeof(alt), "%.200s.relayout-twice.%d",
		                 name, k);
		if (n < 0 || (size_t)n >= sizeof(alt))
			break;
		r = renameat2(from, src, to, alt, RENAME_NOREPLACE) == 0
		        ? 0
		        : RL_NEG_ERRNO();
		if (r == 0)
			(*twice)++;
	}
	return r == -ENOENT ? 1 : r;
}

/* Is the entry name of dirfd a directory? (d_type, or a stat when the
 * filesystem does not fill it in) */
static bool entry_is_dir(int dirfd, const struct dirent *e)
{
	struct stat st;

	if (e->d_type != DT_UNKNOWN)
		return e->d_type == DT_DIR;
	return fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISDIR(st.st_mode);
}

/* One entry leaving from for to: where to has the same name for the
 * same inode (a link made by WALK_LINK), it is removed from from (first
 * renamed to a private name there, so what is removed is what was
 * checked); any other entry goes over with put_entry. 1 done, 0 passed
 * over (removed meanwhile), or -errno. */
static int settle_one(int from, int to, const char *name, unsigned *gone_k,
                      size_t *twice)
{
	struct stat fst, tst;
	char gone[64];
	int r;

	if (fstatat(from, name, &fst, AT_SYMLINK_NOFOLLOW) < 0)
		return 0; /* removed meanwhile (or our own private name) */
	if (S_ISDIR(fst.st_mode) ||
	    fstatat(to, name, &tst, AT_SYMLINK_NOFOLLOW) < 0 ||
	    tst.st_ino != fst.st_ino || tst.st_dev != fst.st_dev) {
		r = put_entry(from, name, to, name, twice);
		return r < 0 ? r : !r;
	}
	snprintf(gone, sizeof(gone), ".relayout-gone.%d.%u", (int)getpid(),
	         (*gone_k)++);
	if (renameat2(from, name, from, gone, RENAME_NOREPLACE) < 0)
		return errno == ENOENT ? 0 : RL_NEG_ERRNO();
	if (name_is(from, gone, tst.st_dev, tst.st_ino))
		return unlinkat(from, gone, 0) < 0 ? RL_NEG_ERRNO() : 1;
	/* replaced between the check and the rename */
	r = put_entry(from, gone, to, name, twice);
	return r < 0 ? r : 1;
}

enum walk {
	WALK_LINK, /* a hard link in to of each entry that is not a directory */
	WALK_DIRS, /* each directory renamed into to */
	WALK_SETTLE /* each entry leaves from (settle_one) */
};

/* Each entry of from but . and .. as what says; *n counts the entries
 * done; entries removed meanwhile are passed over. Stops at the first
 * other failure. */
static int walk_entries(int from, int to, enum walk what, size_t *n,
                        size_t *twice)
{
	DIR *d;
	struct dirent *e;
	int dfd = dup(from), r = 0;
	unsigned gone_k = 0;

	if (dfd < 0)
		return RL_NEG_ERRNO();
	d = fdopendir(dfd);
	if (!d) {
		r = RL_NEG_ERRNO();
		close(dfd);
		return r;
	}
	rewinddir(d);
	while (r == 0 && (errno = 0, e = readdir(d)) != NULL) {
		const char *nm = e->d_name;
		bool dir;

		if (!strcmp(nm, ".") || !strcmp(nm, ".."))
			continue;
		if (what == WALK_SETTLE) {
			r = settle_one(from, to, nm, &gone_k, twice);
			if (r > 0)
				(*n)++;
			r = r > 0 ? 0 : r;
			continue;
		}
		dir = entry_is_dir(from, e);
		if (dir != (what == WALK_DIRS))
			continue;
		if ((dir ? renameat2(from, nm, to, nm, RENAME_NOREPLACE)
		         : linkat(from, nm, to, nm, 0)) == 0)
			(*n)++;
		else if (errno != ENOENT)
			r = RL_NEG_ERRNO();
	}
	if (r == 0 && errno)
		r = RL_NEG_ERRNO();
	closedir(d);
	return r;
}

/* What went into the new directory back into the old one (the links
 * removed, the directories renamed back): the directory is as it was. */
static void entries_back(int ofd, int nfd, size_t *twice)
{
	for (int k = 0; k < 8; k++) {
		size_t more = 0;
		if (walk_entries(nfd, ofd, WALK_SETTLE, &more, twice) < 0 ||
		    !more)
			break;
	}
}

static bool same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

int rl_renumber_dir(const struct rl_fs_info *fs, int parentfd, const char *name,
                    int stagefd, const char *newname, uint64_t *new_ino,
                    size_t *twice)
{
	size_t twice0 = 0;
	struct stat st, pst, nst;
	int ofd, nfd = -1, r;
	size_t moved = 0, k;

	if (!fs || !name || !*name || strchr(name, '/') || !newname ||
	    strchr(newname, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	if (fstat(parentfd, &pst) < 0)
		return RL_NEG_ERRNO();
	ofd = openat(parentfd, name,
	             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (ofd < 0)
		return RL_NEG_ERRNO();
	nfd = openat(stagefd, newname,
	             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (nfd < 0) {
		r = RL_NEG_ERRNO();
		goto out;
	}
	if (fstat(ofd, &st) < 0 || fstat(nfd, &nst) < 0) {
		r = RL_NEG_ERRNO();
		goto out;
	}
	/* a mount point (or a directory on another mount) is not ours */
	if (st.st_dev != fs->st_dev || nst.st_dev != fs->st_dev ||
	    pst.st_dev != fs->st_dev) {
		r = -EXDEV;
		goto out;
	}
	if (nst.st_nlink != 2) {
		r = -ENOTEMPTY;
		goto out;
	}
	if (pinned_inode(ofd)) {
		r = -EPERM;
		goto out;
	}
	r = copy_attrs(ofd, &st, nfd);
	/* the files first, as hard links: their names stay in the old
	 * directory too, so a lookup by path finds each of them all along */
	if (r == 0)
		r = walk_entries(ofd, nfd, WALK_LINK, &moved, &twice0);
	/* an entry made, removed or renamed in it meanwhile: not now (the
	 * stat above asked for the time, so a change since has a later one) */
	if (r == 0) {
		struct stat now;
		if (fstat(ofd, &now) < 0)
			r = RL_NEG_ERRNO();
		else if (!same_time(&now.st_mtim, &st.st_mtim))
			r = -EAGAIN;
	}
	/* the directories are renamed, just before the exchange: a lookup
	 * through one of them can miss it for that moment */
	if (r == 0)
		r = walk_entries(ofd, nfd, WALK_DIRS, &moved, &twice0);
	if (r < 0) {
		entries_back(ofd, nfd, &twice0);
		goto out;
	}
	if (renameat2(stagefd, newname, parentfd, name, RENAME_EXCHANGE) < 0) {
		r = RL_NEG_ERRNO();
		entries_back(ofd, nfd, &twice0);
		goto out;
	}
	if (!name_is(stagefd, newname, st.st_dev, st.st_ino)) {
		/* renamed meanwhile: exchange back and return the entries */
		r = -ESTALE;
		if (renameat2(stagefd, newname, parentfd, name,
		              RENAME_EXCHANGE) == 0)
			entries_back(ofd, nfd, &twice0);
		goto out;
	}
	/* the links leave the old directory; entries made in it meanwhile
	 * (by a lookup that found it before the exchange) follow */
	for (k = 0; k < 8; k++) {
		size_t more = 0;
		r = walk_entries(ofd, nfd, WALK_SETTLE, &more, &twice0);
		if (r < 0 || more == 0)
			break;
	}
	if (r == 0 && unlinkat(stagefd, newname, AT_REMOVEDIR) < 0)
		r = RL_NEG_ERRNO();
	if (r < 0) {
		/* the old directory still has entries: it goes back in its
		 * place with all of them */
		if (renameat2(stagefd, newname, parentfd, name,
		              RENAME_EXCHANGE) == 0)
			entries_back(ofd, nfd, &twice0);
		dir_times_back(parentfd, &pst);
		goto out;
	}
	{
		struct timespec ts[2] = {st.st_atim, st.st_mtim};
		(void)futimens(nfd, ts);
	}
	dir_times_back(parentfd, &pst);
	if (r == 0 && new_ino)
		*new_ino = nst.st_ino;
out:
	if (twice)
		*twice = twice0;
	if (nfd >= 0)
		close(nfd);
	close(ofd);
	return r;
}
