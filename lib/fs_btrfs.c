/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * btrfs space map from its trees (BTRFS_IOC_TREE_SEARCH_V2).
 *
 * btrfs has no GETFSMAP. Its address space is the *logical* one, cut into
 * chunks (= block groups) of one type each: DATA, METADATA, SYSTEM (or
 * DATA|METADATA on "mixed" filesystems). What a chunk does not hold is
 * recorded by the extent tree: EXTENT_ITEM (key offset = length) and, with
 * skinny metadata, METADATA_ITEM (key offset = tree level, length = node
 * size). So:
 *
 *  - the chunk list comes from the chunk tree (tree 3, CHUNK_ITEM 228,
 *    key offset = logical start). Every chunk has exactly one block group
 *    with the same start, length and type; the chunk tree is small and
 *    always separate, while the BLOCK_GROUP_ITEMs sit either in the block
 *    group tree (11) or interleaved with every extent of the extent tree.
 *    The device items (DEV_ITEM 216, same tree) give the unallocated bytes.
 *  - inside each chunk the extent tree is read in key order; the gaps
 *    between extents are free.
 *
 * Records emitted, in logical address order:
 *  - DATA, owner 0, what "data": a data extent (btrfs does not say which
 *    file without a backref walk). Shared (reflinked) extents are reported
 *    once, without RL_SPACE_F_SHARED.
 *  - METADATA "tree-block": a tree block.
 *  - FREE "free": a gap inside a block group that takes data. Only this
 *    space (and unallocated space) can receive file data.
 *  - METADATA "metadata-bg" / "system-bg": a gap inside a metadata or
 *    system block group: free for the filesystem, never for file data.
 *  - FREE "unallocated": device space no chunk uses yet (sum over devices
 *    of DEV_ITEM total_bytes - bytes_used, raw device bytes). It has no
 *    logical address; we report it at the logical addresses just past the
 *    highest chunk, where the next chunk will be placed, for exactly that
 *    many bytes. (With DUP/RAID1 profiles a chunk takes more device bytes
 *    than logical bytes: this is an upper bound of what new chunks get.)
 *  - Logical ranges that no chunk covers (below the first chunk, holes
 *    left by removed chunks) are not reported at all.
 *
 * Empty block groups are removed in the background: we syncfs() first and
 * the answer may change at any time after.
 */
#include "config.h"
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "fs_internal.h"

#define BT_BUF_SIZE (64 * 1024)

/* ----------------------------------------------------- tree search iter */

struct bt_key {
	uint64_t objectid;
	uint32_t type;
	uint64_t offset;
};

struct bt_iter {
	int fd;
	struct btrfs_ioctl_search_args_v2 *args;
	size_t buf_size;
	size_t pos;    /* read position in args->buf */
	uint32_t left; /* items left in the buffer */
	bool done;     /* no more items after the buffer */
	bool started;
	struct bt_key max;
};

static int bt_iter_init(struct bt_iter *it, int fd, uint64_t tree,
                        struct bt_key min, struct bt_key max)
{
	memset(it, 0, sizeof(*it));
	it->fd = fd;
	it->buf_size = BT_BUF_SIZE;
	it->args = calloc(1, sizeof(*it->args) + it->buf_size);
	if (!it->args)
		return -ENOMEM;
	struct btrfs_ioctl_search_key *sk = &it->args->key;
	sk->tree_id = tree;
	sk->min_objectid = min.objectid;
	sk->min_type = min.type;
	sk->min_offset = min.offset;
	sk->max_objectid = max.objectid;
	sk->max_type = max.type;
	sk->max_offset = max.offset;
	sk->min_transid = 0;
	sk->max_transid = UINT64_MAX;
	it->max = max;
	return 0;
}

static void bt_iter_free(struct bt_iter *it)
{
	free(it->args);
	it->args = NULL;
}

static int key_cmp(const struct bt_key *a, const struct bt_key *b)
{
	if (a->objectid != b->objectid)
		return a->objectid < b->objectid ? -1 : 1;
	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	if (a->offset != b->offset)
		return a->offset < b->offset ? -1 : 1;
	return 0;
}

/* The key after k (offset, then type, then objectid, with carry). False when k
 * is the largest key. */
static bool key_next(struct bt_key *k)
{
	if (k->offset < UINT64_MAX) {
		k->offset++;
		return true;
	}
	k->offset = 0;
	if (k->type < 255) {
		k->type++;
		return true;
	}
	k->type = 0;
	if (k->objectid < UINT64_MAX) {
		k->objectid++;
		return true;
	}
	return false;
}

/* Next item: 1 with *hdr and *data set, 0 at the end, or -errno. The search
 * key is a compound (objectid, type, offset) range: items of other types
 * between min and max come too; callers filter on type. */
static int bt_iter_next(struct bt_iter *it,
                        struct btrfs_ioctl_search_header *hdr,
                        const void **data)
{
	struct btrfs_ioctl_search_key *sk = &it->args->key;

	while (it->left == 0) {
		if (it->done)
			return 0;
		if (it->started) {
			/* Continue after the last item returned. */
			struct bt_key k = {sk->min_objectid, sk->min_type,
			                   sk->min_offset};
			if (key_cmp(&k, &it->max) > 0) {
				it->done = true;
				return 0;
			}
		}
		it->started = true;
		sk->nr_items = 4096;
		it->args->buf_size = it->buf_size;
		if (ioctl(it->fd, BTRFS_IOC_TREE_SEARCH_V2, it->args) < 0) {
			int e = RL_NEG_ERRNO();
			if (e == -EOVERFLOW &&
			    it->args->buf_size > it->buf_size) {
				/* One item larger than the buffer. */
				size_t nsz = it->args->buf_size;
				void *p =
				    realloc(it->args, sizeof(*it->args) + nsz);
				if (!p)
					return -ENOMEM;
				it->args = p;
				it->buf_size = nsz;
				sk = &it->args->key;
				continue;
			}
			if (e == -ENOTTY)
				e = -EOPNOTSUPP;
			return e;
		}
		if (sk->nr_items == 0) {
			it->done = true;
			return 0;
		}
		it->left = sk->nr_items;
		it->pos = 0;
		/* Next search starts after the last item of this batch. */
		const unsigned char *p = it->args->buf;
		struct btrfs_ioctl_search_header h;
		size_t pos = 0;
		for (uint32_t i = 0; i < sk->nr_items; i++) {
			memcpy(&h, p + pos, sizeof(h));
			pos += sizeof(h) + h.len;
		}
		struct bt_key last = {h.objectid, h.type, h.offset};
		if (!key_next(&last))
			it->done = true;
		sk->min_objectid = last.objectid;
		sk->min_type = last.type;
		sk->min_offset = last.offset;
	}
	memcpy(hdr, it->args->buf + it->pos, sizeof(*hdr));
	*data = it->args->buf + it->pos + sizeof(*hdr);
	it->pos += sizeof(*hdr) + hdr->len;
	it->left--;
	return 1;
}

static uint64_t get_le64(const void *data, size_t off)
{
	uint64_t v;

	memcpy(&v, (const unsigned char *)data + off, sizeof(v));
	return le64toh(v);
}

/* ------------------------------------------------------- chunk geometry */

struct bt_chunk {
	uint64_t start, length, type;
};

struct bt_geom {
	struct bt_chunk *chunks; /* sorted by start */
	size_t n;
	uint64_t chunk_end;   /* end of the highest chunk */
	uint64_t unallocated; /* device bytes in no chunk, all devices */
	uint32_t nodesize;
};

static void bt_geom_free(struct bt_geom *g)
{
	free(g->chunks);
	memset(g, 0, sizeof(*g));
}

/* Read the chunk tree: device items, then chunk items. */
static int bt_geom_load(int fd, struct bt_geom *g)
{
	struct btrfs_ioctl_fs_info_args fi;
	struct btrfs_ioctl_search_header h;
	struct bt_iter it;
	const void *d;
	size_t cap = 0;
	int r;

	memset(g, 0, sizeof(*g));
	memset(&fi, 0, sizeof(fi));
	if (ioctl(fd, BTRFS_IOC_FS_INFO, &fi) < 0)
		return RL_NEG_ERRNO();
	g->nodesize = fi.nodesize;

	r = bt_iter_init(
	    &it, fd, BTRFS_CHUNK_TREE_OBJECTID,
	    (struct bt_key){BTRFS_DEV_ITEMS_OBJECTID, BTRFS_DEV_ITEM_KEY, 0},
	    (struct bt_key){BTRFS_FIRST_CHUNK_TREE_OBJECTID,
	                    BTRFS_CHUNK_ITEM_KEY, UINT64_MAX});
	if (r < 0)
		return r;
	while ((r = bt_iter_next(&it, &h, &d)) > 0) {
		if (h.type == BTRFS_DEV_ITEM_KEY &&
		    h.objectid == BTRFS_DEV_ITEMS_OBJECTID &&
		    h.len >= offsetof(struct btrfs_dev_item, io_align)) {
			uint64_t total = get_le64(
			    d, offsetof(struct btrfs_dev_item, total_bytes));
			uint64_t used = get_le64(
			    d, offsetof(struct btrfs_dev_item, bytes_used));
			if (total > used)
				g->unallocated += total - used;
		} else if (h.type == BTRFS_CHUNK_ITEM_KEY &&
		           h.objectid == BTRFS_FIRST_CHUNK_TREE_OBJECTID &&
		           h.len >= offsetof(struct btrfs_chunk, io_align)) {
			if (g->n == cap) {
				size_t nc = cap ? cap * 2 : 64;
				void *p =
				    realloc(g->chunks, nc * sizeof(*g->chunks));
				if (!p) {
					r = -ENOMEM;
					break;
				}
				g->chunks = p;
				cap = nc;
			}
			struct bt_chunk *c = &g->chunks[g->n++];
			c->start = h.offset;
			c->length =
			    get_le64(d, offsetof(struct btrfs_chunk, length));
			c->type =
			    get_le64(d, offsetof(struct btrfs_chunk, type));
			if (c->start + c->length > g->chunk_end)
				g->chunk_end = c->start + c->length;
		}
	}
	bt_iter_free(&it);
	if (r < 0) {
		bt_geom_free(g);
		return r;
	}
	return 0;
}

/* --------------------------------------------------------------- walk */

struct bt_emit {
	rl_space_cb cb;
	void *arg;
	uint64_t start, end; /* clip window */
};

static int emit(struct bt_emit *e, uint64_t a, uint64_t len,
                enum rl_space_kind kind, const char *what)
{
	struct rl_space_rec rec;
	uint64_t b = a + len;

	if (b <= e->start || a >= e->end || len == 0)
		return 0;
	if (a < e->start)
		a = e->start;
	if (b > e->end)
		b = e->end;
	memset(&rec, 0, sizeof(rec));
	rec.start = a;
	rec.length = b - a;
	rec.kind = kind;
	snprintf(rec.what, sizeof(rec.what), "%s", what);
	return e->cb(&rec, e->arg);
}

/* Gap inside chunk c: free for data chunks, reserved metadata space for
 * the others. */
static int emit_gap(struct bt_emit *e, const struct bt_chunk *c, uint64_t a,
                    uint64_t b)
{
	if (b <= a)
		return 0;
	if (c->type & BTRFS_BLOCK_GROUP_DATA)
		return emit(e, a, b - a, RL_SPACE_FREE, "free");
	return emit(e, a, b - a, RL_SPACE_METADATA,
	            (c->type & BTRFS_BLOCK_GROUP_SYSTEM) ? "system-bg"
	                                                 : "metadata-bg");
}

static int walk_chunk(int fd, const struct bt_geom *g, const struct bt_chunk *c,
                      struct bt_emit *e)
{
	struct btrfs_ioctl_search_header h;
	struct bt_iter it;
	const void *d;
	uint64_t cend = c->start + c->length, cur = c->start;
	int r, cr = 0;

	/* Extents never cross a chunk boundary: search from the chunk start
	 * so that an extent straddling e->start is seen. */
	r = bt_iter_init(
	    &it, fd, BTRFS_EXTENT_TREE_OBJECTID,
	    (struct bt_key){c->start, BTRFS_EXTENT_ITEM_KEY, 0},
	    (struct bt_key){cend - 1, BTRFS_METADATA_ITEM_KEY, UINT64_MAX});
	if (r < 0)
		return r;
	while ((r = bt_iter_next(&it, &h, &d)) > 0) {
		uint64_t len;
		bool tree;

		if (h.type == BTRFS_EXTENT_ITEM_KEY) {
			len = h.offset;
			tree = !(c->type & BTRFS_BLOCK_GROUP_DATA);
			if (h.len >= sizeof(struct btrfs_extent_item))
				tree = get_le64(
				           d, offsetof(struct btrfs_extent_item,
				                       flags)) &
				       BTRFS_EXTENT_FLAG_TREE_BLOCK;
		} else if (h.type == BTRFS_METADATA_ITEM_KEY) {
			len = g->nodesize;
			tree = true;
		} else {
			continue; /* backrefs, block group items */
		}
		if (h.objectid >= e->end)
			break;
		uint64_t xs = h.objectid, xe = h.objectid + len;
		if (xe > cend)
			xe = cend;
		cr = emit_gap(e, c, cur, xs);
		if (!cr)
			cr = emit(e, xs, xe - xs,
			          tree ? RL_SPACE_METADATA : RL_SPACE_DATA,
			          tree ? "tree-block" : "data");
		if (cr)
			break;
		if (xe > cur)
			cur = xe;
	}
	bt_iter_free(&it);
	if (r < 0)
		return r;
	if (cr)
		return cr;
	return emit_gap(e, c, cur, cend < e->end ? cend : e->end);
}

static int chunk_cmp(const void *a, const void *b)
{
	const struct bt_chunk *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

int rl_btrfs_space_walk(const char *path, uint64_t start, uint64_t end,
                        rl_space_cb cb, void *arg)
{
	struct bt_emit e = {.cb = cb, .arg = arg, .start = start, .end = end};
	struct bt_geom g;
	int fd, r = 0;

	if (!path || !cb)
		return -EINVAL;
	if (e.end == 0)
		e.end = UINT64_MAX;
	if (e.end <= e.start)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return RL_NEG_ERRNO();
	/* Commit: the extent tree on disk (which the search reads through
	 * the cache) then includes delayed allocations and frees. */
	if (syncfs(fd) < 0) {
		r = RL_NEG_ERRNO();
		goto out;
	}
	r = bt_geom_load(fd, &g);
	if (r < 0)
		goto out;
	if (g.n > 1)
		qsort(g.chunks, g.n, sizeof(*g.chunks), chunk_cmp);
	for (size_t i = 0; i < g.n && !r; i++) {
		const struct bt_chunk *c = &g.chunks[i];
		if (c->start + c->length <= e.start)
			continue;
		if (c->start >= e.end)
			break;
		r = walk_chunk(fd, &g, c, &e);
	}
	if (!r)
		r = emit(&e, g.chunk_end, g.unallocated, RL_SPACE_FREE,
		         "unallocated");
	bt_geom_free(&g);
out:
	close(fd);
	return r;
}

void rl_btrfs_probe(int fd, struct rl_fs_info *info)
{
	struct btrfs_ioctl_fs_info_args fi;
	struct bt_geom g;

	if (!info->uuid[0]) {
		memset(&fi, 0, sizeof(fi));
		if (ioctl(fd, BTRFS_IOC_FS_INFO, &fi) == 0) {
			const unsigned char *u = fi.fsid;
			snprintf(info->uuid, sizeof(info->uuid),
			         "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
			         "%02x%02x%02x%02x%02x%02x",
			         u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7],
			         u[8], u[9], u[10], u[11], u[12], u[13], u[14],
			         u[15]);
		}
	}
	/* The chunk tree needs CAP_SYS_ADMIN: without it keep the statfs
	 * size and leave the group geometry unknown. */
	if (bt_geom_load(fd, &g) < 0)
		return;
	info->size = g.chunk_end + g.unallocated;
	info->group_count = g.n;
	info->group_size = 0;
	bt_geom_free(&g);
}
