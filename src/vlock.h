/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The volume lock: one relayout at a time changes a volume, whatever its
 * journal directory.
 *
 * Directory  RUN: /run/relayout for root, /tmp/relayout-UID for other
 *            users (fixed: no option or environment variable moves it, so
 *            every relayout of a user finds the same one). Created 0700
 *            and opened like a journal directory (jr_open_private_dir:
 *            no symlink followed, owned by the user, not writable by
 *            others, no directory on its path controlled by another user).
 * File       RUN/volume-<uuid>-<major>.<minor>.lock, per filesystem UUID
 *            and device (a copy of the filesystem on another device is
 *            another volume), flock'ed (LOCK_EX) by the process that
 *            changes the volume: the kernel drops the lock when the
 *            process dies, however it dies. The holder writes its pid and
 *            command line there, for the message of whoever is refused,
 *            and removes the file when it lets go (vl_unlock); one that a
 *            crash left is taken over by the next holder.
 *
 * The ext4 tunables a placement raises are saved in the same directory
 * (vl_state_dir: always RUN, no variable moves it), so whichever relayout
 * starts next puts them back after a crash (rl_tunables_recover), and,
 * since only the holder of the volume lock places, a placement never
 * records another one's raised values as the originals.
 */
#ifndef RL_VLOCK_H
#define RL_VLOCK_H
#include <stddef.h>
#include <sys/types.h>

#define VL_ROOT_DIR     "/run/relayout"
#define VL_USER_DIR_FMT "/tmp/relayout-%u"
/* Where earlier versions saved the ext4 tunables when it was set
 * (tests, --demo); only read, to restore what they left. */
#define VL_ENV_STATE_DIR "RELAYOUT_STATE_DIR"
/* Where they were saved before the volume lock (only read). */
#define VL_OLD_STATE_DIR "/var/lib/relayout"

/* RUN for this process's effective user, written to buf. NULL when it
 * does not fit. */
const char *vl_dir(char *buf, size_t len);

/* Where placements save the ext4 tunables they change: RUN, whatever the
 * environment (one place per volume: a placement finds what another one
 * saved). NULL when it does not fit. */
const char *vl_state_dir(char *buf, size_t len);

/* The identity of a mounted volume, for the journal (jr_set_volume):
 * what tells apart copies of one filesystem (same UUID, same contents)
 * and stays the same across remounts and reboots. Nothing in the
 * filesystem differs between copies, so it is where the volume lives:
 *   loop device   the backing file: "loop:<maj>:<min>:<inode>" of the
 *                 image (another loop number, same image: same volume),
 *                 "loop:<path>" when the image cannot be stat'ed;
 *   device mapper "dm:<dm uuid>" (an LVM volume or snapshot);
 *   a disk        "disk:<wwid or serial>:<partition>" when sysfs has one;
 *   else          "dev:<maj>:<min>" of the block device (the mount's
 *                 source), or of st_dev when the source is none.
 * name: the mount's source, and the image or identity behind it, e.g.
 * "/dev/loop3 (image /srv/a.img)". 0, or -ENAMETOOLONG. */
int vl_volume_id(const char *device, dev_t st_dev, char *id, size_t idlen,
                 char *name, size_t namelen);

/* A volume lock held. */
struct vl_lock {
	int fd;     /* the lock file, flock'ed */
	char *path; /* its name */
};

/* Take the lock of the volume (uuid may be ""; device: the mount's
 * source, whose device number keys the lock when it is a block device,
 * else st_dev) in dir, creating dir when needed, and record this
 * process's pid and command line in it. Non-blocking. Returns 0 (*l
 * holds it), -EWOULDBLOCK when another process holds it (msg: "volume
 * busy: relayout pid N (COMMAND LINE) holds it"), or -errno (msg says
 * what failed). */
int vl_lock(struct vl_lock *l, const char *dir, const char *uuid,
            const char *device, dev_t st_dev, char *msg, size_t msglen);

/* Let go of it: remove the file (still holding it, so whoever opened it
 * meanwhile finds it gone once it gets it, and starts over) and close. */
void vl_unlock(struct vl_lock *l);

#endif
