#!/bin/bash
# ext4 placement sessions: no journal commit per placement. A compaction
# holds its targets in address order in one placement session
# (lib/fs_place_ext4.c). What the session's files hold above a placed
# target -- the blocks the donor's range was first fallocated on, anchors
# of new private files (the first free block of their goal group: in a
# compaction often the next target), the claimed run's tail -- stays as
# spares, and a later target is moved in from the spares that cover it,
# the rest claimed with requests. Given back, those blocks are allocatable
# again only after a journal commit: a syncfs for each later target that
# held one, one commit per ~5 steps on an aged volume. The volume: 384 MiB
# ext4 aged from real files (tests/lib/torture.sh: interleaved fsync'd
# writers, a random third deleted, more copied) to ~62 %. A whole-volume
# `compact` must complete with every file unchanged and fsck clean, with
# fewer journal commits than a sixteenth of its steps (measured: 394
# commits for 2,146 steps before the spares covered anchors and partial
# targets, 19 after).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/volume.sh"
. "$top_srcdir/tests/lib/torture.sh"
vol_require_root
command -v python3 >/dev/null || vol_skip "python3 not installed"
command -v jq >/dev/null || vol_skip "jq not installed"

vol_create ext4 384
export RELAYOUT_JOURNAL_DIR=$VOL_DIR/journal RELAYOUT_STATE_DIR=$VOL_DIR/state
jinfo=/proc/fs/jbd2/$(basename "$(readlink -f "$VOL_DEV")")-8/info
[ -r "$jinfo" ] || vol_skip "$jinfo not readable (no jbd2 statistics)"
mkdir "$VOL_MNT/aged0"
TORTURE_SEED=1 torture__age "$VOL_MNT/aged0" 62 >/dev/null || vol_fail "aging the volume"
sync -f "$VOL_MNT"
sums() { (cd "$VOL_MNT" && find . -xdev -type f -print0 | sort -z | xargs -0 -r md5sum); }
sums >"$VOL_DIR/md5.0"
steps=$("$RELAYOUT" --json -e "compact --dry-run" "$VOL_MNT" | jq '.steps | length') ||
	vol_fail "compact --dry-run"
[ "$steps" -ge 500 ] || vol_fail "the aged volume needs only $steps steps: no test of many placements"
c0=$(awk 'NR == 1 { print $1 }' "$jinfo")
"$RELAYOUT" -e "compact --retry 10" "$VOL_MNT" >"$VOL_DIR/out" 2>&1 ||
	vol_fail "compact: $(grep -v '^  step' "$VOL_DIR/out" | tail -3)"
c1=$(awk 'NR == 1 { print $1 }' "$jinfo")
commits=$((c1 - c0))
echo "compact of the aged volume: $steps steps, $commits journal commits, $(grep -c 'planning again' "$VOL_DIR/out") retries"
sums | diff -q - "$VOL_DIR/md5.0" >/dev/null || vol_fail "content changed by compact"
[ $((commits * 16)) -lt "$steps" ] ||
	vol_fail "$commits journal commits for $steps steps: a commit per placement again?"
vol_fsck
vol_destroy
echo "spares: passed"
