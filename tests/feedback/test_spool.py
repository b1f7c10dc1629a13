"""The card-ledger spool: every answered card is committed, spooled and replayed, or logged and
counted (contract.md, "Partial data policy", "Accounted for").

A process's writer may hang on the database or the process may die before the writer commits:
the entry is in the process's spool segment from before the call answered, and a writer starting
in another process replays it. A spool that cannot be written costs the cards their guarantee,
and each such card is logged by uuid and counted.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine
from sqlalchemy import select
from sqlalchemy.orm import Session

from cds_service.feedback import spool as spool_module
from cds_service.feedback.ledger import LedgerEntry
from cds_service.feedback.ledger import LedgerWriter
from cds_service.feedback.schema import CardIssued
from cds_service.feedback.schema import HookCallRecord
from cds_service.feedback.spool import LedgerSpool
from cds_service.feedback.store import StoreUnavailable
from cds_service.feedback.store import make_sessionmaker
from cds_service.settings import Settings

AT = dt.datetime(2026, 11, 22, 9, 0, tzinfo=dt.UTC)
SALT = "test-salt"
NOT_SPOOLED = "cds_ledger_cards_not_spooled_total"


def entry(n: int, *, unreadable: tuple[str, ...] = ()) -> LedgerEntry:
    return LedgerEntry(
        service_id="sts-patient-view", hook_instance=f"call-{n}", patient_id=f"pt-{n}", at=AT,
        cards=((f"uuid-{n}-a", "sts-specialist-referral"), (f"uuid-{n}-b", "sts-imaging")),
        unreadable=unreadable, knowledge_version="1.1.0", knowledge_hash="sha256:0123abcd",
    )


def ledger_uuids(engine: Engine) -> set[str]:
    with Session(engine) as session:
        return set(session.scalars(select(CardIssued.card_uuid)).all())


def spooled_uuids(directory: Path) -> set[str]:
    text = "".join(path.read_text() for path in directory.glob("*.jsonl"))
    return {uuid for uuid in (f"uuid-{n}-{s}" for n in range(100) for s in "ab") if uuid in text}


_released = threading.Event()


def hung_sessions() -> Session:
    """A database that does not answer the writer (stuck, as on a hung connection) until the
    test ends, then refuses."""
    _released.wait()
    raise StoreUnavailable("hung")


@pytest.fixture(autouse=True)
def _release_hung_writers() -> Iterator[None]:
    _released.clear()
    yield
    _released.set()


def test_a_call_is_on_disk_before_submit_returns_even_when_the_database_hangs(
    tmp_path: Path,
) -> None:
    spool = tmp_path / "spool"
    writer = LedgerWriter(hung_sessions, SALT, spool=LedgerSpool(spool))
    started = time.monotonic()
    for n in range(5):
        writer.submit(entry(n))
    assert time.monotonic() - started < 5  # never waits for the hung database
    assert spooled_uuids(spool) == {f"uuid-{n}-{s}" for n in range(5) for s in "ab"}


def test_committed_entries_leave_the_spool(sqlite_engine: Engine, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    writer = LedgerWriter(make_sessionmaker(sqlite_engine), SALT, spool=LedgerSpool(spool))
    for n in range(10):
        writer.submit(entry(n))
    assert writer.flush()
    assert ledger_uuids(sqlite_engine) == {f"uuid-{n}-{s}" for n in range(10) for s in "ab"}
    assert spooled_uuids(spool) == set()  # emptied once committed
    writer.close()
    assert list(spool.glob("*.jsonl")) == []  # and gone when the process stops


def _killed_child(spool: Path, calls: range) -> None:
    """A worker that answers ``calls`` while its writer hangs, then is killed with SIGKILL."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            writer = LedgerWriter(hung_sessions, SALT, spool=LedgerSpool(spool))
            for n in calls:
                writer.submit(entry(n, unreadable=("Observation/bad",) if n == calls[0] else ()))
        finally:
            os.kill(os.getpid(), signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == -signal.SIGKILL


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_killed_process_cards_are_replayed_by_the_next_start(
    engine: Engine, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    _killed_child(spool, range(0, 6))
    _killed_child(spool, range(6, 9))
    assert len(list(spool.glob("*.jsonl"))) == 2
    assert ledger_uuids(engine) == set()  # the killed writers committed nothing

    writer = LedgerWriter(make_sessionmaker(engine), SALT, spool=LedgerSpool(spool))
    writer.start()  # as gunicorn's post_worker_init does
    expected = {f"uuid-{n}-{s}" for n in range(9) for s in "ab"}
    deadline = time.monotonic() + 30
    while ledger_uuids(engine) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ledger_uuids(engine) == expected
    deadline = time.monotonic() + 10
    while list(spool.glob("*.jsonl")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(spool.glob("*.jsonl")) == []  # replayed once, then deleted
    with Session(engine) as session:
        gaps = session.scalars(select(HookCallRecord.hook_instance)).all()
    assert sorted(gaps) == ["call-0", "call-6"]
    with Session(engine) as session:
        # a replayed card names the knowledge that produced it, as a committed one does
        stamps = set(session.execute(select(CardIssued.knowledge_version,
                                            CardIssued.knowledge_hash)).all())
    assert stamps == {("1.1.0", "sha256:0123abcd")}
    writer.close()


def test_a_live_process_spool_is_never_replayed_and_a_replay_adds_no_duplicate(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    sessions = make_sessionmaker(sqlite_engine)
    live = LedgerSpool(spool)
    live.append(entry(1))
    assert list(LedgerSpool(spool).orphans()) == []  # its owner holds the lock

    # The owner committed the call (with its gap) but stopped before emptying its segment.
    committed = LedgerWriter(sessions, SALT)
    committed.submit(entry(1, unreadable=("Observation/bad",)))
    assert committed.flush()
    live.append(entry(1, unreadable=("Observation/bad",)))
    live.close()  # uncommitted as far as this spool knows: the file stays for replay

    writer = LedgerWriter(sessions, SALT, spool=LedgerSpool(spool))
    writer.start()
    deadline = time.monotonic() + 10
    while list(spool.glob("*.jsonl")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(spool.glob("*.jsonl")) == []
    assert ledger_uuids(sqlite_engine) == {"uuid-1-a", "uuid-1-b"}
    with Session(sqlite_engine) as session:
        assert len(session.scalars(select(HookCallRecord.id)).all()) == 1
    writer.close()
    committed.close()


def test_a_card_that_cannot_be_spooled_is_logged_by_uuid_and_counted(
    sqlite_engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the spool directory should be")
    writer = LedgerWriter(hung_sessions, SALT, spool=LedgerSpool(blocked / "spool"))
    before = REGISTRY.get_sample_value(NOT_SPOOLED) or 0.0
    writer.submit(entry(7))
    assert REGISTRY.get_sample_value(NOT_SPOOLED) == before + 2
    assert "uuid-7-a" in caplog.text
    assert "uuid-7-b" in caplog.text


def test_a_busy_worker_spool_rotates_and_committed_segments_are_deleted(
    sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spool_module, "SEGMENT_BYTES", 1000)  # a few calls a segment
    spool = tmp_path / "spool"
    release = threading.Event()
    sessions = make_sessionmaker(sqlite_engine)

    def slow() -> Session:  # the writer is behind while the calls come
        release.wait(30)
        return sessions()

    writer = LedgerWriter(slow, SALT, spool=LedgerSpool(spool))
    for n in range(20):
        writer.submit(entry(n))
    assert len(list(spool.glob("*.jsonl"))) >= 3  # rotated while nothing was committed
    assert spooled_uuids(spool) == {f"uuid-{n}-{s}" for n in range(20) for s in "ab"}
    release.set()
    assert writer.flush()
    assert ledger_uuids(sqlite_engine) == {f"uuid-{n}-{s}" for n in range(20) for s in "ab"}
    assert spooled_uuids(spool) == set()
    assert len(list(spool.glob("*.jsonl"))) <= 1  # at most the current one, emptied
    writer.close()


def test_the_default_spool_is_local_to_its_database() -> None:
    # Beside a SQLite file; for a server database, a directory of its own per database URL, so
    # that no spool is replayed into another install's ledger; none for an in-memory database.
    def where(url: str) -> Path | None:
        return Settings(database_url=url, ledger_spool_dir=None).ledger_spool_directory

    assert where("sqlite:////srv/cds/var/cds.sqlite3") == Path("/srv/cds/var/ledger-spool")
    assert where("sqlite://") is None
    assert where("sqlite:///:memory:") is None
    prod = where("postgresql+psycopg://cds:secret@db:5432/cds")
    test = where("postgresql+psycopg://cds:secret@db:5432/cds_test")
    assert prod is not None and test is not None and prod != test
    assert prod.parent == Path(tempfile.gettempdir())
    assert "secret" not in str(prod)
    assert where("postgresql+psycopg://cds:other@db:5432/cds") == prod  # a new password
