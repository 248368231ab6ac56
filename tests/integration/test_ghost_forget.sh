#!/bin/sh
# Proves: a node removed from the instance list while it is down is forgotten
# by every node; when its process comes back with its old nodes.conf it does
# not reappear anywhere, even after FORGET's 60 s blacklist has expired; and
# when it is listed again it rejoins as a replica (its keys are a copy).
. "$(dirname "$0")/lib.sh"

base=127.63.1
d="$T/ghost"; LOCAL_DIRS="$LOCAL_DIRS $d"
"$AUTOSHARD" local up --dir "$d" --nodes 7 --replicas 1 --mode persistent --base-ip $base >/dev/null || fail "up"
$KV load $base.1:6379 3000 >/dev/null || fail "load"
valkey-cli -h $base.7 cluster nodes | grep myself | grep -q slave || fail "node 7 is not a replica"
ghost=$(valkey-cli -h $base.7 cluster myid)
# Valkey 8.0 refuses to load a nodes.conf in which a replica's shard-id is not
# its primary's ("corrupted cluster config file", valkey-io/valkey#774); the
# ids settle by gossip just after bootstrap. The ghost below is started
# without prestart (which would converge them, test_shard_id_repair.sh), so
# kill node 7 only once its file agrees: the restart tests the forgetting.
k=0
until shard_ids_agree "$d/node-7/nodes.conf"; do
	k=$((k + 1)); [ $k -lt 300 ] || fail "node 7's nodes.conf: replicas' shard ids never matched their primaries'"
	sleep 0.1
done
# node 7 dies (server and sidecar), then the platform drops it from the list
kill -9 "$(cat "$d/node-7/sidecar.pid")" "$(cat "$d/node-7/server.pid")"
"$AUTOSHARD" local scale --dir "$d" --nodes 6 >/dev/null || fail "scale 7->6 with node 7 down"
known() { n=0; for i in 1 2 3 4 5 6; do valkey-cli -h $base.$i cluster nodes | grep -q "^$ghost" && n=$((n + 1)); done; echo $n; }
[ "$(known)" = 0 ] || fail "node 7 not forgotten by every node"
pass "node 7 forgotten by all 6 nodes while down"

# it comes back with its old nodes.conf and stays unlisted past the blacklist
valkey-server "$d/node-7/server.conf" >"$T/ghost-server.out" 2>&1 &
ghostpid=$!
RAW_PIDS="$RAW_PIDS $ghostpid"
wait_ping valkey-cli $base.7
end=$(($(date +%s) + 66))
while [ "$(date +%s)" -lt "$end" ]; do
	[ "$(known)" = 0 ] || fail "ghost: node 7 reappeared in the cluster"
	sleep 2
done
pass "node 7 came back and stayed out for 66 s (past the 60 s blacklist)"

# it stops again and is listed again: it restarts through prestart with its
# old data (the record's count matches again) and rejoins; its data is a
# replica's copy, so it may resync
kill "$ghostpid"; while kill -0 "$ghostpid" 2>/dev/null; do sleep 0.1; done
"$AUTOSHARD" local scale --dir "$d" --nodes 7 >/dev/null || fail "scale 6->7 with node 7 returning"
cluster_check valkey-cli $base.1 3 4
$KV verify $base.1:6379 3000 >/dev/null || fail "keys lost"
pass "node 7 rejoined as a replica, every key there"
