#!/bin/bash
# Persistent mode and pod DNS names on Kubernetes. A 3 x 1 ValkeyCluster with
# persistence (a PVC per pod) and endpointType hostname:
#  - every node announces POD.vk-headless.NAMESPACE.svc.cluster.local and
#    its pod IP, and clients are sent to the names (CLUSTER SLOTS), so a
#    client that cannot resolve them fails and one that can works;
#  - every pod deleted at once: all come back on new IPs with their claims,
#    keep their node ids and data, find each other again (nothing forgotten,
#    no node reset), and the cluster is Ready with every key.
. "$(dirname "$0")/lib_ctrl.sh"
ctrl_up
ctrl_start a --resync-s 10
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: autoshard.io/v1alpha1
kind: ValkeyCluster
metadata: {name: vk}
spec:
  shards: 3
  replicasPerShard: 1
  endpointType: hostname
  persistence: {mode: persistent, storage: 64Mi}
YAML
vc_wait_ready vk 3 6
[ "$(kubectl get pvc -l app.kubernetes.io/instance=vk --no-headers | grep -c Bound)" = 6 ] ||
	fail "expected 6 bound claims: $(kubectl get pvc)"
ns=$(kubectl config view --minify -o 'jsonpath={..namespace}')
ns=${ns:-default}
seed=$(pod_ip vk-1):6379

# Names: every node, in every view, announces its pod's DNS name.
nodes=$(valkey-cli -h "${seed%:*}" cluster nodes)
for i in 0 1 2 3 4 5; do
	ip=$(pod_ip "vk-$i")
	echo "$nodes" | grep -q " $ip:6379@16379,vk-$i.vk-headless.$ns.svc.cluster.local " ||
		fail "vk-$i ($ip) does not announce vk-$i.vk-headless.$ns.svc.cluster.local: $nodes"
done
valkey-cli -h "${seed%:*}" cluster slots | grep -q "^vk-[0-5]\.vk-headless\.$ns\.svc\.cluster\.local$" ||
	fail "CLUSTER SLOTS does not give clients the pods' names"
valkey-cli -h "${seed%:*}" config get cluster-announce-ip | tail -n1 | grep -qx "${seed%:*}" ||
	fail "cluster-announce-ip is not the pod IP"
pass "6 nodes announce their pod DNS names and IPs; CLUSTER SLOTS hands out names"

# A client without cluster DNS cannot follow the names; with it, it can.
$KV load "$seed" 10 nodns >/dev/null 2>&1 && fail "a client without pod DNS wrote through the names"
KV_KUBE_DNS=1 $KV load "$seed" 20000 kp >/dev/null || fail "load through the pod names"
pass "20000 keys written through the pods' DNS names"

declare -A id
for i in 0 1 2 3 4 5; do
	id[$i]=$(valkey-cli -h "$(pod_ip "vk-$i")" cluster myid)
	old_ip[$i]=$(pod_ip "vk-$i")
done
# Every write is on disk (appendfsync everysec) before the pods go.
for i in 0 1 2 3 4 5; do valkey-cli -h "${old_ip[$i]}" bgrewriteaof >/dev/null; done
sleep 2

kubectl delete pods -l app.kubernetes.io/instance=vk --wait=false >/dev/null
i=0
until [ "$(kubectl get pods -l app.kubernetes.io/instance=vk -o 'jsonpath={range .items[*]}{.status.podIP}{"\n"}{end}' |
	grep -c .)" = 6 ] && ! kubectl get pods -l app.kubernetes.io/instance=vk -o 'jsonpath={.items[*].status.podIP}' |
	tr ' ' '\n' | grep -qxF -f <(printf '%s\n' "${old_ip[@]}"); do
	i=$((i + 1)); [ "$i" -lt 900 ] || fail "the pods did not come back on new addresses: $(kubectl get pods -o wide)"
	sleep 0.2
done
pass "all 6 pods re-created on new addresses"
seed=$(pod_ip vk-2):6379
# The status may still say Ready from before: wait for the cluster itself.
i=0
until "$BIN/autoshard" check --seed "$seed" >/dev/null 2>&1; do
	i=$((i + 1)); [ "$i" -lt 600 ] || fail "never healthy again: $("$BIN/autoshard" check --seed "$seed" 2>&1 | head -5)"
	sleep 0.5
done
vc_wait_ready vk 3 6
for i in 0 1 2 3 4 5; do
	ip=$(pod_ip "vk-$i")
	[ "$(valkey-cli -h "$ip" cluster myid)" = "${id[$i]}" ] || fail "vk-$i lost its node id (data not kept)"
done
i=0
until [ "$(valkey-cli -h "${seed%:*}" cluster nodes | grep -c .)" = 6 ]; do
	i=$((i + 1)); [ "$i" -lt 600 ] || fail "not 6 nodes: $(valkey-cli -h "${seed%:*}" cluster nodes)"
	sleep 0.2
done
valkey-cli -h "${seed%:*}" cluster nodes | grep -q "vk-0.vk-headless.$ns.svc.cluster.local" ||
	fail "names not announced after the restart"
export KV_KUBE_DNS=1 # check_cluster's client follows the names too
check_cluster "$seed" 3 20000 kp
pass "every pod kept its node id and data; Ready, 6 nodes, all 20000 keys there"
