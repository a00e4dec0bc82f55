"""Bring up what an experiment needs: the proxy, the services, the routes.

Order matters and comes from the references: a route's upstream may be a
service's address (``{services.db.address}``) and a service's command may use a
route's listen address (``{routes.db.listen}``). Services start in file order;
before each one, every route whose references can be bound is created. Every
start and every route goes to the ledger first and onto the rollback stack as
soon as it exists, so teardown (or ``chaoskit rollback``) stops it.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from chaoskit.containers import connect
from chaoskit.errors import ServiceError, UsageError
from chaoskit.events import Event, ServiceRecord, event
from chaoskit.faults.base import LedgerEntry, Undo
from chaoskit.faults.toxiproxy import Toxiproxy
from chaoskit.runner.attempts import recorded_headers
from chaoskit.runner.rollback import RollbackStack
from chaoskit.services.container import ContainerService
from chaoskit.services.external import ExternalService
from chaoskit.services.health import Endpoint, free_port
from chaoskit.services.postgres import PostgresService
from chaoskit.services.process import ProcessService
from chaoskit.spec import model, refs

if TYPE_CHECKING:
    from docker import DockerClient

__all__ = ["Environment", "RunningService", "bring_up"]

RunningService = PostgresService | ProcessService | ExternalService | ContainerService
Launchable = PostgresService | ProcessService | ContainerService
"""A service chaoskit starts, and so writes to the ledger before starting."""


@dataclass
class Environment:
    """What is running for the experiment, and the values references bind to."""

    values: dict[str, str] = field(default_factory=dict)
    services: dict[str, RunningService] = field(default_factory=dict)
    records: list[ServiceRecord] = field(default_factory=list)
    toxiproxy: Toxiproxy | None = None
    base_url: str = ""
    seed: int = 0
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    """Labels the containers this run creates (``chaoskit.run``)."""
    docker: DockerClient | None = None
    """Connected on the first container service or container fault."""
    base_dir: Path = field(default_factory=Path)
    """The experiment file's directory: relative paths (SQLite files) start here."""

    async def aclose(self) -> None:
        if self.toxiproxy is not None:
            await self.toxiproxy.aclose()
        if self.docker is not None:
            self.docker.close()

    async def docker_client(self) -> DockerClient:
        """The run's docker client, connected on first use (ServiceError without
        an engine: the message says what to install or start)."""
        if self.docker is None:
            self.docker = await connect()
        return self.docker


def _python(command: tuple[str, ...]) -> list[str]:
    # "python" means the interpreter chaoskit runs on (its virtualenv), not
    # whatever python is first on PATH.
    head, *rest = command
    return [sys.executable, *rest] if head in ("python", "python3") else list(command)


def _values(endpoint: Endpoint) -> dict[str, str]:
    """What ``{services.NAME.address|host|port}`` binds to."""
    return {
        "address": f"{endpoint.host}:{endpoint.port}",
        "host": endpoint.host,
        "port": str(endpoint.port),
    }


class _BringUp:
    def __init__(
        self,
        experiment: model.Experiment,
        base_dir: Path,
        report_dir: Path,
        stack: RollbackStack,
        emit: Callable[[Event], None],
        seed: int,
    ) -> None:
        self.experiment = experiment
        self.base_dir = base_dir
        self.report_dir = report_dir
        self.stack = stack
        self.emit = emit
        self.seed = seed
        self.env = Environment(seed=seed, base_dir=base_dir)
        self.env.values["run.report.dir"] = str(report_dir.resolve())
        self.routes_left = list(experiment.proxy.routes)

    def bind(self, text: str) -> str:
        return refs.bind(text, self.env.values)

    def bindable(self, text: str) -> bool:
        return all(ref.key in self.env.values for ref in refs.find(text))

    def _ledger_first(
        self, service: Launchable, kind: str, description: str
    ) -> int | None:
        """Write a service's ledger entry before it starts, with what is known
        (its PID file, its data directory's name); the service adds its PID and
        start time as soon as it has them. A run killed at any moment of the
        start leaves an entry `chaoskit rollback` (or the next run) acts on."""
        planned = service.planned_ledger_data()
        if planned is None:
            return None
        ledger_id = self.stack.ledger.add(LedgerEntry(kind, description, dict(planned)))
        stack = self.stack

        def launched(data: Mapping[str, object]) -> None:
            stack.amend(ledger_id, data)

        service.on_launch = launched
        return ledger_id

    def _started(
        self, service: RunningService, ledger_id: int | None, label: str
    ) -> None:
        """Register a started service's undo (stop it) in the stack."""
        self.stack.push(Undo(f"stop {label}", service.stop), ledger_id, label)

    async def start_proxy(self) -> None:
        section = self.experiment.proxy
        if not section.routes:
            return
        if section.url:
            url = self.bind(section.url)
        else:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            proxy = ProcessService(
                "proxy",
                [
                    sys.executable,
                    "-m",
                    "chaoskit",
                    "proxy",
                    "--port",
                    str(port),
                    "--seed",
                    str(self.seed),
                    "--busy-poll-us",
                    str(round(section.busy_poll * 1e6)),
                ],
                health=f"{url}/version",
                health_timeout=20,
                log_dir=self.report_dir,
            )
            self.emit(
                event(
                    "service_starting", service="proxy", service_kind="embedded proxy"
                )
            )
            ledger_id = self._ledger_first(proxy, "process", "stop the embedded proxy")
            await proxy.start()
            self._started(proxy, ledger_id, "embedded proxy")
            self.env.records.append(
                ServiceRecord(
                    "proxy",
                    "embedded proxy",
                    url.removeprefix("http://"),
                    proxy.pid,
                    (str(proxy.stdout_path), str(proxy.stderr_path)),
                    proxy.last_healthy_after_s,
                )
            )
            self.emit(event("service_ready", service="proxy", address=url))
        self.env.toxiproxy = Toxiproxy(url, timeout=10)
        await self.env.toxiproxy.version()  # reachable, or a clear DriverError
        http = [r.name for r in section.routes if r.protocol == "http"]
        if section.url and http and not await self.env.toxiproxy.is_chaoskit():
            raise UsageError(
                f"proxy.url = {section.url!r} is not chaoskit's proxy (its "
                "/chaoskit/ endpoints answer 404, as a real Toxiproxy's do), but "
                f'route(s) {", ".join(http)} declare protocol = "http": HTTP '
                "routes, HTTP faults and the request log need `chaoskit proxy`; "
                "point proxy.url at one, or remove proxy.url to use the embedded one"
            )

    async def create_routes(self, *, all_left: bool = False) -> None:
        toxiproxy = self.env.toxiproxy
        for route in list(self.routes_left):
            if not (self.bindable(route.upstream) and self.bindable(route.listen)):
                if all_left:
                    raise ServiceError(
                        f"route {route.name!r}: cannot bind {route.upstream!r}"
                    )
                continue
            assert toxiproxy is not None  # noqa: S101 - start_proxy ran: routes exist
            self.routes_left.remove(route)
            # A proxy of the same name left by someone else would clash: ours wins.
            await toxiproxy.delete_proxy(route.name, missing_ok=True)
            entry = LedgerEntry(
                "proxy_delete",
                f"delete proxy {route.name!r}",
                {"url": toxiproxy.url, "proxy": route.name},
            )
            ledger_id = self.stack.before(entry)
            info, undo = await toxiproxy.create_proxy(
                route.name, self.bind(route.upstream), listen=self.bind(route.listen)
            )
            self.stack.push(undo, ledger_id, f"route {route.name}")
            if route.protocol == "http":
                await toxiproxy.set_http(
                    route.name,
                    request_id_header=route.request_id_header,
                    record_headers=recorded_headers(self.experiment, route.name),
                )
            host, _, port = info.listen.rpartition(":")
            self.env.values[f"routes.{route.name}.listen"] = info.listen
            self.env.values[f"routes.{route.name}.host"] = host.strip("[]")
            self.env.values[f"routes.{route.name}.port"] = port
            self.emit(
                event(
                    "route_created",
                    route=route.name,
                    listen=info.listen,
                    upstream=info.upstream,
                )
            )

    async def start_service(self, spec: model.Service) -> None:
        self.emit(event("service_starting", service=spec.name, service_kind=spec.kind))
        service: RunningService
        if isinstance(spec, model.PostgresService):
            service = PostgresService(
                spec.name,
                port=spec.port or None,
                data_dir=spec.data_dir,
                keep=spec.keep,
                init_sql=[self.base_dir / path for path in spec.init_sql],
                log_path=self.report_dir / f"{spec.name}.postgres.log",
                durable=spec.durable,
                settings=spec.settings,
                start_timeout=spec.start_timeout,
            )
            ledger_id = self._ledger_first(service, "process", f"stop {spec.name}")
            address = await service.start()
            self._started(service, ledger_id, f"service {spec.name}")
            values = {
                "address": f"{address.host}:{address.port}",
                "host": address.host,
                "port": str(address.port),
                "dsn": address.dsn,
            }
            record = ServiceRecord(
                spec.name,
                spec.kind,
                values["address"],
                service.pid,
                (str(address.log_path),),
            )
        elif isinstance(spec, model.ProcessService):
            bound = spec.model_copy(
                update={
                    "command": tuple(
                        _python(tuple(self.bind(a) for a in spec.command))
                    ),
                    "env": {k: self.bind(v) for k, v in spec.env.items()},
                    "health": self.bind(spec.health) if spec.health else None,
                    "cwd": str(self.base_dir / spec.cwd) if spec.cwd else None,
                }
            )
            service = ProcessService.from_spec(
                bound, self.report_dir, self.experiment.secrets
            )
            ledger_id = self._ledger_first(service, "process", f"stop {spec.name}")
            endpoint = await service.start()
            self._started(service, ledger_id, f"service {spec.name}")
            values = _values(endpoint)
            record = ServiceRecord(
                spec.name,
                spec.kind,
                values["address"],
                service.pid,
                (str(service.stdout_path), str(service.stderr_path)),
                service.last_healthy_after_s,
            )
        elif isinstance(spec, model.ContainerService):
            service, values, record = await self._start_container(spec)
        else:
            service = ExternalService(
                spec.name,
                address=self.bind(spec.address) if spec.address else None,
                health=self.bind(spec.health) if spec.health else None,
                health_timeout=spec.health_timeout,
            )
            endpoint = await service.start()
            values = _values(endpoint)
            record = ServiceRecord(spec.name, spec.kind, values["address"])
        self.env.services[spec.name] = service
        self.env.records.append(record)
        for key, value in values.items():
            self.env.values[f"services.{spec.name}.{key}"] = value
        self.emit(
            event(
                "service_ready",
                service=spec.name,
                address=values["address"],
                pid=record.pid,
            )
        )

    async def _start_container(
        self, spec: model.ContainerService
    ) -> tuple[ContainerService, dict[str, str], ServiceRecord]:
        bound = spec.model_copy(
            update={
                "command": tuple(self.bind(a) for a in spec.command),
                "env": {k: self.bind(v) for k, v in spec.env.items()},
                "volumes": tuple(self.bind(v) for v in spec.volumes),
                "health": self.bind(spec.health) if spec.health else None,
                "address": self.bind(spec.address) if spec.address else None,
            }
        )
        client = await self.env.docker_client()
        service = ContainerService(
            bound, client, run_id=self.env.run_id, log_dir=self.report_dir
        )
        ledger_id = self._ledger_first(
            service,
            "container_remove",
            f"remove container {service.planned_name!r} ({spec.name})",
        )
        await service.start()
        self._started(service, ledger_id, f"service {spec.name}")
        values = _values(service.address)
        record = ServiceRecord(
            spec.name,
            spec.kind,
            values["address"],
            None,
            (str(service.log_path),),
            service.last_healthy_after_s,
        )
        return service, values, record


async def bring_up(
    experiment: model.Experiment,
    *,
    base_dir: Path,
    report_dir: Path,
    stack: RollbackStack,
    emit: Callable[[Event], None],
    seed: int,
) -> Environment:
    """Start the proxy, the services and the routes; the running environment.

    Everything started is on ``stack`` by the time this returns or raises.
    """
    up = _BringUp(experiment, base_dir, report_dir, stack, emit, seed)
    await up.start_proxy()
    for spec in experiment.services:
        await up.create_routes()
        await up.start_service(spec)
    await up.create_routes(all_left=True)
    up.env.base_url = up.bind(experiment.target.base_url)
    return up.env
