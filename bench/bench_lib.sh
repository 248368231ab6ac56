# Shared by benchmarks (sourced): raw servers on 127.x, timing, medians.
set -eu
BIN=$(cd "${1:-build}" && pwd)
A="$BIN/autoshard"
T=$(mktemp -d /tmp/autoshard-bench.XXXXXX)
PIDS=""
cleanup() { for p in $PIDS; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT INT TERM

# start_servers BASE N: fresh valkey-server cluster-mode instances at BASE.1..N:6379
start_servers() {
	base=$1 n=$2
	for i in $(seq 1 "$n"); do
		d="$T/$base.$i"; rm -rf "$d"; mkdir -p "$d"
		valkey-server --bind "$base.$i" --bind-source-addr "$base.$i" --port 6379 --cluster-enabled yes --cluster-config-file nodes.conf \
			--cluster-node-timeout "${NODE_TIMEOUT:-2000}" --dir "$d" --save '' --appendonly no --protected-mode no \
			--logfile server.log --daemonize no >/dev/null 2>&1 &
		PIDS="$PIDS $!"
	done
	for i in $(seq 1 "$n"); do
		k=0; until valkey-cli -h "$base.$i" ping >/dev/null 2>&1; do k=$((k+1)); [ $k -lt 200 ] || exit 1; sleep 0.05; done
	done
}
stop_servers() { for p in $PIDS; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; PIDS=""; }

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
# wait_state_ok BASE N: every node reports cluster_state:ok and knows all N nodes
wait_state_ok() {
	base=$1 n=$2; k=0
	while :; do
		ok=0
		for i in $(seq 1 "$n"); do
			valkey-cli -h "$base.$i" cluster info 2>/dev/null | grep -q "cluster_state:ok" &&
			[ "$(valkey-cli -h "$base.$i" cluster nodes | grep -vc handshake)" = "$n" ] && ok=$((ok+1))
		done
		[ "$ok" = "$n" ] && return 0
		k=$((k+1)); [ $k -lt 3000 ] || return 1
		sleep 0.01
	done
}
