#!/bin/bash
# passwordSecret: the pods get the password as a file (Secret volume,
# AUTOSHARD_PASSWORD_FILE), the controller reads the Secret through the API
# for its engine runs; the cluster becomes Ready, refuses clients without the
# password, serves keys with it, and the password is in no controller log
# line, pod spec or argv.
. "$(dirname "$0")/lib_ctrl.sh"
ctrl_up
pw='s3cret-"pw'"'"'-x7'
printf '%s\n' "$pw" >"$D/password"
chmod 600 "$D/password"
kubectl create secret generic vk-pw --from-literal=password="$pw" >/dev/null
ctrl_start a --log-level debug
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: autoshard.io/v1alpha1
kind: ValkeyCluster
metadata: {name: vk}
spec: {shards: 2, replicasPerShard: 1, passwordSecret: {name: vk-pw}}
YAML
export AUTOSHARD_PASSWORD_FILE=$D/password
vc_wait_ready vk 2 4
seed=$(pod_ip vk-0):6379
valkey-cli -h "${seed%:*}" ping 2>&1 | grep -q NOAUTH || fail "the server answers without the password"
$KV load "$seed" 5000 kpw >/dev/null
check_cluster "$seed" 2 5000 kpw
pass "Ready with a password; clients without it are refused; keys with it read back"
grep -qF -- "$pw" "$D"/controller-a.log && fail "the password is in the controller's log"
kubectl get statefulset vk -o yaml | grep -qF -- "$pw" && fail "the password is in the StatefulSet"
for p in $(pgrep -f autoshard-sidecar || true); do
	tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$pw" && fail "the password is in the argv of pid $p"
done
pass "the password is in no log line, pod spec or argv"
