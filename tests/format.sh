#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Every C file of the tree is as .clang-format says (clang-format 14, as
# Debian 12 ships it). To apply it: scripts/format.sh. And src/ sorts
# through mem_sort, never qsort.
set -u
src=${top_srcdir:-.}

CF=clang-format
command -v "$CF" >/dev/null 2>&1 || CF=clang-format-14
if ! command -v "$CF" >/dev/null 2>&1; then
	if [ -n "${RL_TESTS_REQUIRE:-}" ]; then
		echo "format: clang-format is not installed (RL_TESTS_REQUIRE)"
		exit 99
	fi
	echo "format: SKIP: clang-format is not installed"
	exit 77
fi

cd "$src" || exit 99
mapfile -t files < <(scripts/format.sh --list)
if [ ${#files[@]} = 0 ]; then
	echo "format: no C files found under $src" >&2
	exit 99
fi
bad=0
# qsort's array may not be NULL even for 0 elements (UBSan stops there):
# the program sorts through mem_sort (src/mem.h)
if grep -n '\bqsort(' src/*.c; then
	echo "format: src/ calls qsort: use mem_sort (src/mem.h)"
	bad=$((bad + 1))
fi
for f in "${files[@]}"; do
	if ! "$CF" --dry-run --Werror "$f" >/dev/null 2>&1; then
		echo "format: $f differs from .clang-format:"
		"$CF" "$f" | diff -u "$f" - | head -20
		bad=$((bad + 1))
	fi
done
if [ $bad != 0 ]; then
	echo "format: $bad of ${#files[@]} files differ (scripts/format.sh fixes them)"
	exit 1
fi
echo "format: ${#files[@]} files as .clang-format says"
