#!/bin/sh
# Proves: scaling a local cluster up (3->5 masters) and down (5->3), and with
# replicas (6->8->4 instances, 1 replica each) moves slots with their keys:
# every key written before reads back with its value after each step, the
# cluster is healthy and leaving nodes are forgotten. Both servers.
. "$(dirname "$0")/lib.sh"

run_case() {
	srv=$1 base=$2 n0=$3 n1=$4 n2=$5 r=$6 keys=20000
	d="$T/$srv-scale-$r"; LOCAL_DIRS="$LOCAL_DIRS $d"
	cli=$(cli_for "$srv")
	"$AUTOSHARD" local up --dir "$d" --nodes "$n0" --replicas "$r" --server "$srv" --base-ip "$base" >/dev/null || fail "up"
	$KV load "$base.1:6379" $keys >/dev/null || fail "load"
	"$AUTOSHARD" local scale --dir "$d" --nodes "$n1" >/dev/null || fail "scale $n0->$n1"
	cluster_check "$cli" "$base.1" $((n1 / (r + 1))) $((n1 - n1 / (r + 1)))
	$KV verify "$base.1:6379" $keys || fail "keys lost after scale up $n0->$n1"
	for i in $(seq 1 "$n1"); do
		sl=$($cli -h "$base.$i" -p 6379 cluster nodes | grep myself | grep -c master || true)
		[ "$sl" = 0 ] && continue
		c=$($cli -h "$base.$i" -p 6379 cluster nodes | grep myself | awk '{print NF}')
		[ "$c" -gt 8 ] || fail "master $base.$i has no slots after scale up"
	done
	"$AUTOSHARD" local scale --dir "$d" --nodes "$n2" >/dev/null || fail "scale $n1->$n2"
	cluster_check "$cli" "$base.1" $((n2 / (r + 1))) $((n2 - n2 / (r + 1)))
	$KV verify "$base.1:6379" $keys || fail "keys lost after scale down $n1->$n2"
	known=$($cli -h "$base.1" -p 6379 cluster nodes | wc -l)
	[ "$known" = "$n2" ] || fail "node 1 still knows $known nodes, want $n2"
	[ ! -e "$d/node-$n1/server.pid" ] || fail "leaving node $n1 still running"
	"$AUTOSHARD" local down --dir "$d" >/dev/null
	pass "$srv: $n0 -> $n1 -> $n2 instances ($r replicas per master), $keys keys intact"
}

run_case valkey-server 127.52.1 3 5 3 0
run_case redis-server 127.52.2 3 5 3 0
run_case valkey-server 127.52.3 6 8 4 1
