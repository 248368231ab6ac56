#!/bin/sh
# Proves: `autoshard local up` forms healthy clusters of 3, 6 (1 replica each)
# and 12 instances with valkey-server 8 and redis-server 7, that valkey-cli
# --cluster check agrees (all slots covered, no open slots, master/replica
# counts), and that `autoshard check` exits 0 on them.
. "$(dirname "$0")/lib.sh"

run_case() {
	srv=$1 n=$2 r=$3 base=$4 masters=$5
	d="$T/$srv-$n-$r"; LOCAL_DIRS="$LOCAL_DIRS $d"
	out=$("$AUTOSHARD" local up --dir "$d" --nodes "$n" --replicas "$r" --server "$srv" --base-ip "$base") ||
		fail "local up $srv n=$n r=$r"
	echo "$out" | grep -q "^seed $base.1:6379$" || fail "no seed line in: $out"
	cluster_check "$(cli_for "$srv")" "$base.1" "$masters" $((n - masters))
	"$AUTOSHARD" check --seed "$base.1:6379" --masters "$masters" >/dev/null || fail "autoshard check on $srv n=$n"
	"$AUTOSHARD" local down --dir "$d" >/dev/null
	pass "$srv: $n instances, $r replicas per master: healthy, $masters masters"
}

run_case valkey-server 3 0 127.51.1 3
run_case valkey-server 6 1 127.51.2 3
run_case valkey-server 12 0 127.51.3 12
run_case redis-server 3 0 127.51.4 3
run_case redis-server 6 1 127.51.5 3
run_case redis-server 12 0 127.51.6 12
