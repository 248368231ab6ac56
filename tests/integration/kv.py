#!/usr/bin/python3
"""Load and verify keys through a real cluster client (python3-redis RedisCluster).

  kv.py load HOST:PORT N [PREFIX]     write N keys PREFIX:i = value(i) (pipelined)
  kv.py verify HOST:PORT N [PREFIX]   every key reads back with its value; exit 1 otherwise
  kv.py load-wait HOST:PORT N [PREFIX]  write N keys, each batch on its master's own connection
                                      followed by WAIT 1: exit 1 unless a replica acknowledged all
  kv.py count HOST:PORT N [PREFIX]    print how many of the N keys read back with their value;
                                      exit 1 if any key holds a wrong value (missing is fine)
Password from AUTOSHARD_PASSWORD_FILE when set (never argv).
KV_KUBE_DNS=1 (Kubernetes tests): names POD.SERVICE.NAMESPACE.svc.cluster.local
resolve to that pod's IP through kubectl, as cluster DNS would in a pod.
"""
import logging
import os
import socket
import subprocess
import sys

from redis.cluster import RedisCluster, ClusterNode


def kube_dns():
    """Resolve pod DNS names under a headless Service like cluster DNS."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kw):
        if isinstance(host, str) and host.endswith(".svc.cluster.local"):
            parts = host.split(".")
            ip = subprocess.run(["kubectl", "get", "pod", parts[0], "-n", parts[2], "-o",
                                 "jsonpath={.status.podIP}"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, timeout=30).stdout.strip()
            if not ip:
                raise socket.gaierror(socket.EAI_NONAME, "no pod for %s" % host)
            host = ip
        return real(host, *args, **kw)

    socket.getaddrinfo = getaddrinfo


def value(prefix, i):
    return ("%s-%d-" % (prefix, i)).ljust(100, "x")


def password():
    pf = os.environ.get("AUTOSHARD_PASSWORD_FILE")
    if not pf:
        return None
    with open(pf) as f:
        return f.readline().rstrip("\r\n")


def connect(seed):
    host, port = seed.rsplit(":", 1)
    pw = password()
    return RedisCluster(startup_nodes=[ClusterNode(host, int(port))], password=pw,
                        decode_responses=True, socket_timeout=10)


def main():
    # redis-py logs a traceback for every MOVED/ASK it follows; they are not errors.
    logging.disable(logging.CRITICAL)
    if os.environ.get("KV_KUBE_DNS") == "1":
        kube_dns()
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
    if op == "load-wait":
        from redis import Redis
        groups = {}
        for i in range(n):
            node = rc.get_node_from_key("%s:%d" % (prefix, i))
            groups.setdefault((node.host, node.port), []).append(i)
        acked = 0
        for (host, port), idx in sorted(groups.items()):
            r = Redis(host=host, port=port, password=password(), decode_responses=True, socket_timeout=10)
            for start in range(0, len(idx), batch):
                part = idx[start:start + batch]
                p = r.pipeline(transaction=False)
                for i in part:
                    p.set("%s:%d" % (prefix, i), value(prefix, i))
                # same connection as the writes: WAIT covers them
                p.execute_command("WAIT", 1, 5000)
                got = p.execute()[-1]
                if got < 1:
                    print("%s:%d: WAIT 1 answered %r: writes not on a replica" % (host, port, got),
                          file=sys.stderr)
                    return 1
                acked += len(part)
            r.close()
        print(acked)
        return 0
    if op == "count":
        present = wrong = 0
        for start in range(0, n, batch):
            p = rc.pipeline()
            idx = list(range(start, min(n, start + batch)))
            for i in idx:
                p.get("%s:%d" % (prefix, i))
            for i, v in zip(idx, p.execute()):
                if v is None:
                    continue
                if v == value(prefix, i):
                    present += 1
                else:
                    wrong += 1
        print(present)
        if wrong:
            print("%d keys hold a wrong value" % wrong, file=sys.stderr)
            return 1
        return 0
    print("unknown op", op, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
