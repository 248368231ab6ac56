#!/usr/bin/python3
"""Randomized workload with a checker, through a real cluster client.

  workload.py HOST:PORT --seed N [--threads T] [--keys K] --stop-file F [--ready-file F]

Several clients (threads, one RedisCluster each) do random SET (a unique value
per write), GET, DEL and INCR on keys that each client owns, so every key has
one writer and its history is a sequence. For every key the client keeps what
the server acknowledged and what it may hold after an operation whose reply
was lost (an exception: the write may or may not have happened). The checker
proves, without failover:

  - no acknowledged write is lost: at the end every key holds its last
    acknowledged value (or the value of a later write whose outcome is unknown);
  - no read returns a value older than the last acknowledged write to that key
    (nor a value never written);
  - counters: INCR replies and reads stay within [acknowledged, acknowledged +
    unknown] increments.

Valkey replicates asynchronously: when a master dies, writes it acknowledged
but had not yet sent to its replica are lost by design. Runs whose schedule
kills a master are checked by tests/integration/test_heal_ephemeral.sh with
WAIT; this checker's scenarios keep every master process alive (stops shorter
than the node timeout, sidecar and rebalancer kills, scaling).

Prints one JSON line; exit 0 only when every check holds. Password from
AUTOSHARD_PASSWORD_FILE when set (never argv).
"""
import argparse
import json
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from load_client import Shared, connect, password  # noqa: E402


class Key:
    """What one key may hold: a set of acceptable values (None = absent)."""

    def __init__(self):
        self.ok = {None}


class Counter:
    def __init__(self):
        self.lo = 0  # acknowledged increments (server-confirmed value)
        self.hi = 0  # plus increments whose outcome is unknown


class Worker(threading.Thread):
    def __init__(self, args, tid, run, pw, shared):
        super().__init__(daemon=True)
        self.args, self.tid, self.pw, self.shared = args, tid, pw, shared
        n = max(1, args.keys // args.threads)
        self.keys = {"ch:%s:%d:k%d" % (run, tid, i): Key() for i in range(n)}
        self.counters = {"ch:%s:%d:c%d" % (run, tid, i): Counter() for i in range(max(1, n // 10))}
        self.rnd = random.Random(args.seed * 1000 + tid)
        self.ops = {"set": 0, "get": 0, "del": 0, "incr": 0}
        self.unknown = 0
        self.violations = 0

    def violation(self, what):
        self.violations += 1
        self.shared.report("violation", what)

    def step(self, rc, seq):
        r = self.rnd.random()
        if r < 0.8:
            key = self.rnd.choice(list(self.keys))
            st = self.keys[key]
            if r < 0.35:
                val = "t%d:s%d" % (self.tid, seq)
                try:
                    if rc.set(key, val) is not True:
                        raise RuntimeError("SET not OK")
                except Exception:  # noqa: BLE001 - outcome unknown
                    self.unknown += 1
                    st.ok.add(val)
                    return
                self.ops["set"] += 1
                st.ok = {val}
            elif r < 0.45:
                try:
                    rc.delete(key)
                except Exception:  # noqa: BLE001
                    self.unknown += 1
                    st.ok.add(None)
                    return
                self.ops["del"] += 1
                st.ok = {None}
            else:
                try:
                    got = rc.get(key)
                except Exception:  # noqa: BLE001 - a failed read proves nothing
                    self.unknown += 1
                    return
                self.ops["get"] += 1
                if got not in st.ok:
                    self.violation("%s: read %r, acknowledged state allows %r" % (key, got, sorted(st.ok, key=str)))
                else:
                    st.ok = {got}  # the server has decided
        else:
            key = self.rnd.choice(list(self.counters))
            c = self.counters[key]
            if r < 0.9:
                try:
                    v = rc.incr(key)
                except Exception:  # noqa: BLE001
                    self.unknown += 1
                    c.hi += 1
                    return
                self.ops["incr"] += 1
                if not c.lo + 1 <= v <= c.hi + 1:
                    self.violation("%s: INCR gave %d, want %d..%d" % (key, v, c.lo + 1, c.hi + 1))
                c.lo = c.hi = v
            else:
                try:
                    got = rc.get(key)
                except Exception:  # noqa: BLE001
                    self.unknown += 1
                    return
                self.ops["get"] += 1
                v = int(got or 0)
                if not c.lo <= v <= c.hi:
                    self.violation("%s: read %d, want %d..%d" % (key, v, c.lo, c.hi))
                c.lo = c.hi = v

    def run(self):
        try:
            rc = connect(self.args.seed_addr, self.pw)
        except Exception as e:  # noqa: BLE001
            self.violation("connect: %s" % e)
            return
        seq = 0
        while not os.path.exists(self.args.stop_file):
            seq += 1
            self.step(rc, seq)
        rc.close()


def final_check(seed_addr, pw, workers, shared):
    rc = connect(seed_addr, pw)
    bad = 0
    for w in workers:
        items = list(w.keys.items()) + list(w.counters.items())
        for off in range(0, len(items), 500):
            chunk = items[off:off + 500]
            for attempt in range(20):  # the cluster may still be settling
                try:
                    p = rc.pipeline()
                    for k, _ in chunk:
                        p.get(k)
                    got = p.execute()
                    break
                except Exception as e:  # noqa: BLE001
                    if attempt == 19:
                        shared.report("final read failed", str(e))
                        return -1
                    time.sleep(0.5)
            for (k, st), v in zip(chunk, got):
                if isinstance(st, Key):
                    if v not in st.ok:
                        bad += 1
                        shared.report("lost write", "%s: holds %r, acknowledged state allows %r" % (k, v, sorted(st.ok, key=str)))
                elif not st.lo <= int(v or 0) <= st.hi:
                    bad += 1
                    shared.report("lost increment", "%s: holds %s, want %d..%d" % (k, v, st.lo, st.hi))
    rc.close()
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("seed_addr")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--keys", type=int, default=2000)
    ap.add_argument("--stop-file", required=True)
    ap.add_argument("--ready-file")
    args = ap.parse_args()
    pw = password()
    shared = Shared()
    run = "%d-%x" % (args.seed, os.getpid())
    workers = [Worker(args, t, run, pw, shared) for t in range(args.threads)]
    t0 = time.monotonic()
    for w in workers:
        w.start()
    if args.ready_file:
        with open(args.ready_file, "w") as f:
            f.write("ready\n")
    for w in workers:
        w.join(timeout=600)
    hung = sum(1 for w in workers if w.is_alive())
    elapsed = time.monotonic() - t0
    lost = final_check(args.seed_addr, pw, workers, shared)
    ops = {k: sum(w.ops[k] for w in workers) for k in ("set", "get", "del", "incr")}
    out = {"seed": args.seed, "seconds": round(elapsed, 1), "ops": ops, "unknown_outcome": sum(w.unknown for w in workers),
           "violations": sum(w.violations for w in workers), "lost": lost, "hung_threads": hung}
    print(json.dumps(out, sort_keys=True))
    return 0 if out["violations"] == 0 and lost == 0 and hung == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
