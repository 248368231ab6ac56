#!/bin/bash
# Proves: `autoshard rebalance` killed with SIGKILL at a random moment, then
# run again, always ends healthy with no key lost.
#
# Per server: 3 raw masters bootstrapped with 200k keys, 3 empty masters
# added (cluster-allow-replica-migration no, so drained masters stay empty
# masters). ROUNDS rounds alternate a scale-up (--use-empty-masters, 3 -> 6)
# and a drain of the 3 added masters (6 -> 3). Each round starts the
# rebalance, kills it with -9 after a random delay, re-runs it to completion,
# then asserts: `autoshard check --masters M` exits 0, the slot owners are the
# expected ones, and DBSIZE summed over the masters is exactly 200k. Every
# 5 rounds and at the end every key reads back with its value (kv.py verify).
#
# Env: KILL_SEED (reproduce the random delays; printed at start),
#      KILL_ROUNDS (default 20), KILL_MAX_DELAY_MS (default 1200; a full
#      rebalance here takes about 1 s on a 2-core machine),
#      KILL_SERVERS (default "valkey-server redis-server").
. "$(dirname "$0")/lib.sh"

KEYS=200000
ROUNDS=${KILL_ROUNDS:-20}
MAX_DELAY=${KILL_MAX_DELAY_MS:-1200}
SERVERS=${KILL_SERVERS:-valkey-server redis-server}
SEED=${KILL_SEED:-$(($(date +%s%N) / 1000 % 32768))}
echo "KILL_SEED=$SEED (re-run with KILL_SEED=$SEED to repeat these kill delays)"
RANDOM=$SEED
REB_PID=""

stop_reb() { [ -z "$REB_PID" ] || kill -9 "$REB_PID" 2>/dev/null || true; }
trap 'rc_=$?; set +e; stop_reb; (exit $rc_); cleanup' EXIT INT TERM


# check_healthy MASTERS: autoshard check exits 0 right away; if it needs time
# to settle (bounded), say so, since a finished rebalance should leave nothing
# to settle.
check_healthy() {
	local m=$1 k=0
	until "$AUTOSHARD" check --seed "$BASE.1:6379" ${m:+--masters "$m"} >"$T/check.out" 2>&1; do
		[ "$k" = 0 ] && cp "$T/check.out" "$T/check-first.out"
		k=$((k + 1))
		[ "$k" -lt 50 ] || { cat "$T/check.out" >&2; fail "$SRV round $ROUND: autoshard check not healthy"; }
		sleep 0.2
	done
	[ "$k" = 0 ] || echo "$SRV round $ROUND: note: autoshard check healthy only after $k retries; first said: $(head -3 "$T/check-first.out" | tr '\n' ' ')"
}

# nslots HOST: slots the node owns, by its own CLUSTER NODES.
nslots() {
	$CLI -h "$1" -p 6379 cluster nodes | awk '/myself/ {
		n = 0
		for (i = 9; i <= NF; i++) {
			if ($i ~ /^\[/) continue
			split($i, r, "-"); n += (r[2] == "" ? 1 : r[2] - r[1] + 1)
		}
		print n }'
}

# dbsize_sum: DBSIZE summed over the masters.
dbsize_sum() {
	local i s=0
	for i in 1 2 3 4 5 6; do
		$CLI -h "$BASE.$i" -p 6379 role | head -1 | grep -q master || continue
		s=$((s + $($CLI -h "$BASE.$i" -p 6379 dbsize)))
	done
	echo "$s"
}

open_marks() {
	local i s=0
	for i in 1 2 3 4 5 6; do
		s=$((s + $($CLI -h "$BASE.$i" -p 6379 cluster nodes | awk '/myself/ { for (i = 9; i <= NF; i++) if ($i ~ /^\[/) n++ } END { print n + 0 }')))
	done
	echo "$s"
}

run_server() {
	SRV=$1 BASE=$2
	CLI=$(cli_for "$SRV")
	local i k args kind delay t0 t1 killed=0 finished=0 open reb_rc sum
	start_raw "$SRV" "$BASE" 6 "cluster-allow-replica-migration no"
	"$AUTOSHARD" bootstrap --members "$(members "$BASE" 3)" >"$T/bootstrap-$BASE.out" 2>&1 || fail "$SRV: bootstrap"
	ROUND=setup
	check_healthy 3
	t0=$(date +%s%N)
	$KV load "$BASE.1:6379" $KEYS >/dev/null || fail "$SRV: load"
	t1=$(date +%s%N)
	echo "$SRV: loaded $KEYS keys in $(((t1 - t0) / 1000000)) ms"
	add_empty_masters "$CLI" "$BASE" 4 6
	check_healthy ""

	for ROUND in $(seq 1 "$ROUNDS"); do
		if [ $((ROUND % 2)) = 1 ]; then
			kind=up; args="--use-empty-masters"
		else
			kind=drain; args="--drain $BASE.4:6379 --drain $BASE.5:6379 --drain $BASE.6:6379"
		fi
		delay=$((RANDOM % MAX_DELAY))
		# shellcheck disable=SC2086
		(exec "$AUTOSHARD" rebalance --seed "$BASE.1:6379" $args) >"$T/kill-$BASE-$ROUND.out" 2>&1 &
		REB_PID=$!
		sleep "$(awk "BEGIN { print $delay / 1000 }")"
		kill -9 "$REB_PID" 2>/dev/null || true
		wait "$REB_PID" 2>/dev/null || true
		REB_PID=""
		open=$(open_marks)
		t0=$(date +%s%N)
		reb_rc=0
		# shellcheck disable=SC2086
		"$AUTOSHARD" rebalance --seed "$BASE.1:6379" $args >"$T/resume-$BASE-$ROUND.out" 2>&1 || reb_rc=$?
		t1=$(date +%s%N)
		if [ "$reb_rc" != 0 ]; then
			echo "--- killed run:" >&2; tail -5 "$T/kill-$BASE-$ROUND.out" >&2
			echo "--- resume run:" >&2; cat "$T/resume-$BASE-$ROUND.out" >&2
			fail "$SRV round $ROUND ($kind, killed after $delay ms, KILL_SEED=$SEED): resume exited $reb_rc"
		fi
		if grep -q "nothing to move" "$T/resume-$BASE-$ROUND.out"; then finished=$((finished + 1)); else killed=$((killed + 1)); fi
		echo "$SRV round $ROUND: $kind killed after $delay ms ($open open-slot marks), resume: $(grep -v '^progress' "$T/resume-$BASE-$ROUND.out" | tr '\n' ' ')($(((t1 - t0) / 1000000)) ms)"
		if [ "$kind" = up ]; then
			check_healthy 6
			for i in 1 2 3 4 5 6; do
				[ "$(nslots "$BASE.$i")" -ge 2730 ] || fail "$SRV round $ROUND: $BASE.$i owns $(nslots "$BASE.$i") slots after the scale-up"
			done
		else
			check_healthy 3
			for i in 4 5 6; do
				[ "$(nslots "$BASE.$i")" = 0 ] || fail "$SRV round $ROUND: drained $BASE.$i still owns $(nslots "$BASE.$i") slots"
			done
		fi
		sum=$(dbsize_sum)
		[ "$sum" = "$KEYS" ] || fail "$SRV round $ROUND ($kind, killed after $delay ms, KILL_SEED=$SEED): DBSIZE sum $sum, want $KEYS"
		if [ $((ROUND % 5)) = 0 ] || [ "$ROUND" = "$ROUNDS" ]; then
			$KV verify "$BASE.1:6379" $KEYS >/dev/null || fail "$SRV round $ROUND (KILL_SEED=$SEED): keys lost or wrong"
		fi
	done
	cluster_check "$CLI" "$BASE.1" 6 0 # drained masters stay, empty
	pass "$SRV: $ROUNDS rebalances killed with -9 ($killed interrupted, $finished had already finished) and resumed: healthy, $KEYS keys intact"
}

n=1
for s in $SERVERS; do
	run_server "$s" "127.58.$n"
	n=$((n + 1))
done
