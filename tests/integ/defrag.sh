#!/bin/bash
# defrag in the situations of the public fstests defragmentation tests
# (our own scenarios, not their code), on ext4 (4 KiB and 1 KiB blocks),
# XFS and btrfs; every time: md5, size and atime/mtime/ctime of the file
# unchanged, fewer extents (filefrag) than before, fsck clean at the end.
#  - split (generic/324): a file of ~1.5 extents per 400 KiB (fallocated
#    4 KiB pieces, the first half filled by one fallocate, small writes
#    in it), its data range larger than a group/AG: no free run inside one
#    group takes it, so it must become a few large runs. Compared with
#    e4defrag / xfs_fsr on an identical copy of the image (not worse).
#  - backwards (generic/018, btrfs/005): a file written block by block
#    backwards with O_SYNC (a filler between its blocks) becomes one
#    extent (ext4's preallocation lays it out in order: noted); a file
#    with a hole between every block is left alone (nothing to do). On
#    btrfs (no placement control) through a place the allocator chooses;
#    compared with 'btrfs filesystem defragment' on a copy written the
#    same way.
#  - unshare (xfs/328): a fragmented file whose extents are all shared
#    with a reflinked copy is skipped without --unshare (the reason says
#    so), defragmented with it; the copy keeps its data and extents.
#  - full (xfs/042, XFS only): a full volume whose free space is 4 KiB
#    holes gets a 32 MiB file (thousands of extents); then 32 separate
#    1 MiB runs are freed: the file becomes a few runs; the fill file is
#    unchanged. Compared with xfs_fsr on a copy.
#  - recursive (XFS only): defrag --recursive looks only at the files
#    that bulkstat says are in two or more extents (and those named):
#    the same plan as after a whole scan; the next command sees all.
#  - EOF preallocation (xfs/118, XFS only): a file whose speculative
#    preallocation past EOF is still delalloc after a sync (a full,
#    fragmented volume) is defragmented below EOF (it was refused as
#    "delalloc").
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/volume.sh"
vol_require_root
for t in jq filefrag xfs_io; do
	command -v $t >/dev/null || vol_skip "$t not installed"
done
KINDS="${RL_DEFRAG_FS:-ext4 ext4-1k xfs btrfs}"
R() { "$RELAYOUT" "$@"; }
# extents FILE: filefrag's count (physically contiguous pieces merged)
extents() { filefrag "$1" | sed -n 's/.*: \([0-9]*\) extents\{0,1\} found$/\1/p'; }
stamps() { stat -c '%x|%y|%z|%s' "$1"; }

# keep FILE: remember its md5, size and timestamps (md5 first: the read
# may move atime); same FILE: they are unchanged
keep() { md5sum <"$1" >"$VOL_DIR/md5.${1##*/}" && stamps "$1" >"$VOL_DIR/st.${1##*/}"; }
same() {
	[ "$(stamps "$1")" = "$(cat "$VOL_DIR/st.${1##*/}")" ] ||
		fail "$1: size or timestamps changed: $(cat "$VOL_DIR/st.${1##*/}") -> $(stamps "$1")"
	[ "$(md5sum <"$1")" = "$(cat "$VOL_DIR/md5.${1##*/}")" ] || fail "$1: content changed"
}

# stock REL CMD...: CMD on an identical copy of the volume (ext4, XFS),
# mounted at $VOL_DIR/clone, "{}" in CMD replaced by REL's path in it;
# prints REL's extent count there afterwards. The copy is unmounted,
# detached and deleted afterwards.
stock() {
	local rel=$1 dev cf
	shift
	sync -f "$VOL_MNT"
	vol__umount "$VOL_MNT" nolazy || vol_fail "umount for the copy"
	cp --sparse=always "$VOL_IMG" "$VOL_DIR/clone.img"
	mount "$VOL_DEV" "$VOL_MNT" || vol_fail "remount"
	dev=$(losetup -f --show "$VOL_DIR/clone.img") || vol_fail "losetup clone"
	vol_at_exit "losetup -d $dev 2>/dev/null"
	mkdir -p "$VOL_DIR/clone"
	case $VOL_FS in xfs*) mount -o nouuid "$dev" "$VOL_DIR/clone" ;; *) mount "$dev" "$VOL_DIR/clone" ;; esac ||
		vol_fail "mount clone"
	cf=$VOL_DIR/clone/$rel
	"${@//\{\}/$cf}" >"$VOL_DIR/stock.out" 2>&1
	sync -f "$VOL_DIR/clone"
	extents "$cf"
	umount "$VOL_DIR/clone"
	losetup -d "$dev"
	rm -f "$VOL_DIR/clone.img"
}

# ---------------------------------------------------------------- split
test_split() {
	local M=$VOL_MNT f=$VOL_MNT/t324 gsz nr i c=() before after out st=""
	gsz=$(R --json -e info "$M" | jq -r .group_size)
	[ "$gsz" -gt 0 ] 2>/dev/null || gsz=$((64 << 20)) # btrfs: no groups
	# the data range (nr * 200 KiB) is larger than a group/AG; on btrfs
	# 40 MiB
	nr=$((gsz / 204800 + 40))
	[ "$VOL_FS" != btrfs ] || nr=200
	for ((i = 0; i < nr; i++)); do c+=(-c "falloc $((409600 * i)) 4k"); done
	xfs_io -f "${c[@]}" "$f" || { fail "falloc pieces"; return; }
	xfs_io -c "falloc 0 $((204800 * nr))" "$f"
	c=()
	for ((i = 0; i < nr; i++)); do c+=(-c "pwrite -S $((i % 256)) $((i * 123400)) 1234"); done
	xfs_io "${c[@]}" "$f" >/dev/null
	sync -f "$M"
	before=$(extents "$f")
	keep "$f"
	case $VOL_FS in
	ext4*) ! command -v e4defrag >/dev/null || st=$(stock t324 e4defrag "{}") ;;
	xfs*) ! command -v xfs_fsr >/dev/null || st=$(stock t324 xfs_fsr -v "{}") ;;
	esac
	out=$(R -e "defrag $f" "$M" 2>&1) || fail "defrag of $f: $out"
	after=$(extents "$f")
	same "$f"
	[ "$after" -lt "$before" ] || fail "split: $f $before -> $after extents: $out"
	case $VOL_FS in
	btrfs) ;;
	*) grep -q "no free run of .* -> [0-9]* piece" <<<"$out" ||
		fail "split: the plan did not split $f over several free runs: $out" ;;
	esac
	if [ -n "$st" ]; then
		[ "$after" -le "$st" ] || fail "split: relayout left $after extents, the stock tool $st"
	fi
	note "split (generic/324, $((204800 * nr >> 20)) MiB range): $before -> $after extents${st:+; stock tool on a copy: $before -> $st}"
	rm -f "$f"
}
# ------------------------------------------------------------ backwards
test_backwards() {
	local M=$VOL_MNT f=$VOL_MNT/back g=$VOL_MNT/back.copy h=$VOL_MNT/holes
	local bs i n before after out stock="" hb
	bs=$(stat -f -c %S "$M")
	# backwards, each block synced; a filler written between them
	# (deleted) so that no allocator can lay them out in order
	for i in $(seq 63 -1 0); do
		for n in "$f" "$g"; do
			dd if=/dev/urandom of="$n" bs="$bs" count=1 seek="$i" conv=notrunc oflag=sync status=none
			dd if=/dev/zero of="$M/filler" bs="$bs" count=1 oflag=append,sync conv=notrunc status=none
		done
	done
	rm -f "$M/filler"
	for i in $(seq 31 -2 0); do
		dd if=/dev/urandom of="$h" bs="$bs" count=1 seek="$i" conv=notrunc oflag=sync status=none
	done
	sync -f "$M"
	before=$(extents "$f")
	hb=$(extents "$h")
	keep "$f"
	keep "$h"
	[ "$before" -gt 1 ] || { note "backwards: $f is in one extent already here ($before)"; return; }
	out=$(R -e "defrag $f $h" "$M" 2>&1) || fail "defrag of $f: $out"
	after=$(extents "$f")
	same "$f"
	same "$h"
	[ "$after" = 1 ] || fail "backwards: $f $before -> $after extents (want 1): $out"
	[ "$(extents "$h")" = "$hb" ] || fail "backwards: $h (a hole between every block) $hb -> $(extents "$h") extents"
	grep -q "skip holes: would not improve" <<<"$out" || fail "backwards: no reason for $h: $out"
	if [ "$VOL_FS" = btrfs ]; then
		stock=$(extents "$g")
		btrfs filesystem defragment "$g" && sync -f "$M" && stock="$stock -> $(extents "$g")"
	fi
	note "backwards (generic/018, btrfs/005): $before -> $after extents; holes: $hb stay${stock:+; btrfs fi defrag on a copy: $stock}"
	rm -f "$f" "$g" "$h"
}

# --------------------------------------------------------------- unshare
test_unshare() {
	local M=$VOL_MNT d=$VOL_MNT/share f before after out cs
	mkdir -p "$d"
	f=$d/file
	vol_mkfrag "$f" 32 64
	cp --reflink=always "$f" "$d/copy" || { fail "cp --reflink"; return; }
	sync -f "$M"
	before=$(extents "$f")
	keep "$f"
	cs=$(vol_extents "$d/copy" | md5sum)
	out=$(R -e "defrag $f" "$M" 2>&1)
	grep -q "skip share/file: cannot move: shared (reflinked) extents; --unshare" <<<"$out" ||
		fail "unshare: no shared-extents skip without --unshare: $out"
	[ "$(extents "$f")" = "$before" ] || fail "unshare: $f changed without --unshare"
	out=$(R -e "defrag --unshare $f" "$M" 2>&1) || fail "defrag --unshare: $out"
	after=$(extents "$f")
	same "$f"
	[ "$after" -lt "$before" ] || fail "unshare: $f $before -> $after extents: $out"
	filefrag -v "$f" | grep -q shared && fail "unshare: $f still has shared extents"
	[ "$(vol_extents "$d/copy" | md5sum)" = "$cs" ] || fail "unshare: the copy's extents changed"
	cmp -s "$f" "$d/copy" || fail "unshare: the copy's data differs from the file's"
	note "unshare (xfs/328): shared skipped without --unshare; with it $before -> $after extents, the copy untouched"
	rm -rf "$d"
}

# --------------------------------------------------- EOF preallocation
test_eof_prealloc() {
	local M=$VOL_MNT f=$VOL_MNT/big avail i c=() before after out
	avail=$(($(stat -f -c '%a * %S' "$M") / 1024))
	xfs_io -f -c "falloc 0 $((avail - 1024))k" "$M/fill" >/dev/null 2>&1
	dd if=/dev/zero of="$M/rest" oflag=direct bs=4k status=none 2>/dev/null
	sync -f "$M"
	for i in $(seq 0 8 65536); do c+=(-c "fpunch ${i}k 4k"); done
	xfs_io "${c[@]}" "$M/fill"
	sync -f "$M"
	xfs_io -f -c "pwrite -b 64k 0 8m" "$f" >/dev/null && sync -f "$M"
	xfs_io -c "pwrite -b 64k 8m 4m" "$f" >/dev/null && sync -f "$M"
	rm -f "$M/fill" "$M/rest"
	sync -f "$M"
	if ! filefrag -v "$f" | grep -q "delalloc"; then
		note "EOF preallocation: no delalloc past EOF after the sync here; not tested"
		rm -f "$f"
		return
	fi
	before=$(vol_extents "$f" merge | wc -l)
	keep "$f"
	out=$(R -e "defrag $f" "$M" 2>&1) || fail "defrag of $f: $out"
	after=$(vol_extents "$f" merge | wc -l)
	same "$f"
	grep -q "delalloc" <<<"$out" && fail "EOF preallocation: refused as delalloc: $out"
	[ "$after" -lt "$before" ] || fail "EOF preallocation: $before -> $after runs below EOF: $out"
	note "EOF preallocation (xfs/118): $before -> $after runs below EOF; past EOF now: $(filefrag -v "$f" | grep -c 'delalloc\|unwritten') preallocated extent(s)"
	rm -f "$f"
}

# --------------------------------------------------- full, 4 KiB holes
# xfs/042: a full volume; every second 4 KiB block of a fill file freed;
# a 32 MiB file written into those holes; then 32 separate 1 MiB free
# runs made (files between them deleted): the file cannot be one run, it
# must become a few of them.
test_full() {
	local M=$VOL_MNT f=$VOL_MNT/fragmented i c=() before after out st=""
	for i in $(seq 1 32); do
		c+=(-c "close" -c "open -f $M/hole$i" -c "resvsp 0 1m")
		c+=(-c "close" -c "open -f $M/space$i" -c "resvsp 0 4k")
	done
	xfs_io -f "${c[@]}" "$M/hole0" >/dev/null 2>&1
	# no reserve pool (in memory until the next mount): the fill takes
	# every free block, the file only the 4 KiB holes
	xfs_io -x -c "resblks 0" "$M" >/dev/null
	i=$(($(stat -f -c '%a * %S' "$M") / 1048576 - 2))
	xfs_io -f -c "falloc 0 ${i}m" "$M/fill" >/dev/null 2>&1 || i=0
	while xfs_io -f -c "falloc ${i}m 1m" "$M/fill" 2>/dev/null; do i=$((i + 1)); done
	xfs_io -f -c "falloc 0 1m" "$M/pad" 2>/dev/null
	c=()
	for i in $(seq 0 8 65536); do c+=(-c "unresvsp ${i}k 4k"); done
	xfs_io "${c[@]}" "$M/fill"
	md5sum <"$M/fill" >"$VOL_DIR/fill.md5"
	xfs_io -f -c "pwrite -b 1m 0 32m" -c fsync "$f" >/dev/null 2>&1
	rm -f "$M"/pad "$M"/hole*
	sync -f "$M"
	# XFS frees unlinked files' blocks in the background (inode
	# inactivation): wait until the free space stops growing, or the
	# defrag may see 1 MiB runs still in use (seen under ASan: "the
	# plan needs 18.0 MiB at once ... the volume has 17.6 MiB free")
	# (three equal readings 0.5 s apart: on a loaded machine the
	# background work can pause longer than one interval)
	local a b="" same=0
	for i in $(seq 1 60); do
		a=$(stat -f -c %a "$M")
		if [ "$a" = "$b" ]; then
			same=$((same + 1))
			[ $same -ge 3 ] && break
		else
			same=0
		fi
		b=$a
		sleep 0.5
		sync -f "$M"
	done
	before=$(extents "$f")
	keep "$f"
	! command -v xfs_fsr >/dev/null || st=$(stock fragmented xfs_fsr -v "{}")
	out=$(R -e "defrag $f" "$M" 2>&1) || fail "defrag of $f: $out"
	after=$(extents "$f")
	same "$f"
	[ "$(md5sum <"$M/fill")" = "$(cat "$VOL_DIR/fill.md5")" ] || fail "full: the fill file changed"
	[ "$after" -lt "$before" ] || fail "full: $f $before -> $after extents: $out"
	[ -z "$st" ] || st="$st$(tail -1 "$VOL_DIR/stock.out" | sed 's/./ (&/;s/.$/&)/')"
	note "full (xfs/042): $before -> $after extents${st:+; xfs_fsr on a copy: $before -> $st}"
	rm -f "$M"/fill "$M"/space* "$f"
}

# ------------------------------- recursive, XFS: bulkstat first
# defrag --recursive with no model yet reads every inode's extent count
# (bulkstat) and looks only at the files in two or more (and the files
# named): the same plan as after a whole scan, the note counts the files
# passed over, and the next command of the session sees every file.
test_recursive_xfs() {
	local M=$VOL_MNT d=$VOL_MNT/rec i k fast full total out
	mkdir "$d"
	for ((i = 0; i < 200; i++)); do echo "small $i" >"$d/s$i"; done
	head -c 65536 /dev/urandom >"$d/one"
	# three files written round robin with O_DIRECT (no speculative
	# preallocation): interleaved extents
	for ((i = 0; i < 8; i++)); do
		for k in a b c e; do
			xfs_io -d -f -c "pwrite -q -S 0x$((i + 1))$((i + 1)) $((i * 65536)) 65536" "$d/$k" ||
				fail "xfs_io pwrite $d/$k"
		done
	done
	sync -f "$M"
	for k in a b c e one; do keep "$d/$k"; done
	[ "$(extents "$d/a")" -gt 1 ] || { note "recursive: no interleaved extents here; not tested"; return; }
	# one file named, no scan yet: the partial model (bulkstat), its
	# anchors known without a walk of the volume, no note of the others
	out=$(R -e "defrag --dry-run $d/e" "$M" 2>&1) || fail "defrag --dry-run FILE: $out"
	grep -q bulkstat <<<"$out" && fail "defrag FILE: the note of the volume's other files: $out"
	[ "$(grep -c '^  step' <<<"$out")" = 1 ] || fail "defrag FILE: not one step: $out"
	out=$(R --json -e "defrag $d/e" "$M" 2>"$VOL_DIR/rec.err") || fail "defrag FILE: $out $(cat "$VOL_DIR/rec.err")"
	[ "$(jq -s '.[-1].anchor_walks' <<<"$out")" = 0 ] ||
		fail "defrag FILE: $(jq -s '.[-1].anchor_walks' <<<"$out") walks for an anchor: $(jq -c -s '.[-1]' <<<"$out" | head -c 400)"
	[ "$(extents "$d/e")" = 1 ] || fail "defrag FILE: $d/e in $(extents "$d/e") extents after"
	same "$d/e"
	# rec/one named twice: opened, and not counted among those left out
	fast=$(R -e "defrag --recursive --dry-run $d $d/one $d/one" "$M" 2>&1) || fail "defrag --recursive --dry-run: $fast"
	full=$(R -e "scan; defrag --recursive --dry-run $d $d/one $d/one" "$M" 2>&1) || fail "scan; defrag --recursive --dry-run: $full"
	grep -q "files of the volume have one extent or none (XFS bulkstat)" <<<"$fast" ||
		fail "recursive: no bulkstat note: $fast"
	# the count: the volume's regular files in fewer than two extent
	# records (xfs_io stat), rec/one (opened) left out
	local whole=0 ino nx
	while read -r ino f; do
		nx=$(xfs_io -r -c stat "$f" | awk '/fsxattr.nextents/ {print $3}')
		[ "${nx:-9}" -lt 2 ] && [ "$f" != "$d/one" ] && whole=$((whole + 1))
	done < <(find "$M" -xdev -type f -printf '%i %p\n' | sort -un -k1,1)
	grep -q "already optimal: $whole files of the volume have one extent" <<<"$fast" ||
		fail "recursive: not $whole files counted as left out: $(grep bulkstat <<<"$fast")"
	grep -q "bulkstat" <<<"$full" && fail "recursive: the note after a whole scan: $full"
	grep -q "^skip rec/one: already optimal" <<<"$fast" || fail "recursive: the file named is not looked at: $fast"
	# the same moves (the targets can differ: XFS targets need known
	# data below them in their AG, and the files passed over are not
	# known)
	[ "$(grep '^  step' <<<"$fast" | sed 's/ -> 0x[0-9a-f]*//')" = "$(grep '^  step' <<<"$full" | sed 's/ -> 0x[0-9a-f]*//')" ] ||
		fail "recursive: other moves than after a whole scan: $(grep '^  step' <<<"$fast" | head -3) / $(grep '^  step' <<<"$full" | head -3)"
	[ "$(grep -c '^  step' <<<"$fast")" = 3 ] || fail "recursive: not the three files: $fast"
	total=$(R --json -e frag "$M" | jq .files)
	out=$(R --json -e "defrag --recursive $d; frag" "$M" 2>"$VOL_DIR/rec.err") || fail "defrag --recursive: $out $(cat "$VOL_DIR/rec.err")"
	[ "$(jq -s '.[1].files' <<<"$out")" = "$total" ] ||
		fail "recursive: the next command saw $(jq -s '.[1].files' <<<"$out") files of $total"
	# the anchors of its targets came from files the partial model took
	# for that, not from a walk of the volume
	[ "$(jq -s '.[0].anchor_walks' <<<"$out")" = 0 ] ||
		fail "recursive: $(jq -s '.[0].anchor_walks' <<<"$out") walks of the volume for an anchor: $(jq -c -s '.[0]' <<<"$out" | head -c 600)"
	for k in a b c one; do same "$d/$k"; done
	for k in a b c; do
		[ "$(extents "$d/$k")" = 1 ] || fail "recursive: $d/$k in $(extents "$d/$k") extents after"
	done
	# nothing left in two extents (but e and the fill files of other
	# tests: the directories named hold none): the model names the
	# directories and nothing under them (no walk), the same plan and
	# report as after a whole scan, and the next command sees every file
	mkdir -p "$d/sub/deeper"
	echo x >"$d/sub/deeper/f"
	local many=0
	while read -r ino f; do
		nx=$(xfs_io -r -c stat "$f" | awk '/fsxattr.nextents/ {print $3}')
		[ "${nx:-9}" -ge 2 ] && many=$((many + 1))
	done < <(find "$M" -xdev -type f -printf '%i %p\n' | sort -un -k1,1)
	if [ "$many" = 0 ]; then
		fast=$(R --json -e "defrag --recursive --dry-run $d/sub/deeper $d" "$M" 2>&1) ||
			fail "recursive, nothing to do: $fast"
		full=$(R --json -e "scan; defrag --recursive --dry-run $d/sub/deeper $d" "$M" 2>&1) ||
			fail "recursive, nothing to do, after a scan: $full"
		[ "$(jq -s -c '.[0].steps' <<<"$fast")" = "[]" ] || fail "recursive, nothing to do: steps: $fast"
		[ "$(jq -s -c '.[1] | del(.report)' <<<"$full")" = "$(jq -s -c '.[0] | del(.report)' <<<"$fast")" ] ||
			fail "recursive, nothing to do: not the plan of a whole scan: $fast / $full"
		grep -q "files of the volume have one extent or none (XFS bulkstat)" <<<"$fast" ||
			fail "recursive, nothing to do: no bulkstat note: $fast"
		# and no directory of the volume was read
		if command -v strace >/dev/null; then
			vol_strace -f -y -e trace=getdents64 -o "$VOL_DIR/getdents" -- \
				"$RELAYOUT" -e "defrag --recursive --dry-run $d" "$M" >/dev/null 2>&1 ||
				fail "recursive, nothing to do, under strace"
			! grep -qF "<$M" "$VOL_DIR/getdents" ||
				fail "recursive, nothing to do: directories read: $(grep -F "<$M" "$VOL_DIR/getdents" | head -2)"
		fi
		out=$(R -e "defrag --recursive $d; frag" "$M" 2>&1) || fail "recursive, nothing to do: $out"
		grep -q "^nothing to do" <<<"$out" || fail "recursive, nothing to do: $out"
		out=$(R --json -e "defrag --recursive $d; frag" "$M" 2>&1) || fail "recursive, nothing to do: $out"
		[ "$(jq -s '.[1].files' <<<"$out")" = "$(R --json -e frag "$M" | jq .files)" ] ||
			fail "recursive, nothing to do: the next command saw $(jq -s '.[1].files' <<<"$out") files"
		# a file named is looked at; a directory without --recursive
		# and a path not on the volume are refused as after a scan
		out=$(R -e "defrag --recursive $d $d/one" "$M" 2>&1) || fail "recursive, nothing to do, a file named: $out"
		grep -q "^skip rec/one: already optimal" <<<"$out" || fail "recursive, nothing to do, a file named: $out"
		out=$(R -e "defrag $d/sub" "$M" 2>&1) && fail "defrag DIR without --recursive: $out"
		grep -q "is a directory" <<<"$out" || fail "defrag DIR without --recursive: $out"
		out=$(R -e "defrag --recursive $d/nothing" "$M" 2>&1) && fail "defrag of a missing path: $out"
		grep -q "not in the layout model" <<<"$out" || fail "defrag of a missing path: $out"
	else
		note "recursive: $many files still in two extents or more: the no-walk case not tested"
	fi
	rm -rf "$d"
}

for kind in $KINDS; do
	case $kind in ext4) size=512 ;; xfs*) size=300 ;; *) size=256 ;; esac
	vol_create "$kind" "$size"
	export RELAYOUT_JOURNAL_DIR=$VOL_DIR/journal RELAYOUT_STATE_DIR=$VOL_DIR/state
	# data in every group/AG (XFS targets need data below them in
	# their AG; new directories rotate over the AGs)
	for i in 1 2 3 4 5 6 7 8; do
		mkdir "$VOL_MNT/d$i" && dd if=/dev/urandom of="$VOL_MNT/d$i/x" bs=64k count=1 status=none
	done
	test_split
	test_backwards
	case $kind in xfs | btrfs) test_unshare ;; esac
	case $kind in xfs) test_recursive_xfs && test_eof_prealloc && test_full ;; esac
	vol_fsck
	vol_destroy
done
[ $fails = 0 ] || { echo "$fails failure(s)" >&2; exit 1; }
echo "defrag: all checks passed ($KINDS)"
