#!/usr/bin/env bash
# The migrator moves slots with their keys between masters, fast; a key the
# target already holds (BUSYKEY) is replaced by the source's copy; a run killed
# with -9 at a random moment is finished by the next run with no key lost.
#
# Against valkey-server 8 (127.42.0.1-6, no password) and redis-server 7.0
# (127.42.1.1-6, requirepass + --password-file), each: 3 masters with keys and
# 3 empty masters; move half of every old master's slots to a new master,
# verify; then move them back, killing the mover twice, resume, verify.
#
# Env: AUTOSHARD_BIN (build dir), MIGRATOR_TEST_KEYS (default 200000),
#      MIGRATOR_TEST_VALUE_SIZE (default 100),
#      MIGRATOR_TEST_FLAVORS (default "valkey redis").
set -euo pipefail

BIN=${AUTOSHARD_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build}
MIGRATE=$BIN/migrate_slots
[ -x "$BIN/tests/migrate_slots" ] && MIGRATE=$BIN/tests/migrate_slots
KEYS=${MIGRATOR_TEST_KEYS:-200000}
VALUE_SIZE=${MIGRATOR_TEST_VALUE_SIZE:-100}
FLAVORS=${MIGRATOR_TEST_FLAVORS:-valkey redis}
PORT=6379
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

if [ ! -x "$MIGRATE" ]; then
	echo "FAIL: migrate_slots not built ($MIGRATE)" >&2
	exit 1
fi

TMP=$(mktemp -d /tmp/autoshard-migrator.XXXXXX)
PIDFILES=()
MIG_PID=

cleanup() {
	local f
	set +e
	[ -n "$MIG_PID" ] && kill -9 "$MIG_PID" 2>/dev/null
	for f in "${PIDFILES[@]}"; do
		[ -s "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
	done
	rm -rf "$TMP"
	return 0
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
	echo "FAIL: $*" >&2
	local f
	for f in "$TMP"/*/n*/log; do
		[ -f "$f" ] && { echo "--- $f (tail)"; tail -n 5 "$f"; } >&2
	done
	exit 1
}

now_ms() { date +%s%3N; }

# Stdlib-only helper: load keys, verify keys, slot ranges, open slots, BUSYKEY plant.
# PASSWORD in the environment is sent with AUTH on every connection.
cat >"$TMP/kv.py" <<'PY'
import binascii, os, random, socket, sys

PASSWORD = os.environ.get("PASSWORD")

def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)

class Conn:
    def __init__(self, a):
        h, p = a.rsplit(":", 1)
        self.s = socket.create_connection((h, int(p)), timeout=30)
        self.buf = b""
        if PASSWORD:
            self.cmd("AUTH", PASSWORD)
    def _fill(self):
        d = self.s.recv(1 << 20)
        if not d:
            raise IOError("connection closed")
        self.buf += d
    def reply(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise IOError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            v, self.buf = self.buf[:n], self.buf[n + 2:]
            return v
        if t == b"*":
            return [self.reply() for _ in range(int(rest))]
        raise IOError("bad reply %r" % line)
    def cmd(self, *args):
        self.s.sendall(resp(*args))
        return self.reply()

def nodes_lines(a):
    return [l.split() for l in Conn(a).cmd("CLUSTER", "NODES").decode().splitlines() if l.strip()]

def slot_map(seed):
    owner, masters = [None] * 16384, {}
    for f in nodes_lines(seed):
        if "master" not in f[2]:
            continue
        a = f[1].split("@")[0]
        masters[f[0]] = a
        for r in f[8:]:
            if not r.startswith("["):
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
        k, v = key(i), value(i, size)
        per.setdefault(owner[slot(k)], []).append(
            b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))
    for a, cmds in per.items():
        c = Conn(a)
        for off in range(0, len(cmds), 20000):
            chunk = cmds[off:off + 20000]
            c.s.sendall(b"".join(chunk))
            for _ in chunk:
                if c.reply() != "OK":
                    raise IOError("SET failed on %s" % a)

def verify(seed, n, size, sample, extra):
    owner, masters = slot_map(seed)
    if any(o is None for o in owner):
        raise SystemExit("verify: some slot has no owner")
    total = sum(Conn(a).cmd("DBSIZE") for a in masters.values())
    if total != n:
        raise SystemExit("verify: DBSIZE sum over masters %d, expected %d" % (total, n))
    rnd = random.Random(42)
    idx = sorted(set([rnd.randrange(n) for _ in range(sample)] + extra)) if n else []
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
            except IOError as e:  # MOVED/ASK: owner and slot map disagree
                v = str(e).encode()
            if v != value(i, size):
                bad += 1
                if bad <= 5:
                    print("verify: %s on %s: got %r" % (key(i), a, v[:40] if v else v), file=sys.stderr)
    if bad:
        raise SystemExit("verify: %d of %d sampled keys wrong" % (bad, len(idx)))
    print("verify: %d keys, %d sampled OK" % (total, len(idx)))

def myself(a):
    return [f for f in nodes_lines(a) if "myself" in f[2]][0]

def plant(seed, dst, slot_no, n):
    """Give dst a stale copy of a key of slot_no (owned by another master):
    IMPORTING from the owner, then ASKING + SET. Prints the key index."""
    owner, masters = slot_map(seed)
    src_id = [i for i, a in masters.items() if a == owner[slot_no]][0]
    i = next(i for i in range(n) if slot(key(i)) == slot_no)
    c = Conn(dst)
    c.cmd("CLUSTER", "SETSLOT", str(slot_no), "IMPORTING", src_id)
    c.cmd("ASKING")
    if c.cmd("SET", key(i), "stale copy on the target") != "OK":
        raise SystemExit("plant failed")
    print(i)

cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "load":
    load(args[0], int(args[1]), int(args[2]))
elif cmd == "verify":
    verify(args[0], int(args[1]), int(args[2]), int(args[3]), [int(x) for x in args[4:]])
elif cmd == "ranges":    # slot ranges a node owns, "A-B,C-D"
    print(",".join(r for r in myself(args[0])[8:] if not r.startswith("[")))
elif cmd == "open":      # open-slot marks a master reports (a replica's are stale)
    f = myself(args[0])
    print(len([r for r in f[8:] if r.startswith("[")]) if "master" in f[2] else 0)
elif cmd == "plant":
    plant(args[0], args[1], int(args[2]), int(args[3]))
PY

# cli <node number> args... : the flavor's cli against 127.42.$NET.<n>
cli() {
	local n=$1
	shift
	if [ -n "$PASSWORD" ]; then
		$CLI -h 127.42.$NET.$n -p $PORT -a "$PASSWORD" --no-auth-warning "$@"
	else
		$CLI -h 127.42.$NET.$n -p $PORT "$@"
	fi
}

cli_cluster() {
	if [ -n "$PASSWORD" ]; then
		$CLI -a "$PASSWORD" --no-auth-warning --cluster "$@"
	else
		$CLI --cluster "$@"
	fi
}

kv() { PASSWORD=$PASSWORD $PY "$TMP/kv.py" "$@"; }

# migrate_slots with the seed and password file. Run it with exec in a
# background subshell so that $! is migrate_slots itself (kill -9 target).
migrate() {
	if [ -n "$PASSWORD" ]; then
		exec_or_run "$MIGRATE" --seed 127.42.$NET.1:$PORT --password-file "$DIR/pw" "$@"
	else
		exec_or_run "$MIGRATE" --seed 127.42.$NET.1:$PORT "$@"
	fi
}

exec_or_run() {
	if [ -n "${MIGRATE_EXEC:-}" ]; then
		exec "$@"
	fi
	"$@"
}

# --cluster check: all slots covered, no open slots, nodes agree (bounded
# retry while gossip settles).
check_healthy() {
	local tries=0 out
	while :; do
		out=$(cli_cluster check 127.42.$NET.1:$PORT 2>&1 || true)
		if echo "$out" | grep -q "All 16384 slots covered" && ! echo "$out" | grep -qE "\[WARNING\]|\[ERR\]"; then
			return 0
		fi
		tries=$((tries + 1))
		if [ $tries -ge 50 ]; then
			echo "$out" >&2
			fail "$FLAVOR: cluster check"
		fi
		sleep 0.2
	done
}

start_cluster() {
	local i ip tries extra=()
	[ -n "$PASSWORD" ] && extra=(--requirepass "$PASSWORD" --masterauth "$PASSWORD")
	for i in 1 2 3 4 5 6; do
		ip=127.42.$NET.$i
		mkdir -p "$DIR/n$i"
		PIDFILES+=("$DIR/n$i/pid")
		# bind-source-addr: cluster bus and MIGRATE connections leave from
		# the node's own 127.42 address, so peers see the right address.
		$SERVER --cluster-enabled yes --save '' --appendonly no --daemonize yes \
			--dir "$DIR/n$i" --cluster-config-file "$DIR/n$i/nodes.conf" \
			--bind $ip --bind-source-addr $ip --port $PORT --pidfile "$DIR/n$i/pid" \
			--logfile "$DIR/n$i/log" --cluster-node-timeout 5000 "${extra[@]}" >/dev/null
	done
	for i in 1 2 3 4 5 6; do
		tries=0
		until cli $i ping 2>/dev/null | grep -q PONG; do
			tries=$((tries + 1))
			[ $tries -lt 100 ] || fail "$FLAVOR: 127.42.$NET.$i did not start"
			sleep 0.1
		done
	done
	cli_cluster create 127.42.$NET.1:$PORT 127.42.$NET.2:$PORT 127.42.$NET.3:$PORT --cluster-yes \
		>"$DIR/create.log" 2>&1 || fail "$FLAVOR: cluster create: $(tail -3 "$DIR/create.log")"
	# add-node refuses while the previous join is still gossiping: retry.
	for i in 4 5 6; do
		tries=0
		until cli_cluster add-node 127.42.$NET.$i:$PORT 127.42.$NET.1:$PORT >>"$DIR/add$i.log" 2>&1; do
			[ "$(cli $i cluster nodes | wc -l)" -gt 1 ] && break # joined after all
			tries=$((tries + 1))
			[ $tries -lt 50 ] || fail "$FLAVOR: add-node 127.42.$NET.$i: $(tail -3 "$DIR/add$i.log")"
			sleep 0.2
		done
	done
	# Every node knows all six, connected, and the cluster is ok.
	tries=0
	while :; do
		local ok=1
		for i in 1 2 3 4 5 6; do
			[ "$(cli $i cluster nodes | grep -c " connected")" = 6 ] || ok=0
			cli $i cluster info | grep -q "cluster_state:ok" || ok=0
		done
		[ $ok = 1 ] && break
		tries=$((tries + 1))
		[ $tries -lt 300 ] || fail "$FLAVOR: cluster did not converge"
		sleep 0.1
	done
}

run_flavor() {
	local i t0 t1 mig_ms round planted r
	local -a ids fwd back
	DIR=$TMP/$FLAVOR
	mkdir -p "$DIR"
	[ -n "$PASSWORD" ] && printf '%s\n' "$PASSWORD" >"$DIR/pw"
	echo "=== $FLAVOR ($($SERVER --version | awk '{print $3}')) on 127.42.$NET.1-6," \
		"$KEYS keys of $VALUE_SIZE bytes${PASSWORD:+, with password}"
	start_cluster

	t0=$(now_ms)
	kv load 127.42.$NET.1:$PORT "$KEYS" "$VALUE_SIZE" || fail "$FLAVOR: load"
	t1=$(now_ms)
	echo "$FLAVOR: loaded $KEYS keys in $((t1 - t0)) ms"

	# The first half of each old master's range goes to a new master.
	for i in 1 2 3 4 5 6; do
		ids[$i]=$(cli $i cluster myid)
	done
	for i in 1 2 3; do
		local rg lo hi
		rg=$(kv ranges 127.42.$NET.$i:$PORT)
		lo=${rg%%-*}
		hi=${rg##*-}
		r[$i]="$lo-$(((lo + hi + 1) / 2 - 1))"
	done
	fwd=(--to "${ids[4]}" --slots "${r[1]}" --to "${ids[5]}" --slots "${r[2]}" --to "${ids[6]}" --slots "${r[3]}")
	back=(--to "${ids[1]}" --slots "${r[1]}" --to "${ids[2]}" --slots "${r[2]}" --to "${ids[3]}" --slots "${r[3]}")

	# BUSYKEY: n4 already holds a stale copy of a key of the first slot it
	# gets; the migrator must replace it with the source's value.
	planted=$(kv plant 127.42.$NET.1:$PORT 127.42.$NET.4:$PORT "${r[1]%%-*}" "$KEYS") ||
		fail "$FLAVOR: plant stale key"

	echo "$FLAVOR: moving ${r[1]} -> n4, ${r[2]} -> n5, ${r[3]} -> n6"
	t0=$(now_ms)
	migrate "${fwd[@]}" >"$DIR/mig1.out" 2>"$DIR/mig1.err" || fail "$FLAVOR: migrate_slots: $(cat "$DIR/mig1.err")"
	t1=$(now_ms)
	mig_ms=$((t1 - t0))
	echo "$FLAVOR: migration: $(cat "$DIR/mig1.out") (wall $mig_ms ms)"
	grep -q "busykey=[1-9]" "$DIR/mig1.out" || fail "$FLAVOR: expected a BUSYKEY retry"
	check_healthy
	kv verify 127.42.$NET.1:$PORT "$KEYS" "$VALUE_SIZE" 3000 "$planted" || fail "$FLAVOR: verify after move"
	for i in 4 5 6; do
		[ "$(cli $i dbsize)" -gt 0 ] || [ "$KEYS" -lt 1000 ] || fail "$FLAVOR: new master n$i holds no keys"
	done

	# Move everything back, killing the mover twice at a random moment.
	for round in 1 2; do
		local delay nopen=0
		delay=$((mig_ms * (5 - 2 * round) / 20 + RANDOM % (mig_ms * (5 - 2 * round) / 10 + 1)))
		(MIGRATE_EXEC=1 migrate "${back[@]}") >"$DIR/kill$round.out" 2>"$DIR/kill$round.err" &
		MIG_PID=$!
		sleep "$(awk "BEGIN{print $delay/1000}")"
		kill -9 $MIG_PID 2>/dev/null || true
		wait $MIG_PID 2>/dev/null || true
		MIG_PID=
		for i in 1 2 3 4 5 6; do
			nopen=$((nopen + $(kv open 127.42.$NET.$i:$PORT)))
		done
		echo "$FLAVOR: kill -9 after $delay ms: $nopen open-slot marks left on masters"
	done
	t0=$(now_ms)
	migrate "${back[@]}" >"$DIR/resume.out" 2>"$DIR/resume.err" || fail "$FLAVOR: resume: $(cat "$DIR/resume.err")"
	t1=$(now_ms)
	echo "$FLAVOR: resume: $(cat "$DIR/resume.out") (wall $((t1 - t0)) ms)"
	grep "open slots" "$DIR/resume.err" || true
	check_healthy
	kv verify 127.42.$NET.1:$PORT "$KEYS" "$VALUE_SIZE" 3000 "$planted" || fail "$FLAVOR: verify after resume"
	# n4-n6 own no slots now (the servers may have turned them into replicas
	# of the masters that took their last slot: cluster-allow-replica-migration).
	for i in 4 5 6; do
		local left
		left=$(kv ranges 127.42.$NET.$i:$PORT)
		[ -z "$left" ] || fail "$FLAVOR: n$i still owns slots $left after moving everything back"
	done
	# Nothing to do: a no-op.
	migrate --to "${ids[1]}" --slots "${r[1]}" >"$DIR/noop.out" 2>"$DIR/noop.err" || fail "$FLAVOR: no-op run failed"
	grep -q "^slots=0 " "$DIR/noop.out" || fail "$FLAVOR: no-op run moved slots: $(cat "$DIR/noop.out")"
	# A master that stops answering (SIGSTOP) fails the run after the command
	# timeout, naming the node; the next run finishes what was started.
	kill -STOP "$(cat "$DIR/n2/pid")"
	if migrate --timeout 1500 --to "${ids[1]}" --slots "${r[2]}" >"$DIR/stop.out" 2>"$DIR/stop.err"; then
		kill -CONT "$(cat "$DIR/n2/pid")"
		fail "$FLAVOR: migrate_slots succeeded with a master stopped"
	fi
	kill -CONT "$(cat "$DIR/n2/pid")"
	grep -q "127.42.$NET.2:$PORT.*1500 ms" "$DIR/stop.err" ||
		fail "$FLAVOR: timeout error does not name the node: $(cat "$DIR/stop.err")"
	echo "$FLAVOR: with n2 stopped: $(tail -1 "$DIR/stop.err")"
	migrate --to "${ids[2]}" --slots "${r[2]}" >"$DIR/after-stop.out" 2>"$DIR/after-stop.err" ||
		fail "$FLAVOR: run after the timeout: $(cat "$DIR/after-stop.err")"
	echo "$FLAVOR: after the timeout: $(grep "open slots" "$DIR/after-stop.err")"
	check_healthy
	kv verify 127.42.$NET.1:$PORT "$KEYS" "$VALUE_SIZE" 1000 "$planted" || fail "$FLAVOR: verify after timeout"

	# A master that is down (n3; every master gets SETSLOT NODE) fails the
	# run with an error naming it; the password never appears.
	kill -9 "$(cat "$DIR/n3/pid")"
	if migrate --to "${ids[2]}" --slots "${r[1]}" >"$DIR/down.out" 2>"$DIR/down.err"; then
		fail "$FLAVOR: migrate_slots succeeded with a master down"
	fi
	grep -q "127.42.$NET.3:$PORT" "$DIR/down.err" ||
		fail "$FLAVOR: error does not name the node that is down: $(cat "$DIR/down.err")"
	if [ -n "$PASSWORD" ] && grep -qF "$PASSWORD" "$DIR"/*.out "$DIR"/*.err; then
		fail "$FLAVOR: the password appears in migrate_slots output"
	fi
	echo "$FLAVOR: with n3 down: $(tail -1 "$DIR/down.err")"

	for i in 1 2 3 4 5 6; do
		kill -9 "$(cat "$DIR/n$i/pid")" 2>/dev/null || true
	done
	echo "$FLAVOR: OK"
}

NET=0
for FLAVOR in $FLAVORS; do
	case $FLAVOR in
	valkey) SERVER=valkey-server CLI=valkey-cli PASSWORD= ;;
	redis) SERVER=redis-server CLI=redis-cli PASSWORD=s3cret-Pw.42 ;;
	*) fail "unknown flavor $FLAVOR" ;;
	esac
	if ! command -v $SERVER >/dev/null || ! command -v $CLI >/dev/null; then
		echo "skip $FLAVOR: $SERVER or $CLI not installed"
	else
		run_flavor
	fi
	NET=$((NET + 1))
done
echo "PASS"
