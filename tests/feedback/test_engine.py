"""Tests of the store's engine, schema creation and failure translation (contract.md, "Errors")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from cds_service.feedback.store import FeedbackStore
from cds_service.feedback.store import StoreUnavailable
from cds_service.feedback.store import create_schema
from cds_service.feedback.store import make_engine
from cds_service.feedback.store import make_sessionmaker
from cds_service.feedback.store import ping
from cds_service.hooks.models import FeedbackItem

ITEM = FeedbackItem.model_validate(
    {"card": "c-1", "outcome": "overridden", "outcomeTimestamp": "2024-03-01T10:00:00Z"}
)


def test_sqlite_engine_creates_directory_and_uses_wal(tmp_path: Path, sqlite_url: str) -> None:
    # Several gunicorn workers write one SQLite file: WAL plus a busy timeout.
    engine = make_engine(sqlite_url)
    try:
        create_schema(engine)
        with make_sessionmaker(engine)() as session:
            assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            # bounded (issue 16): a locked store answers 503 within seconds, not after 10 s
            assert session.execute(text("PRAGMA busy_timeout")).scalar() == 1_500
    finally:
        engine.dispose()
    assert (tmp_path / "var" / "store.sqlite3").is_file()


def test_create_schema_is_idempotent_and_ping_answers(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        create_schema(engine)
        create_schema(engine)
        with make_sessionmaker(engine)() as session:
            ping(session)
            assert FeedbackStore(session).add_feedback("s", [ITEM]) == 1
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "make_path",
    [
        pytest.param(
            lambda tmp: _touch(tmp / "a-file") / "sub" / "db.sqlite3", id="parent-is-file"
        ),
        pytest.param(lambda tmp: tmp, id="path-is-directory"),
    ],
)
def test_unreachable_sqlite_raises_store_unavailable(tmp_path: Path, make_path: Any) -> None:
    # contract.md "Errors": feedback or summary while the database is unreachable is a 503.
    engine = make_engine(f"sqlite:///{make_path(tmp_path)}")
    try:
        with pytest.raises(StoreUnavailable):
            create_schema(engine)
        with make_sessionmaker(engine)() as session:
            store = FeedbackStore(session)
            with pytest.raises(StoreUnavailable):
                ping(session)
            with pytest.raises(StoreUnavailable):
                store.add_feedback("s", [ITEM])
            with pytest.raises(StoreUnavailable):
                store.summary(["rec-a"])
            with pytest.raises(StoreUnavailable):
                store.ledger_salt(None)
    finally:
        engine.dispose()


def test_unreachable_postgresql_raises_store_unavailable() -> None:
    engine = make_engine("postgresql+psycopg://x@127.0.0.1:1/x")
    try:
        with make_sessionmaker(engine)() as session, pytest.raises(StoreUnavailable):
            ping(session)
    finally:
        engine.dispose()


def _touch(path: Path) -> Path:
    path.write_text("not a directory")
    return path


def test_postgresql_statements_and_lock_waits_are_bounded_unless_the_url_says_otherwise(
    postgres_url: str,
) -> None:
    # Issue 16: a locked table or a slow statement costs a request seconds, not its thread. The
    # operator's own `options` in the URL win over the defaults, setting by setting.
    def settings(url: str) -> tuple[str, str, str]:
        engine = make_engine(url)
        try:
            with make_sessionmaker(engine)() as session:
                return (session.execute(text("SHOW statement_timeout")).scalar_one(),
                        session.execute(text("SHOW lock_timeout")).scalar_one(),
                        session.execute(text("SHOW search_path")).scalar_one())
        finally:
            engine.dispose()

    schema = make_url(postgres_url).query["options"]
    assert isinstance(schema, str) and schema.startswith("-csearch_path=")
    default = settings(postgres_url)
    assert default[:2] == ("1500ms", "1s")
    assert default[2] == schema.removeprefix("-csearch_path=")  # the URL's own option is kept
    longer = make_url(postgres_url).update_query_dict(
        {"options": f"{schema} -c statement_timeout=5000"}).render_as_string(hide_password=False)
    assert settings(longer)[:2] == ("5s", "1s")
