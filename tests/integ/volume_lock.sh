#!/bin/bash
# One lock per volume, whatever the journal directory (issue 14), on ext4,
# whose placements change global mballoc tunables while they run:
#  - two relayouts with different --journal-dir: while the first changes
#    the volume, the second is refused with the first's pid and command
#    line (defrag, allocate, and with the first's journal directory too);
#    read-only commands (scan, frag, free, info, export, log, a dry run)
#    run beside it; the tunables equal their originals after both;
#  - a relayout killed (SIGKILL) while the tunables are changed leaves no
#    lock behind, and the next one, with another journal directory and
#    another RELAYOUT_STATE_DIR (which earlier versions saved the tunables
#    in), puts the tunables back and ends with them at their originals.
# The lock and the saved tunables are the real ones, in /run/relayout, seen
# in a mount namespace of the test's own (vol_private_run_dir).
. "$top_srcdir/tests/lib/volume.sh"
vol_require_root
vol_private_run_dir "$@"
command -v jq >/dev/null || vol_skip "jq not installed"
command -v python3 >/dev/null || vol_skip "python3 not installed"
unset RELAYOUT_STATE_DIR RELAYOUT_JOURNAL_DIR
fails=0
R=$RELAYOUT

vol_create ext4 256
M=$VOL_MNT
dev=$(basename "$(readlink -f "$VOL_DEV")")
T=/sys/fs/ext4/$dev
[ -r "$T/mb_order2_req" ] || vol_skip "no $T/mb_order2_req"
tunables() { for t in mb_order2_req mb_min_to_scan mb_max_to_scan mb_max_linear_groups; do printf '%s=%s ' $t "$(<"$T/$t")"; done; }
orig=$(tunables)
uuid=$("$R" --json -e info "$M" | jq -r .uuid)
LOCKS="/run/relayout/volume-$uuid-*.lock"
vol_at_exit "rm -f $LOCKS"

# mkfrag DIR N: N files of 4 x 64 KiB written in turns (fragmented).
mkfrag() {
	python3 - "$1" "$2" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(d, exist_ok=True)
buf = os.urandom(65536)
for k in range(4):
    for i in range(n):
        with open("%s/f%03d" % (d, i), "ab") as f:
            f.write(buf)
            f.flush()
            os.fsync(f.fileno())
PY
}

# holds PID: PID holds the lock of the volume (its pid in the lock file).
holds() { grep -qx "$1" $LOCKS 2>/dev/null; }

mkfrag "$M/a" 40
mkfrag "$M/b" 8
sync -f "$M"

# --- two relayouts, two journal directories
cmd_a="scan; defrag --recursive --rate 2 --io-priority normal $M/a"
"$R" --journal-dir "$VOL_DIR/j1" -e "$cmd_a" "$M" >"$VOL_DIR/a.out" 2>&1 &
A=$!
for _ in $(seq 200); do
	holds $A && break
	kill -0 $A 2>/dev/null || break
	sleep 0.05
done
holds $A || fail "the first relayout never took the lock: $(cat "$VOL_DIR/a.out")"
want="volume busy: relayout pid $A (relayout --journal-dir $VOL_DIR/j1 -e '$cmd_a' $M) holds it"
# refused: refused CMD [JOURNAL_DIR]
refused() {
	local out rc
	out=$("$R" --journal-dir "${2:-$VOL_DIR/j2}" -e "$1" "$M" 2>&1)
	rc=$?
	[ $rc = 1 ] && grep -qF -- "$want" <<<"$out" ||
		fail "'$1' beside a writer: rc $rc (want 1), output: $out (wanted: $want)"
}
refused "defrag --recursive $M/b"
refused "allocate $M/new 0 0 64K"
refused "defrag --recursive $M/b" "$VOL_DIR/j1"
[ ! -e "$M/new" ] || fail "a refused allocate created $M/new"
# read-only commands beside the writer
for c in scan "scan; frag" free info "scan; export $VOL_DIR/snap.json" log \
	"scan; defrag --recursive --dry-run $M/b"; do
	out=$("$R" --journal-dir "$VOL_DIR/j2" -e "$c" "$M" 2>&1) ||
		fail "'$c' beside a writer failed: $out"
done
kill -0 $A 2>/dev/null || fail "the first relayout ended before the checks: slow it down"
wait $A || fail "the first relayout failed: $(cat "$VOL_DIR/a.out")"
[ "$(tunables)" = "$orig" ] || fail "tunables after the first: $(tunables), originally $orig"
out=$("$R" --journal-dir "$VOL_DIR/j2" -e "scan; defrag --recursive $M/b" "$M" 2>&1) ||
	fail "the second relayout, once the first ended: $out"
[ "$(tunables)" = "$orig" ] || fail "tunables after both: $(tunables), originally $orig"
[ $fails != 0 ] || echo "two journal directories: the second refused with pid $A, read-only commands ran beside"

# --- SIGKILL while the tunables are changed, then another journal dir
killed=
for attempt in 1 2 3; do
	mkfrag "$M/c$attempt" 40
	sync -f "$M"
	RELAYOUT_STATE_DIR=$VOL_DIR/s1 "$R" --journal-dir "$VOL_DIR/j1" -e "scan; defrag --recursive $M/c$attempt" "$M" >/dev/null 2>&1 &
	C=$!
	for _ in $(seq 20000); do
		[ "$(tunables)" != "$orig" ] && kill -9 $C 2>/dev/null && break
		kill -0 $C 2>/dev/null || break
	done
	wait $C 2>/dev/null
	if [ "$(tunables)" != "$orig" ]; then
		killed=$attempt
		break
	fi
	note "attempt $attempt: not killed while the tunables were changed"
done
if [ -n "$killed" ]; then
	echo "killed with the tunables at: $(tunables)"
	out=$(RELAYOUT_STATE_DIR=$VOL_DIR/s2 "$R" --journal-dir "$VOL_DIR/j2" -e "scan; defrag --recursive $M/c$killed" "$M" 2>&1) ||
		fail "the next relayout after a SIGKILL: $out"
	grep -q "restored /sys/fs/ext4/$dev/mb_" <<<"$out" || fail "no restore reported: $out"
	[ "$(tunables)" = "$orig" ] || fail "tunables after a SIGKILL and another run: $(tunables), originally $orig"
else
	fail "never killed while the tunables were changed"
fi
exit $((fails > 0))
