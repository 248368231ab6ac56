#!/bin/sh
# Proves: `autoshard check` exits 1 and names each problem on its own line for
# an open slot and for an uncovered slot, exits 0 on a healthy cluster, and
# `status` lists masters with slot ranges and key counts.
. "$(dirname "$0")/lib.sh"

base=127.54.1
d="$T/c"; LOCAL_DIRS="$LOCAL_DIRS $d"
"$AUTOSHARD" local up --dir "$d" --nodes 3 --mode persistent --base-ip $base >/dev/null || fail "up"
# What is checked here is `check`: the sidecars' reconciler would repair the
# problems made below (it finishes open slots and gives a slot that views
# still name back to that owner), at times before `check` runs.
for i in 1 2 3; do kill -9 "$(cat "$d/node-$i/sidecar.pid")"; done
"$AUTOSHARD" check --seed $base.1:6379 >/dev/null || fail "healthy cluster not ok"
st=$("$AUTOSHARD" status --seed $base.1:6379) || fail "status"
[ "$(echo "$st" | grep -c '^master ')" = 3 ] || fail "status: want 3 masters: $st"
echo "$st" | grep -q "\[0-5460\]" || fail "status: no range 0-5460: $st"

id2=$(valkey-cli -h $base.2 cluster myid)
valkey-cli -h $base.1 cluster setslot 100 migrating "$id2" >/dev/null
out=$("$AUTOSHARD" check --seed $base.1:6379) && fail "check exit 0 with an open slot"
echo "$out" | grep -q "slot 100" || fail "open slot not reported: $out"
valkey-cli -h $base.1 cluster setslot 100 stable >/dev/null
pass "open slot reported"

for i in 1 2 3; do valkey-cli -h $base.$i cluster delslots 200 201 202 >/dev/null; done
out=$("$AUTOSHARD" check --seed $base.1:6379) && fail "check exit 0 with uncovered slots"
echo "$out" | grep -q "200-202" || fail "uncovered slots not reported: $out"
pass "uncovered slots reported"
valkey-cli -h $base.1 cluster addslots 200 201 202 >/dev/null
k=0; until "$AUTOSHARD" check --seed $base.1:6379 >/dev/null; do k=$((k+1)); [ $k -lt 100 ] || fail "not healthy again"; sleep 0.1; done
pass "healthy again after repair"
