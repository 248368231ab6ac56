#!/bin/bash
# Proves: clients see no error, no stale read and no lost write while
# `autoshard rebalance` moves slots under them, growing 3 -> 6 masters onto
# empty masters and draining back 6 -> 3. Both servers.
#
# Per server: 3 raw masters bootstrapped, 100k keys preloaded, 3 empty masters
# added with --cluster add-node (no sidecar competes).
#  - load case: load_client.py (RedisCluster, 4 threads, SET/GET with
#    read-your-writes checks) runs through the scale-up and the drain; it must
#    report zero failed ops, zero stale reads and every acknowledged write
#    present; the preloaded keys verify; the drained nodes are removed with
#    --cluster del-node and the cluster is healthy with 3 masters.
#  - benchmark case: valkey-benchmark / redis-benchmark --cluster -t set,get
#    runs through the drain and must report no error. (Not through the
#    scale-up: the 8.0/7.0 benchmarks skip masters without slots at start and
#    abort when one of them later receives slots: "Failed to update cluster
#    slots configuration: could not find node with ID ...".)
. "$(dirname "$0")/lib.sh"

LOAD_CLIENT="/usr/bin/python3 $AUTOSHARD_SRC/tests/integration/load_client.py"
KEYS=100000
BG_PID=""

# Kill a background client a failed test leaves behind (lib.sh's trap then
# kills the servers).
stop_bg() { [ -z "$BG_PID" ] || kill -9 "$BG_PID" 2>/dev/null || true; }
trap 'rc_=$?; set +e; stop_bg; (exit $rc_); cleanup' EXIT INT TERM

bench_for() { case "$1" in redis-server) echo redis-benchmark ;; *) echo valkey-benchmark ;; esac; }

# wait_healthy BASE [MASTERS]: autoshard check (with MASTERS masters that own
# slots) exits 0 (bounded).
wait_healthy() {
	local base=$1 k=0
	until "$AUTOSHARD" check --seed "$base.1:6379" ${2:+--masters "$2"} >"$T/check.out" 2>&1; do
		k=$((k + 1)); [ "$k" -lt 150 ] || { cat "$T/check.out" >&2; fail "cluster at $base not healthy"; }
		sleep 0.2
	done
}


# setup SERVER BASE: 3 bootstrapped masters with KEYS keys, 3 empty masters.
setup() {
	local srv=$1 base=$2 cli
	cli=$(cli_for "$srv")
	start_raw "$srv" "$base" 6
	"$AUTOSHARD" bootstrap --members "$(members "$base" 3)" >"$T/bootstrap-$base.out" 2>&1 || fail "$srv: bootstrap"
	wait_healthy "$base" 3
	$KV load "$base.1:6379" $KEYS >/dev/null || fail "$srv: preload"
	add_empty_masters "$cli" "$base" 4 6
	wait_healthy "$base"
}

# rebalance NAME ARGS...: autoshard rebalance; its output in $T/NAME.out.
rebalance() {
	local name=$1 t0 t1; shift
	t0=$(date +%s%N)
	"$AUTOSHARD" rebalance --seed "$BASE.1:6379" "$@" >"$T/$name.out" 2>&1 || {
		cat "$T/$name.out" >&2; fail "$SRV: autoshard rebalance $* failed"; }
	t1=$(date +%s%N)
	echo "$SRV: rebalance $*: $(grep -v '^progress' "$T/$name.out" | tail -1) (wall $(((t1 - t0) / 1000000)) ms)"
	[ -z "${DEBUG_REBALANCE:-}" ] || cat "$T/$name.out"
}

drain_args() { echo "--drain $BASE.4:6379 --drain $BASE.5:6379 --drain $BASE.6:6379"; }

# remove_drained: --cluster del-node the three drained nodes, then healthy with 3 masters.
remove_drained() {
	local cli i id
	cli=$(cli_for "$SRV")
	for i in 4 5 6; do
		id=$($cli -h "$BASE.$i" -p 6379 cluster myid)
		$cli --cluster del-node "$BASE.1:6379" "$id" >>"$T/del-$BASE.out" 2>&1 || {
			cat "$T/del-$BASE.out" >&2; fail "$SRV: del-node $BASE.$i"; }
	done
	wait_healthy "$BASE" 3
	cluster_check "$cli" "$BASE.1" 3 0
}

# owns_slots HOST: the node is a master with at least one slot.
owns_slots() {
	$(cli_for "$SRV") -h "$1" -p 6379 cluster nodes | awk '/myself/ && /master/ && NF > 8 {f=1} END {exit !f}'
}

load_case() {
	SRV=$1 BASE=$2
	local k=0 rc=0 summary
	setup "$SRV" "$BASE"
	rm -f "$T/stop" "$T/ready"
	$LOAD_CLIENT "$BASE.1:6379" --seconds 600 --stop-file "$T/stop" --ready-file "$T/ready" \
		>"$T/load-$BASE.out" 2>"$T/load-$BASE.err" &
	BG_PID=$!
	until [ -e "$T/ready" ]; do
		k=$((k + 1)); [ "$k" -lt 200 ] || fail "$SRV: load client did not start"
		kill -0 "$BG_PID" 2>/dev/null || { cat "$T/load-$BASE.err" >&2; fail "$SRV: load client died"; }
		sleep 0.05
	done
	sleep 2
	rebalance up-$BASE --use-empty-masters
	for i in 4 5 6; do owns_slots "$BASE.$i" || fail "$SRV: $BASE.$i owns no slots after the scale-up"; done
	sleep 2
	# shellcheck disable=SC2046
	rebalance drain-$BASE $(drain_args)
	for i in 4 5 6; do ! owns_slots "$BASE.$i" || fail "$SRV: $BASE.$i still owns slots after the drain"; done
	sleep 2
	touch "$T/stop"
	wait "$BG_PID" || rc=$?
	BG_PID=""
	summary=$(tail -1 "$T/load-$BASE.out")
	echo "$SRV: load client: $summary"
	if [ "$rc" != 0 ]; then
		head -c 4000 "$T/load-$BASE.err" >&2
		fail "$SRV: load client saw failed ops, stale reads or lost writes (rc=$rc): $summary"
	fi
	echo "$summary" | /usr/bin/python3 -c 'import json,sys; s=json.load(sys.stdin); sys.exit(0 if s["ops"] > 1000 and s["failed"] == 0 and s["stale"] == 0 and s["lost"] == 0 else 1)' ||
		fail "$SRV: load client summary not clean: $summary"
	$KV verify "$BASE.1:6379" $KEYS || fail "$SRV: preloaded keys lost"
	remove_drained
	$KV verify "$BASE.1:6379" $KEYS >/dev/null || fail "$SRV: preloaded keys lost after del-node"
	pass "$SRV: 3 -> 6 -> 3 masters under a RedisCluster workload: no failed op, no stale read, no lost write"
}

bench_case() {
	SRV=$1 BASE=$2
	local bench rc=0 out
	bench=$(bench_for "$SRV")
	setup "$SRV" "$BASE"
	rebalance up-$BASE --use-empty-masters
	# Every master now owns slots, so the benchmark knows all of them. Enough
	# requests to outlast the drain; the drain starts once it is running.
	$bench --cluster -h "$BASE.1" -p 6379 -t set,get -n 300000 -c 20 -q \
		>"$T/bench-$BASE.out" 2>"$T/bench-$BASE.err" &
	BG_PID=$!
	sleep 1
	kill -0 "$BG_PID" 2>/dev/null || { cat "$T/bench-$BASE.err" >&2; fail "$SRV: $bench exited early"; }
	# shellcheck disable=SC2046
	rebalance drain-$BASE $(drain_args)
	kill -0 "$BG_PID" 2>/dev/null || echo "$SRV: note: $bench finished before the drain did"
	wait "$BG_PID" || rc=$?
	BG_PID=""
	out=$(tr '\r' '\n' <"$T/bench-$BASE.out" | grep -E '^(SET|GET): [0-9.]+ requests per second' || true)
	echo "$SRV: $bench during the drain: $(echo "$out" | tr '\n' ' ')($(grep -c 'configuration changed' "$T/bench-$BASE.err" || true) slot-map refreshes)"
	if [ "$rc" != 0 ] || grep -qiE 'error|fail' "$T/bench-$BASE.err" || [ "$(echo "$out" | grep -c .)" != 2 ]; then
		grep -v 'configuration changed' "$T/bench-$BASE.err" | head -20 >&2
		fail "$SRV: $bench reported errors (rc=$rc)"
	fi
	$KV verify "$BASE.1:6379" $KEYS || fail "$SRV: preloaded keys lost"
	remove_drained
	pass "$SRV: $bench --cluster during a 6 -> 3 drain: no errors, keys intact"
}

load_case valkey-server 127.57.1
load_case redis-server 127.57.2
bench_case valkey-server 127.57.3
bench_case redis-server 127.57.4
