#!/bin/sh
# make bench: every benchmark, competitor side by side, medians and ratios.
set -eu
B=${1:-build}
D=$(dirname "$0")
sh "$D/bootstrap.sh" "$B"
[ -x "$D/rebalance.sh" ] && sh "$D/rebalance.sh" "$B"
exit 0
