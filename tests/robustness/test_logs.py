"""Structured logs: one JSON object per line, tagged with the call; no patient data, no token.

The logs of a full run (cards, a FHIR fetch with a token, failures of every kind) are captured as
the service writes them (``cds_service.operations.logs.JsonFormatter``) and searched for the
patient's name, birth date and identifier and for the access token.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import logging
import sys
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import pytest
import responses
from flask import Flask

from cds_service.app import create_app
from cds_service.guidelines import engine as guideline_engine
from cds_service.hooks.services import PREFETCH
from cds_service.operations import logs
from cds_service.settings import Settings
from cds_service.state import service_state
from tests.common import FIXTURES_DIR
from tests.common import load_json
from tests.common import scenario_request

JsonObject = dict[str, Any]

SCENARIO = "sts-thigh-high-grade-r1"
TODAY = dt.date(2026, 11, 22)
FHIR = "https://fhir.example.org/r4"
TOKEN = "eyJ0eXAiOiJKV1QifQ.c2VjcmV0LWFjY2Vzcy10b2tlbg.c2lnbmF0dXJl"
PATIENT = load_json(FIXTURES_DIR / SCENARIO / "bundle.json")["entry"][0]["resource"]
SECRETS = [TOKEN, "Moreau", "Claire", "1968-02-11", "MRN-664201"]
"""What must never reach a log: the token, the patient's name, birth date and identifier."""


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[JsonObject]]]:
    """Everything logged during the test, as the service's formatter writes it, line by line."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)

    def lines() -> list[JsonObject]:
        text = stream.getvalue()
        assert text.endswith("\n") or not text
        return [json.loads(line) for line in text.splitlines()]

    yield lines
    root.removeHandler(handler)


@pytest.fixture
def debug_app(make_settings: Callable[..., Settings]) -> Iterator[Flask]:
    """The service logging everything it can (``CDS_LOG_LEVEL=DEBUG``)."""
    app = create_app(make_settings(log_level="DEBUG", today=TODAY))
    yield app
    service_state(app).close()
    logging.getLogger("cds_service").setLevel(logging.INFO)


def _call(**changes: Any) -> JsonObject:
    request = scenario_request(SCENARIO, "patient-view.json")
    request["hookInstance"] = str(uuid.uuid4())
    request.update(changes)
    return request


def test_every_line_is_one_json_object_tagged_with_its_call(
    debug_app: Flask, log_lines: Callable[[], list[JsonObject]]
) -> None:
    """``hookInstance`` is the request id of every line logged while the call runs."""
    request = _call()
    response = debug_app.test_client().post("/cds-services/sts-patient-view", json=request)
    assert response.status_code == 200
    logging.getLogger("cds_service.test").warning("after the call")

    lines = log_lines()
    during, after = lines[:-1], lines[-1]
    assert during, "a hook call logs at least its outcome"
    for line in lines:
        assert {"time", "level", "logger", "message"} <= set(line)
        assert dt.datetime.fromisoformat(line["time"]).utcoffset() == dt.timedelta(0)
    for line in during:
        assert line["hookInstance"] == request["hookInstance"]
        assert line["service"] == "sts-patient-view"
    assert "hookInstance" not in after and "service" not in after  # the next request starts clean


def test_a_huge_hook_instance_cannot_flood_the_log(
    debug_app: Flask, log_lines: Callable[[], list[JsonObject]]
) -> None:
    """``hookInstance`` is any string the client chose: every line stays short."""
    request = _call(hookInstance="h" * 100_000)
    response = debug_app.test_client().post("/cds-services/sts-patient-view", json=request)
    assert response.status_code == 200

    lines = log_lines()
    assert lines
    for line in lines:
        assert len(json.dumps(line)) < 2 * logs.MAX_MESSAGE_CHARS
        assert line["hookInstance"] == "h" * logs.MAX_FIELD_CHARS
        assert line.get("fields", {}).get("hookInstance", "") in ("", "h" * logs.MAX_FIELD_CHARS)
    assert any("fields" in line for line in lines)  # the call's own structured summary


def test_a_service_id_is_tagged_only_when_it_is_one(
    debug_app: Flask, log_lines: Callable[[], list[JsonObject]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The URL is the client's text: an unknown id never becomes a log field."""
    client = debug_app.test_client()
    client.post("/cds-services/sts-order-sign/feedback", json={"feedback": [
        {"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-11-22T10:00:00Z",
         "overrideReason": {"userComment": "no"}}]})
    client.post("/cds-services/<script>/feedback", json={})

    lines = log_lines()
    assert {line.get("service") for line in lines} <= {"sts-order-sign"}
    assert any(line.get("service") == "sts-order-sign" for line in lines)


def test_an_exception_is_logged_by_type_and_place_never_by_message() -> None:
    """Exception messages quote their input (pydantic, KeyError): they may hold patient data."""
    try:
        try:
            {}["Moreau"]
        except KeyError as exc:
            raise ValueError("patient Claire Moreau, born 1968-02-11") from exc
    except ValueError:
        record = logging.LogRecord("cds_service.x", logging.ERROR, __file__, 1, "rule failed",
                                   None, sys.exc_info())
    line = json.loads(logs.JsonFormatter().format(record))

    assert line["exception"]["type"] == "ValueError"
    assert line["exception"]["causes"] == ["KeyError"]
    assert any("test_logs.py" in frame for frame in line["exception"]["frames"])
    assert "Moreau" not in json.dumps(line) and "1968" not in json.dumps(line)


def test_a_full_run_logs_no_token_no_name_no_birth_date_no_identifier(
    make_settings: Callable[..., Settings],
    log_lines: Callable[[], list[JsonObject]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cards, a fetch with a token, 400s, a 412, an unreadable Patient, a failing rule, a 500."""
    phi = "patient Claire Moreau (MRN-664201), born 1968-02-11"

    def failing_rule(case: Any, context: Any) -> Any:
        raise ValueError(f"cannot read {phi}")

    monkeypatch.setattr(guideline_engine, "RULES",
                        {**guideline_engine.RULES, "sts-specialist-referral": failing_rule})
    app = create_app(make_settings(log_level="DEBUG", today=TODAY))
    client = app.test_client()
    authorization = {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 300,
                     "scope": "patient/*.read", "subject": "cds-service"}
    prefetch = scenario_request(SCENARIO, "patient-view.json")["prefetch"]
    statuses = []
    try:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as fhir:
            fhir.get(f"{FHIR}/Patient/lms3-pt", json=PATIENT)
            fhir.get(f"{FHIR}/" + PREFETCH["observations"].replace(
                "{{context.patientId}}", "lms3-pt"), status=401, body=f"bad token {TOKEN} {phi}")
            # cards (one rule raising), the Patient fetched with the token
            partial = {k: v for k, v in prefetch.items() if k != "patient"}
            statuses.append(client.post("/cds-services/sts-patient-view", json=_call(
                prefetch=partial, fhirServer=FHIR, fhirAuthorization=authorization)).status_code)
            # 412: the FHIR server refuses the token and echoes it with the patient's data
            partial = {k: v for k, v in prefetch.items() if k != "observations"}
            statuses.append(client.post("/cds-services/sts-patient-view", json=_call(
                prefetch=partial, fhirServer=FHIR, fhirAuthorization=authorization)).status_code)
        # an unreadable Patient: named by Type/id, never by its content
        broken = copy.deepcopy(prefetch)
        broken["patient"]["birthDate"] = {"value": PATIENT["birthDate"], "name": PATIENT["name"]}
        statuses.append(client.post("/cds-services/sts-patient-view",
                                    json=_call(prefetch=broken)).status_code)
        # 400s whose offending values are the patient's data and the token
        statuses.append(client.post("/cds-services/sts-patient-view", json=_call(
            context={"userId": phi, "patientId": {"name": PATIENT["name"]}},
            fhirAuthorization={"access_token": TOKEN})).status_code)
        statuses.append(client.post("/cds-services/sts-patient-view",
                                    data=f'{{"hookInstance": "{phi}", ').status_code)
        statuses.append(client.post("/cds-services/sts-patient-view/feedback", json={"feedback": [
            {"card": "c1", "outcome": "overridden", "outcomeTimestamp": PATIENT["birthDate"],
             "overrideReason": {"userComment": phi}}]}).status_code)
        statuses.append(client.post("/cds-services/sts-patient-view/feedback", json={"feedback": [
            {"card": "c1", "outcome": "overridden", "outcomeTimestamp": "2026-11-22T10:00:00Z",
             "overrideReason": {"userComment": phi}}]}).status_code)
        # an unexpected error deep in the pipeline
        def explode(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError(f"unexpected {phi} token={TOKEN}")

        monkeypatch.setattr("cds_service.pipeline.resolve", explode)
        statuses.append(client.post("/cds-services/sts-patient-view", json=_call()).status_code)
    finally:
        service_state(app).close()
        logging.getLogger("cds_service").setLevel(logging.INFO)

    assert statuses == [200, 412, 200, 400, 400, 400, 200, 500]
    lines = log_lines()
    text = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines)
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} reached the log"
    messages = " ".join(line["message"] for line in lines)
    assert "sts-specialist-referral" in messages  # the failing rule is named...
    assert "Patient/lms3-pt" in messages  # ...and so is the unreadable resource
    assert any(line.get("exception", {}).get("type") == "RuntimeError" for line in lines)
    assert any(line["level"] == "ERROR" and "hookInstance" in line for line in lines)


def test_logging_is_configured_once_and_only_when_the_host_has_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Under gunicorn the root logger has no handler: the service adds its JSON one, once."""
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)

    logs.configure_logging("WARNING")
    logs.configure_logging("DEBUG")
    (handler,) = root.handlers
    logging.getLogger("cds_service.x").debug("configured")
    logging.getLogger("cds_service").setLevel(logging.INFO)
    handler.flush()  # written by a background thread

    assert isinstance(handler.formatter, logs.JsonFormatter)
    assert json.loads(stream.getvalue())["message"] == "configured"
    handler.close()

    host = logging.StreamHandler(io.StringIO())
    monkeypatch.setattr(root, "handlers", [host])
    logs.configure_logging("INFO")
    assert root.handlers == [host]
