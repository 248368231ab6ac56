#!/bin/sh
# Bootstrap 6 fresh instances (3 masters + 3 replicas) to healthy
# (cluster_state:ok on every node, every node knows all 6): autoshard bootstrap
# against valkey-cli --cluster create, same machine, same run, several rounds.
# Servers are started >2.5 s before timing so Valkey's post-start writable
# delay does not count against either tool. Both tools wait for the same
# thing at the end: a master that owned no slot counts itself in a minority,
# so its first cluster_state:ok comes min(cluster-node-timeout, 5 s) after
# its slots arrive (Valkey's rejoin delay). NODE_TIMEOUT (default 2000 ms)
# is set the same for both; the figure is printed.
. "$(dirname "$0")/bench_lib.sh"
ROUNDS=${ROUNDS:-5}
: > "$T/vc"; : > "$T/as"
for r in $(seq 1 "$ROUNDS"); do
	base=127.90.$r
	start_servers $base 6; sleep 2.5
	m=""; for i in 1 2 3 4 5 6; do m="$m $base.$i:6379"; done
	t0=$(now)
	valkey-cli --cluster create $m --cluster-replicas 1 --cluster-yes >/dev/null 2>&1
	wait_state_ok $base 6
	t1=$(now); echo "$t1 - $t0" | bc >> "$T/vc"; stop_servers

	base=127.91.$r
	start_servers $base 6; sleep 2.5
	t0=$(now)
	"$A" bootstrap --members "$(echo $m | sed "s/127.90.$r/$base/g; s/ /,/g")" --replicas 1 >/dev/null 2>&1
	wait_state_ok $base 6
	t1=$(now); echo "$t1 - $t0" | bc >> "$T/as"; stop_servers
done
vc=$(median < "$T/vc"); as=$(median < "$T/as")
echo "bootstrap 6 instances (3 masters + 3 replicas) to healthy, cluster-node-timeout ${NODE_TIMEOUT:-2000} ms, median of $ROUNDS rounds:"
printf "  valkey-cli --cluster create:  %.3f s  (rounds: %s)\n" "$vc" "$(tr '\n' ' ' < "$T/vc")"
printf "  autoshard bootstrap:          %.3f s  (rounds: %s)\n" "$as" "$(tr '\n' ' ' < "$T/as")"
printf "  ratio: autoshard is %.1fx faster\n" "$(echo "$vc / $as" | bc -l)"
