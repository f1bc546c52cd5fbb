#!/bin/bash
# Two volumes with one UUID (issue 14 item 7): a copy of a filesystem
# image keeps its UUID, so both copies share one journal file. Side by
# side (XFS: the copy mounted with -o nouuid; ext4 mounts it as is), with
# one journal directory:
#  - a move on copy A is transaction 1 of A; `log` on B does not list it
#    (text and JSON) and says one transaction of another volume was left
#    out, naming A's image;
#  - `undo 1` on B is refused, naming the volume it was recorded on (A's
#    image), and B's file keeps its extents (filefrag) and content; `undo`
#    without an id on B finds nothing to undo;
#  - on A, `log` lists it and `undo` puts the file back where it was.
. "$top_srcdir/tests/lib/volume.sh"
vol_require_root
for t in jq filefrag md5sum; do
	command -v $t >/dev/null || vol_skip "$t not installed"
done
R() { "$RELAYOUT" "$@"; }

# goal M: a free address 1 MiB into the volume's last free extent
goal() {
	R --json -e free "$1" | jq -r '.extents | last | .start + 1048576'
}

run_kind() {
	local kind=$1 A B DEV2 f sum ext_a ext_b out rc g img2
	vol_create "$kind" 300
	A=$VOL_MNT
	f="file"
	for k in 0 1 2 3; do
		dd if=/dev/urandom of="$A/$f" bs=64K count=1 seek=$k conv=notrunc status=none
		dd if=/dev/zero of="$A/gap$k" bs=64K count=1 status=none
		sync -f "$A"
	done
	rm -f "$A"/gap*
	sync -f "$A"
	# the copy: same UUID, same contents, another loop device
	vol__umount "$A" nolazy || vol_fail "umount $A"
	img2=$VOL_DIR/image.copy
	cp --sparse=always "$VOL_IMG" "$img2" || vol_fail "cp $VOL_IMG"
	DEV2=$(losetup -f --show "$img2") || vol_skip "no free loop device"
	B=$VOL_DIR/mnt2
	mkdir "$B"
	mount "$VOL_DEV" "$A" || vol_fail "mount $VOL_DEV"
	case $kind in
	xfs*) mount -o nouuid "$DEV2" "$B" ;;
	*) mount "$DEV2" "$B" ;;
	esac || vol_fail "mount the copy $DEV2"
	[ "$(R --json -e info "$A" | jq -r .uuid)" = "$(R --json -e info "$B" | jq -r .uuid)" ] ||
		vol_fail "the copy has another UUID"
	export RELAYOUT_JOURNAL_DIR=$VOL_DIR/journal RELAYOUT_STATE_DIR=$VOL_DIR/state
	ext_b=$(vol_extents "$B/$f")
	sum=$(md5sum <"$B/$f")
	ext_a=$(vol_extents "$A/$f")

	g=$(goal "$A")
	out=$(R -e "move $A/$f --to $g" "$A" 2>&1) || vol_fail "move on A: $out"
	[ "$(vol_extents "$A/$f")" != "$ext_a" ] || fail "the move on A moved nothing"

	# B does not list A's transaction as its own
	out=$(R -e log "$B" 2>&1)
	grep -qE "^ +1 " <<<"$out" && fail "log on the copy lists A's transaction 1: $out"
	grep -qF "(1 transaction of other volumes with this UUID not shown, e.g. on $VOL_DEV (image $VOL_IMG); this is $DEV2 (image $img2))" <<<"$out" ||
		fail "log on the copy does not say what it left out: $out"
	out=$(R --json -e log "$B" 2>&1)
	[ "$(jq -c '[(.transactions | length), .other_volumes_transactions]' <<<"$out")" = "[0,1]" ] ||
		fail "log --json on the copy: $out"
	# nor undoes it
	fails_unless 1 "transaction 1 was recorded on another volume with the same UUID, $VOL_DEV \(image $VOL_IMG\); this is $DEV2 \(image $img2\)" -- "$RELAYOUT" -e "undo 1" "$B"
	fails_unless 1 "nothing to undo" -- "$RELAYOUT" -e undo "$B"
	[ "$(vol_extents "$B/$f")" = "$ext_b" ] || fail "the copy's file moved"
	[ "$(md5sum <"$B/$f")" = "$sum" ] || fail "the copy's file changed"

	# A's own history is whole
	out=$(R -e log "$A" 2>&1)
	grep -qE "^ +1 .*applied" <<<"$out" || fail "log on A: $out"
	grep -q "other volumes" <<<"$out" && fail "log on A mentions other volumes: $out"
	out=$(R -e undo "$A" 2>&1) || fail "undo on A: $out"
	[ "$(vol_extents "$A/$f")" = "$ext_a" ] || fail "undo on A did not put the file back"
	[ "$(md5sum <"$A/$f")" = "$sum" ] || fail "A's file changed"
	[ $fails != 0 ] || echo "[$kind] the copy neither lists nor undoes the original's transaction"
	vol_destroy
}

for kind in xfs ext4; do
	vol_kind_enabled $kind || continue
	run_kind $kind
done
exit $((fails > 0))
