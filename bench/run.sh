#!/bin/sh
# make bench: every benchmark, competitor side by side, medians and ratios.
set -eu
B=${1:-build}
D=$(dirname "$0")
sh "$D/bootstrap.sh" "$B"
[ -x "$D/rebalance.sh" ] && sh "$D/rebalance.sh" "$B"
# Needs the cached Kubernetes binaries (tests/k8s/k8s-env.sh build); skips otherwise.
[ -x "$D/controller_rss.sh" ] && bash "$D/controller_rss.sh" "$B"
exit 0
