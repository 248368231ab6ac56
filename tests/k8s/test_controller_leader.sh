#!/bin/bash
# Two controllers: only the Lease holder acts. The second stays passive (no
# engine run, no writes) while the first renews; when the first freezes
# (SIGSTOP: no renewals, no release) the second takes over only after the
# Lease expired and then acts (a scale-up completes); the first, resumed,
# sees it lost the Lease and exits with status 1. Both serve /healthz and
# /readyz (200) and /metrics, where only the holder says it leads.
. "$(dirname "$0")/lib_ctrl.sh"
ctrl_up
LEASE="--lease-duration-ms 4000 --renew-deadline-ms 3000 --retry-period-ms 500"
# shellcheck disable=SC2086
ctrl_start one $LEASE
one=$CTRL_PID
i=0
until [ "$(kubectl get lease autoshard-controller -o 'jsonpath={.spec.holderIdentity}' 2>/dev/null)" = one ]; do
	i=$((i + 1)); [ "$i" -lt 300 ] || fail "controller one never held the lease"
	sleep 0.2
done
# shellcheck disable=SC2086
ctrl_start two $LEASE
two=$CTRL_PID
vc_apply vk 2 0
vc_wait_ready vk 2 2
grep -q 'leader: one' "$D/controller-two.log" || fail "two did not see one as leader"
grep -qE 'leading|engine|valkeycluster' "$D/controller-two.log" && fail "the passive controller acted: $(cat "$D/controller-two.log")"
grep -q 'engine started' "$D/controller-one.log" || fail "one did not run the engine"
pass "one leads and made the cluster; two stays passive"

# Probes and metrics: both are live and ready (two stands by, ready to take
# over); only one says it leads.
for n in one two; do
	case "$(ctrl_http $n /healthz)" in "200 ok"*) ;; *) fail "$n /healthz: $(ctrl_http $n /healthz)" ;; esac
	case "$(ctrl_http $n /readyz)" in "200 ok"*) ;; *) fail "$n /readyz: $(ctrl_http $n /readyz)" ;; esac
	case "$(ctrl_http $n /nope)" in "404 "*) ;; *) fail "$n /nope: $(ctrl_http $n /nope)" ;; esac
done
ctrl_http one /metrics | grep -q "autoshard_controller_leader 1 " || fail "one's /metrics: $(ctrl_http one /metrics)"
ctrl_http two /metrics | grep -q "autoshard_controller_leader 0 " || fail "two's /metrics: $(ctrl_http two /metrics)"
pass "/healthz and /readyz 200 on both, unknown path 404, /metrics leader 1 on one and 0 on two"

kill -STOP "$one"
stopped_at=$(date +%s%N)
i=0
until grep -q 'leading: acting' "$D/controller-two.log"; do
	i=$((i + 1)); [ "$i" -lt 600 ] || fail "two never took over"
	sleep 0.1
done
took=$((($(date +%s%N) - stopped_at) / 1000000))
# It may take over only once the record stood unchanged for the lease duration.
[ "$took" -ge 3500 ] || fail "two took over after $took ms, before the 4000 ms lease could expire"
[ "$(kubectl get lease autoshard-controller -o 'jsonpath={.spec.holderIdentity}')" = two ] || fail "lease holder"
pass "two took over $took ms after one froze"

vc_apply vk 3 0
vc_wait_ready vk 3 3
check_cluster "$(pod_ip vk-0):6379" 3 0 none
grep -q 'engine started' "$D/controller-two.log" || fail "two did not run the engine"
pass "two acts: scaled to 3 shards"

kill -CONT "$one"
i=0
while kill -0 "$one" 2>/dev/null && [ "$(ps -o stat= -p "$one" | cut -c1)" != Z ]; do
	i=$((i + 1)); [ "$i" -lt 300 ] || fail "one did not exit after losing the lease"
	sleep 0.1
done
rc=0
wait "$one" 2>/dev/null || rc=$?
[ "$rc" = 1 ] || fail "one exited with $rc, expected 1"
grep -q 'lost the lease' "$D/controller-one.log" || fail "one did not say it lost the lease"
kill -0 "$two" || fail "two died"
pass "one, resumed, saw it lost the lease and exited 1"
