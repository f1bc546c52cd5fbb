#!/bin/bash
# Concurrency torture, short (tests/lib/torture.sh): every relocating
# command looped against self-verifying writers (fio O_DIRECT libaio
# iodepth 64, buffered, mmap; appends, truncates and punches by
# rl_writer churn) with CPU hogs, on ext4, XFS and btrfs; zero verify
# failures, the movers complete once the writers stop, fsck clean.
# The long version: bench/torture.sh.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/volume.sh"
. "$top_srcdir/tests/lib/torture.sh"
vol_require_root
for kind in ${RL_TORTURE_FS:-ext4 xfs btrfs}; do
	torture_run "$kind"
done
[ "$fails" = 0 ] || exit 1
echo "torture: no lost writes"
