#!/bin/sh
# Proves the clone guard (persistent mode): a copy of a 3-instance cluster's
# data started with 2 or 4 instances is refused with exit code 3 and one
# message naming both counts and the override, no server starts and no data
# file changes; each override does what it says (adopt 3->2 keeps the two
# shards that are there and serves all slots, adopt 3->4 keeps every key,
# fresh starts an empty cluster); a same-count clone on new addresses keeps
# every key; a restart during a scale (a live peer knows the node) is let
# through; the parent's files are never touched.
. "$(dirname "$0")/lib.sh"

keys=3000
p="$T/parent"; LOCAL_DIRS="$LOCAL_DIRS $p"
"$AUTOSHARD" local up --dir "$p" --nodes 3 --mode persistent --base-ip 127.59.1 >/dev/null || fail "parent up"
$KV load 127.59.1.1:6379 $keys >/dev/null || fail "load"
# every instance records the shape once it sees the healthy cluster
k=0
until [ "$(grep -l '"instances": 3' "$p"/node-*/autoshard-topology.json 2>/dev/null | wc -l)" = 3 ]; do
	k=$((k + 1)); [ $k -lt 200 ] || fail "topology records not written"; sleep 0.1
done
"$AUTOSHARD" local down --dir "$p" >/dev/null
sums() { (cd "$1" && find . -path '*/node-*' \( -name nodes.conf -o -name 'appendonly*' -o -name dump.rdb -o -name autoshard-topology.json \) -type f | sort | xargs md5sum); }
sums "$p" > "$T/parent.sum"

# --- refusals: 3 -> 2 and 3 -> 4
for n in 2 4; do
	c="$T/clone$n"; LOCAL_DIRS="$LOCAL_DIRS $c"
	out=$("$AUTOSHARD" local clone --from "$p" --dir "$c" --nodes $n --base-ip 127.59.$((10 + n)) 2>&1) && rc=0 || rc=$?
	[ $rc = 3 ] || fail "clone 3->$n: exit $rc, want 3: $out"
	echo "$out" | grep -q "cluster of 3 instances" || fail "clone 3->$n: message lacks the recorded count: $out"
	echo "$out" | grep -q "reports $n instances" || fail "clone 3->$n: message lacks the current count: $out"
	echo "$out" | grep -q "AUTOSHARD_TOPOLOGY_MISMATCH=adopt" || fail "clone 3->$n: message lacks the way out: $out"
	[ "$(echo "$out" | grep -c 'clone guard')" = 1 ] || fail "clone 3->$n: want one guard line: $out"
	sums "$c" > "$T/c$n.before"
	out=$("$AUTOSHARD" local up --dir "$c" --nodes $n 2>&1) && rc=0 || rc=$?
	[ $rc = 3 ] || fail "up of refused clone 3->$n: exit $rc: $out"
	sums "$c" > "$T/c$n.after"
	cmp -s "$T/c$n.before" "$T/c$n.after" || fail "clone 3->$n: data files changed on refusal"
	# the copies are the parent's bytes
	[ -s "$T/c$n.after" ] && ! grep -F -x -v -f "$T/parent.sum" "$T/c$n.after" >/dev/null ||
		fail "clone 3->$n: copied files differ from the parent's"
	for i in $(seq 1 $n); do
		[ -f "$c/node-$i/server.pid" ] && kill -0 "$(cat "$c/node-$i/server.pid")" 2>/dev/null &&
			fail "clone 3->$n: a server started on refusal"
	done
	pass "clone 3->$n refused with exit 3, data untouched"
done

# --- overrides
AUTOSHARD_TOPOLOGY_MISMATCH=adopt "$AUTOSHARD" local up --dir "$T/clone2" --nodes 2 >/dev/null || fail "adopt 3->2"
wait_check() { k=0; until "$AUTOSHARD" check --seed "$1" >/dev/null 2>&1; do k=$((k + 1)); [ $k -lt 300 ] || fail "$1 not healthy"; sleep 0.1; done; }
wait_check 127.59.12.1:6379
# the lost shard's slots go to one master first; the sidecar then evens the
# masters out, and valkey-cli's check would see those moves as open slots
wait_balanced() {
	k=0; until balanced valkey-cli "$1" && "$AUTOSHARD" check --seed "$1:6379" >/dev/null 2>&1; do
		k=$((k + 1)); [ $k -lt 600 ] || fail "$2: not balanced, or slots still open"; sleep 0.1
	done
}
wait_balanced 127.59.12.1 "adopt 3->2"
cluster_check valkey-cli 127.59.12.1 2 0
got=$($KV count 127.59.12.1:6379 $keys) || fail "adopt 3->2: wrong values"
[ "$got" -gt $((keys / 2)) ] && [ "$got" -lt $keys ] || fail "adopt 3->2: $got of $keys keys; want the two shards that were there"
k=0
until grep -q '"adopt_pending": false' "$T/clone2/node-1/autoshard-topology.json" && grep -q '"instances": 2' "$T/clone2/node-1/autoshard-topology.json"; do
	k=$((k + 1)); [ $k -lt 200 ] || fail "adopt 3->2: record not rewritten"; sleep 0.1
done
pass "adopt 3->2: all slots served, $got of $keys keys kept (the missing shard's are gone, as chosen)"

AUTOSHARD_TOPOLOGY_MISMATCH=adopt "$AUTOSHARD" local up --dir "$T/clone4" --nodes 4 >/dev/null || fail "adopt 3->4"
wait_check 127.59.14.1:6379
wait_balanced 127.59.14.1 "adopt 3->4"
cluster_check valkey-cli 127.59.14.1 4 0
$KV verify 127.59.14.1:6379 $keys >/dev/null || fail "adopt 3->4 lost keys"
pass "adopt 3->4: every key kept, 4 masters"

c="$T/fresh"; LOCAL_DIRS="$LOCAL_DIRS $c"
AUTOSHARD_TOPOLOGY_MISMATCH=fresh "$AUTOSHARD" local clone --from "$p" --dir "$c" --nodes 2 --base-ip 127.59.20 >/dev/null || fail "fresh 3->2"
cluster_check valkey-cli 127.59.20.1 2 0
[ "$($KV count 127.59.20.1:6379 $keys)" = 0 ] || fail "fresh start kept keys"
pass "fresh 3->2: a new empty cluster"

c="$T/same"; LOCAL_DIRS="$LOCAL_DIRS $c"
"$AUTOSHARD" local clone --from "$p" --dir "$c" --nodes 3 --base-ip 127.59.21 >/dev/null || fail "same-count clone"
wait_check 127.59.21.1:6379
cluster_check valkey-cli 127.59.21.1 3 0
$KV verify 127.59.21.1:6379 $keys >/dev/null || fail "same-count clone lost keys"
pass "same-count clone on new addresses: every key"

# --- a restart during a scale is not a clone: the platform says 4, the record
# says 3, node 1's server is down, and nodes 2 and 3 still know node 1.
"$AUTOSHARD" local down --dir "$c" >/dev/null
"$AUTOSHARD" local up --dir "$c" --nodes 3 >/dev/null || fail "same-count clone restart"
kill "$(cat "$c/node-1/server.pid")"
k=0; while valkey-cli -h 127.59.21.1 ping >/dev/null 2>&1; do k=$((k + 1)); [ $k -lt 100 ] || fail "node 1 did not stop"; sleep 0.1; done
printf '127.59.21.1:6379\n127.59.21.2:6379\n127.59.21.3:6379\n127.59.21.4:6379\n' > "$T/four"
out=$("$SIDECAR" prestart --mode persistent --data-dir "$c/node-1" --peers-file "$T/four" --node 127.59.21.1:6379 2>&1) ||
	fail "restart during a scale refused: $out"
echo "$out" | grep -q "not a clone" || fail "restart during a scale: $out"
pass "a restart during a scale passes the guard"

(cd "$p" && md5sum -c --quiet "$T/parent.sum") || fail "the parent's files changed"
pass "parent data untouched"
