"""``GET /metrics`` and the hook-call log line move for real hook calls (issue "Observability")."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from flask.testing import FlaskClient
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from cds_service.operations import metrics
from cds_service.operations.gunicorn_metrics import MULTIPROC_DIR_VARIABLE
from cds_service.operations.gunicorn_metrics import remove_dir
from cds_service.operations.gunicorn_metrics import use_multiprocess_dir
from cds_service.settings import Settings
from tests.common import FIXTURES_DIR
from tests.common import free_port
from tests.common import load_json
from tests.common import scenario_request

SCENARIO = "pecoma-lung-metastases-doxorubicin"
SERVICE_URL = "/cds-services/sts-patient-view"
FHIR = "https://fhir.example.org/r4"
MANIFEST = load_json(FIXTURES_DIR / SCENARIO / "manifest.json")
INDICATORS: dict[str, str] = MANIFEST["calls"][0]["indicators"]  # the patient-view call

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: FlaskClient | None = None, text: str | None = None) -> Samples:
    """Every sample of a ``/metrics`` answer, by name and labels."""
    if text is None:
        assert client is not None
        text = client.get("/metrics").get_data(as_text=True)
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    """How much one sample grew between two scrapes."""
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    """The scenario's date, so that its cards are the manifest's."""
    return make_settings(today=dt.date.fromisoformat(MANIFEST["today"]))


@pytest.fixture
def fhir() -> Iterator[responses.RequestsMock]:
    """The mocked FHIR server; an unregistered URL answers with a connection error."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def _call(*, drop: tuple[str, ...] = (), server: str | None = None) -> dict[str, Any]:
    request = scenario_request(SCENARIO, "patient-view.json")
    for key in drop:
        del request["prefetch"][key]
    if server is not None:
        request["fhirServer"] = server
    return request


def test_metrics_are_open_in_the_prometheus_text_format(client: FlaskClient) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
    names = {family.name for family in text_string_to_metric_families(response.get_data(True))}
    assert {"cds_requests", "cds_request_duration_seconds", "cds_stage_duration_seconds",
            "cds_cards", "cds_fhir_fetches", "cds_precondition_failed", "cds_jwt_rejections",
            "cds_ledger_write_failures", "cds_rule_failures"} <= names


def test_a_hook_call_counts_the_request_its_stages_and_its_cards(client: FlaskClient) -> None:
    before = scrape(client)
    response = client.post(SERVICE_URL, json=_call())
    after = scrape(client)

    assert response.status_code == 200
    ids = {card["source"]["topic"]["code"] for card in response.get_json()["cards"]}
    assert ids == set(INDICATORS)
    for rec_id, indicator in INDICATORS.items():
        assert delta(before, after, "cds_cards_total",
                     recommendation=rec_id, indicator=indicator) == 1
    assert delta(before, after, "cds_requests_total",
                 service="sts-patient-view", endpoint="call", status="200") == 1
    assert delta(before, after, "cds_request_duration_seconds_count",
                 service="sts-patient-view", endpoint="call") == 1
    for stage in ("mapping", "engine", "render"):
        assert delta(before, after, "cds_stage_duration_seconds_count", stage=stage) == 1
    # Everything came in prefetch: nothing was fetched.
    assert delta(before, after, "cds_stage_duration_seconds_count", stage="prefetch_fetch") == 0


def test_fhir_fetches_and_timeouts_are_counted(
    client: FlaskClient, fhir: responses.RequestsMock
) -> None:
    patient_id = _call()["context"]["patientId"]
    conditions = _call()["prefetch"]["conditions"]
    fhir.get(f"{FHIR}/Condition?patient={patient_id}", json=conditions)
    fhir.get(f"{FHIR}/Observation?patient={patient_id}", body=requests.ReadTimeout())

    before = scrape(client)
    fetched = client.post(SERVICE_URL, json=_call(drop=("conditions",), server=FHIR))
    middle = scrape(client)
    timed_out = client.post(SERVICE_URL, json=_call(drop=("observations",), server=FHIR))
    after = scrape(client)

    assert fetched.status_code == 200
    assert delta(before, middle, "cds_fhir_fetches_total", outcome="ok") == 1
    assert delta(before, middle, "cds_stage_duration_seconds_count", stage="prefetch_fetch") == 1
    assert timed_out.status_code == 412
    assert delta(middle, after, "cds_fhir_fetches_total", outcome="timeout") == 1
    assert delta(middle, after, "cds_precondition_failed_total",
                 service="sts-patient-view", code="timeout") == 1
    assert delta(middle, after, "cds_requests_total",
                 service="sts-patient-view", endpoint="call", status="412") == 1


def test_data_that_cannot_be_had_is_a_counted_412(client: FlaskClient) -> None:
    before = scrape(client)
    response = client.post(SERVICE_URL, json=_call(drop=("conditions",)))  # and no fhirServer
    after = scrape(client)
    assert response.status_code == 412
    assert delta(before, after, "cds_precondition_failed_total",
                 service="sts-patient-view", code="incomplete") == 1
    assert delta(before, after, "cds_fhir_fetches_total", outcome="failed") == 0  # none sent


def test_feedback_and_unknown_service_ids_are_counted_without_new_labels(
    client: FlaskClient,
) -> None:
    feedback = {"feedback": [{"card": "c-1", "outcome": "overridden",
                              "outcomeTimestamp": "2026-11-22T10:00:00Z"}]}
    before = scrape(client)
    assert client.post(f"{SERVICE_URL}/feedback", json=feedback).status_code == 200
    client.post("/cds-services/made-up-by-a-client", json=_call())
    client.post("/cds-services/another-invention/feedback", json=feedback)
    text = client.get("/metrics").get_data(as_text=True)
    after = scrape(text=text)

    assert delta(before, after, "cds_requests_total",
                 service="sts-patient-view", endpoint="feedback", status="200") == 1
    assert delta(before, after, "cds_requests_total",
                 service="unknown", endpoint="call", status="404") == 1
    assert delta(before, after, "cds_requests_total",
                 service="unknown", endpoint="feedback", status="404") == 1
    assert "made-up-by-a-client" not in text and "another-invention" not in text


def test_jwt_rejections_are_counted_by_reason_never_by_free_text(client: FlaskClient) -> None:
    # The JWT guard calls metrics.jwt_rejected(reason) for every 401 it answers.
    before = scrape(client)
    metrics.jwt_rejected("expired")
    metrics.jwt_rejected("Bearer eyJhbGciOiJFUzM4NCJ9.payload.signature")
    text = client.get("/metrics").get_data(as_text=True)
    after = scrape(text=text)
    assert delta(before, after, "cds_jwt_rejections_total", reason="expired") == 1
    assert delta(before, after, "cds_jwt_rejections_total", reason="other") == 1
    assert "eyJhbGci" not in text


def _hook_call_records(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [record.fields for record in caplog.records  # type: ignore[attr-defined]
            if record.name == "cds_service.hooks.calllog"]


def test_one_log_line_per_hook_call_with_its_outcome_and_no_patient_data(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    ok = client.post(SERVICE_URL, json=_call())
    failed = client.post(SERVICE_URL, json=_call(drop=("conditions",)))
    invalid = client.post(SERVICE_URL, data=b"{not json")

    first, second, third = _hook_call_records(caplog)
    uuids = [card["uuid"] for card in ok.get_json()["cards"]]
    hook_instance = _call()["hookInstance"]
    assert first["hookInstance"] == hook_instance and first["service"] == "sts-patient-view"
    assert first["status"] == 200 and first["durationMs"] > 0
    assert set(first["cards"]) == set(INDICATORS) and first["cardUuids"] == uuids
    assert (second["status"], second["hookInstance"], second["cards"]) == (
        failed.status_code, hook_instance, [])
    assert (third["status"], third["hookInstance"]) == (invalid.status_code, None)
    line = next(r.getMessage() for r in caplog.records if r.name == "cds_service.hooks.calllog")
    assert f"hookInstance={hook_instance}" in line and "status=200" in line

    patient = next(entry["resource"] for entry in
                   load_json(FIXTURES_DIR / SCENARIO / "bundle.json")["entry"]
                   if entry["resource"]["resourceType"] == "Patient")
    logged = caplog.text + json.dumps(_hook_call_records(caplog))
    for secret in (patient["id"], patient["birthDate"], patient["name"][0]["family"],
                   patient["identifier"][0]["value"]):
        assert secret not in logged


def test_serve_makes_a_metrics_dir_unless_the_operator_named_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # setenv first so that monkeypatch records the original state and restores it afterwards,
    # even though use_multiprocess_dir() below sets the variable behind its back.
    monkeypatch.setenv(MULTIPROC_DIR_VARIABLE, "")
    monkeypatch.delenv(MULTIPROC_DIR_VARIABLE)
    created = use_multiprocess_dir()
    assert created is not None and created.is_dir() and not any(created.iterdir())
    assert os.environ[MULTIPROC_DIR_VARIABLE] == str(created)
    remove_dir(created)
    assert not created.exists()

    chosen = tmp_path / "metrics"
    monkeypatch.setenv(MULTIPROC_DIR_VARIABLE, str(chosen))
    assert use_multiprocess_dir() is None  # the operator's: created if missing, never removed
    assert chosen.is_dir()


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        body: bytes = response.read()
        return body


@pytest.mark.slow
def test_every_gunicorn_worker_reports_the_calls_of_all(tmp_path: Path) -> None:
    # Without the shared multiprocess directory each worker would count only its own calls.
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CDS_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env["CDS_DATABASE_URL"] = f"sqlite:///{tmp_path / 'served.sqlite3'}"
    env["CDS_TODAY"] = MANIFEST["today"]
    process = subprocess.Popen(
        [sys.executable, "-m", "cds_service.cli", "serve", "--port", str(port),
         "--workers", "2", "--threads", "1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    calls = 6
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _get(f"{base}/healthz")
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
        body = json.dumps(_call()).encode()
        for _ in range(calls):
            request = urllib.request.Request(f"{base}{SERVICE_URL}", data=body,
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 200
        scrapes = [_get(f"{base}/metrics").decode() for _ in range(4)]
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr.decode(errors="replace")[-2000:]
    for text in scrapes:  # whichever worker answered the scrape
        samples = scrape(text=text)
        key = ("cds_requests_total", frozenset(
            {"service": "sts-patient-view", "endpoint": "call", "status": "200"}.items()))
        assert samples.get(key) == calls
        assert samples.get(("cds_cards_total", frozenset(
            {"recommendation": "pecoma-mtor-first-line", "indicator": "warning"}.items()))) \
            == calls
        assert "process_cpu_seconds_total" not in text  # the multiprocess collector answered
