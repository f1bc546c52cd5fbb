#!/bin/bash
# Relocation on aged volumes (issue 13, "How we will know").
#
#   sudo bench/aged.sh [BUILD_DIR]          (default: ./build)
#
# Per filesystem (AGED_FS, default "ext4 xfs"): a loop volume of AGED_MB
# (2048) MiB in a private temporary directory (tests/lib/volume.sh), aged
# by torture__age (tests/lib/torture.sh: real files from /usr, three
# interleaved fsync'ing writers, a random third deleted, more copied to
# AGED_PCT + AGED_OVER (12) %, then random files deleted down to AGED_PCT
# (62) % full: without that last deletion XFS refilled the first one's
# holes almost exactly, 360 free extents at 2 GiB; with it 4,044).
# AGED_SYNC (10) % of the files are written as logs are, an fsync after
# each 64 KiB piece (XFS then allocates them in growing chunks: files of a
# few MiB in 5-8 extents; without them the aged XFS had no file for a
# defragmenter to improve). The image is saved (cp --sparse=always) and every
# experiment starts from a fresh copy of it on a fresh loop device:
#   relayout-defrag  relayout -e 'defrag --recursive --retry N MNT' MNT
#   e4defrag/xfs_fsr e4defrag MNT / xfs_fsr -v MNT (the baseline)
#   compact-volume   relayout -e 'compact 0 SIZE'
#   compact-group    relayout -e 'compact START END' of one group / AG (the
#                    one with the most free extents; AGED_GROUP=N to choose)
#   evacuate         relayout -e 'evacuate START SIZE' of the last 25 %,
#   undo             then relayout -e 'undo ID' of each of its transactions
#                    that moved data (newest first), on its result
#   shrink           XFS only, to 78 % of the size (1 GiB -> 800 MiB), with
#                    --move-inodes; when blocks the kernel keeps stop it
#                    after the new inodes or the moves, shrink-rest: a
#                    shrink to the smallest size relayout then says is
#                    reachable;
#                    "not implemented" while relayout has no such command
#   cp -a            the baseline of compaction: the same files copied with
#                    cp -a to a fresh filesystem of the same size on the
#                    same disk, + syncfs
# For each: wall time (each command bounded by AGED_TIMEOUT, default 3600
# s, SIGTERM: relayout stops between chunks), exit status and the first
# error line, extents of all regular files before/after (filefrag,
# physically adjacent extents merged), bytes moved (per-file filefrag
# comparison, bench/lib.sh `moved`; and relayout's journal, `log --json`),
# the minimum bytes a compaction/evacuation must move (the free bytes in
# the part of the region the data would fill / the data in the region),
# free extents and largest free run of the volume before/after (relayout
# freefrag, GETFSMAP), for compaction the share of the region's free space
# in its largest run after, md5 of every file before vs after, fsck after.
# AGED_SAVE=DIR keeps a copy of each aged image (DIR/aged-FS.img).
# AGED_ONLY="NAME ..." runs only those experiments (defrag: relayout's
# and the stock tool's; cp, compact-volume, compact-group, evacuate, undo
# (with evacuate), shrink). compact and evacuate are planned first
# (--dry-run --json): steps, bytes against the planner's minimum, and the
# report's last lines are noted.
# relayout runs with a private journal and state dir per experiment, at
# the normal I/O priority like the stock tools (IOPRIO= for its default).
# Everything is unmounted, detached and deleted on exit (volume.sh traps).
# Appends a markdown table to docs/BENCHMARKS.md (BENCH_OUT=FILE elsewhere);
# exits 1 when data changed or fsck found errors.
set -u
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
top_builddir=$(cd "${1:-$top_srcdir/build}" && pwd)
export top_srcdir top_builddir
. "$top_srcdir/tests/lib/volume.sh"
. "$top_srcdir/tests/lib/torture.sh"
. "$top_srcdir/bench/lib.sh"
vol_require_root
for t in jq bc filefrag md5sum python3; do
	command -v $t >/dev/null || vol_skip "$t not installed"
done
AGED_FS=${AGED_FS:-"ext4 xfs"}
AGED_MB=${AGED_MB:-2048}
AGED_PCT=${AGED_PCT:-62}
AGED_OVER=${AGED_OVER:-12}
AGED_SYNC=${AGED_SYNC:-10}
AGED_TIMEOUT=${AGED_TIMEOUT:-3600}
RETRY=${RETRY:-10}
IOPRIO=${IOPRIO---io-priority normal}
OUT=${BENCH_OUT:-$top_srcdir/docs/BENCHMARKS.md}
RESULTS=$(mktemp)
NOTES=$(mktemp)
vol_at_exit "rm -f '$RESULTS' '$NOTES'"
MiB() { printf '%.1f' "$(echo "$1 / 1048576" | bc -l)"; }
now() { date +%s.%N; }
# seconds since $1: two decimals below 10 s (defrag of a volume with little to do
# takes a tenth of a second: one decimal made ratios of 0.1/0.1), one above
since() { local s; s=$(echo "$(now) - $1" | bc); if [ "$(echo "$s < 10" | bc)" = 1 ]; then printf '%.2f' "$s"; else printf '%.1f' "$s"; fi; }
note_line() { echo "$*" | tee -a "$NOTES"; }
# want NAME: is experiment NAME to run (AGED_ONLY)?
want() { [ -z "${AGED_ONLY:-}" ] || [[ " $AGED_ONLY " == *" $1 "* ]]; }
# plan_note NAME CMD: the dry run of relayout command CMD, in a note
plan_note() {
	local out
	out=$(R --json -e "$2 --dry-run" "$VOL_MNT" 2>"$VOL_DIR/$1.plan.err") || {
		note_line "- $VOL_FS $1 plan: refused: $(grep -m1 . "$VOL_DIR/$1.plan.err" | cut -c1-200)"
		return
	}
	note_line "- $VOL_FS $1 plan: $(jq -r '"\(.steps | length) steps, \(.bytes / 1048576 * 10 | floor / 10) MiB, minimum \(.min_bytes // 0 | . / 1048576 * 10 | floor / 10) MiB (\(if (.min_bytes // 0) > 0 then (.bytes / .min_bytes * 100 | floor / 100) else "-" end)x), \(.fragmentation.regions_before) -> \(.fragmentation.regions_after) runs of the moved files; \([.report[] | select(test("^(after|kept free below|stays in the region|[0-9]+ ranges? (did not|moved out))"))] | join("; "))"' <<<"$out")"
}

# age_volume: torture__age into aged0, and while the volume is not
# AGED_PCT % full (of its blocks, as torture__age counts; it stops short
# of that: what it counts while writing is partly freed after), again
# with the next seed into aged1, ... (at most 6 rounds). Prints "files
# bytes rounds" (what the rounds left, from /usr).
age_volume() {
	local r=0 n=0 b=0 a c pct
	while :; do
		mkdir "$VOL_MNT/aged$r"
		a=$(TORTURE_SEED=$((${TORTURE_SEED:-1} + r)) TORTURE_AGE_OVER=$AGED_OVER TORTURE_AGE_SYNC=$AGED_SYNC torture__age "$VOL_MNT/aged$r" "$AGED_PCT") ||
			exit 1
		read -r a c <<<"$a"
		n=$((n + a)) b=$((b + c)) r=$((r + 1))
		sync -f "$VOL_MNT"
		pct=$(stat -f -c '%b %f' "$VOL_MNT" | awk '{ print int(100 * ($1 - $2) / $1) }')
		if [ "$pct" -ge $((AGED_PCT - 1)) ] || [ $r -ge 6 ]; then
			break
		fi
	done
	echo "$n $b $r"
}

# ff [START END]: "free_extents largest free_bytes" (volume or region)
ff() {
	R --json -e "freefrag${1:+ $1 $2}" "$VOL_MNT" | jq -r '"\(.free_extents) \(.largest) \(.free_bytes)"'
}
# free_in START END: free bytes in [START, END)
free_in() { R --json -e "free --summary $1 $2" "$VOL_MNT" | jq -r .free_bytes; }

# md5 of every regular file, paths relative to the mount point
sums() { (cd "$VOL_MNT" && find . -xdev -type f -print0 | sort -z | xargs -0 -r md5sum); }
# md5_check: "same" or "N DIFFER" against the starting image's sums
md5_check() {
	local bad
	sums >"$VOL_DIR/md5.now"
	bad=$(diff "$VOL_DIR/md5.base" "$VOL_DIR/md5.now" | grep -c '^[<>]')
	[ "$bad" = 0 ] && echo same && return
	diff "$VOL_DIR/md5.base" "$VOL_DIR/md5.now" | head -5 >&2
	echo "$bad lines DIFFER"
	FAILED=1
}

# fsck_check: unmount, check read-only, mount again; "clean" or "ERRORS"
fsck_check() {
	local rc=0
	vol__umount "$VOL_MNT" nolazy || { echo "umount busy"; return; }
	case $VOL_FS in
	ext4*) e2fsck -fn "$VOL_DEV" ;;
	xfs*) xfs_repair -n "$VOL_DEV" ;;
	esac >"$VOL_DIR/fsck.log" 2>&1 || rc=$?
	mount "$VOL_DEV" "$VOL_MNT" || vol_fail "mount after fsck"
	[ $rc = 0 ] && echo clean && return
	head -20 "$VOL_DIR/fsck.log" >&2
	echo "ERRORS (rc $rc)"
	FAILED=1
}

# journal_id: the newest transaction's id (0: none)
journal_id() { R --json -e log "$VOL_MNT" 2>/dev/null | jq -r '[.transactions[]?.id] | max // 0'; }
# journal_bytes ID: bytes and steps done/planned of the transactions after
# ID, as relayout's journal says
journal_bytes() {
	R --json -e log "$VOL_MNT" 2>/dev/null | jq -r --argjson id "$1" '
		[.transactions[]? | select(.id > $id)] |
		"\(map(.bytes) | add // 0) \(map(.steps_done) | add // 0)/\(map(.steps) | add // 0)"'
}

# first_error FILE: the first line saying why a command failed or refused
# (progress lines -- holding, files done, notes -- are not errors)
first_error() {
	grep -vE ': holding the targets of the next|: [0-9]+/[0-9]+ files, |^relayout: note: ' "$1" |
		grep -m1 -iE '^relayout|error|fail|refus|not enough|cannot|no space|unknown|timed out' |
		cut -c1-240 | tr '|' '/'
}

# experiment NAME REGION_START REGION_END MIN CMD...: run CMD on the
# mounted volume (the caller restores it first) and add a table row.
# REGION_*: the region whose free space must end as one run ("-": none);
# MIN: the fewest bytes the command must move ("-": not defined).
experiment() {
	local name=$1 rs=$2 re=$3 min=$4 t0 rc wall before=${EXP_BEFORE:-$VOL_DIR/layout.base}
	shift 4
	local ff0 ff1 ex0 ex1 mv jb jsteps jid err md5 fsck share="-"
	ex0=$(extents "$before")
	ff0=$(ff)
	jid=$(journal_id)
	echo "[$VOL_FS] $name: $(sed "s|$RELAYOUT|relayout|g; s|$VOL_MNT|MNT|g" <<<"$*")" >&2
	t0=$(now)
	timeout -s TERM -k 60 "$AGED_TIMEOUT" "$@" >"$VOL_DIR/$name.out" 2>&1
	rc=$?
	sync -f "$VOL_MNT"
	wall=$(since "$t0")
	case $rc in 124 | 137) echo "timed out after $AGED_TIMEOUT s" >>"$VOL_DIR/$name.out" ;; esac
	err=
	[ $rc = 0 ] || err=$(first_error "$VOL_DIR/$name.out")
	# relayout's message of a refused plan or a failed step, also at rc 0
	# (--retry, continue), and the journal's figure
	case $1 in "$RELAYOUT")
		[ -n "$err" ] || err=$(first_error "$VOL_DIR/$name.out")
		read -r jb jsteps <<<"$(journal_bytes "$jid")"
		jb="$(MiB "$jb") MiB ($jsteps steps)" ;;
	*) jb="-" ;;
	esac
	layout >"$VOL_DIR/layout.$name"
	ex1=$(extents "$VOL_DIR/layout.$name")
	mv=$(moved "$before" "$VOL_DIR/layout.$name")
	ff1=$(ff)
	if [ "$rs" != - ]; then
		local f
		read -r _ f _ <<<"$(ff "$rs" "$re")"
		read -r _ _ share <<<"$(ff "$rs" "$re")"
		share=$([ "$share" -gt 0 ] && echo "$((100 * f / share)) %" || echo "-")
	fi
	[ "$min" != - ] && min="$(MiB "$min") MiB"
	md5=$(md5_check)
	fsck=$(fsck_check)
	local n l ffb ffa
	read -r n l _ <<<"$ff0"
	ffb="$n / $(MiB "$l")"
	read -r n l _ <<<"$ff1"
	ffa="$n / $(MiB "$l")"
	echo "| $VOL_FS | $name | $rc | $wall | $ex0 → $ex1 | $(MiB "$mv") | $jb | $min | $ffb → $ffa MiB | $share | $md5 | $fsck | ${err:--} |" >>"$RESULTS"
	printf '[%s] %s: rc %s, %s s, extents %s -> %s, moved %s MiB, journal %s, free extents/largest MiB %s -> %s, %s, fsck %s%s\n' \
		"$VOL_FS" "$name" "$rc" "$wall" "$ex0" "$ex1" "$(MiB "$mv")" "$jb" "$ffb" "$ffa" "$md5" "$fsck" "${err:+; $err}" >&2
	eval "WALL_${name//-/_}=$wall EXT_${name//-/_}=$ex1 RC_${name//-/_}=$rc"
}

# fresh NAME: the aged image back on a fresh loop device, a private
# journal and state dir for NAME
fresh() {
	restore
	export RELAYOUT_JOURNAL_DIR=$VOL_DIR/journal.$1 RELAYOUT_STATE_DIR=$VOL_DIR/state.$1
}

# baseline_cp: the aged files copied with cp -a onto a fresh filesystem
# of the same size, in the same temporary directory (same disk)
baseline_cp() {
	local save=("$VOL_DIR" "$VOL_MNT" "$VOL_IMG" "$VOL_DEV" "$VOL_FS") src=$VOL_MNT t0 rc dst
	vol_create "${save[4]}" "$AGED_MB"
	dst=$VOL_DIR
	VOL_DIR=${save[0]} VOL_MNT=${save[1]} VOL_IMG=${save[2]} VOL_DEV=${save[3]} VOL_FS=${save[4]}
	t0=$(now)
	cp -a "$src/." "$dst/mnt/" 2>"$VOL_DIR/cp.err"
	rc=$?
	sync -f "$dst/mnt"
	WALL_cp_a=$(since "$t0")
	local used
	used=$(df -B1 --output=used "$dst/mnt" | tail -1)
	vol__teardown_dir "$dst"
	echo "| $VOL_FS | cp -a (baseline) | $rc | $WALL_cp_a | - | $(MiB "$used") (written) | - | - | - | - | - | - | $(head -1 "$VOL_DIR/cp.err" | cut -c1-200 | grep . || echo -) |" >>"$RESULTS"
	echo "[$VOL_FS] cp -a to a fresh $AGED_MB MiB $VOL_FS: rc $rc, $WALL_cp_a s, $(MiB "$used") MiB used" >&2
}

# ratio A B [NAME]: A / B to two decimals, "-" when either is missing or
# B is 0; "(rc N)" after it when the experiment NAME did not succeed
ratio() {
	local rc=RC_${3:-none}
	rc=${!rc:-0}
	[ "$rc" = 0 ] || printf '(rc %s, no result) ' "$rc"
	if [ -z "${1:-}" ] || [ -z "${2:-}" ] || [ "$(echo "$2 > 0" | bc)" != 1 ]; then
		echo -
		return
	fi
	printf '%.2f' "$(echo "scale=4; $1 / $2" | bc)"
}

FAILED=0
T_ALL=$(now)
for kind in $AGED_FS; do
	unset WALL_relayout_defrag WALL_e4defrag WALL_xfs_fsr WALL_cp_a WALL_compact_volume WALL_compact_group
	unset EXT_relayout_defrag EXT_e4defrag EXT_xfs_fsr RC_relayout_defrag RC_compact_volume RC_compact_group
	t=$(now)
	vol_create "$kind" "$AGED_MB"
	export RELAYOUT_JOURNAL_DIR=$VOL_DIR/journal RELAYOUT_STATE_DIR=$VOL_DIR/state
	info=$(age_volume) || vol_fail "aging the $kind volume"
	T_AGE=$(since "$t")
	t=$(now)
	SIZE=$(R --json -e info "$VOL_MNT" | jq -r .size)
	GSIZE=$(R --json -e info "$VOL_MNT" | jq -r .group_size)
	NFILES=$(find "$VOL_MNT" -xdev -type f | wc -l)
	USED=$(df -B1 --output=used "$VOL_MNT" | tail -1)
	PCT=$(df --output=pcent "$VOL_MNT" | tail -1 | tr -dc 0-9)
	read -r FE FL FB <<<"$(ff)"
	# the group / AG: AGED_GROUP, else the one with the most free extents
	G=${AGED_GROUP:-$(R --json -e 'freefrag --groups' "$VOL_MNT" |
		jq -r '.groups | max_by(.free_extents) | .group')}
	GS=$((G * GSIZE)) GE=$(((G + 1) * GSIZE))
	[ $GE -le "$SIZE" ] || GE=$SIZE
	EV=$((SIZE * 3 / 4 / 1048576 * 1048576))
	# minimum bytes moved: compaction fills the free space below the
	# point where the region's data would end (data above it moves
	# down); evacuation moves the data in the region
	MIN_VOL=$(free_in 0 $((SIZE - $(free_in 0 "$SIZE"))))
	MIN_GRP=$(free_in "$GS" $((GE - $(free_in "$GS" "$GE"))))
	MIN_EV=$((SIZE - EV - $(free_in "$EV" "$SIZE")))
	enough="≥ 1,000 free extents"
	[ "$FE" -ge 1000 ] || enough="FEWER than the 1,000 free extents the issue asks for (AGED_MB $AGED_MB)"
	sums >"$VOL_DIR/md5.base"
	layout >"$VOL_DIR/layout.base"
	vol__umount "$VOL_MNT" nolazy || vol_fail "umount"
	cp --sparse=always "$VOL_IMG" "$VOL_DIR/base.img"
	[ -z "${AGED_SAVE:-}" ] || cp --sparse=always "$VOL_IMG" "$AGED_SAVE/aged-$kind.img"
	mount "$VOL_DEV" "$VOL_MNT" || vol_fail "mount"
	T_SAVE=$(since "$t")
	read -r AGED_N AGED_B AGED_R <<<"$info"
	note_line "- $kind, $AGED_MB MiB: $NFILES files ($AGED_N left by $AGED_R aging round(s), $((AGED_B >> 20)) MiB from /usr)," \
		"$(MiB "$USED") MiB used ($PCT %), $FE free extents ($enough), largest free run $(MiB "$FL") MiB," \
		"$(MiB "$FB") MiB free; group/AG $G ($(MiB "$GS")–$(MiB "$GE") MiB) for compact-group." \
		"Aging took ${T_AGE} s, measuring and saving the image ${T_SAVE} s."

	if want defrag; then
		fresh defrag
		experiment relayout-defrag - - - "$RELAYOUT" -e "defrag --recursive --retry $RETRY $IOPRIO $VOL_MNT" "$VOL_MNT"
		fresh stock
		case $kind in
		ext4*) experiment e4defrag - - - e4defrag "$VOL_MNT" ;;
		xfs*) experiment xfs_fsr - - - xfs_fsr -v "$VOL_MNT" ;;
		esac
	fi
	if want cp; then
		fresh cp
		baseline_cp
	fi
	if want compact-volume; then
		fresh compact-volume
		plan_note compact-volume "compact"
		experiment compact-volume 0 "$SIZE" "$MIN_VOL" "$RELAYOUT" -e "compact --retry $RETRY $IOPRIO" "$VOL_MNT"
	fi
	if want compact-group; then
		fresh compact-group
		plan_note compact-group "compact $GS $GE"
		experiment compact-group "$GS" "$GE" "$MIN_GRP" "$RELAYOUT" -e "compact --retry $RETRY $IOPRIO $GS $GE" "$VOL_MNT"
	fi
	if want evacuate; then
		fresh evacuate
		plan_note evacuate "evacuate $EV $SIZE"
		experiment evacuate - - "$MIN_EV" "$RELAYOUT" -e "evacuate --retry $RETRY $IOPRIO $EV $SIZE" "$VOL_MNT"
		# undo on the evacuated volume, same journal; then is the layout
		# the aged one again?
		# (with --retry one evacuate can be several transactions: undo each
		# that moved data, newest first; `undo` alone undoes only the newest)
		undo=$(R --json -e log "$VOL_MNT" | jq -r --arg o "$IOPRIO" '
			[.transactions[]? | select(.steps_done > 0 and (.undone | not)) | .id] |
			sort | reverse | map("undo \($o) \(.)") | join("; ")')
		EXP_BEFORE=$VOL_DIR/layout.evacuate experiment undo - - - "$RELAYOUT" -e "${undo:-undo $IOPRIO}" "$VOL_MNT"
		note_line "- $kind: after evacuate + undo, $(MiB "$(moved "$VOL_DIR/layout.base" "$VOL_DIR/layout.undo")") MiB of" \
			"file data is not where it was on the aged volume (0: undo restored the layout exactly)."
	fi
	want shrink && case $kind in xfs*)
		to=$((SIZE * 78 / 100 / 1048576 * 1048576))
		if R -e 'help shrink' "$VOL_MNT" >"$VOL_DIR/shrink.help" 2>&1; then
			fresh shrink
			# --move-inodes: the inode chunks and directories in the
			# tail get new inodes (without it every aged image so far
			# had an inode chunk near the end)
			experiment shrink - - "$MIN_EV" "$RELAYOUT" -e "shrink --move-inodes $IOPRIO $to" "$VOL_MNT"
			# where the kernel keeps blocks in the tail after the moves
			# (free-space btree blocks, the AGFL), the smallest size
			# reachable without moving more, as relayout says
			rest=$(sed -n -e "s/.*smallest size reachable now is [^(]*(\([0-9]*\) bytes.*moves nothing more.*/\1/p" \
				-e "s/.*after the new inodes, cannot shrink below [^(]*(\([0-9]*\) bytes.*/\1/p" "$VOL_DIR/shrink.out" | tail -1)
			if [ -n "$rest" ]; then
				EXP_BEFORE=$VOL_DIR/layout.shrink experiment shrink-rest - - - "$RELAYOUT" -e "shrink $IOPRIO $rest" "$VOL_MNT"
			fi
			note_line "- $kind: shrink asked $(MiB "$to") MiB; the filesystem is $(MiB "$(xfs_info "$VOL_MNT" | sed -n 's/^data *= *bsize=\([0-9]*\) *blocks=\([0-9]*\).*/\1 * \2/p' | bc)") MiB" \
				"after it (xfs_info) of $(MiB "$SIZE") MiB; $(grep -o 'gave [0-9]* files and [0-9]* directories new inodes; [0-9]* kept theirs' "$VOL_DIR/shrink.out" | head -1);" \
				"the AG's free-list and free-space btree blocks above SIZE after the moves: $(grep -o 'free-list blocks above .*: [a-z ]* after [0-9]* rounds*' "$VOL_DIR/shrink.out" | sed 's/.*: //' | head -1 | grep . || echo none)."
		else
			echo "| $VOL_FS | shrink to $(MiB "$to") MiB | - | - | - | - | - | - | - | - | - | - | not implemented: $(head -1 "$VOL_DIR/shrink.help" | cut -c1-200) |" >>"$RESULTS"
			echo "[$VOL_FS] shrink: not implemented ($(head -1 "$VOL_DIR/shrink.help"))" >&2
		fi ;;
	esac
	stock=e4defrag
	case $kind in xfs*) stock=xfs_fsr ;; esac
	w=WALL_$stock e=EXT_$stock
	note_line "- $kind ratios: relayout defrag / $stock: time $(ratio "${WALL_relayout_defrag:-}" "${!w:-}" relayout_defrag)×," \
		"extents after $(ratio "${EXT_relayout_defrag:-}" "${!e:-}" relayout_defrag)×; compaction / cp -a time:" \
		"whole volume $(ratio "${WALL_compact_volume:-}" "${WALL_cp_a:-}" compact_volume)×," \
		"one group/AG $(ratio "${WALL_compact_group:-}" "${WALL_cp_a:-}" compact_group)×."
	vol_destroy
done
T_ALL=$(since "$T_ALL")
{
	echo
	echo "### Aged volumes: defrag, compact, evacuate, undo, shrink ($(date -u +%Y-%m-%d), $(uname -r), load $(cut -d' ' -f1 /proc/loadavg))"
	echo
	echo "    AGED_MB=$AGED_MB AGED_PCT=$AGED_PCT AGED_OVER=$AGED_OVER AGED_SYNC=$AGED_SYNC AGED_FS=\"$AGED_FS\" AGED_TIMEOUT=$AGED_TIMEOUT RETRY=$RETRY sudo bench/aged.sh build"
	echo
	echo "Each row from the same aged image (a fresh copy on a fresh loop device), but"
	echo "undo, which runs on evacuate's result. extents: of all regular files (filefrag,"
	echo "adjacent merged); moved: bytes at a place they did not occupy before, per file"
	echo "(filefrag); journal: relayout \`log --json\`, this command's transactions; min: the"
	echo "fewest bytes the command must move; free: free extents / largest free run of"
	echo "the volume (GETFSMAP); one run: the region's free space in its largest run"
	echo "after; md5: every file against the aged image. Took ${T_ALL} s in all."
	echo
	cat "$NOTES"
	echo
	echo "| fs | experiment | rc | wall s | extents | moved MiB | journal | min | free (extents / largest MiB) | one run | md5 | fsck | first error |"
	echo "|---|---|---|---:|---|---:|---|---:|---|---:|---|---|---|"
	cat "$RESULTS"
} | tee -a "$OUT"
[ "$FAILED" = 0 ]
