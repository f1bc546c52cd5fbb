/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The scan. Worker threads share a queue of directories (paths relative to
 * the root). A worker opens a directory with openat2(root, path,
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV), so no symlink
 * is followed and no other mount entered even if the tree changes under
 * us; reads it with readdir on that fd; opens each regular file relative
 * to it (O_NOFOLLOW, then fstat: a bind mount over a file has another
 * st_dev, a file replaced by something else another type), FIEMAPs it
 * (without FIEMAP_FLAG_SYNC: one syncfs at the start instead); queues the
 * subdirectories. The results of a directory go into the model in one
 * batch under the lock. Queue paths, not fds: a wide tree would otherwise
 * hold thousands of descriptors. Each worker has a file table of its own.
 */
#include "config.h"
#include "scan.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "mem.h"

#define SCAN_MAX_THREADS 16
/* Files of a directory committed to the model at once (at most). */
#define SCAN_BATCH 4096
/* lm_reserve at most this many files from the inode count. */
#define SCAN_RESERVE_MAX (1u << 22)

/* A file or directory seen, waiting for the model. Its path and extents
 * are in its batch's buffers (one allocation per buffer for all of a
 * worker's files, not two per file). */
struct scan_item {
	struct lm_file_info fi;
	size_t path;     /* offset in batch.text */
	size_t ext, n;   /* batch.ext[ext .. ext+n) */
	bool maybe_link; /* nlink > 1: may already be in the model */
};

/* A worker's results not yet in the model; reused for every directory. */
struct batch {
	struct scan_item *v;
	size_t n, cap;
	char *text; /* paths, NUL-terminated */
	size_t tlen, tcap;
	struct rl_extent *ext;
	size_t next, ecap;
	char **dirs; /* subdirectories found (malloc'ed: they are queued) */
	size_t nd, dcap;
	uint64_t skipped, mounts, passed;
	bool attrs; /* read generation and inode flags (scan_opts.attrs) */
	/* ext4, XFS: the blocks of a file its extents leave out */
	bool attrib;
	enum rl_fs_type type;
	struct rl_space_rec *meta; /* xattr blocks */
	size_t nmeta, mcap;
	uint64_t *inos; /* ext4: inodes with blocks still unexplained */
	size_t nino, icap;
};

struct scan_ctx {
	int rootfd;
	dev_t dev;
	struct lm_model *m;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char **queue; /* stack of directory paths */
	size_t nq, qcap;
	int busy;
	int err; /* fatal (ENOMEM) */
	struct scan_stats st;
	uint64_t last_progress;
	const struct scan_opts *o;
	enum rl_fs_type type;
	bool attrib;
	bool attrs;
	struct rl_space_rec *meta; /* owners found beside GETFSMAP's */
	size_t nmeta, mcap;
	uint64_t *inos;
	size_t nino, icap;
};

int scan_open_beneath(int rootfd, const char *path, int flags)
{
	struct open_how how = {
	    .flags = (uint64_t)flags,
	    .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV,
	};
	long fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

static char *join(const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);
	char *p;

	if (strcmp(dir, ".") == 0)
		return strdup(name);
	p = malloc(a + b + 2);
	if (!p)
		return NULL;
	memcpy(p, dir, a);
	p[a] = '/';
	memcpy(p + a + 1, name, b + 1);
	return p;
}

/* Extents with no flag but these: plain allocated blocks. */
#define SCAN_PLAIN_EXT (RL_EXT_LAST | RL_EXT_UNWRITTEN | RL_EXT_MERGED)

/* The extents of fd (whose fstat is st) appended to b->ext (the file's
 * start at b->ext[first]).
 *
 * A FIEMAP of the whole address range costs a second mapping lookup in
 * the filesystem past the last extent (ext4, XFS: the hole up to the
 * largest offset; 7 % of a scan). So a regular file is asked for
 * [0, st_size) first, and that answer is taken when it accounts for
 * every allocated block: its extents are plain (nothing inline,
 * encoded, delayed, ...: their lengths are blocks on disk) and add up to
 * st_blocks * 512, which counts every block of the file (ext4, XFS and
 * btrfs count delayed allocations in it too), so nothing lies past
 * st_size. Otherwise (blocks past the end of file, preallocated or
 * speculative; extent-tree or xattr blocks counted in st_blocks; inline
 * or compressed data) the whole range is asked. An empty file without
 * blocks has no extents: no FIEMAP at all.
 *
 * No FIEMAP_FLAG_SYNC: scan_volume did one syncfs. A file dirtied since
 * then shows delayed allocation: it is asked again with the flush, as
 * before (rare: only files written during the scan). */
static int file_extents(int fd, const struct stat *st, struct batch *b,
                        size_t first)
{
	int r;

	if (S_ISREG(st->st_mode) && st->st_size > 0) {
		uint64_t sum = 0;
		bool plain = true;

		r = rl_get_extents_append(fd, 0, (uint64_t)st->st_size, false,
		                          &b->ext, &b->ecap, &b->next);
		for (size_t i = first; r == 0 && i < b->next; i++) {
			sum += b->ext[i].length;
			if (b->ext[i].flags & ~(uint32_t)SCAN_PLAIN_EXT)
				plain = false;
		}
		if (r == 0 && plain && sum == (uint64_t)st->st_blocks * 512)
			return 0;
		b->next = first;
	} else if (S_ISREG(st->st_mode) && st->st_blocks == 0) {
		return 0;
	}
	r = rl_get_extents_append(fd, 0, 0, false, &b->ext, &b->ecap, &b->next);
	for (size_t i = first; r == 0 && i < b->next; i++)
		if (b->ext[i].flags & (RL_EXT_DELALLOC | RL_EXT_UNKNOWN)) {
			b->next = first;
			return rl_get_extents_append(fd, 0, 0, true, &b->ext,
			                             &b->ecap, &b->next);
		}
	return r;
}

/* The blocks of fd (st: its fstat, it: its item with the extents) that
 * its extents leave out but st_blocks counts: its xattr blocks (ext4, XFS:
 * FIEMAP_FLAG_XATTR) become metadata records of the batch; on ext4 an
 * inode that still has blocks unexplained (extent-tree blocks, which only
 * the on-disk inode tells) is listed for rl_meta_walk. */
static void attribute_rest(int fd, const struct stat *st, struct batch *b,
                           const struct scan_item *it)
{
	uint64_t sum = 0, blocks = (uint64_t)st->st_blocks * 512;
	struct rl_extent *x = NULL;
	size_t n = 0;

	for (size_t i = it->ext; i < it->ext + it->n; i++)
		sum += b->ext[i].length;
	if (sum >= blocks)
		return;
	if (rl_get_xattr_extents(fd, &x, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			struct rl_space_rec *r;
			if (x[i].flags & (RL_EXT_DATA_INLINE | RL_EXT_DELALLOC |
			                  RL_EXT_UNKNOWN) ||
			    !x[i].length)
				continue;
			if (mem_grow(&b->meta, &b->mcap, b->nmeta + 1,
			             sizeof(*b->meta)) < 0)
				break;
			r = &b->meta[b->nmeta++];
			memset(r, 0, sizeof(*r));
			r->start = x[i].physical;
			r->length = x[i].length;
			r->kind = RL_SPACE_METADATA;
			r->owner = (uint64_t)st->st_ino;
			snprintf(r->what, sizeof(r->what), "xattr");
			sum += x[i].length;
		}
		free(x);
	}
	if (sum < blocks && b->type == RL_FS_EXT4 &&
	    mem_grow(&b->inos, &b->icap, b->nino + 1, sizeof(*b->inos)) == 0)
		b->inos[b->nino++] = (uint64_t)st->st_ino;
}

/* Data stored inside metadata (btrfs inline extents, ext4 inline data:
 * FIEMAP's DATA_INLINE) has no blocks of its own: left out of the
 * file's extents, so that it is not drawn where FIEMAP's address for it
 * points (0 on btrfs). */
static void drop_inline(struct batch *b, struct scan_item *it)
{
	size_t k = it->ext;

	for (size_t i = it->ext; i < it->ext + it->n; i++)
		if (!(b->ext[i].flags & RL_EXT_DATA_INLINE))
			b->ext[k++] = b->ext[i];
	it->n = k - it->ext;
	b->next = k;
}

int scan_file_attrs(int fd, uint64_t *ino, struct lm_file_info *fi)
{
	uint64_t gen;
	uint32_t fl;
	bool gk;
	int r = rl_file_identity(fd, ino, &gen, &gk);

	fi->flags |= LM_FILE_ATTRS_READ;
	if (r < 0)
		return r;
	if (gk) {
		fi->generation = (uint32_t)gen;
		fi->flags |= LM_FILE_HAS_GEN;
	}
	if (rl_file_iflags(fd, &fl) == 0) {
		fi->iflags = fl;
		fi->flags |= LM_FILE_HAS_IFLAGS;
	}
	return 0;
}

/* Stat and FIEMAP of an open file or directory (st: its fstat) into item
 * it of batch b. The generation and inode flags are read here only when
 * asked (scan_opts.attrs: two ioctls per file, 7 % of a scan); else the
 * commands that need them read them for the few files they show or move
 * (session_file_attrs). */
static void describe(int fd, const struct stat *stp, struct batch *b,
                     struct scan_item *it)
{
	struct stat st;
	int r;

	if (stp) {
		st = *stp;
	} else if (fstat(fd, &st) < 0) {
		it->fi.err = -errno;
		return;
	}
	it->fi.ino = st.st_ino;
	it->fi.size = (uint64_t)st.st_size;
	it->fi.mode = st.st_mode;
	it->maybe_link = S_ISREG(st.st_mode) && st.st_nlink > 1;
	it->ext = b->next;
	r = file_extents(fd, &st, b, it->ext);
	it->n = b->next - it->ext;
	if (r < 0) {
		it->fi.err = r;
		return;
	}
	drop_inline(b, it);
	if (b->attrib)
		attribute_rest(fd, &st, b, it);
	if (b->attrs && S_ISREG(st.st_mode))
		(void)scan_file_attrs(fd, NULL,
		                      &it->fi); /* (the ino is st's) */
}

/* A new item whose path is dir/name (dir: dlen bytes; name alone when
 * dlen is 0) or, when name is NULL, dir itself; NULL when out of
 * memory. */
static struct scan_item *batch_new(struct batch *b, const char *dir,
                                   size_t dlen, const char *name)
{
	bool top = !name || !dlen;
	size_t a = top ? 0 : dlen, l = strlen(name ? name : dir);
	size_t need = b->tlen + a + 1 + l + 1;

	if (mem_grow(&b->v, &b->cap, b->n + 1, sizeof(*b->v)) < 0 ||
	    mem_grow(&b->text, &b->tcap, need, 1) < 0)
		return NULL;
	struct scan_item *it = &b->v[b->n++];
	memset(it, 0, sizeof(*it));
	it->path = b->tlen;
	if (!top) {
		memcpy(b->text + b->tlen, dir, a);
		b->text[b->tlen + a] = '/';
		b->tlen += a + 1;
	}
	memcpy(b->text + b->tlen, name ? name : dir, l + 1);
	b->tlen += l + 1;
	return it;
}

/* Forget the newest item (its path and extents too). */
static void batch_drop(struct batch *b)
{
	struct scan_item *it = &b->v[--b->n];

	b->tlen = it->path;
	if (it->n)
		b->next = it->ext;
}

static int batch_dir(struct batch *b, char *path)
{
	if (mem_grow(&b->dirs, &b->dcap, b->nd + 1, sizeof(*b->dirs)) < 0)
		return -ENOMEM;
	b->dirs[b->nd++] = path;
	return 0;
}

static void progress(struct scan_ctx *c, bool force)
{
	uint64_t done = c->st.files + c->st.dirs;

	if (!c->o || !c->o->progress)
		return;
	if (!force && done - c->last_progress < 1000)
		return;
	c->last_progress = done;
	c->o->progress(&c->st, c->o->arg);
}

/* Put a directory's results into the model; queue its subdirectories. */
static int commit(struct scan_ctx *c, struct batch *b)
{
	int ret = 0;

	pthread_mutex_lock(&c->lock);
	/* the hash slots of the whole batch at once: one wait for memory
	 * per batch instead of one per file and table */
	for (size_t i = 0; i < b->n; i++)
		lm_prefetch(c->m, b->v[i].fi.ino, b->text + b->v[i].path);
	for (size_t i = 0; i < b->n; i++) {
		struct scan_item *it = &b->v[i];
		const char *path = b->text + it->path;
		const struct rl_extent *ext = b->ext + it->ext;
		uint32_t id = LM_NONE;
		int r = -EEXIST;

		/* Only a file with several links can be there already;
		 * lm_add_file checks the inode anyway (-EEXIST). */
		if (it->fi.ino && it->maybe_link)
			id = lm_find_inode(c->m, it->fi.ino);
		if (id == LM_NONE)
			r = lm_add_file(c->m, &it->fi, path, ext, it->n, &id);
		if (r == -EEXIST && id == LM_NONE && it->fi.ino)
			id = lm_find_inode(c->m, it->fi.ino);
		if (r == -EINVAL && it->n) {
			/* extents the model refuses (beyond the size the
			 * probe gave): keep the file, flag it */
			it->fi.err = -ERANGE;
			r = lm_add_file(c->m, &it->fi, path, NULL, 0, &id);
		}
		if (r == 0) {
			if (S_ISDIR(it->fi.mode))
				c->st.dirs++;
			else
				c->st.files++;
			c->st.extents += it->n;
			for (size_t k = 0; k < it->n; k++)
				c->st.bytes += ext[k].length;
			if (it->fi.err)
				c->st.errors++;
		} else if (r == -EEXIST && id != LM_NONE) {
			if (lm_add_path(c->m, id, path) == 0)
				c->st.hardlinks++;
		} else if (r == -ENOMEM || r == -E2BIG) {
			ret = r;
		} else {
			c->st.errors++;
		}
	}
	c->st.skipped += b->skipped;
	c->st.mounts += b->mounts;
	c->st.passed += b->passed;
	if (ret == 0 && b->nmeta &&
	    mem_grow(&c->meta, &c->mcap, c->nmeta + b->nmeta,
	             sizeof(*c->meta)) == 0) {
		memcpy(c->meta + c->nmeta, b->meta,
		       b->nmeta * sizeof(*b->meta));
		c->nmeta += b->nmeta;
	}
	if (ret == 0 && b->nino &&
	    mem_grow(&c->inos, &c->icap, c->nino + b->nino, sizeof(*c->inos)) ==
	        0) {
		memcpy(c->inos + c->nino, b->inos, b->nino * sizeof(*b->inos));
		c->nino += b->nino;
	}
	b->nmeta = b->nino = 0;
	b->n = b->tlen = b->next = 0;
	b->skipped = b->mounts = b->passed = 0;
	for (size_t i = 0; i < b->nd; i++) {
		if (ret == 0)
			ret = mem_grow(&c->queue, &c->qcap, c->nq + 1,
			               sizeof(*c->queue));
		if (ret == 0)
			c->queue[c->nq++] = b->dirs[i];
		else
			free(b->dirs[i]);
	}
	b->nd = 0;
	if (ret < 0 && !c->err)
		c->err = ret;
	progress(c, false);
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	return ret;
}

/* open and close as plain system calls: glibc's wrappers are
 * cancellation points, and in a threaded process each call records that
 * around the system call (2 % of a scan); workers are never cancelled.
 * No O_NOATIME: no file is read (it made every open of another user's
 * file fail with EPERM first). */
static int open_file_at(int dfd, const char *name)
{
	long fd =
	    syscall(SYS_openat, dfd, name,
	            O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

	return fd < 0 ? -errno : (int)fd;
}

static void close_file(int fd)
{
	(void)syscall(SYS_close, fd);
}

/* Regular file (or DT_UNKNOWN entry) nm of directory dfd (path; its
 * first plen bytes prefix the entries' paths): -ENOMEM or 0. */
static int scan_file(struct scan_ctx *c, struct batch *b, int dfd,
                     const char *path, size_t plen, const char *nm,
                     uint64_t dino)
{
	struct scan_item *it = batch_new(b, path, plen, nm);
	struct stat st;
	int ffd;

	if (!it)
		return -ENOMEM;
	ffd = open_file_at(dfd, nm);
	if (ffd < 0) {
		it->fi.err = ffd;
		it->fi.ino = dino;
		it->fi.mode = S_IFREG;
		if (ffd == -ELOOP) { /* replaced by a symlink */
			batch_drop(b);
			b->skipped++;
		}
		return 0;
	}
	if (fstat(ffd, &st) < 0) {
		it->fi.err = -errno;
		it->fi.ino = dino;
		it->fi.mode = S_IFREG;
	} else if (st.st_dev != c->dev || !S_ISREG(st.st_mode)) {
		/* a bind-mounted file, or changed type: skip */
		if (st.st_dev != c->dev)
			b->mounts++;
		else
			b->skipped++;
		batch_drop(b);
	} else {
		describe(ffd, &st, b, it);
	}
	close_file(ffd);
	return 0;
}

/* Is ino in the sorted list of scan_opts.only? */
static bool only_has(const struct scan_opts *o, uint64_t ino)
{
	size_t lo = 0, hi = o->nonly;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (o->only[mid] == ino)
			return true;
		if (o->only[mid] < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static void scan_dir(struct scan_ctx *c, struct batch *b, char *path)
{
	struct scan_item *self;
	struct dirent *de;
	DIR *d;
	size_t plen;
	int fd;

	/* the prefix of its entries' paths: none for the root "." */
	plen = strcmp(path, ".") == 0 ? 0 : strlen(path);
	self = batch_new(b, path, plen, NULL);
	if (!self)
		goto oom;
	fd = scan_open_beneath(c->rootfd, path,
	                       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -EXDEV) { /* a mount point appeared: not ours */
		batch_drop(b);
		b->mounts++;
		commit(c, b);
		goto out;
	}
	if (fd < 0) {
		struct stat st;
		self->fi.err = fd;
		self->fi.mode = S_IFDIR;
		if (fstatat(c->rootfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    st.st_dev == c->dev) {
			self->fi.ino = st.st_ino;
			self->fi.mode = st.st_mode;
		}
		commit(c, b);
		goto out;
	}
	describe(fd, NULL, b, self);
	if (c->o && c->o->no_descend) { /* the directory itself only */
		close(fd);
		commit(c, b);
		goto out;
	}
	d = fdopendir(fd);
	if (!d) {
		self->fi.err = -errno;
		close(fd);
		commit(c, b);
		goto out;
	}
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		const char *nm = de->d_name;
		unsigned char type = de->d_type;

		if (nm[0] == '.' && (!nm[1] || (nm[1] == '.' && !nm[2])))
			continue;
		if (type == DT_UNKNOWN) {
			struct stat st;
			if (fstatat(dirfd(d), nm, &st, AT_SYMLINK_NOFOLLOW) ==
			    0)
				type = IFTODT(st.st_mode);
		}
		if (type == DT_DIR) {
			char *sub = join(path, nm);
			if (!sub || batch_dir(b, sub) < 0) {
				free(sub);
				goto oom_dir;
			}
			continue;
		}
		if (type != DT_REG && type != DT_UNKNOWN) {
			b->skipped++;
			continue;
		}
		if (c->o->only && !only_has(c->o, de->d_ino)) {
			b->passed++;
			continue;
		}
		if (scan_file(c, b, dirfd(d), path, plen, nm, de->d_ino) < 0)
			goto oom_dir;
		if (b->n >= SCAN_BATCH) { /* huge directory: in batches */
			if (commit(c, b) < 0)
				break;
		}
	}
	closedir(d);
	commit(c, b);
	goto out;
oom_dir:
	closedir(d);
	commit(c, b);
oom:
	pthread_mutex_lock(&c->lock);
	if (!c->err)
		c->err = -ENOMEM;
	pthread_mutex_unlock(&c->lock);
out:
	free(path);
}

static void *worker(void *arg)
{
	struct scan_ctx *c = arg;
	struct batch b = {
	    .attrib = c->attrib, .attrs = c->attrs, .type = c->type};

	/* A file table of its own (a copy: rootfd stays valid): with one
	 * shared by threads every fd system call takes and drops a
	 * reference to the file and every open and close takes the table's
	 * lock, shared with the other workers (5 % of a 2-thread scan).
	 * Failing that, the shared table works too. */
	(void)unshare(CLONE_FILES);
	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (c->nq == 0 && c->busy > 0 && !c->err)
			pthread_cond_wait(&c->cond, &c->lock);
		if (c->err || (c->nq == 0 && c->busy == 0))
			break;
		char *path = c->queue[--c->nq];
		c->busy++;
		pthread_mutex_unlock(&c->lock);
		scan_dir(c, &b, path);
		pthread_mutex_lock(&c->lock);
		c->busy--;
		pthread_cond_broadcast(&c->cond);
	}
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	free(b.v);
	free(b.text);
	free(b.ext);
	free(b.dirs);
	free(b.meta);
	free(b.inos);
	return NULL;
}

struct space_buf {
	struct rl_space_rec *v;
	size_t n, cap;
};

static int space_cb(const struct rl_space_rec *rec, void *arg)
{
	struct space_buf *sb = arg;

	if (rec->kind != RL_SPACE_FREE && rec->kind != RL_SPACE_METADATA)
		return 0;
	if (mem_grow(&sb->v, &sb->cap, sb->n + 1, sizeof(*sb->v)) < 0)
		return -ENOMEM;
	sb->v[sb->n++] = *rec;
	return 0;
}

static int meta_cb(const struct rl_space_rec *rec, void *arg)
{
	struct scan_ctx *c = arg;

	if (mem_grow(&c->meta, &c->mcap, c->nmeta + 1, sizeof(*c->meta)) < 0)
		return -ENOMEM;
	c->meta[c->nmeta++] = *rec;
	return 0;
}

static int rec_cmp(const void *a, const void *b)
{
	const struct rl_space_rec *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->length != y->length)
		return x->length < y->length ? -1 : 1;
	return strcmp(x->what, y->what);
}

/* The owners found beside the space map (c->meta: xattr blocks, and
 * rl_meta_walk's journal, extent trees, XFS log, AG headers, inode
 * chunks) into the model as metadata, each the parts of it that no free
 * or metadata record of the space map (sb, sorted) covers: a duplicate
 * (a shared xattr block) is added once, adjacent ones of one kind as one.
 * Returns 0 or -ENOMEM. */
static int add_attributed(struct scan_ctx *c, const struct space_buf *sb)
{
	size_t j = 0;

	mem_sort(c->meta, c->nmeta, sizeof(*c->meta), rec_cmp);
	/* duplicates dropped, neighbours of one kind merged (XFS inode
	 * clusters, a journal in several extents): fewer model records */
	size_t kept = 0;
	for (size_t i = 0; i < c->nmeta; i++) {
		struct rl_space_rec *p = kept ? &c->meta[kept - 1] : NULL;
		if (p && rec_cmp(&c->meta[i], p) == 0)
			continue;
		if (p && p->start + p->length == c->meta[i].start &&
		    !strcmp(p->what, c->meta[i].what)) {
			p->length += c->meta[i].length;
			continue;
		}
		c->meta[kept++] = c->meta[i];
	}
	c->nmeta = kept;
	for (size_t i = 0; i < c->nmeta; i++) {
		const struct rl_space_rec *x = &c->meta[i];
		uint64_t a = x->start, end = x->start + x->length;

		while (j < sb->n && sb->v[j].start + sb->v[j].length <= a)
			j++;
		for (size_t k = j; a < end; k++) {
			uint64_t b = end;
			if (k < sb->n && sb->v[k].start < end)
				b = sb->v[k].start > a ? sb->v[k].start : a;
			if (b > a) {
				c->st.attributed += b - a;
				if (lm_add_metadata(c->m, a, b - a, x->what) ==
				    -ENOMEM)
					return -ENOMEM;
			}
			if (k >= sb->n || sb->v[k].start >= end)
				break;
			uint64_t e = sb->v[k].start + sb->v[k].length;
			if (e > a)
				a = e;
		}
	}
	return 0;
}

struct held_ctx {
	struct rl_free_extent *v;
	size_t n, cap;
	struct lm_model *m;
};

static int unowned_cb(const struct lm_owner *o, void *arg)
{
	struct held_ctx *h = arg;

	if (o->kind != LM_OWN_UNKNOWN)
		return 0;
	if (mem_grow(&h->v, &h->cap, h->n + 1, sizeof(*h->v)) < 0)
		return -ENOMEM;
	h->v[h->n].start = o->start;
	h->v[h->n++].len = o->length;
	return 0;
}

static int held_cb(const struct rl_space_rec *rec, void *arg)
{
	struct held_ctx *h = arg;
	int r = lm_add_metadata(h->m, rec->start, rec->length, rec->what);

	return r == -ENOMEM ? r : 0;
}

/* ext4: what is still in use without an owner but free in the on-disk
 * bitmaps (the allocator holds it) as metadata "allocator-held". Errors
 * but -ENOMEM leave it unnamed. */
static int add_held(struct scan_ctx *c, const struct rl_fs_info *fs)
{
	struct held_ctx h = {.m = c->m};
	int r = lm_owners(c->m, 0, lm_geometry(c->m)->fs.size, unowned_cb, &h);

	if (r == 0 && h.n)
		r = rl_ext4_held_walk(fs, h.v, h.n, held_cb, &h);
	free(h.v);
	return r == -ENOMEM ? r : 0;
}

static int space_start_cmp(const void *a, const void *b)
{
	const struct rl_space_rec *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

int scan_volume(const struct rl_fs_info *fs, const struct scan_opts *o,
                struct lm_model **out, struct scan_stats *st)
{
	struct scan_ctx c;
	struct lm_geometry g;
	struct space_buf sb = {0};
	pthread_t th[SCAN_MAX_THREADS];
	int nth = o && o->threads > 0 ? o->threads : 2, started = 0, r;
	struct timespec t0, t1;
	struct stat rst;
	struct statfs sfs;

	*out = NULL;
	memset(st, 0, sizeof(*st));
	if (nth > SCAN_MAX_THREADS)
		nth = SCAN_MAX_THREADS;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(&c, 0, sizeof(c));
	c.o = o;
	c.type = fs->type;
	c.attrib = fs->type == RL_FS_EXT4 || fs->type == RL_FS_XFS;
	c.attrs = o && o->attrs;
	c.rootfd = open(fs->mountpoint,
	                O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (c.rootfd < 0)
		return -errno;
	if (fstat(c.rootfd, &rst) < 0) {
		r = -errno;
		close(c.rootfd);
		return r;
	}
	c.dev = rst.st_dev;
	/* One syncfs instead of FIEMAP_FLAG_SYNC per file (a flush check
	 * per file, and a write-back wait on every dirty one, one by one):
	 * only files dirtied after this point show delalloc extents, and
	 * describe() asks those again with the flush. Failure (EPERM, EIO)
	 * is not fatal: those files then take that second FIEMAP. */
	(void)syncfs(c.rootfd);
	lm_geometry_from_fs(&g, fs);
	c.m = lm_new(&g);
	c.queue = malloc(256 * sizeof(char *));
	if (c.m && fstatfs(c.rootfd, &sfs) == 0 && sfs.f_files > sfs.f_ffree) {
		/* about as many files as inodes in use (ext4, XFS; btrfs
		 * has no count): hash tables sized once, not regrown; a
		 * partial scan records the files let through (and the
		 * directories: grown as they come) */
		uint64_t used = (uint64_t)(sfs.f_files - sfs.f_ffree);
		if (o && o->only && o->nonly < used)
			used = o->nonly;
		if (lm_reserve(c.m, used < SCAN_RESERVE_MAX
		                        ? used
		                        : SCAN_RESERVE_MAX) < 0) {
			lm_free(c.m);
			c.m = NULL;
		}
	}
	if (!c.m || !c.queue) {
		lm_free(c.m);
		free(c.queue);
		close(c.rootfd);
		return -ENOMEM;
	}
	c.qcap = 256;
	if (o && o->nroots) {
		if (mem_grow(&c.queue, &c.qcap, o->nroots, sizeof(*c.queue)) <
		    0) {
			r = -ENOMEM;
			goto fail;
		}
		for (size_t i = 0; i < o->nroots; i++) {
			c.queue[c.nq] = strdup(o->roots[i]);
			if (!c.queue[c.nq]) {
				r = -ENOMEM;
				goto fail;
			}
			c.nq++;
		}
	} else {
		c.queue[c.nq++] = strdup(".");
		if (!c.queue[0]) {
			r = -ENOMEM;
			goto fail;
		}
	}
	pthread_mutex_init(&c.lock, NULL);
	pthread_cond_init(&c.cond, NULL);
	for (int i = 0; i < nth; i++)
		if (pthread_create(&th[i], NULL, worker, &c) == 0)
			started++;
	if (!started)
		worker(&c);
	/* meanwhile: the free-space map */
	r = o && o->no_free_map
	        ? 0
	        : rl_space_walk(fs->mountpoint, 0, 0, space_cb, &sb);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&c.lock);
	pthread_cond_destroy(&c.cond);
	if (r == -ENOMEM || c.err) {
		r = c.err ? c.err : r;
		goto fail;
	}
	if (r < 0) {
		c.st.free_map_err = r;
		lm_set_free_map_status(c.m, r);
	} else {
		for (size_t i = 0; i < sb.n; i++) {
			const struct rl_space_rec *x = &sb.v[i];
			int e = x->kind == RL_SPACE_FREE
			            ? lm_add_free(c.m, x->start, x->length)
			            : lm_add_metadata(c.m, x->start, x->length,
			                              x->what);
			if (e == -ENOMEM) {
				r = e;
				goto fail;
			}
			if (e == 0 && x->kind == RL_SPACE_FREE)
				c.st.free_records++;
			else if (e == 0)
				c.st.meta_records++;
		}
	}
	if (r >= 0 && c.attrib && !(o && o->only) &&
	    !(fs->type == RL_FS_XFS && (fs->features & RL_FEAT_RMAPBT))) {
		/* the rest where the filesystem lets us: errors (no read
		 * access to the device) leave those owners unnamed. Not for
		 * a partial model (a defrag of a few files: nothing it plans
		 * asks whose metadata a used block is; 54 reads of the
		 * device's btree blocks were 3 ms of a 30 ms XFS defrag) */
		r = rl_meta_walk(fs, c.inos, c.nino, meta_cb, &c);
		if (r == -ENOMEM)
			goto fail;
	}
	if (c.attrib) {
		mem_sort(sb.v, sb.n, sizeof(*sb.v), space_start_cmp);
		r = add_attributed(&c, &sb);
		if (r == 0 && fs->type == RL_FS_EXT4)
			r = add_held(&c, fs);
		if (r < 0)
			goto fail;
	}
	free(sb.v);
	sb.v = NULL;
	r = lm_trim(c.m); /* lm_sync + give back growth slack */
	if (r < 0)
		goto fail;
	lm_set_created(c.m, (int64_t)time(NULL));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	c.st.seconds = (double)(t1.tv_sec - t0.tv_sec) +
	               (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	progress(&c, true);
	*st = c.st;
	*out = c.m;
	for (size_t i = 0; i < c.nq; i++)
		free(c.queue[i]);
	free(c.queue);
	free(c.meta);
	free(c.inos);
	close(c.rootfd);
	return 0;
fail:
	free(sb.v);
	free(c.meta);
	free(c.inos);
	for (size_t i = 0; i < c.nq; i++)
		free(c.queue[i]);
	free(c.queue);
	lm_free(c.m);
	close(c.rootfd);
	return r;
}
