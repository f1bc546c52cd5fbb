#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The layers of docs/ARCHITECTURE.md, checked on the built archives: who
# calls whom is read from the object files' symbols (nm), so the check sees
# what the linker sees.
#   - the library (lib/, librelayout.a) calls nothing of the program;
#   - a file calls only files of its own layer or the layers below;
#   - no cycles between files, apart from the command executor's (the table
#     in commands.c names every handler; `source`, `help` and the UI's
#     commands call the executor back), listed in ALLOWED below.
# A file that is in no layer fails the test: give it one here and in
# docs/ARCHITECTURE.md.
set -u
builddir=${top_builddir:-.}

# layer NAME: the layer of a source file (its name without .c)
layer() {
	case $1 in
	fs_*) echo 1 ;;                     # primitives: the installed library
	units | output | json_util | mem) echo 1 ;; # utilities
	layout_model | scan | snapshot) echo 2 ;;
	planner | txn | txn_* | journal | busy | vlock) echo 3 ;;
	commands | session | session_* | cmd_fs | cmd_model | cmd_plan | \
		cmd_txn | cmd_session | cmd_shrink | cmd_inodes) echo 4 ;;
	ui_* | cmd_ui) echo 5 ;;
	*) echo 0 ;;
	esac
}

# Cycles that are the design: the executor and the handlers it runs.
ALLOWED=" commands:cmd_fs commands:cmd_model commands:cmd_plan
	commands:cmd_txn commands:cmd_session commands:cmd_shrink "

archives=()
for a in "$builddir"/librelayout.a "$builddir"/librl*.a; do
	[ -f "$a" ] && archives+=("$a")
done
if [ ${#archives[@]} -lt 2 ]; then
	echo "layers: no archives in $builddir (build first)" >&2
	exit 1
fi

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# "member symbol" lines, the member named by its source file
nm -A -g --defined-only "${archives[@]}" 2>/dev/null |
	sed -n 's/^[^:]*:\([^:]*\)\.o: *[0-9a-f]* [A-Za-z] \(.*\)$/\1 \2/p' |
	sed 's/^lib[a-z]*_a-//' | sort -k2 >"$tmp/defs"
nm -A -u "${archives[@]}" 2>/dev/null |
	sed -n 's/^[^:]*:\([^:]*\)\.o: *U \(.*\)$/\1 \2/p' |
	sed 's/^lib[a-z]*_a-//' | sort -k2 >"$tmp/uses"
join -1 2 -2 2 -o 1.1,2.1,0 "$tmp/uses" "$tmp/defs" |
	awk '$1 != $2' | sort -u >"$tmp/calls"
awk '{print $1, $2}' "$tmp/calls" | sort -u >"$tmp/edges"

fail=0
for f in $(awk '{print $1}' "$tmp/defs" | sort -u); do
	if [ "$(layer "$f")" = 0 ]; then
		echo "layers: $f.c is in no layer (tests/layers.sh, docs/ARCHITECTURE.md)"
		fail=1
	fi
done

while read -r from to sym; do
	lf=$(layer "$from") lt=$(layer "$to")
	case $from:$to in
	fs_*:fs_*) ;;
	fs_*:*)
		echo "layers: the library calls the program: $from.c -> $to.c ($sym)"
		fail=1
		continue
		;;
	esac
	if [ "$lf" -lt "$lt" ]; then
		echo "layers: upward call, layer $lf -> $lt: $from.c -> $to.c ($sym)"
		fail=1
	fi
done <"$tmp/calls"

# cycles: tsort names the files of each loop it finds
grep -v -F -x -f <(for p in $ALLOWED; do
	echo "${p%%:*} ${p#*:}"
	echo "${p#*:} ${p%%:*}"
done) "$tmp/edges" >"$tmp/checked"
if ! tsort "$tmp/checked" >/dev/null 2>"$tmp/loops"; then
	# tsort lists each loop it breaks after "input contains a loop:"
	sed -n 's/^tsort: //p' "$tmp/loops" | awk '
		/input contains a loop/ { if (l != "") print "layers: cycle: " l; l = ""; next }
		{ l = (l == "" ? $0 : l " -> " $0) }
		END { if (l != "") print "layers: cycle: " l }'
	while read -r a b; do
		grep -q -x "$b $a" "$tmp/checked" && [ "$a" \< "$b" ] &&
			echo "layers: $a.c <-> $b.c: $(awk -v a="$a" -v b="$b" \
				'($1==a&&$2==b)||($1==b&&$2==a){print $1"->"$3}' \
				"$tmp/calls" | tr '\n' ' ')"
	done <"$tmp/checked"
	fail=1
fi

if [ $fail = 0 ]; then
	echo "layers: $(wc -l <"$tmp/edges") calls between $(awk '{print $1}' \
		"$tmp/defs" | sort -u | wc -l) files, all downward, no cycles"
fi
exit $fail
