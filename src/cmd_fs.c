/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Commands on the primitives: info, free, extents, allocate, movedata, and
 * place FILE GOAL: allocate a private donor exactly at GOAL for the whole
 * of FILE (rl_allocate_ex, RL_ALLOC_FIXED_START|FIXED_LEN|CONTIGUOUS),
 * move FILE's data onto it (rl_movedata), and check with FIEMAP that FILE
 * now starts at GOAL in one run.
 */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "busy.h"
#include "commands.h"
#include "output.h"
#include "session.h"
#include "units.h"
#include "vlock.h"

const struct cmd_opt cmd_opts_free[] = {
    {"summary", NULL, "print only the totals, not every extent"},
    {"map", NULL, "draw a coarse text map of free space"},
    {NULL, NULL, NULL},
};
const struct cmd_opt cmd_opts_allocate[] = {
    {"fixed-start", NULL,
     "the blocks must start exactly at GOAL (XFS without reflink: FILE "
     "must hold no blocks)"},
    {"fixed-len", NULL, "exactly LEN bytes (otherwise up to LEN)"},
    {"contiguous", NULL, "one physically contiguous run"},
    {"no-tunables", NULL,
     "never change global filesystem tunables (ext4 fixed-start "
     "placement then fails: not supported)"},
    {NULL, NULL, NULL},
};
const struct cmd_opt cmd_opts_movedata[] = {
    {"allow-shared", NULL,
     "move extents shared with other files (unshares them)"},
    {"force", NULL,
     "apply the RFC rules even where they destroy data: DATAFILE data "
     "over a hole of SPACEFILE is punched, data written in SPACEFILE's "
     "range is replaced (refused otherwise, saying how many bytes and "
     "which)"},
    {NULL, NULL, NULL},
};

/* ------------------------------------------------------------------ info */

static void feat_list(uint32_t f, char *buf, size_t size)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {
	    {RL_FEAT_GETFSMAP, "getfsmap"}, {RL_FEAT_REFLINK, "reflink"},
	    {RL_FEAT_RMAPBT, "rmapbt"},     {RL_FEAT_MOVE_EXT, "move_ext"},
	    {RL_FEAT_DEDUPE, "dedupe"},     {RL_FEAT_PLACE, "place"},
	    {RL_FEAT_BIGALLOC, "bigalloc"},
	};
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(f & names[i].bit))
			continue;
		int n = snprintf(buf + used, size - used, "%s%s",
		                 used ? " " : "", names[i].name);
		if (n < 0 || (size_t)n >= size - used)
			break;
		used += (size_t)n;
	}
}

enum cmd_status cmd_info(struct rl_session *s, const struct cmd_call *c)
{
	const struct rl_fs_info *fs = &s->fs;
	char feats[256], sz[32], fr[32], gs[32];

	(void)c;
	feat_list(fs->features, feats, sizeof(feats));
	if (s->json) {
		cJSON *o = cJSON_CreateObject();
		out_add_name(o, "mountpoint", fs->mountpoint);
		out_add_name(o, "device", fs->device);
		cJSON_AddStringToObject(o, "fstype", fs->fstype);
		cJSON_AddStringToObject(o, "type", rl_fs_type_name(fs->type));
		cJSON_AddStringToObject(o, "uuid", fs->uuid);
		out_add_name(o, "label", fs->label);
		cJSON_AddStringToObject(o, "address_space",
		                        fs->addr_space == RL_ADDR_BTRFS_LOGICAL
		                            ? "btrfs-logical"
		                            : "device");
		out_add_u64(o, "block_size", fs->block_size);
		out_add_u64(o, "size", fs->size);
		out_add_u64(o, "total_bytes",
		            fs->total_blocks * fs->block_size);
		out_add_u64(o, "free_bytes", fs->free_blocks * fs->block_size);
		out_add_u64(o, "avail_bytes",
		            fs->avail_blocks * fs->block_size);
		out_add_u64(o, "group_count", fs->group_count);
		out_add_u64(o, "group_size", fs->group_size);
		cJSON *fa = cJSON_AddArrayToObject(o, "features");
		for (char *t = strtok(feats, " "); t; t = strtok(NULL, " "))
			cJSON_AddItemToArray(fa, cJSON_CreateString(t));
		cJSON_AddStringToObject(o, "access", session_access(s, false));
		cJSON_AddBoolToObject(
		    o, "can_move",
		    strncmp(session_access(s, true), "read-only", 9) != 0);
		return out_json_emit(s, o) < 0 ? CMD_FAIL : CMD_OK;
	}
	units_format_size(fs->size, sz, sizeof(sz));
	units_format_size(fs->free_blocks * fs->block_size, fr, sizeof(fr));
	units_format_size(fs->group_size, gs, sizeof(gs));
	fprintf(s->out, "mountpoint:   %s\n", OUT_ESC(fs->mountpoint));
	fprintf(s->out, "device:       %s\n", OUT_ESC(fs->device));
	fprintf(s->out, "type:         %s%s\n", fs->fstype,
	        fs->type == RL_FS_OTHER ? " (read-only map: no mover)" : "");
	fprintf(s->out, "uuid:         %s\n", fs->uuid[0] ? fs->uuid : "-");
	fprintf(s->out, "block size:   %" PRIu32 "\n", fs->block_size);
	fprintf(s->out, "size:         %s (%" PRIu64 " bytes)%s\n", sz,
	        fs->size,
	        fs->addr_space == RL_ADDR_BTRFS_LOGICAL
	            ? ", btrfs logical address space"
	            : "");
	fprintf(s->out,
	        "free:         %s of %" PRIu64 " blocks (%" PRIu64 " free)\n",
	        fr, fs->total_blocks, fs->free_blocks);
	if (fs->group_count)
		fprintf(s->out, "groups:       %" PRIu64 " x %s\n",
		        fs->group_count, fs->group_size ? gs : "(varies)");
	fprintf(s->out, "features:     %s\n", feats[0] ? feats : "-");
	/* What the filesystem offers is not all this user may do. */
	fprintf(s->out, "access:       %s\n", session_access(s, false));
	return CMD_OK;
}

/* ------------------------------------------------------------------ free */

#define FREE_BATCH 1024
#define MAP_COLS   64
#define MAP_ROWS   16

enum cmd_status cmd_free(struct rl_session *s, const struct cmd_call *c)
{
	uint64_t start = 0, end = 0, total = 0, largest = 0, count = 0;
	struct rl_free_extent *ext;
	bool summary = cmd_has_opt(c, "summary", NULL);
	bool map = cmd_has_opt(c, "map", NULL);
	uint64_t cells[MAP_ROWS * MAP_COLS] = {0};
	uint64_t cell_bytes = 0;
	cJSON *doc = NULL, *arr = NULL;
	int r;

	if (c->argc > 0 && session_arg_size(s, "START", c->argv[0], &start) < 0)
		return CMD_USAGE;
	if (c->argc > 1 && session_arg_size(s, "END", c->argv[1], &end) < 0)
		return CMD_USAGE;
	if (end && end <= start) {
		session_error(s, "END (%s) must be above START (%s)",
		              c->argv[1], c->argv[0]);
		return CMD_USAGE;
	}
	{
		/* Whole blocks per cell, so that row labels are addresses
		 * on block boundaries. */
		uint64_t lim = end ? end : s->fs.size;
		uint64_t span = lim > start ? lim - start : 0;
		uint64_t bs = s->fs.block_size ? s->fs.block_size : 4096;
		cell_bytes =
		    (span + MAP_ROWS * MAP_COLS - 1) / (MAP_ROWS * MAP_COLS);
		cell_bytes = (cell_bytes + bs - 1) / bs * bs;
		if (cell_bytes == 0)
			cell_bytes = bs;
	}
	ext = calloc(FREE_BATCH, sizeof(*ext));
	if (!ext) {
		session_error(s, "out of memory");
		return CMD_FAIL;
	}
	if (s->json) {
		doc = cJSON_CreateObject();
		if (!summary)
			arr = cJSON_AddArrayToObject(doc, "extents");
	} else if (!summary && !map) {
		fprintf(s->out, "%18s %18s %14s\n", "start", "end", "length");
	}
	uint64_t pos = start;
	for (;;) {
		r = rl_get_free_blocks(s->path, pos, end, FREE_BATCH, ext);
		if (r < 0) {
			session_error(s, "%s: %s%s", s->fs.mountpoint,
			              rl_strerror(r), cmd_map_root_hint(r));
			free(ext);
			cJSON_Delete(doc);
			return CMD_FAIL;
		}
		for (int i = 0; i < r; i++) {
			count++;
			total += ext[i].len;
			if (ext[i].len > largest)
				largest = ext[i].len;
			if (arr) {
				cJSON *e = cJSON_CreateObject();
				out_add_u64(e, "start", ext[i].start);
				out_add_u64(e, "length", ext[i].len);
				cJSON_AddItemToArray(arr, e);
			} else if (!s->json && !summary && !map) {
				fprintf(s->out,
				        "%#18" PRIx64 " %#18" PRIx64
				        " %14" PRIu64 "\n",
				        ext[i].start, ext[i].start + ext[i].len,
				        ext[i].len);
			}
			if (map) {
				/* distribute the extent over the cells */
				uint64_t a = ext[i].start - start;
				uint64_t b = a + ext[i].len;
				while (a < b) {
					uint64_t ci = a / cell_bytes;
					uint64_t ce = (ci + 1) * cell_bytes;
					uint64_t n = (b < ce ? b : ce) - a;
					if (ci < MAP_ROWS * MAP_COLS)
						cells[ci] += n;
					a += n;
				}
			}
		}
		if (r < FREE_BATCH)
			break;
		pos = ext[r - 1].start + ext[r - 1].len;
		if (end && pos >= end)
			break;
	}
	free(ext);
	if (s->json) {
		out_add_u64(doc, "start", start);
		out_add_u64(doc, "end", end ? end : s->fs.size);
		out_add_u64(doc, "count", count);
		out_add_u64(doc, "free_bytes", total);
		out_add_u64(doc, "largest", largest);
		return out_json_emit(s, doc) < 0 ? CMD_FAIL : CMD_OK;
	}
	if (map) {
		char cs[32];
		units_format_size(cell_bytes, cs, sizeof(cs));
		fprintf(s->out,
		        "free-space map: 1 cell = %s  ('.' free, ':' mostly "
		        "free, '+' partly free, '#' used)\n",
		        cs);
		uint64_t lim = end ? end : s->fs.size;
		uint64_t span = lim > start ? lim - start : 0;
		for (int row = 0; row < MAP_ROWS; row++) {
			uint64_t a0 =
			    start + (uint64_t)row * MAP_COLS * cell_bytes;
			if (a0 - start >= span)
				break;
			fprintf(s->out, "%#14" PRIx64 " |", a0);
			for (int col = 0; col < MAP_COLS; col++) {
				uint64_t ci = (uint64_t)row * MAP_COLS + col;
				uint64_t cstart = ci * cell_bytes;
				uint64_t csize = cell_bytes;
				if (cstart >= span) {
					fputc(' ', s->out);
					continue;
				}
				if (cstart + csize > span)
					csize = span - cstart;
				uint64_t f = cells[ci];
				fputc(f >= csize           ? '.'
				      : f * 4 >= csize * 3 ? ':'
				      : f > 0              ? '+'
				                           : '#',
				      s->out);
			}
			fputs("|\n", s->out);
		}
	}
	char tb[32], lb[32];
	units_format_size(total, tb, sizeof(tb));
	units_format_size(largest, lb, sizeof(lb));
	fprintf(s->out, "%" PRIu64 " free extent%s, %s free, largest %s\n",
	        count, count == 1 ? "" : "s", tb, lb);
	return CMD_OK;
}

/* --------------------------------------------------------------- extents */

/* Open a file named by the user (session_open_file), reporting errors. */
static int open_file(struct rl_session *s, const char *path, int flags)
{
	int fd = session_open_file(s, path, flags);

	if (fd >= 0)
		return fd;
	switch (fd) {
	case -ELOOP:
		session_error(s, "%s: is a symbolic link (never followed)",
		              path);
		break;
	case -EXDEV:
		session_error(s, "%s: not on the volume %s", path,
		              s->fs.mountpoint);
		break;
	case -EINVAL:
		session_error(s, "%s: not a regular file", path);
		break;
	case -EPERM:
		session_error(s,
		              "%s: not permitted (another user's file: "
		              "moving it needs root; or immutable)",
		              path);
		break;
	case -ETXTBSY:
		session_error(s, "%s: %s", path,
		              busy_reason(busy_of_path(path)));
		break;
	default:
		session_error(s, "%s: %s", path, rl_strerror(fd));
	}
	return fd;
}

/* The extents table of `extents`, `allocate`, `place`. */
static void print_extents(struct rl_session *s, const struct rl_extent *ext,
                          size_t n)
{
	char flags[128];

	fprintf(s->out, "%4s %16s %18s %14s  %s\n", "#", "logical", "physical",
	        "length", "flags");
	for (size_t i = 0; i < n; i++) {
		out_extent_flags(ext[i].flags, flags, sizeof(flags));
		fprintf(s->out,
		        "%4zu %16" PRIu64 " %#18" PRIx64 " %14" PRIu64 "  %s\n",
		        i, ext[i].logical, ext[i].physical, ext[i].length,
		        flags);
	}
}

const struct cmd_opt cmd_opts_place[] = {
    {"no-tunables", NULL,
     "never change global filesystem tunables (ext4 then fails: not "
     "supported)"},
    {NULL, NULL, NULL},
};

/* rl_allocate_ex for a command: SIGINT/SIGTERM/SIGHUP are blocked while it
 * runs (so changed tunables are always restored), the session's tunables
 * setting (or no_tunables) applies, and the first change of global
 * tunables in the session is announced on s->err. */
static long long allocate_blocked(struct rl_session *s, int fd, unsigned mode,
                                  unsigned long long goal,
                                  unsigned long long len, bool no_tunables,
                                  struct rl_place_report *rep)
{
	char state_dir[4096];
	struct rl_place_opts o = {
	    /* the volume's, where every relayout looks after a crash */
	    .state_dir = vl_state_dir(state_dir, sizeof(state_dir)),
	    .no_tunables = no_tunables || s->no_tunables,
	    .report = rep};
	sigset_t block, old;
	int64_t got;

	/* A placement may change global tunables: let it restore them
	 * before an interrupt takes effect. (SIGKILL: the next start's
	 * rl_tunables_recover.) */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &old);
	got = rl_allocate_ex(fd, mode, goal, len, &o);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (rep->tunables_changed && !s->tunables_noticed) {
		fprintf(s->err,
		        "relayout: note: exact placement on ext4 changes "
		        "/sys/fs/ext4/%s/mb_order2_req, mb_min_to_scan, "
		        "mb_max_to_scan and mb_max_linear_groups while it "
		        "runs (the "
		        "original is recorded in %s and restored afterwards; "
		        "'set tunables off' or --no-tunables refuses)\n",
		        rep->tunables_dev, rl_state_dir(&o));
		s->tunables_noticed = true;
	}
	if (rep->tunables_restore_err)
		fprintf(s->err,
		        "relayout: warning: could not restore tunables of %s: "
		        "%s (kept in %s for the next start)\n",
		        rep->tunables_dev,
		        rl_strerror(rep->tunables_restore_err),
		        rl_state_dir(&o));
	if (got == -EOPNOTSUPP && (mode & RL_ALLOC_FIXED_START))
		cmd_root_hint(s, (int)got);
	return got;
}

enum cmd_status cmd_extents(struct rl_session *s, const struct cmd_call *c)
{
	struct rl_extent *ext;
	size_t n;
	struct stat st;
	int fd, r;

	fd = open_file(s, c->argv[0], O_RDONLY);
	if (fd < 0)
		return CMD_FAIL;
	r = rl_get_extents(fd, &ext, &n);
	if (r == 0 && fstat(fd, &st) < 0)
		r = -errno;
	close(fd);
	if (r < 0) {
		session_error(s, "%s: %s", c->argv[0], rl_strerror(r));
		return CMD_FAIL;
	}
	if (s->json) {
		cJSON *o = cJSON_CreateObject();
		out_add_name(o, "file", c->argv[0]);
		out_add_u64(o, "inode", st.st_ino);
		out_add_u64(o, "size", (uint64_t)st.st_size);
		out_add_u64(o, "count", n);
		cJSON_AddItemToObject(o, "extents", out_extents_json(ext, n));
		free(ext);
		return out_json_emit(s, o) < 0 ? CMD_FAIL : CMD_OK;
	}
	fprintf(s->out,
	        "%s: inode %" PRIu64 ", %" PRIu64 " bytes, %zu "
	        "extent%s\n",
	        OUT_ESC(c->argv[0]), (uint64_t)st.st_ino, (uint64_t)st.st_size,
	        n, n == 1 ? "" : "s");
	if (n)
		print_extents(s, ext, n);
	free(ext);
	return CMD_OK;
}

/* -------------------------------------------------------------- allocate */

enum cmd_status cmd_allocate(struct rl_session *s, const struct cmd_call *c)
{
	uint64_t off, goal, len;
	unsigned mode = 0;
	struct rl_extent *ext = NULL;
	size_t n = 0;
	int64_t got;
	int fd;

	if (session_arg_size(s, "OFFSET", c->argv[1], &off) < 0 ||
	    session_arg_size(s, "GOAL", c->argv[2], &goal) < 0 ||
	    session_arg_size(s, "LEN", c->argv[3], &len) < 0)
		return CMD_USAGE;
	if (cmd_has_opt(c, "fixed-start", NULL))
		mode |= RL_ALLOC_FIXED_START;
	if (cmd_has_opt(c, "fixed-len", NULL))
		mode |= RL_ALLOC_FIXED_LEN;
	if (cmd_has_opt(c, "contiguous", NULL))
		mode |= RL_ALLOC_CONTIGUOUS;
	if (off % s->fs.block_size || goal % s->fs.block_size ||
	    len % s->fs.block_size || len == 0) {
		session_error(s,
		              "OFFSET, GOAL and LEN must be non-zero "
		              "multiples of the block size (%u)",
		              s->fs.block_size);
		return CMD_USAGE;
	}
	fd = open_file(s, c->argv[0], O_RDWR | O_CREAT);
	if (fd < 0)
		return CMD_FAIL;
	if (lseek(fd, (off_t)off, SEEK_SET) < 0) {
		session_error(s, "%s: seek to %s: %s", c->argv[0], c->argv[1],
		              strerror(errno));
		close(fd);
		return CMD_FAIL;
	}
	struct rl_place_report rep = {0};
	got = allocate_blocked(s, fd, mode, goal, len,
	                       cmd_has_opt(c, "no-tunables", NULL), &rep);
	if (got < 0) {
		bool xfs_noreflink = (mode & RL_ALLOC_FIXED_START) &&
		                     s->fs.type == RL_FS_XFS &&
		                     !(s->fs.features & RL_FEAT_REFLINK);
		session_error(
		    s,
		    "%s: cannot allocate %s bytes at offset %s%s%s: "
		    "%s%s",
		    c->argv[0], c->argv[3], c->argv[1],
		    mode & RL_ALLOC_FIXED_START ? " exactly at " : "",
		    mode & RL_ALLOC_FIXED_START ? c->argv[2] : "",
		    got == -EEXIST ? "the range already holds blocks "
		                     "(allocate only fills holes, it never "
		                     "replaces data); nothing was changed"
		                   : rl_strerror((int)got),
		    xfs_noreflink && got == -EOPNOTSUPP
		        ? " (XFS without reflink: the file must hold "
		          "no blocks yet, and the target's allocation "
		          "group must be able to take a new inode "
		          "outside the target)"
		        : "");
		close(fd);
		return CMD_FAIL;
	}
	int r = rl_get_extents_range(fd, off, (uint64_t)got, &ext, &n);
	close(fd);
	if (r < 0) {
		session_error(s, "%s: allocated, but cannot read extents: %s",
		              c->argv[0], rl_strerror(r));
		return CMD_FAIL;
	}
	if (s->json) {
		cJSON *o = cJSON_CreateObject();
		out_add_name(o, "file", c->argv[0]);
		out_add_u64(o, "offset", off);
		out_add_u64(o, "goal", goal);
		out_add_u64(o, "requested", len);
		out_add_u64(o, "allocated", (uint64_t)got);
		cJSON_AddBoolToObject(
		    o, "exact",
		    n > 0 && ext[0].physical + (off - ext[0].logical) == goal);
		if (n > 0)
			out_add_u64(o, "physical",
			            ext[0].physical + (off - ext[0].logical));
		if (mode & RL_ALLOC_FIXED_START) {
			out_add_u64(o, "attempts", rep.attempts);
			out_add_u64(o, "allocation_calls", rep.alloc_calls);
			cJSON_AddBoolToObject(o, "tunables_changed",
			                      rep.tunables_changed);
		}
		cJSON_AddItemToObject(o, "extents", out_extents_json(ext, n));
		free(ext);
		return out_json_emit(s, o) < 0 ? CMD_FAIL : CMD_OK;
	}
	fprintf(s->out,
	        "%s: allocated %" PRId64 " of %" PRIu64
	        " bytes at offset %" PRIu64 "\n",
	        OUT_ESC(c->argv[0]), got, len, off);
	print_extents(s, ext, n);
	free(ext);
	return CMD_OK;
}

/* -------------------------------------------------------------- movedata */

/* Extent e cut to [lo, hi): *x..*y, empty when *x >= *y. */
static void clip(const struct rl_extent *e, uint64_t lo, uint64_t hi,
                 uint64_t *x, uint64_t *y)
{
	*x = e->logical > lo ? e->logical : lo;
	*y = e->logical + e->length < hi ? e->logical + e->length : hi;
}

/* Bytes of the extents e[0..n) inside [lo, hi). */
static uint64_t clipped_bytes(const struct rl_extent *e, size_t n, uint64_t lo,
                              uint64_t hi)
{
	uint64_t sum = 0, x, y;

	for (size_t i = 0; i < n; i++) {
		clip(&e[i], lo, hi, &x, &y);
		if (x < y)
			sum += y - x;
	}
	return sum;
}

/* Bytes of a's extents inside [lo, hi) that b's extents cover. */
static uint64_t covered_bytes(const struct rl_extent *a, size_t na,
                              const struct rl_extent *b, size_t nb, uint64_t lo,
                              uint64_t hi)
{
	uint64_t sum = 0, x, y;

	for (size_t i = 0; i < na; i++) {
		clip(&a[i], lo, hi, &x, &y);
		if (x < y)
			sum += clipped_bytes(b, nb, x, y);
	}
	return sum;
}

/* Ranges listed in a refusal, at most; the rest are counted. */
#define MOVEDATA_RANGES_MAX 8

/* A list of byte ranges for a message: "0-65535, 131072-196607 and 3
 * more". */
struct range_list {
	char text[512];
	size_t used, n;
};

static void range_add(struct range_list *l, uint64_t x, uint64_t y)
{
	if (x >= y)
		return;
	if (l->n++ < MOVEDATA_RANGES_MAX && l->used < sizeof(l->text)) {
		int w = snprintf(l->text + l->used, sizeof(l->text) - l->used,
		                 "%s%" PRIu64 "-%" PRIu64, l->used ? ", " : "",
		                 x, y - 1);
		l->used += w > 0 ? (size_t)w : 0;
	}
}

/* The list's text, with "and N more" when it was cut. */
static const char *range_text(struct range_list *l)
{
	if (l->n > MOVEDATA_RANGES_MAX && l->used < sizeof(l->text))
		snprintf(l->text + l->used, sizeof(l->text) - l->used,
		         " and %zu more", l->n - MOVEDATA_RANGES_MAX);
	return l->text;
}

/* What movedata would do to [from, from+len): *moved bytes of DATAFILE
 * data onto SPACEFILE blocks, *punched bytes of DATAFILE data over
 * SPACEFILE holes (the RFC's hole rule; which bytes: punched_at),
 * *consumed bytes of data written in SPACEFILE (its blocks carry
 * DATAFILE's data afterwards; which: consumed_at). */
static int movedata_outcome(int dfd, int sfd, uint64_t from, uint64_t len,
                            uint64_t *moved, uint64_t *punched,
                            uint64_t *consumed, struct range_list *punched_at,
                            struct range_list *consumed_at)
{
	struct rl_extent *d = NULL, *sp = NULL;
	size_t nd = 0, ns = 0, nw = 0;
	uint64_t hi = from + len, dbytes = 0, x, y, a, b;
	int r = rl_get_extents_range(dfd, from, len, &d, &nd);

	if (r == 0)
		r = rl_get_extents_range(sfd, from, len, &sp, &ns);
	if (r < 0) {
		free(d);
		return r;
	}
	dbytes = clipped_bytes(d, nd, from, hi);
	*moved = covered_bytes(d, nd, sp, ns, from, hi);
	*punched = dbytes - *moved;
	/* DATAFILE's data where SPACEFILE has no extent (both sorted) */
	for (size_t i = 0, k = 0; i < nd; i++) {
		clip(&d[i], from, hi, &x, &y);
		while (x < y) {
			while (k < ns && sp[k].logical + sp[k].length <= x)
				k++;
			if (k == ns || sp[k].logical >= y) {
				range_add(punched_at, x, y);
				break;
			}
			range_add(punched_at, x, sp[k].logical);
			clip(&sp[k], x, y, &a, &b);
			x = b;
		}
	}
	/* written extents of SPACEFILE: their content is replaced */
	for (size_t i = 0; i < ns; i++)
		if (!(sp[i].flags & RL_EXT_UNWRITTEN)) {
			sp[nw++] = sp[i];
			clip(&sp[i], from, hi, &x, &y);
			range_add(consumed_at, x, y);
		}
	*consumed = clipped_bytes(sp, nw, from, hi);
	free(d);
	free(sp);
	return 0;
}

enum cmd_status cmd_movedata(struct rl_session *s, const struct cmd_call *c)
{
	uint64_t from, len;
	unsigned flags = 0;
	int dfd, sfd, r;

	if (session_arg_size(s, "FROM", c->argv[2], &from) < 0 ||
	    session_arg_size(s, "LEN", c->argv[3], &len) < 0)
		return CMD_USAGE;
	if (cmd_has_opt(c, "allow-shared", NULL))
		flags |= RL_MOVE_ALLOW_SHARED;
	/* The primitive would say EINVAL (or do nothing for LEN 0): say
	 * what is wrong before opening anything. */
	if (from % s->fs.block_size || len % s->fs.block_size || len == 0 ||
	    from + len < from) {
		session_error(s,
		              "FROM and LEN must be multiples of the block "
		              "size (%u), LEN non-zero",
		              s->fs.block_size);
		return CMD_USAGE;
	}
	dfd = open_file(s, c->argv[0], O_RDWR);
	if (dfd < 0)
		return CMD_FAIL;
	sfd = open_file(s, c->argv[1], O_RDWR);
	if (sfd < 0) {
		close(dfd);
		return CMD_FAIL;
	}
	uint64_t moved = 0, punched = 0, consumed = 0;
	struct range_list punched_at = {0}, consumed_at = {0};
	r = movedata_outcome(dfd, sfd, from, len, &moved, &punched, &consumed,
	                     &punched_at, &consumed_at);
	if (r == 0 && (punched || consumed) && !cmd_has_opt(c, "force", NULL)) {
		char pb[32], cb[32], what[1500], pw[700] = "", cw[700] = "";
		units_format_size(punched, pb, sizeof(pb));
		units_format_size(consumed, cb, sizeof(cb));
		if (punched)
			snprintf(pw, sizeof(pw),
			         "punch %s (%" PRIu64 " bytes) of DATAFILE's "
			         "data, bytes %s (SPACEFILE has holes there)",
			         pb, punched, range_text(&punched_at));
		if (consumed)
			snprintf(cw, sizeof(cw),
			         "replace %s (%" PRIu64 " bytes) of data "
			         "written in SPACEFILE, bytes %s",
			         cb, consumed, range_text(&consumed_at));
		snprintf(what, sizeof(what), "%s%s%s", pw,
		         punched && consumed ? " and " : "", cw);
		session_error(s,
		              "%s: refusing: movedata would %s; nothing was "
		              "changed (--force applies the RFC rules anyway)",
		              c->argv[0], what);
		close(dfd);
		close(sfd);
		return CMD_FAIL;
	}
	/* Nothing to punch, as far as we looked: hold the library to it, so
	 * a SPACEFILE losing blocks meanwhile fails the call instead. */
	if (r == 0 && punched == 0)
		flags |= RL_MOVE_SPACE_FULL;
	if (r == 0)
		r = rl_movedata(dfd, sfd, from, len, flags);
	if (r < 0) {
		session_error(s, "%s: cannot move %s bytes at %s onto %s: %s",
		              c->argv[0], c->argv[3], c->argv[2], c->argv[1],
		              rl_strerror(r));
		close(dfd);
		close(sfd);
		return CMD_FAIL;
	}
	struct rl_extent *ext = NULL;
	size_t n = 0;
	r = rl_get_extents_range(dfd, from, len, &ext, &n);
	close(dfd);
	close(sfd);
	if (r < 0) {
		session_error(s, "%s: moved, but cannot read extents: %s",
		              c->argv[0], rl_strerror(r));
		return CMD_FAIL;
	}
	if (s->json) {
		cJSON *o = cJSON_CreateObject();
		out_add_name(o, "file", c->argv[0]);
		out_add_name(o, "space", c->argv[1]);
		out_add_u64(o, "from", from);
		out_add_u64(o, "length", len);
		out_add_u64(o, "moved", moved);
		out_add_u64(o, "punched", punched);
		out_add_u64(o, "replaced", consumed);
		cJSON_AddItemToObject(o, "extents", out_extents_json(ext, n));
		free(ext);
		return out_json_emit(s, o) < 0 ? CMD_FAIL : CMD_OK;
	}
	fprintf(s->out,
	        "%s: moved %" PRIu64 " bytes at %" PRIu64
	        " onto the blocks of %s",
	        OUT_ESC(c->argv[0]), moved, from, OUT_ESC(c->argv[1]));
	if (punched)
		fprintf(s->out, "; punched %" PRIu64 " bytes (holes of %s)",
		        punched, OUT_ESC(c->argv[1]));
	fputc('\n', s->out);
	print_extents(s, ext, n);
	free(ext);
	return CMD_OK;
}

/* ----------------------------------------------------------------- place */

/* Does [0, len) of fd map to [goal, goal+len) in one run? */
static bool starts_at(const struct rl_extent *ext, size_t n, uint64_t goal,
                      uint64_t len)
{
	uint64_t pos = 0;

	for (size_t i = 0; i < n && pos < len; i++) {
		if (ext[i].logical != pos || ext[i].physical != goal + pos)
			return false;
		pos += ext[i].length;
	}
	return pos >= len;
}

enum cmd_status cmd_place(struct rl_session *s, const struct cmd_call *c)
{
	struct rl_place_report rep = {0};
	struct rl_extent *ext = NULL;
	struct stat st;
	uint64_t goal, len;
	size_t n = 0;
	int fd, donor = -1, dir, r;
	int64_t got;
	bool exact;

	if (units_parse_size(c->argv[1], &goal) < 0) {
		session_error(s, "GOAL '%s': not an address", c->argv[1]);
		return CMD_USAGE;
	}
	if (goal % s->fs.block_size) {
		session_error(s,
		              "GOAL must be a multiple of the block size "
		              "(%u)",
		              s->fs.block_size);
		return CMD_USAGE;
	}
	if (!(s->fs.features & (RL_FEAT_MOVE_EXT | RL_FEAT_DEDUPE))) {
		/* XFS without reflink: the space could be placed, the data
		 * not moved onto it (no FIDEDUPERANGE). Say so up front. */
		session_error(s,
		              "%s: cannot move data on %s (%s%s): place "
		              "needs movedata; 'allocate --fixed-start' can "
		              "still reserve space at %s",
		              c->argv[0], s->fs.mountpoint, s->fs.fstype,
		              s->fs.type == RL_FS_XFS ? " without reflink" : "",
		              c->argv[1]);
		return CMD_FAIL;
	}
	fd = open_file(s, c->argv[0], O_RDWR);
	if (fd < 0)
		return CMD_FAIL;
	if (fstat(fd, &st) < 0 || st.st_size == 0) {
		session_error(s, "%s: %s", c->argv[0],
		              st.st_size == 0 ? "empty file: nothing to place"
		                              : rl_strerror(-errno));
		close(fd);
		return CMD_FAIL;
	}
	len = ((uint64_t)st.st_size + s->fs.block_size - 1) / s->fs.block_size *
	      s->fs.block_size;
	/* The donor: a private file on the same volume, gone on close. */
	dir = open(s->fs.mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir >= 0) {
		donor = openat(dir, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		r = donor < 0 ? -errno : 0;
		close(dir);
	} else {
		r = -errno;
	}
	if (donor < 0) {
		session_error(s, "%s: cannot make a donor file: %s",
		              s->fs.mountpoint, rl_strerror(r));
		close(fd);
		return CMD_FAIL;
	}
	got = allocate_blocked(
	    s, donor,
	    RL_ALLOC_FIXED_START | RL_ALLOC_FIXED_LEN | RL_ALLOC_CONTIGUOUS,
	    goal, len, cmd_has_opt(c, "no-tunables", NULL), &rep);
	if (got < 0) {
		session_error(
		    s,
		    "%s: cannot allocate %" PRIu64 " bytes exactly at %s: %s",
		    c->argv[0], len, c->argv[1], rl_strerror((int)got));
		goto fail;
	}
	/* The donor holds the whole target: a hole in it (blocks lost)
	 * must refuse, never punch FILE (RFC hole rule). */
	r = rl_movedata(fd, donor, 0, len, RL_MOVE_SPACE_FULL);
	if (r < 0) {
		session_error(s,
		              "%s: space reserved at %s, but moving the data "
		              "failed: %s (nothing changed)",
		              c->argv[0], c->argv[1], rl_strerror(r));
		goto fail;
	}
	close(donor);
	donor = -1;
	r = rl_get_extents_range(fd, 0, len, &ext, &n);
	close(fd);
	if (r < 0) {
		session_error(s, "%s: moved, but cannot read extents: %s",
		              c->argv[0], rl_strerror(r));
		return CMD_FAIL;
	}
	exact = starts_at(ext, n, goal, len);
	if (s->json) {
		cJSON *o = cJSON_CreateObject();
		out_add_name(o, "file", c->argv[0]);
		out_add_u64(o, "goal", goal);
		out_add_u64(o, "length", len);
		cJSON_AddBoolToObject(o, "exact", exact);
		out_add_u64(o, "attempts", rep.attempts);
		cJSON_AddBoolToObject(o, "tunables_changed",
		                      rep.tunables_changed);
		cJSON_AddItemToObject(o, "extents", out_extents_json(ext, n));
		free(ext);
		if (out_json_emit(s, o) < 0)
			return CMD_FAIL;
	} else {
		fprintf(s->out, "%s: %" PRIu64 " bytes %s %#" PRIx64 "\n",
		        OUT_ESC(c->argv[0]), len,
		        exact ? "now start exactly at" : "moved, NOT at", goal);
		print_extents(s, ext, n);
		free(ext);
	}
	if (!exact) {
		/* Cannot happen unless someone moved it meanwhile: say so. */
		session_error(s,
		              "%s: FIEMAP after the move does not show it "
		              "at %s",
		              c->argv[0], c->argv[1]);
		return CMD_FAIL;
	}
	return CMD_OK;
fail:
	if (donor >= 0)
		close(donor);
	close(fd);
	return CMD_FAIL;
}
