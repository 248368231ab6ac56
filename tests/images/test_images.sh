#!/bin/bash
# The container image works as shipped: built from docker/Dockerfile on the
# locally made Debian base (scripts/build-images.sh), three containers running
# `autoshard-sidecar supervise` with a static peer list form one healthy
# cluster with all 16384 slots, as UID 10001, on a read-only root filesystem
# with only a tmpfs data directory and no capabilities; keys written through
# one container are read through another; SIGTERM to the sidecar (PID 1)
# stops the container cleanly. The controller in the same image: --help exits
# 0, no kubeconfig is one clear error line, and (when it has --http-addr)
# /healthz answers 200 from outside the container.
#
# Needs a Docker engine and root (debootstrap, first run only). Nothing is
# skipped: a missing engine fails the test. Cleans up its containers and
# network on any exit.
set -euo pipefail

SRC=${AUTOSHARD_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PREFIX=${AUTOSHARD_IMAGES_SUBNET:-172.29.50}
NET=autoshard-test-$$
NAMES=()
TMP=$(mktemp -d)
T0=$SECONDS

log() { echo "[$((SECONDS - T0))s] $*"; }
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

cleanup() {
	local rc=$? c
	if [ "$rc" != 0 ]; then
		for c in "${NAMES[@]}"; do
			echo "--- docker logs $c (last 30 lines)" >&2
			docker logs --tail 30 "$c" >&2 2>&1 || true
		done
	fi
	for c in "${NAMES[@]}"; do
		docker rm -f "$c" >/dev/null 2>&1 || true
	done
	docker network rm "$NET" >/dev/null 2>&1 || true
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Poll CMD until it succeeds, at most SECS seconds.
wait_for() { # secs what cmd...
	local secs=$1 what=$2 end=$((SECONDS + $1))
	shift 2
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$end" ] || fail "$what: not after ${secs}s"
		sleep 1
	done
}

command -v docker >/dev/null || fail "no docker client"
command -v curl >/dev/null || fail "no curl"
docker info >/dev/null 2>&1 || fail "no Docker engine answers"

# ---- build (base image from cache when present, layers from docker's cache)
t=$SECONDS
"$SRC/scripts/build-images.sh" | tee "$TMP/build.out"
IMAGE=$(sed -n 's/^build-images: \([^ ]*\) [0-9.]* MB$/\1/p' "$TMP/build.out")
[ -n "$IMAGE" ] || fail "build-images.sh named no image"
log "images built in $((SECONDS - t))s: $IMAGE"

[ "$(docker image inspect -f '{{.Config.User}}' "$IMAGE")" = "10001:10001" ] || fail "image user is not 10001:10001"
base=$(sed -n 's/^ARG BASE_IMAGE=//p' "$SRC/docker/Dockerfile")
docker image inspect "$base" >/dev/null || fail "base image $base missing"
docker run --rm "$IMAGE" sh -c '! command -v cc && ! command -v cmake && ! command -v make' >/dev/null ||
	fail "the image holds build tools"

# ---- three Valkey containers, one cluster
docker network create --subnet "$PREFIX.0/24" "$NET" >/dev/null
PEERS="$PREFIX.11:6379,$PREFIX.12:6379,$PREFIX.13:6379"
for i in 1 2 3; do
	name=$NET-valkey-$i
	NAMES+=("$name")
	docker run -d --name "$name" --network "$NET" --ip "$PREFIX.1$i" \
		--read-only --tmpfs /data:rw,size=64m,mode=0750,uid=10001,gid=10001 \
		--cap-drop ALL --security-opt no-new-privileges \
		"$IMAGE" autoshard-sidecar supervise --source static --peers "$PEERS" \
		--node "$PREFIX.1$i:6379" --data-dir /data --mode ephemeral >/dev/null
done
t=$SECONDS
wait_for 120 "a healthy cluster" docker exec "$NET-valkey-1" autoshard check --seed "$PREFIX.11:6379"
log "cluster healthy ${SECONDS}s after start ($((SECONDS - t))s)"
for i in 1 2 3; do
	out=$(docker exec "$NET-valkey-$i" autoshard check --seed "$PREFIX.1$i:6379") ||
		fail "check from node $i: $out"
	echo "node $i: $out"
	case $out in
	*"3 masters"*"16384 slots covered"*) ;;
	*) fail "node $i: not 3 masters with all 16384 slots: $out" ;;
	esac
done

# The servers answer clients from outside the containers (the host here).
exec 3<>"/dev/tcp/$PREFIX.12/6379"
printf 'PING\r\n' >&3
read -r -t 5 pong <&3 || fail "no answer from $PREFIX.12:6379 to the host"
exec 3<&-
[ "${pong%$'\r'}" = +PONG ] || fail "$PREFIX.12:6379 answered '$pong' to PING"

# ---- keys: written through container 1, read through container 2
for k in $(seq 1 200); do echo "SET key:$k value-$k"; done |
	docker exec -i "$NET-valkey-1" valkey-cli -c -h "$PREFIX.11" | grep -v '^-> Redirected' >"$TMP/set.out"
[ "$(grep -c '^OK$' "$TMP/set.out")" = 200 ] || fail "not every SET answered OK: $(sort "$TMP/set.out" | uniq -c)"
for k in $(seq 1 200); do echo "GET key:$k"; done |
	docker exec -i "$NET-valkey-2" valkey-cli -c -h "$PREFIX.12" | grep -v '^-> Redirected' >"$TMP/get.out"
for k in $(seq 1 200); do echo "value-$k"; done | diff - "$TMP/get.out" >/dev/null ||
	fail "keys read back differ from those written"
total=0
for i in 1 2 3; do
	n=$(docker exec "$NET-valkey-$i" valkey-cli -h "$PREFIX.1$i" dbsize)
	[ "$n" -gt 0 ] || fail "node $i holds no keys: the keys did not spread over the shards"
	total=$((total + n))
done
[ "$total" = 200 ] || fail "the nodes hold $total keys, not 200"
log "200 keys written and read back across 3 shards"

# ---- non-root, read-only, no capabilities
for i in 1 2 3; do
	c=$NET-valkey-$i
	[ "$(docker exec "$c" id -u)" = 10001 ] || fail "$c: exec user is not 10001"
	docker top "$c" -o pid,uid,comm >"$TMP/top"
	grep -q 'valkey-server' "$TMP/top" || fail "$c: no valkey-server process: $(cat "$TMP/top")"
	grep -q 'autoshard-side' "$TMP/top" || fail "$c: no autoshard-sidecar process: $(cat "$TMP/top")"
	if awk 'NR > 1 && $2 != 10001 { bad = 1 } END { exit !bad }' "$TMP/top"; then
		fail "$c: a process not running as UID 10001: $(cat "$TMP/top")"
	fi
	[ "$(docker inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$c")" = true ] || fail "$c: root fs not read-only"
	if docker exec "$c" touch /usr/local/bin/x 2>/dev/null; then
		fail "$c: the root filesystem is writable"
	fi
	[ "$(docker exec "$c" sed -n 's/^CapEff:[[:space:]]*//p' /proc/1/status)" = 0000000000000000 ] ||
		fail "$c: PID 1 has capabilities"
done
log "every process runs as UID 10001 on a read-only root fs without capabilities"

# ---- SIGTERM to PID 1 (the sidecar) stops the server and the container cleanly
c=$NET-valkey-3
t=$SECONDS
docker stop -t 30 "$c" >/dev/null
code=$(docker inspect -f '{{.State.ExitCode}}' "$c")
[ "$code" != 137 ] || fail "$c: had to be killed after SIGTERM"
[ $((SECONDS - t)) -lt 25 ] || fail "$c: took $((SECONDS - t))s to stop"
grep -q 'signal 15: stopping' <<<"$(docker logs "$c" 2>&1)" || fail "$c: the sidecar did not log the SIGTERM"
log "docker stop: exit code $code in $((SECONDS - t))s"

# ---- the controller in the same image
docker run --rm --read-only --cap-drop ALL "$IMAGE" autoshard-controller --help >"$TMP/help" 2>&1 ||
	fail "autoshard-controller --help failed: $(cat "$TMP/help")"
grep -q -- '--kubeconfig' "$TMP/help" || fail "controller --help does not list --kubeconfig"
rc=0
timeout 30 docker run --rm --read-only --cap-drop ALL "$IMAGE" autoshard-controller >"$TMP/nokube" 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "the controller started without a kubeconfig"
[ "$rc" != 124 ] || fail "the controller hung without a kubeconfig"
[ "$(grep -c . "$TMP/nokube")" = 1 ] || fail "not one error line without a kubeconfig: $(cat "$TMP/nokube")"
grep -qi 'kubeconfig' "$TMP/nokube" || fail "the error does not name the kubeconfig: $(cat "$TMP/nokube")"
log "controller: --help ok; without a kubeconfig (exit $rc): $(cat "$TMP/nokube")"

if grep -q -- '--http-addr' "$TMP/help"; then
	# An API server that does not answer: the controller keeps trying, its
	# liveness endpoint answers, readiness does not.
	mkdir -p "$TMP/kube"
	cat >"$TMP/kube/config" <<KC
apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster:
    server: https://$PREFIX.250:6443
    insecure-skip-tls-verify: true
contexts:
- name: nowhere
  context: {cluster: nowhere, user: nobody, namespace: default}
current-context: nowhere
users:
- name: nobody
  user: {}
KC
	chmod 0755 "$TMP/kube"
	chmod 0644 "$TMP/kube/config"
	name=$NET-controller
	NAMES+=("$name")
	docker run -d --name "$name" --network "$NET" --ip "$PREFIX.20" --read-only --cap-drop ALL \
		--security-opt no-new-privileges -v "$TMP/kube:/kube:ro" \
		"$IMAGE" autoshard-controller --kubeconfig /kube/config --http-addr :8080 >/dev/null
	healthz() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$PREFIX.20:8080/healthz")" = 200 ]; }
	wait_for 30 "controller /healthz 200" healthz
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$PREFIX.20:8080/readyz")
	[ "$code" = 503 ] || fail "controller /readyz is $code without an API server, not 503"
	[ "$(docker inspect -f '{{.State.Running}}' "$name")" = true ] || fail "the controller exited"
	[ "$(docker exec "$name" id -u)" = 10001 ] || fail "controller: user is not 10001"
	log "controller: /healthz 200, /readyz 503 with no API server, UID 10001"
else
	echo "NOTE: this autoshard-controller has no --http-addr: /healthz not checked"
fi

docker image inspect -f '{{.Size}}' "$IMAGE" |
	awk -v i="$IMAGE" '{ printf "image size: %s %.1f MB\n", i, $1 / 1e6 }'
log "PASS"
