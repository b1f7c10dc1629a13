"""What reaches the disk when, and what a process may remember of the store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy import event
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text

from cds_service.feedback import replay
from cds_service.feedback.engine import durable_commit
from cds_service.feedback.replay import ReplayStore
from cds_service.feedback.schema import SeenToken
from cds_service.feedback.store import FeedbackStore
from cds_service.feedback.store import IssuedCard
from cds_service.feedback.store import create_schema
from cds_service.feedback.store import make_engine
from cds_service.feedback.store import make_sessionmaker
from cds_service.hooks.models import FeedbackItem

ITEM = FeedbackItem.model_validate(
    {"card": "c-1", "outcome": "overridden", "outcomeTimestamp": "2024-03-01T10:00:00Z"}
)
CARD = IssuedCard(card_uuid="c-1", service_id="s", recommendation_id="rec-a", hook_instance="h",
                  issued_at=dt.datetime(2024, 3, 1, tzinfo=dt.UTC), patient_hash="0" * 64)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    create_schema(engine)
    yield engine
    engine.dispose()


def _trace(engine: Engine) -> list[str]:
    """Every SQL statement SQLite runs from now on, as it runs them (PRAGMAs included)."""
    statements: list[str] = []
    event.listen(engine, "connect",
                 lambda dbapi, _record: dbapi.set_trace_callback(statements.append), insert=True)
    engine.dispose()  # so that every connection from now on is a traced one
    return statements


def _level_at_commit(statements: list[str], table: str) -> str:
    """The synchronous level set last before the write to ``table``."""
    write = next(i for i, s in enumerate(statements) if s.startswith(f"INSERT INTO {table}"))
    levels = [s.split("=")[1].strip() for s in statements[:write] if "PRAGMA synchronous =" in s]
    return levels[-1]


def test_ledger_commits_at_normal_and_feedback_at_full(engine: Engine) -> None:
    # A card-ledger row may be lost in a power cut (the cards were answered anyway); feedback
    # answered 200 may not, since the EHR will not send it again.
    statements = _trace(engine)
    with make_sessionmaker(engine)() as session:
        store = FeedbackStore(session)
        store.record_cards([CARD])
        assert _level_at_commit(statements, "card_ledger") == "NORMAL"
        assert store.add_feedback("s", [ITEM]) == 1
        assert _level_at_commit(statements, "feedback") == "FULL"
    # Back in the pool, the connection serves ledger writes at NORMAL again.
    assert statements[-1] == "PRAGMA synchronous = NORMAL"


def test_replay_entries_commit_at_full(engine: Engine) -> None:
    # A token id lost in a power cut could be replayed until the token expires.
    statements = _trace(engine)
    with make_sessionmaker(engine)() as session:
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
        assert ReplayStore(session).first_use("iss", "jti-1", expires)
    assert _level_at_commit(statements, "jwt_replay") == "FULL"


def test_durability_cannot_be_raised_after_a_write(engine: Engine) -> None:
    with make_sessionmaker(engine)() as session:
        session.execute(text("DELETE FROM feedback"))
        with pytest.raises(RuntimeError, match="before the transaction's first write"):
            durable_commit(session)


def test_durable_commit_leaves_postgresql_alone(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    try:
        create_schema(engine)
        with make_sessionmaker(engine)() as session:
            durable_commit(session)  # PostgreSQL's own synchronous_commit decides
            assert FeedbackStore(session).add_feedback("s", [ITEM]) == 1
    finally:
        engine.dispose()


def test_the_salt_is_read_once_per_process_and_database(tmp_path: Path, engine: Engine) -> None:
    statements = _trace(engine)
    with make_sessionmaker(engine)() as session:
        salt = FeedbackStore(session).ledger_salt(None)
    reads = len([s for s in statements if "install_settings" in s])
    with make_sessionmaker(engine)() as session:
        assert FeedbackStore(session).ledger_salt(None) == salt
    assert len([s for s in statements if "install_settings" in s]) == reads

    other = make_engine(f"sqlite:///{tmp_path / 'other.sqlite3'}")
    try:
        create_schema(other)
        with make_sessionmaker(other)() as session:
            assert FeedbackStore(session).ledger_salt(None) != salt  # another install
    finally:
        other.dispose()


def _expired_entries(engine: Engine) -> int:
    with make_sessionmaker(engine)() as session:
        query = select(func.count()).select_from(SeenToken).where(
            SeenToken.expires_at < dt.datetime.now(dt.UTC))
        count: int = session.scalar(query) or 0
        return count


def test_expired_replay_entries_are_purged_once_a_minute(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1_000.0]
    monkeypatch.setattr(replay.time, "monotonic", lambda: clock[0])
    now = dt.datetime.now(dt.UTC)
    past, future = now - dt.timedelta(seconds=1), now + dt.timedelta(minutes=5)
    with make_sessionmaker(engine)() as session:
        store = ReplayStore(session)
        assert store.first_use("iss", "old-1", past)
        assert store.first_use("iss", "old-2", past)
        assert _expired_entries(engine) == 2
        # Every answer stays the same in between: an expired entry never counts as a replay.
        assert store.first_use("iss", "old-1", future)
        assert not store.first_use("iss", "old-1", future)
        assert _expired_entries(engine) == 1
        clock[0] += replay.PURGE_INTERVAL_S
        assert store.first_use("iss", "new", future)
        assert _expired_entries(engine) == 0
