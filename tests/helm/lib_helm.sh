#!/bin/bash
# Shared by tests/helm/test_*.sh: the chart, helm/kubectl of the pinned versions
# (tests/k8s/k8s-env.sh bin), a control plane of our own, and small YAML checks.
# Every wait is a bounded loop. Source it; it sets an EXIT trap.
set -euo pipefail

SRC=${AUTOSHARD_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BIN=${AUTOSHARD_BIN:-$SRC/build}
ENV=$SRC/tests/k8s/k8s-env.sh
CHART=$SRC/charts/autoshard
PY=/usr/bin/python3
D=$(mktemp -d /tmp/autoshard-helm.XXXXXX)
rmdir "$D" # `up` creates it
W=$(mktemp -d /tmp/autoshard-helm-work.XXXXXX)

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok - $*"; }

helm_cleanup() {
	local rc=$? f
	if [ "$rc" != 0 ] && [ -d "$D" ]; then
		echo "--- test failed (rc=$rc); state under $D" >&2
		kubectl get valkeyclusters,deployments,statefulsets,pods -A -o wide >&2 2>/dev/null || true
		kubectl get valkeyclusters -A -o yaml 2>/dev/null | sed -n '/^  status:/,/^[^ ]/p' >&2 || true
		kubectl get events -A --field-selector type=Warning 2>/dev/null | tail -n 20 >&2 || true
		for f in "$D"/podrunner/logs/*.log "$D"/logs/podrunner.log; do
			[ -e "$f" ] || continue
			echo "--- $f" >&2
			tail -n 30 "$f" >&2
		done
	fi
	"$ENV" down "$D" >/dev/null 2>&1 || true
	rm -rf "$W"
	exit "$rc"
}
trap helm_cleanup EXIT INT TERM

# The pinned helm and kubectl, also before `up`.
PATH=$("$ENV" bin):$PATH
export PATH
command -v helm >/dev/null || fail "no helm in $("$ENV" bin) (run tests/k8s/k8s-env.sh build)"

# yq_py FILE EXPR: evaluate a Python expression over the YAML documents of FILE
# (`docs`, a list of dicts; `kind(k)` the documents of kind k); print the result.
yq_py() {
	"$PY" - "$1" "$2" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
def kind(k):
    return [d for d in docs if d.get("kind") == k]
r = eval(sys.argv[2])
print(r if not isinstance(r, bool) else str(r).lower())
PY
}
