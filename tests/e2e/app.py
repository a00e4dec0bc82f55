"""A tiny HTTP service for end-to-end runs, on the standard library only.

``python -m tests.e2e.app --port P``: ``/health`` and ``/ok`` answer 200 at
once, ``/slow?ms=N`` after N ms, ``/fail`` with a 500, ``/locked`` with a 500
saying "database is locked" (SQLite's message), ``/hang`` never.
"""

from __future__ import annotations

import argparse
import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real services do

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        status = 200
        answer: dict[str, object] = {"path": url.path}
        if url.path == "/slow":
            time.sleep(int(parse_qs(url.query).get("ms", ["100"])[0]) / 1000)
        elif url.path == "/fail":
            status = 500
        elif url.path == "/locked":
            status, answer = 500, {"error": "database is locked"}
        elif url.path == "/hang":
            time.sleep(3600)  # a daemon thread: gone with the process
        elif url.path not in ("/health", "/ok"):
            status = 404
        body = json.dumps({**answer, "status": status}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return  # quiet: the load would flood the log


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
