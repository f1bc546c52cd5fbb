#!/bin/bash
# ext4 exact placement of a target that starts on a free buddy chunk larger
# than one request. mballoc serves a request of 2048 blocks (the most one
# request takes) from the lowest free chunk of that order in the group and
# splits a larger chunk only when none is left; a target at the start of
# a group's free run begins on an 8192-block chunk, and the free run's
# tail, inside the target, can hold a 2048-block chunk: the first request
# went there and the placement answered EBUSY on every attempt (a 67 MiB
# file in a 2 GiB compaction: its transaction stopped midway). That chunk
# is now kept as part of the target and the next request splits the large
# chunk at the target's start.
# The volume: ext4 512 MiB, 4 KiB blocks; group 2 holds the journal in its
# first 4096 blocks and nothing else; a filler at [18432, 32768) of its
# blocks (relayout place) leaves the free run [4096, 18432): chunks of
# 4096 at 4096, 8192 at 8192, 2048 at 16384. A file of 12,904 blocks is
# moved to the run's first block (its end falls in the 2048-block chunk):
# one extent there (filefrag -v), data unchanged, fsck clean.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/volume.sh"
vol_require_root
vol_kind_enabled ext4 || vol_skip "ext4 not enabled"
command -v filefrag >/dev/null || vol_skip "filefrag not installed"

vol_create ext4 512
export RELAYOUT_JOURNAL_DIR=$VOL_DIR/journal RELAYOUT_STATE_DIR=$VOL_DIR/state
bs=$(stat -f -c %S "$VOL_MNT")
bpg=$(dumpe2fs -h "$VOL_DEV" 2>/dev/null | awk -F: '/^Blocks per group/ { print $2 + 0 }')
[ "$bs" = 4096 ] && [ "$bpg" = 32768 ] || vol_fail "geometry: block size $bs, $bpg blocks per group"
g2=$((2 * bpg))
# group 2's free run: from the journal's end to the group's end
runs=$("$RELAYOUT" --json -e "free $((g2 * bs)) $(((g2 + bpg) * bs))" "$VOL_MNT" |
	jq -r '.extents[] | "\(.start / '"$bs"') \(.length / '"$bs"')"')
read -r a n <<<"$runs"
[ "$(wc -l <<<"$runs")" = 1 ] && [ "$a" = $((g2 + 4096)) ] && [ "$n" = $((bpg - 4096)) ] ||
	vol_fail "group 2's free space is not [4096, $bpg) of it: $runs"
# case_run WALL FROM TO BLOCKS: a file WALL placed at blocks [FROM, TO) of
# group 2, then a file of BLOCKS blocks moved to the free run's start
# (block a): one extent there (filefrag -v), its data unchanged.
case_run() {
	local wall=$1 wblk=$2 wend=$3 blocks=$4 sum ext first
	head -c $(((wend - wblk) * bs)) /dev/urandom >"$VOL_MNT/$wall"
	head -c $((blocks * bs)) /dev/urandom >"$VOL_MNT/data"
	sync -f "$VOL_MNT"
	sum=$(md5sum <"$VOL_MNT/data")
	"$RELAYOUT" -e "place $VOL_MNT/$wall $(((g2 + wblk) * bs))" "$VOL_MNT" >"$VOL_DIR/out" 2>&1 ||
		vol_fail "placing $wall failed: $(tail -3 "$VOL_DIR/out")"
	sync -f "$VOL_MNT"
	"$RELAYOUT" -e "move --to $((a * bs)) $VOL_MNT/data" "$VOL_MNT" >"$VOL_DIR/out" 2>&1 ||
		vol_fail "$blocks blocks to the start of the free run (wall at $wblk): $(tail -3 "$VOL_DIR/out")"
	ext=$(filefrag -v "$VOL_MNT/data" | awk '$1 ~ /^[0-9]+:$/' | wc -l)
	first=$(filefrag -v "$VOL_MNT/data" | awk '$1 == "0:" { sub(/\.\./, "", $4); print $4 + 0 }')
	[ "$ext" = 1 ] && [ "$first" = "$a" ] ||
		vol_fail "data (wall at $wblk): $ext extents from block $first, expected one from $a"
	[ "$(md5sum <"$VOL_MNT/data")" = "$sum" ] || vol_fail "data changed (wall at $wblk)"
	rm -f "$VOL_MNT/data"
}
case_run filler 18432 "$bpg" 12904
# The same without a 2048-block chunk in the target: the run ends 1000
# blocks past 16384, the first request splits the chunk at the run's
# start at once, and that chunk is grown to the target's end with merges
# (not cut into chunks of every order down to one block, each with
# blockers). A file at [17384, 18432) makes that run.
case_run plug 17384 18432 13000
vol_fsck
echo "both at block $a in one extent; data unchanged; fsck clean"
vol_destroy
