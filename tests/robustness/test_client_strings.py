"""Strings the client chooses reach the database: any length, any character, never a 500.

Found while fuzzing against PostgreSQL (SQLite accepted both): a ``hookInstance`` longer than its
column, and a NUL character in any stored text, made the ledger or feedback write raise.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select

from cds_service.app import create_app
from cds_service.feedback.schema import CardIssued
from cds_service.feedback.schema import FeedbackRecord
from cds_service.feedback.store import HOOK_INSTANCE_CHARS
from cds_service.settings import Settings
from cds_service.state import service_state
from tests.common import issue_expressions
from tests.common import ledger_written
from tests.common import scenario_request

TODAY = dt.date(2026, 11, 22)


@pytest.fixture
def db_app(any_db_url: str) -> Iterator[Flask]:
    """The service on SQLite, then on PostgreSQL."""
    app = create_app(Settings(database_url=any_db_url, today=TODAY))
    yield app
    service_state(app).close()


@pytest.mark.parametrize("hook_instance", ["h" * 1_000, "with\x00nul", "\x00"])
def test_any_hook_instance_gets_its_cards_and_is_recorded(db_app: Flask,
                                                          hook_instance: str) -> None:
    """Contract: ``hookInstance`` is any non-empty string; the ledger keeps what it can."""
    request = scenario_request("sts-thigh-high-grade-r1", "patient-view.json")
    request["hookInstance"] = hook_instance

    response = db_app.test_client().post("/cds-services/sts-patient-view", json=request)

    assert response.status_code == 200, response.get_json()
    uuids = [card["uuid"] for card in response.get_json()["cards"]]
    assert len(uuids) == 5  # its manifest's cards (local staging since the R1 excision: issue 13)
    ledger_written(db_app)
    with service_state(db_app).registry.sessions() as session:
        stored = session.scalars(select(CardIssued.hook_instance).where(
            CardIssued.card_uuid.in_(uuids))).all()
    expected = hook_instance.replace("\x00", "\ufffd")[:HOOK_INSTANCE_CHARS]
    assert stored == [expected] * len(uuids)


def test_feedback_text_with_nul_characters_is_stored(db_app: Flask) -> None:
    client = db_app.test_client()
    item = {"card": "card\x00uuid", "outcome": "overridden",
            "outcomeTimestamp": "2026-11-22T10:00:00Z",
            "overrideReason": {"reason": {"system": "urn:x\x00", "code": "c\x00",
                                          "display": "d\x00"}, "userComment": "a\x00b"}}

    accepted = {"card": "other\x00", "outcome": "accepted",
                "outcomeTimestamp": "2026-11-22T10:00:00Z",
                "acceptedSuggestions": [{"id": "suggestion\x00"}]}

    response = client.post("/cds-services/sts-patient-view/feedback",
                           json={"feedback": [item, accepted]})
    again = client.post("/cds-services/sts-patient-view/feedback", json={"feedback": [item]})

    assert (response.status_code, response.get_json()) == (200, {})
    assert again.status_code == 200
    with service_state(db_app).registry.sessions() as session:
        rows = session.scalars(select(FeedbackRecord)).all()
    assert sorted((r.card_uuid, r.override_comment, r.accepted_suggestions) for r in rows) == [
        ("card\ufffduuid", "a\ufffdb", []), ("other\ufffd", None, ["suggestion\x00"])]
    summary = client.get("/feedback/summary").get_json()["recommendations"]
    assert [(r["accepted"], r["overridden"]) for r in summary if r["id"] == "unknown"] == [(1, 1)]


@pytest.mark.parametrize("timestamp", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_an_outcome_timestamp_outside_the_utc_calendar_is_400(
    db_app: Flask, timestamp: str
) -> None:
    """RFC 3339 allows it, but in UTC it is before year 1 or after 9999: 400, not a 500."""
    item = {"card": "c", "outcome": "overridden", "outcomeTimestamp": timestamp,
            "overrideReason": {"userComment": "x"}}

    response = db_app.test_client().post("/cds-services/sts-patient-view/feedback",
                                         json={"feedback": [item]})

    assert response.status_code == 400
    assert issue_expressions(response.get_json()) == ["feedback[0].outcomeTimestamp"]
