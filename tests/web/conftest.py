"""One service per module for the page tests: the pages are read-only, the factory is not cheap."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from flask import Flask

from cds_service.app import create_app
from cds_service.settings import Settings
from cds_service.state import service_state


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The service built by the factory, shared by a module's tests (``client`` derives from it)."""
    database = tmp_path_factory.mktemp("web") / "cds.sqlite3"
    with pytest.MonkeyPatch.context() as patch:
        # The autouse clean_environ is function-scoped, so it has not run yet: do its job here.
        for name in list(os.environ):
            if name.startswith("CDS_") and not name.startswith("CDS_TEST_"):
                patch.delenv(name)
        app = create_app(Settings(database_url=f"sqlite:///{database}"))
    yield app
    service_state(app).close()
