#!/bin/bash
# allocate (non-placed modes): each mode either holds -- checked with
# filefrag, independent of relayout's FIEMAP code -- or the call fails and
# leaves nothing allocated. Exact placement (--fixed-start) on ext4/XFS is
# tested by place.sh; on btrfs it must be refused.
. "$top_srcdir/tests/lib/volume.sh"
command -v jq >/dev/null || vol_skip "jq not installed"

# extents_of FILE: "logical physical length flags" lines in bytes (filefrag -v).
extents_of() {
	filefrag -v -b1 "$1" | awk '$1 ~ /^[0-9]+:$/ {
		gsub(/\.\./, " "); gsub(/:/, " ");
		# id lstart lend pstart pend len flags
		print $2, $4, $6, $7 }'
}
nblocks_of() { extents_of "$1" | awk '{s += $3} END {print s + 0}'; }

run() { "$RELAYOUT" --json "$@" 2>"$VOL_DIR/err"; }

check_fs() {
	local kind=$1 M bs out got
	vol_create "$kind" 256
	M=$VOL_MNT
	bs=$(stat -f -c %S "$M")

	# 1. plain: up to LEN, unwritten, size grows past EOF
	out=$(run -e "allocate $M/a 0 0 1M" "$M") || fail "plain allocate: $(cat "$VOL_DIR/err")"
	got=$(jq -r .allocated <<<"$out")
	[ "$got" = 1048576 ] || fail "plain allocate got $got"
	[ "$(nblocks_of "$M/a")" = 1048576 ] || fail "filefrag does not see 1 MiB in a"
	[ "$(stat -c %s "$M/a")" = 1048576 ] || fail "size did not grow to 1 MiB"
	extents_of "$M/a" | grep -q unwritten || fail "allocated extents are not unwritten"

	# 2. at an offset past EOF, contiguous and fixed-len
	out=$(run -e "allocate --contiguous --fixed-len $M/a 4M 0 2M" "$M") ||
		fail "contiguous allocate: $(cat "$VOL_DIR/err")"
	[ "$(jq -r .allocated <<<"$out")" = 2097152 ] || fail "contiguous got $(jq -r .allocated <<<"$out")"
	# physically contiguous per filefrag
	if ! extents_of "$M/a" | awk -v lo=4194304 -v hi=6291456 '
		$1 >= lo && $1 < hi { if (n && $2 != next_p) bad = 1; next_p = $2 + $3; n++ }
		END { exit bad }'; then fail "2 MiB not contiguous"; fi
	[ "$(stat -c %s "$M/a")" = 6291456 ] || fail "size after offset allocate"

	# 3. range already allocated -> refused, file unchanged
	before=$(extents_of "$M/a")
	run -e "allocate $M/a 0 0 8K" "$M" >/dev/null && fail "allocate over blocks succeeded"
	grep -q 'the range already holds blocks (allocate only fills holes' "$VOL_DIR/err" || fail "no EEXIST message: $(cat "$VOL_DIR/err")"
	[ "$before" = "$(extents_of "$M/a")" ] || fail "refused allocate changed the file"

	# 4. unaligned -> usage error, nothing created
	"$RELAYOUT" -e "allocate $M/u 0 0 $((bs + 1))" "$M" 2>/dev/null; [ $? = 2 ] || fail "unaligned not a usage error"

	# 5. more than the free space: FIXED_LEN fails and leaves nothing
	big=$(( $(stat -f -c %b "$M") * bs ))
	: >"$M/big"
	run -e "allocate --fixed-len $M/big 0 0 $big" "$M" >/dev/null && fail "oversized fixed-len succeeded"
	[ "$(nblocks_of "$M/big")" = 0 ] || fail "failed fixed-len left blocks behind"
	[ "$(stat -c %s "$M/big")" = 0 ] || fail "failed fixed-len changed the size"

	# 6. fragmented free space: no 4 MiB contiguous run left
	mkdir "$M/frag"
	# 64 KiB files until the volume is full, every other one deleted
	# (one python3 process: thousands of forks took minutes)
	python3 - "$M/frag" <<'PY' || fail "filling the volume"
import os, sys
d, i = sys.argv[1], 0
while True:
    try:  # ENOSPC: from open (no room for an inode) or from fallocate
        fd = os.open(f"{d}/{i}", os.O_WRONLY | os.O_CREAT, 0o644)
    except OSError:
        break
    try:
        os.posix_fallocate(fd, 0, 65536)
    except OSError:
        break
    finally:
        os.close(fd)
    i += 1
for k in range(0, i + 1, 2):
    if os.path.exists(f"{d}/{k}"):
        os.unlink(f"{d}/{k}")
PY
	sync -f "$M"
	# the largest free run now (the free map is checked against other
	# tools by freemap.sh); ask for more than it, contiguously
	largest=$("$RELAYOUT" --json -e free "$M" | jq -r .largest)
	[ "${largest:-0}" -gt 0 ] 2>/dev/null || { fail "cannot read the largest free extent"; largest=$((64 * 1024)); }
	want=$(( (largest / bs + 1) * bs ))
	: >"$M/c"
	run -e "allocate --contiguous --fixed-len $M/c 0 0 $want" "$M" >"$VOL_DIR/out" &&
		fail "$want contiguous bytes with the largest free run $largest succeeded"
	[ "$(nblocks_of "$M/c")" = 0 ] || fail "failed contiguous allocate left blocks"
	[ "$(stat -c %s "$M/c")" = 0 ] || fail "failed contiguous allocate changed the size"
	# without FIXED_LEN: a contiguous prefix is kept
	out=$(run -e "allocate --contiguous $M/c 0 0 $((want * 4))" "$M") || fail "contiguous up-to failed: $(cat "$VOL_DIR/err")"
	got=$(jq -r .allocated <<<"$out")
	if [ "${got:-0}" -le 0 ] 2>/dev/null || [ "$got" -gt "$largest" ]; then fail "contiguous up-to allocated $got (largest free $largest)"; fi
	[ "$(nblocks_of "$M/c")" = "$got" ] || fail "filefrag blocks $(nblocks_of "$M/c") != reported $got"
	[ "$(extents_of "$M/c" | awk 'NR>1 && $2 != np {b=1} {np=$2+$3} END {print b+0}')" = 0 ] ||
		fail "kept prefix not contiguous"
	[ "$(stat -c %s "$M/c")" = "$got" ] || fail "size after up-to allocation is not $got"

	# 7. fixed start on btrfs: refused, nothing allocated
	if [ "$kind" = btrfs ]; then
		: >"$M/p"
		run -e "allocate --fixed-start $M/p 0 1M 64K" "$M" >/dev/null && fail "btrfs fixed-start succeeded"
		grep -q 'not supported' "$VOL_DIR/err" || fail "btrfs fixed-start message: $(cat "$VOL_DIR/err")"
		[ "$(nblocks_of "$M/p")" = 0 ] || fail "btrfs fixed-start left blocks"
	fi
	vol_fsck
	vol_destroy
}

for kind in $RL_TEST_FS; do
	check_fs "$kind"
done
[ $fails = 0 ] || { echo "$fails allocate checks failed" >&2; exit 1; }
echo "allocate: all checks passed on $RL_TEST_FS"
