/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * JSON layout snapshots. The writer emits one file object per line, built
 * and printed with cJSON, so memory stays bounded by the largest file; the
 * reader parses with cJSON and validates every value before it reaches the
 * model. Integers up to 2^53 are JSON numbers (exact in a double); larger
 * ones are decimal strings. Export -> import -> export is byte-identical.
 */
#include "config.h"
#include "snapshot.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "json_util.h"
#include "mem.h"
#include "output.h"

/* ------------------------------------------------------------- writing */

/* ju_u64's encoding, written straight to f. */
static void w_u64(FILE *f, uint64_t v)
{
	if (v <= JU_EXACT_MAX)
		fprintf(f, "%" PRIu64, v);
	else
		fprintf(f, "\"%" PRIu64 "\"", v);
}

static int put_json(FILE *f, cJSON *o)
{
	char *t;

	if (!o)
		return -ENOMEM;
	t = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!t)
		return -ENOMEM;
	fputs(t, f);
	free(t);
	return 0;
}

static cJSON *file_json(struct lm_model *m, uint32_t id)
{
	const struct lm_file *f = lm_file(m, id);
	cJSON *o = cJSON_CreateObject(), *paths, *ext;
	const struct lm_extent *e;
	size_t n;

	if (!o)
		return NULL;
	ju_add_u64(o, "inode", f->ino);
	ju_add_u64(o, "mode", f->mode);
	ju_add_u64(o, "size", f->size);
	if (f->flags & LM_FILE_HAS_GEN)
		ju_add_u64(o, "generation", f->generation);
	if (f->flags & LM_FILE_HAS_IFLAGS)
		ju_add_u64(o, "iflags", f->iflags);
	if (f->err)
		ju_add_u64(o, "errno", (uint64_t)-f->err);
	if (f->flags & LM_FILE_SELECTED)
		cJSON_AddTrueToObject(o, "selected");
	paths = cJSON_AddArrayToObject(o, "paths");
	for (uint32_t k = 0; paths && k < f->npaths; k++)
		cJSON_AddItemToArray(paths,
		                     out_json_name(lm_file_path(m, id, k)));
	ext = cJSON_AddArrayToObject(o, "extents");
	e = lm_file_extents(m, id, &n);
	for (size_t i = 0; ext && i < n; i++) {
		cJSON *a = cJSON_CreateArray();
		if (!a)
			break;
		cJSON_AddItemToArray(a, ju_u64(e[i].logical));
		cJSON_AddItemToArray(a, ju_u64(e[i].physical));
		cJSON_AddItemToArray(a, ju_u64(e[i].length));
		cJSON_AddItemToArray(a, ju_u64(e[i].flags));
		cJSON_AddItemToArray(ext, a);
	}
	return o;
}

int snap_write(struct lm_model *m, FILE *f)
{
	const struct lm_geometry *g = lm_geometry(m);
	struct lm_space *sp = NULL;
	ssize_t ns;
	char created[32];
	time_t t = (time_t)lm_created(m);
	struct tm tm;
	cJSON *v;
	int r;

	if (!gmtime_r(&t, &tm))
		memset(&tm, 0, sizeof(tm));
	strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(f,
	        "{\"format\":\"%s\",\"format_version\":%d,"
	        "\"program_version\":",
	        SNAP_FORMAT, SNAP_VERSION);
	if ((r = put_json(f, cJSON_CreateString(PACKAGE_VERSION))) < 0)
		return r;
	fprintf(f, ",\"created\":\"%s\",\n\"volume\":", created);
	v = cJSON_CreateObject();
	if (!v)
		return -ENOMEM;
	out_add_name(v, "mountpoint", g->fs.mountpoint);
	out_add_name(v, "device", g->fs.device);
	cJSON_AddStringToObject(v, "fstype", g->fs.fstype);
	cJSON_AddStringToObject(v, "type", rl_fs_type_name(g->fs.type));
	cJSON_AddStringToObject(v, "uuid", g->fs.uuid);
	out_add_name(v, "label", g->fs.label);
	cJSON_AddStringToObject(v, "address_space",
	                        g->fs.addr_space == RL_ADDR_BTRFS_LOGICAL
	                            ? "btrfs-logical"
	                            : "device");
	ju_add_u64(v, "block_size", g->fs.block_size);
	ju_add_u64(v, "size", g->fs.size);
	ju_add_u64(v, "total_blocks", g->fs.total_blocks);
	ju_add_u64(v, "free_blocks", g->fs.free_blocks);
	ju_add_u64(v, "group_count", g->fs.group_count);
	ju_add_u64(v, "group_size", g->fs.group_size);
	ju_add_u64(v, "first_data_byte", g->fs.first_data_byte);
	ju_add_u64(v, "features", g->fs.features);
	ju_add_u64(v, "max_extent", g->max_extent);
	ju_add_u64(v, "flex_groups", g->flex_groups);
	if (g->fs.ext4_inodes_per_group)
		ju_add_u64(v, "inodes_per_group", g->fs.ext4_inodes_per_group);
	ju_add_u64(v, "free_map_errno", (uint64_t)-lm_free_map_status(m));
	if ((r = put_json(f, v)) < 0)
		return r;

	for (int kind = LM_SPACE_FREE; kind <= LM_SPACE_META; kind++) {
		ns = lm_space_list(m, (enum lm_space_kind)kind, &sp);
		if (ns < 0)
			return (int)ns;
		fprintf(f, ",\n\"%s\":[",
		        kind == LM_SPACE_FREE ? "free" : "metadata");
		for (ssize_t i = 0; i < ns; i++) {
			fputs(i ? ",[" : "[", f);
			w_u64(f, sp[i].start);
			fputc(',', f);
			w_u64(f, sp[i].length);
			if (kind == LM_SPACE_META) {
				fputc(',', f);
				r = put_json(f, cJSON_CreateString(
				                    lm_label(m, sp[i].label)));
				if (r < 0) {
					free(sp);
					return r;
				}
			}
			fputc(']', f);
		}
		fputc(']', f);
		free(sp);
		sp = NULL;
	}
	fputs(",\n\"files\":[", f);
	for (size_t i = 0; i < lm_file_count(m); i++) {
		fputs(i ? ",\n" : "\n", f);
		if ((r = put_json(f, file_json(m, (uint32_t)i))) < 0)
			return r;
	}
	fputs("\n]}\n", f);
	return ferror(f) ? -EIO : 0;
}

int snap_export(struct lm_model *m, const char *path, mode_t mode)
{
	struct out_file of;
	int r = out_file_open(&of, path, mode);

	if (r < 0)
		return r;
	return out_file_close(&of, snap_write(m, of.f));
}

/* ------------------------------------------------------------- reading */

struct rd {
	const char *name;
	char *err;
	size_t errlen;
	const struct lm_geometry *g;
};

__attribute__((format(printf, 2, 3))) static int bad(struct rd *rd,
                                                     const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(rd->err, rd->errlen, "%s: %s", rd->name, msg);
	return -EINVAL;
}

/* An unsigned integer: a JSON number that is integral and <= 2^53, or a
 * string of decimal digits that fits in 64 bits. */
static int get_u64(struct rd *rd, const cJSON *it, const char *what,
                   uint64_t max, uint64_t *out)
{
	if (cJSON_IsNumber(it)) {
		double d = it->valuedouble;
		if (!(d >= 0) || d > (double)JU_EXACT_MAX ||
		    d != (double)(uint64_t)d)
			return bad(rd,
			           "%s: not an unsigned integer "
			           "(or above 2^53 without quotes)",
			           what);
		*out = (uint64_t)d;
	} else if (cJSON_IsString(it)) {
		const char *s = it->valuestring;
		uint64_t v = 0;
		if (!*s || (s[0] == '0' && s[1]))
			return bad(rd, "%s: \"%.32s\" is not a decimal integer",
			           what, s);
		for (; *s; s++) {
			if (*s < '0' || *s > '9')
				return bad(rd, "%s: not a decimal integer",
				           what);
			if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
				return bad(rd, "%s: does not fit in 64 bits",
				           what);
			v = v * 10 + (uint64_t)(*s - '0');
		}
		*out = v;
	} else {
		return bad(rd, "%s: %s", what, it ? "not a number" : "missing");
	}
	if (*out > max)
		return bad(rd,
		           "%s: %" PRIu64 " is out of range (max %" PRIu64 ")",
		           what, *out, max);
	return 0;
}

static int get_str(struct rd *rd, const cJSON *o, const char *key, char *dst,
                   size_t size)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsString(it))
		return bad(rd, "volume.%s: %s", key,
		           it ? "not a string" : "missing");
	if (strlen(it->valuestring) >= size)
		return bad(rd, "volume.%s: longer than %zu bytes", key,
		           size - 1);
	memcpy(dst, it->valuestring, strlen(it->valuestring) + 1);
	return 0;
}

static int get_vu64(struct rd *rd, const cJSON *o, const char *key,
                    uint64_t max, uint64_t *out)
{
	char what[64];

	snprintf(what, sizeof(what), "volume.%s", key);
	return get_u64(rd, cJSON_GetObjectItemCaseSensitive(o, key), what, max,
	               out);
}

/* A group (ext4 block group, XFS AG) may be larger than a small volume:
 * ext4 makes 128 MiB groups on a 64 MiB volume. Up to 1 TiB (the largest
 * XFS AG), or the volume size if that is larger. */
static uint64_t max_group_size(uint64_t size)
{
	return size > (1ull << 40) ? size : 1ull << 40;
}

static int read_volume(struct rd *rd, const cJSON *v, struct lm_geometry *g,
                       int *free_err)
{
	struct rl_fs_info *fs = &g->fs;
	char tname[16], as[16];
	uint64_t x;
	int r;

	if (!cJSON_IsObject(v))
		return bad(rd, "volume: missing or not an object");
	memset(g, 0, sizeof(*g));
	if ((r = get_str(rd, v, "mountpoint", fs->mountpoint,
	                 sizeof(fs->mountpoint))) < 0 ||
	    (r = get_str(rd, v, "device", fs->device, sizeof(fs->device))) <
	        0 ||
	    (r = get_str(rd, v, "fstype", fs->fstype, sizeof(fs->fstype))) <
	        0 ||
	    (r = get_str(rd, v, "type", tname, sizeof(tname))) < 0 ||
	    (r = get_str(rd, v, "uuid", fs->uuid, sizeof(fs->uuid))) < 0 ||
	    (r = get_str(rd, v, "label", fs->label, sizeof(fs->label))) < 0 ||
	    (r = get_str(rd, v, "address_space", as, sizeof(as))) < 0)
		return r;
	if (!strcmp(tname, "ext4"))
		fs->type = RL_FS_EXT4;
	else if (!strcmp(tname, "xfs"))
		fs->type = RL_FS_XFS;
	else if (!strcmp(tname, "btrfs"))
		fs->type = RL_FS_BTRFS;
	else if (!strcmp(tname, "other"))
		fs->type = RL_FS_OTHER;
	else
		return bad(rd, "volume.type: unknown type \"%s\"", tname);
	if (!strcmp(as, "device"))
		fs->addr_space = RL_ADDR_DEVICE;
	else if (!strcmp(as, "btrfs-logical"))
		fs->addr_space = RL_ADDR_BTRFS_LOGICAL;
	else
		return bad(rd, "volume.address_space: unknown \"%s\"", as);
	if ((r = get_vu64(rd, v, "block_size", 1u << 20, &x)) < 0)
		return r;
	if (x < 512 || (x & (x - 1)))
		return bad(rd,
		           "volume.block_size: %" PRIu64
		           " is not a power of two >= 512",
		           x);
	fs->block_size = (uint32_t)x;
	if ((r = get_vu64(rd, v, "size", UINT64_MAX, &fs->size)) < 0)
		return r;
	if (!fs->size)
		return bad(rd, "volume.size: 0");
	if ((r = get_vu64(rd, v, "total_blocks", fs->size / 512,
	                  &fs->total_blocks)) < 0 ||
	    (r = get_vu64(rd, v, "free_blocks", fs->size / 512,
	                  &fs->free_blocks)) < 0 ||
	    (r = get_vu64(rd, v, "group_size", max_group_size(fs->size),
	                  &fs->group_size)) < 0 ||
	    (r = get_vu64(rd, v, "first_data_byte", fs->size,
	                  &fs->first_data_byte)) < 0 ||
	    (r = get_vu64(rd, v, "max_extent", UINT64_MAX, &g->max_extent)) < 0)
		return r;
	if ((r = get_vu64(rd, v, "group_count", fs->size / 512,
	                  &fs->group_count)) < 0)
		return r;
	if (fs->group_count && !fs->group_size && fs->type != RL_FS_BTRFS)
		return bad(rd, "volume.group_size: 0 with %" PRIu64 " groups",
		           fs->group_count);
	if (!g->max_extent)
		return bad(rd, "volume.max_extent: 0");
	if ((r = get_vu64(rd, v, "features", UINT32_MAX, &x)) < 0)
		return r;
	fs->features = (uint32_t)x;
	if ((r = get_vu64(rd, v, "flex_groups", 1u << 30, &x)) < 0)
		return r;
	g->flex_groups = (uint32_t)x;
	fs->ext4_flex_groups = fs->type == RL_FS_EXT4 ? g->flex_groups : 0;
	/* (optional: snapshots before it have none) */
	if (cJSON_GetObjectItemCaseSensitive(v, "inodes_per_group")) {
		if ((r = get_vu64(rd, v, "inodes_per_group", UINT32_MAX, &x)) <
		    0)
			return r;
		fs->ext4_inodes_per_group = (uint32_t)x;
	}
	if ((r = get_vu64(rd, v, "free_map_errno", 4095, &x)) < 0)
		return r;
	*free_err = -(int)x;
	rd->g = g;
	return 0;
}

/* [a, b, ...] with exactly n unsigned integers (n_str trailing string). */
static int get_tuple(struct rd *rd, const cJSON *a, const char *what, int n,
                     uint64_t *v, const char **str)
{
	int count = cJSON_GetArraySize(a), k = 0;
	const cJSON *it;

	if (!cJSON_IsArray(a) || count != n + (str ? 1 : 0))
		return bad(rd, "%s: expected an array of %d %s", what,
		           n + (str ? 1 : 0),
		           str ? "values (numbers, then a label)" : "numbers");
	cJSON_ArrayForEach(it, a)
	{
		char w[96];
		if (k == n) {
			if (!cJSON_IsString(it) || strlen(it->valuestring) > 63)
				return bad(rd,
				           "%s: label is not a string of "
				           "at most 63 bytes",
				           what);
			*str = it->valuestring;
			break;
		}
		snprintf(w, sizeof(w), "%s[%d]", what, k);
		int r = get_u64(rd, it, w, UINT64_MAX, &v[k]);
		if (r < 0)
			return r;
		k++;
	}
	return 0;
}

static int check_range(struct rd *rd, const char *what, uint64_t start,
                       uint64_t len)
{
	if (!len)
		return bad(rd, "%s: length 0", what);
	if (start + len < start || start + len > rd->g->fs.size)
		return bad(rd,
		           "%s: [%" PRIu64 ", +%" PRIu64
		           ") lies beyond the volume size %" PRIu64,
		           what, start, len, rd->g->fs.size);
	return 0;
}

static int read_space(struct rd *rd, struct lm_model *m, const cJSON *arr,
                      const char *key)
{
	bool meta = strcmp(key, "metadata") == 0;
	uint64_t prev_end = 0;
	const cJSON *it;
	int i = 0, r;

	if (!cJSON_IsArray(arr))
		return bad(rd, "%s: missing or not an array", key);
	cJSON_ArrayForEach(it, arr)
	{
		char what[64];
		uint64_t v[2];
		const char *label = NULL;

		snprintf(what, sizeof(what), "%s[%d]", key, i);
		if ((r = get_tuple(rd, it, what, 2, v, meta ? &label : NULL)) <
		        0 ||
		    (r = check_range(rd, what, v[0], v[1])) < 0)
			return r;
		if (i && v[0] < prev_end)
			return bad(rd,
			           "%s: overlaps or is out of order with "
			           "the previous record",
			           what);
		prev_end = v[0] + v[1];
		r = meta ? lm_add_metadata(m, v[0], v[1], label)
		         : lm_add_free(m, v[0], v[1]);
		if (r < 0)
			return r == -ENOMEM ? r : bad(rd, "%s: rejected", what);
		i++;
	}
	return 0;
}

static int read_file_obj(struct rd *rd, struct lm_model *m, const cJSON *o,
                         int idx, struct rl_extent **buf, size_t *bufcap)
{
	char what[96];
	struct lm_file_info fi = {0};
	const cJSON *paths, *exts, *it;
	uint64_t x;
	size_t n = 0;
	uint32_t id;
	int r, k;

#define FIELD(key, max, dst)                                                   \
	do {                                                                   \
		snprintf(what, sizeof(what), "files[%d].%s", idx, key);        \
		if ((r = get_u64(rd, cJSON_GetObjectItemCaseSensitive(o, key), \
		                 what, max, &x)) < 0)                          \
			return r;                                              \
		dst = x;                                                       \
	} while (0)

	if (!cJSON_IsObject(o))
		return bad(rd, "files[%d]: not an object", idx);
	FIELD("inode", UINT64_MAX, fi.ino);
	FIELD("mode", UINT32_MAX, fi.mode);
	FIELD("size", INT64_MAX, fi.size);
	if (cJSON_GetObjectItemCaseSensitive(o, "generation")) {
		FIELD("generation", UINT32_MAX, fi.generation);
		fi.flags |= LM_FILE_HAS_GEN;
	}
	if (cJSON_GetObjectItemCaseSensitive(o, "iflags")) {
		FIELD("iflags", UINT32_MAX, fi.iflags);
		fi.flags |= LM_FILE_HAS_IFLAGS;
	}
	if (cJSON_GetObjectItemCaseSensitive(o, "errno")) {
		FIELD("errno", 4095, x);
		fi.err = -(int32_t)x;
		if (!x)
			return bad(rd, "files[%d].errno: 0", idx);
	}
	it = cJSON_GetObjectItemCaseSensitive(o, "selected");
	if (it) {
		if (!cJSON_IsTrue(it))
			return bad(rd,
			           "files[%d].selected: only true is "
			           "written",
			           idx);
		fi.flags |= LM_FILE_SELECTED;
	}
#undef FIELD
	if (lm_find_inode(m, fi.ino) != LM_NONE)
		return bad(rd,
		           "files[%d].inode: %" PRIu64
		           " appears twice (hard links are one file with "
		           "several paths)",
		           idx, fi.ino);
	paths = cJSON_GetObjectItemCaseSensitive(o, "paths");
	if (!cJSON_IsArray(paths) || cJSON_GetArraySize(paths) < 1)
		return bad(
		    rd, "files[%d].paths: missing, not an array or empty", idx);
	k = 0;
	cJSON_ArrayForEach(it, paths)
	{
		const char *why;
		if (!cJSON_IsString(it))
			return bad(rd, "files[%d].paths[%d]: not a string", idx,
			           k);
		if (!lm_path_valid(it->valuestring, &why))
			return bad(rd, "files[%d].paths[%d]: \"%.80s\" is %s",
			           idx, k, it->valuestring, why);
		if (lm_find_path(m, it->valuestring) != LM_NONE)
			return bad(rd,
			           "files[%d].paths[%d]: \"%.80s\" names "
			           "another file too",
			           idx, k, it->valuestring);
		k++;
	}
	exts = cJSON_GetObjectItemCaseSensitive(o, "extents");
	if (!cJSON_IsArray(exts))
		return bad(rd, "files[%d].extents: missing or not an array",
		           idx);
	int ne = cJSON_GetArraySize(exts);
	if (mem_grow(buf, bufcap, (size_t)ne, sizeof(**buf)) < 0)
		return -ENOMEM;
	uint64_t logical_end = 0;
	cJSON_ArrayForEach(it, exts)
	{
		uint64_t v[4];
		snprintf(what, sizeof(what), "files[%d].extents[%zu]", idx, n);
		if ((r = get_tuple(rd, it, what, 4, v, NULL)) < 0 ||
		    (r = check_range(rd, what, v[1], v[2])) < 0)
			return r;
		if (v[0] + v[2] < v[0] || v[0] + v[2] > (uint64_t)INT64_MAX)
			return bad(rd, "%s: logical range overflows", what);
		if (v[3] > UINT32_MAX)
			return bad(rd, "%s: flags out of range", what);
		if (n && v[0] < logical_end)
			return bad(rd,
			           "%s: overlaps the previous extent or is "
			           "out of logical order",
			           what);
		logical_end = v[0] + v[2];
		(*buf)[n].logical = v[0];
		(*buf)[n].physical = v[1];
		(*buf)[n].length = v[2];
		(*buf)[n].flags = (uint32_t)v[3];
		n++;
	}
	/* non-overlapping, non-empty extents: at most one per block of the
	 * logical span (plus a tail) */
	uint64_t bs = rd->g->fs.block_size;
	if (n > logical_end / bs + 2)
		return bad(rd,
		           "files[%d].extents: %zu extents cannot fit in "
		           "%" PRIu64 " bytes",
		           idx, n, logical_end);
	r = lm_add_file(m, &fi, cJSON_GetArrayItem(paths, 0)->valuestring, *buf,
	                n, &id);
	if (r < 0)
		return r == -ENOMEM ? r
		                    : bad(rd, "files[%d]: rejected (%s)", idx,
		                          strerror(-r));
	k = 0;
	cJSON_ArrayForEach(it, paths)
	{
		if (k++ == 0)
			continue;
		r = lm_add_path(m, id, it->valuestring);
		if (r < 0)
			return r == -ENOMEM ? r
			                    : bad(rd,
			                          "files[%d].paths[%d]: "
			                          "rejected",
			                          idx, k - 1);
	}
	return 0;
}

struct ovl {
	struct rd *rd;
	struct lm_model *m;
	uint64_t end; /* furthest end so far */
	bool shared;  /* the record that reached it is shared data */
	int kind;
	uint32_t file;
	int err;
};

static const char *own_name(struct lm_model *m, int kind, uint32_t file)
{
	if (kind == LM_OWN_FILE)
		return lm_file_path(m, file, 0);
	return kind == LM_OWN_FREE ? "free space" : "metadata";
}

static int ovl_cb(const struct lm_owner *o, void *arg)
{
	struct ovl *v = arg;
	bool sh = o->kind == LM_OWN_FILE && (o->flags & RL_EXT_SHARED);

	if (o->kind == LM_OWN_UNKNOWN)
		return 0;
	if (o->start < v->end && !(sh && v->shared)) {
		char a[128], b[128];
		snprintf(a, sizeof(a), "%s", own_name(v->m, v->kind, v->file));
		snprintf(b, sizeof(b), "%s", own_name(v->m, o->kind, o->file));
		v->err = bad(v->rd,
		             "overlapping extents at byte %" PRIu64
		             ": %.100s and %.100s (only extents flagged "
		             "shared may overlap)",
		             o->start, a, b);
		return 1;
	}
	if (o->start + o->length > v->end) {
		v->end = o->start + o->length;
		v->shared = sh;
		v->kind = o->kind;
		v->file = o->file;
	}
	return 0;
}

/* Reject NUL bytes and \u0000 escapes: C strings cannot carry them. */
static int check_nul(struct rd *rd, const char *buf, size_t len)
{
	bool instr = false;

	for (size_t i = 0; i < len; i++) {
		char c = buf[i];
		if (c == '\0')
			return bad(rd, "binary data (NUL byte at offset %zu)",
			           i);
		if (!instr) {
			if (c == '"')
				instr = true;
			continue;
		}
		if (c == '"') {
			instr = false;
		} else if (c == '\\' && i + 1 < len) {
			if (buf[i + 1] == 'u' && i + 5 < len &&
			    memcmp(buf + i + 2, "0000", 4) == 0)
				return bad(rd,
				           "a string holds a NUL character "
				           "(\\u0000) at offset %zu",
				           i);
			i++;
		}
	}
	return 0;
}

int snap_import_buf(const char *buf, size_t len, const char *name,
                    struct lm_model **out, char *err, size_t errlen)
{
	struct rd rd = {.name = name, .err = err, .errlen = errlen};
	struct lm_geometry g;
	struct lm_model *m = NULL;
	struct rl_extent *eb = NULL;
	size_t ebcap = 0;
	const char *end = NULL;
	cJSON *root, *it;
	int r, free_err = 0, i;

	*out = NULL;
	if (errlen)
		err[0] = '\0';
	if (len == 0)
		return bad(&rd, "empty file (not a snapshot)");
	if (len > SNAP_MAX_BYTES) {
		snprintf(err, errlen, "%s: larger than the %llu byte limit",
		         name, (unsigned long long)SNAP_MAX_BYTES);
		return -EFBIG;
	}
	if ((r = check_nul(&rd, buf, len)) < 0)
		return r;
	root = cJSON_ParseWithLengthOpts(buf, len, &end, false);
	if (!root) {
		size_t off = end && end >= buf ? (size_t)(end - buf) : 0;
		const char *e = cJSON_GetErrorPtr();
		if (e && e >= buf && e <= buf + len)
			off = (size_t)(e - buf);
		return bad(&rd,
		           "not valid JSON (or nested deeper than %d "
		           "levels): error near byte %zu of %zu",
		           CJSON_NESTING_LIMIT, off, len);
	}
	while (end && (size_t)(end - buf) < len && strchr(" \t\r\n", *end))
		end++;
	if (end && (size_t)(end - buf) < len) {
		r = bad(&rd,
		        "trailing data after the JSON document at byte "
		        "%zu",
		        (size_t)(end - buf));
		goto done;
	}
	if (!cJSON_IsObject(root)) {
		r = bad(&rd, "not a relayout snapshot (the document is not an "
		             "object)");
		goto done;
	}
	it = cJSON_GetObjectItemCaseSensitive(root, "format");
	if (!cJSON_IsString(it) || strcmp(it->valuestring, SNAP_FORMAT)) {
		r = bad(&rd,
		        "not a relayout snapshot (\"format\" is not "
		        "\"%s\")",
		        SNAP_FORMAT);
		goto done;
	}
	it = cJSON_GetObjectItemCaseSensitive(root, "format_version");
	if (!cJSON_IsNumber(it)) {
		r = bad(&rd, "format_version: missing or not a number");
		goto done;
	}
	if (it->valuedouble != SNAP_VERSION) {
		r = bad(&rd,
		        "format_version %g is not supported (this "
		        "relayout reads version %d)",
		        it->valuedouble, SNAP_VERSION);
		goto done;
	}
	it = cJSON_GetObjectItemCaseSensitive(root, "program_version");
	if (!cJSON_IsString(it)) {
		r = bad(&rd, "program_version: missing or not a string");
		goto done;
	}
	it = cJSON_GetObjectItemCaseSensitive(root, "created");
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *rest =
	    cJSON_IsString(it)
	        ? strptime(it->valuestring, "%Y-%m-%dT%H:%M:%SZ", &tm)
	        : NULL;
	if (!rest || *rest || strlen(it->valuestring) != 20) {
		r = bad(&rd, "created: not an ISO-8601 UTC time "
		             "(YYYY-MM-DDTHH:MM:SSZ)");
		goto done;
	}
	if ((r = read_volume(&rd,
	                     cJSON_GetObjectItemCaseSensitive(root, "volume"),
	                     &g, &free_err)) < 0)
		goto done;
	m = lm_new(&g);
	if (!m) {
		r = -ENOMEM;
		goto done;
	}
	lm_set_created(m, (int64_t)timegm(&tm));
	lm_set_free_map_status(m, free_err);
	if ((r = read_space(&rd, m,
	                    cJSON_GetObjectItemCaseSensitive(root, "free"),
	                    "free")) < 0 ||
	    (r = read_space(&rd, m,
	                    cJSON_GetObjectItemCaseSensitive(root, "metadata"),
	                    "metadata")) < 0)
		goto done;
	it = cJSON_GetObjectItemCaseSensitive(root, "files");
	if (!cJSON_IsArray(it)) {
		r = bad(&rd, "files: missing or not an array");
		goto done;
	}
	i = 0;
	const cJSON *fo;
	cJSON_ArrayForEach(fo, it)
	{
		if ((r = read_file_obj(&rd, m, fo, i, &eb, &ebcap)) < 0)
			goto done;
		i++;
	}
	/* physical overlaps between any two records */
	struct ovl ov = {.rd = &rd, .m = m};
	r = lm_owners(m, 0, g.fs.size, ovl_cb, &ov);
	if (r > 0)
		r = ov.err;
	if (r == 0)
		r = lm_trim(m); /* give back the arrays' growth slack */
	if (r < 0)
		goto done;
	*out = m;
	m = NULL;
	r = 0;
done:
	if (r == -ENOMEM && err[0] == '\0')
		snprintf(err, errlen, "%s: out of memory", name);
	free(eb);
	lm_free(m);
	cJSON_Delete(root);
	return r;
}

int snap_import(const char *path, struct lm_model **out, char *err,
                size_t errlen)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	int fd, r;

	*out = NULL;
	/* O_NONBLOCK: opening a FIFO must not wait for a writer (it is
	 * refused below, like every file that is not regular). */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", path,
		         strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, errlen, "%s: not a regular file", path);
		return -EINVAL;
	}
	if ((uint64_t)st.st_size > SNAP_MAX_BYTES) {
		close(fd);
		snprintf(err, errlen,
		         "%s: %lld bytes, larger than the %llu "
		         "byte limit",
		         path, (long long)st.st_size,
		         (unsigned long long)SNAP_MAX_BYTES);
		return -EFBIG;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			snprintf(err, errlen, "%s: read error: %s", path,
			         strerror(-r));
			free(buf);
			close(fd);
			return r;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	r = snap_import_buf(buf, got, path, out, err, errlen);
	free(buf);
	return r;
}
