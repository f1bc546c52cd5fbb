#!/bin/bash
# The command line: exit codes, messages that name the bad input, JSON
# output (one valid document per command), scripts with FILE:LINE errors.
. "$top_srcdir/tests/lib/volume.sh"
command -v jq >/dev/null || vol_skip "jq not installed"
vol_create ext4 64
M=$VOL_MNT
T=$VOL_DIR/t
mkdir "$T"

# expect RC PATTERN -- ARGS...: relayout ARGS exits with RC, its
# stdout+stderr match PATTERN (grep -E).
expect() { fails_unless "$1" "$2" -- "$RELAYOUT" "${@:4}"; }

dd if=/dev/urandom of="$M/file" bs=4K count=16 status=none
ln -s file "$M/link"
mkdir "$M/dir" "$M/dir/sub"
mkfifo "$M/fifo"
ln -s dir "$M/dirlink"
cp "$M/file" "$M/dir/sub/f2"
sync -f "$M"

expect 0 'Usage: relayout' -- --help
expect 0 '^relayout [0-9]' -- --version
expect 2 'Usage' -- --bogus
expect 2 'expected one PATH' -- "$M" "$M"
expect 2 "unknown command 'bogus'" -- -e bogus "$M"
expect 2 'expected 1 argument, got 0' -- -e extents "$M"
expect 2 "unknown option '--nope'" -- -e 'free --nope' "$M"
expect 2 'unterminated quote' -- -e "echo 'x" "$M"
expect 0 '^a b$' -- -e "echo 'a b'" "$M"
expect 1 'nonexistent: No such file' -- -e "extents $M/nonexistent" "$M"
expect 1 'link: is a symbolic link' -- -e "extents $M/link" "$M"
expect 1 'dirlink/sub/f2: (is a symbolic link|Not a directory)' -- -e "extents $M/dirlink/sub/f2" "$M"
expect 0 'extent' -- -e "extents $M/dir/sub/f2" "$M"
expect 1 'dir: not a regular file' -- -e "extents $M/dir" "$M"
expect 1 'fifo: not a regular file' -- -e "extents $M/fifo" "$M"
expect 1 'not on the volume' -- -e "extents /etc/hostname" "$M"
expect 2 "OFFSET '12Q': not a size" -- -e "allocate $M/a 12Q 0 4K" "$M"
expect 2 "LEN '99999999999999999999': too large" -- -e "allocate $M/a 0 0 99999999999999999999" "$M"
expect 2 'multiples of the block size' -- -e "allocate $M/a 0 0 4097" "$M"
expect 2 "LEN '-4K': not a size" -- -e "movedata $M/file $M/a 0 -4K" "$M"
expect 1 'cannot probe filesystem' -- -e info /nonexistent/path
expect 0 'block size: +4096' -- -e info "$M"
# a failing command stops the rest, -k goes on
expect 1 'nonexistent' -- -e "extents $M/nonexistent; echo after" "$M"
out=$("$RELAYOUT" -e "extents $M/nonexistent; echo after" "$M" 2>/dev/null)
[ -z "$out" ] || fail "command after a failure ran"
expect 1 '^after$' -- -k -e "extents $M/nonexistent; echo after" "$M"

# JSON: every command prints exactly one valid document.
out=$("$RELAYOUT" --json -k -e "info; extents $M/file; free; extents $M/nope" "$M" 2>/dev/null)
n=$(jq -c . <<<"$out" | wc -l) || n=bad
if [ "$n" != 3 ] && [ "$n" != 4 ]; then
	fail "--json output is not one document per command: $out"
fi
[ "$(jq -r 'select(.command=="extents" and .file!=null) | .size' <<<"$out" | head -1)" = 65536 ] ||
	fail "extents --json size"
jq -e 'select(.error!=null and .command=="extents")' <<<"$out" >/dev/null ||
	fail "--json error document"
phys=$(jq -r 'select(.command=="extents" and .file!=null) | .extents[0].physical' <<<"$out" | head -1)
ff=$(filefrag -v -b1 "$M/file" | awk '$1=="0:" {gsub(/\.\./," "); print $4}')
[ "$phys" = "$ff" ] || fail "extents physical $phys != filefrag $ff"

# Per-command --json: only that command prints JSON, any command takes it.
out=$("$RELAYOUT" -e "echo plain; info --json; echo after" "$M" 2>/dev/null)
{ [ "$(sed -n 1p <<<"$out")" = plain ] && [ "$(sed -n 3p <<<"$out")" = after ] &&
	sed -n 2p <<<"$out" | jq -e '.block_size > 0' >/dev/null; } ||
	fail "per-command --json: $out"
expect 0 '"largest":' -- -e "free --json --summary" "$M"
expect 2 "info: option '--json' takes no value" -- -e "info --json=1" "$M"

# Scripts: comments, blank lines, errors as FILE:LINE.
printf '# comment\n\necho one # trailing\necho two; echo three\nbogus\necho never\n' >"$T/s1"
expect 2 "$T/s1:5: unknown command 'bogus'" -- -x "$T/s1" "$M"
out=$("$RELAYOUT" -x "$T/s1" "$M" 2>/dev/null)
[ "$out" = $'one\ntwo\nthree' ] || fail "script output '$out'"
printf 'set continue-on-error on\nbogus\necho reached\n' >"$T/s2"
expect 2 'reached' -- -x "$T/s2" "$M"
printf 'echo a\0b\n' >"$T/s3"
expect 2 "s3:1: binary data" -- -x "$T/s3" "$M"
printf 'source %s\n' "$T/s4" >"$T/s4"
expect 1 's4:1: source: .*s4: is already running' -- -x "$T/s4" "$M"
expect 1 'cannot open script' -- -x "$T/none" "$M"
mkfifo "$T/fifo"
printf 'source %s\necho after\n' "$T/fifo" >"$T/s6"
out=$(timeout 10 "$RELAYOUT" -k -x "$T/s6" "$M" 2>&1); rc=$?
{ [ $rc = 1 ] && grep -q 'not a regular file' <<<"$out" && grep -qx after <<<"$out"; } ||
	fail "source of a FIFO (rc $rc): $out"
echo 'echo from-stdin' | "$RELAYOUT" -x - "$M" | grep -qx from-stdin ||
	fail "-x - (stdin)"
head -c 100000 /dev/zero | tr '\0' 'a' >"$T/s5"; echo >>"$T/s5"
expect 2 's5:1: line too long' -- -x "$T/s5" "$M"

# Record and replay: the same outputs; another volume refuses unless --force.
"$RELAYOUT" -r "$T/rec" -e "info; extents $M/file" -x "$T/s2" "$M" >"$T/out1" 2>/dev/null
grep -q "^volume-uuid $(blkid -p -s UUID -o value "$VOL_DEV")\$" "$T/rec" ||
	{ fail "recording has no volume-uuid header"; cat "$T/rec" >&2; }
grep -q '^echo reached$' "$T/rec" || fail "script commands not recorded"
"$RELAYOUT" -x "$T/rec" "$M" >"$T/out2" 2>/dev/null
cmp -s "$T/out1" "$T/out2" || { fail "replay output differs"; diff "$T/out1" "$T/out2" >&2; }
ln -s "$T/rec" "$T/reclink"
expect 1 'cannot record: is a symbolic link' -- -e "record $T/reclink" "$M"
expect 1 'cannot record' -- -r "$T/reclink" -e 'echo x' "$M"
[ "$(stat -c %a "$T/rec")" = 600 ] || { fail "recording mode $(stat -c %a "$T/rec")"; }
sed -i 's/^volume-uuid .*/volume-uuid 00000000-0000-0000-0000-000000000000/' "$T/rec"
expect 1 'refusing to replay' -- -x "$T/rec" "$M"
expect 0 'warning: volume .*going on' -- --force -x "$T/rec" "$M"

# help is generated from the table: every command has an entry.
for c in $("$RELAYOUT" -e help "$M" | awk '/^  [a-z]/ {print $1}'); do
	expect 0 "usage: $c" -- -e "help $c" "$M"
done

# --demo: a scratch fragmented volume, made, shown and removed again (also
# when relayout is killed: private mount namespace, auto-clearing loop
# device, unlinked image).
demo_gone() { # DEV DIR WHAT
	if losetup "$1" 2>/dev/null | grep -q relayout-demo; then
		fail "$3: loop device $1 still holds the demo image"
	fi
	if [ -e "$2" ] || grep -q "$2" /proc/self/mountinfo; then
		fail "$3: $2 left behind"
	fi
}
for k in ext4 xfs btrfs; do
	out=$("$RELAYOUT" --json --demo=$k -e 'info; frag --top 1' 2>"$T/demo.err")
	info=$(jq -c 'select(.command=="info")' <<<"$out")
	frag=$(jq -c 'select(.command=="frag")' <<<"$out")
	if [ "$(jq -r .type <<<"$info")" != $k ] || [ "$(jq -r .files <<<"$frag")" -lt 100 ] ||
		[ "$(jq -r .fragmented_files <<<"$frag")" -lt 4 ]; then
		fail "--demo=$k: $out $(cat "$T/demo.err")"
	fi
	demo_gone "$(jq -r .device <<<"$info")" "$(dirname "$(jq -r .mountpoint <<<"$info")")" "--demo=$k"
done
mkfifo "$T/demo.fifo"
"$RELAYOUT" --demo -x "$T/demo.fifo" 2>"$T/demo.err" &
pid=$!
exec 8>"$T/demo.fifo"
for ((i = 0; i < 100; i++)); do grep -q 'demo volume' "$T/demo.err" && break; sleep 0.1; done
sleep 0.3
kill -9 $pid
wait $pid 2>/dev/null
exec 8>&-
read -r dev mnt < <(sed -n 's/.* on \(\/dev\/loop[0-9]*\)) at \(.*\); .*/\1 \2/p' "$T/demo.err")
[ -n "$dev" ] || { fail "--demo: no volume line: $(cat "$T/demo.err")"; }
for ((i = 0; i < 50; i++)); do losetup "$dev" 2>/dev/null | grep -q relayout-demo || break; sleep 0.1; done
# (the mount was only ever visible in relayout's own namespace: the
# cleared loop device shows it is gone; the empty directories are the one
# leftover a crash may leave)
demo_gone "$dev" /nonexistent "--demo killed"
[ -z "$(ls -A "$mnt")" ] || fail "--demo killed: $mnt not empty"
rmdir "$mnt" "$(dirname "$mnt")"
expect 2 "no PATH" -- --demo -e info "$M"
expect 2 "'zfs': ext4, xfs or btrfs" -- --demo=zfs -e info
if command -v setpriv >/dev/null; then
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$RELAYOUT" --demo -e info 2>&1)
	grep -q "needs root" <<<"$out" || fail "--demo as nobody: $out"
fi

if [ $fails != 0 ]; then
	echo "$fails CLI checks failed" >&2
	exit 1
fi
echo "all CLI checks passed"
