"""Whole records to cases: the expected tumours and facts, and attaching facts to tumours."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest

from cds_service.case.model import AssayMethod
from cds_service.case.model import BiopsyKind
from cds_service.case.model import ClinicalStatus
from cds_service.case.model import Depth
from cds_service.case.model import Entity
from cds_service.case.model import Fact
from cds_service.case.model import ImagingKind
from cds_service.case.model import Margin
from cds_service.case.model import ResectionKind
from cds_service.case.model import Site
from cds_service.case.model import Tumour
from tests.case.common import HGNC
from tests.case.common import LOINC
from tests.case.common import CaseBuilder
from tests.case.common import bundle
from tests.case.common import cc
from tests.case.common import find
from tests.case.common import merged
from tests.case.common import observation
from tests.case.common import ref
from tests.case.common import resource

LMS = "sts-thigh-high-grade-r1"  # leiomyosarcoma, left thigh (lower limb)
ILMS = "ilms-no-rms-chemo-order"  # inflammatory leiomyosarcoma, right upper arm (upper limb)


def _fact(fact: Fact[Any] | None) -> tuple[Any, tuple[str, ...], dt.date | None, bool]:
    assert fact is not None
    return fact.value, fact.sources, fact.date, fact.from_text


def _by_id(tumours: tuple[Tumour, ...]) -> dict[str, Tumour]:
    return {t.id: t for t in tumours}


# --- whole scenarios ---------------------------------------------------------------------------

def test_a_resected_high_grade_thigh_sarcoma(case_of: CaseBuilder) -> None:
    """The issue: "Turn a patient's FHIR R4 resources ... into the internal case model"; every
    fact keeps its provenance (Type/id, date)."""
    case = case_of(LMS)
    assert (case.patient.id, case.patient.age_years, case.patient.sex) == ("lms3-pt", 58,
                                                                          "female")
    (tumour,) = case.tumours
    assert _fact(tumour.entity) == (Entity.STS, ("Condition/lms3-cond-lms",),
                                    dt.date(2026, 7, 14), False)
    assert _fact(tumour.size_cm) == (8.5, ("Observation/lms3-obs-2",), dt.date(2026, 8, 14),
                                     False)
    assert _fact(tumour.grade) == (3, ("Observation/lms3-obs-1",), dt.date(2026, 8, 14), False)
    assert _fact(tumour.depth) == (Depth.DEEP, ("Observation/lms3-obs-3",), dt.date(2026, 8, 14),
                                   False)
    (resection,) = tumour.resections
    assert (resection.kind, resection.date) == (ResectionKind.MARGINAL, dt.date(2026, 8, 10))
    assert _fact(resection.margin) == (Margin.R1, ("Observation/lms3-obs-margin",),
                                       dt.date(2026, 8, 14), False)
    assert [(b.kind, b.date) for b in tumour.biopsies] == [(BiopsyKind.CORE,
                                                            dt.date(2026, 7, 14))]
    assert [(i.kind, i.date, i.site) for i in case.imaging] == [
        (ImagingKind.MRI, dt.date(2026, 7, 6), Site.LOWER_LIMB),
        (ImagingKind.CT_CHEST, dt.date(2026, 7, 21), Site.CHEST)]
    # Facts the record does not hold are unknown, not false.
    assert (tumour.necrosis, tumour.rms_component, tumour.positive_nodes) == (None, None, None)
    assert tumour.metastases == () and case.medications == () and case.radiotherapy == ()
    assert case.referrals == () and case.unreadable == ()


def test_a_resected_pecoma_in_remission_is_kept_as_history(case_of: CaseBuilder) -> None:
    """The issue: "keep resolved / remission / inactive tumours as history"; recommendations.md:
    follow-up rules "still apply to it once it was resected"."""
    (tumour,) = case_of("pecoma-broad-ligament-resected").tumours
    assert tumour.clinical_status is ClinicalStatus.REMISSION and not tumour.is_active
    assert tumour.entity.value is Entity.PECOMA
    assert tumour.site is not None and tumour.site.value is Site.BROAD_LIGAMENT
    (resection,) = tumour.resections
    assert (resection.source, resection.date) == ("Procedure/p12-proc-3", dt.date(2026, 5, 12))
    assert _fact(resection.margin)[:2] == (Margin.R0, ("Observation/p12-obs-1",))
    assert _fact(tumour.size_cm)[:3] == (3.8, ("Observation/p12-obs-2",), dt.date(2026, 5, 19))
    assert {r.marker for r in tumour.ihc} >= {"hmb45", "melan-a", "desmin"}


def test_an_unresectable_ntrk_tumour_on_a_trk_inhibitor(case_of: CaseBuilder) -> None:
    """recommendations.md ntrk-trk-inhibitor: fusion detected, unresectable, TRK inhibitor on
    record (text-only larotrectinib); the tumour board is the referral."""
    case = case_of("ntrk-on-larotrectinib")
    (tumour,) = case.tumours
    assert tumour.entity.value is Entity.NTRK
    assert _fact(tumour.unresectable)[:2] == (True, ("Condition/n15-cond-1",))
    (fusion,) = tumour.molecular
    assert (fusion.gene, fusion.detected, fusion.method, fusion.partner, fusion.source) == (
        "gene/ntrk3", True, AssayMethod.RNA_NGS, "gene/etv6", "Observation/n15-obs-1")
    assert [(m.drug, m.source) for m in case.medications] == [
        ("drug/larotrectinib", "MedicationStatement/n15-medst-1")]
    assert [(r.sources, r.date) for r in case.referrals] == [
        (("Procedure/n15-proc-4",), dt.date(2026, 3, 18))]


def test_a_metachronous_lung_metastasis_after_a_wide_resection(case_of: CaseBuilder) -> None:
    """recommendations.md pecoma-metastasectomy: a lung metastasis diagnosed after the primary
    resection, both dated."""
    (tumour,) = case_of("pecoma-metachronous-lung-met").tumours
    (resection,) = tumour.resections
    assert (resection.kind, resection.date) == (ResectionKind.WIDE, dt.date(2023, 3, 15))
    (metastasis,) = tumour.metastases
    assert (metastasis.source, metastasis.lung, metastasis.date) == (
        "Condition/p10-cond-2", True, dt.date(2024, 9, 1))


def test_a_resected_sarcoma_in_remission_with_radiotherapy(case_of: CaseBuilder) -> None:
    """recommendations.md sts-adjuvant-radiotherapy / surveillance: radiotherapy and imaging
    history of a tumour in remission."""
    case = case_of("sts-remission-surveillance-current")
    (tumour,) = case.tumours
    assert tumour.clinical_status is ClinicalStatus.REMISSION
    assert [f.date for f in case.radiotherapy] == [dt.date(2025, 2, 24)]
    assert max(i.date for i in case.imaging if i.kind is ImagingKind.CT_CHEST
               and i.date is not None) == dt.date(2026, 9, 1)


@pytest.mark.parametrize("scenario", [
    "spindle-cell-lipoma-only",  # ICD-O 8857/0 alone
    "sarcoma-entered-in-error",  # both tumours entered in error
    "no-tumour-hypertension",
    "breast-cancer-no-sarcoma",
])
def test_records_without_a_tumour(case_of: CaseBuilder, scenario: str) -> None:
    """The issue: "ICD-O 8857/0 without an atypical-spindle-cell name is a spindle cell lipoma
    (no card)"; "Ignore entered-in-error ... resources"."""
    case = case_of(scenario)
    assert case.tumours == () and case.fractures == () and case.unreadable == ()


def test_a_present_ntrk_fusion_turns_the_spindle_cell_neoplasm_of_a_record_into_ntrk(
        case_of: CaseBuilder) -> None:
    """The issue: "An NTRK1/2/3 fusion reported present makes a spindle cell tumour an ntrk
    tumour"."""
    record = bundle("spindle-nos-pan-trk-only")
    variant = resource("ntrk-fusion-metastatic", "n14-obs-4")
    variant["focus"] = [ref("Condition/snt1-cond-spindle")]
    (tumour,) = case_of(record + [variant]).tumours
    assert tumour.entity.value is Entity.NTRK
    assert tumour.entity.sources == ("Condition/snt1-cond-spindle", "Observation/n14-obs-4")


# --- attaching facts to tumours ----------------------------------------------------------------

def test_two_tumours_get_their_own_facts_by_focus_and_reason_reference(
        case_of: CaseBuilder) -> None:
    """The issue: "Facts attach to a tumour by reference (focus, reasonReference, ...)"."""
    tumours = _by_id(case_of(merged(LMS, ILMS)).tumours)
    lms, ilms = tumours["lms3-cond-lms"], tumours["ilms2-cond-ilms"]
    assert (lms.entity.value, ilms.entity.value) == (Entity.STS, Entity.ILMS)
    assert _fact(lms.size_cm)[:2] == (8.5, ("Observation/lms3-obs-2",))
    assert _fact(ilms.size_cm)[:2] == (6.5, ("Observation/ilms2-obs-3",))
    assert [b.source for b in lms.biopsies] == ["Procedure/lms3-proc-core"]
    assert [b.source for b in ilms.biopsies] == ["Procedure/ilms2-proc-core"]
    assert [r.source for r in lms.resections] == ["Procedure/lms3-proc-excision"]
    assert ilms.resections == ()
    assert lms.rms_component is None and _fact(ilms.rms_component)[0] is False


def test_a_metastasis_attaches_by_the_related_condition_extension(case_of: CaseBuilder) -> None:
    """The issue: facts attach "by reference (... the related-condition extension ...)"."""
    tumours = _by_id(case_of(merged("pecoma-lung-metastases-doxorubicin", LMS)).tumours)
    assert [m.source for m in tumours["p5-cond-1"].metastases] == ["Condition/p5-cond-2"]
    assert tumours["lms3-cond-lms"].metastases == ()


def test_facts_without_a_reference_attach_by_body_site(case_of: CaseBuilder) -> None:
    """The issue: facts attach by "body site" when they name no Condition: a resection and a
    biopsy by Procedure.bodySite, a size by Observation.bodySite."""
    record = merged(LMS, ILMS)
    del find(record, "lms3-proc-excision")["reasonReference"]
    del find(record, "ilms2-proc-core")["reasonReference"]
    size = find(record, "lms3-obs-2")
    del size["focus"]
    size["bodySite"] = cc(text="Left thigh")
    tumours = _by_id(case_of(record).tumours)
    lms, ilms = tumours["lms3-cond-lms"], tumours["ilms2-cond-ilms"]
    assert [r.source for r in lms.resections] == ["Procedure/lms3-proc-excision"]
    assert [b.source for b in ilms.biopsies] == ["Procedure/ilms2-proc-core"]
    assert _fact(lms.size_cm)[:2] == (8.5, ("Observation/lms3-obs-2",))


def test_a_fact_that_fits_two_tumours_by_site_is_not_guessed(case_of: CaseBuilder) -> None:
    """attach.py: "a finding that fits no single tumour is left out" — two lower-limb tumours
    and a resection that names neither."""
    record = merged(LMS, "ilms-rms-component")  # left thigh and right thigh
    del find(record, "lms3-proc-excision")["reasonReference"]
    tumours = case_of(record).tumours
    assert {t.site.value for t in tumours if t.site} == {Site.LOWER_LIMB}
    assert all(t.resections == () for t in tumours)


def test_a_fact_naming_no_tumour_and_no_site_attaches_only_when_there_is_one_tumour(
        case_of: CaseBuilder) -> None:
    """The issue: "or, with one tumour, to that tumour" (the grade names neither a Condition
    nor the resection it came from)."""
    record = bundle(LMS)
    del find(record, "lms3-obs-1")["focus"], find(record, "lms3-obs-1")["partOf"]
    (tumour,) = case_of(record).tumours
    assert _fact(tumour.grade)[:2] == (3, ("Observation/lms3-obs-1",))
    record = merged(LMS, ILMS)
    del find(record, "lms3-obs-1")["focus"], find(record, "lms3-obs-1")["partOf"]
    assert _by_id(case_of(record).tumours)["lms3-cond-lms"].grade is None


@pytest.mark.parametrize("link", ["partOf", "derivedFrom"])
def test_a_margin_naming_only_its_resection_goes_to_that_resections_tumour(
        case_of: CaseBuilder, link: str) -> None:
    """Two tumours: a margin Observation that names no Condition, only the resection it was
    measured on (partOf / derivedFrom), belongs to the tumour that resection treated."""
    record = merged(LMS, ILMS)
    margin = find(record, "lms3-obs-margin")
    del margin["focus"]
    margin[link] = margin.pop("partOf")
    tumours = _by_id(case_of(record).tumours)
    (resection,) = tumours["lms3-cond-lms"].resections
    assert _fact(resection.margin)[:2] == (Margin.R1, ("Observation/lms3-obs-margin",))
    assert tumours["ilms2-cond-ilms"].resections == ()


def test_facts_from_a_resection_that_attaches_nowhere_are_not_guessed(
        case_of: CaseBuilder) -> None:
    """attach.py: when the resection itself fits no single tumour (two lower-limb tumours, no
    reasonReference), its margin and grade are left out too, not given to either tumour."""
    record = merged(LMS, "ilms-rms-component")  # left thigh and right thigh
    del find(record, "lms3-proc-excision")["reasonReference"]
    for obs in ("lms3-obs-margin", "lms3-obs-1"):
        del find(record, obs)["focus"]
    tumours = case_of(record).tumours
    assert all(t.resections == () and t.grade is None for t in tumours)


def test_a_fact_about_another_condition_is_not_the_tumours(case_of: CaseBuilder) -> None:
    """attach.py: a finding that names another Condition (a non-tumour, or one not in the
    record) belongs to no tumour, even when the record has only one."""
    record = bundle(LMS)
    find(record, "lms3-obs-1")["focus"] = [ref("Condition/lms3-cond-dm")]
    find(record, "lms3-obs-2")["focus"] = [ref("Condition/not-in-this-record")]
    (tumour,) = case_of(record).tumours
    assert tumour.grade is None and tumour.size_cm is None


@pytest.mark.parametrize("reference", [
    "https://ehr.example.org/fhir/Condition/lms3-cond-lms",
    "Condition/lms3-cond-lms/_history/3",
])
def test_absolute_and_versioned_references_name_the_tumour(case_of: CaseBuilder,
                                                           reference: str) -> None:
    """FHIR references may be absolute or versioned; they still name the tumour (two tumours,
    so only the reference can attach the fact)."""
    record = merged(LMS, ILMS)
    find(record, "lms3-obs-2")["focus"] = [ref(reference)]
    assert _fact(_by_id(case_of(record).tumours)["lms3-cond-lms"].size_cm)[0] == 8.5


def test_a_fusion_of_one_tumour_does_not_change_the_other(case_of: CaseBuilder) -> None:
    """The issue: facts attach to a tumour by reference; the NTRK rule then applies per
    tumour."""
    record = merged("spindle-nos-pan-trk-only", LMS)
    variant = resource("ntrk-fusion-metastatic", "n14-obs-4")
    variant["focus"] = [ref("Condition/snt1-cond-spindle")]
    variant["component"][0]["valueCodeableConcept"] = cc((HGNC, "HGNC:8033"))
    variant["code"] = cc((LOINC, "69548-6"))
    tumours = _by_id(case_of(record + [variant]).tumours)
    assert tumours["snt1-cond-spindle"].entity.value is Entity.NTRK
    assert tumours["lms3-cond-lms"].entity.value is Entity.STS
    assert tumours["lms3-cond-lms"].molecular == ()


def test_patient_level_history_is_shared(case_of: CaseBuilder) -> None:
    """recommendations.md: imaging, radiotherapy, referrals and medications are the patient's
    (surveillance counts the last study of a kind), whatever tumour they name."""
    case = case_of(merged(LMS, ILMS))
    assert {i.source for i in case.imaging} >= {"Procedure/lms3-proc-mri",
                                                "Procedure/ilms2-proc-mri"}
    assert [r.sources for r in case.referrals] == [("Procedure/ilms2-proc-mdt",)]


def test_the_recurrence_record_of_a_primary_is_not_a_second_tumour(case_of: CaseBuilder) -> None:
    """recommendations.md sts-recurrence-intensify; a local recurrence Condition that names a
    sarcoma is folded into its primary."""
    record = bundle("sts-local-recurrence")
    del find(record, "mfs6-cond-recurrence")["extension"]  # names no primary: the only tumour
    (tumour,) = case_of(record).tumours
    assert [r.sources for r in tumour.local_recurrences] == [("Condition/mfs6-cond-recurrence",)]


def test_a_megabyte_of_pathology_text_is_read_quickly(case_of: CaseBuilder) -> None:
    """The brief: the text handed to the synonym matcher is capped (limits.MAX_TEXT_CHARS), so
    a 1 MB narrative in a report, a note and a Condition cannot hold a hook call for seconds;
    what the start of the text says is still read."""
    big = ("Inflammatory leiomyosarcoma with necrosis; desmin and SMA positive, ALK IHC negative. "
           * 12_000)[:1_000_000]
    record = bundle(ILMS)
    record.append(observation("big-report", cc(text="Surgical pathology report"),
                              valueString=big, note=[{"text": big}],
                              focus=[ref("Condition/ilms2-cond-ilms")]))
    find(record, "ilms2-cond-ilms")["note"] = [{"text": big}]
    find(record, "ilms2-proc-core")["note"] = [{"text": big}]
    started = time.perf_counter()
    (tumour,) = case_of(record).tumours
    assert time.perf_counter() - started < 2.0
    assert tumour.necrosis is not None and tumour.necrosis.value is True
