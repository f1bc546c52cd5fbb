/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The layout model: storage, physical index with prefix sums, queries. */
#include "config.h"
#include "layout_model.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include "mem.h"

/* Longest index entry: extents are cut into chunks of at most this, so an
 * entry straddling an address starts less than LM_CHUNK before it. */
#define LM_CHUNK (1u << 20)
/* Queued index entries searched in place by a refresh before the queue is
 * sorted into the index (lm_sync). */
#define LM_PEND_SCAN 1024
/* Entries per prefix-sum block. */
#define LM_BLOCK 16
/* Index entry ids: bit 31 set = space record, else extent slot. */
#define LM_ID_SPACE 0x80000000u
#define LM_ID_DEAD  0xffffffffu
#define LM_MAX_IDS  0x7fffffffu

/* An index entry: 16 bytes. lc packs the length (21 bits: at most
 * LM_CHUNK) and the entry's category bits (LM_CAT_*, above bit 21), so
 * sums need not look at the extent and file arrays. */
struct lm_ient {
	uint64_t start;
	uint32_t lc;
	uint32_t id;
};
#define LM_LEN_BITS 21
#define ILEN(e)     ((e)->lc & ((1u << LM_LEN_BITS) - 1))
#define ICATS(e)    ((e)->lc >> LM_LEN_BITS)

struct lm_pathrec {
	uint64_t off; /* into the arena */
	uint32_t file;
	uint32_t next; /* next path of the same file, or LM_NONE */
};

struct lm_model {
	struct lm_geometry geo;
	int free_map_err;
	int64_t created;

	struct lm_file *files;
	size_t nfiles, files_cap;

	struct lm_extent *ext; /* slots; files own runs [ext_first, +cap) */
	size_t next, ext_cap;  /* slots used, allocated */
	uint64_t ext_live;     /* extents of all files */

	struct lm_space *space;
	size_t nspace, space_cap;

	char **labels;
	size_t nlabels, labels_cap;

	char *arena;
	size_t arena_len, arena_cap;
	struct lm_pathrec *paths;
	size_t npaths, paths_cap;

	/* hash tables: open addressing, values are ids + 1 (0 = empty) */
	uint32_t *ino_hash;
	size_t ino_hash_cap;
	uint32_t *path_hash;
	size_t path_hash_cap;

	/* index */
	struct lm_ient *idx;
	size_t nidx, idx_cap;
	size_t ndead;
	struct lm_ient *pend;
	size_t npend, pend_cap;
	uint64_t (*cum)[LM_CAT_N]; /* per block boundary */
	uint64_t *maxend_before;   /* max end of entries before block k */
	size_t ncum;
	bool prefix_dirty;
};

_Static_assert(sizeof(struct lm_file) == 48, "lm_file: 48 bytes");

/* ------------------------------------------------------------- helpers */

uint64_t lm_max_extent(enum rl_fs_type type, uint32_t block_size)
{
	if (!block_size)
		block_size = 4096;
	switch (type) {
	case RL_FS_EXT4:
		return 32768ull * block_size;
	case RL_FS_XFS:
		return ((1ull << 21) - 1) * block_size;
	case RL_FS_BTRFS:
	default:
		return 128ull << 20;
	}
}

void lm_geometry_from_fs(struct lm_geometry *g, const struct rl_fs_info *fs)
{
	memset(g, 0, sizeof(*g));
	g->fs = *fs;
	g->max_extent = lm_max_extent(fs->type, fs->block_size);
	/* (16, mke2fs's default, where the superblock was not read) */
	g->flex_groups = fs->type != RL_FS_EXT4 ? 0
	                 : fs->ext4_flex_groups ? fs->ext4_flex_groups
	                                        : 16;
}

struct lm_model *lm_new(const struct lm_geometry *g)
{
	struct lm_model *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->geo = *g;
	if (!m->geo.fs.block_size)
		m->geo.fs.block_size = 4096;
	if (!m->geo.max_extent)
		m->geo.max_extent =
		    lm_max_extent(m->geo.fs.type, m->geo.fs.block_size);
	return m;
}

void lm_free(struct lm_model *m)
{
	if (!m)
		return;
	free(m->files);
	free(m->ext);
	free(m->space);
	for (size_t i = 0; i < m->nlabels; i++)
		free(m->labels[i]);
	free(m->labels);
	free(m->arena);
	free(m->paths);
	free(m->ino_hash);
	free(m->path_hash);
	free(m->idx);
	free(m->pend);
	free(m->cum);
	free(m->maxend_before);
	free(m);
}

const struct lm_geometry *lm_geometry(const struct lm_model *m)
{
	return &m->geo;
}

size_t lm_memory(const struct lm_model *m)
{
	return sizeof(*m) + m->files_cap * sizeof(*m->files) +
	       m->ext_cap * sizeof(*m->ext) + m->space_cap * sizeof(*m->space) +
	       m->arena_cap + m->paths_cap * sizeof(*m->paths) +
	       (m->ino_hash_cap + m->path_hash_cap) * sizeof(uint32_t) +
	       (m->idx_cap + m->pend_cap) * sizeof(struct lm_ient) +
	       m->ncum * (sizeof(*m->cum) + sizeof(uint64_t));
}

void lm_set_free_map_status(struct lm_model *m, int err)
{
	m->free_map_err = err;
}

int lm_free_map_status(const struct lm_model *m)
{
	return m->free_map_err;
}

void lm_set_created(struct lm_model *m, int64_t t)
{
	m->created = t;
}

int64_t lm_created(const struct lm_model *m)
{
	return m->created;
}

size_t lm_file_count(const struct lm_model *m)
{
	return m->nfiles;
}

const struct lm_file *lm_file(const struct lm_model *m, uint32_t id)
{
	return id < m->nfiles ? &m->files[id] : NULL;
}

const struct lm_extent *lm_file_extents(const struct lm_model *m, uint32_t id,
                                        size_t *n)
{
	if (id >= m->nfiles) {
		*n = 0;
		return NULL;
	}
	*n = m->files[id].ext_count;
	/* No extents stored yet: m->ext is NULL, and NULL + 0 is undefined
	 * (found by tests/fuzz/fuzz_snapshot). */
	return m->ext ? m->ext + m->files[id].ext_first : NULL;
}

uint64_t lm_extent_count(const struct lm_model *m)
{
	return m->ext_live;
}

const char *lm_label(const struct lm_model *m, uint32_t label)
{
	return label < m->nlabels ? m->labels[label] : "metadata";
}

const char *lm_file_path(const struct lm_model *m, uint32_t id, uint32_t k)
{
	uint32_t p;

	if (id >= m->nfiles || k >= m->files[id].npaths)
		return NULL;
	p = m->files[id].path_first;
	while (k-- && p != LM_NONE)
		p = m->paths[p].next;
	return p == LM_NONE ? NULL : m->arena + m->paths[p].off;
}

bool lm_names_private(const struct lm_model *m)
{
	char dir[RL_PATH_MAX];
	size_t dlen = SIZE_MAX; /* the directory last looked up */

	for (size_t p = 0; p < m->npaths; p++) {
		const char *path = m->arena + m->paths[p].off;
		const char *slash = strrchr(path, '/');
		size_t n = slash ? (size_t)(slash - path) : 1;
		uint32_t id;

		if (!strcmp(path, "."))
			continue; /* the root: named by the mount point */
		if (!slash)
			path = "."; /* in the root */
		/* A scan adds a directory's entries together: look each
		 * directory up once. */
		if (n == dlen && !memcmp(dir, path, n))
			continue;
		memcpy(dir, path, n);
		dir[n] = '\0';
		dlen = n;
		id = lm_find_path(m, dir);
		if (id == LM_NONE || !S_ISDIR(m->files[id].mode) ||
		    (m->files[id].mode & (S_IROTH | S_IXOTH)) !=
		        (S_IROTH | S_IXOTH))
			return true;
	}
	return false;
}

/* ------------------------------------------------------------- hashing */

static uint64_t hash_u64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

/* 8 bytes a step, then hash_u64's mixing (FNV-1a, a byte a step, was
 * 4 % of a scan: a path is hashed 3 to 4 times while a model is built). */
static uint64_t hash_str(const char *s)
{
	size_t n = strlen(s);
	uint64_t h = n * 0x9e3779b97f4a7c15ull, w;

	for (; n >= 8; s += 8, n -= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 29;
	}
	w = 0;
	memcpy(&w, s, n);
	return hash_u64(h ^ w);
}

static uint64_t ino_key(const struct lm_model *m, uint32_t v)
{
	return hash_u64(m->files[v].ino);
}

static uint64_t path_key(const struct lm_model *m, uint32_t v)
{
	return hash_str(m->arena + m->paths[v].off);
}

/* At least bytes (>= 1 MiB: a multiple of 2 MiB, 2 MiB aligned, on
 * transparent huge pages), uninitialised. Filling an array faults once
 * per 2 MiB instead of once per 4 KiB page (page faults were 4 % of a
 * scan). realloc and free work on it as on any block. */
static void *big_malloc(size_t bytes, size_t *got)
{
	const size_t huge = 2u << 20;
	void *p;

	*got = bytes;
	if (bytes < huge / 2)
		return malloc(bytes);
	if (bytes > SIZE_MAX - huge)
		return NULL;
	bytes = (bytes + huge - 1) & ~(huge - 1);
	if (posix_memalign(&p, huge, bytes) != 0)
		return NULL;
#ifdef MADV_HUGEPAGE
	(void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
	*got = bytes;
	return p;
}

/* Grow array *p (capacity *cap elements of elem bytes, n in use) to at
 * least ncap elements in a big_malloc block: for arrays about to be
 * filled (a bulk load, the index merge). */
static int big_reserve(void **p, size_t *cap, size_t n, size_t ncap,
                       size_t elem)
{
	size_t got;
	void *np;

	if (ncap <= *cap)
		return 0;
	if (ncap > SIZE_MAX / elem)
		return -ENOMEM;
	np = big_malloc(ncap * elem, &got);
	if (!np)
		return -ENOMEM;
	if (n)
		memcpy(np, *p, n * elem);
	free(*p);
	*p = np;
	*cap = got / elem;
	return 0;
}

/* Zeroed memory for a hash table (big_malloc: every lookup touches a
 * random slot, and with 4 KiB pages most lookups in a large table also
 * missed the TLB (a page walk, much dearer in a VM); at a million files
 * that was 12% of the scan). free() releases it. */
static void *big_calloc(size_t n, size_t elem)
{
	size_t bytes = n * elem, got;
	void *p;

	if (n && bytes / n != elem)
		return NULL;
	p = big_malloc(bytes, &got);
	if (p)
		memset(p, 0, bytes);
	return p;
}

/* (Re)build table *t at capacity ncap (power of 2) holding ids
 * 0..count-1. Inserting in id order reads the files / paths / arena
 * sequentially (walking the old table read them in random order). */
static int hash_rebuild(struct lm_model *m, uint32_t **t, size_t *cap,
                        size_t ncap, size_t count,
                        uint64_t (*key)(const struct lm_model *, uint32_t))
{
	uint32_t *nt = big_calloc(ncap, sizeof(*nt));

	if (!nt)
		return -ENOMEM;
	for (size_t v = 0; v < count; v++) {
		size_t h = key(m, (uint32_t)v) & (ncap - 1);
		while (nt[h])
			h = (h + 1) & (ncap - 1);
		nt[h] = (uint32_t)v + 1;
	}
	free(*t);
	*t = nt;
	*cap = ncap;
	return 0;
}

/* Shrink table *t to capacity ncap (power of 2, < *cap, >= count) in
 * place: its first ncap slots are cleared and refilled, the rest given
 * back. No new table to allocate and fault in (lm_trim after a scan). */
static void hash_shrink(struct lm_model *m, uint32_t **t, size_t *cap,
                        size_t ncap, size_t count,
                        uint64_t (*key)(const struct lm_model *, uint32_t))
{
	uint32_t *nt = *t;

	memset(nt, 0, ncap * sizeof(*nt));
	for (size_t v = 0; v < count; v++) {
		size_t h = key(m, (uint32_t)v) & (ncap - 1);
		/* the slot of a later id on its way into the cache: with
		 * a table larger than the cache, each insert would else wait
		 * for its own miss (lm_trim of a million files: 140-200 ms
		 * before, 75-95 ms with it) */
		if (v + 16 < count)
			__builtin_prefetch(
			    &nt[key(m, (uint32_t)(v + 16)) & (ncap - 1)], 1);
		while (nt[h])
			h = (h + 1) & (ncap - 1);
		nt[h] = (uint32_t)v + 1;
	}
	nt = realloc(nt, ncap * sizeof(*nt));
	if (nt) /* else the bigger block stays: still valid */
		*t = nt;
	*cap = ncap;
}

/* Insert value v (== count: ids 0..count-1 are in the table) into table
 * *t of capacity *cap (power of 2), growing it to keep the load under
 * 1/4 while the model is built: a lookup of an absent key (every
 * lm_add_file does two) then rarely meets an occupied slot, each of which
 * costs a cache miss in the files or paths array. lm_trim() brings the
 * tables back to a load of 1/4 to 1/2. */
static int hash_insert(struct lm_model *m, uint32_t **t, size_t *cap,
                       size_t count, uint32_t v,
                       uint64_t (*key)(const struct lm_model *, uint32_t))
{
	if ((count + 1) * 4 > *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		int r;

		while ((count + 1) * 4 > ncap)
			ncap *= 2;
		r = hash_rebuild(m, t, cap, ncap, count, key);
		if (r < 0)
			return r;
	}
	size_t h = key(m, v) & (*cap - 1);
	while ((*t)[h])
		h = (h + 1) & (*cap - 1);
	(*t)[h] = v + 1;
	return 0;
}

/* Take value v out of table t (capacity cap, power of 2), whose key is
 * still readable; the entries after it in its cluster are inserted again,
 * so every lookup that probes past its slot still finds them. */
static void hash_delete(const struct lm_model *m, uint32_t *t, size_t cap,
                        uint32_t v,
                        uint64_t (*key)(const struct lm_model *, uint32_t))
{
	size_t h;

	if (!cap)
		return;
	h = key(m, v) & (cap - 1);
	while (t[h] && t[h] != v + 1)
		h = (h + 1) & (cap - 1);
	if (!t[h])
		return;
	t[h] = 0;
	for (h = (h + 1) & (cap - 1); t[h]; h = (h + 1) & (cap - 1)) {
		uint32_t w = t[h] - 1;
		size_t k = key(m, w) & (cap - 1);

		t[h] = 0;
		while (t[k])
			k = (k + 1) & (cap - 1);
		t[k] = w + 1;
	}
}

/* Smallest power of 2 holding count ids at a load of at most 1/2. */
static size_t hash_cap_for(size_t count)
{
	size_t c = 64;

	while (c < count * 2)
		c *= 2;
	return c;
}

int lm_reserve(struct lm_model *m, size_t files)
{
	size_t cap = 64;
	int r = 0;

	/* the arrays a bulk load fills: a file record, a path (of about
	 * 32 bytes) and an extent (with its index entry) per file */
	if ((r = big_reserve((void **)&m->files, &m->files_cap, m->nfiles,
	                     files, sizeof(*m->files))) < 0 ||
	    (r = big_reserve((void **)&m->paths, &m->paths_cap, m->npaths,
	                     files, sizeof(*m->paths))) < 0 ||
	    (r = big_reserve((void **)&m->arena, &m->arena_cap, m->arena_len,
	                     files * 32, 1)) < 0 ||
	    (r = big_reserve((void **)&m->ext, &m->ext_cap, m->next, files,
	                     sizeof(*m->ext))) < 0 ||
	    (r = big_reserve((void **)&m->pend, &m->pend_cap, m->npend, files,
	                     sizeof(*m->pend))) < 0)
		return r;

	while (cap < files * 4) /* hash_insert's growth bound */
		cap *= 2;
	if (cap > m->ino_hash_cap)
		r = hash_rebuild(m, &m->ino_hash, &m->ino_hash_cap, cap,
		                 m->nfiles, ino_key);
	if (r == 0 && cap > m->path_hash_cap)
		r = hash_rebuild(m, &m->path_hash, &m->path_hash_cap, cap,
		                 m->npaths, path_key);
	return r;
}

void lm_prefetch(const struct lm_model *m, uint64_t ino, const char *path)
{
	if (m->ino_hash_cap)
		__builtin_prefetch(
		    &m->ino_hash[hash_u64(ino) & (m->ino_hash_cap - 1)]);
	if (m->path_hash_cap && path)
		__builtin_prefetch(
		    &m->path_hash[hash_str(path) & (m->path_hash_cap - 1)]);
}

uint32_t lm_find_inode(const struct lm_model *m, uint64_t ino)
{
	if (!m->ino_hash_cap)
		return LM_NONE;
	size_t h = hash_u64(ino) & (m->ino_hash_cap - 1);
	while (m->ino_hash[h]) {
		uint32_t id = m->ino_hash[h] - 1;
		if (m->files[id].ino == ino)
			return id;
		h = (h + 1) & (m->ino_hash_cap - 1);
	}
	return LM_NONE;
}

uint32_t lm_find_path(const struct lm_model *m, const char *path)
{
	if (!m->path_hash_cap)
		return LM_NONE;
	size_t h = hash_str(path) & (m->path_hash_cap - 1);
	while (m->path_hash[h]) {
		uint32_t p = m->path_hash[h] - 1;
		if (strcmp(m->arena + m->paths[p].off, path) == 0)
			return m->paths[p].file;
		h = (h + 1) & (m->path_hash_cap - 1);
	}
	return LM_NONE;
}

/* ----------------------------------------------------------- building */

bool lm_path_valid(const char *p, const char **why)
{
	const char *dummy;

	if (!why)
		why = &dummy;
	if (!*p) {
		*why = "empty";
		return false;
	}
	if (*p == '/') {
		*why = "absolute (paths are relative to the volume root)";
		return false;
	}
	if (strlen(p) >= RL_PATH_MAX) {
		*why = "too long";
		return false;
	}
	if (strcmp(p, ".") == 0) /* the root itself */
		return true;
	for (const char *c = p; *c;) {
		const char *e = strchr(c, '/');
		size_t n = e ? (size_t)(e - c) : strlen(c);

		if (n == 2 && c[0] == '.' && c[1] == '.') {
			*why = "contains a '..' component";
			return false;
		}
		if (n == 0 || (n == 1 && c[0] == '.') || (e && !e[1])) {
			*why = "contains an empty or '.' component";
			return false;
		}
		c += n;
		if (*c)
			c++;
	}
	return true;
}

/* checked: the caller validated path and found it absent. */
static int add_path_rec(struct lm_model *m, uint32_t id, const char *path,
                        bool checked)
{
	size_t len = strlen(path) + 1;
	uint32_t p;
	int r;

	if (!checked && !lm_path_valid(path, NULL))
		return -EINVAL;
	if (!checked && lm_find_path(m, path) != LM_NONE)
		return -EEXIST;
	if (m->npaths >= LM_MAX_IDS || m->files[id].npaths >= LM_MAX_PATHS)
		return -E2BIG;
	if ((r = mem_grow(&m->arena, &m->arena_cap, m->arena_len + len, 1)) <
	        0 ||
	    (r = mem_grow(&m->paths, &m->paths_cap, m->npaths + 1,
	                  sizeof(*m->paths))) < 0)
		return r;
	memcpy(m->arena + m->arena_len, path, len);
	p = (uint32_t)m->npaths;
	m->paths[p].off = m->arena_len;
	m->paths[p].file = id;
	m->paths[p].next = LM_NONE;
	r = hash_insert(m, &m->path_hash, &m->path_hash_cap, m->npaths, p,
	                path_key);
	if (r < 0)
		return r;
	m->arena_len += len;
	m->npaths++;
	/* into the file's chain in byte order: a file's paths (hard links)
	 * come out the same whichever link a (multi-threaded) scan met
	 * first */
	{
		uint32_t *link = &m->files[id].path_first;
		while (*link != LM_NONE &&
		       strcmp(m->arena + m->paths[*link].off, path) < 0)
			link = &m->paths[*link].next;
		m->paths[p].next = *link;
		*link = p;
	}
	m->files[id].npaths++;
	return 0;
}

int lm_add_path(struct lm_model *m, uint32_t id, const char *path)
{
	if (id >= m->nfiles || !path)
		return -EINVAL;
	return add_path_rec(m, id, path, false);
}

static unsigned compute_cats(const struct lm_model *m, uint32_t id);

static int queue_entry(struct lm_model *m, uint64_t start, uint64_t len,
                       uint32_t id)
{
	uint32_t cats = compute_cats(m, id) << LM_LEN_BITS;

	while (len) {
		uint32_t l = len > LM_CHUNK ? LM_CHUNK : (uint32_t)len;
		int r = mem_grow(&m->pend, &m->pend_cap, m->npend + 1,
		                 sizeof(*m->pend));
		if (r < 0)
			return r;
		m->pend[m->npend].start = start;
		m->pend[m->npend].lc = l | cats;
		m->pend[m->npend].id = id;
		m->npend++;
		start += l;
		len -= l;
	}
	m->prefix_dirty = true;
	return 0;
}

static bool range_ok(const struct lm_model *m, uint64_t start, uint64_t len)
{
	return len > 0 && start + len > start &&
	       (!m->geo.fs.size || start + len <= m->geo.fs.size);
}

static void update_frag_flag(struct lm_model *m, uint32_t id)
{
	struct lm_file_frag ff;

	lm_file_frag(m, id, &ff);
	if (ff.fragmented)
		m->files[id].flags |= LM_FILE_FRAG;
	else
		m->files[id].flags &= ~LM_FILE_FRAG;
}

static int cmp_ext_logical(const void *a, const void *b)
{
	const struct lm_extent *x = a, *y = b;

	if (x->logical != y->logical)
		return x->logical < y->logical ? -1 : 1;
	return 0;
}

/* Store extents into the file's slots (reusing them when they fit) and
 * queue index entries. */
static int store_extents(struct lm_model *m, uint32_t id,
                         const struct rl_extent *ext, size_t n, size_t room)
{
	struct lm_file *f = &m->files[id];
	size_t base;
	int r;

	for (size_t i = 0; i < n; i++)
		if (!range_ok(m, ext[i].physical, ext[i].length) ||
		    ext[i].logical + ext[i].length < ext[i].logical)
			return -EINVAL;
	/* Slots are reused when the new extents fit in the old run (room:
	 * its length is the old ext_count; a run that shrank does not
	 * remember its old size, the rest of it stays unused). */
	if (n > room) {
		if (m->next + n > LM_MAX_IDS)
			return -E2BIG;
		r = mem_grow(&m->ext, &m->ext_cap, m->next + n,
		             sizeof(*m->ext));
		if (r < 0)
			return r;
		f = &m->files[id];
		base = m->next;
		m->next += n;
		f->ext_first = (uint32_t)base;
	}
	base = f->ext_first;
	for (size_t i = 0; i < n; i++) {
		struct lm_extent *e = &m->ext[base + i];
		e->logical = ext[i].logical;
		e->physical = ext[i].physical;
		e->length = ext[i].length;
		e->flags = ext[i].flags;
		e->file = id;
	}
	if (n)
		mem_sort(m->ext + base, n, sizeof(*m->ext), cmp_ext_logical);
	m->ext_live += n - f->ext_count;
	f->ext_count = (uint32_t)n;
	update_frag_flag(m, id);
	for (size_t i = 0; i < n; i++) {
		r = queue_entry(m, m->ext[base + i].physical,
		                m->ext[base + i].length, (uint32_t)(base + i));
		if (r < 0)
			return r;
	}
	return 0;
}

/* What lm_add_file changes before it can fail (the tables may have grown
 * since: their contents are what counts). */
struct add_mark {
	size_t npaths, arena_len, next, npend;
	uint64_t ext_live;
	bool prefix_dirty;
};

/* Take file id (the newest: maybe in the inode table, maybe with its path
 * and some of its extents stored and queued) back out, so that the model
 * is as it was at mark b. */
static void add_file_undo(struct lm_model *m, uint32_t id,
                          const struct add_mark *b)
{
	hash_delete(m, m->ino_hash, m->ino_hash_cap, id, ino_key);
	if (m->npaths > b->npaths)
		hash_delete(m, m->path_hash, m->path_hash_cap,
		            (uint32_t)b->npaths, path_key);
	m->npaths = b->npaths;
	m->arena_len = b->arena_len;
	m->next = b->next;
	m->npend = b->npend;
	m->ext_live = b->ext_live;
	m->prefix_dirty = b->prefix_dirty;
	m->nfiles--;
}

int lm_add_file(struct lm_model *m, const struct lm_file_info *fi,
                const char *path, const struct rl_extent *ext, size_t n,
                uint32_t *idp)
{
	const struct add_mark before = {.npaths = m->npaths,
	                                .arena_len = m->arena_len,
	                                .next = m->next,
	                                .npend = m->npend,
	                                .ext_live = m->ext_live,
	                                .prefix_dirty = m->prefix_dirty};
	uint32_t id;
	int r;

	if (!fi || !path || (n && !ext))
		return -EINVAL;
	if (!lm_path_valid(path, NULL) || fi->err < INT16_MIN || fi->err > 0)
		return -EINVAL;
	if (lm_find_inode(m, fi->ino) != LM_NONE)
		return -EEXIST;
	if (lm_find_path(m, path) != LM_NONE)
		return -EEXIST;
	for (size_t i = 0; i < n; i++)
		if (!range_ok(m, ext[i].physical, ext[i].length))
			return -EINVAL;
	if (m->nfiles >= LM_MAX_IDS)
		return -E2BIG;
	r = mem_grow(&m->files, &m->files_cap, m->nfiles + 1,
	             sizeof(*m->files));
	if (r < 0)
		return r;
	id = (uint32_t)m->nfiles;
	memset(&m->files[id], 0, sizeof(m->files[id]));
	m->files[id].ino = fi->ino;
	m->files[id].size = fi->size;
	m->files[id].generation = fi->generation;
	m->files[id].mode = fi->mode;
	m->files[id].iflags = fi->iflags;
	m->files[id].flags =
	    fi->flags & (LM_FILE_HAS_GEN | LM_FILE_HAS_IFLAGS |
	                 LM_FILE_SELECTED | LM_FILE_ATTRS_READ);
	m->files[id].err = (int16_t)fi->err;
	m->files[id].path_first = LM_NONE;
	m->nfiles++;
	r = hash_insert(m, &m->ino_hash, &m->ino_hash_cap, m->nfiles - 1, id,
	                ino_key);
	if (r == 0)
		r = add_path_rec(m, id, path, true);
	if (r == 0)
		r = store_extents(m, id, ext, n, 0);
	if (r < 0) {
		add_file_undo(m, id, &before);
		return r;
	}
	if (idp)
		*idp = id;
	return 0;
}

static int add_space(struct lm_model *m, uint64_t start, uint64_t len,
                     uint32_t kind, uint32_t label)
{
	int r;
	uint32_t id;

	if (!range_ok(m, start, len))
		return -EINVAL;
	if (m->nspace >= LM_MAX_IDS)
		return -E2BIG;
	r = mem_grow(&m->space, &m->space_cap, m->nspace + 1,
	             sizeof(*m->space));
	if (r < 0)
		return r;
	id = (uint32_t)m->nspace++;
	m->space[id].start = start;
	m->space[id].length = len;
	m->space[id].kind = kind;
	m->space[id].label = label;
	return queue_entry(m, start, len, id | LM_ID_SPACE);
}

int lm_add_free(struct lm_model *m, uint64_t start, uint64_t len)
{
	return add_space(m, start, len, LM_SPACE_FREE, 0);
}

int lm_add_metadata(struct lm_model *m, uint64_t start, uint64_t len,
                    const char *label)
{
	size_t i;

	if (!label || !*label)
		label = "metadata";
	for (i = 0; i < m->nlabels; i++)
		if (strcmp(m->labels[i], label) == 0)
			break;
	if (i == m->nlabels) {
		char *copy;

		if (m->nlabels >= 4096)
			return -E2BIG;
		copy = strdup(label);
		if (!copy || mem_grow(&m->labels, &m->labels_cap,
		                      m->nlabels + 1, sizeof(*m->labels)) < 0) {
			free(copy);
			return -ENOMEM;
		}
		m->labels[m->nlabels++] = copy;
	}
	return add_space(m, start, len, LM_SPACE_META, (uint32_t)i);
}

static int cmp_space(const void *a, const void *b)
{
	const struct lm_space *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->length != y->length)
		return x->length < y->length ? -1 : 1;
	return 0;
}

ssize_t lm_space_list(struct lm_model *m, enum lm_space_kind kind,
                      struct lm_space **out)
{
	size_t n = 0;
	struct lm_space *a;

	*out = NULL;
	for (size_t i = 0; i < m->nspace; i++)
		if (m->space[i].length && m->space[i].kind == (uint32_t)kind)
			n++;
	a = malloc((n ? n : 1) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	n = 0;
	for (size_t i = 0; i < m->nspace; i++)
		if (m->space[i].length && m->space[i].kind == (uint32_t)kind)
			a[n++] = m->space[i];
	mem_sort(a, n, sizeof(*a), cmp_space);
	*out = a;
	return (ssize_t)n;
}

/* ---------------------------------------------------------- selection */

static size_t lower_bound(const struct lm_model *m, uint64_t x);

/* Recompute the category bits of a file's index entries. */
static void recat_file(struct lm_model *m, uint32_t id)
{
	const struct lm_file *f = &m->files[id];
	uint32_t lo = f->ext_first, hi = f->ext_first + f->ext_count;

	for (size_t i = 0; i < m->npend; i++)
		if (m->pend[i].id >= lo && m->pend[i].id < hi)
			m->pend[i].lc =
			    ILEN(&m->pend[i]) | compute_cats(m, m->pend[i].id)
			                            << LM_LEN_BITS;
	for (uint32_t k = lo; k < hi; k++) {
		uint64_t start = m->ext[k].physical, len = m->ext[k].length;
		while (len) {
			uint32_t l = len > LM_CHUNK ? LM_CHUNK : (uint32_t)len;
			for (size_t i = lower_bound(m, start);
			     i < m->nidx && m->idx[i].start == start; i++)
				if (m->idx[i].id == k) {
					uint32_t ck = compute_cats(m, k);
					m->idx[i].lc = ILEN(&m->idx[i]) |
					               ck << LM_LEN_BITS;
					break;
				}
			start += l;
			len -= l;
		}
	}
	m->prefix_dirty = true;
}

void lm_select(struct lm_model *m, uint32_t id, bool on)
{
	if (id >= m->nfiles)
		return;
	bool was = m->files[id].flags & LM_FILE_SELECTED;
	if (was == on)
		return;
	if (on)
		m->files[id].flags |= LM_FILE_SELECTED;
	else
		m->files[id].flags &= ~LM_FILE_SELECTED;
	if (m->files[id].ext_count)
		recat_file(m, id);
}

void lm_select_clear(struct lm_model *m)
{
	for (size_t i = 0; i < m->nfiles; i++)
		lm_select(m, (uint32_t)i, false);
}

/* -------------------------------------------------------------- index */

static int cmp_ient(const void *a, const void *b)
{
	const struct lm_ient *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return 0;
}

static bool ient_less(const struct lm_ient *x, const struct lm_ient *y)
{
	return x->start < y->start || (x->start == y->start && x->id < y->id);
}

/* One stable LSD radix pass of src into dst by the LM_RADIX_BITS-bit
 * digit at shift of the start (by_id: of the id). */
#define LM_RADIX_BITS 11
static void radix_pass(const struct lm_ient *src, struct lm_ient *dst, size_t n,
                       size_t *count, unsigned shift, bool by_id)
{
	const size_t nb = (size_t)1 << LM_RADIX_BITS, mask = nb - 1;

	memset(count, 0, (nb + 1) * sizeof(*count));
	for (size_t i = 0; i < n; i++) {
		uint64_t k = by_id ? src[i].id : src[i].start;
		count[((k >> shift) & mask) + 1]++;
	}
	for (size_t i = 1; i <= nb; i++)
		count[i] += count[i - 1];
	for (size_t i = 0; i < n; i++) {
		uint64_t k = by_id ? src[i].id : src[i].start;
		dst[count[(k >> shift) & mask]++] = src[i];
	}
}

/* Radix sort by start (then id, as qsort would): LSD, stable passes of
 * LM_RADIX_BITS bits (2048 buckets: the counters and the write heads
 * stay in the cache), only over the bits where the starts differ
 * (addresses are block aligned: the low 12 bits are all 0), and by id
 * only when the entries are not already in id order (a bulk load queues
 * them in id order). */
static int sort_entries(struct lm_ient *a, size_t n)
{
	struct lm_ient *tmp, *src = a, *dst, *t;
	size_t *count, got;
	uint64_t or_all = 0, and_all = ~0ull, diff;
	bool id_sorted = true;

	if (n < 4096) {
		mem_sort(a, n, sizeof(*a), cmp_ient);
		return 0;
	}
	tmp = big_malloc(n * sizeof(*tmp), &got);
	count = malloc(((1u << LM_RADIX_BITS) + 1) * sizeof(*count));
	if (!tmp || !count) {
		free(tmp);
		free(count);
		mem_sort(a, n, sizeof(*a), cmp_ient);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		or_all |= a[i].start;
		and_all &= a[i].start;
		if (i && a[i].id < a[i - 1].id)
			id_sorted = false;
	}
	dst = tmp;
	if (!id_sorted)
		for (unsigned sh = 0; sh < 32; sh += LM_RADIX_BITS) {
			radix_pass(src, dst, n, count, sh, true);
			t = src, src = dst, dst = t;
		}
	diff = or_all ^ and_all;
	if (diff) {
		unsigned lo = (unsigned)__builtin_ctzll(diff),
		         hi = 64 - (unsigned)__builtin_clzll(diff);
		for (unsigned sh = lo; sh < hi; sh += LM_RADIX_BITS) {
			radix_pass(src, dst, n, count, sh, false);
			t = src, src = dst, dst = t;
		}
	}
	if (src != a)
		memcpy(a, src, n * sizeof(*a));
	free(tmp);
	free(count);
	return 0;
}

static unsigned compute_cats(const struct lm_model *m, uint32_t id)
{
	if (id & LM_ID_SPACE) {
		const struct lm_space *s = &m->space[id & ~LM_ID_SPACE];
		return s->kind == LM_SPACE_FREE ? 1u << LM_CAT_FREE
		                                : 1u << LM_CAT_META;
	}
	const struct lm_extent *x = &m->ext[id];
	const struct lm_file *f = &m->files[x->file];
	unsigned c = 1u << LM_CAT_DATA;

	if (f->flags & LM_FILE_FRAG)
		c |= 1u << LM_CAT_FRAG;
	if (f->flags & LM_FILE_SELECTED)
		c |= 1u << LM_CAT_SELECTED;
	if (x->flags & RL_EXT_SHARED)
		c |= 1u << LM_CAT_SHARED;
	if (x->flags & RL_EXT_UNWRITTEN)
		c |= 1u << LM_CAT_UNWRITTEN;
	return c;
}

static void add_cats(uint64_t *acc, unsigned cats, uint64_t bytes)
{
	for (int c = 0; c < LM_CAT_N; c++)
		if (cats & (1u << c))
			acc[c] += bytes;
}

static int rebuild_prefix(struct lm_model *m)
{
	size_t nb = m->nidx / LM_BLOCK + 1;
	uint64_t acc[LM_CAT_N] = {0}, maxend = 0;

	if (nb > m->ncum) {
		void *c = realloc(m->cum, nb * sizeof(*m->cum));
		if (!c)
			return -ENOMEM;
		m->cum = c;
		void *x = realloc(m->maxend_before, nb * sizeof(uint64_t));
		if (!x)
			return -ENOMEM;
		m->maxend_before = x;
		m->ncum = nb;
	}
	for (size_t i = 0; i < m->nidx; i++) {
		if (i % LM_BLOCK == 0) {
			memcpy(m->cum[i / LM_BLOCK], acc, sizeof(acc));
			m->maxend_before[i / LM_BLOCK] = maxend;
		}
		add_cats(acc, ICATS(&m->idx[i]), ILEN(&m->idx[i]));
		if (m->idx[i].start + ILEN(&m->idx[i]) > maxend)
			maxend = m->idx[i].start + ILEN(&m->idx[i]);
	}
	if (m->nidx % LM_BLOCK == 0) {
		memcpy(m->cum[m->nidx / LM_BLOCK], acc, sizeof(acc));
		m->maxend_before[m->nidx / LM_BLOCK] = maxend;
	}
	m->prefix_dirty = false;
	return 0;
}

int lm_sync(struct lm_model *m)
{
	int r;

	if (m->ndead) {
		size_t w = 0;
		for (size_t i = 0; i < m->nidx; i++)
			if (m->idx[i].id != LM_ID_DEAD)
				m->idx[w++] = m->idx[i];
		m->nidx = w;
		m->ndead = 0;
		m->prefix_dirty = true;
	}
	if (m->npend) {
		r = big_reserve((void **)&m->idx, &m->idx_cap, m->nidx,
		                m->nidx + m->npend, sizeof(*m->idx));
		if (r < 0)
			return r;
		sort_entries(m->pend, m->npend);
		/* merge from the back */
		size_t i = m->nidx, j = m->npend, k = m->nidx + m->npend;
		while (j > 0) {
			if (i > 0 && ient_less(&m->pend[j - 1], &m->idx[i - 1]))
				m->idx[--k] = m->idx[--i];
			else
				m->idx[--k] = m->pend[--j];
		}
		m->nidx += m->npend;
		m->npend = 0;
		if (m->pend_cap > 4096) { /* give back a big build buffer */
			free(m->pend);
			m->pend = NULL;
			m->pend_cap = 0;
		}
		m->prefix_dirty = true;
	}
	if (m->prefix_dirty)
		return rebuild_prefix(m);
	return 0;
}

/* Shrink *p (capacity *cap elements of elem bytes) to n elements. */
static void shrink(void **p, size_t *cap, size_t n, size_t elem)
{
	void *np;

	if (n >= *cap || !n)
		return;
	np = realloc(*p, n * elem);
	if (np) { /* else keep the bigger block: still valid */
		*p = np;
		*cap = n;
	}
}

int lm_trim(struct lm_model *m)
{
	int r = lm_sync(m);

	if (r < 0)
		return r;
	/* hash tables: load 1/4..1/2 (built at under 1/4), shrunk in
	 * place */
	if (m->ino_hash_cap > hash_cap_for(m->nfiles))
		hash_shrink(m, &m->ino_hash, &m->ino_hash_cap,
		            hash_cap_for(m->nfiles), m->nfiles, ino_key);
	if (m->path_hash_cap > hash_cap_for(m->npaths))
		hash_shrink(m, &m->path_hash, &m->path_hash_cap,
		            hash_cap_for(m->npaths), m->npaths, path_key);
	shrink((void **)&m->files, &m->files_cap, m->nfiles, sizeof(*m->files));
	shrink((void **)&m->ext, &m->ext_cap, m->next, sizeof(*m->ext));
	shrink((void **)&m->space, &m->space_cap, m->nspace, sizeof(*m->space));
	shrink((void **)&m->arena, &m->arena_cap, m->arena_len, 1);
	shrink((void **)&m->paths, &m->paths_cap, m->npaths, sizeof(*m->paths));
	shrink((void **)&m->idx, &m->idx_cap, m->nidx, sizeof(*m->idx));
	free(m->pend);
	m->pend = NULL;
	m->pend_cap = 0;
	return 0;
}

/* First entry with start >= x. */
static size_t lower_bound(const struct lm_model *m, uint64_t x)
{
	size_t lo = 0, hi = m->nidx;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->idx[mid].start < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Bytes per category below address x: F(x) = sum over entries of
 * |[start, end) ∩ [0, x)|. */
static void below(const struct lm_model *m, uint64_t x, uint64_t *acc)
{
	size_t p = lower_bound(m, x), b = p / LM_BLOCK;

	memcpy(acc, m->cum[b], sizeof(uint64_t) * LM_CAT_N);
	for (size_t i = b * LM_BLOCK; i < p; i++)
		add_cats(acc, ICATS(&m->idx[i]), ILEN(&m->idx[i]));
	/* subtract the parts of straddling entries at or above x */
	for (size_t i = p; i-- > 0;) {
		const struct lm_ient *e = &m->idx[i];

		if (e->start + LM_CHUNK <= x)
			break;
		if ((i + 1) % LM_BLOCK == 0 &&
		    m->maxend_before[(i + 1) / LM_BLOCK] <= x)
			break; /* nothing at or before i reaches x */
		if (e->start + ILEN(e) > x) {
			uint64_t over = e->start + ILEN(e) - x;
			unsigned cats = ICATS(e);
			for (int c = 0; c < LM_CAT_N; c++)
				if (cats & (1u << c))
					acc[c] -= over;
		}
	}
}

int lm_range_stats(struct lm_model *m, uint64_t start, uint64_t end,
                   struct lm_stats *st)
{
	uint64_t a[LM_CAT_N], b[LM_CAT_N], used;
	int r;

	memset(st, 0, sizeof(*st));
	if (end <= start)
		return -EINVAL;
	if ((r = lm_sync(m)) < 0)
		return r;
	below(m, start, a);
	below(m, end, b);
	for (int c = 0; c < LM_CAT_N; c++)
		st->bytes[c] = b[c] - a[c];
	used = st->bytes[LM_CAT_FREE] + st->bytes[LM_CAT_META] +
	       st->bytes[LM_CAT_DATA];
	st->unknown = end - start > used ? end - start - used : 0;
	return 0;
}

/* ------------------------------------------------------------- owners */

static void fill_owner(const struct lm_model *m, const struct lm_ient *e,
                       uint64_t s, uint64_t len, struct lm_owner *o)
{
	memset(o, 0, sizeof(*o));
	o->start = s;
	o->length = len;
	o->file = LM_NONE;
	if (e->id & LM_ID_SPACE) {
		const struct lm_space *sp = &m->space[e->id & ~LM_ID_SPACE];
		o->kind = sp->kind == LM_SPACE_FREE ? LM_OWN_FREE : LM_OWN_META;
		if (o->kind == LM_OWN_META)
			o->label = lm_label(m, sp->label);
	} else {
		const struct lm_extent *x = &m->ext[e->id];
		o->kind = LM_OWN_FILE;
		o->file = x->file;
		o->logical = x->logical + (s - x->physical);
		o->flags = x->flags;
	}
}

int lm_owners(struct lm_model *m, uint64_t start, uint64_t end, lm_owner_cb cb,
              void *arg)
{
	size_t p, first;
	uint64_t covered = start;
	int r;

	if (end <= start)
		return -EINVAL;
	if ((r = lm_sync(m)) < 0)
		return r;
	/* earliest entry that may straddle start */
	p = lower_bound(m, start);
	first = p;
	for (size_t i = p; i-- > 0;) {
		if (m->idx[i].start + LM_CHUNK <= start)
			break;
		if ((i + 1) % LM_BLOCK == 0 &&
		    m->maxend_before[(i + 1) / LM_BLOCK] <= start)
			break;
		first = i;
	}
	for (size_t i = first; i < m->nidx && m->idx[i].start < end; i++) {
		const struct lm_ient *e = &m->idx[i];
		uint64_t s = e->start, t = e->start + ILEN(e);

		if (t <= start)
			continue;
		/* merge following chunks of the same record */
		while (i + 1 < m->nidx && m->idx[i + 1].id == e->id &&
		       m->idx[i + 1].start == t && t < end) {
			i++;
			t += ILEN(&m->idx[i]);
		}
		if (s < start)
			s = start;
		if (t > end)
			t = end;
		if (s > covered) {
			struct lm_owner g = {.kind = LM_OWN_UNKNOWN,
			                     .start = covered,
			                     .length = s - covered,
			                     .file = LM_NONE};
			if ((r = cb(&g, arg)) != 0)
				return r;
		}
		struct lm_owner o;
		fill_owner(m, e, s, t - s, &o);
		if ((r = cb(&o, arg)) != 0)
			return r;
		if (t > covered)
			covered = t;
	}
	if (covered < end) {
		struct lm_owner g = {.kind = LM_OWN_UNKNOWN,
		                     .start = covered,
		                     .length = end - covered,
		                     .file = LM_NONE};
		if ((r = cb(&g, arg)) != 0)
			return r;
	}
	return 0;
}

/* ------------------------------------------------------ fragmentation */

double lm_e4_score(uint64_t now, uint64_t best, uint64_t blocks)
{
	/* e4defrag -c: ratio = (now - best) * 100 / blocks, computed in
	 * float; score = ratio > 10 ? 80 + 20 * ratio / 100 : 8 * ratio. */
	float ratio;

	if (!blocks)
		return 0;
	ratio = (float)((double)(int64_t)(now - best)) * 100 / (float)blocks;
	return ratio > 10 ? 80 + 20 * ratio / 100 : 8 * ratio;
}

static uint64_t div_up(uint64_t a, uint64_t b)
{
	return a / b + (a % b != 0);
}

void lm_file_frag(const struct lm_model *m, uint32_t id,
                  struct lm_file_frag *ff)
{
	const struct lm_extent *e;
	size_t n;
	uint64_t bytes = 0, bs = m->geo.fs.block_size;

	memset(ff, 0, sizeof(*ff));
	e = lm_file_extents(m, id, &n);
	ff->extents = n;
	for (size_t i = 0; i < n; i++) {
		bytes += e[i].length;
		/* extents are in logical order; a run continues when the
		 * next extent follows both logically and physically */
		if (i == 0 ||
		    e[i - 1].logical + e[i - 1].length != e[i].logical ||
		    e[i - 1].physical + e[i - 1].length != e[i].physical)
			ff->regions++;
	}
	ff->blocks = bytes / bs;
	if (bytes) {
		ff->ideal = div_up(bytes, m->geo.max_extent);
		uint64_t unit = m->geo.fs.group_size / bs;
		if (m->geo.flex_groups > 1)
			unit *= m->geo.flex_groups;
		ff->e4_best =
		    unit && ff->blocks ? (ff->blocks - 1) / unit + 1 : 1;
		ff->e4_score = lm_e4_score(n, ff->e4_best, ff->blocks);
	}
	ff->fragmented = ff->regions > ff->ideal;
}

void lm_volume_frag(const struct lm_model *m,
                    bool (*want)(const struct lm_model *, uint32_t, void *),
                    void *arg, struct lm_vol_frag *vf)
{
	memset(vf, 0, sizeof(*vf));
	for (size_t i = 0; i < m->nfiles; i++) {
		const struct lm_file *f = &m->files[i];
		struct lm_file_frag ff;

		if (!S_ISREG(f->mode))
			continue;
		if (want && !want(m, (uint32_t)i, arg))
			continue;
		vf->files++;
		lm_file_frag(m, (uint32_t)i, &ff);
		if (!ff.extents)
			continue;
		vf->with_blocks++;
		vf->extents += ff.extents;
		vf->regions += ff.regions;
		vf->ideal += ff.ideal;
		vf->bytes += ff.blocks * m->geo.fs.block_size;
		if (ff.fragmented) {
			vf->fragmented++;
			vf->fragmented_bytes +=
			    ff.blocks * m->geo.fs.block_size;
		}
		/* e4defrag -c skips empty files, files without blocks and
		 * lost+found */
		const char *p = lm_file_path(m, (uint32_t)i, 0);
		if (f->size == 0 || !ff.blocks ||
		    (m->geo.fs.type == RL_FS_EXT4 && p &&
		     strncmp(p, "lost+found/", 11) == 0))
			continue;
		vf->e4_now += ff.extents;
		vf->e4_best += ff.e4_best;
		vf->e4_blocks += ff.blocks;
	}
	vf->e4_score = lm_e4_score(vf->e4_now, vf->e4_best, vf->e4_blocks);
}

void lm_group_range(const struct lm_model *m, uint64_t g, uint64_t *start,
                    uint64_t *end)
{
	uint64_t gs = m->geo.fs.group_size;

	if (!gs) {
		*start = 0;
		*end = m->geo.fs.size;
		return;
	}
	*start = m->geo.fs.first_data_byte + g * gs;
	*end = *start + gs;
	if (g == 0)
		*start = 0;
	if (*end > m->geo.fs.size || g + 1 >= m->geo.fs.group_count)
		*end = m->geo.fs.size;
}

static void ff_add(struct lm_freefrag *ff, uint64_t len, uint32_t bs)
{
	uint64_t blocks = len / bs;
	int b = 0;

	if (!len)
		return;
	while (b < LM_FF_BUCKETS - 1 && (blocks >> (b + 1)))
		b++;
	ff->count[b]++;
	ff->bytes[b] += len;
	ff->extents++;
	ff->free_bytes += len;
	if (len > ff->largest)
		ff->largest = len;
	if (!ff->smallest || len < ff->smallest)
		ff->smallest = len;
}

int lm_freefrag(struct lm_model *m, uint64_t start, uint64_t end,
                struct lm_freefrag *ff)
{
	size_t p;
	uint64_t run_s = 0, run_e = 0;
	int r;

	memset(ff, 0, sizeof(*ff));
	ff->start = start;
	ff->end = end;
	if (end <= start)
		return -EINVAL;
	if ((r = lm_sync(m)) < 0)
		return r;
	p = lower_bound(m, start);
	while (p > 0 && m->idx[p - 1].start + LM_CHUNK > start)
		p--;
	for (; p < m->nidx && m->idx[p].start < end; p++) {
		const struct lm_ient *e = &m->idx[p];
		uint64_t s = e->start, t = e->start + ILEN(e);

		if (!(e->id & LM_ID_SPACE) ||
		    m->space[e->id & ~LM_ID_SPACE].kind != LM_SPACE_FREE)
			continue;
		if (t <= start)
			continue;
		if (s < start)
			s = start;
		if (t > end)
			t = end;
		if (run_e > run_s && s <= run_e) {
			if (t > run_e)
				run_e = t;
			continue;
		}
		ff_add(ff, run_e - run_s, m->geo.fs.block_size);
		run_s = s;
		run_e = t;
	}
	ff_add(ff, run_e - run_s, m->geo.fs.block_size);
	return 0;
}

/* ------------------------------------------------------------ refresh */

/* Mark the index entries of [start, start+len) with id dead. */
static void kill_entries(struct lm_model *m, uint64_t start, uint64_t len,
                         uint32_t id)
{
	while (len) {
		uint32_t l = len > LM_CHUNK ? LM_CHUNK : (uint32_t)len;
		bool found = false;

		for (size_t i = lower_bound(m, start);
		     i < m->nidx && m->idx[i].start == start; i++) {
			if (m->idx[i].id == id) {
				m->idx[i].id = LM_ID_DEAD;
				m->ndead++;
				found = true;
				break;
			}
		}
		/* still queued (not sorted in yet): dropped from the queue */
		for (size_t i = 0; !found && i < m->npend; i++) {
			if (m->pend[i].start == start && m->pend[i].id == id) {
				m->pend[i] = m->pend[--m->npend];
				found = true;
			}
		}
		start += l;
		len -= l;
	}
	m->prefix_dirty = true;
}

int lm_set_file_attrs(struct lm_model *m, uint32_t id, unsigned have,
                      uint32_t generation, uint32_t iflags)
{
	if (id >= m->nfiles)
		return -EINVAL;
	m->files[id].flags |= LM_FILE_ATTRS_READ;
	if (have & LM_FILE_HAS_GEN) {
		m->files[id].generation = generation;
		m->files[id].flags |= LM_FILE_HAS_GEN;
	}
	if (have & LM_FILE_HAS_IFLAGS) {
		m->files[id].iflags = iflags;
		m->files[id].flags |= LM_FILE_HAS_IFLAGS;
	}
	return 0;
}

int lm_refresh_file(struct lm_model *m, uint32_t id,
                    const struct rl_extent *ext, size_t n)
{
	struct lm_file *f;
	int r;

	if (id >= m->nfiles || (n && !ext))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!range_ok(m, ext[i].physical, ext[i].length))
			return -EINVAL;
	/* queued entries are searched in the queue (kill_entries) while it
	 * is short: a refresh per step of an apply does not sort the whole
	 * index each time */
	if (m->npend > LM_PEND_SCAN && (r = lm_sync(m)) < 0)
		return r;
	f = &m->files[id];
	size_t room = f->ext_count;
	for (uint32_t i = 0; i < f->ext_count; i++) {
		const struct lm_extent *e = &m->ext[f->ext_first + i];
		kill_entries(m, e->physical, e->length, f->ext_first + i);
	}
	m->ext_live -= f->ext_count;
	f->ext_count = 0;
	return store_extents(m, id, ext, n, room);
}

int lm_refresh_free(struct lm_model *m, uint64_t start, uint64_t end,
                    const struct rl_free_extent *fe, size_t n)
{
	uint32_t *victims = NULL;
	size_t nv = 0, vcap = 0;
	int r;

	if (end <= start || (n && !fe))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!range_ok(m, fe[i].start, fe[i].len))
			return -EINVAL;
	if (m->npend > LM_PEND_SCAN && (r = lm_sync(m)) < 0)
		return r;
	/* the free records overlapping [start, end): in the index, then in
	 * the queue */
	size_t p = lower_bound(m, start), q = 0;
	while (p > 0 && m->idx[p - 1].start + LM_CHUNK > start)
		p--;
	for (;; p++) {
		const struct lm_ient *e;

		if (p < m->nidx && m->idx[p].start < end)
			e = &m->idx[p];
		else if (q < m->npend)
			e = &m->pend[q++];
		else
			break;
		if (e->id == LM_ID_DEAD || !(e->id & LM_ID_SPACE) ||
		    m->space[e->id & ~LM_ID_SPACE].kind != LM_SPACE_FREE ||
		    e->start + ILEN(e) <= start || e->start >= end)
			continue;
		uint32_t sid = e->id & ~LM_ID_SPACE;
		bool seen = false;
		for (size_t k = 0; k < nv; k++)
			if (victims[k] == sid)
				seen = true;
		if (seen)
			continue;
		if ((r = mem_grow(&victims, &vcap, nv + 1, sizeof(*victims))) <
		    0)
			goto out;
		victims[nv++] = sid;
	}
	for (size_t k = 0; k < nv; k++) {
		struct lm_space old = m->space[victims[k]];

		kill_entries(m, old.start, old.length,
		             victims[k] | LM_ID_SPACE);
		m->space[victims[k]].length = 0; /* slot dead */
		if (old.start < start &&
		    (r = lm_add_free(m, old.start, start - old.start)) < 0)
			goto out;
		if (old.start + old.length > end &&
		    (r = lm_add_free(m, end, old.start + old.length - end)) < 0)
			goto out;
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t s = fe[i].start, t = fe[i].start + fe[i].len;
		if (s < start)
			s = start;
		if (t > end)
			t = end;
		if (t > s && (r = lm_add_free(m, s, t - s)) < 0)
			goto out;
	}
	r = 0;
out:
	free(victims);
	return r;
}
