/* SPDX-License-Identifier: GPL-2.0-or-later */
/* shrink SIZE: evacuate [SIZE, end) with the evacuate command's plan and
 * transaction (src/cmd_plan.c), then shrink the filesystem: XFS online
 * (rl_fs_shrink, the end of its last AG), ext4 offline (the resize2fs
 * steps are printed); btrfs resizes itself. The smallest size reachable
 * is worked out, and a SIZE below it refused, before anything moves. */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "cmd_inodes.h"
#include "cmd_plan.h"
#include "commands.h"
#include "layout_model.h"
#include "output.h"
#include "planner.h"
#include "session.h"
#include "session_model.h"
#include "units.h"

/* XFS keeps at least this many blocks of an AG it shrinks (the kernel's
 * XFS_MIN_AG_BLOCKS); a smaller rest removes the AG, which it refuses. */
#define SHRINK_XFS_MIN_AG_BLOCKS 64
/* XFS inodes are allocated in chunks of 64 (xfs_ialloc_check_shrink
 * refuses a new end inside one, even a sparse one). */
#define SHRINK_XFS_INODES_PER_CHUNK 64
#define MIB                         (1024ull * 1024)
/* rounds of rl_fs_shrink_clear (1, 2, 4 and 8 times a dozen leaves of
 * holes: 0.4 s for the first on a 2 GiB volume) */
#define SHRINK_CLEAR_ROUNDS 4

/* The highest block in a range that cannot move, and why. */
struct shrink_pin {
	struct pl_ctx *ctx;
	uint64_t start, end; /* the highest pinned owner (end 0: none) */
	enum lm_owner_kind kind;
	uint32_t file;
	const char *label, *why;
	const struct inodes_report *ir; /* --move-inodes: directories and
	                                   the inode chunks it clears leave */
	uint64_t unknown_end; /* with ir: the end of the highest block in
	                         use the kernel does not name */
	/* the highest block of the AG's free-space btrees and free list: the
	 * kernel moves them as the AG's free space changes (an evacuation
	 * of the tail changes it; measured: a btree block at 1.88 GiB of a
	 * 2 GiB aged volume gone after the evacuation to 1.56 GiB) */
	uint64_t soft_start, soft_end;
	const char *soft_label;
};

/* Blocks the kernel places and moves as the AG's free space changes. */
static bool pin_soft(const struct lm_owner *o)
{
	return o->kind == LM_OWN_META && o->label &&
	       (strcmp(o->label, "free-space btree") == 0 ||
	        strstr(o->label, "(AGFL)"));
}

static int pin_cb(const struct lm_owner *o, void *arg)
{
	struct shrink_pin *p = arg;
	const char *why = NULL;

	if (o->kind == LM_OWN_FREE)
		return 0;
	if (o->kind == LM_OWN_FILE &&
	    pl_unmovable(p->ctx, o->file, &why) == PL_MOVABLE)
		return 0;
	if (p->ir && o->kind == LM_OWN_FILE &&
	    S_ISDIR(lm_file(p->ctx->m, o->file)->mode))
		return 0;
	/* a chunk whose inodes all leave, and its clusters not in use */
	if (p->ir && o->kind != LM_OWN_FILE &&
	    inodes_in_clear(p->ir, o->start, o->length))
		return 0;
	/* without the reverse-mapping btree the kernel does not name the
	 * btree blocks of the files' and directories' extent maps (which
	 * leave with them) nor those of the free space (which stay) */
	if (p->ir && o->kind == LM_OWN_UNKNOWN) {
		if (o->start + o->length > p->unknown_end)
			p->unknown_end = o->start + o->length;
		return 0;
	}
	if (pin_soft(o)) {
		if (o->start + o->length > p->soft_end) {
			p->soft_start = o->start;
			p->soft_end = o->start + o->length;
			p->soft_label = o->label;
		}
		return 0;
	}
	if (o->start + o->length <= p->end)
		return 0;
	p->start = o->start;
	p->end = o->start + o->length;
	p->kind = o->kind;
	p->file = o->file;
	p->label = o->label;
	p->why = why;
	return 0;
}

/* What the pin is, in words. */
static void pin_text(struct rl_session *s, const struct shrink_pin *p,
                     char *buf, size_t size)
{
	const char *path;

	switch (p->kind) {
	case LM_OWN_META:
		snprintf(buf, size, "filesystem metadata (%s)%s",
		         p->label ? p->label : "?",
		         p->label && (strstr(p->label, "btree") ||
		                      strstr(p->label, "AGFL"))
		             ? ", which only the kernel places (it moves such "
		               "blocks only as its trees grow and shrink)"
		             : "");
		break;
	case LM_OWN_FILE:
		path = lm_file_path(s->model, p->file, 0);
		snprintf(buf, size, "%s, which cannot move: %s",
		         path ? path : "a file", p->why ? p->why : "?");
		break;
	default:
		snprintf(buf, size,
		         "blocks in use that the kernel does not name (on "
		         "XFS without the reverse-mapping btree: a file's or "
		         "directory's extent-map btree blocks, inode clusters "
		         "with no inode in use; the AG btrees and free list "
		         "are named when the device can be read)");
		break;
	}
}

static void size_text(uint64_t bytes, uint32_t bs, char *buf, size_t size)
{
	char h[32];

	units_format_size(bytes, h, sizeof(h));
	snprintf(buf, size, "%s (%" PRIu64 " bytes, %" PRIu64 " blocks)", h,
	         bytes, bs ? bytes / bs : 0);
}

/* The free bytes of [ag0, size) in the model; *need: what the last AG
 * must keep free when shrunk to size (rl_fs_shrink_reserve). 0 or
 * -errno. */
static int last_ag_free(struct rl_session *s, uint64_t ag0, uint64_t size,
                        uint64_t *free, uint64_t *need)
{
	struct lm_stats st;
	int fd, r;

	r = lm_range_stats(s->model, ag0, size, &st);
	if (r < 0)
		return r;
	*free = st.bytes[LM_CAT_FREE];
	fd = open(s->fs.mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = rl_fs_shrink_reserve(fd, size, need);
	close(fd);
	return r;
}

/* The free space the last AG must keep (the kernel refuses a shrink that
 * leaves less, and then refuses every later one until a remount): the
 * blocks from pf (above the last one that cannot move) to the new end
 * are freed by the moves, so the smallest size is pf plus what the free
 * space below pf lacks. *floor: at least that. */
static int reserve_floor(struct rl_session *s, uint64_t ag0, uint64_t pf,
                         uint64_t *floor, char *why, size_t wlen)
{
	uint64_t bs = s->fs.block_size, size = *floor, f, need = 0, lack;
	char a[96], b[96];
	int r = 0;

	/* need grows a little with the size: settle it */
	for (int i = 0; i < 4 && r == 0; i++) {
		r = last_ag_free(s, ag0, pf, &f, &need);
		lack = need > f ? (need - f + bs - 1) / bs * bs : 0;
		if (pf + lack <= size)
			break;
		size = pf + lack < s->fs.size ? pf + lack : s->fs.size;
	}
	if (r < 0) {
		session_error(s,
		              "cannot work out the last AG's reservations: %s",
		              rl_strerror(r));
		return r;
	}
	if (size > *floor) {
		units_format_size(need, a, sizeof(a));
		units_format_size(f, b, sizeof(b));
		*floor = size;
		snprintf(why + strlen(why), wlen - strlen(why),
		         "; and the last allocation group must keep %s free "
		         "for its metadata reservations (free-inode and "
		         "refcount btrees): below 0x%" PRIx64 " it has %s "
		         "free",
		         a, pf, b);
	}
	return 0;
}

/* Where the evacuation for a shrink to q->want starts: at want, or lower
 * when the free space below want is less than the last AG must keep
 * (then the data in [start, want) moves too). */
static uint64_t evac_start(struct rl_session *s, uint64_t ag0, uint64_t pf,
                           uint64_t want)
{
	uint64_t bs = s->fs.block_size, f, need, lack, lo = pf, hi = want;
	struct lm_stats st;

	if (last_ag_free(s, ag0, want, &f, &need) < 0 || f >= need)
		return want;
	lack = need - f;
	/* the largest start in [pf, want] with lack bytes in use above it */
	while (hi - lo > bs) {
		uint64_t mid = lo + (hi - lo) / 2 / bs * bs;
		if (lm_range_stats(s->model, mid, want, &st) == 0 &&
		    want - mid - st.bytes[LM_CAT_FREE] >= lack)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* The end of a pinned range [.., end) of the last AG (starting at ag0)
 * as a new filesystem end: metadata rounded up to an inode chunk (the
 * kernel refuses an end inside one), then to a block. */
static uint64_t pin_floor(const struct rl_fs_info *fs, uint64_t ag0,
                          uint64_t end, bool file)
{
	uint64_t bs = fs->block_size, chunk;

	if (!file) {
		chunk = (SHRINK_XFS_INODES_PER_CHUNK * bs) >> fs->xfs_inopblog;
		if (chunk < bs)
			chunk = bs;
		end = ag0 + (end - ag0 + chunk - 1) / chunk * chunk;
	}
	return (end + bs - 1) / bs * bs;
}

/* XFS: the smallest size reachable now. The kernel shrinks the last AG
 * only, keeps SHRINK_XFS_MIN_AG_BLOCKS of it, and everything given up
 * must be free: the highest block of the last AG that cannot move
 * (inodes, metadata, the log, directories, immovable files) bounds it,
 * rounded up to a whole inode chunk, and the free space the AG must keep
 * (reserve_floor). 0 or -errno (reported); *why: what bounds it.
 * hard (may be NULL): the same if the kernel moved its free-space btree
 * and free list blocks out of the way (pin_soft), as an evacuation of
 * the tail can make it do. */
static int xfs_floor(struct rl_session *s, const struct cmd_call *c,
                     const struct inodes_report *ir, uint64_t *pf,
                     uint64_t *floor, uint64_t *hard, char *why, size_t wlen)
{
	const struct rl_fs_info *fs = &s->fs;
	uint64_t bs = fs->block_size, ag0, hpf;
	struct session_plan_hooks hooks;
	struct shrink_pin pin;
	struct pl_ctx ctx;
	struct lm_model *m;
	char a[96];
	int r;

	if (fs->group_count < 2 || !fs->group_size) {
		session_error(s,
		              "%s has %" PRIu64 " allocation group%s: XFS "
		              "shrinks only the last of two or more; nothing "
		              "was changed",
		              fs->mountpoint, fs->group_count,
		              fs->group_count == 1 ? "" : "s");
		return -EINVAL;
	}
	ag0 = (fs->group_count - 1) * fs->group_size;
	m = session_model(s);
	if (!m)
		return -ENODATA;
	r = cmd_plan_init(s, c, m, &ctx, &hooks);
	if (r < 0)
		return r;
	memset(&pin, 0, sizeof(pin));
	pin.ctx = &ctx;
	pin.ir = ir;
	r = fs->size > ag0 ? lm_owners(m, ag0, fs->size, pin_cb, &pin) : 0;
	*floor = ag0 + SHRINK_XFS_MIN_AG_BLOCKS * bs;
	size_text(ag0, fs->block_size, a, sizeof(a));
	snprintf(why, wlen,
	         "the last allocation group starts at %s and the kernel "
	         "keeps at least %d blocks of it",
	         a, SHRINK_XFS_MIN_AG_BLOCKS);
	if (r == 0 && pin.end) {
		uint64_t end =
		    pin_floor(fs, ag0, pin.end, pin.kind == LM_OWN_FILE);
		char what[512];

		if (end > *floor) {
			*floor = end;
			pin_text(s, &pin, what, sizeof(what));
			snprintf(why, wlen,
			         "0x%" PRIx64 "..0x%" PRIx64 " holds %s",
			         pin.start, pin.end, what);
		}
	}
	if (ir && ir->stays && (ir->stays + bs - 1) / bs * bs > *floor) {
		*floor = (ir->stays + bs - 1) / bs * bs;
		snprintf(why, wlen, "%s", ir->stays_why);
	}
	hpf = *floor;
	if (r == 0 && pin.soft_end &&
	    pin_floor(fs, ag0, pin.soft_end, false) > *floor) {
		struct shrink_pin sp = {.start = pin.soft_start,
		                        .end = pin.soft_end,
		                        .kind = LM_OWN_META,
		                        .label = pin.soft_label};
		char what[512];

		*floor = pin_floor(fs, ag0, pin.soft_end, false);
		pin_text(s, &sp, what, sizeof(what));
		snprintf(why, wlen, "0x%" PRIx64 "..0x%" PRIx64 " holds %s",
		         sp.start, sp.end, what);
	}
	if (ir && pin.unknown_end > *floor && !s->json)
		fprintf(s->out,
		        "note: blocks in use up to 0x%" PRIx64
		        " that the kernel does not name (without the "
		        "reverse-mapping btree: most likely the extent-map "
		        "btree blocks of files and directories, which leave "
		        "with their new inodes): if some stay, the shrink "
		        "stops after the new inodes\n",
		        pin.unknown_end);
	session_plan_fini(&ctx, &hooks);
	if (r < 0) {
		session_error(s, "cannot read the layout: %s", rl_strerror(r));
		return r;
	}
	if (*floor > fs->size)
		*floor = fs->size;
	if (hpf > fs->size)
		hpf = fs->size;
	*pf = *floor;
	r = reserve_floor(s, ag0, *pf, floor, why, wlen);
	if (r == 0 && hard) {
		char scratch[1024] = "";

		*hard = *floor; /* (no such block above the rest: the same) */
		if (hpf < *pf) {
			*hard = hpf;
			r = reserve_floor(s, ag0, hpf, hard, scratch,
			                  sizeof(scratch));
		}
	}
	return r;
}

/* ext4: `resize2fs -P DEV`, the smallest size resize2fs allows (in
 * blocks; an estimate on a mounted filesystem, from its on-disk counts).
 * 0 when it cannot be run. */
static uint64_t resize2fs_min(const char *dev)
{
	char out[4096], *p;
	size_t n = 0;
	int fds[2], st;
	pid_t pid;
	ssize_t k;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return 0;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return 0;
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);
		dup2(fds[1], STDOUT_FILENO);
		if (nul >= 0) {
			dup2(nul, STDIN_FILENO);
			dup2(nul, STDERR_FILENO);
		}
		execlp("resize2fs", "resize2fs", "-P", dev, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	while (n < sizeof(out) - 1 &&
	       (k = read(fds[0], out + n, sizeof(out) - 1 - n)) != 0) {
		if (k < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		n += (size_t)k;
	}
	out[n] = '\0';
	close(fds[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return 0;
	p = strstr(out, "minimum size of the filesystem:");
	return p ? strtoull(p + strlen("minimum size of the filesystem:"), NULL,
	                    10)
	         : 0;
}

/* After an XFS shrink: the volume probed again, the model rescanned. */
static void rescan(struct rl_session *s)
{
	s->fs_probed = false;
	if (session_volume(s) < 0)
		return;
	lm_free(s->model);
	s->model = NULL;
	session_model(s);
}

/* What shrink was asked and found: sizes in bytes. */
struct shrink_req {
	uint64_t old, want, floor;
	uint64_t pf; /* XFS: above the last block of the last AG that
	                cannot move */
	bool dry;
};

/* The command's JSON document (after the evacuation's): the sizes,
 * whether the filesystem was shrunk (now: its size after), ext4's
 * offline steps. */
static void shrink_json(struct rl_session *s, const struct shrink_req *q,
                        uint64_t now, const char *offline)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddBoolToObject(o, "dry_run", q->dry);
	out_add_u64(o, "size", q->old);
	out_add_u64(o, "new_size", q->want);
	out_add_u64(o, "min_size", q->floor);
	out_add_u64(o, "block_size", s->fs.block_size);
	cJSON_AddBoolToObject(o, "shrunk", now && now < q->old);
	if (now)
		out_add_u64(o, "size_after", now);
	if (offline)
		cJSON_AddStringToObject(o, "offline", offline);
	out_json_emit(s, o);
}

/* After the moves, when SIZE cannot be had: what is in the way now (the
 * moves may have made an inode chunk there, the free-space btrees may
 * keep blocks there) and the smallest size reachable without moving
 * more, said as a note. */
static void reachable_now(struct rl_session *s, const struct cmd_call *c,
                          uint64_t want)
{
	uint64_t fl, pf;
	char why[1024], a[96];

	if (!s->model ||
	    xfs_floor(s, c, NULL, &pf, &fl, NULL, why, sizeof(why)) < 0 ||
	    fl <= want)
		return;
	size_text(fl, s->fs.block_size, a, sizeof(a));
	fprintf(s->err,
	        "relayout: note: the smallest size reachable now is %s: %s%s\n",
	        a, OUT_ESC(why),
	        fl < s->fs.size ? " ('shrink' to it moves nothing more)" : "");
}

/* Stops lm_owners at the first owner in the range that is neither free,
 * nor a block of the AG's free-space btrees or free list, nor unnamed
 * (the device read that names those may lag the log by seconds). */
static int kernel_only_cb(const struct lm_owner *o, void *arg)
{
	(void)arg;
	return o->kind == LM_OWN_FREE || o->kind == LM_OWN_UNKNOWN ||
	               pin_soft(o)
	           ? 0
	           : 1;
}

/* After the moves, [want, old) not all free and nothing in it but blocks
 * of the last AG's free-space btrees and free list: make the kernel move
 * them (rl_fs_shrink_clear), say what it took, and read the layout
 * again. */
static void clear_tail(struct rl_session *s, uint64_t want, uint64_t old)
{
	unsigned rounds = 0;
	char a[96];
	int fd, r;

	if (lm_owners(s->model, want, old, kernel_only_cb, NULL) != 0)
		return;
	fd = open(s->fs.mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	r = rl_fs_shrink_clear(fd, want, SHRINK_CLEAR_ROUNDS, &rounds);
	close(fd);
	size_text(want, s->fs.block_size, a, sizeof(a));
	if (!s->json && r == 0 && rounds == 0)
		fprintf(s->out,
		        "the last allocation group's free-space btree and "
		        "free-list blocks above %s: gone by the time they "
		        "were looked at again (the kernel moved them)\n",
		        a);
	else if (!s->json)
		fprintf(
		    s->out,
		    "the last allocation group's free-space btree and "
		    "free-list blocks above %s: %s after %u round%s of "
		    "one-block holes in a private file there (the kernel "
		    "moves them only as those btrees grow and shrink)%s%s\n",
		    a, r == 0 ? "moved out" : "still there", rounds,
		    rounds == 1 ? "" : "s", r < 0 && r != -EBUSY ? ": " : "",
		    r < 0 && r != -EBUSY ? rl_strerror(r) : "");
	rescan(s);
}

static enum cmd_status shrink_xfs(struct rl_session *s,
                                  const struct cmd_call *c,
                                  const struct shrink_req *q)
{
	uint64_t old = q->old, want = q->want, now, f, need;
	uint64_t ag0 = (s->fs.group_count - 1) * s->fs.group_size;
	uint64_t start = evac_start(s, ag0, q->pf, want);
	bool dry = q->dry;
	char a[96], b[96], sbuf[32];
	struct cmd_call c2 = *c;
	enum cmd_status st;
	struct lm_stats ts;
	int fd, r;

	/* The moves must not take the free space the last AG has to keep:
	 * when the data leaving [start, end) could fill it, they go to the
	 * other AGs ('--retry' adds missed targets to the same list). */
	if (last_ag_free(s, ag0, start, &f, &need) == 0 &&
	    lm_range_stats(s->model, start, old, &ts) == 0 &&
	    f < need + (old - start - ts.bytes[LM_CAT_FREE])) {
		uint64_t *x =
		    realloc(s->plan_excl, (s->nplan_excl + 1) * 2 * sizeof(*x));
		if (x) {
			x[2 * s->nplan_excl] = ag0;
			x[2 * s->nplan_excl + 1] = start;
			s->plan_excl = x;
			s->nplan_excl++;
		}
	}
	if (start < want) {
		size_text(want - start, s->fs.block_size, a, sizeof(a));
		if (!s->json)
			fprintf(
			    s->out,
			    "evacuating from 0x%" PRIx64 ", %s below SIZE: "
			    "the last allocation group must keep that "
			    "much more free for its metadata reservations\n",
			    start, a);
		snprintf(sbuf, sizeof(sbuf), "0x%" PRIx64, start);
		c2.argv[0] = sbuf;
	}
	st = cmd_plan_evacuate_tail(s, &c2);
	if (st != CMD_OK) {
		session_error(s,
		              "the evacuation did not complete: the filesystem "
		              "was not shrunk ('log' shows what moved; 'undo' "
		              "moves it back)");
		return st;
	}
	size_text(old, s->fs.block_size, a, sizeof(a));
	size_text(want, s->fs.block_size, b, sizeof(b));
	if (dry && s->json)
		shrink_json(s, q, 0, NULL);
	if (dry) {
		if (!s->json)
			fprintf(
			    s->out,
			    "would shrink the XFS filesystem online from %s "
			    "to %s (XFS_IOC_FSGROWFSDATA); nothing was "
			    "changed (--dry-run)\n",
			    a, b);
		return CMD_OK;
	}
	/* A refused shrink keeps this kernel from shrinking the mount
	 * again until it is remounted (measured): check what it checks
	 * first, on the layout after the moves. */
	rescan(s);
	if (s->model && last_ag_free(s, ag0, want, &f, &need) == 0) {
		struct lm_stats us;
		int sr = lm_range_stats(s->model, want, old, &us);

		if (sr == 0 && us.bytes[LM_CAT_FREE] < old - want) {
			clear_tail(s, want, old);
			sr = s->model ? lm_range_stats(s->model, want, old, &us)
			              : -ENODATA;
			if (sr < 0) { /* not read again: taken as in use */
				us.bytes[LM_CAT_FREE] = 0;
				sr = 0;
			}
		}
		if (sr == 0 && us.bytes[LM_CAT_FREE] < old - want) {
			session_error(s,
			              "not shrinking: 0x%" PRIx64 "..0x%" PRIx64
			              " is not all free after the moves ('who "
			              "0x%" PRIx64 " 0x%" PRIx64
			              "' shows what is there; 'undo' moves the "
			              "data back)",
			              want, old, want, old);
			reachable_now(s, c, want);
			return CMD_FAIL;
		}
		if (f < need) {
			units_format_size(need, a, sizeof(a));
			units_format_size(f, b, sizeof(b));
			session_error(
			    s,
			    "not shrinking: the last allocation group "
			    "would keep %s free, its metadata "
			    "reservations need %s (a larger SIZE; "
			    "'undo' moves the data back)",
			    b, a);
			return CMD_FAIL;
		}
	}
	size_text(want, s->fs.block_size, b, sizeof(b));
	fd = open(s->fs.mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		session_error(s, "%s: %s", s->fs.mountpoint, strerror(errno));
		return CMD_FAIL;
	}
	/* the space files of the moves are freed by the kernel in the
	 * background: give it a moment (rl_fs_shrink syncs first) */
	usleep(200 * 1000);
	r = rl_fs_shrink(fd, want);
	close(fd);
	if (r < 0) {
		session_error(
		    s,
		    "the kernel did not shrink the filesystem to %s: %s%s; the "
		    "evacuation stays ('undo' moves it back)%s",
		    b, rl_strerror(r),
		    r == -ENOSPC ? " (blocks above SIZE are still in use, or "
		                   "the last allocation group would not hold "
		                   "its reserved blocks: 'who SIZE END' shows "
		                   "them; a larger SIZE may do)"
		                 : "",
		    r == -ENOSPC ? "; this kernel then refuses to shrink the "
		                   "mount again until it is remounted"
		                 : "");
		cmd_root_hint(s, r);
		rescan(s);
		if (r == -ENOSPC)
			reachable_now(s, c, want);
		return CMD_FAIL;
	}
	rescan(s);
	now = s->fs.size;
	size_text(now, s->fs.block_size, b, sizeof(b));
	if (s->json) {
		shrink_json(s, q, now, NULL);
	} else {
		fprintf(s->out,
		        "shrunk the XFS filesystem online: %s -> %s\n"
		        "(not undoable by relayout: 'xfs_growfs -d %s' grows "
		        "it back to the device's size; undo of the evacuation "
		        "needs that first)\n",
		        a, b, OUT_ESC(s->fs.mountpoint));
	}
	return now == want ? CMD_OK : CMD_FAIL;
}

static enum cmd_status shrink_ext4(struct rl_session *s,
                                   const struct cmd_call *c,
                                   const struct shrink_req *q)
{
	char a[96], b[96], m[96], mnt[OUT_ESC_MAX], dev[OUT_ESC_MAX];
	enum cmd_status st = cmd_plan_evacuate_tail(s, c);
	uint64_t want = q->want, floor = q->floor;
	char *offline = NULL;

	if (st != CMD_OK) {
		session_error(s, "the evacuation did not complete ('log' shows "
		                 "what moved; 'undo' moves it back)");
		return st;
	}
	size_text(s->fs.size, s->fs.block_size, a, sizeof(a));
	size_text(want, s->fs.block_size, b, sizeof(b));
	out_esc(s->fs.mountpoint, mnt, sizeof(mnt));
	out_esc(s->fs.device, dev, sizeof(dev));
	if (asprintf(&offline,
	             "umount %s; e2fsck -f %s; resize2fs %s %" PRIu64
	             "K; mount %s %s",
	             mnt, dev, dev, want / 1024, dev, mnt) < 0)
		offline = NULL;
	if (s->json) {
		shrink_json(s, q, 0, offline);
		free(offline);
		return CMD_OK;
	}
	free(offline);
	fprintf(s->out,
	        "%s: ext4 cannot shrink while mounted; %s from %s to %s "
	        "offline:\n"
	        "  umount %s\n  e2fsck -f %s\n  resize2fs %s %" PRIu64 "K\n"
	        "  mount %s %s\n",
	        q->dry ? "would evacuate, then" : "evacuated", "shrink it", a,
	        b, mnt, dev, dev, want / 1024, dev, mnt);
	if (floor) {
		size_text(floor, s->fs.block_size, m, sizeof(m));
		fprintf(s->out,
		        "the smallest size resize2fs allows: %s ('resize2fs "
		        "-P', an estimate from the counts on disk while "
		        "mounted; after 'e2fsck -f' it is exact)\n",
		        m);
	} else {
		fprintf(s->out,
		        "the smallest size resize2fs allows: run 'resize2fs -P "
		        "%s' (after umount and 'e2fsck -f' it is exact)\n",
		        dev);
	}
	return CMD_OK;
}

/* SIZE below the smallest size reachable now (floor) only because of
 * the free-space btree and free list blocks the kernel moves as the AG's
 * free space changes (want >= hard, xfs_floor): say so and go on (the
 * evacuation changes it; shrink_xfs checks again after the moves and
 * stops there when they stayed; *pf no higher than want). true: go on. */
static bool floor_soft(struct rl_session *s, uint64_t want, uint64_t floor,
                       uint64_t hard, uint64_t *pf, const char *why)
{
	char b[96];

	if (!hard || want >= floor || want < hard)
		return false;
	if (*pf > want)
		*pf = want; /* (where the evacuation may start) */
	size_text(floor, s->fs.block_size, b, sizeof(b));
	if (!s->json)
		fprintf(s->out,
		        "note: the smallest size reachable now is %s (%s); "
		        "the kernel moves those blocks as the allocation "
		        "group's free space changes: the evacuation goes "
		        "first, then, if some stayed, one-block holes in a "
		        "private file there make the kernel's btrees grow and "
		        "shrink; the shrink is checked again after that (it "
		        "stops there if they stayed)\n",
		        b, why);
	return true;
}

/* Where --move-inodes starts: below SIZE by the free space the last AG
 * must keep when shrunk to SIZE (the evacuation may need that much more
 * room below SIZE, evac_start), not below the last AG. */
static uint64_t inodes_from(struct rl_session *s, uint64_t want)
{
	uint64_t ag0 = (s->fs.group_count - 1) * s->fs.group_size, need = 0;
	int fd = open(s->fs.mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		if (rl_fs_shrink_reserve(fd, want, &need) < 0)
			need = 0;
		close(fd);
	}
	need = (need + MIB - 1) / MIB * MIB;
	return want - ag0 > need ? want - need : ag0;
}

/* --move-inodes: the files and directories whose inodes (or directory
 * blocks) lie in [SIZE, end) get new inodes below it (ir: what the dry
 * run found), then the layout is read again and the smallest size
 * worked out anew (q->pf, q->floor). 0, or -1 (reported). */
static int shrink_inodes(struct rl_session *s, const struct cmd_call *c,
                         struct shrink_req *q)
{
	struct inodes_report done;
	char why[1024] = "", b[96];
	uint64_t hard = 0;
	int r;

	if (q->dry) {
		if (!s->json)
			fprintf(
			    s->out,
			    "(the evacuation below is planned on the layout "
			    "as it is now: the directories and inode chunks "
			    "it says cannot move get new inodes first)\n");
		return 0;
	}
	r = inodes_move(s, inodes_from(s, q->want), q->old, false, &done);
	free(done.clear);
	inodes_print_done(s, &done);
	/* inodes_move read the model again (the size is unchanged) */
	if (r < 0 || !s->model)
		return -1;
	if (xfs_floor(s, c, NULL, &q->pf, &q->floor, &hard, why, sizeof(why)) <
	    0)
		return -1;
	if (!floor_soft(s, q->want, q->floor, hard, &q->pf, why) &&
	    q->want < q->floor) {
		size_text(q->floor, s->fs.block_size, b, sizeof(b));
		session_error(s,
		              "after the new inodes, cannot shrink below %s: "
		              "%s; nothing was moved (the files keep their "
		              "new inodes)",
		              b, why);
		return -1;
	}
	return 0;
}

enum cmd_status cmd_shrink(struct rl_session *s, const struct cmd_call *c)
{
	struct shrink_req q = {.old = s->fs.size,
	                       .dry = cmd_has_opt(c, "dry-run", NULL)};
	uint64_t want, floor = 0, pf = 0, hard = 0, min_blocks,
	               bs = s->fs.block_size;
	char why[1024] = "", a[96], b[96];
	bool mv = cmd_has_opt(c, "move-inodes", NULL), soft = false;
	struct inodes_report ir;

	switch (s->fs.type) {
	case RL_FS_BTRFS:
		session_error(s,
		              "%s is btrfs: 'btrfs filesystem resize SIZE %s' "
		              "shrinks it online and moves the data itself; "
		              "nothing was changed",
		              s->fs.mountpoint, s->fs.mountpoint);
		return CMD_FAIL;
	case RL_FS_XFS:
	case RL_FS_EXT4:
		break;
	default:
		session_error(s, "%s is %s: relayout cannot shrink it",
		              s->fs.mountpoint, s->fs.fstype);
		return CMD_FAIL;
	}
	if (s->plan_mode) {
		session_error(s, "shrink does not join a pending plan (it "
		                 "changes the filesystem's size after the "
		                 "moves): 'plan off' first");
		return CMD_FAIL;
	}
	if (session_arg_size(s, "SIZE", c->argv[0], &want) < 0)
		return CMD_USAGE;
	want = want / bs * bs;
	size_text(s->fs.size, s->fs.block_size, a, sizeof(a));
	if (want >= s->fs.size || want == 0) {
		session_error(s, "SIZE must be below the filesystem's size, %s",
		              a);
		return CMD_USAGE;
	}
	if (mv && s->fs.type != RL_FS_XFS) {
		session_error(s, "--move-inodes is for XFS (ext4 moves its "
		                 "inodes itself when resize2fs shrinks it)");
		return CMD_USAGE;
	}
	memset(&ir, 0, sizeof(ir));
	if (s->fs.type == RL_FS_XFS) {
		/* with --move-inodes: what stays after the files and
		 * directories in the way got new inodes */
		int ir_r = mv ? inodes_move(s, inodes_from(s, want), s->fs.size,
		                            true, &ir)
		              : 0;
		if (mv && ir_r == 0)
			inodes_print(s, &ir, q.dry);
		if (ir_r < 0 || xfs_floor(s, c, mv ? &ir : NULL, &pf, &floor,
		                          &hard, why, sizeof(why)) < 0)
			goto fail;
		soft = floor_soft(s, want, floor, hard, &pf, why);
	} else {
		min_blocks = resize2fs_min(s->fs.device);
		floor = min_blocks * bs;
		if (min_blocks)
			snprintf(why, sizeof(why),
			         "resize2fs -P says so (an estimate while "
			         "mounted)");
	}
	size_text(floor, s->fs.block_size, b, sizeof(b));
	if (want < floor && !soft) {
		session_error(s,
		              "cannot shrink below %s now: %s; nothing was "
		              "changed",
		              b, why);
		goto fail;
	}
	if (!s->json) {
		char w[96];
		size_text(want, s->fs.block_size, w, sizeof(w));
		fprintf(s->out,
		        "shrink %s: %s -> %s; smallest size reachable %s",
		        OUT_ESC(s->fs.mountpoint), a, w, floor ? b : "unknown");
		if (why[0])
			fprintf(s->out, " (%s)", why);
		fputc('\n', s->out);
	}
	q.want = want;
	q.floor = floor;
	q.pf = pf;
	if (mv && shrink_inodes(s, c, &q) < 0)
		goto fail;
	free(ir.clear);
	if (s->fs.type == RL_FS_XFS)
		return shrink_xfs(s, c, &q);
	return shrink_ext4(s, c, &q);
fail:
	free(ir.clear);
	return CMD_FAIL;
}
