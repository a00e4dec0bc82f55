"""Docker for the tests: the engine, or a skip (a failure under ``CI=true``), and
one small image per session.

No registry is reachable here, so the image is built with ``docker import``
from a root file system holding only Debian's busybox-static: ``busybox httpd``
is the HTTP service under test, in milliseconds and a megabyte. A container
that needs Python gets the host's interpreter and the project (with its
virtualenv) bind-mounted read-only at the same paths (:func:`python_volumes`).

Everything a test session creates carries the label ``chaoskit.test=<id>`` and
is removed at its end; containers chaoskit itself creates carry
``chaoskit.run`` and are removed by chaoskit.
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import sys
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaoskit.containers import connect
from chaoskit.errors import ServiceError

REPO = Path(__file__).resolve().parents[1]
TEST_LABEL = "chaoskit.test"
SESSION = uuid.uuid4().hex[:8]
_BUSYBOX_APPLETS = ("sh", "httpd", "sleep", "cat", "echo", "ls", "env", "kill")


def engine_problem() -> str | None:
    """Why no engine answers (None when one does): chaoskit's own connect()."""
    try:
        asyncio.run(connect()).close()
    except ServiceError as exc:
        return str(exc).split(". Container services", 1)[0]
    return None


def require_engine() -> None:
    """Skip without a Docker engine, but fail under ``CI=true``: CI always runs
    the container tests for real (``.ci/run`` starts a dockerd)."""
    problem = engine_problem()
    if problem is None:
        return
    host = os.environ.get("DOCKER_HOST", "the default socket")
    reason = f"no Docker engine at {host}: {problem}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the docker tests must run)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """A client for the engine at DOCKER_HOST (see :func:`require_engine`)."""
    require_engine()
    client = asyncio.run(connect())
    try:
        yield client
    finally:
        remove_session_containers(client)
        client.close()


def remove_session_containers(client: Any) -> None:
    """Remove every container this test session labelled."""
    for container in client.containers.list(
        all=True, filters={"label": f"{TEST_LABEL}={SESSION}"}
    ):
        container.remove(force=True)


def _rootfs_tar(busybox: Path) -> bytes:
    """A root file system as a tar: busybox, its applets, an httpd document root."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:

        def add(name: str, *, kind: bytes = tarfile.DIRTYPE, **extra: Any) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode = kind, extra.pop("mode", 0o755)
            data = extra.pop("data", None)
            for key, value in extra.items():
                setattr(info, key, value)
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)

        for name in ("bin", "tmp", "etc", "proc", "sys", "dev", "usr", "www", "root"):
            add(name, mode=0o1777 if name == "tmp" else 0o755)
        add("bin/busybox", kind=tarfile.REGTYPE, data=busybox.read_bytes())
        for applet in _BUSYBOX_APPLETS:
            add(f"bin/{applet}", kind=tarfile.SYMTYPE, linkname="busybox")
        # /lib and /lib64 follow the host's merged /usr, bind-mounted for Python.
        add("lib", kind=tarfile.SYMTYPE, linkname="usr/lib")
        add("lib64", kind=tarfile.SYMTYPE, linkname="usr/lib64")
        add("www/index.html", kind=tarfile.REGTYPE, mode=0o644, data=b"ok\n")
        add("www/health", kind=tarfile.REGTYPE, mode=0o644, data=b"healthy\n")
        passwd = b"root:x:0:0::/root:/bin/sh\n"
        add("etc/passwd", kind=tarfile.REGTYPE, mode=0o644, data=passwd)
    return buffer.getvalue()


def find_static_busybox() -> Path | None:
    """Debian's busybox-static (``/bin/busybox``): runs with no library at all."""
    found = shutil.which("busybox")
    if found is None:
        return None
    path = Path(found).resolve()
    # A dynamically linked ELF names its interpreter (PT_INTERP) in the header.
    return None if b"/ld-linux" in path.read_bytes()[:4096] else path


@pytest.fixture(scope="session")
def busybox_image(docker_client: Any) -> Iterator[str]:
    """The session's image (``docker import`` of busybox-static), removed at the end."""
    busybox = find_static_busybox()
    if busybox is None:
        message = "a static busybox is needed: apt-get install busybox-static"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    tag = f"chaoskit-test/busybox:{SESSION}"
    repository, _, version = tag.partition(":")
    docker_client.api.import_image_from_data(
        _rootfs_tar(busybox), repository=repository, tag=version
    )
    try:
        yield tag
    finally:
        # Containers first: an image still in use would only lose its tag.
        remove_session_containers(docker_client)
        docker_client.images.remove(tag, force=True)


def python_volumes() -> list[str]:
    """Read-only mounts that let a busybox container run this interpreter and the
    project: the host's /usr (libc), the interpreter's prefix, the repository."""
    mounts = {"/usr", sys.base_prefix, str(REPO)}
    if Path(sys.base_prefix).is_relative_to("/usr"):
        mounts.discard(sys.base_prefix)
    return [f"{path}:{path}:ro" for path in sorted(mounts)]


def run_labelled(client: Any, image: str, labels: dict[str, str], name: str) -> Any:
    """A container outside chaoskit (``sleep``), labelled for the session's cleanup."""
    return client.containers.run(
        image,
        ["sleep", "300"],
        name=f"chaoskit-test-{SESSION}-{name}",
        labels={TEST_LABEL: SESSION, **labels},
        network_mode="host",
        detach=True,
    )
