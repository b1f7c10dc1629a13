"""The card-ledger writer: rows written off the request path, every loss logged and counted.

contract.md: a ledger that cannot be written never costs the cards; the failure is logged and
counted. The writer must also never block a hook call, survive a failed batch, and keep working
in a forked worker.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Callable

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine
from sqlalchemy import select
from sqlalchemy.orm import Session

from cds_service.feedback.ledger import LedgerEntry
from cds_service.feedback.ledger import LedgerWriter
from cds_service.feedback.schema import CardIssued
from cds_service.feedback.schema import HookCallRecord
from cds_service.feedback.store import StoreUnavailable
from cds_service.feedback.store import hash_patient_id
from cds_service.feedback.store import make_sessionmaker

AT = dt.datetime(2026, 11, 22, 9, 0, tzinfo=dt.UTC)
SALT = "test-salt"
FAILURES = "cds_ledger_write_failures_total"


def entry(n: int, *, cards: int = 2, unreadable: tuple[str, ...] = ()) -> LedgerEntry:
    return LedgerEntry(
        service_id="sts-patient-view", hook_instance=f"call-{n}", patient_id=f"pt-{n % 3}",
        at=AT, cards=tuple((f"uuid-{n}-{i}", "sts-specialist-referral") for i in range(cards)),
        unreadable=unreadable,
    )


def written(engine: Engine) -> list[str]:
    """The hook calls that have cards in the ledger, sorted."""
    with Session(engine) as session:
        return sorted(session.scalars(select(CardIssued.hook_instance).distinct()).all())


def failures() -> float:
    return REGISTRY.get_sample_value(FAILURES) or 0.0


def test_queued_calls_land_in_the_ledger_with_hashed_patients_and_their_gaps(
    engine: Engine,
) -> None:
    writer = LedgerWriter(make_sessionmaker(engine), SALT)
    for n in range(50):
        writer.submit(entry(n, unreadable=("Observation/bad-1",) if n == 7 else ()))
    assert writer.flush()

    with Session(engine) as session:
        rows = session.execute(select(CardIssued.card_uuid, CardIssued.hook_instance,
                                      CardIssued.patient_hash)).all()
        calls = session.scalars(select(HookCallRecord)).all()
    assert len(rows) == 100
    assert ("uuid-7-1", "call-7", hash_patient_id(SALT, "pt-1")) in rows
    assert [(c.hook_instance, c.unreadable_resources) for c in calls] == [
        ("call-7", ["Observation/bad-1"])]
    writer.close()


def test_a_database_outage_is_logged_and_counted_per_call_and_the_writer_recovers(
    engine: Engine, caplog: pytest.LogCaptureFixture,
) -> None:
    down = threading.Event()
    down.set()
    sessions = make_sessionmaker(engine)

    def flaky() -> Session:
        if down.is_set():
            raise StoreUnavailable("connection refused")
        return sessions()

    writer = LedgerWriter(flaky, SALT)
    before = failures()
    writer.submit(entry(1))
    writer.submit(entry(2))
    assert writer.flush()
    assert failures() == before + 2
    lost = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("database unreachable hookInstance=call-1 cards=2" in m for m in lost)
    assert any("hookInstance=call-2" in m for m in lost)

    down.clear()
    writer.submit(entry(3))
    assert writer.flush()
    assert written(engine) == ["call-3"]
    writer.close()


def test_a_full_queue_never_blocks_a_call_and_the_overflow_is_counted(
    sqlite_engine: Engine, caplog: pytest.LogCaptureFixture,
) -> None:
    engine = sqlite_engine
    sessions = make_sessionmaker(engine)
    release = threading.Event()
    started = threading.Event()

    def stuck() -> Session:  # the database hangs on the first batch
        started.set()
        release.wait(30)
        return sessions()

    writer = LedgerWriter(stuck, SALT, max_pending=2)
    before = failures()
    writer.submit(entry(0))
    assert started.wait(10)  # the writer holds call 0 and hangs
    for n in range(1, 5):
        writer.submit(entry(n))  # calls 1 and 2 wait; 3 and 4 find the queue full
    assert failures() == before + 2
    assert "queue full) hookInstance=call-4" in caplog.text

    release.set()
    assert writer.flush()
    assert written(engine) == ["call-0", "call-1", "call-2"]
    writer.close()


def test_an_unexpected_error_costs_its_batch_only(
    sqlite_engine: Engine, caplog: pytest.LogCaptureFixture,
) -> None:
    engine = sqlite_engine
    sessions = make_sessionmaker(engine)
    calls: list[int] = []

    def broken_once() -> Session:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("bug")
        return sessions()

    writer = LedgerWriter(broken_once, SALT)
    before = failures()
    writer.submit(entry(1))
    assert writer.flush()
    writer.submit(entry(2))
    assert writer.flush()
    assert failures() == before + 1
    assert "card ledger writer failed on a batch" in caplog.text
    assert written(engine) == ["call-2"]
    writer.close()


def test_close_writes_what_is_pending(sqlite_engine: Engine) -> None:
    engine = sqlite_engine
    writer = LedgerWriter(make_sessionmaker(engine), SALT)
    for n in range(20):
        writer.submit(entry(n))
    writer.close()
    with Session(engine) as session:
        assert len(session.scalars(select(CardIssued.card_uuid)).all()) == 40


def _in_child(work: Callable[[], bool]) -> int:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            code = 0 if work() else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_worker_writes_with_its_own_thread(sqlite_engine: Engine) -> None:
    engine = sqlite_engine
    writer = LedgerWriter(make_sessionmaker(engine), SALT)
    writer.submit(entry(1))  # the parent's thread runs
    assert writer.flush()
    engine.dispose()  # as the gunicorn master does before forking

    def child() -> bool:
        writer.submit(entry(2))
        return writer.flush(timeout_s=10)

    assert _in_child(child) == 0
    assert written(engine) == ["call-1", "call-2"]
    writer.close()
