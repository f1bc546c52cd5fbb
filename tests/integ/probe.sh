#!/bin/bash
# relayout's volume probe ('info') against the filesystems' own tools:
# fstype, device, mount point, UUID (blkid), block size and count, statfs
# totals (stat -f), ext4 groups (dumpe2fs -h), XFS AGs and features
# (xfs_info). btrfs: type, block size and UUID only (its size and block
# groups come from rl_btrfs_probe, tested with it).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/volume.sh"

vol_require_root
command -v jq >/dev/null || vol_skip "jq not installed (apt-get install jq)"
[ -x "$RELAYOUT" ] || vol_fail "$RELAYOUT not built"

# expect WHAT GOT WANT
expect() {
	[ "$2" = "$3" ] || vol_fail "$VOL_FS: $1 is '$2', expected '$3'"
	echo "ok: $VOL_FS: $1 = $2"
}

# Value of "Key:" in dumpe2fs -h output.
e2_field() {
	sed -n "s/^$1: *//p" "$VOL_DIR/dumpe2fs"
}

# Value of key=N in xfs_info output ("agcount=4," "blocks=76800,").
xfs_field() {
	grep -o "$1=[0-9]*" "$VOL_DIR/xfs_info" | head -1 | cut -d= -f2
}

check_probe() {
	local kind=$1 j bs blocks bpg groups want

	mkdir "$VOL_MNT/sub"
	j=$("$RELAYOUT" --json -e info "$VOL_MNT/sub") ||
		vol_fail "$kind: relayout info failed"
	jf() { jq -r "$1" <<<"$j"; }

	expect mountpoint "$(jf .mountpoint)" "$(realpath "$VOL_MNT")"
	expect device "$(jf .device)" "$VOL_DEV"
	expect fstype "$(jf .fstype)" "$(findmnt -n -o FSTYPE --target "$VOL_MNT")"
	expect type "$(jf .type)" "${kind%%-*}"
	# -p: probe the device itself; blkid's cache keeps the UUID of an
	# earlier filesystem on the same (reused) loop device
	expect uuid "$(jf .uuid)" "$(blkid -p -s UUID -o value "$VOL_DEV")"
	expect block_size "$(jf .block_size)" "$(stat -f -c %S "$VOL_MNT")"

	case $kind in
	btrfs)
		expect address_space "$(jf .address_space)" btrfs-logical
		return 0
		;;
	esac
	expect address_space "$(jf .address_space)" device
	expect total_bytes "$(jf .total_bytes)" \
		$(($(stat -f -c '%b * %S' "$VOL_MNT")))

	case $kind in
	ext4*)
		dumpe2fs -h "$VOL_DEV" >"$VOL_DIR/dumpe2fs" 2>/dev/null ||
			vol_fail "dumpe2fs -h $VOL_DEV"
		bs=$(e2_field "Block size")
		blocks=$(e2_field "Block count")
		bpg=$(e2_field "Blocks per group")
		# count the groups dumpe2fs lists rather than redo the division
		groups=$(dumpe2fs "$VOL_DEV" 2>/dev/null | grep -c '^Group [0-9]')
		expect "block_size (dumpe2fs)" "$(jf .block_size)" "$bs"
		expect "size (dumpe2fs blocks)" "$(jf .size)" $((blocks * bs))
		expect "group_count (dumpe2fs)" "$(jf .group_count)" "$groups"
		expect "group_size (dumpe2fs)" "$(jf .group_size)" $((bpg * bs))
		want='["getfsmap","move_ext","place"]'
		;;
	xfs*)
		xfs_info "$VOL_MNT" >"$VOL_DIR/xfs_info" ||
			vol_fail "xfs_info $VOL_MNT"
		# data = bsize=4096 blocks=76800, imaxpct=25
		bs=$(sed -n 's/^data *= *bsize=\([0-9]*\).*/\1/p' \
			"$VOL_DIR/xfs_info")
		blocks=$(sed -n 's/^data *= *bsize=[0-9]* *blocks=\([0-9]*\).*/\1/p' \
			"$VOL_DIR/xfs_info")
		expect "block_size (xfs_info)" "$(jf .block_size)" "$bs"
		expect "size (xfs_info blocks)" "$(jf .size)" $((blocks * bs))
		expect "group_count (agcount)" "$(jf .group_count)" \
			"$(xfs_field agcount)"
		expect "group_size (agsize)" "$(jf .group_size)" \
			$(($(xfs_field agsize) * bs))
		want='["getfsmap"'
		[ "$(xfs_field reflink)" = 1 ] && want+=',"reflink"'
		[ "$(xfs_field rmapbt)" = 1 ] && want+=',"rmapbt"'
		# movedata (FIDEDUPERANGE) needs reflink
		[ "$(xfs_field reflink)" = 1 ] && want+=',"dedupe"'
		want+=',"place"]'
		;;
	esac
	expect features "$(jq -c .features <<<"$j")" "$want"
}

vol_for_each "ext4 ext4-1k xfs xfs-noreflink xfs-rmap btrfs" check_probe
