"""HTTP probes: one value from an endpoint, as JSON (a JSON path) or as a
Prometheus text-format metric (by name, optionally by labels).

With labels, every sample of the metric whose labels include those given
counts, and their values are summed (``http_requests_total`` with
``{status = "500"}`` sums over the other labels, as ``sum()`` in PromQL would).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping

import httpx

from chaoskit.jsonpath import extract
from chaoskit.probes.base import ReadError

__all__ = ["HttpReader", "parse_prometheus"]

_SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)"
)
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')
_ESCAPES = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


def _unescape(match: re.Match[str]) -> str:
    return _ESCAPES[match.group(0)]


def parse_prometheus(text: str) -> Iterator[tuple[str, dict[str, str], float]]:
    """(name, labels, value) of every sample in a Prometheus text exposition."""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            continue
        labels = {
            key: re.sub(r'\\[\\"n]', _unescape, value)
            for key, value in _LABEL.findall(match["labels"] or "")
        }
        try:
            value = float(match["value"])
        except ValueError:
            continue
        yield match["name"], labels, value


class HttpReader:
    """GETs ``url`` at each sample and reads one number out of the answer."""

    def __init__(
        self,
        url: str,
        *,
        json_path: str | None = None,
        metric: str | None = None,
        labels: Mapping[str, str] | None = None,
        timeout: float = 5.0,
    ) -> None:
        self._url = url
        self._json_path = json_path
        self._metric = metric
        self._labels = dict(labels or {})
        # No proxies from the environment: probes go to loopback, directly.
        # No keep-alive: a probe a few seconds apart would reuse a connection
        # the server may be closing at that instant (its keep-alive timeout),
        # and read a ReadError that says nothing about the service.
        self._client = httpx.AsyncClient(
            timeout=timeout,
            trust_env=False,
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    async def read(self) -> Mapping[str, float | None]:
        try:
            response = await self._client.get(self._url)
        except httpx.HTTPError as exc:
            raise ReadError(f"{type(exc).__name__}: {exc}") from None
        if response.status_code >= 400:
            raise ReadError(f"HTTP {response.status_code}")
        return {"value": self._value(response)}

    def _value(self, response: httpx.Response) -> float:
        if self._json_path is not None:
            try:
                found = extract(response.json(), self._json_path)
            except ValueError:
                raise ReadError("the answer is not JSON") from None
            if isinstance(found, bool) or not isinstance(found, int | float | str):
                raise ReadError(f"{self._json_path} is not a number ({found!r})")
            try:
                value = float(found)
            except ValueError:
                raise ReadError(
                    f"{self._json_path} is not a number ({found!r})"
                ) from None
            return value
        matches = [
            value
            for name, labels, value in parse_prometheus(response.text)
            if name == self._metric
            and all(labels.get(k) == v for k, v in self._labels.items())
        ]
        if not matches:
            raise ReadError(f"no sample of {self._metric} {self._labels or ''}".strip())
        return math.fsum(matches)

    async def aclose(self) -> None:
        await self._client.aclose()
