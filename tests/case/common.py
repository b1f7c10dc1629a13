"""Scenario data and small FHIR builders shared by the case-model tests.

Tests read FHIR data from ``fhir_fixtures/`` and mutate deep copies for their variants, so the
data stays realistic and each variant states only what it changes.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable
from functools import cache
from typing import Any

from cds_service.case.model import Case
from tests.common import FIXTURES_DIR
from tests.systems import CLINICAL as CLINICAL
from tests.systems import CPT as CPT
from tests.systems import HGNC as HGNC
from tests.systems import ICD10CM as ICD10CM
from tests.systems import ICDO3 as ICDO3
from tests.systems import LOINC as LOINC
from tests.systems import MCODE_RELATED_URL as MCODE_RELATED_URL
from tests.systems import MORPHOLOGY_URL as MORPHOLOGY_URL
from tests.systems import NCIT as NCIT
from tests.systems import RELATED_URL as RELATED_URL
from tests.systems import RXNORM as RXNORM
from tests.systems import SNOMED as SNOMED
from tests.systems import UCUM as UCUM
from tests.systems import VERIFICATION as VERIFICATION

JsonObject = dict[str, Any]
CaseBuilder = Callable[..., Case]
"""The ``case_of`` fixture: builds the case of a resource list or of a scenario by name."""

TODAY = dt.date(2026, 11, 22)
"""The fixed ``today`` of the scenario fixtures."""




@cache
def _bundle(scenario: str) -> JsonObject:
    bundle: JsonObject = json.loads(
        (FIXTURES_DIR / scenario / "bundle.json").read_text(encoding="utf-8"))
    return bundle


def bundle(scenario: str, *, patient: bool = True) -> list[JsonObject]:
    """A deep copy of every resource of a scenario's bundle (optionally without the Patient)."""
    entries = copy.deepcopy(_bundle(scenario)["entry"])
    return [e["resource"] for e in entries
            if patient or e["resource"]["resourceType"] != "Patient"]


def draft_orders(scenario: str, request: str) -> JsonObject:
    """A deep copy of the ``draftOrders`` Bundle of one of a scenario's hook requests."""
    call = json.loads((FIXTURES_DIR / scenario / request).read_text(encoding="utf-8"))
    orders: JsonObject = call["context"]["draftOrders"]
    return orders


def resource(scenario: str, resource_id: str) -> JsonObject:
    """A fresh copy of one resource of a scenario's bundle, by id."""
    found = [r for r in bundle(scenario) if r.get("id") == resource_id]
    assert len(found) == 1, f"{scenario} has no single resource {resource_id}"
    return found[0]


def find(resources: list[JsonObject], resource_id: str) -> JsonObject:
    """The resource with ``resource_id`` in a list (to mutate it in place)."""
    return next(r for r in resources if r.get("id") == resource_id)


def without(resources: list[JsonObject], *resource_ids: str) -> list[JsonObject]:
    """The resources except those with the given ids."""
    return [r for r in resources if r.get("id") not in resource_ids]


def merged(*scenarios: str) -> list[JsonObject]:
    """One record made of several scenario bundles (the first scenario's Patient only)."""
    return bundle(scenarios[0]) + [r for s in scenarios[1:] for r in bundle(s, patient=False)]


def patient_id(resources: list[JsonObject]) -> str:
    """The id of the record's Patient."""
    return str(next(r["id"] for r in resources if r["resourceType"] == "Patient"))


def cc(*codings: tuple[str, ...], text: str | None = None) -> JsonObject:
    """A CodeableConcept from (system, code[, display]) tuples and an optional text."""
    result: JsonObject = {}
    if codings:
        result["coding"] = [dict(zip(("system", "code", "display"), c, strict=False))
                            for c in codings]
    if text is not None:
        result["text"] = text
    return result


def quantity(value: float, unit: str) -> JsonObject:
    """A UCUM Quantity."""
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def status(system: str, code: str) -> JsonObject:
    """A Condition clinicalStatus or verificationStatus."""
    return {"coding": [{"system": system, "code": code}]}


def ref(reference: str) -> JsonObject:
    """A Reference."""
    return {"reference": reference}


def observation(resource_id: str, code: JsonObject, **fields: Any) -> JsonObject:
    """A final Observation of patient ``p`` with the given code and fields."""
    return {"resourceType": "Observation", "id": resource_id, "status": "final", "code": code,
            "subject": ref("Patient/p"), **fields}


def draft(resource_type: str, resource_id: str | None, code: JsonObject,
          **fields: Any) -> JsonObject:
    """A draft order (MedicationRequest or ServiceRequest) as an order hook sends it."""
    order: JsonObject = {"resourceType": resource_type, "status": "draft", "intent": "order",
                         "subject": ref("Patient/p"), **fields}
    if resource_id is not None:
        order["id"] = resource_id
    key = "medicationCodeableConcept" if resource_type == "MedicationRequest" else "code"
    order[key] = code
    return order


def draft_bundle(*orders: JsonObject) -> JsonObject:
    """The ``draftOrders`` Bundle of an order hook."""
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": order} for order in orders]}
