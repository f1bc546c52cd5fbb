#!/bin/bash
# Who owns each used block: relayout's map (who 0 END --json) compared
# block by block with the stock tools, on small ext4 and XFS volumes with
# files, directories, a fragmented file (an ext4 extent tree), files with
# large extended attributes (an ext4 xattr block, an XFS attribute fork).
#
# Used blocks are what the stock tool says is used on the unmounted image:
# ext4 dumpe2fs's free ranges (the rest is used) and debugfs icheck for
# each used block's inode; XFS xfs_db blockget + blockuse (type and inode
# of every block). For each used block relayout's owner must be named
# (a file, or metadata) -- the share of named blocks is printed and must
# reach ATTRIB_MIN (percent) -- and a named owner must agree with the
# tool: the same inode for file blocks, inode 8 for the journal, the
# inode's extent-tree or xattr block, no inode for the space map's own
# metadata, and on XFS the block's type (log, sb, inode, attr, ...).
# On ext4 first: group into a region that starts on the inode table.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/volume.sh"
vol_require_root
for t in debugfs dumpe2fs xfs_db jq python3 filefrag; do
	command -v $t >/dev/null || vol_skip "$t not installed"
done

# ext4: all of it is nameable but allocator preallocations (free on disk);
# XFS without rmapbt: its btree roots, AGFL and bmbt blocks are not named.
ATTRIB_MIN_EXT4=${ATTRIB_MIN_EXT4:-99.9}
ATTRIB_MIN_XFS=${ATTRIB_MIN_XFS:-99}

# fill: directories with files of many sizes, a file of many extents, big
# xattrs; deterministic.
fill() {
	local m=$1
	python3 - "$m" <<'EOF'
import os, sys
m = sys.argv[1]
for d in range(3):
    sub = os.path.join(m, "d%d" % d, "sub")
    os.makedirs(sub)
    for i in range(1, 121):
        with open(os.path.join(m, "d%d" % d, "f%d" % i), "wb") as f:
            f.write(bytes([i % 251]) * (i * 1531))
    for i in range(300):  # a directory of several blocks
        open(os.path.join(sub, "empty-file-with-a-long-name-%04d" % i), "w").close()
# interleaved writes: files of many extents (an extent tree on ext4)
fds = [os.open(os.path.join(m, "frag%d" % k), os.O_WRONLY | os.O_CREAT, 0o644)
       for k in range(3)]
for off in range(0, 3 << 20, 16384):
    for fd in fds:
        os.pwrite(fd, b"x" * 16384, off)
        os.fsync(fd)
for fd in fds:
    os.close(fd)
for i in range(4):  # values too big for the inode: a block of their own
    p = os.path.join(m, "xattr%d" % i)
    with open(p, "wb") as f:
        f.write(b"a" * 5000)
    os.setxattr(p, "user.big", bytes([65 + i]) * 800)
EOF
	sync -f "$m"
}

# compare KIND JSON USED OWNERS: the python check; USED and OWNERS are
# "block owner-description" lines from the stock tool.
compare() {
	python3 - "$@" <<'EOF'
import json, sys
kind, jpath, owners_path, bs, minshare = sys.argv[1:6]
bs = int(bs)
d = json.load(open(jpath))
rl = {}
for o in d["owners"]:
    b0, n = o["start"] // bs, o["length"] // bs
    if o["kind"] == "file":
        what = ("file", o["inode"])
    elif o["kind"] == "metadata":
        what = ("meta", o["label"])
    else:
        what = (o["kind"], None)
    for b in range(b0, b0 + n):
        rl.setdefault(b, []).append(what)
used = named = 0
bad = []
unnamed = {}
for line in open(owners_path):
    f = line.split()
    b, tool = int(f[0]), f[1:]
    used += 1
    mine = [w for w in rl.get(b, []) if w[0] in ("file", "meta")]
    if not mine:
        t = tool[0] if tool else "?"
        unnamed[t] = unnamed.get(t, 0) + 1
        continue
    named += 1
    ok = False
    for w in mine:
        if kind.startswith("ext4"):
            # tool: INODE or "none", then "etb"/"acl" when the block is
            # that inode's extent-tree / xattr block
            ino = tool[0]
            role = tool[1] if len(tool) > 1 else "data"
            if w[0] == "file":
                ok |= ino == str(w[1]) and role == "data"
            elif w[1] == "journal":
                ok |= ino == "8"
            elif w[1] == "extent-tree":
                ok |= role == "etb"
            elif w[1] == "xattr":
                ok |= role == "acl"
            elif w[1] in ("resize-inode", "reserved-gdt"):
                ok |= ino in ("7", "none")
            elif w[1] == "boot-block":
                ok |= ino == "none" and b == 0
            else:
                ok |= ino == "none"
        else:
            # tool: TYPE [INODE]
            t = tool[0]
            ino = tool[1] if len(tool) > 1 else None
            if w[0] == "file":
                ok |= t in ("data", "dir", "rtdata") and ino == str(w[1])
            else:
                ok |= t in {"log": ("log",),
                            "fs-headers": ("sb", "agf", "agi", "agfl"),
                            "inodes": ("inode",),
                            "xattr": ("attr",),
                            # GETFSMAP's own owners (rmapbt)
                            "ag-metadata": ("btbno", "btcnt", "btrmap",
                                            "freelist"),
                            "inode-btree": ("btino", "btfino"),
                            "refcount-btree": ("btrefcnt",),
                            # read from the AG headers (no rmapbt)
                            "free-space btree": ("btbno", "btcnt"),
                            "free-list (AGFL)": ("freelist",),
                            "inode btree": ("btino", "btfino"),
                            "refcount btree": ("btrefcnt",),
                            "bmbt": ("btbmapd", "btbmapa")}.get(w[1], ())
    if not ok:
        bad.append((b, mine, tool))
seen = set()
for line in open(owners_path):
    seen.add(int(line.split()[0]))
# used in the live map without an owner, but free on disk (ext4
# allocator preallocations): named nowhere, counted here
held = sum(1 for b, ws in rl.items() if b not in seen and
           any(w[0] == "unknown" for w in ws))
# named "allocator-held" (free in the bitmaps, held in memory)
alloc = sum(1 for b, ws in rl.items() if ("meta", "allocator-held") in ws)
share = 100.0 * named / used if used else 0
print("%s: %d used blocks, %d with a named owner (%.2f%%); unnamed by the "
      "tool's type: %s; disagreements: %d; live map: %d blocks "
      "allocator-held, %d in use without an owner but free on disk" %
      (kind, used, named, share, unnamed or "none", len(bad), alloc, held))
for x in bad[:10]:
    print("  block %d: relayout %s, tool %s" % x)
sys.exit(1 if bad or share < float(minshare) else 0)
EOF
}

# A region that starts on used blocks (the inode table): group without
# --end is refused naming what is there; with --end the files go into the
# region's free runs, where filefrag finds them afterwards.
t_region() {
	local m=$VOL_MNT lo hi out f p bs
	bs=$(stat -f -c %S "$m")
	lo=$("$RELAYOUT" --json -e "who 0 64M" "$m" |
		jq '[.owners[] | select(.kind == "metadata" and .label == "inodes")][0].start')
	[ -n "$lo" ] && [ "$lo" != null ] || { fail "no inode table in who"; return; }
	hi=$((lo + 96 * 1048576))
	fails_unless 1 "not free, it holds [0-9.]+ [KM]iB metadata \(inodes\).*--end END" -- \
		"$RELAYOUT" -e "group --to $lo -- $m/d1/f100 $m/d1/f101" "$m"
	fails_unless 0 "placed in the free runs of $(printf 0x%x "$lo")" -- \
		"$RELAYOUT" -e "group --to $lo --end $hi -- $m/d1/f100 $m/d1/f101" "$m"
	[ -s "$RELAYOUT_JOURNAL_DIR"/*.journal ] || fail "group journaled nothing"
	out=$("$RELAYOUT" --json -e "who $lo $hi" "$m")
	for f in d1/f100 d1/f101; do
		p=$(filefrag -v "$m/$f" | awk '$1 == "0:" {print $4 + 0}')
		[ -n "$p" ] && [ $((p * bs)) -ge "$lo" ] && [ $((p * bs)) -lt "$hi" ] ||
			fail "$f starts at block $p, not inside the region"
		jq -e --argjson a $((p * bs)) '[.owners[] | select(.start <= $a and
			.start + .length > $a and .kind == "metadata")] | length == 0' \
			<<<"$out" >/dev/null || fail "$f was put on metadata"
	done
}

# ------------------------------------------------------------------- ext4
t_ext4() {
	local T=$VOL_DIR bs
	fill "$VOL_MNT"
	t_region
	"$RELAYOUT" --json -e "who 0 $(stat -c %s "$VOL_IMG")" "$VOL_MNT" \
		>"$T/who.json" || fail "who failed"
	# ncheck agrees with the paths relayout gives (a sample)
	jq -r '.owners[] | select(.kind == "file") | "\(.inode) \(.paths[0])"' \
		"$T/who.json" | sort -u -n | awk 'NR % 40 == 1' >"$T/paths"
	umount "$VOL_MNT" || vol_fail "cannot unmount"
	bs=$(dumpe2fs -h "$VOL_IMG" 2>/dev/null | awk -F: '/^Block size/ {print $2+0}')
	local nblocks
	nblocks=$(dumpe2fs -h "$VOL_IMG" 2>/dev/null | awk -F: '/^Block count/ {print $2+0}')
	# used = not in dumpe2fs's free ranges
	dumpe2fs "$VOL_IMG" 2>/dev/null | python3 -c '
import re, sys
n = int(sys.argv[1]); free = bytearray(n)
for line in sys.stdin:
    m = re.match(r"\s+Free blocks: (.*)", line)
    if not m or not m.group(1).strip():
        continue
    for r in m.group(1).split(","):
        a, _, b = r.strip().partition("-")
        for x in range(int(a), int(b or a) + 1):
            free[x] = 1
print("\n".join(str(b) for b in range(n) if not free[b]))' "$nblocks" >"$T/used"
	# the inode of every used block, then each owner's extent-tree and
	# xattr blocks from debugfs stat
	xargs -n 400 echo icheck <"$T/used" >"$T/cmds"
	debugfs -f "$T/cmds" "$VOL_IMG" 2>/dev/null |
		awk 'NR > 1 && $1 ~ /^[0-9]+$/ {print $1, ($2 ~ /^[0-9]+$/ ? $2 : "none")}' \
			>"$T/icheck"
	awk '$2 != "none" {print $2}' "$T/icheck" | sort -u -n |
		sed 's/.*/stat <&>/' >"$T/stats"
	debugfs -f "$T/stats" "$VOL_IMG" 2>/dev/null | python3 -c '
import re, sys
ino = None
roles = {}
for line in sys.stdin:
    m = re.match(r"Inode: (\d+)", line)
    if m:
        ino = m.group(1)
    m = re.search(r"File ACL: (\d+)", line)
    if m and m.group(1) != "0":
        roles[m.group(1)] = "acl"
    for b in re.findall(r"\(ETB\d+\):(\d+)", line):
        roles[b] = "etb"
for line in open(sys.argv[1]):
    b, i = line.split()
    print(b, i, roles.get(b, "data"))' "$T/icheck" >"$T/owners"
	[ "$(wc -l <"$T/owners")" -gt 1000 ] || fail "debugfs gave too few owners"
	grep -q " etb$" "$T/owners" || fail "no extent-tree block on the volume (test setup)"
	grep -q " acl$" "$T/owners" || fail "no xattr block on the volume (test setup)"
	compare "$VOL_FS" "$T/who.json" "$T/owners" "$bs" "$ATTRIB_MIN_EXT4" >&2 ||
		fail "attribution differs from debugfs"
	# ncheck: the paths of a sample of inodes
	local ino p want
	while read -r ino p; do
		want=$(debugfs -R "ncheck $ino" "$VOL_IMG" 2>/dev/null |
			awk 'NR == 2 {print $2}' | tr -s /)
		[ "/${p#./}" = "$want" ] || [ "$p" = . ] ||
			fail "inode $ino: relayout says $p, ncheck $want"
	done <"$T/paths"
}

# -------------------------------------------------------------------- XFS
t_xfs() {
	local T=$VOL_DIR bs agblocks agblklog agcount
	fill "$VOL_MNT"
	"$RELAYOUT" --json -e "who 0 $(stat -c %s "$VOL_IMG")" "$VOL_MNT" \
		>"$T/who.json" || fail "who failed"
	umount "$VOL_MNT" || vol_fail "cannot unmount"
	read -r bs agblocks agblklog agcount < <(xfs_db -r -c "sb 0" \
		-c "p blocksize agblocks agblklog agcount" "$VOL_IMG" |
		awk '{printf "%s ", $3} END {print ""}')
	local cmds=(-c "blockget -n")
	for ((ag = 0; ag < agcount; ag++)); do
		cmds+=(-c "fsblock $((ag << agblklog))" -c "blockuse -n -c $agblocks")
	done
	# "block N (AG/B) type T [inode I path]": N is an fsblock number
	xfs_db -r "${cmds[@]}" "$VOL_IMG" 2>/dev/null |
		awk -v agb="$agblocks" -v l="$agblklog" '
		$1 == "block" && $4 == "type" && $5 !~ /^(free|unknown)/ {
			split($3, a, "[(/)]")
			b = a[2] * agb + a[3]
			print b, $5, ($6 == "inode" ? $7 : "")
		}' >"$T/owners"
	[ "$(wc -l <"$T/owners")" -gt 1000 ] || fail "xfs_db gave too few owners"
	compare "$VOL_FS" "$T/who.json" "$T/owners" "$bs" "$ATTRIB_MIN_XFS" >&2 ||
		fail "attribution differs from xfs_db"
}

# (xfs-rmap too on request: there GETFSMAP names every owner itself)
for kind in ${RL_TEST_FS_ATTRIB:-ext4 xfs}; do
	vol_create "$kind" 320
	# the journal and the saved tunables stay in the test's directory
	export RELAYOUT_JOURNAL_DIR=$VOL_DIR/journal RELAYOUT_STATE_DIR=$VOL_DIR/state
	case $kind in
	ext4*) t_ext4 ;;
	xfs*) t_xfs ;;
	esac
	vol_destroy
done
exit $((fails > 0))
