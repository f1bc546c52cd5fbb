#!/bin/bash
# ext4 placement in a group past the allocator's linear scan. With
# mb_optimize_scan (the default) mballoc scans the groups after the goal
# group in order for mb_max_linear_groups (4) groups only, then takes
# groups from its free-order lists. A placement request whose goal went
# back to group 0 (its host file's last extent lies above the target) then
# passed over a target in group 5 or above, and the placement failed after
# its budget of requests and attempts: a compaction of this volume needed 4
# transactions (3 of them stopped midway) and ~6,000 journal commits.
# relayout raises mb_max_linear_groups while it places (and restores it).
# The volume: 1 KiB blocks (8 MiB groups); 200 pairs of 16 KiB files, one
# of each pair deleted (gaps in the low groups, several past group 4), a
# 64 MiB file, then 200 more 16 KiB files above it to fill the gaps with.
# `compact` of the whole volume must complete as one transaction, with
# the data unchanged and fsck clean, and the tunable back as it was.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/volume.sh"
vol_require_root
command -v python3 >/dev/null || vol_skip "python3 not installed"

vol_create ext4-1k 256
export RELAYOUT_JOURNAL_DIR=$VOL_DIR/journal RELAYOUT_STATE_DIR=$VOL_DIR/state
T=/sys/fs/ext4/$(basename "$(readlink -f "$VOL_DEV")")
[ -r "$T/mb_max_linear_groups" ] || vol_skip "no $T/mb_max_linear_groups (kernel before 5.13)"
lin0=$(<"$T/mb_max_linear_groups")
python3 - "$VOL_MNT" <<'EOF' || vol_fail "fixture"
import os, sys
m = sys.argv[1]
for d in ("a", "b", "c"):
    os.mkdir(os.path.join(m, d))
def w(p, n):
    fd = os.open(os.path.join(m, p), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, os.urandom(n))
    os.fsync(fd)
    os.close(fd)
for i in range(200):
    w(f"a/{i}", 16384)
    w(f"b/{i}", 16384)
w("filler", 64 << 20)
for i in range(200):
    w(f"c/{i}", 16384)
for i in range(200):
    os.unlink(os.path.join(m, f"a/{i}"))
EOF
sync -f "$VOL_MNT"
sums() { (cd "$VOL_MNT" && find . -xdev -type f -print0 | sort -z | xargs -0 md5sum); }
sums >"$VOL_DIR/md5.0"
"$RELAYOUT" -e "compact --retry 3" "$VOL_MNT" >"$VOL_DIR/out" 2>"$VOL_DIR/err"
rc=$?
tail -3 "$VOL_DIR/out"
grep -v "^relayout: compact: holding\|^relayout: note:" "$VOL_DIR/err" >&2
[ $rc = 0 ] || vol_fail "compact failed (rc $rc)"
n=$("$RELAYOUT" --json -e log "$VOL_MNT" | jq '[.transactions[]?] | length')
[ "$n" = 1 ] || vol_fail "compact took $n transactions (a placement in a high group failed: $(grep -m1 'failed' "$VOL_DIR/err"))"
grep -q "planning again" "$VOL_DIR/err" && vol_fail "compact planned again"
[ "$(<"$T/mb_max_linear_groups")" = "$lin0" ] || vol_fail "mb_max_linear_groups not restored"
sums | cmp -s - "$VOL_DIR/md5.0" || vol_fail "data changed"
vol_fsck
echo "one transaction; data unchanged; fsck clean"
vol_destroy
