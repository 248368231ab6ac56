#!/bin/sh
# Proves: with a password, a local cluster comes up healthy, and the password
# appears in no process's argv, in no log and in no output; keys written
# through an authenticated cluster client read back.
. "$(dirname "$0")/lib.sh"

# quote, backslash and space: the config file quoting must hold
pw="s3 cr\"t\\-$(date +%s%N)"
printf '%s\n' "$pw" > "$T/pw"; chmod 600 "$T/pw"
base=127.56.1
d="$T/p"; LOCAL_DIRS="$LOCAL_DIRS $d"
out=$("$AUTOSHARD" local up --dir "$d" --nodes 6 --replicas 1 --base-ip $base --password-file "$T/pw" 2>&1) || fail "up: $out"
PW=$pw cluster_check valkey-cli $base.1 3 3
AUTOSHARD_PASSWORD_FILE="$T/pw" $KV load $base.1:6379 2000 >/dev/null || fail "load with password"
AUTOSHARD_PASSWORD_FILE="$T/pw" $KV verify $base.1:6379 2000 >/dev/null || fail "verify with password"
"$AUTOSHARD" local scale --dir "$d" --nodes 8 >"$T/scale.out" 2>&1 || fail "scale with password"
for p in $(pgrep -f "autoshard|valkey-server"); do
	tr '\0' ' ' < /proc/$p/cmdline 2>/dev/null | grep -qF -- "$pw" && fail "password in argv of pid $p"
done
grep -rlF -- "$pw" "$d"/node-*/*.log "$d"/node-*/*.out "$T/scale.out" 2>/dev/null && fail "password in a log"
echo "$out" | grep -qF -- "$pw" && fail "password in output"
AUTOSHARD_PASSWORD_FILE="$T/pw" "$AUTOSHARD" check --seed $base.1:6379 >/dev/null || fail "check with password file env"
pass "password only in files: argv, logs and output are clean"
