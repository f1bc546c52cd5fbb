#!/bin/bash
# Defragmentation benchmark: the same fragmented volume (vol_populate SEED
# SCALE on a SIZE MiB image, copied before the first tool runs and put back
# before each other one) defragmented by relayout `defrag --recursive` and
# by e4defrag (ext4) / xfs_fsr (XFS). Per tool, in one run:
#   wall time and CPU time (user+sys), bytes moved (data bytes at a
#   physical place after that they did not occupy before, per file, per
#   filefrag -- the same measure for every tool, holes and file sizes do
#   not count; relayout's journal figure is printed too), the rate
#   (bytes moved / wall time) against a plain copy of the same files on
#   the same volume (cp + syncfs, from the same starting image), extents
#   after (sum of filefrag extent counts of all regular files, physically adjacent
#   extents merged), free-space fragments after (relayout freefrag, from
#   GETFSMAP), and whether every file's content is unchanged.
#   top_builddir=build bench/defrag.sh [KINDS] [SIZE_MB] [SEED] [SCALE] [RUNS]
# Each of RUNS rounds runs relayout, the plain copy and the other tool, in
# that order, each from the same starting image (report the best).
# RELAYOUT_B=<other build>/relayout also runs that build's defrag in each
# round from the same image ("relayoutB"; an A/B of two builds), before
# relayout in even rounds and after it in odd ones.
# relayout runs with a private journal and state dir.
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
: "${top_builddir:=$top_srcdir/build}"
. "$top_srcdir/tests/lib/volume.sh"
. "$top_srcdir/bench/lib.sh"
KINDS=${1:-"ext4 xfs"}
SIZE=${2:-1024}
SEED=${3:-7}
SCALE=${4:-0.5}
RUNS=${5:-3}

# relayout stops a plan at a step whose exact placement missed (see
# docs/transactions.md); --retry plans again from the layout now, around
# the missed target (a new transaction each time).
RETRY=${RETRY:-10}
# e4defrag and xfs_fsr do their I/O at the normal priority; relayout's
# default is idle (it yields to every other I/O, so on a shared machine it
# would measure the others' load): compare at the same priority.
# IOPRIO= (empty) measures relayout's default.
IOPRIO=${IOPRIO---io-priority normal}
relayout_defrag() { # [BINARY]
	"${1:-$RELAYOUT}" -e "defrag --recursive --retry $RETRY $IOPRIO $VOL_MNT" "$VOL_MNT" >"$VOL_DIR/run1.out" 2>&1
}
# relayout B from the same image, with its own journal and state dir
relayout_b() {
	[ -n "${RELAYOUT_B:-}" ] || return 0
	restore
	rm -rf "$RELAYOUT_JOURNAL_DIR" "$RELAYOUT_STATE_DIR"
	run_tool relayoutB relayout_defrag "$RELAYOUT_B"
	restore
}

# children_cpu FILE: user+sys seconds of this shell's finished children
# ('times' runs in this shell, not in a command substitution).
children_cpu() {
	times >"$1"
	tail -1 "$1" | awk '{ t = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] } print t }'
}

run_tool() { # NAME COMMAND...
	local name=$1 t0 t1 before after
	shift
	before=$VOL_DIR/layout.before
	local c0 c1
	children_cpu "$VOL_DIR/times" >"$VOL_DIR/c0"
	c0=$(cat "$VOL_DIR/c0")
	t0=$(date +%s.%N)
	"$@" >"$VOL_DIR/$name.out" 2>&1
	local rc=$?
	children_cpu "$VOL_DIR/times" >"$VOL_DIR/c1"
	c1=$(cat "$VOL_DIR/c1")
	echo "$c1 - $c0" | bc >"$VOL_DIR/$name.cpu"
	sync -f "$VOL_MNT"
	t1=$(date +%s.%N)
	WALL=$(echo "$t1 - $t0" | bc)
	after=$VOL_DIR/layout.$name
	layout >"$after"
	local ok=yes
	"$RL_POPULATE" --verify "$VOL_MNT" "$VOL_MANIFEST" >/dev/null 2>&1 || ok=NO
	MOVED=$(moved "$before" "$after")
	printf '%-6s %-9s rc=%-3s %8.2fs cpu %5.2fs  moved %10s B  %6.1f MB/s  extents %6s -> %-6s  free fragments %6s -> %-6s content %s\n' \
		"$VOL_FS" "$name" "$rc" "$WALL" "$(cat "$VOL_DIR/$name.cpu")" \
		"$MOVED" "$(echo "$MOVED / $WALL / 1000000" | bc -l)" \
		"$(extents "$before")" "$(extents "$after")" "$FF0" "$(freefrags)" "$ok"
}

# plain_copy LIST: copy the files in LIST (a new copy of each, on the same
# volume) and syncfs; prints the rate for the bytes moved by the run before.
plain_copy() {
	local t0 t1 wall
	mkdir -p "$VOL_MNT/.copy"
	t0=$(date +%s.%N)
	tr '\n' '\0' <"$1" | xargs -0 -r cp --sparse=always --reflink=never -t "$VOL_MNT/.copy" 2>/dev/null
	sync -f "$VOL_MNT"
	t1=$(date +%s.%N)
	wall=$(echo "$t1 - $t0" | bc)
	printf '%-6s %-9s         %8.2fs  (cp --reflink=never + syncfs of the %s files relayout moved, %s B of data) -> %6.1f MB/s for the same bytes\n' \
		"$VOL_FS" "plain cp" "$wall" "$(wc -l <"$1")" \
		"$(du -cB1 "$VOL_MNT/.copy" | tail -1 | cut -f1)" \
		"$(echo "$(du -cB1 "$VOL_MNT/.copy" | tail -1 | cut -f1) / $wall / 1000000" | bc -l)"
	rm -rf "$VOL_MNT/.copy"
}

for kind in $KINDS; do
	vol_create "$kind" "$SIZE"
	export RELAYOUT_JOURNAL_DIR=$VOL_DIR/journal RELAYOUT_STATE_DIR=$VOL_DIR/state
	vol_populate "$SEED" "$SCALE" 2>/dev/null
	sync -f "$VOL_MNT"
	vol__umount "$VOL_MNT" nolazy || vol_fail "umount"
	cp --sparse=always "$VOL_IMG" "$VOL_DIR/base.img"
	mount "$VOL_DEV" "$VOL_MNT" || vol_fail "mount"
	layout >"$VOL_DIR/layout.before"
	FF0=$(freefrags)
	for round in $(seq 1 "$RUNS"); do
		[ $((round % 2)) = 1 ] || relayout_b
		[ "$round" = 1 ] || restore
		rm -rf "$RELAYOUT_JOURNAL_DIR" "$RELAYOUT_STATE_DIR"
		run_tool relayout relayout_defrag
		if [ "$round" = 1 ]; then
			R -e log "$VOL_MNT" | tail -n +2 | awk '{ print "         relayout journal: transaction", $1, $3, $4, "bytes, steps", $5 }'
			grep -h "failed" "$VOL_DIR"/run*.out | sed 's/^/         /' | cut -c1-220
			changed "$VOL_DIR/layout.before" "$VOL_DIR/layout.relayout" >"$VOL_DIR/changed"
		fi
		[ $((round % 2)) = 0 ] || relayout_b
		restore
		plain_copy "$VOL_DIR/changed"
		restore
		case $kind in
		ext4*) run_tool e4defrag e4defrag "$VOL_MNT" ;;
		xfs*) run_tool xfs_fsr xfs_fsr -v "$VOL_MNT" ;;
		esac
	done
	vol_destroy
done
