#!/bin/sh
# Sanitizer stage of `make test`: an ASan+UBSan build runs the unit tests and
# two integration tests (their sidecars and CLIs run instrumented too, and any
# sanitizer report in their logs fails the stage); valgrind --leak-check=full
# runs every unit test of the normal build. Exits non-zero on any finding.
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
ASAN=${ASAN_BUILD:-build-asan}
cd "$SRC"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

cmake -S . -B "$ASAN" -DAUTOSHARD_SANITIZE=ON -DAUTOSHARD_WERROR=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$ASAN" -j2 >/dev/null
echo "sanitize: ASan+UBSan unit tests"
(cd "$ASAN" && ctest -L unit --output-on-failure -Q) || { echo "sanitize: unit tests failed under ASan/UBSan" >&2; exit 1; }
for t in test_check_problems.sh test_bad_input.sh test_local_scale_keys.sh; do
	echo "sanitize: ASan+UBSan integration $t"
	log=$(mktemp)
	if ! AUTOSHARD_BIN="$SRC/$ASAN" AUTOSHARD_SRC="$SRC" TMPDIR=/tmp sh "tests/integration/$t" >"$log" 2>&1; then
		tail -n 40 "$log" >&2; rm -f "$log"; echo "sanitize: $t failed under ASan/UBSan" >&2; exit 1
	fi
	if grep -q "Sanitizer\|runtime error" "$log"; then
		grep -A20 "Sanitizer\|runtime error" "$log" | head -60 >&2; rm -f "$log"; exit 1
	fi
	rm -f "$log"
done
echo "sanitize: valgrind unit tests"
for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	(cd tests/unit && valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
		--error-exitcode=99 "$SRC/$t" >/dev/null) || { echo "sanitize: valgrind found errors in $t" >&2; exit 1; }
done
echo "sanitize: clean"
