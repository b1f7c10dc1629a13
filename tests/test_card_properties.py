"""Properties every card must have, over every scenario (contract.md "Cards", cds-hooks.md §4)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from flask import Flask

from cds_service.app import create_app
from cds_service.evaluate import evaluate_path
from cds_service.guidelines.catalogue import load_catalogue
from cds_service.hooks.models import Hook
from cds_service.identifiers import EXTENSION_KEY
from cds_service.identifiers import OVERRIDE_REASON_SYSTEM
from cds_service.identifiers import RECOMMENDATION_SYSTEM
from cds_service.settings import Settings
from cds_service.state import service_state
from tests.common import FIXTURES_DIR
from tests.common import load_json
from tests.common import scenario_request

CATALOGUE = load_catalogue()
SERVICE_BY_HOOK = {"patient-view": "sts-patient-view", "order-select": "sts-order-select",
                   "order-sign": "sts-order-sign"}
CALLS = [(folder.name, load_json(folder / "manifest.json")["today"], call)
         for folder in sorted(FIXTURES_DIR.iterdir()) if (folder / "manifest.json").exists()
         for call in load_json(folder / "manifest.json")["calls"]]
IDS = [f"{s}:{c['request']}" for s, _, c in CALLS]
EVALUATED = [(s, t, c) for s, t, c in CALLS if c["request"] == f"{c['hook']}.json"]
"""The calls ``cds-service evaluate`` replays: it reads the scenario's ``<hook>.json`` request."""


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Flask]]:
    root: Path = tmp_path_factory.mktemp("properties")
    built = {today: create_app(Settings(database_url=f"sqlite:///{root / today}.sqlite3",
                                        today=dt.date.fromisoformat(today)))
             for today in {today for _, today, _ in CALLS}}
    yield built
    for app in built.values():
        service_state(app).close()


def _cards(apps: dict[str, Flask], scenario: str, today: str,
           call: dict[str, Any]) -> list[dict[str, Any]]:
    response = apps[today].test_client().post(
        f"/cds-services/{SERVICE_BY_HOOK[call['hook']]}",
        json=scenario_request(scenario, call["request"]))
    assert response.status_code == 200
    cards: list[dict[str, Any]] = response.get_json()["cards"]
    return cards


@pytest.mark.parametrize(("scenario", "today", "call"), CALLS, ids=IDS)
def test_every_card_is_spec_valid_and_explains_itself(
    apps: dict[str, Flask], scenario: str, today: str, call: dict[str, Any]
) -> None:
    for card in _cards(apps, scenario, today, call):
        rec_id = card["source"]["topic"]["code"]
        spec = CATALOGUE.get(rec_id)
        assert spec is not None
        assert len(card["summary"]) < 140  # C5
        assert card["indicator"] in spec.indicators
        assert call["hook"] in spec.hooks
        assert card["source"]["topic"] == {"system": RECOMMENDATION_SYSTEM, "code": rec_id,
                                           "display": spec.title}
        assert card["source"]["label"] == CATALOGUE.source_label(spec)
        assert card["source"]["url"].endswith("/recommendations")
        assert card["links"][0]["type"] == "absolute"
        assert card["links"][0]["url"].endswith(f"/recommendations/{rec_id}")
        explanation = card["extension"][EXTENSION_KEY]
        assert explanation["recommendationId"] == rec_id
        assert "**Why this card**" in card["detail"]
        # The card cites the record: every reference it names is Type/id.
        for ref in explanation.get("references", []):
            assert re.fullmatch(r"[A-Z][A-Za-z]+/[A-Za-z0-9\-.]+", ref), ref


@pytest.mark.parametrize(("scenario", "today", "call"), CALLS, ids=IDS)
def test_suggestions_are_valid_fhir_actions(
    apps: dict[str, Flask], scenario: str, today: str, call: dict[str, Any]
) -> None:
    request = scenario_request(scenario, call["request"])
    drafts = {f"{e['resource']['resourceType']}/{e['resource'].get('id')}"
              for e in (request["context"].get("draftOrders") or {}).get("entry", [])}
    for card in _cards(apps, scenario, today, call):
        suggestions = card.get("suggestions", [])
        if suggestions:
            assert card["selectionBehavior"] == "at-most-one"
            assert sum(bool(s.get("isRecommended")) for s in suggestions) <= 1
        for suggestion in suggestions:
            assert suggestion["uuid"] and suggestion["label"]
            for action in suggestion["actions"]:
                if action["type"] == "delete":
                    assert action["resourceId"] in drafts
                    assert card.get("overrideReasons"), "a card deleting a draft offers reasons"
                else:
                    resource = action["resource"]
                    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
                    assert (resource["status"], resource["intent"]) == ("draft", "proposal")
                    assert resource["subject"]["reference"] == \
                        f"Patient/{request['context']['patientId'].removeprefix('Patient/')}"
        for reason in card.get("overrideReasons", []):
            assert reason["system"] == OVERRIDE_REASON_SYSTEM and reason["display"]


@pytest.mark.parametrize(("scenario", "today", "call"), EVALUATED,
                         ids=[f"{s}:{c['request']}" for s, _, c in EVALUATED])
def test_offline_evaluate_gives_the_same_cards_as_http(
    apps: dict[str, Flask], scenario: str, today: str, call: dict[str, Any]
) -> None:
    state = service_state(apps[today])
    review = evaluate_path(FIXTURES_DIR / scenario, Hook(call["hook"]), state.guidance,
                           state.settings)
    offline = [_comparable(item.card.to_json_dict()) for item in review.issued]
    online = [_comparable(card) for card in _cards(apps, scenario, today, call)]
    assert offline == online


def _comparable(card: dict[str, Any]) -> Any:
    """A card without what differs between two renderings: uuids and absolute URLs."""
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "uuid"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        if isinstance(value, str):
            return re.sub(r"https?://[^/\s]+", "", value)
        return value
    return strip(card)
