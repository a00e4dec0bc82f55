"""The final summary of a run on the console, rendered from its report document.

Hypotheses (PASS/FAIL in colour), faults (planned against actual window,
rolled back or not), per-task statistics, the top error classes, then the
verdict line, the report directory, the seed and the replay command: the last
lines, so they are what a terminal or a CI log shows.

User-provided names are always rendered as plain text, never as rich markup.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.console import Console
from rich.table import Table
from rich.text import Text

from chaoskit.fuzz.coverage import describe_locations
from chaoskit.redact import Redactor
from chaoskit.report.fields import (
    mapping,
    mappings,
    number,
    rollback,
    status,
    user_label,
)
from chaoskit.report.stats import ERRORS_NOTE

__all__ = ["fmt_ms", "fmt_pct", "print_summary"]

_VERDICT_STYLE = {
    "passed": "bold green",
    "failed": "bold red",
    "inconclusive": "bold magenta",
    "aborted": "bold yellow",
}

_RESULT = {
    "passed": ("PASS", "bold green"),
    "failed": ("FAIL", "bold red"),
    "inconclusive": ("INCONCLUSIVE", "bold magenta"),
}


def fmt_ms(value: object) -> str:
    """Milliseconds for a person: 2 decimals below 100, 1 above; ``-`` if unknown."""
    v = number(value)
    if v is None:
        return "-"
    return f"{v:.2f}" if v < 100 else f"{v:.1f}"


def fmt_pct(value: object, digits: int = 2) -> str:
    """A ratio as a percentage (two decimals by default); ``-`` if unknown."""
    v = number(value)
    return "-" if v is None else f"{v * 100:.{digits}f}%"


def _t(value: object, style: str = "") -> Text:
    return Text("" if value is None else str(value), style=style)


def _window(start: object, end: object) -> str:
    a, b = number(start), number(end)
    if a is None:
        return "-"
    return f"{a:.2f}s - {b:.2f}s" if b is not None else f"{a:.2f}s - ?"


def _hypotheses_table(rows: list[Mapping[str, object]]) -> Table:
    table = Table(title="Hypotheses", title_justify="left", expand=False)
    for column in ("Hypothesis", "Phase", "Observed", "Expected", "Result"):
        table.add_column(column)
    for h in rows:
        result = _RESULT.get(status(h) or "", ("NOT JUDGED", "yellow"))
        table.add_row(
            _t(h.get("name")),
            _t(h.get("phase")),
            _t(h.get("observed")),
            _t(h.get("expected")),
            _t(result[0], result[1]),
        )
    return table


def _faults_table(rows: list[Mapping[str, object]]) -> Table:
    table = Table(title="Faults", title_justify="left")
    columns = ["Fault", "Kind", "Target", "Planned", "Actual", "Rolled back"]
    errors = any(f.get("error") for f in rows)
    for column in [*columns, "Error"] if errors else columns:
        table.add_column(column)
    for f in rows:
        back = rollback(f)
        cells = [
            _t(f.get("name")),
            _t(f.get("kind")),
            _t(f.get("target")),
            _t(_window(f.get("planned_start_s"), f.get("planned_end_s"))),
            _t(_window(f.get("actual_start_s"), f.get("actual_end_s"))),
            _t(back, {"yes": "green", "NO": "bold red"}.get(back, "dim")),
        ]
        if errors:
            cells.append(_t(f.get("error"), "red"))
        table.add_row(*cells)
    return table


def _tasks_table(
    tasks: Mapping[str, object],
    total: Mapping[str, object],
    *,
    title: str = "Tasks (latency in ms)",
    first: str = "Task",
) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(first)
    for column in ("Count", "Errors", "Error rate", "RPS", "p50", "p95", "p99"):
        table.add_column(column, justify="right")

    def row(name: str, stats: Mapping[str, object], style: str = "") -> None:
        count, errors = stats.get("count"), stats.get("errors")
        rps = number(stats.get("rps"))
        table.add_row(
            _t(name, style),
            _t("-" if count is None else count, style),
            _t("-" if errors is None else errors, "red" if errors else style),
            _t(fmt_pct(stats.get("error_rate")), style),
            _t("-" if rps is None else f"{rps:.1f}", style),
            *(_t(fmt_ms(stats.get(p)), style) for p in ("p50", "p95", "p99")),
        )

    for name, stats in tasks.items():
        row(name, mapping(stats))
    if total:
        if table.rows:
            table.rows[-1].end_section = True  # a rule above the total
        row("total", total, "bold")
    return table


def _errors_table(errors: Mapping[str, object], limit: int = 5) -> Table:
    table = Table(title="Top error classes", title_justify="left")
    table.add_column("Error")
    table.add_column("Count", justify="right")
    table.add_column("Example")
    for key, entry in list(errors.items())[:limit]:
        info = mapping(entry)
        samples = info.get("samples")
        example = samples[0] if isinstance(samples, list) and samples else ""
        table.add_row(_t(key), _t(info.get("count")), _t(example))
    return table


def _fuzz_table(tally: Mapping[str, object]) -> Table:
    by_rule = mapping(tally.get("by_rule"))
    outcomes = list(mapping(tally.get("by_outcome")))
    table = Table(title=f"Fuzzed payloads: {tally.get('fault')}", title_justify="left")
    table.add_column("Rule")
    for name in outcomes:
        table.add_column(name, justify="right")
    for rule, row in by_rule.items():
        counts = mapping(row)
        table.add_row(_t(rule), *(_t(counts.get(name, "")) for name in outcomes))
    locations = tally.get("locations")
    if isinstance(locations, Mapping):
        table.caption = describe_locations(locations)
        table.caption_justify = "left"
    return table


def _verdict_line(doc: Mapping[str, object]) -> Text:
    verdict = str(doc.get("verdict", "?"))
    hypotheses = mappings(doc.get("hypotheses"))
    failed = [str(h.get("name")) for h in hypotheses if status(h) == "failed"]
    unsure = [str(h.get("name")) for h in hypotheses if status(h) == "inconclusive"]
    line = Text(verdict.upper(), style=_VERDICT_STYLE.get(verdict, "bold"))
    if verdict == "passed":
        line.append(f"  all {len(hypotheses)} hypotheses held")
    elif verdict in ("failed", "inconclusive"):
        parts = []
        if failed:
            parts.append(
                f"{len(failed)} of {len(hypotheses)} hypotheses failed: "
                + ", ".join(failed)
            )
        if unsure:
            parts.append(
                f"{len(unsure)} of {len(hypotheses)} could not be judged "
                "(too little data, see min_samples): " + ", ".join(unsure)
            )
        line.append("  " + "; ".join(parts))
    else:
        line.append(f"  {doc.get('reason') or 'the run was aborted'}")
    return line


def print_summary(document: Mapping[str, object], console: Console) -> None:
    """Print the final summary of a report document.

    The verdict table, the fault table, per-task stats, the top error classes,
    then the verdict line, the report directory, the seed and the replay
    command (the last lines, so they are what a terminal or CI log shows).
    """
    clean = Redactor()
    doc = mapping(clean(document, keys=False))
    experiment = mapping(doc.get("experiment"))
    title = Text(f"chaoskit · {experiment.get('name', '?')}", style="bold")
    if experiment.get("title"):
        title.append(f" - {experiment['title']}", style="")
    console.print(title)
    if doc.get("partial"):
        console.print(Text("(rebuilt from a journal that ends early)", style="yellow"))
    hypotheses = mappings(doc.get("hypotheses"))
    if hypotheses:
        console.print(_hypotheses_table(hypotheses))
    faults = mappings(doc.get("faults"))
    if faults:
        console.print(_faults_table(faults))
    tasks = mapping(doc.get("tasks"))
    if tasks:
        console.print(_tasks_table(tasks, mapping(doc.get("total"))))
    classes = {
        _class_label(name, mapping(row).get("declared_share")): row
        for name, row in mapping(doc.get("classes")).items()
    }
    if classes:
        console.print(
            _tasks_table(
                classes, {}, title="User classes (latency in ms)", first="Class"
            )
        )
    errors = mapping(doc.get("errors"))
    if errors:
        console.print(_errors_table(errors))
        console.print(_t(ERRORS_NOTE, "dim"))
    users = mappings(doc.get("top_error_users"))
    if users:
        most = ", ".join(f"{user_label(u)} ({u.get('errors')})" for u in users[:5])
        console.print(_t(f"Users with the most errors: {most}"))
    for tally in mappings(doc.get("fuzz")):
        console.print(_fuzz_table(tally))
        sent = f"{tally.get('requests')} fuzzed requests to {tally.get('url')}"
        console.print(_t(f"{sent}, {tally.get('wrong')} wrong"))
        for finding in mappings(tally.get("findings")):
            console.print(_t(f"{finding.get('check')} ({finding.get('rule')}): "
                             f"{finding.get('curl')}"), soft_wrap=True)  # fmt: skip
    by_class = mapping(doc.get("top_error_users_by_class"))
    for key, top in list(by_class.items())[:3] if len(by_class) > 1 else ():
        most = ", ".join(f"{user_label(u)} ({u.get('errors')})" for u in mappings(top))
        console.print(_t(f"Users with the most {key} errors: {most}"))
    for h in hypotheses:
        data = mapping(h.get("data"))
        if h.get("kind") == "integrity" and data.get("mode") == "count":
            console.print(
                _t(
                    f"Counter ({h.get('name')}): {data.get('counter')} read back, "
                    f"{data.get('acknowledged')} acknowledged; {data.get('lost')} "
                    f"lost, {data.get('extra')} extra"
                )
            )
        ids = data.get("lost_ids")
        if h.get("kind") == "integrity" and isinstance(ids, list) and ids:
            lost = ", ".join(str(i) for i in ids[:5])
            console.print(
                _t(f"Lost writes ({h.get('name')}): {data.get('lost')}, first {lost}")
            )
    warning = mapping(doc.get("load")).get("warning")
    if warning:
        console.print(Text(f"Warning: {warning}", style="yellow"), soft_wrap=True)
    console.print(_verdict_line(doc))
    for label, value in (
        ("Report", doc.get("report_dir")),
        ("Seed", experiment.get("seed")),
        *(
            [("Env", experiment.get("environment"))]
            if experiment.get("environment")
            else []
        ),
        ("Replay", doc.get("command")),
    ):
        line = Text(f"{label + ':':8}", style="bold")
        line.append("-" if value in (None, "") else str(value))
        console.print(line, soft_wrap=True)


def _class_label(name: str, declared: object) -> str:
    """A class's row title: with its declared share when the engine has one
    (Locust spreads the users itself)."""
    if declared is None:
        return name
    return f"{name} ({fmt_pct(declared, 0)} declared)"
