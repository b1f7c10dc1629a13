"""The load generator: keep-alive HTTP clients on threads, sequential latency and throughput."""

from __future__ import annotations

import http.client
import json
import socket
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from bench.records import JsonObject

_PLACEHOLDER = "bench-hook-instance-placeholder"

HeaderFactory = Callable[[str], dict[str, str]]
"""Extra headers for one request to the given absolute URL (a fresh JWT, for example)."""


class Body:
    """A hook request serialised once; each copy gets a fresh ``hookInstance``.

    With ``fresh_resources``, every prefetched resource of each copy also gets a new
    ``meta.versionId``: the record is the same clinically but its JSON has never been seen, so
    nothing the service remembers from earlier calls (validation outcomes) applies.
    """

    def __init__(self, request: JsonObject, *, fresh_resources: bool = False) -> None:
        request = {**request, "hookInstance": _PLACEHOLDER}
        if fresh_resources:
            request["prefetch"] = {key: _versioned(value)
                                   for key, value in request.get("prefetch", {}).items()}
        self._parts = json.dumps(request).encode().split(_PLACEHOLDER.encode())
        self.size = sum(map(len, self._parts)) + len(_PLACEHOLDER) * (len(self._parts) - 1)

    def make(self) -> bytes:
        """The body with a new ``hookInstance`` (and new resource versions, if fresh)."""
        return str(uuid.uuid4()).encode().join(self._parts)


def _versioned(prefetched: object) -> object:
    """A prefetched resource or searchset whose resources carry the placeholder as versionId."""
    if not isinstance(prefetched, dict):
        return prefetched
    if prefetched.get("resourceType") != "Bundle":
        return {**prefetched, "meta": {**prefetched.get("meta", {}), "versionId": _PLACEHOLDER}}
    return {**prefetched, "entry": [{**entry, "resource": _versioned(entry["resource"])}
                                    for entry in prefetched.get("entry", [])]}


@dataclass
class Run:
    """What one measurement saw.

    Attributes:
        latencies_ms: per request, in completion order.
        wall_s: elapsed time of the whole run.
        errors: non-200 answers or connection failures, with a short reason each.
        last_body: the last successful response body (for a sanity check).
    """

    latencies_ms: list[float]
    wall_s: float
    errors: list[str]
    last_body: bytes = b""

    def percentile(self, p: int) -> float:
        """The ``p``-th percentile latency, ms (inclusive method; NaN when nothing succeeded)."""
        if len(self.latencies_ms) < 2:
            return self.latencies_ms[0] if self.latencies_ms else float("nan")
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[p - 1]

    def merged(self, other: Run | None) -> Run:
        """This run and an earlier one of the same workload, as one (``other`` None: this)."""
        if other is None:
            return self
        return Run(other.latencies_ms + self.latencies_ms, other.wall_s + self.wall_s,
                   other.errors + self.errors, self.last_body or other.last_body)

    @property
    def throughput(self) -> float:
        """Successful requests per second over the run."""
        return len(self.latencies_ms) / self.wall_s if self.wall_s else 0.0


class Client:
    """One keep-alive connection, as an EHR's connection pool holds."""

    def __init__(self, base_url: str, headers: HeaderFactory | None = None) -> None:
        host, port = base_url.removeprefix("http://").split(":")
        self._base_url = base_url
        self._host, self._port = host, int(port)
        self._headers = headers
        self._connection: http.client.HTTPConnection | None = None

    def post(self, path: str, body: bytes) -> tuple[int, bytes, float]:
        """POST ``body``; returns status, response body and latency in ms."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._headers is not None:
            headers.update(self._headers(self._base_url + path))
        for attempt in (1, 2):  # the server may have closed an idle keep-alive connection
            if self._connection is None:
                self._connection = http.client.HTTPConnection(self._host, self._port, timeout=60)
                self._connection.connect()
                assert self._connection.sock is not None
                # A large body goes out after its headers, in a second write: no Nagle delay.
                self._connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            started = time.perf_counter()
            try:
                self._connection.request("POST", path, body, headers)
                response = self._connection.getresponse()
                data = response.read()
            except (http.client.HTTPException, ConnectionError):
                self.close()
                if attempt == 2:
                    raise
                continue
            elapsed = (time.perf_counter() - started) * 1000
            if response.getheader("Connection", "").lower() == "close":
                self.close()
            return response.status, data, elapsed
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close the connection."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def sequential(base_url: str, path: str, body: Body, *, requests: int, warmup: int,
               max_seconds: float, headers: HeaderFactory | None = None) -> Run:
    """One client, one request at a time: the latency a clinician sees on an idle service.

    Stops after ``requests`` requests, or earlier once ``max_seconds`` have passed.
    """
    client = Client(base_url, headers)
    errors: list[str] = []
    latencies: list[float] = []
    last = b""
    try:
        for _ in range(warmup):
            client.post(path, body.make())
        started = time.perf_counter()
        for _ in range(requests):
            if time.perf_counter() - started > max_seconds:
                break
            status, data, elapsed = client.post(path, body.make())
            if status == 200:
                latencies.append(elapsed)
                last = data
            else:
                errors.append(f"{status} {data[:200]!r}")
        wall = time.perf_counter() - started
    finally:
        client.close()
    return Run(latencies, wall, errors, last)


def concurrent(base_url: str, path: str, body: Body, *, clients: int, requests: int,
               warmup: int, max_seconds: float, headers: HeaderFactory | None = None) -> Run:
    """``clients`` clients in parallel, ``requests`` in all after ``warmup`` each: throughput.

    Stops issuing requests once ``max_seconds`` have passed.
    """
    lock = threading.Lock()
    remaining = [requests]
    latencies: list[float] = []
    errors: list[str] = []
    last: list[bytes] = [b""]
    started = [0.0]

    def start_clock() -> None:  # when the last client has warmed up, before any is released
        started[0] = time.perf_counter()

    ready = threading.Barrier(clients + 1, action=start_clock)

    def work() -> None:
        client = Client(base_url, headers)
        try:
            for _ in range(warmup):
                client.post(path, body.make())
        except OSError as exc:
            errors.append(f"warm-up: {exc}")
        ready.wait()
        try:
            while True:
                with lock:
                    if remaining[0] <= 0 or time.perf_counter() - started[0] > max_seconds:
                        break
                    remaining[0] -= 1
                payload = body.make()
                try:
                    status, data, elapsed = client.post(path, payload)
                except OSError as exc:
                    with lock:
                        errors.append(str(exc))
                    continue
                with lock:
                    if status == 200:
                        latencies.append(elapsed)
                        last[0] = data
                    else:
                        errors.append(f"{status} {data[:200]!r}")
        finally:
            client.close()

    threads = [threading.Thread(target=work, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    ready.wait()
    for thread in threads:
        thread.join()
    return Run(latencies, time.perf_counter() - started[0], errors, last[0])
