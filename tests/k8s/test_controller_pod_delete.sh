#!/bin/bash
# A deleted master pod of a 3 x 1 cluster comes back (StatefulSet) with a new
# IP; the controller writes the new member list, the engine heals (the replica
# took over, the new empty node joins, the dead id is forgotten), the cluster
# is Ready again with every key, and a Failover event names the replica that
# took over.
. "$(dirname "$0")/lib_ctrl.sh"
ctrl_up
ctrl_start a --resync-s 10
vc_apply vk 3 1
vc_wait_ready vk 3 6
# the victim: the first pod that is a master
victim=""
for i in 0 1 2 3 4 5; do
	[ "$(valkey-cli -h "$(pod_ip vk-$i)" role | head -n1)" = master ] && { victim=vk-$i; break; }
done
[ -n "$victim" ] || fail "no master pod"
old=$(pod_ip $victim)
# its replica (the replication link may still be coming up just after Ready)
i=0
until heir=$(valkey-cli -h "$old" role | sed -n 3p) && [ -n "$heir" ]; do
	i=$((i + 1)); [ "$i" -lt 150 ] || fail "$victim has no replica"
	sleep 0.2
done
seed=$heir:6379 # a pod that stays
$KV load "$seed" 20000 kp >/dev/null
uid=$(kubectl get pod $victim -o 'jsonpath={.metadata.uid}')
kubectl delete pod $victim --wait=false >/dev/null
i=0
until [ "$(kubectl get pod $victim -o 'jsonpath={.metadata.uid}' 2>/dev/null)" != "$uid" ] &&
	[ -n "$(pod_ip $victim 2>/dev/null)" ]; do
	i=$((i + 1)); [ "$i" -lt 600 ] || fail "$victim was not re-created"
	sleep 0.2
done
new=$(pod_ip $victim)
[ "$new" != "$old" ] || fail "$victim came back on its old address $old"
pass "$victim re-created at $new (was $old)"
i=0
until kubectl get configmap vk-members -o 'jsonpath={.data.instances}' | grep -qx "$new:6379"; do
	i=$((i + 1)); [ "$i" -lt 600 ] || fail "member list never got $new"
	sleep 0.2
done
kubectl get configmap vk-members -o 'jsonpath={.data.instances}' | grep -q "^$old:" && fail "old address still a member"
vc_wait_ready vk 3 6
# The dead node must be gone from the cluster's view, not just failed.
i=0
until [ "$(valkey-cli -h "${seed%:*}" cluster nodes | grep -c .)" = 6 ]; do
	i=$((i + 1)); [ "$i" -lt 600 ] || fail "the dead node is still known: $(valkey-cli -h "${seed%:*}" cluster nodes)"
	sleep 0.2
done
check_cluster "$seed" 3 20000 kp
"$BIN/autoshard" status --seed "$seed" | grep -q "$new:6379" || fail "new $victim not in the cluster"
pass "Ready again: 3 masters, 3 replicas, the new $victim a member, every key there"
# The replica that took over is named in a Failover event on the ValkeyCluster.
wait_event vk Failover "($heir:6379) took over"
pass "a Failover event names $heir, the replica that took over from $victim"
