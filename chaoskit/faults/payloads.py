"""The ``invalid-payloads`` fault: fuzzed requests mixed into the steady load.

During its window the fault runs a :class:`~chaoskit.fuzz.engine.FuzzSession`
(generation, checks, shrinking: all ``chaoskit.fuzz``'s) paced at ``rate``
requests per second against ``path`` on the target (or ``url``). Its requests
go through their own client and are counted in a
:class:`~chaoskit.fuzz.tally.FuzzTally`, never in the load's samples, so the
steady load's numbers during the window are the load's alone.

Applying starts the sender; the undo stops it (at the next request, a paced
wait ends at once), writes ``findings.json`` and fills in the tally. The
ledger entry (kind ``payloads``) needs no action after a crash: the sender was
a thread of the process that died.
"""

from __future__ import annotations

import asyncio
import difflib
import math
import shlex
from collections.abc import Mapping
from pathlib import Path

from chaoskit.errors import ChaoskitError, DriverError, SpecIssue
from chaoskit.faults.base import Change, LedgerEntry, Undo
from chaoskit.fuzz.checks import CheckConfig
from chaoskit.fuzz.documents import PayloadSource, load_source
from chaoskit.fuzz.engine import (
    FuzzConfig,
    FuzzSession,
    check_target_url,
    target_client,
)
from chaoskit.fuzz.findings import write_findings
from chaoskit.fuzz.model import PayloadModel
from chaoskit.fuzz.rules import Policy, Rule, policy_from
from chaoskit.fuzz.tally import FuzzTally
from chaoskit.spec.model import Experiment, FuzzHypothesis, PayloadFault

__all__ = [
    "MAX_REQUESTS",
    "PayloadSender",
    "load_payload_model",
    "payload_fault_issues",
    "payload_fault_notes",
    "payload_ledger_entry",
    "payload_policy",
    "payload_rules",
    "payload_source",
]

#: Requests one fault sends at most, whatever its rate and window.
MAX_REQUESTS = 1_000_000


def load_payload_model(fault: PayloadFault, base_dir: Path) -> PayloadModel:
    """The fault's payload model, from ``schema`` or ``examples`` (relative to
    the experiment file).

    Raises:
        UsageError: the file is missing or cannot be modelled.
    """
    return load_source(payload_source(fault), base_dir)


def payload_source(fault: PayloadFault) -> PayloadSource:
    """Where the fault's payload schema lives."""

    def path(value: str | None) -> Path | None:
        return None if value is None else Path(value)

    dirs = (
        (fault.schema_dir,) if isinstance(fault.schema_dir, str) else fault.schema_dir
    )
    return PayloadSource(
        path(fault.schema_), path(fault.examples), path(fault.openapi),
        fault.operation, path(fault.asyncapi), fault.message,
        tuple(Path(d) for d in dirs),
        tuple((prefix, Path(d)) for prefix, d in fault.ref_bases.items()),
    )  # fmt: skip


def payload_policy(fault: PayloadFault | FuzzHypothesis, where: str) -> Policy:
    """The hardening policies the fault (or a fuzz hypothesis) states."""
    return policy_from(
        max_body=None if fault.max_body is None else str(fault.max_body),
        max_depth=fault.max_depth, content_type=fault.content_type,
        strict_utf8=fault.strict_utf8, hardening=fault.hardening, where=where,
    )  # fmt: skip


def payload_rules(fault: PayloadFault) -> frozenset[Rule]:
    """The rules the fault draws from (valid payloads always among them)."""
    if not fault.rules:
        return frozenset(Rule)
    known = {rule.value for rule in Rule}
    return frozenset(Rule(name) for name in fault.rules if name in known) | {Rule.VALID}


def payload_fault_issues(experiment: Experiment, base_dir: Path) -> list[SpecIssue]:
    """Unknown rules, and schemas and example files that cannot be read or
    modelled (exit 2, before anything starts)."""
    issues = []
    known = sorted(rule.value for rule in Rule)
    for index, fault in enumerate(experiment.faults):
        if not isinstance(fault, PayloadFault):
            continue
        for position, name in enumerate(fault.rules):
            if name not in known:
                issues.append(
                    SpecIssue(
                        f"faults[{index}].rules[{position}]",
                        "is not a fuzzing rule",
                        name,
                        ", ".join(known),
                        next(iter(difflib.get_close_matches(name, known, 1)), None),
                    )
                )
        where = _ref_place_issues(fault, index, base_dir)
        if where:
            issues += where
            continue
        key = "schema" if fault.schema_ is not None else "examples"
        try:
            load_payload_model(fault, base_dir)
        except ChaoskitError as exc:
            allowed = (
                "a JSON Schema file (relative to the experiment file)"
                if key == "schema"
                else "a JSON array or JSON-lines file of valid payloads"
            )
            issues.append(SpecIssue(f"faults[{index}].{key}", str(exc), None, allowed))
    return issues


def _ref_place_issues(
    fault: PayloadFault, index: int, base_dir: Path
) -> list[SpecIssue]:
    """``schema_dir`` and ``ref_bases`` name directories; ``ref_bases`` keys
    are http(s) URL prefixes."""
    issues = []
    source = payload_source(fault)
    for position, directory in enumerate(source.schema_dirs):
        if not (base_dir / directory).is_dir():
            place = f"faults[{index}].schema_dir"
            if not isinstance(fault.schema_dir, str):
                place += f"[{position}]"
            issues.append(
                SpecIssue(place, "is not a directory", str(directory),
                          "a directory of schemas, relative to the experiment file")
            )  # fmt: skip
    for prefix, directory in source.ref_bases:
        place = f'faults[{index}].ref_bases."{prefix}"'
        if not prefix.startswith(("http://", "https://")):
            issues.append(
                SpecIssue(place, "the key is not an http(s) URL prefix", prefix,
                          'e.g. "https://example.com/schemas/" = "schemas"')
            )  # fmt: skip
        elif not (base_dir / directory).is_dir():
            issues.append(
                SpecIssue(place, "is not a directory", str(directory),
                          "a directory, relative to the experiment file")
            )  # fmt: skip
    return issues


def payload_fault_notes(experiment: Experiment, base_dir: Path) -> list[str]:
    """What each payload fault's schema cannot be generated for, by key path
    (said by ``validate`` and ``run``; the run fuzzes the rest)."""
    notes = []
    for index, fault in enumerate(experiment.faults):
        if not isinstance(fault, PayloadFault):
            continue
        try:
            model = load_payload_model(fault, base_dir)
        except ChaoskitError:
            continue  # an issue, said by payload_fault_issues
        model.probe()
        notes += [f"faults[{index}] ({fault.name}): {note}" for note in model.notes]
    return notes


def payload_ledger_entry(fault: PayloadFault, url: str) -> LedgerEntry:
    """The fault's ledger entry: nothing to undo from another process."""
    return LedgerEntry(
        "payloads",
        f"stop sending fuzzed payloads to {url} (fault {fault.name!r})",
        {"fault": fault.name, "url": url},
    )


class PayloadSender:
    """One ``invalid-payloads`` fault: its tally, and the change that sends.

    Args:
        fault: the fault.
        model: its payload model (:func:`load_payload_model`).
        base_url: the target's base URL (used unless the fault sets ``url``).
        seed: the experiment's seed (used unless the fault sets ``seed``).
        report_dir: where ``findings.json`` goes.
        tallies: every payload fault's tally of the run, by name: the file
            holds all their findings.
        allow_remote: ``experiment.allow_remote``.
        target_headers: ``[target] headers`` (credentials, tenant), sent under
            the fault's own ``headers`` unless the fault sends elsewhere
            (``url``): without them an authenticated API answers every
            payload 401 and its validation is never reached.
    """

    def __init__(
        self,
        fault: PayloadFault,
        model: PayloadModel,
        *,
        base_url: str,
        seed: int,
        report_dir: Path,
        tallies: Mapping[str, FuzzTally],
        allow_remote: bool = False,
        target_headers: Mapping[str, str] | None = None,
    ) -> None:
        self.fault = fault
        self.model = model
        self.target_headers = {} if fault.url else dict(target_headers or {})
        self.base_url = (fault.url or base_url).rstrip("/")
        self.seed = fault.seed if fault.seed is not None else seed
        self.report_dir = report_dir
        self.tallies = tallies
        self.allow_remote = allow_remote
        self.checks = CheckConfig(
            allowed=frozenset(fault.allowed), budget=fault.budget,
            policy=payload_policy(fault, f"fault {fault.name!r}: "),
        )  # fmt: skip
        self.tally = FuzzTally(fault.name, self.base_url + fault.path, self.seed)
        self.tally.replay = self._replay_command()

    def config(self) -> FuzzConfig:
        """The fuzzing run of the window: paced, bounded in count and time."""
        fault = self.fault
        return FuzzConfig(
            url=self.base_url,
            path=fault.path,
            batch_path=fault.batch_path,
            seed=self.seed,
            max_examples=min(MAX_REQUESTS, math.ceil(fault.rate * fault.for_) + 1),
            time_limit=fault.for_,
            checks=self.checks,
            headers={**self.target_headers, **fault.headers},
            rules=payload_rules(fault),
            allow_remote=self.allow_remote,
            rate=fault.rate,
            valid_share=fault.valid,
        )

    def _replay_command(self) -> str:
        parts = ["chaoskit", "fuzz", "--url", self.base_url]
        if self.checks.allowed != CheckConfig().allowed:
            for status in sorted(self.checks.allowed):
                parts += ["--allowed-status", str(status)]
        parts += ["--budget", f"{self.checks.budget:g}"]
        return shlex.join([*parts, "--replay", str(self.report_dir)])

    def changes(self) -> list[Change]:
        """One change: start sending; its undo stops and sums up."""
        return [Change(payload_ledger_entry(self.fault, self.base_url), self._apply)]

    async def _apply(self) -> Undo:
        config = self.config()
        check_target_url(config.url, config.allow_remote)
        client = target_client(config.url, config.checks.budget)
        session = FuzzSession(self.model, config, client, self.tally.observe).start()

        def end() -> None:
            session.join(config.checks.budget + 2.0)  # a request in flight
            client.close()

        async def stop() -> None:
            session.stop()
            await asyncio.to_thread(end)
            try:
                result = session.finish()
            except Exception as exc:
                raise DriverError(
                    f"fault {self.fault.name!r}: fuzzing failed: {exc!r}"
                ) from exc
            self.tally.findings = result.findings
            self.tally.locations = result.coverage.to_json()
            self.tally.elapsed_s = result.elapsed
            await asyncio.to_thread(self._write_findings)

        return Undo(f"stop sending fuzzed payloads to {self.tally.url}", stop)

    def _write_findings(self) -> None:
        findings = [f for tally in self.tallies.values() for f in tally.findings]
        meta = {
            "url": self.base_url,
            "faults": list(self.tallies),
            "seed": self.seed,
            "requests": sum(t.requests for t in self.tallies.values()),
            "replay": self.tally.replay,
        }
        write_findings(self.report_dir, findings, meta)
