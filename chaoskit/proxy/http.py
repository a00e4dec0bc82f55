"""HTTP/1.1 on a ``protocol = "http"`` proxy: requests seen, faults applied, logged.

One :class:`HttpSession` per connection sits in front of its two links. Requests
are parsed with ``httptools`` and re-sent head by head (the request line and
headers as read, the body as read, a chunked body re-chunked), so each request is
its own unit even when a client pipelines. Responses pass through as read (the
parser only watches them for status, ``Retry-After`` and their end), except when
a fault must cut or hold one.

Order is kept without splitting a read at a response boundary: a request a fault
answers, cuts or delays is *exclusive*: it goes (or is answered) only once every
earlier response is complete, and later requests wait until it is done. With no
HTTP fault active, requests flow as fast as the client sends them.

A stream that does not start as HTTP/1.x (an HTTP/2 preface, a TLS ClientHello,
anything the parser refuses) passes through as TCP, with a warning in the
connection log; so does the rest of a connection after an upgrade (101).
TCP toxics sit behind this layer and act on what it sends, unchanged.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING

import httptools

from chaoskit.proxy.httpfaults import PASS, Decision, HttpFaults, RequestHead
from chaoskit.proxy.reqlog import RequestLog, RequestRecord

if TYPE_CHECKING:
    from chaoskit.proxy.link import Connection

__all__ = ["HttpOptions", "HttpSession"]

_HOLD_HIGH = 1024 * 1024  # held request bytes past which the client is paused
_TLS_HANDSHAKE = 0x16
_H2_PREFACE = b"PRI * HTTP/2"


class HttpOptions:
    """A proxy's HTTP settings: which headers each request record keeps."""

    def __init__(self, request_id_header: str = "x-request-id") -> None:
        self.request_id_header = request_id_header.lower()
        self.record_headers: set[str] = set()
        self.wanted: frozenset[bytes] = frozenset()
        """The same names as bytes, for the per-request scan."""
        self.record(self.request_id_header)

    def record(self, *names: str) -> None:
        """Keep these request headers (any case) in each request record."""
        self.record_headers.update(n.lower() for n in names)
        self.wanted = frozenset(n.encode("latin-1") for n in self.record_headers)

    def to_json(self) -> dict[str, object]:
        return {
            "request_id_header": self.request_id_header,
            "record_headers": sorted(self.record_headers),
        }


class _Exchange:
    """One request and its response, from its first byte to the reply's last."""

    __slots__ = (
        "chunked",
        "decision",
        "delay_over",
        "delay_started",
        "done",
        "exclusive",
        "forward",
        "head",
        "out",
        "record",
        "released",
        "req_complete",
        "response_started",
    )

    def __init__(self, record: RequestRecord) -> None:
        self.record = record
        self.decision: Decision = PASS
        self.forward = True
        self.exclusive = False
        self.chunked = False
        self.head = False
        self.out: list[bytes] = []
        self.released = False
        self.delay_started = False
        self.delay_over = False
        self.req_complete = False
        self.response_started = False
        self.done = False


class _RequestSide:
    """httptools callbacks for the client's bytes."""

    def __init__(self, session: HttpSession) -> None:
        self.s = session
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.trailers: list[tuple[bytes, bytes]] = []
        self.in_body = False

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []
        self.trailers = []
        self.in_body = False
        self.s.begin_request()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        (self.trailers if self.in_body else self.headers).append((name, value))

    def on_headers_complete(self) -> None:
        self.in_body = True
        self.s.request_head(self)

    def on_body(self, body: bytes) -> None:
        self.s.request_body(body)

    def on_message_complete(self) -> None:
        self.s.request_end(self.trailers)


class _ResponseSide:
    """httptools callbacks for the upstream's bytes."""

    def __init__(self, session: HttpSession) -> None:
        self.s = session
        self.headers: list[tuple[bytes, bytes]] = []
        self.reason = b""

    def on_message_begin(self) -> None:
        self.headers = []
        self.reason = b""

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.s.response_head(self)

    def on_body(self, body: bytes) -> None:
        self.s.response_body(body)

    def on_message_complete(self) -> None:
        self.s.response_end()


class HttpSession:
    """The HTTP view of one proxied connection."""

    def __init__(
        self,
        conn: Connection,
        faults: HttpFaults,
        log: RequestLog,
        options: HttpOptions,
    ) -> None:
        self.conn = conn
        self.faults = faults
        self.log = log
        self.options = options
        self.tcp = False
        self.detecting = True
        self.first_bytes: list[bytes] = []
        self.req = _RequestSide(self)
        self.resp = _ResponseSide(self)
        self.req_parser = httptools.HttpRequestParser(self.req)
        self.resp_parser = httptools.HttpResponseParser(self.resp)
        self.exchanges: deque[_Exchange] = deque()
        self.current: _Exchange | None = None
        self.now = 0
        self.held = 0
        self.client_eof = False
        self.upstream_eof = False
        self.held_down: list[bytes] = []
        self.resp_chunked = False
        self.cut: tuple[str, str] | None = None  # (outcome, fault) once a fault cuts

    # -- from the links --------------------------------------------------------------

    def client_data(self, data: bytes, now: int) -> None:
        if self.tcp:
            self.conn.up.pass_on(data, now)
            return
        self.now = now
        if self.detecting:
            if not self.first_bytes and (
                data[0] == _TLS_HANDSHAKE or data.startswith(_H2_PREFACE)
            ):
                what = "TLS" if data[0] == _TLS_HANDSHAKE else "HTTP/2"
                self.to_tcp(
                    f"{what} stream on an http route: passed through as TCP", data
                )
                return
            self.first_bytes.append(data)
        try:
            self.req_parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self.pump()
            self.to_tcp(None, data[int(upgrade.args[0]) :])
            return
        except httptools.HttpParserError as exc:
            if self.detecting:
                self.to_tcp(
                    f"not HTTP/1.x on an http route ({exc}): passed through as TCP",
                    b"",
                )
            else:
                self.conn.record.error = f"http: bad request from the client: {exc}"
                self.conn.close("error")
            return
        self.pump()
        self.after_cut()

    def upstream_data(self, data: bytes, now: int) -> None:
        if self.tcp:
            self.conn.down.pass_on(data, now)
            return
        self.now = now
        target = self.response_target()
        if target is not None and self.held_down:
            self.held_down.append(data)
            return
        if (
            target is not None
            and target.decision.delay_response_s > 0
            and not target.response_started
        ):
            self.hold_response(target, data)
            return
        self.parse_response(data, target)

    def client_eof_received(self) -> bool:
        """The client finished sending; False while its requests are held."""
        self.client_eof = True
        return self.tcp or not self.pending_requests()

    # -- requests ----------------------------------------------------------------------

    def begin_request(self) -> None:
        record = self.log.open(
            conn_id=self.conn.id, client=self.conn.record.client, start_ns=self.now
        )
        ex = _Exchange(record)
        self.current = ex
        self.exchanges.append(ex)

    def request_head(self, side: _RequestSide) -> None:
        ex = self.current
        assert ex is not None  # noqa: S101 - on_message_begin came first
        if self.detecting:
            self.detecting = False
            self.first_bytes = []
        parser = self.req_parser
        raw_method = parser.get_method()
        method = raw_method.decode("latin-1")
        rec = ex.record
        rec.method = method
        rec.path = url = side.url.decode("latin-1")
        # Only what the log keeps is decoded, unless a fault must match on headers.
        wanted = self.options.wanted
        kept: dict[str, str] = {}
        lines = []
        for name, value in side.headers:
            lines.append(b"%b: %b\r\n" % (name, value))
            lname = name.lower()
            if lname in wanted:
                kept[lname.decode("latin-1")] = value.decode("latin-1")
            elif lname == b"transfer-encoding" and b"chunked" in value.lower():
                ex.chunked = True
        rec.headers = kept
        rec.request_id = kept.get(self.options.request_id_header)
        ex.head = method == "HEAD"
        decision = PASS
        if self.faults:
            headers = {
                n.decode("latin-1").lower(): v.decode("latin-1")
                for n, v in side.headers
            }
            decision = self.faults.decide(
                RequestHead(method, url.split("?", 1)[0], headers), time.monotonic()
            )
            ex.decision = decision
            rec.fault = decision.by
            rec.delayed_by = decision.delayed_by
        ex.forward = decision.response is None and decision.abort != "reset"
        ex.exclusive = ex.head or decision is not PASS or parser.should_upgrade()
        if ex.forward:
            head = b"%b %b HTTP/%b\r\n%b\r\n" % (
                raw_method,
                side.url,
                parser.get_http_version().encode(),
                b"".join(lines),
            )
            self.hold(ex, head)

    def request_body(self, body: bytes) -> None:
        ex = self.current
        if ex is None or not ex.forward:
            return
        if ex.chunked:
            self.hold(ex, b"%x\r\n%b\r\n" % (len(body), body))
        else:
            self.hold(ex, body)

    def request_end(self, trailers: list[tuple[bytes, bytes]]) -> None:
        ex = self.current
        if ex is None:
            return
        ex.req_complete = True
        if ex.forward and ex.chunked:
            tail = b"".join(n + b": " + v + b"\r\n" for n, v in trailers)
            self.hold(ex, b"0\r\n" + tail + b"\r\n")
        self.current = None

    def hold(self, ex: _Exchange, data: bytes) -> None:
        if ex.released:
            self.conn.up.pass_on(data, self.now)
            return
        ex.out.append(data)
        self.held += len(data)
        if self.held > _HOLD_HIGH:
            self.conn.up.pause_source("http")

    def pending_requests(self) -> bool:
        return any(not ex.released or ex.out for ex in self.exchanges)

    def pump(self) -> None:
        """Release requests in order, as far as exclusivity and delays allow."""
        earlier_done = True
        for ex in tuple(self.exchanges):
            if not ex.released:
                d = ex.decision
                if (ex.exclusive or not ex.forward) and not earlier_done:
                    break
                if d.delay_request_s > 0 and not ex.delay_over:
                    if not ex.delay_started:
                        ex.delay_started = True
                        self.conn.spawn(self._release_later(ex))
                    break
                self.release(ex)
                if self.conn.closed:
                    return
            if not ex.done and (ex.exclusive or not ex.forward):
                break
            earlier_done = earlier_done and ex.done
        while (
            self.exchanges
            and self.exchanges[0].done
            and (self.exchanges[0].req_complete or not self.exchanges[0].forward)
        ):
            self.exchanges.popleft()
        if self.held <= _HOLD_HIGH // 2:
            self.conn.up.resume_source("http")
        if self.client_eof and not self.pending_requests():
            self.conn.up.pass_eof()

    async def _release_later(self, ex: _Exchange) -> None:
        await asyncio.sleep(ex.decision.delay_request_s)
        ex.delay_over = True
        self.pump()

    def release(self, ex: _Exchange) -> None:
        ex.released = True
        d = ex.decision
        if d.response is not None:
            # Answered here: the upstream never sees it.
            status = int(d.response.split(b" ", 2)[1])
            retry_after = _header_in(d.response, b"retry-after")
            ex.record.responded(status, retry_after)
            self.conn.down.pass_on(d.response, time.monotonic_ns())
            ex.done = True
            ex.record.finish("answered")
            return
        if d.abort == "reset":
            ex.done = True
            ex.record.finish("reset")
            self.conn.close("reset", rst=True, by=d.by)
            return
        out, ex.out = ex.out, []
        for data in out:
            self.held -= len(data)
            self.conn.up.pass_on(data, self.now)

    # -- responses ---------------------------------------------------------------------

    def response_target(self) -> _Exchange | None:
        for ex in self.exchanges:
            if ex.forward and ex.released and not ex.done:
                return ex
        return None

    def hold_response(self, target: _Exchange, data: bytes) -> None:
        self.held_down.append(data)
        self.conn.down.pause_source("http")

        async def later() -> None:
            await asyncio.sleep(target.decision.delay_response_s)
            target.response_started = True
            held, self.held_down = self.held_down, []
            self.conn.down.resume_source("http")
            for chunk in held:
                self.parse_response(chunk, self.response_target())
                if self.conn.closed or self.tcp:
                    return
            if self.upstream_eof:
                self.conn.down.pass_eof()

        self.conn.spawn(later())

    def parse_response(self, data: bytes, target: _Exchange | None) -> None:
        cutting = target is not None and target.decision.abort in ("headers", "body")
        try:
            self.resp_parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            offset = int(upgrade.args[0])
            self.conn.down.pass_on(data[:offset], self.now)
            self.to_tcp(None, b"", down=data[offset:])
            return
        except httptools.HttpParserError as exc:
            self.conn.record.warning = (
                f"http: the upstream's response did not parse ({exc}): "
                "the rest of the connection passes through as TCP"
            )
            self.conn.down.pass_on(data, self.now)
            self.to_tcp(None, b"")
            return
        if not cutting:
            self.conn.down.pass_on(data, self.now)
        if target is not None and target.head and target.done:
            # A HEAD response has no body the parser could know of: start afresh.
            self.resp_parser = httptools.HttpResponseParser(self.resp)
        self.after_cut()
        if not self.conn.closed:
            self.pump()

    def response_head(self, side: _ResponseSide) -> None:
        target = self.response_target()
        if target is None:
            return
        status = self.resp_parser.get_status_code()
        if 100 <= status < 200:
            return  # interim (100 Continue): the final response follows
        retry_after = None
        chunked = False
        for name, value in side.headers:
            lname = name.lower()
            if lname == b"retry-after":
                retry_after = value.decode("latin-1")
            elif lname == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
        self.resp_chunked = chunked
        target.response_started = True
        target.record.responded(status, retry_after)
        abort = target.decision.abort
        if abort in ("headers", "body"):
            version = self.resp_parser.get_http_version()
            head = [f"HTTP/{version} {status} ".encode() + side.reason + b"\r\n"]
            head += [n + b": " + v + b"\r\n" for n, v in side.headers]
            self.conn.down.pass_on(b"".join(head) + b"\r\n", self.now)
            if abort == "headers":
                self.cut = ("aborted", target.decision.by or "")
        if target.head:
            self.finish_response(target)

    def response_body(self, body: bytes) -> None:
        target = self.response_target()
        if target is None or target.decision.abort != "body" or self.cut:
            return
        # A truncated response: half of the first piece of body, then the cut.
        half = body[: max(1, len(body) // 2)]
        if self.resp_chunked:
            half = b"%x\r\n%b" % (len(body), half)
        self.conn.down.pass_on(half, self.now)
        self.cut = ("aborted", target.decision.by or "")

    def response_end(self) -> None:
        target = self.response_target()
        if target is None:
            return
        status = self.resp_parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            return
        if target.decision.abort in ("headers", "body") and not self.cut:
            self.cut = ("aborted", target.decision.by or "")  # no body to cut
            return
        self.finish_response(target)

    def finish_response(self, target: _Exchange) -> None:
        target.done = True
        target.record.finish("answered")

    def after_cut(self) -> None:
        if self.cut is None or self.conn.closed:
            return
        outcome, by = self.cut
        for ex in self.exchanges:
            if ex.forward and ex.released and not ex.done:
                ex.done = True
                ex.record.finish(outcome)
                break
        self.conn.close("toxic", by=by)

    def upstream_eof_received(self) -> bool:
        """The upstream finished sending; False while a delayed response is held."""
        self.upstream_eof = True
        if self.tcp or self.held_down:
            return self.tcp
        target = self.response_target()
        if target is not None and target.response_started:
            # A response delimited by the close (no length, not chunked) ends here.
            self.finish_response(target)
        return True

    # -- falling back to TCP -----------------------------------------------------------

    def to_tcp(self, warning: str | None, up: bytes, down: bytes = b"") -> None:
        """Pass the rest of the connection through untouched."""
        if warning is not None:
            self.conn.record.warning = warning
        first, self.first_bytes = self.first_bytes, []
        self.tcp = True
        self.detecting = False
        if warning is not None and first:
            for data in first:
                self.conn.up.pass_on(data, self.now)
        for ex in self.exchanges:
            for data in ex.out:
                self.conn.up.pass_on(data, self.now)
            ex.out = []
        if up:
            self.conn.up.pass_on(up, self.now)
        if down:
            self.conn.down.pass_on(down, self.now)
        self.conn.up.resume_source("http")
        self.conn.down.resume_source("http")

    def closed(self) -> None:
        """The connection is gone: requests without a whole response end here."""
        for ex in self.exchanges:
            ex.record.finish("closed")
        self.exchanges.clear()


def _header_in(response: bytes, name: bytes) -> str | None:
    head = response.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip().decode("latin-1")
    return None
