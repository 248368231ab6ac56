#!/bin/bash
# The clone guard on Kubernetes. A persistent 3 x 0 ValkeyCluster keeps its
# claims when it is deleted; a new ValkeyCluster of the same name with 4
# shards gets pods that mount three of them. That data belongs to a cluster
# of 3 instances, so those sidecars refuse to start (exit 3) and change no
# file; the controller says so (condition TopologyMismatch=True, a
# CloneGuardRefused event, not Ready). Then spec.topologyMismatch: adopt lets
# them start: 4 masters, every key of the three shards there.
. "$(dirname "$0")/lib_ctrl.sh"
ctrl_up
ctrl_start a --resync-s 10
vc_persistent() {
	kubectl apply -f - >/dev/null <<YAML
apiVersion: autoshard.io/v1alpha1
kind: ValkeyCluster
metadata: {name: vk}
spec:
  shards: $1
  replicasPerShard: 0
  topologyMismatch: $2
  persistence: {mode: persistent, storage: 64Mi}
YAML
}
vc_persistent 3 refuse
vc_wait_ready vk 3 3
$KV load "$(pod_ip vk-0):6379" 5000 cg >/dev/null
# every instance records the shape next to its data
recs() { ls "$D"/podrunner/pvc/*/data-vk-*/autoshard-topology.json 2>/dev/null; }
i=0
until [ "$(recs | xargs -r grep -l '"instances": 3' | wc -l)" = 3 ]; do
	i=$((i + 1)); [ "$i" -lt 300 ] || fail "topology records not written: $(recs)"
	sleep 0.2
done
pass "3 x 0 persistent with 5000 keys; every instance recorded the shape"

kubectl delete valkeycluster vk --timeout=120s >/dev/null
i=0
until [ "$(kubectl get pods -l app.kubernetes.io/instance=vk --no-headers 2>/dev/null | wc -l)" = 0 ]; do
	i=$((i + 1)); [ "$i" -lt 600 ] || fail "the pods of the deleted ValkeyCluster stay"
	sleep 0.2
done
[ "$(kubectl get pvc --no-headers | grep -c '^data-vk-')" = 3 ] || fail "the claims were not kept: $(kubectl get pvc)"
sums() { (cd "$D/podrunner/pvc" && find . -path '*/data-vk-[012]/*' -type f \( -name nodes.conf -o -name 'appendonly*' -o -name 'autoshard-topology.json' \) | sort | xargs md5sum); }
sums >"$D/before.sum"
[ -s "$D/before.sum" ] || fail "no data files in the claims"

vc_persistent 4 refuse
i=0
until [ "$(cond vk TopologyMismatch)" = True ]; do
	i=$((i + 1)); [ "$i" -lt 600 ] || fail "no TopologyMismatch condition: $(kubectl get valkeycluster vk -o jsonpath='{.status.conditions}')"
	sleep 0.2
done
wait_event vk CloneGuardRefused "the sidecar refused to start (exit 3"
[ "$(cond vk Ready)" != True ] || fail "Ready while the guard refuses"
sums >"$D/after.sum"
cmp -s "$D/before.sum" "$D/after.sum" || fail "the refused pods changed their data: $(diff "$D/before.sum" "$D/after.sum")"
pass "a 4-shard cluster on three 3-instance claims: refused (TopologyMismatch, CloneGuardRefused event, not Ready), data untouched"

kubectl patch valkeycluster vk --type merge -p '{"spec":{"topologyMismatch":"adopt"}}' >/dev/null
vc_wait_ready vk 4 4 900
i=0
until [ "$(cond vk TopologyMismatch)" = False ]; do
	i=$((i + 1)); [ "$i" -lt 300 ] || fail "TopologyMismatch stays $(cond vk TopologyMismatch) after adopt"
	sleep 0.2
done
seed=$(pod_ip vk-0):6379
i=0
until out=$("$BIN/autoshard" check --seed "$seed" 2>&1); do
	i=$((i + 1)); [ "$i" -lt 300 ] || fail "not healthy after adopt: $out"
	sleep 0.2
done
check_cluster "$seed" 4 5000 cg
pass "topologyMismatch: adopt: 4 masters, all 5000 keys of the three shards kept"
