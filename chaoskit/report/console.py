"""The console: live progress while the run goes, and the final summary.

:class:`LiveConsole` is an :class:`~chaoskit.events.EventSink`. On a terminal it
redraws a small panel (phase, a progress bar, rps, p95, error rate, active
faults, the last few events) on every ``progress`` event; elsewhere (CI logs,
pipes) it prints one plain line per event and a progress line every few
seconds, with no control codes. :func:`print_summary` (re-exported from
:mod:`chaoskit.report.summary`) renders the report document at the end.

User-provided names are always rendered as plain text, never as rich markup.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from types import TracebackType

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from chaoskit.events import Event
from chaoskit.redact import Redactor
from chaoskit.report.fields import number
from chaoskit.report.summary import fmt_ms, fmt_pct, print_summary

__all__ = ["LiveConsole", "describe_event", "print_summary", "subject"]


def _s(value: object) -> str:
    v = number(value)
    return "-" if v is None else f"{v:.1f}s"


def _names(value: object) -> str:
    if isinstance(value, list | tuple) and value:
        return ", ".join(str(v) for v in value)
    return "none"


def subject(data: Mapping[str, object]) -> str:
    """The name an event is about, whichever key the producer used for it."""
    for key in ("name", "fault", "service", "route"):
        if data.get(key):
            return str(data[key])
    return ""


def describe_event(event: Event) -> str | None:
    """One line for a person about an event; ``None`` for ``progress`` events
    and probe samples."""
    d = event.data
    name = subject(d)
    kind = d.get("kind")
    on = f" ({kind} on {d['target']})" if kind and d.get("target") else ""
    match event.kind:
        case "progress" | "library_warning":  # the journal and chaoskit.log have them
            return None
        case "run_started":
            name = name or str(d.get("experiment") or "experiment")
            env = f", environment {d['environment']}" if d.get("environment") else ""
            return f"run started: {name} (seed {d.get('seed', '?')}{env})"
        case "service_starting":
            return f"service {name} starting"
        case "service_ready":
            where = f" at {d['address']}" if d.get("address") else ""
            pid = f"pid {d['pid']}, " if d.get("pid") else ""
            after = number(d.get("ready_after_s"))
            took = f" ({pid}healthy after {after:.1f}s)" if after is not None else ""
            return f"service {name} ready{where}{took}"
        case "service_stopped":
            return f"service {name} stopped"
        case "route_created":
            route = d.get("route", name)
            return f"route {route}: {d.get('listen', '?')} -> {d.get('upstream', '?')}"
        case "phase":
            return f"phase {name}"
        case "fault_applying":
            return f"applying fault {name}{on}"
        case "fault_applied":
            return f"fault {name} applied{on}"
        case "fault_failed":
            return f"fault {name} FAILED: {d.get('error', 'unknown error')}"
        case "fault_rolled_back":
            what = d.get("label") or f"fault {name}"
            return f"rolled back: {what}"
        case "rollback_failed":
            what = d.get("label") or f"fault {name}"
            return f"rollback of {what} FAILED: {d.get('error', 'unknown error')}"
        case "abort":
            return f"ABORT: {d.get('reason', 'abort condition')}"
        case "load_process_lost":
            return (
                f"WARNING: load process {d.get('process')} (pid {d.get('pid')}) "
                f"lost at {d.get('at_s')}s with {d.get('share')}: {d.get('how')}"
            )
        case "load_behind":
            return f"WARNING: {d.get('warning', 'the load generator fell behind')}"
        case "interrupted":
            return f"interrupted by {d.get('signal', 'a signal')}; rolling back"
        case "run_finished":
            return "run finished"
        case "probe":
            # Samples are for the reports; only a failed one is news.
            if d.get("error") is None:
                return None
            return f"probe {d.get('probe')}: no sample ({d.get('error')})"
    extra = " ".join(f"{k}={v}" for k, v in d.items() if k != "document")
    return f"{event.kind} {extra}".rstrip()


class LiveConsole:
    """Live progress of a run on a rich console; an :class:`EventSink`.

    Args:
        console: where to draw; a new stdout console by default.
        live: redraw in place (``True``) or print plain lines (``False``); by
            default, in place only on an interactive terminal.
        every_s: in plain mode, print a progress line at most this often
            (seconds of run time, from the events themselves).
        lines: how many recent events the live panel keeps.
        secrets: literal values to mask in what is shown.
    """

    def __init__(
        self,
        console: Console | None = None,
        *,
        live: bool | None = None,
        every_s: float = 5.0,
        lines: int = 6,
        secrets: Iterable[str] = (),
    ) -> None:
        self.console = console if console is not None else Console()
        if live is None:
            live = self.console.is_terminal and not self.console.is_dumb_terminal
        self.live = live
        self._every_s = every_s
        self._clean = Redactor(secrets)
        self._events: deque[str] = deque(maxlen=lines)
        self._progress: Mapping[str, object] = {}
        self._title = ""
        self._origin_ns: int | None = None
        self._last_plain_s: float | None = None
        self._live: Live | None = None

    def emit(self, event: Event) -> None:
        """Show one event (the :class:`~chaoskit.events.EventSink` method)."""
        if self._origin_ns is None:
            self._origin_ns = event.at_ns
        if event.kind == "run_started":
            data = event.data
            self._title = str(
                data.get("title") or data.get("name") or data.get("experiment") or ""
            )
        if event.kind == "progress":
            self._progress = event.data
            if not self.live:
                self._plain_progress(event.data)
        else:
            line = describe_event(event)
            if line is not None:
                at = (event.at_ns - self._origin_ns) / 1e9
                line = f"+{at:6.1f}s  {self._clean.text(line)}"
                if self.live:
                    self._events.append(line)
                else:
                    self._print(line)
        if self.live:
            self._redraw()
        if event.kind == "run_finished":
            self.close()

    def _print(self, line: str) -> None:
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def _plain_progress(self, data: Mapping[str, object]) -> None:
        elapsed = number(data.get("elapsed_s")) or 0.0
        if self._last_plain_s is not None and elapsed - self._last_plain_s < (
            self._every_s
        ):
            return
        self._last_plain_s = elapsed
        self._print(self._clean.text(self._stats_line(data, plain=True)))

    def _stats_line(self, data: Mapping[str, object], *, plain: bool) -> str:
        elapsed, total = number(data.get("elapsed_s")), number(data.get("total_s"))
        parts = [
            f"{_s(elapsed)}/{_s(total)}" if plain else "",
            str(data.get("phase", "")) if plain else "",
            f"rps {(number(data.get('rps')) or 0.0):.1f}",
            f"p95 {fmt_ms(data.get('p95_ms'))}ms",
            f"errors {fmt_pct(data.get('error_rate'))}",
        ]
        if data.get("in_flight") is not None:
            parts.append(f"in flight {data['in_flight']}")
        if data.get("dropped"):
            parts.append(f"dropped {data['dropped']}")
        parts.append(f"faults: {_names(data.get('active_faults'))}")
        return "  ".join(p for p in parts if p)

    def _panel(self) -> RenderableType:
        data = self._progress
        elapsed = number(data.get("elapsed_s")) or 0.0
        total = number(data.get("total_s")) or 0.0
        header = Text(self._title or "chaoskit", style="bold")
        if data.get("phase"):
            header.append("  phase ", style="dim")
            header.append(str(data["phase"]), style="cyan")
        bar = Table.grid(padding=(0, 1))
        bar.add_row(
            ProgressBar(total=total or None, completed=elapsed, width=40),
            Text(f"{_s(elapsed)} / {_s(total)}"),
        )
        stats = Text(self._clean.text(self._stats_line(data, plain=False)))
        active = data.get("active_faults")
        stats.stylize("red" if isinstance(active, list | tuple) and active else "")
        recent = Text("\n".join(self._events), style="dim")
        return Group(header, bar, stats, recent)

    def _redraw(self) -> None:
        if self._live is None:
            self._live = Live(
                self._panel(), console=self.console, auto_refresh=False, transient=False
            )
            self._live.start()
        else:
            self._live.update(self._panel(), refresh=True)

    def close(self) -> None:
        """Stop redrawing (the last frame stays on screen); safe to call twice."""
        if self._live is not None:
            self._live.stop()
            self._live = None

    def __enter__(self) -> LiveConsole:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
