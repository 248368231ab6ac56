#!/bin/bash
# The chart and the manifests on a real control plane, the controller running
# IN-CLUSTER from the chart's Deployment (the project image mapped to the build
# tree by the pod runner; in-cluster config from the ServiceAccount token, the
# chart's RBAC and nothing more):
#   helm install --wait with a ValkeyCluster of 3 shards x 1 replica: the
#   Deployment passes its http probes, the controller holds the Lease, the
#   cluster becomes Ready; keys written through a cluster client;
#   helm upgrade --set valkeyCluster.shards=5: 5 masters, balanced, every key
#   there; helm test passes; helm uninstall removes what it installed (the CRD
#   stays, as Helm documents).
#   kubectl apply -f manifests/ + examples/valkeycluster.yaml: Ready, keys read
#   back; kubectl delete -f of both removes everything.
. "$(dirname "$0")/lib_helm.sh"
export AUTOSHARD_K8S_IP=${AUTOSHARD_K8S_IP:-127.30.12.1}
KV="$PY $SRC/tests/integration/kv.py"
NS=hi
REL=hi
VC=hi-valkey
CTRL=hi-autoshard-controller  # <release>-<chart>-controller

for b in autoshard autoshard-sidecar autoshard-controller; do
	[ -x "$BIN/$b" ] || fail "$BIN/$b is not built (set AUTOSHARD_BIN)"
done
command -v valkey-cli >/dev/null || fail "valkey-cli is not installed (the helm test pod runs it)"

# Pods run the project image: the image map starts their commands with the build
# tree first on PATH. Exec probes (the Valkey pods' `autoshard-sidecar wait-ready`)
# run without the image map, on the pod runner's PATH: the build tree goes there
# too. Containers that mount the service-account volume get it at
# /var/run/secrets/kubernetes.io/serviceaccount (PODRUNNER_SA_MOUNT_NS, root only).
[ "$(id -u)" = 0 ] || fail "needs root: the pod runner mounts the service-account token at its real path"
printf 'ghcr.io/autoshard/autoshard:* /usr/bin/env PATH=%s:/usr/local/bin:/usr/bin:/bin\n' "$BIN" >"$W/images"
PATH=$BIN:$PATH PODRUNNER_SA_MOUNT_NS=1 AUTOSHARD_K8S_IMAGE_MAP=$W/images "$ENV" up "$D" >/dev/null
# shellcheck source=/dev/null
. "$D/env.sh"

cond() { kubectl -n "$1" get valkeycluster "$2" -o "jsonpath={.status.conditions[?(@.type==\"$3\")].status}" 2>/dev/null; }
field() { kubectl -n "$1" get valkeycluster "$2" -o "jsonpath={.status.$3}" 2>/dev/null; }

# vc_wait_ready NS NAME MASTERS INSTANCES: Ready=True with that shape at the
# current generation, the StatefulSet and its pods at INSTANCES (bounded: 5 min).
vc_wait_ready() {
	local ns=$1 name=$2 masters=$3 inst=$4 i=0 gen
	while :; do
		gen=$(kubectl -n "$ns" get valkeycluster "$name" -o 'jsonpath={.metadata.generation}' 2>/dev/null || true)
		if [ "$(cond "$ns" "$name" Ready)" = True ] && [ "$(field "$ns" "$name" masters)" = "$masters" ] &&
			[ "$(field "$ns" "$name" instances)" = "$inst" ] && [ "$(field "$ns" "$name" observedGeneration)" = "$gen" ] &&
			[ "$(kubectl -n "$ns" get statefulset "$name" -o 'jsonpath={.spec.replicas}' 2>/dev/null)" = "$inst" ] &&
			[ "$(kubectl -n "$ns" get pods -l "app.kubernetes.io/instance=$name" --no-headers 2>/dev/null | wc -l)" = "$inst" ]; then
			return 0
		fi
		i=$((i + 1))
		[ "$i" -lt 600 ] || fail "valkeycluster $ns/$name not Ready with $masters masters and $inst instances"
		sleep 0.5
	done
}

# shellcheck source=../k8s/lib_check.sh
. "$SRC/tests/k8s/lib_check.sh"

# gone_wait WHAT CMD...: CMD prints nothing (bounded: 2 min).
gone_wait() {
	local what=$1 i=0 out; shift
	while out=$("$@" 2>/dev/null) && [ -n "$out" ]; do
		i=$((i + 1))
		[ "$i" -lt 240 ] || fail "$what still there: $out"
		sleep 0.5
	done
}

# What is left in a namespace besides what Kubernetes puts in every one. The
# leader-election Lease is the controller's, not the release's: Helm leaves it, as
# it leaves the CRD. (Whether the stopping controller could still release it is a
# race: helm deletes the RoleBinding while the pod is terminating.)
ns_objects() {
	kubectl -n "$1" get deployments,replicasets,statefulsets,pods,services,configmaps,secrets,serviceaccounts,roles,rolebindings,poddisruptionbudgets,valkeyclusters \
		-o name 2>/dev/null | grep -v -e '^configmap/kube-root-ca.crt$' -e '^serviceaccount/default$' || true
}
ctrl_log() { cat "$AUTOSHARD_K8S_STATE"/logs/"$1"_*_controller.log 2>/dev/null; }

# ---------------------------------------------------------------- helm
t0=$SECONDS
helm install "$REL" "$CHART" -n "$NS" --create-namespace --wait --timeout 5m \
	--set valkeyCluster.enabled=true,valkeyCluster.shards=3,valkeyCluster.replicasPerShard=1,controller.resyncSeconds=10 \
	>"$W/install.out" 2>&1 || { cat "$W/install.out"; fail "helm install --wait (the controller's probes must pass)"; }
kubectl config set-context --current --namespace "$NS" >/dev/null
pod=$(kubectl get pods -l app.kubernetes.io/component=controller,app.kubernetes.io/instance=$REL -o 'jsonpath={.items[*].metadata.name}')
[ -n "$pod" ] && [ "$(echo "$pod" | wc -w)" = 1 ] || fail "one controller pod expected: '$pod'"
[ "$(kubectl get pod "$pod" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ] ||
	fail "controller pod $pod not Ready"
[ "$(kubectl get pod "$pod" -o 'jsonpath={.spec.serviceAccountName}')" = $CTRL ] || fail "controller service account"
grep -q 'NOTES:' "$W/install.out" && grep -q "$VC.$NS.svc, port 6379" "$W/install.out" || fail "install NOTES: $(cat "$W/install.out")"
pass "helm install --wait: controller Deployment Ready (http probes /healthz, /readyz) in $((SECONDS - t0)) s"

vc_wait_ready "$NS" "$VC" 3 6
log=$(ctrl_log "$NS")
grep -q "autoshard-controller .* as ${pod}_" <<<"$log" || fail "controller log: $(echo "$log" | tail -n 5)"
! echo "$log" | grep -qi -e forbidden -e ' 403' || fail "the controller was refused something: $(echo "$log" | grep -i -e forbidden -e ' 403' | head -n 3)"
holder=$(kubectl get lease $CTRL -o 'jsonpath={.spec.holderIdentity}')
case $holder in "${pod}_"*) ;; *) fail "Lease holder '$holder' is not the controller pod $pod" ;; esac
for verb in "delete statefulsets" "delete pods" "list secrets" "patch secrets" "create deployments" "update valkeyclusters"; do
	[ "$(kubectl auth can-i $verb --as=system:serviceaccount:$NS:$CTRL 2>/dev/null || true)" = no ] ||
		fail "the controller's service account may $verb"
done
[ "$(kubectl auth can-i patch valkeyclusters.autoshard.io --subresource=status --as=system:serviceaccount:$NS:$CTRL)" = yes ] || fail "can-i patch status"
seed=$(kubectl get pod "$VC-0" -o 'jsonpath={.status.podIP}'):6379
check_cluster "$seed" 3 0 none
$KV load "$seed" 20000 hk >/dev/null
check_cluster "$seed" 3 20000 hk
pass "ValkeyCluster $VC from values: Ready, 3 masters; in-cluster controller holds the Lease, no RBAC refusal; 20000 keys"

t0=$SECONDS
helm upgrade "$REL" "$CHART" -n "$NS" --reuse-values --set valkeyCluster.shards=5 --wait --timeout 5m >"$W/upgrade.out" 2>&1 ||
	{ cat "$W/upgrade.out"; fail "helm upgrade"; }
[ "$(kubectl get valkeycluster "$VC" -o 'jsonpath={.spec.shards}')" = 5 ] || fail "helm upgrade did not set spec.shards 5"
vc_wait_ready "$NS" "$VC" 5 10
check_cluster "$seed" 5 20000 hk
pass "helm upgrade --set valkeyCluster.shards=5: 5 masters, balanced, every key there ($((SECONDS - t0)) s)"

helm test "$REL" -n "$NS" --timeout 3m >"$W/test.out" 2>&1 || { cat "$W/test.out"; cat "$AUTOSHARD_K8S_STATE"/logs/"$NS"_"$VC"-helm-test_*.log 2>/dev/null; fail "helm test"; }
grep -q "TEST SUITE:.*$VC-helm-test" "$W/test.out" && grep -q 'Phase:.*Succeeded' "$W/test.out" || fail "helm test output: $(cat "$W/test.out")"
grep -q "ok: wrote and read autoshard:helm-test:$VC-helm-test through the cluster" "$AUTOSHARD_K8S_STATE"/logs/"$NS"_"$VC"-helm-test_write-read.log ||
	fail "helm test pod log: $(cat "$AUTOSHARD_K8S_STATE"/logs/"$NS"_"$VC"-helm-test_*.log 2>/dev/null)"
pass "helm test: a key written and read back through the cluster by the test pod"

helm uninstall "$REL" -n "$NS" --wait --timeout 3m >/dev/null || fail "helm uninstall"
gone_wait "objects of release $REL in namespace $NS" ns_objects "$NS"
gone_wait "cluster-scoped RBAC" kubectl get clusterroles,clusterrolebindings -l app.kubernetes.io/instance=$REL -o name
kubectl get crd valkeyclusters.autoshard.io >/dev/null || fail "the CRD went with helm uninstall (Helm keeps crds/)"
pass "helm uninstall: Deployment, RBAC, ServiceAccount, ValkeyCluster and its StatefulSet, pods, Services, ConfigMap, PDB gone; CRD and Lease kept"

# watchNamespace: the controller's RBAC is a Role in that namespace (plus the Lease
# Role in its own); a cluster there becomes Ready, and the controller ignores
# ValkeyClusters elsewhere.
kubectl create namespace apps >/dev/null
kubectl create namespace other >/dev/null
helm install hw "$CHART" -n hw --create-namespace --wait --timeout 3m --set watchNamespace=apps \
	>"$W/install-hw.out" 2>&1 || { cat "$W/install-hw.out"; fail "helm install with watchNamespace"; }
[ -z "$(kubectl get clusterroles,clusterrolebindings -l app.kubernetes.io/instance=hw -o name)" ] ||
	fail "watchNamespace: a ClusterRole was installed"
for ns in apps other; do
	kubectl -n "$ns" apply -f - >/dev/null <<YAML
apiVersion: autoshard.io/v1alpha1
kind: ValkeyCluster
metadata: {name: one}
spec: {shards: 1, replicasPerShard: 0}
YAML
done
vc_wait_ready apps one 1 1
[ -z "$(kubectl -n other get valkeycluster one -o 'jsonpath={.status}')" ] && [ -z "$(kubectl -n other get statefulsets -o name)" ] ||
	fail "the controller watching apps acted in namespace other"
! ctrl_log hw | grep -qi -e forbidden -e ' 403' || fail "refused with a Role: $(ctrl_log hw | grep -i -e forbidden -e ' 403' | head -n 3)"
kubectl -n apps delete valkeycluster one --wait=true --timeout=60s >/dev/null
kubectl -n other delete valkeycluster one --wait=true --timeout=60s >/dev/null
helm uninstall hw -n hw --wait --timeout 3m >/dev/null || fail "helm uninstall hw"
gone_wait "objects of release hw" ns_objects hw
gone_wait "objects of the cluster in apps" ns_objects apps
pass "watchNamespace=apps: Role + RoleBinding only; a cluster in apps Ready, one in other untouched"
kubectl delete crd valkeyclusters.autoshard.io --wait=true --timeout=60s >/dev/null

# ---------------------------------------------------------------- kubectl apply
t0=$SECONDS
kubectl apply -f "$SRC/manifests/" >"$W/apply.out" || fail "kubectl apply -f manifests/"
kubectl -n autoshard-system rollout status deployment/autoshard-controller --timeout=180s >/dev/null ||
	fail "manifests: the controller Deployment did not become available"
kubectl create namespace demo >/dev/null
kubectl -n demo apply -f "$SRC/examples/valkeycluster.yaml" >/dev/null
vc_wait_ready demo example 3 6
seed=$(kubectl -n demo get pod example-0 -o 'jsonpath={.status.podIP}'):6379
$KV load "$seed" 10000 mk >/dev/null
check_cluster "$seed" 3 10000 mk
pass "kubectl apply -f manifests/ + examples/valkeycluster.yaml: controller available, example Ready, keys read back ($((SECONDS - t0)) s)"

kubectl -n demo delete -f "$SRC/examples/valkeycluster.yaml" --wait=true --timeout=120s >/dev/null
gone_wait "objects of the example in namespace demo" ns_objects demo
kubectl delete -f "$SRC/manifests/" --wait=true --timeout=180s >/dev/null || fail "kubectl delete -f manifests/"
gone_wait "namespace autoshard-system" kubectl get namespace autoshard-system -o name
gone_wait "the CRD" kubectl get crd valkeyclusters.autoshard.io -o name
gone_wait "cluster-scoped RBAC" kubectl get clusterroles,clusterrolebindings -l app.kubernetes.io/instance=autoshard -o name
pass "kubectl delete -f: the example's objects, the namespace, the CRD and the RBAC are gone"
