"""Fixtures of the robustness tests: the store tests' PostgreSQL server, and a database per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.feedback.conftest import postgres_server  # noqa: F401  (a fixture, used by name)
from tests.feedback.conftest import postgres_url  # noqa: F401  (a fixture, used by name)


def migrated(url: str) -> str:
    """``url`` with the current schema (PostgreSQL is migrated by the operator, not at start-up)."""
    from cds_service.feedback.migrate import create_schema
    from cds_service.feedback.store import make_engine

    engine = make_engine(url)
    create_schema(engine)
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def production_like_db_url(request: pytest.FixtureRequest,
                           tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PostgreSQL schema for the whole module when the test server is reachable (it stores
    text as SQLite does not: no NUL, column widths enforced), else a SQLite file."""
    try:
        server = request.getfixturevalue("postgres_server")
    except pytest.skip.Exception:
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'cds.sqlite3'}"
    return migrated(server.new_schema())


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database with the current schema: SQLite, or a PostgreSQL schema (skipped when
    PostgreSQL is unreachable, failed under CI, as in the store tests)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cds.sqlite3'}"
    return migrated(request.getfixturevalue("postgres_url"))
