# shellcheck shell=bash
# Test volumes for relayout's integration tests.
#
#   . "$top_srcdir/tests/lib/volume.sh"
#   vol_require_root             # skip (77) without root/loop devices
#   vol_create ext4 256          # FS SIZE_MB -> VOL_MNT VOL_IMG VOL_DEV VOL_FS
#   vol_populate 42              # deterministic content from a seed
#   ...                          # test against $VOL_MNT
#   vol_destroy                  # (also done automatically on exit/signal)
#
# Kinds: ext4, ext4-1k (1 KiB blocks), xfs (reflink on), xfs-noreflink,
# xfs-rmap (reflink + rmapbt), btrfs. Everything lives in a private directory
# under ${TMPDIR:-/tmp}/relayout-test.*; the image is loop-mounted on a
# private mount point and always unmounted, detached and deleted: on exit,
# on INT/TERM/HUP, and -- for a run killed with SIGKILL -- by the next run,
# which cleans up directories whose owner process is gone.
#
# In CI (CI=true or RL_TESTS_REQUIRE=1) a test that cannot run fails (99)
# instead of being skipped.

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
RELAYOUT="${RELAYOUT:-$top_builddir/relayout}"
RL_TEST_FS="${RL_TEST_FS:-ext4 ext4-1k xfs btrfs}"
VOL_BASE="${TMPDIR:-/tmp}"
VOL_DIRS=()
VOL_MNT= VOL_IMG= VOL_DEV= VOL_FS= VOL_DIR=

vol_skip() {
	if [ "${CI:-}" = true ] || [ "${RL_TESTS_REQUIRE:-0}" = 1 ]; then
		echo "FAIL (required in CI): $*" >&2
		exit 99
	fi
	echo "SKIP: $*" >&2
	exit 77
}

vol_fail() {
	echo "FAIL: $*" >&2
	exit 1
}

vol_require_root() {
	[ "$(id -u)" = 0 ] || vol_skip "needs root (loop devices, mount)"
	[ -e /dev/loop-control ] || vol_skip "no /dev/loop-control"
	command -v losetup >/dev/null || vol_skip "losetup not installed"
}

# Tear down one volume directory: unmount, detach, delete.
vol__teardown_dir() {
	local d=$1 dev
	[ -d "$d" ] || return 0
	if mountpoint -q "$d/mnt" 2>/dev/null; then
		umount "$d/mnt" 2>/dev/null || umount -l "$d/mnt" 2>/dev/null
	fi
	if [ -f "$d/image" ]; then
		for dev in $(losetup -j "$d/image" -O NAME -n 2>/dev/null); do
			losetup -d "$dev" 2>/dev/null
		done
	fi
	rm -rf "$d"
}

# Remove directories left behind by runs that were killed (owner gone).
vol__reap_stale() {
	local d pid
	for d in "$VOL_BASE"/relayout-test.*; do
		[ -d "$d" ] || continue
		pid=$(cat "$d/owner" 2>/dev/null) || pid=
		if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
			continue
		fi
		# no owner file yet: give a run being set up a moment
		if [ -z "$pid" ] && [ "$(( $(date +%s) - $(stat -c %Y "$d") ))" -lt 60 ]; then
			continue
		fi
		echo "note: cleaning up stale test volume $d" >&2
		vol__teardown_dir "$d"
	done
}

vol_destroy() {
	local d
	for d in "${VOL_DIRS[@]}"; do
		vol__teardown_dir "$d"
	done
	VOL_DIRS=()
}

vol__on_signal() {
	vol_destroy
	trap - EXIT
	exit 130
}
trap vol_destroy EXIT
trap vol__on_signal INT TERM HUP

# vol_create KIND SIZE_MB: make, loop-mount, set VOL_*.
vol_create() {
	local kind=$1 size=${2:-256} d
	vol_require_root
	# mkfs.xfs refuses filesystems smaller than 300 MiB.
	case $kind in xfs*) [ "$size" -ge 300 ] || size=300 ;; esac
	vol__reap_stale
	d=$(mktemp -d "$VOL_BASE/relayout-test.XXXXXX") || vol_fail "mktemp"
	echo $$ >"$d/owner"
	VOL_DIRS+=("$d")
	mkdir "$d/mnt"
	truncate -s "${size}M" "$d/image" || vol_fail "truncate"
	case $kind in
	ext4) mkfs.ext4 -q -F -b 4096 "$d/image" ;;
	ext4-1k) mkfs.ext4 -q -F -b 1024 "$d/image" ;;
	xfs) mkfs.xfs -q -f -m reflink=1 "$d/image" ;;
	xfs-noreflink) mkfs.xfs -q -f -m reflink=0 "$d/image" ;;
	xfs-rmap) mkfs.xfs -q -f -m reflink=1,rmapbt=1 "$d/image" ;;
	btrfs) mkfs.btrfs -q -f "$d/image" >/dev/null ;;
	*) vol_fail "unknown volume kind '$kind'" ;;
	esac || vol_skip "mkfs for $kind failed (tools missing?)"
	VOL_DEV=$(losetup -f --show "$d/image") || vol_skip "no free loop device"
	if ! mount "$VOL_DEV" "$d/mnt"; then
		losetup -d "$VOL_DEV"
		vol_skip "cannot mount $kind (kernel support?)"
	fi
	VOL_DIR=$d VOL_MNT=$d/mnt VOL_IMG=$d/image VOL_FS=$kind
}

# vol_populate SEED [SCALE]: deterministic files (see tests/tools/rl_populate).
vol_populate() {
	local seed=${1:-1} scale=${2:-1}
	"$top_builddir/tests/tools/rl_populate" "$VOL_MNT" "$seed" "$scale" ||
		vol_fail "populate $VOL_FS seed $seed"
	sync -f "$VOL_MNT"
}

# vol_remount: unmount and mount again (drops caches, flushes everything).
vol_remount() {
	umount "$VOL_MNT" && mount "$VOL_DEV" "$VOL_MNT" || vol_fail "remount"
}

# vol_fsck: unmount and check the filesystem read-only; remount after.
vol_fsck() {
	local rc=0
	umount "$VOL_MNT" || vol_fail "umount for fsck"
	case $VOL_FS in
	ext4*) e2fsck -fn "$VOL_DEV" >"$VOL_DIR/fsck.log" 2>&1 || rc=$? ;;
	xfs*) xfs_repair -n "$VOL_DEV" >"$VOL_DIR/fsck.log" 2>&1 || rc=$? ;;
	btrfs) btrfs check --readonly "$VOL_DEV" >"$VOL_DIR/fsck.log" 2>&1 || rc=$? ;;
	esac
	mount "$VOL_DEV" "$VOL_MNT" || vol_fail "remount after fsck"
	if [ $rc != 0 ]; then
		cat "$VOL_DIR/fsck.log" >&2
		vol_fail "fsck of $VOL_FS found problems (rc $rc)"
	fi
}
