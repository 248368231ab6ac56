#!/bin/bash
# Idle memory of autoshard-controller: a control plane from tests/k8s/k8s-env.sh,
# the controller (a local process, as in tests/k8s), one ValkeyCluster of
# 3 shards x 1 replica; once it is Ready and idle (no engine child running),
# the controller's VmRSS is sampled from /proc every second for SAMPLES (20)
# seconds. Prints the median idle RSS, the peak (VmHWM, since start: the
# bootstrap included) and the target: idle RSS < 10 MB (10240 kB).
# Engine runs are forked children and not counted (they exit when done).
# Usage: bench/controller_rss.sh [BUILD_DIR]
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
B=$(cd "${1:-build}" && pwd)
SAMPLES=${SAMPLES:-20}
TARGET_KB=10240
ENV=$SRC/tests/k8s/k8s-env.sh
export AUTOSHARD_K8S_IP=${AUTOSHARD_K8S_IP:-127.30.11.1}
K8S_BIN=$("$ENV" bin)
if [ ! -x "$K8S_BIN/kube-apiserver" ] || [ ! -x "$K8S_BIN/podrunner" ]; then
	echo "controller RSS: SKIP (no Kubernetes binaries in $K8S_BIN; run tests/k8s/k8s-env.sh build)"
	exit 0
fi
for b in autoshard-controller autoshard-sidecar; do
	[ -x "$B/$b" ] || { echo "controller RSS: $B/$b is not built" >&2; exit 1; }
done
D=$(mktemp -d /tmp/autoshard-bench-rss.XXXXXX)
rmdir "$D"
CTRL=""
cleanup() {
	[ -z "$CTRL" ] || { kill -9 "$CTRL" && wait "$CTRL"; } 2>/dev/null || true
	"$ENV" down "$D" >/dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM

PATH=$B:$PATH "$ENV" up "$D" 2>/dev/null
# shellcheck source=/dev/null
. "$D/env.sh"
kubectl apply -f "$SRC/controller/crd/valkeyclusters.autoshard.io.yaml" >/dev/null
kubectl wait --for=condition=Established crd/valkeyclusters.autoshard.io --timeout=60s >/dev/null
"$B/autoshard-controller" --kubeconfig "$KUBECONFIG" --identity bench >"$D/controller.log" 2>&1 &
CTRL=$!
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: autoshard.io/v1alpha1
kind: ValkeyCluster
metadata: {name: vk}
spec: {shards: 3, replicasPerShard: 1}
YAML
i=0
until [ "$(kubectl get valkeycluster vk -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ] &&
	[ "$(kubectl get valkeycluster vk -o 'jsonpath={.status.instances}')" = 6 ]; do
	i=$((i + 1))
	[ "$i" -lt 600 ] || { echo "controller RSS: the ValkeyCluster never became Ready" >&2; tail "$D/controller.log" >&2; exit 1; }
	kill -0 "$CTRL" 2>/dev/null || { echo "controller RSS: the controller exited" >&2; exit 1; }
	sleep 0.5
done
# Idle: no engine child, and the last log line is a few seconds old.
children() { cat "/proc/$CTRL/task/"*/children 2>/dev/null | tr -s ' \n' ' ' | sed 's/^ *//; s/ *$//'; }
i=0
while [ -n "$(children)" ]; do
	i=$((i + 1)); [ "$i" -lt 600 ] || { echo "controller RSS: an engine run never ended" >&2; exit 1; }
	sleep 0.1
done
sleep 3
kv() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$CTRL/status"; }
: >"$D/rss"
for _ in $(seq 1 "$SAMPLES"); do
	kill -0 "$CTRL" 2>/dev/null || { echo "controller RSS: the controller exited" >&2; exit 1; }
	kv VmRSS >>"$D/rss"
	sleep 1
done
hwm=$(kv VmHWM)
# where the resident pages are: anonymous (heap, our data) vs shared libraries
awk '/^[0-9a-f]+-[0-9a-f]+ /{name = ($6 == "" ? "[anonymous]" : $6)} /^Rss:/{r[name] += $2}
	END {for (n in r) if (r[n] >= 256) printf "%d %s\n", r[n], n}' "/proc/$CTRL/smaps" | sort -rn >"$D/map"
med=$(sort -n "$D/rss" | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print int((a[NR/2]+a[NR/2+1])/2)}')
min=$(sort -n "$D/rss" | head -n1)
max=$(sort -n "$D/rss" | tail -n1)
verdict=FAIL
[ "$med" -lt "$TARGET_KB" ] && verdict=PASS
echo "autoshard-controller RSS, 1 ValkeyCluster (3 shards x 1 replica) Ready and idle, $SAMPLES samples 1 s apart:"
printf '  idle VmRSS median: %d kB (%.1f MiB); min %d kB, max %d kB\n' "$med" "$(echo "$med / 1024" | bc -l)" "$min" "$max"
printf '  peak VmHWM (since start, bootstrap included): %d kB (%.1f MiB)\n' "$hwm" "$(echo "$hwm / 1024" | bc -l)"
awk '/^Pss:/{p += $2} /^Private_(Clean|Dirty):/{u += $2} END {printf "  PSS %d kB, private (USS) %d kB: the rest of RSS is shared library pages\n", p, u}' \
	"/proc/$CTRL/smaps"
echo "  largest resident mappings (kB):"
head -n 8 "$D/map" | sed 's/^/    /'
printf '  target: idle RSS < %d kB (10 MB): %s\n' "$TARGET_KB" "$verdict"
