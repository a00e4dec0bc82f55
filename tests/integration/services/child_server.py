"""A tiny HTTP server run as a child process by the process-service tests.

``python child_server.py --port N [options]``:

* ``GET /health`` answers ``--health-status`` (200 by default);
* ``GET /info`` answers JSON: pid, pgid, cwd, and every ``CHILD_*`` variable.

Options make it misbehave: ``--exit CODE`` (complain on stderr and exit before
listening), ``--no-listen`` (run, never listen), ``--ignore-term`` (ignore
SIGTERM), ``--grandchild FILE`` (start a sleeping child in the same group and
write its PID to FILE), ``--pid-file FILE`` (write our own PID first).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--health-status", type=int, default=200)
    parser.add_argument("--exit", type=int, default=None)
    parser.add_argument("--no-listen", action="store_true")
    parser.add_argument("--ignore-term", action="store_true")
    parser.add_argument("--grandchild", default=None)
    parser.add_argument("--pid-file", default=None)
    args = parser.parse_args()

    if args.pid_file:
        Path(args.pid_file).write_text(str(os.getpid()))
    print(f"child: starting pid={os.getpid()}", flush=True)
    print("child: hello on stderr", file=sys.stderr, flush=True)
    if args.exit is not None:
        print("fatal: DATABASE_URL is not set", file=sys.stderr, flush=True)
        sys.exit(args.exit)
    if args.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if args.grandchild:
        # Same process group (no new session): stopping the group must reach it.
        grandchild = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(60)"]
        )
        Path(args.grandchild).write_text(str(grandchild.pid))
    if args.no_listen:
        time.sleep(60)
        return

    health_status = args.health_status

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/health":
                self._answer(
                    health_status, b"ok\n" if health_status == 200 else b"no\n"
                )
            elif self.path == "/info":
                info = {
                    "pid": os.getpid(),
                    "pgid": os.getpgid(0),
                    "cwd": str(Path.cwd()),
                    "env": {
                        k: v for k, v in os.environ.items() if k.startswith("CHILD_")
                    },
                }
                self._answer(200, json.dumps(info).encode())
            else:
                self._answer(404, b"not found\n")

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = HTTPServer(("127.0.0.1", args.port), Handler)
    print(f"child: listening on {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
