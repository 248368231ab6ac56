#!/bin/bash
# The ValkeyCluster CRD applies, and the API server itself rejects invalid
# specs with a message naming the field: shards 0, shards above 1000, a bad
# persistence mode enum, replicasPerShard above 5, a missing shards. A valid
# one is accepted with its defaults filled in, and the scale subresource maps
# spec.shards.
. "$(dirname "$0")/lib_ctrl.sh"
ctrl_up
pass "CRD valkeyclusters.autoshard.io established"

# reject SPEC EXPECTED-MESSAGE-PART
reject() {
	local out
	if out=$(kubectl apply -f - 2>&1 <<YAML
apiVersion: autoshard.io/v1alpha1
kind: ValkeyCluster
metadata: {name: bad}
spec: $1
YAML
	); then
		fail "spec $1 was accepted"
	fi
	echo "$out" | grep -qF -- "$2" || fail "spec $1: message does not say '$2': $out"
	pass "rejected $1: $(echo "$out" | head -n1)"
}
reject '{shards: 0}' 'spec.shards: Invalid value: 0: spec.shards in body should be greater than or equal to 1'
reject '{shards: 1001}' 'spec.shards: Invalid value: 1001'
reject '{shards: 3, persistence: {mode: bogus}}' 'spec.persistence.mode: Unsupported value: "bogus": supported values: "ephemeral", "persistent"'
reject '{shards: 3, replicasPerShard: 6}' 'spec.replicasPerShard: Invalid value: 6'
reject '{replicasPerShard: 1}' 'spec.shards: Required value'
reject '{shards: 3, topologyMismatch: maybe}' 'spec.topologyMismatch: Unsupported value: "maybe"'
reject '{shards: 3, config: {maxmemory: 5}}' 'spec.config.maxmemory: Invalid value: "integer"'
kubectl get valkeycluster bad >/dev/null 2>&1 && fail "a rejected object exists"

vc_apply good 3 1
[ "$(kubectl get valkeycluster good -o 'jsonpath={.spec.persistence.mode}/{.spec.topologyMismatch}')" = ephemeral/refuse ] ||
	fail "defaults not filled in"
pass "valid spec accepted; defaults persistence.mode=ephemeral, topologyMismatch=refuse"
kubectl scale valkeycluster/good --replicas=5 >/dev/null
[ "$(kubectl get valkeycluster good -o 'jsonpath={.spec.shards}')" = 5 ] || fail "kubectl scale did not set spec.shards"
kubectl get valkeycluster good | head -n1 | grep -q 'SHARDS *REPLICAS *READY *AGE' || fail "printer columns"
pass "kubectl scale sets spec.shards; printer columns Shards, Replicas, Ready, Age"
