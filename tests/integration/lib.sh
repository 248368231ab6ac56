# Shared helpers for integration tests (sourced). Every test gives its
# instances their own 127.x addresses on port 6379, like pods, and cleans up
# every process it started on exit. Waits are bounded.
set -eu

: "${AUTOSHARD_BIN:?run through ctest (AUTOSHARD_BIN unset)}"
: "${AUTOSHARD_SRC:?run through ctest (AUTOSHARD_SRC unset)}"
AUTOSHARD="$AUTOSHARD_BIN/autoshard"
SIDECAR="$AUTOSHARD_BIN/autoshard-sidecar"
KV="/usr/bin/python3 $AUTOSHARD_SRC/tests/integration/kv.py"
T=$(mktemp -d /tmp/autoshard-test.XXXXXX)
RAW_PIDS=""
LOCAL_DIRS=""

cleanup() {
	rc=$?
	[ -z "${CLEANUP_HOOK:-}" ] || "$CLEANUP_HOOK" || true
	for d in $LOCAL_DIRS; do "$AUTOSHARD" local down --dir "$d" >/dev/null 2>&1 || true; done
	for p in $RAW_PIDS; do kill -9 "$p" 2>/dev/null || true; done
	if [ "$rc" != 0 ]; then
		echo "--- test failed (rc=$rc); logs under $T:" >&2
		# newest first: the step that failed wrote last
		for f in $(find "$T" \( -name '*.log' -o -name '*.out' \) -exec ls -t {} + 2>/dev/null | head -20); do
			echo "--- $f" >&2; tail -n 30 "$f" >&2
		done
		echo "--- test failed (rc=$rc)${FAIL_MSG:+: $FAIL_MSG}" >&2 # again, after the logs
	else
		rm -rf "$T"
	fi
	exit "$rc"
}
trap cleanup EXIT INT TERM

FAIL_MSG=""
fail() { FAIL_MSG=$*; echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok - $*"; }

cli_for() { case "$1" in redis-server) echo redis-cli ;; *) echo valkey-cli ;; esac; }

# start_raw SERVER BASE N [extra config lines...]: N plain servers in cluster
# mode at BASE.1..N:6379, no sidecar. Prints nothing.
start_raw() {
	local srv=$1 base=$2 n=$3 i d l; shift 3
	i=1
	while [ "$i" -le "$n" ]; do
		d="$T/raw-$base.$i"; mkdir -p "$d"
		{
			echo "bind $base.$i"; echo "bind-source-addr $base.$i"; echo "port 6379"; echo "protected-mode no"; echo "daemonize no"
			echo "cluster-enabled yes"; echo "cluster-config-file nodes.conf"; echo "cluster-node-timeout 2000"
			echo "dir $d"; echo 'save ""'; echo "appendonly no"; echo "logfile server.log"
			for l in "$@"; do echo "$l"; done
		} > "$d/server.conf"
		"$srv" "$d/server.conf" >"$d/server.out" 2>&1 &
		RAW_PIDS="$RAW_PIDS $!"
		i=$((i + 1))
	done
	i=1
	while [ "$i" -le "$n" ]; do
		wait_ping "$(cli_for "$srv")" "$base.$i"
		i=$((i + 1))
	done
}

# balanced CLI HOST: every master HOST knows owns a number of slots within one
# of every other's (what the reconciler keeps; which master holds the extra
# slot of an uneven split does not matter).
balanced() {
	$1 -h "$2" -p 6379 cluster nodes 2>/dev/null | awk '
		$3 ~ /master/ && $3 !~ /fail/ {
			n = 0
			for (i = 9; i <= NF; i++) {
				if ($i ~ /^\[/) continue
				split($i, r, "-"); n += (r[2] == "" ? 1 : r[2] - r[1] + 1)
			}
			if (!seen++ || n < mn) mn = n
			if (n > mx) mx = n
		}
		END { exit !(seen && mx - mn <= 1) }'
}

# shard_ids_agree NODES_CONF: every replica line carries its primary's
# shard-id (Valkey 8.0 refuses to load the file otherwise).
shard_ids_agree() {
	awk '{ sid = ""; n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] ~ /^shard-id=/) sid = substr(a[i], 10)
	       sh[$1] = sid; if ($3 ~ /slave/) rep[$1] = $4 }
	     END { for (r in rep) if (!(rep[r] in sh) || sh[r] != sh[rep[r]]) exit 1; exit 0 }' "$1"
}

# node_with_role ROLE BASE I...: the first I whose node BASE.I is a ROLE
# (master or slave) in its own CLUSTER NODES; prints nothing when none is.
node_with_role() {
	local role=$1 base=$2 i; shift 2
	for i in "$@"; do
		valkey-cli -h "$base.$i" cluster nodes 2>/dev/null | grep myself | grep -q "$role" && { echo "$i"; return 0; }
	done
	return 0
}

# kill9_wait PIDFILE: SIGKILL the process and wait (at most 10 s) until it is
# gone or a zombie. kill returns before the process has died; a supervisor
# (`local up`) asked right away still finds it alive and does not restart it.
kill9_wait() {
	local p k=0 st
	p=$(cat "$1")
	kill -9 "$p" 2>/dev/null || true
	while kill -0 "$p" 2>/dev/null; do
		st=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -c1)
		[ "$st" = Z ] && return 0
		k=$((k + 1)); [ "$k" -lt 200 ] || fail "pid $p (from $1) still alive 10 s after SIGKILL"
		sleep 0.05
	done
}

wait_ping() {
	local cli=$1 host=$2 k=0
	until $cli -h "$host" -p 6379 ${PW:+--no-auth-warning -a "$PW"} ping >/dev/null 2>&1; do
		k=$((k + 1)); [ "$k" -lt 200 ] || fail "server $host did not start"
		sleep 0.05
	done
}

members() { local base=$1 n=$2 i=1 out=""; while [ "$i" -le "$n" ]; do out="$out${out:+,}$base.$i:6379"; i=$((i + 1)); done; echo "$out"; }

# cluster_check CLI HOST MASTERS REPLICAS_TOTAL: valkey-cli --cluster check agrees.
cluster_check() {
	local cli=$1 host=$2 masters=$3 replicas=$4 out m s
	# valkey-cli has no timeouts of its own: a stalled node must fail the test, not hang it.
	out=$(timeout 120 $cli --cluster check "$host:6379" ${PW:+-a "$PW"} 2>/dev/null | sed "s/\x1b\[[0-9;]*m//g") || { echo "$out" >&2; fail "--cluster check failed"; }
	echo "$out" | grep -q "\[OK\] All 16384 slots covered" || { echo "$out" >&2; fail "not all slots covered"; }
	echo "$out" | grep -q "\[ERR\]\|\[WARNING\]" && { echo "$out" >&2; fail "valkey-cli reports errors or open slots"; }
	m=$(echo "$out" | grep -c '^M: ' || true)
	[ "$m" = "$masters" ] || { echo "$out" >&2; fail "expected $masters masters, got $m"; }
	s=$(echo "$out" | grep -c '^S: ' || true)
	[ "$s" = "$replicas" ] || { echo "$out" >&2; fail "expected $replicas replicas, got $s"; }
}

# wait_joined CLI BASE N: each of BASE.1..N knows exactly N nodes, all
# connected, none in handshake (add-node returns before the MEET completes, and
# a seed that has not met a node yet cannot report it).
wait_joined() {
	local cli=$1 base=$2 n=$3 k=0 i ok
	while :; do
		ok=0
		for i in $(seq 1 "$n"); do
			[ "$($cli -h "$base.$i" -p 6379 cluster nodes 2>/dev/null | grep -v handshake | grep -c ' connected')" = "$n" ] && ok=$((ok + 1))
		done
		[ "$ok" = "$n" ] && return 0
		k=$((k + 1))
		if [ "$k" -ge 300 ]; then
			for i in $(seq 1 "$n"); do echo "--- $base.$i:"; $cli -h "$base.$i" -p 6379 cluster nodes; done >&2
			fail "$base: the $n nodes did not all meet"
		fi
		sleep 0.1
	done
}

# add_empty_masters CLI BASE FIRST LAST: BASE.FIRST..LAST join the cluster of
# BASE.1 as empty masters (valkey-cli --cluster add-node), then every node of
# BASE.1..LAST knows all the others.
add_empty_masters() {
	local cli=$1 base=$2 first=$3 last=$4 i k
	for i in $(seq "$first" "$last"); do
		k=0
		until $cli --cluster add-node "$base.$i:6379" "$base.1:6379" >>"$T/add-$base.out" 2>&1; do
			# add-node refuses while the previous join is still gossiping
			[ "$($cli -h "$base.$i" -p 6379 cluster nodes | wc -l)" -gt 1 ] && break
			k=$((k + 1)); [ "$k" -lt 50 ] || fail "add-node $base.$i"
			sleep 0.2
		done
	done
	wait_joined "$cli" "$base" "$last"
}
