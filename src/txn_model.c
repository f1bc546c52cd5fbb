/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The layout model following an apply (src/txn_model.h). */
#include "config.h"
#include "txn_model.h"
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>
#include "layout_model.h"

/* Free records of [lo, hi) into the model, read in one walk. 0 or -errno
 * (m unchanged). */
static int model_refresh_free(struct lm_model *m, const char *mnt, uint64_t lo,
                              uint64_t hi)
{
	struct rl_free_extent *fe = NULL;
	size_t n = 0;
	int r = rl_free_list(mnt, lo, hi, &fe, &n);

	if (r == 0)
		r = lm_refresh_free(m, lo, hi, fe, n);
	free(fe);
	return r;
}

int tx_model_refresh_free_all(struct lm_model *m, const char *mnt)
{
	uint64_t size = lm_geometry(m)->fs.size;

	return size ? model_refresh_free(m, mnt, 0, size) : -EINVAL;
}

void tx_model_refresh_file(struct lm_model *m, const struct tx_step *st, int fd,
                           tx_open_cb open_file, void *open_arg)
{
	uint32_t id = lm_find_inode(m, st->range.ino);
	struct rl_extent *ext;
	bool own = fd < 0;
	size_t n;

	if (id == LM_NONE)
		return;
	if (own)
		fd = open_file(open_arg, st->range.path, O_RDONLY);
	if (fd < 0)
		return;
	if (rl_get_extents(fd, &ext, &n) == 0) {
		lm_refresh_file(m, id, ext, n);
		free(ext);
	}
	if (own)
		close(fd);
}

void tx_model_refresh_free(struct lm_model *m, const char *mnt,
                           const struct tx_step *st)
{
	for (size_t k = 0; k < st->range.nbefore; k++)
		(void)model_refresh_free(m, mnt, st->range.before[k].physical,
		                         st->range.before[k].physical +
		                             st->range.before[k].length);
	for (size_t k = 0; k < st->range.ntarget; k++)
		(void)model_refresh_free(m, mnt, st->range.target[k].physical,
		                         st->range.target[k].physical +
		                             st->range.target[k].length);
}
