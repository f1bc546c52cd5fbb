#!/bin/bash
# shrink SIZE, and a stop during a long apply:
#  - XFS (512 MiB, 2 AGs, so the last AG is large), files in both AGs and
#    some in the tail: a SIZE below the smallest reachable is refused
#    with that figure and changes nothing; --dry-run changes nothing (no
#    file moves, the size stays); shrink to a size inside the last AG:
#    the filesystem is smaller (statfs, XFS geometry via xfs_info), no
#    file extent lies at or above SIZE (filefrag), every file's md5 is
#    unchanged, xfs_repair -n is clean;
#  - XFS, the last AG's free-list (AGFL) blocks above SIZE (put there by
#    one-block holes in a file in the tail while the AG had no other
#    small free extent; the AG's space below SIZE filled by squatter
#    files but for holes of 1-16 blocks and one of 2 MiB): the dry run
#    names them; the shrink makes the kernel move them ("moved out") and
#    shrinks to SIZE; data unchanged, xfs_repair clean. Without
#    rl_fs_shrink_clear it stops ("not all free after the moves");
#  - XFS --move-inodes: inode chunks and a directory's blocks in the
#    tail (files made in a directory of the last AG after a filler took
#    its start): without the option the shrink is refused for the
#    inodes; the dry run names a hard-linked and an open file that keep
#    their inodes (and refuses, their chunk stays); once they are gone
#    the shrink gives the files and the directory new inodes and shrinks:
#    md5, owner, mode, mtime and extended attributes as before, the inode
#    numbers new, no inode and no extent at or above SIZE, fsck clean;
#  - evacuate --move-inodes: no inode chunk and no data left in the
#    region;
#  - shrink --move-inodes under three shells appending to those files by name and two
#    CPU hogs: no append lost;
#  - ext4: shrink evacuates and prints the resize2fs steps; running them
#    (umount, e2fsck -f, resize2fs) succeeds and the data is intact;
#  - btrfs: refused, pointing at 'btrfs filesystem resize';
#  - SIGINT during a long-ish apply (--rate): the transaction stops at a
#    step boundary ("stopped"), data intact; 'undo' of it puts every file
#    back (extents and md5 as before), fsck clean.
# The journal and state live in the test's private directory.
. "$top_srcdir/tests/lib/volume.sh"
command -v filefrag >/dev/null || vol_skip "filefrag not installed"
command -v md5sum >/dev/null || vol_skip "md5sum not installed"
R() { "$RELAYOUT" "$@"; }
RL_WRITER="${RL_WRITER:-$top_builddir/tests/tools/rl_writer}"
SQUAT="${RL_SQUAT:-$top_builddir/tests/tools/rl_squat}"

# md5 of every file under the mount point, sorted by path.
sums() { (cd "$VOL_MNT" && find . -xdev -type f ! -name '.*' -print0 | sort -z | xargs -0 md5sum); }

# The end (byte address) of the highest file extent on the volume.
highest_extent_end() {
	find "$VOL_MNT" -xdev -type f -print0 | while IFS= read -r -d '' f; do
		vol_extents "$f"
	done | awk 'BEGIN { m = 0 } { e = $2 + $3; if (e > m) m = e } END { printf "%d\n", m }'
}

# Files in several directories (XFS spreads new directories over the
# AGs), some large enough to reach far into the last AG.
fill() {
	local d i
	for d in 1 2 3 4 5 6; do
		mkdir -p "$VOL_MNT/d$d"
		for i in 1 2 3 4 5 6; do
			head -c $(((d * 7 + i * 13) % 40 * 64 + 8))K /dev/urandom >"$VOL_MNT/d$d/f$i"
		done
		head -c $((3 + d))M /dev/urandom >"$VOL_MNT/d$d/big"
	done
	sync -f "$VOL_MNT"
}

export RELAYOUT_JOURNAL_DIR RELAYOUT_STATE_DIR

# out, rc: relayout -e "shrink ARGS"; its lines but the steps on stderr
shrink_run() {
	out=$(R -e "shrink $*" "$VOL_MNT" 2>&1)
	rc=$?
	echo "$out" | grep -v "^  step" | head -20 >&2
}

# --------------------------------------------------------------- XFS
t_xfs() {
	local bs ag dblocks want out before after hi hi0 min sblocks rc id
	vol_create xfs 512
	RELAYOUT_JOURNAL_DIR=$VOL_DIR/journal RELAYOUT_STATE_DIR=$VOL_DIR/state
	vol__umount "$VOL_MNT" nolazy || vol_fail "umount"
	mkfs.xfs -q -f -m reflink=1 -d agcount=2 "$VOL_DEV" >/dev/null || vol_fail "mkfs.xfs agcount=2"
	mount "$VOL_DEV" "$VOL_MNT" || vol_fail "mount"
	fill
	bs=$(xfs_info "$VOL_MNT" | sed -n 's/^data *= *bsize=\([0-9]*\).*/\1/p')
	dblocks=$(xfs_info "$VOL_MNT" | sed -n 's/^data *= *bsize=[0-9]* *blocks=\([0-9]*\).*/\1/p')
	ag=$(xfs_info "$VOL_MNT" | sed -n 's/.*agsize=\([0-9]*\) blks.*/\1/p')
	[ -n "$bs" ] && [ -n "$dblocks" ] && [ -n "$ag" ] || vol_fail "xfs_info: bs '$bs' blocks '$dblocks' agsize '$ag'"
	hi=$(highest_extent_end) hi0=$(highest_extent_end)
	note "XFS: $dblocks blocks of $bs, AG $ag blocks, highest file extent ends at $hi"
	[ "$hi" -gt $((ag * bs)) ] || fail "no file data in the last AG (highest extent end $hi): the test does not test"
	before=$(sums)

	# below the last AG: refused with the figure, nothing changed
	out=$(R -e "shrink $((ag * bs))" "$VOL_MNT" 2>&1)
	rc=$?
	min=$(sed -n 's/.*cannot shrink below [^(]*(\([0-9]*\) bytes.*/\1/p' <<<"$out")
	if [ $rc = 0 ] || [ -z "$min" ] || [ "$min" -le $((ag * bs)) ]; then
		fail "shrink to the last AG's start: rc $rc, want a refusal with the smallest size above $((ag * bs)): $out"
	fi
	[ "$(sums)" = "$before" ] || fail "a refused shrink changed data"

	# the smallest size reachable: the files above it must move, and
	# the kernel must accept it at the first try
	want=${min:-$((ag * bs + (4 << 20)))}
	[ "$hi" -gt "$want" ] || fail "no file data above $want (highest extent end $hi): the test does not test"
	sblocks=$(stat -f -c %b "$VOL_MNT")

	# --dry-run: the plan and what would be shrunk, nothing moves
	out=$(R -e "shrink --dry-run $want" "$VOL_MNT" 2>&1) ||
		fail "shrink --dry-run: $out"
	grep -q "would shrink the XFS filesystem online" <<<"$out" ||
		fail "shrink --dry-run does not say what it would shrink: $out"
	[ "$(xfs_info "$VOL_MNT" | sed -n 's/^data *= *bsize=[0-9]* *blocks=\([0-9]*\).*/\1/p')" = "$dblocks" ] ||
		fail "shrink --dry-run changed the size"
	[ "$(highest_extent_end)" = "$hi" ] || fail "shrink --dry-run moved data"
	out=$(R --json -e "shrink --dry-run $want" "$VOL_MNT" 2>/dev/null | tail -1)
	grep -q "\"dry_run\":true,.*\"new_size\":$want,\"min_size\":$want," <<<"$out" ||
		fail "shrink --dry-run --json: $out"
	R -e log "$VOL_MNT" 2>/dev/null | grep -q shrink && fail "shrink --dry-run wrote a transaction"

	shrink_run "$want"
	[ $rc = 0 ] || fail "shrink $want: rc $rc"
	after=$(xfs_info "$VOL_MNT" | sed -n 's/^data *= *bsize=[0-9]* *blocks=\([0-9]*\).*/\1/p')
	[ "$after" = $((want / bs)) ] || fail "after shrink: $after blocks (xfs_info), want $((want / bs))"
	[ "$(stat -f -c %b "$VOL_MNT")" -lt "$sblocks" ] ||
		fail "statfs: $(stat -f -c %b "$VOL_MNT") blocks, before $sblocks"
	grep -q "shrunk the XFS filesystem online: .* -> .*($want bytes" <<<"$out" ||
		fail "shrink does not report old -> new size: $out"
	hi=$(highest_extent_end)
	[ "$hi" -le "$want" ] || fail "a file extent ends at $hi, above the new size $want"
	[ "$(sums)" = "$before" ] || fail "data changed by shrink"
	vol_fsck
	[ "$(sums)" = "$before" ] || fail "data changed after remount"

	# the evacuation is undoable once the filesystem is grown back
	id=$(R -e "log --json" "$VOL_MNT" 2>/dev/null | grep -o '"id": *[0-9]*' | tail -1 | grep -o '[0-9]*$')
	out=$(R -e "undo $id" "$VOL_MNT" 2>&1) && fail "undo into the part given up was accepted: $out"
	note "undo after the shrink: $(tail -1 <<<"$out")"
	xfs_growfs -d "$VOL_MNT" >/dev/null || fail "xfs_growfs -d"
	[ "$(xfs_info "$VOL_MNT" | sed -n 's/^data *= *bsize=[0-9]* *blocks=\([0-9]*\).*/\1/p')" = "$dblocks" ] ||
		fail "xfs_growfs -d did not grow it back to $dblocks blocks"
	out=$(R -e "undo $id" "$VOL_MNT" 2>&1) || fail "undo $id after xfs_growfs: $out"
	[ "$(highest_extent_end)" = "$hi0" ] || fail "undo did not put the tail's data back (highest extent end $(highest_extent_end), before $hi0)"
	[ "$(sums)" = "$before" ] || fail "data changed by undo"
	vol_fsck
}

# ------------------------------------------- XFS free list above SIZE
# punches FIRST END STEP: xfs_io arguments punching the blocks FIRST,
# FIRST+STEP, ... below END (block size bs), one a line.
punches() {
	local b
	for ((b = $1; b < $2; b += $3)); do
		printf -- '-c\nfpunch %d %d\n' $((b * bs)) "$bs"
	done
}

t_xfs_agfl() {
	local bs want ag1 s e n f out rc before a
	vol_create xfs 512
	RELAYOUT_JOURNAL_DIR=$VOL_DIR/journal RELAYOUT_STATE_DIR=$VOL_DIR/state
	vol__umount "$VOL_MNT" nolazy || vol_fail "umount"
	mkfs.xfs -q -f -m reflink=1 -d agcount=2 "$VOL_DEV" >/dev/null || vol_fail "mkfs.xfs agcount=2"
	mount "$VOL_DEV" "$VOL_MNT" || vol_fail "mount"
	bs=$(xfs_info "$VOL_MNT" | sed -n 's/^data *= *bsize=\([0-9]*\).*/\1/p')
	ag1=$((256 << 20)) want=$((448 << 20))
	# AG 1 below SIZE taken by squatters
	while read -r s e; do
		[ "$e" -le $ag1 ] && continue
		[ "$s" -lt $ag1 ] && s=$ag1
		[ "$s" -ge $want ] && continue
		[ "$e" -gt $want ] && e=$want
		"$SQUAT" "$VOL_MNT/fill$s" "$s" $((e - s)) || vol_fail "rl_squat $s $((e - s))"
	done < <(xfs_io -c "fsmap -d" "$VOL_MNT" |
		awk '/free space/ { sub(/^.*\[/, ""); sub(/\].*$/, ""); split($0, a, /\.\./); print a[1] * 512, (a[2] + 1) * 512 }')
	# 1,200 one-block holes in the tail, then the rest from the lowest
	# address up: the btrees split and join, the free list refilled from
	# the tail and left there
	n=2401
	"$SQUAT" "$VOL_MNT/churn" $want $((n * bs)) || vol_fail "rl_squat churn"
	mapfile -t a < <(punches 1 $n 2)
	xfs_io "${a[@]}" "$VOL_MNT/churn" || vol_fail "xfs_io fpunch"
	mapfile -t a < <(punches 0 $n 2)
	xfs_io "${a[@]}" "$VOL_MNT/churn" || vol_fail "xfs_io fpunch"
	rm "$VOL_MNT/churn"
	# free extents of 1-16 blocks and one of 2 MiB below SIZE
	f=$(ls "$VOL_MNT"/fill* | tail -1)
	[ -n "$f" ] || vol_fail "no squatter below SIZE"
	a=() s=1
	for n in 1 2 4 8 16 1 2 4 8 16 1 2 4 8 16 512; do
		a+=(-c "fpunch $((s * bs)) $((n * bs))")
		s=$((s + n + 1))
	done
	xfs_io "${a[@]}" "$f" || vol_fail "xfs_io fpunch $f"
	head -c 3M /dev/urandom >"$VOL_MNT/data" || vol_fail "data"
	before=$(sums)
	# (the AG headers on the device as the kernel has them)
	vol__umount "$VOL_MNT" nolazy || vol_fail "umount"
	mount "$VOL_DEV" "$VOL_MNT" || vol_fail "mount"
	out=$(R -e "shrink --dry-run $want" "$VOL_MNT" 2>&1)
	grep -q "smallest size reachable now is .*free-list (AGFL)" <<<"$out" ||
		fail "the setup left no free-list block above SIZE (the test does not test): $out"
	note "dry run: $(grep -o 'smallest size reachable now is [^(]*([^)]*) ([^)]*)' <<<"$out" | head -1)"
	shrink_run "$want"
	[ $rc = 0 ] || fail "shrink $want with the free list above it: rc $rc: $out"
	grep -q "free-list blocks above .*: moved out after [1-9]" <<<"$out" ||
		fail "shrink does not say it made the kernel move its free list: $out"
	[ "$(xfs_info "$VOL_MNT" | sed -n 's/^data *= *bsize=[0-9]* *blocks=\([0-9]*\).*/\1/p')" = $((want / bs)) ] ||
		fail "not shrunk to $want: $(xfs_info "$VOL_MNT" | grep '^data')"
	[ "$(sums)" = "$before" ] || fail "data changed by shrink"
	vol_fsck
	[ "$(sums)" = "$before" ] || fail "data changed after remount"
}

# --------------------------------------------------- XFS --move-inodes
# setx NAME VALUE PATH: an extended attribute (python3: no attr package)
setx() { python3 -c 'import os, sys; os.setxattr(sys.argv[3], sys.argv[1], sys.argv[2].encode())' "$@"; }

# "path mode uid:gid mtime xattrs md5" of everything under top, by path
# (directories: no md5); one python3 for all of them.
attrs() {
	python3 - "$VOL_MNT/top" <<'PY'
import hashlib, os, sys
top = sys.argv[1]
out = []
for d, dirs, files in os.walk(top):
    for n in dirs + files:
        p = os.path.join(d, n)
        st = os.lstat(p)
        x = " ".join("%s=%r" % (a, os.getxattr(p, a, follow_symlinks=False))
                     for a in sorted(os.listxattr(p, follow_symlinks=False)))
        h = ""
        if os.path.isfile(p):
            with open(p, "rb") as f:
                h = hashlib.md5(f.read()).hexdigest()
        out.append("%s %o %d:%d %d %s %s" % (os.path.relpath(p, top),
                   st.st_mode & 0o7777, st.st_uid, st.st_gid,
                   int(st.st_mtime), x, h))
print("\n".join(sorted(out)))
PY
}

# A 512 MiB XFS of 2 AGs, a directory top in the last AG, and a 150 MiB
# filler in top taking the AG's start (after its log): files and
# directories made next get inode chunks and blocks behind it, in the
# tail. Sets bs, ag (blocks) and agino (AG 1's first inode number).
tail_top() {
	local i
	vol_create xfs 512
	RELAYOUT_JOURNAL_DIR=$VOL_DIR/journal RELAYOUT_STATE_DIR=$VOL_DIR/state
	vol__umount "$VOL_MNT" nolazy || vol_fail "umount"
	mkfs.xfs -q -f -m reflink=1 -i size=512 -d agcount=2 "$VOL_DEV" >/dev/null || vol_fail "mkfs.xfs agcount=2"
	mount "$VOL_DEV" "$VOL_MNT" || vol_fail "mount"
	bs=$(xfs_info "$VOL_MNT" | sed -n 's/^data *= *bsize=\([0-9]*\).*/\1/p')
	ag=$(xfs_info "$VOL_MNT" | sed -n 's/.*agsize=\([0-9]*\) blks.*/\1/p')
	# AG << (log2 agblocks + log2 inodes per block)
	agino=$((1 << ($(awk -v a="$ag" 'BEGIN { l = 0; while (2 ^ l < a) l++; print l }') + 3)))
	# new directories go to the AGs in turn
	for ((i = 0; i < 8; i++)); do
		mkdir "$VOL_MNT/dir$i"
		if [ "$(stat -c %i "$VOL_MNT/dir$i")" -ge "$agino" ]; then
			mv "$VOL_MNT/dir$i" "$VOL_MNT/top"
			break
		fi
	done
	[ -d "$VOL_MNT/top" ] || vol_fail "no directory landed in AG 1"
	head -c 150M /dev/zero >"$VOL_MNT/top/filler"
	sync -f "$VOL_MNT"
}

t_xfs_inodes() {
	local bs ag agino want out rc i ino before ino_before dir_before sleeper
	tail_top
	for ((i = 0; i < 300; i++)); do
		head -c $((4096 + i * 37)) /dev/urandom >"$VOL_MNT/top/f$i"
	done
	# directories made now: those that land in AG 1 get their inodes
	# in the chunks behind the filler too
	for ((i = 0; i < 4; i++)); do
		mkdir "$VOL_MNT/top/sub$i"
		head -c 5000 /dev/urandom >"$VOL_MNT/top/sub$i/in"
		setx user.dir "$i" "$VOL_MNT/top/sub$i"
		touch -d '2002-03-04 05:06:07' "$VOL_MNT/top/sub$i"
	done
	chown 1234:5678 "$VOL_MNT/top/f299"
	chmod 4751 "$VOL_MNT/top/f299"
	setx user.relayout kept "$VOL_MNT/top/f298" || vol_fail "setxattr user"
	setx trusted.relayout also "$VOL_MNT/top/f298" || vol_fail "setxattr trusted"
	touch -d '2001-02-03 04:05:06' "$VOL_MNT/top/f297"
	head -c 1M /dev/urandom | dd of="$VOL_MNT/top/sparse" bs=1M seek=3 status=none
	ln "$VOL_MNT/top/f296" "$VOL_MNT/top/hl"
	sleep 600 <"$VOL_MNT/top/f295" &
	sleeper=$!
	rm "$VOL_MNT/top/filler"
	sync -f "$VOL_MNT"
	# the internal log takes the last AG's first 64 MiB here
	want=$((ag * bs + (96 << 20)))
	ino=$(stat -c %i "$VOL_MNT/top/f295")
	# the files' inodes must lie at or above want for the test to test
	out=$(R -e "who $want $((2 * ag * bs))" "$VOL_MNT" 2>&1)
	grep -q "metadata inodes" <<<"$out" || fail "no inode chunk at or above $want: the test does not test: $(head -5 <<<"$out")"

	# without --move-inodes: refused for the inodes, nothing changed
	before=$(attrs)
	out=$(R -e "shrink $want" "$VOL_MNT" 2>&1) && fail "shrink $want with inodes in the way accepted: $out"
	grep -q "cannot shrink below .*inodes" <<<"$out" || fail "shrink refused without naming the inodes: $out"

	# the dry run names what keeps its inode, and refuses for it
	out=$(R -e "shrink $want --move-inodes --dry-run" "$VOL_MNT" 2>&1)
	rc=$?
	grep -q "top/hl.*keeps its inode: hard-linked\|top/f296.*keeps its inode: hard-linked" <<<"$out" ||
		fail "the dry run does not name the hard-linked file: $out"
	grep -q "^1 of the files are open in a process now" <<<"$out" ||
		fail "the dry run does not say a file is open: $out"
	[ $rc != 0 ] || fail "shrink --move-inodes --dry-run accepted although an inode chunk stays: $out"
	[ "$(attrs)" = "$before" ] || fail "the dry run changed something"
	[ "$(stat -c %i "$VOL_MNT/top/f295")" = "$ino" ] || fail "the dry run gave a file a new inode"

	# the open file (its lease refused) keeps its inode, and its chunk
	# the shrink: refused after the new inodes, the data as it was
	rm "$VOL_MNT/top/hl"
	before=$(attrs)
	ino_before=$(ls -i "$VOL_MNT/top" | sort -k2)
	dir_before=$(ls -id "$VOL_MNT"/top/sub* | sort -k2)
	shrink_run "$want --move-inodes"
	[ $rc != 0 ] || fail "shrink accepted while an inode chunk stays for an open file"
	grep -q "gave [1-9][0-9]* files and [1-9][0-9]* directories new inodes; 1 kept theirs" <<<"$out" ||
		fail "no count of the new inodes (files and directories, one kept): $out"
	grep -q "top/f295 .*keeps its inode: open in a process" <<<"$out" ||
		fail "the open file is not named: $out"
	grep -q "after the new inodes, cannot shrink below" <<<"$out" || fail "no refusal after the new inodes: $out"
	[ "$(stat -c %i "$VOL_MNT/top/f295")" = "$ino" ] || fail "the open file got a new inode"
	[ "$(attrs)" = "$before" ] || fail "data or attributes changed: $(diff <(echo "$before") <(attrs) | head -5)"

	kill $sleeper
	wait $sleeper 2>/dev/null
	shrink_run "$want --move-inodes"
	[ $rc = 0 ] || fail "shrink $want --move-inodes: rc $rc"
	grep -q "gave 1 files and 0 directories new inodes; 0 kept theirs" <<<"$out" ||
		fail "the file no longer open did not get a new inode: $out"
	[ "$(stat -c %i "$VOL_MNT/top/f295")" != "$ino" ] || fail "the file no longer open kept its inode"
	[ "$(xfs_info "$VOL_MNT" | sed -n 's/^data *= *bsize=[0-9]* *blocks=\([0-9]*\).*/\1/p')" = $((want / bs)) ] ||
		fail "not shrunk to $((want / bs)) blocks"
	[ "$(attrs)" = "$before" ] || fail "mode, owner, mtime, xattrs or data changed: $(diff <(echo "$before") <(attrs) | head -5)"
	[ "$(ls -i "$VOL_MNT/top" | sort -k2)" != "$ino_before" ] || fail "no file got a new inode"
	[ "$(ls -id "$VOL_MNT"/top/sub* | sort -k2)" != "$dir_before" ] || fail "no directory got a new inode"
	[ -z "$(ls -A "$VOL_MNT" | grep -v '^top$\|^dir')" ] || fail "left behind: $(ls -A "$VOL_MNT")"
	[ "$(highest_extent_end)" -le "$want" ] || fail "a file extent ends above $want"
	vol_fsck
	[ "$(attrs)" = "$before" ] || fail "data changed after remount"
}

# ------------------------------------------- XFS evacuate --move-inodes
# The same for evacuate: the region is left with no inode chunk and no
# file's data; md5 as before, fsck clean.
t_xfs_evac_inodes() {
	local bs ag agino i lo hi before out dino meta
	tail_top
	for ((i = 0; i < 100; i++)); do
		head -c $((4096 + i * 53)) /dev/urandom >"$VOL_MNT/top/f$i"
	done
	rm "$VOL_MNT/top/filler"
	# the directory itself gets a new inode (the whole AG is evacuated):
	# a subdirectory with a file, a symbolic link, a file with a second
	# link outside, a FIFO (the last three with inodes outside the AG,
	# made at the root and renamed in); its owner, mode and times must stay
	mkdir "$VOL_MNT/top/sub"
	echo inner >"$VOL_MNT/top/sub/inner"
	ln -s sub/inner "$VOL_MNT/link"
	mv "$VOL_MNT/link" "$VOL_MNT/top/link"
	echo twice >"$VOL_MNT/hard-outside"
	ln "$VOL_MNT/hard-outside" "$VOL_MNT/top/hard"
	mkfifo "$VOL_MNT/fifo"
	mv "$VOL_MNT/fifo" "$VOL_MNT/top/fifo"
	chown 1234:2345 "$VOL_MNT/top"
	chmod 2751 "$VOL_MNT/top"
	touch -d '2001-02-03 04:05:06' "$VOL_MNT/top"
	sync -f "$VOL_MNT"
	lo=$((ag * bs)) hi=$((2 * ag * bs))
	dino=$(stat -c %i "$VOL_MNT/top")
	meta=$(stat -c '%u %g %a %Y' "$VOL_MNT/top")
	before=$(sums)
	grep -q "metadata inodes" <<<"$(R -e "who $lo $hi" "$VOL_MNT" 2>&1)" ||
		fail "no inode chunk in the region: the test does not test"
	out=$(R -e "evacuate $lo $hi --move-inodes" "$VOL_MNT" 2>&1) || fail "evacuate --move-inodes: $out"
	grep -q "gave [1-9][0-9]* files and [1-9][0-9]* director" <<<"$out" || fail "no file or directory got a new inode: $out"
	out=$(R -e "who $lo $hi" "$VOL_MNT" 2>&1)
	grep -q "metadata inodes\| file " <<<"$out" && fail "inodes or data left in the region: $(grep -m3 'inodes\| file ' <<<"$out")"
	[ "$(sums)" = "$before" ] || fail "data changed by evacuate --move-inodes"
	[ "$(stat -c %i "$VOL_MNT/top")" != "$dino" ] || fail "the directory kept its inode"
	[ "$(stat -c '%u %g %a %Y' "$VOL_MNT/top")" = "$meta" ] ||
		fail "the directory's owner, mode or mtime changed: $(stat -c '%u %g %a %Y' "$VOL_MNT/top") (was $meta)"
	[ "$(cat "$VOL_MNT/top/link")" = inner ] || fail "the symbolic link or the subdirectory is lost"
	[ -p "$VOL_MNT/top/fifo" ] || fail "the FIFO is lost"
	[ "$(stat -c '%h %i' "$VOL_MNT/top/hard")" = "$(stat -c '%h %i' "$VOL_MNT/hard-outside")" ] &&
		[ "$(stat -c %h "$VOL_MNT/hard-outside")" = 2 ] ||
		fail "the hard-linked file lost a link: $(stat -c '%h %i' "$VOL_MNT/top/hard" "$VOL_MNT/hard-outside" | tr '\n' ' ')"
	[ -z "$(find "$VOL_MNT" -name '.relayout-*')" ] || fail "names left behind: $(find "$VOL_MNT" -name '.relayout-*' | head -3)"
	vol_fsck
}

# ------------------------------------ XFS --move-inodes killed midway
# kill -9 of evacuate --move-inodes three times, each soon after its
# first .relayout-* name appears (a file's new inode under its temporary
# name, or the staging directory's new directory), 0, 0.1 and 0.4 s
# later: every name still holds its file, in full; what is left are
# copies or second links under .relayout-* names, which the next run
# names; xfs_repair clean; a last run completes.
t_xfs_inodes_kill() {
	local bs ag agino i lo hi before pid t names out left=0 k
	tail_top
	for ((i = 0; i < 600; i++)); do
		head -c $((4096 + (i % 7) * 1000)) /dev/urandom >"$VOL_MNT/top/f$i"
	done
	rm "$VOL_MNT/top/filler"
	sync -f "$VOL_MNT"
	lo=$((ag * bs)) hi=$((2 * ag * bs))
	kept() { (cd "$VOL_MNT" && find . -path '*/.relayout-*' -prune -o -type f -print0 | sort -z | xargs -0 md5sum); }
	before=$(kept)
	for t in 0 0.1 0.4; do
		"$RELAYOUT" -e "evacuate $lo $hi --move-inodes" "$VOL_MNT" >"$VOL_DIR/kill.out" 2>&1 &
		pid=$!
		for ((k = 0; k < 1000; k++)); do
			ls -fA "$VOL_MNT" "$VOL_MNT/top" 2>/dev/null | grep -q '^\.relayout-inode' && break
			kill -0 $pid 2>/dev/null || break
			sleep 0.02
		done
		sleep $t
		kill -9 $pid 2>/dev/null
		wait $pid 2>/dev/null
		[ "$(kept)" = "$before" ] || fail "killed $t s after the first new inode: a file's name lost or changed its data"
		names=$(find "$VOL_MNT" -name '.relayout-*' | wc -l)
		out=$(R -e "evacuate $lo $hi --move-inodes --dry-run" "$VOL_MNT" 2>&1)
		if [ "$names" != 0 ]; then
			left=$((left + 1))
			grep -q "left by an interrupted --move-inodes" <<<"$out" ||
				fail "killed $t s after the first new inode: $names .relayout-* names, not named by the next run: $(grep -v '^  step' <<<"$out" | head -3)"
		fi
		note "killed $t s after the first new inode: $names .relayout-* names left"
		# the leftovers go, as a user would remove them
		find "$VOL_MNT" -name '.relayout-*' -prune -exec rm -rf {} +
	done
	[ $left != 0 ] || fail "no kill met a file between its two inodes: the test did not test"
	out=$(R -e "evacuate $lo $hi --move-inodes" "$VOL_MNT" 2>&1) || fail "evacuate --move-inodes after the kills: $(grep -v '^  step' <<<"$out" | tail -3)"
	[ "$(kept)" = "$before" ] || fail "data changed by the last evacuate --move-inodes"
	vol_fsck
}

# ------------------------------------ XFS --move-inodes under appenders
# Three shells append numbered lines to random files of a directory by
# name (each open finds whatever inode the name has, and makes the name
# if it finds none), two CPU hogs make them be preempted anywhere, while
# evacuate --move-inodes of the whole allocation group gives those files
# and the directory itself new inodes; every line a shell logged as
# appended must be in its file, and no name may have been made again
# (NAME.relayout-twice.K: a lookup that missed the name).
t_xfs_inodes_load() {
	local bs ag agino i w pids= hogs= lo hi exp got lost dino wpid
	tail_top
	for ((i = 0; i < 300; i++)); do echo start >"$VOL_MNT/top/f$i"; done
	rm "$VOL_MNT/top/filler"
	# and a writer that verifies its data: each 4 KiB write (O_DIRECT and
	# buffered in turn) through a new open of one of 40 files by name
	"$RL_WRITER" reopen "$VOL_MNT/top" 40 12 "$VOL_DIR/reopen.log" >"$VOL_DIR/reopen.out" 2>&1 &
	wpid=$!
	for ((i = 0; i < 100; i++)); do [ -e "$VOL_MNT/top/w39" ] && break; sleep 0.1; done
	sleep 0.2
	sync -f "$VOL_MNT"
	lo=$((ag * bs)) hi=$((2 * ag * bs))
	dino=$(stat -c %i "$VOL_MNT/top")
	for i in 1 2; do
		(while :; do :; done) &
		hogs="$hogs $!"
	done
	for w in 1 2 3; do
		(
			n=0
			while [ ! -e "$VOL_DIR/stop" ]; do
				f=$((RANDOM % 300)) n=$((n + 1))
				echo "w$w $n" >>"$VOL_MNT/top/f$f" && echo "f$f w$w $n" >>"$VOL_DIR/app.$w"
			done
		) &
		pids="$pids $!"
	done
	sleep 0.5
	out=$(R -e "evacuate $lo $hi --move-inodes --retry 8" "$VOL_MNT" 2>&1)
	rc=$?
	touch "$VOL_DIR/stop"
	wait $pids
	kill $hogs
	wait $hogs 2>/dev/null
	echo "$out" | grep -v "^  step" | head -20 >&2
	# the evacuation's moves of files being appended to can be refused
	# (and retried) until the retries run out: an evacuation that stops
	# with rc 1 is noted; the inodes and the appends are the point
	if [ $rc != 0 ]; then
		[ $rc = 1 ] && ! grep -q "Sanitizer\|runtime error" <<<"$out" ||
			fail "evacuate --move-inodes under appenders: rc $rc: $(grep -v '^  step' <<<"$out" | tail -3)"
		note "the evacuation under appenders did not complete (rc $rc): $(grep -v '^  step' <<<"$out" | grep '^relayout: evacuate: [a-z]' | grep -v 'files, \|planning again' | tail -1 | cut -c1-200)"
	fi
	grep -q "gave [1-9][0-9]* files and 1 director" <<<"$out" ||
		fail "the files and their directory did not get new inodes: $(grep -v '^  step' <<<"$out" | grep -m3 'gave\|kept\|director')"
	[ "$(stat -c %i "$VOL_MNT/top")" != "$dino" ] || fail "the directory kept its inode"
	wait $wpid || fail "the reopening writer failed: $(tail -3 "$VOL_DIR/reopen.out")"
	"$RL_WRITER" check-dir "$VOL_MNT/top" "$VOL_DIR/reopen.log" >"$VOL_DIR/reopen.check" 2>&1 ||
		fail "the reopening writer's data: $(grep -v ' 0 mismatches' "$VOL_DIR/reopen.check" | head -5)"
	note "reopening writer: $(cat "$VOL_DIR/reopen.out"), checked"
	exp=$(cat "$VOL_DIR"/app.* | sort)
	got=$(cd "$VOL_MNT/top" && for f in f[0-9]*; do grep -v '^start$' "$f" | sed "s/^/$f /"; done | sort)
	lost=$(comm -23 <(echo "$exp") <(echo "$got") | wc -l)
	note "appends logged: $(wc -l <<<"$exp"), lost: $lost"
	[ "$lost" = 0 ] || fail "$lost appends lost, e.g. $(comm -23 <(echo "$exp") <(echo "$got") | head -3 | tr '\n' ';')"
	i=$(find "$VOL_MNT/top" -name '*.relayout-*' | wc -l)
	[ "$i" = 0 ] || fail "$i names in the directory made again or left while it got a new inode: $(find "$VOL_MNT/top" -name '*.relayout-*' | head -3 | tr '\n' ' ')"
	vol_fsck
}

# -------------------------------------------------------------- ext4
t_ext4() {
	local bs blocks want out before dev
	vol_create ext4 256
	RELAYOUT_JOURNAL_DIR=$VOL_DIR/journal RELAYOUT_STATE_DIR=$VOL_DIR/state
	fill
	before=$(sums)
	bs=$(stat -f -c %S "$VOL_MNT")
	blocks=$(dumpe2fs -h "$VOL_DEV" 2>/dev/null | sed -n 's/^Block count: *//p')
	want=$((blocks * bs * 3 / 4 / bs * bs))
	out=$(R -e "shrink --dry-run $want" "$VOL_MNT" 2>&1) || fail "ext4 shrink --dry-run: $out"
	grep -q "would evacuate" <<<"$out" || fail "ext4 --dry-run: $out"
	shrink_run "$want"
	[ $rc = 0 ] || fail "ext4 shrink $want: rc $rc"
	grep -q "^  resize2fs $VOL_DEV $((want / 1024))K$" <<<"$out" ||
		fail "ext4 shrink does not print the resize2fs command: $out"
	grep -q "smallest size resize2fs allows" <<<"$out" || fail "no minimum size: $out"
	[ "$(sums)" = "$before" ] || fail "ext4: data changed by the evacuation"
	# below the minimum: refused
	out=$(R -e "shrink 1M" "$VOL_MNT" 2>&1) && fail "ext4 shrink 1M accepted: $out"
	grep -q "cannot shrink below" <<<"$out" || fail "ext4 shrink 1M: $out"
	# the printed steps work
	vol__umount "$VOL_MNT" nolazy || vol_fail "umount"
	e2fsck -f -y "$VOL_DEV" >"$VOL_DIR/e2fsck.log" 2>&1 || fail "e2fsck -f: $(tail -5 "$VOL_DIR/e2fsck.log")"
	resize2fs "$VOL_DEV" $((want / 1024))K >"$VOL_DIR/resize.log" 2>&1 ||
		fail "resize2fs: $(tail -3 "$VOL_DIR/resize.log")"
	mount "$VOL_DEV" "$VOL_MNT" || vol_fail "mount after resize2fs"
	[ "$(dumpe2fs -h "$VOL_DEV" 2>/dev/null | sed -n 's/^Block count: *//p')" = $((want / bs)) ] ||
		fail "ext4 not resized to $((want / bs)) blocks"
	[ "$(sums)" = "$before" ] || fail "ext4: data changed by resize2fs"
	vol_fsck
}

# ------------------------------------------------------------- btrfs
t_btrfs() {
	local out
	vol_create btrfs 256
	RELAYOUT_JOURNAL_DIR=$VOL_DIR/journal RELAYOUT_STATE_DIR=$VOL_DIR/state
	out=$(R -e "shrink 100M" "$VOL_MNT" 2>&1) && fail "btrfs shrink accepted"
	grep -q "btrfs filesystem resize" <<<"$out" || fail "btrfs shrink: $out"
}

# ------------------------------------ SIGINT during an apply, then undo
t_sigint() {
	local before ext_before pid out id i st
	vol_create ext4 256
	RELAYOUT_JOURNAL_DIR=$VOL_DIR/journal RELAYOUT_STATE_DIR=$VOL_DIR/state
	fill
	before=$(sums)
	ext_before=$(for f in "$VOL_MNT"/d*/*; do echo "$f"; vol_extents "$f"; done)
	# evacuate the second half at 4 MB/s: several seconds of steps
	"$RELAYOUT" -e "evacuate $((128 << 20)) $((256 << 20)) --rate 4" "$VOL_MNT" \
		>"$VOL_DIR/int.out" 2>"$VOL_DIR/int.err" &
	pid=$!
	for ((i = 0; i < 100; i++)); do
		grep -q "files, .* of " "$VOL_DIR/int.err" 2>/dev/null && break
		sleep 0.1
	done
	sleep 0.5
	kill -INT $pid
	wait $pid
	st=$?
	grep -q "files, .* of .* ETA" "$VOL_DIR/int.err" ||
		fail "no progress line on stderr (not a tty): $(head -c 600 "$VOL_DIR/int.err")"
	[ $st != 0 ] || fail "evacuate ended with 0 after SIGINT (finished before it? $(tail -2 "$VOL_DIR/int.out"))"
	grep -q "stopped" "$VOL_DIR/int.err" ||
		fail "no 'stopped' after SIGINT: $(tail -5 "$VOL_DIR/int.err")"
	note "after SIGINT: $(tail -3 "$VOL_DIR/int.err")"
	[ "$(sums)" = "$before" ] || fail "data changed by a stopped apply"
	id=$(R -e "log --json" "$VOL_MNT" 2>/dev/null | grep -o '"id": *[0-9]*' | tail -1 | grep -o '[0-9]*$')
	[ -n "$id" ] || fail "no transaction in the log"
	out=$(R -e "undo $id" "$VOL_MNT" 2>&1) || fail "undo $id after SIGINT: $out"
	note "undo: $(grep transaction <<<"$out")"
	[ "$(sums)" = "$before" ] || fail "data changed by undo"
	[ "$(for f in "$VOL_MNT"/d*/*; do echo "$f"; vol_extents "$f"; done)" = "$ext_before" ] ||
		fail "undo did not put every extent back"
	vol_fsck
}

vol_require_root
ran=0
for t in ${SHRINK_TESTS:-xfs xfs_agfl xfs_inodes xfs_evac_inodes xfs_inodes_kill xfs_inodes_load ext4 btrfs sigint}; do
	case $t in
	xfs) tools="mkfs.xfs xfs_info xfs_repair" kind=xfs ;;
	xfs_agfl) tools="mkfs.xfs xfs_info xfs_repair xfs_io" kind=xfs ;;
	xfs_inodes) tools="mkfs.xfs xfs_info xfs_repair python3" kind=xfs ;;
	xfs_inodes_load | xfs_evac_inodes | xfs_inodes_kill) tools="mkfs.xfs xfs_info xfs_repair" kind=xfs ;;
	ext4) tools="mkfs.ext4 resize2fs e2fsck dumpe2fs" kind=ext4 ;;
	btrfs) tools=mkfs.btrfs kind=btrfs ;;
	sigint) tools="mkfs.ext4 e2fsck" kind=ext4 ;;
	esac
	vol_kind_enabled $kind || continue
	for tool in $tools; do
		command -v "$tool" >/dev/null || vol_skip "$tool not installed"
	done
	echo "--- shrink: $t" >&2
	"t_$t"
	vol_destroy
	ran=$((ran + 1))
done
[ $ran != 0 ] || vol_skip "none of xfs, ext4, btrfs enabled by RL_TEST_FS"
[ "$fails" = 0 ] || { echo "$fails failure(s)" >&2; exit 1; }
echo "shrink: all checks passed"
