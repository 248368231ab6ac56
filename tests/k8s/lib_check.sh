#!/bin/bash
# Shared by the k8s and helm tests (source it; needs BIN, KV and fail).

# check_cluster SEED MASTERS KEYS PREFIX: healthy (autoshard check), MASTERS
# masters within one slot of each other, every key reads back.
check_cluster() {
	local seed=$1 masters=$2 keys=$3 prefix=$4 st
	"$BIN/autoshard" check --seed "$seed" >/dev/null || fail "autoshard check: cluster at $seed not healthy"
	st=$("$BIN/autoshard" status --seed "$seed")
	[ "$(echo "$st" | grep -c '^master ')" = "$masters" ] || fail "expected $masters masters: $st"
	echo "$st" | awk '/^master /{for(i=1;i<=NF;i++) if($i=="slots") print $(i+1)}' | sort -n |
		awk -v m="$masters" 'NR==1{lo=$1} {hi=$1; n++} END{exit !(n==m && hi-lo<=1)}' ||
		fail "slots not balanced within one slot: $st"
	$KV verify "$seed" "$keys" "$prefix" >/dev/null || fail "keys lost: $KV verify $seed $keys $prefix"
}
