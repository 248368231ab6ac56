#!/bin/sh
# Proves: bootstrap is idempotent and resumable. Run twice, the second run
# changes nothing and never fails with "node is not empty"; killed with
# SIGKILL at many points of its run, the next run still ends healthy with the
# same layout. Also: the sidecar, killed -9 halfway through bootstrap and
# restarted, converges. A rebalance right after bootstrap has nothing to move.
. "$(dirname "$0")/lib.sh"

base=127.53.1
start_raw valkey-server $base 6
M=$(members $base 6)
"$AUTOSHARD" bootstrap --members "$M" --replicas 1 >/dev/null 2>&1 || fail "first bootstrap"
cluster_check valkey-cli $base.1 3 3
before=$(valkey-cli -h $base.1 cluster nodes | awk '{print $1, $3, $4, $9}' | sort)
out=$("$AUTOSHARD" bootstrap --members "$M" --replicas 1 2>&1) || fail "second bootstrap: $out"
echo "$out" | grep -qi "not empty" && fail "second run said not empty"
echo "$out" | grep -qiE "assigning|replicating|joining" && fail "second run changed something: $out"
after=$(valkey-cli -h $base.1 cluster nodes | awk '{print $1, $3, $4, $9}' | sort)
[ "$before" = "$after" ] || fail "layout changed on the second run"
pass "bootstrap twice: second run is a no-op"
out=$("$AUTOSHARD" rebalance --seed $base.1:6379 --dry-run 2>&1) || fail "rebalance --dry-run: $out"
echo "$out" | grep -qE "nothing to move|plan: 0 slot moves" || fail "a freshly bootstrapped cluster is balanced, yet rebalance plans: $out"
pass "rebalance on the freshly bootstrapped cluster: nothing to move"

# kill -9 at increasing delays, then finish
for delay in 0.005 0.01 0.02 0.04 0.08 0.15 0.3; do
	b=127.53.$(( $(echo "$delay" | tr -d '.' | sed 's/^0*//') % 200 + 10 ))
	start_raw valkey-server "$b" 6
	M=$(members "$b" 6)
	"$AUTOSHARD" bootstrap --members "$M" --replicas 1 >/dev/null 2>&1 &
	p=$!
	sleep "$delay"; kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true
	"$AUTOSHARD" bootstrap --members "$M" --replicas 1 >"$T/boot.out" 2>&1 || { cat "$T/boot.out" >&2; fail "resume after kill at $delay s"; }
	cluster_check valkey-cli "$b.1" 3 3
	pass "bootstrap killed after ${delay}s, re-run: healthy"
done

# the sidecar itself: local up, kill -9 the elected sidecar early, restart it by running up again
d="$T/sidecar-kill"; LOCAL_DIRS="$LOCAL_DIRS $d"
base=127.53.250
"$AUTOSHARD" local up --dir "$d" --nodes 6 --replicas 1 --base-ip $base --timeout 2 >/dev/null 2>&1 &
up=$!
k=0
until [ -s "$d/node-1/sidecar.pid" ]; do k=$((k + 1)); [ $k -lt 200 ] || fail "sidecar 1 did not start"; sleep 0.02; done
sleep 0.2
kill -9 "$(cat "$d/node-1/sidecar.pid")"
wait "$up" 2>/dev/null || true
"$AUTOSHARD" local up --dir "$d" --nodes 6 >/dev/null || fail "local up after sidecar kill"
cluster_check valkey-cli $base.1 3 3
pass "elected sidecar killed -9 during bootstrap, restarted: healthy"
