#!/bin/bash
# A ValkeyCluster of 3 shards x 1 replica becomes Ready through the
# controller (StatefulSet, members ConfigMap, engine run); keys written with a
# cluster client read back. `kubectl scale valkeycluster/vk --replicas=5` with
# the keys loaded: 5 masters, slots balanced, every key there; back to 3: the
# same, and the leaving pods are gone only after they were drained.
. "$(dirname "$0")/lib_ctrl.sh"
ctrl_up
ctrl_start a --resync-s 10

vc_apply vk 3 1
vc_wait_ready vk 3 6
for o in service/vk service/vk-headless configmap/vk-members poddisruptionbudget/vk statefulset/vk; do
	[ "$(kubectl get "$o" -o 'jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}')" = ValkeyCluster/vk ] ||
		fail "$o is not owned by valkeycluster vk"
done
[ "$(kubectl get configmap vk-members -o 'jsonpath={.data.instances}' | grep -c ':6379$')" = 6 ] || fail "members ConfigMap"
[ "$(kubectl get statefulset vk -o 'jsonpath={.spec.podManagementPolicy}')" = Parallel ] || fail "podManagementPolicy"
seed=$(pod_ip vk-0):6379
check_cluster "$seed" 3 0 none
pass "3 shards x 1 replica Ready; owned objects in place"

$KV load "$seed" 30000 ks >/dev/null
check_cluster "$seed" 3 30000 ks
pass "30000 keys written through a cluster client read back"

kubectl scale valkeycluster/vk --replicas=5 >/dev/null
vc_wait_ready vk 5 10
check_cluster "$seed" 5 30000 ks
[ "$(field vk replicas)" = 5 ] && [ "$(field vk slotsAssigned)" = 16384 ] || fail "status counts after scale-up"
kubectl get events --field-selector involvedObject.name=vk -o 'jsonpath={.items[*].reason}' | grep -q ScalingFinished ||
	fail "no ScalingFinished event"
pass "scaled to 5 shards: 5 masters, balanced, every key there, status and events"

kubectl scale valkeycluster/vk --replicas=3 >/dev/null
vc_wait_ready vk 3 6
check_cluster "$seed" 3 30000 ks
[ "$("$BIN/autoshard" status --seed "$seed" | grep -c 'replica ')" = 3 ] || fail "replicas after scale-down"
# Order in the controller's log: shorter member list, engine done, only then the StatefulSet lowered.
l_list=$(grep -n 'members: 10 -> 6 instances' "$D/controller-a.log" | tail -n1 | cut -d: -f1)
l_sts=$(grep -n 'ScaledDown: StatefulSet vk: 10 -> 6' "$D/controller-a.log" | tail -n1 | cut -d: -f1)
l_done=$(grep -n 'engine done: 3 masters' "$D/controller-a.log" | awk -F: -v a="${l_list:-0}" '$1>a{print $1; exit}')
[ -n "$l_list" ] && [ -n "$l_sts" ] && [ -n "$l_done" ] && [ "$l_list" -lt "$l_done" ] && [ "$l_done" -lt "$l_sts" ] ||
	fail "scale-down order: member list (line $l_list), engine done (line $l_done), StatefulSet lowered (line $l_sts)"
pass "back to 3 shards: 3 masters, balanced, every key there"
