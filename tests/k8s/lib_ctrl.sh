#!/bin/bash
# Shared by tests/k8s/test_controller*.sh: a control plane from k8s-env.sh with
# the build tree's binaries on the pods' PATH, the CRD applied, and helpers to
# run autoshard-controller as a local process and wait on ValkeyClusters.
# Every wait is a bounded loop. Source it; it sets an EXIT trap.
set -euo pipefail

SRC=${AUTOSHARD_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BIN=${AUTOSHARD_BIN:-$SRC/build}
ENV=$SRC/tests/k8s/k8s-env.sh
KV="/usr/bin/python3 $SRC/tests/integration/kv.py"
# A control-plane address of our own, so a run beside other k8s tests does not clash.
export AUTOSHARD_K8S_IP=${AUTOSHARD_K8S_IP:-127.30.5.1}
D=$(mktemp -d /tmp/autoshard-k8s-ctrl.XXXXXX)
rmdir "$D" # `up` creates it
CTRL_PIDS=()

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok - $*"; }

ctrl_cleanup() {
	local rc=$? p
	for p in "${CTRL_PIDS[@]}"; do { kill -9 "$p" && wait "$p"; } 2>/dev/null || true; done
	if [ "$rc" != 0 ] && [ -d "$D" ]; then
		echo "--- test failed (rc=$rc); state under $D" >&2
		kubectl get valkeyclusters,statefulsets,pods,configmaps -o wide >&2 2>/dev/null || true
		kubectl get valkeyclusters -o yaml 2>/dev/null | sed -n '/^  status:/,/^[^ ]/p' >&2 || true
		for f in "$D"/controller*.log "$D"/podrunner/logs/*.log; do
			[ -e "$f" ] || continue
			echo "--- $f" >&2
			tail -n 30 "$f" >&2
		done
	fi
	"$ENV" down "$D" >/dev/null 2>&1 || true
	exit "$rc"
}
trap ctrl_cleanup EXIT INT TERM

for b in autoshard autoshard-sidecar autoshard-controller; do
	[ -x "$BIN/$b" ] || fail "$BIN/$b is not built (set AUTOSHARD_BIN)"
done

# ctrl_up: the environment with the pods running our sidecar, plus the CRD.
ctrl_up() {
	"$ENV" build
	PATH=$BIN:$PATH "$ENV" up "$D"
	# shellcheck source=/dev/null
	. "$D/env.sh"
	kubectl apply -f "$SRC/controller/crd/valkeyclusters.autoshard.io.yaml" >/dev/null
	kubectl wait --for=condition=Established crd/valkeyclusters.autoshard.io --timeout=60s >/dev/null ||
		fail "the CRD was not established"
}

# ctrl_start NAME [ARGS...]: run a controller in the background, log in
# $D/controller-NAME.log; its pid in CTRL_PID.
ctrl_start() {
	local name=$1
	shift
	# CTRL_WRAP: a command the controller runs under (valgrind in its test).
	${CTRL_WRAP:-} "$BIN/autoshard-controller" --kubeconfig "$KUBECONFIG" --identity "$name" --http-addr 127.0.0.1:0 "$@" \
		>>"$D/controller-$name.log" 2>&1 &
	CTRL_PID=$!
	CTRL_PIDS+=("$CTRL_PID")
}

# ctrl_http NAME PATH: GET PATH from controller NAME's HTTP server (it listens
# on a free port of 127.0.0.1 and logs it); prints "CODE BODY" on one line.
ctrl_http() {
	local port i=0
	until port=$(sed -n 's/.*http: serving .* on port \([0-9]*\).*/\1/p' "$D/controller-$1.log" | tail -1) && [ -n "$port" ]; do
		i=$((i + 1)); [ "$i" -lt 100 ] || fail "controller $1 logged no HTTP port"
		sleep 0.1
	done
	curl -s -m 5 -w ' %{http_code}' "http://127.0.0.1:$port$2" | tr '\n' ' ' | awk '{ print $NF, $0 }'
}

# vc_apply NAME SHARDS REPLICAS: create or change a ValkeyCluster.
vc_apply() {
	kubectl apply -f - >/dev/null <<YAML
apiVersion: autoshard.io/v1alpha1
kind: ValkeyCluster
metadata: {name: $1}
spec: {shards: $2, replicasPerShard: $3}
YAML
}

cond() { kubectl get valkeycluster "$1" -o "jsonpath={.status.conditions[?(@.type==\"$2\")].status}" 2>/dev/null; }
field() { kubectl get valkeycluster "$1" -o "jsonpath={.status.$2}" 2>/dev/null; }
pod_ip() { kubectl get pod "$1" -o 'jsonpath={.status.podIP}'; }

# vc_wait_ready NAME MASTERS INSTANCES [TRIES]: Ready=True with that shape, the
# StatefulSet at INSTANCES replicas and observedGeneration current
# (bounded: TRIES x 0.5 s, default 600).
vc_wait_ready() {
	local name=$1 masters=$2 inst=$3 tries=${4:-600} i=0 gen
	while :; do
		gen=$(kubectl get valkeycluster "$name" -o 'jsonpath={.metadata.generation}')
		if [ "$(cond "$name" Ready)" = True ] && [ "$(field "$name" masters)" = "$masters" ] &&
			[ "$(field "$name" instances)" = "$inst" ] && [ "$(field "$name" observedGeneration)" = "$gen" ] &&
			[ "$(kubectl get statefulset "$name" -o 'jsonpath={.spec.replicas}')" = "$inst" ] &&
			[ "$(kubectl get pods -l "app.kubernetes.io/instance=$name" --no-headers 2>/dev/null | wc -l)" = "$inst" ]; then
			return 0
		fi
		i=$((i + 1))
		[ "$i" -lt "$tries" ] || fail "valkeycluster $name did not become Ready with $masters masters and $inst instances"
		sleep 0.5
	done
}

# wait_event OBJECT REASON PATTERN: an Event with REASON on OBJECT whose
# message matches PATTERN (grep) appears, within 60 s.
wait_event() {
	local i=0
	until kubectl get events --field-selector "involvedObject.name=$1,reason=$2" -o 'jsonpath={.items[*].message}' |
		grep -q "$3"; do
		i=$((i + 1))
		[ "$i" -lt 300 ] || fail "no $2 event on $1 matching '$3'; its events: $(kubectl get events --field-selector "involvedObject.name=$1" -o 'jsonpath={range .items[*]}{.reason}: {.message}; {end}')"
		sleep 0.2
	done
}

# shellcheck source=lib_check.sh
. "$SRC/tests/k8s/lib_check.sh"
