"""The JWT replay store holds across store instances on one database (cds-hooks.md S13 step 6)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cds_service.feedback.replay import ReplayStore
from cds_service.feedback.store import create_schema
from cds_service.feedback.store import make_engine
from cds_service.feedback.store import make_sessionmaker


def test_a_jti_is_accepted_once_across_engines(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'replay.sqlite3'}"
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    engines = [make_engine(url), make_engine(url)]
    try:
        create_schema(engines[0])
        first, second = (make_sessionmaker(e)() for e in engines)
        assert ReplayStore(first).first_use("https://ehr.example.org", "jti-1", expires)
        assert not ReplayStore(second).first_use("https://ehr.example.org", "jti-1", expires)
        # The same jti from another issuer is another token.
        assert ReplayStore(second).first_use("https://other.example.org", "jti-1", expires)
        first.close()
        second.close()
    finally:
        for engine in engines:
            engine.dispose()


def test_expired_entries_are_purged(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'replay.sqlite3'}")
    try:
        create_schema(engine)
        with make_sessionmaker(engine)() as session:
            store = ReplayStore(session)
            past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
            assert store.first_use("iss", "old", past)
            # Once expired the entry is gone; a token that old is refused by exp anyway.
            assert store.first_use("iss", "old", past + dt.timedelta(hours=1))
    finally:
        engine.dispose()
