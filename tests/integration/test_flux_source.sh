#!/bin/sh
# Proves the RunOnFlux source end to end: sidecars whose instance list comes
# from a local HTTP server answering like GET <api>/apps/location/<app>
# ({"status":"success","data":[{"ip":"a.b.c.d:apiport",...}]}) form a cluster;
# an instance added to the answer joins (slots move to it with their keys) and
# one removed is drained and forgotten; an answer that fails (500), is
# malformed or says status "error" keeps the last good membership and is
# logged, and the cluster is left as it was.
. "$(dirname "$0")/lib.sh"

base=127.65.1
start_raw valkey-server $base 4
ctl="$T/flux.json"
answer() { # N: the API lists instances 1..N, with Flux's API port after the IP
	local i sep=""
	{ printf '{"status":"success","data":['
	  for i in $(seq 1 "$1"); do printf '%s{"ip":"%s.%d:16127","name":"cache","hash":"h%d"}' "$sep" $base "$i" "$i"; sep=","; done
	  printf ']}\n'; } > "$T/answer.json"
	printf '{"status":200,"file":"%s"}\n' "$T/answer.json" > "$ctl.tmp" && mv "$ctl.tmp" "$ctl"
}
answer 3
# The server exits when its stdin reaches end of file: a FIFO whose write end
# only this shell holds (fd 9), so it goes when the test does. (A 'sleep |'
# pipe left an orphan sleep holding ctest's output pipe: ctest then waited
# for it until its 900 s timeout although the test had passed.)
mkfifo "$T/api.in"
/usr/bin/python3 "$AUTOSHARD_SRC/tests/unit/data/flux/location_server.py" "$ctl" <"$T/api.in" >"$T/api.out" 2>&1 &
RAW_PIDS="$RAW_PIDS $!"
exec 9>"$T/api.in"
k=0; until grep -q '^PORT ' "$T/api.out"; do k=$((k + 1)); [ $k -lt 100 ] || fail "location API server did not start"; sleep 0.05; done
api="http://127.0.0.1:$(awk '/^PORT /{print $2}' "$T/api.out")"

for i in 1 2 3 4; do
	"$SIDECAR" run --source flux --flux-api "$api" --flux-app cache --flux-interval-ms 1000 --node $base.$i:6379 \
		--interval-ms 200 --http-addr $base.$i:9121 >"$T/sidecar-$i.log" 2>&1 &
	RAW_PIDS="$RAW_PIDS $!"
done
wait_cluster() { # MASTERS: healthy, that many masters, balanced
	local k=0
	until "$AUTOSHARD" check --seed $base.1:6379 >/dev/null 2>&1 &&
		[ "$(valkey-cli -h $base.1 cluster nodes | grep -c master)" = "$1" ] &&
		balanced valkey-cli $base.1; do
		k=$((k + 1)); [ $k -lt 600 ] || fail "cluster did not reach $1 balanced masters"; sleep 0.2
	done
}
wait_cluster 3
cluster_check valkey-cli $base.1 3 0
$KV load $base.1:6379 5000 >/dev/null || fail "load"
grep -q "standing by\|not in the member list" "$T/sidecar-4.log" || fail "instance 4 did not stand by while unlisted"
pass "3 instances from the location API: healthy"

# The sidecar's own probes and metrics: ready in the cluster, not while
# standing by outside it.
http() { curl -s -m 5 -o /dev/null -w '%{http_code}' "http://$1:9121$2" || true; }
k=0; until [ "$(http $base.1 /readyz)" = 200 ]; do k=$((k + 1)); [ $k -lt 100 ] || fail "sidecar 1 /readyz: $(http $base.1 /readyz)"; sleep 0.1; done
[ "$(http $base.4 /readyz)" = 503 ] || fail "sidecar 4 (standing by) /readyz: $(http $base.4 /readyz)"
[ "$(http $base.4 /healthz)" = 200 ] || fail "sidecar 4 /healthz"
/usr/bin/python3 "$AUTOSHARD_SRC/tests/k8s/observe.py" metrics "http://$base.1:9121/metrics" autoshard_sidecar_ready \
	autoshard_sidecar_leader autoshard_sidecar_reconcile_steps_total >"$T/m1.json" || fail "sidecar 1 /metrics"
grep -q '"autoshard_sidecar_ready": 1' "$T/m1.json" && grep -q '"autoshard_sidecar_leader": 1' "$T/m1.json" ||
	fail "sidecar 1 metrics: $(cat "$T/m1.json")"
pass "sidecar probes: /readyz 200 in the cluster, 503 standing by; /metrics well formed (ready 1, leader 1)"

answer 4
wait_cluster 4
$KV verify $base.1:6379 5000 >/dev/null || fail "keys lost when instance 4 joined"
k=0; until [ "$(http $base.4 /readyz)" = 200 ]; do k=$((k + 1)); [ $k -lt 100 ] || fail "sidecar 4 /readyz after joining: $(http $base.4 /readyz)"; sleep 0.1; done
pass "instance added to the answer joined; slots and keys moved to it"

for bad in '{"status":500,"body":"oops"}' '{"status":200,"body":"{\"status\":\"error\",\"data\":{\"message\":\"app not found\"}}"}' '{"status":200,"body":"<html>"}'; do
	before=$(grep -c "keeping the last good member list" "$T"/sidecar-*.log | awk -F: '{s+=$2} END {print s}')
	printf '%s\n' "$bad" > "$ctl"
	k=0
	until [ "$(grep -c "keeping the last good member list" "$T"/sidecar-*.log | awk -F: '{s+=$2} END {print s}')" -gt "$before" ]; do
		k=$((k + 1)); [ $k -lt 300 ] || fail "a bad answer ($bad) was not logged within 30 s"; sleep 0.1
	done
	sleep 1.5
	# autoshard check has per-command timeouts (valkey-cli --cluster check
	# has none, and a CI run once stalled in it here for 15 minutes).
	k=0
	until "$AUTOSHARD" check --seed $base.1:6379 --masters 4 >"$T/check.out" 2>&1; do
		k=$((k + 1)); [ $k -lt 50 ] || fail "after a bad answer ($bad): $(cat "$T/check.out")"; sleep 0.2
	done
done
cluster_check valkey-cli $base.1 4 0
pass "failing, error and malformed answers logged; membership kept (4 masters)"

answer 3
k=0
until [ "$(valkey-cli -h $base.1 cluster nodes | wc -l)" = 3 ]; do k=$((k + 1)); [ $k -lt 600 ] || fail "instance 4 not drained and forgotten"; sleep 0.2; done
wait_cluster 3
[ "$(valkey-cli -h $base.4 cluster countkeysinslot 0)" = 0 ] && [ "$(valkey-cli -h $base.4 dbsize)" = 0 ] || fail "instance 4 still holds keys"
$KV verify $base.1:6379 5000 >/dev/null || fail "keys lost when instance 4 left"
pass "instance removed from the answer was drained and forgotten; every key kept"
