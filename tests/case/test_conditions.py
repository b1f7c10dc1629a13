"""Condition mapping: which Conditions are tumours, their entity, status, site and dates."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from cds_service.case.conditions import map_condition
from cds_service.case.findings import TumourSeed
from cds_service.case.model import Behaviour
from cds_service.case.model import ClinicalStatus
from cds_service.case.model import Entity
from cds_service.case.model import Site
from cds_service.case.model import Verification
from cds_service.terminology import Terminology
from tests.case.common import CLINICAL
from tests.case.common import ICD10CM
from tests.case.common import ICDO3
from tests.case.common import MORPHOLOGY_URL
from tests.case.common import VERIFICATION
from tests.case.common import CaseBuilder
from tests.case.common import bundle
from tests.case.common import cc
from tests.case.common import find
from tests.case.common import resource
from tests.case.common import status

LMS = "sts-thigh-high-grade-r1"  # leiomyosarcoma of the left thigh, C49.22 + ICD-O 8890/3


def _lms_with(changes: dict[str, Any] | None = None, **more: Any) -> list[dict[str, Any]]:
    """The leiomyosarcoma record with its Condition changed (a None value removes the field)."""
    record = bundle(LMS)
    condition = find(record, "lms3-cond-lms")
    for key, value in {**(changes or {}), **more}.items():
        if value is None:
            condition.pop(key, None)
        else:
            condition[key] = value
    return record


def test_a_coded_tumour_keeps_its_entity_status_site_and_provenance(
        case_of: CaseBuilder) -> None:
    """The issue: "Every fact keeps its provenance (resource type/id, date)"; mCODE primary
    cancer condition with ICD-10-CM C49.22 and the histology-morphology-behavior extension."""
    (tumour,) = case_of(LMS).tumours
    assert tumour.id == "lms3-cond-lms" and tumour.source == "Condition/lms3-cond-lms"
    assert tumour.entity.value is Entity.STS
    assert tumour.entity.sources == ("Condition/lms3-cond-lms",)
    assert tumour.entity.date == dt.date(2026, 7, 14) == tumour.diagnosis_date
    assert tumour.entity.from_text is False
    assert tumour.behaviour is Behaviour.MALIGNANT
    assert tumour.verification is Verification.CONFIRMED
    assert tumour.clinical_status is ClinicalStatus.ACTIVE and tumour.is_active
    assert tumour.site is not None and tumour.site.value is Site.LOWER_LIMB
    assert tumour.site.sources == ("Condition/lms3-cond-lms",)
    assert tumour.laterality == "left"
    assert tumour.body_site == resource(LMS, "lms3-cond-lms")["bodySite"][0]


def test_a_diagnosis_as_text_only_is_a_tumour_recognised_from_text(
        case_of: CaseBuilder) -> None:
    """The issue: "Concepts without a verified code are recognised from curated synonyms in
    code.text ... and the fact records that it came from text"."""
    record = _lms_with(code=cc(text="Leiomyosarcoma of left thigh"), extension=None)
    (tumour,) = case_of(record).tumours
    assert tumour.entity.value is Entity.STS
    assert tumour.entity.from_text is True
    assert tumour.entity.sources == ("Condition/lms3-cond-lms",)
    assert tumour.behaviour is None  # unknown is not false: no code says malignant


def test_a_diagnosis_in_a_local_coding_display_is_recognised_from_text(
        case_of: CaseBuilder) -> None:
    """The issue: synonyms are read in "coding displays" (a local code system unknown to us)."""
    record = _lms_with(code=cc(("http://hospital.example.org/problem-codes", "ONC-0431",
                                "Malignant perivascular epithelioid cell tumour")),
                       extension=None)
    (tumour,) = case_of(record).tumours
    assert tumour.entity.value is Entity.PECOMA and tumour.entity.from_text is True


def test_an_entity_named_only_in_words_beside_a_generic_code_is_from_text(
        case_of: CaseBuilder) -> None:
    """The issue: the fact records that it came from text. Inflammatory leiomyosarcoma has no
    code of its own: C49.21 + ICD-O 8890/3 say sts, only the words say ilms."""
    (tumour,) = case_of("ilms-rms-component").tumours
    assert tumour.entity.value is Entity.ILMS
    assert tumour.entity.from_text is True


def test_synonyms_are_case_insensitive(case_of: CaseBuilder) -> None:
    """The issue: synonyms are matched "case-insensitive"."""
    record = _lms_with(code=cc(text="PECOMA OF LEFT THIGH"), extension=None)
    assert [t.entity.value for t in case_of(record).tumours] == [Entity.PECOMA]


@pytest.mark.parametrize("text", [
    "Sarcomatoid carcinoma of the kidney",  # whole words: "sarcoma" is not in "sarcomatoid"
    "Lipoma of left thigh; no evidence of sarcoma",  # negation respected
    "Soft tissue sarcoma ruled out",
])
def test_partial_words_and_negated_diagnoses_make_no_tumour(case_of: CaseBuilder,
                                                            text: str) -> None:
    """The issue: synonyms match "whole words" and "negations ... respected"."""
    record = _lms_with(code=cc(text=text), extension=None)
    assert case_of(record).tumours == ()


def test_icdo_8857_0_alone_is_a_spindle_cell_lipoma_without_a_tumour(
        case_of: CaseBuilder) -> None:
    """The issue: "ICD-O 8857/0 without an atypical-spindle-cell name is a spindle cell lipoma
    (no card)"; its size Observation then belongs to no tumour."""
    case = case_of("spindle-cell-lipoma-only")
    assert case.tumours == ()


def test_icdo_8857_0_with_the_atypical_spindle_cell_name_is_ascmn(case_of: CaseBuilder) -> None:
    """recommendations.md: ascmn is "recognised by its name"; the name beats 8857/0."""
    (tumour,) = case_of("ascmn-cutaneous-mdm2-amplified").tumours
    assert tumour.entity.value is Entity.ASCMN
    assert tumour.entity.sources == ("Condition/a2-cond-1",)
    assert tumour.entity.from_text is True  # ASCMN has no verified code
    assert tumour.behaviour is Behaviour.BENIGN  # the /0 of 8857/0
    assert tumour.site is not None and tumour.site.value is Site.SKIN


def test_the_lipoma_record_renamed_atypical_spindle_cell_becomes_ascmn(
        case_of: CaseBuilder) -> None:
    """The issue: 8857/0 is a spindle cell lipoma only "without an atypical-spindle-cell
    name"."""
    record = bundle("spindle-cell-lipoma-only")
    find(record, "l3-cond-1")["code"]["text"] = "Atypical spindle cell lipomatous tumour, neck"
    (tumour,) = case_of(record).tumours
    assert tumour.entity.value is Entity.ASCMN and tumour.id == "l3-cond-1"
    assert tumour.size_cm is not None and tumour.size_cm.value == 4.2


@pytest.mark.parametrize("code", ["entered-in-error", "refuted"])
def test_entered_in_error_and_refuted_conditions_are_no_tumour(case_of: CaseBuilder,
                                                                code: str) -> None:
    """The issue: "Ignore entered-in-error, refuted and cancelled resources"."""
    record = _lms_with(verificationStatus=status(VERIFICATION, code))
    case = case_of(record)
    assert case.tumours == ()
    assert case.unreadable == ()


def test_the_entered_in_error_scenario_has_no_tumour(case_of: CaseBuilder) -> None:
    """The issue: entered-in-error resources are ignored (sarcoma-entered-in-error)."""
    assert case_of("sarcoma-entered-in-error").tumours == ()


@pytest.mark.parametrize(("code", "expected"), [
    ("confirmed", Verification.CONFIRMED),
    ("provisional", Verification.PROVISIONAL),
    ("differential", Verification.DIFFERENTIAL),
    ("unconfirmed", Verification.UNCONFIRMED),
    (None, None),
])
def test_verification_status_is_kept(case_of: CaseBuilder, code: str | None,
                                     expected: Verification | None) -> None:
    """recommendations.md: a tumour "only provisional/differential (verificationStatus)"; a
    status the record does not hold is None."""
    record = _lms_with(verificationStatus=status(VERIFICATION, code) if code else None)
    (tumour,) = case_of(record).tumours
    assert tumour.verification is expected


@pytest.mark.parametrize(("code", "expected", "active"), [
    ("active", ClinicalStatus.ACTIVE, True),
    ("recurrence", ClinicalStatus.RECURRENCE, True),
    ("relapse", ClinicalStatus.RECURRENCE, True),
    ("remission", ClinicalStatus.REMISSION, False),
    ("resolved", ClinicalStatus.RESOLVED, False),
    ("inactive", ClinicalStatus.RESOLVED, False),
    (None, None, True),
])
def test_resolved_remission_and_inactive_tumours_are_kept_as_history(
        case_of: CaseBuilder, code: str | None, expected: ClinicalStatus | None,
        active: bool) -> None:
    """The issue: "keep resolved / remission / inactive tumours as history"; recommendations.md:
    "active" = active, recurrence or relapse (or absent)."""
    record = _lms_with(clinicalStatus=status(CLINICAL, code) if code else None)
    (tumour,) = case_of(record).tumours
    assert tumour.clinical_status is expected
    assert tumour.is_active is active
    assert [r.source for r in tumour.resections] == ["Procedure/lms3-proc-excision"]


@pytest.mark.parametrize(("fields", "expected"), [
    ({"onsetDateTime": "2024-03"}, dt.date(2024, 3, 1)),
    ({"onsetDateTime": "2024"}, dt.date(2024, 1, 1)),
    ({"onsetDateTime": "2024-03-05T23:10:00+02:00"}, dt.date(2024, 3, 5)),
    ({"onsetPeriod": {"start": "2024-02-10"}}, dt.date(2024, 2, 10)),
    ({"onsetPeriod": {"end": "2024-04"}}, dt.date(2024, 4, 1)),
    ({"recordedDate": "2024-05-06"}, dt.date(2024, 5, 6)),
    ({"onsetString": "spring 2024"}, None),
])
def test_diagnosis_date_in_every_precision_and_shape(case_of: CaseBuilder,
                                                     fields: dict[str, Any],
                                                     expected: dt.date | None) -> None:
    """The issue: "Accept dateTime, Period and partial dates"; a date the record does not hold
    (free text) is None, not guessed."""
    record = _lms_with({"onsetDateTime": None, "recordedDate": None, **fields})
    (tumour,) = case_of(record).tumours
    assert tumour.diagnosis_date == expected
    assert tumour.entity.date == expected


def test_a_secondary_malignancy_is_a_metastasis_of_its_primary_not_a_tumour(
        case_of: CaseBuilder) -> None:
    """mCODE secondary cancer condition (C78.01) with the condition-related extension; the
    issue: facts attach "by reference (... the related-condition extension ...)"."""
    (tumour,) = case_of("pecoma-lung-metastases-doxorubicin").tumours
    assert tumour.id == "p5-cond-1"
    (metastasis,) = tumour.metastases
    assert metastasis.source == "Condition/p5-cond-2"
    assert metastasis.lung is True and metastasis.nodal is False
    assert metastasis.date == dt.date(2024, 3, 5)


def test_lung_and_liver_metastases_are_told_apart(case_of: CaseBuilder) -> None:
    """recommendations.md pecoma-metastasectomy needs "no extrapulmonary metastasis": C78.01
    is a lung metastasis, C78.7 is not."""
    (tumour,) = case_of("pecoma-early-lung-and-liver-mets").tumours
    by_source = {m.source: m.lung for m in tumour.metastases}
    assert by_source == {"Condition/p11-cond-2": True, "Condition/p11-cond-3": False}


def test_a_local_recurrence_condition_dates_a_recurrence_of_the_primary(
        case_of: CaseBuilder) -> None:
    """recommendations.md sts-recurrence-intensify: "a local recurrence is recorded"; the
    recurrence Condition (SNOMED 255470001 + related-condition) is not a second tumour."""
    (tumour,) = case_of("sts-local-recurrence").tumours
    assert tumour.id == "mfs6-cond-mfs"
    assert tumour.clinical_status is ClinicalStatus.RECURRENCE
    (recurrence,) = tumour.local_recurrences
    assert recurrence.value == dt.date(2026, 9, 15) == recurrence.date
    assert recurrence.sources == ("Condition/mfs6-cond-recurrence",)


def test_an_unresectable_statement_in_a_coded_diagnosis_is_a_fact_from_text(
        case_of: CaseBuilder) -> None:
    """recommendations.md "advanced" includes "documented unresectable"; the issue: a concept
    without a verified code, recognised in code.text, "records that it came from text"."""
    (tumour,) = case_of("ntrk-on-larotrectinib").tumours
    assert tumour.unresectable is not None
    assert tumour.unresectable.value is True
    assert tumour.unresectable.sources == ("Condition/n15-cond-1",)
    assert tumour.unresectable.from_text is True
    assert tumour.unresectable.date == dt.date(2026, 1, 10)


def test_a_pathological_fracture_in_neoplastic_disease_is_one_fracture(
        case_of: CaseBuilder) -> None:
    """recommendations.md fracture-no-internal-fixation: "a recorded pathological fracture (in
    neoplastic disease ...)"; one Condition coded M84.552A and described in words is one
    fracture, in neoplastic disease."""
    case = case_of("pathological-fracture-femur")
    (fracture,) = case.fractures
    assert fracture.source == "Condition/frx9-cond-fracture"
    assert fracture.in_neoplastic_disease is True
    assert fracture.site is Site.LOWER_LIMB
    assert fracture.date == dt.date(2026, 11, 18)
    assert fracture.from_text is False
    assert [t.id for t in case.tumours] == ["frx9-cond-sarcoma"]


def test_a_fracture_without_a_tumour_is_not_a_tumour_fracture(case_of: CaseBuilder) -> None:
    """recommendations.md: the fracture rule applies "while the patient has a tumour"."""
    case = case_of("osteoporotic-fracture-no-tumour")
    assert case.tumours == () and case.fractures == ()


@pytest.mark.parametrize("scenario", ["no-tumour-hypertension", "breast-cancer-no-sarcoma"])
def test_other_diagnoses_are_not_tumours(case_of: CaseBuilder, scenario: str) -> None:
    """recommendations.md: a tumour is a Condition "that maps to one of the entities"; breast
    carcinoma (C50.911, 8500/3) and hypertension do not."""
    assert case_of(scenario).tumours == ()


def test_map_condition_reads_the_morphology_extension(terminology: Terminology) -> None:
    """The issue (mCODE shapes): "histology-morphology-behavior extension"; a Condition whose
    code says nothing of the histology is a pecoma by its ICD-O 8714/3 extension."""
    condition = resource("pecoma-broad-ligament-resected", "p12-cond-1")
    condition["code"] = cc((ICD10CM, "C57.11"))
    (seed,) = map_condition(condition, terminology)
    assert isinstance(seed, TumourSeed)
    assert "entity/pecoma" in seed.concepts and seed.from_text is False
    assert seed.behaviour == "behaviour/malignant"


def test_a_morphology_extension_of_another_url_is_not_histology(
        terminology: Terminology) -> None:
    """The issue names the mCODE histology-morphology-behavior extension: another extension
    holding an ICD-O code is not the tumour's histology."""
    condition = resource("pecoma-broad-ligament-resected", "p12-cond-1")
    condition["code"] = cc((ICD10CM, "C57.11"))
    condition["extension"] = [{"url": "http://example.org/other",
                               "valueCodeableConcept": cc((ICDO3, "8714/3"))}]
    assert MORPHOLOGY_URL not in str(condition)
    (seed,) = map_condition(condition, terminology)
    assert isinstance(seed, TumourSeed)
    assert "entity/pecoma" not in seed.concepts


def _fracture_saying(case_of: CaseBuilder, text: str) -> Any:
    """The femur-fracture record, its fracture Condition coded by words only."""
    record = bundle("pathological-fracture-femur")
    find(record, "frx9-cond-fracture")["code"] = cc(text=text)
    return case_of(record).fractures


@pytest.mark.parametrize("text", [
    "Pathological fracture of left femur through tumour",
    "Pathologic fracture through metastasis, left femur",
    "Pathologic fracture of the femur through the tumor",
    "Pathological fracture through a lytic lesion of the left femur",
    "Pathologic fracture left femur secondary to metastatic disease",
])
def test_a_fracture_through_a_tumour_is_in_neoplastic_disease(case_of: CaseBuilder,
                                                              text: str) -> None:
    """recommendations.md fracture-no-internal-fixation: "a recorded pathological fracture (in
    neoplastic disease ...)"; the cause is often written apart from the words "pathological
    fracture"."""
    (fracture,) = _fracture_saying(case_of, text)
    assert (fracture.in_neoplastic_disease, fracture.site, fracture.from_text) == (
        True, Site.LOWER_LIMB, True)


@pytest.mark.parametrize("text", [
    "Pathological fracture due to osteoporosis, left femur",
    "Pathological fracture of the left femur",
])
def test_a_fracture_with_no_neoplastic_cause_stays_non_neoplastic(case_of: CaseBuilder,
                                                                  text: str) -> None:
    """recommendations.md: "(in neoplastic disease, or any pathological fracture at the
    tumour's site)": an osteoporotic fracture is only the second kind."""
    (fracture,) = _fracture_saying(case_of, text)
    assert fracture.in_neoplastic_disease is False


def test_a_possible_fracture_is_no_fracture(case_of: CaseBuilder) -> None:
    """Hedged words record nothing: "possible pathological fracture" is not a fracture."""
    assert _fracture_saying(case_of, "Possible pathological fracture of the left femur") == ()


def test_a_hedged_recurrence_is_not_recorded_and_not_a_second_tumour(
        case_of: CaseBuilder) -> None:
    """recommendations.md sts-recurrence-intensify fires when "a local recurrence is recorded":
    a suspected one is not, and its Condition (naming the sarcoma) is no second tumour."""
    record = bundle("sts-local-recurrence")
    find(record, "mfs6-cond-mfs")["clinicalStatus"] = status(CLINICAL, "active")
    find(record, "mfs6-cond-recurrence")["code"] = cc(
        text="Suspected local recurrence of myxofibrosarcoma, right thigh")
    (tumour,) = case_of(record).tumours
    assert tumour.id == "mfs6-cond-mfs" and tumour.local_recurrences == ()


def test_a_hedged_metastasis_is_not_recorded(case_of: CaseBuilder) -> None:
    """recommendations.md "advanced" = metastatic: "lung metastases cannot be excluded" does
    not make the tumour metastatic."""
    record = bundle("pecoma-lung-metastases-doxorubicin")
    find(record, "p5-cond-2")["code"] = cc(text="Right lung nodules, metastases cannot be excluded")
    (tumour,) = case_of(record).tumours
    assert tumour.metastases == ()


def test_a_suspected_tumour_is_still_a_tumour(case_of: CaseBuilder) -> None:
    """recommendations.md sts-histologic-confirmation: a provisional tumour is a tumour (the
    hedge is what verificationStatus records), so histological confirmation is advised."""
    record = _lms_with(code=cc(text="Suspected soft tissue sarcoma of left thigh"),
                       extension=None,
                       verificationStatus=status(VERIFICATION, "provisional"))
    (tumour,) = case_of(record).tumours
    assert (tumour.entity.value, tumour.verification) == (Entity.STS, Verification.PROVISIONAL)


def test_a_condition_coded_sarcoma_of_soft_tissue_without_display_is_sts(
        case_of: CaseBuilder) -> None:
    """terminology.md / the brief: SNOMED 424952003 "Sarcoma of soft tissue (disorder)"; the code
    alone names the entity (not from text)."""
    record = _lms_with(code=cc(("http://snomed.info/sct", "424952003")), extension=None)
    (tumour,) = case_of(record).tumours
    assert (tumour.entity.value, tumour.entity.from_text) == (Entity.STS, False)
