#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Apply .clang-format to every C file of the tree (or, with --list, name
# them). tests/format.sh checks that it has been applied.
set -eu
cd "$(dirname "$0")/.."
if [ "${1:-}" = --list ]; then
	# outside a git checkout (a dist tarball) every file below the dirs
	if [ -d .git ] || git rev-parse --git-dir >/dev/null 2>&1; then
		git ls-files -- '*.c' '*.h'
	else
		find src lib include tests -name '*.[ch]' 2>/dev/null | sort
	fi
	exit 0
fi
CF=clang-format
command -v "$CF" >/dev/null 2>&1 || CF=clang-format-14
"$0" --list | xargs "$CF" -i
