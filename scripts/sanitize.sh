#!/bin/sh
# Sanitizer stage of `make test`: an ASan+UBSan build runs the unit tests and
# the integration tests below (their sidecars, CLIs and HTTP clients run
# instrumented too; every report goes to a log directory and any file there
# fails the stage); valgrind --leak-check=full runs every unit test of the
# normal build and the HTTP server's test program (the sidecar under valgrind
# is an integration test of its own).
# Exits non-zero on any finding.
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
ASAN=${ASAN_BUILD:-build-asan}
cd "$SRC"
REPORTS=$(mktemp -d /tmp/autoshard-sanitize.XXXXXX)
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86:log_path=$REPORTS/asan
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$REPORTS/ubsan
reports() { # fail when any instrumented process (test, CLI, sidecar) reported
	if [ -n "$(ls -A "$REPORTS")" ]; then
		for f in "$REPORTS"/*; do echo "--- $f" >&2; head -60 "$f" >&2; done
		echo "sanitize: sanitizer reports during $1" >&2
		exit 1
	fi
}

cmake -S . -B "$ASAN" -DAUTOSHARD_SANITIZE=ON -DAUTOSHARD_WERROR=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$ASAN" -j2 >/dev/null
ASAN=$(cd "$ASAN" && pwd)
echo "sanitize: ASan+UBSan unit tests"
(cd "$ASAN" && ctest -L unit --output-on-failure -Q) || { echo "sanitize: unit tests failed under ASan/UBSan" >&2; exit 1; }
reports "the unit tests"
# Every integration scenario except the valgrind one (its own memory check)
# and the load test (python clients doing the work); the kill test runs 4
# rounds per server instead of 20.
for t in integration/test_check_problems.sh integration/test_bad_input.sh integration/test_local_scale_keys.sh \
	integration/test_clone_guard.sh integration/test_heal_ephemeral.sh integration/test_flux_source.sh \
	upsun/test_upsun_sim.sh integration/test_httpd.py integration/test_local_bootstrap.sh \
	integration/test_bootstrap_idempotent.sh integration/test_ghost_forget.sh integration/test_migrator.sh \
	integration/test_password_secrecy.sh integration/test_restart_new_addresses.sh \
	integration/test_rebalance_kill.sh integration/test_scale_up_after_failover.sh \
	integration/test_replicas_spread.sh integration/test_shard_id_repair.sh \
	integration/test_masters_from_replicas.sh; do
	echo "sanitize: ASan+UBSan $t"
	log=$(mktemp)
	if ! KILL_ROUNDS=4 AUTOSHARD_BIN="$ASAN" AUTOSHARD_SRC="$SRC" TMPDIR=/tmp "tests/$t" >"$log" 2>&1; then
		# the test's own verdict lines first: the log dumps after them can be long
		grep -E '^(ok - |FAIL: |--- test failed)' "$log" >&2 || true
		tail -n 40 "$log" >&2; rm -f "$log"; reports "$t"; echo "sanitize: $t failed under ASan/UBSan" >&2; exit 1
	fi
	if grep -q "Sanitizer\|runtime error" "$log"; then
		grep -A20 "Sanitizer\|runtime error" "$log" | head -60 >&2; rm -f "$log"; exit 1
	fi
	rm -f "$log"
	reports "$t"
done
rmdir "$REPORTS"
echo "sanitize: valgrind unit tests"
BUILD=$(cd "$BUILD" && pwd)
for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	(cd tests/unit && valgrind -q --suppressions=$SRC/tests/valgrind.supp --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
		--error-exitcode=99 "$t" >/dev/null) || { echo "sanitize: valgrind found errors in $t" >&2; exit 1; }
done
echo "sanitize: valgrind HTTP server (test_httpd.py with the server under valgrind)"
HTTPD_WRAP="valgrind -q --suppressions=$SRC/tests/valgrind.supp --leak-check=full --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99" \
	AUTOSHARD_BIN="$BUILD" tests/integration/test_httpd.py >/dev/null ||
	{ echo "sanitize: valgrind found errors in the HTTP server (or its test failed)" >&2; exit 1; }
echo "sanitize: clean"
