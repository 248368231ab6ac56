#!/bin/bash
# Proves the test Kubernetes works end to end: a real kube-apiserver, etcd and
# kube-controller-manager on loopback, and the pod runner playing kubelet.
# A StatefulSet of 2 real valkey-server pods (downward-API POD_IP, exec readiness
# probe, a PVC each) becomes Ready; each answers on its own pod address; a deleted
# pod is re-created by the StatefulSet controller with a new address, its data kept
# on the claim, and becomes Ready again; `down` leaves no process behind.
set -euo pipefail

SRC=${AUTOSHARD_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
ENV=$SRC/tests/k8s/k8s-env.sh
D=$(mktemp -d /tmp/autoshard-k8s-env.XXXXXX)
rmdir "$D" # `up` creates it

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok - $*"; }

cleanup() {
	local rc=$?
	if [ "$rc" != 0 ] && [ -d "$D" ]; then
		echo "--- test failed (rc=$rc); state under $D" >&2
		kubectl get nodes,pods,pvc,pv -o wide >&2 2>/dev/null || true
		for f in "$D"/logs/*.log "$D"/podrunner/logs/*.log; do
			[ -e "$f" ] || continue
			echo "--- $f" >&2
			tail -n 25 "$f" >&2
		done
	fi
	"$ENV" down "$D" >/dev/null 2>&1 || true
	exit "$rc"
}
trap cleanup EXIT INT TERM

"$ENV" build
"$ENV" up "$D"
# shellcheck source=/dev/null
. "$D/env.sh"
[ "$(command -v kubectl)" = "$("$ENV" bin)/kubectl" ] || fail "env.sh does not put the cached kubectl first on PATH"

[ "$(kubectl get --raw /readyz)" = ok ] || fail "/readyz is not ok"
pass "kube-apiserver /readyz ok"
[ "$(kubectl get node "$AUTOSHARD_K8S_NODE" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ] ||
	fail "node $AUTOSHARD_K8S_NODE not Ready"
pass "node $AUTOSHARD_K8S_NODE Ready"

kubectl apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Service
metadata:
  name: vk
spec:
  clusterIP: None
  selector: {app: vk}
  ports: [{name: valkey, port: 6379}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: vk
spec:
  serviceName: vk
  replicas: 2
  podManagementPolicy: Parallel
  selector:
    matchLabels: {app: vk}
  template:
    metadata:
      labels: {app: vk}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: valkey
        image: valkey/valkey:8
        command: [valkey-server]
        args: ["--bind", "$(POD_IP)", "--bind-source-addr", "$(POD_IP)", "--port", "6379",
               "--protected-mode", "no", "--dir", "/data", "--appendonly", "yes", "--save", ""]
        env:
        - name: POD_IP
          valueFrom: {fieldRef: {fieldPath: status.podIP}}
        ports: [{name: valkey, containerPort: 6379}]
        readinessProbe:
          exec:
            command: ["sh", "-c", "valkey-cli -h $(POD_IP) ping | grep -q PONG"]
          periodSeconds: 1
        volumeMounts:
        - {name: data, mountPath: /data}
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests: {storage: 1Gi}
YAML

# wait_exists POD: the StatefulSet controller created it (bounded: 300 x 0.2 s).
wait_exists() {
	local i=0
	until kubectl get pod "$1" >/dev/null 2>&1; do
		i=$((i + 1)); [ "$i" -lt 300 ] || fail "pod $1 was never created"
		sleep 0.2
	done
}
wait_exists vk-0
wait_exists vk-1
kubectl wait --for=condition=Ready pod/vk-0 pod/vk-1 --timeout=180s >/dev/null ||
	fail "pods not Ready"
pass "StatefulSet pods vk-0 and vk-1 Ready"

ip_of() { kubectl get pod "$1" -o 'jsonpath={.status.podIP}'; }
ip0=$(ip_of vk-0)
ip1=$(ip_of vk-1)
case $ip0 in 127.*) ;; *) fail "vk-0 has no loopback pod IP ($ip0)" ;; esac
[ "$ip0" != "$ip1" ] || fail "both pods got address $ip0"
for ip in "$ip0" "$ip1"; do
	[ "$(valkey-cli -h "$ip" -p 6379 ping)" = PONG ] || fail "no PONG from $ip"
	# The server is bound to the pod address only.
	[ "$(valkey-cli -h "$ip" -p 6379 config get bind | tail -n1)" = "$ip" ] || fail "$ip: not bound to its pod IP"
done
pass "valkey-server answers on $ip0 and $ip1"

[ "$(kubectl get pvc data-vk-0 data-vk-1 -o 'jsonpath={range .items[*]}{.status.phase}{"\n"}{end}' | grep -cx Bound)" = 2 ] ||
	fail "claims not Bound"
[ "$(kubectl get pod vk-0 -o 'jsonpath={.status.hostIP}')" = "$AUTOSHARD_K8S_IP" ] || fail "hostIP"
[ "$(kubectl get pod vk-0 -o 'jsonpath={.status.containerStatuses[0].ready}')" = true ] || fail "containerStatuses ready"
pass "claims Bound, hostIP and containerStatuses set"

# Data on the claim must survive the pod. appendonly + the AOF fsync policy
# "everysec": ask for a rewrite so the key is on disk before the pod goes.
[ "$(valkey-cli -h "$ip0" set survivor yes)" = OK ] || fail "SET on vk-0"
valkey-cli -h "$ip0" bgrewriteaof >/dev/null
i=0
while [ "$(valkey-cli -h "$ip0" info persistence | tr -d '\r' | sed -n 's/^aof_rewrite_in_progress://p')" != 0 ] ||
	[ "$(valkey-cli -h "$ip0" info persistence | tr -d '\r' | sed -n 's/^aof_rewrite_scheduled://p')" != 0 ]; do
	i=$((i + 1)); [ "$i" -lt 150 ] || fail "AOF rewrite did not finish"
	sleep 0.2
done

uid0=$(kubectl get pod vk-0 -o 'jsonpath={.metadata.uid}')
kubectl delete pod vk-0 --wait=false >/dev/null
i=0
until [ "$(kubectl get pod vk-0 -o 'jsonpath={.metadata.uid}' 2>/dev/null)" != "$uid0" ] &&
	kubectl get pod vk-0 >/dev/null 2>&1; do
	i=$((i + 1)); [ "$i" -lt 300 ] || fail "vk-0 was not re-created"
	sleep 0.2
done
pass "deleted vk-0 was finalized and re-created by the StatefulSet controller"
valkey-cli -h "$ip0" ping >/dev/null 2>&1 && fail "the old vk-0 server at $ip0 still answers"
pass "the old vk-0 process was stopped"

kubectl wait --for=condition=Ready pod/vk-0 --timeout=180s >/dev/null || fail "new vk-0 not Ready"
nip0=$(ip_of vk-0)
[ "$nip0" != "$ip0" ] || fail "new vk-0 reuses address $ip0"
[ "$(valkey-cli -h "$nip0" ping)" = PONG ] || fail "no PONG from new vk-0 at $nip0"
[ "$(valkey-cli -h "$nip0" get survivor)" = yes ] || fail "key lost: the claim's data did not survive the pod"
pass "new vk-0 Ready at $nip0 with the data of its claim"

"$ENV" down "$D"
[ ! -e "$D" ] || fail "down left $D"
for ip in "$nip0" "$ip1"; do
	valkey-cli -h "$ip" ping >/dev/null 2>&1 && fail "$ip still answers after down"
done
tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
tcp_open "$AUTOSHARD_K8S_IP" 6443 && fail "kube-apiserver still listens after down"
tcp_open "$AUTOSHARD_K8S_IP" 2379 && fail "etcd still listens after down"
pass "down stopped every process and removed $D"
