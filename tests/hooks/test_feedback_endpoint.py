"""Feedback endpoint (cds-hooks.md FB1-FB10, contract.md "Other endpoints")."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from cds_service.app import create_app
from cds_service.settings import Settings
from cds_service.state import service_state
from tests.common import SPEC_EXAMPLES_DIR
from tests.common import issue_codes
from tests.common import issue_expressions
from tests.common import load_json

FEEDBACK_URL = "/cds-services/sts-patient-view/feedback"


def _accepted() -> dict[str, Any]:
    return copy.deepcopy(load_json(SPEC_EXAMPLES_DIR / "feedback-accepted.json"))


def _overridden() -> dict[str, Any]:
    return copy.deepcopy(load_json(SPEC_EXAMPLES_DIR / "feedback-overridden-with-reason.json"))


def _summary_row(client: FlaskClient, rec_id: str) -> dict[str, Any]:
    rows = client.get("/feedback/summary").get_json()["recommendations"]
    return next(row for row in rows if row["id"] == rec_id)


@pytest.mark.parametrize(
    "example",
    ["feedback-accepted.json", "feedback-overridden.json", "feedback-overridden-with-reason.json"],
)
def test_spec_feedback_examples_are_accepted_with_empty_object(
    client: FlaskClient, example: str
) -> None:
    response = client.post(FEEDBACK_URL, json=load_json(SPEC_EXAMPLES_DIR / example))
    assert response.status_code == 200
    assert response.get_json() == {}


def test_feedback_for_unknown_cards_is_counted_under_unknown(client: FlaskClient) -> None:
    client.post(FEEDBACK_URL, json=_accepted())
    client.post(FEEDBACK_URL, json=_overridden())

    row = _summary_row(client, "unknown")

    assert (row["issued"], row["accepted"], row["overridden"]) == (0, 1, 1)
    assert row["overrideReasons"] == [{"code": "d7ecf885", "count": 1}]


def test_repeated_feedback_is_stored_once(client: FlaskClient) -> None:
    # FB9: feedback may repeat for the same card; handling is idempotent.
    for _ in range(3):
        assert client.post(FEEDBACK_URL, json=_accepted()).status_code == 200
    assert _summary_row(client, "unknown")["accepted"] == 1


def test_same_instant_with_another_offset_is_a_duplicate(client: FlaskClient) -> None:
    body = _accepted()
    client.post(FEEDBACK_URL, json=body)
    body["feedback"][0]["outcomeTimestamp"] = "2021-12-11T12:05:31+02:00"
    client.post(FEEDBACK_URL, json=body)
    assert _summary_row(client, "unknown")["accepted"] == 1


def test_feedback_survives_a_new_app_on_the_same_database(
    make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings()
    first = create_app(settings)
    first.test_client().post(FEEDBACK_URL, json=_overridden())
    service_state(first).close()

    second = create_app(settings)
    try:
        assert _summary_row(second.test_client(), "unknown")["overridden"] == 1
    finally:
        service_state(second).close()


def test_summary_lists_every_catalogue_id_with_zeros_then_unknown(client: FlaskClient) -> None:
    rows = client.get("/feedback/summary").get_json()["recommendations"]
    ids = [row["id"] for row in rows]
    assert ids[-1] == "unknown"
    assert {"pecoma-mtor-first-line", "fracture-no-internal-fixation",
            "case-data-incomplete"} <= set(ids)
    assert len(ids) == len(set(ids)) == 32
    assert all(row["issued"] == row["accepted"] == row["overridden"] == 0 for row in rows)


@pytest.mark.parametrize(
    ("mutate", "expression"),
    [
        (lambda f: f.pop("acceptedSuggestions"), "feedback[0]"),
        (lambda f: f.update(acceptedSuggestions=[]), "feedback[0].acceptedSuggestions"),
        (lambda f: f.update(acceptedSuggestions=[{}]), "feedback[0].acceptedSuggestions[0].id"),
        (lambda f: f.pop("card"), "feedback[0].card"),
        (lambda f: f.update(outcome="ignored"), "feedback[0].outcome"),
        (lambda f: f.pop("outcomeTimestamp"), "feedback[0].outcomeTimestamp"),
        (lambda f: f.update(outcomeTimestamp="2021-12-11 10:05"), "feedback[0].outcomeTimestamp"),
        (lambda f: f.update(outcomeTimestamp="2021-12-11T10:05:31"),
         "feedback[0].outcomeTimestamp"),
    ],
)
def test_invalid_accepted_feedback_is_400_naming_the_field(
    client: FlaskClient, mutate: Callable[[dict[str, Any]], Any], expression: str
) -> None:
    body = _accepted()
    mutate(body["feedback"][0])
    response = client.post(FEEDBACK_URL, json=body)
    assert response.status_code == 400
    assert expression in issue_expressions(response.get_json())


@pytest.mark.parametrize(
    ("override_reason", "expression"),
    [
        ({}, "feedback[0].overrideReason"),
        ({"reason": {"code": "x"}}, "feedback[0].overrideReason.reason.system"),
        ({"reason": "not-a-coding"}, "feedback[0].overrideReason.reason"),
        ({"userComment": 5}, "feedback[0].overrideReason.userComment"),
    ],
)
def test_invalid_override_reason_is_400(
    client: FlaskClient, override_reason: dict[str, Any], expression: str
) -> None:
    body = _overridden()
    body["feedback"][0]["overrideReason"] = override_reason
    response = client.post(FEEDBACK_URL, json=body)
    assert response.status_code == 400
    assert expression in issue_expressions(response.get_json())


def test_nothing_is_stored_from_a_batch_with_one_invalid_item(client: FlaskClient) -> None:
    body = _accepted()
    body["feedback"].append({"card": "x", "outcome": "accepted", "outcomeTimestamp": "bad"})
    assert client.post(FEEDBACK_URL, json=body).status_code == 400
    assert _summary_row(client, "unknown")["accepted"] == 0


@pytest.mark.parametrize("body", [{"feedback": []}, {}, {"feedback": {}}])
def test_feedback_without_items_is_400(client: FlaskClient, body: dict[str, Any]) -> None:
    response = client.post(FEEDBACK_URL, json=body)
    assert response.status_code == 400
    assert issue_expressions(response.get_json()) == ["feedback"]


def test_feedback_to_an_unknown_service_is_404(client: FlaskClient) -> None:
    response = client.post("/cds-services/nope/feedback", json=_accepted())
    assert response.status_code == 404
    assert issue_codes(response.get_json()) == ["not-found"]


def test_feedback_with_the_database_down_is_503(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cds_service.feedback.store import FeedbackStore
    from cds_service.feedback.store import StoreUnavailable

    def down(*args: object, **kwargs: object) -> int:
        raise StoreUnavailable("database unreachable")

    monkeypatch.setattr(FeedbackStore, "add_feedback", down)
    monkeypatch.setattr(FeedbackStore, "summary", down)
    response = client.post(FEEDBACK_URL, json=_accepted())
    assert response.status_code == 503
    assert issue_codes(response.get_json()) == ["transient"]
    assert client.get("/feedback/summary").status_code == 503
