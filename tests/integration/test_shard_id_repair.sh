#!/bin/sh
# Proves: a persistent replica whose nodes.conf carries another shard-id than
# its primary's (what a stop just after the cluster formed can leave; Valkey
# 8.0 refuses to load such a file) starts again through prestart: prestart
# gives its line the primary's shard-id and says so, and the node rejoins as
# a replica of the same primary, with every key, the cluster healthy.
. "$(dirname "$0")/lib.sh"

base=127.72.1
d="$T/sid"; LOCAL_DIRS="$LOCAL_DIRS $d"
"$AUTOSHARD" local up --dir "$d" --nodes 6 --replicas 1 --mode persistent --base-ip $base >/dev/null || fail "up"
$KV load $base.1:6379 3000 >/dev/null || fail "load"
r=$(node_with_role slave $base 6 5 4 3 2 1)
[ -n "$r" ] || fail "no replica among the 6 nodes"
rid=$(valkey-cli -h $base.$r cluster myid)
primary=$(valkey-cli -h $base.$r cluster nodes | awk '/myself/ { print $4 }')
# start from a file that agrees, then make the replica's own line disagree
k=0
until shard_ids_agree "$d/node-$r/nodes.conf"; do
	k=$((k + 1)); [ $k -lt 300 ] || fail "node $r's nodes.conf: shard ids never settled"
	sleep 0.1
done
kill -9 "$(cat "$d/node-$r/sidecar.pid")" "$(cat "$d/node-$r/server.pid")"
while valkey-cli -h $base.$r ping >/dev/null 2>&1; do sleep 0.1; done
stale=$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')
[ ${#stale} = 40 ] || fail "could not make a random shard id"
sed -i "/^$rid /s/shard-id=[0-9a-f]\{40\}/shard-id=$stale/" "$d/node-$r/nodes.conf"
grep "^$rid " "$d/node-$r/nodes.conf" | grep -q "shard-id=$stale" || fail "the stale shard id was not written"
! shard_ids_agree "$d/node-$r/nodes.conf" || fail "the edited file still agrees"

# The server alone refuses that file (on a copy, another address).
mkdir "$T/probe"
cp "$d/node-$r/nodes.conf" "$T/probe/"
out=$(timeout 30 valkey-server --port 6379 --bind 127.72.9.1 --cluster-enabled yes --cluster-config-file nodes.conf \
	--dir "$T/probe" --appendonly no --save '' 2>&1 || true)
if echo "$out" | grep -q "corrupted cluster config file"; then
	pass "valkey-server alone refuses the replica's nodes.conf (corrupted cluster config file)"
else
	echo "note: this valkey-server loads the file itself (it converges shard ids on load)"
fi

# Through prestart it starts, and the file is repaired first.
out=$("$AUTOSHARD" local up --dir "$d" --nodes 6 2>&1) || { echo "$out" >&2; fail "node $r did not start again"; }
grep -q "replica line given the shard-id of its primary" "$d/node-$r/sidecar.log" ||
	fail "prestart did not report the repair: $(tail -n 5 "$d/node-$r/sidecar.log")"
grep "prestart: nodes.conf" "$d/node-$r/sidecar.log" | grep -q "${stale%"${stale#????????}"}" ||
	fail "prestart's note does not name the stale id"
[ "$(valkey-cli -h $base.$r cluster myid)" = "$rid" ] || fail "node $r came back with another id (reset)"
k=0
until [ "$(valkey-cli -h $base.$r cluster nodes | awk '/myself/ { print $3 " " $4 }')" = "myself,slave $primary" ]; do
	k=$((k + 1)); [ $k -lt 300 ] || fail "node $r is not a replica of its old primary: $(valkey-cli -h $base.$r cluster nodes | grep myself)"
	sleep 0.1
done
cluster_check valkey-cli $base.1 3 3
$KV verify $base.1:6379 3000 >/dev/null || fail "keys lost"
shard_ids_agree "$d/node-$r/nodes.conf" || fail "node $r's nodes.conf disagrees again"
pass "node $r restarted through prestart with its primary's shard-id: same id and primary, 3000 keys, healthy"
