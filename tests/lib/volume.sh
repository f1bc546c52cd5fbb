# shellcheck shell=bash
# Test volumes for relayout's integration tests.
#
#   . "$top_srcdir/tests/lib/volume.sh"
#   vol_require_root             # skip (77) without root/loop devices
#   vol_private_run_dir          # a private /run/relayout (see there)
#   vol_create ext4 256          # KIND SIZE_MB -> VOL_MNT VOL_IMG VOL_DEV
#                                #                 VOL_DIR VOL_FS
#   vol_populate 42              # deterministic content from a seed
#   vol_verify                   # contents still match the manifest?
#   ...                          # test against $VOL_MNT
#   vol_destroy                  # (also done automatically on exit/signal)
#
#   vol_for_each "" my_test      # my_test KIND, once per kind in
#                                # $RL_TEST_FS, each on a fresh volume
#
# Kinds: ext4, ext4-1k (1 KiB blocks), xfs (reflink on), xfs-noreflink,
# xfs-rmap (reflink + rmapbt), btrfs. mkfs.xfs refuses filesystems under
# 300 MiB, so XFS volumes are made at least that big.
#
# Everything lives in a private directory under
# ${TMPDIR:-/tmp}/relayout-test.*; the image is loop-mounted on a private
# mount point and always unmounted, detached and deleted: on exit, on
# INT/TERM/HUP, and -- for a run killed with SIGKILL -- by the next
# vol_create (of any test), which cleans up directories nobody owns any
# more. Ownership is an flock(1) on DIR/lock held by the test's shell: the
# kernel drops it when the shell dies, however it dies, so a reused pid
# cannot keep a dead run's volume alive. (The lock descriptor is inherited
# by processes the test starts: a volume stays in use while any of them
# still runs.) A volume that is still busy at teardown (a process has files
# open on it) is unmounted lazily after a few retries and its loop device
# is detached as soon as the last user goes away.
#
# Don't replace the EXIT trap: add cleanup with vol_at_exit CMD instead.
#
# In CI (CI=true or RL_TESTS_REQUIRE=1) a test that cannot run fails (99)
# instead of being skipped.
#
# vol_not_applicable REASON: the test found out itself that what it tests
# does not exist on this kernel (e.g. quota support compiled out: the
# mount with quotas was tried and refused). Nothing was tested, so it is
# reported as a skip (77), "SKIP (not applicable): REASON" with the
# measured reason, in CI too: no package this machine could install
# provides it (another kernel does). Missing tools, root or loop devices
# are vol_skip: those can be installed, and CI fails on them.

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
RELAYOUT="${RELAYOUT:-$top_builddir/relayout}"
RL_POPULATE="${RL_POPULATE:-$top_builddir/tests/tools/rl_populate}"
RL_TEST_FS="${RL_TEST_FS:-ext4 ext4-1k xfs btrfs}"
VOL_BASE="${TMPDIR:-/tmp}"
VOL_DIRS=()
VOL_LOCKFDS=()
VOL_EXIT_HOOKS=()
VOL_MNT="" VOL_IMG="" VOL_DEV="" VOL_FS="" VOL_DIR="" VOL_MANIFEST=""

vol__required() {
	[ "${CI:-}" = true ] || [ "${RL_TESTS_REQUIRE:-0}" = 1 ]
}

vol_skip() {
	if vol__required; then
		echo "FAIL (required in CI): $*" >&2
		exit 99
	fi
	echo "SKIP: $*" >&2
	exit 77
}

vol_not_applicable() {
	echo "SKIP (not applicable): $*" >&2
	exit 77
}

vol_fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# Checks that go on after a failure: fail counts one in $fails (the test
# exits 1 at its end when it is not 0), note reports a finding; both name
# the current kind.
fails=0
fail() {
	echo "FAIL${VOL_FS:+ [$VOL_FS]}: $*" >&2
	fails=$((fails + 1))
}
note() { echo "${VOL_FS:+[$VOL_FS] }$*" >&2; }

# fails_unless RC PATTERN -- CMD...: run CMD (at most 20 s: nothing may
# block); a failure unless it exits with RC and its stdout+stderr match
# PATTERN (grep -E).
fails_unless() {
	local want=$1 pat=$2 out rc
	shift 3
	out=$(timeout 20 "$@" 2>&1)
	rc=$?
	if [ "$rc" != "$want" ] || ! grep -qE -- "$pat" <<<"$out"; then
		fail "$(sed "s|$RELAYOUT|relayout|" <<<"$*") -> rc $rc (want $want), output:"
		echo "$out" | head -20 >&2
		echo "  (wanted /$pat/)" >&2
	fi
}

# vol_strace ARGS... -- CMD...: strace ARGS CMD. LeakSanitizer cannot run
# under ptrace (it stops the process it checks): a sanitizer build traced here
# runs without leak checking, which the untraced runs of the suite still do.
vol_strace() {
	local args=()
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do
		args+=("$1")
		shift
	done
	shift
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace "${args[@]}" "$@"
}

vol_require_root() {
	[ "$(id -u)" = 0 ] || vol_skip "needs root (loop devices, mount)"
	[ -e /dev/loop-control ] || vol_skip "no /dev/loop-control"
	command -v losetup >/dev/null || vol_skip "losetup not installed"
	command -v flock >/dev/null || vol_skip "flock not installed"
}

# Run the rest of the test in a mount namespace of its own with an empty
# tmpfs on /run/relayout (call it right after vol_require_root, before
# anything is made: the script starts again from the top). Every relayout
# that starts puts back the ext4 tunables a dead run left there, on any
# device, so a test that kills a run and checks that the next one reports
# the restore would race with the relayouts of tests running in parallel
# (make -j check); the volume locks there are private to the test too.
# The namespace starts with a copy of every mount, those of the other
# tests' volumes too: a copy keeps a filesystem mounted after its test
# unmounts it (XFS then leaves its log dirty for that test's fsck), so
# the copies of loop-device mounts are detached first thing.
vol_private_run_dir() {
	local t
	if [ -z "${RL_VOL_PRIVATE_RUN:-}" ]; then
		command -v unshare >/dev/null ||
			vol_skip "unshare (util-linux) not installed"
		mkdir -p /run/relayout
		RL_VOL_PRIVATE_RUN=1 exec unshare -m --propagation private \
			bash "$0" "$@"
	fi
	findmnt -rn -o SOURCE,TARGET | awk '$1 ~ /^\/dev\/loop/ { print $2 }' |
		sort -r | while read -r t; do
		umount -l "$(printf '%b' "$t")" 2>/dev/null
	done
	mount -t tmpfs -o mode=0700,size=1m relayout-test-run /run/relayout ||
		vol_skip "cannot mount a private tmpfs on /run/relayout"
}

# Loop devices whose backing file is FILE, also after FILE was deleted.
vol__loops_of() {
	local file=$1 name back
	losetup -l -n --raw -O NAME,BACK-FILE 2>/dev/null |
		while read -r name back; do
			case $back in
			"$file" | "$file (deleted)") echo "$name" ;;
			esac
		done
}

# Mount points at or under DIR, deepest first.
vol__mounts_under() {
	findmnt -rn -o TARGET 2>/dev/null |
		awk -v d="$1" 'index($0, d "/") == 1 || $0 == d' | sort -r
}

# Unmount MNT: a few tries (a process may be closing files), then lazily
# (not with "nolazy": then fail).
vol__umount() {
	local mnt=$1
	for _ in 1 2 3 4 5; do
		umount "$mnt" 2>/dev/null && return 0
		mountpoint -q "$mnt" || return 0
		sleep 0.2
	done
	[ "${2:-}" != nolazy ] || return 1
	echo "note: $mnt still busy, lazy unmount:" \
		"$(fuser -m "$mnt" 2>/dev/null | tr -s ' ')" >&2
	umount -l "$mnt"
}

# Tear down one volume directory: unmount, detach, delete (in that order,
# so that a teardown interrupted at any point can be finished later).
# Every DIR/image* attached is detached (a test may attach copies).
vol__teardown_dir() {
	local d=$1 m dev img
	[ -d "$d" ] || return 0
	for m in $(vol__mounts_under "$d"); do
		vol__umount "$m"
	done
	for img in "$d"/image*; do
		for dev in $(vol__loops_of "$img"); do
			# busy: the kernel detaches it when the last user
			# closes it
			losetup -d "$dev" 2>/dev/null
		done
	done
	if [ -n "$(vol__mounts_under "$d")" ]; then
		echo "warning: cannot unmount everything under $d; left it" >&2
		return 1
	fi
	rm -rf --one-file-system "$d"
}

# Is the volume directory D abandoned (its owner is gone)?
vol__is_stale() {
	local d=$1 pid
	if [ -f "$d/lock" ] && [ -f "$d/owner" ]; then
		flock -n "$d/lock" true 2>/dev/null
		return
	fi
	# directory of an older volume.sh (no lock): go by the owner's pid
	pid=$(cat "$d/owner" 2>/dev/null) || pid=
	if [ -n "$pid" ]; then
		! kill -0 "$pid" 2>/dev/null
		return
	fi
	# no owner yet: give a run being set up a minute
	[ "$(($(date +%s) - $(stat -c %Y "$d" 2>/dev/null || date +%s)))" -ge 60 ]
}

# Clean up volume directories left behind by runs that were killed, and
# loop devices whose volume directory is gone already.
vol__reap_stale() {
	local d dev
	for d in "$VOL_BASE"/relayout-test.*; do
		[ -d "$d" ] || continue
		vol__is_stale "$d" || continue
		echo "note: cleaning up stale test volume $d" >&2
		if [ -f "$d/lock" ]; then
			# hold the lock meanwhile: one reaper per directory
			(flock -n 9 || exit 0; vol__teardown_dir "$d") 9<"$d/lock"
		else
			vol__teardown_dir "$d"
		fi
	done
	losetup -l -n --raw -O NAME,BACK-FILE 2>/dev/null |
		while read -r dev d; do
			case $d in "$VOL_BASE"/relayout-test.*/image*) ;; *) continue ;; esac
			[ -d "${d%/image*}" ] && continue
			losetup -d "$dev" 2>/dev/null
		done
}

vol_destroy() {
	local d fd
	for d in "${VOL_DIRS[@]}"; do
		vol__teardown_dir "$d"
	done
	for fd in "${VOL_LOCKFDS[@]}"; do
		exec {fd}>&-
	done
	VOL_DIRS=() VOL_LOCKFDS=()
	VOL_MNT="" VOL_IMG="" VOL_DEV="" VOL_FS="" VOL_DIR="" VOL_MANIFEST=""
}

# vol_at_exit CMD...: run CMD at exit, before the volumes are destroyed.
vol_at_exit() {
	VOL_EXIT_HOOKS+=("$*")
}

vol__on_exit() {
	local h
	for h in "${VOL_EXIT_HOOKS[@]}"; do
		eval "$h"
	done
	VOL_EXIT_HOOKS=()
	vol_destroy
	# for the suite's timing table (scripts/quickstart.sh); not from the
	# subshells that inherit this trap
	[ "$BASHPID" != "$$" ] || echo "took ${SECONDS} s"
}

vol__on_signal() {
	trap - EXIT
	vol__on_exit
	exit $((128 + $1))
}
vol__traps() {
	trap vol__on_exit EXIT
	trap 'vol__on_signal 1' HUP
	trap 'vol__on_signal 2' INT
	trap 'vol__on_signal 15' TERM
}
vol__traps

# Make the filesystem of KIND on IMAGE. Skips when the tool is missing.
vol__mkfs() {
	local kind=$1 img=$2 tool
	case $kind in
	ext4 | ext4-1k) tool=mkfs.ext4 ;;
	xfs | xfs-noreflink | xfs-rmap) tool=mkfs.xfs ;;
	btrfs) tool=mkfs.btrfs ;;
	*) vol_fail "unknown volume kind '$kind'" ;;
	esac
	command -v $tool >/dev/null || vol_skip "$tool not installed ($kind)"
	case $kind in
	ext4) mkfs.ext4 -q -F -b 4096 "$img" ;;
	ext4-1k) mkfs.ext4 -q -F -b 1024 "$img" ;;
	xfs) mkfs.xfs -q -f -m reflink=1 "$img" ;;
	xfs-noreflink) mkfs.xfs -q -f -m reflink=0 "$img" ;;
	xfs-rmap) mkfs.xfs -q -f -m reflink=1,rmapbt=1 "$img" ;;
	btrfs) mkfs.btrfs -q -f "$img" ;;
	esac >"${img%/*}/mkfs.log" 2>&1 && return 0
	cat "${img%/*}/mkfs.log" >&2
	vol_fail "$tool for $kind failed"
}

# vol_create KIND SIZE_MB: make, loop-mount, set VOL_*.
vol_create() {
	local kind=$1 size=${2:-256} d fd
	vol_require_root
	# mkfs.xfs refuses filesystems smaller than 300 MiB.
	case $kind in xfs*) [ "$size" -ge 300 ] || size=300 ;; esac
	vol__reap_stale
	case $kind in
	xfs*) [ "$size" -ge 300 ] || size=300 ;;
	esac
	d=$(mktemp -d "$VOL_BASE/relayout-test.XXXXXX") || vol_fail "mktemp"
	VOL_DIRS+=("$d")
	exec {fd}>"$d/lock" || vol_fail "cannot create $d/lock"
	VOL_LOCKFDS+=("$fd")
	flock -x "$fd"
	echo $$ >"$d/owner"
	echo "$kind" >"$d/kind"
	mkdir "$d/mnt"
	truncate -s "${size}M" "$d/image" || vol_fail "truncate $d/image"
	vol__mkfs "$kind" "$d/image"
	VOL_DEV=$(losetup -f --show "$d/image") || vol_skip "no free loop device"
	echo "$VOL_DEV" >"$d/dev"
	if ! mount "$VOL_DEV" "$d/mnt"; then
		losetup -d "$VOL_DEV"
		vol_skip "cannot mount $kind (kernel support?)"
	fi
	VOL_DIR=$d VOL_MNT=$d/mnt VOL_IMG=$d/image VOL_FS=$kind VOL_MANIFEST=
}

# vol_populate SEED [SCALE]: deterministic files (tests/tools/rl_populate).
# The manifest (hash, size, path of every file) goes to $VOL_MANIFEST,
# outside the volume.
vol_populate() {
	local seed=${1:-1} scale=${2:-1}
	[ -x "$RL_POPULATE" ] || vol_fail "$RL_POPULATE not built (make check)"
	VOL_MANIFEST=$VOL_DIR/manifest.$seed
	"$RL_POPULATE" -m "$VOL_MANIFEST" "$VOL_MNT" "$seed" "$scale" ||
		vol_fail "populate $VOL_FS seed $seed"
}

# vol_verify [MANIFEST]: every file of the manifest still has its content.
vol_verify() {
	local m=${1:-$VOL_MANIFEST}
	[ -n "$m" ] || vol_fail "vol_verify: no manifest (vol_populate first)"
	"$RL_POPULATE" --verify "$VOL_MNT" "$m" ||
		vol_fail "contents of $VOL_FS differ from $m"
}

# vol_extents FILE [merge]: FILE's extents as filefrag -v reports them
# (independent of relayout): "logical physical length" lines in bytes,
# clipped at the end of the file's last block (XFS keeps speculative
# preallocation past EOF for a while). With "merge", extents adjacent both
# logically and physically are one line.
vol_extents() {
	local bs sz
	bs=$(stat -f -c %S "$1")
	sz=$(stat -c %s "$1")
	filefrag -v -b1 "$1" | awk -v end=$(((sz + bs - 1) / bs * bs)) -v merge="${2:-}" '
		$1 ~ /^[0-9]+:$/ {
		gsub(/\.\./, " "); gsub(/:/, " ");
		if ($2 >= end) next;
		len = $6; if ($2 + len > end) len = end - $2;
		if (merge && n && $2 == ll + lz && $4 == lp + lz) { lz += len; next }
		if (n) print ll, lp, lz;
		ll = $2; lp = $4; lz = len; n = 1 }
		END { if (n) print ll, lp, lz }'
}

# vol_mkfrag FILE CHUNKS CHUNK_KB [SRC]: a fragmented file of CHUNKS random
# chunks (with SRC: SRC's chunks, a fragmented copy of it), written in a
# scattered order interleaved with fillers in the same directory (XFS
# spreads directories over AGs) that are deleted afterwards; fillers
# larger than ext4's stream threshold (small ones come from a separate
# group preallocation).
vol_mkfrag() {
	local f=$1 n=$2 kb=$3 src=${4:-} i k
	for ((k = 0; k < n; k++)); do
		i=$(((k * 7) % n))
		if [ -n "$src" ]; then
			dd if="$src" skip=$i of="$f" bs=${kb}K count=1 seek=$i conv=notrunc,fsync status=none
		else
			dd if=/dev/urandom of="$f" bs=${kb}K count=1 seek=$i conv=notrunc,fsync status=none
		fi
		dd if=/dev/zero of="$f.fill$k" bs=$((kb * 4))K count=1 conv=fsync status=none
	done
	rm -f "$f".fill*
	sync -f "$VOL_MNT"
}

# vol_remount: unmount and mount again (drops caches, flushes everything).
vol_remount() {
	vol__umount "$VOL_MNT" nolazy && mount "$VOL_DEV" "$VOL_MNT" ||
		vol_fail "remount $VOL_MNT"
}

# vol_fsck: unmount and check the filesystem read-only; remount after.
vol_fsck() {
	local rc=0
	vol__umount "$VOL_MNT" nolazy || vol_fail "umount for fsck (busy)"
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

# Is KIND enabled by $RL_TEST_FS? Listed itself, or its family (ext4,
# xfs, btrfs) is: the default list enables xfs-rmap and xfs-noreflink.
vol_kind_enabled() {
	local k
	for k in $RL_TEST_FS; do
		[ "$k" = "$1" ] || [ "$k" = "${1%%-*}" ] && return 0
	done
	return 1
}

# vol_for_each KINDS FUNC [ARGS...]: for each kind of KINDS ("" or "-":
# those of $RL_TEST_FS) that $RL_TEST_FS enables, make a fresh volume of
# ${VOL_SIZE_MB:-256} MiB and run FUNC KIND ARGS... in a subshell with VOL_*
# set, then destroy the volume. FUNC fails by returning non-zero or with
# vol_fail; vol_skip skips that kind only. Returns 1 if a kind failed
# (naming them), 77 if all were skipped, else 0.
vol_for_each() {
	local kinds=$1 func=$2 k rc passed="" skipped="" failed=""
	shift 2
	case $kinds in "" | -) kinds=$RL_TEST_FS ;; esac
	for k in $kinds; do
		if ! vol_kind_enabled "$k"; then
			echo "--- $func: $k not enabled by RL_TEST_FS" >&2
			continue
		fi
		echo "--- $func on $k" >&2
		(
			VOL_DIRS=() VOL_LOCKFDS=() VOL_EXIT_HOOKS=()
			vol__traps
			vol_create "$k" "${VOL_SIZE_MB:-256}"
			"$func" "$k" "$@"
		)
		rc=$?
		case $rc in
		0) passed+=" $k" ;;
		77) skipped+=" $k" ;;
		*) failed+=" $k(rc=$rc)" ;;
		esac
	done
	echo "--- $func: passed:${passed:- none}; skipped:${skipped:- none};" \
		"failed:${failed:- none}" >&2
	[ -z "$failed" ] || return 1
	[ -n "$passed" ] || return 77
	return 0
}
