#!/bin/bash
# Scan benchmark: relayout's scan vs `find | xargs filefrag` on a 512 MiB
# ext4 image holding 100,000 small files (1 block, every 50th 5 blocks), warm cache, same run.
#
#   sudo bench/scan.sh [BUILDDIR]      (BUILDDIR default: ./build)
#
# Prints one line per measurement (best of 3 runs each). Needs root (loop
# device, mount). Cleans up its own image, loop device and mount point.
set -eu
B=${1:-build}
RELAYOUT=$(realpath "$B/relayout")
NFILES=${NFILES:-100000}
D=$(mktemp -d /tmp/relayout-bench.XXXXXX)
DEV=
cleanup() {
	mountpoint -q "$D/mnt" && umount "$D/mnt"
	[ -n "$DEV" ] && losetup -d "$DEV"
	rm -rf "$D"
}
trap cleanup EXIT INT TERM
truncate -s 512M "$D/image"
mkfs.ext4 -q -F -b 4096 -I 128 -J size=8 -N $((NFILES + 20000)) "$D/image"
DEV=$(losetup -f --show "$D/image")
mkdir "$D/mnt"
mount "$DEV" "$D/mnt"
python3 - "$D/mnt" "$NFILES" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
random.seed(1)
for i in range(n):
    d = os.path.join(root, "d%03d" % (i // 1000), "e%02d" % (i // 100 % 10))
    if i % 100 == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%06d" % i), "wb") as f:
        size = 20000 if i % 50 == 0 else random.choice((100, 1000, 2500, 4000))
        f.write(os.urandom(size))
PY
sync
best() { # best wall time of 3 runs of "$@"
	local b=999999 t
	for _ in 1 2 3; do
		t=$( { TIMEFORMAT=%R; time "$@" >/dev/null 2>/dev/null; } 2>&1 | tail -1)
		b=$(python3 -c "print(min($b, $t))")
	done
	echo "$b"
}
# warm the cache
find "$D/mnt" -type f -print0 | xargs -0 filefrag >/dev/null
"$RELAYOUT" "$D/mnt" -e scan >/dev/null
echo "files: $("$RELAYOUT" --json "$D/mnt" -e scan | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["files"], "files,", d["directories"], "dirs,", d["extents"], "extents, model", d["memory"], "bytes")')"
echo "relayout scan, 2 threads: $(best "$RELAYOUT" "$D/mnt" -e 'scan --threads 2') s"
echo "relayout scan, 1 thread:  $(best "$RELAYOUT" "$D/mnt" -e 'scan --threads 1') s"
echo "find | xargs filefrag:     $(best sh -c "find '$D/mnt' -type f -print0 | xargs -0 filefrag") s"
echo "relayout scan + export:    $(best "$RELAYOUT" "$D/mnt" -e "scan; export $D/snap.json") s ($(stat -c %s "$D/snap.json") bytes)"
echo "relayout import:           $(best "$RELAYOUT" "$D/snap.json" -e 'frag --top 0') s"
