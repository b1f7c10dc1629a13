"""The patient as a whole (recommendations.md, revised), over every fixture scenario and hook.

- No response creates the same order twice (same kind and body site; chest CT and referral per
  patient): the card with the higher indicator keeps the ``create`` (tie: catalogue order; same
  recommendation: the draft listed first / the tumour listed first), the other names that card,
  and on order hooks each card keeps the ``delete`` of its own draft.
- A deceased patient gets no cards on any hook: every scenario call is replayed with the Patient
  made deceased in each way FHIR records it.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cds_service.app import create_app
from cds_service.hooks.prefetch import prefetch_from_bundle
from cds_service.hooks.services import PREFETCH
from cds_service.identifiers import EXTENSION_KEY
from cds_service.settings import Settings
from cds_service.state import service_state
from tests.common import FIXTURES_DIR
from tests.common import load_json
from tests.common import scenario_request

JsonObject = dict[str, Any]
SERVICE_BY_HOOK = {"patient-view": "sts-patient-view", "order-select": "sts-order-select",
                   "order-sign": "sts-order-sign"}
PER_PATIENT = {("http://www.ama-assn.org/go/cpt", "71250"), ("http://snomed.info/sct", "3457005")}
"""Chest CT and referral: one per patient, whatever tumour or site they are for."""
CALLS = [(folder.name, load_json(folder / "manifest.json")["today"], call)
         for folder in sorted(FIXTURES_DIR.iterdir()) if (folder / "manifest.json").exists()
         for call in load_json(folder / "manifest.json")["calls"]]
IDS = [f"{s}:{c['request']}" for s, _, c in CALLS]


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Flask]]:
    root: Path = tmp_path_factory.mktemp("whole")
    built = {today: create_app(Settings(database_url=f"sqlite:///{root / today}.sqlite3",
                                        today=dt.date.fromisoformat(today)))
             for today in {today for _, today, _ in CALLS} | {"2026-11-22"}}
    yield built
    for app in built.values():
        service_state(app).close()


def post(app: Flask, request: JsonObject) -> list[JsonObject]:
    """The cards of one hook call."""
    response = app.test_client().post(f"/cds-services/{SERVICE_BY_HOOK[request['hook']]}",
                                      json=request)
    assert response.status_code == 200, response.get_json()
    cards: list[JsonObject] = response.get_json()["cards"]
    return cards


def with_record(scenario: str, request_file: str, resources: list[JsonObject]) -> JsonObject:
    """A scenario's request with ``resources`` as the record the EHR prefetched."""
    request: JsonObject = load_json(FIXTURES_DIR / scenario / request_file)
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": r} for r in resources]}
    request["prefetch"] = prefetch_from_bundle(PREFETCH, bundle)
    return request


def record(scenario: str) -> list[JsonObject]:
    """A fresh copy of a scenario's resources."""
    return [e["resource"] for e in load_json(FIXTURES_DIR / scenario / "bundle.json")["entry"]]


def order_identity(resource: JsonObject) -> str:
    """What makes two created orders the same order: kind (type and code) and body site."""
    concept = resource.get("code") or resource.get("medicationCodeableConcept") or {}
    codes = sorted((c.get("system"), c.get("code")) for c in concept.get("coding", []))
    per_patient = any(tuple(code) in PER_PATIENT for code in codes)
    site = None if per_patient else resource.get("bodySite")
    return json.dumps([resource["resourceType"], codes, concept.get("text"), site], sort_keys=True)


def creates(cards: list[JsonObject]) -> Counter[str]:
    """How many cards create each order (a card proposing it in two suggestions counts once)."""
    counted: Counter[str] = Counter()
    for card in cards:
        counted.update({order_identity(a["resource"]) for s in card.get("suggestions", [])
                        for a in s.get("actions", []) if a["type"] == "create"})
    return counted


# --- no two cards create the same order ---------------------------------------------------------

@pytest.mark.parametrize(("scenario", "today", "call"), CALLS, ids=IDS)
def test_no_response_creates_the_same_order_twice(apps: dict[str, Flask], scenario: str,
                                                  today: str, call: JsonObject) -> None:
    cards = post(apps[today], scenario_request(scenario, call["request"]))
    assert [order for order, count in creates(cards).items() if count > 1] == []


def _card(cards: list[JsonObject], rec_id: str, subject: str | None = None) -> JsonObject:
    (card,) = [c for c in cards if c["source"]["topic"]["code"] == rec_id
               and subject in (None, c["extension"][EXTENSION_KEY]["subject"])]
    return card


def _actions(card: JsonObject) -> list[tuple[str, str]]:
    """Each action of a card: ("delete", draft reference) or ("create", the order's text)."""
    found = []
    for suggestion in card.get("suggestions", []):
        for action in suggestion.get("actions", []):
            if action["type"] == "delete":
                found.append(("delete", action["resourceId"]))
            else:
                resource = action["resource"]
                concept = resource.get("code") or resource["medicationCodeableConcept"]
                found.append(("create", concept["text"]))
    return found


def test_the_higher_indicator_keeps_the_order_the_other_card_names_it(
        apps: dict[str, Flask]) -> None:
    """An FNA read as suspicious on a provisional diagnosis: the core-biopsy-after-FNA card
    (warning) keeps the core biopsy; histologic confirmation (info) names that card."""
    cards = post(apps["2026-11-22"],
                 scenario_request("sts-provisional-fna-suspicious", "patient-view.json"))
    warning = _card(cards, "sts-core-biopsy-after-fna")
    info = _card(cards, "sts-histologic-confirmation")
    assert warning["indicator"] == "warning" and info["indicator"] == "info"
    assert ("create", "Core needle biopsy of soft tissue mass") in _actions(warning)
    assert "suggestions" not in info
    assert "`sts-core-biopsy-after-fna`" in info["detail"]


def test_on_a_tie_the_card_first_in_catalogue_order_keeps_it(apps: dict[str, Flask]) -> None:
    """A local recurrence with overdue chest imaging: surveillance (warning, earlier in the
    catalogue) and recurrence-intensify (warning) both want a chest CT; one card creates it."""
    cards = post(apps["2026-11-22"], scenario_request("sts-local-recurrence", "patient-view.json"))
    surveillance = _card(cards, "sts-surveillance-plan")
    recurrence = _card(cards, "sts-recurrence-intensify")
    assert surveillance["indicator"] == recurrence["indicator"] == "warning"
    assert ("create", "CT chest without contrast") in _actions(surveillance)
    assert _actions(recurrence) == []
    assert "`sts-surveillance-plan`" in recurrence["detail"]


@pytest.mark.parametrize("reverse", [False, True], ids=["as-sent", "drafts-reversed"])
def test_order_hook_cards_keep_their_deletes_and_the_first_draft_keeps_the_create(
        apps: dict[str, Flask], reverse: bool) -> None:
    """Advanced uterine PEComa, epirubicin and ifosfamide drafted together: each card deletes
    its own draft; the sirolimus orders go with the card of the draft listed first."""
    request = scenario_request("pecoma-uterine-advanced", "order-sign.json")
    if reverse:
        request["context"]["draftOrders"]["entry"].reverse()
    cards = post(apps["2026-11-22"], request)
    first, second = ("MedicationRequest/p6-draft-ifo", "MedicationRequest/p6-draft-epi") \
        if reverse else ("MedicationRequest/p6-draft-epi", "MedicationRequest/p6-draft-ifo")
    keeper = _card(cards, "pecoma-chemo-before-mtor", first)
    other = _card(cards, "pecoma-chemo-before-mtor", second)
    assert set(_actions(keeper)) == {("delete", first), ("create", "Sirolimus (mTOR inhibitor)"),
                                     ("create", "nab-Sirolimus (Fyarro), mTOR inhibitor")}
    assert _actions(other) == [("delete", second)]
    assert "Sirolimus (mTOR inhibitor): suggested on the card" in other["detail"]
    assert f"about `{first}`" in other["detail"]
    assert other["overrideReasons"]


def test_two_tumours_one_referral_and_one_chest_ct(apps: dict[str, Flask]) -> None:
    """Two unrelated sarcomas, no referral and no chest CT on record: the referral and the chest
    CT are per patient, so the tumour listed first carries them and the other card names it."""
    resources = record("two-tumours-pecoma-and-ascmn")
    extra = [r for r in record("sts-thigh-high-grade-r1") if r["resourceType"] == "Condition"
             and r["id"] == "lms3-cond-lms"]
    for condition in extra:
        condition["subject"] = {"reference": "Patient/tt4-pt"}
    cards = post(apps["2026-11-22"], with_record(
        "two-tumours-pecoma-and-ascmn", "patient-view.json", resources + extra))
    first = _card(cards, "sts-specialist-referral", "tt4-cond-pecoma")  # listed first
    second = _card(cards, "sts-specialist-referral", "lms3-cond-lms")
    assert _actions(first) == [("create", "Referral to sarcoma reference centre / "
                                          "multidisciplinary team")]
    assert _actions(second) == []
    assert "`sts-specialist-referral`" in second["detail"]
    assert [order for order, count in creates(cards).items() if count > 1] == []


# --- no cards for a deceased patient ------------------------------------------------------------

def _deceased(patient: JsonObject, form: str, today: str) -> JsonObject:
    patient = {k: v for k, v in copy.deepcopy(patient).items() if not k.startswith("deceased")}
    day = dt.date.fromisoformat(today)
    if form == "deceasedBoolean":
        patient["deceasedBoolean"] = True
    elif form == "deceasedDateTime-past":
        patient["deceasedDateTime"] = (day - dt.timedelta(days=40)).isoformat() + "T08:15:00Z"
    elif form == "deceasedDateTime-today":
        patient["deceasedDateTime"] = day.isoformat()
    else:  # a month, as some EHRs record it
        patient["deceasedDateTime"] = day.isoformat()[:7]
    return patient


DECEASED_FORMS = ["deceasedBoolean", "deceasedDateTime-past", "deceasedDateTime-today",
                  "deceasedDateTime-month"]


@pytest.mark.parametrize("form", DECEASED_FORMS)
@pytest.mark.parametrize(("scenario", "today", "call"), CALLS, ids=IDS)
def test_a_deceased_patient_gets_no_card_on_any_hook(apps: dict[str, Flask], scenario: str,
                                                     today: str, call: JsonObject,
                                                     form: str) -> None:
    resources = [_deceased(r, form, today) if r["resourceType"] == "Patient" else r
                 for r in record(scenario)]
    assert post(apps[today], with_record(scenario, call["request"], resources)) == []


@pytest.mark.parametrize("alive", ["deceasedBoolean-false", "deceasedDateTime-tomorrow"])
def test_a_living_patient_still_gets_cards(apps: dict[str, Flask], alive: str) -> None:
    """Unknown is not dead: deceasedBoolean false, or a date after today, changes nothing."""
    scenario, request_file = "sts-thigh-high-grade-r1", "patient-view.json"
    resources = record(scenario)
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    if alive == "deceasedBoolean-false":
        patient["deceasedBoolean"] = False
    else:
        patient["deceasedDateTime"] = "2026-11-23"
    expected = [c["source"]["topic"]["code"]
                for c in post(apps["2026-11-22"], scenario_request(scenario, request_file))]
    cards = post(apps["2026-11-22"], with_record(scenario, request_file, resources))
    assert expected and [c["source"]["topic"]["code"] for c in cards] == expected
