#!/bin/sh
# Proves: when the members hold fewer masters than wanted and no empty member
# can become one, the reconciler makes a member replica a master, so the
# cluster reaches its shape and keeps every acknowledged write:
# 1. a scale 6 -> 4 after failovers made the leaving instances masters (so
#    only one member is a master): a synced replica of a leaving master takes
#    over its slots by a coordinated failover, and only the other leaving
#    master's slots move (at most one shard's worth, not everything through
#    the one master left and back);
# 2. one master holding every slot with the three other members its replicas
#    (what a drain onto the last master plus Valkey's replica migration left
#    in tests/chaos seed 133): a replica whose master keeps another is reset
#    and filled, and ends with 2 masters, balanced, 1 replica each.
# Both ended "expected 2 masters with slots, found 1" for good before.
. "$(dirname "$0")/lib.sh"

slots_moved() { # DIR: slots the reconcilers of DIR's instances moved
	cat "$1"/node-*/sidecar.log | sed -n 's/.* info: moving \([0-9]*\) slots.*/\1/p' | awk '{ n += $1 } END { print n + 0 }'
}

# ---- 1: scale down after failovers
base=127.68.1
d="$T/c1"; LOCAL_DIRS="$LOCAL_DIRS $d"
"$AUTOSHARD" local up --dir "$d" --nodes 6 --replicas 1 --base-ip $base >/dev/null || fail "up 6"
acked=$($KV load-wait $base.1:6379 3000) || fail "writes not acknowledged by replicas"
for i in 4 5 6; do
	[ "$(node_with_role slave $base $i)" = "$i" ] || fail "node $i is not a replica after up"
	[ "$(valkey-cli -h $base.$i cluster failover)" = OK ] || fail "CLUSTER FAILOVER on node $i"
done
k=0
until [ "$(node_with_role master $base 4)$(node_with_role master $base 5)$(node_with_role master $base 6)" = 456 ] &&
	[ -z "$(node_with_role master $base 1 2 3)" ]; do
	k=$((k + 1)); [ $k -lt 200 ] || fail "the failovers to nodes 4-6 did not finish"; sleep 0.1
done
before=$(slots_moved "$d")
out=$("$AUTOSHARD" local scale --dir "$d" --nodes 4 --timeout 120 2>&1) || { echo "$out" >&2; fail "scale 6 -> 4 with masters only on leaving instances but one"; }
cluster_check valkey-cli $base.1 2 2
balanced valkey-cli $base.1 || fail "6 -> 4: masters not balanced"
grep -q "coordinated failover" "$d"/node-*/sidecar.log || fail "6 -> 4: no leaving master's slots were taken over by failover"
moved=$(($(slots_moved "$d") - before))
[ "$moved" -le 5462 ] || fail "6 -> 4 moved $moved slots; one leaving shard holds at most 5462"
$KV verify $base.1:6379 3000 >/dev/null || fail "6 -> 4: acknowledged writes lost"
pass "scale 6 -> 4 with masters on the leaving instances: a failover, $moved slots moved, 2 masters + 2 replicas, all $acked acknowledged writes kept"

# ---- 2: one master with every slot, three replicas
base=127.68.2
d="$T/c2"; LOCAL_DIRS="$LOCAL_DIRS $d"
"$AUTOSHARD" local up --dir "$d" --nodes 4 --replicas 1 --base-ip $base >/dev/null || fail "up 4"
acked=$($KV load-wait $base.1:6379 3000) || fail "writes not acknowledged by replicas"
for i in 1 2 3 4; do kill -9 "$(cat "$d/node-$i/sidecar.pid")"; done
a=$(node_with_role master $base 1 2 3 4)
b=$(node_with_role master $base $(seq $((a + 1)) 4))
[ -n "$a" ] && [ -n "$b" ] || fail "two masters not found"
aid=$(valkey-cli -h $base.$a cluster myid)
"$AUTOSHARD" rebalance --seed $base.$a:6379 --drain $base.$b:6379 >"$T/drain.out" 2>&1 || fail "drain $base.$b"
for i in 1 2 3 4; do
	[ "$i" = "$a" ] && continue
	# Valkey's replica migration may have done it already.
	valkey-cli -h $base.$i cluster nodes | grep myself | grep -q "slave $aid" && continue
	[ "$(valkey-cli -h $base.$i cluster replicate "$aid")" = OK ] || fail "CLUSTER REPLICATE on node $i"
done
k=0
until [ "$(valkey-cli -h $base.$a cluster nodes | grep -c "slave $aid")" = 3 ]; do
	k=$((k + 1)); [ $k -lt 200 ] || fail "node $a does not have 3 replicas"; sleep 0.1
done
"$AUTOSHARD" check --seed $base.$a:6379 --masters 2 --replicas 1 >/dev/null 2>&1 && fail "check passes on 1 master"
"$AUTOSHARD" local up --dir "$d" --nodes 4 --timeout 120 >"$T/up2.out" 2>&1 || { cat "$T/up2.out" >&2; fail "sidecars back: not healed to 2 masters"; }
cluster_check valkey-cli $base.1 2 2
balanced valkey-cli $base.1 || fail "1 master + 3 replicas: not balanced afterwards"
grep -q "to become a master" "$d"/node-*/sidecar.log || fail "no replica was detached"
$KV verify $base.1:6379 3000 >/dev/null || fail "1 master + 3 replicas: acknowledged writes lost"
pass "1 master with every slot + 3 replicas: a replica became a master, 2 masters + 2 replicas, balanced, all $acked acknowledged writes kept"
