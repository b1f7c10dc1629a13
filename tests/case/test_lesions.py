"""One lesion recorded several times is one tumour: the pinned merge, fact by fact.

recommendations.md "The patient as a whole (revised)": the merged tumour takes the most certain
verification, is active if any entry is, takes the earliest onset, the highest grade and the
largest size, and names every Condition; secondary and refuted Conditions never merge; distinct
entities or sides stay distinct tumours.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from cds_service.case.build import build_case
from cds_service.case.model import ClinicalStatus
from cds_service.case.model import Entity
from cds_service.case.model import Site
from cds_service.case.model import Verification
from cds_service.terminology import Terminology
from tests.case.common import CLINICAL
from tests.case.common import LOINC
from tests.case.common import RELATED_URL
from tests.case.common import SNOMED
from tests.case.common import VERIFICATION
from tests.case.common import CaseBuilder
from tests.case.common import bundle
from tests.case.common import cc
from tests.case.common import draft
from tests.case.common import draft_bundle
from tests.case.common import find
from tests.case.common import observation
from tests.case.common import ref
from tests.case.common import status

LMS = "sts-thigh-high-grade-r1"  # leiomyosarcoma of the left thigh, lms3-cond-lms
PRIMARY = "lms3-cond-lms"
JsonObject = dict[str, Any]


def _copy(record: list[JsonObject], new_id: str, **changes: Any) -> JsonObject:
    """An encounter-diagnosis copy of the leiomyosarcoma Condition, with ``changes``."""
    duplicate = copy.deepcopy(find(record, PRIMARY))
    duplicate["id"] = new_id
    duplicate["category"] = [{"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/condition-category",
        "code": "encounter-diagnosis"}]}]
    for key, value in changes.items():
        if value is None:
            duplicate.pop(key, None)
        else:
            duplicate[key] = value
    return duplicate


def _grade(obs_id: str, grade: str, focus: str, date: str) -> JsonObject:
    codes = {"2": "1286893008", "3": "1155707008"}
    return observation(obs_id, cc((LOINC, "33732-9")), focus=[ref(f"Condition/{focus}")],
                       effectiveDateTime=date,
                       valueCodeableConcept=cc((SNOMED, codes[grade]),
                                               text=f"FNCLCC grade {grade}"))


@pytest.mark.parametrize(("mine", "other", "merged"), [
    ("confirmed", "provisional", Verification.CONFIRMED),
    ("provisional", "confirmed", Verification.CONFIRMED),
    ("provisional", None, Verification.PROVISIONAL),
    ("differential", "provisional", Verification.PROVISIONAL),
])
def test_the_most_certain_verification(case_of: CaseBuilder, mine: str, other: str | None,
                                       merged: Verification) -> None:
    record = bundle(LMS)
    find(record, PRIMARY)["verificationStatus"] = status(VERIFICATION, mine)
    record.append(_copy(record, "lms3-cond-enc", verificationStatus=None if other is None
                        else status(VERIFICATION, other)))
    (tumour,) = case_of(record).tumours
    assert tumour.verification is merged
    assert tumour.conditions == ("Condition/lms3-cond-lms", "Condition/lms3-cond-enc")


@pytest.mark.parametrize(("mine", "other", "merged"), [
    ("remission", "active", ClinicalStatus.ACTIVE),
    ("active", "resolved", ClinicalStatus.ACTIVE),
    ("remission", "recurrence", ClinicalStatus.RECURRENCE),
    ("resolved", "remission", ClinicalStatus.REMISSION),
])
def test_active_if_any_entry_is(case_of: CaseBuilder, mine: str, other: str,
                                merged: ClinicalStatus) -> None:
    record = bundle(LMS)
    find(record, PRIMARY)["clinicalStatus"] = status(CLINICAL, mine)
    record.append(_copy(record, "lms3-cond-enc", clinicalStatus=status(CLINICAL, other)))
    (tumour,) = case_of(record).tumours
    assert tumour.clinical_status is merged


def test_the_earliest_onset_highest_grade_and_largest_size(case_of: CaseBuilder) -> None:
    """Facts recorded against either copy are the one tumour's; the conservative ones win."""
    record = bundle(LMS)
    onset = find(record, PRIMARY)["onsetDateTime"]
    record.append(_copy(record, "lms3-cond-enc", onsetDateTime="2026-05-02"))
    find(record, "lms3-obs-1")["valueCodeableConcept"] = cc((SNOMED, "1286893008"))  # grade 2
    record.append(_grade("lms3-obs-grade-enc", "3", "lms3-cond-enc", "2026-09-01"))
    size = observation("lms3-obs-size-enc", cc((LOINC, "33728-7")),
                       focus=[ref("Condition/lms3-cond-enc")], effectiveDateTime="2026-09-01",
                       valueQuantity={"value": 11, "unit": "cm",
                                      "system": "http://unitsofmeasure.org", "code": "cm"})
    record.append(size)
    (tumour,) = case_of(record).tumours
    assert onset > "2026-05-02" and tumour.diagnosis_date == dt.date(2026, 5, 2)
    assert tumour.grade is not None and tumour.size_cm is not None
    assert (tumour.grade.value, tumour.grade.sources) == (3, ("Observation/lms3-obs-grade-enc",))
    assert (tumour.size_cm.value, tumour.size_cm.sources) == (
        11, ("Observation/lms3-obs-size-enc",))
    assert tumour.grade_conflicts == ()
    assert tumour.entity.sources[:2] == ("Condition/lms3-cond-lms", "Condition/lms3-cond-enc")


def test_two_grades_on_one_date_are_a_conflict(case_of: CaseBuilder) -> None:
    record = bundle(LMS)
    record.append(_copy(record, "lms3-cond-enc"))
    record.append(_grade("lms3-obs-grade-enc", "2", "lms3-cond-enc", "2026-08-14"))
    (tumour,) = case_of(record).tumours
    assert tumour.grade is not None and tumour.grade.value == 3
    assert [(g.value, g.sources) for g in tumour.grade_conflicts] == [
        (2, ("Observation/lms3-obs-grade-enc",)), (3, ("Observation/lms3-obs-1",))]


def test_a_metastasis_of_a_copy_is_the_tumours_and_never_merges(case_of: CaseBuilder) -> None:
    record = bundle(LMS)
    record.append(_copy(record, "lms3-cond-enc"))
    record.append({"resourceType": "Condition", "id": "lms3-cond-met",
                   "extension": [{"url": RELATED_URL,
                                  "valueReference": ref("Condition/lms3-cond-enc")}],
                   "code": cc(("http://hl7.org/fhir/sid/icd-10-cm", "C78.01")),
                   "subject": ref("Patient/lms3-pt")})
    (tumour,) = case_of(record).tumours
    assert [m.source for m in tumour.metastases] == ["Condition/lms3-cond-met"]
    assert "Condition/lms3-cond-met" not in tumour.conditions


def test_a_refuted_copy_is_not_a_record_of_the_tumour(case_of: CaseBuilder) -> None:
    record = bundle(LMS)
    record.append(_copy(record, "lms3-cond-refuted",
                        verificationStatus=status(VERIFICATION, "refuted")))
    (tumour,) = case_of(record).tumours
    assert tumour.conditions == ("Condition/lms3-cond-lms",)


@pytest.mark.parametrize(("code", "body_site", "merged"), [
    (cc(text="Sarcoma, NOS"), None, True),  # generic, no site: agrees with any
    (cc(text="Spindle cell neoplasm"), cc(text="Left thigh"), True),  # spindle-nos is generic
    (cc(text="Leiomyosarcoma of left thigh"), None, True),  # same entity
    (cc(text="Leiomyosarcoma of right thigh"), None, False),  # the other side
    (cc(text="Leiomyosarcoma"), cc(text="Left upper arm"), False),  # another limb
    (cc(text="PEComa"), cc(text="Left thigh"), False),  # another entity, neither generic
    (cc(text="Atypical spindle cell lipomatous tumour"), None, False),
    (cc(text="Rhabdomyosarcomatous component"), cc(text="Left thigh"), True),
])
def test_entities_and_sites_must_agree(case_of: CaseBuilder, code: JsonObject,
                                       body_site: JsonObject | None, merged: bool) -> None:
    record = bundle(LMS)
    duplicate = _copy(record, "lms3-cond-other", code=code, extension=None,
                      bodySite=None if body_site is None else [body_site])
    tumours = case_of([*record, duplicate]).tumours
    assert (len(tumours) == 1) is merged
    if merged:
        assert tumours[0].entity.value is Entity.STS
        assert tumours[0].conditions[-1] == "Condition/lms3-cond-other"


def test_a_hand_tumour_and_its_upper_limb_copy_are_one(case_of: CaseBuilder) -> None:
    record = bundle("ascmn-thumb-untreated")
    (tumour,) = case_of(record).tumours
    original = find(record, tumour.id)
    duplicate = copy.deepcopy(original)
    duplicate["id"] = "copy-upper-limb"
    duplicate["bodySite"] = [cc(text="Right upper limb")]
    (merged,) = case_of([*record, duplicate]).tumours
    assert merged.site is not None and merged.site.value is Site.HAND
    assert merged.conditions == (f"Condition/{tumour.id}", "Condition/copy-upper-limb")


def test_a_component_condition_adds_its_finding_to_the_ilms(case_of: CaseBuilder) -> None:
    """The issue: today a "rhabdomyosarcoma component" Condition becomes a second tumour."""
    record = bundle("ilms-no-rms-chemo-order")
    (before,) = case_of(record).tumours
    assert before.rms_component is not None and before.rms_component.value is False
    component = {"resourceType": "Condition", "id": "ilms2-cond-rms",
                 "clinicalStatus": status(CLINICAL, "active"),
                 "code": cc(("http://hl7.org/fhir/sid/icd-10-cm", "C49.11"),
                            text="Rhabdomyosarcoma component"),
                 "subject": ref("Patient/ilms2-pt"), "onsetDateTime": "2026-11-10"}
    (tumour,) = case_of([*record, component]).tumours
    assert tumour.entity.value is Entity.ILMS and tumour.id == before.id
    assert tumour.rms_component is not None and tumour.rms_component.value is True
    assert tumour.rms_component.sources == ("Condition/ilms2-cond-rms",)


def test_an_order_for_a_merged_copy_is_for_the_tumour(case_of: CaseBuilder) -> None:
    record = bundle(LMS)
    record.append(_copy(record, "lms3-cond-enc"))
    orders = draft_bundle(draft("ServiceRequest", "sr-1", cc(text="CT thigh"),
                                reasonReference=[ref("Condition/lms3-cond-enc")]))
    case = case_of(record, draft_orders=orders)
    assert case.draft_orders[0].reason_refs == ("Condition/lms3-cond-lms",)


@pytest.mark.parametrize(("code", "merged"), [
    # Neoplasm NOS: coded as a neoplasm of soft tissue of that limb, named by no entity.
    (cc(("http://hl7.org/fhir/sid/icd-10-cm", "D48.19")), True),
    (cc(("http://hl7.org/fhir/sid/icd-10-cm", "D21.21")), True),  # benign, right lower limb
    # Another cancer named only in words, or at another site: never this tumour's record.
    (cc(text="Malignant neoplasm of right breast"), False),
    (cc(("http://hl7.org/fhir/sid/icd-10-cm", "C54.1")), False),  # uterus, not the thigh
])
def test_a_neoplasm_nos_entry_is_the_tumour_at_its_site(case_of: CaseBuilder, code: JsonObject,
                                                        merged: bool) -> None:
    """sft-untested: an SFT of the right thigh known only from its histology Observation; an
    encounter diagnosis naming no entity holds the size."""
    record = bundle("sft-untested")
    entry = {"resourceType": "Condition", "id": "sft2-cond-enc", "code": code,
             "clinicalStatus": status(CLINICAL, "active"), "subject": ref("Patient/sft2-pt")}
    if code.get("text") is None and code["coding"][0]["code"] == "D48.19":
        entry["bodySite"] = [cc(text="Right thigh")]
    size = observation("sft2-obs-size-enc", cc((LOINC, "33728-7")),
                       focus=[ref("Condition/sft2-cond-enc")], effectiveDateTime="2026-11-01",
                       valueQuantity={"value": 14, "unit": "cm",
                                      "system": "http://unitsofmeasure.org", "code": "cm"})
    (tumour,) = case_of([*record, entry, size]).tumours
    assert tumour.entity.value is Entity.SFT
    assert ("Condition/sft2-cond-enc" in tumour.conditions) is merged
    assert tumour.size_cm is not None and (tumour.size_cm.value == 14) is merged


@settings(max_examples=40, deadline=None)
@given(record=st.permutations(bundle("sts-duplicated-problem-list-entries")))
def test_record_order_does_not_change_the_merged_tumour(record: list[JsonObject],
        terminology: Terminology) -> None:
    """Three records of one lesion in any order: one tumour, the same merged facts."""
    case = build_case(copy.deepcopy(record), patient_id="dpl-pt", terminology=terminology,
                      today=dt.date(2026, 11, 22))
    (tumour,) = case.tumours
    assert set(tumour.conditions) == {"Condition/dpl-cond-ups-1", "Condition/dpl-cond-ups-2",
                                      "Condition/dpl-cond-ups-enc"}
    assert tumour.verification is Verification.CONFIRMED
    assert tumour.diagnosis_date == dt.date(2026, 10, 20)
    assert tumour.grade is not None and tumour.grade.value == 3
    assert tumour.size_cm is not None and tumour.size_cm.value == 9.2
    assert tumour.depth is not None and tumour.entity.value is Entity.STS
