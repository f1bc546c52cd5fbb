/* SPDX-License-Identifier: GPL-2.0-or-later */
/* JSON layout snapshots (docs/snapshot-format.md). */
#ifndef RL_SNAPSHOT_H
#define RL_SNAPSHOT_H
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>
#include "layout_model.h"

#define SNAP_FORMAT  "relayout-snapshot"
#define SNAP_VERSION 1
/* Largest snapshot file snap_import reads. */
#define SNAP_MAX_BYTES (1ull << 30)

/* Write the model as a snapshot to path (out_file_open: through a
 * temporary file in the same directory, created with mode narrowed by the
 * umask, renamed into place). Returns 0 or -errno. */
int snap_export(struct lm_model *m, const char *path, mode_t mode);
/* Write the snapshot to an open stream. Returns 0 or -errno. */
int snap_write(struct lm_model *m, FILE *f);

/* Load a snapshot into a new model (*out). Validates everything; on error
 * returns -errno (-EINVAL for bad content, -EFBIG too large, or the
 * error opening/reading the file) and writes "PATH: what is wrong" to
 * err. */
int snap_import(const char *path, struct lm_model **out, char *err,
                size_t errlen);
/* Same, from memory; name is used in messages. */
int snap_import_buf(const char *buf, size_t len, const char *name,
                    struct lm_model **out, char *err, size_t errlen);

#endif
