#!/usr/bin/env python3
"""Smallest useful client of the Valkey cluster: standard library only.

GET /           cluster_state and known nodes, asked of the first seed that answers
GET /hit        INCR a counter key, following MOVED/ASK redirections

Seeds come from VALKEY_SEEDS (client/.environment builds it from
PLATFORM_RELATIONSHIPS). A real application uses a cluster-aware client
library (redis-py RedisCluster, valkey-glide, ...) with the same seeds.
"""
import os
import socket
from http.server import BaseHTTPRequestHandler, HTTPServer

SEEDS = [s for s in os.environ.get("VALKEY_SEEDS", "").split(",") if s]
MAX_REPLY = 1 << 20


def command(addr, *args):
    """Send one command (RESP2) to host:port and return the reply as text."""
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host.strip("[]"), int(port)), timeout=2) as s:
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        s.sendall(out)
        f = s.makefile("rb")
        line = f.readline(MAX_REPLY).rstrip(b"\r\n")
        kind, rest = line[:1], line[1:]
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else f.read(n + 2)[:n].decode()
        return (line.decode() if kind == b"-" else rest.decode())


def first_answer(*args):
    for seed in SEEDS:
        try:
            return seed, command(seed, *args)
        except OSError:
            continue
    return None, None


def incr(key):
    _, reply = first_answer("INCR", key)
    seen = 0
    while isinstance(reply, str) and reply.startswith(("-MOVED", "-ASK")) and seen < 5:
        target = reply.split()[2]
        if reply.startswith("-ASK"):
            command(target, "ASKING")
        reply = command(target, "INCR", key)
        seen += 1
    return reply


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/hit":
            body = "hits: %s\n" % incr("hits")
        else:
            seed, info = first_answer("CLUSTER", "INFO")
            body = "seeds: %s\nasked: %s\n%s\n" % (",".join(SEEDS) or "none", seed, info or "no seed answered")
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


if __name__ == "__main__":
    HTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8000"))), Handler).serve_forever()
