#!/bin/bash
# Undo that works while the files are unchanged (issue 13 item 4, issue 14
# item 2), on ext4 and XFS:
#  - near: a region is evacuated, then a new file takes part of one
#    evacuated file's old blocks (exact placement); `undo` completes: the
#    other files back exactly (filefrag), that one near its old place and
#    said so (which file, where), md5 of every file unchanged, the
#    squatter untouched, log shows the evacuate undone, fsck clean;
#  - a command of several transactions (evacuate --retry, made to retry
#    by a concurrent squatter on a later step's target): a plain `undo`
#    reverts all of them, newest first: every file back where it was
#    (filefrag), md5 unchanged;
#  - move --make-room --to P+1M X (P: X's first block, X fragmented: two
#    steps on X in one transaction) and its undo: extents exactly back;
#  - move --make-room of a file onto more than 64 free gaps between small
#    files, and its undo (ext4).
# The journal and state live in the test's private directory.
. "$top_srcdir/tests/lib/volume.sh"
command -v jq >/dev/null || vol_skip "jq not installed"
command -v filefrag >/dev/null || vol_skip "filefrag not installed"
KINDS="${RL_UNDO_FS:-ext4 xfs}"
R() { "$RELAYOUT" "$@"; }
SQUAT="${RL_SQUAT:-$top_builddir/tests/tools/rl_squat}"
[ -x "$SQUAT" ] || vol_fail "$SQUAT not built (make check)"
extents_of() { vol_extents "$1" merge; }

# layout FILE...: every file's extents, one block per file.
layout() {
	local f
	for f in "$@"; do
		echo "== $f"
		extents_of "$f"
	done
}

# span FILE...: "lo hi" around every extent of the files.
span() {
	local f
	for f in "$@"; do extents_of "$f"; done |
		awk 'NR == 1 || $2 < lo { lo = $2 } $2 + $3 > hi { hi = $2 + $3 }
		     END { print lo, hi }'
}

# fails_on_ext4 WHY: the squatter's timing missed. On ext4 (placement
# does not miss on an idle volume, the plans are one transaction) that
# is a failure; on XFS (exact placement at an AG's last blocks can miss,
# which splits the plans) a note.
fails_on_ext4() {
	if [ "$VOL_FS" = ext4 ]; then fail "$1"; else note "$1"; fi
}

undone_by() { # ID: the id of the transaction that undid it, or empty
	R --json -e log "$VOL_MNT" |
		jq -r --argjson id "$1" '.transactions[] | select(.id == $id) | .undone_by // empty'
}

test_near() {
	local M=$VOL_MNT d=$VOL_MNT/near f lo hi before sums bx b0 sq sqsum out id
	mkdir -p "$d"
	for f in a b c; do
		dd if=/dev/urandom of="$d/$f" bs=1M count=2 conv=fsync status=none
	done
	sync -f "$M"
	before=$(layout "$d"/a "$d"/c)
	bx=$(extents_of "$d/b")
	sums=$(md5sum "$d"/*)
	[ "$(wc -l <<<"$bx")" = 1 ] || note "near: b is in $(wc -l <<<"$bx") extents"
	b0=$(awk 'NR == 1 { print $2 }' <<<"$bx")
	read -r lo hi < <(span "$d"/a "$d"/b "$d"/c)
	R -e "evacuate $lo $hi" "$M" >"$VOL_DIR/out" 2>"$VOL_DIR/err" ||
		{ fail "near: evacuate: $(cat "$VOL_DIR/err")"; return; }
	id=$(R --json -e log "$M" | jq -r '.transactions[-1].id')
	[ "$(extents_of "$d/b")" != "$bx" ] || { fail "near: evacuate did not move b"; return; }
	# a new file takes 256 KiB of b's old place, 512 KiB into it
	sq=$((b0 + (512 << 10)))
	"$SQUAT" "$M/squat" "$sq" $((256 << 10)) >"$VOL_DIR/sq" 2>&1 ||
		{ fail "near: could not take $sq for the squatter: $(cat "$VOL_DIR/sq")"; return; }
	dd if=/dev/urandom of="$M/squat" bs=256K count=1 conv=notrunc,fsync status=none
	[ "$(extents_of "$M/squat" | awk '{ print $2 }')" = "$sq" ] ||
		{ fail "near: the squatter is not at $sq: $(extents_of "$M/squat")"; return; }
	sqsum=$(md5sum <"$M/squat")
	out=$(R -e "undo" "$M" 2>"$VOL_DIR/err") ||
		{ fail "near: undo failed: $(cat "$VOL_DIR/err") $out"; return; }
	grep -q "2 files put back exactly, 1 near its old place" <<<"$out" ||
		fail "near: undo does not say which files went near: $out"
	grep -q "^  $d/b: 256.0 KiB of 2.0 MiB at 0x[0-9a-f]* instead of 0x$(printf %x "$sq")" <<<"$out" ||
		fail "near: undo does not say where b went: $out"
	[ "$(md5sum "$d"/*)" = "$sums" ] || fail "near: content changed"
	[ "$(md5sum <"$M/squat")" = "$sqsum" ] || fail "near: the squatter changed"
	[ "$(extents_of "$M/squat" | awk '{ print $2 }')" = "$sq" ] || fail "near: the squatter moved"
	[ "$(layout "$d"/a "$d"/c)" = "$before" ] || fail "near: a and c not back exactly: $(layout "$d"/a "$d"/c)"
	# b: where it was but for the 256 KiB the squatter holds
	extents_of "$d/b" | awk -v b0="$b0" -v sq="$sq" '
		$2 + $3 > sq && $2 < sq + 262144 { bad = 1 }
		$1 < 524288 && $2 != b0 + $1 { bad = 1 }
		$1 >= 786432 && $2 != b0 + $1 { bad = 1 }
		END { exit bad }' || fail "near: b is not back around the squatter: $(extents_of "$d/b") (was $bx)"
	[ -n "$(undone_by "$id")" ] || fail "near: log does not show transaction $id undone"
	note "near: evacuate undone; b's 256 KiB at $(extents_of "$d/b" | awk '$1 == 524288 { print $2 }') (its old place $sq taken)"
	rm -rf "$d" "$M/squat"
	sync -f "$M"
}

# forty DIR: 40 files of 128 KiB in DIR, written one after the other.
forty() {
	local i
	mkdir -p "$1"
	for ((i = 0; i < 40; i++)); do
		dd if=/dev/urandom of="$1/f$i" bs=128K count=1 conv=fsync status=none
	done
	sync -f "$VOL_MNT"
}

# squat_during LINE PHYSICAL LENGTH: run relayout -e LINE in the
# background with at most 14 donors held ahead (ulimit -n 270: a later
# step's target is held only when its turn comes near), and a second in
# let the squatter take [PHYSICAL, +LENGTH). Output in $VOL_DIR/out, err,
# sq; the status is relayout's.
squat_during() {
	local pid
	(
		ulimit -n 270
		exec "$RELAYOUT" -e "$1" "$VOL_MNT"
	) >"$VOL_DIR/out" 2>"$VOL_DIR/err" &
	pid=$!
	# once its steps run (the first progress line; a fixed wait was too
	# short once under load: the place was taken before the plan was
	# checked, so the plan went around it from the start)
	for _ in $(seq 100); do
		grep -q ' files, ' "$VOL_DIR/err" 2>/dev/null && break
		kill -0 $pid 2>/dev/null || break
		sleep 0.1
	done
	# (a placement of relayout's running at the same moment can make the
	# squatter's miss: it tries again while relayout runs)
	for _ in 1 2 3 4 5; do
		"$SQUAT" "$VOL_MNT/squat" "$2" "$3" >"$VOL_DIR/sq" 2>&1 && break
		kill -0 $pid 2>/dev/null || break
		sleep 0.2
	done
	wait $pid
}

# A command of several transactions: evacuate --retry, made to retry by a
# squatter that takes a later step's target while the plan runs (at most
# 14 donors held ahead under ulimit -n 270: the later targets are free
# until their turn; --rate makes the turn come late).
test_retry() {
	local M=$VOL_MNT d=$VOL_MNT/retry i lo hi before sums plan tgt out n ids last
	last=$(R --json -e log "$M" | jq -r '.transactions[-1].id // 0')
	forty "$d"
	before=$(layout "$d"/*)
	sums=$(md5sum "$d"/*)
	read -r lo hi < <(span "$d"/*)
	plan=$(R --json -e "evacuate $lo $hi --dry-run" "$M" 2>/dev/null)
	n=$(jq -r '.steps | length' <<<"$plan")
	[ "$n" -ge 30 ] || { fail "retry: the plan has $n steps, not 30"; return; }
	# (the last step's target: it is held last, at most 14 steps ahead)
	tgt=$(jq -r '.steps[-1].target[0] | "\(.physical) \(.length)"' <<<"$plan")
	# shellcheck disable=SC2086
	squat_during "evacuate $lo $hi --retry 3 --rate 1" $tgt ||
		{ fail "retry: evacuate --retry failed: $(cat "$VOL_DIR/err")"; return; }
	ids=$(R --json -e log "$M" | jq -r --argjson l "$last" '[.transactions[] | select(.id > $l) | .id] | join(" ")')
	# (a race: the batched hold of the targets ahead may reach the
	# squatted target first; then the command is one transaction and the
	# group undo is left to test_journal's test_groups)
	[ "$(wc -w <<<"$ids")" -ge 2 ] || note "retry: the squatter did not make the plan retry (transactions: $ids)"
	[ "$(md5sum "$d"/*)" = "$sums" ] || fail "retry: content changed by evacuate"
	rm -f "$M/squat"
	out=$(R -e "undo" "$M" 2>"$VOL_DIR/err") || { fail "retry: undo: $(cat "$VOL_DIR/err")"; return; }
	[ "$(md5sum "$d"/*)" = "$sums" ] || fail "retry: content changed by undo"
	[ "$(layout "$d"/*)" = "$before" ] || fail "retry: undo of evacuate --retry (transactions $ids) did not put every file back: $out"
	for i in $ids; do
		[ -n "$(undone_by "$i")" ] || fail "retry: transaction $i of the evacuate is not undone"
	done
	note "retry: evacuate made transactions $ids; one plain undo reverted them all"
	rm -rf "$d"
	sync -f "$M"
}

# The undo's own placement refused while it runs (a squatter takes the
# old place of a later step once the undo has started): the undo plans
# the rest again around it, completes, and says where that file went.
test_refused() {
	local M=$VOL_MNT d=$VOL_MNT/refused lo hi before sums plan tgt path out n k
	forty "$d"
	sums=$(md5sum "$d"/*)
	read -r lo hi < <(span "$d"/*)
	# (--retry: on XFS exact placement at an AG's last blocks can miss)
	R -e "evacuate $lo $hi --retry 3" "$M" >/dev/null 2>"$VOL_DIR/err" ||
		{ fail "refused: evacuate: $(cat "$VOL_DIR/err")"; return; }
	before=$(layout "$d"/*)
	plan=$(R --json -e "undo --dry-run" "$M" 2>/dev/null)
	# (one plan per transaction the evacuate made, newest first: a step
	# of the first, held when its turn comes, well after a second)
	n=$(jq -rs '[.[] | select(.steps)][0].steps | length' <<<"$plan")
	[ "$n" -ge 20 ] || { note "refused: the first undo has $n steps: too few to take one's place during it"; return; }
	k=$((n - 3))
	tgt=$(jq -rs --argjson k "$k" '[.[] | select(.steps)][0].steps[$k].target[0] | "\(.physical) \(.length)"' <<<"$plan")
	path=$(jq -rs --argjson k "$k" '[.[] | select(.steps)][0].steps[$k].path' <<<"$plan")
	# shellcheck disable=SC2086
	squat_during "undo --rate 0.5" $tgt || { fail "refused: undo failed: $(cat "$VOL_DIR/err")"; return; }
	[ "$(md5sum "$d"/*)" = "$sums" ] || fail "refused: content changed"
	if grep -q "planning the rest of the undo again" "$VOL_DIR/err"; then
		grep -q "^  $path: 128.0 KiB of 128.0 KiB at 0x[0-9a-f]* instead of 0x$(printf %x "${tgt%% *}")" "$VOL_DIR/out" ||
			fail "refused: the undo does not say where $path went: $(cat "$VOL_DIR/out")"
		note "refused: $(grep -o 'refused the place of step [0-9]*' "$VOL_DIR/err"); the rest planned again: $(grep "^  $path" "$VOL_DIR/out")"
	else
		fails_on_ext4 "refused: the undo did not plan again around the taken place: $(cat "$VOL_DIR/sq" "$VOL_DIR/out" "$VOL_DIR/err")"
	fi
	[ "$(layout "$d"/*)" != "$before" ] || fail "refused: the undo moved nothing"
	rm -rf "$d" "$M/squat"
	sync -f "$M"
}

# An undo stopped midway (SIGINT between steps): a plain undo goes on
# where it ended; every file back where it was before the evacuate.
test_stopped() {
	local M=$VOL_MNT d=$VOL_MNT/stopped lo hi before sums pid out i
	forty "$d"
	before=$(layout "$d"/*)
	sums=$(md5sum "$d"/*)
	read -r lo hi < <(span "$d"/*)
	R -e "evacuate $lo $hi --retry 3" "$M" >/dev/null 2>"$VOL_DIR/err" ||
		{ fail "stopped: evacuate: $(cat "$VOL_DIR/err")"; return; }
	"$RELAYOUT" -e "undo --rate 0.5" "$M" >"$VOL_DIR/out" 2>"$VOL_DIR/err" &
	pid=$!
	# stopped once it has moved some files back (read from its progress
	# on stderr: a `log` here would hold the journal's lock just when the
	# undo starts, and the undo refuses to start then)
	for ((i = 0; i < 100; i++)); do
		[ "$(grep -o 'undo: [0-9]*/[0-9]* files' "$VOL_DIR/err" 2>/dev/null | tail -1 | sed 's/undo: \([0-9]*\)\/.*/\1/')" -ge 5 ] 2>/dev/null && break
		sleep 0.2
	done
	kill -INT $pid
	if wait $pid; then
		note "stopped: the undo ended before SIGINT came"
	else
		grep -q "stopped" "$VOL_DIR/err" || fail "stopped: the undo did not say it stopped: $(cat "$VOL_DIR/err")"
	fi
	mv "$VOL_DIR/err" "$VOL_DIR/stop.err"
	[ "$(md5sum "$d"/*)" = "$sums" ] || fail "stopped: content changed by the stopped undo"
	out=$(R -e "undo" "$M" 2>"$VOL_DIR/err") ||
		{ fail "stopped: undo after the stopped one: $(cat "$VOL_DIR/err") $out"; return; }
	[ "$(md5sum "$d"/*)" = "$sums" ] || fail "stopped: content changed"
	[ "$(layout "$d"/*)" = "$before" ] || fail "stopped: the second undo did not put every file back: $out"
	note "stopped: $(grep -m1 stopped "$VOL_DIR/stop.err" | cut -c1-160); the next undo: $(grep '^transaction' <<<"$out" | tr '\n' ' ')"
	rm -rf "$d"
	sync -f "$M"
}

# move --make-room onto the file itself, 1 MiB above its first block: two
# steps on X (out of the way, then to the target); its undo is exact.
test_make_room_self() {
	local M=$VOL_MNT x=$VOL_MNT/self/x p before sum
	mkdir -p "$M/self"
	vol_mkfrag "$x" 24 128
	vol_remount # XFS: no speculative preallocation past EOF left
	before=$(extents_of "$x")
	sum=$(md5sum <"$x")
	p=$(extents_of "$x" | sort -n -k2 | head -1 | awk '{ print $2 }')
	R --json -e "move --make-room --to $((p + (1 << 20))) $x" "$M" >"$VOL_DIR/out" 2>"$VOL_DIR/err" ||
		{ fail "make-room self: move: $(cat "$VOL_DIR/err")"; return; }
	[ "$(jq --arg x "$x" '[.after[] | select(.path == $x)] | length' "$VOL_DIR/out")" -ge 2 ] ||
		fail "make-room self: x was not moved in two steps: $(cat "$VOL_DIR/out")"
	[ "$(extents_of "$x" | head -1 | awk '{ print $2 }')" = $((p + (1 << 20))) ] ||
		fail "make-room self: x is not at P+1M: $(extents_of "$x")"
	R -e "undo" "$M" >/dev/null 2>"$VOL_DIR/err" || { fail "make-room self: undo: $(cat "$VOL_DIR/err")"; return; }
	[ "$(md5sum <"$x")" = "$sum" ] || fail "make-room self: content changed"
	[ "$(extents_of "$x")" = "$before" ] || fail "make-room self: undo did not restore the extents"
	rm -rf "$M/self"
	sync -f "$M"
}

# move --make-room of one file onto a range of more than 64 free gaps
# between small files (the check of a target read only the first 64 free
# extents of it and refused: "is not free ... in use", seen on a 2 GiB
# aged volume); the move completes, the file in one run at the target,
# every file unchanged; its undo puts them all back.
test_make_room_gaps() {
	local M=$VOL_MNT d=$VOL_MNT/gaps p len gaps before sums
	# ext4 only: XFS puts a new directory's small files at the start of
	# an AG, among inode chunks that cannot move (the check is the same
	# code for both)
	[ "$VOL_FS" = ext4 ] || return 0
	mkdir -p "$d"
	# (on one CPU: ext4 serves small files from a per-CPU preallocation;
	# a writer moved between CPUs under load interleaves two of them, and
	# the gaps at the target were 63 once)
	taskset -c 0 python3 - "$d" <<'PY'
import os, sys
d = sys.argv[1]
fs = [open(os.path.join(d, 'f%03d' % i), 'wb') for i in range(300)]
for f in fs:
    f.write(os.urandom(4096)); f.flush(); os.fsync(f.fileno()); f.close()
for i in range(0, 300, 2):
    os.unlink(os.path.join(d, 'f%03d' % i))
with open(os.path.join(d, 'big'), 'wb') as f:
    f.write(os.urandom(600 * 4096)); os.fsync(f.fileno())
PY
	vol_remount # freed blocks reusable, no preallocation past EOF
	p=$(extents_of "$d/f001" | awk 'NR == 1 { print $2 }')
	len=$(stat -c %s "$d/big")
	gaps=$(R --json -e "freefrag $p $((p + len))" "$M" | jq -r .free_extents)
	[ "$gaps" -gt 64 ] || { fail "make-room gaps: fixture: $gaps free extents at the target, want > 64"; return; }
	before=$(layout "$d"/*)
	sums=$(cd "$d" && md5sum -- *)
	R -e "move --make-room --to $p $d/big" "$M" >"$VOL_DIR/out" 2>"$VOL_DIR/err" ||
		{ fail "make-room gaps ($gaps gaps): move: $(head -c 400 "$VOL_DIR/err")"; return; }
	[ "$(extents_of "$d/big")" = "0 $p $len" ] ||
		fail "make-room gaps: big is not one run at $p: $(extents_of "$d/big" | head -3)"
	[ "$(cd "$d" && md5sum -- *)" = "$sums" ] || fail "make-room gaps: content changed"
	R -e "undo" "$M" >/dev/null 2>"$VOL_DIR/err" || { fail "make-room gaps: undo: $(cat "$VOL_DIR/err")"; return; }
	[ "$(layout "$d"/*)" = "$before" ] || fail "make-room gaps: undo did not restore the layout"
	[ "$(cd "$d" && md5sum -- *)" = "$sums" ] || fail "make-room gaps: content changed by the undo"
	rm -rf "$d"
	sync -f "$M"
}

# XFS: the last AG evacuated whole, then undone: no file data is left
# below the goals in that AG, so the placement makes anchors of its own
# (and keeps one for the goals above it, giving it up when a goal covers
# it); every file back exactly (filefrag), md5 unchanged.
test_whole_ag() {
	local M=$VOL_MNT d ag agb bs is bits lo end i before sums out
	bs=$(xfs_info "$M" | sed -n 's/^data *= *bsize=\([0-9]*\).*/\1/p')
	agb=$(xfs_info "$M" | sed -n 's/.*agsize=\([0-9]*\) blks.*/\1/p')
	ag=$(xfs_info "$M" | sed -n 's/.*agcount=\([0-9]*\),.*/\1/p')
	lo=$(((ag - 1) * agb * bs)) end=$(R --json -e info "$M" | jq -r .size)
	# a directory in the last AG (new directories take the AGs in turn;
	# an inode number is AG << (log2 agblocks + log2 inodes per block))
	is=$(xfs_info "$M" | sed -n 's/.*isize=\([0-9]*\).*/\1/p')
	bits=$(awk -v a="$agb" -v b="$bs" -v i="$is" 'BEGIN { l = 0; while (2 ^ l < a) l++; m = 0; while (2 ^ m < b / i) m++; print l + m }')
	d=
	for ((i = 0; i < 2 * ag; i++)); do
		mkdir "$M/wag$i"
		if [ $(($(stat -c %i "$M/wag$i") >> bits)) = $((ag - 1)) ]; then
			d=$M/wag$i
			break
		fi
	done
	[ -n "$d" ] || { note "whole AG: no directory landed in the last AG"; rm -rf "$M"/wag*; return; }
	for ((i = 0; i < 40; i++)); do
		head -c $((4096 * (1 + i % 9))) /dev/urandom >"$d/f$i"
	done
	sync -f "$M"
	before=$(layout "$d"/f*)
	sums=$(cd "$d" && md5sum -- f*)
	out=$(R -e "evacuate $lo $end" "$M" 2>&1) ||
		{ fail "whole AG: evacuate: $(grep -v '^  step' <<<"$out" | tail -1)"; rm -rf "$M"/wag*; return; }
	[ "$(layout "$d"/f*)" != "$before" ] || fail "whole AG: nothing of the files was in the last AG"
	out=$(R -e "undo" "$M" 2>&1) || fail "whole AG: undo: $(grep -v '^  step' <<<"$out" | tail -3)"
	[ "$(layout "$d"/f*)" = "$before" ] || fail "whole AG: the files are not back where they were"
	[ "$(cd "$d" && md5sum -- f*)" = "$sums" ] || fail "whole AG: content changed"
	note "whole AG: evacuated and undone, every file back"
	rm -rf "$M"/wag*
	sync -f "$M"
}

for kind in $KINDS; do
	vol_create "$kind" 320
	export RELAYOUT_JOURNAL_DIR=$VOL_DIR/journal RELAYOUT_STATE_DIR=$VOL_DIR/state
	# XFS places relative to data below the target in the same AG
	dd if=/dev/urandom of="$VOL_MNT/anchor" bs=1M count=1 conv=fsync status=none
	test_near
	test_retry
	test_refused
	test_stopped
	test_make_room_self
	test_make_room_gaps
	case $kind in xfs) test_whole_ag ;; esac
	vol_fsck
	vol_destroy
done
[ $fails = 0 ] || { echo "$fails failure(s)" >&2; exit 1; }
echo "undo: all checks passed ($KINDS)"
