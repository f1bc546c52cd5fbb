#!/bin/bash
# The layout model following an apply step by step, and the movedata call
# size under the UI.
#
#   sudo bench/apply-steps.sh BASE_RELAYOUT [BUILD_DIR]
#
# 1. batch apply with a model: per filesystem (ext4, xfs) a 512 MiB loop
#    volume with 40 files of 256 KiB; `scan; group (40 steps) --to GOAL;
#    undo` (80 steps) run by BASE_RELAYOUT (a build of the commit before,
#    refreshing the model once at the end) and by BUILD_DIR/relayout
#    (refreshing it after every step), interleaved, ROUNDS times. Prints
#    wall and user+sys seconds of every run.
# 2. movedata call size: a 160 MiB file moved by rl_movedata calls of 16
#    MiB (batch) and 4 MiB (under the UI), caches dropped before each,
#    interleaved (tests/tools/rl_prim_test move FILE CHUNK_MIB). Prints the
#    total and the longest call: a cancel waits for at most one call.
set -u
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
BASE=${1:?usage: bench/apply-steps.sh BASE_RELAYOUT [BUILD_DIR]}
top_builddir=$(cd "${2:-$top_srcdir/build}" && pwd)
. "$top_srcdir/tests/lib/volume.sh"
vol_require_root
PRIM="$top_builddir/tests/tools/rl_prim_test"
ROUNDS=${ROUNDS:-5}
uptime

for kind in ext4 xfs; do
	vol_create "$kind" 512
	M=$VOL_MNT
	export RELAYOUT_JOURNAL_DIR=$VOL_DIR/journal RELAYOUT_STATE_DIR=$VOL_DIR/state
	mkdir -p "$M/d"
	for i in $(seq 1 40); do
		dd if=/dev/urandom of="$M/d/f$i" bs=256K count=1 status=none
	done
	sync -f "$M"
	files=$(printf '%s ' "$M"/d/f*)
	# a free run past the first groups (ext4: 0x12000000 is in group 2)
	case $kind in ext4) goal=0x12000000 ;; *) goal=0x4000000 ;; esac
	for ((r = 1; r <= ROUNDS; r++)); do
		for b in "$BASE" "$top_builddir/relayout"; do
			name=branch
			[ "$b" = "$BASE" ] && name=base
			/usr/bin/time -f "$kind batch $name wall %e user+sys %U+%S" \
				"$b" -e "scan; group $files --to $goal; undo" "$M" \
				2>&1 >"$VOL_DIR/out" | tail -1
			grep -c "moved in 40 steps" "$VOL_DIR/out" | grep -q 2 ||
				echo "  (run failed: $(tail -2 "$VOL_DIR/out"))"
		done
	done
	dd if=/dev/urandom of="$M/big" bs=1M count=160 status=none
	sync -f "$M"
	for ((r = 1; r <= ROUNDS; r++)); do
		for c in 16 4; do
			sync
			echo 3 >/proc/sys/vm/drop_caches
			read -r total longest < <("$PRIM" move "$M/big" "$c")
			echo "$kind chunk ${c} MiB: total ${total}s, longest call ${longest}s"
		done
	done
	vol_destroy
done
uptime
