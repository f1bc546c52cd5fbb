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
	TORTURE_STOCK=0 torture_run "$kind"
	TORTURE_STOCK=1 torture_run "$kind"
done
{
	echo
	echo "### Concurrency torture ($(date -u +%Y-%m-%d), $(uname -r), load $(cut -d' ' -f1 /proc/loadavg))"
	echo
	echo "\`TORTURE_SECS=$TORTURE_SECS TORTURE_MB=$TORTURE_MB bench/torture.sh\`: ok/tried per"
	echo "command while the writers ran, then with them stopped. \"stock\" is the"
	echo "filesystem's own defragmenter looped on the same files under the same writers."
	echo
	echo "| fs | mover | s | rounds | under the writers (ok/tried) | writers stopped (ok/tried) | data |"
	echo "|---|---|---|---|---|---|---|"
	cat "$TORTURE_RESULTS"
} | tee -a "$OUT"
rm -f "$TORTURE_RESULTS"
[ "$fails" = 0 ]
