#!/bin/bash
# Self-test of the test-volume layer: tests/lib/volume.sh and rl_populate.
#
#  1. every kind: create, populate, manifest verifies, and the volume has
#     what it should (fragmented file, unwritten extents, holes, tiny
#     files, links, half-deleted churn, reflinked pair sharing its extents
#     where reflink exists and no clone where it does not), fsck clean;
#  2. the same seed on two volumes gives identical manifests, another seed
#     different contents, and --verify catches a changed byte;
#  3. a test killed with SIGKILL leaves a volume that the next vol_create
#     reaps (mount, loop device, directory);
#  4. a volume with a file still open on it is torn down anyway (lazy
#     unmount) and its loop device goes away when the file is closed;
#  5. nothing this test made is left mounted, attached or on disk.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/volume.sh"

vol_require_root
command -v filefrag >/dev/null || vol_skip "filefrag (e2fsprogs) missing"
[ -x "$RL_POPULATE" ] || vol_fail "$RL_POPULATE not built"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rl-volumes-test.XXXXXX") || vol_fail mktemp
vol_at_exit 'rm -rf "$WORK"'
: >"$WORK/made"

ok() { echo "ok: $*"; }

# Remember a volume directory, to check at the end that it left no trace.
made() { echo "$VOL_DIR" >>"$WORK/made"; }

extent_count() {
	filefrag "$1" | sed -n 's/.*: \([0-9]*\) extents\{0,1\} found.*/\1/p'
}

# ---------------------------------------------------- 1. every kind
check_kind() {
	local kind=$1 m f n most=0 tiny churn_left churn_made
	made
	vol_populate 7
	m=$VOL_MANIFEST
	vol_verify
	ok "$kind: $(grep -vc '^#' "$m") files populated and verified"

	for f in "$VOL_MNT"/frag/f*; do
		n=$(extent_count "$f")
		[ "${n:-0}" -gt "$most" ] && most=$n
	done
	[ "$most" -gt 1 ] || vol_fail "$kind: no fragmented file in frag/"
	ok "$kind: fragmented files (up to $most extents)"

	filefrag -v "$VOL_MNT/unwritten/u0" | grep -q unwritten ||
		vol_fail "$kind: unwritten/u0 has no unwritten extent"
	filefrag -v "$VOL_MNT/unwritten/u2" | grep -q unwritten ||
		vol_fail "$kind: unwritten/u2 (KEEP_SIZE) has no unwritten extent"
	ok "$kind: unwritten extents"

	f=$VOL_MNT/sparse/s3
	[ $(($(stat -c '%b * %B' "$f"))) -lt $(($(stat -c %s "$f") / 4)) ] ||
		vol_fail "$kind: sparse/s3 is not sparse"
	ok "$kind: sparse files"

	tiny=$(awk '!/^#/ && $2 < 1024 && $3 ~ /\/t[0-9]+$/' "$m" | wc -l)
	[ "$tiny" -ge 50 ] || vol_fail "$kind: only $tiny tiny files"
	[ -d "$VOL_MNT/tree/a/b/c/deep" ] || vol_fail "$kind: no nested dirs"
	[ -L "$VOL_MNT/tree/a/link-to-frag0" ] &&
		cmp -s "$VOL_MNT/tree/a/link-to-frag0" "$VOL_MNT/frag/f0" ||
		vol_fail "$kind: symlink tree/a/link-to-frag0 broken"
	[ "$(stat -c %h "$VOL_MNT/sparse/s0")" = 2 ] &&
		[ "$VOL_MNT/sparse/s0" -ef "$VOL_MNT/tree/d/hardlink-s0" ] ||
		vol_fail "$kind: hard link tree/d/hardlink-s0 missing"
	ok "$kind: $tiny tiny files, nested dirs, symlink, hard link"

	churn_left=$(grep -c ' churn/c' "$m")
	churn_made=$(($(grep ' churn/c' "$m" | tail -1 | sed 's/.*churn\/c0*//') + 1))
	[ $((churn_left * 10)) -gt $((churn_made * 3)) ] &&
		[ $((churn_left * 10)) -lt $((churn_made * 7)) ] ||
		vol_fail "$kind: $churn_left of $churn_made churn files left"
	ok "$kind: $churn_left of ~$churn_made churn files left (free space holes)"

	case $kind in
	xfs | xfs-rmap | btrfs)
		for f in orig clone; do
			filefrag -v "$VOL_MNT/reflink/$f" | grep -q shared ||
				vol_fail "$kind: reflink/$f does not share extents"
		done
		ok "$kind: reflink/orig and reflink/clone share extents"
		;;
	*)
		[ ! -e "$VOL_MNT/reflink/clone" ] ||
			vol_fail "$kind: a clone exists without reflink"
		ok "$kind: no reflink, no clone"
		;;
	esac
	vol_fsck
	ok "$kind: fsck clean"
}

vol_for_each "ext4 ext4-1k xfs xfs-noreflink xfs-rmap btrfs" check_kind
rc=$?
[ $rc = 0 ] || [ $rc = 77 ] || vol_fail "volume kinds failed (see above)"

# ---------------------------------------------------- 2. determinism
first=
for k in $RL_TEST_FS; do
	first=$k
	break
done
[ -n "$first" ] || vol_fail "RL_TEST_FS is empty"
vol_create "$first" 256
made
mnt_a=$VOL_MNT
"$RL_POPULATE" -m "$WORK/a" "$mnt_a" 42 0.5 || vol_fail "populate A"
vol_create "$first" 256
made
mnt_b=$VOL_MNT
"$RL_POPULATE" -m "$WORK/b" "$mnt_b" 42 0.5 || vol_fail "populate B"
cmp "$WORK/a" "$WORK/b" || vol_fail "same seed, different manifests"
"$RL_POPULATE" --verify "$mnt_a" "$WORK/b" || vol_fail "A vs B's manifest"
ok "$first: seed 42 twice, identical manifests ($(grep -vc '^#' "$WORK/a") files)"

mkdir "$mnt_b/other"
"$RL_POPULATE" -m "$WORK/c" "$mnt_b/other" 43 0.5 || vol_fail "populate C"
# (unwritten/u3 is never written: all zeros whatever the seed)
n=$(join -j 2 <(awk '!/^#/ {print $1, $3}' "$WORK/b" | sort -k2) \
	<(awk '!/^#/ {print $1, $3}' "$WORK/c" | sort -k2) |
	awk '$2 == $3 && $1 != "unwritten/u3"' | wc -l)
[ "$n" = 0 ] || vol_fail "seed 43 repeats $n files of seed 42"
ok "$first: seed 43 gives other contents"

printf 'X' | dd of="$mnt_a/frag/f1" bs=1 seek=100 conv=notrunc status=none
out=$("$RL_POPULATE" --verify "$mnt_a" "$WORK/a" 2>&1) &&
	vol_fail "--verify missed a changed byte"
grep -q 'frag/f1' <<<"$out" || vol_fail "--verify did not name frag/f1: $out"
rm "$mnt_a/tiny/"t* 2>/dev/null
out=$("$RL_POPULATE" --verify "$mnt_a" "$WORK/a" 2>&1) &&
	vol_fail "--verify missed deleted files"
grep -q 'No such file' <<<"$out" || vol_fail "--verify on missing: $out"
ok "--verify reports changed and missing files"
vol_destroy

# ---------------------------------------------------- 3. SIGKILL
(bash -c '
	. "$0"
	vol_create ext4 64
	echo "$VOL_DIR $VOL_DEV" >"$1"
	kill -9 $$
' "$top_srcdir/tests/lib/volume.sh" "$WORK/killed"; true) 2>/dev/null
read -r kdir kdev <"$WORK/killed" || vol_fail "killed child made no volume"
echo "$kdir" >>"$WORK/made"
[ -d "$kdir" ] && findmnt -rn -o TARGET | grep -qx "$kdir/mnt" ||
	vol_fail "killed child's volume is not there to reap"
ok "SIGKILLed child left $kdir mounted on $kdev"
vol_create ext4 64
made
[ ! -e "$kdir" ] || vol_fail "$kdir not reaped"
! findmnt -rn -o TARGET,SOURCE | grep -q "$kdir" ||
	vol_fail "$kdir still mounted"
[ -z "$(vol__loops_of "$kdir/image")" ] || vol_fail "$kdev still attached"
ok "next vol_create reaped it: no directory, mount or loop device"

# ------------------------------------------- 3b. SIGTERM, vol_for_each
bash -c '
	. "$0"
	vol_create ext4 64
	sleep 60 &
	echo "$VOL_DIR $!" >"$1"
	wait
' "$top_srcdir/tests/lib/volume.sh" "$WORK/termed" &
child=$!
for _ in $(seq 100); do
	[ -s "$WORK/termed" ] && break
	sleep 0.1
done
read -r tdir sleeper <"$WORK/termed" || vol_fail "TERM child made no volume"
echo "$tdir" >>"$WORK/made"
kill -TERM "$child"
wait "$child"
rc=$?
kill "$sleeper" 2>/dev/null
[ $rc = 143 ] || vol_fail "SIGTERMed child exited $rc, not 143"
[ ! -e "$tdir" ] && ! findmnt -rn -o TARGET | grep -q "$tdir" ||
	vol_fail "SIGTERMed child did not clean up $tdir"
ok "SIGTERMed child cleaned up its volume itself"

fail_on_1k() {
	made
	[ "$1" != ext4-1k ] || vol_fail "deliberate failure on $1"
}
VOL_SIZE_MB=64 RL_TEST_FS="ext4 ext4-1k" \
	vol_for_each "ext4 ext4-1k" fail_on_1k 2>"$WORK/each.err" &&
	vol_fail "vol_for_each did not report a failing kind"
grep -q 'failed: ext4-1k(rc=1)' "$WORK/each.err" &&
	grep -q 'passed: ext4;' "$WORK/each.err" ||
	vol_fail "vol_for_each summary: $(cat "$WORK/each.err")"
ok "vol_for_each names the kind that failed"

# ---------------------------------------------------- 4. busy teardown
echo data >"$VOL_MNT/busy"
busy_dev=$VOL_DEV busy_dir=$VOL_DIR
sleep 120 <"$VOL_MNT/busy" &
holder=$!
vol_destroy 2>"$WORK/destroy.err"
grep -q 'lazy' "$WORK/destroy.err" || vol_fail "no lazy unmount: $(cat "$WORK/destroy.err")"
[ ! -e "$busy_dir" ] || vol_fail "busy $busy_dir not removed"
! findmnt -rn -o TARGET | grep -q "$busy_dir" || vol_fail "busy volume still mounted"
kill "$holder"
wait "$holder" 2>/dev/null
for _ in $(seq 50); do
	[ -z "$(vol__loops_of "$busy_dir/image")" ] && break
	sleep 0.1
done
[ -z "$(vol__loops_of "$busy_dir/image")" ] ||
	vol_fail "$busy_dev still attached after its last user left"
ok "busy volume: lazily unmounted, $busy_dev detached once the file closed"

# ---------------------------------------------------- 5. no trace
while read -r d; do
	[ ! -e "$d" ] || vol_fail "$d left behind"
	! findmnt -rn -o TARGET | grep -q "^$d" || vol_fail "$d still mounted"
	[ -z "$(vol__loops_of "$d/image")" ] || vol_fail "loop device left for $d"
done <"$WORK/made"
ok "$(wc -l <"$WORK/made") volumes made, none left mounted, attached or on disk"
exit 0
