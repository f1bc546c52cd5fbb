#!/bin/bash
# relayout quick start for a fresh Debian 12 machine, run as root.
#
#   scripts/quickstart.sh demo    install, build, run relayout on a demo volume
#   scripts/quickstart.sh check   install, build, run the whole test suite
#                                 (a -Werror build's unit tests, the whole
#                                 suite on an ASan/UBSan build,
#                                 unit tests under valgrind, make distcheck,
#                                 the libFuzzer harnesses for 45 s each)
#   scripts/quickstart.sh deps    only install the packages
#   scripts/quickstart.sh build   only build (in ./build)
#   scripts/quickstart.sh install make install the build (/usr/local: the man
#                                 page and the bash completion where man and
#                                 bash-completion find them); demo does it too
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
JOBS=$(nproc 2>/dev/null || echo 2)

PACKAGES=(
	build-essential autoconf automake pkg-config
	libncurses-dev libmount-dev libblkid-dev libcjson-dev libreadline-dev
	libcmocka-dev
	clang-14 libfuzzer-14-dev
	e2fsprogs xfsprogs btrfs-progs util-linux mount
	tmux jq valgrind quota fio python3 bc clang-format
	man-db bash-completion
)

need_root() {
	if [ "$(id -u)" != 0 ]; then
		echo "quickstart: run as root (it installs packages and loop-mounts test images)" >&2
		exit 2
	fi
}

deps() {
	need_root
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
}

# build DIR [configure args...]
build() {
	local dir=$1
	shift
	[ -x "$SRC/configure" ] || "$SRC/autogen.sh"
	mkdir -p "$dir"
	(cd "$dir" && "$SRC/configure" -q "$@" && make -s -j"$JOBS")
}

# summary of an automake test-suite.log: "pass fail skip"
counts() {
	local log=$1 p f s x e
	p=$(sed -n 's/^# PASS: *//p' "$log" | head -1)
	f=$(sed -n 's/^# FAIL: *//p' "$log" | head -1)
	s=$(sed -n 's/^# SKIP: *//p' "$log" | head -1)
	x=$(sed -n 's/^# XPASS: *//p' "$log" | head -1)
	e=$(sed -n 's/^# ERROR: *//p' "$log" | head -1)
	echo "${p:-0} $(( ${f:-0} + ${x:-0} + ${e:-0} )) ${s:-0}"
}

TOTAL_PASS=0 TOTAL_FAIL=0 TOTAL_SKIP=0
# run_suite NAME DIR [make args...]
run_suite() {
	local name=$1 dir=$2 rc=0 p f s
	shift 2
	echo "=== $name ==="
	(cd "$dir" && make -j"$JOBS" check "$@") || rc=$?
	if [ -f "$dir/test-suite.log" ]; then
		read -r p f s < <(counts "$dir/test-suite.log")
		TOTAL_PASS=$((TOTAL_PASS + p))
		TOTAL_FAIL=$((TOTAL_FAIL + f))
		TOTAL_SKIP=$((TOTAL_SKIP + s))
		if [ "$rc" != 0 ] || [ "$f" != 0 ]; then
			echo "--- $name: failures (test-suite.log) ---"
			cat "$dir/test-suite.log"
		fi
		# the slowest tests (each integration test's log ends with
		# "took N s")
		echo "--- $name: slowest tests ---"
		(cd "$dir" && grep -H '^took [0-9]* s$' tests/*.log tests/integ/*.log 2>/dev/null |
			sed 's/\.log:took \([0-9]*\) s$/ \1/' |
			awk '$2 > t[$1] { t[$1] = $2 } END { for (k in t) print k, t[k] }' |
			sort -k2,2nr | head -8 |
			awk '{ printf "  %5d s  %s\n", $2, $1 }') || true
	fi
	if [ "$rc" != 0 ] && [ "${f:-0}" = 0 ]; then
		TOTAL_FAIL=$((TOTAL_FAIL + 1))
	fi
	return 0
}

check() {
	deps
	# Tests that cannot run fail instead of skipping here.
	export RL_TESTS_REQUIRE=1
	# A clean tree for the test builds.
	"$SRC/autogen.sh" >/dev/null 2>&1 || "$SRC/autogen.sh"
	# The -Werror build runs the checks of the tree and the unit tests;
	# the integration tests run once, on the ASan+UBSan build (the same
	# code with its memory and undefined-behaviour checks on, against the
	# real kernel; twice would double the suite's time).
	build "$SRC/build" --enable-werror
	run_suite "build (-Werror): tree checks and unit tests" "$SRC/build" \
		TESTS='$(BUILD_TESTS) $(UNIT_TESTS)'
	build "$SRC/build-asan" --enable-werror --enable-sanitizers
	run_suite "build (ASan+UBSan): the whole suite" "$SRC/build-asan"
	run_suite "unit tests under valgrind" "$SRC/build" \
		TESTS='$(UNIT_TESTS)' \
		LOG_COMPILER='valgrind --quiet --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect'
	echo "=== make distcheck (unit tests) ==="
	if (cd "$SRC/build" && make -s distcheck TESTS='$(UNIT_TESTS)' >distcheck.log 2>&1); then
		TOTAL_PASS=$((TOTAL_PASS + 1))
		echo "distcheck: ok"
	else
		tail -50 "$SRC/build/distcheck.log"
		TOTAL_FAIL=$((TOTAL_FAIL + 1))
	fi
	echo "=== fuzzing (tests/fuzz/run.sh ${FUZZ_SECONDS:-45}) ==="
	if "$SRC/tests/fuzz/run.sh" "${FUZZ_SECONDS:-45}"; then
		TOTAL_PASS=$((TOTAL_PASS + 1))
	else
		TOTAL_FAIL=$((TOTAL_FAIL + 1))
	fi
	echo "relayout: $TOTAL_PASS passed, $TOTAL_FAIL failed, $TOTAL_SKIP skipped"
	[ "$TOTAL_FAIL" = 0 ]
}

# make install (prefix /usr/local): the program, its themes, the man page
# in /usr/local/share/man (man relayout) and the bash completion in
# /usr/local/share/bash-completion/completions (loaded by bash-completion
# in new shells).
do_install() {
	need_root
	(cd "$SRC/build" && make -s install)
	mandb -q 2>/dev/null || true
	echo "quickstart: installed $(command -v relayout || echo /usr/local/bin/relayout);" \
		"man page: $(man -w relayout 2>/dev/null || echo 'not found by man')"
}

demo() {
	deps
	build "$SRC/build" --enable-werror
	do_install
	if [ -t 0 ] && [ -t 1 ]; then
		relayout --demo="${DEMO_FS:-ext4}" || true
	else
		# no terminal: the batch view of the same volume
		relayout --demo="${DEMO_FS:-ext4}" \
			-e 'info; free --map --summary; frag --top 10' || true
	fi
}

case "${1:-}" in
deps) deps ;;
build) build "$SRC/build" --enable-werror ;;
install) do_install ;;
check) check ;;
demo) demo ;;
*)
	sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
