"""What the card-ledger spool costs a hook call: ``LedgerWriter.submit`` with and without it.

A hook call's only ledger work on the request path is ``submit``: queue the entry and, with the
spool (contract.md, "Accounted for"), append it as one JSON line to the worker's spool file. The
writer thread commits in the background as in the service. Each variant submits the same entries
(nine cards, as the benchmark's patient-view call returns) to its own SQLite store; the figures
are microseconds per call. The whole call (``ServiceRegistry.call``, in-process table) and every
HTTP figure already include the spool, since the service always runs with it.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from cds_service.feedback.ledger import LedgerEntry
from cds_service.feedback.ledger import LedgerWriter
from cds_service.feedback.spool import LedgerSpool
from cds_service.feedback.store import create_schema
from cds_service.feedback.store import make_engine
from cds_service.feedback.store import make_sessionmaker

CARDS_PER_CALL = 9
"""Cards of the benchmark's patient-view call."""


@dataclass(frozen=True)
class SubmitCost:
    """``submit`` durations of one variant, microseconds per call.

    Attributes:
        variant: ``spool`` or ``no spool``.
        calls: how many calls were submitted.
        p50_us: median.
        p99_us: 99th percentile.
        committed_s: time from the first submit until every entry was committed.
    """

    variant: str
    calls: int
    p50_us: float
    p99_us: float
    committed_s: float


def _entry(n: int) -> LedgerEntry:
    return LedgerEntry(
        service_id="sts-patient-view", hook_instance=f"bench-{n:08d}-{'x' * 27}",
        patient_id="bench-patient", at=dt.datetime.now(dt.UTC),
        cards=tuple((f"{n:08x}-0000-4000-8000-{i:012x}", "sts-specialist-referral")
                    for i in range(CARDS_PER_CALL)),
    )


def measure(work: Path, calls: int) -> list[SubmitCost]:
    """Submit ``calls`` entries without, then with the spool; return both costs."""
    results = []
    for variant in ("no spool", "spool"):
        folder = work / f"ledger-{variant.replace(' ', '-')}"
        engine = make_engine(f"sqlite:///{folder / 'store.sqlite3'}")
        create_schema(engine)
        spool = LedgerSpool(folder / "spool") if variant == "spool" else None
        writer = LedgerWriter(make_sessionmaker(engine), "bench-salt", spool=spool)
        writer.start()
        entries = [_entry(n) for n in range(calls)]
        durations = []
        started = time.perf_counter()
        for entry in entries:
            before = time.perf_counter()
            writer.submit(entry)
            durations.append((time.perf_counter() - before) * 1e6)
        if not writer.flush(timeout_s=120):
            raise SystemExit(f"ledger cost ({variant}): entries not committed in 120 s")
        committed = time.perf_counter() - started
        writer.close()
        engine.dispose()
        durations.sort()
        results.append(SubmitCost(variant, calls, statistics.median(durations),
                                  durations[min(len(durations) - 1, int(len(durations) * 0.99))],
                                  committed))
    return results


if __name__ == "__main__":  # a quick look: python -m bench.ledger_cost
    import tempfile

    with tempfile.TemporaryDirectory(prefix="cds-bench-ledger-") as tmp:
        for cost in measure(Path(tmp), 2000):
            print(f"{cost.variant:>9}: {cost.calls} calls, submit p50 {cost.p50_us:.1f} us, "
                  f"p99 {cost.p99_us:.1f} us, all committed after {cost.committed_s:.2f} s")
