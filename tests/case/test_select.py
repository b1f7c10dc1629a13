"""Candidate selection: only resources that could matter are validated; invalid ones are named."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

import cds_service.case.select as select
from cds_service.case.select import select_resources
from cds_service.fhir import validity
from cds_service.fhir.parse import resource_problems
from cds_service.terminology import Terminology
from tests.case.common import ICD10CM
from tests.case.common import ICDO3
from tests.case.common import CaseBuilder
from tests.case.common import bundle
from tests.case.common import cc
from tests.case.common import find
from tests.case.common import observation
from tests.case.common import ref
from tests.common import FIXTURES_DIR

SCENARIO = "sts-thigh-high-grade-r1"
SCENARIOS = sorted(p.name for p in FIXTURES_DIR.iterdir() if (p / "bundle.json").exists())
UNRELATED = {
    "Condition/lms3-cond-dm",  # type 2 diabetes
    "MedicationStatement/lms3-medstmt-metformin",
    "Observation/lms3-obs-4",  # HbA1c, a lab with a string value
    "Observation/lms3-obs-5",  # blood pressure panel, a vital sign with components
}


@pytest.fixture
def validated(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Count the resources the selection validates, by ``Type/id`` (nothing remembered yet)."""
    calls: Counter[str] = Counter()

    def spy(resource: Any) -> Any:
        calls[f"{resource.get('resourceType')}/{resource.get('id')}"] += 1
        return resource_problems(resource)

    monkeypatch.setattr(validity, "resource_problems", spy)
    monkeypatch.setattr(select, "_validity", validity.ValidityMemo())
    return calls


def test_labs_vitals_and_unrelated_history_are_ignored_unread(
        case_of: CaseBuilder, validated: Counter[str]) -> None:
    """contract.md partial data: "an irrelevant resource is ignored unread"; the issue: "select
    candidate resources from the raw JSON by type and code (or text synonym) before full
    fhir.resources validation, then validate only those"."""
    case_of(SCENARIO)
    assert not UNRELATED & set(validated)
    assert {"Patient/lms3-pt", "Condition/lms3-cond-lms", "Procedure/lms3-proc-excision",
            "Observation/lms3-obs-2", "Observation/lms3-obs-margin"} <= set(validated)


def _labs_and_vitals(record: list[dict[str, Any]]) -> set[str]:
    """Observations of a record that are vital signs or quantitative labs (not tumour sizes)."""
    found = set()
    for item in (r for r in record if r["resourceType"] == "Observation"):
        categories = {c.get("code") for cat in item.get("category", [])
                      for c in cat.get("coding", [])}
        unit = (item.get("valueQuantity") or {}).get("code")
        if "vital-signs" in categories or unit not in (None, "mm", "cm"):
            found.add(f"Observation/{item['id']}")
    return found


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_no_scenario_validates_its_labs_or_vital_signs(
        case_of: CaseBuilder, validated: Counter[str], scenario: str) -> None:
    """The issue: "labs/vitals ignored unread" (blood pressure, haemoglobin, creatinine, TSH in
    every scenario record)."""
    record = bundle(scenario)
    case_of(record)
    assert not _labs_and_vitals(record) & set(validated)


def test_every_candidate_is_validated_exactly_once(
        case_of: CaseBuilder, validated: Counter[str]) -> None:
    """The issue: "validate only those" (each candidate once, never twice)."""
    case_of(SCENARIO)
    assert set(validated.values()) == {1}


def test_an_invalid_irrelevant_resource_is_not_reported(case_of: CaseBuilder,
                                                        validated: Counter[str]) -> None:
    """contract.md: only selected resources are validated, so a broken vital sign or an
    unknown resource type is neither read nor reported as unreadable."""
    record = bundle(SCENARIO)
    find(record, "lms3-obs-5")["effectiveDateTime"] = "last Tuesday"
    record.append({"resourceType": "Encounter", "id": "enc-1", "status": 12})
    record.append({"resourceType": "NotAFhirType", "id": "x-1", "code": {"text": "sarcoma"}})
    case = case_of(record)
    assert case.unreadable == ()
    assert "Encounter/enc-1" not in validated and "NotAFhirType/x-1" not in validated


def test_an_invalid_candidate_is_named_and_skipped_while_the_rest_maps(
        case_of: CaseBuilder) -> None:
    """The issue: "a candidate that fails validation is skipped and reported (named by
    Type/id)"; contract.md: the rest of the record is still read."""
    record = bundle(SCENARIO)
    find(record, "lms3-obs-2")["effectiveDateTime"] = "yesterday"  # the tumour size
    case = case_of(record)
    assert case.unreadable == ("Observation/lms3-obs-2",)
    (tumour,) = case.tumours
    assert tumour.size_cm is None  # the only size on record was skipped: unknown, not 0
    assert tumour.grade is not None and tumour.grade.value == 3
    assert [r.source for r in tumour.resections] == ["Procedure/lms3-proc-excision"]


def test_a_record_sent_again_is_judged_the_same_and_an_edit_is_read_afresh(
        case_of: CaseBuilder) -> None:
    """Validation outcomes are remembered per resource JSON: the EHR's next hook call on the
    same record names the same unreadable resource, and a corrected resource is read again."""
    record = bundle(SCENARIO)
    find(record, "lms3-obs-2")["effectiveDateTime"] = "yesterday"
    assert case_of(record).unreadable == ("Observation/lms3-obs-2",)
    assert case_of(record).unreadable == ("Observation/lms3-obs-2",)
    find(record, "lms3-obs-2")["effectiveDateTime"] = "2026-10-01"  # corrected in the EHR
    corrected = case_of(record)
    assert corrected.unreadable == ()
    assert corrected.tumours[0].size_cm is not None


def test_an_invalid_tumour_condition_is_named_and_its_tumour_is_not_guessed(
        case_of: CaseBuilder) -> None:
    """The issue: an unreadable candidate is skipped and named; facts about it are not
    attached to anything else, patient-level history still maps."""
    record = bundle(SCENARIO)
    find(record, "lms3-cond-lms")["focus"] = "not a Condition element"
    find(record, "lms3-cond-lms")["onsetDateTime"] = "2026-13-01"
    case = case_of(record)
    assert case.unreadable == ("Condition/lms3-cond-lms",)
    assert case.tumours == ()
    assert {i.source for i in case.imaging} == {"Procedure/lms3-proc-mri",
                                                "Procedure/lms3-proc-ctchest"}


def test_an_invalid_patient_is_named_and_the_case_keeps_the_hook_patient_id(
        case_of: CaseBuilder) -> None:
    """contract.md partial data: a selected resource that fails validation is named."""
    record = bundle(SCENARIO)
    find(record, "lms3-pt")["birthDate"] = "1968-02-31"
    case = case_of(record)
    assert case.unreadable == ("Patient/lms3-pt",)
    assert case.patient.id == "lms3-pt" and case.patient.age_years is None


def test_duplicate_resources_are_read_once(case_of: CaseBuilder,
                                           validated: Counter[str]) -> None:
    """The select module: "the same resource twice (two pages, two keys): read it once"."""
    record = bundle(SCENARIO)
    record += [find(bundle(SCENARIO), "lms3-proc-excision"), find(bundle(SCENARIO), "lms3-obs-2")]
    case = case_of(record)
    assert validated["Procedure/lms3-proc-excision"] == 1
    assert validated["Observation/lms3-obs-2"] == 1
    (tumour,) = case.tumours
    assert [r.source for r in tumour.resections] == ["Procedure/lms3-proc-excision"]


def test_an_invalid_duplicate_is_named_once(case_of: CaseBuilder) -> None:
    """contract.md: an unreadable resource is named by Type/id (once, however often sent)."""
    record = bundle(SCENARIO)
    broken = find(record, "lms3-obs-margin")
    broken["effectiveDateTime"] = "n/a"
    record.append(dict(broken))
    assert case_of(record).unreadable == ("Observation/lms3-obs-margin",)


def test_a_text_only_candidate_is_selected_by_its_synonym(terminology: Terminology) -> None:
    """The issue: candidates are selected "by type and code (or text synonym)"."""
    myogenin = observation("o-myogenin", cc(text="Myogenin immunostain"), valueString="Negative")
    potassium = observation("o-k", cc(text="Potassium"), valueString="4.1 mmol/L")
    chosen = select_resources([myogenin, potassium], terminology)
    assert [r["id"] for r in chosen.resources] == ["o-myogenin"]


def test_a_medication_named_only_by_its_reference_display_is_selected(
        case_of: CaseBuilder) -> None:
    """The issue: candidates by text synonym, here a medicationReference display."""
    statement = {"resourceType": "MedicationStatement", "id": "ms-1", "status": "active",
                 "subject": ref("Patient/p"),
                 "medicationReference": {"reference": "Medication/m-1",
                                         "display": "Larotrectinib 100 mg capsule"}}
    (medication,) = case_of([statement]).medications
    assert medication.drug == "drug/larotrectinib" and medication.from_text


def test_a_condition_named_only_by_its_histology_observation_is_read(
        case_of: CaseBuilder, validated: Counter[str]) -> None:
    """The issue (mCODE shapes): morphology from "the 31206-6 / 59847-4 observations"; a
    Condition coded only as a soft-tissue neoplasm of uncertain behaviour is the tumour the
    histology Observation names by focus, so it must not be dropped by the pre-filter."""
    record = bundle("sts-ct-ordered-no-mri")
    find(record, "ct15-cond-sarcoma")["code"] = cc(
        (ICD10CM, "D48.19", "Other specified neoplasm of uncertain behavior of connective and "
                            "other soft tissue"), text="Soft tissue mass, right thigh")
    find(record, "ct15-obs-1")["valueCodeableConcept"] = cc((ICDO3, "8890/3"))
    case = case_of(record)
    (tumour,) = case.tumours
    assert tumour.entity.value == "sts"
    assert tumour.entity.sources == ("Condition/ct15-cond-sarcoma", "Observation/ct15-obs-1")
    assert tumour.entity.from_text is False  # ICD-O 8890/3 in the Observation is a code
    assert "Condition/ct15-cond-asthma" not in validated  # other history is still unread


def test_selection_ignores_non_objects(terminology: Terminology) -> None:
    """Arbitrary input never crashes the mapper: list entries that are not JSON objects are
    skipped unread."""
    chosen = select_resources([None, 3, "Condition", ["x"], {"resourceType": 5}], terminology)
    assert chosen.resources == () and chosen.unreadable == ()


def test_unvalidated_lists_of_the_wrong_type_do_not_crash_the_prefilter(
        terminology: Terminology) -> None:
    """The pre-filter reads raw JSON before validation: an ``extension``, ``note`` or
    ``component`` that is not a list must not raise (the resource is then judged by its code
    and named unreadable)."""
    broken = observation("o-1", cc((ICD10CM, "C49.22")), extension=7, note=True,
                         component=1.5)
    chosen = select_resources([broken], terminology)
    assert chosen.resources == () and chosen.unreadable == ("Observation/o-1",)
