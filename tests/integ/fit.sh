#!/bin/bash
# Plans that fit the volume: a plan needs, at its peak, the most one step
# needs beyond what the steps before it freed, not the sum of its steps.
# `defrag --recursive` of 8 fragmented files of 20 MiB (160 MiB) on a
# volume with ~100 MiB free: the plan (its dry run) moves more than the
# free space; it must complete (it was refused: "the plan needs 140.0 MiB,
# the volume has 123.6 MiB free"), every file it planned in one run,
# content unchanged, fsck clean; and `undo` puts every extent back.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/volume.sh"
. "$top_srcdir/tests/lib/torture.sh"
vol_require_root
command -v jq >/dev/null || vol_skip "jq not installed"
for kind in ${RL_FIT_FS:-ext4}; do
	vol_create "$kind" 320
	export RELAYOUT_JOURNAL_DIR=$VOL_DIR/journal RELAYOUT_STATE_DIR=$VOL_DIR/state
	files=()
	for i in 1 2 3 4 5 6 7 8; do files+=("$VOL_MNT/f$i"); done
	TORTURE_FRAG_KB=1024 torture__frag "$VOL_MNT" 20 "${files[@]}"
	sync -f "$VOL_MNT"
	free=$(( $(stat -f -c '%a * %S' "$VOL_MNT") ))
	[ "$free" -lt $((160 << 20)) ] || vol_fail "volume too roomy for the test ($free bytes free)"
	md5sum "${files[@]}" >"$VOL_DIR/sums"
	for f in "${files[@]}"; do vol_extents "$f"; done >"$VOL_DIR/before"
	dry=$("$RELAYOUT" --json -e "defrag --recursive --dry-run $VOL_MNT" "$VOL_MNT") ||
		vol_fail "dry run: $dry"
	bytes=$(jq -r .bytes <<<"$dry")
	steps=$(jq -r '.steps | length' <<<"$dry")
	[ "$bytes" -gt "$free" ] && [ "$steps" -ge 2 ] ||
		vol_fail "setup: the plan ($steps steps, $bytes bytes) must move more than the free space ($free)"
	# --retry: an exact placement that misses ("target busy", ext4 20 MiB
	# targets now and then) plans again around it, in a new transaction
	out=$("$RELAYOUT" -e "defrag --recursive --retry 3 $VOL_MNT" "$VOL_MNT" 2>&1) ||
		fail "defrag of more data than the free space, one file at a time, refused: $(tail -3 <<<"$out")"
	md5sum -c --quiet "$VOL_DIR/sums" || fail "content changed by defrag"
	one=0
	for f in "${files[@]}"; do
		[ "$(vol_extents "$f" merge | wc -l)" = 1 ] && one=$((one + 1))
	done
	[ "$one" -ge "$steps" ] || fail "$one files in one run after a defrag of $steps steps: $(grep -v '^  step' <<<"$out")"
	note "moved $bytes bytes with $free free, $steps steps; $one of ${#files[@]} files in one run"
	ntx=$(grep -c '^transaction [0-9]*: ' <<<"$out")
	for ((i = 0; i < ntx; i++)); do
		out=$("$RELAYOUT" -e undo "$VOL_MNT" 2>&1) || fail "undo: $(tail -3 <<<"$out")"
	done
	for f in "${files[@]}"; do vol_extents "$f"; done >"$VOL_DIR/after"
	cmp -s "$VOL_DIR/before" "$VOL_DIR/after" || fail "undo did not put every extent back"
	md5sum -c --quiet "$VOL_DIR/sums" || fail "content changed by undo"
	vol_fsck
	vol_destroy
done
[ "$fails" = 0 ] || exit 1
echo "fit: plans larger than the free space, one step at a time, complete"
