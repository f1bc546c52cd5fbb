#!/bin/bash
# evacuate of a region that holds reflinked files (issue 14 item 4), on
# XFS (reflink=1):
#  - without --unshare, the dry run and the run skip the shared files and
#    name the shared bytes (the sum of every file's shared extents in the
#    region, from filefrag), nothing moves;
#  - with --unshare it applies: no block of any of the files is left in
#    the region, no extent is shared any more, every file keeps its data
#    (md5);
#  - 'log' shows the whole command with --unshare, and it runs again
#    from there (a dry run);
#  - undo is refused before anything moves: a file and its clone would
#    both go back to the blocks they shared; the message says so; so is
#    the undo of 'defrag --unshare' of a file whose clone stays;
#  - fsck clean.
# On btrfs evacuate is refused (no exact placement there); defrag
# --unshare on btrfs is in tests/integ/defrag.sh.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/volume.sh"
vol_require_root
for t in jq filefrag; do
	command -v $t >/dev/null || vol_skip "$t not installed"
done
R() { "$RELAYOUT" "$@"; }
fails=0

# in_region LO HI FILE...: "bytes shared-bytes" of FILEs' extents in
# [LO, HI) (filefrag, bytes)
in_region() {
	local lo=$1 hi=$2 f
	shift 2
	for f in "$@"; do
		filefrag -v -b1 "$f" | awk -v lo="$lo" -v hi="$hi" '
			$1 ~ /^[0-9]+:$/ { gsub(/\.\./, " "); gsub(/:/, " ");
			a = $4; b = $4 + $6; if (a < lo) a = lo; if (b > hi) b = hi;
			if (b > a) { t += b - a; if ($0 ~ /shared/) s += b - a } }
			END { print t + 0, s + 0 }'
	done | awk '{ t += $1; s += $2 } END { print t + 0, s + 0 }'
}

test_xfs() {
	local M=$VOL_MNT d=$VOL_DIR files lo hi sums out want got cmd ext
	export RELAYOUT_JOURNAL_DIR=$d/journal RELAYOUT_STATE_DIR=$d/state
	mkdir "$M/s"
	dd if=/dev/urandom of="$M/s/a" bs=1M count=2 status=none
	dd if=/dev/urandom of="$M/s/b" bs=1M count=1 status=none
	sync -f "$M"
	cp --reflink=always "$M/s/a" "$M/s/a.clone" || vol_fail "cp --reflink"
	cp --reflink=always "$M/s/b" "$M/s/b.clone" || vol_fail "cp --reflink"
	sync -f "$M"
	files=("$M/s/a" "$M/s/a.clone" "$M/s/b" "$M/s/b.clone")
	sums=$(md5sum "${files[@]}")
	# the region: from the first to the end of the last block of a, b
	read -r lo hi < <(cat <(vol_extents "$M/s/a") <(vol_extents "$M/s/b") |
		awk 'NR == 1 || $2 < lo { lo = $2 } $2 + $3 > hi { hi = $2 + $3 }
		     END { print lo, hi }')
	read -r got want <<<"$(in_region "$lo" "$hi" "${files[@]}")"
	[ "$want/$got" = "$((6 << 20))/$((6 << 20))" ] ||
		vol_fail "setup: expected 6 MiB of shared extents in $lo..$hi, filefrag says $want of $got"

	# (b) without --unshare: skipped, the shared figure right
	out=$(R --json -e "evacuate $lo $hi --dry-run" "$M") || vol_fail "dry run: $out"
	jq -r '.report[]' <<<"$out" | grep -q "^region .*6.0 MiB cannot move (4 files; 6.0 MiB shared)" ||
		fail "dry run without --unshare: not '6.0 MiB cannot move (4 files; 6.0 MiB shared)': $(jq -r '.report[-1]' <<<"$out")"
	[ "$(jq -r '.report[]' <<<"$out" | grep -c 'shared (reflinked) extents; --unshare copies them')" = 4 ] ||
		fail "dry run without --unshare: the four files not named: $out"
	[ "$(jq '.steps | length' <<<"$out")" = 0 ] || fail "dry run without --unshare planned steps: $out"
	ext=$(for f in "${files[@]}"; do vol_extents "$f"; done)
	out=$(R -e "evacuate $lo $hi" "$M" 2>&1) || fail "evacuate without --unshare: $out"
	grep -q "6.0 MiB shared)" <<<"$out" || fail "evacuate without --unshare: no shared figure: $out"
	[ "$(for f in "${files[@]}"; do vol_extents "$f"; done)" = "$ext" ] ||
		fail "evacuate without --unshare moved shared files"

	# (a) with --unshare: the data leaves the region, copied apart
	out=$(R -e "evacuate $lo $hi --unshare" "$M" 2>&1) || { fail "evacuate --unshare: $out"; return; }
	grep -q "movable (4 files; 6.0 MiB shared, copied apart: --unshare)" <<<"$out" ||
		fail "evacuate --unshare: the report does not name the shared bytes: $out"
	grep -q "^transaction 1: 6.0 MiB moved in 4 steps" <<<"$out" || fail "evacuate --unshare: $out"
	read -r got want <<<"$(in_region "$lo" "$hi" "${files[@]}")"
	[ "$got" = 0 ] || fail "evacuate --unshare left $got bytes in the region"
	filefrag -v "${files[@]}" | grep -q shared && fail "evacuate --unshare: extents still shared"
	[ "$(md5sum "${files[@]}")" = "$sums" ] || fail "evacuate --unshare: content changed"
	note "evacuate --unshare of $lo..$hi: 6 MiB moved out, 0 bytes left, md5 unchanged"

	# (c) the journal has the whole command; it runs again from there
	cmd=$(R --json -e log "$M" | jq -r '.transactions[0].command')
	[ "$cmd" = "evacuate $lo $hi --unshare" ] || fail "log: journaled command is '$cmd'"
	out=$(R -e "$cmd --dry-run" "$M" 2>&1) || fail "'$cmd' from the log: $out"

	# (d) undo: refused before anything moves, with the reason
	ext=$(for f in "${files[@]}"; do vol_extents "$f"; done)
	out=$(R -e "undo" "$M" 2>&1) && fail "undo of the unshared evacuate succeeded: $out"
	grep -q "cannot undo transaction 1: .*nothing was changed (it copied shared (reflinked) extents apart with --unshare" <<<"$out" ||
		fail "undo: no clear refusal: $out"
	[ "$(for f in "${files[@]}"; do vol_extents "$f"; done)" = "$ext" ] || fail "the refused undo moved data"
	[ "$(md5sum "${files[@]}")" = "$sums" ] || fail "undo: content changed"
	[ "$(R --json -e log "$M" | jq '.transactions | length')" = 1 ] || fail "the refused undo was journaled"
	note "undo refused: ${out#*: }"

	# defrag --unshare of a file whose clone stays: undo refused too
	# (the old blocks are the clone's)
	vol_mkfrag "$M/s/c" 8 64
	cp --reflink=always "$M/s/c" "$M/s/c.clone" || vol_fail "cp --reflink"
	sync -f "$M"
	sums=$(md5sum "$M/s/c" "$M/s/c.clone")
	out=$(R -e "defrag --unshare $M/s/c" "$M" 2>&1) || fail "defrag --unshare: $out"
	grep -q "^transaction 2: " <<<"$out" || fail "defrag --unshare moved nothing: $out"
	ext=$(vol_extents "$M/s/c")
	out=$(R -e "undo" "$M" 2>&1) && fail "undo of defrag --unshare succeeded: $out"
	grep -q "cannot undo transaction 2: .*held by .*s/c.clone.*nothing was changed (it copied shared" <<<"$out" ||
		fail "undo of defrag --unshare: no clear refusal: $out"
	[ "$(vol_extents "$M/s/c")" = "$ext" ] || fail "the refused undo moved s/c"
	note "undo of defrag --unshare refused: ${out#*: }"
	[ "$(md5sum "$M/s/c" "$M/s/c.clone")" = "$sums" ] || fail "defrag --unshare: content changed"
	vol_fsck
}

test_btrfs() {
	local M=$VOL_MNT out
	export RELAYOUT_JOURNAL_DIR=$VOL_DIR/journal RELAYOUT_STATE_DIR=$VOL_DIR/state
	dd if=/dev/urandom of="$M/a" bs=1M count=1 status=none
	cp --reflink=always "$M/a" "$M/a.clone" || vol_fail "cp --reflink"
	sync -f "$M"
	out=$(R -e "evacuate 0 64M --unshare" "$M" 2>&1) && fail "evacuate --unshare on btrfs succeeded: $out"
	grep -q "is btrfs: exact placement is not supported there" <<<"$out" ||
		fail "evacuate on btrfs: no clear refusal: $out"
	cmp -s "$M/a" "$M/a.clone" || fail "btrfs: the clone differs"
}

for kind in ${RL_UNSHARE_FS:-xfs btrfs}; do
	vol_create "$kind" 300
	case $kind in
	xfs) test_xfs ;;
	btrfs) test_btrfs ;;
	esac
	vol_destroy
done
[ $fails = 0 ] || { echo "$fails failure(s)" >&2; exit 1; }
echo "unshare: all checks passed"
