#!/bin/bash
# Screen tests of the interactive UI, driven in tmux with a pinned size,
# TERM, locale and time zone: golden screens (save-screen), the status line
# against filefrag's truth, selection, the inode pane, the prompt and its
# history, the help screen, themes, resize down to a tiny terminal, a
# recorded session replayed to the same screen, a snapshot's read-only
# view, non-tty refusal and the terminal restored after SIGTERM/SIGSEGV.
#
# RL_UI_GOLDEN_UPDATE=1 rewrites the golden screens in the source tree.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/volume.sh"
command -v tmux >/dev/null || vol_skip "tmux not installed"
command -v filefrag >/dev/null || vol_skip "filefrag not installed"

GOLDEN=$top_srcdir/tests/integ/golden
COLS=100 ROWS=30
TMUX_SOCK=rl-ui-test-$$

tm() { tmux -L "$TMUX_SOCK" -f /dev/null "$@"; }
tm_cleanup() { tm kill-server 2>/dev/null; }
trap 'tm_cleanup; vol_destroy' EXIT

# The screens show the mount point, cut at the terminal's width before it
# is replaced by /MNT: the goldens were taken with the volume under /tmp
# (a longer TMPDIR cut the 80-column title short).
VOL_BASE=/tmp
vol_create ext4 256
M=${VOL_MNT:?}
T=${VOL_DIR:?}/t
mkdir -p "$T/state" "$T/journal"
chmod 700 "$T/journal"

# Deterministic content (the same layout on every run): files in the root
# directory (no Orlov spreading), each written and synced before the next;
# frag.dat written every other 64 KiB (12 extents), prealloc.dat unwritten.
for i in 1 2 3; do
	dd if=/dev/zero of="$M/big$i" bs=1M count=$((i * 2)) status=none
	sync -f "$M"
done
for k in $(seq 0 2 22); do
	dd if=/dev/zero of="$M/frag.dat" bs=64K seek="$k" count=1 conv=notrunc \
		status=none
	sync -f "$M"
done
dd if=/dev/zero of="$M/other.dat" bs=64K count=12 status=none
sync -f "$M"
fallocate -l 256K "$M/prealloc.dat"
sync -f "$M"

AS=() # the user to run as (setpriv ...), or root
ENVS=(env -i PATH="$PATH" TERM=xterm-256color LC_ALL=C.UTF-8 TZ=UTC
	HOME="$T" XDG_STATE_HOME="$T/state" RELAYOUT_JOURNAL_DIR="$T/journal"
	RELAYOUT_THEMES_DIR="$top_srcdir/share/themes")

# start NAME ARGS...: run relayout in a new tmux session of COLSxROWS; its
# pid goes to $T/NAME.pid, its exit status to $T/NAME.rc, then the pane
# records the terminal modes (stty -a) in $T/NAME.stty.
start() {
	local name=$1 q=
	shift
	rm -f "$T/$name".{pid,rc,stty}
	for a in "${AS[@]}" "${ENVS[@]}" "$RELAYOUT" "$@"; do q+=" $(printf '%q' "$a")"; done
	tm new-session -d -s "$name" -x "$COLS" -y "$ROWS" \
		"sh -c 'echo \$\$ > $T/$name.pid; exec $q'; echo \$? > $T/$name.rc; stty -a > $T/$name.stty; sleep 60"
	wait_screen "$name" '1 cell =' || fail "$name: the map did not appear"
}

# wait_screen NAME PATTERN: until the pane shows PATTERN (10 s).
# wait_gone NAME PATTERN: until the pane no longer shows PATTERN (10 s).
wait_screen() { wait_pane "$1" "$2" yes; }
wait_gone() { wait_pane "$1" "$2" no; }
wait_pane() { # NAME PATTERN yes|no
	local seen
	for _ in $(seq 100); do
		seen=no
		tm capture-pane -p -t "$1" 2>/dev/null | grep -q -- "$2" && seen=yes
		[ $seen = "$3" ] && return 0
		sleep 0.1
	done
	echo "screen of $1: '$2' $([ "$3" = yes ] && echo never appeared || echo stayed):" >&2
	tm capture-pane -p -t "$1" >&2
	return 1
}

wait_file() {
	for _ in $(seq 100); do
		[ -s "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

keys() { tm send-keys -t "$1" "${@:2}"; sleep 0.15; }

# cmd NAME LINE: type LINE at the ':' prompt.
cmd() {
	tm send-keys -t "$1" ':'
	sleep 0.1
	tm send-keys -t "$1" -l -- "$2"
	tm send-keys -t "$1" Enter
	sleep 0.2
}

# screen NAME FILE: save-screen into FILE, volume-specific strings removed.
screen() {
	rm -f "$2.raw"
	cmd "$1" "save-screen $2.raw"
	wait_file "$2.raw" || { fail "save-screen $2 wrote nothing"; return; }
	sed -e "s#$M#/MNT#g" "$2.raw" >"$2"
}

# golden NAME FILE: compare with tests/integ/golden/NAME.txt
golden() {
	if [ "${RL_UI_GOLDEN_UPDATE:-0}" = 1 ]; then
		mkdir -p "$GOLDEN"
		cp "$2" "$GOLDEN/$1.txt"
		return
	fi
	if ! diff -u "$GOLDEN/$1.txt" "$2" >&2; then
		fail "screen $1 differs from tests/integ/golden/$1.txt"
	fi
}

# ------------------------------------------------------ without a terminal
out=$("$RELAYOUT" "$M" </dev/null 2>&1)
rc=$?
[ "$rc" = 2 ] && grep -q "needs a terminal" <<<"$out" && grep -q -- "-e '" <<<"$out" ||
	fail "non-tty start: rc $rc, output: $out"

# ----------------------------------------------------------------- themes
for th in "$top_srcdir"/share/themes/*.theme; do
	name=$(basename "$th" .theme)
	out=$("${ENVS[@]}" "$RELAYOUT" -e "theme $name" "$M" 2>&1) ||
		fail "theme $name does not load: $out"
done
for name in default high-contrast mono light; do
	[ -f "$top_srcdir/share/themes/$name.theme" ] || fail "theme $name missing"
done
printf 'color free green default\ncolor nosuchrole red default\n' >"$T/bad.theme"
out=$("${ENVS[@]}" "$RELAYOUT" -e "theme $T/bad.theme" "$M" 2>&1)
grep -q "bad.theme:2: .*nosuchrole" <<<"$out" || fail "bad theme: $out"
out=$("${ENVS[@]}" "$RELAYOUT" -e "theme nosuch" "$M" 2>&1)
grep -q "theme 'nosuch' not found" <<<"$out" || fail "missing theme: $out"

# ----------------------------------------------------- map, status, panes
start a "$M"
screen a "$T/a0"
golden ui-start "$T/a0"

# The status line against filefrag: the 4th extent of frag.dat.
read -r L P < <(filefrag -v "$M/frag.dat" | awk '$1 == "3:" { print $2 + 0, $4 + 0 }')
BS=4096
addr=$(printf '0x%x' $((P * BS)))
want=$(printf '0x%x-0x%x frag.dat @ 0x%x ' $((P * BS)) $((P * BS + BS - 1)) $((L * BS)))
cmd a "goto $addr"
keys a Z
screen a "$T/a1"
tail -1 "$T/a1" | grep -qF -- "$want" ||
	fail "status line '$(tail -1 "$T/a1")' does not start with '$want'"
grep -q '\[1 block/cell\]' "$T/a1" || fail "zoom max is not one block per cell"

# Zoom out one step and back; the cursor stays on the block.
keys a -
keys a +
screen a "$T/a2"
tail -1 "$T/a2" | grep -qF -- "$want" || fail "zoom out/in moved the cursor"

# Select the file under the cursor: its cells turn to '@'.
keys a Space
screen a "$T/a3"
grep -q '@' "$T/a3" || fail "selection not drawn"
golden ui-selected "$T/a3"

# Inode pane.
keys a i
screen a "$T/a4"
ino=$(stat -c %i "$M/frag.dat")
grep -q "inode $ino " "$T/a4" || fail "inode pane: no 'inode $ino'"
grep -q "extents 12 " "$T/a4" || fail "inode pane: not 12 extents"
grep -q "FRAGMENTED" "$T/a4" || fail "inode pane: not fragmented"
golden ui-inode "$T/a4"
keys a i

# Pan with keys: one cell right is the next block.
keys a l
screen a "$T/a5"
next=$(printf '0x%x-' $((P * BS + BS)))
tail -1 "$T/a5" | grep -qF -- "$next" || fail "pan right: $(tail -1 "$T/a5")"

# The owners of a target region, sorted by size; Enter goes to the file.
cmd a "target $((P * BS)) $(((P + 64) * BS))"
keys a i
keys a S
wait_screen a "Owners of the target region, by size" || fail "owners list"
tm capture-pane -p -t a | grep -q ">[0-9a-f]* *256.0 KiB frag.dat" ||
	fail "owners list: frag.dat 256 KiB not the first row"
keys a Enter
wait_screen a "frag.dat @ 0x0 " || fail "Enter did not go to the file"
keys a i
cmd a "target clear"

# The prompt: output on the message line; history kept.
cmd a "echo hello from the prompt"
wait_screen a "hello from the prompt" || fail "prompt output not shown"
# Help screen, generated from the bindings.
keys a '?'
wait_screen a "Keys (each runs a command" || fail "help screen"
# (Space is on the second page at this size)
keys a PgDn
tm capture-pane -p -t a | grep -q "Space *pick" || fail "help lacks Space"
keys a x

# Resize, down to a tiny terminal and back.
tm resize-window -t a -x 60 -y 20
sleep 0.3
tm resize-window -t a -x 30 -y 8
wait_screen a "Terminal too small" || fail "tiny terminal: no message"
tm resize-window -t a -x "$COLS" -y "$ROWS"
wait_screen a "1 cell =" || fail "map did not come back after resize"

# 'g' opens 'goto ' with completion of the volume's paths; an absolute
# path under the mount point is the same file.
keys a g
tm send-keys -t a -l "oth"
keys a Tab
keys a Enter
wait_screen a "other.dat @ 0x0 " || fail "goto with path completion"
cmd a "goto big1"
cmd a "goto $M/other.dat"
wait_screen a "other.dat @ 0x0 " || fail "goto an absolute path"

# '/' searches names (find): a substring, then n and N step through the
# matches by address (wrapping, as in less and vim); the map marks the
# cells of every match with '*', the legend says so.
keys a /
tm send-keys -t a -l "big"
keys a Enter
wait_screen a "match 1 of 3 for 'big': big1 at 0x" || fail "/big: no first match"
wait_screen a "big1 @ 0x0 " || fail "/big: the cursor is not on big1"
screen a "$T/f1"
[ "$(sed '1d;$d' "$T/f1" | head -n -3 | tr -cd '*' | wc -c)" -ge 3 ] ||
	fail "/big: the matches are not marked on the map"
grep -q ' \* found' "$T/f1" || fail "/big: the legend does not name '*'"
golden ui-find "$T/f1"
keys a n
wait_screen a "match 2 of 3 for 'big': big2 at" || fail "n: not the second match"
wait_screen a "big2 @ 0x0 " || fail "n: the cursor is not on big2"
keys a N
keys a N
wait_screen a "match 3 of 3 for 'big': big3 at .*(wrapped to the last)" ||
	fail "N N: did not wrap to the last match"
# a glob (the whole name), and one that matches nothing: an error
cmd a "find '*.dat'"
wait_screen a "match 1 of 3 for '\*.dat'" || fail "find '*.dat'"
cmd a "find 'nosuch*'"
wait_screen a "no file matches 'nosuch\*'" || fail "find: no error for no match"

keys a q
wait_file "$T/a.rc" || fail "q did not quit"
[ "$(cat "$T/a.rc")" = 0 ] || fail "exit status after q: $(cat "$T/a.rc")"
grep -q "echo hello from the prompt" "$T/state/relayout/history" ||
	fail "prompt history not saved"
grep -Eq '(^| )icanon( |$)' "$T/a.stty" && grep -Eq '(^| )echo( |$)' "$T/a.stty" ||
	fail "terminal not restored after q"

# ---------------------------------------------- 80x24: nothing cut short
COLS=80 ROWS=24 start b "$M"
screen b "$T/b0"
golden ui-start-80x24 "$T/b0"
grep -q "P planned" "$T/b0" && grep -q ", to be freed" "$T/b0" ||
	fail "80x24: the legend is cut"
cmd b "goto frag.dat"
keys b Z
keys b i
screen b "$T/b1"
grep -q "FRAGMENTED" "$T/b1" || fail "80x24: the inode pane is cut"
golden ui-inode-80x24 "$T/b1"
keys b i
keys b '?'
wait_screen b "h *pan left *cursor one cell left" || fail "help: h does not say what it does"
keys b x
tm resize-window -t b -x 30 -y 8
wait_screen b "Terminal too small" || fail "tiny terminal: no message"
tm capture-pane -p -t b | tr '\n' ' ' | grep -Eq "needs +40x12" ||
	fail "'Terminal too small' is cut: $(tm capture-pane -p -t b)"
keys b q
wait_file "$T/b.rc" || fail "q in a tiny terminal did not quit"

# ------------------------------------------------------ record and replay
start r -r "$T/rec.txt" "$M"
keys r + +
keys r j j l l l
cmd r "goto $M/frag.dat"
keys r Space
keys r m l l l l m
keys r /
tm send-keys -t r -l "big"
keys r Enter
keys r n
cmd r "show $M/big2"
screen r "$T/r1"
keys r q
wait_file "$T/r.rc"
grep -q "^select -- frag.dat" "$T/rec.txt" || fail "recording lacks the selection"
grep -q "^find --next" "$T/rec.txt" || fail "recording lacks the search"
# paths are recorded relative to the volume's root
grep -q "^show big2$" "$T/rec.txt" || fail "recording: 'show $M/big2' not as 'show big2'"
grep -q "^goto frag.dat$" "$T/rec.txt" || fail "recording: 'goto $M/frag.dat' not as 'goto frag.dat'"
grep -q "$M/" <(grep -v '^#' "$T/rec.txt") && fail "recording holds the mount point: $(cat "$T/rec.txt")"
start p --ui -x "$T/rec.txt" "$M"
screen p "$T/p1"
keys p q
# The message line (row ROWS-1) says what happened last; the rest must match.
if ! diff -u <(sed "$((ROWS - 1))d" "$T/r1") <(sed "$((ROWS - 1))d" "$T/p1") >&2; then
	fail "replayed recording gives a different screen"
fi
# The same recording replays in batch mode too.
"${ENVS[@]}" "$RELAYOUT" -x "$T/rec.txt" "$M" >/dev/null 2>&1 ||
	fail "recording does not replay in batch mode"

# -------------------------------------------------------- snapshot view
"${ENVS[@]}" "$RELAYOUT" -e "export $T/snap.json" "$M" >/dev/null 2>&1 ||
	fail "export for the snapshot view"
start s "$T/snap.json"
screen s "$T/s1"
tail -1 "$T/s1" | grep -q "read-only: snapshot" || fail "snapshot not read-only: $(tail -1 "$T/s1")"
keys s u
wait_screen s "snapshot (read-only)" || fail "undo key in a snapshot view"
keys s q

# ------------------------------- not root, at 80x24 (the size's goldens)
# A user (nobody) on ext4: the status line says what the user may do; v
# and a are refused at once with the reason; a search works as for root.
if command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
	chmod 755 "$VOL_DIR" "$T"
	mkdir -p "$T/nobody"
	chown nobody "$T/nobody"
	AS=(setpriv --reuid=nobody --regid="$(id -gn nobody)" --clear-groups
		--inh-caps=-all --bounding-set=-all --)
	if "${AS[@]}" test -x "$RELAYOUT"; then
		COLS=80 ROWS=24 start u "$M"
		wait_screen u "read-only: ext4 needs root" ||
			fail "not root: the status line does not say read-only"
		cmd u "goto frag.dat"
		keys u Space
		cmd u "target 0x1000000 0x1400000"
		keys u v
		wait_screen u "not root: moving data on ext4 needs root" ||
			fail "not root: v was not refused with the reason"
		tm capture-pane -p -t u | grep -q "plan:" && fail "not root: v made a plan"
		keys u a
		wait_screen u "not root: moving data on ext4 needs root" ||
			fail "not root: a was not refused with the reason"
		cmd u "select clear"
		cmd u "target clear"
		keys u /
		tm send-keys -t u -l "big"
		keys u Enter
		wait_screen u "match 1 of 3 for 'big'" || fail "not root: /big"
		screen u "$T/nobody/u1"
		golden ui-find-80x24 "$T/nobody/u1"
		keys u q
		wait_file "$T/u.rc"
	fi
	AS=()
fi

# -------------------------------------------- signals restore the terminal
for sig in TERM SEGV; do
	start k "$M"
	kill -"$sig" "$(cat "$T/k.pid")"
	wait_file "$T/k.stty" || fail "SIG$sig: no exit"
	rc=$(cat "$T/k.rc")
	[ "$rc" -gt 128 ] || fail "SIG$sig: exit status $rc"
	grep -Eq '(^| )icanon( |$)' "$T/k.stty" && grep -Eq '(^| )echo( |$)' "$T/k.stty" ||
		fail "terminal not restored after SIG$sig: $(head -5 "$T/k.stty")"
	tm kill-session -t k
done

# ------------------------------------ preview and apply a move (XFS reflink)
# (exact placement works on XFS with reflink; ext4 placement is not in yet)
if command -v mkfs.xfs >/dev/null; then
	vol_create xfs 300
	X=${VOL_MNT:?}
	for k in $(seq 0 2 22); do
		dd if=/dev/zero of="$X/frag.dat" bs=64K seek="$k" count=1 \
			conv=notrunc status=none
		sync -f "$X"
	done
	goal=0x1000000
	start x "$X"
	cmd x "goto frag.dat"
	keys x Space
	cmd x "target $goal 0x1400000"
	keys x v
	wait_screen x "plan: move 1 file" || fail "no move preview"
	screen x "$T/x1"
	grep -q P "$T/x1" || fail "preview: planned destinations not drawn"
	grep -q , "$T/x1" || fail "preview: vacated blocks not drawn"
	# apply_plan WHAT: a, the confirmation, y, the report; then the
	# first block of frag.dat in $first.
	apply_plan() {
		keys x a
		wait_screen x "Apply: $1" || fail "no confirmation for $1"
		keys x y
		wait_screen x "applied: $1" || fail "$1 did not report"
		first=$(filefrag -v "$X/frag.dat" | awk '$1 == "0:" { print $4 + 0 }')
	}
	before=$(filefrag -v "$X/frag.dat" | awk '$1 == "0:" { print $4 + 0 }')
	apply_plan "move 1 file"
	[ "$((first * 4096))" = "$((goal))" ] ||
		fail "after apply frag.dat starts at block $first (was $before), not $goal"
	# u asks (the undo's plan on the map), y undoes
	keys x u
	wait_screen x "Undo 1 file (" || fail "no undo confirmation"
	keys x y
	wait_screen x "undone: 1 file" || fail "undo did not report"
	first=$(filefrag -v "$X/frag.dat" | awk '$1 == "0:" { print $4 + 0 }')
	[ "$first" = "$before" ] ||
		fail "after undo frag.dat starts at block $first, not $before"

	# A throttled move typed at the prompt shows the progress bar on the
	# message line; Esc cancels it between chunks: the transaction ends
	# "stopped", the message says cancelled, the content is intact.
	dd if=/dev/urandom of="$X/slow.dat" bs=1M count=8 status=none
	sync -f "$X"
	sum=$(md5sum < "$X/slow.dat")
	cmd x "move --rate 1 --to 0x8000000 -- $X/slow.dat"
	if wait_screen x 'MB/s, ETA '; then
		tm capture-pane -p -t x > "$T/x-progress"
		grep -Eq '^\[[#.]{10}\] [0-9]+% .* of 8(\.0)? MiB, [0-9.]+ MB/s, ETA [0-9?:]+, step 1/1 .*slow\.dat \(Esc cancels\)$' \
			"$T/x-progress" ||
			fail "progress bar: $(tail -2 "$T/x-progress")"
	else
		fail "no progress bar during a throttled move"
	fi
	keys x Escape
	wait_screen x 'cancelled: transaction' || fail "Esc did not cancel the move"
	"${ENVS[@]}" "$RELAYOUT" -e log "$X" 2>&1 | tee "$T/x-log" |
		grep 'slow\.dat' | grep -q 'stopped' ||
		fail "log: the cancelled transaction is not 'stopped': $(tail -3 "$T/x-log")"
	[ "$(md5sum < "$X/slow.dat")" = "$sum" ] ||
		fail "slow.dat changed by the cancelled move"

	# A throttled 3-step plan: the map follows it step by step. Three
	# 64 KiB files go back to back to a free 64 KiB-aligned GOAL; at 16
	# blocks per cell each lands in one cell, the cursor on the first.
	# Mid-apply (the status line names g1 at GOAL, before the last step
	# ends) g1's cell is data and g3's still free; at the end all three
	# are data, where filefrag says they are.
	for f in g1 g2 g3; do
		dd if=/dev/urandom of="$X/$f" bs=64K count=1 status=none
		sync -f "$X"
	done
	g=$("${ENVS[@]}" "$RELAYOUT" --json -e "free 0x1800000 0x4000000" "$X" |
		jq '[.extents[] | select(.length >= 1048576)][0].start')
	g=$(((g + 65535) / 65536 * 65536))
	ghex=$(printf '%x' "$g")
	cmd x "scan"
	cmd x "zoom 16"
	cmd x "goto $g"
	wait_screen x "^0x$ghex-0x[0-9a-f]* free | 16 blocks/cell" ||
		fail "cursor not on the free cell at 0x$ghex"
	# cell_at FILE ADDR: the map's glyph for ADDR in a captured screen
	# (row 1 on is the map, from the title's start; each row begins with
	# its address and a space, then COLS less that many cells).
	cell_at() {
		local start off gw w
		start=$(head -1 "$1" | sed -n 's/.*1 cell = 64.0 KiB, 0x\([0-9a-f]*\)-.*/\1/p')
		[ -n "$start" ] || { echo "?"; return; }
		gw=$(sed -n 2p "$1" | awk '$1 ~ /^0x/ {print length($1) + 1}')
		w=$((COLS - ${gw:-0}))
		off=$((($2 - 0x$start) / 65536))
		sed -n "$((off / w + 2))p" "$1" | cut -c$((${gw:-0} + off % w + 1))
	}
	cmd x "group --rate 0.03 --to $g -- $X/g1 $X/g2 $X/g3"
	if wait_screen x "^0x$ghex-0x[0-9a-f]* g1 @ 0x0"; then
		tm capture-pane -p -t x >"$T/x-step"
		grep -Eq '^\[[#.]{10}\] [0-9]{1,2}% .* step [123]/3 .*g[123] \(Esc cancels\)$' "$T/x-step" ||
			fail "mid-apply: no progress bar short of 100%: $(tail -2 "$T/x-step")"
		[ "$(cell_at "$T/x-step" "$g")" = "#" ] ||
			fail "mid-apply: g1's cell at 0x$ghex is '$(cell_at "$T/x-step" "$g")', not data"
		[ "$(cell_at "$T/x-step" $((g + 131072)))" = "." ] ||
			fail "mid-apply: g3's target cell is '$(cell_at "$T/x-step" $((g + 131072)))', not free"
	else
		fail "the map did not show g1 at its place during the apply"
	fi
	# a command typed while the plan runs waits, and runs after it
	tm send-keys -t x ':'
	tm send-keys -t x -l 'echo typed while it ran'
	tm send-keys -t x Enter
	wait_gone x "Esc cancels" || fail "the 3-step plan did not end"
	wait_screen x "^typed while it ran" || fail "keys typed during the apply were dropped"
	screen x "$T/x-end"
	for k in 0 1 2; do
		a=$((g + k * 65536))
		[ "$(cell_at "$T/x-end" "$a")" = "#" ] ||
			fail "after the apply: the cell at $(printf 0x%x "$a") is '$(cell_at "$T/x-end" "$a")', not data"
		p=$(filefrag -v "$X/g$((k + 1))" | awk '$1 == "0:" { print $4 + 0 }')
		[ "$((p * 4096))" = "$a" ] || fail "g$((k + 1)) is at block $p, not at $a"
	done
	tail -1 "$T/x-end" | grep -q "^0x$ghex-0x[0-9a-f]* g1 @ 0x0 " ||
		fail "after the apply: status line $(tail -1 "$T/x-end")"
	grep -q "Esc cancels" "$T/x-end" && fail "after the apply: the progress bar stayed"

	# One action, one transaction: v plans the three selected files
	# with the planner (group --to) into the target region, a applies
	# them as one journaled transaction; one u undoes all three, U
	# redoes them.
	for f in m1 m2 m3; do
		dd if=/dev/urandom of="$X/$f" bs=64K count=1 status=none
		sync -f "$X"
	done
	firsts() { for f in m1 m2 m3; do filefrag -v "$X/$f" | awk '$1 == "0:" { printf "%d ", $4 * 4096 }'; done; }
	ntx() { "${ENVS[@]}" "$RELAYOUT" --json -e log "$X" | jq '[.. | objects | select(has("steps_done"))] | length'; }
	mg=$(((g + 0x100000 + 65535) / 65536 * 65536))
	was=$(firsts)
	n0=$(ntx)
	cmd x "scan"
	cmd x "select clear"
	cmd x "select path 'm?'"
	cmd x "target $mg $((mg + 0x100000))"
	keys x v
	wait_screen x "plan: move 3 files (192.0 KiB, 3 steps) to" ||
		fail "v: no plan of 3 files from the planner"
	keys x q # a plan is pending: q asks first
	wait_screen x "A plan is pending (move 3 files" || fail "q with a pending plan did not ask"
	keys x n
	wait_screen x "not quit" || fail "q, n: no 'not quit'"
	keys x a
	wait_screen x "Apply: move 3 files" || fail "no confirmation of the move"
	keys x y
	wait_screen x "applied: move 3 files" || fail "the move of 3 files did not report"
	[ "$(firsts)" = "$mg $((mg + 65536)) $((mg + 131072)) " ] ||
		fail "after v, a: m1..m3 at $(firsts), not from $mg"
	[ "$(ntx)" = $((n0 + 1)) ] || fail "v, a: $(($(ntx) - n0)) transactions, not 1"
	keys x u
	wait_screen x "Undo 3 files (192.0 KiB, 3 steps)?" || fail "u: not the 3 files"
	keys x y
	wait_screen x "undone: 3 files" || fail "u, y did not report"
	[ "$(firsts)" = "$was" ] || fail "after one u: m1..m3 at $(firsts), not $was"
	keys x U
	wait_screen x "Redo 3 files (192.0 KiB, 3 steps)?" || fail "U: not the 3 files"
	keys x y
	wait_screen x "redone: 3 files" || fail "U, y did not report"
	[ "$(firsts)" = "$mg $((mg + 65536)) $((mg + 131072)) " ] ||
		fail "after U: m1..m3 at $(firsts), not from $mg"
	# u, u: back through the history, the move, then the group before it
	keys x u
	wait_screen x "Undo 3 files" || fail "u after U: no question"
	keys x y
	wait_screen x "undone: 3 files" || fail "u after U did not report"
	keys x u
	wait_screen x "Undo 3 files" || fail "u, u: no question"
	keys x y
	wait_screen x "undone: 3 files .*U: redo" || fail "u, u did not report"
	[ "$(firsts)" = "$was" ] || fail "after u, u: m1..m3 at $(firsts), not $was"
	p=$(filefrag -v "$X/g1" | awk '$1 == "0:" { print $4 * 4096 }')
	[ "$p" != "$g" ] || fail "the second u did not undo the group before"

	# An error on the message line, whole (wrapped), not a note before it.
	cmd x "group --to 0 -- $X/m1"
	wait_screen x "error: group: refusing" || fail "the error is not on the message line"
	tm capture-pane -p -t x | tail -6 | tr '\n' ' ' | grep -Eq "nothing +was +changed" ||
		fail "the error is cut: $(tm capture-pane -p -t x | tail -5)"
	keys x q
	wait_file "$T/x.rc"
fi

# ------------------------------------ the map's truth: owners, rows, legend
# attrib_screens: at 80x24 and at the large size, the start screen (each
# map row begins with its address; the journal is metadata; the legend
# lists every glyph, ',' too), then a target region over the inode table
# and free space (the message says what lies under it, its used cells
# keep their glyph), then a move previewed (',' and 'P' drawn).
attrib_screens() {
	local size name
	for size in 80x24 large; do
		name=attrib-$size
		if [ $size = large ]; then
			start "$name" "$M"
		else
			COLS=80 ROWS=24 start "$name" "$M"
		fi
		screen "$name" "$T/$name-0" # (the golden: ui-start*)
		sed -n 2p "$T/$name-0" | grep -q '^0x0* [M#.]' ||
			fail "$size: the first map row does not begin with its address"
		tail -4 "$T/$name-0" | grep -q ', to be freed' ||
			fail "$size: the legend lacks ','"
		cmd "$name" "target 0x0 0x2000000"
		wait_screen "$name" 'target 0x0\.\.0x2000000 (32\.0 MiB): [0-9.]* [KM]iB free in' ||
			fail "$size: no message on the target region"
		# (the message wraps: its lines joined)
		tm capture-pane -p -t "$name" | tail -6 | tr '\n' ' ' |
			grep -Eq 'MiB +metadata +\(inodes\)' ||
			fail "$size: the target region's message does not say what it holds"
		screen "$name" "$T/$name-1"
		golden "ui-$name-target" "$T/$name-1"
		sed -n 2p "$T/$name-1" | grep -q 'M' ||
			fail "$size: metadata under the target region is not shown"
		cmd "$name" "goto frag.dat"
		keys "$name" Space
		cmd "$name" "target 0x4000000 0x4400000"
		keys "$name" v
		wait_screen "$name" 'plan: move 1 file' ||
			fail "$size: no preview of the move"
		screen "$name" "$T/$name-2"
		# (a map row: its address, a space, cells; not the status line)
		grep -q '^0x[0-9a-f]* [^ ]*,' "$T/$name-2" ||
			fail "$size: the preview does not draw ','"
		golden "ui-$name-preview" "$T/$name-2"
		keys "$name" Escape
		keys "$name" q
		wait_file "$T/$name.rc" || fail "$size: q did not quit"
		tm kill-session -t "$name" 2>/dev/null
	done
}
attrib_screens

# relayout --demo: the map of a scratch volume; quitting removes it.
start demo --demo
wait_screen demo 'relayout-demo' || fail "--demo: the status line does not name the demo volume"
cmd demo "goto frag/data0.db"
keys demo Z # one block per cell: the status line names that block's owner
wait_screen demo 'frag/data0.db @ 0x0' || fail "--demo: goto a demo file"
ddev=$(tm capture-pane -p -t demo | grep -o '/dev/loop[0-9]*' | head -1)
# its mount namespace holds the demo volume and no copy of this test's
# volume (a copy would keep that filesystem alive after umount here)
dmi=$(cat "/proc/$(cat "$T/demo.pid")/mountinfo") || fail "--demo: no mountinfo"
grep -q " ${M} " <<<"$dmi" && fail "--demo: its namespace keeps a copy of $M"
grep -q "relayout-demo" <<<"$dmi" || fail "--demo: its namespace has no demo mount"
grep -q " /proc " <<<"$dmi" || fail "--demo: its namespace lost /proc"
keys demo q
wait_file "$T/demo.rc" || fail "--demo: q did not quit"
[ "$(cat "$T/demo.rc")" = 0 ] || fail "--demo: exit status $(cat "$T/demo.rc")"
if [ -n "$ddev" ] && losetup "$ddev" 2>/dev/null | grep -q relayout-demo; then
	fail "--demo: $ddev still holds the demo image after quitting"
fi

# A recording made on a demo replays on a fresh demo: the same volume
# (UUID, files, layout) and paths relative to the volume's root give the
# same moves and the same screen.
start d1 --demo -r "$T/demo-rec.txt"
cmd d1 "find data3"
keys d1 Space
cmd d1 "target 0x4000000 0x4400000"
keys d1 v
wait_screen d1 "plan:" || fail "demo: no plan"
keys d1 a
wait_screen d1 "Apply" || fail "demo: no confirmation"
keys d1 y
wait_screen d1 "applied:" || fail "demo: the move was not applied"
screen d1 "$T/d1"
keys d1 q
wait_file "$T/d1.rc"
grep -Eq '^volume-uuid 72656c61-796f-4574-a064-656d6f000001$' "$T/demo-rec.txt" ||
	fail "demo: not the fixed UUID: $(cat "$T/demo-rec.txt")"
grep -Eq '^[a-z]+ .*-- frag/data3\.db$' "$T/demo-rec.txt" ||
	fail "demo: the move is not recorded with a volume-relative path: $(cat "$T/demo-rec.txt")"
start d2 --demo --ui -x "$T/demo-rec.txt"
screen d2 "$T/d2"
keys d2 q
wait_file "$T/d2.rc"
[ "$(cat "$T/d2.rc")" = 0 ] || fail "demo replay: exit status $(cat "$T/d2.rc")"
demo_screen() { sed -e 's#/tmp/relayout-demo\.[A-Za-z0-9]*/mnt#/DEMO#g' -e "$((ROWS - 1))d" "$1"; }
diff -u <(demo_screen "$T/d1") <(demo_screen "$T/d2") >&2 ||
	fail "a demo recording replayed on a fresh demo gives another screen"

[ "$fails" = 0 ] || { echo "$fails failure(s)" >&2; exit 1; }
echo "ui: all screen tests passed"
