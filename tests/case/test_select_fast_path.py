"""The selector's pre-filter decides every resource exactly as the plain lookup did."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

import cds_service.case.select as select
from cds_service.case.medications import medication_concept
from cds_service.case.medications import names_no_drug
from cds_service.fhir.sieve import Sieve
from cds_service.terminology import Terminology
from cds_service.terminology import load_terminology
from tests.common import FIXTURES_DIR
from tests.terminology import reference

PREFILTER_FIELDS = {
    "Condition": ("code", "bodySite"),
    "Observation": ("code", "valueCodeableConcept", "valueString"),
    "Procedure": ("code",),
    "MedicationRequest": ("medicationCodeableConcept", "medicationReference"),
    "MedicationStatement": ("medicationCodeableConcept", "medicationReference"),
    "ServiceRequest": ("code",),
}


def old_is_candidate(resource: dict[str, Any], terminology: Terminology) -> bool:
    """``select._is_candidate`` as written before the fast path, on the plain lookup."""
    resource_type = resource.get("resourceType")
    if resource_type == "Patient":
        return True
    fields = PREFILTER_FIELDS.get(resource_type) if isinstance(resource_type, str) else None
    if fields is None:
        return False
    values: list[Any] = [resource.get(name) for name in fields]
    values += [e.get("valueCodeableConcept") for e in _list(resource.get("extension"))
               if isinstance(e, dict)]
    values += [n.get("text") for n in _list(resource.get("note")) if isinstance(n, dict)]
    values += [c.get("code") for c in _list(resource.get("component")) if isinstance(c, dict)]
    if "medicationReference" in resource:  # a contained Medication's code, else the display
        values.append(medication_concept(resource))
    return any(reference.is_candidate(terminology, resource_type, v)
               for v in values if v is not None) or names_no_drug(resource)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _fixture_resources() -> list[dict[str, Any]]:
    """Every resource of every scenario bundle, and every draft order of every hook request."""
    found: list[dict[str, Any]] = []
    for path in sorted(FIXTURES_DIR.glob("*/*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        bundles = [data, data.get("context", {}).get("draftOrders", {})]
        for bundle in bundles:
            found += [e["resource"] for e in bundle.get("entry", ())
                      if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    return found


def test_every_fixture_resource_is_decided_as_before() -> None:
    terminology = load_terminology()  # fresh memos: the first decision fills them
    resources = _fixture_resources()
    assert len(resources) > 300
    kept = 0
    for resource in resources:
        expected = old_is_candidate(resource, terminology)
        assert select._is_candidate(resource, terminology) is expected, resource.get("id")
        assert select._is_candidate(resource, terminology) is expected, resource.get("id")
        kept += expected
    assert 0 < kept < len(resources)


def test_the_selection_of_every_scenario_is_unchanged(
    monkeypatch: pytest.MonkeyPatch, terminology: Terminology
) -> None:
    records = [[e["resource"] for e in json.loads(p.read_text(encoding="utf-8"))["entry"]]
               for p in sorted(FIXTURES_DIR.glob("*/bundle.json"))]
    fast = [select.select_resources(record, terminology) for record in records]
    monkeypatch.setattr(select, "_is_candidate", old_is_candidate)
    assert fast == [select.select_resources(record, terminology) for record in records]


WORTH_READING = {
    "Condition": "Leiomyosarcoma of thigh",
    "Observation": "S-100 negative",
    "Procedure": "Wide local excision of thigh mass",
    "ServiceRequest": "Chest CT without contrast",
    "MedicationRequest": "Gemcitabine 900 mg/m2",
    "MedicationStatement": "Doxorubicin",
}


def _one_place(resource_type: str, place: str, text: str) -> dict[str, Any]:
    """A resource whose only candidate-making text is ``text`` at ``place``."""
    concept = {"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}], "text": text}
    value: Any = {
        "extension": [{"url": "x", "valueString": "s"}, {"valueCodeableConcept": concept}],
        "note": [{"text": "Seen in clinic"}, {"text": text}],
        "component": [{"code": {"text": "Heart rate"}}, {"code": concept}],
        "medicationReference": {"reference": "Medication/m1", "display": text},
        "valueString": text,
    }.get(place, concept)
    return {"resourceType": resource_type, "id": "x", "code": {"text": "Hypertension"},
            place: value}


@pytest.mark.parametrize(("resource_type", "place"), [
    (resource_type, place)
    for resource_type, fields in PREFILTER_FIELDS.items()
    for place in (*fields, "extension", "note", "component")
])
def test_each_place_the_selector_reads_still_counts(
    terminology: Terminology, resource_type: str, place: str
) -> None:
    for text, expected in ((WORTH_READING[resource_type], True), ("Hypertension", False)):
        resource = _one_place(resource_type, place, text)
        assert old_is_candidate(resource, terminology) is expected
        assert select._is_candidate(resource, terminology) is expected


TEXT = st.text(max_size=30) | st.sampled_from([
    "PEComa", "Leiomyosarcoma of thigh", "S-100 negative", "Heart rate", "Hypertension",
    "doxorubicin 75 mg/m2", "MRI thigh", "no sarcoma", "Glucose",
])
CODING = st.fixed_dictionaries({}, optional={
    "system": st.sampled_from(["http://snomed.info/sct", "http://loinc.org",
                               "http://hl7.org/fhir/sid/icd-10-cm",
                               "http://terminology.hl7.org/CodeSystem/icd-o-3",
                               "http://www.nlm.nih.gov/research/umls/rxnorm",
                               "http://www.genenames.org"]) | TEXT,
    "code": st.sampled_from(["C49.22", "8714/3", "8811/0", "10441-4", "8867-4", "35302",
                             "3639", "I10", "M84.552A", "HGNC:8031", "424952003"]) | TEXT,
    "display": TEXT,
})
VALUE: Any = st.none() | st.integers() | TEXT | st.fixed_dictionaries({}, optional={
    "coding": st.lists(CODING, max_size=2) | TEXT, "text": TEXT | st.integers(),
    "display": TEXT,
}) | st.lists(st.fixed_dictionaries({}, optional={"coding": st.lists(CODING, max_size=2),
                                                  "text": TEXT}), max_size=2)
ELEMENTS = st.lists(st.fixed_dictionaries({}, optional={
    "valueCodeableConcept": VALUE, "text": VALUE, "code": VALUE,
}) | VALUE, max_size=2) | VALUE
RESOURCE = st.fixed_dictionaries(
    {"resourceType": st.sampled_from([*PREFILTER_FIELDS, "Patient", "Flag"]) | TEXT},
    optional={name: VALUE for name in (
        "code", "bodySite", "valueCodeableConcept", "valueString", "medicationCodeableConcept",
        "medicationReference")} | {name: ELEMENTS for name in ("extension", "note", "component")},
)


@settings(max_examples=400, deadline=None)
@given(RESOURCE)
def test_generated_resources_are_decided_as_before(
    terminology: Terminology, resource: dict[str, Any]
) -> None:
    expected = old_is_candidate(resource, terminology)
    assert select._is_candidate(resource, terminology) is expected
    assert select._is_candidate(resource, terminology) is expected


@pytest.fixture(scope="module")
def sieve(terminology: Terminology) -> Sieve:
    """Fetched pages are judged on a skeleton of each resource (``fhir.sieve``): the top-level
    elements the selector reads and nothing else. It must decide as the whole resource would."""
    return Sieve(lambda r: select.could_matter(r, terminology), select.JUDGED_FIELDS)


UNREAD = {"id": "x", "status": "final", "subject": {"reference": "Patient/p1"},
          "valueQuantity": {"value": 7.1, "unit": "%"}, "meta": {"versionId": "3"}}


def _judged_as_whole(sieve: Sieve, terminology: Terminology, resource: dict[str, Any]) -> None:
    skeleton = sieve.skeleton(json.dumps(resource).encode())
    assert set(skeleton) <= select.JUDGED_FIELDS
    assert sieve.keeps(skeleton) is select.could_matter(resource, terminology), resource


def test_every_fixture_resource_is_judged_on_its_skeleton_as_on_the_whole(
    sieve: Sieve, terminology: Terminology,
) -> None:
    resources = _fixture_resources()
    for resource in resources:
        _judged_as_whole(sieve, terminology, resource)
    assert 0 < sum(select.could_matter(r, terminology) for r in resources) < len(resources)


@pytest.mark.parametrize(("resource_type", "place"), [
    (resource_type, place)
    for resource_type, fields in PREFILTER_FIELDS.items()
    for place in (*fields, "extension", "note", "component")
])
def test_each_place_the_selector_reads_is_in_the_skeleton(
    sieve: Sieve, terminology: Terminology, resource_type: str, place: str,
) -> None:
    for text in (WORTH_READING[resource_type], "Hypertension"):
        _judged_as_whole(sieve, terminology, {**UNREAD, **_one_place(resource_type, place, text)})


@pytest.mark.parametrize("resource_type", ["MedicationRequest", "MedicationStatement"])
@pytest.mark.parametrize(("code", "expected"), [("3639", True), ("314076", False)])
def test_a_contained_medication_is_judged_by_its_code(
    sieve: Sieve, terminology: Terminology, resource_type: str, code: str, expected: bool,
) -> None:
    resource = {**UNREAD, "resourceType": resource_type,
                "contained": [{"resourceType": "Medication", "id": "m1", "code": {"coding": [
                    {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": code}]}}],
                "medicationReference": {"reference": "#m1"}}

    assert select.could_matter(resource, terminology) is expected
    _judged_as_whole(sieve, terminology, resource)


@settings(max_examples=300, deadline=None)
@given(RESOURCE)
def test_generated_resources_are_judged_on_their_skeleton_as_on_the_whole(
    sieve: Sieve, terminology: Terminology, resource: dict[str, Any],
) -> None:
    _judged_as_whole(sieve, terminology, {**UNREAD, **resource})
