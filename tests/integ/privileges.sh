#!/bin/bash
# Privileges (docs/SECURITY.md). As an unprivileged user (nobody): info,
# extents of readable files, scan/frag of what the user can read (saying
# what it could not see), the free-space map (ext4/XFS answer GETFSMAP
# unprivileged; btrfs says root is needed), moves of files the user may
# not write refused with a reason and the file unchanged. 'help' says
# "needs root" only with where (btrfs: free, freefrag; ext4: exact
# placement), and the commands run for the user elsewhere (plans, who,
# freefrag); on ext4 a move says root is needed. As root: a
# user-controlled symlink is never followed, other mounts are refused,
# recordings are 0600, never through a symlink nor into a directory or
# file another user controls. An unprivileged user's journal goes to
# the XDG state directory, checked like any journal directory. Snapshots
# (export) follow the umask, and are 0600 when written by root or when
# they name files in a directory not every user may list.
. "$top_srcdir/tests/lib/volume.sh"
command -v setpriv >/dev/null || vol_skip "setpriv not installed"
id nobody >/dev/null 2>&1 || vol_skip "no user nobody"
NOGROUP=$(id -gn nobody)
# as_user CMD...: run as nobody, no supplementary groups, no capabilities.
as_user() {
	setpriv --reuid=nobody --regid="$NOGROUP" --clear-groups \
		--inh-caps=-all --bounding-set=-all -- "$@"
}
# expect WHO RC PATTERN -- ARGS...: as fails_unless, WHO root or user
# (as_user, from /).
expect() {
	if [ "$1" = user ]; then
		fails_unless "$2" "$3" -- setpriv --reuid=nobody --regid="$NOGROUP" \
			--clear-groups --inh-caps=-all --bounding-set=-all -- \
			env -C / "$RELAYOUT" "${@:5}"
	else
		fails_unless "$2" "$3" -- "$RELAYOUT" "${@:5}"
	fi
}

# The user's volume locks (/tmp/relayout-UID): removed when this test made
# the directory.
NOBODY_RUN=/tmp/relayout-$(id -u nobody)
[ -e "$NOBODY_RUN" ] || vol_at_exit "rm -rf '$NOBODY_RUN'"

# The build tree must be reachable by nobody.
as_user test -x "$RELAYOUT" || vol_skip "$RELAYOUT not executable by nobody"

check_kind() {
	local kind=$1 M sum
	vol_create "$kind" "$2"
	chmod 755 "$VOL_DIR"
	M=$VOL_MNT
	dd if=/dev/urandom of="$M/pub" bs=4K count=16 status=none
	chmod 644 "$M/pub"
	cp "$M/pub" "$M/priv"
	chmod 600 "$M/priv"
	mkdir -m 700 "$M/closed"
	cp "$M/pub" "$M/closed/hidden"
	mkdir "$M/user"
	chown nobody:"$NOGROUP" "$M/user"
	as_user dd if=/dev/urandom of="$M/user/own" bs=4K count=16 status=none
	as_user dd if=/dev/urandom of="$M/user/space" bs=4K count=16 status=none
	sync -f "$M"
	sum=$(md5sum <"$M/pub")

	expect user 0 "type: +$kind" -- -e info "$M"
	# the user, who cannot read the device, gets the same UUID
	# (FS_IOC_GETFSUUID): it names the journal and stops replays of
	# scripts recorded on another volume
	sum=$("$RELAYOUT" --json -e info "$M" | sed -n 's/.*"uuid":"\([^"]*\)".*/\1/p')
	[ -n "$sum" ] || fail "$kind: no UUID as root"
	expect user 0 "\"uuid\":\"$sum\"" -- --json -e info "$M"
	sum=$(md5sum <"$M/pub")
	expect user 0 'pub: inode' -- -e "extents $M/pub" "$M"
	expect user 1 'priv: Permission denied' -- -e "extents $M/priv" "$M"
	expect user 1 'closed/hidden: Permission denied' -- -e "extents $M/closed/hidden" "$M"
	# scan and frag: what the user can read, and how much it could not
	expect user 0 '[1-9][0-9]* unreadable' -- -e scan "$M"
	expect user 0 'regular files' -- -e "scan; frag" "$M"
	# free-space map
	case $kind in
	btrfs) expect user 1 'needs root' -- -e free "$M" ;;
	*) expect user 0 'free extent' -- -e free "$M" ;;
	esac
	# moves of files the user does not own or cannot write
	expect user 1 'pub: Permission denied' -- -e "allocate $M/pub 64K 0 4K" "$M"
	expect user 1 'pub: Permission denied' -- -e "movedata $M/pub $M/user/space 0 4K" "$M"
	expect user 1 'pub: Permission denied' -- -e "movedata $M/user/own $M/pub 0 4K" "$M"
	# (on ext4 placement is refused first: it needs root there)
	expect user 1 'pub: Permission denied|not root: moving data on ext4 needs root' -- -e "place $M/pub 0x1000000" "$M"
	expect user 1 'priv: Permission denied|not root: moving data on ext4' -- -e "place $M/priv 0x1000000" "$M"
	# writable by everyone, but not the user's: still refused
	cp "$M/pub" "$M/shared"
	chmod 666 "$M/shared"
	expect user 1 "shared: not permitted \(another user's file" -- -e "movedata $M/shared $M/user/space 0 4K" "$M"
	expect user 1 "shared: not permitted" -- -e "movedata $M/user/own $M/shared 0 4K" "$M"
	expect user 1 "shared: not permitted|not root: moving data on ext4" -- -e "place $M/shared 0x1000000" "$M"
	expect user 1 "shared: not permitted" -- -e "allocate $M/shared 64K 0 4K" "$M"
	expect user 1 'shared|journal|not supported|not root: moving data on ext4' -- -e "move $M/shared --to 0x1000000" "$M"
	cmp -s "$M/pub" "$M/shared" || fail "$kind: shared changed by refused moves"
	[ "$(md5sum <"$M/pub")" = "$sum" ] || fail "$kind: pub changed by refused moves"
	[ "$(stat -c %s "$M/pub")" = 65536 ] || fail "$kind: pub size changed"
	# the user's own files: allowed where the filesystem moves data
	case $kind in
	btrfs) ;;
	*) expect user 0 'moved 4096 bytes' -- -e "movedata --force $M/user/own $M/user/space 0 4K" "$M" ;;
	esac
	check_root_notes "$kind" "$M"

	# root never follows a symlink the user planted, even to a file on
	# the same volume, in the last or an intermediate component
	echo "root only" >"$M/secret"
	chmod 600 "$M/secret"
	as_user ln -s ../secret "$M/user/link"
	as_user ln -s .. "$M/user/up"
	sum=$(md5sum <"$M/secret")
	expect root 1 'user/link: is a symbolic link' -- -e "extents $M/user/link" "$M"
	expect root 1 'user/link: is a symbolic link' -- -e "allocate $M/user/link 64K 0 4K" "$M"
	expect root 1 'user/link: is a symbolic link' -- -e "movedata $M/user/link $M/pub 0 4K" "$M"
	expect root 1 'user/up/secret: (is a symbolic link|Not a directory)' -- -e "place $M/user/up/secret 0x1000000" "$M"
	[ "$(md5sum <"$M/secret")" = "$sum" ] || fail "$kind: secret changed through a symlink"
	vol_destroy
}

# What help says needs root (CMD_F_ROOT_MAP: the free-space map on
# btrfs; CMD_F_ROOT_EXT4: exact placement on ext4), against what the
# user meets: the commands not marked, and the marked ones elsewhere,
# run as the user; where marked, they fail saying that root is needed.
check_root_notes() {
	local kind=$1 M=$2 c out p g uj=$VOL_DIR/uj
	if [ "$kind" = ext4 ]; then
		# "needs root" only with where and why
		for c in $("$RELAYOUT" -e help "$M" | awk '/^  [a-z]/ {print $1}'); do
			out=$(as_user env -C / "$RELAYOUT" -e "help $c" "$M" 2>&1)
			if grep -q 'needs root' <<<"$out" && ! grep -q 'needs root on \(btrfs\|ext4\)' <<<"$out"; then
				fail "help $c: 'needs root' without where: $out"
			fi
		done
		for c in scan who frag; do
			as_user env -C / "$RELAYOUT" -e "help $c" "$M" 2>&1 | grep -q 'needs root' &&
				fail "help $c says it needs root; it runs for users"
		done
		expect user 0 'needs root on btrfs' -- -e "help freefrag" "$M"
		expect user 0 'needs root on ext4: exact placement' -- -e "help defrag" "$M"
	fi
	p=$("$RELAYOUT" --json -e "extents $M/user/own" "$M" | sed -n 's/.*"physical":\([0-9]*\).*/\1/p' | head -1)
	# 64 KiB into the largest free extent (after the data written so
	# far has its blocks)
	sync -f "$M"
	g=$(($("$RELAYOUT" -e free "$M" | awk '$1 ~ /^0x/ && $3 > n {n = $3; s = $1} END {print s}') + 65536))
	expect user 0 "user/own" -- -e "who $p" "$M"
	case $kind in
	btrfs)
		expect user 1 'free-space map needs root' -- -e freefrag "$M"
		return
		;;
	esac
	expect user 0 'free extents' -- -e "freefrag" "$M"
	expect user 0 'nothing to do|plan:' -- -e "defrag --recursive $M/user --dry-run" "$M"
	case $kind in
	xfs)
		# (on ext4 a user's model lacks the free space beyond the
		# size statfs gives, which leaves out the filesystem's
		# overhead: the device's superblock is root's to read)
		expect user 0 'plan: 1 step' -- -e "evacuate $p $((p + 4096)) --dry-run" "$M"
		expect user 0 'plan: 2 steps' -- -e "group $M/user/own $M/user/space --to $g --dry-run" "$M"
		expect user 0 'nothing to do|plan:' -- -e "compact $p $((p + (1 << 20))) --dry-run" "$M"
		;;
	ext4)
		mkdir -m 700 "$uj"
		chown nobody:"$NOGROUP" "$uj"
		# refused before anything runs, with the reason; info and
		# the dry runs say what the user can do
		expect user 1 'move: not root: moving data on ext4 needs root \(exact placement' -- \
			--journal-dir "$uj" -e "move $M/user/own --to $g" "$M"
		[ -z "$(ls -A "$uj")" ] || fail "ext4: a refused move opened a journal"
		expect user 0 'access: +read-only: not root \(moving data on ext4 needs root' -- -e info "$M"
		expect user 0 '"can_move":false' -- --json -e info "$M"
		expect user 0 'plan:|nothing to do' -- -e "move $M/user/own --to $g --dry-run" "$M"
		expect root 0 'access: +read-write' -- -e info "$M"
		;;
	esac
}

check_kind ext4 64
if vol_kind_enabled xfs; then check_kind xfs 300; fi
if vol_kind_enabled btrfs && command -v mkfs.btrfs >/dev/null; then check_kind btrfs 128; fi

# The journal of an unprivileged user, with no --journal-dir: in the
# user's XDG state directory, created 0700; a state directory another user
# controls, or a symlink planted there, is refused. The volume is the
# user's (its root directory too: XFS placement stages in the mount root;
# ext4 placement needs root for the allocator's tunables, so there the
# move is refused before any journal is made, and the journal's checks
# run on XFS, where a user can move).
check_user_journal() {
	local kind=$1 M H f n uuid sum old_home=$HOME
	vol_create "$kind" "$2"
	chmod 755 "$VOL_DIR"
	M=$VOL_MNT
	chown nobody:"$NOGROUP" "$M"
	f=$M/mine
	for ((n = 0; n < 8; n++)); do
		as_user dd if=/dev/urandom of="$f" bs=64K count=1 seek=$((n * 5 % 8)) conv=notrunc status=none
		as_user dd if=/dev/zero of="$M/gap$n" bs=256K count=1 status=none
		sync -f "$M"
	done
	rm -f "$M"/gap*
	sync -f "$M"
	sum=$(md5sum <"$f")
	uuid=$("$RELAYOUT" --json -e info "$M" | sed -n 's/.*"uuid":"\([^"]*\)".*/\1/p')
	H=$VOL_DIR/home
	mkdir -m 700 "$H"
	chown nobody:"$NOGROUP" "$H"
	unset RELAYOUT_JOURNAL_DIR XDG_STATE_HOME
	export HOME=$H
	if [ "$kind" = ext4 ]; then
		# placement needs root here: refused before a journal or a
		# lock is made, saying so (the journal's checks run on XFS)
		expect user 1 'defrag: not root: moving data on ext4 needs root' -- -e "defrag $f" "$M"
		[ ! -e "$H/.local/state/relayout/journal/$uuid.journal" ] ||
			fail "$kind: a refused defrag opened a journal"
		[ "$(md5sum <"$f")" = "$sum" ] || fail "$kind: content changed"
		export HOME=$old_home
		vol_destroy
		return
	fi
	expect user 0 'transaction 1: .* moved .*verified' -- -e "defrag $f" "$M"
	[ "$(md5sum <"$f")" = "$sum" ] || fail "$kind: user's defrag changed the content"
	[ "$(stat -c '%U %a' "$H/.local/state/relayout/journal" 2>&1)" = "nobody 700" ] ||
		fail "$kind: user journal dir: $(stat -c '%U %a' "$H/.local/state/relayout/journal" 2>&1)"
	[ "$(stat -c '%U %a' "$H/.local/state/relayout/journal/$uuid.journal" 2>&1)" = "nobody 600" ] ||
		fail "$kind: user journal: $(ls -lR "$H/.local" 2>&1)"
	expect user 0 "defrag $f" -- -e log "$M"
	[ ! -e "/var/lib/relayout/$uuid.journal" ] || fail "$kind: the user's journal went to /var/lib/relayout"
	# later moves: into the last free extent (defrag has nothing to do)
	local mv_rc=0
	next_move() { echo "move $f --to $(($("$RELAYOUT" -e free "$M" | awk '$1 ~ /^0x/ {s = $1} END {print s}') + (1 << 20)))"; }
	# XDG_STATE_HOME names it
	export XDG_STATE_HOME=$H/st
	expect user 0 'no transactions' -- -e log "$M"
	expect user $mv_rc 'failed|moved' -- -e "$(next_move)" "$M"
	[ -f "$H/st/relayout/journal/$uuid.journal" ] || fail "$kind: journal not under XDG_STATE_HOME"
	unset XDG_STATE_HOME
	# a state directory another user (uid 4242) controls: refused
	local H2=$VOL_DIR/home2
	mkdir -p -m 700 "$H2/.local/state/relayout"
	chown -R nobody:"$NOGROUP" "$H2"
	chown 4242 "$H2/.local/state/relayout"
	chmod 777 "$H2/.local/state/relayout"
	export HOME=$H2
	expect user 1 "journal directory $H2/.local/state/relayout/journal: the directory $H2/.local/state/relayout on its path is controlled by another user \(owner uid 4242" -- -e "$(next_move)" "$M"
	[ ! -e "$H2/.local/state/relayout/journal" ] || fail "$kind: journal made in another user's directory"
	# ... or the journal directory itself is theirs
	chown nobody "$H2/.local/state/relayout"
	chmod 700 "$H2/.local/state/relayout"
	mkdir -m 777 "$H2/.local/state/relayout/journal"
	chown 4242 "$H2/.local/state/relayout/journal"
	expect user 1 "journal directory .* is owned by uid 4242, not by uid $(id -u nobody): refused" -- -e "$(next_move)" "$M"
	[ -z "$(ls -A "$H2/.local/state/relayout/journal")" ] || fail "$kind: journal written into another user's directory"
	# a symlink planted for the state directory: never followed
	rm -rf "$H2/.local/state/relayout"
	mkdir -m 700 "$VOL_DIR/elsewhere"
	chown nobody:"$NOGROUP" "$VOL_DIR/elsewhere"
	ln -s "$VOL_DIR/elsewhere" "$H2/.local/state/relayout"
	expect user 1 "journal directory $H2/.local/state/relayout/journal: $H2/.local/state/relayout is a symbolic link \(never followed\): refused" -- -e "$(next_move)" "$M"
	[ -z "$(ls -A "$VOL_DIR/elsewhere")" ] || fail "$kind: journal made through a symlink"
	[ "$(md5sum <"$f")" = "$sum" ] || fail "$kind: content changed"
	export HOME=$old_home
	vol_destroy
}
check_user_journal ext4 64
if vol_kind_enabled xfs; then check_user_journal xfs 300; fi

# Recordings (as root): 0600, never through a symlink, never into a
# directory or a file another user controls.
vol_create ext4 64
M=$VOL_MNT
T=$VOL_DIR/t
mkdir "$T"
chmod 755 "$VOL_DIR" "$T"
expect root 0 '' -- -r "$T/rec" -e 'echo x' "$M"
[ "$(stat -c %a "$T/rec")" = 600 ] || fail "recording mode $(stat -c %a "$T/rec")"
ln -s "$T/target" "$T/reclink"
expect root 1 'cannot record: is a symbolic link' -- -e "record $T/reclink" "$M"
[ ! -e "$T/target" ] || fail "recording created through a symlink"
mkdir "$T/userdir"
chown nobody:"$NOGROUP" "$T/userdir"
expect root 1 'cannot record: .*another user' -- -r "$T/userdir/rec" -e 'echo x' "$M"
[ ! -e "$T/userdir/rec" ] || fail "recording written into a user's directory"
mkdir -m 1777 "$T/sticky"
as_user touch "$T/sticky/rec"
expect root 1 'cannot record: .*another user' -- -r "$T/sticky/rec" -e 'echo x' "$M"
[ ! -s "$T/sticky/rec" ] || fail "recording appended to a user's file"
expect root 0 '' -- -r "$T/sticky/mine" -e 'echo x' "$M"
mkdir -m 777 "$T/open"
expect root 1 'cannot record: .*writable by others' -- -r "$T/open/rec" -e 'echo x' "$M"
# the user records into its own directory
expect user 0 '' -- -r "$T/userdir/mine" -e 'echo x' "$M"
[ "$(stat -c '%U %a' "$T/userdir/mine")" = "nobody 600" ] || fail "user recording $(stat -c '%U %a' "$T/userdir/mine")"

# Snapshots (export): the umask narrows them (no longer 0644 whatever the
# umask); private (0600) when written by root or when they name files in
# a directory not every user may list.
mode_of() { stat -c %a "$1" 2>&1; }
# user_export UMASK FILE: the user exports the volume's model to FILE.
user_export() {
	as_user sh -c 'umask "$0"; exec "$@"' "$1" env -C / "$RELAYOUT" -e "export $2" "$M" \
		>"$T/out" 2>&1 || fail "the user's export $2: $(cat "$T/out")"
}
mkdir "$M/pub" && echo x >"$M/pub/file"
expect root 0 'extents written \(private, 0600' -- -e "export $T/root.json" "$M"
[ "$(mode_of "$T/root.json")" = 600 ] || fail "root's export: mode $(mode_of "$T/root.json")"
# the user sees no name from a closed directory (lost+found): umask only
user_export 022 "$T/userdir/open.json"
[ "$(mode_of "$T/userdir/open.json")" = 644 ] || fail "user export, umask 022: $(mode_of "$T/userdir/open.json")"
grep -q private "$T/out" && fail "user export of public names called private: $(cat "$T/out")"
user_export 077 "$T/userdir/umask.json"
[ "$(mode_of "$T/userdir/umask.json")" = 600 ] || fail "user export, umask 077: $(mode_of "$T/userdir/umask.json")"
# names from the user's own private directory stay private
mkdir -m 700 "$M/mine" && echo y >"$M/mine/diary-name" && chown -R nobody:"$NOGROUP" "$M/mine"
user_export 022 "$T/userdir/mine.json"
[ "$(mode_of "$T/userdir/mine.json")" = 600 ] || fail "user export naming a 0700 directory: $(mode_of "$T/userdir/mine.json")"
grep -q diary-name "$T/userdir/mine.json" || fail "the private names are not in the user's snapshot"
grep -q 'private, 0600' "$T/out" || fail "no note that the snapshot is private: $(cat "$T/out")"

if [ $fails != 0 ]; then
	echo "$fails privilege checks failed" >&2
	exit 1
fi
echo "all privilege checks passed"
