#!/bin/bash
# Integration: scan a live ext4 volume into the layout model and check it
# against filefrag (extents), lsattr -v (the generation 'show' reads),
# debugfs icheck/ncheck (who), and the snapshot round trip (export ->
# import -> export byte-identical).
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/volume.sh"
command -v python3 >/dev/null || vol_skip "python3 not installed"
command -v filefrag >/dev/null || vol_skip "filefrag not installed"
command -v debugfs >/dev/null || vol_skip "debugfs not installed"
command -v lsattr >/dev/null || vol_skip "lsattr not installed"

vol_create ext4 256
W=$VOL_DIR/work
mkdir -p "$W"

# Content: rl_populate when it exists; our own files in any case.
if "$top_builddir/tests/tools/rl_populate" "$VOL_MNT" 7 1 >/dev/null 2>&1; then
	echo "note: rl_populate used"
fi
mkdir -p "$VOL_MNT/d1/d2" "$VOL_MNT/empty-dir"
for i in $(seq 1 60); do
	head -c $((i * 7001)) /dev/urandom >"$VOL_MNT/d1/f$i"
done
: >"$VOL_MNT/zero"
# two files written in turns: fragmented
for i in $(seq 1 24); do
	head -c 65536 /dev/urandom >>"$VOL_MNT/d1/d2/fragA"
	sync -f "$VOL_MNT"
	head -c 65536 /dev/urandom >>"$VOL_MNT/d1/d2/fragB"
	sync -f "$VOL_MNT"
done
dd if=/dev/urandom of="$VOL_MNT/big" bs=1M count=12 status=none
fallocate -l 1M "$VOL_MNT/prealloc"
# blocks past the end of file: the scan asks [0, size) first and must see
# that st_blocks has more (also for an empty file, and next to a hole)
head -c 5000 /dev/urandom >"$VOL_MNT/past-eof"
fallocate -n -o 0 -l 1M "$VOL_MNT/past-eof"
: >"$VOL_MNT/empty-prealloc"
fallocate -n -l 64K "$VOL_MNT/empty-prealloc"
head -c 3000 /dev/urandom >"$VOL_MNT/gap-past-eof"
fallocate -n -o 2M -l 128K "$VOL_MNT/gap-past-eof"
truncate -s 10M "$VOL_MNT/sparse-end" # size without blocks
ln "$VOL_MNT/d1/f3" "$VOL_MNT/link-to-f3"
ln -s d1/f4 "$VOL_MNT/symlink"
ln -s / "$VOL_MNT/d1/escape"
sync

out=$W/out.json
# ------------------------------------------------------------- extents
(cd "$VOL_MNT" && find . -xdev -type f | sed 's|^\./||' | sort) >"$W/files"
nfiles=$(wc -l <"$W/files")
{
	echo scan
	sed "s/'/'\\\\''/g; s/.*/show '&'/" "$W/files"
} >"$W/script"
"$RELAYOUT" --json "$VOL_MNT" -x "$W/script" >"$out" 2>"$W/err" ||
	{ cat "$W/err" >&2; vol_fail "relayout show failed"; }
while read -r f; do
	echo "== $f"
	echo "generation $(lsattr -v "$VOL_MNT/$f" | awk '{ print $1 }')"
	filefrag -v "$VOL_MNT/$f"
done <"$W/files" >"$W/filefrag"

python3 - "$out" "$W/filefrag" <<'EOF' || vol_fail "extents differ from filefrag"
import json, re, sys
docs = [json.loads(l) for l in open(sys.argv[1])]
scan = docs[0]
assert scan["command"] == "scan", scan
ours = {d["file"]: d for d in docs[1:]}
theirs, gens, cur, bs = {}, {}, None, None
for line in open(sys.argv[2]):
    if line.startswith("== "):
        cur = line[3:].rstrip("\n"); theirs[cur] = []; continue
    if line.startswith("generation "):
        gens[cur] = int(line.split()[1]); continue
    m = re.search(r"blocks of (\d+) bytes", line)
    if m: bs = int(m.group(1))
    m = re.match(r"\s*\d+:\s+(\d+)\.\.\s*(\d+):\s+(\d+)\.\.\s*(\d+):\s+(\d+):", line)
    if m:
        lo, hi, p0, p1, n = map(int, m.groups())
        theirs[cur].append((lo * bs, p0 * bs, n * bs))
bad = 0
for f, ext in theirs.items():
    d = ours.get(f)
    if d is None:
        print("missing from the model:", f); bad += 1; continue
    mine = [(e["logical"], e["physical"], e["length"]) for e in d["extents"]]
    if mine != ext:
        print("differs:", f, mine, ext); bad += 1
    # the scan does not read it: 'show' does, from the file
    if d.get("generation") != gens[f]:
        print("generation:", f, d.get("generation"), "lsattr:", gens[f]); bad += 1
print("checked", len(theirs), "files against filefrag,", bad, "bad;",
      "scan:", scan["files"], "files", scan["directories"], "dirs",
      scan["hardlinks"], "hard links", scan["skipped"], "skipped")
link = ours.get("link-to-f3") or ours.get("d1/f3")
assert len(link["paths"]) == 2, link["paths"]
assert scan["hardlinks"] >= 1 and scan["skipped"] >= 2, scan
sys.exit(1 if bad else 0)
EOF
[ "$nfiles" -gt 60 ] || vol_fail "only $nfiles files"

# ----------------------------------------------------------------- who
# sample blocks: the first and last block of a few files' extents
python3 - "$out" >"$W/blocks" <<'EOF'
import json, sys
docs = [json.loads(l) for l in open(sys.argv[1])][1:]
n = 0
for d in docs:
    if not d["extents"] or len(d["paths"]) > 1: continue
    e = d["extents"][0]
    if "unwritten" in e["flags"]: continue
    for b in (e["physical"], e["physical"] + e["length"] - 4096):
        print(b // 4096, d["inode"], d["file"])
    n += 1
    if n >= 25: break
EOF
checked=0
while read -r blk ino path; do
	got=$("$RELAYOUT" --json "$VOL_MNT" -e "who $((blk * 4096))" |
		python3 -c 'import json,sys; d=json.load(sys.stdin); print(" ".join(str(o.get("inode","-")) for o in d["owners"]))')
	dfs=$(debugfs -c -R "icheck $blk" "$VOL_DEV" 2>/dev/null | awk 'NR>1{print $2}')
	name=$(debugfs -c -R "ncheck $dfs" "$VOL_DEV" 2>/dev/null | awk 'NR>1{print $2; exit}' | sed "s|^//*|/|")
	[ "$got" = "$ino" ] || vol_fail "who $blk: relayout says inode $got, expected $ino"
	[ "$dfs" = "$ino" ] || vol_fail "who $blk: debugfs icheck says $dfs, relayout $ino"
	[ "$name" = "/$path" ] || vol_fail "who $blk: debugfs ncheck says $name, relayout /$path"
	checked=$((checked + 1))
done <"$W/blocks"
[ "$checked" -ge 20 ] || vol_fail "only $checked blocks checked"
echo "who: $checked blocks agree with debugfs icheck/ncheck"

# ------------------------------------------------------------ snapshot
"$RELAYOUT" "$VOL_MNT" -e "export $W/a.json; import $W/a.json; export $W/b.json" >/dev/null ||
	vol_fail "export/import/export failed"
cmp "$W/a.json" "$W/b.json" || vol_fail "export -> import -> export differs"
# a snapshot view is read-only
if "$RELAYOUT" "$W/a.json" -e "movedata d1/f1 d1/f2 0 4096" 2>"$W/ro"; then
	vol_fail "movedata ran on a snapshot"
fi
grep -q "the view is a snapshot (read-only)" "$W/ro" || { cat "$W/ro"; vol_fail "no read-only message"; }
"$RELAYOUT" "$W/a.json" -e "show d1/f5; frag; diff $W/a.json" >"$W/snapview" ||
	vol_fail "snapshot view commands failed"
grep -q "0 moved, 0 added, 0 removed" "$W/snapview" || { cat "$W/snapview"; vol_fail "diff of a snapshot with itself"; }
echo "snapshot: export/import/export identical ($(wc -c <"$W/a.json") bytes)"
exit 0
