#!/bin/bash
# The chart and the generated manifests, checked without running anything:
# `helm lint --strict` and `helm template` are clean (operator alone, with a
# ValkeyCluster and a password, watching one namespace); values.schema.json
# rejects bad values with the field named; the Deployment has the hardening,
# probes and ports the brief asks for; RBAC is a ClusterRole, or a Role when
# watchNamespace is set; `scripts/gen-manifests.sh --check` passes and fails on a
# stale copy; and the real API server accepts the rendered chart and manifests/
# (server-side dry run, so schema and admission of every object are checked).
. "$(dirname "$0")/lib_helm.sh"
export AUTOSHARD_K8S_IP=${AUTOSHARD_K8S_IP:-127.30.11.1}

VC="valkeyCluster.enabled=true,valkeyCluster.auth.enabled=true,valkeyCluster.config.maxmemory-policy=allkeys-lru"

# --- lint and template
helm lint --strict "$CHART" >"$W/lint.out" 2>&1 || { cat "$W/lint.out"; fail "helm lint --strict"; }
helm lint --strict "$CHART" --set "$VC" --set watchNamespace=apps >"$W/lint2.out" 2>&1 ||
	{ cat "$W/lint2.out"; fail "helm lint --strict with a ValkeyCluster and watchNamespace"; }
grep -q '0 chart(s) failed' "$W/lint.out" || fail "helm lint output: $(cat "$W/lint.out")"
helm template t "$CHART" --namespace hl >"$W/default.yaml" 2>"$W/err" || { cat "$W/err"; fail "helm template"; }
[ ! -s "$W/err" ] || fail "helm template wrote to stderr: $(cat "$W/err")"
helm template t "$CHART" --namespace hl --set "$VC" >"$W/vc.yaml"
helm template t "$CHART" --namespace hl --set watchNamespace=apps >"$W/ns.yaml"
pass "helm lint --strict and helm template are clean"

# --- schema rejects bad values, naming the field
bad() {
	local what=$1 want=$2; shift 2
	if helm template t "$CHART" "$@" >/dev/null 2>"$W/bad.err"; then
		fail "helm template accepted $what ($*)"
	fi
	grep -q -- "$want" "$W/bad.err" || fail "$what: error does not say '$want': $(cat "$W/bad.err")"
	helm lint --strict "$CHART" "$@" >/dev/null 2>&1 && fail "helm lint accepted $what ($*)"
	return 0
}
bad "negative shards" "/valkeyCluster/shards" --set valkeyCluster.shards=-1
bad "shards over 1000" "/valkeyCluster/shards" --set valkeyCluster.shards=1001
bad "shards of the wrong type" "got string, want integer" --set-string valkeyCluster.shards=three
bad "replicasPerShard 6" "/valkeyCluster/replicasPerShard" --set valkeyCluster.replicasPerShard=6
bad "an unknown persistence mode" "/valkeyCluster/persistence/mode" --set valkeyCluster.persistence.mode=disk
bad "a bad pull policy" "/image/pullPolicy" --set image.pullPolicy=Sometimes
bad "a misspelt key" "additional properties 'replica' not allowed" --set controller.replica=2
bad "zero controller replicas" "/controller/replicas" --set controller.replicas=0
bad "persistent without storage" "/valkeyCluster/persistence/storage" \
	--set valkeyCluster.enabled=true,valkeyCluster.persistence.mode=persistent
pass "values.schema.json rejects bad values with the field named"

# --- what the Deployment looks like
appv=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$CHART/Chart.yaml")
projv=$(sed -n 's/^project(autoshard VERSION \([0-9.]*\) .*/\1/p' "$SRC/CMakeLists.txt")
[ -n "$appv" ] && [ "$appv" = "$projv" ] || fail "Chart appVersion '$appv' is not the project version '$projv'"
c='kind("Deployment")[0]["spec"]["template"]["spec"]["containers"][0]'
p='kind("Deployment")[0]["spec"]["template"]["spec"]'
[ "$(yq_py "$W/default.yaml" "$c[\"image\"]")" = "ghcr.io/autoshard/autoshard:$appv" ] || fail "controller image"
[ "$(yq_py "$W/default.yaml" "kind(\"Deployment\")[0][\"spec\"][\"replicas\"]")" = 1 ] || fail "replicas default"
[ "$(yq_py "$W/default.yaml" "[(q['name'], q['containerPort']) for q in $c['ports']]")" = "[('http', 8080)]" ] ||
	fail "container port http 8080"
for probe in livenessProbe:/healthz readinessProbe:/readyz startupProbe:/healthz; do
	[ "$(yq_py "$W/default.yaml" "($c['${probe%%:*}']['httpGet']['path'], $c['${probe%%:*}']['httpGet']['port'])")" = "('${probe#*:}', 'http')" ] ||
		fail "${probe%%:*} is not httpGet ${probe#*:} on port http"
done
sc="$c['securityContext']"
[ "$(yq_py "$W/default.yaml" "($sc['runAsNonRoot'], $sc['readOnlyRootFilesystem'], $sc['allowPrivilegeEscalation'], $sc['capabilities']['drop'], $sc['seccompProfile']['type'], $p['securityContext']['runAsNonRoot'])")" = \
	"(True, True, False, ['ALL'], 'RuntimeDefault', True)" ] || fail "container securityContext: $(yq_py "$W/default.yaml" "$sc")"
[ "$(yq_py "$W/default.yaml" "$c['resources']['requests']['memory']")" = 32Mi ] || fail "memory request"
env=$(yq_py "$W/default.yaml" "{e['name']: e.get('value') for e in $c['env']}")
for kv in "'AUTOSHARD_HTTP_ADDR': '\$(POD_IP):8080'" "'AUTOSHARD_LEASE_NAMESPACE': 'hl'" \
	"'AUTOSHARD_IMAGE': 'ghcr.io/autoshard/autoshard:$appv'" "'AUTOSHARD_NAMESPACE': ''"; do
	case $env in *"$kv"*) ;; *) fail "controller env lacks $kv: $env" ;; esac
done
pass "Deployment: project image at appVersion, http 8080 probes, hardened securityContext, env"

# --- RBAC: ClusterRole by default, Role in watchNamespace; only the verbs used
[ "$(yq_py "$W/default.yaml" "[d['kind'] for d in docs if d['kind'].endswith(('Role', 'RoleBinding'))]")" = \
	"['ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']" ] || fail "RBAC kinds (default)"
[ "$(yq_py "$W/ns.yaml" "sorted((d['kind'], d['metadata']['namespace']) for d in docs if d['kind'].endswith(('Role', 'RoleBinding')))")" = \
	"[('Role', 'apps'), ('Role', 'hl'), ('RoleBinding', 'apps'), ('RoleBinding', 'hl')]" ] || fail "RBAC with watchNamespace"
verbs=$(yq_py "$W/default.yaml" "sorted(v for d in docs if d['kind'] in ('ClusterRole', 'Role') for r in d['rules'] for v in r['verbs'])")
case $verbs in *delete* | *"'*'"* | *deletecollection* | *escalate* | *bind*) fail "RBAC grants more than used: $verbs" ;; esac
[ "$(yq_py "$W/default.yaml" "[r['verbs'] for d in kind('Role') for r in d['rules'] if r['resources'] == ['leases']]")" = \
	"[['get', 'create', 'update']]" ] || fail "Lease rule"
[ "$(yq_py "$W/default.yaml" "[r['verbs'] for d in kind('ClusterRole') for r in d['rules'] if r['resources'] == ['secrets']]")" = \
	"[['get']]" ] || fail "secrets rule"
pass "RBAC: ClusterRole, or Role+RoleBinding in watchNamespace; Lease rule; no delete, no wildcard"

# --- optional ValkeyCluster, password Secret, helm test pod, NOTES
[ "$(yq_py "$W/default.yaml" "len(kind('ValkeyCluster')) + len(kind('Secret'))")" = 0 ] || fail "a ValkeyCluster by default"
[ "$(yq_py "$W/vc.yaml" "kind('ValkeyCluster')[0]['spec']")" = \
	"{'shards': 3, 'replicasPerShard': 1, 'persistence': {'mode': 'ephemeral'}, 'passwordSecret': {'name': 't-valkey-password', 'key': 'password'}, 'config': {'maxmemory-policy': 'allkeys-lru'}, 'topologyMismatch': 'refuse', 'endpointType': 'ip'}" ] ||
	fail "ValkeyCluster spec: $(yq_py "$W/vc.yaml" "kind('ValkeyCluster')[0]['spec']")"
[ "$(yq_py "$W/vc.yaml" "len(kind('Secret')[0]['data']['password'])")" -ge 40 ] || fail "generated password Secret"
[ "$(yq_py "$W/vc.yaml" "kind('Pod')[0]['metadata']['annotations']['helm.sh/hook']")" = test ] || fail "helm test hook pod"
pass "ValkeyCluster from values (off by default), password Secret, helm test pod"

# --- manifests/ are what the chart renders; a stale copy is caught
"$SRC/scripts/gen-manifests.sh" --check >"$W/check.out" 2>&1 || { cat "$W/check.out"; fail "gen-manifests.sh --check"; }
cp -r "$SRC/charts" "$SRC/manifests" "$SRC/scripts" "$SRC/controller" "$W/" 2>/dev/null
mkdir -p "$W/tree" && mv "$W/charts" "$W/manifests" "$W/scripts" "$W/controller" "$W/tree/"
mkdir -p "$W/tree/tests/k8s" && cp "$ENV" "$W/tree/tests/k8s/"
sed -i 's/^  replicas: 1$/  replicas: 2/' "$W/tree/manifests/autoshard.yaml"
"$W/tree/scripts/gen-manifests.sh" --check >/dev/null 2>&1 && fail "--check passed with an edited manifests/autoshard.yaml"
cp "$SRC/manifests/autoshard.yaml" "$W/tree/manifests/"
echo "# drift" >>"$W/tree/charts/autoshard/crds/valkeyclusters.autoshard.io.yaml"
"$W/tree/scripts/gen-manifests.sh" --check >"$W/drift.out" 2>&1 && fail "--check passed with a drifted CRD copy"
grep -q 'differs from controller/crd' "$W/drift.out" || fail "CRD drift message: $(cat "$W/drift.out")"
pass "gen-manifests.sh --check: up to date; fails on an edited manifest and on a drifted CRD"

# --- the real API server accepts everything (server-side dry run)
"$ENV" up "$D" --no-podrunner >/dev/null
# shellcheck source=/dev/null
. "$D/env.sh"
# Namespaced objects need their namespace to exist, even in a dry run.
kubectl create namespace autoshard-system >/dev/null
kubectl create namespace hl >/dev/null
kubectl create namespace apps >/dev/null
kubectl apply --dry-run=server -f "$SRC/manifests/" >"$W/dry1.out" 2>&1 || { cat "$W/dry1.out"; fail "dry run of manifests/"; }
grep -q 'customresourcedefinition.apiextensions.k8s.io/valkeyclusters.autoshard.io created (server dry run)' "$W/dry1.out" &&
	grep -q 'deployment.apps/autoshard-controller created (server dry run)' "$W/dry1.out" || fail "dry run output: $(cat "$W/dry1.out")"
kubectl apply --dry-run=server -f "$SRC/examples/" >/dev/null 2>&1 &&
	fail "the example ValkeyCluster was accepted before its CRD exists"
# The chart's CRD for real (as helm installs crds/ first), then every rendering.
kubectl apply -f "$CHART/crds/" >/dev/null
kubectl wait --for=condition=Established crd/valkeyclusters.autoshard.io --timeout=60s >/dev/null
for f in default vc ns; do
	kubectl apply --dry-run=server -f "$W/$f.yaml" >"$W/dry-$f.out" 2>&1 || { cat "$W/dry-$f.out"; fail "dry run of the chart ($f)"; }
done
grep -q 'valkeycluster.autoshard.io/t-valkey created (server dry run)' "$W/dry-vc.out" || fail "VC dry run: $(cat "$W/dry-vc.out")"
kubectl apply --dry-run=server -n hl -f "$SRC/examples/valkeycluster.yaml" >/dev/null || fail "dry run of the example"
# The API server's own validation still applies to values the schema lets through
# when someone skips it (--skip-schema-validation): the CRD rejects shards 0.
helm template t "$CHART" --namespace hl --skip-schema-validation --set valkeyCluster.enabled=true,valkeyCluster.shards=0 >"$W/zero.yaml"
kubectl apply --dry-run=server -f "$W/zero.yaml" >/dev/null 2>"$W/zero.err" && fail "the API server accepted shards 0"
grep -q 'spec.shards' "$W/zero.err" || fail "shards 0 error: $(cat "$W/zero.err")"
helm install t "$CHART" --dry-run --namespace hl --set "$VC" >"$W/notes.out" 2>&1 || fail "helm install --dry-run"
grep -q 't-valkey.hl.svc, port 6379' "$W/notes.out" && grep -q 'get secret t-valkey-password' "$W/notes.out" ||
	fail "NOTES.txt does not say how to connect: $(sed -n '/^NOTES:/,$p' "$W/notes.out")"
grep -q "helm test t" "$W/notes.out" || fail "NOTES.txt: no helm test"
pass "the API server accepts manifests/, the example and every chart rendering (server-side dry run)"
