#!/usr/bin/python3
"""Proves the HTTP server (platform/http/httpd on libwebsockets on our event
loop) answers correctly and stays responsive under hostile clients:

- it binds to the address given only (another 127.x can use the same port);
- GET 200 with a body, HEAD with headers only, 404 for unknown paths, 405
  with an Allow header for POST; a query string does not change the path;
- a 64 KiB request header gets an HTTP error or a close, never a crash;
- with max clients 4, a fifth connection is closed while four idle ones are
  open, and the server serves again once they are gone;
- a client that requests 4 MiB and never reads does not stall the event
  loop: the loop's 10 ms timer keeps ticking and other requests are answered;
- a WebSocket client on /ws receives the published updates in order, and
  an upgrade on another path is refused;
- an idle connection is closed after the idle timeout (5 s here);
- SIGTERM stops it with exit code 0 (with HTTPD_WRAP="valgrind ...", the
  sanitizer stage's run, that also means no leak and no memory error).
Every wait is bounded."""
import os
import signal
import socket
import subprocess
import sys
import time

BIN = os.environ.get("AUTOSHARD_BIN", os.path.join(os.path.dirname(__file__), "../../build"))
HOST = "127.71.1.1"


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def ok(msg):
    print("ok - " + msg)


def request(port, raw, timeout=5.0):
    """Send raw bytes, read until close or a full response; return bytes."""
    s = socket.create_connection((HOST, port), timeout=timeout)
    try:
        s.sendall(raw)
        data = b""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                clen = 0
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        clen = int(v.strip())
                if raw.startswith(b"HEAD") or len(body) >= clen:
                    break
        return data
    finally:
        s.close()


def status(resp):
    try:
        return int(resp.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


def get(port, path, method="GET", extra=b""):
    return request(port, method.encode() + b" " + path.encode() + b" HTTP/1.1\r\nHost: t\r\n" + extra +
                   b"Connection: close\r\n\r\n")


def ticks(port):
    r = get(port, "/ticks")
    if status(r) != 200:
        fail("/ticks answered %r" % r[:80])
    return int(r.partition(b"\r\n\r\n")[2])


def ws_connect(port, path="/ws"):
    """WebSocket handshake by hand (RFC 6455); returns (socket, status line)."""
    import base64
    key = base64.b64encode(os.urandom(16)).decode()
    s = socket.create_connection((HOST, port), timeout=5)
    s.sendall(("GET %s HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, key)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        c = s.recv(1)
        if not c:
            break
        head += c
    return s, head.split(b"\r\n", 1)[0]


def ws_frame(s):
    """One unmasked server frame: (opcode, payload)."""
    def exact(n):
        b = b""
        while len(b) < n:
            c = s.recv(n - len(b))
            if not c:
                raise EOFError("closed")
            b += c
        return b
    h = exact(2)
    n = h[1] & 0x7F
    if n == 126:
        n = int.from_bytes(exact(2), "big")
    elif n == 127:
        n = int.from_bytes(exact(8), "big")
    return h[0] & 0x0F, exact(n)


def closed_within(s, seconds):
    s.settimeout(seconds)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def main():
    wrap = os.environ.get("HTTPD_WRAP", "").split()  # e.g. valgrind and its options
    srv = subprocess.Popen(wrap + [os.path.join(BIN, "tests", "httpd_serve"), HOST + ":0", "4"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = srv.stdout.readline()
        if not line.startswith("PORT "):
            fail("server did not start: %r %s" % (line, srv.stderr.read()))
        port = int(line.split()[1])

        # It binds to its address only: a second server on another 127.x
        # takes the same port (as sidecars on one host do).
        other = subprocess.Popen([os.path.join(BIN, "tests", "httpd_serve"), "127.71.1.9:%d" % port, "4"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line2 = other.stdout.readline()
        other.terminate()
        other.wait()
        if line2.strip() != "PORT %d" % port:
            fail("a second server on 127.71.1.9:%d: %r %s" % (port, line2, other.stderr.read()))
        ok("bound to its own address only: a second server on another address took the same port")

        r = get(port, "/ticks?x=1")
        if status(r) != 200 or b"content-type: text/plain" not in r.lower() or not r.split(b"\r\n\r\n")[1].strip().isdigit():
            fail("GET /ticks?x=1: %r" % r[:200])
        r = get(port, "/ticks", "HEAD")
        if status(r) != 200 or r.partition(b"\r\n\r\n")[2] != b"":
            fail("HEAD /ticks: %r" % r[:200])
        if status(get(port, "/nope")) != 404:
            fail("unknown path not 404")
        r = request(port, b"POST /ticks HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc")
        if status(r) != 405 or b"allow: get, head" not in r.lower():
            fail("POST: %r" % r[:200])
        ok("GET 200, HEAD headers only, 404 unknown path, 405 with Allow for POST")

        r = get(port, "/ticks", extra=b"X-Big: " + b"a" * 65536 + b"\r\n")
        if r and status(r) not in (400, 413, 431):
            fail("64 KiB header answered %r" % r[:120])
        if srv.poll() is not None or status(get(port, "/ticks")) != 200:
            fail("server not serving after a huge header")
        ok("a 64 KiB header: %s; still serving" % ("HTTP %d" % status(r) if r else "connection closed"))

        idle = [socket.create_connection((HOST, port), timeout=5) for _ in range(4)]
        time.sleep(0.3)
        extra = socket.create_connection((HOST, port), timeout=5)
        if not closed_within(extra, 3):
            fail("a fifth connection was kept open with max clients 4")
        extra.close()
        for s in idle:
            s.close()
        k = 0
        while True:
            try:
                if status(get(port, "/ticks")) == 200:
                    break
            except OSError:
                pass
            k += 1
            if k > 50:
                fail("not serving after the idle connections closed")
            time.sleep(0.1)
        ok("max clients 4: a fifth connection closed; serving again after")

        slow = socket.create_connection((HOST, port), timeout=5)
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.sendall(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.5)
        t1 = ticks(port)
        time.sleep(0.5)
        t2 = ticks(port)
        if t2 - t1 < 10:
            fail("event loop stalled behind a client that never reads: %d ticks in 0.5 s" % (t2 - t1))
        slow.close()
        ok("a client that never reads 4 MiB: the loop ticked %d times in 0.5 s, other requests answered" % (t2 - t1))

        import json
        ws, line = ws_connect(port)
        if b" 101 " not in line + b" ":
            fail("WebSocket upgrade on /ws: %r" % line)
        seen = []
        deadline = time.time() + 5
        while len(seen) < 3 and time.time() < deadline:
            op, payload = ws_frame(ws)
            if op == 1:
                seen.append(json.loads(payload)["ticks"])
        if len(seen) < 3 or not seen[0] < seen[1] < seen[2]:
            fail("WebSocket updates: %r" % seen)
        ws.close()
        bad, line = ws_connect(port, "/elsewhere")
        if b" 101 " in line + b" ":
            fail("WebSocket upgrade accepted on a path other than /ws")
        bad.close()
        ok("WebSocket on /ws: updates %s in order; an upgrade elsewhere is refused" % seen)

        lazy = socket.create_connection((HOST, port), timeout=5)
        if not closed_within(lazy, 20):
            fail("an idle connection was not closed within 20 s (timeout 5 s)")
        lazy.close()
        ok("an idle connection is closed after the timeout")

        srv.send_signal(signal.SIGTERM)
        try:
            rc = srv.wait(timeout=10)
        except subprocess.TimeoutExpired:
            fail("no exit within 10 s of SIGTERM")
        if rc != 0:
            fail("exit code %d after SIGTERM: %s" % (rc, srv.stderr.read()))
        ok("SIGTERM: exit 0")
    finally:
        if srv.poll() is None:
            srv.kill()
            srv.wait()


main()
