"""Shared fixtures: settings on a temporary database, the app, its client, a clean environment,
the shipped terminology."""

from __future__ import annotations

import os
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cds_service.app import create_app
from cds_service.settings import Settings
from cds_service.state import service_state
from cds_service.terminology import Terminology
from tests.common import shipped_terminology


@pytest.fixture(scope="session")
def terminology() -> Terminology:
    """The shipped terminology, loaded once."""
    return shipped_terminology()


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Drop CDS_* variables (except CDS_TEST_*) so the developer's shell cannot leak in.

    The card-ledger spool goes to the test's own directory: by default a PostgreSQL store's
    spool is in the machine's temporary directory, where a test's leftovers would stay.
    """
    for name in list(os.environ):
        if name.startswith("CDS_") and not name.startswith("CDS_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CDS_LEDGER_SPOOL_DIR", str(tmp_path / "ledger-spool"))


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Build Settings on a temporary SQLite database, with keyword overrides."""

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"database_url": f"sqlite:///{tmp_path / 'cds.sqlite3'}"}
        values.update(overrides)
        return Settings(**values)

    return build


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    """Default test settings."""
    return make_settings()


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    """The service built by the factory."""
    app = create_app(settings)
    yield app
    service_state(app).close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of ``app``."""
    return app.test_client()


@pytest.fixture
def make_client(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., FlaskClient]]:
    """Build a test client of an app with other settings; its engine is disposed after."""
    apps: list[Flask] = []

    def build(**overrides: Any) -> FlaskClient:
        app = create_app(make_settings(**overrides))
        apps.append(app)
        return app.test_client()

    yield build
    for app in apps:
        service_state(app).close()
