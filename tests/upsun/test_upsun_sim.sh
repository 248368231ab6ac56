#!/bin/sh
# Proves, on a simulated Upsun environment (peers.json, PLATFORM_* variables,
# instances on their own addresses, start/post_start/deploy in Upsun's order):
# - autoshard-sidecar supervise forms a cluster from peers.json alone;
# - scaling 3 -> 6 -> 3 by rewriting peers.json (one elected instance moves
#   slots with their keys) loses no key;
# - cloning the environment with another instance count is refused by every
#   instance that holds data (exit 3), with the data files untouched, and a
#   clone with the same count comes up with every key.
. "$AUTOSHARD_SRC/tests/integration/lib.sh"
. "$AUTOSHARD_SRC/tests/upsun/sim.sh"

keys=5000
A="$T/main"; base=127.64.1
peers_write "$A" $base 3
for n in 0 1 2; do start_instance "$A" $base $n persistent; done
for n in 0 1 2; do post_start "$A" $base $n persistent || fail "post_start of instance $n"; done
deploy_hook "$A" $base persistent || fail "deploy hook"
cluster_check valkey-cli $base.1 3 0
$KV load $base.1:6379 $keys >/dev/null || fail "load"
pass "3 instances from peers.json: healthy cluster"

wait_shape() { # BASE N: N masters, balanced, every node knows exactly N nodes
	local k=0
	until "$AUTOSHARD" check --seed "$1.1:6379" >/dev/null 2>&1 &&
		[ "$(valkey-cli -h "$1.1" cluster nodes | grep -c master)" = "$2" ] &&
		balanced valkey-cli "$1.1"; do
		k=$((k + 1)); [ $k -lt 600 ] || fail "cluster did not reach $2 balanced masters"; sleep 0.2
	done
}

peers_write "$A" $base 6
for n in 3 4 5; do start_instance "$A" $base $n persistent; done
for n in 3 4 5; do post_start "$A" $base $n persistent || fail "post_start of instance $n"; done
wait_shape $base 6
cluster_check valkey-cli $base.1 6 0
$KV verify $base.1:6379 $keys >/dev/null || fail "keys lost scaling 3 -> 6"
leaders=$(grep -l "elected: reconciling" "$A"/i*/start.log | wc -l)
[ "$leaders" = 1 ] || fail "$leaders instances reconciled; want one elected instance"
pass "scaled 3 -> 6 by peers.json: 6 balanced masters, $keys keys"

peers_write "$A" $base 3
k=0
until [ "$(valkey-cli -h $base.1 cluster nodes | wc -l)" = 3 ] && "$AUTOSHARD" check --seed $base.1:6379 >/dev/null 2>&1; do
	k=$((k + 1)); [ $k -lt 600 ] || fail "leaving instances not drained and forgotten"; sleep 0.2
done
for n in 3 4 5; do stop_instance "$A" $n; done
cluster_check valkey-cli $base.1 3 0
$KV verify $base.1:6379 $keys >/dev/null || fail "keys lost scaling 6 -> 3"
pass "scaled 6 -> 3 by peers.json: drained, forgotten, then stopped; $keys keys"

# the records settle on 3 instances, then the environment is branched
k=0
until [ "$(grep -l '"instances": 3' "$A"/i[012]/data/autoshard-topology.json 2>/dev/null | wc -l)" = 3 ]; do
	k=$((k + 1)); [ $k -lt 200 ] || fail "topology records not at 3 instances"; sleep 0.1
done
for n in 0 1 2; do stop_instance "$A" $n; done
data_sums "$A" >"$T/main.sum"

clone_env() { # FROM TO BASE N: the child environment's instances get the parent's instance mounts
	local n
	for n in $(seq 0 $(($4 - 1))); do
		mkdir -p "$2/i$n"
		[ -d "$1/i$n/data" ] && cp -a "$1/i$n/data" "$2/i$n/data"
	done
	peers_write "$2" "$3" "$4"
}

B="$T/preview-2"; clone_env "$A" "$B" 127.64.2 2
data_sums "$B" >"$T/b.before"
for n in 0 1; do start_instance "$B" 127.64.2 $n persistent; done
for n in 0 1; do
	k=0; until [ -s "$B/i$n/exits" ]; do k=$((k + 1)); [ $k -lt 300 ] || fail "preview-2 instance $n did not stop"; sleep 0.1; done
	[ "$(cat "$B/i$n/exits")" = 3 ] || fail "preview-2 instance $n exited $(cat "$B/i$n/exits"), want 3"
done
grep -q "cluster of 3 instances.*reports 2 instances.*AUTOSHARD_TOPOLOGY_MISMATCH=adopt" "$B/i0/start.log" ||
	fail "refusal message: $(tail -1 "$B/i0/start.log")"
data_sums "$B" >"$T/b.after"
cmp -s "$T/b.before" "$T/b.after" || fail "preview-2: data changed on refusal"
pass "branch with 2 instances refused by both (exit 3), data untouched"

C="$T/preview-3"; clone_env "$A" "$C" 127.64.3 3
for n in 0 1 2; do start_instance "$C" 127.64.3 $n persistent; done
for n in 0 1 2; do post_start "$C" 127.64.3 $n persistent || fail "preview-3 post_start $n"; done
cluster_check valkey-cli 127.64.3.1 3 0
$KV verify 127.64.3.1:6379 $keys >/dev/null || fail "preview-3 lost keys"
for n in 0 1 2; do stop_instance "$C" $n; done
data_sums "$A" | cmp -s - "$T/main.sum" || fail "the parent's data changed"
pass "branch with the same count: every key, parent untouched"
