"""A tiny HTTP service for end-to-end runs, on the standard library only.

``python -m tests.e2e.app --port P``: ``/health`` and ``/ok`` answer 200 at
once, ``/slow?ms=N`` after N ms, ``/fail`` with a 500, ``/locked`` with a 500
saying "database is locked" (SQLite's message), ``/hang`` never.

Seeded behaviours for the rule checks (each deterministic, by request count):

* ``/cached?fresh_every=N&fresh_ms=M``: answers from its "cache"
  (``X-Fallback: cache``) except every N-th request, answered fresh (no
  marker) after M ms;
* ``/upstream?every=N``: says how many upstream attempts it made, in the
  ``X-Upstream-Attempts`` header and ``{"attempts": n}``: 1, except every
  N-th request (``--attempts-max`` attempts);
* ``POST /updates``: adds one update to a counter and acknowledges it (201);
  with ``--lose-every N`` every N-th acknowledged update is not counted (an
  ack-before-persist bug). ``GET /total`` is ``{"total": n}``; with ``--db
  FILE`` the counter is kept in SQLite too (``counters(name, updates)``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

_COUNTERS: dict[str, itertools.count[int]] = {}
_LOCK = threading.Lock()
_TOTAL = [0]
_OPTIONS = argparse.Namespace(lose_every=0, attempts_max=5, db=None)


def _next(name: str) -> int:
    """1, 2, 3...: how many requests of this kind so far (thread-safe)."""
    with _LOCK:
        return next(_COUNTERS.setdefault(name, itertools.count(1)))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real services do

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        status, headers, extra = 200, {}, {}
        if url.path == "/slow":
            time.sleep(int(query.get("ms", "100")) / 1000)
        elif url.path == "/fail":
            status = 500
        elif url.path == "/locked":
            status, extra = 500, {"error": "database is locked"}
        elif url.path == "/hang":
            time.sleep(3600)  # a daemon thread: gone with the process
        elif url.path == "/cached":
            if _next(f"cached?{url.query}") % int(query.get("fresh_every", "10")) == 0:
                time.sleep(int(query.get("fresh_ms", "0")) / 1000)
            else:
                headers["X-Fallback"] = "cache"
        elif url.path == "/upstream":
            every = int(query.get("every", "10"))
            nth = _next(f"upstream?{url.query}")
            attempts = _OPTIONS.attempts_max if nth % every == 0 else 1
            headers["X-Upstream-Attempts"] = str(attempts)
            extra["attempts"] = attempts
        elif url.path == "/total":
            with _LOCK:
                extra["total"] = _TOTAL[0]
        elif url.path not in ("/health", "/ok"):
            status = 404
        self._answer(status, headers, {"path": url.path, "status": status, **extra})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if urlsplit(self.path).path != "/updates":
            self._answer(404, {}, {"status": 404})
            return
        n = _next("updates")
        lose = _OPTIONS.lose_every and n % _OPTIONS.lose_every == 0
        if not lose:
            with _LOCK:
                _TOTAL[0] += 1
                if _OPTIONS.db:
                    with sqlite3.connect(_OPTIONS.db) as db:
                        db.execute("UPDATE counters SET updates = updates + 1")
        self._answer(201, {}, {"update": n})

    def _answer(self, status: int, headers: dict[str, str], doc: object) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return  # quiet: the load would flood the log


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    # Ignored: lets a test plant a credential in a command line (it must not
    # reach any log or report).
    parser.add_argument("--jwt-secret", default=None)
    parser.add_argument("--lose-every", type=int, default=0)
    parser.add_argument("--attempts-max", type=int, default=5)
    parser.add_argument("--db")
    args = parser.parse_args()
    _OPTIONS.lose_every, _OPTIONS.attempts_max = args.lose_every, args.attempts_max
    _OPTIONS.db = args.db
    if args.db:
        with sqlite3.connect(args.db) as db:
            db.execute("CREATE TABLE IF NOT EXISTS counters (name TEXT, updates INT)")
            db.execute("DELETE FROM counters")
            db.execute("INSERT INTO counters VALUES ('updates', 0)")
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
