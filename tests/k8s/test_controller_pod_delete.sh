#!/bin/bash
# A deleted pod of a 3 x 1 cluster comes back (StatefulSet) with a new IP; the
# controller writes the new member list, the engine heals (the replica took
# over, the new empty node joins, the dead id is forgotten) and the cluster is
# Ready again with every key.
. "$(dirname "$0")/lib_ctrl.sh"
ctrl_up
ctrl_start a --resync-s 10
vc_apply vk 3 1
vc_wait_ready vk 3 6
seed=$(pod_ip vk-1):6379
$KV load "$seed" 20000 kp >/dev/null
old=$(pod_ip vk-0)
uid=$(kubectl get pod vk-0 -o 'jsonpath={.metadata.uid}')
kubectl delete pod vk-0 --wait=false >/dev/null
i=0
until [ "$(kubectl get pod vk-0 -o 'jsonpath={.metadata.uid}' 2>/dev/null)" != "$uid" ] &&
	[ -n "$(pod_ip vk-0 2>/dev/null)" ]; do
	i=$((i + 1)); [ "$i" -lt 600 ] || fail "vk-0 was not re-created"
	sleep 0.2
done
new=$(pod_ip vk-0)
[ "$new" != "$old" ] || fail "vk-0 came back on its old address $old"
pass "vk-0 re-created at $new (was $old)"
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
"$BIN/autoshard" status --seed "$seed" | grep -q "$new:6379" || fail "new vk-0 not in the cluster"
pass "Ready again: 3 masters, 3 replicas, the new vk-0 a member, every key there"
