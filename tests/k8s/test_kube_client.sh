#!/bin/bash
# The C Kubernetes client (platform/kubernetes) against a real kube-apiserver:
# starts a control plane with tests/k8s/k8s-env.sh (no pod runner) on its own
# loopback address and runs tests/tools/kube_smoke with the admin kubeconfig
# (TLS with the CA and a client certificate embedded as *-data). kube_smoke
# checks: paginated list; watch ADD/MODIFY/BOOKMARK; server-side apply;
# merge patch; API error messages; delete preconditions; 410 -> relist (etcd
# compacted through its JSON gateway, Events watched from rv 1); two
# Lease contenders with takeover after expiry and release; Event dedup.
#
# Environment: AUTOSHARD_BIN (build directory; default ../../build),
# AUTOSHARD_KUBE_SMOKE_IP (default 127.30.9.1), AUTOSHARD_K8S_KEEP=1 keeps the
# environment directory for inspection.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=${AUTOSHARD_BIN:-$HERE/../../build}
SMOKE=$BIN/tests/kube_smoke
[ -x "$SMOKE" ] || { echo "test_kube_client: $SMOKE not built" >&2; exit 1; }

export AUTOSHARD_K8S_IP=${AUTOSHARD_KUBE_SMOKE_IP:-127.30.9.1}
DIR=$(mktemp -d /tmp/autoshard-kube-client.XXXXXX)
rmdir "$DIR" # k8s-env.sh up creates it
cleanup() {
	local rc=$?
	if [ "${AUTOSHARD_K8S_KEEP:-}" = 1 ]; then
		echo "test_kube_client: environment kept in $DIR (stop: $HERE/k8s-env.sh down $DIR)" >&2
	else
		"$HERE/k8s-env.sh" down "$DIR" >/dev/null 2>&1 || true
	fi
	exit $rc
}
trap cleanup EXIT

"$HERE/k8s-env.sh" up "$DIR" --no-podrunner
"$SMOKE" --kubeconfig "$DIR/kubeconfig" --etcd "http://$AUTOSHARD_K8S_IP:2379"
