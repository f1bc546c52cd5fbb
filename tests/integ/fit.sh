#!/bin/bash
# Plans that fit the volume: a plan needs, at its peak, the most one step
# needs beyond what the steps before it freed, not the sum of its steps.
# `defrag --recursive` of 14 fragmented files of 8 MiB (112 MiB) on a
# volume with ~75 MiB free: the plan (its dry run) moves more than the
# free space; it must complete (it was refused: "the plan needs 140.0 MiB,
# the volume has 123.6 MiB free"), every file it planned in one run,
# content unchanged, fsck clean; `undo` puts every extent back or stops
# cleanly (see below).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/volume.sh"
. "$top_srcdir/tests/lib/torture.sh"
vol_require_root
command -v jq >/dev/null || vol_skip "jq not installed"
for kind in ${RL_FIT_FS:-ext4}; do
	vol_create "$kind" 200
	export RELAYOUT_JOURNAL_DIR=$VOL_DIR/journal RELAYOUT_STATE_DIR=$VOL_DIR/state
	files=()
	for i in $(seq 14); do files+=("$VOL_MNT/f$i"); done
	TORTURE_FRAG_KB=512 torture__frag "$VOL_MNT" 8 "${files[@]}"
	sync -f "$VOL_MNT"
	free=$(( $(stat -f -c '%a * %S' "$VOL_MNT") ))
	[ "$free" -lt $((112 << 20)) ] || vol_fail "volume too roomy for the test ($free bytes free)"
	md5sum "${files[@]}" >"$VOL_DIR/sums"
	for f in "${files[@]}"; do vol_extents "$f" >"$f.before.ext"; done
	mkdir -p "$VOL_DIR/ext" && mv "$VOL_MNT"/*.before.ext "$VOL_DIR/ext/"
	dry=$("$RELAYOUT" --json -e "defrag --recursive --dry-run $VOL_MNT" "$VOL_MNT") ||
		vol_fail "dry run: $dry"
	bytes=$(jq -r .bytes <<<"$dry")
	steps=$(jq -r '.steps | length' <<<"$dry")
	[ "$bytes" -gt "$free" ] && [ "$steps" -ge 2 ] ||
		vol_fail "setup: the plan ($steps steps, $bytes bytes) must move more than the free space ($free)"
	# --retry: an exact placement that misses ("target busy", ext4 20 MiB
	# targets now and then) plans again around it, in a new transaction
	out=$("$RELAYOUT" -e "defrag --recursive --retry 3 $VOL_MNT" "$VOL_MNT" 2>&1)
	rc=$?
	! grep -q "not enough free space" <<<"$out" ||
		fail "defrag of more data than the free space, one file at a time, refused: $(grep 'not enough' <<<"$out")"
	md5sum -c --quiet "$VOL_DIR/sums" || fail "content changed by defrag"
	moved=$("$RELAYOUT" --json -e log "$VOL_MNT" | jq '[.. | objects | select(has("steps_done")) | .bytes] | add // 0')
	# one plan (with its --retry re-plans) moved more than was free
	[ "$moved" -gt "$free" ] || fail "defrag moved $moved bytes with $free free (rc $rc): $(grep -v '^  step' <<<"$out" | tail -5)"
	one=0
	for f in "${files[@]}"; do
		[ "$(vol_extents "$f" merge | wc -l)" = 1 ] && one=$((one + 1))
	done
	note "plan of $bytes bytes, $steps steps, with $free free: moved $moved (rc $rc); $one of ${#files[@]} files in one run"
	# undo, newest first, until nothing is left: the files' old places,
	# scattered, on a volume this full. An earlier undo step's extent-tree
	# block can take a later step's old place (ext4: 2 of 5 runs): that
	# part goes near it and the undo says so (issue 13, "undo as close as
	# the filesystem allows"); every other extent is back exactly. If it
	# stops, it must stop cleanly, the data intact.
	undone=1
	: >"$VOL_DIR/undo.out"
	for ((i = 0; i < 5; i++)); do
		out=$("$RELAYOUT" -e undo "$VOL_MNT" 2>&1) && { echo "$out" >>"$VOL_DIR/undo.out"; continue; }
		grep -q "nothing to undo" <<<"$out" && break
		undone=0
		grep -q "failed: step [0-9]* of [0-9]* .*nothing of this step was moved" <<<"$out" ||
			fail "undo failed, not cleanly: $(tail -3 <<<"$out")"
		note "undo stopped: $(grep -o 'failed: step [0-9]* of [0-9]*[^;]*' <<<"$out" | head -1)"
		break
	done
	if [ $undone = 1 ]; then
		near=$(sed -n 's|^  \(/.*\): [0-9.]* [KMGT]*i*B of .* at 0x[0-9a-f]* instead of .*|\1|p' "$VOL_DIR/undo.out")
		[ -z "$near" ] || note "undo put near their old place: $(grep -A3 'near .* old place' "$VOL_DIR/undo.out")"
		for f in "${files[@]}"; do
			grep -qxF "$f" <<<"$near" && continue
			vol_extents "$f" | cmp -s "$VOL_DIR/ext/${f##*/}.before.ext" - ||
				fail "undo did not put every extent of $f back: $(vol_extents "$f" | diff "$VOL_DIR/ext/${f##*/}.before.ext" - | head -20)"
		done
	fi
	md5sum -c --quiet "$VOL_DIR/sums" || fail "content changed by undo"
	vol_fsck
	vol_destroy
done
[ "$fails" = 0 ] || exit 1
echo "fit: plans larger than the free space, one step at a time, complete"
