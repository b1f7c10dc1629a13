"""The scenario fixtures are realistic, valid FHIR R4 and cover the whole catalogue."""

from __future__ import annotations

from typing import Any

import pytest

from cds_service.case.medications import names_no_drug
from cds_service.fhir.parse import resource_problems
from cds_service.guidelines.catalogue import load_catalogue
from cds_service.hooks.models import Hook
from cds_service.hooks.request import parse_hook_request
from tests.common import FIXTURES_DIR
from tests.common import load_json
from tests.common import scenario_request

SCENARIOS = sorted(p.name for p in FIXTURES_DIR.iterdir()
                   if p.is_dir() and (p / "manifest.json").exists())
CATALOGUE_IDS = set(load_catalogue().ids)


def _calls() -> list[tuple[str, dict[str, Any]]]:
    return [(name, call) for name in SCENARIOS
            for call in load_json(FIXTURES_DIR / name / "manifest.json")["calls"]]


def test_there_are_at_least_25_scenarios() -> None:
    assert len(SCENARIOS) >= 25


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_resource_of_the_bundle_is_valid_r4(scenario: str) -> None:
    # A scenario may hold unreadable resources on purpose (partial-data policy): invalid ones,
    # or valid medications that name no readable drug. Its manifest names them under
    # "unreadable", and only those may fail.
    manifest = load_json(FIXTURES_DIR / scenario / "manifest.json")
    deliberate = {ref for call in manifest["calls"] for ref in call.get("unreadable", [])}
    bundle = load_json(FIXTURES_DIR / scenario / "bundle.json")
    resources = {f"{e['resource']['resourceType']}/{e['resource'].get('id')}": e["resource"]
                 for e in bundle["entry"]}
    invalid = {ref for ref, resource in resources.items() if resource_problems(resource)}
    unnamed = {ref for ref, resource in resources.items() if names_no_drug(resource)}
    assert invalid == deliberate - unnamed
    assert deliberate <= invalid | unnamed
    if not deliberate:
        assert resource_problems(bundle) == []
    patients = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert len(patients) == 1


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_manifest_is_well_formed(scenario: str) -> None:
    manifest = load_json(FIXTURES_DIR / scenario / "manifest.json")
    assert manifest["description"].strip() and manifest["today"]
    for call in manifest["calls"]:
        assert (FIXTURES_DIR / scenario / call["request"]).exists()
        must, must_not = set(call["must"]), set(call["must_not"])
        assert must <= CATALOGUE_IDS and must_not <= CATALOGUE_IDS
        assert not must & must_not
        assert set(call.get("indicators", {})) <= must


@pytest.mark.parametrize(("scenario", "call"), _calls(),
                         ids=[f"{s}:{c['request']}" for s, c in _calls()])
def test_every_request_is_a_valid_hook_call(scenario: str, call: dict[str, Any]) -> None:
    request = scenario_request(scenario, call["request"])
    parsed = parse_hook_request(Hook(call["hook"]), request)
    assert parsed.hook == call["hook"]


def test_every_recommendation_has_a_positive_and_a_negative_scenario() -> None:
    fired = {rec for _, call in _calls() for rec in call["must"]}
    withheld = {rec for _, call in _calls() for rec in call["must_not"]}
    assert CATALOGUE_IDS - fired == set()
    assert CATALOGUE_IDS - withheld == set()


def test_some_scenarios_expect_no_card_at_all() -> None:
    silent = {name for name, call in _calls() if call["hook"] == "patient-view"
              and not call["must"]}
    assert {"no-tumour-hypertension", "spindle-cell-lipoma-only", "breast-cancer-no-sarcoma",
            "sarcoma-entered-in-error", "osteoporotic-fracture-no-tumour"} <= silent


