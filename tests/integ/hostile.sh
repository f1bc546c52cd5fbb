#!/bin/bash
# Hostile and bad input (docs/hostile-input.md): every row of the table
# that needs a live volume is checked here. Paths (symlinks, a symlink
# swapped in while relayout runs, other filesystems, devices, FIFOs,
# sockets, directories), names with newlines, escapes and invalid UTF-8
# (escaped in text, valid UTF-8 in JSON and snapshots), numbers, scripts
# and snapshots.
. "$top_srcdir/tests/lib/volume.sh"
command -v jq >/dev/null || vol_skip "jq not installed"
command -v python3 >/dev/null || vol_skip "python3 not installed"
vol_create ext4 64
M=$VOL_MNT
T=$VOL_DIR/t
mkdir "$T"

# expect RC PATTERN -- ARGS...: relayout ARGS exits with RC, its
# stdout+stderr match PATTERN (grep -E), within 20 s.
expect() { fails_unless "$1" "$2" -- "$RELAYOUT" "${@:4}"; }
# valid_utf8 FILE: the whole file is valid UTF-8.
valid_utf8() {
	python3 -c 'import sys; open(sys.argv[1], "rb").read().decode("utf-8")' "$1" 2>/dev/null
}

dd if=/dev/urandom of="$M/file" bs=4K count=16 status=none
cp "$M/file" "$M/space"
sum_file=$(md5sum <"$M/file")
mkdir -p "$M/dir/sub" "$M/real"
echo secret >"$M/real/f"
ln -s file "$M/link"
ln -s dir "$M/dirlink"
mkfifo "$M/fifo"
mknod "$M/null" c 1 3
python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$M/sock"
NL=$'a\nb'
BAD=$'c\xff\x1b[31md'
dd if=/dev/urandom of="$M/$NL" bs=4K count=2 status=none
dd if=/dev/urandom of="$M/$BAD" bs=4K count=2 status=none
sync -f "$M"

# ---------------------------------------------------------------- paths
for cmd in "extents %s" "allocate %s 0 0 4K" "movedata %s $M/space 0 4K" \
	"movedata $M/file %s 0 4K" "place %s 0x100000"; do
	# shellcheck disable=SC2059
	expect 1 'link: is a symbolic link' -- -e "$(printf "$cmd" "$M/link")" "$M"
	# shellcheck disable=SC2059
	expect 1 'dirlink/sub/x: (is a symbolic link|Not a directory)' -- \
		-e "$(printf "$cmd" "$M/dirlink/sub/x")" "$M"
	# shellcheck disable=SC2059
	expect 1 'dir: (not a regular file|Is a directory)' -- -e "$(printf "$cmd" "$M/dir")" "$M"
	# shellcheck disable=SC2059
	expect 1 'fifo: not a regular file' -- -e "$(printf "$cmd" "$M/fifo")" "$M"
	# shellcheck disable=SC2059
	expect 1 'null: not a regular file' -- -e "$(printf "$cmd" "$M/null")" "$M"
	# shellcheck disable=SC2059
	expect 1 'sock: No such device or address' -- -e "$(printf "$cmd" "$M/sock")" "$M"
	# shellcheck disable=SC2059
	expect 1 'not on the volume' -- -e "$(printf "$cmd" /etc/hostname)" "$M"
done
[ "$(md5sum <"$M/file")" = "$sum_file" ] || fail "file changed by refused commands"
[ ! -e "$M/dirlink/sub/x" ] || fail "a file was created through a symlink"
# the model commands do not resolve symlinks either
expect 1 'dirlink/sub: not in the layout model' -- -e "show $M/dirlink/sub" "$M"
expect 1 'link: not in the layout model' -- -e "show $M/link" "$M"
# another filesystem mounted inside the volume
mkdir "$M/othermnt"
if mount -t tmpfs -o size=1m relayout-hostile "$M/othermnt"; then
	echo x >"$M/othermnt/f"
	expect 1 'othermnt/f: not on the volume' -- -e "extents $M/othermnt/f" "$M"
	expect 1 'othermnt/f: not on the volume' -- -e "allocate $M/othermnt/f 0 0 4K" "$M"
	expect 0 'other mounts not entered' -- -e scan "$M"
	umount "$M/othermnt"
else
	fail "cannot mount a tmpfs inside the volume"
fi

# A symlink swapped in for a directory while relayout opens files through
# it: every answer is the real file's or a refusal, never the target's.
mkdir "$M/swap" "$M/swapdir"
cp "$M/file" "$M/swapdir/f"
ln -s real "$M/swaplink"
want_ino=$(stat -c %i "$M/swapdir/f")
evil_ino=$(stat -c %i "$M/real/f")
(
	end=$((SECONDS + 8))
	while [ $SECONDS -lt $end ]; do
		mv -T "$M/swapdir" "$M/swap.d" 2>/dev/null
		mv -T "$M/swaplink" "$M/swapdir" 2>/dev/null
		mv -T "$M/swapdir" "$M/swaplink" 2>/dev/null
		mv -T "$M/swap.d" "$M/swapdir" 2>/dev/null
	done
) &
swapper=$!
seen_real=0 seen_refused=0
for _ in $(seq 150); do
	out=$(timeout 10 "$RELAYOUT" --json -e "extents $M/swapdir/f" "$M" 2>/dev/null)
	ino=$(jq -r 'select(.inode!=null) | .inode' <<<"$out" 2>/dev/null)
	if [ -z "$ino" ]; then
		seen_refused=$((seen_refused + 1))
	elif [ "$ino" = "$want_ino" ]; then
		seen_real=$((seen_real + 1))
	else
		fail "symlink race: extents answered for inode $ino (target $evil_ino)"
		break
	fi
done
wait "$swapper"
echo "symlink race: $seen_real answers for the real file, $seen_refused refusals"

# ------------------------------------------------------- escaped names
out=$("$RELAYOUT" -e "extents '$M/$NL'" "$M" 2>&1)
grep -qF 'a\nb: inode' <<<"$out" || fail "newline in name not escaped: $out"
out=$("$RELAYOUT" -e "extents '$M/$BAD'" "$M" 2>&1)
grep -qF 'c\xff\x1b[31md: inode' <<<"$out" || fail "invalid UTF-8 / ESC not escaped: $out"
# no raw newline, ESC or invalid byte anywhere in the text output
"$RELAYOUT" -k -e "scan; frag; frag --top 100; show '$M/$NL'; show '$M/$BAD'; who 0 64M" "$M" >"$T/text" 2>&1
grep -qF 'a\nb' "$T/text" || fail "frag/show: escaped newline name missing"
grep -qF 'c\xff\x1b[31md' "$T/text" || fail "frag/show: escaped bad name missing"
grep -q $'\x1b' "$T/text" && fail "raw ESC in text output"
valid_utf8 "$T/text" || fail "text output is not valid UTF-8"
grep -qx 'b: inode.*' "$T/text" && fail "raw newline split a name"
# messages escape too
out=$("$RELAYOUT" -e "extents '$M/x$BAD'" "$M" 2>&1)
grep -qF 'xc\xff\x1b[31md: No such file' <<<"$out" || fail "error message not escaped: $out"
# JSON: valid UTF-8, one document per command, exact when it can be
"$RELAYOUT" --json -k -e "scan; frag --top 100; extents '$M/$NL'; extents '$M/$BAD'; show '$M/$BAD'; who 0 64M; extents '$M/x$BAD'" "$M" >"$T/json" 2>/dev/null
valid_utf8 "$T/json" || fail "JSON output is not valid UTF-8"
jq -e . "$T/json" >/dev/null || fail "JSON output does not parse"
n=$(jq --arg p "$M/"'c\xff\x1b[31md' 'select(.command=="extents" and .file==$p) | .inode' "$T/json" | wc -l)
[ "$n" = 1 ] || fail "JSON: invalid UTF-8 name not in escaped form"
n=$(jq --arg p "$M/$NL" 'select(.command=="extents" and .file==$p) | .inode' "$T/json" | wc -l)
[ "$n" = 1 ] || fail "JSON: a valid UTF-8 name with a newline is not exact"
# snapshots are valid UTF-8 JSON too, and load again
expect 0 'extents written' -- -e "export $T/snap.json" "$M"
valid_utf8 "$T/snap.json" || fail "snapshot is not valid UTF-8"
jq -e . "$T/snap.json" >/dev/null || fail "snapshot does not parse"
expect 0 'read-only' -- -e "import $T/snap.json" "$M"
# (a name that is not UTF-8 is stored in its escaped form: lossy, see
# docs/hostile-input.md; the view finds it by that form)
expect 0 'c\\\\xff\\\\x1b\[31md: inode' -- -e "import $T/snap.json; show 'c\xff\x1b[31md'" "$M"

# -------------------------------------------------------------- numbers
touch "$M/a"
expect 2 "LEN '-4K': not a size" -- -e "allocate $M/a 0 0 -4K" "$M"
expect 2 "OFFSET '-1': not a size" -- -e "allocate $M/a -1 0 4K" "$M"
expect 2 "LEN '99999999999999999999': too large" -- -e "allocate $M/a 0 0 99999999999999999999" "$M"
expect 2 "GOAL '0x1ffffffffffffffff': too large" -- -e "allocate $M/a 0 0x1ffffffffffffffff 4K" "$M"
expect 2 "LEN '16777216T': too large" -- -e "allocate $M/a 0 0 16777216T" "$M"
expect 2 'multiples of the block size' -- -e "allocate $M/a 0 0 4097" "$M"
expect 2 'multiples of the block size' -- -e "allocate $M/a 1 0 4K" "$M"
expect 2 'FROM and LEN must be multiples of the block size' -- -e "movedata $M/file $M/space 1 4K" "$M"
expect 2 'FROM and LEN must be multiples' -- -e "movedata $M/file $M/space 0 4097" "$M"
expect 2 'FROM and LEN must be multiples' -- -e "movedata $M/file $M/space 0xfffffffffffff000 8K" "$M"
expect 1 'GOAL|beyond|outside|past|No space|Invalid' -- -e "allocate --fixed-start $M/a 0 1T 4K" "$M"
expect 2 'GOAL must be a multiple of the block size' -- -e "place $M/file 4097" "$M"
expect 1 'GOAL|beyond|outside|past|No space|Invalid' -- -e "place $M/file 1T" "$M"
expect 2 'LEN|zero|empty|Invalid' -- -e "allocate $M/a 0 0 0" "$M"
expect 2 'LEN non-zero' -- -e "movedata $M/file $M/space 0 0" "$M"
expect 2 'END|empty|Invalid' -- -e "who 4096 4096" "$M"
expect 2 'END|empty|Invalid' -- -e "free 8K 4K" "$M"
expect 2 'empty range or beyond the volume' -- -e "who 1T" "$M"
[ "$(stat -c %s "$M/a")" = 0 ] || fail "refused allocations changed $M/a"
[ "$(md5sum <"$M/file")" = "$sum_file" ] || fail "file changed by refused number checks"

# -------------------------------------------------------------- scripts
printf 'echo one\necho two' >"$T/trunc"
expect 0 '^two$' -- -x "$T/trunc" "$M"
printf "echo one\necho 'two" >"$T/trunc2"
expect 2 'trunc2:2: unterminated quote' -- -x "$T/trunc2" "$M"
head -c 4096 /dev/urandom >"$T/garbage"
printf '\0' >>"$T/garbage"
expect 2 'garbage:[0-9]+: ' -- -k -x "$T/garbage" "$M"
head -c 1048576 /dev/zero | tr '\0' x >"$T/huge"
expect 2 'huge:1: line too long' -- -k -x "$T/huge" "$M"
# a NUL or a too-long line stops the script even with -k: /dev/zero ends
expect 2 'zero:1: binary data' -- -k -x /dev/zero "$M" 2>/dev/null ||
	true
ln -s /dev/zero "$T/zero"
expect 2 'zero:1: binary data' -- -k -x "$T/zero" "$M"
# a chain of 20 scripts each sourcing the next stops at depth 16; one
# that sources itself (also through /proc/self/fd, or a loop of two)
# stops at once
for i in $(seq 0 19); do printf 'source %s\n' "$T/deep$((i + 1))" >"$T/deep$i"; done
expect 1 'nested deeper than 16' -- -x "$T/deep0" "$M"
printf 'source %s\n' "$T/loop1" >"$T/loop0"
printf 'source %s\n' "$T/loop0" >"$T/loop1"
expect 1 'loop1:1: source: .*loop0: is already running' -- -x "$T/loop0" "$M"
printf 'set continue-on-error on\nsource /proc/self/fd/3\nsource /proc/self/fd/3\necho end\n' >"$T/self"
fails_unless 1 '^end$' -- bash -c "exec 3<'$T/self'; exec '$RELAYOUT' -x /proc/self/fd/3 '$M'"
expect 1 'Is a directory' -- -e "source $T" "$M"

# ------------------------------------------------------------ snapshots
snap=$T/snap.json
sed 's/"paths":\["file"\]/"paths":["..\/..\/etc\/passwd"]/' "$snap" >"$T/dotdot.json"
expect 1 "contains a '..' component" -- -e "import $T/dotdot.json" "$M"
# (u64 fields may be decimal strings: the writer uses them above 2^53)
sed 's/"block_size":4096/"block_size":[4096]/' "$snap" >"$T/type.json"
expect 1 'block_size' -- -e "import $T/type.json" "$M"
python3 - "$snap" "$T/overlap.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["free"] = [[0, 8192]] * 200000
json.dump(s, open(sys.argv[2], "w"))
PY
expect 1 'free\[1\]: overlaps' -- -e "import $T/overlap.json" "$M"
python3 -c 'print("[" * 100000 + "]" * 100000)' >"$T/nest.json"
expect 1 'nest.json' -- -e "import $T/nest.json" "$M"
truncate -s 2G "$T/big.json"
expect 1 'larger than the' -- -e "import $T/big.json" "$M"
mkfifo "$T/fifo.json"
expect 1 'not a regular file' -- -e "import $T/fifo.json" "$M"
expect 1 'not a regular file' -- -e "import /dev/zero" "$M"

if [ $fails != 0 ]; then
	echo "$fails hostile-input checks failed" >&2
	exit 1
fi
echo "all hostile-input checks passed"
