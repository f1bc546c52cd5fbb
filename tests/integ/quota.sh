#!/bin/bash
# Quotas: root moves a user's file while the user sits just under the
# block quota's hard limit, on ext4 (-O quota, usrquota) and XFS (uquota).
# Either the move succeeds and the user's usage is unchanged, or it fails
# cleanly with EDQUOT ("disk quota exceeded (EDQUOT", nothing of the step
# left): content, extents and usage unchanged, fsck clean.
#
# Where the kernel has no quota support (ext4 needs CONFIG_QFMT_V2, XFS
# CONFIG_XFS_QUOTA: the mount with quotas is refused), there is nothing to
# test on that filesystem: the mount is tried, and the kernel's reason is
# printed with what the kernel's configuration says. If no filesystem can
# have quotas the whole test is skipped (77) with those reasons
# (vol_not_applicable, tests/lib/volume.sh): nothing was tested.
#
# To run it, use a kernel with CONFIG_QFMT_V2 (ext4) or CONFIG_XFS_QUOTA
# (XFS), built in or as modules (quota_v2 is loaded here when it is a
# module; Debian's and Fedora's stock kernels have both), e.g. in a VM:
#     RL_TEST_QUOTA=1 make check TESTS=tests/integ/quota.sh
# RL_TEST_QUOTA=1 makes "not applicable" a failure, so a run meant
# to exercise quotas cannot pass without doing so.
. "$top_srcdir/tests/lib/volume.sh"
vol_require_root
for t in jq filefrag setquota quota setpriv; do
	command -v $t >/dev/null || vol_skip "$t not installed"
done
id nobody >/dev/null 2>&1 || vol_skip "no user nobody"
NOGROUP=$(id -gn nobody)
as_user() { setpriv --reuid=nobody --regid="$NOGROUP" --clear-groups -- "$@"; }
extents_of() { vol_extents "$1"; }
# usage_kib USER: blocks used, in KiB, as the quota tools report them
usage_kib() { quota -w -u "$1" 2>/dev/null | awk 'NR > 2 {print $2 + 0; exit}'; }

# kconfig OPTION: its value in this kernel's configuration (y, m, "not
# set"), or "unknown" when neither /proc/config.gz nor /boot/config-* is
# there.
kconfig() {
	local v
	if [ -r /proc/config.gz ]; then
		v=$(zcat /proc/config.gz | sed -n "s/^$1=//p; s/^# $1 is not set/not set/p")
	elif [ -r "/boot/config-$(uname -r)" ]; then
		v=$(sed -n "s/^$1=//p; s/^# $1 is not set/not set/p" "/boot/config-$(uname -r)")
	fi
	echo "${v:-unknown}"
}
# the option each filesystem's quotas need
quota_option() { case $1 in ext4) echo CONFIG_QFMT_V2 ;; xfs) echo CONFIG_XFS_QUOTA ;; esac; }
[ "$(kconfig CONFIG_QFMT_V2)" != m ] || modprobe quota_v2 2>/dev/null

# quota_volume KIND SIZE: a volume mounted with user quotas enforced;
# returns 1 with QREASON set when the kernel refuses quotas.
quota_volume() {
	local kind=$1 opts mark why
	vol_create "$kind" "$2"
	vol__umount "$VOL_MNT" nolazy || vol_fail "umount $VOL_MNT"
	case $kind in
	ext4)
		tune2fs -O quota -Q usrquota "$VOL_DEV" >"$VOL_DIR/tune2fs.log" 2>&1 ||
			vol_fail "tune2fs -O quota: $(cat "$VOL_DIR/tune2fs.log")"
		opts=usrquota
		;;
	xfs) opts=uquota ;;
	esac
	mark="relayout quota.sh $$ $kind mount"
	echo "$mark" >/dev/kmsg 2>/dev/null
	if ! mount -o "$opts" "$VOL_DEV" "$VOL_MNT" 2>"$VOL_DIR/mount.err"; then
		# the kernel's reason is in its log (mount(8) only says "bad
		# option"): what this mount added after the mark
		why=$(dmesg 2>/dev/null | sed -n "/$mark/,\$p" | grep -iE "${VOL_DEV##*/}.*(quota.*(not available|not built|not supported)|not built with CONFIG_QUOTA)" | tail -1 | sed 's/^\[[^]]*\] *//')
		# only the kernel saying it has no quota support makes it not applicable
		[ -n "$why" ] || vol_fail "mount -o $opts failed, and not for want of kernel quota support: $(cat "$VOL_DIR/mount.err")"
		QREASON="$kind: mount -o $opts refused: $why ($(quota_option "$kind"): $(kconfig "$(quota_option "$kind")"), kernel $(uname -r))"
		return 1
	fi
	[ "$kind" = xfs ] || quotaon -u "$VOL_MNT" 2>/dev/null
	return 0
}

run_quota() {
	local M=$VOL_MNT f sum ext u0 u1 r0 r1 goal rc k
	export RELAYOUT_JOURNAL_DIR=$VOL_DIR/journal RELAYOUT_STATE_DIR=$VOL_DIR/state
	mkdir "$M/q"
	chown nobody:"$NOGROUP" "$M/q"
	f=$M/q/f
	# the user's 2 MiB file, in 8 pieces
	for ((k = 0; k < 8; k++)); do
		as_user dd if=/dev/urandom of="$f" bs=256K count=1 seek=$((k * 3 % 8)) conv=notrunc status=none
		as_user dd if=/dev/zero of="$M/q/gap$k" bs=256K count=1 status=none
		sync -f "$M"
	done
	rm -f "$M"/q/gap*
	sync -f "$M"
	sum=$(md5sum <"$f")
	ext=$(extents_of "$f")
	u0=$(usage_kib nobody) r0=$(usage_kib root)
	[ -n "$u0" ] || { fail "no quota usage reported for nobody"; return; }
	# a hard limit just above what the user uses
	setquota -u nobody $((u0 + 256)) $((u0 + 256)) 0 0 "$M" || fail "setquota"
	goal=$(($("$RELAYOUT" -e free "$M" | awk '$1 ~ /^0x/ {s = $1} END {print s}') + (1 << 20)))
	"$RELAYOUT" -e "move $f --to $goal --io-priority normal" "$M" >/dev/null 2>"$VOL_DIR/q.err"
	rc=$?
	sync -f "$M"
	u1=$(usage_kib nobody) r1=$(usage_kib root)
	note "move of nobody's 2 MiB file, limit $((u0 + 256)) KiB: exit $rc $(cat "$VOL_DIR/q.err")"
	note "usage: nobody $u0 -> $u1 KiB, root $r0 -> $r1 KiB"
	[ "$sum" = "$(md5sum <"$f")" ] || fail "content changed"
	[ "$u0" = "$u1" ] || fail "the user's usage changed by $((u1 - u0)) KiB"
	case $rc in
	0) ;;
	1)
		grep -q "disk quota exceeded (EDQUOT.*nothing of this step" "$VOL_DIR/q.err" ||
			fail "a failed move, but no clean EDQUOT message: $(cat "$VOL_DIR/q.err")"
		[ "$ext" = "$(extents_of "$f")" ] || fail "a failed move left the file's extents changed"
		;;
	*) fail "move exit $rc" ;;
	esac
	"$RELAYOUT" -e log "$M" >/dev/null 2>&1 || fail "log"
	setquota -u nobody 0 0 0 0 "$M"
	vol_fsck
}

NA=()
ran=0
for kind in ext4 xfs; do
	vol_kind_enabled $kind || continue
	QREASON=
	case $kind in ext4) size=256 ;; xfs) size=300 ;; esac
	if quota_volume $kind $size; then
		run_quota
		ran=$((ran + 1))
	else
		echo "not applicable on $kind: $QREASON"
		NA+=("$QREASON")
	fi
	vol_destroy
done
[ $fails = 0 ] || { echo "$fails failure(s)" >&2; exit 1; }
if [ $ran = 0 ]; then
	[ ${#NA[@]} != 0 ] || vol_skip "neither ext4 nor xfs enabled by RL_TEST_FS"
	reasons=$(printf '%s; ' "${NA[@]}")
	[ "${RL_TEST_QUOTA:-0}" != 1 ] ||
		vol_fail "RL_TEST_QUOTA=1, but this kernel has no quota support: ${reasons%; }"
	vol_not_applicable "this kernel has no quota support: ${reasons%; }"
fi
echo "quota: all checks passed ($ran filesystem(s) with quotas)"
