#!/bin/bash
# Bad input to the controller, end to end:
#  1. a kubeconfig that does not parse, and one naming a file that does not
#     exist: exit 2 with one line naming the problem;
#  2. the API server unreachable at start (the kubeconfig points at a closed
#     loopback port): the controller keeps retrying with backoff, one clear
#     line per failure naming the address, never leads, never crashes; SIGTERM
#     stops it with exit 0;
#  3. RBAC refusal: the controller runs as a client-certificate user whose
#     ClusterRole lacks `patch` on apps/statefulsets (server-side apply is a
#     PATCH): it logs the refused verb and resource as the API server words
#     it ('cannot patch resource "statefulsets" in API group "apps"'), creates
#     no StatefulSet and no pod, runs no engine, and the ValkeyCluster is not
#     Ready.
# Malformed watch lines, truncated and oversized watch events and response
# bodies are covered below the API server by tests/unit/test_kube_watch.c,
# tests/unit/test_kube_client.c (fake API server) and the fuzzers in
# tests/fuzz: a real kube-apiserver never sends them, and it refuses objects
# larger than etcd's request limit (~1.5 MiB), far below the client's caps
# (8 MiB per watch event, 32 MiB per body).
. "$(dirname "$0")/lib_ctrl.sh"
ctrl_up
CTRL=$BIN/autoshard-controller

# 1. kubeconfig problems: exit 2, one line.
printf 'apiVersion: v1\nkind: Config\nclusters: [ {\n' >"$D/broken.kubeconfig"
rc=0
"$CTRL" --kubeconfig "$D/broken.kubeconfig" >"$D/broken.out" 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "broken kubeconfig: exit $rc, want 2: $(cat "$D/broken.out")"
[ "$(wc -l <"$D/broken.out")" = 1 ] && grep -q 'kubeconfig' "$D/broken.out" ||
	fail "broken kubeconfig: want one line naming the kubeconfig: $(cat "$D/broken.out")"
rc=0
"$CTRL" --kubeconfig "$D/no-such.kubeconfig" >"$D/missing.out" 2>&1 || rc=$?
[ "$rc" = 2 ] && [ "$(wc -l <"$D/missing.out")" = 1 ] && grep -q 'no-such.kubeconfig' "$D/missing.out" ||
	fail "missing kubeconfig: exit $rc: $(cat "$D/missing.out")"
pass "unparsable / missing kubeconfig: exit 2, one line: $(cat "$D/missing.out")"

# 2. API server unreachable: a closed port on the control-plane address.
sed "s#server: https://$AUTOSHARD_K8S_IP:6443#server: https://$AUTOSHARD_K8S_IP:1#" "$KUBECONFIG" >"$D/unreachable.kubeconfig"
grep -q "server: https://$AUTOSHARD_K8S_IP:1\$" "$D/unreachable.kubeconfig" || fail "could not rewrite the server address"
"$CTRL" --kubeconfig "$D/unreachable.kubeconfig" --identity u --http-addr 127.0.0.1:0 >"$D/controller-u.log" 2>&1 &
u=$!
CTRL_PIDS+=("$u")
# Wait (bounded) for failures of the lease and of the four informers' lists.
i=0
until [ "$(grep -c 'warn: watch: list ' "$D/controller-u.log")" -ge 4 ] &&
	grep -q 'warn: lease: ' "$D/controller-u.log"; do
	i=$((i + 1)); [ "$i" -lt 100 ] || fail "unreachable API: no failures logged: $(cat "$D/controller-u.log")"
	kill -0 "$u" 2>/dev/null || fail "unreachable API: the controller exited: $(cat "$D/controller-u.log")"
	sleep 0.1
done
sleep 6 # let it retry a few times
kill -0 "$u" 2>/dev/null || fail "unreachable API: the controller exited: $(cat "$D/controller-u.log")"
bad=$(grep -v -e 'warn: watch: list [a-z]*[^:]*: GET https://'"$AUTOSHARD_K8S_IP"':1/.*[Cc]ouldn.t connect' \
	-e 'warn: lease: lease default/autoshard-controller: [a-z]* failed: [A-Z]* https://'"$AUTOSHARD_K8S_IP"':1/.*[Cc]ouldn.t connect' \
	-e 'info: autoshard-controller .* as u: watching' \
	-e 'info: http: serving /healthz, /readyz and /metrics on port [0-9]*$' \
	-e 'warn: api: a watch is broken; holding actions' "$D/controller-u.log" || true)
[ -z "$bad" ] || fail "unreachable API: unexpected log lines: $bad"
n=$(wc -l <"$D/controller-u.log")
# Lease every 2 s, informers with exponential backoff from 0.5 s: a handful of
# lines in ~7 s, not a busy loop.
[ "$n" -lt 40 ] || fail "unreachable API: $n log lines in ~7 s (busy retry?)"
grep -q 'leading' "$D/controller-u.log" && fail "unreachable API: the controller claims to lead"
kill -TERM "$u"
rc=0
wait "$u" || rc=$?
[ "$rc" = 0 ] || fail "unreachable API: exit $rc after SIGTERM"
pass "unreachable API: $n clear lines in ~7 s, retrying with backoff, no crash, exit 0 on SIGTERM; e.g.: $(grep 'watch: list valkeyclusters' "$D/controller-u.log" | head -n1 | cut -d' ' -f3-)"

# 3. RBAC: a client certificate user without patch on statefulsets.
openssl ecparam -name prime256v1 -genkey -noout -out "$D/pki/limited.key" 2>/dev/null
openssl req -new -key "$D/pki/limited.key" -subj "/CN=autoshard-limited" -out "$D/pki/limited.csr" 2>/dev/null
printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' >"$D/pki/limited.ext"
openssl x509 -req -in "$D/pki/limited.csr" -CA "$D/pki/ca.crt" -CAkey "$D/pki/ca.key" -CAcreateserial -days 1 \
	-extfile "$D/pki/limited.ext" -out "$D/pki/limited.crt" 2>/dev/null || fail "could not sign the limited user's certificate"
cp "$KUBECONFIG" "$D/limited.kubeconfig"
kubectl --kubeconfig "$D/limited.kubeconfig" config set-credentials limited --embed-certs=true \
	--client-certificate="$D/pki/limited.crt" --client-key="$D/pki/limited.key" >/dev/null
kubectl --kubeconfig "$D/limited.kubeconfig" config set-context autoshard-test --user=limited >/dev/null
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: autoshard-limited}
rules:
- apiGroups: [autoshard.io]
  resources: [valkeyclusters]
  verbs: [get, list, watch]
- apiGroups: [autoshard.io]
  resources: [valkeyclusters/status]
  verbs: [get, patch, update]
- apiGroups: [apps]
  resources: [statefulsets]
  verbs: [get, list, watch, create, update, delete]   # no patch
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [configmaps, services]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [get, list, create, update, patch]
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, list, watch, create, update, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: autoshard-limited}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: autoshard-limited}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: autoshard-limited}
YAML
# RBAC is what we think it is (the authorizer's view, not the controller's).
[ "$(kubectl auth can-i patch statefulsets.apps --as autoshard-limited)" = no ] || fail "the limited user may patch statefulsets"
[ "$(kubectl auth can-i patch configmaps --as autoshard-limited)" = yes ] || fail "the limited user may not patch configmaps"
vc_apply vk 2 0
"$CTRL" --kubeconfig "$D/limited.kubeconfig" --identity r --resync-s 5 --http-addr 127.0.0.1:0 >"$D/controller-r.log" 2>&1 &
r=$!
CTRL_PIDS+=("$r")
want='cannot patch resource "statefulsets" in API group "apps"'
i=0
until [ "$(grep -cF "$want" "$D/controller-r.log")" -ge 2 ]; do
	i=$((i + 1)); [ "$i" -lt 300 ] || fail "RBAC: the refusal was never logged twice: $(tail -n 20 "$D/controller-r.log")"
	kill -0 "$r" 2>/dev/null || fail "RBAC: the controller exited: $(tail -n 20 "$D/controller-r.log")"
	sleep 0.1
done
line=$(grep -F "$want" "$D/controller-r.log" | head -n1)
echo "$line" | grep -q 'valkeycluster default/vk: apply StatefulSet: .*forbidden' ||
	fail "RBAC: the refusal does not name the cluster and the action: $line"
grep -q 'leading' "$D/controller-r.log" || fail "RBAC: the controller never led"
sleep 6 # a resync (5 s) later: still nothing
kill -0 "$r" 2>/dev/null || fail "RBAC: the controller exited"
kubectl get statefulset vk >/dev/null 2>&1 && fail "RBAC: a StatefulSet exists"
[ "$(kubectl get pods -l app.kubernetes.io/instance=vk --no-headers 2>/dev/null | wc -l)" = 0 ] || fail "RBAC: pods exist"
grep -q 'engine started\|re-checking' "$D/controller-r.log" && fail "RBAC: an engine ran"
[ "$(cond vk Ready)" != True ] || fail "RBAC: the ValkeyCluster is Ready"
# Permitted writes went through (the refusal is specific, not a blanket failure).
kubectl get configmap vk-members >/dev/null 2>&1 || fail "RBAC: the permitted members ConfigMap was not written"
pass "RBAC: refusal logged with verb and resource, no StatefulSet, no pod, no engine run: ${line#* warn: }"
