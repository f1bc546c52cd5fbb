/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The undo journal: a durable, append-only, checksummed log of relocation
 * transactions, one file per volume (keyed by the filesystem UUID).
 *
 * Directory  DIR (--journal-dir, or $RELAYOUT_JOURNAL_DIR, or by default
 *            /var/lib/relayout for root and
 *            $XDG_STATE_HOME/relayout/journal -- ~/.local/state/... --
 *            for other users): created 0700, refused when a component is
 *            a symlink (none is ever followed), when it is not owned by
 *            the effective user or is group/world writable, or when a
 *            directory on its path is controlled by another user.
 * Files      DIR/<uuid>.journal  the log;   DIR/<uuid>.lock  flock'ed by
 *            the process that appends (it writes its pid there).
 *
 * On-disk format (all integers little endian):
 *   file header (16 bytes): "RELAYOUTJRNL" u32 version (JR_VERSION)
 *   record: u32 magic "RLJR" | u16 type | u16 zero | u32 payload length |
 *           u32 CRC32C of the 12 bytes before it | payload |
 *           u32 CRC32C of the payload
 *   payload: one compact JSON object (see journal.c for the keys).
 * Every append is followed by fdatasync; creating the file also fsyncs the
 * directory.
 *
 * Reading validates every record. A damaged *tail* (the file ends inside a
 * record, or the last record fails its payload checksum, or only zero
 * bytes follow -- what a crash during an append leaves) is reported
 * (jr_journal.tail_damaged) and cut off before the next append. Damage
 * anywhere else makes the journal corrupt: it is reported, nothing is
 * appended to it, and no undo is built from it.
 */
#ifndef RL_JOURNAL_H
#define RL_JOURNAL_H
#include <relayout/fs.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#define JR_DEFAULT_DIR  "/var/lib/relayout"
#define JR_ENV_DIR      "RELAYOUT_JOURNAL_DIR"
#define JR_VERSION      1u
#define JR_HEADER_SIZE  16u
#define JR_REC_OVERHEAD 20u /* 16-byte record header + 4-byte CRC */
#define JR_MAX_PAYLOAD  (16u << 20)

enum jr_type {
	JR_BEGIN = 1,   /* transaction begins */
	JR_PLANNED = 2, /* a step is about to start */
	JR_DONE = 3,    /* a step completed */
	JR_FAILED = 4,  /* a step failed (nothing of it remains) */
	JR_END = 5,     /* transaction ends */
};

/* Status of a transaction, as the journal shows it. */
enum jr_status {
	JR_ST_OPEN = 0,    /* no END record (yet): running or crashed */
	JR_ST_APPLIED,     /* every step completed */
	JR_ST_FAILED,      /* a step failed; earlier steps stay */
	JR_ST_STOPPED,     /* stopped by a signal between steps */
	JR_ST_INTERRUPTED, /* the process died; found at a later start */
};

const char *jr_status_name(enum jr_status st);

/* State of one step. */
enum jr_step_state { JR_STEP_PLANNED = 0, JR_STEP_DONE, JR_STEP_FAILED };

/* A file range and where it goes: what a step of a plan (struct tx_step)
 * and its journal record (struct jr_step) have in common. The pieces are
 * struct rl_extent (relayout/fs.h): the file range [logical,
 * logical+length) placed at physical. */
struct jr_range {
	char *path; /* absolute path of the file */
	/* the file's identity when planned (gen 0: unknown) */
	uint64_t ino, gen;
	uint64_t offset, length;  /* the file range (block aligned) */
	struct rl_extent *target; /* where the data goes (sorted) */
	size_t ntarget;
	struct rl_extent *before; /* extents of the range when planned */
	size_t nbefore;
};

/* A malloc'ed copy of the n pieces p (never NULL for n 0), or NULL. */
struct rl_extent *jr_pieces_dup(const struct rl_extent *p, size_t n);
/* Deep copy of src into dst (path and arrays duplicated; dst's old
 * contents are not freed). 0 or -ENOMEM (dst left empty). */
int jr_range_copy(struct jr_range *dst, const struct jr_range *src);
/* Free a range's path and arrays and empty it. */
void jr_range_clear(struct jr_range *r);

struct jr_step {
	unsigned index;
	enum jr_step_state state;
	struct jr_range range;
	struct rl_extent *after; /* after (DONE) */
	size_t nafter;
	int err;       /* FAILED: errno (positive) */
	char *message; /* FAILED: why */
	bool unshare;  /* PLANNED "unshare": shared extents copied apart */
};

struct jr_txn {
	uint64_t id;
	int64_t time;  /* seconds since the epoch */
	char *command; /* the command text */
	char *uuid;
	/* The volume it was recorded on (jr_set_volume; NULL in records
	 * written before volumes were told apart): its identity key and a
	 * name for people. */
	char *volume, *volume_name;
	uint64_t undo_of;  /* this transaction undoes that one (0: no) */
	uint64_t group;    /* the first transaction of the command that made
	                      it (a command may make several: --retry); its
	                      own id when it is the first or alone */
	unsigned nplanned; /* steps the plan has */
	long pid;
	enum jr_status status;
	uint64_t bytes; /* bytes moved: done steps, and what steps
	                   that ended part way moved (from their
	                   extents) */
	char *end_message;
	bool undone; /* reverted by a later applied undo */
	uint64_t undone_by;
	struct jr_step *steps; /* in journal order */
	size_t nsteps, steps_cap;
};

struct jr_journal {
	int dirfd;
	int fd;     /* the journal, O_RDWR|O_APPEND, or -1 */
	int lockfd; /* held lock, or -1 */
	char *dir;
	char *name; /* "<uuid>.journal" */
	char uuid[40];
	/* This process's volume (jr_set_volume): recorded in every BEGIN,
	 * and which transactions are this volume's (jr_txn_here). */
	char *volume, *volume_name;
	/* What reading found. */
	struct jr_txn *txns;
	size_t ntxns, txns_cap;
	uint64_t good_end; /* offset after the last valid record */
	uint64_t file_size;
	bool tail_damaged;   /* bytes after good_end were cut/garbled */
	bool corrupt;        /* a bad record before the tail: untrusted */
	uint64_t corrupt_at; /* offset of the first bad record */
	char problem[256];   /* description of tail damage / corruption */
	/* The group (jr_txn.group) the next jr_begin records: the caller
	 * sets it to the first transaction of the command running, 0 for a
	 * transaction of its own. */
	uint64_t next_group;
	/* Step records (PLANNED, DONE, FAILED) written but not yet made
	 * durable (jr_defer_sync). */
	bool defer_sync, unsynced;
};

/* relayout's per-user state directory: "$XDG_STATE_HOME/relayout", or
 * "$HOME/.local/state/relayout" (relative values are ignored, as the XDG
 * base directory spec says), written to buf. -ENOENT when neither is set,
 * -ENAMETOOLONG. Open it with jr_open_dir. */
int jr_state_home(char *buf, size_t len);

/* Which directory to use: explicit (option) > $RELAYOUT_JOURNAL_DIR >
 * JR_DEFAULT_DIR for root (euid 0), jr_state_home()/journal for everyone
 * else (written to buf). NULL: a user with no state directory. */
const char *jr_dir_choice(const char *explicit_dir, char *buf, size_t len);

/* Is a directory on the way to a private file trustworthy: owned by the
 * effective user or root, and not writable by others (group-writable
 * only by our or root's group), unless sticky like /tmp. */
bool jr_dir_trusted(const struct stat *st);

/* Open (creating when create is set: every missing component 0700) the
 * journal directory safely, one component at a time, never following a
 * symlink. Returns a directory fd or -errno: -ELOOP a symlink in the
 * path, -EPERM the directory owned by someone else or writable by
 * group/others, or a directory on its path not jr_dir_trusted (msg says
 * which), -ENOTDIR not a directory. msg (size msglen) describes a
 * refusal. */
int jr_open_dir(const char *dir, bool create, char *msg, size_t msglen);
/* The same for any private directory of relayout's: what names it in the
 * messages ("journal directory", "run-time directory"). */
int jr_open_private_dir(const char *dir, const char *what, bool create,
                        char *msg, size_t msglen);

/* Open the journal of the volume with this UUID in dir and read it.
 * flags: JR_O_LOCK takes the volume lock (non-blocking: -EWOULDBLOCK and
 * *holder = pid of the process holding it); JR_O_CREATE creates directory
 * and file when missing (without it a missing journal reads as empty).
 * On success *out is an open journal (jr_close it); a corrupt journal is
 * still returned (check ->corrupt). Errors: -errno, msg set. */
#define JR_O_LOCK   0x1
#define JR_O_CREATE 0x2
int jr_open(const char *dir, const char *uuid, unsigned flags,
            struct jr_journal **out, long *holder, char *msg, size_t msglen);
void jr_close(struct jr_journal *j);

/* The volume this process works on, as vl_volume_id (vlock.h) names it:
 * copies of a filesystem keep its UUID, so one journal file can hold the
 * transactions of several volumes. 0 or -ENOMEM. */
int jr_set_volume(struct jr_journal *j, const char *id, const char *name);
/* Was t recorded on this journal's volume? Yes when either side is not
 * known (a record from before volumes were told apart is taken as this
 * volume's). */
bool jr_txn_here(const struct jr_journal *j, const struct jr_txn *t);

/* Re-read the journal's records (after appends by this process, the
 * in-memory view is kept up to date already). */
int jr_reload(struct jr_journal *j);

/* Parse journal bytes (for tests and jr_open): fills the read state of j
 * (txns, good_end, tail_damaged, corrupt, problem). Returns 0, or
 * -EPROTONOSUPPORT for another format version, -EBADMSG for a file that
 * is not a relayout journal. */
int jr_parse(struct jr_journal *j, const unsigned char *buf, size_t len);

/* Appending (needs the lock and a journal that is not corrupt; cuts a
 * damaged tail first). Each append is durable when it returns, except
 * step records while jr_defer_sync is on: those are durable at the next
 * jr_sync, jr_begin or jr_end. */
int jr_begin(struct jr_journal *j, const char *command, uint64_t undo_of,
             unsigned nsteps, uint64_t *id);
int jr_step_planned(struct jr_journal *j, uint64_t id,
                    const struct jr_step *step);
/* bytes: the data bytes the step moved; 0 for a step that ended part
 * way (readers count those from the extents: jr_txn.bytes). */
int jr_step_done(struct jr_journal *j, uint64_t id, unsigned index,
                 const struct rl_extent *after, size_t nafter, uint64_t bytes);
int jr_step_failed(struct jr_journal *j, uint64_t id, unsigned index, int err,
                   const char *message);
int jr_end(struct jr_journal *j, uint64_t id, enum jr_status st,
           const char *message);

/* Forget transactions: rewrite the journal without the records of the
 * n transactions ids[] (a new file written next to it, made durable,
 * then renamed over it: a crash leaves the old journal or the new one,
 * whole). Needs the lock; refused for a corrupt journal (-EBADMSG), for
 * an id the journal does not have (-ENOENT) and for a transaction still
 * open (-EBUSY). A damaged tail is left out. *freed (may be NULL) gets
 * the bytes the journal shrank by. The journal is re-read after. */
int jr_forget(struct jr_journal *j, const uint64_t *ids, size_t n,
              uint64_t *freed);

/* Batches (tx_apply): with on, the step records (PLANNED, DONE, FAILED)
 * are written without waiting for the disk; jr_sync (also done by
 * jr_begin and jr_end) makes everything written durable. A crash then
 * loses at most the step records since the last sync: the PLANNED
 * records of a batch are synced before its first step runs, and
 * recovery (tx_recover) finds from the files' extents where a step whose
 * DONE record was lost stands. */
void jr_defer_sync(struct jr_journal *j, bool on);
int jr_sync(struct jr_journal *j);

/* The transaction with this id, or NULL. */
struct jr_txn *jr_find(struct jr_journal *j, uint64_t id);

/* The newest transaction of this volume (jr_txn_here) still open (no
 * END) or NULL. */
struct jr_txn *jr_open_txn(struct jr_journal *j);

/* Can transaction t be undone? */
enum jr_undo_state {
	JR_UNDO_OK = 0,
	JR_UNDO_OPEN,    /* still open (running, or not yet examined) */
	JR_UNDO_UNDONE,  /* undone already (by t->undone_by) */
	JR_UNDO_NO_DATA, /* it moved no data */
};
enum jr_undo_state jr_undoable(const struct jr_txn *t);
/* The newest transaction an undo without an id reverts: this volume's,
 * undoable, and not an undo itself. NULL: none. */
struct jr_txn *jr_last_undoable(struct jr_journal *j);
/* The transactions of t's command (t->group) that an undo of that
 * command reverts: undoable and not undos, newest first, into out (room
 * for j->ntxns). Returns how many (t among them when it is undoable). */
size_t jr_group_undoable(struct jr_journal *j, const struct jr_txn *t,
                         struct jr_txn **out);

/* The undo a redo reverts: the newest applied undo of this volume that
 * reverted a command (not an undo itself) and is not undone, when no
 * command that moved data came after it. NULL: nothing to redo. */
struct jr_txn *jr_last_redoable(struct jr_journal *j);
/* The transactions of t's undo (t->group) a redo reverts: undos still
 * undoable, newest first, into out (room for j->ntxns); how many. */
size_t jr_group_redoable(struct jr_journal *j, const struct jr_txn *t,
                         struct jr_txn **out);
/* Encode one record (header + payload + CRC) into a malloc'ed buffer.
 * Exposed for tests. */
int jr_encode(enum jr_type type, const char *payload, unsigned char **out,
              size_t *outlen);

/* CRC32C (Castagnoli), table driven. crc32c(0, "123456789", 9) ==
 * 0xE3069283. */
uint32_t jr_crc32c(uint32_t crc, const void *buf, size_t len);

/* Free the step/txn arrays (the journal frees its own). */
void jr_step_free(struct jr_step *st);
void jr_txns_free(struct jr_txn *t, size_t n);

#endif
