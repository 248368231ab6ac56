#!/usr/bin/python3
"""A small stand-in for kube-apiserver on 127.0.0.1 for unit tests of the C
client (the real one is exercised by tests/k8s). It keeps objects of any
resource in memory with a global resourceVersion counter and implements:

  GET    collection        list, limit/continue pagination
  GET    collection?watch  newline-delimited events from resourceVersion,
                           bookmarks, ERROR 410 when the version is compacted
  GET    object            404 Status when missing
  POST   collection        create (409 AlreadyExists)
  PUT    object            replace (409 Conflict on a stale resourceVersion)
  PATCH  object[/status]   merge patch or apply patch (JSON)
  DELETE object            with preconditions (409 Conflict)

Control: POST /control/expire-next-continue (the next continue token gets
410 Expired), POST /control/compact (watches and continue tokens from before now
get 410), POST /control/close-watches, GET /control/log (requests seen),
POST /control/reject-name?name=X (a 422 Invalid on create of X).
With --tls DIR it speaks HTTPS and requires a client certificate signed by
DIR/ca.crt. Prints the port on stdout, then serves until killed or stdin closes."""

import json
import os
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Condition()
store = {}  # (collection path, name) -> object
events = []  # (rv, collection path, type, object)
rv = 100
compacted = 0
watch_gen = 0
log = []
reject = set()
expire_next_continue = False


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def merge(dst, patch):
    for k, v in patch.items():
        if v is None:
            dst.pop(k, None)
        elif isinstance(v, dict) and isinstance(dst.get(k), dict):
            merge(dst[k], v)
        else:
            dst[k] = v
    return dst


def split(path):
    """'/api/v1/namespaces/ns/configmaps/x/status' -> (coll, name, sub)."""
    parts = path.strip("/").split("/")
    base = 2 if parts[0] == "api" else 3
    if len(parts) > base and parts[base] == "namespaces" and len(parts) > base + 2:
        base += 2
    coll = "/" + "/".join(parts[:base + 1])
    name = parts[base + 1] if len(parts) > base + 1 else None
    sub = parts[base + 2] if len(parts) > base + 2 else None
    return coll, name, sub


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def record(self, body):
        with lock:
            log.append({"method": self.command, "path": self.path,
                        "ctype": self.headers.get("Content-Type") or "",
                        "auth": self.headers.get("Authorization") or "",
                        "body": body.decode(errors="replace")})

    def bump(self, coll, etype, obj):
        global rv
        rv += 1
        obj.setdefault("metadata", {})["resourceVersion"] = str(rv)
        events.append((rv, coll, etype, json.loads(json.dumps(obj))))
        lock.notify_all()

    def do_GET(self):
        global expire_next_continue
        self.record(b"")
        u = urllib.parse.urlparse(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        if u.path == "/control/log":
            with lock:
                return self.send_json(200, log)
        coll, name, _ = split(u.path)
        if name:
            with lock:
                obj = store.get((coll, name))
            if obj is None:
                return self.send_json(404, status(404, "NotFound", '%s "%s" not found' % (coll.split("/")[-1], name)))
            return self.send_json(200, obj)
        if q.get("watch") in ("1", "true"):
            return self.watch(coll, q)
        with lock:
            items = sorted((o for (c, _), o in store.items() if c == coll), key=lambda o: o["metadata"]["name"])
            limit = int(q.get("limit") or 0)
            start, list_rv = 0, rv
            if q.get("continue"):
                start, list_rv = (int(x) for x in q["continue"].split("-"))
                if list_rv < compacted or expire_next_continue:
                    expire_next_continue = False
                    return self.send_json(410, status(410, "Expired",
                                                      "The provided continue parameter is too old"))
            page = items[start:start + limit] if limit else items[start:]
            meta = {"resourceVersion": str(list_rv)}
            if limit and start + limit < len(items):
                meta["continue"] = "%d-%d" % (start + limit, list_rv)
        self.send_json(200, {"kind": "List", "apiVersion": "v1", "metadata": meta, "items": page})

    def watch(self, coll, q):
        try:
            self.stream(coll, q)
        except OSError:
            pass  # the client went away (cancelled or re-watching)

    def stream(self, coll, q):
        since = int(q.get("resourceVersion") or 0)
        deadline = time.monotonic() + int(q.get("timeoutSeconds") or 30)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def send(obj):
            data = json.dumps(obj).encode() + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        with lock:
            gen = watch_gen
            if since < compacted:
                send({"type": "ERROR", "object": status(410, "Expired",
                                                        "too old resource version: %d (%d)" % (since, compacted))})
                self.wfile.write(b"0\r\n\r\n")
                return
            last_bookmark = 0
            while time.monotonic() < deadline and gen == watch_gen:
                for (erv, c, t, o) in events:
                    if erv > since and c == coll:
                        send({"type": t, "object": o})
                        since = erv
                if q.get("allowWatchBookmarks") == "true" and time.monotonic() - last_bookmark > 0.2:
                    send({"type": "BOOKMARK", "object": {"kind": "ConfigMap", "apiVersion": "v1",
                                                         "metadata": {"resourceVersion": str(rv)}}})
                    since = max(since, rv)
                    last_bookmark = time.monotonic()
                lock.wait(0.1)
        if gen == watch_gen:
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.close_connection = True
            self.connection.shutdown(2)

    def do_POST(self):
        global compacted, watch_gen, expire_next_continue
        body = self.body()
        self.record(body)
        u = urllib.parse.urlparse(self.path)
        if u.path == "/control/compact":
            with lock:
                compacted = rv
            return self.send_json(200, {"compacted": compacted})
        if u.path == "/control/expire-next-continue":
            expire_next_continue = True
            return self.send_json(200, {})
        if u.path == "/control/close-watches":
            with lock:
                watch_gen += 1
                lock.notify_all()
            return self.send_json(200, {})
        if u.path == "/control/reject-name":
            reject.add(dict(urllib.parse.parse_qsl(u.query))["name"])
            return self.send_json(200, {})
        coll, _, _ = split(u.path)
        obj = json.loads(body)
        name = obj.get("metadata", {}).get("name")
        with lock:
            if name in reject:
                return self.send_json(422, status(422, "Invalid", 'ConfigMap "%s" is invalid: data: Invalid value' % name))
            if (coll, name) in store:
                return self.send_json(409, status(409, "AlreadyExists", '"%s" already exists' % name))
            obj["metadata"]["uid"] = "uid-" + name
            store[(coll, name)] = obj
            self.bump(coll, "ADDED", obj)
            self.send_json(201, obj)

    def do_PUT(self):
        body = self.body()
        self.record(body)
        coll, name, _ = split(urllib.parse.urlparse(self.path).path)
        obj = json.loads(body)
        with lock:
            cur = store.get((coll, name))
            if cur is None:
                return self.send_json(404, status(404, "NotFound", '"%s" not found' % name))
            if obj.get("metadata", {}).get("resourceVersion") != cur["metadata"]["resourceVersion"]:
                return self.send_json(409, status(409, "Conflict", 'Operation cannot be fulfilled on "%s": the object has been modified; please apply your changes to the latest version and try again' % name))
            obj["metadata"]["uid"] = cur["metadata"]["uid"]
            store[(coll, name)] = obj
            self.bump(coll, "MODIFIED", obj)
            self.send_json(200, obj)

    def do_PATCH(self):
        body = self.body()
        self.record(body)
        u = urllib.parse.urlparse(self.path)
        coll, name, sub = split(u.path)
        patch = json.loads(body)
        with lock:
            cur = store.get((coll, name))
            if cur is None:
                if "apply-patch" in (self.headers.get("Content-Type") or ""):
                    patch.setdefault("metadata", {})["uid"] = "uid-" + name
                    store[(coll, name)] = patch
                    self.bump(coll, "ADDED", patch)
                    return self.send_json(201, patch)
                return self.send_json(404, status(404, "NotFound", '"%s" not found' % name))
            merge(cur, patch)
            self.bump(coll, "MODIFIED", cur)
            self.send_json(200, cur)

    def do_DELETE(self):
        body = self.body()
        self.record(body)
        coll, name, _ = split(urllib.parse.urlparse(self.path).path)
        opts = json.loads(body) if body else {}
        with lock:
            cur = store.get((coll, name))
            if cur is None:
                return self.send_json(404, status(404, "NotFound", '"%s" not found' % name))
            pre = opts.get("preconditions") or {}
            if "uid" in pre and pre["uid"] != cur["metadata"]["uid"]:
                return self.send_json(409, status(409, "Conflict", 'Operation cannot be fulfilled on ConfigMap "%s": the UID in the precondition (%s) does not match the UID in record (%s). The object might have been deleted and then recreated' % (name, pre["uid"], cur["metadata"]["uid"])))
            if "resourceVersion" in pre and pre["resourceVersion"] != cur["metadata"]["resourceVersion"]:
                return self.send_json(409, status(409, "Conflict", "Precondition failed: resourceVersion"))
            del store[(coll, name)]
            self.bump(coll, "DELETED", cur)
            self.send_json(200, cur)


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    if len(sys.argv) == 3 and sys.argv[1] == "--tls":
        # HTTPS with client certificates required (tls/README).
        d = sys.argv[2]
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(d, "server.crt"), os.path.join(d, "server.key"))
        ctx.load_verify_locations(os.path.join(d, "ca.crt"))
        ctx.verify_mode = ssl.CERT_REQUIRED
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print(srv.server_address[1], flush=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    sys.stdin.read()  # the test closes our stdin (or exits) to stop us


main()
