"""The card ledger: every card issued is recorded so feedback joins to its recommendation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cds_service.feedback.store import FeedbackStore
from cds_service.feedback.store import StoreUnavailable
from cds_service.guidance import Decision
from cds_service.guidance import IssuedGuidance
from cds_service.hooks.models import Card
from cds_service.hooks.models import HookRequest
from cds_service.hooks.models import Source
from cds_service.hooks.prefetch import PatientRecord
from cds_service.stages import Observer
from cds_service.state import service_state
from cds_service.state import set_service_state
from tests.common import ledger_written
from tests.common import scenario_request

CARD_UUID = "5f3c8f1e-8c1a-4c55-9d2e-2b9a1f0c7d11"
PATIENT_ID = "pt-htn-01"


def _one_card(request: HookRequest, record: PatientRecord, base_url: str,
              observer: Observer) -> Decision:
    card = Card(uuid=CARD_UUID, summary="Test guidance", indicator="info",
                source=Source(label="Test source"))
    return Decision(issued=(IssuedGuidance("sts-specialist-referral", card),))


@pytest.fixture
def card_app(app: Flask) -> Flask:
    """The app with a decision that always issues one card."""
    state = service_state(app)
    pipeline = dataclasses.replace(state.registry.pipeline, decide=_one_card)
    registry = dataclasses.replace(state.registry, pipeline=pipeline)
    set_service_state(app, dataclasses.replace(state, registry=registry))
    return app


def _summary_row(client: FlaskClient, rec_id: str) -> dict[str, object]:
    rows = client.get("/feedback/summary").get_json()["recommendations"]
    row: dict[str, object] = next(r for r in rows if r["id"] == rec_id)
    return row


def test_issued_cards_are_counted_and_feedback_joins_them(card_app: Flask) -> None:
    client = card_app.test_client()
    request = scenario_request("no-tumour-hypertension", "patient-view.json")
    response = client.post("/cds-services/sts-patient-view", json=request)
    assert [card["uuid"] for card in response.get_json()["cards"]] == [CARD_UUID]

    reason = {"system": "https://sts-cds.org/fhir/CodeSystem/override-reason",
              "code": "already-discussed", "display": "Already discussed"}
    client.post("/cds-services/sts-patient-view/feedback", json={"feedback": [
        {"card": CARD_UUID, "outcome": "overridden", "outcomeTimestamp": "2026-11-22T10:00:00Z",
         "overrideReason": {"reason": reason}}
    ]})

    row = _summary_row(client, "sts-specialist-referral")
    assert (row["issued"], row["accepted"], row["overridden"]) == (1, 0, 1)
    assert row["overrideReasons"] == [
        {"code": "already-discussed", "display": "Already discussed", "count": 1}]
    assert _summary_row(client, "unknown")["overridden"] == 0


def test_the_ledger_keeps_no_patient_id(card_app: Flask, tmp_path: Path) -> None:
    client = card_app.test_client()
    client.post("/cds-services/sts-patient-view",
                json=scenario_request("no-tumour-hypertension", "patient-view.json"))
    service_state(card_app).close()
    database = (tmp_path / "cds.sqlite3").read_bytes()
    assert CARD_UUID.encode() in database
    assert PATIENT_ID.encode() not in database


def test_cards_are_returned_when_the_ledger_cannot_be_written(
    card_app: Flask, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def down(self: FeedbackStore, *args: object) -> None:
        raise StoreUnavailable("down")

    monkeypatch.setattr(FeedbackStore, "record_cards", down)
    response = card_app.test_client().post(
        "/cds-services/sts-patient-view",
        json=scenario_request("no-tumour-hypertension", "patient-view.json"))
    assert response.status_code == 200
    assert [card["uuid"] for card in response.get_json()["cards"]] == [CARD_UUID]
    ledger_written(card_app)
    assert "card ledger not written" in caplog.text
