#!/bin/sh
# Proves ephemeral healing (nodes.conf removed before the server starts):
# - kill -9 of a master without replica: its instance restarts as a new
#   empty node, the cluster serves every slot again (that shard's keys are
#   gone, which is what ephemeral means), the other shards' keys are intact,
#   and the dead node id is forgotten by every node;
# - kill -9 of a master with a replica: the replica is promoted before the
#   instance restarts empty (prestart waits, so the replica never resyncs from
#   the empty node), and every write a replica acknowledged (WAIT 1) is there.
# Both servers for the first case.
. "$(dirname "$0")/lib.sh"

restart_killed() { # DIR NODE: kill -9 the server of NODE, then bring it back like a supervisor
	kill9_wait "$1/node-$2/server.pid"
	"$AUTOSHARD" local up --dir "$1" --nodes "$3" >"$T/up-$2.out" 2>&1 || { cat "$T/up-$2.out" >&2; fail "restart of node $2"; }
}

no_ghost() { # CLI BASE N ID
	for i in $(seq 1 "$3"); do
		$1 -h "$2.$i" -p 6379 cluster nodes | grep -q "^$4" && fail "node $2.$i still knows the dead id ${4%????????????????????????????????}"
	done
	return 0
}

for srv in valkey-server redis-server; do
	case $srv in valkey-server) base=127.60.1 ;; *) base=127.60.2 ;; esac
	cli=$(cli_for $srv)
	d="$T/eph-$srv"; LOCAL_DIRS="$LOCAL_DIRS $d"
	"$AUTOSHARD" local up --dir "$d" --nodes 3 --server $srv --base-ip $base >/dev/null || fail "up"
	$KV load $base.1:6379 3000 >/dev/null || fail "load"
	old=$($cli -h $base.2 cluster myid)
	t0=$(date +%s.%N)
	restart_killed "$d" 2 3
	t1=$(date +%s.%N)
	cluster_check $cli $base.1 3 0
	new=$($cli -h $base.2 cluster myid)
	[ "$new" != "$old" ] || fail "$srv: node 2 kept its id (nodes.conf not cleaned)"
	no_ghost $cli $base 3 "$old"
	got=$($KV count $base.1:6379 3000) || fail "$srv: wrong values after healing"
	[ "$got" -gt 1500 ] && [ "$got" -lt 3000 ] || fail "$srv: $got of 3000 keys; want the two surviving shards' keys"
	pass "$srv: master without replica killed: all slots served again after $(echo "$t1 - $t0" | bc) s, $got of 3000 keys (the dead shard's are gone), dead id forgotten"
	"$AUTOSHARD" local down --dir "$d" >/dev/null
done

base=127.60.3
d="$T/eph-replicas"; LOCAL_DIRS="$LOCAL_DIRS $d"
"$AUTOSHARD" local up --dir "$d" --nodes 6 --replicas 1 --base-ip $base >/dev/null || fail "up with replicas"
acked=$($KV load-wait $base.1:6379 3000) || fail "writes not acknowledged by replicas"
victim=$(node_with_role master $base 1 2 3 4 5 6)
[ -n "$victim" ] || fail "no master found"
old=$(valkey-cli -h $base.$victim cluster myid)
restart_killed "$d" "$victim" 6
grep -q "waiting for the replica to take over" "$d/node-$victim/sidecar.log" ||
	fail "prestart did not wait for the replica (it would have resynced from the empty node)"
cluster_check valkey-cli $base.1 3 3
no_ghost valkey-cli $base 6 "$old"
$KV verify $base.1:6379 3000 >/dev/null || fail "acknowledged writes lost after failover"
pass "master with replica killed: replica promoted first, all $acked acknowledged writes kept, the restarted instance is a replica now"
