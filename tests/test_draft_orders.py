"""Draft orders read leniently, and suggestions the reference sandbox can apply (issue 14, server
side; contract.md "Draft orders are read leniently (revised)", the Errors table and the suggestion
rules under Cards).

- Only the CDS Hooks envelope makes a 400; drafts as the CDS Hooks sandbox builds them (category
  object, no intent, no medication yet, reasonCode object) are answered 200 with the right cards.
- A draft with nothing to act on gets no card and is not named; one whose used fields cannot be
  read is named (``Type/id``, or its position) in the response's extension and gets no card; the
  other drafts' cards still come. Malformed fields no rule uses change nothing.
- A suggestion replacing a draft lists ``create`` before ``delete``, and a created
  MedicationRequest's ``medicationCodeableConcept`` carries ``text`` beside a coded coding.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cds_service.app import create_app
from cds_service.settings import Settings
from cds_service.state import service_state
from tests.case.common import bundle
from tests.common import FIXTURES_DIR
from tests.common import hook_request
from tests.common import load_json
from tests.common import scenario_request
from tests.systems import RXNORM

PECOMA = "pecoma-lung-metastases-doxorubicin"
PATIENT = "pt-p5"
RULE = "pecoma-chemo-before-mtor"
EXTENSION = "org.sts-cds.explanation"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    root: Path = tmp_path_factory.mktemp("drafts")
    built = create_app(Settings(database_url=f"sqlite:///{root / 'db.sqlite3'}",
                                today=dt.date(2026, 11, 22)))
    yield built
    service_state(built).close()


def _pecoma_code() -> dict[str, Any]:
    return next(r["code"] for r in bundle(PECOMA) if r.get("id") == "p5-cond-1")


def sandbox_draft(*, chosen: bool = True, dispense: bool = True, stu3_dosage: bool = False,
                  reason: bool = True) -> dict[str, Any]:
    """The MedicationRequest the CDS Hooks sandbox builds on Rx View / Rx Sign (its ``pa``
    function in app.bundle.js): before a drug is chosen only type, id, status, subject and date;
    once chosen, the dosage (``doseAndRate`` from FHIR 4.0.0, else ``doseQuantity`` on Dosage),
    with a supply duration ``intent`` and a ``category`` object, the drug as text plus an RxNorm
    coding whose display repeats the name, and ``reasonCode`` as the chosen Condition's code object.
    """
    draft: dict[str, Any] = {"resourceType": "MedicationRequest", "id": "request-123",
                             "status": "draft", "subject": {"reference": f"Patient/{PATIENT}"},
                             "authoredOn": "2026-11-22"}
    if chosen:
        dose = {"value": 1, "system": "http://unitsofmeasure.org", "code": "{pill}"}
        dosage: dict[str, Any] = {"timing": {"repeat": {"frequency": 1, "period": 1,
                                                        "periodUnit": "d"}}}
        if stu3_dosage:
            dosage["doseQuantity"] = dose
        else:
            dosage["doseAndRate"] = [{"doseQuantity": dose}]
        draft["dosageInstruction"] = [dosage]
        if dispense:
            draft["dispenseRequest"] = {"expectedSupplyDuration": {
                "value": 30, "unit": "days", "system": "http://unitsofmeasure.org", "code": "d"}}
            draft["intent"] = "order"
            draft["category"] = {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
                "code": "community"}]}
        name = "Idarubicin Hydrochloride 10 MG Oral Capsule"
        draft["medicationCodeableConcept"] = {
            "text": name, "coding": [{"display": name, "system": RXNORM, "code": "996156"}]}
    if reason:
        draft["reasonCode"] = _pecoma_code()
    return draft


def _post(app: Flask, hook: str, drafts: list[dict[str, Any]],
          selections: list[str] | None = None) -> dict[str, Any]:
    body = hook_request(hook, PATIENT, bundle(PECOMA), drafts, selections)
    response = app.test_client().post(f"/cds-services/sts-{hook}", json=body)
    assert response.status_code == 200, response.get_json()
    result: dict[str, Any] = response.get_json()
    return result


def _subjects(body: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((c["source"]["topic"]["code"], c["extension"][EXTENSION]["subject"])
                  for c in body["cards"])


HOOKS = ["order-select", "order-sign"]


@pytest.mark.parametrize("hook", HOOKS)
@pytest.mark.parametrize("shape", [
    {}, {"dispense": False}, {"stu3_dosage": True}, {"reason": False},
    {"dispense": False, "reason": False, "stu3_dosage": True}])
def test_sandbox_draft_with_oral_idarubicin_gets_the_mtor_card(
        app: Flask, hook: str, shape: dict[str, bool]) -> None:
    body = _post(app, hook, [sandbox_draft(**shape)])
    assert _subjects(body) == [(RULE, "MedicationRequest/request-123")]
    assert "extension" not in body
    card = body["cards"][0]
    recommended = next(s for s in card["suggestions"] if s["isRecommended"])
    first, second = recommended["actions"]
    assert (first["type"], second["type"]) == ("create", "delete")
    assert second["resourceId"] == "MedicationRequest/request-123"
    concept = first["resource"]["medicationCodeableConcept"]
    assert concept["text"] == "Sirolimus (mTOR inhibitor)"
    assert {(c["system"], c["code"]) for c in concept["coding"]} == {(RXNORM, "35302")}


@pytest.mark.parametrize("hook", HOOKS)
@pytest.mark.parametrize("reason", [True, False])
def test_sandbox_draft_before_a_drug_is_chosen_is_answered_without_cards(
        app: Flask, hook: str, reason: bool) -> None:
    """Nothing to act on yet: 200, no card, nothing named."""
    assert _post(app, hook, [sandbox_draft(chosen=False, reason=reason)]) == {"cards": []}


UNUSED = [
    ("category", {"coding": [{"code": "community"}]}), ("category", "community"),
    ("category", 12), ("intent", None), ("intent", 7), ("intent", "not-a-code"),
    ("dosageInstruction", {"text": "1 daily"}), ("dosageInstruction", "1 capsule daily"),
    ("dosageInstruction", [{"doseQuantity": {"value": "one"}}]),
    ("dispenseRequest", []), ("authoredOn", "yesterday"), ("requester", "Dr Smith"),
    ("note", "take with food"), ("identifier", {"value": 1}), ("priority", 5),
    ("text", "narrative"), ("meta", "x"), ("extension", {"url": 3}),
    ("courseOfTherapyType", ["x"]), ("substitution", True), ("unknownElement", {"a": 1}),
]


@pytest.mark.parametrize("hook", HOOKS)
@pytest.mark.parametrize(("field", "value"), UNUSED, ids=[f"{f}={v!r}"[:40] for f, v in UNUSED])
def test_malformed_fields_no_rule_uses_change_nothing(app: Flask, hook: str, field: str,
                                                      value: Any) -> None:
    draft = sandbox_draft()
    if value is None:
        draft.pop(field, None)
    else:
        draft[field] = value
    body = _post(app, hook, [draft])
    assert _subjects(body) == [(RULE, "MedicationRequest/request-123")]
    assert "extension" not in body


USED = [
    ("medicationCodeableConcept", [{"text": "Idarubicin"}]),
    ("medicationCodeableConcept", "Idarubicin 10 mg"),
    ("medicationCodeableConcept", {"coding": {"system": RXNORM, "code": "5650"}}),
    ("medicationCodeableConcept", {"text": 5650}),
    ("medicationReference", "Medication/ida"),
    ("subject", "Patient/pt-p5"),
    ("status", 17),
    ("reasonCode", ["C48.0"]),
    ("reasonReference", "Condition/p5-cond-1"),
    ("reasonReference", [{"reference": 12}]),
]


@pytest.mark.parametrize("hook", HOOKS)
@pytest.mark.parametrize(("field", "value"), USED, ids=[f"{f}={v!r}"[:40] for f, v in USED])
def test_unreadable_used_field_names_the_draft_and_the_others_still_answer(
        app: Flask, hook: str, field: str, value: Any) -> None:
    broken = sandbox_draft()
    broken[field] = value
    other = copy.deepcopy(sandbox_draft())
    other["id"] = "request-456"
    body = _post(app, hook, [broken, other])
    assert _subjects(body) == [(RULE, "MedicationRequest/request-456")]
    assert body["extension"] == {EXTENSION: {
        "unreadableResources": ["MedicationRequest/request-123"]}}


@pytest.mark.parametrize(("entry", "named"), [
    ({"fullUrl": "urn:uuid:1"}, "context.draftOrders.entry[0]"),
    ({"resource": "MedicationRequest"}, "context.draftOrders.entry[0]"),
    ({"resource": {"resourceType": 3, "id": "x"}}, "context.draftOrders.entry[0]"),
    ({"resource": {"resourceType": "ServiceRequest", "id": 42, "code": "CT thigh"}},
     "context.draftOrders.entry[0]"),
    ({"resource": {"resourceType": "ServiceRequest", "id": "sr-1", "code": "CT thigh"}},
     "ServiceRequest/sr-1"),
    ({"resource": {"resourceType": "ServiceRequest", "id": "sr-1",
                   "code": {"text": "CT right thigh"}, "bodySite": "right thigh"}},
     "ServiceRequest/sr-1"),
])
def test_unreadable_draft_is_named_by_type_id_or_position(app: Flask, entry: dict[str, Any],
                                                         named: str) -> None:
    body = hook_request("order-sign", PATIENT, bundle(PECOMA), [sandbox_draft()])
    body["context"]["draftOrders"]["entry"].insert(0, entry)
    response = app.test_client().post("/cds-services/sts-order-sign", json=body)
    assert response.status_code == 200
    result = response.get_json()
    assert _subjects(result) == [(RULE, "MedicationRequest/request-123")]
    assert result["extension"] == {EXTENSION: {"unreadableResources": [named]}}


@pytest.mark.parametrize(("draft", "expected"), [
    # a single object where R4 has a list, read as a list of one
    ({"resourceType": "ServiceRequest", "id": "sr-ct", "status": "draft",
      "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "73700"}],
               "text": "CT right thigh"},
      "bodySite": {"text": "Right thigh"}}, [("sts-mri-local-staging", "ServiceRequest/sr-ct")]),
    # no code yet: nothing to act on
    ({"resourceType": "ServiceRequest", "id": "sr-ct", "status": "draft",
      "category": {"text": "Imaging"}}, []),
])
def test_service_request_drafts_read_leniently(app: Flask, draft: dict[str, Any],
                                               expected: list[tuple[str, str]]) -> None:
    record = bundle("sts-ct-ordered-no-mri")
    patient = next(r["id"] for r in record if r["resourceType"] == "Patient")
    body = hook_request("order-sign", patient, record, [draft])
    response = app.test_client().post("/cds-services/sts-order-sign", json=body)
    assert response.status_code == 200
    assert _subjects(response.get_json()) == expected
    assert "extension" not in response.get_json()


def _order_calls() -> list[tuple[str, str]]:
    calls = []
    for manifest in sorted(FIXTURES_DIR.glob("*/manifest.json")):
        for call in load_json(manifest)["calls"]:
            if call["hook"] != "patient-view":
                calls.append((manifest.parent.name, call["request"]))
    return calls


@pytest.mark.parametrize(("scenario", "request_file"), _order_calls())
def test_every_replacing_suggestion_creates_before_it_deletes(app: Flask, scenario: str,
                                                              request_file: str) -> None:
    """Every fixture's order calls: create first, then delete; created drugs carry text."""
    manifest = load_json(FIXTURES_DIR / scenario / "manifest.json")
    today = manifest["today"]
    assert today == "2026-11-22"  # the app's CDS_TODAY
    body = scenario_request(scenario, request_file)
    response = app.test_client().post(f"/cds-services/sts-{body['hook']}", json=body)
    assert response.status_code == 200
    for card in response.get_json()["cards"]:
        for suggestion in card.get("suggestions", []):
            kinds = [a["type"] for a in suggestion["actions"]]
            assert kinds == sorted(kinds, key=("create", "delete").index), card["summary"]
            for action in suggestion["actions"]:
                resource = action.get("resource")
                if isinstance(resource, dict) and resource["resourceType"] == "MedicationRequest":
                    concept = resource["medicationCodeableConcept"]
                    assert concept["text"]
                    assert any(c.get("code") for c in concept["coding"])
