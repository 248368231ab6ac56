#!/bin/sh
# Unit tests of the pod runner's pure parts ($(VAR) expansion, mount-path
# rewriting, the address pool, downward-API fields): go test, no cluster needed.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE/podrunner"
GOTOOLCHAIN=local GOFLAGS=-mod=readonly GOMAXPROCS=2 exec "${GO:-/usr/local/go/bin/go}" test -p 2 -count=1 .
