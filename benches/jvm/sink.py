#!/usr/bin/env python3
"""OTLP/HTTP sink for benches/jvm/run.sh: answers 200 (empty body) to every POST
and counts, per path, requests, body bytes as received, and, of the bodies it
inspects, those (gunzipped if need be) that mention the bench's method
(`chain`) and SQL (`SELECT`). It inspects one body in INSPECT_EVERY
(environment SINK_INSPECT_EVERY, default 16), so that
the sink, which shares the machine with the app under test, costs little:
the load run should measure the agent, not its receiver. `GET /counts` prints
`PATH posts=N bytes=M chain=C sql=S` lines, followed by `markI=K` for each
MARK given: of the inspected bodies, K mention the I-th (from 0). Usage: sink.py
PORT_FILE [MARK...] (the chosen port is written to PORT_FILE once the socket
listens)."""
import gzip
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

INSPECT_EVERY = int(os.environ.get("SINK_INSPECT_EVERY", "16"))
MARKS = [m.encode() for m in sys.argv[2:]]
counts = {}
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or ""):
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                body += self.rfile.read(size)
                self.rfile.readline()
                if size == 0:
                    break
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        wire = len(body)
        empty = (0, 0, 0, 0, (0,) * len(MARKS))
        with lock:
            posts = counts.get(self.path, empty)[0]
        if posts % INSPECT_EVERY != 0:
            body = b""
        elif self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        with lock:
            posts, size, chain, sql, marks = counts.get(self.path, empty)
            counts[self.path] = (
                posts + 1,
                size + wire,
                chain + (b"chain" in body),
                sql + (b"SELECT" in body),
                tuple(k + (m in body) for k, m in zip(marks, MARKS)),
            )
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        with lock:
            text = "".join(
                f"{p} posts={n} bytes={b} chain={c} sql={q}"
                + "".join(f" mark{i}={k}" for i, k in enumerate(marks))
                + "\n"
                for p, (n, b, c, q, marks) in sorted(counts.items())
            )
        data = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(sys.argv[1], "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
