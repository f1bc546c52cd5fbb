#!/bin/bash
# Concurrency torture, long (the short one is tests/integ/torture.sh).
#
#   sudo bench/torture.sh [BUILD_DIR]        (default: ./build)
#
# Per filesystem (TORTURE_FS, default ext4 xfs btrfs), on a fresh 400 MiB
# loop volume: every relocating command of relayout looped for
# TORTURE_SECS (default 60) against fio verify writers on TORTURE_MB (24)
# MiB fragmented files (O_DIRECT libaio iodepth 64, O_DIRECT io_uring
# iodepth 64, buffered, mmap), rl_writer churn (writes, punches, appends,
# truncates) and two CPU hogs; then the movers once more with the writers
# stopped, md5 and fsck. Baseline in the same run: the stock defragmenter
# looped on the same files under the same writers (TORTURE_STOCK=1).
# Each twice (TORTURE_AGED_RUNS, default "0 1"): on the empty volume, and
# on one first aged to 60 %+ full with real files from /usr (three
# interleaved fsync'ing writers, a random third deleted, more copied;
# torture__age), where the movers also defragment the aged tree and every
# aged file's md5 is checked at the end.
# See tests/lib/torture.sh. Appends a markdown table to
# docs/BENCHMARKS.md (BENCH_OUT=FILE elsewhere) and exits 1 when any run
# lost data or left fsck errors.
set -u
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
top_builddir=$(cd "${1:-$top_srcdir/build}" && pwd)
export top_srcdir top_builddir
export TORTURE_SECS=${TORTURE_SECS:-60} TORTURE_MB=${TORTURE_MB:-24}
export TORTURE_URING=${TORTURE_URING:-1} TORTURE_LOAD_TIMEOUT=${TORTURE_LOAD_TIMEOUT:-60}
. "$top_srcdir/tests/lib/volume.sh"
. "$top_srcdir/tests/lib/torture.sh"
vol_require_root
OUT=${BENCH_OUT:-$top_srcdir/docs/BENCHMARKS.md}
TORTURE_RESULTS=$(mktemp)
export TORTURE_RESULTS
for kind in ${TORTURE_FS:-ext4 xfs btrfs}; do
	for aged in ${TORTURE_AGED_RUNS:-0 1}; do
		# aged: 8 MiB files (a 60 %+ full aged volume has few free
		# runs of 24 MiB for the movers' goals)
		mb=$TORTURE_MB
		[ "$aged" = 1 ] && mb=${TORTURE_AGED_MB:-8}
		TORTURE_MB=$mb TORTURE_AGED=$aged TORTURE_STOCK=0 torture_run "$kind"
		TORTURE_MB=$mb TORTURE_AGED=$aged TORTURE_STOCK=1 torture_run "$kind"
	done
done
{
	echo
	echo "### Concurrency torture ($(date -u +%Y-%m-%d), $(uname -r), load $(cut -d' ' -f1 /proc/loadavg))"
	echo
	echo "\`TORTURE_SECS=$TORTURE_SECS TORTURE_MB=$TORTURE_MB bench/torture.sh\` (aged volumes: 8 MiB files): ok/tried per"
	echo "command while the writers ran, then with them stopped. \"stock\" is the"
	echo "filesystem's own defragmenter looped on the same files under the same writers."
	echo
	echo "| fs | mover | s | rounds | under the writers (ok/tried) | writers stopped (ok/tried) | data |"
	echo "|---|---|---|---|---|---|---|"
	cat "$TORTURE_RESULTS"
} | tee -a "$OUT"
rm -f "$TORTURE_RESULTS"
[ "$fails" = 0 ]
