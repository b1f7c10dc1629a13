"""Fixtures of the store tests: every ``db_url`` test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``CDS_TEST_POSTGRES_URL`` (default: our machines' and CI's server). When it is
unreachable the PostgreSQL half is skipped, saying so in pytest's summary; under CI (``CI=true``)
that is a failure instead, so CI never passes without having tested PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from cds_service.feedback.store import create_schema
from cds_service.feedback.store import make_engine
from tests.feedback.databases import DEFAULT_POSTGRES_URL
from tests.feedback.databases import POSTGRES_URL_VARIABLE
from tests.feedback.databases import PostgresServer


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The test PostgreSQL server; skips (fails under CI) when it cannot be reached."""
    server = PostgresServer(os.environ.get(POSTGRES_URL_VARIABLE, DEFAULT_POSTGRES_URL))
    try:
        server.ping()
    except OperationalError as exc:
        server.dispose()
        where = server.url.render_as_string(hide_password=True)
        reason = (f"PostgreSQL NOT TESTED: {where} is unreachable ({type(exc.orig).__name__}); "
                  f"start it or set {POSTGRES_URL_VARIABLE}")
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    yield server
    server.drop_schemas()
    server.dispose()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A URL on a fresh, empty PostgreSQL schema of this test's own."""
    return postgres_server.new_schema()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file in a directory that does not exist yet."""
    return f"sqlite:///{tmp_path / 'var' / 'store.sqlite3'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """An empty store database: a new SQLite file, or a new PostgreSQL schema."""
    fixture = {"sqlite": "sqlite_url", "postgresql": "postgres_url"}[request.param]
    url: str = request.getfixturevalue(fixture)
    return url


def _migrated(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated store on SQLite and on PostgreSQL."""
    yield from _migrated(db_url)


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    """A migrated SQLite store, for the tests of the writer's own behaviour."""
    yield from _migrated(sqlite_url)
