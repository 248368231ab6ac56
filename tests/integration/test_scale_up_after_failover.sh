#!/bin/sh
# Proves: a scale up that starts while the cluster still knows the id of a
# killed master (failed over, its instance restarted empty under a new id)
# completes: the dead id, an empty failing master that is no member, takes no
# part in the slot plan (the planner refuses failing masters) and is forgotten,
# and every write a replica acknowledged (WAIT 1) is still there.
# Found by tests/chaos (kill-master-moving during a scale 6 -> 8).
. "$(dirname "$0")/lib.sh"

base=127.67.254
d="$T/c"; LOCAL_DIRS="$LOCAL_DIRS $d"
"$AUTOSHARD" local up --dir "$d" --nodes 6 --replicas 1 --base-ip $base >/dev/null || fail "up"
acked=$($KV load-wait $base.1:6379 2000) || fail "writes not acknowledged by replicas"
victim=$(node_with_role master $base 2 3 4 5 6)
[ -n "$victim" ] || fail "no master found"
old=$(valkey-cli -h $base.$victim cluster myid)
# No reconciler while the ghost appears, so it is still known when the scale starts.
for i in 1 2 3 4 5 6; do kill -9 "$(cat "$d/node-$i/sidecar.pid")"; done
kill9_wait "$d/node-$victim/server.pid"
# local scale runs prestart (it waits for the promotion), restarts the server
# empty, restarts the sidecars and starts two new instances: one new master.
out=$("$AUTOSHARD" local scale --dir "$d" --nodes 8 --timeout 90 2>&1) || { echo "$out" >&2; fail "scale 6 -> 8 with the dead master's id still known"; }
cluster_check valkey-cli $base.1 4 4
for i in 1 2 3 4 5 6 7 8; do
	valkey-cli -h $base.$i cluster nodes | grep -q "^$old" && fail "node $base.$i still knows the dead id"
done
$KV verify $base.1:6379 2000 >/dev/null || fail "acknowledged writes lost"
pass "scale 6 -> 8 right after a master was killed and failed over: 4 masters + 4 replicas, dead id forgotten, all $acked acknowledged writes kept"
