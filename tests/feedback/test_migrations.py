"""Schema migrations: the models' tables at head, ``cds-service migrate``, the start-up check."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert
from sqlalchemy import inspect
from sqlalchemy import select
from sqlalchemy import text

from cds_service import cli
from cds_service.app import create_app
from cds_service.feedback.migrate import SchemaOutOfDate
from cds_service.feedback.migrate import alembic_config
from cds_service.feedback.migrate import check_schema
from cds_service.feedback.migrate import current_revision
from cds_service.feedback.migrate import head_revision
from cds_service.feedback.schema import Base
from cds_service.feedback.schema import FeedbackRecord
from cds_service.feedback.schema import SeenToken
from cds_service.feedback.store import StoreUnavailable
from cds_service.feedback.store import create_schema
from cds_service.feedback.store import make_engine
from cds_service.settings import Settings
from cds_service.state import service_state

STORE_TABLES = {"card_ledger", "hook_calls", "feedback", "install_settings", "jwt_replay"}


def test_migrations_build_exactly_the_models_schema_and_revert(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) is None
        create_schema(engine)
        assert current_revision(engine) == head_revision()
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []  # no model change unmigrated
            assert STORE_TABLES <= set(inspect(connection).get_table_names())

        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
        with engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) & STORE_TABLES == set()
        create_schema(engine)
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_a_store_from_before_migrations_is_adopted_with_its_data(db_url: str) -> None:
    # The first release created its tables without Alembic and had no replay table.
    engine = make_engine(db_url)
    try:
        legacy = [table for table in Base.metadata.sorted_tables if table.name != "jwt_replay"]
        Base.metadata.create_all(engine, tables=legacy)
        with engine.begin() as connection:
            connection.execute(insert(FeedbackRecord).values(
                card_uuid="c-1", service_id="s", outcome="overridden",
                outcome_timestamp=_utc("2024-03-01T10:00:00"), accepted_suggestions=[],
                received_at=_utc("2024-03-01T10:00:01"),
            ))
        check_schema(engine, upgrade=True)
        assert current_revision(engine) == head_revision()
        with engine.connect() as connection:
            assert connection.scalars(select(FeedbackRecord.card_uuid)).all() == ["c-1"]
            assert connection.scalars(select(SeenToken.jti)).all() == []
    finally:
        engine.dispose()


def test_a_database_at_an_unknown_revision_is_refused(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = make_engine(db_url)
    try:
        create_schema(engine)
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
        with pytest.raises(SchemaOutOfDate, match="f00d.*newer version"):
            check_schema(engine, upgrade=True)
    finally:
        engine.dispose()
    monkeypatch.setenv("CDS_DATABASE_URL", db_url)
    assert cli.main(["migrate"]) == 1
    assert "f00d" in capsys.readouterr().err


def test_the_embedded_sqlite_store_migrates_itself_at_start(
    sqlite_url: str, make_settings: Callable[..., Settings]
) -> None:
    # The README's serve command must work on a fresh machine: no separate migrate step.
    app = create_app(make_settings(database_url=sqlite_url))
    engine = service_state(app).engine
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_postgresql_behind_head_stops_start_up_until_migrated(
    postgres_url: str,
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SchemaOutOfDate, match="run `cds-service migrate`"):
        create_app(make_settings(database_url=postgres_url))

    monkeypatch.setenv("CDS_DATABASE_URL", postgres_url)
    assert cli.main(["migrate"]) == 0
    assert f"schema at revision {head_revision()} (upgraded from empty)" in capsys.readouterr().out
    assert cli.main(["migrate"]) == 0
    assert "already up to date" in capsys.readouterr().out

    app = create_app(make_settings(database_url=postgres_url))
    service_state(app).close()


def test_migrate_reports_an_unreachable_database_without_its_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CDS_DATABASE_URL", "postgresql+psycopg://cds:s3cret@127.0.0.1:1/cds")
    assert cli.main(["migrate"]) == 1
    err = capsys.readouterr().err
    assert "cannot" in err and "Connection refused" in err and "127.0.0.1:1" in err
    assert "s3cret" not in err


def test_migrate_refuses_a_malformed_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CDS_DATABASE_URL", "not a url")
    assert cli.main(["migrate"]) == 2
    assert "not a database URL" in capsys.readouterr().err


def test_start_up_with_an_unreachable_database_fails_clearly(
    make_settings: Callable[..., Settings]
) -> None:
    with pytest.raises(StoreUnavailable, match="Connection refused"):
        create_app(make_settings(database_url="postgresql+psycopg://cds@127.0.0.1:1/cds"))


def _utc(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
