"""Surveillance schedule arithmetic after a resection (recommendations.md, "Surveillance risk")."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from cds_service.case.model import Case
from cds_service.case.model import Entity
from cds_service.case.model import ImagingKind
from cds_service.case.model import ImagingStudy
from cds_service.case.model import Resection
from cds_service.case.model import Tumour
from cds_service.guidelines.conventions import PecomaRisk
from cds_service.guidelines.conventions import is_high_grade
from cds_service.guidelines.conventions import is_primary_mri
from cds_service.guidelines.conventions import last_surgery
from cds_service.guidelines.conventions import pecoma_risk


class SurveillanceRisk(StrEnum):
    """Surveillance risk group; ascmn follows its own schedule."""

    HIGH = "high"
    LOW = "low"
    ASCMN = "ascmn"


class StudyKind(StrEnum):
    """The surveillance studies the schedule times."""

    MRI = "mri"
    """MRI of the primary site."""
    CHEST = "chest"
    """Chest imaging: CT, or X-ray except for pecoma."""


class Band(NamedTuple):
    """One band of a schedule: ``interval_days`` applies while the day count is below ``until_day``.

    Attributes:
        until_day: first day after the resection on which the next band applies; None = no end.
        interval_days: days allowed between studies in this band.
    """

    until_day: int | None
    interval_days: int


YEAR_3_END = 1_096
"""Day after the resection on which year 3 ends."""
YEAR_5_END = 1_826
"""Day after the resection on which year 5 ends."""

SCHEDULES: dict[SurveillanceRisk, dict[StudyKind, tuple[Band, ...]]] = {
    SurveillanceRisk.HIGH: {
        StudyKind.MRI: (Band(YEAR_3_END, 183), Band(None, 365)),
        StudyKind.CHEST: (Band(YEAR_3_END, 122), Band(YEAR_5_END, 183), Band(None, 365)),
    },
    SurveillanceRisk.LOW: {
        StudyKind.MRI: (Band(YEAR_3_END, 183), Band(None, 365)),
        StudyKind.CHEST: (Band(YEAR_5_END, 183), Band(None, 365)),
    },
    # Recurrence is reported up to 17 years later, so yearly MRI has no end; no chest schedule.
    SurveillanceRisk.ASCMN: {StudyKind.MRI: (Band(None, 365),)},
}
"""The catalogue's interval table: risk group -> study kind -> bands in order."""

VISIT_SCHEDULES: dict[SurveillanceRisk, str] = {
    SurveillanceRisk.HIGH: "every 3–4 months to year 3, every 6 months to year 5, then yearly",
    SurveillanceRisk.LOW: "every 4–6 months",
    SurveillanceRisk.ASCMN: "long-term, as late recurrence is reported up to 17 years after "
                            "treatment (about 12–13 % recur)",
}
"""Clinical-visit schedule per risk group, as cards state it."""

_CHEST_KINDS = (ImagingKind.CT_CHEST, ImagingKind.XRAY_CHEST)
_HIGH_ENTITIES = (Entity.STS, Entity.ILMS, Entity.NTRK, Entity.SFT, Entity.ASPS)


def surveillance_risk(tumour: Tumour) -> SurveillanceRisk:
    """The tumour's surveillance risk group once it has been resected.

    High: high-grade sts/ilms/ntrk/sft/asps, high-risk or indeterminate pecoma, ilms with a
    rhabdomyosarcomatous component, or an unknown grade; low: grade 1 or low-risk pecoma (a
    pecoma's PEComa risk decides, whatever grade is recorded).
    """
    entity = tumour.entity.value
    if entity is Entity.ASCMN:
        return SurveillanceRisk.ASCMN
    if entity is Entity.PECOMA:
        # Its PEComa risk decides, indeterminate counting as high; grade does not apply to it.
        low = pecoma_risk(tumour) is PecomaRisk.LOW
        return SurveillanceRisk.LOW if low else SurveillanceRisk.HIGH
    if entity is Entity.ILMS and tumour.rms_component is not None and tumour.rms_component.value:
        return SurveillanceRisk.HIGH
    # Unknown grade after a resection is high; spindle-nos is graded like the listed entities.
    return SurveillanceRisk.LOW if is_high_grade(tumour) is False else SurveillanceRisk.HIGH


def interval_in_force(risk: SurveillanceRisk, kind: StudyKind, day: int) -> int | None:
    """Days allowed between studies of ``kind`` on ``day`` after the resection.

    Args:
        risk: the surveillance risk group.
        kind: the study kind.
        day: days since the resection (the resection day is day 0).

    Returns:
        The interval, or None when the group has no schedule for ``kind``.
    """
    for band in SCHEDULES[risk].get(kind, ()):
        if band.until_day is None or day < band.until_day:
            return band.interval_days
    return None


@dataclass(frozen=True)
class StudyDue:
    """When the next study of one kind is due.

    Attributes:
        kind: the study kind.
        interval_days: the interval in force today.
        last_study: the latest counting study after the resection, or None (then the resection
            starts the interval).
        due: the date the next study is due.
        overdue: True when the interval is exceeded today.
    """

    kind: StudyKind
    interval_days: int
    last_study: ImagingStudy | None
    due: dt.date
    overdue: bool


def next_due(risk: SurveillanceRisk, kind: StudyKind, resection: dt.date,
             last_study: dt.date | None, today: dt.date) -> tuple[int, dt.date, bool] | None:
    """The interval in force today, the next due date and whether it is overdue.

    The interval runs from the later of the resection and the last study of that kind.

    Args:
        risk: the surveillance risk group.
        kind: the study kind.
        resection: date of the latest resection (bands are counted from it).
        last_study: date of the last study of that kind, if any.
        today: the engine's today.

    Returns:
        ``(interval_days, due, overdue)``, or None when the group has no schedule for ``kind``.
    """
    interval = interval_in_force(risk, kind, (today - resection).days)
    if interval is None:
        return None
    start = max(resection, last_study) if last_study is not None else resection
    due = start + dt.timedelta(days=interval)
    return interval, due, today > due


def counts_as(study: ImagingStudy, kind: StudyKind, tumour: Tumour, case: Case) -> bool:
    """Whether ``study`` is a surveillance study of ``kind`` for ``tumour``.

    An MRI counts when it is of the primary site (``is_primary_mri``). Chest CT and X-ray both
    count, except for pecoma (CT only); PET/CT does not.
    """
    if kind is StudyKind.CHEST:
        if tumour.entity.value is Entity.PECOMA:
            return study.kind is ImagingKind.CT_CHEST
        return study.kind in _CHEST_KINDS
    return is_primary_mri(study, tumour, case)


def last_study(case: Case, tumour: Tumour, kind: StudyKind,
               today: dt.date) -> ImagingStudy | None:
    """The latest dated study of ``kind`` for ``tumour`` up to ``today`` (undated ones ignored)."""
    studies = [s for s in case.imaging
               if s.date is not None and s.date <= today and counts_as(s, kind, tumour, case)]
    return max(studies, key=lambda s: s.date or dt.date.min, default=None)


@dataclass(frozen=True)
class SurveillancePlan:
    """A resected tumour's surveillance schedule as of today.

    Attributes:
        risk: the surveillance risk group.
        resection: the latest resection.
        resection_date: its date (bands are counted from it).
        studies: the next due study of each scheduled kind, MRI first.
    """

    risk: SurveillanceRisk
    resection: Resection
    resection_date: dt.date
    studies: tuple[StudyDue, ...]

    @property
    def overdue(self) -> tuple[StudyDue, ...]:
        """The studies whose interval is exceeded."""
        return tuple(study for study in self.studies if study.overdue)

    def year_end(self, day: int) -> dt.date:
        """The date ``day`` days after the resection (``YEAR_3_END``, ``YEAR_5_END``)."""
        return self.resection_date + dt.timedelta(days=day)


def surveillance_plan(case: Case, tumour: Tumour, today: dt.date) -> SurveillancePlan | None:
    """The tumour's schedule, or None when it has no resection or the latest one is undated.

    Args:
        case: the case (imaging history is case-wide).
        tumour: the tumour.
        today: the engine's today.
    """
    resection = last_surgery(tumour)
    if resection is None or resection.date is None:
        return None
    risk = surveillance_risk(tumour)
    studies = []
    for kind in StudyKind:
        study = last_study(case, tumour, kind, today)
        timing = next_due(risk, kind, resection.date, study.date if study else None, today)
        if timing is None:
            continue
        counted = study if study is not None and study.date and study.date > resection.date \
            else None
        studies.append(StudyDue(kind, timing[0], counted, timing[1], timing[2]))
    return SurveillancePlan(risk, resection, resection.date, tuple(studies))
