"""The override dashboard in headless Chromium (issue 19): its charts render, nothing is fetched
from elsewhere, nothing logs an error, its figures are ``/feedback/summary``'s, and a phone-sized
screen needs no sideways scrolling."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

from cds_service.app import create_app
from cds_service.feedback.store import make_engine
from cds_service.settings import Settings
from cds_service.state import service_state
from tests.feedback.dashboard_ledger import seed

PAGE = "/feedback/dashboard"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service on the seeded ledger, on a loopback port (its base URL)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('dashboard') / 'cds.sqlite3'}"
    engine = make_engine(url)
    try:
        seed(engine)
    finally:
        engine.dispose()
    with pytest.MonkeyPatch.context() as patch:
        for name in [name for name in os.environ if name.startswith("CDS_")
                     and not name.startswith("CDS_TEST_")]:
            patch.delenv(name)
        app = create_app(Settings(database_url=url))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="dashboard", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        service_state(app).close()


def _open(browser: Any, base: str, query: str, viewport: dict[str, int],
          ) -> tuple[Any, Any, list[str], list[str]]:
    """Open the page; return the context, page, console errors and requests to elsewhere."""
    context = browser.new_context(viewport=viewport)
    errors: list[str] = []
    elsewhere: list[str] = []
    page = context.new_page()
    page.on("console", lambda message: errors.append(message.text)
            if message.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: None if request.url.startswith(base)
            else elsewhere.append(request.url))
    response = page.goto(f"{base}{PAGE}{query}", wait_until="load")
    assert response is not None and response.status == 200
    return context, page, errors, elsewhere


def test_the_charts_render_with_no_console_error(browser: Any, served: str) -> None:
    context, page, errors, elsewhere = _open(browser, served, "",
                                             {"width": 1280, "height": 1000})
    try:
        charts = page.locator("figure.chart svg")
        assert charts.count() >= 8  # 4 overall, and per recommendation reasons and trend
        for index in range(charts.count()):
            box = charts.nth(index).bounding_box()
            assert box is not None and box["width"] > 300 and box["height"] > 100, index
        # The bars are drawn: the rate chart has one bar per recommendation with feedback.
        rate_bars = page.locator("#chart-rate .series rect")
        assert rate_bars.count() == 3
        widths = sorted(rate_bars.nth(i).bounding_box()["width"] for i in range(3))
        assert widths[0] < widths[1] < widths[2]  # 0 %, 66.7 % and 100 %
        # The figures shown are the summary's.
        summary = page.request.get(f"{served}/feedback/summary").json()
        by_id = {row["id"]: row for row in summary["recommendations"]}
        for rec_id in ("sts-mri-local-staging", "sts-core-biopsy-after-fna", "ntrk-rna-ngs"):
            row = page.locator(f'tr[data-recommendation="{rec_id}"]')
            for figure in ("issued", "accepted", "overridden"):
                shown = row.locator(f'[data-figure="{figure}"]').inner_text()
                assert shown == str(by_id[rec_id][figure]), (rec_id, figure)
        assert errors == []
        assert elsewhere == []
    finally:
        context.close()


def test_filters_and_a_phone_screen(browser: Any, served: str) -> None:
    context, page, errors, _ = _open(browser, served, "", {"width": 375, "height": 740})
    try:
        # A phone-sized screen: nothing wider than the screen, charts scaled to it.
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        box = page.locator("#chart-rate svg").bounding_box()
        assert box is not None and box["width"] <= 375
        # The form filters by version and date range.
        page.select_option("select[name=version]", "1.0.0")
        page.fill("input[name=from]", "2026-12-28")
        page.click("button[type=submit]")
        page.wait_for_load_state("load")
        assert "version=1.0.0" in page.url and "from=2026-12-28" in page.url
        row = page.locator('tr[data-recommendation="sts-mri-local-staging"]')
        assert row.locator('[data-figure="issued"]').inner_text() == "1"  # card-uuid-3 only
        assert errors == []
    finally:
        context.close()
