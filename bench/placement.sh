#!/bin/bash
# Exact-placement benchmark: 1 GiB volumes (ext4, XFS reflink, XFS without
# reflink) fragmented with 6000 files of 4 KiB-1 MiB, half deleted; N
# random fixed-start targets from the free map (block-weighted and
# uniform), idle and with a concurrent small-file writer.
#   top_builddir=build bench/placement.sh [N] [KINDS]
# Results go to stdout, one line per run (see docs/BENCHMARKS.md).
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
: "${top_builddir:=$top_srcdir/build}"
. "$top_srcdir/tests/lib/volume.sh"
N=${1:-200}
KINDS=${2:-"xfs xfs-noreflink ext4"}
B=$top_builddir/tests/tools/rl_place_bench
for kind in $KINDS; do
	vol_create "$kind" 1024
	python3 "$top_srcdir/bench/fragment.py" "$VOL_MNT" 6000 1
	mkdir -p "$VOL_DIR/state"
	for mode in "" -u; do
		for w in "" -w; do
			"$B" -d "$VOL_DIR/state" -n "$N" -s 11 $mode $w "$VOL_MNT"
		done
	done
	vol_destroy
done
