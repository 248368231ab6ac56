# Upsun simulation (sourced by tests/upsun/test_*.sh, after tests/integration/lib.sh).
# An "environment" is a folder holding run/peers.json (shaped as Upsun writes
# it: {"<app>.<N>": "<ip>"} for every instance of every app) and one folder
# per instance with its "instance" mount (data/). Each instance is a local
# process with its own 127.x address and Upsun's PLATFORM_* variables; its
# web.commands.start (autoshard-sidecar supervise) is restarted when it exits,
# as Upsun does, except after exit code 3 (the clone guard's refusal), which
# the harness records. Hooks run in Upsun's order: build (nothing to do
# here), start, post_start per instance, then deploy once.

UPSUN_APP=valkey

# On any exit: stop every instance's restart loop, its sidecar and the server
# the sidecar started (a killed loop alone would leave both running).
sim_cleanup() {
	local f loop
	for f in $(find "$T" -name loop.pid 2>/dev/null); do
		touch "$(dirname "$f")/stop"
		loop=$(cat "$f")
		pkill -9 -P "$loop" 2>/dev/null || true
		kill -9 "$loop" 2>/dev/null || true
	done
	for f in $(find "$T" -path '*/data/server.pid' 2>/dev/null); do
		kill -9 "$(cat "$f")" 2>/dev/null || true
	done
}
CLEANUP_HOOK=sim_cleanup

# peers_write ENV BASE N: instances 0..N-1 of app valkey at BASE.(N+1), plus a
# client app's instance, written atomically like the platform's update.
peers_write() {
	local env=$1 base=$2 n=$3 i sep="" tmp
	mkdir -p "$env/run"
	tmp="$env/run/.peers.json.tmp"
	{
		printf '{'
		for i in $(seq 0 $((n - 1))); do printf '%s"%s.%d": "%s.%d"' "$sep" "$UPSUN_APP" "$i" "$base" $((i + 1)); sep=", "; done
		printf ', "client.0": "%s.200"}\n' "$base"
	} > "$tmp"
	mv "$tmp" "$env/run/peers.json"
}

relationships() { # BASE N: PLATFORM_RELATIONSHIPS of a client of the valkey app
	local base=$1 n=$2 ips="" i
	for i in $(seq 1 "$n"); do ips="$ips${ips:+,}\"$base.$i\""; done
	printf '{"valkey":[{"service":"valkey","host":"valkey.internal","port":80,"scheme":"http","instance_ips":[%s]}]}' "$ips" | base64 -w0
}

# instance_env ENV BASE N MODE: the variables an instance of ENV sees
instance_env() {
	local env=$1 base=$2 n=$3 mode=$4
	echo "PLATFORM_APPLICATION_NAME=$UPSUN_APP PLATFORM_ENVIRONMENT=$(basename "$env") PLATFORM_BRANCH=$(basename "$env")"
	echo "AUTOSHARD_SOURCE=upsun AUTOSHARD_UPSUN_PEERS=$env/run/peers.json AUTOSHARD_SELF_IP=$base.$((n + 1))"
	echo "AUTOSHARD_DATA_DIR=$env/i$n/data AUTOSHARD_MODE=$mode AUTOSHARD_NODE_TIMEOUT_MS=2000 AUTOSHARD_REPLICAS=0"
}

# start_instance ENV BASE N MODE: web.commands.start under a restart loop, then post_start
start_instance() {
	local env=$1 base=$2 n=$3 mode=$4 d
	d="$env/i$n"; mkdir -p "$d/data"; rm -f "$d/stop"
	(
		while :; do
			env $(instance_env "$env" "$base" "$n" "$mode") "$SIDECAR" supervise >>"$d/start.log" 2>&1 && rc=0 || rc=$?
			echo "$rc" >>"$d/exits"
			[ "$rc" = 3 ] && exit 0
			[ -f "$d/stop" ] && exit 0
			sleep 0.5
		done
	) &
	echo $! >"$d/loop.pid"
	RAW_PIDS="$RAW_PIDS $!"
}

post_start() { # ENV BASE N MODE: exit status of post_start
	env $(instance_env "$1" "$2" "$3" "$4") "$SIDECAR" wait-ready --ready-timeout 120 >>"$1/i$3/post_start.log" 2>&1
}

# stop_instance ENV N: the platform stops the container (SIGTERM to the start command)
stop_instance() {
	local d="$1/i$2" pid k=0
	touch "$d/stop"
	for pid in $(pgrep -P "$(cat "$d/loop.pid")" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
	while kill -0 "$(cat "$d/loop.pid")" 2>/dev/null; do
		k=$((k + 1)); [ $k -lt 400 ] || fail "instance $d did not stop"; sleep 0.1
	done
}

# deploy ENV BASE MODE: hooks.deploy, run once
deploy_hook() {
	env $(instance_env "$1" "$2" 0 "$3") "$SIDECAR" wait-ready --ready-timeout 120 >>"$1/deploy.log" 2>&1
}

data_sums() { (cd "$1" && find . -path '*/data/*' -type f \( -name nodes.conf -o -name 'appendonly*' -o -name autoshard-topology.json \) | sort | xargs -r md5sum); }
