"""Cross-field rules of an ``invalid-payloads`` fault.

The payload model itself (can the schema or examples be read and modelled?)
is checked before the run by ``chaoskit.faults.payloads``, which knows the
fuzzer; these rules need only the fault's own keys.
"""

from __future__ import annotations

from collections.abc import Sequence

from chaoskit.errors import SpecIssue
from chaoskit.spec.model import FuzzHypothesis, PayloadFault

__all__ = ["PAYLOAD_KEYS", "check_fuzz_hypothesis", "check_payload_fault"]

#: Every key an invalid-payloads fault may set.
PAYLOAD_KEYS = tuple(
    sorted(info.alias or name for name, info in PayloadFault.model_fields.items())
)


def check_payload_fault(where: str, fault: PayloadFault) -> list[SpecIssue]:
    """One of schema and examples, 4xx statuses, paths that are paths."""
    issues = []
    sources = [
        k
        for k, v in (
            ("schema", fault.schema_),
            ("examples", fault.examples),
            ("openapi", fault.openapi),
            ("asyncapi", fault.asyncapi),
        )
        if v
    ]
    if not sources:
        issues.append(
            SpecIssue(
                f"{where}.schema",
                "is required (or examples, openapi, asyncapi): the payloads' shape",
                None,
                'a JSON Schema file, e.g. schema = "event.schema.json"; or '
                'examples = "events.jsonl" (valid payloads); or openapi = "api.json" '
                'with operation = "POST /events"; or asyncapi = "events.json" with '
                'message = "Name"',
            )
        )
    elif len(sources) > 1:
        issues.append(
            SpecIssue(
                f"{where}.{sources[1]}",
                f"cannot be combined with {sources[0]}",
                None,
                "exactly one of schema, examples, openapi, asyncapi",
            )
        )
    pairs = (
        ("openapi", fault.openapi, "operation", fault.operation, '"POST /events"'),
        ("asyncapi", fault.asyncapi, "message", fault.message, "a message name"),
    )
    for key, given, other, value, example in pairs:
        if given and not value:
            issues.append(
                SpecIssue(f"{where}.{other}", f"is required with {key}", None, example)
            )
        if value and not given:
            issues.append(
                SpecIssue(f"{where}.{other}", f"needs {key}", value, f"{key} = FILE")
            )
    for position, status in enumerate(fault.allowed):
        if not 400 <= status <= 499:
            issues.append(
                SpecIssue(
                    f"{where}.allowed[{position}]",
                    "is not a 4xx status an invalid payload may get",
                    status,
                    "400..499, e.g. [400, 422]",
                )
            )
    if not fault.allowed:
        issues.append(
            SpecIssue(
                f"{where}.allowed", "needs at least one status", None, "[400, 422]"
            )
        )
    for key, path in (("path", fault.path), ("batch_path", fault.batch_path)):
        if path is not None and not path.startswith("/"):
            issues.append(
                SpecIssue(f"{where}.{key}", "is not a path", path, 'e.g. "/events"')
            )
    return issues


def check_fuzz_hypothesis(
    where: str, hypothesis: FuzzHypothesis, payload_faults: Sequence[str]
) -> list[SpecIssue]:
    """A fuzz hypothesis judges invalid-payloads faults: there must be one,
    and ``fault`` must name one."""
    allowed = ", ".join(payload_faults) or "(no invalid-payloads fault is declared)"
    if not payload_faults:
        return [
            SpecIssue(
                where,
                "a fuzz hypothesis needs an invalid-payloads fault",
                None,
                'a [[faults]] entry with kind = "invalid-payloads"',
            )
        ]
    if hypothesis.fault is not None and hypothesis.fault not in payload_faults:
        return [
            SpecIssue(
                f"{where}.fault",
                "is not a declared invalid-payloads fault",
                hypothesis.fault,
                allowed,
            )
        ]
    return []
