"""Surveillance schedule arithmetic (catalogue conventions, used by sts-surveillance-plan)."""

from __future__ import annotations

import datetime as dt

import pytest

from cds_service.case.model import Biopsy
from cds_service.case.model import BiopsyKind
from cds_service.case.model import Depth
from cds_service.case.model import Entity
from cds_service.case.model import ImagingKind
from cds_service.case.model import ImagingStudy
from cds_service.case.model import Margin
from cds_service.case.model import Resection
from cds_service.case.model import ResectionKind
from cds_service.case.model import Site
from cds_service.case.model import Tumour
from cds_service.guidelines.conventions import is_inadequate
from cds_service.guidelines.conventions import last_surgery
from cds_service.guidelines.conventions import surgeries
from cds_service.guidelines.surveillance import StudyKind
from cds_service.guidelines.surveillance import SurveillanceRisk
from cds_service.guidelines.surveillance import counts_as
from cds_service.guidelines.surveillance import interval_in_force
from cds_service.guidelines.surveillance import next_due
from cds_service.guidelines.surveillance import surveillance_plan
from cds_service.guidelines.surveillance import surveillance_risk
from tests.guidelines.factories import TODAY
from tests.guidelines.factories import case
from tests.guidelines.factories import fact
from tests.guidelines.factories import tumour

HIGH, LOW, ASCMN = SurveillanceRisk.HIGH, SurveillanceRisk.LOW, SurveillanceRisk.ASCMN
MRI, CHEST = StudyKind.MRI, StudyKind.CHEST


def study(kind: ImagingKind, date: dt.date | None, site: Site | None = None,
          source: str = "Procedure/img-1") -> ImagingStudy:
    return ImagingStudy(source=source, kind=kind, date=date, site=site)


def resection(date: dt.date | None, kind: ResectionKind = ResectionKind.WIDE,
              margin: Margin | None = Margin.R0, source: str = "Procedure/res-1") -> Resection:
    return Resection(source=source, kind=kind, date=date,
                     margin=fact(margin, "Observation/margin-1") if margin else None)


def thigh_sts(**fields: object) -> Tumour:
    base: dict[str, object] = {"grade": fact(3), "site": fact(Site.LOWER_LIMB),
                               "resections": (resection(dt.date(2026, 8, 10)),)}
    base.update(fields)
    return tumour(Entity.STS, **base)


@pytest.mark.parametrize(("risk", "kind", "day", "interval"), [
    (HIGH, MRI, 0, 183), (HIGH, MRI, 1_095, 183), (HIGH, MRI, 1_096, 365), (HIGH, MRI, 9_000, 365),
    (HIGH, CHEST, 1_095, 122), (HIGH, CHEST, 1_096, 183), (HIGH, CHEST, 1_825, 183),
    (HIGH, CHEST, 1_826, 365),
    (LOW, MRI, 1_095, 183), (LOW, MRI, 1_096, 365),
    (LOW, CHEST, 0, 183), (LOW, CHEST, 1_096, 183), (LOW, CHEST, 1_825, 183),
    (LOW, CHEST, 1_826, 365),
    (ASCMN, MRI, 0, 365), (ASCMN, MRI, 6_205, 365), (ASCMN, CHEST, 10, None),
])
def test_interval_bands_change_on_day_1096_and_1826(
        risk: SurveillanceRisk, kind: StudyKind, day: int, interval: int | None) -> None:
    """Catalogue table: year 3 ends on day 1,096 and year 5 on day 1,826 after the resection."""
    assert interval_in_force(risk, kind, day) == interval


def test_band_edge_counted_in_calendar_days_from_the_resection() -> None:
    """2023-03-15 + 1,096 days = 2026-03-15: high-risk chest 122 days the day before, 183 on it."""
    resected = dt.date(2023, 3, 15)
    before = next_due(HIGH, CHEST, resected, None, dt.date(2026, 3, 14))
    on = next_due(HIGH, CHEST, resected, None, dt.date(2026, 3, 15))
    assert before is not None and before[0] == 122
    assert on is not None and on[0] == 183


def test_no_prior_study_due_from_the_resection() -> None:
    """sts-surveillance-plan: with no study since the resection, the interval starts at it."""
    assert next_due(HIGH, CHEST, dt.date(2026, 8, 10), None, TODAY) == \
        (122, dt.date(2026, 12, 10), False)


def test_study_before_the_resection_is_ignored() -> None:
    """The interval runs from the later of the resection and the last study."""
    assert next_due(HIGH, MRI, dt.date(2026, 8, 10), dt.date(2026, 7, 6), TODAY) == \
        (183, dt.date(2027, 2, 9), False)


def test_study_after_the_resection_starts_the_interval_and_overdue_is_strict() -> None:
    """Overdue only once the interval is exceeded (the due day itself is not overdue)."""
    resected, last = dt.date(2023, 3, 15), dt.date(2026, 3, 18)
    assert next_due(HIGH, CHEST, resected, last, dt.date(2026, 9, 17)) == \
        (183, dt.date(2026, 9, 17), False)
    assert next_due(HIGH, CHEST, resected, last, dt.date(2026, 9, 18)) == \
        (183, dt.date(2026, 9, 17), True)


def test_ascmn_has_yearly_mri_and_no_chest_schedule() -> None:
    """ascmn: MRI every 365 days with no end; chest imaging not scheduled."""
    resected = dt.date(2010, 1, 1)
    assert next_due(ASCMN, MRI, resected, dt.date(2026, 1, 1), TODAY) == \
        (365, dt.date(2027, 1, 1), False)
    assert next_due(ASCMN, CHEST, resected, None, TODAY) is None


@pytest.mark.parametrize(("entity", "fields", "risk"), [
    (Entity.STS, {"grade": fact(3)}, HIGH),
    (Entity.STS, {"grade": fact(2)}, HIGH),
    (Entity.STS, {"grade": fact(1)}, LOW),
    (Entity.STS, {}, HIGH),  # unknown grade after a resection
    (Entity.SFT, {"grade": fact(2)}, HIGH),
    (Entity.ASPS, {"grade": fact(1)}, LOW),
    (Entity.NTRK, {}, HIGH),
    (Entity.SPINDLE_NOS, {"grade": fact(1)}, LOW),
    (Entity.ILMS, {"grade": fact(1), "rms_component": fact(True)}, HIGH),
    (Entity.ILMS, {"grade": fact(1), "rms_component": fact(False)}, LOW),
    (Entity.PECOMA, {"size_cm": fact(3.0), "necrosis": fact(False),
                     "infiltrative_growth": fact(False), "high_nuclear_grade": fact(False)}, LOW),
    (Entity.PECOMA, {"size_cm": fact(3.0)}, HIGH),  # indeterminate is followed up as high
    (Entity.PECOMA, {"necrosis": fact(True)}, HIGH),
    (Entity.ASCMN, {"grade": fact(1)}, ASCMN),
])
def test_surveillance_risk_groups(entity: Entity, fields: dict[str, object],
                                  risk: SurveillanceRisk) -> None:
    """Catalogue "Surveillance risk" convention."""
    assert surveillance_risk(tumour(entity, **fields)) is risk


def test_chest_xray_counts_except_for_pecoma() -> None:
    """Chest CT or X-ray both count, except for pecoma (CT only); PET/CT does not count."""
    xray, ct = study(ImagingKind.XRAY_CHEST, TODAY), study(ImagingKind.CT_CHEST, TODAY)
    pet = study(ImagingKind.PET_CT, TODAY)
    sts, pec = tumour(Entity.STS), tumour(Entity.PECOMA)
    assert counts_as(xray, CHEST, sts, case(sts))
    assert not counts_as(xray, CHEST, pec, case(pec))
    assert counts_as(ct, CHEST, pec, case(pec))
    assert not counts_as(pet, CHEST, sts, case(sts))


def test_mri_counts_at_the_primary_site_or_unknown_site_with_one_tumour() -> None:
    """An MRI counts when sites agree, or when a site is unknown and the case has one tumour."""
    thigh = tumour(Entity.STS, site=fact(Site.LOWER_LIMB))
    arm = tumour(Entity.STS, "cond-2", site=fact(Site.UPPER_LIMB))
    leg_mri = study(ImagingKind.MRI, TODAY, Site.LOWER_LIMB)
    anywhere = study(ImagingKind.MRI, TODAY)
    assert counts_as(leg_mri, MRI, thigh, case(thigh))
    assert not counts_as(leg_mri, MRI, arm, case(arm))
    assert counts_as(anywhere, MRI, thigh, case(thigh))
    assert not counts_as(anywhere, MRI, thigh, case(thigh, arm))
    assert not counts_as(study(ImagingKind.CT, TODAY, Site.LOWER_LIMB), MRI, thigh, case(thigh))


def test_plan_thigh_high_grade_nothing_overdue() -> None:
    """Fixture sts-thigh-high-grade-r1: pre-operative studies ignored, due from the resection."""
    sts = thigh_sts()
    imaging = (study(ImagingKind.MRI, dt.date(2026, 7, 6), Site.LOWER_LIMB),
               study(ImagingKind.CT_CHEST, dt.date(2026, 7, 21), source="Procedure/ct-1"))
    plan = surveillance_plan(case(sts, imaging=imaging), sts, TODAY)
    assert plan is not None and plan.risk is HIGH and not plan.overdue
    assert [(s.kind, s.interval_days, s.due, s.last_study) for s in plan.studies] == [
        (MRI, 183, dt.date(2027, 2, 9), None), (CHEST, 122, dt.date(2026, 12, 10), None)]
    assert plan.year_end(1_096) == dt.date(2029, 8, 10)


def test_plan_after_year_three_chest_overdue() -> None:
    """Fixture sts-local-recurrence: day 1,348, chest every 183 days from 2026-03-18 is overdue."""
    sts = thigh_sts(resections=(resection(dt.date(2023, 3, 15)),))
    imaging = (study(ImagingKind.MRI, dt.date(2026, 9, 10), Site.LOWER_LIMB),
               study(ImagingKind.CT_CHEST, dt.date(2026, 3, 18), source="Procedure/ct-1"))
    plan = surveillance_plan(case(sts, imaging=imaging), sts, TODAY)
    assert plan is not None
    mri, chest = plan.studies
    assert (mri.interval_days, mri.due, mri.overdue) == (365, dt.date(2027, 9, 10), False)
    assert (chest.interval_days, chest.due, chest.overdue) == (183, dt.date(2026, 9, 17), True)
    assert chest.last_study is not None and chest.last_study.source == "Procedure/ct-1"


def test_plan_unknown_grade_is_high_risk() -> None:
    """Fixture sts-grade-unknown-resected: chest due 2026-10-31 (resection + 122) is overdue."""
    sts = thigh_sts(grade=None, resections=(resection(dt.date(2026, 7, 1)),))
    imaging = (study(ImagingKind.CT_CHEST, dt.date(2026, 6, 10)),)
    plan = surveillance_plan(case(sts, imaging=imaging), sts, TODAY)
    assert plan is not None and plan.risk is HIGH
    assert [(s.kind, s.due) for s in plan.overdue] == [(CHEST, dt.date(2026, 10, 31))]


def test_plan_pecoma_xray_does_not_reset_the_chest_interval() -> None:
    """Pecoma: a chest X-ray after the resection is not chest imaging; the CT count starts at it."""
    pec = tumour(Entity.PECOMA, necrosis=fact(True),
                 resections=(resection(dt.date(2026, 8, 10)),))
    imaging = (study(ImagingKind.XRAY_CHEST, dt.date(2026, 11, 1)),)
    plan = surveillance_plan(case(pec, imaging=imaging), pec, TODAY)
    assert plan is not None
    assert plan.studies[1].due == dt.date(2026, 12, 10)
    sts = thigh_sts()
    plan = surveillance_plan(case(sts, imaging=imaging), sts, TODAY)
    assert plan is not None and plan.studies[1].due == dt.date(2027, 3, 3)


def test_plan_ignores_undated_and_future_studies() -> None:
    """Only dated studies up to today can start an interval."""
    sts = thigh_sts()
    imaging = (study(ImagingKind.CT_CHEST, None),
               study(ImagingKind.CT_CHEST, TODAY + dt.timedelta(days=3)))
    plan = surveillance_plan(case(sts, imaging=imaging), sts, TODAY)
    assert plan is not None and plan.studies[1].due == dt.date(2026, 12, 10)


def test_plan_ascmn_mri_only() -> None:
    """ascmn: one scheduled study, yearly MRI."""
    asc = tumour(Entity.ASCMN, resections=(resection(dt.date(2026, 8, 10)),))
    plan = surveillance_plan(case(asc), asc, TODAY)
    assert plan is not None and plan.risk is ASCMN
    assert [(s.kind, s.interval_days, s.due) for s in plan.studies] == [
        (MRI, 365, dt.date(2027, 8, 10))]


def test_no_plan_without_a_dated_resection() -> None:
    """No resection, or an undated latest one: no schedule (data quality names the date)."""
    assert surveillance_plan(case(tumour()), tumour(), TODAY) is None
    undated = tumour(resections=(resection(None),))
    assert surveillance_plan(case(undated), undated, TODAY) is None


def test_excisional_biopsy_of_a_sarcoma_counts_as_unplanned_excision() -> None:
    """Conventions: an excisional biopsy of a sarcoma counts as an unplanned excision."""
    biopsy = Biopsy(source="Procedure/bx-1", kind=BiopsyKind.EXCISIONAL, date=dt.date(2026, 9, 1))
    core = Biopsy(source="Procedure/bx-2", kind=BiopsyKind.CORE, date=dt.date(2026, 8, 1))
    sts = tumour(Entity.STS, biopsies=(biopsy, core))
    assert [(s.source, s.kind) for s in surgeries(sts)] == [
        ("Procedure/bx-1", ResectionKind.UNPLANNED)]
    assert surgeries(tumour(Entity.ASCMN, biopsies=(biopsy,))) == ()
    later = tumour(Entity.STS, biopsies=(biopsy,), depth=fact(Depth.DEEP),
                   resections=(resection(dt.date(2026, 10, 1)),))
    last = last_surgery(later)
    assert last is not None and last.kind is ResectionKind.WIDE


@pytest.mark.parametrize(("kind", "margin", "inadequate"), [
    (ResectionKind.WIDE, Margin.R1, True), (ResectionKind.WIDE, Margin.R2, True),
    (ResectionKind.WIDE, Margin.R0, False), (ResectionKind.WIDE, None, None),
    (ResectionKind.UNPLANNED, Margin.R0, True), (ResectionKind.MARGINAL, None, True),
])
def test_is_inadequate(kind: ResectionKind, margin: Margin | None, inadequate: bool | None) -> None:
    """sts-reexcision trigger: R1/R2, or unplanned/marginal; unknown margin is not R0."""
    assert is_inadequate(resection(TODAY, kind, margin)) is inadequate
