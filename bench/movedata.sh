#!/bin/bash
# movedata throughput versus a plain copy (and e4defrag on ext4).
#
#   sudo bench/movedata.sh [BUILD_DIR]      (default: ./build)
#
# Per filesystem (ext4, xfs, btrfs) a 512 MiB loop volume holds NFILES files
# of FILE_MB MiB (~200 MiB), fragmented: their 1 MiB pieces are allocated
# round-robin. Timed, with caches dropped before each:
#   dd        dd if=F of=F.copy bs=1M conv=fsync for every file
#   movedata  donor in an O_TMPFILE (rl_allocate) + rl_movedata of the
#             whole file (tests/tools/rl_prim_test move), then sync -f
#   e4defrag  ext4 only, on a fresh fragmented set
# Prints a markdown table (MB/s and ratio to dd); BENCH_OUT=FILE appends it.
set -u
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
top_builddir=$(cd "${1:-$top_srcdir/build}" && pwd)
. "$top_srcdir/tests/lib/volume.sh"
vol_require_root
PRIM="$top_builddir/tests/tools/rl_prim_test"
NFILES=${NFILES:-20}
FILE_MB=${FILE_MB:-10}
TOTAL=$((NFILES * FILE_MB))

make_set() {
	rm -rf "$VOL_MNT/set" && mkdir "$VOL_MNT/set"
	for ((c = 0; c < FILE_MB; c++)); do
		for ((i = 0; i < NFILES; i++)); do
			fallocate -o $((c << 20)) -l 1M "$VOL_MNT/set/f$i"
		done
	done
	for ((i = 0; i < NFILES; i++)); do
		head -c $((FILE_MB << 20)) /dev/urandom |
			dd of="$VOL_MNT/set/f$i" bs=1M conv=notrunc status=none
	done
	sync -f "$VOL_MNT"
}
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
now() { date +%s.%N; }
rate() { echo "scale=1; $TOTAL / ($2 - $1)" | bc; }

rows=()
for fs in ${BENCH_FS:-ext4 xfs btrfs}; do
	vol_create "$fs" 512
	make_set
	frag=$(filefrag "$VOL_MNT"/set/f* | awk '{s += $2} END {print s}')
	drop
	t0=$(now)
	for f in "$VOL_MNT"/set/f*; do
		dd if="$f" of="$f.copy" bs=1M conv=fsync status=none
	done
	t1=$(now)
	dd_rate=$(rate "$t0" "$t1")
	rm -f "$VOL_MNT"/set/*.copy
	sync -f "$VOL_MNT"
	drop
	t0=$(now)
	for f in "$VOL_MNT"/set/f*; do
		"$PRIM" move "$f" >/dev/null || vol_fail "movedata $f on $fs"
	done
	sync -f "$VOL_MNT"
	t1=$(now)
	mv_rate=$(rate "$t0" "$t1")
	after=$(filefrag "$VOL_MNT"/set/f* | awk '{s += $2} END {print s}')
	ratio=$(echo "scale=2; $mv_rate / $dd_rate" | bc)
	rows+=("| $fs | movedata | $mv_rate | $ratio | $frag → $after |")
	rows+=("| $fs | dd copy (baseline) | $dd_rate | 1.00 | |")
	if [ "$fs" = ext4 ] && command -v e4defrag >/dev/null; then
		make_set
		drop
		t0=$(now)
		e4defrag "$VOL_MNT/set" >/dev/null 2>&1
		sync -f "$VOL_MNT"
		t1=$(now)
		e4_rate=$(rate "$t0" "$t1")
		e4after=$(filefrag "$VOL_MNT"/set/f* | awk '{s += $2} END {print s}')
		rows+=("| $fs | e4defrag | $e4_rate | $(echo "scale=2; $e4_rate / $dd_rate" | bc) | $frag → $e4after |")
	fi
	vol_destroy
done

{
	echo "| fs | method | MB/s | ratio to dd | extents before → after |"
	echo "|---|---|---:|---:|---|"
	printf '%s\n' "${rows[@]}"
} | tee ${BENCH_OUT:+-a "$BENCH_OUT"}
