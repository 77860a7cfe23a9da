#!/usr/bin/env python3
"""A small HTTP/1.1 keep-alive test server for the smop.http specs.

Binds 127.0.0.1 on a free port and prints "<port> <pid>" as its first line.
Exits when its parent dies, so a crashed test run leaves nothing behind.
With --tls CERT KEY it serves https.

Endpoints (any method):
  /echo                 {"method","path","headers" (lower-cased),"body"} as JSON
  /status/<code>        that status, body "status <code>\\n"
  /delay/<ms>           waits, then 200 "ok"
  /stream/<n>           chunked body of n lines "line <i>", i = 1..n; query:
                          interval_ms= pause between lines
                          size=        pad each line with "x" to this length
                          split=1      send each line in two chunks, the cut
                                       inside the line, flushing in between
                          crlf=1       end lines with "\\r\\n"
                          tail=<text>  then a final line without a newline
  /bytes/<n>            n bytes of "a"; chunked=1 omits Content-Length
  /count                number of TCP connections accepted so far
"""
import json
import ssl
import sys
import threading
import time
from stubkit import serve
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # many clients connect at once
    connections = 0
    lock = threading.Lock()

    def handle_error(self, request, client_address):
        pass  # clients hang up on purpose (timeouts, caps, cancels)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def log_message(self, format, *args):
        pass

    def send_body(self, status, body, content_type="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def dispatch(self):
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        parts = url.path.strip("/").split("/")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        name = parts[0]
        arg = parts[1] if len(parts) > 1 else ""

        if name == "echo":
            doc = {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("utf-8", "replace"),
            }
            self.send_body(200, json.dumps(doc).encode(), "application/json")
        elif name == "status":
            self.send_body(int(arg), b"status %s\n" % arg.encode())
        elif name == "delay":
            time.sleep(int(arg) / 1000.0)
            self.send_body(200, b"ok")
        elif name == "count":
            with self.server.lock:
                n = self.server.connections
            self.send_body(200, str(n).encode())
        elif name == "bytes":
            n = int(arg)
            if query.get("chunked"):
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for off in range(0, n, 65536):
                    self.chunk(b"a" * min(65536, n - off))
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.send_body(200, b"a" * n)
        elif name == "stream":
            self.stream(int(arg), query)
        else:
            self.send_body(404, b"not found\n")

    def stream(self, n, query):
        interval = int(query.get("interval_ms", "0")) / 1000.0
        size = int(query.get("size", "0"))
        eol = b"\r\n" if query.get("crlf") else b"\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        for i in range(1, n + 1):
            line = b"line %d" % i
            line = line + b"x" * (size - len(line)) + eol
            if query.get("split"):
                cut = len(line) // 2
                self.chunk(line[:cut])
                time.sleep(0.002)
                self.chunk(line[cut:])
            else:
                self.chunk(line)
            if interval:
                time.sleep(interval)
        if query.get("tail"):
            self.chunk(query["tail"].encode())
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = dispatch


def main():
    server = Server(("127.0.0.1", 0), Handler)
    if len(sys.argv) == 4 and sys.argv[1] == "--tls":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[2], sys.argv[3])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    serve(server)


if __name__ == "__main__":
    main()
