#!/usr/bin/env bash
# The migrator moves slots with their keys between masters, fast, and a run
# killed with -9 at a random moment is finished by the next run with no key
# lost. Against valkey-server 8 (127.42.0.1-6) and redis-server 7.0
# (127.42.1.1-6), each: 3 masters with keys + 3 empty masters, move half of
# every old master's slots to a new one, verify, then move them back under
# kill -9 and verify again.
#
# Env: AUTOSHARD_BIN (build dir, has migrate_slots), AUTOSHARD_SRC,
#      MIGRATOR_TEST_KEYS (default 200000), MIGRATOR_TEST_FLAVORS
#      (default "valkey redis"), MIGRATOR_TEST_VALUE_SIZE (default 100).
set -euo pipefail

BIN=${AUTOSHARD_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build}
MIGRATE=$BIN/migrate_slots
[ -x "$BIN/tests/migrate_slots" ] && MIGRATE=$BIN/tests/migrate_slots
KEYS=${MIGRATOR_TEST_KEYS:-200000}
VALUE_SIZE=${MIGRATOR_TEST_VALUE_SIZE:-100}
FLAVORS=${MIGRATOR_TEST_FLAVORS:-valkey redis}
PORT=6379

if [ ! -x "$MIGRATE" ]; then
	echo "SKIP: migrate_slots not built ($MIGRATE)"
	exit 77
fi

TMP=$(mktemp -d /tmp/autoshard-migrator.XXXXXX)
PIDFILES=()

cleanup() {
	local f pid
	for f in "${PIDFILES[@]}"; do
		if [ -s "$f" ]; then
			pid=$(cat "$f")
			kill -9 "$pid" 2>/dev/null || true
		fi
	done
	if [ -n "${MIG_PID:-}" ]; then
		kill -9 "$MIG_PID" 2>/dev/null || true
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

fail() {
	echo "FAIL: $*" >&2
	for f in "$TMP"/*/n*/log; do
		[ -f "$f" ] && { echo "--- $f (tail)"; tail -n 5 "$f"; } >&2
	done
	exit 1
}

now_ms() { date +%s%3N; }

# Stdlib-only helper: load keys, verify keys, list a node's slot ranges.
cat >"$TMP/kv.py" <<'PY'
import binascii, random, socket, sys

def addr(s):
    h, p = s.rsplit(":", 1)
    return h, int(p)

def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)

class Conn:
    def __init__(self, a):
        self.s = socket.create_connection(addr(a), timeout=30)
        self.buf = b""
    def _line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(1 << 20)
            if not d:
                raise IOError("connection closed")
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line
    def _n(self, n):
        while len(self.buf) < n + 2:
            d = self.s.recv(1 << 20)
            if not d:
                raise IOError("connection closed")
            self.buf += d
        v, self.buf = self.buf[:n], self.buf[n + 2:]
        return v
    def reply(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise IOError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._n(n)
        if t == b"*":
            return [self.reply() for _ in range(int(rest))]
        raise IOError("bad reply %r" % line)
    def cmd(self, *args):
        self.s.sendall(resp(*args))
        return self.reply()

def slot_map(seed):
    owner = [None] * 16384
    nodes = Conn(seed).cmd("CLUSTER", "NODES").decode()
    masters = {}
    for line in nodes.splitlines():
        f = line.split()
        if len(f) < 8 or "master" not in f[2]:
            continue
        a = f[1].split("@")[0]
        masters[f[0]] = a
        for r in f[8:]:
            if r.startswith("["):
                continue
            lo, _, hi = r.partition("-")
            for s in range(int(lo), int(hi or lo) + 1):
                owner[s] = a
    return owner, masters

def key(i):
    return b"key:%d" % i

def value(i, size):
    v = b"v%d:" % i
    return (v * (size // len(v) + 1))[:size]

def slot(k):
    return binascii.crc_hqx(k, 0) & 16383

def load(seed, n, size):
    owner, _ = slot_map(seed)
    per = {}
    for i in range(n):
        k = key(i)
        v = value(i, size)
        per.setdefault(owner[slot(k)], []).append(
            b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))
    for a, cmds in per.items():
        c = Conn(a)
        step = 20000
        for off in range(0, len(cmds), step):
            chunk = cmds[off:off + step]
            c.s.sendall(b"".join(chunk))
            for _ in chunk:
                if c.reply() != "OK":
                    raise IOError("SET failed on %s" % a)

def verify(seed, n, size, sample):
    owner, masters = slot_map(seed)
    if any(o is None for o in owner):
        raise SystemExit("verify: some slot has no owner")
    total = sum(Conn(a).cmd("DBSIZE") for a in masters.values())
    if total != n:
        raise SystemExit("verify: DBSIZE sum %d, expected %d" % (total, n))
    rnd = random.Random(42)
    idx = sorted(set(rnd.randrange(n) for _ in range(sample))) if n else []
    per = {}
    for i in idx:
        per.setdefault(owner[slot(key(i))], []).append(i)
    bad = 0
    for a, ids in per.items():
        c = Conn(a)
        c.s.sendall(b"".join(resp("GET", key(i)) for i in ids))
        for i in ids:
            try:
                v = c.reply()
            except IOError as e:          # MOVED/ASK: slot map and node disagree
                v = str(e).encode()
            if v != value(i, size):
                bad += 1
                if bad <= 5:
                    print("verify: key %s on %s: got %r" % (key(i), a, v[:40] if v else v), file=sys.stderr)
    if bad:
        raise SystemExit("verify: %d of %d sampled keys wrong" % (bad, len(idx)))
    print("verify: %d keys, %d sampled OK" % (total, len(idx)))

def ranges(a):
    """Slot ranges of node a (its own view) as A-B,C-D."""
    for line in Conn(a).cmd("CLUSTER", "NODES").decode().splitlines():
        f = line.split()
        if "myself" in f[2]:
            print(",".join(r for r in f[8:] if not r.startswith("[")))

def open_slots(a):
    for line in Conn(a).cmd("CLUSTER", "NODES").decode().splitlines():
        f = line.split()
        if "myself" in f[2]:
            print(len([r for r in f[8:] if r.startswith("[")]))

cmd = sys.argv[1]
if cmd == "load":
    load(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
elif cmd == "verify":
    verify(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
elif cmd == "ranges":
    ranges(sys.argv[2])
elif cmd == "open":
    open_slots(sys.argv[2])
PY
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

# Run a flavor: valkey|redis, on 127.42.$net.1-6.
run_flavor() {
	local flavor=$1 net=$2 server cli dir i ip
	case $flavor in
	valkey) server=valkey-server cli=valkey-cli ;;
	redis) server=redis-server cli=redis-cli ;;
	esac
	if ! command -v $server >/dev/null || ! command -v $cli >/dev/null; then
		echo "skip $flavor: $server or $cli not installed"
		return 0
	fi
	dir=$TMP/$flavor
	echo "=== $flavor ($($server --version | awk '{print $3}')) on 127.42.$net.1-6, $KEYS keys of $VALUE_SIZE bytes"
	for i in 1 2 3 4 5 6; do
		ip=127.42.$net.$i
		mkdir -p "$dir/n$i"
		PIDFILES+=("$dir/n$i/pid")
		$server --cluster-enabled yes --save '' --appendonly no --daemonize yes \
			--dir "$dir/n$i" --cluster-config-file "$dir/n$i/nodes.conf" \
			--bind $ip --bind-source-addr $ip --port $PORT --pidfile "$dir/n$i/pid" --logfile "$dir/n$i/log" \
			--cluster-node-timeout 5000 >/dev/null
	done
	for i in 1 2 3 4 5 6; do
		local tries=0
		until $cli -h 127.42.$net.$i -p $PORT ping 2>/dev/null | grep -q PONG; do
			tries=$((tries + 1))
			[ $tries -lt 100 ] || fail "$flavor: 127.42.$net.$i did not start"
			sleep 0.1
		done
	done
	$cli --cluster create 127.42.$net.1:$PORT 127.42.$net.2:$PORT 127.42.$net.3:$PORT \
		--cluster-yes >"$dir/create.log" 2>&1 || fail "$flavor: cluster create (see $dir/create.log)"
	for i in 4 5 6; do
		$cli --cluster add-node 127.42.$net.$i:$PORT 127.42.$net.1:$PORT >"$dir/add$i.log" 2>&1 ||
			fail "$flavor: add-node 127.42.$net.$i"
	done
	# Every node knows all six, connected, and the cluster is ok.
	local tries=0
	while :; do
		local ok=1
		for i in 1 2 3 4 5 6; do
			local n
			n=$($cli -h 127.42.$net.$i -p $PORT cluster nodes | grep -c " connected" || true)
			[ "$n" = 6 ] || ok=0
			$cli -h 127.42.$net.$i -p $PORT cluster info | grep -q "cluster_state:ok" || ok=0
		done
		[ $ok = 1 ] && break
		tries=$((tries + 1))
		[ $tries -lt 300 ] || fail "$flavor: cluster did not converge"
		sleep 0.1
	done

	local t0 t1
	t0=$(now_ms)
	$PY "$TMP/kv.py" load 127.42.$net.1:$PORT "$KEYS" "$VALUE_SIZE" || fail "$flavor: load"
	t1=$(now_ms)
	echo "$flavor: loaded $KEYS keys in $((t1 - t0)) ms"

	# Move the first half of each old master's range to a new master.
	local id4 id5 id6 r1 r2 r3 args=()
	for i in 4 5 6; do
		eval id$i="$($cli -h 127.42.$net.$i -p $PORT cluster myid)"
	done
	for i in 1 2 3; do
		local r lo hi mid
		r=$($PY "$TMP/kv.py" ranges 127.42.$net.$i:$PORT)
		lo=${r%%-*}
		hi=${r##*-}
		mid=$(((lo + hi + 1) / 2 - 1))
		eval r$i="$lo-$mid"
	done
	args=(--to "$id4" --slots "$r1" --to "$id5" --slots "$r2" --to "$id6" --slots "$r3")
	echo "$flavor: moving $r1 -> n4, $r2 -> n5, $r3 -> n6"
	t0=$(now_ms)
	"$MIGRATE" --seed 127.42.$net.1:$PORT "${args[@]}" >"$dir/mig1.out" 2>"$dir/mig1.err" ||
		fail "$flavor: migrate_slots: $(cat "$dir/mig1.err")"
	t1=$(now_ms)
	local mig_ms=$((t1 - t0))
	echo "$flavor: migration: $(cat "$dir/mig1.out") (wall $mig_ms ms)"
	check_healthy "$flavor" "$cli" "$net"
	$PY "$TMP/kv.py" verify 127.42.$net.1:$PORT "$KEYS" "$VALUE_SIZE" 3000 || fail "$flavor: verify after move"
	for i in 4 5 6; do
		local dbs
		dbs=$($cli -h 127.42.$net.$i -p $PORT dbsize)
		[ "$dbs" -gt 0 ] || [ "$KEYS" -lt 1000 ] || fail "$flavor: new master n$i holds no keys"
	done

	# kill -9 in the middle of moving everything back, twice, then finish.
	local round
	for round in 1 2; do
		local delay
		delay=$((mig_ms / 10 + RANDOM % (mig_ms * 6 / 10 + 1)))
		"$MIGRATE" --seed 127.42.$net.1:$PORT --to "$($cli -h 127.42.$net.1 -p $PORT cluster myid)" \
			--slots "$r1" --to "$($cli -h 127.42.$net.2 -p $PORT cluster myid)" --slots "$r2" \
			--to "$($cli -h 127.42.$net.3 -p $PORT cluster myid)" --slots "$r3" \
			>"$dir/kill$round.out" 2>"$dir/kill$round.err" &
		MIG_PID=$!
		sleep "$(awk "BEGIN{print $delay/1000}")"
		kill -9 $MIG_PID 2>/dev/null || true
		wait $MIG_PID 2>/dev/null || true
		MIG_PID=
		local nopen=0
		for i in 1 2 3 4 5 6; do
			nopen=$((nopen + $($PY "$TMP/kv.py" open 127.42.$net.$i:$PORT)))
		done
		echo "$flavor: kill -9 after $delay ms: $nopen open slot marks left"
	done
	t0=$(now_ms)
	"$MIGRATE" --seed 127.42.$net.1:$PORT \
		--to "$($cli -h 127.42.$net.1 -p $PORT cluster myid)" --slots "$r1" \
		--to "$($cli -h 127.42.$net.2 -p $PORT cluster myid)" --slots "$r2" \
		--to "$($cli -h 127.42.$net.3 -p $PORT cluster myid)" --slots "$r3" \
		>"$dir/resume.out" 2>"$dir/resume.err" || fail "$flavor: resume: $(cat "$dir/resume.err")"
	t1=$(now_ms)
	echo "$flavor: resume: $(cat "$dir/resume.out") (wall $((t1 - t0)) ms)"
	grep "resuming open slot" "$dir/resume.err" | head -3 || true
	check_healthy "$flavor" "$cli" "$net"
	$PY "$TMP/kv.py" verify 127.42.$net.1:$PORT "$KEYS" "$VALUE_SIZE" 3000 || fail "$flavor: verify after resume"
	for i in 4 5 6; do
		local dbs
		dbs=$($cli -h 127.42.$net.$i -p $PORT dbsize)
		[ "$dbs" = 0 ] || fail "$flavor: n$i still holds $dbs keys after moving everything back"
	done
	# Running again with nothing to do is a no-op.
	"$MIGRATE" --seed 127.42.$net.1:$PORT --to "$($cli -h 127.42.$net.1 -p $PORT cluster myid)" \
		--slots "$r1" >"$dir/noop.out" 2>"$dir/noop.err" || fail "$flavor: no-op run failed"
	grep -q "^slots=0 " "$dir/noop.out" || fail "$flavor: no-op run moved slots: $(cat "$dir/noop.out")"

	for i in 1 2 3 4 5 6; do
		local pid
		pid=$(cat "$dir/n$i/pid" 2>/dev/null || true)
		[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
	done
	echo "$flavor: OK"
}

# --cluster check: all slots covered, no open slots, nodes agree (bounded retry
# while gossip settles).
check_healthy() {
	local flavor=$1 cli=$2 net=$3 tries=0 out
	while :; do
		out=$($cli --cluster check 127.42.$net.1:$PORT 2>&1 || true)
		if echo "$out" | grep -q "All 16384 slots covered" &&
			! echo "$out" | grep -qE "\[WARNING\]|\[ERR\]"; then
			return 0
		fi
		tries=$((tries + 1))
		if [ $tries -ge 50 ]; then
			echo "$out" >&2
			fail "$flavor: cluster check"
		fi
		sleep 0.2
	done
}

net=0
for flavor in $FLAVORS; do
	run_flavor "$flavor" $net
	net=$((net + 1))
done
echo "PASS"
