#!/bin/sh
# Proves: bad input gets a one-line error naming the instance, and nothing is
# changed on the other instances: an unreachable instance, a server not in
# cluster mode, a wrong password, a server that belongs to another cluster,
# malformed member lists and flags.
. "$(dirname "$0")/lib.sh"

fresh() { # every listed server still knows only itself and owns no slot
	for h in "$@"; do
		n=$(valkey-cli -h "$h" ${PW:+--no-auth-warning -a "$PW"} cluster nodes | wc -l)
		[ "$n" = 1 ] || fail "$h was changed (knows $n nodes)"
		s=$(valkey-cli -h "$h" ${PW:+--no-auth-warning -a "$PW"} cluster info | grep slots_assigned | tr -d '\r' | cut -d: -f2)
		[ "$s" = 0 ] || fail "$h was changed (owns slots)"
	done
}
one_line() { [ "$(printf '%s\n' "$1" | grep -c .)" = 1 ] || fail "error is not one line: $1"; }

base=127.55.1
start_raw valkey-server $base 3
# unreachable: 127.55.1.9 has no server
out=$("$AUTOSHARD" bootstrap --members "$base.1:6379,$base.2:6379,$base.9:6379" --timeout 2 2>&1) && fail "unreachable accepted"
one_line "$out"; echo "$out" | grep -q "$base.9:6379" || fail "unreachable not named: $out"
fresh $base.1 $base.2
pass "unreachable instance: $out"

# not in cluster mode
valkey-server --bind 127.55.2.1 --bind-source-addr 127.55.2.1 --port 6379 --save '' --daemonize no >/dev/null 2>&1 & RAW_PIDS="$RAW_PIDS $!"
wait_ping valkey-cli 127.55.2.1
out=$("$AUTOSHARD" bootstrap --members "$base.1:6379,$base.2:6379,127.55.2.1:6379" --timeout 5 2>&1) && fail "non-cluster accepted"
one_line "$out"; echo "$out" | grep -q "127.55.2.1:6379.*cluster mode" || fail "non-cluster not named: $out"
fresh $base.1 $base.2
pass "not in cluster mode: $out"

# wrong password
printf 'right-secret\n' > "$T/right"; printf 'wrong-secret\n' > "$T/wrong"
start_raw valkey-server 127.55.3 2 "requirepass right-secret"
out=$("$AUTOSHARD" bootstrap --members "127.55.3.1:6379,127.55.3.2:6379" --password-file "$T/wrong" --timeout 2 2>&1) && fail "wrong password accepted"
one_line "$out"; echo "$out" | grep -q "127.55.3.1:6379.*authentication failed" || fail "wrong password not named: $out"
echo "$out" | grep -q "secret" && fail "password leaked into the error"
out=$("$AUTOSHARD" bootstrap --members "127.55.3.1:6379,127.55.3.2:6379" --timeout 2 2>&1) && fail "missing password accepted"
echo "$out" | grep -q "requires a password" || fail "missing password not explained: $out"
PW=right-secret fresh 127.55.3.1 127.55.3.2
pass "wrong / missing password refused"

# a server that belongs to another cluster
start_raw valkey-server 127.55.4 3
"$AUTOSHARD" bootstrap --members "$(members 127.55.4 3)" >/dev/null 2>&1 || fail "other cluster bootstrap"
valkey-cli -h 127.55.4.1 set foo bar >/dev/null 2>&1 || valkey-cli -c -h 127.55.4.1 set foo bar >/dev/null
rc=0; out=$("$AUTOSHARD" bootstrap --members "$base.1:6379,$base.2:6379,127.55.4.1:6379" --timeout 5 2>&1) || rc=$?
[ $rc = 3 ] || fail "foreign cluster: exit $rc, want 3 (refused): $out"
one_line "$out"; echo "$out" | grep -q "127.55.4.1:6379" || fail "foreign node not named: $out"
fresh $base.1 $base.2
[ "$(valkey-cli -h 127.55.4.1 cluster nodes | wc -l)" = 3 ] || fail "foreign cluster was changed"
pass "member of another cluster refused: $out"

# malformed input
out=$("$AUTOSHARD" bootstrap --members "$base.1:6379,$base.1:6379" 2>&1) && fail "duplicate accepted"
echo "$out" | grep -q "listed twice" || fail "duplicate: $out"
out=$("$AUTOSHARD" bootstrap --members "$base.1:99999" 2>&1) && fail "bad port accepted"
echo "$out" | grep -q "bad port" || fail "bad port: $out"
out=$("$AUTOSHARD" local up --dir "$T/x" --nodes 0 2>&1) && fail "0 nodes accepted"
echo "$out" | grep -q "nodes" || fail "0 nodes: $out"
out=$("$AUTOSHARD" check --seed 127.55.9.9:6379 2>&1) && fail "check of nothing ok"
one_line "$out"; echo "$out" | grep -q "127.55.9.9:6379" || fail "check: $out"
out=$("$AUTOSHARD" rebalance --password secret 2>&1) && fail "--password accepted"
echo "$out" | grep -q "unknown option" || fail "--password: $out"
fresh $base.1 $base.2 $base.3
pass "malformed input refused with clear errors"

# hostile replies: a "server" that answers every command with a huge array or
# string header. hiredis 0.14 alone would calloc 16 GB for "*2000000000";
# a "$2000000000" header would make it buffer whatever follows until the
# command timeout. The capped reader (lib/resp_cap.c) refuses both with a
# one-line error naming the caps, and the CLI stays small.
for reply in '*2000000000' '$2000000000'; do
	rm -f "$T/hostile.ready"
	/usr/bin/python3 - "$reply" "$T/hostile.ready" <<'PY' &
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.55.5.1", 6379)); s.listen(4); s.settimeout(60)
open(sys.argv[2], "w").close()  # listening
for _ in range(100):
    try:
        c, _ = s.accept()
    except OSError:
        break
    c.settimeout(10)
    try:
        c.recv(65536)
        c.sendall(sys.argv[1].encode() + b"\r\n")
        c.recv(65536)
    except OSError:
        pass
    c.close()
PY
	srv=$!
	i=0
	until [ -e "$T/hostile.ready" ]; do
		kill -0 "$srv" 2>/dev/null || fail "the fake server on 127.55.5.1:6379 did not start"
		i=$((i + 1)); [ $i -lt 300 ] || fail "the fake server on 127.55.5.1:6379 never listened"
		sleep 0.1
	done
	out=$(/usr/bin/time -f 'maxrss_kb=%M' "$AUTOSHARD" check --seed 127.55.5.1:6379 2>&1) && fail "check accepted $reply"
	kb=$(echo "$out" | sed -n 's/^maxrss_kb=//p')
	msg=$(echo "$out" | grep -v '^maxrss_kb=\|^Command exited')
	one_line "$msg"
	# Both are refused at once (the string header before a byte of it comes).
	echo "$msg" | grep -q "127.55.5.1:6379.*size caps" || fail "reply $reply: $msg"
	[ "$kb" -lt 65536 ] || fail "reply $reply: the CLI grew to $kb kB"
	kill "$srv" 2>/dev/null; wait "$srv" 2>/dev/null || true
done
pass "hostile reply headers (*2000000000, \$2000000000) refused with one-line errors; the CLI stayed under 64 MiB"
