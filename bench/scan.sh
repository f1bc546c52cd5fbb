#!/bin/bash
# Scan benchmark: relayout's scan vs `find | xargs filefrag` on a 512 MiB
# ext4 image holding 100,000 small files (1 block, every 50th 5 blocks), warm cache, same run.
#
#   sudo bench/scan.sh [BUILDDIR]      (BUILDDIR default: ./build)
#   sudo NFILES=1000000 bench/scan.sh [BUILDDIR]
#
# With NFILES above 200,000 (the "million" set) the image is still 512 MiB
# but made with 1 KiB blocks and 128-byte inodes (-b 1024 -I 128
# -N NFILES*1.1): NFILES files in directories of 1,000, every 10th holding
# one 1 KiB block (1,000 bytes: one extent), the others empty (no extent;
# no inline_data, so the non-empty ones do have an extent). 1M files: 100,000
# extents, ~124 MB used. The populate step makes the files with os.open /
# os.write relative to a directory fd (about 25 s for 1M files).
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
MILLION=0
[ "$NFILES" -gt 200000 ] && MILLION=1
truncate -s 512M "$D/image"
if [ $MILLION = 1 ]; then
	mkfs.ext4 -q -F -b 1024 -I 128 -J size=8 -N $((NFILES + NFILES / 10)) "$D/image" 2>/dev/null
else
	mkfs.ext4 -q -F -b 4096 -I 128 -J size=8 -N $((NFILES + 20000)) "$D/image"
fi
DEV=$(losetup -f --show "$D/image")
mkdir "$D/mnt"
mount "$DEV" "$D/mnt"
if [ $MILLION = 1 ]; then
python3 - "$D/mnt" "$NFILES" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
block = b"x" * 1000
fl = os.O_WRONLY | os.O_CREAT | os.O_EXCL
for i in range(n):
    if i % 1000 == 0:
        if i:
            os.close(dfd)
        d = os.path.join(root, "d%03d" % (i // 10000), "e%02d" % (i // 1000 % 10))
        os.makedirs(d, exist_ok=True)
        dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    fd = os.open("f%07d" % i, fl, 0o644, dir_fd=dfd)
    if i % 10 == 0:
        os.write(fd, block)
    os.close(fd)
os.close(dfd)
PY
else
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
fi
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
