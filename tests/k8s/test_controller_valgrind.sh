#!/bin/bash
# The controller under valgrind --leak-check=full (its forked engine runs
# included, since valgrind follows fork): a 3 x 1 ValkeyCluster bootstrapped
# to Ready, keys loaded, scaled to 4 shards (slots move with their keys,
# live map published), the /metrics and /api endpoints read, then SIGTERM:
# exit 0, every key there, and no memory error or leak in any process.
. "$(dirname "$0")/lib_ctrl.sh"
command -v valgrind >/dev/null || fail "valgrind not installed (scripts/install-deps.sh)"
ctrl_up
CTRL_WRAP="valgrind -q --suppressions=$SRC/tests/valgrind.supp --leak-check=full --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99"
ctrl_start a --resync-s 10
vc_apply vk 3 1
vc_wait_ready vk 3 6 1200
seed=$(pod_ip vk-1):6379
$KV load "$seed" 3000 kv >/dev/null
kubectl patch valkeycluster vk --type merge -p '{"spec":{"shards":4}}' >/dev/null
vc_wait_ready vk 4 8 1200
check_cluster "$seed" 4 3000 kv
[ "$(ctrl_http a /metrics | cut -d' ' -f1)" = 200 ] || fail "/metrics under valgrind"
[ "$(ctrl_http a /api/v1/clusters | cut -d' ' -f1)" = 200 ] || fail "/api/v1/clusters under valgrind"
pass "under valgrind: 3x1 Ready, scaled to 4 shards with 3000 keys"
kill -TERM "$CTRL_PID"
rc=0
wait "$CTRL_PID" || rc=$?
[ "$rc" = 0 ] || { tail -n 60 "$D/controller-a.log" >&2; fail "the controller under valgrind exited $rc (99: valgrind found errors)"; }
if grep -q "^==[0-9]*==" "$D/controller-a.log"; then
	grep -A12 "^==[0-9]*==" "$D/controller-a.log" | head -80 >&2
	fail "valgrind reported errors or leaks (controller or an engine child)"
fi
pass "SIGTERM: exit 0, no memory error and no leak in the controller or its engine runs"
