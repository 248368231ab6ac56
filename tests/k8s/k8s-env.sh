#!/bin/bash
# k8s-env.sh: a real Kubernetes control plane on loopback for tests.
#
#   k8s-env.sh build          build (once) and cache kube-apiserver, kube-controller-manager,
#                             kubectl, etcd, helm and the test pod runner
#   k8s-env.sh up DIR [--no-podrunner]
#                             start etcd, kube-apiserver, kube-controller-manager and the pod
#                             runner; write DIR/kubeconfig and DIR/env.sh
#   k8s-env.sh down DIR       stop everything started by `up DIR` and remove DIR
#   k8s-env.sh bin            print the directory holding the cached binaries
#
# See README.md next to this file. Versions are pinned here and nowhere else
# (podrunner/go.mod must carry the matching client-go; `build` checks it).
set -euo pipefail

K8S_VERSION=v1.37.1      # k8s.io/kubernetes; staging modules at v0.37.1
ETCD_VERSION=v3.7.3      # go.etcd.io/etcd/server/v3 (kube-apiserver 1.37 uses the etcd 3.7 client)
HELM_VERSION=v3.22.0     # helm.sh/helm/v3 (built against client-go v0.37)

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GO=${GO:-/usr/local/go/bin/go}
CACHE_ROOT=${AUTOSHARD_CACHE:-$HOME/.cache/autoshard}
BIN=$CACHE_ROOT/k8s/$K8S_VERSION

# Addresses: the control plane on one loopback address (default 127.30.0.1), pods on a
# pool derived from it: 127.30.N.x -> 127.31.N.1-127.31.N.250. Another
# AUTOSHARD_K8S_IP runs a second environment beside the first. Nothing here uses
# 127.4x-127.9x (integration tests).
K8S_IP=${AUTOSHARD_K8S_IP:-127.30.0.1}
_n=${K8S_IP#*.*.}; _n=${_n%%.*}
K8S_POD_POOL=${AUTOSHARD_K8S_POD_POOL:-127.31.$_n.1-127.31.$_n.250}
ETCD_CLIENT_PORT=2379
ETCD_PEER_PORT=2380
APISERVER_PORT=6443
KCM_PORT=10257
SERVICE_CIDR=10.0.0.0/24
NODE_NAME=${AUTOSHARD_K8S_NODE:-podrunner-0}

die() { echo "k8s-env: $*" >&2; exit 1; }
note() { echo "k8s-env: $*" >&2; }

# ---------------------------------------------------------------- build

gobuild_env() {
	export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod GOMAXPROCS=${GOMAXPROCS:-2}
	export GOPROXY=${GOPROXY:-https://proxy.golang.org,direct}
}

# k8s_ldflags PKG...: version stamps so `kubectl version`, helm's kubeVersion checks and
# the apiserver's /version report the real release instead of v0.0.0-master.
k8s_ldflags() {
	local v=${K8S_VERSION#v} major minor p f="-s -w"
	major=${v%%.*}; minor=${v#*.}; minor=${minor%%.*}
	for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		f="$f -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=$major -X $p.gitMinor=$minor"
		f="$f -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
	done
	echo "$f"
}

# stamp_ok NAME VERSION: the cached binary exists and was built from VERSION.
stamp_ok() { [ -x "$BIN/$1" ] && [ "$(cat "$BIN/$1.version" 2>/dev/null)" = "$2" ]; }
stamp_put() { mv -f "$WORK/out/$1" "$BIN/$1"; echo "$2" >"$BIN/$1.version"; }

build_kubernetes() {
	local staging_minor m
	stamp_ok kube-apiserver "$K8S_VERSION" && stamp_ok kube-controller-manager "$K8S_VERSION" &&
		stamp_ok kubectl "$K8S_VERSION" && return 0
	note "building kubernetes $K8S_VERSION (kube-apiserver, kube-controller-manager, kubectl)"
	staging_minor="v0.${K8S_VERSION#v1.}"
	mkdir -p "$WORK/kube" && cd "$WORK/kube"
	"$GO" mod init autoshard.test/kube >/dev/null 2>&1
	# k8s.io/kubernetes replaces its staging modules with ./staging/...; a module that
	# requires it must map each of them to the published v0.X.Y of the same release.
	local kmod dl
	dl=$("$GO" mod download -json "k8s.io/kubernetes@$K8S_VERSION" 2>&1) || true
	case $dl in *'"Error"'*) die "cannot download k8s.io/kubernetes@$K8S_VERSION: $dl" ;; esac
	kmod=$(printf '%s\n' "$dl" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
	[ -f "$kmod" ] || die "cannot download k8s.io/kubernetes@$K8S_VERSION: $dl"
	for m in $(sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/.*#\1#p' "$kmod"); do
		"$GO" mod edit -replace "$m=$m@$staging_minor"
	done
	"$GO" get "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION" \
		"k8s.io/kubernetes/cmd/kube-controller-manager@$K8S_VERSION" \
		"k8s.io/kubernetes/cmd/kubectl@$K8S_VERSION" >/dev/null 2>&1 ||
		"$GO" get "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION" \
			"k8s.io/kubernetes/cmd/kube-controller-manager@$K8S_VERSION" \
			"k8s.io/kubernetes/cmd/kubectl@$K8S_VERSION"
	for m in kube-apiserver kube-controller-manager kubectl; do
		"$GO" build -p 2 -trimpath -ldflags "$(k8s_ldflags)" -o "$WORK/out/$m" "k8s.io/kubernetes/cmd/$m"
	done
	for m in kube-apiserver kube-controller-manager kubectl; do stamp_put "$m" "$K8S_VERSION"; done
}

build_etcd() {
	stamp_ok etcd "$ETCD_VERSION" && return 0
	note "building etcd $ETCD_VERSION"
	mkdir -p "$WORK/etcd" && cd "$WORK/etcd"
	"$GO" mod init autoshard.test/etcd >/dev/null 2>&1
	"$GO" get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
	"$GO" build -p 2 -trimpath -ldflags "-s -w" -o "$WORK/out/etcd" go.etcd.io/etcd/server/v3
	stamp_put etcd "$ETCD_VERSION"
}

build_helm() {
	stamp_ok helm "$HELM_VERSION" && return 0
	note "building helm $HELM_VERSION"
	mkdir -p "$WORK/helm" && cd "$WORK/helm"
	"$GO" mod init autoshard.test/helm >/dev/null 2>&1
	"$GO" get "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
	"$GO" build -p 2 -trimpath \
		-ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean" \
		-o "$WORK/out/helm" helm.sh/helm/v3/cmd/helm
	stamp_put helm "$HELM_VERSION"
}

# The pod runner is built from this checkout; its cache key is a hash of its sources.
podrunner_hash() {
	(cd "$HERE/podrunner" && cat go.mod go.sum *.go | sha256sum | cut -c1-16)
}

build_podrunner() {
	local h want
	h=$(podrunner_hash)
	stamp_ok podrunner "$h" && return 0
	want="k8s.io/client-go v0.${K8S_VERSION#v1.}"
	grep -q "^[[:space:]]*$want\$" "$HERE/podrunner/go.mod" ||
		die "podrunner/go.mod must require $want (K8S_VERSION=$K8S_VERSION)"
	note "building podrunner ($h)"
	(cd "$HERE/podrunner" && GOFLAGS=-mod=readonly "$GO" build -p 2 -trimpath -ldflags "-s -w" -o "$WORK/out/podrunner" .)
	stamp_put podrunner "$h"
}

cmd_build() {
	[ -x "$GO" ] || die "no Go toolchain at $GO (set GO=)"
	mkdir -p "$BIN"
	exec 9>"$BIN/.lock"
	flock 9
	if stamp_ok kube-apiserver "$K8S_VERSION" && stamp_ok kube-controller-manager "$K8S_VERSION" &&
		stamp_ok kubectl "$K8S_VERSION" && stamp_ok etcd "$ETCD_VERSION" &&
		stamp_ok helm "$HELM_VERSION" && stamp_ok podrunner "$(podrunner_hash)"; then
		return 0
	fi
	gobuild_env
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/autoshard-k8s-build.XXXXXX")
	trap 'rm -rf "$WORK"' EXIT
	mkdir -p "$WORK/out"
	local t0=$SECONDS
	build_kubernetes
	build_etcd
	build_helm
	build_podrunner
	note "built in $((SECONDS - t0)) s; binaries in $BIN"
}

# ---------------------------------------------------------------- up / down

# gen_cert NAME SUBJECT EXTENSIONS: an EC key and a certificate signed by DIR/pki/ca.
gen_cert() {
	local name=$1 subj=$2 ext=$3 pki=$D/pki
	openssl ecparam -name prime256v1 -genkey -noout -out "$pki/$name.key" 2>/dev/null
	openssl req -new -key "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr" 2>/dev/null
	printf '%s\n' "$ext" >"$pki/$name.ext"
	openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
		-days 3650 -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
	rm -f "$pki/$name.csr" "$pki/$name.ext"
}

gen_pki() {
	local pki=$D/pki
	mkdir -p "$pki" && chmod 700 "$pki"
	openssl ecparam -name prime256v1 -genkey -noout -out "$pki/ca.key" 2>/dev/null
	openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=autoshard-test-ca" -days 3650 \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
		-out "$pki/ca.crt" 2>/dev/null
	gen_cert apiserver "/CN=kube-apiserver" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:$K8S_IP,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
	gen_cert kcm "/CN=kube-controller-manager" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:$K8S_IP,DNS:localhost"
	local client="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
	gen_cert admin "/O=system:masters/CN=kubernetes-admin" "$client"
	gen_cert kcm-client "/CN=system:kube-controller-manager" "$client"
	# The aggregation layer's client (request-header authentication); without it the
	# controller-manager logs errors about a missing requestheader CA.
	gen_cert front-proxy-client "/CN=front-proxy-client" "$client"
	# The pod runner provisions PVs and finalizes pods: it needs more than system:nodes.
	gen_cert podrunner "/O=system:masters/CN=autoshard-podrunner" "$client"
	openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
	openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
}

# write_kubeconfig FILE CLIENT: a kubeconfig with everything embedded.
write_kubeconfig() {
	local f=$1 c=$2 pki=$D/pki
	cat >"$f" <<KC
apiVersion: v1
kind: Config
clusters:
- name: autoshard-test
  cluster:
    server: https://$K8S_IP:$APISERVER_PORT
    certificate-authority-data: $(base64 -w0 "$pki/ca.crt")
users:
- name: $c
  user:
    client-certificate-data: $(base64 -w0 "$pki/$c.crt")
    client-key-data: $(base64 -w0 "$pki/$c.key")
contexts:
- name: autoshard-test
  context:
    cluster: autoshard-test
    user: $c
    namespace: default
current-context: autoshard-test
KC
	chmod 600 "$f"
}

# start NAME CMD...: run CMD in the background, output to DIR/logs/NAME.log, pid recorded.
start() {
	local name=$1; shift
	nohup "$@" >"$D/logs/$name.log" 2>&1 </dev/null &
	echo "$name $!" >>"$D/pids"
}

alive() { kill -0 "$1" 2>/dev/null; }

pid_of() { awk -v n="$1" '$1 == n { print $2 }' "$D/pids"; }

# wait_for WHAT TRIES CMD...: run CMD every 0.2 s until it succeeds, at most TRIES times;
# fail early if the process named WHAT died.
wait_for() {
	local what=$1 tries=$2 pid i=0; shift 2
	pid=$(pid_of "$what")
	while ! "$@" >/dev/null 2>&1; do
		if [ -n "$pid" ] && ! alive "$pid"; then
			tail -n 40 "$D/logs/$what.log" >&2 || true
			die "$what exited during startup (log: $D/logs/$what.log)"
		fi
		i=$((i + 1))
		if [ "$i" -ge "$tries" ]; then
			tail -n 40 "$D/logs/$what.log" >&2 || true
			die "$what not ready after $tries tries (log: $D/logs/$what.log)"
		fi
		sleep 0.2
	done
}

tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

kubectl_() { "$BIN/kubectl" --kubeconfig "$D/kubeconfig" "$@"; }

node_ready() {
	[ "$(kubectl_ get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ]
}

cmd_up() {
	local run_podrunner=1 a
	D=$1; shift
	for a in "$@"; do
		case $a in
		--no-podrunner) run_podrunner=0 ;;
		*) die "up: unknown option $a" ;;
		esac
	done
	case $D in /*) ;; *) D=$PWD/$D ;; esac
	if [ -f "$D/pids" ]; then
		die "$D already holds an environment (run: k8s-env.sh down $D)"
	fi
	"$HERE/k8s-env.sh" build
	# Another environment on the same address would answer our readiness checks.
	for a in $ETCD_CLIENT_PORT $ETCD_PEER_PORT $APISERVER_PORT $KCM_PORT; do
		! tcp_open "$K8S_IP" "$a" ||
			die "$K8S_IP:$a is in use (another environment? pick another AUTOSHARD_K8S_IP)"
	done
	mkdir -p "$D/logs" "$D/etcd"
	: >"$D/pids"
	# Anything below that fails leaves a partial environment: take it down.
	trap 'rc=$?; [ $rc = 0 ] || { note "up failed; logs in $D/logs"; AUTOSHARD_K8S_KEEP=1 cmd_down "$D"; }' EXIT
	gen_pki
	write_kubeconfig "$D/kubeconfig" admin
	write_kubeconfig "$D/kcm.kubeconfig" kcm-client
	write_kubeconfig "$D/podrunner.kubeconfig" podrunner

	start etcd "$BIN/etcd" --name autoshard-test --data-dir "$D/etcd" \
		--listen-client-urls "http://$K8S_IP:$ETCD_CLIENT_PORT" \
		--advertise-client-urls "http://$K8S_IP:$ETCD_CLIENT_PORT" \
		--listen-peer-urls "http://$K8S_IP:$ETCD_PEER_PORT" \
		--initial-advertise-peer-urls "http://$K8S_IP:$ETCD_PEER_PORT" \
		--initial-cluster "autoshard-test=http://$K8S_IP:$ETCD_PEER_PORT" \
		--unsafe-no-fsync --log-level warn
	wait_for etcd 300 tcp_open "$K8S_IP" "$ETCD_CLIENT_PORT"

	start kube-apiserver "$BIN/kube-apiserver" \
		--etcd-servers "http://$K8S_IP:$ETCD_CLIENT_PORT" \
		--bind-address "$K8S_IP" --advertise-address "$K8S_IP" --secure-port "$APISERVER_PORT" \
		--tls-cert-file "$D/pki/apiserver.crt" --tls-private-key-file "$D/pki/apiserver.key" \
		--client-ca-file "$D/pki/ca.crt" \
		--service-account-issuer https://kubernetes.default.svc.cluster.local \
		--service-account-key-file "$D/pki/sa.pub" \
		--service-account-signing-key-file "$D/pki/sa.key" \
		--api-audiences https://kubernetes.default.svc.cluster.local \
		--service-cluster-ip-range "$SERVICE_CIDR" \
		--authorization-mode Node,RBAC \
		--endpoint-reconciler-type none \
		--requestheader-client-ca-file "$D/pki/ca.crt" \
		--requestheader-allowed-names front-proxy-client \
		--requestheader-username-headers X-Remote-User \
		--requestheader-group-headers X-Remote-Group \
		--requestheader-extra-headers-prefix X-Remote-Extra- \
		--proxy-client-cert-file "$D/pki/front-proxy-client.crt" \
		--proxy-client-key-file "$D/pki/front-proxy-client.key" \
		--enable-admission-plugins NodeRestriction \
		--allow-privileged=true --profiling=false -v=1
	wait_for kube-apiserver 750 kubectl_ get --raw /readyz

	start kube-controller-manager "$BIN/kube-controller-manager" \
		--kubeconfig "$D/kcm.kubeconfig" \
		--authentication-kubeconfig "$D/kcm.kubeconfig" \
		--authorization-kubeconfig "$D/kcm.kubeconfig" \
		--bind-address "$K8S_IP" --secure-port "$KCM_PORT" \
		--tls-cert-file "$D/pki/kcm.crt" --tls-private-key-file "$D/pki/kcm.key" \
		--client-ca-file "$D/pki/ca.crt" \
		--controllers '*' --use-service-account-credentials=true \
		--service-account-private-key-file "$D/pki/sa.key" --root-ca-file "$D/pki/ca.crt" \
		--cluster-signing-cert-file "$D/pki/ca.crt" --cluster-signing-key-file "$D/pki/ca.key" \
		--service-cluster-ip-range "$SERVICE_CIDR" --allocate-node-cidrs=false \
		--leader-elect=false --profiling=false -v=1
	wait_for kube-controller-manager 750 kubectl_ get --raw /healthz \
		--server "https://$K8S_IP:$KCM_PORT"
	# Pods can be created once the namespace's default ServiceAccount exists.
	wait_for kube-controller-manager 750 kubectl_ get serviceaccount default -n default

	if [ "$run_podrunner" = 1 ]; then
		start podrunner "$BIN/podrunner" --kubeconfig "$D/podrunner.kubeconfig" \
			--node-name "$NODE_NAME" --node-ip "$K8S_IP" --ip-pool "$K8S_POD_POOL" \
			--state-dir "$D/podrunner" ${AUTOSHARD_K8S_IMAGE_MAP:+--image-map "$AUTOSHARD_K8S_IMAGE_MAP"}
		wait_for podrunner 750 node_ready
	fi

	cat >"$D/env.sh" <<ENV
# Source this file to use the environment started by: k8s-env.sh up $D
export KUBECONFIG='$D/kubeconfig'
export PATH='$BIN':"\$PATH"
export AUTOSHARD_K8S_IP='$K8S_IP'
export AUTOSHARD_K8S_APISERVER='https://$K8S_IP:$APISERVER_PORT'
export AUTOSHARD_K8S_CA='$D/pki/ca.crt'
export AUTOSHARD_K8S_POD_POOL='$K8S_POD_POOL'
export AUTOSHARD_K8S_NODE='$NODE_NAME'
export AUTOSHARD_K8S_STATE='$D/podrunner'
ENV
	trap - EXIT
	note "up: apiserver https://$K8S_IP:$APISERVER_PORT, kubeconfig $D/kubeconfig"
}

# stop_pid NAME PID: SIGTERM, wait up to ~15 s, then SIGKILL. Only if PID still runs a
# binary from the cache (a pid recorded long ago may belong to someone else now).
stop_pid() {
	local name=$1 pid=$2 i=0 exe
	alive "$pid" || return 0
	exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
	case $exe in "$BIN"/*) ;; *) return 0 ;; esac
	kill -TERM "$pid" 2>/dev/null || return 0
	while alive "$pid" && [ "$i" -lt 75 ]; do sleep 0.2; i=$((i + 1)); done
	if alive "$pid"; then
		note "$name (pid $pid) ignored SIGTERM; killing"
		kill -KILL "$pid" 2>/dev/null || true
	fi
}

cmd_down() {
	local name pid f pg
	D=$1
	case $D in /*) ;; *) D=$PWD/$D ;; esac
	[ -f "$D/pids" ] || { [ -d "$D" ] && [ -z "${AUTOSHARD_K8S_KEEP:-}" ] && rm -rf "$D"; return 0; }
	# Reverse start order: the pod runner stops its pods, then the controllers, then storage.
	for name in podrunner kube-controller-manager kube-apiserver etcd; do
		for pid in $(pid_of "$name"); do stop_pid "$name" "$pid"; done
	done
	# Containers the pod runner could not stop (it was killed): each runs in its own
	# process group, recorded in STATE/pods/*/containers/*/pgid.
	for f in "$D"/podrunner/pods/*/containers/*/pgid; do
		[ -f "$f" ] || continue
		pg=$(cat "$f")
		case $pg in '' | *[!0-9]*) continue ;; esac
		# Only a group whose leader is one of this environment's containers.
		[ "$pg" -gt 1 ] && alive "$pg" && tr '\0' '\n' 2>/dev/null <"/proc/$pg/environ" |
			grep -qx "PODRUNNER_POD_DIR=$D/podrunner/pods/[^/]*" &&
			kill -KILL -- "-$pg" 2>/dev/null || true
	done
	rm -f "$D/pids"
	if [ -z "${AUTOSHARD_K8S_KEEP:-}" ]; then rm -rf "$D"; fi
}

# restart-apiserver DIR: stop kube-apiserver (as down does) and start it again with
# the same arguments (read from /proc before stopping it), then wait for /readyz.
# Clients see their connections close and the API refuse connections meanwhile.
cmd_restart_apiserver() {
	local pid args=()
	D=$1
	case $D in /*) ;; *) D=$PWD/$D ;; esac
	[ -f "$D/pids" ] || die "$D holds no environment"
	pid=$(pid_of kube-apiserver)
	case $pid in '' | *[!0-9]*) die "no single kube-apiserver pid in $D/pids" ;; esac
	alive "$pid" && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$BIN/kube-apiserver" ] ||
		die "kube-apiserver (pid $pid) is not running"
	mapfile -d '' -t args <"/proc/$pid/cmdline"
	[ "${#args[@]}" -gt 1 ] || die "cannot read the arguments of pid $pid"
	stop_pid kube-apiserver "$pid"
	for _ in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
	alive "$pid" && die "kube-apiserver (pid $pid) did not stop"
	awk '$1 != "kube-apiserver"' "$D/pids" >"$D/pids.new" && mv -f "$D/pids.new" "$D/pids"
	mv -f "$D/logs/kube-apiserver.log" "$D/logs/kube-apiserver.log.1"
	start kube-apiserver "${args[@]}"
	wait_for kube-apiserver 750 kubectl_ get --raw /readyz
	note "restart-apiserver: kube-apiserver running again (pid $(pid_of kube-apiserver))"
}

# ---------------------------------------------------------------- main

[ "${BASH_SOURCE[0]}" = "$0" ] || return 0
case "${1:-}" in
build) cmd_build ;;
up) shift; [ $# -ge 1 ] || die "usage: k8s-env.sh up DIR [--no-podrunner]"; cmd_up "$@" ;;
down) [ $# -eq 2 ] || die "usage: k8s-env.sh down DIR"; cmd_down "$2" ;;
restart-apiserver) [ $# -eq 2 ] || die "usage: k8s-env.sh restart-apiserver DIR"; cmd_restart_apiserver "$2" ;;
bin) echo "$BIN" ;;
*) die "usage: k8s-env.sh build | up DIR [--no-podrunner] | down DIR | restart-apiserver DIR | bin" ;;
esac
