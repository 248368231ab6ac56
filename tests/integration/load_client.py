#!/usr/bin/python3
"""Continuous read/write workload through a real cluster client (RedisCluster),
to run while slots move underneath it.

  load_client.py HOST:PORT [--seconds S] [--stop-file F] [--ready-file F]
                 [--threads T] [--keys K] [--prefix P]

Each thread owns K/T keys (P:<run>:<thread>:<i>) and loops until S seconds
have passed or F exists: SET of a unique value ("t<thread>:s<seq>"), or GET
that must equal the last value this client saw acknowledged for that key
(None if never written). A write that raised is "uncertain": either the old
or the new value is accepted afterwards. At the end every acknowledged key is
read back (fresh client) and must hold its last value.

Any exception that reaches the caller counts as a failed operation (the first
few are printed with their type and message). MOVED/ASK are followed by the
client and retried a bounded number of times (cluster_error_retry_attempts).

python3-redis 4.3 cannot follow an ASK to a master it has not seen in CLUSTER
SLOTS (a master that had no slots when the client last read the map): its
get_node() returns None and the command dies with AttributeError
(redis/redis-py#2432). Client below adds such a node on demand, which is what a
fixed client does; the server side is not excused anything.

Prints one JSON line; exit 0 only with no failed op, no stale read, no lost
write. Password from AUTOSHARD_PASSWORD_FILE when set (never argv).
"""
import argparse
import json
import os
import random
import sys
import threading
import time
import logging
import traceback

from redis.cluster import RedisCluster, ClusterNode

# redis.cluster logs every MOVED/ASK with a traceback (log.exception); errors
# that matter reach the caller and are counted here.
logging.getLogger("redis.cluster").setLevel(logging.CRITICAL)

MAX_PRINTED = 5


def password():
    pf = os.environ.get("AUTOSHARD_PASSWORD_FILE")
    if not pf:
        return None
    with open(pf) as f:
        return f.readline().rstrip("\r\n")


class Client(RedisCluster):
    """RedisCluster that can follow an ASK to a master not in its node cache."""

    def get_node(self, host=None, port=None, node_name=None):
        node = super().get_node(host, port, node_name)
        if node is None and node_name and not host:
            h, p = node_name.rsplit(":", 1)
            node = ClusterNode(h, int(p), server_type="primary")
            self.nodes_manager.nodes_cache.setdefault(node_name, node)
            node = self.nodes_manager.nodes_cache[node_name]
        return node


def connect(seed, pw):
    host, port = seed.rsplit(":", 1)
    return Client(startup_nodes=[ClusterNode(host, int(port))], password=pw,
                        decode_responses=True, socket_timeout=5, socket_connect_timeout=2,
                        cluster_error_retry_attempts=5, reinitialize_steps=5)


class Shared:
    def __init__(self):
        self.lock = threading.Lock()
        self.printed = 0

    def report(self, what, msg, tb=None):
        with self.lock:
            self.printed += 1
            if self.printed > MAX_PRINTED:
                return
            print("load_client: %s: %s" % (what, msg), file=sys.stderr)
            if tb:
                sys.stderr.write(tb)
            sys.stderr.flush()


class Worker(threading.Thread):
    def __init__(self, args, tid, run, pw, shared, until):
        super().__init__(daemon=True)
        self.args, self.tid, self.pw, self.shared, self.until = args, tid, pw, shared, until
        self.keys = ["%s:%s:%d:%d" % (args.prefix, run, tid, i) for i in range(max(1, args.keys // args.threads))]
        self.acked = {}      # key -> last acknowledged value
        self.uncertain = {}  # key -> set of values it may hold after a failed SET
        self.sets = self.gets = self.failed = self.stale = 0
        self.rnd = random.Random(tid * 7919 + os.getpid())
        self.error = None

    def fail(self, op, key, e):
        self.failed += 1
        self.shared.report("thread %d %s %s failed" % (self.tid, op, key),
                           "%s: %s" % (type(e).__name__, e),
                           "".join(traceback.format_exception(type(e), e, e.__traceback__)[-3:]))

    def run(self):
        try:
            rc = connect(self.args.seed, self.pw)
        except Exception as e:  # noqa: BLE001 - any failure counts
            self.error = e
            self.fail("connect", "-", e)
            return
        seq = 0
        stop = self.args.stop_file
        while True:
            if seq % 64 == 0 and (time.monotonic() >= self.until or (stop and os.path.exists(stop))):
                break
            seq += 1
            key = self.keys[self.rnd.randrange(len(self.keys))]
            if self.rnd.random() < 0.5:
                val = "t%d:s%d" % (self.tid, seq)
                try:
                    ok = rc.set(key, val)
                except Exception as e:  # noqa: BLE001
                    self.fail("SET", key, e)
                    self.uncertain.setdefault(key, set()).update({self.acked.get(key), val})
                    continue
                if ok is not True:
                    self.fail("SET", key, RuntimeError("reply %r" % (ok,)))
                    self.uncertain.setdefault(key, set()).update({self.acked.get(key), val})
                    continue
                self.sets += 1
                self.acked[key] = val
                self.uncertain.pop(key, None)
            else:
                try:
                    got = rc.get(key)
                except Exception as e:  # noqa: BLE001
                    self.fail("GET", key, e)
                    continue
                self.gets += 1
                if key in self.uncertain:
                    if got not in self.uncertain[key]:
                        self.stale += 1
                        self.shared.report("stale read", "%s: got %r, want one of %r" % (key, got, self.uncertain[key]))
                    else:
                        # The server has decided; from now on this is the value.
                        self.uncertain.pop(key)
                        if got is None:
                            self.acked.pop(key, None)
                        else:
                            self.acked[key] = got
                elif got != self.acked.get(key):
                    self.stale += 1
                    self.shared.report("stale read", "%s: got %r, want %r" % (key, got, self.acked.get(key)))
        try:
            rc.close()
        except Exception:  # noqa: BLE001
            pass


def read_back(seed, pw, workers, shared):
    """Every acknowledged key holds its last value. Returns (checked, lost, errors)."""
    rc = connect(seed, pw)
    expect = {}
    for w in workers:
        for k, v in w.acked.items():
            expect[k] = {v} | w.uncertain.get(k, set())
        for k, vs in w.uncertain.items():
            if k not in w.acked:
                expect[k] = vs
    keys = sorted(expect)
    lost = errors = 0
    for off in range(0, len(keys), 1000):
        chunk = keys[off:off + 1000]
        try:
            p = rc.pipeline()
            for k in chunk:
                p.get(k)
            got = p.execute()
        except Exception as e:  # noqa: BLE001
            errors += 1
            shared.report("read-back failed", "%s: %s" % (type(e).__name__, e))
            continue
        for k, v in zip(chunk, got):
            if v not in expect[k]:
                lost += 1
                shared.report("lost write", "%s: got %r, want %r" % (k, v, expect[k]))
    rc.close()
    return len(keys), lost, errors


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("seed")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--stop-file")
    ap.add_argument("--ready-file", help="created once every thread has connected")
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--keys", type=int, default=20000)
    ap.add_argument("--prefix", default="lc")
    args = ap.parse_args()
    if args.threads < 1 or args.keys < 1:
        ap.error("--threads and --keys must be >= 1")

    pw = password()
    shared = Shared()
    run = "%x%x" % (os.getpid(), int(time.time()) & 0xffff)
    t0 = time.monotonic()
    until = t0 + args.seconds
    workers = [Worker(args, t, run, pw, shared, until) for t in range(args.threads)]
    for w in workers:
        w.start()
    if args.ready_file:
        with open(args.ready_file, "w") as f:
            f.write("%d\n" % os.getpid())
    for w in workers:
        # bounded: a worker stops at the deadline; allow for a slow last op
        w.join(timeout=max(0.0, until - time.monotonic()) + 120)
    hung = sum(1 for w in workers if w.is_alive())
    elapsed = time.monotonic() - t0

    sets = sum(w.sets for w in workers)
    gets = sum(w.gets for w in workers)
    failed = sum(w.failed for w in workers) + hung
    stale = sum(w.stale for w in workers)
    try:
        checked, lost, rb_errors = read_back(args.seed, pw, workers, shared)
    except Exception as e:  # noqa: BLE001
        shared.report("read-back failed", "%s: %s" % (type(e).__name__, e))
        checked, lost, rb_errors = 0, 0, 1
    summary = {
        "seconds": round(elapsed, 2), "threads": args.threads, "ops": sets + gets,
        "sets": sets, "gets": gets, "ops_per_sec": round((sets + gets) / elapsed, 1) if elapsed else 0,
        "failed": failed, "stale": stale, "hung_threads": hung,
        "acked_keys": checked, "lost": lost, "readback_errors": rb_errors,
    }
    print(json.dumps(summary, sort_keys=True))
    sys.stdout.flush()
    return 1 if failed or stale or lost or rb_errors else 0


if __name__ == "__main__":
    sys.exit(main())
