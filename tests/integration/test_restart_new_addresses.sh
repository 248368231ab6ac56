#!/bin/sh
# Proves: a persistent cluster whose instances all stop and come back on new
# addresses (every pod IP changed) finds itself again by node id: same node
# ids, healthy with its masters and replicas, every key there, nothing reset.
# Both servers.
. "$(dirname "$0")/lib.sh"

run_case() {
	srv=$1 from=$2 to=$3 keys=5000
	cli=$(cli_for $srv)
	d="$T/$srv"; LOCAL_DIRS="$LOCAL_DIRS $d"
	"$AUTOSHARD" local up --dir "$d" --nodes 6 --replicas 1 --mode persistent --server $srv --base-ip $from >/dev/null || fail "$srv: up"
	$KV load $from.1:6379 $keys >/dev/null || fail "$srv: load"
	ids=$(for i in 1 2 3 4 5 6; do $cli -h $from.$i cluster myid; done | sort)
	"$AUTOSHARD" local down --dir "$d" >/dev/null
	out=$("$AUTOSHARD" local up --dir "$d" --nodes 6 --base-ip $to 2>&1) || { echo "$out" >&2; fail "$srv: restart on $to.*"; }
	cluster_check $cli $to.1 3 3
	ids2=$(for i in 1 2 3 4 5 6; do $cli -h $to.$i cluster myid; done | sort)
	[ "$ids" = "$ids2" ] || fail "$srv: node ids changed across the restart (a node was reset)"
	$KV verify $to.1:6379 $keys >/dev/null || fail "$srv: keys lost across the restart on new addresses"
	for i in 1 2 3 4 5 6; do
		$cli -h $to.1 cluster nodes | grep -q " $from\." && fail "$srv: old addresses still listed"
	done
	grep -h "re-meeting at its new address" "$d"/node-*/sidecar.log >/dev/null || fail "$srv: no re-MEET by id seen"
	"$AUTOSHARD" local down --dir "$d" >/dev/null
	pass "$srv: 6 instances restarted on new addresses: same ids, 3 masters + 3 replicas, $keys keys"
}

run_case valkey-server 127.61.1 127.61.2
run_case redis-server 127.61.3 127.61.4
