#!/bin/bash
# bench/fstests.sh BUILD_DIR: the public fstests defragmentation tests run
# twice on loop devices, with the stock defragmenters and with relayout in
# their place (the wrappers in bench/fstests/: e4defrag, xfs_fsr and
# `btrfs filesystem defragment` become relayout's defrag). Prints per
# section the check summary of each run and the extent counts of every
# fiemap listing the tests log (results/*.full, holes left out).
#   FSTESTS_DIR       a built fstests checkout (required; for example
#                     git clone https://github.com/kdave/xfstests; make)
#   FSTESTS_SECTIONS  default "ext4_4k ext4_1k xfs btrfs"
#   FSTESTS_IMG_GB    size of each sparse loop image (default 8)
# Needs root and loop devices; the packages fstests needs (see its README).
# Nothing of fstests is kept in this repository.
set -u
BUILD=${1:?usage: bench/fstests.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
FST=${FSTESTS_DIR:?FSTESTS_DIR: a built fstests checkout}
SECTIONS=${FSTESTS_SECTIONS:-ext4_4k ext4_1k xfs btrfs}
export RELAYOUT
RELAYOUT=$(cd "$BUILD" && pwd)/relayout
[ -x "$RELAYOUT" ] || { echo "no relayout in $BUILD" >&2; exit 1; }
[ -x "$FST/check" ] || { echo "no check in $FST" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "fstests needs root" >&2; exit 1; }

D=$(mktemp -d "${TMPDIR:-/tmp}/relayout-fstests.XXXXXX")
DEVS=()
cleanup() {
	umount "$D/test" "$D/scratch" 2>/dev/null
	for d in "${DEVS[@]}"; do losetup -d "$d" 2>/dev/null; done
	rm -rf "$D"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir "$D/test" "$D/scratch"
for n in test scratch; do
	truncate -s "${FSTESTS_IMG_GB:-8}G" "$D/$n.img"
	DEVS+=("$(losetup -f --show "$D/$n.img")") || exit 1
done
export RL_WRAP_LOG=$D/wrap.log
cp "$FST/local.config" "$D/local.config.saved" 2>/dev/null
cat >"$FST/local.config" <<EOF
[default]
TEST_DEV=${DEVS[0]}
TEST_DIR=$D/test
SCRATCH_DEV=${DEVS[1]}
SCRATCH_MNT=$D/scratch
RECREATE_TEST_DEV=true
[ext4_4k]
FSTYP=ext4
MKFS_OPTIONS="-b 4096"
[ext4_1k]
FSTYP=ext4
MKFS_OPTIONS="-b 1024"
[xfs]
FSTYP=xfs
MKFS_OPTIONS=""
[btrfs]
FSTYP=btrfs
MKFS_OPTIONS=""
EOF
restore() {
	if [ -f "$D/local.config.saved" ]; then cp "$D/local.config.saved" "$FST/local.config"; else rm -f "$FST/local.config"; fi
	cleanup
}
trap restore EXIT

# extents FULL: the extent count of each fiemap listing in FULL
extents() {
	awk '/^\/.*:$/ { if (inl) printf "%d ", cnt; inl = 1; cnt = 0; next }
		inl && /^[ \t]*[0-9]+: \[/ { if ($0 !~ /hole/) cnt++; next }
		inl { printf "%d ", cnt; inl = 0 }
		END { if (inl) printf "%d", cnt; print "" }' "$1"
}

for s in $SECTIONS; do
	case $s in
	ext4_4k) mk="mkfs.ext4 -q -F -b 4096" t="generic/018 generic/324" ;;
	ext4_1k) mk="mkfs.ext4 -q -F -b 1024" t="generic/018 generic/324" ;;
	xfs) mk="mkfs.xfs -q -f" t="generic/018 generic/324 xfs/042 xfs/118 xfs/328" ;;
	btrfs) mk="mkfs.btrfs -q -f" t="generic/018 generic/324 btrfs/005" ;;
	*) echo "unknown section $s" >&2; continue ;;
	esac
	for mode in stock relayout; do
		umount "$D/test" "$D/scratch" 2>/dev/null
		$mk "${DEVS[0]}" >/dev/null 2>&1
		(
			cd "$FST" || exit 1
			export RESULT_BASE=$D/results/$mode
			[ $mode = relayout ] && export PATH=$here/fstests:$PATH
			./check -s "$s" $t
		) >"$D/$mode.$s.out" 2>&1
		echo "== $s, $mode: $(grep -E '^(Passed all|Failures:|Not run:)' "$D/$mode.$s.out" | sort -u | tr '\n' ' ')"
		for f in "$D/results/$mode/$s"/*/*.full; do
			[ -f "$f" ] || continue
			echo "   $(basename "$(dirname "$f")")/$(basename "$f" .full) extents: $(extents "$f")"
		done
	done
done
echo "== relayout calls: $(grep -c '^  run:' "$RL_WRAP_LOG" 2>/dev/null), not exit 0: $(grep '^  exit status:' "$RL_WRAP_LOG" 2>/dev/null | grep -vc ': 0$')"
