"""Hostile-client figures: ``.venv/bin/python -m bench.hostile`` (about 2 minutes).

Two measurements against ``cds-service serve`` on loopback with its defaults (CPU-count workers,
4 threads), printed as Markdown:

- **Slow uploads**: ``--slow`` connections (200) send a hook call's headers, then trickle its body
  at one byte a second for ``--hold`` seconds (30); meanwhile one client makes patient-view calls
  (20 resources) one after the other. Target: p50 <= 100 ms, none over 1 s.
- **Large records**: ``--clients`` clients (4) each post a patient-view call of about
  ``--record-mb`` MiB (30) ``--rounds`` times (3); each worker's resident set is sampled every
  50 ms. Growth at the peak (VmHWM less the idle resident set) against 5 x the body, the resident
  set 3 s after the last answer against idle, and whether two workers each holding a 32 MiB
  record fit the Kubernetes memory limit (deploy/kubernetes/deployment.yaml) with 25 % to spare.

``--quick`` holds the slow uploads 10 s and sends one round: to try the harness.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench import records
from bench.load import Body
from bench.load import Client
from bench.server import ServiceProcess
from bench.server import memory_of
from cds_service.hooks.prefetch import prefetch_from_bundle
from cds_service.hooks.services import PREFETCH

HERE = Path(__file__).resolve().parent
DEPLOYMENT = HERE.parent / "deploy" / "kubernetes" / "deployment.yaml"
PV = "/cds-services/sts-patient-view"


def _env(work: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CDS_")}
    env.update({"CDS_TODAY": records.TODAY.isoformat(),
                "CDS_DATABASE_URL": f"sqlite:///{work / 'hostile.sqlite3'}",
                "CDS_LOG_LEVEL": "WARNING"})
    return env


def _body(size: int) -> Body:
    prefetch = prefetch_from_bundle(PREFETCH, records.as_bundle(records.build_record(size)))
    return Body(records.patient_view_request(prefetch))


def _sized_body(megabytes: float) -> Body:
    """A patient-view call of about ``megabytes`` MiB (the bench record, grown to that size)."""
    per_resource = _body(1200).size / 1200
    return _body(int(megabytes * 1024 * 1024 / per_resource))


@dataclass
class SlowUploads:
    """Hook calls made while slow uploads were held open."""

    connections: int
    hold_s: float
    latencies_ms: list[float]
    errors: list[str]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")

    @property
    def over_1s(self) -> int:
        return sum(1 for value in self.latencies_ms if value > 1000)

    @property
    def passes(self) -> bool:
        return bool(self.latencies_ms) and self.p50 <= 100 and not self.over_1s

    def rows(self) -> list[list[str]]:
        what = (f"{self.connections} uploads at 1 byte/s held {self.hold_s:g} s: patient-view "
                "calls, 20 resources")
        if not self.latencies_ms:
            return [[what, f"no call answered ({len(self.errors)} errors)", "NOT met"]]
        p95 = (statistics.quantiles(self.latencies_ms, n=20)[-1]
               if len(self.latencies_ms) > 1 else self.latencies_ms[0])
        return [[what, f"{len(self.latencies_ms)} calls: p50 {self.p50:.1f} ms, p95 {p95:.1f} ms, "
                 f"max {max(self.latencies_ms):.0f} ms, {self.over_1s} over 1 s, "
                 f"{len(self.errors)} errors",
                 f"p50 <= 100 ms, none over 1 s: {'met' if self.passes else 'NOT met'}"]]


def slow_uploads(service: ServiceProcess, *, connections: int, hold_s: float) -> SlowUploads:
    """Hook-call latency while ``connections`` uploads trickle one byte a second."""
    small = _body(20)
    declared = hold_s * 4 + 100  # never complete within the hold
    head = (f"POST {PV} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {int(declared)}\r\n\r\n").encode()
    sockets: list[socket.socket] = []
    for _ in range(connections):
        sock = socket.create_connection(("127.0.0.1", service.port), timeout=5)
        sock.sendall(head + b"{")
        sockets.append(sock)
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(1.0):
            for sock in sockets:
                try:
                    sock.sendall(b" ")
                except OSError:
                    pass  # refused (timeout) or closed: it has stopped costing anything

    trickler = threading.Thread(target=trickle, daemon=True)
    trickler.start()
    client = Client(service.base_url)
    latencies: list[float] = []
    errors: list[str] = []
    started = time.monotonic()
    try:
        while time.monotonic() - started < hold_s:
            try:
                status, data, elapsed = client.post(PV, small.make())
            except OSError as exc:
                errors.append(str(exc))
                continue
            if status == 200:
                latencies.append(elapsed)
            else:
                errors.append(f"{status} {data[:120]!r}")
            time.sleep(0.05)
    finally:
        stop.set()
        trickler.join()
        client.close()
        for sock in sockets:
            sock.close()
    return SlowUploads(connections, hold_s, latencies, errors)


@dataclass
class LargeRecords:
    """Worker memory while several clients sent a large record."""

    clients: int
    rounds: int
    body_mib: float
    idle_mib: list[float]
    growth_mib: float
    kept_mib: float
    pod_mib: float
    limit_mib: float
    statuses: list[int]

    @property
    def growth_ratio(self) -> float:
        return self.growth_mib / self.body_mib

    @property
    def pod_share(self) -> float:
        return self.pod_mib / self.limit_mib

    def rows(self) -> list[list[str]]:
        answers = ", ".join(f"{self.statuses.count(s)} x {s}" for s in sorted(set(self.statuses)))
        return [
            [f"{self.clients} clients x {self.rounds} calls of a {self.body_mib:.1f} MiB record "
             f"({answers})",
             f"worker idle {min(self.idle_mib):.0f}–{max(self.idle_mib):.0f} MiB; growth at the "
             f"peak {self.growth_mib:.0f} MiB ({self.growth_ratio:.1f} x the body); kept 3 s "
             f"after the last answer: {self.kept_mib:.0f} MiB",
             f"growth <= 5 x the body: {'met' if self.growth_ratio <= 5 else 'NOT met'}"],
            ["two 32 MiB records at once, one per worker (2 workers and the master)",
             f"about {self.pod_mib:.0f} MiB of the {self.limit_mib:.0f} MiB limit "
             f"({self.pod_share:.0%})",
             f"<= 75 % of the limit: {'met' if self.pod_share <= 0.75 else 'NOT met'}"],
        ]


def _limit_mib() -> float:
    text = DEPLOYMENT.read_text(encoding="utf-8")
    found = re.search(r"limits:\s*\n(?:\s+\w+:.*\n)*?\s+memory:\s*(\d+)(Mi|Gi)", text)
    if not found:
        return float("nan")
    return float(found.group(1)) * (1024 if found.group(2) == "Gi" else 1)


def large_records(service: ServiceProcess, *, megabytes: float, clients: int,
                  rounds: int) -> LargeRecords:
    """Worker memory while ``clients`` clients post records of ``megabytes`` MiB."""
    body = _sized_body(megabytes)
    payloads = [body.make() for _ in range(clients)]
    body_mib = body.size / 1024 / 1024
    workers = service.workers()
    warm = Client(service.base_url)  # every worker's threads and pools in use once
    small = _body(1200)
    for _ in range(8 * len(workers)):
        warm.post(PV, small.make())
        warm.close()
    idle = {pid: m.current_mb for pid in workers if (m := memory_of(pid)) is not None}
    for pid in workers:  # VmHWM back to the resident set now (Linux: clear_refs 5)
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        except OSError:
            pass  # then the 50 ms samples give the peak
    peaks = dict(idle)
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            for pid in workers:
                m = memory_of(pid)
                if m is not None:
                    peaks[pid] = max(peaks[pid], m.current_mb, m.peak_mb)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    statuses: list[int] = []

    def post(payload: bytes) -> None:
        client = Client(service.base_url)
        try:
            for _ in range(rounds):
                status, _, _ = client.post(PV, payload)
                statuses.append(status)
        finally:
            client.close()

    posters = [threading.Thread(target=post, args=(p,)) for p in payloads]
    for thread in posters:
        thread.start()
    for thread in posters:
        thread.join()
    time.sleep(3)
    stop.set()
    sampler.join()
    after = {pid: m for pid in workers if (m := memory_of(pid)) is not None}
    growth = max(peaks[pid] - idle[pid] for pid in workers)
    kept = max(after[pid].current_mb - idle[pid] for pid in after)
    master = service.master_memory()
    limit = _limit_mib()
    # Two workers, each at its idle size plus the growth of one 32 MiB record, plus the master.
    per_32 = growth / body_mib * 32
    pod = 2 * (max(idle.values()) + per_32) + (master.current_mb if master else 0)
    return LargeRecords(clients, rounds, body_mib, list(idle.values()), growth, kept, pod,
                        limit, statuses)


def table(rows: list[list[str]]) -> str:
    """The rows as a Markdown table (measurement, figures, target)."""
    lines = ["| measurement | figures | target |", "|---|---|---|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run both measurements and print them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow", type=int, default=200, help="slow uploads (default 200)")
    parser.add_argument("--hold", type=float, default=30, help="seconds they last (30)")
    parser.add_argument("--record-mb", type=float, default=30, help="record size, MiB (30)")
    parser.add_argument("--clients", type=int, default=4, help="clients posting it (4)")
    parser.add_argument("--rounds", type=int, default=3, help="calls per client (3)")
    parser.add_argument("--quick", action="store_true", help="10 s of slow uploads, one round")
    parser.add_argument("--only", choices=("slow", "memory"), help="one measurement only")
    args = parser.parse_args(argv)
    if args.quick:
        args.hold, args.rounds = 10.0, 1
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="cds-hostile-") as tmp:
        work = Path(tmp)
        service = ServiceProcess(_env(work), work / "serve.log")
        with service:
            service.migrate()
            service.start()
            workers = len(service.workers())
            if args.only != "memory":
                rows += slow_uploads(service, connections=args.slow, hold_s=args.hold).rows()
            if args.only != "slow":
                rows += large_records(service, megabytes=args.record_mb, clients=args.clients,
                                      rounds=args.rounds).rows()
    sys.stdout.write(f"`cds-service serve` defaults: {workers} workers x 4 threads, loopback\n\n")
    sys.stdout.write(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

