"""Suggestions through the whole path: FHIR data in, the exact orders a card deletes and creates.

Each row pins a recommendation id's actions (recommendations.md "Suggestions"; terminology.md §5
codes), on a scenario request replayed over HTTP as an EHR would send it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cds_service.app import create_app
from cds_service.settings import Settings
from cds_service.state import service_state
from tests.common import scenario_request
from tests.systems import CPT
from tests.systems import LOINC
from tests.systems import RXNORM
from tests.systems import SNOMED

SERVICES = {"patient-view": "sts-patient-view", "order-select": "sts-order-select",
            "order-sign": "sts-order-sign"}

# (scenario, request, recommendation id, deleted draft, created (type, codings) of the recommended
# suggestion)
CASES = [
    ("pecoma-lung-metastases-doxorubicin", "order-sign.json", "pecoma-chemo-before-mtor",
     "MedicationRequest/p5-draft-dox", ("MedicationRequest", {(RXNORM, "35302")})),
    ("pecoma-lung-metastases-doxorubicin", "order-select.json", "pecoma-chemo-before-mtor",
     "MedicationRequest/p5-draft-dox", ("MedicationRequest", {(RXNORM, "35302")})),
    # A femoral fracture's immobilisation is text-only and not recommended (terminology.md §5,
    # revised): tests/test_rule_scoping.py sweeps the splint by site. Below the femur:
    ("pathological-fracture-tibia-metastatic", "order-sign.json", "fracture-no-internal-fixation",
     "ServiceRequest/ftm-draft-imn", ("ServiceRequest", {(CPT, "29505")})),
    ("pathological-fracture-tibia-metastatic", "order-select.json",
     "fracture-no-internal-fixation", "ServiceRequest/ftm-draft-imn",
     ("ServiceRequest", {(CPT, "29505")})),
    ("sts-ct-ordered-no-mri", "order-sign.json", "sts-mri-local-staging",
     "ServiceRequest/ct15-draft-ct-thigh", ("ServiceRequest", {(CPT, "73718")})),
    ("pecoma-broad-ligament-resected", "order-sign.json", "pecoma-chest-ct-not-xray",
     "ServiceRequest/p12-draft-cxr", ("ServiceRequest", {(CPT, "71250"), (LOINC, "29252-4")})),
    # recommendations.md "The patient as a whole (revised)": the overdue surveillance card (warning,
    # first in catalogue order) now carries the chest CT that sts-recurrence-intensify also
    # proposed; tests/test_single_orders.py checks the recurrence card names it.
    ("sts-local-recurrence", "patient-view.json", "sts-surveillance-plan",
     None, ("ServiceRequest", {(CPT, "71250"), (LOINC, "29252-4")})),
    ("sts-grade-unknown-resected", "patient-view.json", "sts-surveillance-plan",
     None, ("ServiceRequest", {(CPT, "71250"), (LOINC, "29252-4")})),
    ("ascmn-thumb-untreated", "patient-view.json", "sts-mri-local-staging",
     None, ("ServiceRequest", {(CPT, "73218")})),
    ("ascmn-thumb-untreated", "patient-view.json", "ascmn-mdm2-testing",
     None, ("ServiceRequest", {(LOINC, "93808-4")})),
    ("sts-thigh-high-grade-r1", "patient-view.json", "sts-specialist-referral",
     None, ("ServiceRequest", {(SNOMED, "3457005")})),
    ("spindle-nos-pan-trk-only", "order-sign.json", "ntrk-rna-ngs",
     None, ("ServiceRequest", set())),
    ("sts-provisional-fna-suspicious", "patient-view.json", "sts-core-biopsy-after-fna",
     None, ("ServiceRequest", set())),
]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    root: Path = tmp_path_factory.mktemp("suggestions")
    app = create_app(Settings(database_url=f"sqlite:///{root / 'db.sqlite3'}",
                              today=dt.date(2026, 11, 22)))
    yield app
    service_state(app).close()


def _recommended(app: Flask, scenario: str, request_file: str, rec_id: str) -> dict[str, Any]:
    request = scenario_request(scenario, request_file)
    response = app.test_client().post(f"/cds-services/{SERVICES[request['hook']]}", json=request)
    cards = [c for c in response.get_json()["cards"] if c["source"]["topic"]["code"] == rec_id]
    assert len(cards) == 1, [c["source"]["topic"]["code"] for c in response.get_json()["cards"]]
    recommended = [s for s in cards[0]["suggestions"] if s.get("isRecommended")]
    assert len(recommended) == 1
    return recommended[0]


@pytest.mark.parametrize(("scenario", "request_file", "rec_id", "deleted", "created"), CASES,
                         ids=[f"{c[2]}@{c[0]}:{c[1]}" for c in CASES])
def test_recommended_suggestion_actions(
    app: Flask, scenario: str, request_file: str, rec_id: str, deleted: str | None,
    created: tuple[str, set[tuple[str, str]]],
) -> None:
    suggestion = _recommended(app, scenario, request_file, rec_id)
    actions = suggestion["actions"]
    deletes = [a["resourceId"] for a in actions if a["type"] == "delete"]
    creates = [a["resource"] for a in actions if a["type"] == "create"]
    assert deletes == ([deleted] if deleted else [])
    assert len(creates) == 1
    resource = creates[0]
    resource_type, codings = created
    assert resource["resourceType"] == resource_type
    concept = resource.get("medicationCodeableConcept") or resource["code"]
    assert {(c["system"], c["code"]) for c in concept.get("coding", [])} == codings
    assert concept["text"]
    # Creates first, then deletes (revised contract.md, Cards): the reference sandbox applies
    # only the first action, and an EHR that applies them all gets the same result.
    kinds = [a["type"] for a in actions]
    assert kinds == sorted(kinds, key=("create", "delete").index)
