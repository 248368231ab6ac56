#!/bin/sh
# Build the libFuzzer targets (tests/fuzz) with clang and run each for
# SECONDS (default 20) from a copy of its seed corpus, so runs never grow the
# repository. Fails when any target finds a crash, a leak, a timeout or a
# broken invariant; the input that did it is kept in BUILD_DIR/fuzz-artifacts.
#
# usage: scripts/fuzz.sh [SECONDS] [BUILD_DIR]
#   BUILD_DIR  default: build/build-fuzz in the repository
#   FUZZ_TARGETS="cluster_nodes config"  run only these (names without fuzz_)
#   FUZZ_JOBS=N                           parallel compile jobs (default 2)
#   FUZZ_KEEP=1                           keep the temporary corpus copies
#   FUZZ_SEED=N                           libFuzzer's -seed (make test: 1, so a
#                                         CI run explores the same way each time)
set -eu

secs=${1:-20}
src=$(cd "$(dirname "$0")/.." && pwd)
build=${2:-$src/build/build-fuzz}
jobs=${FUZZ_JOBS:-2}
fuzzdir=$src/tests/fuzz

case $secs in
'' | *[!0-9]*) echo "fuzz: SECONDS must be a number, not '$secs'" >&2; exit 2 ;;
esac
command -v clang >/dev/null || { echo "fuzz: clang not found (scripts/install-deps.sh installs it)" >&2; exit 2; }

targets=${FUZZ_TARGETS:-}
if [ -z "$targets" ]; then
	for f in "$fuzzdir"/fuzz_*.c; do
		t=$(basename "$f" .c)
		[ "$t" = fuzz_common ] && continue
		targets="$targets ${t#fuzz_}"
	done
fi

mkdir -p "$build"
build=$(cd "$build" && pwd) # the targets run from a temporary directory
echo "fuzz: building in $build"
cmake -S "$src" -B "$build" -DAUTOSHARD_FUZZ=ON -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	>"$build/fuzz-cmake.log" 2>&1 || { cat "$build/fuzz-cmake.log" >&2; exit 1; }
names=""
for t in $targets; do names="$names fuzz_$t"; done
# shellcheck disable=SC2086
cmake --build "$build" -j "$jobs" --target $names >"$build/fuzz-build.log" 2>&1 || {
	tail -n 40 "$build/fuzz-build.log" >&2
	exit 1
}

artifacts=$build/fuzz-artifacts
mkdir -p "$artifacts"
failed=""
printf '%-16s %12s %8s %8s %8s %10s  %s\n' target execs cov ft corpus exec/s result
for t in $targets; do
	bin=$build/tests/fuzz/fuzz_$t
	work=$(mktemp -d "${TMPDIR:-/tmp}/autoshard-fuzz-$t.XXXXXX")
	mkdir "$work/corpus"
	[ -d "$fuzzdir/corpus/$t" ] && cp -R "$fuzzdir/corpus/$t/." "$work/corpus/"
	set -- -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$work/" -close_fd_mask=1
	[ -f "$fuzzdir/dict/$t.dict" ] && set -- "$@" -dict="$fuzzdir/dict/$t.dict"
	[ -n "${FUZZ_SEED:-}" ] && set -- "$@" -seed="$FUZZ_SEED"
	rc=0
	(cd "$work" && "$bin" "$@" corpus) >"$work/log" 2>&1 || rc=$?
	# the last status line ("#N DONE cov: C ft: F corp: K/B ... exec/s: E ...")
	last=$(grep -E '^#[0-9]+[[:space:]]+(INITED|NEW|REDUCE|pulse|DONE|RELOAD)' "$work/log" | tail -n 1)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
	eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log")
	cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')
	result=ok
	if [ "$rc" != 0 ] || ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* >/dev/null 2>&1; then
		result=FAILED
		failed="$failed $t"
		cp "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* "$artifacts/" 2>/dev/null || true
		cp "$work/log" "$artifacts/$t.log"
	fi
	printf '%-16s %12s %8s %8s %8s %10s  %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" \
		"${eps:-?}" "$result"
	if [ "$result" = FAILED ]; then
		grep -E 'ERROR|invariant failed|runtime error|SUMMARY|Test unit written' "$work/log" | head -n 8 | sed 's/^/    /'
		echo "    log and input in $artifacts"
	fi
	if [ "${FUZZ_KEEP:-0}" = 1 ]; then
		echo "    work dir kept: $work"
	else
		rm -rf "$work"
	fi
done
if [ -n "$failed" ]; then
	echo "fuzz: FAILED:$failed" >&2
	exit 1
fi
echo "fuzz: all targets ran ${secs}s without a finding"
