#!/bin/bash
# Defragmentation throughput on large files: where bench/defrag.sh's
# volume is dominated by small files (so every tool's per-file costs set
# its rate), this one holds NFILES files of SIZE_MB MiB, each in 1 MiB
# pieces scattered among each other (tests/lib/volume.sh vol_mkfrag), and
# compares, from the same starting image each time:
#   relayout  `defrag --recursive DIR` (exact placement, journal, FIEMAP
#             checks before and after every step);
#   copy      `cp --reflink=never` of the same files + syncfs;
#   e4defrag / xfs_fsr on the directory (ext4 / XFS).
# Prints wall and CPU time, the rate (file bytes / wall) and the ratio to
# the copy's rate, per tool and round; page cache dropped before each run.
#   top_builddir=build bench/defrag-large.sh [KINDS] [NFILES] [SIZE_MB] [RUNS]
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
: "${top_builddir:=$top_srcdir/build}"
. "$top_srcdir/tests/lib/volume.sh"
KINDS=${1:-"ext4 xfs"}
NFILES=${2:-2}
SIZE=${3:-48}
RUNS=${4:-3}

# timed NAME CMD...: run CMD with the page cache dropped first; prints
# "NAME wall cpu" (seconds).
timed() {
	local name=$1 t
	shift
	sync
	echo 3 >/proc/sys/vm/drop_caches
	/usr/bin/time -o "$VOL_DIR/time" -f '%e %U %S' "$@" >/dev/null 2>"$VOL_DIR/err" ||
		{ echo "$name failed: $(cat "$VOL_DIR/err")" >&2; }
	awk -v n="$name" '{ printf "%s %.2f %.2f\n", n, $1, $2 + $3 }' "$VOL_DIR/time"
}

restore() {
	vol__umount "$VOL_MNT" nolazy || vol_fail "umount"
	cp --sparse=always "$VOL_DIR/start.img" "$VOL_DIR/image"
	losetup -c "$VOL_DEV"
	mount "$VOL_DEV" "$VOL_MNT" || vol_fail "mount"
}

for kind in $KINDS; do
	vol_create "$kind" 512
	mkdir "$VOL_MNT/big"
	for ((i = 0; i < NFILES; i++)); do
		vol_mkfrag "$VOL_MNT/big/f$i" "$SIZE" 1024
	done
	n=$(for f in "$VOL_MNT"/big/*; do filefrag "$f"; done | awk '{ s += $2 } END { print s }')
	bytes=$((NFILES * SIZE << 20))
	echo "$kind: $NFILES files of $SIZE MiB, $n extents"
	vol__umount "$VOL_MNT" nolazy || vol_fail "umount"
	cp --sparse=always "$VOL_DIR/image" "$VOL_DIR/start.img"
	mount "$VOL_DEV" "$VOL_MNT" || vol_fail "mount"
	case $kind in
	ext4*) other=(e4defrag "$VOL_MNT/big") oname=e4defrag ;;
	xfs*) other=(xfs_fsr "$VOL_MNT"/big/f*) oname=xfs_fsr ;;
	esac
	for ((r = 1; r <= RUNS; r++)); do
		restore
		rl=$(timed relayout "$RELAYOUT" --journal-dir "$VOL_DIR/j$r" \
			-e "defrag --recursive --io-priority normal $VOL_MNT/big" "$VOL_MNT")
		after=$(for f in "$VOL_MNT"/big/*; do filefrag "$f"; done | awk '{ s += $2 } END { print s }')
		restore
		cp_=$(timed copy sh -c 'mkdir "$1/copy" && cp --reflink=never "$1"/big/* "$1/copy/" && sync -f "$1"' sh "$VOL_MNT")
		restore
		ot=$(timed "$oname" "${other[@]}")
		oafter=$(for f in "$VOL_MNT"/big/*; do filefrag "$f"; done | awk '{ s += $2 } END { print s }')
		read -r _ cw _ <<<"$cp_"
		for line in "$rl extents-after=$after" "$cp_" "$ot extents-after=$oafter"; do
			read -r name w c rest <<<"$line"
			awk -v n="$name" -v w="$w" -v c="$c" -v b="$bytes" -v cw="$cw" -v rest="$rest" -v r="$r" \
				'BEGIN { printf "  round %d %-9s wall %6.2f s cpu %5.2f s  %6.1f MB/s  %.2fx copy  %s\n",
					r, n, w, c, b / w / 1e6, cw / w, rest }'
		done
	done
	vol_destroy
done
