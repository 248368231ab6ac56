#!/bin/sh
# Rebalance with keys: valkey-cli --cluster against autoshard, same machine,
# same run, ROUNDS (default 3) rounds, each tool on its own identical fresh
# copy of the cluster:
#
#   6 fresh valkey-server instances; 3 made masters (autoshard bootstrap,
#   untimed); KEYS (default 1M) keys of 100 bytes loaded with valkey-cli
#   --pipe, one RESP stream per master holding only the keys of its slots
#   (CRC16 as CLUSTER KEYSLOT); the other 3 join as empty masters (CLUSTER
#   MEET; every server has bind-source-addr).
#
#   scale-up 3 -> 6:  valkey-cli --cluster rebalance H:P --cluster-use-empty-primaries
#                 vs  autoshard rebalance --seed H:P --use-empty-masters
#   drain 6 -> 3:     valkey-cli --cluster rebalance H:P --cluster-weight ID=0 ...
#                     + valkey-cli --cluster del-node H:P ID for each
#                 vs  autoshard rebalance --seed H:P --drain H:P ... --remove
#                     (forgets the drained nodes everywhere, resets them)
#
# After each step: all 16384 slots covered, no open slot, the expected
# masters own slots, DBSIZE summed over the masters is KEYS. Reports medians,
# ratios and autoshard's peak RSS (/usr/bin/time -v).
# Usage: bench/rebalance.sh [BUILD_DIR]   Env: ROUNDS, KEYS.
. "$(dirname "$0")/bench_lib.sh"
ROUNDS=${ROUNDS:-3}
KEYS=${KEYS:-1000000}
PY=/usr/bin/python3
for f in vc_up as_up vc_down as_down rss_up rss_down; do : > "$T/$f"; done

die() { echo "bench/rebalance.sh: $*" >&2; exit 1; }

# ranges HOST: the slot ranges the node owns ("0-5460 ..."), by its own view.
ranges() { valkey-cli -h "$1" cluster nodes | awk '/myself/ { for (i = 9; i <= NF; i++) if ($i !~ /^\[/) printf "%s ", $i }'; }

# gen_streams BASE: $T/pipe.1..3, a RESP stream of SETs per master holding the
# keys of its slots, for the slot layout of BASE.1..3 (generated once; every
# copy is bootstrapped the same way, checked here).
gen_streams() {
	layout="$(ranges "$1.1")|$(ranges "$1.2")|$(ranges "$1.3")"
	if [ -f "$T/layout" ]; then
		[ "$(cat "$T/layout")" = "$layout" ] || die "copy $1 has another slot layout: $layout"
		return 0
	fi
	echo "$layout" > "$T/layout"
	$PY - "$T" "$KEYS" "$layout" <<'PY'
import binascii, sys
out, n, layout = sys.argv[1], int(sys.argv[2]), sys.argv[3]
owner = bytearray(16384)
for m, rs in enumerate(layout.split("|"), 1):
    for r in rs.split():
        lo, _, hi = r.partition("-")
        for s in range(int(lo), int(hi or lo) + 1):
            owner[s] = m
if 0 in owner:
    sys.exit("slot layout does not cover every slot")
bufs = {1: [], 2: [], 3: []}
for i in range(n):
    k = b"key:%d" % i
    v = (b"v%d:" % i).ljust(100, b"x")
    bufs[owner[binascii.crc_hqx(k, 0) & 16383]].append(
        b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$100\r\n%s\r\n" % (len(k), k, v))
for m, b in bufs.items():
    with open("%s/pipe.%d" % (out, m), "wb") as f:
        f.write(b"".join(b))
PY
}

# dbsize_masters BASE: DBSIZE summed over the masters that own slots.
dbsize_masters() {
	s=0
	for i in 1 2 3 4 5 6; do
		valkey-cli -h "$1.$i" ping >/dev/null 2>&1 || continue
		[ -n "$(ranges "$1.$i")" ] || continue
		valkey-cli -h "$1.$i" role | head -1 | grep -q master || continue
		s=$((s + $(valkey-cli -h "$1.$i" dbsize)))
	done
	echo "$s"
}

# verify BASE MASTERS WHAT: --cluster check clean (bounded retry while gossip
# settles), MASTERS masters own slots, DBSIZE sum is KEYS.
verify() {
	base=$1 want=$2 what=$3 k=0
	while :; do
		out=$(valkey-cli --cluster check "$base.1:6379" 2>&1 | sed "s/\x1b\[[0-9;]*m//g" || true)
		if echo "$out" | grep -q "\[OK\] All 16384 slots covered" && ! echo "$out" | grep -q "\[ERR\]\|\[WARNING\]"; then
			break
		fi
		k=$((k + 1)); [ $k -lt 100 ] || { echo "$out" >&2; die "$what: cluster check not clean"; }
		sleep 0.1
	done
	m=$(echo "$out" | grep -A1 '^M: ' | grep -c 'slots:\[[0-9]' || true)
	[ "$m" = "$want" ] || { echo "$out" >&2; die "$what: $m masters own slots, want $want"; }
	n=$(dbsize_masters "$base")
	[ "$n" = "$KEYS" ] || die "$what: DBSIZE sum over masters is $n, want $KEYS"
}

# prepare BASE: the starting cluster (3 masters with KEYS keys, 3 empty
# masters, every node knows all six, cluster_state:ok).
prepare() {
	base=$1
	start_servers "$base" 6
	"$A" bootstrap --members "$base.1:6379,$base.2:6379,$base.3:6379" >"$T/bootstrap.log" 2>&1 || die "bootstrap $base"
	wait_state_ok "$base" 3 || die "$base: 3 masters not ok"
	gen_streams "$base"
	pp=""
	for i in 1 2 3; do
		valkey-cli -h "$base.$i" --pipe < "$T/pipe.$i" > "$T/pipe-$i.log" 2>&1 &
		pp="$pp $!"
	done
	for p in $pp; do wait "$p" || true; done # (not bare wait: the servers are children too)
	for i in 1 2 3; do grep -q "errors: 0," "$T/pipe-$i.log" || die "$base.$i: --pipe: $(tail -2 "$T/pipe-$i.log")"; done
	[ "$(dbsize_masters "$base")" = "$KEYS" ] || die "$base: loaded $(dbsize_masters "$base") keys, want $KEYS"
	# A master that loses its last slot must stay a master: with replica
	# migration on it turns into a replica mid-run and valkey-cli --cluster
	# rebalance fails ("ERR Please use SETSLOT only with masters"). Same for both tools.
	for i in 1 2 3 4 5 6; do valkey-cli -h "$base.$i" config set cluster-allow-replica-migration no >/dev/null; done
	for i in 4 5 6; do valkey-cli -h "$base.1" cluster meet "$base.$i" 6379 >/dev/null; done
	wait_state_ok "$base" 6 || die "$base: 6 nodes not ok after MEET"
	verify "$base" 3 "$base before"
}

elapsed() { echo "$2 - $1" | bc; }
maxrss_mb() { awk -F: '/Maximum resident set size/ { printf "%.1f\n", $2 / 1024 }' "$1"; }

run_valkey_cli() {
	base=$1
	prepare "$base"
	t0=$(now)
	valkey-cli --cluster rebalance "$base.1:6379" --cluster-use-empty-primaries >"$T/vc-up.log" 2>&1 || die "valkey-cli rebalance: $(tail -3 "$T/vc-up.log")"
	t1=$(now)
	elapsed "$t0" "$t1" >> "$T/vc_up"
	verify "$base" 6 "valkey-cli scale-up"
	ids=""
	for i in 4 5 6; do ids="$ids $(valkey-cli -h "$base.$i" cluster myid)"; done
	w=""; for id in $ids; do w="$w $id=0"; done
	t0=$(now)
	# shellcheck disable=SC2086
	valkey-cli --cluster rebalance "$base.1:6379" --cluster-weight $w >"$T/vc-down.log" 2>&1 || die "valkey-cli drain: $(tail -3 "$T/vc-down.log")"
	for id in $ids; do
		valkey-cli --cluster del-node "$base.1:6379" "$id" >>"$T/vc-del.log" 2>&1 || die "valkey-cli del-node $id: $(tail -3 "$T/vc-del.log")"
	done
	t1=$(now)
	elapsed "$t0" "$t1" >> "$T/vc_down"
	verify "$base" 3 "valkey-cli drain"
	[ "$(valkey-cli -h "$base.1" cluster nodes | wc -l)" = 3 ] || die "valkey-cli drain: $base.1 still knows removed nodes"
	stop_servers
}

run_autoshard() {
	base=$1
	prepare "$base"
	t0=$(now)
	/usr/bin/time -v -o "$T/as-up.time" "$A" rebalance --seed "$base.1:6379" --use-empty-masters >"$T/as-up.log" 2>&1 || die "autoshard rebalance: $(tail -3 "$T/as-up.log")"
	t1=$(now)
	elapsed "$t0" "$t1" >> "$T/as_up"
	maxrss_mb "$T/as-up.time" >> "$T/rss_up"
	verify "$base" 6 "autoshard scale-up"
	t0=$(now)
	/usr/bin/time -v -o "$T/as-down.time" "$A" rebalance --seed "$base.1:6379" \
		--drain "$base.4:6379" --drain "$base.5:6379" --drain "$base.6:6379" --remove >"$T/as-down.log" 2>&1 ||
		die "autoshard drain: $(tail -3 "$T/as-down.log")"
	t1=$(now)
	elapsed "$t0" "$t1" >> "$T/as_down"
	maxrss_mb "$T/as-down.time" >> "$T/rss_down"
	verify "$base" 3 "autoshard drain"
	[ "$(valkey-cli -h "$base.1" cluster nodes | wc -l)" = 3 ] || die "autoshard drain: $base.1 still knows removed nodes"
	stop_servers
}

for r in $(seq 1 "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then
		run_valkey_cli 127.92.$r; run_autoshard 127.93.$r
	else
		run_autoshard 127.93.$r; run_valkey_cli 127.92.$r
	fi
	printf "round %d: valkey-cli up %.3f s, drain %.3f s; autoshard up %.3f s, drain %.3f s (%s / %s)\n" "$r" \
		"$(tail -1 "$T/vc_up")" "$(tail -1 "$T/vc_down")" "$(tail -1 "$T/as_up")" "$(tail -1 "$T/as_down")" \
		"$(grep '^moved' "$T/as-up.log" | tail -1)" "$(grep '^moved' "$T/as-down.log" | tail -1)"
done

vu=$(median < "$T/vc_up"); au=$(median < "$T/as_up")
vd=$(median < "$T/vc_down"); ad=$(median < "$T/as_down")
ru=$(median < "$T/rss_up"); rd=$(median < "$T/rss_down")
rmax=$(cat "$T/rss_up" "$T/rss_down" | sort -n | tail -1)
rounds() { awk '{ printf "%s%.3f", (NR > 1 ? " " : ""), $1 }' "$T/$1"; }
echo "rebalance with keys: 6 valkey-server $(valkey-server --version | awk '{print $3}' | sed 's/v=//') instances, $KEYS keys x 100 B, median of $ROUNDS rounds:"
printf "  %-40s %14s %12s %8s\n" "" "valkey-cli" "autoshard" "ratio"
printf "  %-40s %12.3f s %10.3f s %7.1fx\n" "scale-up 3 -> 6 masters (empty masters)" "$vu" "$au" "$(echo "$vu / $au" | bc -l)"
printf "  %-40s %12.3f s %10.3f s %7.1fx\n" "drain 6 -> 3 masters + remove nodes" "$vd" "$ad" "$(echo "$vd / $ad" | bc -l)"
printf "  autoshard peak RSS: scale-up %s MB, drain %s MB (median); max %s MB\n" "$ru" "$rd" "$rmax"
echo "  rounds (s): valkey-cli up [$(rounds vc_up)] drain [$(rounds vc_down)]; autoshard up [$(rounds as_up)] drain [$(rounds as_down)]"
