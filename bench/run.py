"""Run every benchmark and rewrite ``bench/RESULTS.md``: ``.venv/bin/python -m bench.run``.

Steps: build the synthetic records and check them (R4B-valid, same cards at every size); time
each pipeline stage in process; profile the 1,200-resource patient-view call; then, against
``cds-service serve`` on loopback with its default workers, measure sequential latency, throughput
with 8 clients, the fhirServer path through a FHIR stub that answers after 50 ms, and each
worker's peak memory; then the same with JWT verification on; finally, against a service of
their own, hook calls under 200 slow uploads and memory with a 30 MiB record (bench/hostile.py).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC
from datetime import datetime
from pathlib import Path

import cds_service
from bench import hostile
from bench import ledger_cost
from bench import pyspy
from bench import records
from bench.fhir_stub import FhirStub
from bench.inprocess import make_app
from bench.inprocess import profile_call
from bench.inprocess import time_stages
from bench.jwt_tokens import TokenSigner
from bench.load import Body
from bench.load import Client
from bench.load import HeaderFactory
from bench.load import Run
from bench.load import concurrent
from bench.load import sequential
from bench.records import ORDER_SIGN_CARDS
from bench.records import PATIENT_VIEW_CARDS
from bench.records import SIZES
from bench.records import JsonObject
from bench.report import Results
from bench.report import Target
from bench.report import render
from bench.server import ServerDidNotStart
from bench.server import ServiceProcess
from cds_service.fhir.parse import resource_problems
from cds_service.hooks.prefetch import prefetch_from_bundle
from cds_service.hooks.services import PREFETCH
from cds_service.state import service_state

HERE = Path(__file__).resolve().parent
COMMAND = ".venv/bin/python -m bench.run"
PV, OS = "sts-patient-view", "sts-order-sign"
FIRST_SIGHT = "first sight"
"""Key of the patient-view bodies whose resources are new JSON on every request (see Body)."""
EXPECTED = {PV: PATIENT_VIEW_CARDS, OS: ORDER_SIGN_CARDS}
FHIR_DELAY_S = 0.050
CLIENTS = 8

# Requests per measurement (each also stops after its time cap, in seconds).
STAGE_RUNS = {20: 30, 200: 20, 1200: 10, 5000: 3}
SEQUENTIAL = {20: 200, 200: 100, 1200: 50, 5000: 12}
SEQUENTIAL_CAP_S = 6.0
ROUNDS = 3
"""Sequential measurements are taken in this many rounds, each workload's requests spread over
them and pooled: a few seconds in which the machine is slower then weigh on every row a little
instead of on one row entirely."""
CONCURRENT = {20: 800, 1200: 120}
CONCURRENT_CAP_S = 10.0
SETTLE_S = 1.0
"""Pause before each throughput measurement. The clients' keep-alive connections stay with the
worker that accepted them, and under the former ``gthread`` worker a worker still busy with the
previous measurement's last large call lost every accept race: all eight connections then landed
on the other worker, which ran alone on one core (seen: half the throughput, the machine 40 %
idle). Kept under the asyncio worker so that runs remain comparable."""
FHIR_PATH = {20: 60, 1200: 30}
FHIR_PATH_CAP_S = 6.0
FIRST_SIGHT_SEQUENTIAL = {20: 200, 1200: 50}
FIRST_SIGHT_CONCURRENT = {20: 800}
JWT_SEQUENTIAL = {20: 200, 1200: 50}
JWT_CONCURRENT = {20: 800}
LIVE_PROFILE_SIZES = (20, 1200)
LIVE_PROFILE_S = 6.0
HOSTILE_SLOW, HOSTILE_HOLD_S = 200, 30.0
"""Slow uploads held open (one byte a second) while hook calls are timed, and for how long."""
HOSTILE_RECORD_MB, HOSTILE_CLIENTS, HOSTILE_ROUNDS = 30.0, 4, 3
"""The large record (MiB), the clients sending it at once, and how often each sends it."""

log = logging.getLogger("bench")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks and write the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a fifth of the requests (to try the harness; figures are noisier)")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md",
                        help="where to write the results (default bench/RESULTS.md)")
    args = parser.parse_args(argv)
    scale = 0.2 if args.quick else 1.0
    _console_log()
    for key in [k for k in os.environ if k.startswith("CDS_")]:
        os.environ.pop(key)  # the service must see only the settings this run gives it
    started = time.monotonic()
    results = Results()
    results.machine = _machine()
    with tempfile.TemporaryDirectory(prefix="cds-bench-") as tmp:
        work = Path(tmp)
        bodies, all_records = _build_records(results)
        # The records and bodies (tens of MiB of objects) stay alive for the whole run: out of
        # the collector's sight, they cannot pause the load generator or the FHIR stub.
        gc.collect()
        gc.freeze()
        _in_process(results, work, bodies, scale)
        log.info("card-ledger submit with and without the spool")
        results.ledger_cost = ledger_cost.measure(work, max(500, round(5000 * scale)))
        _over_http(results, work, bodies, all_records, scale, jwt=False)
        _over_http(results, work, bodies, all_records, scale, jwt=True)
        _hostile(results, work, scale)
    results.machine["load average at the end"] = _load_average(before=False)
    if _code_state() != results.machine["code"]:
        results.warnings.append("cds_service/ changed while the benchmark ran: the figures mix "
                                "two versions of the code; rerun")
    results.targets = _targets(results)
    findings = HERE / "FINDINGS.md"
    results.findings = findings.read_text(encoding="utf-8") if findings.exists() else ""
    results.elapsed_s = time.monotonic() - started
    command = COMMAND + (" --quick" if args.quick else "")
    args.output.write_text(render(results, command), encoding="utf-8")
    log.info("wrote %s in %.0f s", args.output, results.elapsed_s)
    for target in results.targets:
        log.info("%-52s %-10s %s", target.name, target.goal,
                 "n/a" if target.off is None else f"{target.off:.1f} {target.unit}")
    return 0


def _console_log() -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("bench: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def _build_records(
    results: Results,
) -> tuple[dict[tuple[int, str], Body], dict[int, list[JsonObject]]]:
    log.info("building records %s", ", ".join(map(str, SIZES)))
    all_records = {size: records.build_record(size) for size in SIZES}
    largest = all_records[max(SIZES)]
    sample = largest[:16] + largest[16::25]
    invalid = [f"{r['resourceType']}/{r['id']}" for r in sample if resource_problems(r)]
    if invalid:
        raise SystemExit(f"bench records are not valid R4 (R4B models): {invalid[:5]}")
    log.info("validated %d sampled resources with the R4B models: all valid", len(sample))
    prefetches = {size: prefetch_from_bundle(PREFETCH, records.as_bundle(resources))
                  for size, resources in all_records.items()}
    bodies = {}
    for size, prefetch in prefetches.items():
        bodies[(size, PV)] = Body(records.patient_view_request(prefetch))
        bodies[(size, OS)] = Body(records.order_sign_request(prefetch))
        if size in FIRST_SIGHT_SEQUENTIAL:
            bodies[(size, FIRST_SIGHT)] = Body(records.patient_view_request(prefetch),
                                               fresh_resources=True)
    results.conditions.append(
        f"records validated: {len(sample)} sampled resources (the 16 of the core and every 25th "
        "of the rest) pass the fhir.resources R4B models")
    return bodies, all_records


def _in_process(results: Results, work: Path, bodies: dict[tuple[int, str], Body],
                scale: float) -> None:
    app = make_app(work / "inprocess.sqlite3", records.TODAY)
    _quiet_logs(work / "inprocess.log")
    for size in SIZES:
        for service in (PV, OS):
            body = bodies[(size, service)].make()
            runs = max(2, round(STAGE_RUNS[size] * scale))
            log.info("in process: %s, %d resources, %d runs", service, size, runs)
            times = time_stages(app, service, body, runs)
            if times.cards != EXPECTED[service]:
                raise SystemExit(f"{service} on {size} resources gave {times.cards}, "
                                 f"expected {EXPECTED[service]}")
            results.stages[(size, service)] = times
    for size in SIZES:
        pv, os_ = results.stages[(size, PV)], results.stages[(size, OS)]
        resources = records.build_record(size)
        types: dict[str, int] = {}
        for resource in resources:
            types[resource["resourceType"]] = types.get(resource["resourceType"], 0) + 1
        results.records.append({
            "size": size, "bytes": bodies[(size, PV)].size,
            "types": ", ".join(f"{k} {v}" for k, v in sorted(types.items(), key=lambda i: -i[1])),
            "decoded": str(pv.selected[1]), "selected": f"{pv.selected[0]} of {len(resources)}",
            "pv_cards": len(pv.cards), "os_cards": len(os_.cards),
        })
    try:
        log.info("profiling patient-view on 1,200 resources (pyinstrument)")
        per_call, spots = profile_call(app, PV, bodies[(1200, PV)].make(),
                                       runs=max(3, round(10 * scale)))
        results.profile_ms, results.hot_spots = per_call, spots
    except ImportError:
        results.profile_note = ("pyinstrument is not installed: `.venv/bin/pip install -e "
                                "'.[bench]'` and rerun.")
    service_state(app).engine.dispose()


def _quiet_logs(path: Path) -> None:
    # The service logs one line per call: keep that cost, but write the lines to a file.
    root = logging.getLogger()
    handler = logging.FileHandler(path)
    for old in list(root.handlers):
        handler.setFormatter(old.formatter)
        root.removeHandler(old)
    root.addHandler(handler)


def _hostile(results: Results, work: Path, scale: float) -> None:
    """Slow uploads and large records (bench/hostile.py), against a service of their own."""
    service = ServiceProcess(_service_env(work, "hostile", None), work / "hostile.log")
    with service:
        service.migrate()
        service.start()
        hold = HOSTILE_HOLD_S if scale == 1.0 else HOSTILE_HOLD_S / 3
        log.info("slow uploads: %d connections held %g s", HOSTILE_SLOW, hold)
        slow = hostile.slow_uploads(service, connections=HOSTILE_SLOW, hold_s=hold)
        rounds = HOSTILE_ROUNDS if scale == 1.0 else 1
        log.info("large records: %d clients x %d calls of %g MiB", HOSTILE_CLIENTS, rounds,
                 HOSTILE_RECORD_MB)
        large = hostile.large_records(service, megabytes=HOSTILE_RECORD_MB,
                                      clients=HOSTILE_CLIENTS, rounds=rounds)
    results.slow_uploads, results.large_records = slow, large
    results.hostile = slow.rows() + large.rows()


def _service_env(work: Path, name: str, trusted_issuers: str | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CDS_")}
    env.update({
        "CDS_TODAY": records.TODAY.isoformat(),
        "CDS_DATABASE_URL": f"sqlite:///{work / (name + '.sqlite3')}",
    })
    if trusted_issuers is not None:
        env["CDS_TRUSTED_ISSUERS"] = trusted_issuers
    return env


def _over_http(results: Results, work: Path, bodies: dict[tuple[int, str], Body],
               all_records: dict[int, list[JsonObject]], scale: float, *, jwt: bool) -> None:
    signer = None
    if jwt:
        try:
            signer = TokenSigner()
        except ImportError as exc:
            results.jwt_note = f"JWT-on figures: not available yet ({exc})."
            return
    name = "serve-jwt" if jwt else "serve"
    env = _service_env(work, name, signer.trusted_issuers() if signer else None)
    service = ServiceProcess(env, work / f"{name}.log")
    try:
        service.migrate()
        service.start()
    except ServerDidNotStart as exc:
        if not jwt:
            raise
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "it did not start"
        results.jwt_note = ("JWT-on figures: not available yet — the service does not start "
                            f"with `CDS_TRUSTED_ISSUERS` set ({reason}).")
        return
    headers = signer.headers if signer else None
    workers = len(service.workers())
    if signer is not None:
        probe = Client(service.base_url)
        status, _, _ = probe.post(f"/cds-services/{PV}", bodies[(20, PV)].make())
        probe.close()
        if status != 401:
            results.warnings.append(f"JWT on, but a request without a token got {status}, not 401")
    if not jwt:
        results.conditions.insert(0, (
            f"`cds-service serve` defaults: {workers} gunicorn workers (CPU count) x 4 "
            "threads, card ledger on, SQLite in a temporary directory (migrated first with "
            "`cds-service migrate`, as a restarted service finds it), INFO logging to a file, "
            f"`CDS_TODAY={records.TODAY}`; JWT verification off unless a row says on"))
        results.conditions.append(
            f"load generator: this machine, Python threads, one keep-alive `http.client` "
            f"connection per client, a fresh `hookInstance` per request; {CLIENTS} clients for "
            "throughput")
    try:
        with service:
            _warm_up(service.base_url, bodies, headers, jwt=jwt)
            plan = JWT_SEQUENTIAL if jwt else SEQUENTIAL
            hooks = (PV,) if jwt else (PV, OS)
            for round_ in range(ROUNDS):
                for size in (s for s in SIZES if s in plan):
                    for hook in hooks:
                        log.info("HTTP sequential, round %d of %d: %s, %d resources, JWT %s",
                                 round_ + 1, ROUNDS, hook, size, "on" if jwt else "off")
                        run = sequential(service.base_url, f"/cds-services/{hook}",
                                         bodies[(size, hook)],
                                         requests=_per_round(plan[size], scale), warmup=3,
                                         max_seconds=SEQUENTIAL_CAP_S / ROUNDS, headers=headers)
                        key = (size, hook, jwt)
                        results.sequential[key] = _checked(run, hook, results).merged(
                            results.sequential.get(key))
            plan = JWT_CONCURRENT if jwt else CONCURRENT
            for size in plan:
                for hook in hooks:
                    log.info("HTTP %d clients: %s, %d resources, JWT %s", CLIENTS, hook, size,
                             "on" if jwt else "off")
                    time.sleep(SETTLE_S)
                    run = concurrent(service.base_url, f"/cds-services/{hook}",
                                     bodies[(size, hook)], clients=CLIENTS,
                                     requests=max(CLIENTS, round(plan[size] * scale)),
                                     warmup=1, max_seconds=CONCURRENT_CAP_S, headers=headers)
                    results.concurrent[(size, hook, jwt)] = _checked(run, hook, results)
            if not jwt:
                _first_sight(results, service.base_url, bodies, scale)
                _fhir_path(results, service.base_url, all_records, scale)
                _live_profiles(results, service, bodies, work)
                results.memory = [(f"worker {i + 1}", m)
                                  for i, m in enumerate(service.worker_memory())]
                master = service.master_memory()
                if master is not None:
                    results.memory.append(("gunicorn master", master))
    finally:
        log.info("service log tail (%s):\n%s", name, service.log_tail(3))


def _per_round(requests: int, scale: float) -> int:
    return max(2, round(requests * scale / ROUNDS))


def _first_sight(results: Results, base_url: str, bodies: dict[tuple[int, str], Body],
                 scale: float) -> None:
    for round_ in range(ROUNDS):
        for size, count in FIRST_SIGHT_SEQUENTIAL.items():
            log.info("HTTP sequential, first sight, round %d of %d: patient-view, %d resources",
                     round_ + 1, ROUNDS, size)
            run = sequential(base_url, f"/cds-services/{PV}", bodies[(size, FIRST_SIGHT)],
                             requests=_per_round(count, scale), warmup=3,
                             max_seconds=SEQUENTIAL_CAP_S / ROUNDS)
            results.first_sight_sequential[size] = _checked(run, PV, results).merged(
                results.first_sight_sequential.get(size))
    for size, count in FIRST_SIGHT_CONCURRENT.items():
        log.info("HTTP %d clients, first sight: patient-view, %d resources", CLIENTS, size)
        time.sleep(SETTLE_S)
        run = concurrent(base_url, f"/cds-services/{PV}", bodies[(size, FIRST_SIGHT)],
                         clients=CLIENTS, requests=max(CLIENTS, round(count * scale)),
                         warmup=1, max_seconds=CONCURRENT_CAP_S)
        results.first_sight_concurrent[size] = _checked(run, PV, results)


def _warm_up(base_url: str, bodies: dict[tuple[int, str], Body],
             headers: HeaderFactory | None, *, jwt: bool) -> None:
    log.info("warming up every worker on every record size")
    for size in SIZES:
        for hook in (PV, OS):
            count = 2 if size == 5000 else CLIENTS
            concurrent(base_url, f"/cds-services/{hook}", bodies[(size, hook)],
                       clients=min(count, CLIENTS), requests=count, warmup=0,
                       max_seconds=30, headers=headers)


def _checked(run: Run, hook: str, results: Results) -> Run:
    if run.errors:
        results.warnings.append(f"{hook}: {len(run.errors)} failed requests, first: "
                                f"{run.errors[0][:160]}")
    elif run.last_body:
        cards = tuple(c["source"]["topic"]["code"] for c in json.loads(run.last_body)["cards"])
        if cards != EXPECTED[hook]:
            results.warnings.append(f"{hook} over HTTP gave {cards}, expected {EXPECTED[hook]}")
    return run


def _fhir_path(results: Results, base_url: str, all_records: dict[int, list[JsonObject]],
               scale: float) -> None:
    stub = FhirStub(FHIR_DELAY_S).start()
    request = records.patient_view_request(None, fhir_server=stub.url)
    request["fhirAuthorization"] = {"access_token": "bench-opaque-token", "token_type": "Bearer",
                                    "expires_in": 300, "scope": "patient/*.read",
                                    "subject": "cds-service"}
    body = Body(request)
    runs: dict[int, Run] = {}
    fhir_requests: dict[int, int] = dict.fromkeys(FHIR_PATH, 0)
    peaks: dict[int, int] = dict.fromkeys(FHIR_PATH, 0)
    try:
        for round_ in range(ROUNDS):
            for size, count in FHIR_PATH.items():
                stub.load(records.PATIENT_ID, all_records[size])
                log.info("fhirServer path, round %d of %d: patient-view, %d resources, %.0f ms "
                         "per FHIR request", round_ + 1, ROUNDS, size, FHIR_DELAY_S * 1000)
                sequential(base_url, f"/cds-services/{PV}", body, requests=3, warmup=0,
                           max_seconds=30)
                stub.reset_counters()
                run = sequential(base_url, f"/cds-services/{PV}", body,
                                 requests=_per_round(count, scale), warmup=0,
                                 max_seconds=FHIR_PATH_CAP_S / ROUNDS)
                runs[size] = _checked(run, PV, results).merged(runs.get(size))
                fhir_requests[size] += stub.requests
                peaks[size] = max(peaks[size], stub.peak_in_flight)
        for size, run in runs.items():
            calls = len(run.latencies_ms) + len(run.errors)
            results.fhir_path[size] = (run, fhir_requests[size] / calls if calls
                                       else float("nan"), peaks[size])
    finally:
        stub.stop()


def _live_profiles(results: Results, service: ServiceProcess,
                   bodies: dict[tuple[int, str], Body], work: Path) -> None:
    if pyspy.executable() is None:
        results.live_profile_note = ("py-spy is not installed (`.venv/bin/pip install -e "
                                     "'.[bench]'`): no profile of the live workers.")
        return
    for size in LIVE_PROFILE_SIZES:
        label = f"{CLIENTS} clients, patient-view, {size:,} resources"
        log.info("py-spy: %s", label)

        def load(size: int = size) -> None:
            concurrent(service.base_url, f"/cds-services/{PV}", bodies[(size, PV)],
                       clients=CLIENTS, requests=100_000, warmup=0,
                       max_seconds=LIVE_PROFILE_S)

        try:
            lines = pyspy.record(service.workers(), LIVE_PROFILE_S, work, load)
        except RuntimeError as exc:
            results.live_profile_note = f"py-spy could not sample the workers here: {exc}."
            return
        results.live_profiles[label] = pyspy.hot_spots(lines)


def _targets(results: Results) -> list[Target]:
    def p50(size: int, jwt: bool) -> float | None:
        run = results.sequential.get((size, PV, jwt))
        return run.percentile(50) if run and run.latencies_ms else None

    def rate(size: int, jwt: bool) -> float | None:
        run = results.concurrent.get((size, PV, jwt))
        return run.throughput if run and run.latencies_ms else None

    def first_p50(size: int) -> float | None:
        run = results.first_sight_sequential.get(size)
        return run.percentile(50) if run and run.latencies_ms else None

    def first_rate(size: int) -> float | None:
        run = results.first_sight_concurrent.get(size)
        return run.throughput if run and run.latencies_ms else None

    def jwt_value(value: float | None) -> float | str | None:
        return value if value is not None else ("not available yet" if results.jwt_note
                                                else None)

    def at_most(value: float | None, goal: float) -> bool | None:
        return None if value is None else value <= goal

    fhir = results.fhir_path.get(1200)
    fhir_p50 = fhir[0].percentile(50) if fhir and fhir[0].latencies_ms else None
    large, medium = p50(5000, False), p50(1200, False)
    ratio = large / medium if large and medium else None
    peak = max((m.peak_mb for name, m in results.memory if name.startswith("worker")),
               default=None)
    return [
        Target("patient-view, 1,200 resources in prefetch, HTTP p50", "≤ 30 ms",
               p50(1200, False), jwt_value(p50(1200, True)), "ms",
               at_most(p50(1200, False), 30), first_p50(1200)),
        Target("patient-view, 20 resources, HTTP p50", "≤ 5 ms", p50(20, False),
               jwt_value(p50(20, True)), "ms", at_most(p50(20, False), 5), first_p50(20)),
        Target(f"throughput, patient-view, 20 resources, {CLIENTS} clients", "≥ 300 req/s",
               rate(20, False), jwt_value(rate(20, True)), "req/s",
               None if rate(20, False) is None else (rate(20, False) or 0) >= 300,
               first_rate(20)),
        Target("fhirServer path, 1,200 resources, 50 ms FHIR latency, p50", "≤ 80 ms",
               fhir_p50, None, "ms", at_most(fhir_p50, 80)),
        Target("patient-view p50, 5,000 resources vs 1,200", "≤ 5×", ratio, None, "×",
               at_most(ratio, 5)),
        Target("peak RSS per worker (largest)", "≤ 150 MB", peak, None, "MiB",
               at_most(peak, 150)),
        *_hostile_targets(results),
    ]


def _hostile_targets(results: Results) -> list[Target]:
    slow, large = results.slow_uploads, results.large_records
    targets = []
    if slow is not None:
        p50 = slow.p50 if slow.latencies_ms else None
        targets.append(Target(f"patient-view p50 under {slow.connections} slow uploads "
                              "(none over 1 s)", "≤ 100 ms", p50, None, "ms",
                              None if p50 is None else slow.passes))
    if large is not None:
        targets += [
            Target(f"worker growth, {large.clients} clients sending a "
                   f"{large.body_mib:.0f} MiB record", "≤ 5× the body", large.growth_ratio,
                   None, "×", large.growth_ratio <= 5),
            Target("two 32 MiB records at once, share of the Kubernetes memory limit",
                   "≤ 75 %", large.pod_share * 100, None, "%", large.pod_share <= 0.75),
        ]
    return targets


def _machine() -> dict[str, str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = "unknown"
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "CPU": f"{os.cpu_count()} × {cpu}",
        "memory": memory,
        "system": f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
        "code": _code_state(),
        "load average at the start": _load_average(before=True),
    }


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True,
                          cwd=records.ROOT).stdout.strip()


def _code_state() -> str:
    """The commit and a digest of uncommitted changes to ``cds_service/`` (to notice edits).

    When ``PYTHONPATH`` makes ``cds_service`` come from another tree (an export of one commit,
    to measure it while the working tree changes), that tree and its ``REVISION`` file are named.
    """
    source = Path(cds_service.__file__).resolve().parent.parent
    if source != records.ROOT:
        marker = source / "REVISION"
        revision = marker.read_text().strip() if marker.exists() else "unknown revision"
        return f"cds_service imported from {source} ({revision})"
    try:
        head = _git("rev-parse", "--short", "HEAD")
        changes = _git("diff", "HEAD", "--", "cds_service") + _git(
            "ls-files", "--others", "--exclude-standard", "--", "cds_service")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    if not changes:
        return f"git {head}"
    digest = hashlib.sha256(changes.encode()).hexdigest()[:8]
    return f"git {head} with uncommitted changes in cds_service/ (digest {digest})"


def _load_average(*, before: bool) -> str:
    one, five, fifteen = os.getloadavg()
    # At the end the run's own processes are in the averages; only the start says anything
    # about other work on the machine.
    note = (" (other work was running: figures are pessimistic)" if before and one > 0.8
            else " (includes this run's own load)" if not before else "")
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min){note}"


if __name__ == "__main__":
    sys.exit(main())
