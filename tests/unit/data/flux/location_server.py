#!/usr/bin/python3
"""Fake Flux location API for test_flux_poller.

Usage: location_server.py CONTROL_FILE

Listens on 127.0.0.1, a free port, and prints "PORT <n>" on stdout. Every
request re-reads CONTROL_FILE, a JSON object saying how to answer:

  {"status": 200, "file": "data/flux/location_three.json"}   body from a file
  {"status": 500, "body": "oops"}                            literal body
  {"delay": 5, ...}                                          wait first (timeouts)
  {"close": true}                                            close without answering
  {"big": 2000000}                                           a 200 with that many bytes

It writes one line per request to CONTROL_FILE + ".log" ("GET <path>") so the
test can check the URL. It exits when its stdin reaches end of file (the test
closed it or died), so it never outlives the test.
"""
import json
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONTROL = sys.argv[1]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def do_GET(self):
        with open(CONTROL + ".log", "a") as log:
            log.write("GET %s\n" % self.path)
        with open(CONTROL) as f:
            ctl = json.load(f)
        if ctl.get("delay"):
            time.sleep(float(ctl["delay"]))
        if ctl.get("close"):
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if "big" in ctl:
            body = b"x" * int(ctl["big"])
        elif "file" in ctl:
            with open(ctl["file"], "rb") as f:
                body = f.read()
        else:
            body = ctl.get("body", "").encode()
        self.send_response(int(ctl.get("status", 200)))
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # a closed peer is expected
        pass


def watch_stdin():
    while sys.stdin.buffer.read(4096):
        pass
    os._exit(0)


def main():
    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=watch_stdin, daemon=True).start()
    print("PORT %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
