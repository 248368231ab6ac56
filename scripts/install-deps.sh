#!/bin/sh
# Install everything autoshard needs to build and test, from Debian packages only.
# Idempotent: a second run with everything present does nothing but check.
# Called by `make build`, `make test`, `make run` and .ci/run.
set -eu

BUILD_PKGS="build-essential cmake pkg-config libhiredis-dev libjansson-dev libyaml-dev libssl-dev libwebsockets-dev libwebsockets-evlib-uv libuv1-dev"
TEST_PKGS="bc time curl redis-server redis-tools python3 python3-redis valgrind iproute2 nftables procps openssl util-linux debootstrap chromium fonts-dejavu-core"
BACKPORTS_PKGS="valkey-server valkey-tools"
# Fuzzing (clang -fsanitize=fuzzer needs the compiler-rt runtimes) and linting.
CHECK_PKGS="clang libclang-rt-14-dev cppcheck clang-format"

need_root() {
	if [ "$(id -u)" != 0 ]; then
		echo "install-deps: missing packages ($*) and not root; install them or re-run as root" >&2
		exit 1
	fi
}

missing=""
for p in $BUILD_PKGS $TEST_PKGS $CHECK_PKGS $BACKPORTS_PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
need_root $missing

# bookworm-backports on the same archive host as the existing entries.
if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
	host=$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
		grep -v security | grep -oE 'https?://[^ ]+/debian' | head -n1)
	[ -n "$host" ] || host=http://deb.debian.org/debian
	cat >/etc/apt/sources.list.d/autoshard-backports.sources <<SRC
Types: deb
URIs: $host
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $BUILD_PKGS $TEST_PKGS $CHECK_PKGS >/dev/null
apt-get install -y -qq --no-install-recommends -t bookworm-backports $BACKPORTS_PKGS >/dev/null
# The packaged services are not wanted: tests start their own servers on 127.x.
for s in redis-server valkey-server; do
	systemctl disable --now "$s" >/dev/null 2>&1 || true
	service "$s" stop >/dev/null 2>&1 || true
done
exit 0
