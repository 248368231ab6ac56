#!/usr/bin/python3
"""Seeds for fuzz_snapshot from the captured cluster views in tests/unit/data.

Each directory there holds, per node N, nodes_N.txt (CLUSTER NODES) and
info_N.txt (CLUSTER INFO), captured from real servers. A seed is the RESP
stream those nodes would send to lib/cluster.c's view_fill: INFO cluster,
CLUSTER NODES, CLUSTER INFO, DBSIZE, and INFO replication for replicas.
    /usr/bin/python3 tests/fuzz/make_snapshot_seeds.py
"""
import glob
import os

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "unit", "data")
OUT = os.path.join(HERE, "corpus", "snapshot")


def bulk(b):
    return b"$%d\r\n%s\r\n" % (len(b), b)


def main():
    os.makedirs(OUT, exist_ok=True)
    for d in sorted(glob.glob(os.path.join(DATA, "*/"))):
        name = os.path.basename(os.path.dirname(d))
        stream = b""
        for nodes in sorted(glob.glob(os.path.join(d, "nodes_*.txt"))):
            n = os.path.basename(nodes)[len("nodes_"):-len(".txt")]
            info = os.path.join(d, "info_%s.txt" % n)
            if not os.path.exists(info):
                continue
            nb = open(nodes, "rb").read()
            stream += bulk(b"# Cluster\r\ncluster_enabled:1\r\n")
            stream += bulk(nb)
            stream += bulk(open(info, "rb").read())
            stream += b":%d\r\n" % (int(n) * 10 if n.isdigit() else 0)
            myself = [l for l in nb.split(b"\n") if b"myself" in l]
            if myself and b"slave" in myself[0].split(b" ")[2]:
                stream += bulk(b"# Replication\r\nrole:slave\r\nmaster_link_status:up\r\n")
        if stream:
            with open(os.path.join(OUT, name), "wb") as f:
                f.write(stream)
    # a node that is not in cluster mode, and one that answers an error
    with open(os.path.join(OUT, "not_cluster_then_error"), "wb") as f:
        f.write(bulk(b"# Cluster\r\ncluster_enabled:0\r\n") + b"-NOAUTH Authentication required.\r\n")


if __name__ == "__main__":
    main()
