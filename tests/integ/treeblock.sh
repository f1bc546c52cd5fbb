#!/bin/bash
# ext4: a file that a compaction moves in more parts than its inode holds
# extents (four) gets an extent-tree block from the kernel, which asks for
# it at the start of the file's goal group (the flex group's second) and
# takes the first single free block there -- unless that block was freed
# since the journal's last commit. The plan keeps such a block free below
# the boundary and the transaction commits the journal before the move
# that makes the tree grow; without that the block landed in the free run
# the compaction had made (on the aged 2 GiB volume: 9 blocks in group 12,
# 739.8 MiB free in 7 runs where the plan said one).
# The volume: ext4 512 MiB, 4 KiB blocks. In group 1, from its first free
# block P: P free (one block), then five free runs of 8 blocks between
# immutable 4-block walls (relayout place; chattr +i: they stay), then a
# free run, file b (40 blocks, one extent) at P+100, free to P+200.
# `compact` of [P, P+200): b no run below the boundary holds whole, in
# five parts it outgrows its inode; it must end in the five runs, its
# tree block at P, the free space from the boundary to P+200 one run, its
# data unchanged, fsck clean.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/volume.sh"
vol_require_root
vol_kind_enabled ext4 || vol_skip "ext4 not enabled"
for t in filefrag debugfs chattr jq; do
	command -v $t >/dev/null || vol_skip "$t not installed"
done

vol_create ext4 512
export RELAYOUT_JOURNAL_DIR=$VOL_DIR/journal RELAYOUT_STATE_DIR=$VOL_DIR/state
bs=$(stat -f -c %S "$VOL_MNT")
bpg=$(dumpe2fs -h "$VOL_DEV" 2>/dev/null | awk -F: '/^Blocks per group/ { print $2 + 0 }')
[ "$bs" = 4096 ] && [ "$bpg" = 32768 ] || vol_fail "geometry: block size $bs, $bpg blocks per group"
# group 1's first free block
P=$("$RELAYOUT" --json -e "free $((bpg * bs)) $((2 * bpg * bs))" "$VOL_MNT" |
	jq -r '.extents[0].start / '"$bs")
[ -n "$P" ] && [ "$P" -ge "$bpg" ] && [ "$P" -lt $((bpg + 1024)) ] ||
	vol_fail "group 1's first free block: '$P'"
# place_at NAME AT: file NAME moved to block AT
place_at() {
	"$RELAYOUT" -e "place $VOL_MNT/$1 $(($2 * bs))" "$VOL_MNT" >"$VOL_DIR/out" 2>&1 ||
		vol_fail "placing $1 at $2: $(tail -3 "$VOL_DIR/out")"
}
# a spacer takes [P, P+300) so that the files below are written elsewhere
head -c $((300 * bs)) /dev/zero >"$VOL_MNT/spacer"
sync -f "$VOL_MNT"
sp=$(filefrag -v "$VOL_MNT/spacer" | awk '$1 == "0:" { sub(/\.\./, "", $4); print $4 + 0 }')
[ "$sp" = "$P" ] || place_at spacer "$P"
for k in 0 1 2 3 4 5; do
	head -c $((4 * bs)) /dev/urandom >"$VOL_MNT/w$k"
done
head -c $((40 * bs)) /dev/urandom >"$VOL_MNT/b"
sync -f "$VOL_MNT"
rm "$VOL_MNT/spacer"
sync -f "$VOL_MNT"
place_at w0 $((P + 1))
for k in 0 1 2 3 4; do
	place_at w$((k + 1)) $((P + 13 + 12 * k))
done
place_at b $((P + 100))
chattr +i "$VOL_MNT"/w?
sync -f "$VOL_MNT"
sum=$(md5sum <"$VOL_MNT/b")
[ "$(filefrag "$VOL_MNT/b" | awk '{ print $2 }')" = 1 ] || vol_fail "b is not one extent"
# the dry run's JSON: one block kept, given to b
kept=$("$RELAYOUT" --json -e "compact --dry-run $((P * bs)) $(((P + 200) * bs))" "$VOL_MNT" 2>/dev/null |
	jq -r '"\(.tree_blocks_kept) \(.tree_blocks_given)"')
[ "$kept" = "1 1" ] || vol_fail "dry run: tree_blocks_kept/given '$kept', expected '1 1'"
"$RELAYOUT" -e "compact $((P * bs)) $(((P + 200) * bs))" "$VOL_MNT" >"$VOL_DIR/out" 2>&1 ||
	vol_fail "compact: $(tail -5 "$VOL_DIR/out")"
grep -q "kept free for extent-tree blocks: 1 single block from $(printf 0x%x $((P * bs))) (group 1), 1 of them" "$VOL_DIR/out" ||
	vol_fail "the plan kept no block free for b's tree block: $(grep -v '^stays' "$VOL_DIR/out" | tail -8)"
grep -q "not 1 as planned" "$VOL_DIR/out" && vol_fail "the free space is not one run: $(grep 'not 1 as planned' "$VOL_DIR/out")"
# b: five extents in the five runs [P+5+12k, P+13+12k)
ext=$(filefrag -v "$VOL_MNT/b" | awk '$1 ~ /^[0-9]+:$/ { sub(/\.\./, "", $4); print $4 + 0 }')
[ "$(wc -l <<<"$ext")" = 5 ] || vol_fail "b has $(wc -l <<<"$ext") extents, expected 5: $(filefrag -v "$VOL_MNT/b")"
for x in $ext; do
	o=$(((x - P - 5) % 12))
	[ "$x" -ge $((P + 5)) ] && [ "$x" -lt $((P + 65)) ] && [ "$o" -ge 0 ] && [ "$o" -lt 8 ] ||
		vol_fail "b has an extent at $x, outside the five runs from $((P + 5))"
done
[ "$(md5sum <"$VOL_MNT/b")" = "$sum" ] || vol_fail "b's data changed"
# its tree block in the block kept free
ino=$(stat -c %i "$VOL_MNT/b")
sync -f "$VOL_MNT"
etb=$(debugfs -R "stat <$ino>" "$VOL_DEV" 2>/dev/null | grep -o '(ETB0):[0-9]*' | cut -d: -f2)
[ "$etb" = "$P" ] || vol_fail "b's extent-tree block is at '$etb', not at $P"
chattr -i "$VOL_MNT"/w?
vol_fsck
echo "ok: b in 5 parts below the boundary, its tree block at $P, the free space one run"
