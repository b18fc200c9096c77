#!/usr/bin/env python3
"""OTLP/HTTP sink for benches/jvm/run.sh: answers 200 (empty body) to every POST
and counts requests and body bytes per path. `GET /counts` prints them as
`PATH posts=N bytes=M` lines. Usage: sink.py PORT_FILE (the chosen port is
written there once the socket listens)."""
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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
        with lock:
            posts, size = counts.get(self.path, (0, 0))
            counts[self.path] = (posts + 1, size + len(body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        with lock:
            text = "".join(f"{p} posts={n} bytes={b}\n" for p, (n, b) in sorted(counts.items()))
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
