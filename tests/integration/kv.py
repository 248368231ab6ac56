#!/usr/bin/python3
"""Load and verify keys through a real cluster client (python3-redis RedisCluster).

  kv.py load HOST:PORT N [PREFIX]     write N keys PREFIX:i = value(i) (pipelined)
  kv.py verify HOST:PORT N [PREFIX]   every key reads back with its value; exit 1 otherwise
Password from AUTOSHARD_PASSWORD_FILE when set (never argv).
"""
import os
import sys

from redis.cluster import RedisCluster, ClusterNode


def value(prefix, i):
    return ("%s-%d-" % (prefix, i)).ljust(100, "x")


def connect(seed):
    host, port = seed.rsplit(":", 1)
    pw = None
    pf = os.environ.get("AUTOSHARD_PASSWORD_FILE")
    if pf:
        with open(pf) as f:
            pw = f.readline().rstrip("\r\n")
    return RedisCluster(startup_nodes=[ClusterNode(host, int(port))], password=pw,
                        decode_responses=True, socket_timeout=10)


def main():
    op, seed, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    prefix = sys.argv[4] if len(sys.argv) > 4 else "k"
    rc = connect(seed)
    batch = 2000
    if op == "load":
        for start in range(0, n, batch):
            p = rc.pipeline()
            for i in range(start, min(n, start + batch)):
                p.set("%s:%d" % (prefix, i), value(prefix, i))
            p.execute()
        print("loaded %d keys" % n)
        return 0
    if op == "verify":
        bad = 0
        for start in range(0, n, batch):
            p = rc.pipeline()
            idx = list(range(start, min(n, start + batch)))
            for i in idx:
                p.get("%s:%d" % (prefix, i))
            for i, v in zip(idx, p.execute()):
                if v != value(prefix, i):
                    bad += 1
                    if bad <= 5:
                        print("key %s:%d: got %r" % (prefix, i, v and v[:30]), file=sys.stderr)
        if bad:
            print("%d of %d keys missing or wrong" % (bad, n), file=sys.stderr)
            return 1
        print("verified %d keys" % n)
        return 0
    print("unknown op", op, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
