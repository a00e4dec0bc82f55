"""The ``chaoskit`` command line.

Errors are mapped to exit codes in one place (:func:`main`); a mistake of the
user's never shows a traceback.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, NoReturn, TypeVar, cast

import click

from chaoskit.errors import EXIT_ABORTED, ChaoskitError, exit_code_for
from chaoskit.proxy.busypoll import MAX_BUSY_POLL_US

__all__ = ["cli", "main"]


F = TypeVar("F", bound=Callable[..., object])


def _tag_overrides(
    tags: tuple[str, ...], exclude_tags: tuple[str, ...]
) -> tuple[str, ...]:
    """``--tags a,b`` -> ``load.tags=["a", "b"]``: applied like ``--set`` (and
    so replayed by the printed command)."""
    out = []
    for key, given in (("tags", tags), ("exclude_tags", exclude_tags)):
        names = [n.strip() for text in given for n in text.split(",") if n.strip()]
        if names:
            out.append(f"load.{key}={json.dumps(names)}")
    return tuple(out)


def _experiment_options(command: F) -> F:
    """``--set``, ``--var``, ``--env``, ``--seed``, ``--tags`` and
    ``--exclude-tags``, the same for every command that reads a file."""

    inner = command

    @functools.wraps(inner)
    def with_tags(
        *args: object,
        tags: tuple[str, ...] = (),
        exclude_tags: tuple[str, ...] = (),
        overrides: tuple[str, ...] = (),
        **kwargs: object,
    ) -> object:
        overrides = (*overrides, *_tag_overrides(tags, exclude_tags))
        return inner(*args, overrides=overrides, **kwargs)

    command = cast(F, with_tags)
    command = click.option(
        "--exclude-tags",
        "exclude_tags",
        multiple=True,
        metavar="TAG[,TAG]",
        help="Leave out tasks and user classes carrying one of these tags.",
    )(command)
    command = click.option(
        "--tags",
        "tags",
        multiple=True,
        metavar="TAG[,TAG]",
        help="Run only tasks and user classes carrying one of these tags.",
    )(command)
    command = click.option(
        "--seed", type=int, default=None, help="Replace experiment.seed."
    )(command)
    command = click.option(
        "--env",
        "environment",
        default=None,
        metavar="NAME",
        help="Merge the file's [environments.NAME] table (default: $CHAOSKIT_ENV); "
        "several: NAME,NAME (each over the one before).",
    )(command)
    command = click.option(
        "--var",
        "variables",
        multiple=True,
        metavar="NAME=VALUE",
        help="Set a variable declared in [vars] ({vars.NAME}); repeatable.",
    )(command)
    return click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY.PATH=VALUE",
        help="Override a value of the file (faults.0.latency=2s); repeatable.",
    )(command)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="chaoskit")
def cli() -> None:
    """Chaos and resilience experiments for HTTP services."""


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="API address.")
@click.option(
    "--port",
    default=8474,
    show_default=True,
    type=int,
    help="API port (0: any free port).",
)
@click.option(
    "--seed",
    type=int,
    default=None,
    help="Seed jitter, toxicity and slicer draws (reproducible chaos).",
)
@click.option(
    "--log-capacity",
    default=10_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Connections kept per proxy in the connection log.",
)
@click.option(
    "--dial-timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0.001),
    help="Seconds to wait for an upstream to accept a connection.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON array of proxies to create at start (as /populate).",
)
@click.option(
    "--busy-poll-us",
    default=0,
    show_default=True,
    type=click.IntRange(min=0, max=MAX_BUSY_POLL_US),
    help="After traffic, spin up to N µs before sleeping: lower latency when "
    "the proxy has a CPU of its own, at the cost of that CPU (0: off).",
)
def proxy(
    host: str,
    port: int,
    seed: int | None,
    log_capacity: int,
    dial_timeout: float,
    config_file: str | None,
    busy_poll_us: int,
) -> None:
    """Run the embedded Toxiproxy-compatible server until SIGINT or SIGTERM."""
    from chaoskit.proxy.server import ProxyServerConfig, run_forever

    run_forever(
        ProxyServerConfig(
            host=host,
            port=port,
            seed=seed,
            log_capacity=log_capacity,
            config_file=config_file,
            dial_timeout=dial_timeout,
            busy_poll_us=busy_poll_us,
        )
    )


@cli.command()
@click.argument("journal", type=click.Path(path_type=Path))
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write the reports (default: the journal's directory).",
)
def report(journal: Path, report_dir: Path | None) -> None:
    """Re-render the reports of a run from its JOURNAL (journal.jsonl or its directory).

    A journal cut short by a crash gives a partial report, marked aborted.
    """
    from rich.console import Console

    from chaoskit.errors import UsageError
    from chaoskit.report import document_from_journal, print_summary, write_reports

    try:
        document = document_from_journal(journal)
    except (OSError, ValueError) as exc:  # ValueError: not JSON, not UTF-8, empty
        # Report the file problem, not a traceback: exit 2 like any bad input.
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise UsageError(f"cannot read journal {journal}: {detail}") from exc
    if report_dir is None:
        report_dir = journal if journal.is_dir() else journal.parent
    from chaoskit.session import prepare_report_dir

    prepare_report_dir(report_dir)
    written = write_reports(document, report_dir)
    console = Console()
    print_summary(document, console)
    console.print(
        "Rewrote: " + ", ".join(str(path) for path in written),
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_experiment_options
def validate(
    file: Path,
    overrides: tuple[str, ...],
    variables: tuple[str, ...],
    environment: str | None,
    seed: int | None,
) -> None:
    """Check an experiment FILE and print its plan; start nothing.

    Exits 0 when it is valid, 2 with every problem listed when it is not.
    """
    from chaoskit import spec
    from chaoskit.errors import SpecError
    from chaoskit.faults.payloads import payload_fault_issues, payload_fault_notes
    from chaoskit.plan import build_plan
    from chaoskit.runner.load import check_load_config

    def fail(error: SpecError) -> NoReturn:
        click.echo(str(error), err=True)
        sys.exit(exit_code_for(error))

    try:
        experiment = spec.load(
            file, overrides, seed, variables=variables, environment=environment
        )
    except SpecError as error:
        fail(error)
    # The load engine's own rules (templates, flows) are checked too, so a
    # file that passes `validate` is not refused by `run` for its load.
    issues = check_load_config(experiment, file=str(file))
    issues += payload_fault_issues(experiment, file.parent)
    if issues:
        fail(SpecError(str(file), issues))
    click.echo(build_plan(experiment, seed).describe())
    for note in payload_fault_notes(experiment, file.parent):
        click.echo(f"note: {note}")
    click.echo("valid")


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the reports go (default: reports/<name>-<date>-<time>).",
)
@_experiment_options
@click.option("--dry-run", is_flag=True, help="Print the plan; start nothing.")
def run(
    file: Path,
    report_dir: Path | None,
    overrides: tuple[str, ...],
    variables: tuple[str, ...],
    environment: str | None,
    seed: int | None,
    dry_run: bool,
) -> None:
    """Run an experiment FILE: start its services, drive the load, inject and
    roll back the faults, and judge the hypotheses.

    Exit codes: 0 every hypothesis held, 1 one failed, 2 the file or the command
    line is invalid (nothing started), 3 the run was aborted (faults rolled back).
    """
    from chaoskit import session

    sys.exit(
        session.run(
            file,
            overrides=overrides,
            variables=variables,
            environment=environment,
            seed=seed,
            report_dir=report_dir,
            dry_run=dry_run,
        )
    )


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the reports go (default: reports/<name>-capacity-<date>-<time>).",
)
@click.option(
    "--slo",
    "slos",
    multiple=True,
    metavar="NAME",
    help="Judge each level on this hypothesis only; repeatable (default: all).",
)
@click.option(
    "--fault",
    default=None,
    metavar="NAME",
    help="Search again with this fault held; report both and the margin.",
)
@_experiment_options
def capacity(
    file: Path,
    report_dir: Path | None,
    slos: tuple[str, ...],
    fault: str | None,
    overrides: tuple[str, ...],
    variables: tuple[str, ...],
    environment: str | None,
    seed: int | None,
) -> None:
    """Search the highest load at which FILE's hypotheses hold ([capacity]):
    services start once, each level is a short real run, a geometric ramp
    until a hypothesis breaks, then bisection to the resolution.

    Exit codes: 0 capacity found (at least capacity.required), 1 below
    capacity.required, 2 invalid file or command line, 3 aborted (rolled back).
    """
    from chaoskit import session
    from chaoskit.capacity.run import CapacityOptions

    sys.exit(
        session.capacity(
            file,
            options=CapacityOptions(slos=slos, fault=fault),
            overrides=overrides,
            variables=variables,
            environment=environment,
            seed=seed,
            report_dir=report_dir,
        )
    )


@cli.command()
@click.argument(
    "report_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports"),
    required=False,
)
@click.option(
    "--force",
    is_flag=True,
    help="Also undo the changes of a run that is still going (it is torn down).",
)
def rollback(report_dir: Path, force: bool) -> None:
    """Undo what a killed run left in place, from its ledger in REPORT_DIR
    (a run's report directory, or a directory of them; default: reports).

    A run still going is left alone (exit 2) unless --force. Exit codes: 0 done
    or nothing to do, 2 a live run was left alone, 3 an undo failed.
    """
    from chaoskit import session

    sys.exit(session.rollback(report_dir, force=force))


def _ref_bases(values: tuple[str, ...]) -> tuple[tuple[str, Path], ...]:
    """``--ref-base URL=DIR`` values as (prefix, directory) pairs."""
    pairs = []
    for value in values:
        prefix, sep, directory = value.partition("=")
        if not sep or not prefix.startswith(("http://", "https://")) or not directory:
            raise click.BadParameter(
                f"{value!r}: write it as URL=DIR, e.g. "
                "https://example.com/schemas/=./schemas",
                param_hint="--ref-base",
            )
        pairs.append((prefix, Path(directory)))
    return tuple(pairs)


@cli.command()
@click.option(
    "--schema",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON Schema of one payload.",
)
@click.option(
    "--examples",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Valid payloads (a JSON array or JSON lines) to infer the shape from.",
)
@click.option(
    "--url",
    required=True,
    help="The target's base URL (loopback unless --allow-remote).",
)
@click.option(
    "--path", default="/events", show_default=True, help="The single-payload endpoint."
)
@click.option(
    "--batch-path", default=None, help="A batch endpoint (an array of payloads)."
)
@click.option("--health-path", default="/health", show_default=True)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Same seed, same payloads."
)
@click.option(
    "--max-examples",
    type=click.IntRange(min=1),
    default=200,
    show_default=True,
    help="Requests to send at most, shrinking included.",
)
@click.option(
    "--time-limit",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    help="Seconds, shrinking included.",
)
@click.option(
    "--budget",
    type=click.FloatRange(min=0.001),
    default=2.0,
    show_default=True,
    help="Seconds an answer may take.",
)
@click.option(
    "--allowed-status",
    "allowed",
    type=click.IntRange(400, 499),
    multiple=True,
    help="4xx an invalid payload may get (default 400 and 422).",
)
@click.option(
    "--cors-origin", default=None, help="Origin whose CORS preflights must be granted."
)
@click.option(
    "--rule",
    "rules",
    multiple=True,
    help="Only these rules (and valid payloads); repeatable.",
)
@click.option(
    "-H",
    "--header",
    "headers",
    multiple=True,
    metavar="NAME: VALUE",
    help="Sent with every request; its value is masked in findings and on the "
    "console unless --show-header names it.",
)
@click.option(
    "--show-header",
    "show_headers",
    multiple=True,
    metavar="NAME",
    help="Show this -H header's value in findings and curl lines; repeatable.",
)
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where findings.json goes.",
)
@click.option(
    "--replay",
    "replay_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Re-send the findings stored in this report directory.",
)
@click.option(
    "--allow-remote", is_flag=True, help="Allow a target that is not on loopback."
)
@click.option(
    "--openapi",
    type=click.Path(dir_okay=False, path_type=Path),
    help="An OpenAPI document (JSON): fuzz an operation's request body.",
)
@click.option("--operation", help='With --openapi: the operation, e.g. "POST /events".')
@click.option(
    "--asyncapi",
    type=click.Path(dir_okay=False, path_type=Path),
    help="An AsyncAPI 2.x/3.x document (JSON): fuzz a message's payload.",
)
@click.option("--message", help="With --asyncapi: the message name.")
@click.option(
    "--schema-dir",
    "schema_dirs",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A directory whose schemas answer an http(s) $ref to their $id (repeatable).",
)
@click.option(
    "--ref-base",
    "ref_bases",
    multiple=True,
    metavar="URL=DIR",
    callback=lambda _ctx, _param, value: _ref_bases(value),
    help="Resolve http(s) $refs under URL from the directory DIR (repeatable).",
)
@click.option("--max-body", help="Policy: larger bodies must be refused (e.g. 1MB).")
@click.option(
    "--max-depth",
    type=click.IntRange(min=1),
    help="Policy: deeper nesting must be refused (e.g. 64).",
)
@click.option("--content-type", help="Policy: only this media type is accepted.")
@click.option("--strict-utf8", is_flag=True, help="Policy: non-UTF-8 bodies refused.")
@click.option(
    "--hardening",
    is_flag=True,
    help="Every policy: 1MB, depth 64, application/json, strict UTF-8.",
)
def fuzz(
    schema: Path | None, examples: Path | None, url: str, path: str,
    batch_path: str | None, health_path: str,
    seed: int, max_examples: int, time_limit: float, budget: float,
    allowed: tuple[int, ...], cors_origin: str | None, rules: tuple[str, ...],
    headers: tuple[str, ...], report_dir: Path | None, replay_dir: Path | None,
    allow_remote: bool, show_headers: tuple[str, ...], openapi: Path | None,
    operation: str | None, asyncapi: Path | None, message: str | None,
    schema_dirs: tuple[Path, ...], ref_bases: tuple[tuple[str, Path], ...],
    max_body: str | None, max_depth: int | None, content_type: str | None,
    strict_utf8: bool, hardening: bool,
) -> None:  # fmt: skip
    """Fuzz an endpoint's validation with payloads from a JSON Schema (or examples).

    Valid payloads must get a 2xx, invalid ones an allowed 4xx, nothing a 5xx.
    Exit codes: 0 no failure (or every replayed finding fixed), 1 failures,
    2 bad input, 3 the target did not answer.
    """
    from chaoskit.fuzz.command import run_fuzz
    from chaoskit.fuzz.documents import PayloadSource
    from chaoskit.fuzz.rules import policy_from
    from chaoskit.report.log import warnings_to_log

    source = PayloadSource(
        schema, examples, openapi, operation, asyncapi, message,
        schema_dirs, ref_bases,
    )  # fmt: skip
    policy = policy_from(
        max_body=max_body, max_depth=max_depth, content_type=content_type,
        strict_utf8=strict_utf8, hardening=hardening,
    )  # fmt: skip
    with warnings_to_log(report_dir):  # Hypothesis' warnings never hit the console
        code = run_fuzz(
            schema=schema, examples=examples, url=url, path=path,
            source=source, policy=policy,
            batch_path=batch_path,
            health_path=health_path, seed=seed, max_examples=max_examples,
            time_limit=time_limit, budget=budget, allowed=allowed,
            cors_origin=cors_origin, rules=rules, headers=headers,
            report_dir=report_dir, replay_dir=replay_dir, allow_remote=allow_remote,
            show_headers=show_headers,
        )  # fmt: skip
    sys.exit(code)


class _ConsoleStream:
    """stdout or stderr that outlive the terminal: once a write fails (EIO after
    the terminal closed, EPIPE after the reader left), the descriptor is pointed
    at /dev/null and the run goes on; a rollback must never die of a print."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError:
            self._lost()
            with contextlib.suppress(OSError):
                self._stream.write(text)
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError:
            self._lost()
            with contextlib.suppress(OSError):
                self._stream.flush()

    def _lost(self) -> None:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self._stream.fileno())
            os.close(null)

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


@contextlib.contextmanager
def _guarded_console() -> Iterator[None]:
    saved = sys.stdout, sys.stderr
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, _ConsoleStream):
            setattr(sys, name, _ConsoleStream(stream))
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script: runs the CLI and maps errors to exit codes."""
    with _guarded_console():
        _main(argv)


def _main(argv: list[str] | None) -> None:
    try:
        cli.main(args=argv, prog_name="chaoskit", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_ABORTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2)
    except ChaoskitError as exc:
        click.echo(f"chaoskit: {exc}", err=True)
        sys.exit(exit_code_for(exc))
    except KeyboardInterrupt:
        # Ctrl-C outside a run (reading the file, writing the reports).
        click.echo("chaoskit: interrupted", err=True)
        sys.exit(EXIT_ABORTED)
    except Exception:  # noqa: BLE001 - the last resort: any bug, exit 3
        # A bug of ours, never a verdict: exit 1 means "a hypothesis failed".
        traceback.print_exc()
        click.echo(
            "chaoskit: internal error (the traceback above is a bug; please report "
            "it): exit 3",
            err=True,
        )
        sys.exit(EXIT_ABORTED)
