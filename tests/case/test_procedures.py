"""Procedure and ServiceRequest mapping: resections, biopsies, imaging, radiotherapy, referral."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from cds_service.case.model import Adequacy
from cds_service.case.model import BiopsyKind
from cds_service.case.model import ImagingKind
from cds_service.case.model import Margin
from cds_service.case.model import ResectionKind
from cds_service.case.model import Site
from cds_service.case.model import Tumour
from cds_service.case.procedures import map_procedure
from cds_service.terminology import Terminology
from tests.case.common import CPT
from tests.case.common import SNOMED
from tests.case.common import CaseBuilder
from tests.case.common import bundle
from tests.case.common import cc
from tests.case.common import find
from tests.case.common import resource
from tests.case.common import without

LMS = "sts-thigh-high-grade-r1"


def _tumour(case_of: CaseBuilder, record: list[dict[str, Any]] | str) -> Tumour:
    (tumour,) = case_of(record).tumours
    return tumour


def _lms_excision(changes: dict[str, Any] | None = None, **more: Any) -> list[dict[str, Any]]:
    """The leiomyosarcoma record with its resection changed (None removes a field)."""
    record = bundle(LMS)
    excision = find(record, "lms3-proc-excision")
    for key, value in {**(changes or {}), **more}.items():
        if value is None:
            excision.pop(key, None)
        else:
            excision[key] = value
    return record


# --- resections --------------------------------------------------------------------------------

def test_a_coded_wide_resection(case_of: CaseBuilder) -> None:
    """terminology.md §2e: CPT 27364 radical resection; the resection keeps source and date."""
    (resection,) = _tumour(case_of, "sts-local-recurrence").resections
    assert (resection.source, resection.kind, resection.date, resection.from_text) == (
        "Procedure/mfs6-proc-resection", ResectionKind.WIDE, dt.date(2023, 3, 15), False)


def test_a_wide_resection_in_words_is_from_text(case_of: CaseBuilder) -> None:
    """The issue: procedures without a code are recognised from code.text "and the fact records
    that it came from text"."""
    (resection,) = _tumour(case_of, "sts-remission-surveillance-current").resections
    assert (resection.source, resection.kind, resection.date, resection.from_text) == (
        "Procedure/rem14-proc-resection", ResectionKind.WIDE, dt.date(2025, 1, 15), True)


def test_a_radical_code_described_as_a_marginal_excision_was_marginal(
        case_of: CaseBuilder) -> None:
    """recommendations.md sts-reexcision: a "marginal excision" is an inadequate first surgery;
    the words beat the billing code (the least adequate reading wins)."""
    (resection,) = _tumour(case_of, LMS).resections
    assert resection.kind is ResectionKind.MARGINAL


@pytest.mark.parametrize(("code", "kind"), [
    (cc(text="Re-excision of tumour bed, left thigh"), ResectionKind.RE_EXCISION),
    (cc(text="Unplanned excision of thigh lump (whoops procedure)"), ResectionKind.UNPLANNED),
    (cc((CPT, "17311")), ResectionKind.MOHS),
    (cc(text="Excision of soft tissue tumour, left thigh"), ResectionKind.EXCISION),
    (cc((CPT, "27329")), ResectionKind.WIDE),
])
def test_resection_kinds(case_of: CaseBuilder, code: dict[str, Any],
                         kind: ResectionKind) -> None:
    """recommendations.md: re-excision, unplanned/marginal excision, Mohs and wide excision are
    told apart (terminology.md §2e codes, text otherwise)."""
    (resection,) = _tumour(case_of, _lms_excision(code=code, note=None)).resections
    assert resection.kind is kind


def test_an_excisional_biopsy_of_a_sarcoma_is_an_unplanned_excision(
        case_of: CaseBuilder) -> None:
    """recommendations.md: "An excisional biopsy of a sarcoma counts as an unplanned
    excision"; it is also a biopsy."""
    tumour = _tumour(case_of, "sts-unplanned-excisional-biopsy")
    (resection,) = tumour.resections
    (biopsy,) = tumour.biopsies
    assert (resection.source, resection.kind, resection.date) == (
        "Procedure/ups4-proc-exbx", ResectionKind.UNPLANNED, dt.date(2026, 9, 1))
    assert (biopsy.source, biopsy.kind) == ("Procedure/ups4-proc-exbx", BiopsyKind.EXCISIONAL)


def test_a_margin_written_in_the_procedure_outcome(case_of: CaseBuilder) -> None:
    """The issue: synonyms are read in "Procedure.outcome"."""
    record = without(_lms_excision(
        code=cc(text="Wide local excision, left thigh"),
        outcome=cc(text="Microscopically positive margin at the deep aspect (R1)")),
        "lms3-obs-margin")
    (resection,) = _tumour(case_of, record).resections
    assert resection.kind is ResectionKind.WIDE
    assert resection.margin is not None
    assert (resection.margin.value, resection.margin.sources, resection.margin.from_text) == (
        Margin.R1, ("Procedure/lms3-proc-excision",), True)


@pytest.mark.parametrize("state", ["not-done", "entered-in-error", "preparation", "stopped"])
def test_procedures_not_done_are_ignored(case_of: CaseBuilder, state: str) -> None:
    """The issue: "Ignore entered-in-error ... resources"; a procedure not (yet) done is no
    resection."""
    assert _tumour(case_of, _lms_excision(status=state)).resections == ()


@pytest.mark.parametrize(("fields", "expected"), [
    ({"performedDateTime": "2026-08"}, dt.date(2026, 8, 1)),
    ({"performedPeriod": {"start": "2026-08-10T08:00:00Z", "end": "2026-08-10T11:00:00Z"}},
     dt.date(2026, 8, 10)),
    ({"performedString": "2026-08-10 (day case)"}, dt.date(2026, 8, 10)),
    ({"performedString": "last summer"}, None),
    ({}, None),
])
def test_procedure_dates_in_every_shape(case_of: CaseBuilder, fields: dict[str, Any],
                                        expected: dt.date | None) -> None:
    """The issue: "Accept dateTime, Period and partial dates"; no date is None."""
    record = _lms_excision({"performedDateTime": None, **fields})
    (resection,) = _tumour(case_of, record).resections
    assert resection.date == expected


# --- biopsies ----------------------------------------------------------------------------------

def test_a_core_biopsy_with_a_diagnostic_result(case_of: CaseBuilder) -> None:
    """recommendations.md sts-histologic-confirmation: core biopsy kinds are told apart; the
    result adequacy is read from Procedure.outcome."""
    (biopsy,) = _tumour(case_of, LMS).biopsies
    assert (biopsy.source, biopsy.kind, biopsy.date) == (
        "Procedure/lms3-proc-core", BiopsyKind.CORE, dt.date(2026, 7, 14))
    assert biopsy.adequacy is not None
    assert (biopsy.adequacy.value, biopsy.adequacy.sources, biopsy.adequacy.from_text) == (
        Adequacy.DIAGNOSTIC, ("Procedure/lms3-proc-core",), True)


def test_an_fna_suspicious_and_non_diagnostic_is_not_diagnostic(case_of: CaseBuilder) -> None:
    """recommendations.md sts-core-biopsy-after-fna: an FNA "whose result is
    suspicious/non-diagnostic"; the least conclusive statement wins."""
    fna, core = _tumour(case_of, "sts-core-after-fna").biopsies
    assert (fna.kind, fna.date) == (BiopsyKind.FNA, dt.date(2026, 10, 20))
    assert fna.adequacy is not None and fna.adequacy.value is Adequacy.NON_DIAGNOSTIC
    assert core.kind is BiopsyKind.CORE


def test_a_biopsy_of_unstated_kind_is_unspecified(case_of: CaseBuilder) -> None:
    """model.BiopsyKind: a biopsy "whose kind the record does not say (never counted as core or
    FNA)"; no result words means no adequacy (unknown is not false)."""
    (biopsy,) = _tumour(case_of, "pecoma-uterine-advanced").biopsies
    assert (biopsy.source, biopsy.kind, biopsy.adequacy) == (
        "Procedure/p6-proc-2", BiopsyKind.UNSPECIFIED, None)


# --- imaging, radiotherapy, referral ------------------------------------------------------------

def test_imaging_procedures_by_kind_site_and_date(case_of: CaseBuilder) -> None:
    """recommendations.md: imaging history comes from Procedure (MRI of the primary site, chest
    CT, PET/CT), with dates for the surveillance intervals."""
    studies = {s.source: (s.kind, s.site, s.date)
               for s in case_of("ntrk-fusion-metastatic").imaging}
    assert studies["Procedure/n14-proc-1"] == (ImagingKind.MRI, Site.LOWER_LIMB,
                                               dt.date(2026, 7, 10))
    assert studies["Procedure/n14-proc-3"] == (ImagingKind.CT_CHEST, Site.CHEST,
                                               dt.date(2026, 7, 20))
    assert studies["Procedure/n14-proc-4"][0] is ImagingKind.PET_CT


@pytest.mark.parametrize(("code", "kind"), [
    (cc((CPT, "71046", "Chest X-ray, 2 views")), ImagingKind.XRAY_CHEST),
    (cc(text="XR Chest 2 views"), ImagingKind.XRAY_CHEST),
    (cc(text="CT abdomen and pelvis with contrast"), ImagingKind.CT),
    (cc((SNOMED, "16310003", "Ultrasonography")), ImagingKind.ULTRASOUND),
    (cc((SNOMED, "113091000", "Magnetic resonance imaging")), ImagingKind.MRI),
])
def test_imaging_kinds(case_of: CaseBuilder, code: dict[str, Any], kind: ImagingKind) -> None:
    """recommendations.md: chest CT and chest X-ray both count as chest imaging (X-ray not
    preferred), CT of another region is not chest imaging."""
    record = bundle(LMS)
    find(record, "lms3-proc-mri")["code"] = code
    studies = [s for s in case_of(record).imaging if s.source == "Procedure/lms3-proc-mri"]
    assert [s.kind for s in studies] == [kind]


def test_a_completed_imaging_service_request_counts_an_open_one_does_not(
        case_of: CaseBuilder) -> None:
    """recommendations.md: "imaging history comes from Procedure (and completed ServiceRequest
    where that is how the record holds it)"."""
    order = resource("sts-thigh-high-grade-r1", "lms3-proc-ctchest")
    request = {"resourceType": "ServiceRequest", "id": "sr-ct", "status": "completed",
               "intent": "order", "code": order["code"], "subject": order["subject"],
               "occurrenceDateTime": "2026-10-01"}
    open_request = dict(request, id="sr-ct-open", status="active",
                        occurrenceDateTime="2026-11-01")
    studies = case_of(bundle(LMS) + [request, open_request]).imaging
    assert [(s.source, s.kind, s.date) for s in studies if s.source.startswith("Service")] == [
        ("ServiceRequest/sr-ct", ImagingKind.CT_CHEST, dt.date(2026, 10, 1))]


def test_radiotherapy_course_with_a_period(case_of: CaseBuilder) -> None:
    """mCODE radiotherapy course summary (SNOMED 1217123003) with performedPeriod: the course
    is dated by its start."""
    (course,) = case_of("sts-local-recurrence").radiotherapy
    assert (course.value, course.sources, course.date) == (
        dt.date(2023, 4, 24), ("Procedure/mfs6-proc-rt",), dt.date(2023, 4, 24))


def test_referrals_by_service_request_and_tumour_board(case_of: CaseBuilder) -> None:
    """recommendations.md sts-specialist-referral: a referral to a sarcoma reference centre or
    multidisciplinary team on record (ServiceRequest, or a tumour-board Procedure)."""
    referrals = {f.sources: f.date for f in case_of("sts-local-recurrence").referrals}
    assert set(referrals) == {("ServiceRequest/mfs6-sr-referral",), ("Procedure/mfs6-proc-mdt",)}
    assert referrals[("Procedure/mfs6-proc-mdt",)] == dt.date(2026, 9, 24)


@pytest.mark.parametrize(("state", "counted"), [
    ("active", True), ("completed", True), ("revoked", False), ("entered-in-error", False),
    ("draft", False),
])
def test_a_referral_counts_once_ordered_not_when_withdrawn(case_of: CaseBuilder, state: str,
                                                           counted: bool) -> None:
    """The issue: "Ignore entered-in-error ... and cancelled resources"; an active referral is
    on record, a revoked or draft one is not."""
    record = bundle("sts-core-after-fna")
    find(record, "core8-sr-referral")["status"] = state
    sources = [f.sources for f in case_of(record).referrals]
    assert (sources == [("ServiceRequest/core8-sr-referral",)]) is counted


def test_map_procedure_of_an_unrelated_procedure_is_empty(terminology: Terminology) -> None:
    """The Procedure mapper: "empty when not done or irrelevant" (a screening colonoscopy)."""
    assert map_procedure(resource("no-tumour-hypertension", "proc-colonoscopy-01"),
                         terminology) == []
