#!/usr/bin/python3
"""Capture raw RESP replies from real servers for the fuzz seed corpus.

Starts valkey-server and redis-server in cluster mode on 127.80.x.y (loopback
only), builds a few states (healthy, fragmented slots, open slots, hostnames),
and writes each reply byte-for-byte into tests/fuzz/corpus/<target>/. Every
server it starts is stopped at the end. Run from anywhere:
    /usr/bin/python3 tests/fuzz/capture.py
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def read_reply(f):
    """Read one RESP2/RESP3 reply from a buffered socket file; return its raw bytes."""
    line = f.readline()
    if not line:
        raise EOFError("connection closed")
    raw = line
    t, rest = line[:1], line[1:-2]
    if t in (b"$", b"=", b"!"):
        n = int(rest)
        if n >= 0:
            raw += f.read(n + 2)
    elif t in (b"*", b"~", b">"):
        n = int(rest)
        for _ in range(max(n, 0)):
            raw += read_reply(f)
    elif t in (b"%", b"|"):
        n = int(rest)
        for _ in range(2 * n):
            raw += read_reply(f)
        if t == b"|":  # attribute: the real reply follows
            raw += read_reply(f)
    return raw


def encode(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Conn:
    def __init__(self, ip, port, src=None):
        self.s = socket.create_connection((ip, port), timeout=5, source_address=(src or ip, 0))
        self.f = self.s.makefile("rb")

    def raw(self, *args):
        self.s.sendall(encode(args))
        return read_reply(self.f)

    def cmd(self, *args):
        r = self.raw(*args)
        if r.startswith(b"-"):
            raise RuntimeError("%s: %s" % (args, r))
        return r

    def close(self):
        self.f.close()
        self.s.close()


def bulk_text(raw):
    """Payload of a bulk/verbatim string reply."""
    body = raw.split(b"\r\n", 1)[1][:-2]
    return body[4:] if raw.startswith(b"=") else body


def start(server, ip, port, d, extra=()):
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, "node.conf")
    with open(conf, "w") as c:
        c.write("bind %s\nport %d\nbind-source-addr %s\ncluster-enabled yes\n"
                "cluster-config-file nodes.conf\ncluster-node-timeout 3000\ndir %s\n"
                "save \"\"\nappendonly no\ndaemonize no\nlogfile %s/log\nprotected-mode no\n"
                % (ip, port, ip, d, d))
        for e in extra:
            c.write(e + "\n")
    return subprocess.Popen([server, conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_up(ip, port):
    for _ in range(100):
        try:
            c = Conn(ip, port)
            c.cmd("PING")
            c.close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server %s:%d did not start" % (ip, port))


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def wait_ok(conns):
    for _ in range(200):
        if all(b"cluster_state:ok" in c.cmd("CLUSTER", "INFO") for c in conns):
            return
        time.sleep(0.05)
    raise RuntimeError("cluster not ok")


def build(server, ips, port, tmp, replicas):
    """Start len(ips) servers, meet them, give slots to the first len/(1+r)."""
    procs = [start(server, ip, port, os.path.join(tmp, ip)) for ip in ips]
    for ip in ips:
        wait_up(ip, port)
    conns = [Conn(ip, port) for ip in ips]
    for c in conns[1:]:
        c.cmd("CLUSTER", "MEET", ips[0], port)
    nm = len(ips) // (1 + replicas)
    per = 16384 // nm
    for i in range(nm):
        lo, hi = i * per, (16383 if i == nm - 1 else (i + 1) * per - 1)
        conns[i].cmd("CLUSTER", "ADDSLOTSRANGE", lo, hi)
    ids = [bulk_text(c.cmd("CLUSTER", "MYID")).decode() for c in conns]
    for _ in range(200):
        if all(c.cmd("CLUSTER", "NODES").count(b"\n") == len(ips) for c in conns):
            break
        time.sleep(0.05)
    for k, c in enumerate(conns[nm:]):
        c.cmd("CLUSTER", "REPLICATE", ids[k % nm])
    wait_ok(conns)
    return procs, conns, ids


def capture_all(tag, conns, keep=(0, 4), with_shards=True):
    """Per-node replies of the nodes in keep; one fuzz_snapshot stream of all."""
    stream = b""
    for k, c in enumerate(conns):
        nodes = c.cmd("CLUSTER", "NODES")
        info = c.cmd("CLUSTER", "INFO")
        stream += c.cmd("INFO", "cluster") + nodes + info + c.cmd("DBSIZE")
        myself = [l for l in bulk_text(nodes).split(b"\n") if b"myself" in l]
        if b"slave" in myself[0].split(b" ")[2]:
            stream += c.cmd("INFO", "replication")
        if k not in keep:
            continue
        write("cluster_nodes", "%s_nodes_%d" % (tag, k), bulk_text(nodes))
        write("cluster_info", "%s_info_%d" % (tag, k), bulk_text(info))
        write("resp_replies", "%s_nodes_%d.resp" % (tag, k), nodes)
        if with_shards:
            write("cluster_shards", "%s_shards_%d.resp" % (tag, k), c.cmd("CLUSTER", "SHARDS"))
    write("snapshot", tag, stream)


def main():
    for exe in ("valkey-server", "redis-server"):
        if not shutil.which(exe):
            sys.exit("capture: %s not installed" % exe)
    tmp = tempfile.mkdtemp(prefix="autoshard-capture-")
    procs = []
    try:
        # Valkey 8: 3 masters + 3 replicas on 127.80.0.1-6
        vips = ["127.80.0.%d" % i for i in range(1, 7)]
        p, conns, ids = build("valkey-server", vips, 6379, tmp, 1)
        procs += p
        capture_all("valkey8_healthy", conns)
        c0 = conns[0]
        write("info", "valkey8_info_all", bulk_text(c0.cmd("INFO", "everything")))
        write("info", "valkey8_info_replication_replica", bulk_text(conns[4].cmd("INFO", "replication")))
        write("resp_replies", "valkey8_info_cluster.resp", c0.cmd("INFO", "cluster"))
        write("resp_replies", "valkey8_cluster_info.resp", c0.cmd("CLUSTER", "INFO"))
        write("resp_replies", "valkey8_dbsize.resp", c0.cmd("DBSIZE"))
        write("resp_replies", "valkey8_error.resp", c0.raw("CLUSTER", "NOSUCH"))
        # RESP3 replies (map-shaped CLUSTER SHARDS, verbatim strings)
        r3 = Conn(vips[1], 6379)
        r3.cmd("HELLO", "3")
        write("cluster_shards", "valkey8_shards_resp3.resp", r3.cmd("CLUSTER", "SHARDS"))
        write("resp_replies", "valkey8_info_resp3.resp", r3.cmd("INFO", "cluster"))
        r3.close()
        # fragmented: every 5th slot of master 0's range moved to master 1
        for s in range(0, 5461, 5):
            for c in conns[:3]:
                c.cmd("CLUSTER", "SETSLOT", s, "NODE", ids[1])
        time.sleep(0.5)
        capture_all("valkey8_fragmented", conns[:3] + conns[3:4])
        # open slots: several migrating/importing pairs, hostnames announced
        for s in (6000, 6001, 6100):
            conns[2].cmd("CLUSTER", "SETSLOT", s, "IMPORTING", ids[1])
            conns[1].cmd("CLUSTER", "SETSLOT", s, "MIGRATING", ids[2])
        conns[0].cmd("CLUSTER", "SETSLOT", 12000, "IMPORTING", ids[2])
        for k, c in enumerate(conns):
            c.cmd("CONFIG", "SET", "cluster-announce-hostname", "node-%d.autoshard.test" % k)
        time.sleep(0.5)
        capture_all("valkey8_open_hostnames", conns)
        for c in conns:
            c.close()

        # Redis 7.0: 3 masters on 127.80.1.1-3, then fragmented
        rips = ["127.80.1.%d" % i for i in range(1, 4)]
        p, conns, ids = build("redis-server", rips, 6380, tmp, 0)
        procs += p
        capture_all("redis7_healthy", conns, keep=(0, 1))
        write("info", "redis7_info_all", bulk_text(conns[0].cmd("INFO", "everything")))
        for s in range(5461, 10922, 3):
            for c in conns:
                c.cmd("CLUSTER", "SETSLOT", s, "NODE", ids[0])
        conns[0].cmd("CLUSTER", "SETSLOT", 42, "MIGRATING", ids[2])
        conns[2].cmd("CLUSTER", "SETSLOT", 42, "IMPORTING", ids[0])
        time.sleep(0.5)
        capture_all("redis7_fragmented_open", conns, keep=(0, 1))
        for c in conns:
            c.close()
    finally:
        for pr in procs:
            pr.terminate()
        for pr in procs:
            try:
                pr.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pr.kill()
                pr.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
