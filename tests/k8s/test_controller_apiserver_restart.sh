#!/bin/bash
# kube-apiserver restarted (k8s-env.sh restart-apiserver: SIGTERM, same
# arguments, /readyz) under a controller whose watches are open, with a
# ValkeyCluster Ready and keys in it; right after, the ValkeyCluster is scaled
# from 2 to 3 shards. The controller must:
#   - see its watches break, hold every action while they are broken (no
#     engine run, although --resync-s 5 asks for one several times during the
#     outage), log when they are all back, and only then act again;
#   - pick up the change made while it was re-watching and finish the scale:
#     3 masters, balanced, every key there.
# The Lease settings are long so that the outage (~10-30 s here) does not
# cost the controller its leadership (losing it means exit 1, covered by
# test_controller_leader.sh).
. "$(dirname "$0")/lib_ctrl.sh"
ctrl_up
RESYNC=5
ctrl_start a --log-level debug --resync-s "$RESYNC" --lease-duration-ms 120000 --renew-deadline-ms 100000 --retry-period-ms 2000
ctrl=$CTRL_PID
LOG=$D/controller-a.log

vc_apply vk 2 0
vc_wait_ready vk 2 2
seed=$(pod_ip vk-0):6379
$KV load "$seed" 5000 ka >/dev/null
check_cluster "$seed" 2 5000 ka
# Idle: at least one resync re-check has run since Ready.
n=$(grep -c 'engine started\|re-checking' "$LOG")
i=0
until [ "$(grep -c "engine started\\|re-checking" "$LOG")" -gt "$n" ] && [ "$(cond vk Ready)" = True ]; do
	i=$((i + 1)); [ "$i" -lt 200 ] || fail "no resync re-check while idle"
	sleep 0.2
done
pass "2 shards Ready with 5000 keys; the controller is idle (resync every $RESYNC s)"

before=$(wc -l <"$LOG")
"$ENV" restart-apiserver "$D" || fail "restart-apiserver failed"
kill -0 "$ctrl" 2>/dev/null || fail "the controller died during the API server restart"
kubectl scale valkeycluster/vk --replicas=3 >/dev/null
vc_wait_ready vk 3 3
check_cluster "$seed" 3 5000 ka
kill -0 "$ctrl" 2>/dev/null || fail "the controller exited"
pass "after the restart the change was picked up: 3 masters, balanced, 5000 keys there"

# What the controller logged from the restart on (line numbers relative to $before).
tail -n +"$((before + 1))" "$LOG" >"$D/after.log"
# The API is unreachable from the first failed request (the Lease, a watch, a write).
l_err=$(grep -m1 -n "warn: .*couldn't connect to \|warn: watch: watch " "$D/after.log" | cut -d: -f1)
l_hold=$(grep -m1 -n 'holding actions until every watch is back' "$D/after.log" | cut -d: -f1)
l_back=$(grep -m1 -n 'watches re-established' "$D/after.log" | cut -d: -f1)
[ -n "$l_err" ] || fail "no failed request in the controller's log"
grep -q 'warn: watch: watch ' "$D/after.log" || fail "no broken watch in the controller's log"
[ -n "$l_hold" ] && [ -n "$l_back" ] && [ "$l_hold" -le "$l_back" ] ||
	fail "the controller did not log holding (line $l_hold) then re-established watches (line $l_back)"
l_last_err=$(grep -n 'warn: watch: ' "$D/after.log" | awk -F: -v b="$l_back" '$1 < b {l=$1} END {print l}')
# Every informer re-watched (or re-listed) after the outage.
for r in valkeyclusters statefulsets pods configmaps; do
	grep -q "warn: watch: \(watch\|list\) $r" "$D/after.log" || fail "no error logged for the $r watch"
done
# Nothing acted between the first failed request and the all-clear.
acted=$(sed -n "${l_err},${l_back}p" "$D/after.log" |
	grep -E 'engine started|re-checking|apply |ScalingStarted|Creating|ScaledDown' || true)
[ -z "$acted" ] || fail "the controller acted while its watches were broken: $acted"
# ... and the window was long enough for resyncs to have asked for engine runs.
ts() { date -d "$(sed -n "${1}p" "$D/after.log" | cut -d' ' -f1)" +%s.%N; }
span=$(echo "$(ts "$l_back") - $(ts "$l_err")" | bc)
[ "$(echo "$span > $RESYNC" | bc)" = 1 ] ||
	fail "the API was unreachable only ${span} s (< resync $RESYNC s): the no-action check proves nothing"
# The scale ran after the all-clear.
l_eng=$(grep -n 'engine started' "$D/after.log" | awk -F: -v b="$l_back" '$1 > b {print $1; exit}')
[ -n "$l_eng" ] || fail "no engine run after the watches were back"
pass "API unreachable from line $l_err (last watch error line $l_last_err), watches re-established at line $l_back, ${span} s later; no action in between"
