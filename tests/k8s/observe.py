#!/usr/bin/python3
"""Checks on the controller's HTTP side, for test_controller_observability.sh.

  observe.py metrics URL [FAMILY...] /metrics follows the text exposition format and
                                      has these families (default: the controller's)
  observe.py api URL                  /api/v1/clusters has the documented shape
  observe.py ws URL STOPFILE OUT      record WebSocket messages until STOPFILE exists
  observe.py browser URL STOPFILE OUT PNG
                                      headless Chromium (DevTools protocol) loads the
                                      dashboard, records what the DOM shows every
                                      250 ms until STOPFILE exists, and saves a
                                      screenshot taken while slots were moving
Records are JSON lines. Every wait is bounded. Only the standard library.
"""
import base64
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from urllib.parse import urlparse

DEADLINE_S = 600


def die(msg):
    print("observe: " + msg, file=sys.stderr)
    sys.exit(1)


# ---- the exposition format ----

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*"'
SAMPLE = re.compile(r"^(%s)(\{(%s(?:,%s)*)?\})? (\S+)$" % (NAME, LABEL, LABEL))
VALUE = re.compile(r"^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Inf|NaN)$")


def check_metrics(text):
    """Rules of the Prometheus text format (0.0.4) we rely on; returns families."""
    types, helps, seen, families = {}, {}, set(), {}
    if not text.endswith("\n"):
        die("metrics: the last line has no newline")
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("# HELP "):
            parts = line.split(" ", 3)
            if len(parts) < 4 or not re.match("^%s$" % NAME, parts[2]) or parts[2] in helps:
                die("metrics line %d: bad or repeated HELP: %r" % (n, line))
            helps[parts[2]] = parts[3]
            continue
        if line.startswith("# TYPE "):
            parts = line.split(" ")
            if len(parts) != 4 or parts[3] not in ("counter", "gauge", "histogram", "summary", "untyped"):
                die("metrics line %d: bad TYPE: %r" % (n, line))
            if parts[2] in types or parts[2] in families:
                die("metrics line %d: TYPE after samples or repeated: %r" % (n, line))
            types[parts[2]] = parts[3]
            continue
        if line.startswith("#") or not line:
            die("metrics line %d: unexpected line %r" % (n, line))
        m = SAMPLE.match(line)
        if not m or not VALUE.match(m.group(4)):
            die("metrics line %d: not a sample: %r" % (n, line))
        name, labels = m.group(1), m.group(3) or ""
        fam = name
        for suf in ("_bucket", "_sum", "_count"):
            if name.endswith(suf) and types.get(name[: -len(suf)]) == "histogram":
                fam = name[: -len(suf)]
        if fam not in types:
            die("metrics line %d: sample %s without a TYPE" % (n, name))
        if types[fam] == "counter" and not name.endswith("_total"):
            die("metrics line %d: counter %s does not end in _total" % (n, name))
        if (name, labels) in seen:
            die("metrics line %d: duplicate series %s{%s}" % (n, name, labels))
        seen.add((name, labels))
        families.setdefault(fam, []).append((name, labels, float(m.group(4))))
    for fam, typ in types.items():
        if typ != "histogram":
            continue
        groups = {}
        for name, labels, v in families.get(fam, []):
            base = ",".join(l for l in re.findall(LABEL, labels) if not l.startswith("le="))
            g = groups.setdefault(base, {"buckets": [], "count": None})
            if name.endswith("_bucket"):
                le = re.search(r'le="([^"]*)"', labels)
                if not le:
                    die("histogram %s: bucket without le" % fam)
                g["buckets"].append((float(le.group(1).replace("+Inf", "inf")), v))
            elif name.endswith("_count"):
                g["count"] = v
        for base, g in groups.items():
            b = sorted(g["buckets"])
            if not b or b[-1][0] != float("inf"):
                die("histogram %s{%s}: no +Inf bucket" % (fam, base))
            if any(b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
                die("histogram %s{%s}: buckets not cumulative" % (fam, base))
            if g["count"] != b[-1][1]:
                die("histogram %s{%s}: _count %s != +Inf bucket %s" % (fam, base, g["count"], b[-1][1]))
    return families


def get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read().decode()


def cmd_metrics(url, need=None):
    st, ctype, text = get(url)
    if st != 200 or not ctype.startswith("text/plain"):
        die("metrics: HTTP %d, Content-Type %r" % (st, ctype))
    fams = check_metrics(text)
    need = need or ["autoshard_controller_leader", "autoshard_cluster_slots_assigned", "autoshard_cluster_slots_open",
            "autoshard_cluster_masters", "autoshard_cluster_replicas", "autoshard_cluster_migration_keys_per_second",
            "autoshard_rebalance_duration_seconds", "autoshard_reconcile_errors_total", "autoshard_watch_restarts_total",
            "autoshard_engine_runs_total"]
    missing = [n for n in need if n not in fams]
    if missing:
        die("metrics: missing families %s" % missing)
    out = {}
    for fam, samples in fams.items():
        for name, labels, v in samples:
            out[name + ("{" + labels + "}" if labels else "")] = v
    print(json.dumps(out, sort_keys=True))


# ---- the JSON API ----

def shape(doc):
    """Raise ValueError unless doc has the documented /api/v1/clusters shape."""
    def need(o, k, t):
        if k not in o or not isinstance(o[k], t) or (t is int and isinstance(o[k], bool)):
            raise ValueError("%s: want %s, got %r" % (k, t.__name__, o.get(k)))
        return o[k]
    need(doc, "version", str)
    need(doc, "leader", bool)
    need(doc, "generatedAt", int)
    for c in need(doc, "clusters", list):
        for k in ("namespace", "name", "message"):
            need(c, k, str)
        for k in ("shards", "replicasPerShard", "masters", "replicas", "slotsAssigned"):
            need(c, k, int)
        need(c, "ready", bool)
        m = need(c, "migration", dict)
        for k in ("slotsDone", "slotsTotal", "keysMoved"):
            need(m, k, int)
        need(m, "keysPerSecond", (int, float))
        need(m, "phase", str)
        nodes = need(c, "nodes", list)
        for n in nodes:
            for k in ("id", "addr", "role", "state"):
                need(n, k, str)
            need(n, "slots", int)
            if n["role"] not in ("master", "replica") or len(n["id"]) != 40:
                raise ValueError("node %r" % n)
            if n["role"] == "replica" and not isinstance(n.get("masterId"), str):
                raise ValueError("replica without masterId: %r" % n)
        last = -1
        for r in need(c, "slots", list):
            if (len(r) != 3 or not all(isinstance(x, int) for x in r) or r[0] <= last or r[1] < r[0]
                    or r[1] > 16383 or not 0 <= r[2] < len(nodes)):
                raise ValueError("slot range %r" % (r,))
            last = r[1]


def owners(c):
    return " ".join("%d-%d:%s" % (a, b, c["nodes"][k]["id"][:8]) for a, b, k in c["slots"])


def cmd_api(url):
    st, ctype, text = get(url)
    if st != 200 or not ctype.startswith("application/json"):
        die("api: HTTP %d, Content-Type %r" % (st, ctype))
    doc = json.loads(text)
    try:
        shape(doc)
    except ValueError as e:
        die("api: %s" % e)
    print(json.dumps({"clusters": [{"name": c["name"], "masters": c["masters"], "ready": c["ready"],
                                    "slots": sum(b - a + 1 for a, b, _ in c["slots"]),
                                    "owners": len({k for _, _, k in c["slots"]})} for c in doc["clusters"]]}))


# ---- WebSocket (RFC 6455), client side: frames we send are masked ----

class WS:
    def __init__(self, url, timeout=10):
        u = urlparse(url)
        self.s = socket.create_connection((u.hostname, u.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        path = u.path + ("?" + u.query if u.query else "")
        self.s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                        % (path or "/", u.hostname, u.port, key)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            c = self.s.recv(1)
            if not c:
                raise EOFError("closed during the handshake")
            head += c
        if b" 101 " not in head.split(b"\r\n")[0] + b" ":
            raise EOFError("upgrade refused: %r" % head.split(b"\r\n")[0])

    def _exact(self, n):
        b = b""
        while len(b) < n:
            c = self.s.recv(n - len(b))
            if not c:
                raise EOFError("closed")
            b += c
        return b

    def send(self, text):
        data = text.encode()
        hdr = bytes([0x81])
        n = len(data)
        if n < 126:
            hdr += bytes([0x80 | n])
        elif n < 65536:
            hdr += bytes([0x80 | 126]) + n.to_bytes(2, "big")
        else:
            hdr += bytes([0x80 | 127]) + n.to_bytes(8, "big")
        mask = os.urandom(4)
        self.s.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def recv(self):
        """One whole text message (continuation frames joined)."""
        msg = b""
        while True:
            h = self._exact(2)
            n = h[1] & 0x7F
            if n == 126:
                n = int.from_bytes(self._exact(2), "big")
            elif n == 127:
                n = int.from_bytes(self._exact(8), "big")
            payload = self._exact(n)
            op = h[0] & 0x0F
            if op == 8:
                raise EOFError("close frame")
            if op in (9, 10):
                continue
            msg += payload
            if h[0] & 0x80:
                return msg.decode()


def cmd_ws(url, stop, out):
    ws = WS(url)
    ws.s.settimeout(1.0)
    t0 = time.time()
    with open(out, "w") as f:
        while not os.path.exists(stop) and time.time() - t0 < DEADLINE_S:
            try:
                doc = json.loads(ws.recv())
            except socket.timeout:
                continue
            shape(doc)
            for c in doc["clusters"]:
                m = c["migration"]
                f.write(json.dumps({"t": round(time.time() - t0, 3), "name": c["name"], "phase": m["phase"],
                                    "slotsDone": m["slotsDone"], "slotsTotal": m["slotsTotal"],
                                    "masters": c["masters"], "owners": len({k for _, _, k in c["slots"]}),
                                    "map": owners(c)}) + "\n")
                f.flush()


# ---- headless Chromium through the DevTools protocol ----

class CDP:
    def __init__(self, ws):
        self.ws, self.n = ws, 0

    def call(self, method, **params):
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        t0 = time.time()
        while time.time() - t0 < 30:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.n:
                if "error" in msg:
                    raise RuntimeError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})
        raise RuntimeError("%s: no answer in 30 s" % method)


OBSERVE_JS = """JSON.stringify({updates: Number(document.body.dataset.updates || 0),
  live: (document.getElementById('live') || {}).className,
  clusters: Array.from(document.querySelectorAll('section.cluster')).map(e => ({id: e.id,
    phase: e.dataset.phase, ready: e.dataset.ready, masters: e.dataset.masters, owners: e.dataset.owners,
    canvas: !!e.querySelector('canvas.slotmap'), rows: e.querySelectorAll('tbody tr').length}))})"""


def cmd_browser(url, stop, out, png):
    exe = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if os.path.exists(p)), None)
    if not exe:
        die("browser: chromium is not installed")
    prof = tempfile.mkdtemp(prefix="autoshard-chromium.")
    proc = subprocess.Popen([exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                             "--no-first-run", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
                             "--user-data-dir=" + prof, "--window-size=1280,1000", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        port, t0 = None, time.time()
        while port is None and time.time() - t0 < 60:
            line = proc.stderr.readline()
            if not line:
                die("browser: chromium exited (%s)" % proc.poll())
            m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if m:
                port = int(m.group(1))
        if port is None:
            die("browser: no DevTools port within 60 s")
        targets = json.loads(get("http://127.0.0.1:%d/json/list" % port)[2])
        page = next(t for t in targets if t.get("type") == "page")
        cdp = CDP(WS(page["webSocketDebuggerUrl"], timeout=30))
        cdp.call("Page.enable")
        cdp.call("Page.navigate", url=url)
        shot = None
        t0 = time.time()
        with open(out, "w") as f:
            while not os.path.exists(stop) and time.time() - t0 < DEADLINE_S:
                r = cdp.call("Runtime.evaluate", expression=OBSERVE_JS, returnByValue=True)
                if "exceptionDetails" in r or "value" not in r.get("result", {}):
                    time.sleep(0.25)  # the page is still loading (no body yet)
                    continue
                obs = json.loads(r["result"]["value"])
                obs["t"] = round(time.time() - t0, 3)
                f.write(json.dumps(obs) + "\n")
                f.flush()
                moving = any(c["phase"] not in (None, "idle") for c in obs["clusters"])
                if moving and shot is None and obs["clusters"] and obs["clusters"][0]["owners"]:
                    shot = cdp.call("Page.captureScreenshot", format="png")["data"]
                time.sleep(0.25)
            if shot is None:  # nothing moved while we watched: the final state
                shot = cdp.call("Page.captureScreenshot", format="png")["data"]
                f.write(json.dumps({"screenshot": "final"}) + "\n")
            else:
                f.write(json.dumps({"screenshot": "during"}) + "\n")
        with open(png, "wb") as p:
            p.write(base64.b64decode(shot))
    finally:
        proc.kill()
        proc.wait()
        subprocess.run(["rm", "-rf", prof])


def main():
    a = sys.argv[1:]
    if a[:1] == ["metrics"] and len(a) >= 2:
        cmd_metrics(a[1], a[2:])
    elif a[:1] == ["api"] and len(a) == 2:
        cmd_api(a[1])
    elif a[:1] == ["ws"] and len(a) == 4:
        cmd_ws(a[1], a[2], a[3])
    elif a[:1] == ["browser"] and len(a) == 5:
        cmd_browser(a[1], a[2], a[3], a[4])
    else:
        die("usage: see the docstring")


main()
