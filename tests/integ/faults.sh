#!/bin/bash
# Faults during moves (issue 7, part 1), on ext4 and XFS:
#  - kill -9 / SIGTERM at random points (seeded) of a large move and of a
#    script (-x) of moves: content intact (manifest + checksums), `log`
#    works, the next start reports the interrupted transaction, SIGTERM
#    stops between chunks with a message and a non-zero exit, fsck clean
#    every ~10 seeds and at the end;
#  - ENOSPC: another process fills the volume while a move runs: the move
#    ends cleanly, the data is intact, no block is leaked (free space with
#    the filler removed equals the free space before);
#  - the volume frozen, remounted read-only, lazily unmounted mid-move;
#  - a read-only remount between the steps of a multi-file plan;
#  - kill -9 at random points of a batched compaction of many small
#    files: content intact, exact undo, ext4 tunables restored, fsck;
#  - concurrent appenders, truncaters, flock/POSIX lock and lease holders,
#    and a second relayout (the volume lock).
# Quotas are quota.sh.
# RL_FAULT_SEEDS (default 26 per filesystem: 52 in all) and RL_FAULT_FS.
. "$top_srcdir/tests/lib/volume.sh"
command -v jq >/dev/null || vol_skip "jq not installed"
command -v filefrag >/dev/null || vol_skip "filefrag not installed"
KINDS="${RL_FAULT_FS:-ext4 xfs}"
NSEEDS="${RL_FAULT_SEEDS:-26}"
R() { "$RELAYOUT" "$@"; }
extents_of() { vol_extents "$1"; }
declare -A STATS SUMS
ANCHOR_END=

# goal_for LEN: a free, block-aligned target (see txn.sh).
goal_for() {
	local len=$1 lo=0 hi
	hi=$(($(jq -r .size <<<"$INFO") / 4))
	# XFS places relative to data below the goal in the same AG: above
	# the anchor (the first file written), and not in the first 16 MiB
	# (placement there was refused with EBUSY after some seeds)
	[ -z "$ANCHOR_END" ] || lo=$((ANCHOR_END > 16 << 20 ? ANCHOR_END : 16 << 20))
	# ext4: anywhere (exact placement reaches groups 0-1 too)
	case $VOL_FS in ext4*)
		lo=0
		hi=$(jq -r .size <<<"$INFO")
		;;
	esac
	sync -f "$VOL_MNT"
	R --json -e "free $lo $hi" "$VOL_MNT" | jq -r --argjson len "$len" '
		[.extents[] | select(.length >= $len + 2097152)] | (.[0].start // empty) + 1048576'
}

# free_bytes: the free space relayout reports (sum of the free map).
free_bytes() {
	sync -f "$VOL_MNT"
	R --json -e free "$VOL_MNT" | jq '[.extents[].length] | add'
}

last_id() { R --json -e log "$VOL_MNT" 2>/dev/null | jq -r '[.transactions[].id] | max // 0'; }

# check_after TAG PREV_ID: the journal is readable, an interrupted
# transaction is reported, every file intact.
check_after() {
	local tag=$1 prev=$2 err out rc f
	err=$(R -e log "$VOL_MNT" 2>&1 >/dev/null)
	rc=$?
	[ $rc = 0 ] || fail "$tag: log exits $rc: $err"
	out=$(R --json -e log "$VOL_MNT" 2>/dev/null) || fail "$tag: log --json"
	if [ "$(jq "[.transactions[] | select(.id > $prev and .interrupted == true)] | length" <<<"$out")" != 0 ]; then
		grep -q "was interrupted" <<<"$err" || fail "$tag: interrupted transaction not reported: $err"
		STATS[interrupted]=$((STATS[interrupted] + 1))
	fi
	[ "$(jq "[.transactions[] | select(.id > $prev and .status == \"open\")] | length" <<<"$out")" = 0 ] ||
		fail "$tag: a transaction is still open after the restart: $(jq -c '.transactions[-1]' <<<"$out")"
	for f in "${!SUMS[@]}"; do
		[ "${SUMS[$f]}" = "$(md5sum <"$f")" ] || fail "$tag: content of $f changed"
	done
	vol_verify
}

# One seed: SIG (KILL or TERM) during a big move or a script of moves.
run_seed() {
	local seed=$1 sig kind delay goal g rc prev pid i
	RANDOM=$seed
	if ((seed % 2)); then sig=KILL; else sig=TERM; fi
	if (((seed / 2) % 2)); then kind=script; else kind=big; fi
	delay=$(printf "0.%03d" $((RANDOM % 980 + 20)))
	[ "${delay%.*}" = 0 ] || delay=0.999
	prev=$(last_id)
	if [ $kind = big ]; then
		goal=$(goal_for $((8 << 20)))
		[ -n "$goal" ] || { fail "seed $seed: no free target"; return; }
		"$RELAYOUT" -e "move $BIG --to $goal --rate 8 --io-priority normal" "$VOL_MNT" >/dev/null 2>"$VOL_DIR/sig.err" &
	else
		g=$(goal_for $((6 << 20)))
		[ -n "$g" ] || { fail "seed $seed: no free target"; return; }
		: >"$VOL_DIR/moves.rl"
		for i in 0 1 2; do
			echo "move $VOL_MNT/s$i --to $((g + i * (2 << 20))) --rate 6 --io-priority normal" >>"$VOL_DIR/moves.rl"
		done
		"$RELAYOUT" -x "$VOL_DIR/moves.rl" "$VOL_MNT" >/dev/null 2>"$VOL_DIR/sig.err" &
	fi
	pid=$!
	sleep "$delay"
	kill -$sig $pid 2>/dev/null
	wait $pid
	rc=$?
	case $sig:$rc in
	KILL:137) STATS[killed]=$((STATS[killed] + 1)) ;;
	*:0) STATS[finished]=$((STATS[finished] + 1)) ;;
	TERM:1)
		grep -q "stopped by\|received during the last step" "$VOL_DIR/sig.err" ||
			fail "seed $seed: SIGTERM: no stop message: $(cat "$VOL_DIR/sig.err")"
		STATS[term_stopped]=$((STATS[term_stopped] + 1))
		;;
	TERM:143) STATS[term_between_commands]=$((STATS[term_between_commands] + 1)) ;;
	*) fail "seed $seed: $sig at ${delay}s ($kind): exit $rc: $(cat "$VOL_DIR/sig.err")" ;;
	esac
	note "seed $seed: $sig $kind at ${delay}s: exit $rc $(grep -o 'stopped by.*\|received.*' "$VOL_DIR/sig.err" | head -1 | cut -c1-100)"
	check_after "seed $seed ($sig $kind ${delay}s)" "$prev"
	if [ $sig = TERM ] && [ $rc = 1 ] && [ $kind = script ]; then
		# the script stopped at the signal: no command ran after it
		local n
		n=$(R --json -e log "$VOL_MNT" | jq "[.transactions[] | select(.id > $prev)] | length")
		[ "$n" -le 3 ] || fail "seed $seed: $n transactions after a stop"
		[ "$(R --json -e log "$VOL_MNT" | jq -r '[.transactions[] | select(.id > '"$prev"')][-1].status')" != applied ] ||
			grep -q "received during the last step" "$VOL_DIR/sig.err" ||
			fail "seed $seed: script went on after SIGTERM"
	fi
}

test_signals() {
	local s
	BIG=$VOL_MNT/big/f
	mkdir -p "$VOL_MNT/big"
	vol_mkfrag "$BIG" 32 256 # 8 MiB in 32 pieces
	for i in 0 1 2; do vol_mkfrag "$VOL_MNT/s$i" 8 256; done
	declare -gA SUMS=()
	for f in "$BIG" "$VOL_MNT"/s[012]; do SUMS[$f]=$(md5sum <"$f"); done
	for ((s = 1; s <= NSEEDS; s++)); do
		run_seed $((s + SEED_BASE))
		if ((s % 10 == 0)); then vol_fsck; fi
	done
	vol_fsck
	check_after "after fsck" "$(last_id)"
}

# kill -9 at random points (seeded) of a batched compaction: a region of
# many small files (interleaved writers, every third file deleted: small
# free runs between them), compacted once to the end (timed, undone),
# then three times killed at a random point of that time; each time the
# content is
# intact, the journal reports the interrupted transaction, `undo` puts
# every file back on exactly its extents before, the ext4 tunables are
# restored, and fsck is clean.
cpt_extents() {
	# one filefrag for all (a fork per file costs seconds here)
	filefrag -v -b1 "$VOL_MNT"/cpt/* | awk -v bs="$(stat -f -c %S "$VOL_MNT")" '
		function flush() { if (f != "") print f, x; x = "" }
		/^File size of / { flush(); f = $4; end = int(($6 + bs - 1) / bs) * bs; next }
		$1 ~ /^[0-9]+:$/ {
			gsub(/\.\./, " "); gsub(/:/, " ")
			if ($2 >= end) next
			len = $6; if ($2 + len > end) len = end - $2
			x = x $2 " " $4 " " len " " }
		END { flush() }'
}

test_kill_compact() {
	local w i f s e seed delay pid rc prev before dev tun=""
	mkdir "$VOL_MNT/cpt"
	for i in $(seq 0 59); do
		for w in 0 1 2; do
			head -c $((4096 * (1 + (i * 7 + w * 3) % 6))) /dev/urandom >"$VOL_MNT/cpt/w$w-$i"
		done
		((i % 8)) || sync -f "$VOL_MNT"
	done
	sync -f "$VOL_MNT"
	for i in $(seq 0 3 59); do rm -f "$VOL_MNT/cpt/w1-$i" "$VOL_MNT/cpt/w2-$((i + 1))"; done
	sync -f "$VOL_MNT"
	declare -A CSUMS=()
	for f in "$VOL_MNT"/cpt/*; do CSUMS[$f]=$(md5sum <"$f"); done
	# the region: the 8 MiB window holding most of those files' blocks
	# (ext4 spreads small files over per-CPU preallocations)
	read -r s e < <(cpt_extents | awk '{ for (i = 3; i < NF; i += 3) c[int($i / 1048576)] += $(i + 1) }
		END { for (m in c) { t = 0; for (k = 0; k < 8; k++) t += c[m + k]
			if (t > best) { best = t; at = m } }
			print at * 1048576, (at + 8) * 1048576 }')
	note "kill/compact: region $s..$e ($(((e - s) >> 20)) MiB), $(ls "$VOL_MNT/cpt" | wc -l) files"
	if [ "$VOL_FS" = ext4 ]; then
		dev=$(basename "$(readlink -f "$VOL_DEV")")
		tun=$(cat /sys/fs/ext4/"$dev"/mb_*)
	fi
	before=$(cpt_extents)
	local t0=$SECONDS
	# seed 0 runs to its end and times it (ms); the others are killed
	# at a random point of that time
	local full=0 t
	for seed in 0 1 2 3; do
		RANDOM=$((seed + SEED_BASE))
		# seed k in the k-th third of that time
		delay=$((seed ? (full * ((seed - 1) * 333 + RANDOM % 333)) / 1000 : 0))
		delay=$(printf "%d.%03d" $((delay / 1000)) $((delay % 1000)))
		prev=$(last_id)
		t=$(date +%s%N)
		"$RELAYOUT" -e "compact $s $e" "$VOL_MNT" >/dev/null 2>"$VOL_DIR/kc.err" &
		pid=$!
		if [ $seed = 0 ]; then
			wait $pid
			rc=$?
			full=$((($(date +%s%N) - t) / 1000000))
			[ $rc = 0 ] || fail "kill/compact: the compaction failed: $(cat "$VOL_DIR/kc.err")"
			note "kill/compact: the whole compaction took $full ms"
		else
			sleep "$delay"
			kill -KILL $pid 2>/dev/null
			wait $pid
			rc=$?
		fi
		case $rc in
		137 | 0) ;;
		*) fail "kill/compact seed $seed: exit $rc: $(cat "$VOL_DIR/kc.err")" ;;
		esac
		check_after "kill/compact seed $seed" "$prev"
		note "kill/compact seed $seed: $([ $seed = 0 ] && echo "not killed" || echo "killed at ${delay}s"): exit $rc, $(R --json -e log "$VOL_MNT" 2>/dev/null | jq -r '.transactions[-1] | "\(.steps_done)/\(.steps) steps, \(.bytes) bytes, \(.status)"') ($((SECONDS - t0)) s)"
		for f in "${!CSUMS[@]}"; do
			[ "${CSUMS[$f]}" = "$(md5sum <"$f")" ] || fail "kill/compact seed $seed: content of $f changed"
		done
		[ -z "$tun" ] || [ "$(cat /sys/fs/ext4/"$dev"/mb_*)" = "$tun" ] ||
			fail "kill/compact seed $seed: ext4 tunables not restored after the restart"
		if [ "$(last_id)" = "$prev" ]; then
			note "kill/compact seed $seed: killed before its transaction began"
			continue
		fi
		if [ "$(R --json -e log "$VOL_MNT" | jq -r '.transactions[-1].bytes')" = 0 ]; then
			# killed before any data moved: nothing to undo, and
			# every file where it was
			[ "$(cpt_extents)" = "$before" ] ||
				fail "kill/compact seed $seed: no bytes moved but the extents changed: $(diff <(echo "$before") <(cpt_extents) | head -4)"
			continue
		fi
		R -e undo "$VOL_MNT" >"$VOL_DIR/kc.undo" 2>&1 ||
			{ fail "kill/compact seed $seed: undo: $(tail -3 "$VOL_DIR/kc.undo")"; before=$(cpt_extents); continue; }
		local now
		now=$(cpt_extents)
		if [ "$now" = "$before" ]; then
			note "kill/compact seed $seed: undone exactly ($((SECONDS - t0)) s)"
		else
			# where the old blocks were taken since (or held back by
			# the filesystem), undo puts the data near and says so,
			# naming each such file
			local bad=0 p
			for p in $(diff <(echo "$before") <(echo "$now") | sed -n 's/^> \([^ ]*\) .*/\1/p'); do
				grep -qF "${p#"$VOL_MNT"/}" "$VOL_DIR/kc.undo" || bad=1
			done
			grep -q "near .* old place" "$VOL_DIR/kc.undo" || bad=1
			if [ $bad = 1 ]; then
				fail "kill/compact seed $seed: undo did not put every file back exactly, and did not say so: $(diff <(echo "$before") <(echo "$now") | head -4)"
			else
				note "kill/compact seed $seed: undone; near the old place: $(grep -c . <(diff <(echo "$before") <(echo "$now") | grep '^>')) file(s), as the undo said: $(grep -m1 "near .* old place" "$VOL_DIR/kc.undo" | cut -c1-120)"
			fi
			before=$now
		fi
		for f in "${!CSUMS[@]}"; do
			[ "${CSUMS[$f]}" = "$(md5sum <"$f")" ] || fail "kill/compact seed $seed: content of $f changed by the undo"
		done
	done
	vol_fsck
}

# ENOSPC: a filler takes the volume to ~99 % while a move runs.
test_enospc() {
	local f=$VOL_MNT/nospc prev goal free0 free1 pid fpid rc sum avail bs
	vol_mkfrag "$f" 16 256
	sum=$(md5sum <"$f")
	sync -f "$VOL_MNT"
	prev=$(last_id)
	free0=$(free_bytes)
	goal=$(goal_for $((4 << 20)))
	"$RELAYOUT" -e "move $f --to $goal --rate 4 --io-priority normal" "$VOL_MNT" >/dev/null 2>"$VOL_DIR/nospc.err" &
	pid=$!
	sleep 0.3
	bs=$(stat -f -c %S "$VOL_MNT")
	avail=$(($(stat -f -c %a "$VOL_MNT") * bs))
	# fill in pieces: the target may go to the filler
	(
		i=0
		while [ $avail -gt $((free0 / 100 + (8 << 20))) ]; do
			fallocate -l $((avail / 2)) "$VOL_MNT/filler$i" 2>/dev/null || break
			i=$((i + 1))
			avail=$(($(stat -f -c %a "$VOL_MNT") * bs))
		done
		dd if=/dev/zero of="$VOL_MNT/fillerz" bs=1M status=none 2>/dev/null
		true
	) &
	fpid=$!
	wait $fpid
	note "ENOSPC: filler left $(df --output=pcent "$VOL_MNT" | tail -1) used"
	wait $pid
	rc=$?
	note "ENOSPC: move exit $rc: $(cat "$VOL_DIR/nospc.err")"
	[ "$sum" = "$(md5sum <"$f")" ] || fail "ENOSPC: content changed"
	# a move planned with the volume full: refused up front
	R -e "move $f --to $((128 << 20))" "$VOL_MNT" >/dev/null 2>"$VOL_DIR/nospc2.err" && fail "ENOSPC: move onto used space worked"
	note "ENOSPC: full volume, move refused: $(cut -c1-160 "$VOL_DIR/nospc2.err")"
	[ "$sum" = "$(md5sum <"$f")" ] || fail "ENOSPC: content changed (2)"
	rm -f "$VOL_MNT"/filler*
	sync -f "$VOL_MNT"
	# the volume at ~99 % with exactly the target free: the plan passes,
	# the allocation (ext4: with its blockers) runs with no room to spare
	dd if=/dev/zero of="$VOL_MNT/hole" bs=1M count=6 conv=fsync status=none
	goal=$(filefrag -v -b1 "$VOL_MNT/hole" | awk '$1 == "0:" {gsub(/\.\./, " "); print $4; exit}')
	goal=$(( (goal + 65535) / 65536 * 65536 ))
	i=0
	while fallocate -l 64M "$VOL_MNT/filler$i" 2>/dev/null; do i=$((i + 1)); done
	dd if=/dev/zero of="$VOL_MNT/fillerz" bs=64K status=none 2>/dev/null
	rm -f "$VOL_MNT/hole"
	sync -f "$VOL_MNT"
	note "ENOSPC: $(df --output=pcent,avail "$VOL_MNT" | tail -1) free besides the target; move to $goal"
	R -e "move $f --to $goal --io-priority normal" "$VOL_MNT" >/dev/null 2>"$VOL_DIR/nospc3.err"
	rc=$?
	note "ENOSPC: move into the only free space: exit $rc $(cat "$VOL_DIR/nospc3.err")"
	[ "$sum" = "$(md5sum <"$f")" ] || fail "ENOSPC: content changed (3)"
	R -e log "$VOL_MNT" >/dev/null 2>&1 || fail "ENOSPC: log"
	rm -f "$VOL_MNT"/filler*
	sync -f "$VOL_MNT"
	sleep 0.5
	free1=$(free_bytes)
	note "ENOSPC: free before $free0, after $free1 (diff $((free1 - free0)))"
	[ $((free0 - free1)) -le $((64 * bs)) ] || fail "ENOSPC: $((free0 - free1)) bytes leaked"
	check_after "ENOSPC" "$prev"
	rm -f "$f"
}

# fault_mid_move NAME DO UNDO: DO during a slow move, UNDO after 1 s; the
# move must end (no hang) and the data be intact.
fault_mid_move() {
	local name=$1 do=$2 undo=$3 f=$VOL_MNT/fm_$1 goal pid rc sum t0 prev
	vol_mkfrag "$f" 16 256
	sum=$(md5sum <"$f")
	goal=$(goal_for $((4 << 20)))
	prev=$(last_id)
	"$RELAYOUT" -e "move $f --to $goal --rate 2 --io-priority normal" "$VOL_MNT" >/dev/null 2>"$VOL_DIR/fm.err" &
	pid=$!
	sleep 0.6
	eval "$do" 2>"$VOL_DIR/fm.do" || note "$name: '$do' failed: $(cat "$VOL_DIR/fm.do")"
	sleep 1
	eval "$undo"
	t0=$SECONDS
	timeout 60 tail --pid=$pid -f /dev/null || fail "$name: relayout hangs"
	wait $pid
	rc=$?
	note "$name: move exit $rc after $((SECONDS - t0))s: $(tr '\n' ' ' <"$VOL_DIR/fm.err")"
	[ "$sum" = "$(md5sum <"$f")" ] || fail "$name: content changed"
	check_after "$name" "$prev"
	rm -f "$f"
}

test_fs_state() {
	vol_at_exit "fsfreeze -u '$VOL_MNT' 2>/dev/null"
	fault_mid_move freeze "fsfreeze -f '$VOL_MNT'" "fsfreeze -u '$VOL_MNT'"
	fault_mid_move remount-ro "mount -o remount,ro '$VOL_MNT'" "mount -o remount,rw '$VOL_MNT' 2>/dev/null || true"
	# read-only before the move (mid-move the kernel refuses the remount
	# while the move holds the file open for writing: EBUSY)
	local f=$VOL_MNT/ro sum
	dd if=/dev/urandom of="$f" bs=1M count=2 conv=fsync status=none
	sum=$(md5sum <"$f")
	mount -o remount,ro "$VOL_MNT" || fail "remount,ro"
	R -e "move $f --to $(goal_for $((2 << 20)))" "$VOL_MNT" >/dev/null 2>"$VOL_DIR/ro.err" && fail "move on a read-only volume worked"
	note "read-only volume: $(cat "$VOL_DIR/ro.err")"
	mount -o remount,rw "$VOL_MNT" || fail "remount,rw"
	[ "$sum" = "$(md5sum <"$f")" ] || fail "read-only: content changed"
	rm -f "$f"
	fault_mid_move lazy-umount "umount -l '$VOL_MNT'" \
		"timeout 30 tail --pid=\$pid -f /dev/null; for _ in 1 2 3 4 5 6 7 8 9 10; do mount '$VOL_DEV' '$VOL_MNT' 2>/dev/null && break; sleep 0.5; done"
	vol_fsck
}

# Read-only remount between the steps of a multi-file plan. Mid-step the
# kernel refuses it (EBUSY: the step holds the file open for writing);
# between steps it may succeed. Then the next step stops the plan cleanly
# (EROFS): the transaction is journaled "stopped", the step that could not
# start left nothing behind, the earlier steps stay, data intact.
test_remount_between_steps() {
	local d=$VOL_MNT/rro n=${RL_FAULT_RO_FILES:-16} i jf js pid rc prev tries=0 ro=0 free0 free1 out st path
	declare -A EXT=()
	mkdir -p "$d"
	for ((i = 0; i < n; i++)); do
		vol_mkfrag "$d/f$i" 4 128
		SUMS[$d/f$i]=$(md5sum <"$d/f$i")
		EXT[$d/f$i]=$(extents_of "$d/f$i")
	done
	prev=$(last_id)
	free0=$(free_bytes)
	jf=$JDIR/$(jq -r .uuid <<<"$INFO").journal
	js=$(stat -c %s "$jf" 2>/dev/null || echo 0)
	"$RELAYOUT" -e "defrag --recursive --rate 4 --io-priority normal $d" "$VOL_MNT" >/dev/null 2>"$VOL_DIR/rro.err" &
	pid=$!
	# from the transaction's first journal record on
	while kill -0 $pid 2>/dev/null && [ "$(stat -c %s "$jf" 2>/dev/null || echo 0)" = "$js" ]; do
		sleep 0.01
	done
	# mount(2) in a tight loop: the window between steps is short
	tries=$(python3 - "$VOL_MNT" $pid <<'PY'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
MS_RDONLY, MS_REMOUNT = 1, 32
mnt, pid, tries = sys.argv[1].encode(), int(sys.argv[2]), 0
while True:
    try:
        with open("/proc/%d/stat" % pid) as f:
            if f.read().rsplit(") ", 1)[1][0] == "Z":
                break
    except OSError:
        break
    tries += 1
    if libc.mount(None, mnt, None, MS_REMOUNT | MS_RDONLY, None) == 0:
        print(tries, "ro")
        sys.exit(0)
print(tries)
PY
)
	case $tries in *ro) ro=1 tries=${tries% ro} ;; esac
	wait $pid
	rc=$?
	out=$(R --json -e log "$VOL_MNT" 2>/dev/null)
	st=$(jq -r "[.transactions[] | select(.id > $prev)][-1] | \"\(.status) \(.steps_done)/\(.steps)\"" <<<"$out")
	note "read-only remount during a $n-step defrag: $tries remount tries, $([ $ro = 1 ] && echo succeeded || echo 'never succeeded (EBUSY)'); relayout exit $rc, transaction $st: $(tr '\n' ' ' <"$VOL_DIR/rro.err" | cut -c1-300)"
	STATS[ro_remount_tries]=$tries
	for f in "${!SUMS[@]}"; do
		[ "${SUMS[$f]}" = "$(md5sum <"$f")" ] || fail "remount-ro: content of $f changed"
	done
	if [ $ro = 1 ]; then
		case $st in
		"stopped "*) ;;
		"applied "*) note "remount-ro: the remount came after the last step" ;;
		*) fail "remount-ro: transaction $st, expected stopped" ;;
		esac
		if [ "${st%% *}" = stopped ]; then
			[ $rc = 1 ] || fail "remount-ro: exit $rc"
			grep -q "transaction [0-9]* stopped: step [0-9]* of [0-9]* (.*read-only filesystem (EROFS.*nothing of this step was moved" "$VOL_DIR/rro.err" ||
				fail "remount-ro: no clear message: $(cat "$VOL_DIR/rro.err")"
			# the step that could not start: its file untouched
			path=$(sed -n 's/.* stopped: step [0-9]* of [0-9]* (\(.*\), range .*/\1/p' "$VOL_DIR/rro.err")
			[ -n "$path" ] && [ "${EXT[$path]}" = "$(extents_of "$path")" ] ||
				fail "remount-ro: the stopped step's file $path moved"
		fi
	fi
	mount -o remount,rw "$VOL_MNT" || fail "remount,rw"
	# the next start reports it
	R -e log "$VOL_MNT" 2>&1 | grep -q "stopped\|applied" || fail "remount-ro: log does not show the transaction"
	free1=$(free_bytes)
	[ $((free0 - free1)) -le $((64 * 4096)) ] || fail "remount-ro: $((free0 - free1)) bytes of free space lost"
	check_after "remount-ro" "$prev"
	vol_fsck
	for ((i = 0; i < n; i++)); do unset "SUMS[$d/f$i]"; done
	rm -rf "$d"
}

# Writers of every kind during a move.
test_writers() {
	local M=$VOL_MNT f goal pid wpid rc sum n
	# appender: O_APPEND records; the first 4 MiB must stay, every record
	f=$M/app
	vol_mkfrag "$f" 16 256
	sum=$(head -c 4M "$f" | md5sum)
	# a target away from the file's end, where the appends go
	goal=$(goal_for $((12 << 20)))
	[ -n "$goal" ] || fail "appender: no free target"
	goal=$((goal + (6 << 20)))
	(n=0; end=$((SECONDS + 3)); while [ $SECONDS -lt $end ]; do printf '%07d\n' $n >>"$f"; n=$((n + 1)); done; echo $n >"$VOL_DIR/app.n") &
	wpid=$!
	R -e "move $f --range 0:4M --to $goal --rate 4 --io-priority normal" "$M" >/dev/null 2>"$VOL_DIR/w.err"
	rc=$?
	wait $wpid
	n=$(cat "$VOL_DIR/app.n")
	[ "$sum" = "$(head -c 4M "$f" | md5sum)" ] || fail "appender: the first 4 MiB changed"
	[ "$(tail -c +$((4 * 1048576 + 1)) "$f" | md5sum)" = "$(for ((i = 0; i < n; i++)); do printf '%07d\n' $i; done | md5sum)" ] ||
		fail "appender: records lost ($n written, $(($(stat -c %s "$f") - 4194304)) bytes appended)"
	note "appender: $n records; move exit $rc $(cat "$VOL_DIR/w.err")"
	# truncater: shrink to 3 MiB and grow to 4 MiB in a loop
	f=$M/trunc
	vol_mkfrag "$f" 16 256
	goal=$(goal_for $((4 << 20)))
	sum=$( (head -c 3M "$f"; head -c 1M /dev/zero) | md5sum)
	(end=$((SECONDS + 3)); n=0; while [ $SECONDS -lt $end ]; do truncate -s 3M "$f"; truncate -s 4M "$f"; n=$((n + 1)); done; echo $n >"$VOL_DIR/tr.n") &
	wpid=$!
	timeout 60 "$RELAYOUT" -e "move $f --to $goal --rate 4 --io-priority normal" "$M" >/dev/null 2>"$VOL_DIR/w.err"
	rc=$?
	wait $wpid
	[ $rc != 124 ] || fail "truncater: relayout hangs"
	[ "$sum" = "$(md5sum <"$f")" ] || fail "truncater: content differs"
	note "truncater: $(cat "$VOL_DIR/tr.n") cycles; move exit $rc $(cat "$VOL_DIR/w.err")"
	# flock and POSIX lock holders: advisory, the move goes on
	for lk in flock posix lease; do
		f=$M/lk_$lk
		vol_mkfrag "$f" 8 256
		sum=$(md5sum <"$f")
		goal=$(goal_for $((2 << 20)))
		python3 - "$f" "$lk" "$VOL_DIR/lk.ready" <<'EOF' &
import fcntl, os, signal, sys, time
path, kind, ready = sys.argv[1:]
broken = []
def on_io(sig, frm):
    broken.append(time.time())
    fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
if kind == "lease":
    fd = os.open(path, os.O_RDONLY)
    signal.signal(signal.SIGIO, on_io)
    fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
elif kind == "flock":
    fd = os.open(path, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
else:
    fd = os.open(path, os.O_RDWR)
    fcntl.lockf(fd, fcntl.LOCK_EX)
open(ready, "w").close()
time.sleep(3)
print("lease broken" if broken else "", file=sys.stderr)
EOF
		wpid=$!
		while [ ! -e "$VOL_DIR/lk.ready" ]; do sleep 0.05; done
		rm -f "$VOL_DIR/lk.ready"
		local t0=$SECONDS
		timeout 60 "$RELAYOUT" -e "move $f --to $goal --io-priority normal" "$M" >/dev/null 2>"$VOL_DIR/w.err"
		rc=$?
		[ $rc != 124 ] || fail "$lk holder: relayout hangs"
		wait $wpid
		[ "$sum" = "$(md5sum <"$f")" ] || fail "$lk holder: content changed"
		note "$lk holder: move exit $rc in $((SECONDS - t0))s $(cat "$VOL_DIR/w.err")"
	done
	# a second relayout while one moves: refused with a message
	f=$M/slow
	vol_mkfrag "$f" 16 256
	goal=$(goal_for $((4 << 20)))
	"$RELAYOUT" -e "move $f --to $goal --rate 2 --io-priority normal" "$M" >/dev/null 2>"$VOL_DIR/slow.err" &
	pid=$!
	sleep 0.5
	R -e "move $M/lk_flock --to $(goal_for $((2 << 20)))" "$M" >/dev/null 2>"$VOL_DIR/w.err" && fail "a second mover got the lock"
	grep -q "volume busy: relayout pid $pid (relayout -e .move $f " "$VOL_DIR/w.err" || fail "no lock message: $(cat "$VOL_DIR/w.err")"
	R -e log "$M" >/dev/null 2>&1 || fail "log while another relayout works"
	wait $pid || fail "the slow move failed: $(cat "$VOL_DIR/slow.err")"
	rm -f "$M"/app "$M"/trunc "$M"/lk_* "$M"/slow
}

SEED_BASE=0
for kind in $KINDS; do
	STATS=()
	vol_create "$kind" 512
	M=$VOL_MNT
	JDIR=$VOL_DIR/journal
	export RELAYOUT_JOURNAL_DIR=$JDIR RELAYOUT_STATE_DIR=$VOL_DIR/state
	INFO=$(R --json -e info "$M")
	if [ "$kind" = ext4 ]; then
		gsz=$(jq -r .group_size <<<"$INFO")
		low=$(R --json -e "free 0 $((2 * gsz))" "$M" | jq -r '[.extents[].length] | add')
		fallocate -l $((low - 65536)) "$M/low-groups" || fail "filler"
	fi
	# the deterministic population (checked by vol_verify after every
	# fault) in its own directory: XFS placement fails (EINVAL) when
	# rl_populate's files share the goal's AG (reported to placement)
	dd if=/dev/urandom of="$M/anchor" bs=64K count=1 conv=fsync status=none
	ANCHOR_END=$(filefrag -v -b1 "$M/anchor" | awk '$1 == "0:" {gsub(/\.\./, " "); print $4 + 65536; exit}')
	mkdir "$M/pop"
	VOL_MANIFEST=$VOL_DIR/manifest
	"$RL_POPULATE" -m "$VOL_MANIFEST" "$M/pop" 7 0.25 || fail "populate"
	vol_verify() { "$RL_POPULATE" --verify "$VOL_MNT/pop" "$VOL_MANIFEST" || fail "contents of $VOL_FS differ from the manifest"; }
	T0=$SECONDS
	[ -z "${RL_FAULT_ONLY:-}" ] || [ "$RL_FAULT_ONLY" = signals ] && test_signals
	note "signals: ${NSEEDS} seeds in $((SECONDS - T0))s: $(for k in "${!STATS[@]}"; do printf '%s=%s ' "$k" "${STATS[$k]}"; done)"
	[ -z "${RL_FAULT_ONLY:-}" ] || [ "$RL_FAULT_ONLY" = enospc ] && test_enospc
	[ -z "${RL_FAULT_ONLY:-}" ] || [ "$RL_FAULT_ONLY" = state ] && test_fs_state
	[ -z "${RL_FAULT_ONLY:-}" ] || [ "$RL_FAULT_ONLY" = remount ] && test_remount_between_steps
	[ -z "${RL_FAULT_ONLY:-}" ] || [ "$RL_FAULT_ONLY" = writers ] && test_writers
	[ -z "${RL_FAULT_ONLY:-}" ] || [ "$RL_FAULT_ONLY" = compact ] && test_kill_compact
	vol_fsck
	SEED_BASE=$((SEED_BASE + NSEEDS))
	vol_destroy
done
[ $fails = 0 ] || { echo "$fails failure(s)" >&2; exit 1; }
echo "faults: all checks passed ($KINDS)"
