#!/bin/bash
# get_free_blocks / space map on real volumes: ext4, ext4-1k, xfs, xfs-rmap,
# btrfs. For each: populate and fragment, run rl_freemap_check (shape,
# paging, windows, FIEMAP disjointness, statfs relation, privileges),
# compare `relayout --json free` with it, and cross-check with the
# filesystem's own tools:
#   ext4   dumpe2fs "Free blocks:" ranges (unmounted), exact range equality
#   xfs    xfs_db freesp total (unmounted), exact
#   btrfs  btrfs filesystem usage: data (size - used) + device unallocated
# RL_FREEMAP_FS overrides the list of kinds; RL_FREEMAP_VERBOSE=1 prints the
# timings.
. "$top_srcdir/tests/lib/volume.sh"
vol_require_root
command -v jq >/dev/null || vol_skip "jq not installed"

CHECK=$top_builddir/tests/tools/rl_freemap_check
POPULATE=$top_builddir/tests/tools/rl_populate
KINDS=${RL_FREEMAP_FS:-ext4 ext4-1k xfs xfs-rmap btrfs}

# Fragment free space without relying on rl_populate: files of assorted
# sizes, a preallocated one, every other one deleted.
fragment() {
	local d=$VOL_MNT/frag
	mkdir -p "$d/many"
	# (one python3 process: thousands of forks took minutes on a loaded
	# machine)
	python3 - "$d" <<'PY' || vol_fail "fragment"
import os, sys
d = sys.argv[1]
# fsync: allocate now, in creation order (no delalloc packing), so the
# deletions below leave holes.
for i in range(1, 121):
    with open(f"{d}/f{i}", "wb") as f:
        f.write(os.urandom(4096 * (i % 29 + 1)))
        f.flush()
        os.fsync(f.fileno())
PY
	fallocate -l 8M "$d/prealloc" || vol_fail "fallocate"
	dd if=/dev/zero of="$d/sparse" bs=4k count=1 seek=999 status=none
	# Many small files, every other one deleted: well over the 512
	# records of one GETFSMAP batch, so paging and merging across
	# batches are exercised.
	python3 - "$d" <<'PY' || vol_fail "fragment"
import os, sys
d = sys.argv[1]
for i in list(range(2, 121, 2)) + list(range(1, 121, 7)):
    if os.path.exists(f"{d}/f{i}"):
        os.unlink(f"{d}/f{i}")
blob = os.urandom(64 * 4096)
for i in range(1, 2501):
    with open(f"{d}/many/{i}", "wb") as f:
        f.write(blob[: (i % 16 + 1) * 4096])
PY
	sync -f "$VOL_MNT"
	python3 -c 'import os, sys
for i in range(1, 2501, 2): os.unlink(f"{sys.argv[1]}/many/{i}")' "$d" || vol_fail "fragment"
	sync -f "$VOL_MNT"
}

# "START LENGTH" lines (bytes) of relayout's free list, merged.
relayout_ranges() {
	"$RELAYOUT" --json -e 'free' "$VOL_MNT" |
		jq -r '.extents[] | "\(.start) \(.length)"'
}

# ext4: free block ranges from dumpe2fs of the unmounted device, as merged
# "START LENGTH" byte lines.
dumpe2fs_ranges() {
	local bs
	bs=$(dumpe2fs -h "$VOL_DEV" 2>/dev/null | awk -F: '/^Block size/ {print $2+0}')
	dumpe2fs "$VOL_DEV" 2>/dev/null |
		awk -v bs="$bs" '
		/^  Free blocks: / {
			sub(/^  Free blocks: /, "")
			n = split($0, r, /, */)
			for (i = 1; i <= n; i++) {
				if (r[i] == "") continue
				m = split(r[i], ab, "-")
				a = ab[1]; b = (m == 2 ? ab[2] : ab[1]) + 1
				if (have && a == cb) { cb = b; continue }
				if (have) printf "%d %d\n", ca * bs, (cb - ca) * bs
				ca = a; cb = b; have = 1
			}
		}
		END { if (have) printf "%d %d\n", ca * bs, (cb - ca) * bs }'
}

for kind in $KINDS; do
	size=256
	# mkfs.xfs (6.1) refuses filesystems below 300 MB.
	case $kind in xfs*) size=320 ;; esac
	vol_create "$kind" "$size"

	# The shared populator, once it exists (the placeholder exits 77).
	rc=0
	"$POPULATE" "$VOL_MNT" 42 1 || rc=$?
	[ $rc = 0 ] || [ $rc = 77 ] || vol_fail "$kind: rl_populate rc $rc"
	fragment
	# A remount drops ext4's mballoc preallocations: the map then
	# equals statfs exactly.
	vol_remount

	out=$("$CHECK" "$VOL_MNT" --exact-ext4 --seed 7) ||
		vol_fail "$kind: rl_freemap_check"
	eval "$out" # free_bytes= extents= largest= free_us= walk_us= records=
	echo "$kind: $extents free extents, $free_bytes bytes free, full walk" \
		"$walk_us us ($records records), get_free_blocks $free_us us"

	json=$("$RELAYOUT" --json -e 'free' "$VOL_MNT") ||
		vol_fail "$kind: relayout free"
	[ "$(jq .free_bytes <<<"$json")" = "$free_bytes" ] ||
		vol_fail "$kind: relayout free_bytes $(jq .free_bytes <<<"$json") != $free_bytes"
	[ "$(jq .count <<<"$json")" = "$extents" ] ||
		vol_fail "$kind: relayout count $(jq .count <<<"$json") != $extents"
	[ "$(jq '[.extents[].length] | add // 0' <<<"$json")" = "$free_bytes" ] ||
		vol_fail "$kind: relayout extents do not add up"
	"$RELAYOUT" -e 'free --map' "$VOL_MNT" >"$VOL_DIR/map.txt" ||
		vol_fail "$kind: free --map"
	grep -q "^$extents free extents\?," "$VOL_DIR/map.txt" ||
		vol_fail "$kind: free --map summary"

	case $kind in
	ext4*)
		relayout_ranges >"$VOL_DIR/rl.txt"
		umount "$VOL_MNT" || vol_fail "umount"
		dumpe2fs_ranges >"$VOL_DIR/e2.txt"
		mount "$VOL_DEV" "$VOL_MNT" || vol_fail "mount"
		if ! diff -u "$VOL_DIR/e2.txt" "$VOL_DIR/rl.txt" >&2; then
			vol_fail "$kind: free ranges differ from dumpe2fs"
		fi
		echo "$kind: $(wc -l <"$VOL_DIR/rl.txt") ranges equal dumpe2fs"
		;;
	xfs*)
		# The AGF free-block counters (the free-space btrees) must
		# equal the map exactly; xfs_db's freesp also counts the
		# AGFL blocks (flcount per AG), which GETFSMAP does not.
		bs=$(stat -f -c %S "$VOL_MNT")
		umount "$VOL_MNT" || vol_fail "umount"
		agc=$(xfs_db -r -c 'sb 0' -c 'p agcount' "$VOL_DEV" | awk '{print $3}')
		agf=0 agfl=0
		for ((i = 0; i < agc; i++)); do
			read -r fb fl < <(xfs_db -r -c "agf $i" -c 'p freeblks' \
				-c 'p flcount' "$VOL_DEV" | awk '{v[NR] = $3} END {print v[1], v[2]}')
			agf=$((agf + fb)) agfl=$((agfl + fl))
		done
		fsp=$(xfs_db -r -c 'freesp -s' "$VOL_DEV" |
			awk '/total free blocks/ {print $4}')
		mount "$VOL_DEV" "$VOL_MNT" || vol_fail "mount"
		[ $((agf * bs)) = "$free_bytes" ] ||
			vol_fail "$kind: AGF freeblks $((agf * bs)) != $free_bytes"
		[ "$fsp" = $((agf + agfl)) ] ||
			vol_fail "$kind: xfs_db freesp $fsp != AGF $agf + AGFL $agfl"
		echo "$kind: equals the AGF free counters ($agf blocks; xfs_db freesp $fsp = + $agfl AGFL)"
		;;
	btrfs)
		usage=$(btrfs filesystem usage -b "$VOL_MNT") ||
			vol_fail "btrfs filesystem usage"
		unalloc=$(awk '/Device unallocated:/ {print $3}' <<<"$usage")
		data=$(sed -n 's/^Data,[^:]*: Size:\([0-9]*\), Used:\([0-9]*\).*/\1 \2/p' <<<"$usage" |
			awk '{s += $1 - $2} END {print s + 0}')
		[ $((data + unalloc)) = "$free_bytes" ] ||
			vol_fail "btrfs: data free $data + unallocated $unalloc != $free_bytes"
		echo "btrfs: equals data (size - used) $data + unallocated $unalloc"
		;;
	esac
	vol_destroy
done
exit 0
