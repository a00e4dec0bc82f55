"""The errors chaoskit raises, and the exit code each one maps to.

The tree::

    ChaoskitError              root of everything chaoskit raises on purpose
    ├── UsageError(ValueError) the user's input is wrong (exit 2)
    │   └── SpecError          an experiment file has issues, all of them listed
    ├── DriverError            a fault could not be applied or undone (exit 3)
    │   └── ToxiproxyError     the Toxiproxy API refused a request or is unreachable
    ├── ServiceError           a service did not start or stay healthy (exit 3)
    ├── RollbackError          an undo failed; the system may be left changed (exit 3)
    └── RunAborted             the run stopped early: abort, interrupt (exit 3)

Messages are written for the person who has to fix the problem: what failed, on
what, and what to do about it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "EXIT_ABORTED",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "ChaoskitError",
    "DriverError",
    "RollbackError",
    "RunAborted",
    "ServiceError",
    "SpecError",
    "SpecIssue",
    "ToxiproxyError",
    "UsageError",
    "exit_code_for",
]

EXIT_OK = 0
"""Every hypothesis held."""
EXIT_FAILED = 1
"""At least one hypothesis failed."""
EXIT_USAGE = 2
"""The experiment file or the command line is invalid; nothing was started."""
EXIT_ABORTED = 3
"""The run was aborted (infrastructure failure, abort condition, interrupt)."""


class ChaoskitError(Exception):
    """Root of every error chaoskit raises on purpose."""


class UsageError(ChaoskitError, ValueError):
    """The user's input is wrong: fix the file, the flag or the value named."""


@dataclass(frozen=True)
class SpecIssue:
    """One problem in an experiment file, located by its TOML key path."""

    path: str
    """Key path in TOML notation, e.g. ``faults[0].latency``."""
    message: str
    value: object = None
    allowed: str | None = None
    suggestion: str | None = None

    def __str__(self) -> str:
        """One line: ``path: message (got value); allowed: ...; did you mean 'x'?``."""
        text = f"{self.path}: {self.message}"
        if self.value is not None:
            shown = repr(self.value)
            text += f" (got {shown if len(shown) <= 80 else shown[:77] + '...'})"
        if self.allowed:
            text += f"; allowed: {self.allowed}"
        if self.suggestion:
            text += f"; did you mean {self.suggestion!r}?"
        return text


class SpecError(UsageError):
    """An experiment file has issues; every one is listed with its key path."""

    def __init__(self, file: str, issues: list[SpecIssue]) -> None:
        self.file = file
        self.issues = issues
        count = len(issues)
        lines = [f"{file}: {count} problem{'s' if count != 1 else ''}"]
        lines += [f"  {issue}" for issue in issues]
        super().__init__("\n".join(lines))


class DriverError(ChaoskitError):
    """A fault driver could not apply or undo a fault."""


class ToxiproxyError(DriverError):
    """The Toxiproxy API refused a request, or could not be reached.

    Carries the HTTP status (``None`` when the server could not be reached), the
    server's own message, and the proxy and toxic the request was about.
    """

    def __init__(
        self,
        action: str,
        message: str,
        *,
        status: int | None = None,
        proxy: str | None = None,
        toxic: str | None = None,
        url: str | None = None,
    ) -> None:
        self.action = action
        self.status = status
        self.server_message = message
        self.proxy = proxy
        self.toxic = toxic
        self.url = url
        where = "".join(
            [
                f" proxy {proxy!r}" if proxy else "",
                f" toxic {toxic!r}" if toxic else "",
            ]
        )
        code = f"HTTP {status}: " if status is not None else ""
        at = f" (at {url})" if url else ""
        super().__init__(f"toxiproxy: {action}{where}: {code}{message}{at}")


class ServiceError(ChaoskitError):
    """A service the experiment starts did not start, or did not become healthy."""


class RollbackError(ChaoskitError):
    """Undoing a fault failed; the message says what the system may still carry."""


class RunAborted(ChaoskitError):
    """The run stopped early (abort condition, interrupt); faults were rolled back."""


def exit_code_for(error: BaseException) -> int:
    """The process exit code for an error that ended a command: the one table."""
    if isinstance(error, UsageError):
        return EXIT_USAGE
    return EXIT_ABORTED
