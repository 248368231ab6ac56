#!/bin/bash
# The controller's HTTP side against a real API server, during a real
# rebalance (3 -> 5 shards with 300000 keys):
#   - /metrics follows the Prometheus text format (HELP/TYPE, names, labels,
#     values, counters end in _total, histograms cumulative with +Inf =
#     _count) and carries the per-cluster families; after the scale it says 5
#     masters, 16384 slots, no open slot and a rebalance duration observed;
#   - /api/v1/clusters has the documented shape and shows the slot map;
#   - a WebSocket client on /ws receives progress updates while slots move;
#   - headless Chromium loads the dashboard: the slot map is drawn, the
#     owners in the DOM go from 3 to 5 masters as slots move, a moving phase
#     is shown while it happens, and a screenshot is saved (docs/ holds one);
#   - bad requests (unknown path, POST, a huge header) get HTTP errors and
#     the controller keeps reconciling.
export AUTOSHARD_K8S_IP=${AUTOSHARD_K8S_IP:-127.30.13.1}
. "$(dirname "$0")/lib_ctrl.sh"
OBS="/usr/bin/python3 $SRC/tests/k8s/observe.py"
ctrl_up
ctrl_start a --resync-s 10
i=0
until port=$(sed -n 's/.*http: serving .* on port \([0-9]*\).*/\1/p' "$D/controller-a.log" | tail -1) && [ -n "$port" ]; do
	i=$((i + 1)); [ "$i" -lt 100 ] || fail "no HTTP port in the controller's log"
	sleep 0.1
done
URL=http://127.0.0.1:$port

vc_apply vk 3 0
vc_wait_ready vk 3 3
seed=$(pod_ip vk-0):6379
$KV load "$seed" 300000 ko >/dev/null || fail "load"
$OBS api "$URL/api/v1/clusters" >"$D/api-before.json" || fail "/api/v1/clusters before the scale"
grep -q '"masters": 3' "$D/api-before.json" && grep -q '"slots": 16384' "$D/api-before.json" ||
	fail "API before the scale: $(cat "$D/api-before.json")"
$OBS metrics "$URL/metrics" >"$D/metrics-before.json" || fail "/metrics before the scale"
pass "/api/v1/clusters and /metrics well formed: 3 masters, 16384 slots"

# Watch the scale through the WebSocket and a browser at once.
stop=$D/stop
$OBS ws "ws://127.0.0.1:$port/ws" "$stop" "$D/ws.jsonl" 2>"$D/ws.err" &
ws_pid=$!
CTRL_PIDS+=("$ws_pid")
$OBS browser "$URL/" "$stop" "$D/browser.jsonl" "$D/dashboard.png" 2>"$D/browser.err" &
br_pid=$!
CTRL_PIDS+=("$br_pid")
i=0
until [ -s "$D/browser.jsonl" ] && grep -q '"owners": "0-' "$D/browser.jsonl"; do
	i=$((i + 1)); [ "$i" -lt 300 ] || fail "the dashboard did not show a slot map: $(tail -3 "$D/browser.jsonl" 2>/dev/null) $(cat "$D/browser.err")"
	kill -0 "$br_pid" 2>/dev/null || fail "browser: $(cat "$D/browser.err")"
	sleep 0.2
done
kubectl scale valkeycluster/vk --replicas=5 >/dev/null
vc_wait_ready vk 5 5
sleep 1.5 # the last map and result reach the page (published within 250 ms)
touch "$stop"
wait "$ws_pid" || fail "ws client: $(cat "$D/ws.err")"
wait "$br_pid" || fail "browser: $(cat "$D/browser.err")"
check_cluster "$seed" 5 300000 ko

grep -qE '"phase": "[a-hj-z][a-z-]*", "slotsDone": [1-9]' "$D/ws.jsonl" ||
	fail "no WebSocket update with slots moving ($(wc -l <"$D/ws.jsonl") messages): $(head -3 "$D/ws.jsonl")"
grep '"phase": "idle"' "$D/ws.jsonl" | tail -1 | grep -q '"owners": 5' || fail "the last WebSocket update does not show 5 owners"
pass "WebSocket: $(wc -l <"$D/ws.jsonl") updates, $(grep -vc '"phase": "idle"' "$D/ws.jsonl") while slots moved, ending with 5 owners"

/usr/bin/python3 - "$D/browser.jsonl" <<'PY' || fail "dashboard observations: $(tail -3 "$D/browser.jsonl")"
import json, sys
obs = [json.loads(l) for l in open(sys.argv[1])]
shot = obs[-1].get("screenshot")
obs = [o for o in obs if "clusters" in o and o["clusters"]]
def owners(o):
    return len({r.split(":")[1] for r in o["clusters"][0]["owners"].split()})
first, last = obs[0], obs[-1]
assert first["clusters"][0]["canvas"], "no slot map canvas"
assert owners(first) == 3, "first map has %d owners" % owners(first)
assert owners(last) == 5, "last map has %d owners" % owners(last)
assert last["clusters"][0]["rows"] == 5, "node table rows: %d" % last["clusters"][0]["rows"]
assert last["live"] == "on", "WebSocket not live at the end"
maps = [o["clusters"][0]["owners"] for o in obs]
changes = sum(1 for a, b in zip(maps, maps[1:]) if a != b)
moving = sum(1 for o in obs if o["clusters"][0]["phase"] not in ("idle", None))
assert moving > 0, "the page never showed a migration phase"
assert shot == "during", "screenshot not taken during the migration"
print("dashboard: %d observations, map changed %d times, %d showed a migration, %d updates" %
      (len(obs), changes, moving, last["updates"]))
PY
[ -s "$D/dashboard.png" ] || fail "no screenshot"
if [ -n "${AUTOSHARD_SCREENSHOT_DIR:-}" ]; then cp "$D/dashboard.png" "$AUTOSHARD_SCREENSHOT_DIR/dashboard-rebalance.png"; fi
pass "dashboard in Chromium: slot map drawn, owners 3 -> 5 while a migration phase showed; screenshot taken during it"

$OBS metrics "$URL/metrics" >"$D/metrics-after.json" || fail "/metrics after the scale"
/usr/bin/python3 - "$D/metrics-after.json" <<'PY' || fail "metrics after the scale: $(head -c 600 "$D/metrics-after.json")"
import json, sys
m = json.load(open(sys.argv[1]))
L = '{namespace="default",name="vk"}'
assert m["autoshard_cluster_masters" + L] == 5, m["autoshard_cluster_masters" + L]
assert m["autoshard_cluster_slots_assigned" + L] == 16384
assert m["autoshard_cluster_slots_open" + L] == 0
assert m["autoshard_cluster_keys" + L] == 300000, m["autoshard_cluster_keys" + L]
assert m["autoshard_cluster_ready" + L] == 1
assert m["autoshard_rebalance_duration_seconds_count" + L] >= 2, "runs observed"
assert m["autoshard_controller_leader"] == 1
PY
pass "/metrics after the scale: 5 masters, 16384 slots, none open, 300000 keys, Ready, rebalance durations observed"

code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/nope" || true)
[ "$code" = 404 ] || fail "unknown path: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d x "$URL/metrics" || true)
[ "$code" = 405 ] || fail "POST: $code"
curl -s -o /dev/null -m 5 -H "X-Big: $(head -c 20000 /dev/zero | tr '\0' a)" "$URL/metrics" || true
kubectl scale valkeycluster/vk --replicas=4 >/dev/null
vc_wait_ready vk 4 4
check_cluster "$seed" 4 300000 ko
pass "unknown path 404, POST 405, a huge header refused; the controller still reconciles (scaled to 4)"
