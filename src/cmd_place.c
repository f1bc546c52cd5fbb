/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * place FILE GOAL: allocate a private donor exactly at GOAL for the whole
 * of FILE (rl_allocate_ex, RL_ALLOC_FIXED_START|FIXED_LEN|CONTIGUOUS),
 * move FILE's data onto it (rl_movedata), and check with FIEMAP that FILE
 * now starts at GOAL in one run. Also the signal-safe allocation wrapper
 * that `allocate` uses.
 */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "commands.h"
#include "output.h"
#include "session.h"
#include "units.h"
#include "vlock.h"

const struct cmd_opt cmd_opts_place[] = {
    {"no-tunables", NULL,
     "never change global filesystem tunables (ext4 then fails: not "
     "supported)"},
    {NULL, NULL, NULL},
};

long long cmd_allocate_blocked(struct rl_session *s, int fd, unsigned mode,
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
		        "/sys/fs/ext4/%s/mb_order2_req (in the first group "
		        "of a flex group also mb_min_to_scan and "
		        "mb_max_to_scan) while it runs (the "
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

/* Does [0, len) of fd map to [goal, goal+len) in one run? */
static bool starts_at(const struct rl_extent *ext, size_t n, uint64_t goal,
                      uint64_t len)
{
	uint64_t pos = 0;

	for (size_t i = 0; i < n && pos < len; i++) {
		if (ext[i].logical != pos ||
		    ext[i].physical != goal + pos)
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
	if (session_volume(s) < 0)
		return CMD_FAIL;
	if (goal % s->fs.block_size) {
		session_error(s, "GOAL must be a multiple of the block size "
		                 "(%u)",
		              s->fs.block_size);
		return CMD_USAGE;
	}
	if (!(s->fs.features & (RL_FEAT_MOVE_EXT | RL_FEAT_DEDUPE))) {
		/* XFS without reflink: the space could be placed, the data
		 * not moved onto it (no FIDEDUPERANGE). Say so up front. */
		session_error(s, "%s: cannot move data on %s (%s%s): place "
		                 "needs movedata; 'allocate --fixed-start' can "
		                 "still reserve space at %s",
		              c->argv[0], s->fs.mountpoint, s->fs.fstype,
		              s->fs.type == RL_FS_XFS ? " without reflink" : "",
		              c->argv[1]);
		return CMD_FAIL;
	}
	fd = cmd_open_file(s, c->argv[0], O_RDWR);
	if (fd < 0)
		return CMD_FAIL;
	if (fstat(fd, &st) < 0 || st.st_size == 0) {
		session_error(s, "%s: %s", c->argv[0],
		              st.st_size == 0 ? "empty file: nothing to place"
		                              : rl_strerror(-errno));
		close(fd);
		return CMD_FAIL;
	}
	len = ((uint64_t)st.st_size + s->fs.block_size - 1) /
	      s->fs.block_size * s->fs.block_size;
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
	got = cmd_allocate_blocked(s, donor,
	                           RL_ALLOC_FIXED_START | RL_ALLOC_FIXED_LEN |
	                               RL_ALLOC_CONTIGUOUS,
	                           goal, len,
	                           cmd_has_opt(c, "no-tunables", NULL), &rep);
	if (got < 0) {
		session_error(s, "%s: cannot allocate %" PRIu64
		                 " bytes exactly at %s: %s",
		              c->argv[0], len, c->argv[1],
		              rl_strerror((int)got));
		goto fail;
	}
	/* The donor holds the whole target: a hole in it (blocks lost)
	 * must refuse, never punch FILE (RFC hole rule). */
	r = rl_movedata(fd, donor, 0, len, RL_MOVE_SPACE_FULL);
	if (r < 0) {
		session_error(s, "%s: space reserved at %s, but moving the data "
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
		cmd_print_extents(s, ext, n);
		free(ext);
	}
	if (!exact) {
		/* Cannot happen unless someone moved it meanwhile: say so. */
		session_error(s, "%s: FIEMAP after the move does not show it "
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
