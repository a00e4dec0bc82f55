"""The console: the final summary and the live progress sink (plain mode for CI)."""

from __future__ import annotations

import io
from collections.abc import Mapping

from rich.console import Console

from chaoskit.events import Event
from chaoskit.report import LiveConsole, build_document, describe_event, print_summary
from tests.unit.report.conftest import PASSWORD, TOKEN, build_outcome

S = 1_000_000_000


def ev(kind: str, at_s: float, /, **data: object) -> Event:
    return Event(kind, int(at_s * S), 1_790_000_000.0 + at_s, data)


def _render(document: Mapping[str, object]) -> str:
    console = Console(record=True, width=120, file=io.StringIO())
    print_summary(document, console)
    return console.export_text()


def test_summary_shows_verdicts_faults_tasks_errors_then_seed_and_replay(tmp_path):
    """Every table, then the verdict line, report dir, seed and replay command last."""
    outcome = build_outcome(tmp_path / "report")
    text = _render(build_document(outcome))
    lines = [line.rstrip() for line in text.splitlines()]
    assert lines[0] == (
        "chaoskit · db-latency - Watch history survives 300 ms of PostgreSQL latency"
    )
    row = next(line for line in lines if "browse stays fast" in line)
    assert "during" in row
    assert "p95 309.5ms" in row
    assert "below 250ms" in row
    assert row.split("│")[-2].strip() == "FAIL"
    assert next(line for line in lines if "recovers" in line).split("│")[
        -2
    ].strip() == ("PASS")
    slow = next(line for line in lines if "slow db" in line and "latency" in line)
    assert "10.00s - 20.00s" in slow
    assert "10.01s - 20.00s" in slow
    assert "yes" in slow
    kill = next(line for line in lines if "kill api" in line)
    assert "25.00s - ?" in kill
    assert "NO" in kill
    browse = next(line for line in lines if line.startswith("│ browse  "))
    assert [cell.strip() for cell in browse.split("│")[1:-1]] == [
        "browse",
        "300",
        "10",
        "3.33%",
        "15.1",
        "12.03",
        "307.2",
        "309.0",
    ]
    assert any(line.startswith("│ total") for line in lines)
    assert any(
        "body_pattern:database_locked" in line and "15" in line for line in lines
    )
    assert any(
        line.startswith("Users with the most errors: #0 (10), #3 (10)")
        for line in lines
    )
    assert lines[-4] == "FAILED  1 of 3 hypotheses failed: browse stays fast"
    assert lines[-3] == f"Report: {tmp_path / 'report'}"
    assert lines[-2] == "Seed:   7"
    assert lines[-1].startswith(
        "Replay: chaoskit run experiments/db-latency.toml --seed 7"
    )
    assert TOKEN not in text
    assert PASSWORD not in text


def test_summary_of_an_aborted_partial_document_says_why(tmp_path):
    """An aborted run prints its reason and unjudged hypotheses; nulls are fine."""
    doc = {
        "partial": True,
        "experiment": {"name": "x", "seed": None},
        "verdict": "aborted",
        "reason": "the run did not finish",
        "command": "",
        "hypotheses": [{"name": "h", "passed": None, "observed": "not judged"}],
        "tasks": {"browse": {"count": None, "errors": None}},
        "total": {"count": None},
    }
    text = _render(doc)
    assert "rebuilt from a journal that ends early" in text
    assert "NOT JUDGED" in text
    assert "ABORTED  the run did not finish" in text
    assert "Seed:   -" in text


def test_summary_of_a_passed_run(tmp_path):
    """All hypotheses held: a one-line verdict."""
    doc = build_document(build_outcome(tmp_path))
    doc["verdict"] = "passed"
    assert "PASSED  all 3 hypotheses held" in _render(doc)


def test_live_console_prints_plain_lines_when_not_a_terminal():
    """CI logs: one line per event, progress every 5 s of run time, no escapes."""
    out = io.StringIO()
    console = Console(file=out, width=120)
    live = LiveConsole(console, secrets=["s3cr3t-literal"])
    assert live.live is False
    live.emit(ev("run_started", 0, experiment="db-latency", seed=7))
    live.emit(
        ev(
            "service_ready",
            1.5,
            service="db",
            address="127.0.0.1:5432",
            pid=42,
            ready_after_s=1.25,
        )
    )
    live.emit(ev("phase", 2, name="before"))
    for t in range(1, 12):
        live.emit(
            ev(
                "progress",
                2 + t,
                elapsed_s=float(t),
                total_s=30.0,
                phase="before",
                rps=99.8,
                p95_ms=412.34,
                error_rate=0.002,
                active_faults=["slow db"] if t > 8 else [],
                in_flight=3,
                dropped=0,
            )
        )
    live.emit(
        ev("fault_applied", 10, fault="slow db", kind="latency", target="route db")
    )
    live.emit(ev("fault_rolled_back", 20, label="fault slow db", undo="delete toxic"))
    live.emit(ev("rollback_failed", 21, label="route db", error="token=s3cr3t-literal"))
    live.emit(ev("abort", 22, reason="error rate above 50% for 10s"))
    live.close()
    text = out.getvalue()
    assert "\x1b" not in text
    lines = text.splitlines()
    assert lines[0] == "+   0.0s  run started: db-latency (seed 7)"
    assert lines[1] == (
        "+   1.5s  service db ready at 127.0.0.1:5432 (pid 42, healthy after 1.2s)"
    )
    assert lines[2] == "+   2.0s  phase before"
    progress = [line for line in lines if line.startswith(("1.0s/", "6.0s/", "11.0s/"))]
    stats = "before  rps 99.8  p95 412.3ms  errors 0.20%  in flight 3  faults:"
    assert progress == [
        f"1.0s/30.0s  {stats} none",
        f"6.0s/30.0s  {stats} none",
        f"11.0s/30.0s  {stats} slow db",
    ]
    assert len(lines) == 3 + 3 + 4
    assert "+  10.0s  fault slow db applied (latency on route db)" in lines
    assert "+  20.0s  rolled back: fault slow db" in lines
    assert "+  21.0s  rollback of route db FAILED: token=***" in lines
    assert lines[-1] == "+  22.0s  ABORT: error rate above 50% for 10s"


def test_live_console_redraws_in_place_on_a_terminal():
    """On a terminal the panel shows phase, bar, stats, faults and recent events."""
    out = io.StringIO()
    console = Console(file=out, width=100, force_terminal=True, color_system=None)
    with LiveConsole(console) as live:
        assert live.live is True
        live.emit(ev("run_started", 0, experiment="db-latency", title="DB latency"))
        live.emit(
            ev("fault_applied", 10, fault="slow db", kind="latency", target="route db")
        )
        live.emit(
            ev(
                "progress",
                12,
                elapsed_s=12.0,
                total_s=45.0,
                phase="during:slow db",
                rps=98.0,
                p95_ms=310.5,
                error_rate=0.01,
                active_faults=["slow db"],
            )
        )
    text = out.getvalue()
    assert "DB latency" in text
    assert "during:slow db" in text
    assert "12.0s / 45.0s" in text
    assert "p95 310.5ms" in text
    assert "faults: slow db" in text
    assert "fault slow db applied (latency on route db)" in text


def test_probe_samples_are_quiet_and_gaps_are_shown():
    """A sample is for the reports; a failed one is one line."""
    assert describe_event(ev("probe", 1, probe="db", t_s=1.0, values={})) is None
    assert describe_event(ev("probe", 1, probe="db", error="refused")) == (
        "probe db: no sample (refused)"
    )


def test_describe_event_names_unknown_kinds_with_their_data():
    """A kind the console does not know still gets a readable line."""
    assert describe_event(ev("progress", 1)) is None
    assert describe_event(ev("custom", 1, ok=True, ms=3)) == "custom ok=True ms=3"
    assert describe_event(ev("interrupted", 1, signal="SIGINT")) == (
        "interrupted by SIGINT; rolling back"
    )


def test_a_fault_the_run_never_reached_is_not_applied_not_a_red_no(tmp_path):
    """A run stopped (Ctrl-C, SIGHUP) before a fault's time never touched
    anything: the fault reads "not applied", and the page's header counts
    only the faults that were applied; an applied one not undone stays NO."""
    from chaoskit.report import html_report

    document = build_document(build_outcome(tmp_path))
    faults = document["faults"]
    assert isinstance(faults, list)
    never = dict(faults[0], name="never reached", rolled_back=False,
                 actual_start_s=None, actual_end_s=None, error=None)  # fmt: skip
    summary = dict(document["summary"], faults=len(faults) + 1)  # type: ignore[arg-type]
    document = dict(document, faults=[*faults, never], summary=summary)
    text = _render(document)
    row = next(line for line in text.splitlines() if "never reached" in line)
    assert "not applied" in row
    assert "NO" not in row
    kill = next(line for line in text.splitlines() if "kill api" in line)
    assert "NO" in kill  # applied, failed to undo: still NO
    page = html_report(document, tmp_path)
    assert "1 of 2 faults rolled back (1 not applied: the run stopped first)" in page
