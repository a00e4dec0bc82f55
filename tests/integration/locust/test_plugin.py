"""chaoskit's Locust plugin on real responses: Locust's own HTTP clients
(``HttpUser``'s requests session and ``FastHttpUser``'s geventhttpclient) against
a real loopback server, the plugin's request listener registered as in a worker.

Locust patches its process with gevent, so the clients run in a child Python;
the server runs here, in a thread.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from chaoskit.locust import plugin_path

CHUNK = b"data: first\n\n"


class Server(threading.Thread):
    """``/stream`` sends one chunk of a chunked body and then holds the
    connection open (as an SSE stream does) until the test ends; ``/locked``
    is a 500 whose body says "database is locked"; any other path is a 200
    with ``X-Fallback: yes``. One request per connection."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.done = threading.Event()
        self.held: list[socket.socket] = []

    def run(self) -> None:
        while not self.done.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            data = conn.recv(4096)
            if not data:
                conn.close()
                return
            head += data
        path = head.split(b" ", 2)[1]
        if path == b"/stream":
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
                + f"{len(CHUNK):x}\r\n".encode() + CHUNK + b"\r\n"
            )  # fmt: skip
            self.held.append(conn)  # never finished: closed at the end
            return
        if path == b"/locked":
            body = b'{"error": "database is locked"}'
            status = b"500 Internal Server Error"
        else:
            body = b'{"ok": true}'
            status = b"200 OK"
        conn.sendall(
            b"HTTP/1.1 " + status + b"\r\nX-Fallback: yes\r\nConnection: close\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )  # fmt: skip
        conn.close()

    def close(self) -> None:
        self.done.set()
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server()
    running.start()
    try:
        yield running
    finally:
        running.close()


CLIENT = """
import json, sys
sys.path.insert(0, sys.argv[1])
from locust import events
from locust.clients import HttpSession
from locust.contrib.fasthttp import FastHttpSession
import chaoskit_locust as plugin

state = plugin._state()
state.configure({
    "patterns": {"gone": "no such thing"},
    "builtin": {"lock": "database is locked"},
    "markers": {"marked": {"header": "X-Fallback"}},
})
base = sys.argv[2]
out = {}


def session(kind):
    if kind == "requests":
        return HttpSession(base, request_event=events.request, user=None)
    return FastHttpSession(base, request_event=events.request, user=None)


for kind in ("requests", "fast"):
    # stream=True, body not read by the user: the plugin must not read it (it
    # would wait for the end of a stream that never ends) ...
    response = session(kind).get("/stream", name="stream", stream=True)
    # ... and the user still gets the stream's first chunk.
    if kind == "requests":
        first = next(response.iter_content(len(sys.argv[3])))
    else:
        first = response._response.read(len(sys.argv[3]))
    first = first.decode() if isinstance(first, bytes) else first
    # A body that was read: the built-in pattern on a failure; a marker header.
    # (A new session: the stream holds its connection.)
    other = session(kind)
    other.get("/locked", name="locked")
    other.get("/ok", name="marked")
    out[kind] = {"first": first, "records": state.records}
    state.records = []


class Lines:  # the master's line to chaoskit, kept: forward() as the master has it
    send = plugin._Sink.send
    forward = plugin._Sink.forward

    def __init__(self):
        self.lines = []

    def send_text(self, line):
        self.lines.append(line)


# A worker's batch as the plugin sends it now (JSON text), as it sent it before
# (a dict), an empty one, and text that is not one JSON object (dropped).
on_request = plugin.on_request
on_request("GET", "batched", 1.5, 3, response=None, context=None, start_time=1.0)
plugin.ack("write", 7)
text = state.take()
lines = Lines()
lines.forward("w1", {"json": text})
lines.forward("w1", json.loads(text))
lines.forward("w2", {"json": "{}"})
lines.forward("w3", {"json": "[1]"})
lines.forward("w3", {"json": '{"r": []}\\n{"r": []}'})
out["lines"] = lines.lines
print(json.dumps(out))
"""


def test_a_streamed_body_is_left_to_the_user_and_a_read_one_is_scanned(server):
    """The plugin reads a body only when a pattern needs it and the response
    has been read already: a `stream=True` request whose stream never ends is
    recorded at once, unread, and the user reads its first chunk; a body that
    was read is still matched against the patterns, and markers need only the
    headers. For both of Locust's HTTP clients."""
    done = subprocess.run(
        [sys.executable, "-c", CLIENT, str(plugin_path().parent),
         f"http://127.0.0.1:{server.port}", CHUNK.decode()],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    for kind in ("requests", "fast"):
        records = {r[0]: r for r in found[kind]["records"]}
        assert found[kind]["first"] == CHUNK.decode(), kind
        stream = records["stream"]
        assert (stream[5], stream[6], stream[8]) == (200, "", ""), kind
        locked = records["locked"]
        assert (locked[5], locked[8]) == (500, "lock"), kind
        assert locked[6], kind  # Locust failed it: an exception name
        assert records["marked"][9] is True, kind
        assert records["stream"][9] is False, kind


def test_the_master_forwards_a_json_batch_as_it_came_and_a_dict_one_too(server):
    """A worker's batch, one compact JSON text, becomes one line to chaoskit
    with the worker's id put in front, never decoded; the older dict form
    gives the same line; text that is not one JSON object on one line is
    dropped (it would break the line protocol)."""
    done = subprocess.run(
        [sys.executable, "-c", CLIENT, str(plugin_path().parent),
         f"http://127.0.0.1:{server.port}", CHUNK.decode()],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = json.loads(done.stdout.strip().splitlines()[-1])["lines"]
    assert len(lines) == 3
    as_text, as_dict, empty = (json.loads(line) for line in lines)
    assert as_text == as_dict
    assert as_text["worker"] == "w1"
    assert [r[0] for r in as_text["r"]] == ["batched"]
    assert as_text["a"] == [["write", "7"]]
    assert empty == {"worker": "w2"}
    assert all("\n" not in line for line in lines)
