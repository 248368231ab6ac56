#!/usr/bin/python3
"""Randomized workload with a checker, through a real cluster client.

  workload.py HOST:PORT --seed N [--threads T] [--keys K] --stop-file F
              [--ready-file F] [--durable [--wait-ms MS]]

Several clients (threads, one RedisCluster each) do random SET (a unique value
per write), GET, DEL and INCR on keys that each client owns, so every key has
one writer and its history is a sequence. For every key the client keeps the
state a write left that counts as acknowledged, and the states an operation
whose outcome is unknown may have left.

Plain mode (default): a write is acknowledged when the master replies. An
exception (timeout, reset) leaves its outcome unknown. Checked, for runs where
no master loses writes it acknowledged (no failover of a live master):

  - no acknowledged write is lost: at the end every key holds its last
    acknowledged value (or the value of a later write whose outcome is unknown);
  - no read returns a value older than the last acknowledged write to that key
    (nor a value never written); a read decides the unknown ones;
  - counters: INCR replies and reads stay within [acknowledged, acknowledged +
    unknown] increments.

Durable mode (--durable): every write (SET, DEL, INCR) is followed, on the
same connection to the key's master, by WAIT 1 <wait-ms>. A write counts as
acknowledged only when WAIT answers >= 1 (a replica has it); when the write
ran but WAIT answered 0 or failed, its outcome is unknown (a failover may drop
it). Valkey replicates asynchronously, so this is what survives a killed or
partitioned master. Checked:

  - no replica-acknowledged write is lost: at the end every key holds its last
    replica-acknowledged value or the value of a later write whose outcome is
    unknown;
  - no read returns a value older than the last replica-acknowledged write, nor
    one never written; reads do not decide unknown writes (a value read from a
    master may still be lost with it);
  - counters: INCR replies and reads stay within [replica-acknowledged value,
    that + later increments whose outcome is unknown]; an INCR answered but not
    replica-acknowledged caps the counter at its reply.

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

from redis.exceptions import (AskError, BusyLoadingError, ClusterDownError, MovedError, ReadOnlyError,  # noqa: E402
                              RedisClusterException, TryAgainError)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from load_client import Shared, connect, password  # noqa: E402

# Error replies that prove the write did not run (a redirect, a refusal).
NOT_RUN = (MovedError, AskError, TryAgainError, ClusterDownError, ReadOnlyError, BusyLoadingError)
DURABLE_ATTEMPTS = 16  # per write: redirects and refusals followed at most this often


class Key:
    """What one key may hold: a set of acceptable values (None = absent)."""

    def __init__(self):
        self.ok = {None}


class Counter:
    def __init__(self):
        self.lo = 0  # acknowledged increments (server-confirmed value)
        self.hi = 0  # plus increments whose outcome is unknown


def durable_write(rc, key, args, wait_ms):
    """Run one write on the master of key's slot, then WAIT 1 on the same
    connection, held in between (WAIT waits for this connection's last write).
    Returns (outcome, reply): "acked" (a replica has it), "unknown" (it may
    have run and may be lost; reply is None when no reply came), or "not-run"
    (every attempt was refused before it ran). Bounded: DURABLE_ATTEMPTS
    attempts, each bounded by the client's socket timeout."""
    asking = None
    for attempt in range(DURABLE_ATTEMPTS):
        conn = rn = None
        sent = False
        try:
            if asking:
                node = rc.get_node(node_name=asking)
            else:
                node = rc.nodes_manager.get_node_from_slot(rc.keyslot(key))
            rn = rc.get_redis_connection(node)
            conn = rn.connection_pool.get_connection(args[0])
            if asking:
                conn.send_command("ASKING")
                rn.parse_response(conn, "ASKING")
            sent = True
            conn.send_command(*args)
            reply = rn.parse_response(conn, args[0])
            try:
                conn.send_command("WAIT", 1, wait_ms)
                n = rn.parse_response(conn, "WAIT")
            except Exception:  # noqa: BLE001 - it ran; no replica confirmed it
                conn.disconnect()
                return "unknown", reply
            return ("acked" if isinstance(n, int) and n >= 1 else "unknown"), reply
        except MovedError as e:
            asking = None
            rc.nodes_manager.update_moved_exception(e)
        except AskError as e:
            asking = "%s:%d" % (e.host, e.port)
        except NOT_RUN + (RedisClusterException,):
            asking = None
            time.sleep(0.05 * (attempt + 1))
            refresh(rc)
        except Exception:  # noqa: BLE001 - timeout, reset: did it run?
            if conn is not None:
                conn.disconnect()
            refresh(rc)
            if sent:
                return "unknown", None
            asking = None
            time.sleep(0.05 * (attempt + 1))
        finally:
            if conn is not None:
                rn.connection_pool.release(conn)
    return "not-run", None


def refresh(rc):
    """Re-read the slot map; a failure here is retried by the next attempt."""
    try:
        rc.nodes_manager.initialize()
    except Exception:  # noqa: BLE001
        pass


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
        self.not_acked = 0  # durable: ran, but WAIT did not confirm a replica
        self.refused = 0  # durable: refused (redirects, CLUSTERDOWN) on every attempt: did not run
        self.violations = 0

    def violation(self, what):
        self.violations += 1
        self.shared.report("violation", what)

    def write(self, rc, key, *args):
        """Plain: run it through the cluster client. Durable: write + WAIT.
        Returns (outcome, reply) as durable_write does."""
        if not self.args.durable:
            try:
                return "acked", rc.execute_command(*args)
            except Exception:  # noqa: BLE001 - outcome unknown
                return "unknown", None
        out, reply = durable_write(rc, key, args, self.args.wait_ms)
        if out == "unknown" and reply is not None:
            self.not_acked += 1
        return out, reply

    def step(self, rc, seq):
        durable = self.args.durable
        r = self.rnd.random()
        if r < 0.8:
            key = self.rnd.choice(list(self.keys))
            st = self.keys[key]
            if r < 0.45:
                val = "t%d:s%d" % (self.tid, seq) if r < 0.35 else None
                args = ("SET", key, val) if val is not None else ("DEL", key)
                out, reply = self.write(rc, key, *args)
                if out == "acked" and val is not None and reply is not True:
                    out = "unknown"  # SET did not answer OK: not acknowledged
                if out == "not-run":
                    self.refused += 1
                elif out == "unknown":
                    self.unknown += 1
                    st.ok.add(val)
                else:
                    self.ops["set" if val is not None else "del"] += 1
                    st.ok = {val}
            else:
                try:
                    got = rc.get(key)
                except Exception:  # noqa: BLE001 - a failed read proves nothing
                    self.unknown += 1
                    return
                self.ops["get"] += 1
                if got not in st.ok:
                    self.violation("%s: read %r, acknowledged state allows %r" % (key, got, sorted(st.ok, key=str)))
                elif not durable:
                    st.ok = {got}  # the server has decided
        else:
            key = self.rnd.choice(list(self.counters))
            c = self.counters[key]
            if r < 0.9:
                out, v = self.write(rc, key, "INCR", key)
                if out == "not-run":
                    self.refused += 1
                    return
                if v is None:  # no reply: it may or may not have run
                    self.unknown += 1
                    c.hi += 1
                    return
                self.ops["incr"] += 1
                if not c.lo + 1 <= v <= c.hi + 1:
                    self.violation("%s: INCR gave %d, want %d..%d" % (key, v, c.lo + 1, c.hi + 1))
                if out == "acked":
                    c.lo = c.hi = v
                else:  # ran (the reply says so) but no replica confirmed it: may roll back to lo
                    self.unknown += 1
                    c.hi = v
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
                if not durable:
                    c.lo = c.hi = v

    def run(self):
        try:
            rc = connect(self.args.seed_addr, self.pw)
        except Exception as e:  # noqa: BLE001
            self.violation("connect: %s" % e)
            return
        seq = 0
        end = time.monotonic() + self.args.max_seconds  # hang guard, not a test assertion
        while not os.path.exists(self.args.stop_file) and time.monotonic() < end:
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
    ap.add_argument("--durable", action="store_true", help="WAIT 1 after every write; only replica-acknowledged counts")
    ap.add_argument("--wait-ms", type=int, default=1000, help="durable: WAIT timeout")
    ap.add_argument("--max-seconds", type=float, default=1800, help="hang guard: stop even without the stop file")
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
    out = {"seed": args.seed, "mode": "durable" if args.durable else "plain", "seconds": round(elapsed, 1), "ops": ops,
           "unknown_outcome": sum(w.unknown for w in workers), "ran_not_replica_acked": sum(w.not_acked for w in workers),
           "refused": sum(w.refused for w in workers),
           "violations": sum(w.violations for w in workers), "lost": lost, "hung_threads": hung}
    print(json.dumps(out, sort_keys=True))
    return 0 if out["violations"] == 0 and lost == 0 and hung == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
