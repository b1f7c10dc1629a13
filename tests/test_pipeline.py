"""One pipeline, called four ways (issue 18): the HTTP service, the warm-up, the offline review and
the bench run the same stages and get the same cards; the observer sees each stage once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cds_service.evaluate import evaluate_path
from cds_service.guidelines.catalogue import load_catalogue
from cds_service.guidelines.rules import RULES
from cds_service.hooks.errors import PreconditionFailed
from cds_service.hooks.models import HookRequest
from cds_service.hooks.services import get_service
from cds_service.stages import Stage
from cds_service.state import service_state
from cds_service.vocabulary import Hook
from tests.common import scenario_request

FIXTURES = Path(__file__).parent.parent / "fhir_fixtures"
BASE_URL = "http://127.0.0.1:8080"
CALLS = [
    ("ilms-rms-component", Hook.PATIENT_VIEW),
    ("pecoma-lung-metastases-doxorubicin", Hook.ORDER_SIGN),
    ("pathological-fracture-femur", Hook.ORDER_SELECT),
]


class Recorder:
    """An observer that notes what it sees."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.stages: list[Stage] = []

    def requested(self, request: HookRequest) -> None:
        self.requests.append(request.hook_instance)

    def timed(self, stage: Stage, seconds: float) -> None:
        assert seconds >= 0
        self.stages.append(stage)


def _service_id(hook: Hook) -> str:
    return f"sts-{hook.value}"


def _card_ids(cards: list[dict[str, Any]]) -> list[str]:
    return [card["source"]["topic"]["code"] for card in cards]


@pytest.mark.parametrize(("scenario", "hook"), CALLS)
def test_the_observer_sees_the_request_and_every_stage_once_in_order(
    app: Flask, scenario: str, hook: Hook
) -> None:
    state = service_state(app)
    request = scenario_request(scenario, f"{hook.value}.json")
    recorder = Recorder()
    outcome = state.registry.pipeline.run(get_service(_service_id(hook)),
                                          json.dumps(request).encode(), BASE_URL,
                                          observer=recorder)
    assert recorder.requests == [request["hookInstance"]]
    assert recorder.stages == list(Stage)
    assert outcome.case is not None and outcome.case.patient.id == request["context"]["patientId"]


@pytest.mark.parametrize(("scenario", "hook"), CALLS)
def test_the_service_the_offline_review_and_an_unobserved_run_give_the_same_cards(
    app: Flask, scenario: str, hook: Hook
) -> None:
    state = service_state(app)
    request = scenario_request(scenario, f"{hook.value}.json")
    served = app.test_client().post(f"/cds-services/{_service_id(hook)}", json=request)
    unobserved = state.registry.pipeline.run(get_service(_service_id(hook)),
                                             json.dumps(request).encode(), BASE_URL)
    review = evaluate_path(FIXTURES / scenario, hook, state.guidance, state.settings)
    expected = _card_ids(served.get_json()["cards"])
    assert expected  # each of these calls gives cards
    assert [item.recommendation_id for item in unobserved.decision.issued] == expected
    assert [item.recommendation_id for item in review.issued] == expected
    assert review.case is not None and review.case.patient.id == request["context"]["patientId"]


def test_a_stage_that_raises_is_reported_and_the_later_ones_are_not(app: Flask) -> None:
    """A prefetch that lacks a key and no fhirServer: resolve fails with 412."""
    state = service_state(app)
    request = scenario_request("ilms-rms-component", "patient-view.json")
    del request["prefetch"]["conditions"]
    recorder = Recorder()
    with pytest.raises(PreconditionFailed):
        state.registry.pipeline.run(get_service("sts-patient-view"),
                                    json.dumps(request).encode(), BASE_URL, observer=recorder)
    assert recorder.stages == [Stage.DECODE, Stage.VALIDATE, Stage.RESOLVE]


def test_the_rule_table_binds_each_catalogue_id_to_its_own_rule() -> None:
    catalogue = load_catalogue()
    assert sorted(RULES) == sorted(catalogue.ids)
    assert len({id(rule) for rule in RULES.values()}) == len(RULES)
