"""/recommendations/validation: the report ``cds-service validate`` writes, built once per knowledge
version, never re-run per request."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cds_service.app import create_app
from cds_service.cli import main
from cds_service.pipeline import Pipeline
from cds_service.scenarios import load_scenarios
from cds_service.settings import Settings
from cds_service.state import service_state
from tests.common import FIXTURES_DIR
from tests.web.html_check import check_page

PATH = "/recommendations/validation"


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    """A fresh service (its report not built yet)."""
    app = create_app(settings)
    yield app
    service_state(app).close()


@pytest.fixture
def pipeline_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The hook of every pipeline run from now on."""
    runs: list[str] = []
    original = Pipeline.run

    def counted(self: Pipeline, service: Any, *args: Any, **kwargs: Any) -> Any:
        runs.append(service.hook)
        return original(self, service, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "run", counted)
    return runs


def _calls() -> int:
    return sum(len(scenario.manifest.calls) for scenario in load_scenarios(FIXTURES_DIR))


def test_the_page_is_the_report_validate_writes(app: Flask, tmp_path: Path) -> None:
    response = app.test_client().get(PATH)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "script-src" not in response.headers["Content-Security-Policy"]
    served = response.get_data(as_text=True)
    assert check_page(served).problems == []
    assert "All checks pass." in served

    # The same page, but for its links: relative on the service, absolute in the file.
    assert main(["validate", "--output", str(tmp_path / "r.html"),
                 "--base-url", "http://localhost"]) == 0
    written = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert 'href="http://localhost/recommendations/sts-wide-excision"' in written
    assert 'href="/recommendations/sts-wide-excision"' in served
    assert written.replace('href="http://localhost/', 'href="/') == served


def test_the_pipeline_runs_once_per_scenario_call_not_per_request(
    app: Flask, pipeline_runs: list[str],
) -> None:
    clients = [app.test_client() for _ in range(4)]
    pages: list[str] = []

    def fetch(client: Any) -> None:
        pages.append(client.get(PATH).get_data(as_text=True))

    threads = [threading.Thread(target=fetch, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(pages) == 4 and len(set(pages)) == 1  # concurrent first requests: built once
    assert len(pipeline_runs) == _calls()
    assert sorted(set(pipeline_runs)) == ["order-select", "order-sign", "patient-view"]

    for _ in range(3):
        assert clients[0].get(PATH).get_data(as_text=True) == pages[0]
    assert len(pipeline_runs) == _calls()


def test_an_install_without_the_scenarios_says_so(app: Flask, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  pipeline_runs: list[str]) -> None:
    # A wheel has no fhir_fixtures/ beside the package.
    monkeypatch.setattr("cds_service.scenarios.SOURCE_FIXTURES_DIR", tmp_path / "site-packages")
    response = app.test_client().get(PATH)
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert check_page(page).problems == []
    assert "<h1>Validation report unavailable</h1>" in page
    assert "does not include the clinical test scenarios" in page
    assert "cds-service validate" in page
    assert pipeline_runs == []


def _scenario_copy(tmp_path: Path, name: str = "ascmn-thumb-untreated") -> Path:
    root = tmp_path / "fhir_fixtures"
    shutil.copytree(FIXTURES_DIR / name, root / name)
    return root / name


def test_a_failing_validation_is_served_as_the_report_that_shows_it(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = _scenario_copy(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["calls"][0]["must"].append("ntrk-trk-inhibitor")
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    monkeypatch.setattr("cds_service.scenarios.SOURCE_FIXTURES_DIR", folder.parent)
    response = app.test_client().get(PATH)
    assert response.status_code == 200  # the report exists; what it says is the failure
    page = response.get_data(as_text=True)
    assert "Validation FAILED." in page
    assert ("ascmn-thumb-untreated: patient-view.json: ntrk-trk-inhibitor must fire: no card"
            in page)


def test_unreadable_scenarios_give_an_error_page_not_a_traceback(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    folder = _scenario_copy(tmp_path)
    (folder / "manifest.json").write_text('{"today": "2026-11-22"}', encoding="utf-8")
    monkeypatch.setattr("cds_service.scenarios.SOURCE_FIXTURES_DIR", folder.parent)
    response = app.test_client().get(PATH)
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert check_page(page).problems == []
    assert "could not be read" in page and str(tmp_path) not in page  # no server paths
    assert any("invalid manifest" in record.getMessage() for record in caplog.records)
