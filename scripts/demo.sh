#!/bin/sh
# The local demo behind `make run`: six real valkey-server instances on their
# own 127.x addresses (3 masters + 3 replicas), 20k keys written through a
# real cluster client, scaled to 8 instances (4 masters) with the keys moved,
# checked by autoshard and by valkey-cli. The cluster stays up afterwards.
set -eu
BUILD=${1:-build}
BIN=$(cd "$BUILD" && pwd)
DIR=${AUTOSHARD_DEMO_DIR:-/tmp/autoshard-demo}
A="$BIN/autoshard"

"$A" local down --dir "$DIR" >/dev/null 2>&1 || true
rm -rf "$DIR"
echo "== autoshard local up --dir $DIR --nodes 6 --replicas 1"
out=$("$A" local up --dir "$DIR" --nodes 6 --replicas 1)
echo "$out"
seed=$(echo "$out" | sed -n 's/^seed //p')
echo "== writing 20000 keys through a cluster client (python3-redis RedisCluster)"
/usr/bin/python3 "$(dirname "$0")/../tests/integration/kv.py" load "$seed" 20000
"$A" status --seed "$seed"
echo "== autoshard local scale --dir $DIR --nodes 8   (a 4th master with a replica; slots move with their keys)"
"$A" local scale --dir "$DIR" --nodes 8
"$A" status --seed "$seed"
/usr/bin/python3 "$(dirname "$0")/../tests/integration/kv.py" verify "$seed" 20000
echo "== autoshard check --seed $seed"
"$A" check --seed "$seed"
echo "== valkey-cli --cluster check $seed"
valkey-cli --cluster check "$seed" | sed "s/\x1b\[[0-9;]*m//g" | tail -n 4
echo
echo "The cluster is still running. Try: valkey-cli -c -h ${seed%:*} get k:42"
echo "Stop it with: $A local down --dir $DIR"
