/* Synthetic layout models for the unit tests: an ext4-like geometry of
 * FIXTURE_GROUP_SIZE-byte groups (define it before including) and files
 * added from extent arrays. Include after <cmocka.h> and
 * layout_model.h. */
#ifndef RELAYOUT_TESTS_MODEL_FIXTURE_H
#define RELAYOUT_TESTS_MODEL_FIXTURE_H

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#ifndef FIXTURE_GROUP_SIZE
#error "define FIXTURE_GROUP_SIZE before including model_fixture.h"
#endif

#define BS 4096u

static struct lm_model *new_model(uint64_t size)
{
	struct lm_geometry g;

	memset(&g, 0, sizeof(g));
	snprintf(g.fs.mountpoint, sizeof(g.fs.mountpoint), "/mnt");
	snprintf(g.fs.fstype, sizeof(g.fs.fstype), "ext4");
	g.fs.type = RL_FS_EXT4;
	g.fs.block_size = BS;
	g.fs.size = size;
	g.fs.group_size = FIXTURE_GROUP_SIZE;
	g.fs.group_count = (size + g.fs.group_size - 1) / g.fs.group_size;
	g.max_extent = lm_max_extent(RL_FS_EXT4, BS);
	g.flex_groups = 16;
	return lm_new(&g);
}

static uint32_t add_file(struct lm_model *m, uint64_t ino, const char *path,
                         const struct rl_extent *e, size_t n)
{
	struct lm_file_info fi = {.ino = ino, .mode = S_IFREG | 0644};
	uint32_t id;

	for (size_t i = 0; i < n; i++)
		if (e[i].logical + e[i].length > fi.size)
			fi.size = e[i].logical + e[i].length;
	assert_int_equal(lm_add_file(m, &fi, path, e, n, &id), 0);
	return id;
}

#endif
