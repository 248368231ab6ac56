#!/bin/sh
# Proves: a short sidecar run (elected: bootstrap of a 3-node cluster, then
# its steady loop and the topology record in persistent mode) and a prestart
# have no memory error and no leak under valgrind --leak-check=full, and the
# sidecar exits 0 on SIGTERM.
. "$(dirname "$0")/lib.sh"

base=127.69.1
start_raw valkey-server $base 3
vg="valgrind -q --suppressions=$AUTOSHARD_SRC/tests/valgrind.supp --leak-check=full --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99"
mkdir -p "$T/data"
$vg "$SIDECAR" prestart --mode persistent --data-dir "$T/data" --peers "$(members $base 3)" --node $base.1:6379 \
	>"$T/prestart.log" 2>&1 || { cat "$T/prestart.log" >&2; fail "prestart under valgrind"; }
$vg "$SIDECAR" run --node $base.1:6379 --peers "$(members $base 3)" --mode persistent --data-dir "$T/data" \
	--interval-ms 100 >"$T/sidecar.log" 2>&1 &
pid=$!
k=0
until [ -s "$T/data/autoshard-topology.json" ]; do
	k=$((k + 1)); [ $k -lt 600 ] || fail "no healthy cluster and record under valgrind"; sleep 0.1
done
cluster_check valkey-cli $base.1 3 0
sleep 2
kill -TERM $pid
rc=0; wait $pid || rc=$?
[ $rc = 0 ] || { tail -40 "$T/sidecar.log" >&2; fail "sidecar under valgrind exited $rc (99: valgrind found errors)"; }
grep -q "==[0-9]*==" "$T/sidecar.log" && { grep "==" "$T/sidecar.log" | head -30 >&2; fail "valgrind reports"; }
pass "sidecar bootstrap + steady loop + record: no leak, no memory error under valgrind"
