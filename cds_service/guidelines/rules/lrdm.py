"""Rules from "Correlation Between Soft Tissue Tumor Recurrence and Distant Metastasis" (LRDM)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from cds_service.case.model import Case
from cds_service.case.model import Entity
from cds_service.case.model import ImagingKind
from cds_service.case.model import ImagingStudy
from cds_service.case.model import Margin
from cds_service.case.model import Resection
from cds_service.case.model import Tumour
from cds_service.guidelines.context import RuleContext
from cds_service.guidelines.conventions import ENTITY_NAMES
from cds_service.guidelines.conventions import has_rms_component
from cds_service.guidelines.conventions import is_advanced
from cds_service.guidelines.conventions import is_deep
from cds_service.guidelines.conventions import is_high_grade
from cds_service.guidelines.conventions import is_inadequate
from cds_service.guidelines.conventions import is_large
from cds_service.guidelines.conventions import is_sarcoma
from cds_service.guidelines.conventions import last_surgery
from cds_service.guidelines.conventions import pecoma_risk
from cds_service.guidelines.conventions import tumour_facts
from cds_service.guidelines.recommendation import Advice
from cds_service.guidelines.recommendation import SuggestionSpec
from cds_service.guidelines.recommendation import UsedFact
from cds_service.guidelines.rules.common import SITE_WORDS
from cds_service.guidelines.rules.common import propose
from cds_service.guidelines.rules.common import proposed_order
from cds_service.guidelines.rules.common import surgery_words
from cds_service.guidelines.rules.common import where
from cds_service.guidelines.surveillance import VISIT_SCHEDULES
from cds_service.guidelines.surveillance import YEAR_3_END
from cds_service.guidelines.surveillance import YEAR_5_END
from cds_service.guidelines.surveillance import StudyDue
from cds_service.guidelines.surveillance import StudyKind
from cds_service.guidelines.surveillance import SurveillancePlan
from cds_service.guidelines.surveillance import SurveillanceRisk
from cds_service.guidelines.surveillance import surveillance_plan
from cds_service.vocabulary import Indicator


def _iso(date: dt.date | None) -> str:
    return date.isoformat() if date else "date not recorded"


def _surgery_fact(surgery: Resection, tumour: Tumour) -> UsedFact:
    return UsedFact("latest resection", surgery_words(surgery, tumour), surgery.date,
                    (surgery.source,))


def reexcision(case: Case, ctx: RuleContext) -> Iterator[Advice]:
    """Latest resection R1/R2, or unplanned/marginal (an excisional biopsy of a sarcoma counts)."""
    for tumour in case.tumours:
        surgery = last_surgery(tumour)
        if surgery is None or not is_inadequate(surgery):
            continue
        margin = surgery.margin.value if surgery.margin is not None else None
        positive = margin in (Margin.R1, Margin.R2)
        yield Advice(
            indicator=Indicator.WARNING, subject=tumour.id,
            variant="margin" if positive else "unplanned",
            values={"entity": ENTITY_NAMES[tumour.entity.value], "where": where(tumour),
                    "surgery": surgery_words(surgery, tumour), "date": _iso(surgery.date),
                    "margin": margin.value if margin else "not recorded"},
            facts=(*tumour_facts(tumour), _surgery_fact(surgery, tumour),
                   UsedFact.of("margin", surgery.margin)),
        )


def _rt_indicated(tumour: Tumour) -> bool:
    """A resected sarcoma (not pecoma; ilms only with an rms component): high-grade, deep, large."""
    entity = tumour.entity.value
    if not is_sarcoma(tumour) or entity is Entity.PECOMA or last_surgery(tumour) is None:
        return False
    if entity is Entity.ILMS and has_rms_component(tumour) is not True:
        return False
    return is_high_grade(tumour) is True and is_deep(tumour) is True and is_large(tumour) is True


def adjuvant_radiotherapy(case: Case, ctx: RuleContext) -> Iterator[Advice]:
    """A resected high-grade, deep, large sarcoma with no radiotherapy on record."""
    if case.radiotherapy:
        return
    for tumour in case.tumours:
        grade, size, surgery = tumour.grade, tumour.size_cm, last_surgery(tumour)
        if not _rt_indicated(tumour) or grade is None or size is None or surgery is None:
            continue
        rms = (UsedFact.of("rhabdomyosarcomatous component", tumour.rms_component, "present"),) \
            if tumour.entity.value is Entity.ILMS else ()
        yield Advice(
            indicator=Indicator.INFO, subject=tumour.id,
            values={"entity": ENTITY_NAMES[tumour.entity.value], "where": where(tumour),
                    "grade": str(grade.value), "size": f"{size.value:g}"},
            facts=(*tumour_facts(tumour),
                   UsedFact.of("histologic grade", grade, f"grade {grade.value}"),
                   UsedFact.of("size", size, f"{size.value:g} cm"),
                   UsedFact.of("depth", tumour.depth), *rms, _surgery_fact(surgery, tumour),
                   UsedFact("radiotherapy", "none recorded")),
        )


def surveillance(case: Case, ctx: RuleContext) -> Iterator[Advice]:
    """A resected tumour whose disease is not advanced: its schedule and next due dates; a
    warning when imaging is overdue. (In metastatic disease imaging follows response assessment,
    outside the sources.)"""
    for tumour in case.tumours:
        if is_advanced(tumour):
            continue
        plan = surveillance_plan(case, tumour, ctx.today)
        if plan is None:
            continue
        variant = "ascmn" if plan.risk is SurveillanceRisk.ASCMN else "default"
        yield Advice(
            indicator=Indicator.WARNING if plan.overdue else Indicator.INFO, subject=tumour.id,
            variant=f"{variant}-overdue" if plan.overdue else variant,
            values=_plan_values(tumour, plan), facts=_plan_facts(tumour, plan),
            suggestions=_overdue_suggestion(tumour, plan),
        )


_STUDY_WORDS = {StudyKind.MRI: "MRI", StudyKind.CHEST: "chest imaging"}


def _plan_values(tumour: Tumour, plan: SurveillancePlan) -> dict[str, str]:
    values = {"entity": ENTITY_NAMES[tumour.entity.value], "where": where(tumour),
              "risk": plan.risk.value, "visits": VISIT_SCHEDULES[plan.risk],
              "surgery": surgery_words(plan.resection, tumour),
              "resection_date": plan.resection_date.isoformat(),
              "year3": plan.year_end(YEAR_3_END).isoformat(),
              "year5": plan.year_end(YEAR_5_END).isoformat(),
              "chest_kind": "chest CT" if tumour.entity.value is Entity.PECOMA
              else "chest CT (or X-ray)",
              "overdue": " and ".join(f"{_STUDY_WORDS[s.kind]} (due {s.due.isoformat()})"
                                      for s in plan.overdue)}
    for study in plan.studies:
        last = study.last_study.date if study.last_study else None
        values |= {f"{study.kind}_interval": str(study.interval_days),
                   f"{study.kind}_due": study.due.isoformat(),
                   f"{study.kind}_last": last.isoformat() if last else "none since the resection"}
    return values


def _plan_facts(tumour: Tumour, plan: SurveillancePlan) -> tuple[UsedFact, ...]:
    facts = [*tumour_facts(tumour), UsedFact("surveillance risk", _risk_basis(tumour, plan.risk)),
             _surgery_fact(plan.resection, tumour)]
    for study in plan.studies:
        facts.append(_study_fact(f"last {_STUDY_WORDS[study.kind]} after the resection",
                                 study.last_study, "none"))
    return tuple(facts)


def _risk_basis(tumour: Tumour, risk: SurveillanceRisk) -> str:
    entity = tumour.entity.value
    if risk is SurveillanceRisk.ASCMN:
        return "own long-term schedule"
    if entity is Entity.PECOMA:
        return f"{risk} (PEComa risk {pecoma_risk(tumour)})"
    if entity is Entity.ILMS and has_rms_component(tumour):
        return "high (rhabdomyosarcomatous component)"
    grade = f"grade {tumour.grade.value}" if tumour.grade else "grade not recorded"
    return f"{risk} ({grade})"


_IMAGING_WORDS = {ImagingKind.MRI: "MRI", ImagingKind.CT_CHEST: "chest CT",
                  ImagingKind.XRAY_CHEST: "chest X-ray"}


def _study_fact(name: str, study: ImagingStudy | None, missing: str) -> UsedFact:
    if study is None:
        return UsedFact(name, missing)
    words = _IMAGING_WORDS.get(study.kind, study.kind.value)
    site = SITE_WORDS.get(study.site) if study.site is not None else None
    return UsedFact(name, f"{words} ({site})" if site else words, study.date, (study.source,))


_ORDER_KINDS = {StudyKind.MRI: "mri", StudyKind.CHEST: "chest-ct"}


def _overdue_suggestion(tumour: Tumour, plan: SurveillancePlan) -> tuple[SuggestionSpec, ...]:
    """One suggestion creating every overdue order, so the user can accept them together."""
    overdue: tuple[StudyDue, ...] = plan.overdue
    if not overdue:
        return ()
    label = "both" if len(overdue) > 1 else str(overdue[0].kind)
    creates = tuple(proposed_order(_ORDER_KINDS[study.kind], tumour) for study in overdue)
    return (SuggestionSpec(label=label, creates=creates, recommended=True),)


def recurrence_intensify(case: Case, ctx: RuleContext) -> Iterator[Advice]:
    """A local recurrence of a sarcoma: intensify chest surveillance; chest CT if none since."""
    for tumour in case.tumours:
        if not tumour.local_recurrences or not is_sarcoma(tumour):
            continue
        since = _recurrence_date(tumour)
        chest_ct = _chest_ct_since(case, since, ctx.today)
        yield Advice(
            indicator=Indicator.WARNING, subject=tumour.id,
            variant="default" if chest_ct else "suggest",
            values={"entity": ENTITY_NAMES[tumour.entity.value], "where": where(tumour),
                    "recurrence_date": _iso(since),
                    "chest_ct_date": _iso(chest_ct.date if chest_ct else None)},
            facts=(*tumour_facts(tumour),
                   *(UsedFact.of("local recurrence", f, _iso(f.value or f.date))
                     for f in tumour.local_recurrences),
                   _study_fact("chest CT since the recurrence", chest_ct, "none")),
            suggestions=() if chest_ct else (propose("chest-ct", "chest-ct", tumour),),
        )


def _recurrence_date(tumour: Tumour) -> dt.date | None:
    """The latest known recurrence date (onset, else when it was recorded)."""
    dates = [d for f in tumour.local_recurrences if (d := f.value or f.date) is not None]
    return max(dates, default=None)


def _chest_ct_since(case: Case, since: dt.date | None, today: dt.date) -> ImagingStudy | None:
    """The latest chest CT on or after ``since``; none can be shown to follow an undated one."""
    if since is None:
        return None
    studies = [s for s in case.imaging if s.kind is ImagingKind.CT_CHEST
               and s.date is not None and since <= s.date <= today]
    return max(studies, key=lambda s: s.date or dt.date.min, default=None)
