#!/bin/bash
# Build the libFuzzer harnesses (clang, ASan+UBSan) in build-fuzz/ and run
# each for SECONDS (default 60) from its seed corpus in tests/fuzz/corpus/.
# Fails on any crash, leak, timeout or sanitizer report; the input that
# failed is kept in build-fuzz/fuzz-out/<harness>/ (add it to the corpus
# with the fix). New inputs found while running are not added to the
# committed corpus. No -Werror here: warnings are the gcc build's job.
#
#   tests/fuzz/run.sh [SECONDS]        all harnesses
#   FUZZ_HARNESSES="fuzz_cmd" tests/fuzz/run.sh 10
set -uo pipefail
SECONDS_EACH=${1:-60}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${FUZZ_BUILD:-$SRC/build-fuzz}
CC=${FUZZ_CC:-$(command -v clang-14 || command -v clang || echo clang)}
JOBS=$(nproc 2>/dev/null || echo 2)

HARNESSES=${FUZZ_HARNESSES:-$(cd "$SRC/tests/fuzz" && ls fuzz_*.c | sed 's/\.c$//')}
echo "fuzz: building in $BUILD with $CC"
[ -x "$SRC/configure" ] || "$SRC/autogen.sh" || exit 1
mkdir -p "$BUILD"
# shellcheck disable=SC2046
if ! (cd "$BUILD" &&
	{ [ -f Makefile ] || "$SRC/configure" -q CC="$CC" --enable-fuzzing; } &&
	make -s -j"$JOBS" $(printf 'tests/fuzz/%s ' $HARNESSES)) \
	>"$BUILD/fuzz-build.log" 2>&1; then
	tail -30 "$BUILD/fuzz-build.log"
	echo "fuzz: build FAILED"
	exit 1
fi

fail=0
for h in $HARNESSES; do
	bin=$BUILD/tests/fuzz/$h
	if [ ! -x "$bin" ]; then
		echo "fuzz: $h: not built"
		fail=$((fail + 1))
		continue
	fi
	out=$BUILD/fuzz-out/$h
	rm -rf "$out"
	mkdir -p "$out/corpus" "$out/scratch"
	dict=()
	[ -f "$SRC/tests/fuzz/$h.dict" ] && dict=(-dict="$SRC/tests/fuzz/$h.dict")
	# In a scratch directory, stdin from /dev/null, no controlling
	# terminal: a fuzzed script can neither wait for input nor write
	# next to the sources.
	(cd "$out/scratch" &&
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		setsid -w "$bin" -max_total_time="$SECONDS_EACH" -timeout=20 \
			-rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
			-artifact_prefix="$out/" "${dict[@]}" \
			"$out/corpus" "$SRC/tests/fuzz/corpus/$h" \
			</dev/null >"$out/log" 2>&1)
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/log" | tail -1)
	if [ "$rc" != 0 ] || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$out/log"; then
		echo "fuzz: $h: FAILED (exit $rc) after ${runs:-?} runs; log $out/log"
		grep -E 'ERROR:|runtime error:|SUMMARY:|Test unit written' "$out/log" | head -10
		fail=$((fail + 1))
	else
		echo "fuzz: $h: ok, ${runs:-?} runs in ${SECONDS_EACH}s"
	fi
done
if [ "$fail" != 0 ]; then
	echo "fuzz: $fail harness(es) FAILED"
	exit 1
fi
echo "fuzz: all harnesses clean"
