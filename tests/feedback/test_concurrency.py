"""Several processes migrating and writing one store at once lose nothing (gunicorn workers).

Each process is spawned (a fresh interpreter, as a gunicorn worker or another replica is) and races
the others: first to migrate the empty database, then to store feedback batches that partly repeat
the other processes' items (cds-hooks.md FB9: feedback may repeat, handling is idempotent).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.managers import SyncManager
from typing import Any

import pytest
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text

from cds_service.feedback.schema import FeedbackRecord
from cds_service.feedback.store import FeedbackStore
from cds_service.feedback.store import make_engine
from cds_service.feedback.store import make_sessionmaker
from cds_service.hooks.models import FeedbackItem

PROCESSES = 3
BATCHES = 8
OWN_PER_BATCH = 3
SHARED_PER_BATCH = 2


def _item(card: str) -> FeedbackItem:
    return FeedbackItem.model_validate(
        {"card": card, "outcome": "accepted", "acceptedSuggestions": [{"id": "s-1"}],
         "outcomeTimestamp": "2024-03-01T10:00:00Z"}
    )


def _batch(worker: int, batch: int) -> list[FeedbackItem]:
    own = [_item(f"own-{worker}-{batch}-{n}") for n in range(OWN_PER_BATCH)]
    shared = [_item(f"shared-{batch}-{n}") for n in range(SHARED_PER_BATCH)]
    return own + shared if worker % 2 else shared + own


def _worker(url: str, worker: int, barrier: Any) -> tuple[int, str | None]:
    """One process: migrate (racing the others), then store its batches; (new items, error)."""
    from cds_service.feedback.store import create_schema

    engine = make_engine(url)
    try:
        barrier.wait(timeout=60)
        create_schema(engine)
        barrier.wait(timeout=60)
        stored = 0
        with make_sessionmaker(engine)() as session:
            store = FeedbackStore(session)
            for batch in range(BATCHES):
                stored += store.add_feedback("sts-patient-view", _batch(worker, batch))
        return stored, None
    except Exception as exc:  # database errors may not pickle: the test fails with the text
        return 0, f"{type(exc).__name__}: {exc}"
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def processes() -> Iterator[tuple[ProcessPoolExecutor, SyncManager]]:
    """Spawned worker processes (shared by both databases: spawning is the slow part)."""
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, \
            ProcessPoolExecutor(max_workers=PROCESSES, mp_context=context) as executor:
        yield executor, manager


def test_concurrent_processes_store_every_item_once(
    db_url: str, processes: tuple[ProcessPoolExecutor, SyncManager]
) -> None:
    executor, manager = processes
    barrier = manager.Barrier(PROCESSES)  # one task per process: each waits for the others
    futures = [executor.submit(_worker, db_url, n, barrier) for n in range(PROCESSES)]
    outcomes = [future.result(timeout=120) for future in futures]
    assert [error for _, error in outcomes if error] == []

    unique = PROCESSES * BATCHES * OWN_PER_BATCH + BATCHES * SHARED_PER_BATCH
    assert sum(stored for stored, _ in outcomes) == unique  # each item counted new once
    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            per_card = connection.execute(
                select(FeedbackRecord.card_uuid, func.count()).group_by(FeedbackRecord.card_uuid)
            ).all()
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    finally:
        engine.dispose()
    assert len(per_card) == unique
    assert {count for _, count in per_card} == {1}
    assert len(versions) == 1  # the racing migrations recorded one revision
