#!/bin/bash
# Exact placement (allocate --fixed-start, place) on ext4, XFS with and
# without reflink, btrfs (must refuse). Checks: exact at start,
# middle and end of a group/AG, crossing a boundary (refused: ext4 groups
# and XFS AGs start with metadata here, -ENOSPC), unaligned goal
# (usage error), used space (-ENOSPC, nothing left allocated), tunables
# restored afterwards and after SIGKILL of a run mid-placement.
# The realistic path: on volumes filled by vol_populate, random free
# targets (1 block .. 4 MiB, inside one free extent and one group/AG) must
# land exactly (checked with filefrag -v, not our FIEMAP code) or fail
# with nothing allocated, >= 90 % exact; place FILE GOAL end to end
# (checksum, filefrag, vol_verify, fsck; XFS without reflink cannot move
# data: place must refuse up front and leave the file alone).
. "$top_srcdir/tests/lib/volume.sh"
vol_require_root
# the next run must be the one that restores the tunables a SIGKILL left
vol_private_run_dir "$@"
command -v jq >/dev/null || vol_skip "jq not installed"

STATE=$(mktemp -d "${TMPDIR:-/tmp}/relayout-state.XXXXXX")
# where a placement saves the ext4 tunables of the volume's device while
# it runs (one place, /run/relayout, whatever the environment)
tunables_journal() { echo "/run/relayout/ext4-tunables.$(basename "$(readlink -f "$VOL_DEV")")"; }
trap 'rm -rf "$STATE" "$STATE.out" "$STATE.script"; vol_destroy' EXIT
R=$RELAYOUT

# free extents of the volume as "start length" lines (bytes): GETFSMAP
frees() { "$top_builddir/tests/tools/rl_place_bench" -F "$VOL_MNT"; }

# alloc FILE GOAL LEN -> prints physical on success, returns rc
alloc() {
	"$R" --json -e "allocate --fixed-start --fixed-len --contiguous $1 0 $2 $3" \
		"$VOL_MNT" 2>/dev/null | jq -r 'select(.exact == true) | .physical'
}

blocks_of() { stat -c %b "$1" 2>/dev/null || echo 0; }

check_fs() {
	local kind=$1 bs=4096 gsz first last mid
	vol_create "$kind" 512
	python3 "$top_srcdir/bench/fragment.py" "$VOL_MNT" 1500 3 || vol_fail frag
	gsz=$("$R" --json -e info "$VOL_MNT" | jq -r .group_size)
	mapfile -t F < <(frees)
	[ ${#F[@]} -gt 4 ] || { fail "$kind: no free map"; return; }

	# start / middle / end of some free extents (within one group)
	local n=0 tried=0
	for e in "${F[@]}"; do
		read -r s l <<<"$e"
		[ "$l" -ge $((4 * bs)) ] || continue
		[ $((s / gsz)) -ge 1 ] || [ $tried -lt 3 ] || continue
		for g in $s $((s + (l / bs / 2) * bs)) $((s + l - bs)); do
			[ $(((g / gsz))) = $(((g + bs - 1) / gsz)) ] || continue
			tried=$((tried + 1))
			p=$(alloc "$VOL_MNT/t$n" "$g" $bs)
			[ "$p" = "$g" ] || fail "$kind: 1 block at $g (group $((g / gsz))) landed at '${p:-error}'"
			rm -f "$VOL_MNT/t$n"
			n=$((n + 1))
		done
		[ $tried -ge 9 ] && break
	done
	# a free extent at the start of a group, if any
	for e in "${F[@]}"; do
		read -r s l <<<"$e"
		if [ $((s % gsz)) -lt $((64 * bs)) ] && [ "$l" -ge $bs ]; then
			p=$(alloc "$VOL_MNT/gs" "$s" $bs)
			[ "$p" = "$s" ] || fail "$kind: group-start $s landed at '${p:-error}'"
			rm -f "$VOL_MNT/gs"
			break
		fi
	done
	# crossing a group/AG boundary: ext4 places it piecewise when both
	# sides are free; XFS AGs begin with their headers (-ENOSPC). Either
	# exact or nothing allocated.
	for k in 2 4 6; do
		b=$((gsz * k - 2 * bs))
		p=$(alloc "$VOL_MNT/x$k" $b $((4 * bs)))
		if [ -n "$p" ]; then
			[ "$p" = "$b" ] || fail "$kind: crossing at $b landed at $p"
			echo "$kind: crossing group boundary $((gsz * k)): placed exactly"
		else
			[ "$(blocks_of "$VOL_MNT/x$k")" = 0 ] || fail "$kind: blocks left after refused crossing"
			echo "$kind: crossing group boundary $((gsz * k)): refused"
		fi
		rm -f "$VOL_MNT/x$k"
	done
	# unaligned goal: usage error (2)
	"$R" -e "allocate --fixed-start $VOL_MNT/u 0 $((${F[0]%% *} + 512)) 4096" "$VOL_MNT" 2>/dev/null
	[ $? = 2 ] || fail "$kind: unaligned goal not refused with a usage error"
	# goal in used space / metadata: ENOSPC, nothing allocated
	out=$("$R" -e "allocate --fixed-start $VOL_MNT/m 0 0 4096" "$VOL_MNT" 2>&1) &&
		fail "$kind: goal 0 (superblock) succeeded"
	echo "$out" | grep -q "No space left" || fail "$kind: goal 0: '$out'"
	[ "$(blocks_of "$VOL_MNT/m")" = 0 ] || fail "$kind: blocks left after ENOSPC"
	[ ! -e "$(tunables_journal)" ] || fail "$kind: tunables journal left: $(tunables_journal)"

	# place FILE GOAL, only where movedata works in this build
	head -c 40000 /dev/urandom >"$VOL_MNT/pf"
	sync -f "$VOL_MNT"
	sum=$(md5sum <"$VOL_MNT/pf")
	mapfile -t F < <(frees)
	for e in "${F[@]}"; do
		read -r s l <<<"$e"
		[ "$l" -ge $((16 * bs)) ] && [ $((s / gsz)) -ge 2 ] &&
			[ $((s / gsz)) = $(((s + 10 * bs) / gsz)) ] && break
	done
	out=$("$R" -e "place $VOL_MNT/pf $s" "$VOL_MNT" 2>&1)
	if echo "$out" | grep -q "moving the data failed: operation not supported"; then
		echo "note: $kind: movedata not available in this build: place not tested end to end"
	elif echo "$out" | grep -q "cannot move data on .* without reflink"; then
		[ "$kind" = xfs-noreflink ] || fail "$kind: place refused: $out"
		[ "$(md5sum <"$VOL_MNT/pf")" = "$sum" ] || fail "$kind: refused place changed the data"
	elif echo "$out" | grep -q "now start exactly at"; then
		[ "$(md5sum <"$VOL_MNT/pf")" = "$sum" ] || fail "$kind: place changed the data"
	elif echo "$out" | grep -q "cannot allocate"; then
		# a clean refusal is allowed; the file must be untouched
		[ "$(md5sum <"$VOL_MNT/pf")" = "$sum" ] || fail "$kind: failed place changed the data"
		echo "note: $kind: place at $s refused: $out"
	else
		fail "$kind: place: $out"
	fi
	check_stop "$kind"
	vol_fsck
	vol_destroy
}

# check_stop KIND: a stop asked for (rl_place_opts.stop) ends placements
# with -EINTR, at once or in the middle (the callback says stop from its
# first, third, sixth question on), and a stopped placement keeps nothing
# (rl_place_bench counts a failed placement that left blocks allocated as
# wrong, and blocks missing afterwards as leaked)
check_stop() {
	local S out st
	for S in 0 2 5; do
		out=$("$top_builddir/tests/tools/rl_place_bench" -n 12 -s 5 -S $S \
			-d "$STATE" "$VOL_MNT") || fail "$1: stop after $S: $out"
		st=$(sed -n 's/.* stopped \([0-9]*\) .*/\1/p' <<<"$out")
		grep -q " wrong 0 leaked_blocks 0 " <<<"$out" ||
			fail "$1: a stopped placement kept blocks: $out"
		if [ "$S" = 0 ]; then
			[ "$st" = 12 ] || fail "$1: stop at once: $out"
		fi
		[ -n "$st" ] || fail "$1: no count of stopped placements: $out"
	done
	echo "note: $1: placements stop when asked: $(sed 's/.*exact/exact/; s/ mean.*//' <<<"$out")"
}

for kind in ext4 xfs xfs-noreflink; do
	check_fs $kind
done

# --- realistic path: populated volumes (vol_populate), random free targets

# ff_exact FILE GOAL LEN: does filefrag -v (not our FIEMAP code) show FILE
# as one physically contiguous run of LEN bytes from logical 0 at GOAL?
ff_exact() {
	filefrag -s -v "$1" 2>/dev/null | awk -v g="$2" -v len="$3" '
		BEGIN { nextl = 0 }
		/ blocks? of [0-9]+ bytes/ {
			for (i = 1; i < NF; i++) if ($i ~ /^blocks?$/) bs = $(i + 2)
		}
		$1 ~ /^[0-9]+:$/ {
			gsub(/\.\./, " "); gsub(/:/, " ")
			# now: ext lstart lend pstart pend len [flags]
			if ($2 != nextl || (cnt && $4 != nextp)) bad = 1
			if (!cnt) first = $4
			nextl = $3 + 1; nextp = $5 + 1; cnt++
		}
		END { exit !(bs && cnt && !bad && first * bs == g && nextl * bs == len) }'
}

free_total() { "$R" --json -e free "$VOL_MNT" | jq '[.extents[].length] | add'; }
# free_is TOTAL: the free space comes back to TOTAL within 10 s (XFS frees
# the blocks of unlinked files in the background; syncfs does not wait)
free_is() {
	for _ in $(seq 100); do
		[ "$(free_total)" = "$1" ] && return 0
		sync -f "$VOL_MNT"
		sleep 0.1
	done
	return 1
}

# targets in the first free extent of each AG, as "goal len" lines: one
# block and 64 KiB (if it is that long) at its start, 64 KiB 4 blocks in
ag_first_targets() { # GSZ
	frees | awk -v gsz="$1" -v bs=4096 '{
		a = int($1 / gsz)
		if (a in seen) next
		seen[a] = 1
		print $1, bs
		if ($2 >= 65536) print $1, 65536
		if ($2 >= 20 * bs) print $1 + 4 * bs, 65536
	}'
}

# one random target inside one free extent and one group: "goal len"
draw_target() { # SEED-NUMBER BS GSZ
	"$R" --json -e free "$VOL_MNT" | jq -r '.extents[] | "\(.start) \(.length)"' |
		awk -v seed="$1" -v bs="$2" -v gsz="$3" -v max=$((4 << 20)) '
		{ s[NR] = $1; l[NR] = $2 }
		END {
			srand(seed)
			for (t = 0; t < 100; t++) {
				i = 1 + int(rand() * NR)
				nb = int(exp(rand() * log(max / bs + 1)))
				if (nb < 1) nb = 1
				a = s[i]; e = s[i] + l[i]
				ge = (int(a / gsz) + 1) * gsz
				if (e > ge) e = ge
				avail = int((e - a) / bs)
				if (avail < 1) continue
				if (nb > avail) nb = avail
				off = int(rand() * (avail - nb + 1))
				printf "%d %d\n", a + off * bs, nb * bs
				exit
			}
		}'
}

check_populated() {
	local kind=$1 n=${PLACE_N:-20} bs=4096 gsz exact=0 failed=0 i
	vol_create "$kind" 320
	vol_populate 3
	gsz=$("$R" --json -e info "$VOL_MNT" | jq -r .group_size)
	for ((i = 0; i < n; i++)); do
		read -r g len < <(draw_target $((1000 + i)) $bs "$gsz")
		[ -n "$g" ] || { fail "$kind: no target drawn"; break; }
		f=$VOL_MNT/rt$i
		: >"$f"
		before=$(free_total)
		if "$R" --json -e "allocate --fixed-start --contiguous --fixed-len $f 0 $g $len" \
			"$VOL_MNT" >"$STATE.out" 2>&1; then
			if ff_exact "$f" "$g" "$len"; then
				exact=$((exact + 1))
			else
				fail "$kind: success reported for $len at $g, filefrag: $(filefrag -v "$f" | tail -n +4)"
			fi
		else
			failed=$((failed + 1))
			echo "note: $kind: $len at $g (group $((g / gsz))): $(grep -o '"error":"[^"]*' "$STATE.out" | cut -d'"' -f4 | sed 's/.*: //')"
			[ "$(blocks_of "$f")" = 0 ] || fail "$kind: failed $len at $g left blocks in the file"
			sync -f "$VOL_MNT"
			# nothing may stay allocated; on ext4 free space can grow
			# (mballoc preallocations of earlier writers discarded)
			[ "$kind" = ext4 ] || free_is "$before"
			after=$(free_total)
			if [ "$after" -lt "$before" ] ||
				{ [ "$after" != "$before" ] && [ "$kind" != ext4 ]; }; then
				fail "$kind: failed $len at $g: free space $before -> $after"
			fi
		fi
	done
	echo "$kind populated: $exact/$n exact, $failed failed cleanly"
	[ $((exact * 100)) -ge $((n * 90)) ] || fail "$kind: only $exact/$n exact (want >= 90 %)"

	# place FILE GOAL end to end: a populated file of 64 KiB .. 3 MiB to
	# the start of a free extent (inside one group) that holds it
	src=$(find "$VOL_MNT/frag" "$VOL_MNT/churn" -type f -size +64k -size -3M 2>/dev/null | head -1)
	size=$(stat -c %s "$src")
	need=$(((size + bs - 1) / bs * bs))
	g=$("$R" --json -e free "$VOL_MNT" | jq -r --argjson need "$need" --argjson gsz "$gsz" \
		'[.extents[] | select(.length >= $need and ((.start / $gsz) | floor) == (((.start + $need - 1) / $gsz) | floor))] | .[length / 2 | floor].start')
	sum=$(md5sum <"$src")
	if [ "$kind" = xfs-noreflink ]; then
		# no movedata without reflink: refused before anything happens
		out=$("$R" -e "place $src $g" "$VOL_MNT" 2>&1) && fail "$kind: place succeeded"
		echo "$out" | grep -q "cannot move data on .* without reflink" || fail "$kind: place: '$out'"
		[ "$(md5sum <"$src")" = "$sum" ] || fail "$kind: refused place changed $src"
	elif out=$("$R" -e "place $src $g" "$VOL_MNT" 2>&1); then
		[ "$(md5sum <"$src")" = "$sum" ] || fail "$kind: place changed the data of $src"
		ff_exact "$src" "$g" "$need" || fail "$kind: place $src $g: filefrag: $(filefrag -v "$src" | tail -n +4)"
		echo "$kind: place $src ($size bytes) at $g: exact"
	else
		fail "$kind: place $src $g: $out"
	fi
	vol_verify
	vol_fsck
	vol_destroy
}

for kind in ext4 xfs xfs-noreflink; do
	check_populated $kind
done

# XFS with reflink, goals with no file block below them in their AG (the
# clone anchor's place): on a fresh volume the first free blocks of every
# AG, right after its headers (or the log). One block and 64 KiB at the
# first free block, 64 KiB a few blocks further, into an empty donor and
# into one holding data (at an offset): exact (filefrag), written zeros,
# the donor's data untouched; nothing left behind.
vol_create xfs 512
gsz=$("$R" --json -e info "$VOL_MNT" | jq -r .group_size)
head -c 8192 /dev/urandom >"$VOL_MNT/data"
sync -f "$VOL_MNT"
dsum=$(md5sum <"$VOL_MNT/data")
total0=$(free_total)
mapfile -t targets < <(ag_first_targets "$gsz")
nag=$(printf '%s\n' "${targets[@]}" | awk -v gsz="$gsz" '{ print int($1 / gsz) }' | sort -u | wc -l)
[ "$nag" -ge 4 ] || fail "xfs: free space in only $nag AGs"
nt=0
for t in "${targets[@]}"; do
	read -r g len <<<"$t"
	for donor in empty data; do
		f=$VOL_MNT/ag$nt off=0
		nt=$((nt + 1))
		if [ $donor = data ]; then
			cp "$VOL_MNT/data" "$f"
			off=$((1 << 20))
		fi
		if out=$("$R" --json -e "allocate --fixed-start --fixed-len --contiguous $f $off $g $len" "$VOL_MNT" 2>&1); then
			vol_extents "$f" merge | grep -qx "$off $g $len" ||
				fail "xfs: $len at $g (AG $((g / gsz)), $donor donor) reported, filefrag: $(filefrag -v -b1 "$f" | tail -n +4)"
			# an empty donor gets the target swapped in (unwritten),
			# one with data a clone (written, zero-filled)
			[ $donor = empty ] || ! filefrag -v -b1 "$f" | grep -E "^ *[0-9]+: +$off\.\." | grep -q unwritten ||
				fail "xfs: $len at $g: blocks of a clone unwritten"
			cmp -s -n "$len" -i "$off:0" "$f" /dev/zero || fail "xfs: $len at $g: not zeros"
			[ $donor = empty ] || [ "$(head -c 8192 "$f" | md5sum)" = "$dsum" ] ||
				fail "xfs: $len at $g changed the donor's data"
		else
			fail "xfs: $len at $g (AG $((g / gsz)), first free blocks, $donor donor): $out"
			[ "$(blocks_of "$f")" = "$(blocks_of "$VOL_MNT/data")" ] || [ $donor = empty ] ||
				fail "xfs: blocks left at $g"
			[ $donor = data ] || [ "$(blocks_of "$f")" = 0 ] || fail "xfs: blocks left at $g"
		fi
		rm -f "$f"
	done
done
echo "xfs: $nt placements at the first free blocks of the AGs"
sync -f "$VOL_MNT"
free_is "$total0" || fail "xfs: free space $total0 -> $(free_total)"
ls -A "$VOL_MNT" | grep -q relayout && fail "xfs: left $(ls -A "$VOL_MNT")"
vol_fsck
vol_destroy

# XFS, larger targets near the start of AGs that hold no
# inodes: no file block below them to clone, and the staging inodes' first
# inode chunk goes among the first free blocks of the AG (each later chunk
# right after it). 1 MiB and 8 MiB at AG start + 64 KiB and + 1 MiB in
# every AG of a fresh volume, then again after data was written (into
# other AGs): each target free in the free map must land exactly
# (filefrag), reading zeros; on failure nothing stays allocated. Without
# reflink the staging inode stays in the AG until the swap, so a target
# holding its new inode chunk must be refused as not supported.
is_free() { # GOAL LEN
	frees | awk -v g="$1" -v n="$2" '$1 <= g && g + n <= $1 + $2 { f = 1 } END { exit !f }'
}
empty_ag_targets() { # KIND LABEL MIN: at least MIN targets must be free
	local kind=$1 label="$1 ($2)" min=$3 gsz nag ag off len g f=$VOL_MNT/e out n=0
	gsz=$("$R" --json -e info "$VOL_MNT" | jq -r .group_size)
	nag=$("$R" --json -e info "$VOL_MNT" | jq -r .group_count)
	for ((ag = 1; ag < nag; ag++)); do
		for off in 65536 $((1 << 20)); do
			for len in $((1 << 20)) $((8 << 20)); do
				g=$((ag * gsz + off))
				is_free "$g" "$len" || continue
				n=$((n + 1))
				: >"$f"
				if out=$("$R" -e "allocate --fixed-start --fixed-len --contiguous $f 0 $g $len" "$VOL_MNT" 2>&1); then
					vol_extents "$f" merge | grep -qx "0 $g $len" ||
						fail "$label: $len at $g (AG $ag) reported, filefrag: $(filefrag -v -b1 "$f" | tail -n +4)"
					cmp -s -n "$len" "$f" /dev/zero || fail "$label: $len at $g: not zeros"
				else
					if [ "$kind" = xfs-noreflink ] && echo "$out" | grep -q "not supported"; then
						echo "note: $label: $len at $g (AG $ag + $off) refused: not supported"
					else
						fail "$label: $len at $g (AG $ag + $off): $out"
					fi
					[ "$(blocks_of "$f")" = 0 ] || fail "$label: blocks left at $g"
				fi
				rm -f "$f"
				sync -f "$VOL_MNT"
			done
		done
	done
	echo "$label: $n targets near AG starts"
	[ "$n" -ge "$min" ] || fail "$label: only $n free targets (want $min)"
}
for kind in xfs xfs-noreflink; do
	vol_create $kind 512
	total0=$(free_total)
	empty_ag_targets $kind fresh 4
	sync -f "$VOL_MNT"
	free_is "$total0" || fail "$kind: free space $total0 -> $(free_total)"
	mkdir "$VOL_MNT/big"
	for i in 0 1; do vol_mkfrag "$VOL_MNT/big/f$i" 48 1024; done
	vol_remount # the fill files freed
	total1=$(free_total)
	# where XFS puts the data varies (3-4 AGs stay free near their start)
	empty_ag_targets $kind "after data" 2
	sync -f "$VOL_MNT"
	free_is "$total1" || fail "$kind: free space $total1 -> $(free_total)"
	ls -A "$VOL_MNT" | grep -q relayout && fail "$kind: left $(ls -A "$VOL_MNT")"
	vol_fsck
	vol_destroy
done

# ext4 tunables: read back after a run, refused with --no-tunables, and
# restored at the next start after a SIGKILL mid-placement.
vol_create ext4 512
python3 "$top_srcdir/bench/fragment.py" "$VOL_MNT" 1500 4
dev=$(basename "$VOL_DEV")
orig=$(cat /sys/fs/ext4/$dev/mb_order2_req)
mapfile -t F < <(frees)
read -r s l <<<"${F[${#F[@]} / 2]}"
"$R" -e "allocate --fixed-start $VOL_MNT/a 0 $s 4096" "$VOL_MNT" >/dev/null 2>&1
[ "$(cat /sys/fs/ext4/$dev/mb_order2_req)" = "$orig" ] || fail "tunable not restored"
# a target in group 0 (first of its flex group) changes the scan tunables too
tn="mb_order2_req mb_min_to_scan mb_max_to_scan mb_max_linear_groups"
origs=$(for t in $tn; do cat /sys/fs/ext4/$dev/$t; done)
read -r s0 l0 <<<"${F[1]}"
"$R" -e "allocate --fixed-start $VOL_MNT/a0 0 $s0 4096" "$VOL_MNT" >/dev/null 2>&1
[ "$(for t in $tn; do cat /sys/fs/ext4/$dev/$t; done)" = "$origs" ] ||
	fail "group-0 tunables not restored"
out=$("$R" -e "allocate --no-tunables --fixed-start $VOL_MNT/b 0 $((s + 4096)) 4096" "$VOL_MNT" 2>&1) &&
	fail "--no-tunables placement on ext4 succeeded"
echo "$out" | grep -q "not supported" || fail "--no-tunables: '$out'"
# SIGKILL: many 1-block placements in a loop; kill while the journal exists
(
	i=0
	for e in "${F[@]}"; do
		read -r s l <<<"$e"
		echo "allocate --fixed-start $VOL_MNT/k$i 0 $s 4096"
		i=$((i + 1))
	done
) >"$STATE.script"
"$R" -k -x "$STATE.script" "$VOL_MNT" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 400); do
	[ -e "$(tunables_journal)" ] && break
	sleep 0.01
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
rm -f "$STATE.script"
if [ -e "$(tunables_journal)" ]; then
	[ "$(cat /sys/fs/ext4/$dev/mb_order2_req)" != "$orig" ] ||
		echo "note: killed between journal and change (still valid)"
	out=$("$R" -e echo "$VOL_MNT" 2>&1)
	echo "$out" | grep -q "restored /sys/fs/ext4/$dev/mb_order2_req to $orig" ||
		fail "next start did not report the restore: '$out'"
	[ "$(cat /sys/fs/ext4/$dev/mb_order2_req)" = "$orig" ] || fail "not restored after SIGKILL"
	[ ! -e "$(tunables_journal)" ] || fail "journal kept after recovery"
else
	echo "note: the run finished before it could be killed" >&2
fi
vol_destroy

# XFS without reflink: the staged target is swapped (XFS_IOC_SWAPEXT) into
# a donor that holds no blocks. Donor offsets (collapse and insert paths),
# a donor larger than the range, the lowest free block of each AG (the
# anchor is the target itself), donors with blocks or opened without
# read access refused; nothing left allocated, the private directory gone
# (also one left behind by a crash).
vol_create xfs-noreflink 512
python3 "$top_srcdir/bench/fragment.py" "$VOL_MNT" 1500 4
gsz=$("$R" --json -e info "$VOL_MNT" | jq -r .group_size)
sync -f "$VOL_MNT"
total0=$(free_total)
mapfile -t targets < <(ag_first_targets "$gsz")
i=0
for off in 0 $((3 << 20)) $((2 << 30)); do
	for t in "${targets[@]}"; do
		read -r g len <<<"$t"
		f=$VOL_MNT/nr$i
		: >"$f"
		[ "$off" = $((3 << 20)) ] && truncate -s $((8 << 20)) "$f"
		size0=$(stat -c %s "$f")
		if out=$("$R" --json -e "allocate --fixed-start --fixed-len --contiguous $f $off $g $len" "$VOL_MNT" 2>&1); then
			filefrag -v -b1 "$f" | grep -Eq "^ *0: +$off\.\. *$((off + len - 1)): +$g\.\. *$((g + len - 1)):" ||
				fail "xfs-noreflink: $len at $g (offset $off) reported, filefrag: $(filefrag -v -b1 "$f" | tail -n +4)"
			want=$((off + len > size0 ? off + len : size0))
			[ "$(stat -c %s "$f")" = $want ] || fail "xfs-noreflink: size $(stat -c %s "$f") after $len at $off, want $want"
			rm -f "$f"
		else
			echo "note: xfs-noreflink: $len at $g (AG $((g / gsz)), offset $off) refused: $out"
			[ "$(blocks_of "$f")" = 0 ] || fail "xfs-noreflink: blocks left at $g"
			[ "$(stat -c %s "$f")" = "$size0" ] || fail "xfs-noreflink: size changed after a refusal at $g"
		fi
		i=$((i + 1))
	done
done
read -r g len <<<"${targets[0]}" # AG 0: the mount root's
# a donor holding blocks: refused, untouched
head -c 8192 /dev/urandom >"$VOL_MNT/held"
sync -f "$VOL_MNT"
before=$(filefrag -v -b1 "$VOL_MNT/held" | tail -n +4)
out=$("$R" -e "allocate --fixed-start $VOL_MNT/held 1M $g 4096" "$VOL_MNT" 2>&1) &&
	fail "xfs-noreflink: donor with blocks accepted"
echo "$out" | grep -q "not supported" || fail "xfs-noreflink: donor with blocks: '$out'"
[ "$before" = "$(filefrag -v -b1 "$VOL_MNT/held" | tail -n +4)" ] || fail "xfs-noreflink: refused donor changed"
rm -f "$VOL_MNT/held"
# a crash leaves the private directory: the next placement removes it
# (pid 2^22+1 cannot run: pid_max is at most 2^22)
mkdir -p "$VOL_MNT/.relayout-place/d.4194305.1"
chmod 700 "$VOL_MNT/.relayout-place"
: >"$VOL_MNT/.relayout-place/d.4194305.1/stage"
: >"$VOL_MNT/c"
"$R" -e "allocate --fixed-start $VOL_MNT/c 0 $g 4096" "$VOL_MNT" >/dev/null 2>&1 ||
	fail "xfs-noreflink: placement after a crash failed"
[ -e "$VOL_MNT/.relayout-place" ] && fail "xfs-noreflink: private directory left: $(ls -laR "$VOL_MNT/.relayout-place")"
rm -f "$VOL_MNT/c"
# other filestream users in every AG (their streams hold the AGs for 30 s):
# our filestream anchor goes elsewhere, the plain anchors (next to the
# staging inode, often above the goal) take over: goals above them, or
# below them with free space in between. Exact or refused cleanly.
for k in $(seq 8); do
	mkdir "$VOL_MNT/fs$k"
	xfs_io -c "chattr +S" "$VOL_MNT/fs$k"
	xfs_io -f -c "falloc 0 4k" "$VOL_MNT/fs$k/f"
done
mapfile -t F < <(frees)
nt=0 nx=0
for ((j = 0; j < ${#F[@]}; j += ${#F[@]} / 12 + 1)); do
	read -r s l <<<"${F[j]}"
	for g in $s $((s + l - 4096)); do
		f=$VOL_MNT/fst
		: >"$f"
		before=$(free_total)
		nt=$((nt + 1))
		if "$R" -e "allocate --fixed-start --fixed-len --contiguous $f 0 $g 4096" "$VOL_MNT" >/dev/null 2>&1; then
			ff_exact "$f" "$g" 4096 || fail "xfs-noreflink (streams): success at $g, filefrag: $(filefrag -v "$f" | tail -n +4)"
			nx=$((nx + 1))
		else
			[ "$(blocks_of "$f")" = 0 ] || fail "xfs-noreflink (streams): blocks left at $g"
			sync -f "$VOL_MNT"
			free_is "$before" || fail "xfs-noreflink (streams): free space $before -> $(free_total) at $g"
		fi
		rm -f "$f"
	done
done
echo "xfs-noreflink with foreign filestreams: $nx/$nt exact"
rm -rf "$VOL_MNT"/fs[0-9]*
# used space: ENOSPC
out=$("$R" -e "allocate --fixed-start $VOL_MNT/m 0 0 4096" "$VOL_MNT" 2>&1) &&
	fail "xfs-noreflink: goal 0 succeeded"
echo "$out" | grep -q "No space left" || fail "xfs-noreflink: goal 0: '$out'"
sync -f "$VOL_MNT"
rm -f "$VOL_MNT"/nr* "$VOL_MNT/m"
sync -f "$VOL_MNT"
free_is "$total0" || fail "xfs-noreflink: free space $total0 -> $(free_total)"
ls -A "$VOL_MNT" | grep -q relayout && fail "xfs-noreflink: left $(ls -A "$VOL_MNT")"
vol_fsck
vol_destroy

# one_group_moves WHAT "FILE GOAL"...: each move of f or g lands exactly
# at GOAL, in one extent; their content unchanged
one_group_moves() {
	local what=$1 t name goal out first sum
	shift
	sum=$(md5sum <"$VOL_MNT/f")$(md5sum <"$VOL_MNT/g")
	for t in "$@"; do
		read -r name goal <<<"$t"
		out=$("$R" -e "move $VOL_MNT/$name --to $goal" "$VOL_MNT" 2>&1) ||
			fail "$what: move $name --to $goal: $(tail -1 <<<"$out")"
		first=$(filefrag -v "$VOL_MNT/$name" | awk '$1 == "0:" { sub(/\.\..*/, "", $4); print $4 }')
		[ "$first" = $(($(numfmt --from=iec "$goal") / 4096)) ] ||
			fail "$what: $name not at $goal: $(filefrag -v "$VOL_MNT/$name" | grep '^ *[0-9]*:')"
		[ "$(filefrag "$VOL_MNT/$name" | grep -o '[0-9]* extent')" = "1 extent" ] ||
			fail "$what: $name not contiguous"
	done
	[ "$(md5sum <"$VOL_MNT/f")$(md5sum <"$VOL_MNT/g")" = "$sum" ] || fail "$what: content changed"
}

# ext4 of one group (64 MiB, 4 KiB blocks), its free space one run from
# after the data to the end: a target inside that run. A new file's first
# block (the placement's anchor) always lands at the run's start there,
# with no group above to send it to: every placement failed (-EBUSY)
# until an anchor on the block the claim takes first was taken as it.
vol_create ext4 64
for i in $(seq 1 20); do head -c 300K /dev/urandom >"$VOL_MNT/fill$i"; done
head -c 112K /dev/urandom >"$VOL_MNT/f"
head -c 3M /dev/urandom >"$VOL_MNT/g"
sync -f "$VOL_MNT"
one_group_moves "one group" "f 30M" "g 40M" "f 60M" "g 20M"
vol_fsck
vol_destroy

# The same with the free run starting on a 4-block boundary (data up to
# block 8,192, then f and g): the claim's first buddy chunk there is
# larger than one block, and the anchor took its first block (-EBUSY,
# every attempt, until the claim started with a one-block chunk there).
vol_create ext4 64
first_free() { "$R" --json -e free "$VOL_MNT" | jq '[.extents[] | select(.length > 1048576)][0].start / 4096'; }
i=0
while [ "$(first_free)" -lt 8192 ] && [ $i -lt 100 ]; do
	i=$((i + 1))
	n=$(((8192 - $(first_free)) * 4096))
	head -c $((n > 1048576 ? 1048576 : n)) /dev/urandom >"$VOL_MNT/fill$i"
	sync -f "$VOL_MNT"
done
head -c 112K /dev/urandom >"$VOL_MNT/f"
head -c 3M /dev/urandom >"$VOL_MNT/g"
sync -f "$VOL_MNT"
for k in 1 2 3; do # (pad to a 4-block boundary)
	ff=$(first_free)
	[ $((ff % 4)) = 0 ] && break
	head -c $(((4 - ff % 4) * 4096)) /dev/urandom >"$VOL_MNT/pad$k"
	sync -f "$VOL_MNT"
done
ff=$(first_free)
[ $((ff % 4)) = 0 ] || fail "one group, aligned: setup: the free run starts at block $ff"
note "one group, aligned: the free run starts at block $ff"
one_group_moves "one group, aligned" "f 38M" "g 40M" "f 45M"
vol_fsck
vol_destroy

# btrfs: refused, nothing allocated
vol_create btrfs 512 && {
	out=$("$R" -e "allocate --fixed-start $VOL_MNT/n 0 $((64 << 20)) 4096" "$VOL_MNT" 2>&1) &&
		fail "btrfs: fixed-start succeeded"
	echo "$out" | grep -q "not supported" || fail "btrfs: '$out'"
	[ "$(blocks_of "$VOL_MNT/n")" = 0 ] || fail "btrfs: blocks left"
	vol_destroy
}

[ $fails = 0 ] || exit 1
echo "place: all checks passed"
