"""The end-to-end set-up: the CDS Hooks sandbox, the service and a FHIR server, driven by Chromium.

Chromium is Debian's ``chromium`` (``.ci/run`` installs it), driven by Playwright's Python
package pointed at it (Playwright's own browser downloads are never used); ``CDS_TEST_CHROMIUM``
names another executable. The built sandbox is the copy in ``../shared/tools/cds-hooks-sandbox``
beside this repository (a test tool, not part of the project), or the folder named by
``CDS_TEST_SANDBOX_DIR``. When either is missing the browser tests are skipped, saying so in
pytest's summary; under CI (``CI=true``) that is a failure instead, as for PostgreSQL
(``tests/feedback/conftest.py``), so CI never passes without having run them.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.browser.fhir_server import FhirServer
from tests.browser.fhir_server import fhir_server
from tests.browser.sandbox import EVERY_SCENARIO
from tests.browser.sandbox import Sandbox
from tests.browser.sandbox import ServedService
from tests.browser.sandbox import start_service
from tests.common import ROOT
from tests.loopback import serving

CHROMIUM_VARIABLE = "CDS_TEST_CHROMIUM"
SANDBOX_VARIABLE = "CDS_TEST_SANDBOX_DIR"
DEFAULT_SANDBOX_DIR = ROOT.parent / "shared" / "tools" / "cds-hooks-sandbox"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _not_here(reason: str) -> None:
    """Skip with ``reason``; under CI fail instead (CI must run the browser tests)."""
    reason = f"BROWSER NOT TESTED: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The Chromium executable; skips (fails under CI) when there is none."""
    named = os.environ.get(CHROMIUM_VARIABLE)
    found = shutil.which(named) if named else next(
        (path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)
    if found is None:
        where = f"{CHROMIUM_VARIABLE}={named}" if named else "no chromium on PATH"
        _not_here(f"{where}; install it (apt-get install chromium) or set {CHROMIUM_VARIABLE}")
    assert found is not None
    return found


@pytest.fixture(scope="session")
def sandbox_dir() -> Path:
    """The built CDS Hooks sandbox; skips (fails under CI) when it is not there."""
    folder = Path(os.environ.get(SANDBOX_VARIABLE) or DEFAULT_SANDBOX_DIR)
    if not (folder / "index.html").is_file():
        _not_here(f"no built CDS Hooks sandbox at {folder}; set {SANDBOX_VARIABLE}")
    return folder


class _QuietStatic(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's name)
        """Keep the test output quiet."""


@pytest.fixture(scope="session")
def sandbox_origin(sandbox_dir: Path) -> Iterator[str]:
    """The sandbox's static files, served on a loopback port (its origin, with no path)."""
    handler = functools.partial(_QuietStatic, directory=str(sandbox_dir))
    with serving(ThreadingHTTPServer, handler, "sandbox-static") as server:  # type: ignore[arg-type]
        yield f"http://127.0.0.1:{server.server_port}"


@pytest.fixture(scope="session")
def fhir() -> Iterator[FhirServer]:
    """One FHIR server holding every scenario."""
    with fhir_server(EVERY_SCENARIO) as server:
        yield server


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedService]:
    """``cds-service serve`` as a real process on loopback, trust off, on its own SQLite file."""
    with start_service(tmp_path_factory.mktemp("served")) as served:
        yield served


@pytest.fixture(scope="package")
def browser(chromium_path: str) -> Iterator[Any]:
    """Headless Chromium under Playwright (imported here: only these tests need it).

    Package-scoped: Playwright's sync API keeps an asyncio event loop running in the main thread
    until it stops, and later tests (tests/test_front.py) call ``asyncio.run``.
    """
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        launched = playwright.chromium.launch(executable_path=chromium_path, headless=True)
        try:
            yield launched
        finally:
            launched.close()
    finally:
        playwright.stop()


@pytest.fixture
def sandbox(browser: Any, sandbox_origin: str, service: ServedService,
            fhir: FhirServer) -> Iterator[Sandbox]:
    """A fresh browser context (no stored sandbox settings) on the sandbox, recording its calls."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    try:
        yield Sandbox(context, sandbox_origin, service, fhir)
    finally:
        context.close()
