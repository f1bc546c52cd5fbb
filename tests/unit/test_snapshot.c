/* Unit tests: JSON snapshots -- round trip and malformed input. */
#include "config.h"
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "layout_model.h"
#include "snapshot.h"

#define BS 4096u

static struct lm_model *sample(uint64_t size)
{
	struct lm_geometry g;
	struct lm_model *m;
	struct lm_file_info fi = {.ino = 12,
	                          .mode = S_IFREG | 0640,
	                          .size = 10000,
	                          .generation = 77,
	                          .flags = LM_FILE_HAS_GEN};
	struct rl_extent e1[] = {
	    {0, 40 * BS, 2 * BS, 0},
	    {2 * BS, 90 * BS, BS, RL_EXT_UNWRITTEN | RL_EXT_LAST}};
	struct rl_extent big = {0, size - 8 * BS, 4 * BS, RL_EXT_LAST};
	uint32_t id;

	memset(&g, 0, sizeof(g));
	snprintf(g.fs.mountpoint, sizeof(g.fs.mountpoint), "/mnt/v \"q\"");
	snprintf(g.fs.device, sizeof(g.fs.device), "/dev/loop9");
	snprintf(g.fs.fstype, sizeof(g.fs.fstype), "ext4");
	snprintf(g.fs.label, sizeof(g.fs.label), "lab\xc3\xa9l");
	g.fs.type = RL_FS_EXT4;
	g.fs.block_size = BS;
	g.fs.size = size;
	g.fs.total_blocks = size / BS;
	g.fs.group_size = 128ull << 20;
	g.fs.group_count = 3;
	g.max_extent = lm_max_extent(RL_FS_EXT4, BS);
	g.flex_groups = 16;
	m = lm_new(&g);
	lm_set_created(m, 1700000000);
	assert_int_equal(lm_add_file(m, &fi, "a/b c", e1, 2, &id), 0);
	assert_int_equal(lm_add_path(m, id, "hard\nlink"), 0);
	fi.ino = 13;
	fi.flags = LM_FILE_HAS_IFLAGS | LM_FILE_SELECTED;
	fi.iflags = 0x80000;
	fi.size = 4 * BS;
	assert_int_equal(lm_add_file(m, &fi, "top", &big, 1, &id), 0);
	fi.ino = 14;
	fi.flags = 0;
	fi.err = -EACCES;
	fi.mode = S_IFDIR | 0700;
	assert_int_equal(lm_add_file(m, &fi, "secret", NULL, 0, &id), 0);
	assert_int_equal(lm_add_free(m, 0, 8 * BS), 0);
	assert_int_equal(lm_add_free(m, 100 * BS, 1000 * BS), 0);
	assert_int_equal(lm_add_metadata(m, 8 * BS, 4 * BS, "superblock"), 0);
	return m;
}

static char *to_text(struct lm_model *m, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	assert_non_null(f);
	assert_int_equal(snap_write(m, f), 0);
	fclose(f);
	return buf;
}

static void round_trip(uint64_t size)
{
	struct lm_model *m = sample(size), *m2;
	size_t l1, l2;
	char err[512];
	char *t1 = to_text(m, &l1);

	assert_int_equal(snap_import_buf(t1, l1, "t1", &m2, err, sizeof(err)),
	                 0);
	char *t2 = to_text(m2, &l2);
	assert_int_equal(l1, l2);
	assert_memory_equal(t1, t2, l1);
	/* the model behind it is the same too */
	assert_int_equal(lm_file_count(m2), 3);
	assert_int_equal(lm_find_path(m2, "hard\nlink"), 0);
	assert_true(lm_file(m2, 1)->flags & LM_FILE_SELECTED);
	assert_int_equal(lm_file(m2, 2)->err, -EACCES);
	assert_int_equal(lm_file(m2, 0)->generation, 77);
	struct lm_stats s1, s2;
	lm_range_stats(m, 0, size, &s1);
	lm_range_stats(m2, 0, size, &s2);
	assert_memory_equal(&s1, &s2, sizeof(s1));
	free(t1);
	free(t2);
	lm_free(m);
	lm_free(m2);
}

static void test_round_trip(void **state)
{
	(void)state;
	round_trip(1ull << 30);
	/* addresses above 2^53 travel as strings */
	round_trip(1ull << 60);
}

static void test_round_trip_file(void **state)
{
	char dir[] = "/tmp/rl-snap-XXXXXX", a[64], b[64];
	struct lm_model *m = sample(1ull << 30), *m2;
	char err[512];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(a, sizeof(a), "%s/a.json", dir);
	snprintf(b, sizeof(b), "%s/b.json", dir);
	assert_int_equal(snap_export(m, a, 0600), 0);
	assert_int_equal(snap_import(a, &m2, err, sizeof(err)), 0);
	assert_int_equal(snap_export(m2, b, 0600), 0);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "cmp -s %s %s", a, b);
	assert_int_equal(system(cmd), 0);
	lm_free(m2);
	assert_int_equal(
	    snap_import("/nonexistent/x.json", &m2, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/x.json"));
	unlink(a);
	unlink(b);
	rmdir(dir);
	lm_free(m);
}

/* The snapshot gets the mode asked for, narrowed by the umask (not 0644
 * whatever the umask), also over an older file; nothing but a regular
 * file is replaced. */
static void test_export_mode(void **state)
{
	char dir[] = "/tmp/rl-snap-XXXXXX", a[64], fifo[64];
	struct lm_model *m = sample(1ull << 30);
	struct stat st;
	mode_t old = umask(077);

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(a, sizeof(a), "%s/a.json", dir);
	assert_int_equal(snap_export(m, a, 0666), 0);
	assert_int_equal(stat(a, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	umask(022);
	assert_int_equal(snap_export(m, a, 0666), 0);
	assert_int_equal(stat(a, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	umask(0);
	assert_int_equal(snap_export(m, a, 0600), 0);
	assert_int_equal(stat(a, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(snap_export(m, fifo, 0600), -EINVAL);
	umask(old);
	unlink(a);
	unlink(fifo);
	assert_int_equal(rmdir(dir), 0); /* no temporary file left */
	lm_free(m);
}

/* ------------------------------------------------------- malformed input */

/* Replace the first occurrence of `from` in text by `to`. */
static char *edit(const char *text, const char *from, const char *to)
{
	const char *p = strstr(text, from);
	size_t a, b = strlen(to), c;
	char *out;

	assert_non_null(p);
	a = (size_t)(p - text);
	c = strlen(p + strlen(from));
	out = malloc(a + b + c + 1);
	memcpy(out, text, a);
	memcpy(out + a, to, b);
	memcpy(out + a + b, p + strlen(from), c + 1);
	return out;
}

static void test_malformed(void **state)
{
	struct lm_model *m = sample(1ull << 30), *out;
	size_t len;
	char *good = to_text(m, &len);
	char err[512];
	static const struct {
		const char *name, *from, *to, *want;
	} cases[] = {
	    {"wrong version", "\"format_version\":1", "\"format_version\":2",
	     "format_version 2 is not supported"},
	    {"wrong format", "relayout-snapshot", "other-thing",
	     "not a relayout snapshot"},
	    {"version type", "\"format_version\":1", "\"format_version\":\"1\"",
	     "format_version: missing or not a number"},
	    {"bad time", "2023-11-14T22:13:20Z", "2023-11-14 22:13:20",
	     "created: not an ISO-8601"},
	    {"size type", "\"size\":1073741824", "\"size\":\"big\"",
	     "volume.size"},
	    {"negative", "\"block_size\":4096", "\"block_size\":-4096",
	     "volume.block_size: not an unsigned integer"},
	    {"fraction", "\"block_size\":4096", "\"block_size\":4096.5",
	     "volume.block_size: not an unsigned integer"},
	    {"block size", "\"block_size\":4096", "\"block_size\":3000",
	     "not a power of two"},
	    {"beyond", "[0,32768]", "[1073741824,4096]",
	     "free[0]: [1073741824, +4096) lies beyond the volume size"},
	    {"zero length", "[0,32768]", "[0,0]", "free[0]: length 0"},
	    {"overflow", "[0,32768]", "[\"18446744073709551615\",2]",
	     "beyond the volume size"},
	    {"too big string", "[0,32768]", "[\"99999999999999999999\",2]",
	     "does not fit in 64 bits"},
	    {"huge number", "[0,32768]", "[1e300,2]",
	     "not an unsigned integer"},
	    {"tuple", "[0,32768]", "[0,32768,5]", "expected an array of 2"},
	    {"dotdot", "\"a/b c\"", "\"a/../etc/passwd\"",
	     "contains a '..' component"},
	    {"absolute", "\"a/b c\"", "\"/etc/passwd\"", "absolute"},
	    {"nul escape", "\"a/b c\"", "\"a/b\\u0000c\"", "NUL character"},
	    {"path type", "\"a/b c\"", "42", "paths[0]: not a string"},
	    {"no paths", "\"paths\":[\"top\"]", "\"paths\":[]",
	     "paths: missing, not an array or empty"},
	    {"dup inode", "\"inode\":13", "\"inode\":12", "appears twice"},
	    {"overlap data", "[0,163840,8192,0]", "[0,409600,8192,0]",
	     "overlapping extents"},
	    {"overlap free", "[0,32768]", "[0,167936]", "overlapping extents"},
	    {"logical overlap", "[8192,368640,4096,2049]",
	     "[4096,368640,4096,2049]", "overlaps the previous extent"},
	    {"count vs size", "[0,163840,8192,0]",
	     "[0,163840,8192,0],[8192,2000000,4096,0],[12288,2004096,4096,0],"
	     "[16384,2008192,4096,0]",
	     "out of logical order"},
	    {"bad errno", "\"errno\":13", "\"errno\":99999", "errno"},
	    {"extents type", "\"extents\":[]", "\"extents\":{}",
	     "extents: missing or not an array"},
	    {"file type", "\n{\"inode\":14", "\n[{\"inode\":14",
	     "not valid JSON"},
	    {"trailing", "\n]}", "\n]}{}", "trailing data"},
	    {"unknown type", "\"type\":\"ext4\"", "\"type\":\"ntfs\"",
	     "unknown type"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *t = edit(good, cases[i].from, cases[i].to);
		int r = snap_import_buf(t, strlen(t), "snap.json", &out, err,
		                        sizeof(err));
		if (r == 0 || !strstr(err, cases[i].want) ||
		    strncmp(err, "snap.json: ", 11) != 0)
			fail_msg("case '%s': r=%d err='%s' (want '%s')",
			         cases[i].name, r, err, cases[i].want);
		assert_null(out);
		free(t);
	}

	/* truncated at every length: an error, never a crash */
	for (size_t cut = 0; cut < len - 2; cut += 7) {
		int r = snap_import_buf(good, cut, "cut.json", &out, err,
		                        sizeof(err));
		assert_true(r < 0);
		assert_non_null(strstr(err, "cut.json: "));
	}
	/* empty, garbage, deep nesting, NUL bytes */
	assert_int_equal(snap_import_buf("", 0, "e", &out, err, sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "empty file"));
	char garbage[4096];
	srand(3);
	for (size_t i = 0; i < sizeof(garbage); i++)
		garbage[i] = (char)(rand() & 0xff);
	garbage[0] = '{';
	assert_true(snap_import_buf(garbage, sizeof(garbage), "g", &out, err,
	                            sizeof(err)) < 0);
	for (size_t i = 0; i < sizeof(garbage); i++)
		if (!garbage[i])
			garbage[i] = 'x';
	assert_true(snap_import_buf(garbage, sizeof(garbage), "g", &out, err,
	                            sizeof(err)) < 0);
	size_t deep = 200000;
	char *d = malloc(deep * 2);
	memset(d, '[', deep);
	memset(d + deep, ']', deep);
	assert_int_equal(
	    snap_import_buf(d, deep * 2, "deep", &out, err, sizeof(err)),
	    -EINVAL);
	assert_non_null(strstr(err, "nested deeper"));
	free(d);
	assert_int_equal(
	    snap_import_buf("[]", 2, "arr", &out, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not an object"));
	/* huge counts: a files array whose members are not objects */
	char *many = edit(good, "\"files\":[", "\"files\":[1,2,3,");
	assert_true(snap_import_buf(many, strlen(many), "m", &out, err,
	                            sizeof(err)) < 0);
	assert_non_null(strstr(err, "files[0]: not an object"));
	free(many);
	free(good);
	lm_free(m);
}

static void test_too_large(void **state)
{
	char dir[] = "/tmp/rl-snap-XXXXXX", p[64];
	struct lm_model *out;
	char err[512];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/huge.json", dir);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(truncate(p, (off_t)SNAP_MAX_BYTES + 1), 0);
	assert_int_equal(snap_import(p, &out, err, sizeof(err)), -EFBIG);
	assert_non_null(strstr(err, "byte limit"));
	unlink(p);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_round_trip_file),
	    cmocka_unit_test(test_export_mode),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_too_large),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
