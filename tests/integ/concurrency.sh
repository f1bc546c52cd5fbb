#!/bin/bash
# No write lost while a file is relocated over and over: a writer
# (tests/tools/rl_writer) rewrites random blocks in buffered, O_DIRECT and
# mmap mode while rl_prim_test move-loop moves the same file (O_TMPFILE
# donor + rl_allocate + rl_movedata of the whole file; once more in mmap
# mode with rl_movedata_at, the donor's range shifted) for RL_RACE_SECONDS
# (default 10) per mode; then the file must hold exactly the last write of
# every block. Runs on ext4, xfs and btrfs.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/volume.sh"
vol_require_root
PRIM="$top_builddir/tests/tools/rl_prim_test"
WRITER="$top_builddir/tests/tools/rl_writer"
SECS=${RL_RACE_SECONDS:-10}
NBLOCKS=2048 # 8 MiB

for fs in ${RL_RACE_FS:-ext4 xfs btrfs}; do
	vol_create "$fs" 320
	# writes per millisecond (then a 1 ms pause). btrfs: every write goes
	# copy-on-write, and a piece that differs cannot be re-copied in place
	# (its extent is already shared), so a hot file makes most moves end
	# in EBUSY; a gentler writer lets moves complete as well.
	rate="64 1000"                      # ~40k writes/s
	[ "$fs" = btrfs ] && rate="1 20000" # ~50 writes/s
	# mmap+at: the mmap writer against rl_movedata_at (the donor's range
	# 1 MiB in, more donor after it)
	for mode in buffered direct mmap mmap+at; do
		shift_kib=
		label=$mode
		[ "$mode" = mmap+at ] && shift_kib=1024 && mode=mmap
		f=$VOL_MNT/race.$mode$shift_kib
		log=$VOL_DIR/race.$mode$shift_kib.log
		"$WRITER" init "$f" $NBLOCKS || vol_fail "init"
		"$WRITER" run "$f" $mode "$SECS" "$log" ${RL_RACE_RATE:-$rate} >"$VOL_DIR/w.out" &
		wpid=$!
		mres=$("$PRIM" move-loop "$f" "$SECS" $shift_kib) || vol_fail "$fs/$mode mover: $mres"
		wait $wpid || vol_fail "$fs/$mode writer failed"
		res=$("$WRITER" check "$f" "$log") || {
			echo "$res"
			vol_fail "$fs/$mode: writes lost"
		}
		echo "$fs $label: $(cat "$VOL_DIR/w.out") $mres;" $res
		# ext4/XFS: moves must complete under the writer. btrfs: a busy
		# file can make every move end in EBUSY on a loaded machine (see
		# above); there every attempt must at least have been made and
		# refused cleanly.
		if grep -q "moves=0 " <<<"$mres"; then
			[ "$fs" = btrfs ] && grep -qv "ebusy_returns=0 " <<<"$mres" ||
				vol_fail "$fs/$mode: no move succeeded"
		fi
		# once the writer is gone a move must succeed and keep every byte
		"$PRIM" move "$f" >/dev/null || vol_fail "$fs/$mode: quiet move after the race failed"
		"$WRITER" check "$f" "$log" >/dev/null || vol_fail "$fs/$mode: writes lost by the quiet move"
	done
	vol_fsck
	vol_destroy
done
echo "concurrency: no lost writes"
