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

int rl_inode_chunks(const struct rl_fs_info *fs, uint64_t start, uint64_t end,
                    rl_chunk_cb cb, void *arg)
{
	struct rl_xfs_inogrp grp[256];
	struct rl_xfs_fsop_bulkreq req;
	__u64 last = 0;
	int32_t got = 0;
	int fd, r = 0;

	if (!cb || start > end)
		return -EINVAL;
	fd = xfs_root_open(fs);
	if (fd < 0)
		return fd;
	for (;;) {
		memset(&req, 0, sizeof(req));
		req.lastip = &last;
		req.icount = (int32_t)(sizeof(grp) / sizeof(grp[0]));
		req.ubuffer = grp;
		req.ocount = &got;
		if (ioctl(fd, RL_XFS_IOC_FSINUMBERS, &req) < 0) {
			r = RL_NEG_ERRNO();
			break;
		}
		if (got <= 0)
			break;
		for (int32_t i = 0; r == 0 && i < got; i++) {
			uint64_t a = rl_inode_addr(fs, grp[i].xi_startino);
			if (a >= start && a < end)
				r = cb(grp[i].xi_startino, grp[i].xi_allocmask,
				       a, arg);
		}
		if (r)
			break;
	}
	close(fd);
	return r;
}

/* Inodes per XFS_IOC_BULKSTAT call (192 bytes each). */
#define BULK_N 512
/* Threads of a walk: one AG each at a time (the kernel reads each inode,
 * and its cluster buffers, per call: the AGs are independent). */
#define WALK_THREADS_MAX 8
#ifndef RL_XFS_BULK_IREQ_AGNO
#define RL_XFS_BULK_IREQ_AGNO 1u
#endif

/* Bulkstat from req->ino on (with RL_XFS_BULK_IREQ_AGNO in req->flags:
 * to the end of AG req->agno), each inode handed to each(). */
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

/* One AG's inodes, gathered by a thread of the walk. */
struct walk_ag {
	struct rl_inode_stat *v;
	size_t n, cap;
	int err;
};

struct walk_ctx {
	pthread_mutex_t lock;
	int fd;
	uint64_t next, count; /* the next AG to take, the AGs */
	struct walk_ag *ags;
};

static int gather(const struct rl_inode_stat *is, void *arg)
{
	struct walk_ag *a = arg;

	if (a->n == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 1024;
		void *v = realloc(a->v, cap * sizeof(*a->v));
		if (!v)
			return -ENOMEM;
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = *is;
	return 0;
}

static void *walk_worker(void *arg)
{
	struct walk_ctx *w = arg;
	struct rl_xfs_bulk_ireq *req =
	    calloc(1, sizeof(*req) + BULK_N * sizeof(struct rl_xfs_bulkstat));

	for (;;) {
		uint64_t ag;

		pthread_mutex_lock(&w->lock);
		ag = w->next < w->count ? w->next++ : UINT64_MAX;
		pthread_mutex_unlock(&w->lock);
		if (ag == UINT64_MAX)
			break;
		if (!req) {
			w->ags[ag].err = -ENOMEM;
			continue;
		}
		memset(req, 0, sizeof(*req));
		req->flags = RL_XFS_BULK_IREQ_AGNO;
		req->agno = (uint32_t)ag;
		w->ags[ag].err = bulk_run(w->fd, req, gather, &w->ags[ag]);
	}
	free(req);
	return NULL;
}

/* The AGs walked by threads, then cb called in inode order. 1: no thread
 * started, or a kernel without the per-AG walk (the caller walks alone;
 * cb not called yet), else 0 or -errno. */
static int walk_parallel(int fd, uint64_t agcount, int nth, rl_inode_cb cb,
                         void *arg)
{
	struct walk_ctx w = {.fd = fd, .count = agcount};
	pthread_t th[WALK_THREADS_MAX];
	int started = 0, r = 0;

	w.ags = calloc(w.count, sizeof(*w.ags));
	if (!w.ags)
		return -ENOMEM;
	pthread_mutex_init(&w.lock, NULL);
	for (int i = 0; i < nth; i++)
		if (pthread_create(&th[i], NULL, walk_worker, &w) == 0)
			started++;
	if (started == 0)
		r = 1;
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&w.lock);
	for (uint64_t ag = 0; r == 0 && ag < w.count; ag++)
		if (w.ags[ag].err == -EINVAL) /* before 5.5: no per-AG walk */
			r = 1;
	for (uint64_t ag = 0; r == 0 && ag < w.count; ag++) {
		r = w.ags[ag].err;
		for (size_t i = 0; r == 0 && i < w.ags[ag].n; i++)
			r = cb(&w.ags[ag].v[i], arg);
	}
	for (uint64_t ag = 0; ag < w.count; ag++)
		free(w.ags[ag].v);
	free(w.ags);
	return r;
}

int rl_inode_walk(const struct rl_fs_info *fs, rl_inode_cb cb, void *arg)
{
	struct rl_xfs_bulk_ireq *req;
	struct rl_xfs_fsop_geom g = {0};
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int fd, r = 1;

	if (!cb)
		return -EINVAL;
	fd = xfs_root_open(fs);
	if (fd < 0)
		return fd;
	/* the AGs now (not fs's count from the probe: a grown volume has
	 * more, and a walk by AG would miss their inodes) */
	if (cpus > 1 && ioctl(fd, RL_XFS_IOC_FSGEOMETRY, &g) == 0 &&
	    g.agcount > 1) {
		int nth =
		    (int)(cpus < WALK_THREADS_MAX ? cpus : WALK_THREADS_MAX);
		if ((uint32_t)nth > g.agcount)
			nth = (int)g.agcount;
		r = walk_parallel(fd, g.agcount, nth, cb, arg);
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
