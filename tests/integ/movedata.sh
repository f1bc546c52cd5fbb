#!/bin/bash
# rl_movedata on every test filesystem: tests/tools/rl_prim_test (cmocka)
# with a second volume for the cross-filesystem case, then the `movedata`
# command end to end.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/volume.sh"
vol_require_root
PRIM="$top_builddir/tests/tools/rl_prim_test"

vol_create ext4 64
OTHER=$VOL_MNT
for fs in $RL_TEST_FS; do
	vol_create "$fs" 320
	echo "== $fs"
	RL_TEST_MNT=$VOL_MNT RL_TEST_MNT2=$OTHER "$PRIM" ||
		vol_fail "rl_prim_test on $fs"

	# The command, end to end: move a file onto a preallocated donor.
	head -c 3000000 /dev/urandom >"$VOL_MNT/data"
	fallocate -l 3002368 "$VOL_MNT/space"
	sync -f "$VOL_MNT"
	sum=$(md5sum <"$VOL_MNT/data")
	out=$("$RELAYOUT" -e "movedata $VOL_MNT/data $VOL_MNT/space 0 3002368" "$VOL_MNT" 2>&1) ||
		vol_fail "movedata command on $fs: $out"
	echo "$out"
	bs=$(stat -f -c %S "$VOL_MNT")
	# the data's blocks (the range beyond its last block has nothing)
	echo "$out" | grep -q "moved $(((3000000 + bs - 1) / bs * bs)) bytes" || vol_fail "output: $out"
	[ "$(md5sum <"$VOL_MNT/data")" = "$sum" ] || vol_fail "content changed"
	[ "$(stat -c %s "$VOL_MNT/data")" = 3000000 ] || vol_fail "size changed"
	[ "$(stat -c %b "$VOL_MNT/space")" = 0 ] || vol_fail "space keeps blocks"
	# errors reach the user as messages and a failing status
	if out=$("$RELAYOUT" -e "movedata $VOL_MNT/data $VOL_MNT/space 1 4096" "$VOL_MNT" 2>&1); then
		vol_fail "unaligned move succeeded: $out"
	fi
	echo "$out" | grep -qE "Invalid argument|multiples of the block size" || vol_fail "message: $out"
	# The RFC rules destroy data when misused: the command refuses and
	# says how much, unless --force. A space file with no blocks would
	# punch DATAFILE; one holding written data would lose it.
	: >"$VOL_MNT/hole"
	truncate -s 1M "$VOL_MNT/hole"
	head -c 65536 /dev/urandom >"$VOL_MNT/written"
	sync -f "$VOL_MNT"
	ext_before=$(vol_extents "$VOL_MNT/data")
	fails_unless 1 "refusing: movedata would punch 64.0 KiB \(65536 bytes\) of DATAFILE's data, bytes 0-65535 \(SPACEFILE has holes there\)" -- \
		"$RELAYOUT" -e "movedata $VOL_MNT/data $VOL_MNT/hole 0 64K" "$VOL_MNT"
	fails_unless 1 "refusing: movedata would replace 64.0 KiB \(65536 bytes\) of data written in SPACEFILE, bytes 0-65535" -- \
		"$RELAYOUT" -e "movedata $VOL_MNT/data $VOL_MNT/written 0 64K" "$VOL_MNT"
	# which bytes: a space file with blocks in the middle of the range
	truncate -s 1M "$VOL_MNT/part"
	fallocate -o 64K -l 64K "$VOL_MNT/part"
	sync -f "$VOL_MNT"
	fails_unless 1 "would punch 192.0 KiB \(196608 bytes\) of DATAFILE's data, bytes 0-65535, 131072-262143 \(SPACEFILE" -- \
		"$RELAYOUT" -e "movedata $VOL_MNT/data $VOL_MNT/part 0 256K" "$VOL_MNT"
	# allocate never replaces data
	fails_unless 1 "the range already holds blocks \(allocate only fills holes, it never replaces data\); nothing was changed" -- \
		"$RELAYOUT" -e "allocate $VOL_MNT/data 0 0 64K" "$VOL_MNT"
	[ $fails = 0 ] || vol_fail "$fails refusal(s) wrong"
	[ "$(md5sum <"$VOL_MNT/data")" = "$sum" ] || vol_fail "content changed by a refused movedata"
	[ "$(vol_extents "$VOL_MNT/data")" = "$ext_before" ] || vol_fail "extents changed by a refused movedata"
	# --force: the RFC hole rule, reported as such
	out=$("$RELAYOUT" -e "movedata --force $VOL_MNT/data $VOL_MNT/hole 0 64K" "$VOL_MNT" 2>&1) ||
		vol_fail "movedata --force: $out"
	grep -q "moved 0 bytes at 0 onto the blocks of .*; punched 65536 bytes" <<<"$out" || vol_fail "--force message: $out"
	# ext4: a file read sequentially before (large folios in the page
	# cache) moves without a journal commit per page (the kernel forces
	# one on each page after the first of a large folio it cannot
	# release; movedata drops the clean cache first). 16 MiB: 4,096
	# pages; before the fix about one commit per page.
	jinfo=/proc/fs/jbd2/$(basename "$VOL_DEV")-8/info
	if [ "$fs" = ext4 ] && [ -r "$jinfo" ]; then
		head -c 16M /dev/urandom >"$VOL_MNT/big"
		fallocate -l 16M "$VOL_MNT/bigspace"
		sync -f "$VOL_MNT"
		echo 3 >/proc/sys/vm/drop_caches
		sum=$(md5sum <"$VOL_MNT/big") # (sequential read: large folios)
		t0=$(awk 'NR == 1 { print $1 }' "$jinfo")
		out=$("$RELAYOUT" -e "movedata $VOL_MNT/big $VOL_MNT/bigspace 0 16M" "$VOL_MNT" 2>&1) ||
			vol_fail "movedata of a cached file: $out"
		t1=$(awk 'NR == 1 { print $1 }' "$jinfo")
		echo "journal commits while moving 16 MiB read before: $((t1 - t0))"
		[ $((t1 - t0)) -lt 256 ] || vol_fail "moving 16 MiB cached took $((t1 - t0)) journal commits"
		[ "$(md5sum <"$VOL_MNT/big")" = "$sum" ] || vol_fail "content changed (cached file)"
	elif [ "$fs" = ext4 ]; then
		echo "ext4: journal commits not counted: $jinfo is not readable"
	fi
	vol_fsck
done
echo "movedata: all filesystems passed"
