#!/bin/bash
# kill -9 of the controller in the middle of a rebalance (3 -> 5 shards with
# keys): its engine child dies with it (PR_SET_PDEATHSIG), slots may be left
# open; a new controller recomputes from the objects, finishes the move and
# the cluster ends Ready with 5 masters, balanced, every key there.
. "$(dirname "$0")/lib_ctrl.sh"
ctrl_up
LEASE="--lease-duration-ms 3000 --renew-deadline-ms 2000 --retry-period-ms 500"
# shellcheck disable=SC2086
ctrl_start first $LEASE
first=$CTRL_PID

vc_apply vk 3 0
vc_wait_ready vk 3 3
seed=$(pod_ip vk-0):6379
$KV load "$seed" 200000 kk >/dev/null
pass "3 shards Ready with 200000 keys"

kubectl scale valkeycluster/vk --replicas=5 >/dev/null
# Wait for the engine to report moved slots (bounded: 1200 x 0.1 s).
i=0
until [ "$(field vk migration.slotsDone)" -gt 0 ] 2>/dev/null; do
	i=$((i + 1))
	[ "$i" -lt 1200 ] || fail "never saw the rebalance in progress"
	[ "$(cond vk Ready)" != True ] || [ "$(field vk masters)" != 5 ] || fail "the rebalance finished before it could be interrupted"
	sleep 0.1
done
child=$(grep 'engine started (pid' "$D/controller-first.log" | tail -n1 | sed 's/.*(pid \([0-9]*\)).*/\1/')
[ -n "$child" ] && kill -0 "$child" 2>/dev/null || fail "no engine child running"
done_slots=$(field vk migration.slotsDone)
{ kill -9 "$first" && wait "$first"; } 2>/dev/null || true
pass "controller killed with -9 during the rebalance ($done_slots slots moved of $(field vk migration.slotsTotal))"
i=0
while kill -0 "$child" 2>/dev/null; do
	i=$((i + 1)); [ "$i" -lt 100 ] || fail "engine child $child survived its controller"
	sleep 0.1
done
pass "the engine child $child died with its controller"
[ "$(cond vk Ready)" != True ] || fail "Ready while the rebalance was cut"

# shellcheck disable=SC2086
ctrl_start second $LEASE
vc_wait_ready vk 5 5
check_cluster "$seed" 5 200000 kk
grep -q 'leading' "$D/controller-second.log" || fail "second controller never led"
pass "a new controller resumed: 5 masters, balanced, 200000 keys there"
