"""``chaoskit fuzz``: flags to a run, progress and the findings table.

Kept out of :mod:`chaoskit.cli` so the command line stays a thin table of
flags; errors propagate to ``cli.main``, which maps them to exit codes
(UsageError 2, TargetUnreachable 3).
"""

from __future__ import annotations

from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from chaoskit.errors import EXIT_FAILED, EXIT_OK, UsageError
from chaoskit.fuzz.checks import CheckConfig
from chaoskit.fuzz.documents import PayloadSource, load_source
from chaoskit.fuzz.engine import (
    FuzzConfig,
    FuzzResult,
    TargetUnreachable,
    check_target_url,
    fuzz,
    target_client,
)
from chaoskit.fuzz.findings import Finding, load_findings, replay, write_findings
from chaoskit.fuzz.model import PayloadModel
from chaoskit.fuzz.rules import Policy, Rule
from chaoskit.redact import redact_text

__all__ = ["describe_drops", "run_fuzz"]


def describe_drops(model: PayloadModel) -> str:
    """What the validator kept from being sent under a false label."""
    stats = model.stats
    dropped = sum(model.dropped.values())
    return (
        f"labels checked by the validator: {stats.refused} of {stats.tried} valid "
        f"draws and {dropped} mutations the schema still allows were dropped"
    )


def _headers(raw: tuple[str, ...]) -> dict[str, str]:
    headers = {}
    for item in raw:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise UsageError(f"--header must be 'Name: value', got {item!r}")
        headers[name.strip()] = value.strip()
    return headers


def _rules(raw: tuple[str, ...]) -> frozenset[Rule]:
    if not raw:
        return frozenset(Rule)
    known = {rule.value for rule in Rule}
    for name in raw:
        if name not in known:
            raise UsageError(
                f"--rule {name!r} is not a rule; allowed: {', '.join(sorted(known))}"
            )
    return frozenset(Rule(name) for name in raw) | {Rule.VALID}


def _table(findings: list[Finding]) -> Table:
    table = Table(title="findings", show_lines=False)
    for column in ("#", "check", "rule", "status", "detail", "seen"):
        table.add_column(column)
    for number, finding in enumerate(findings, 1):
        status = "-" if finding.status is None else str(finding.status)
        check = finding.check
        if finding.hardening:
            check = f"hardening (fails with {finding.hardening})"
        table.add_row(
            str(number),
            check,
            finding.rule,
            status,
            finding.detail[:70],
            str(finding.count),
        )
    return table


def run_fuzz(
    *,
    schema: Path | None, examples: Path | None = None, url: str, path: str,
    source: PayloadSource | None = None, policy: Policy | None = None,
    batch_path: str | None, health_path: str,
    seed: int, max_examples: int, time_limit: float, budget: float,
    allowed: tuple[int, ...], cors_origin: str | None, rules: tuple[str, ...],
    headers: tuple[str, ...], report_dir: Path | None, replay_dir: Path | None,
    allow_remote: bool, show_headers: tuple[str, ...] = (),
) -> int:  # fmt: skip
    """Run ``chaoskit fuzz`` (or its ``--replay``); the exit code."""
    console = Console(highlight=False, soft_wrap=True)
    checks = CheckConfig(
        allowed=frozenset(allowed or (400, 422)), budget=budget,
        cors_origin=cors_origin, policy=policy or Policy(),
    )  # fmt: skip
    check_target_url(url, allow_remote)
    extra = _headers(headers)
    if replay_dir is not None:
        return _replay(console, url, replay_dir, checks, extra, health_path)
    source = source or PayloadSource(schema=schema, examples=examples)
    if not source.given():
        raise UsageError(
            "--schema, --examples, --openapi or --asyncapi is required "
            "(or --replay DIR)"
        )
    problem = source.check()
    if problem is not None:
        raise UsageError(
            f"{problem} (flags: --schema, --examples, --openapi with --operation, "
            "--asyncapi with --message)"
        )
    model = load_source(source)
    config = FuzzConfig(
        url=url, path=path, batch_path=batch_path, health_path=health_path, seed=seed,
        max_examples=max_examples, time_limit=time_limit, checks=checks, headers=extra,
        shown_headers=frozenset(show_headers), rules=_rules(rules),
        allow_remote=allow_remote,
    )  # fmt: skip
    console.print(
        f"fuzzing POST {redact_text(url.rstrip('/'))}{path} from {source.describe()} "
        f"(JSON Schema {model.schema.dialect}), seed {seed}, "
        f"up to {max_examples} examples",
        markup=False,
    )
    shown = [0]

    def progress(result: FuzzResult) -> None:
        if result.requests - shown[0] >= 100:
            shown[0] = result.requests
            console.print(f"  {result.requests} requests", markup=False)

    result = fuzz(model, config, progress)
    for note in model.notes:
        console.print(f"  note: {note}", markup=False)
    warning = result.coverage.warning(max_examples)
    if warning is not None:
        console.print(f"  warning: {warning}", markup=False)
    console.print(
        f"{result.requests} requests in {result.elapsed:.1f}s"
        + (" (time limit reached)" if result.timed_out else "")
        + f": {len(result.failing)} distinct failure(s)"
        + f", {len(result.findings) - len(result.failing)} hardening finding(s)",
        markup=False,
    )
    console.print(f"  {describe_drops(model)}", markup=False)
    console.print(f"  {result.coverage.summary()}", markup=False)
    if result.findings:
        console.print(_table(result.findings))
        for number, finding in enumerate(result.findings, 1):
            console.print(f"#{number} {finding.curl}", markup=False)
    if report_dir is not None:
        meta = {
            "url": redact_text(url),
            "source": source.describe(),
            "dropped": dict(model.dropped),
            "seed": seed,
            "requests": result.requests,
        }
        written = write_findings(report_dir, result.findings, meta)
        console.print(
            f"wrote {written}; replay: chaoskit fuzz --url {redact_text(url)} "
            f"--replay {report_dir}",
            markup=False,
        )
    return EXIT_FAILED if result.failing else EXIT_OK


def _replay(
    console: Console,
    url: str,
    directory: Path,
    checks: CheckConfig,
    headers: dict[str, str],
    health_path: str,
) -> int:
    _meta, findings = load_findings(directory)
    with target_client(url, checks.budget, headers) as client:
        try:
            client.get(health_path)
        except httpx.TransportError as exc:
            raise TargetUnreachable(f"{url} did not answer: {exc}") from exc
        results = replay(client, findings, checks)
    failing = 0
    for number, (finding, verdict, status) in enumerate(results, 1):
        failing += verdict == "failing"
        console.print(
            f"#{number} {verdict}: {finding.check} ({finding.rule}) now {status}",
            markup=False,
        )
    console.print(f"{failing} of {len(results)} still failing", markup=False)
    return EXIT_FAILED if failing else EXIT_OK
