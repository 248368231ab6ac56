#!/bin/sh
# Proves, for a few fixed seeds (CI), what `make chaos SEEDS=N` proves for N:
# under scaling, SIGKILL of the slot-moving sidecar, SIGSTOP of nodes and
# replica kills, no acknowledged write is lost and no read is stale.
set -eu
: "${AUTOSHARD_BIN:?run through ctest}" "${AUTOSHARD_SRC:?run through ctest}"
for seed in ${CHAOS_SEEDS:-3 7}; do
	/usr/bin/python3 "$AUTOSHARD_SRC/tests/chaos/chaos.py" --seed "$seed" --bin "$AUTOSHARD_BIN" --base 127.68.$seed
done
