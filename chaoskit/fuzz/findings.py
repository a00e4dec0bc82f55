"""Findings: what failed, written to a report directory, and replayed later.

``findings.json`` in the report directory holds one entry per distinct
failure (de-duplicated by check, status and error signature): the minimal
payload (text, or base64 when it is not UTF-8), the rule it breaks, the
answer, a curl line (secrets masked) and the seed. Bodies too long for the
curl line are written beside it (``bodies/N.bin``). :func:`replay` re-sends
every stored request and marks each finding ``fixed`` or ``failing``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from chaoskit.errors import UsageError
from chaoskit.fuzz.checks import (
    CheckConfig,
    Failure,
    Outcome,
    ProtocolProbe,
    check_response,
    judge_probe,
)
from chaoskit.fuzz.curl import INLINE_LIMIT
from chaoskit.fuzz.rules import HARDENING, Case, Rule
from chaoskit.redact import MASK, is_secret_key

__all__ = ["FINDINGS_FILE", "Finding", "load_findings", "replay", "write_findings"]

FINDINGS_FILE = "findings.json"


@dataclass
class Finding:
    """One distinct failure, with its smallest payload and how to re-send it."""

    check: str
    rule: str
    detail: str
    status: int | None
    message: str
    signature: str
    method: str
    path: str
    content_type: str | None
    body: bytes | None
    curl: str
    seed: int
    count: int = 1
    headers: dict[str, str] | None = None  # protocol probes' own headers
    keyword: str = ""  # the schema path of the keyword that rejects the body
    hardening: str | None = None  # a hardening finding: the flag that would fail it

    def key(self) -> tuple[str, int | None, str]:
        """What duplicates share: (check, status, error signature)."""
        return (self.check, self.status, self.signature)

    def to_json(self, body_file: str | None = None) -> dict[str, object]:
        """The JSON entry (the body as text, base64, or a file reference)."""
        data = asdict(self)
        body = data.pop("body")
        if body is None:
            data["body"] = None
        elif body_file is not None:
            data["body_file"] = body_file
        else:
            try:
                data["body"] = body.decode("utf-8")
            except UnicodeDecodeError:
                data["body_base64"] = base64.b64encode(body).decode("ascii")
        if self.headers:
            data["headers"] = {
                k: MASK if is_secret_key(k) else v for k, v in self.headers.items()
            }
        return data

    @classmethod
    def from_json(cls, data: dict[str, object], directory: Path) -> Finding:
        """Read an entry of ``findings.json`` back."""
        raw = dict(data)
        body: bytes | None = None
        if isinstance(raw.get("body"), str):
            body = str(raw["body"]).encode("utf-8")
        elif isinstance(raw.get("body_base64"), str):
            body = base64.b64decode(str(raw["body_base64"]))
        elif isinstance(raw.get("body_file"), str):
            body = (directory / str(raw["body_file"])).read_bytes()
        fields = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        fields["body"] = body
        return cls(**fields)  # type: ignore[arg-type]


def write_findings(
    directory: Path, findings: list[Finding], meta: dict[str, object]
) -> Path:
    """Write ``findings.json`` (and long bodies) into ``directory``; its path."""
    directory.mkdir(parents=True, exist_ok=True)
    entries = []
    for number, finding in enumerate(findings, 1):
        body_file = None
        if finding.body is not None and len(finding.body) > INLINE_LIMIT:
            body_file = f"bodies/{number}.bin"
            (directory / "bodies").mkdir(exist_ok=True)
            (directory / body_file).write_bytes(finding.body)
        entries.append(finding.to_json(body_file))
    path = directory / FINDINGS_FILE
    document = {**meta, "findings": entries}
    path.write_text(
        json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return path


def load_findings(directory: Path) -> tuple[dict[str, object], list[Finding]]:
    """The metadata and findings stored in ``directory`` (or a findings file)."""
    path = directory / FINDINGS_FILE if directory.is_dir() else directory
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        entries = document.pop("findings")
        findings = [Finding.from_json(entry, path.parent) for entry in entries]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"cannot read findings from {path}: {exc}") from exc
    return document, findings


def _rule(finding: Finding) -> Rule | None:
    try:
        return Rule(finding.rule)
    except ValueError:
        return None


def _judge(
    finding: Finding,
    outcome: Outcome,
    response: httpx.Response | None,
    config: CheckConfig,
) -> Failure | None:
    """The failure the replayed answer shows, judged as the original was."""
    rule = _rule(finding)
    if finding.check == "healthy-afterwards":
        ok = outcome.status is not None and 200 <= outcome.status < 300
        return None if ok else Failure(finding.check, outcome.status, "unhealthy")
    if finding.headers is not None and response is not None:
        probe = ProtocolProbe(
            finding.check, finding.method, finding.path, finding.headers
        )
        return judge_probe(probe, response, config)
    case = Case(
        rule or Rule.VALID,
        finding.body or b"",
        finding.content_type,
        batch=finding.detail.startswith("item "),
        detail=finding.detail,
        keyword=finding.keyword,
        hardening=HARDENING.get(rule)
        if rule is not None and finding.hardening
        else None,
    )
    return check_response(case, outcome, config)


def replay(
    client: httpx.Client, findings: list[Finding], config: CheckConfig
) -> list[tuple[Finding, str, int | None]]:
    """Re-send each finding's request; (finding, "fixed"|"failing", status) each.

    A finding is still failing when the same check fails again.
    """
    results = []
    for finding in findings:
        headers = dict(finding.headers or {})
        if finding.content_type is not None:
            headers["Content-Type"] = finding.content_type
        response: httpx.Response | None = None
        try:
            response = client.request(
                finding.method, finding.path, content=finding.body, headers=headers
            )
        except httpx.TimeoutException:
            response, outcome = None, Outcome(None, error="timeout")
        except httpx.TransportError as exc:
            response, outcome = None, Outcome(None, error=type(exc).__name__)
        else:
            assert response is not None  # noqa: S101 - set in the try
            elapsed = response.elapsed.total_seconds()
            outcome = Outcome(response.status_code, response.content, elapsed)
        failure = _judge(finding, outcome, response, config)
        still = failure is not None and failure.check == finding.check
        results.append((finding, "failing" if still else "fixed", outcome.status))
    return results
