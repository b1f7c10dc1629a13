"""The revised conventions behind rule scoping (issue 13): staging events, current metastases."""

from __future__ import annotations

import datetime as dt

import pytest

from cds_service.case.findings import Finding
from cds_service.case.metastases import with_metastasectomies
from cds_service.case.model import Biopsy
from cds_service.case.model import BiopsyKind
from cds_service.case.model import ClinicalStatus
from cds_service.case.model import Entity
from cds_service.case.model import Margin
from cds_service.case.model import Metastasis
from cds_service.case.model import Resection
from cds_service.case.model import ResectionKind
from cds_service.guidelines.conventions import is_advanced
from cds_service.guidelines.conventions import is_current_metastasis
from cds_service.guidelines.conventions import staging_event
from tests.guidelines.factories import fact
from tests.guidelines.factories import tumour

D = dt.date


def resection(date: D | None, margin: Margin | None = Margin.R0,
              kind: ResectionKind = ResectionKind.WIDE) -> Resection:
    return Resection(source="Procedure/res-1", kind=kind, date=date,
                     margin=fact(margin, "Observation/m") if margin else None)


def recurrence(date: D | None) -> object:
    return fact(date, "Condition/rec-1", date)


@pytest.mark.parametrize(("fields", "expected"), [
    ({}, ("diagnosis", None)),
    ({"biopsies": (Biopsy(source="Procedure/b", kind=BiopsyKind.EXCISIONAL,
                          date=D(2026, 1, 5)),)}, ("reexcision", D(2026, 1, 5))),
    ({"resections": (resection(D(2025, 3, 1)),)}, None),
    ({"resections": (resection(D(2025, 3, 1), Margin.R1),)}, ("reexcision", D(2025, 3, 1))),
    ({"resections": (resection(D(2025, 3, 1), None, ResectionKind.UNPLANNED),)},
     ("reexcision", D(2025, 3, 1))),
    ({"resections": (resection(D(2025, 3, 1), None),)}, None),  # margin unknown: not an event
    ({"resections": (resection(D(2025, 3, 1)),), "local_recurrences": (recurrence(D(2026, 2, 1)),)},
     ("recurrence", D(2026, 2, 1))),
    ({"resections": (resection(D(2026, 3, 1)),), "local_recurrences": (recurrence(D(2026, 2, 1)),)},
     None),  # the recurrence was resected since
    ({"resections": (resection(D(2025, 3, 1)),), "local_recurrences": (recurrence(None),)},
     ("recurrence", None)),  # undated: cannot be shown to precede the resection
    ({"resections": (resection(D(2025, 3, 1), Margin.R2),),
      "local_recurrences": (recurrence(D(2026, 2, 1)),)}, ("recurrence", D(2026, 2, 1))),
])
def test_staging_event_is_the_latest_event_calling_for_local_staging(
        fields: dict[str, object], expected: tuple[str, D | None] | None) -> None:
    event = staging_event(tumour(Entity.STS, **fields))
    assert (None if event is None else (event.kind, event.date)) == expected


LUNG = Metastasis(source="Condition/met-1", lung=True, date=D(2025, 6, 1))


@pytest.mark.parametrize(("metastasis", "current"), [
    (LUNG, True),
    (LUNG.model_copy(update={"clinical_status": ClinicalStatus.ACTIVE}), True),
    (LUNG.model_copy(update={"clinical_status": ClinicalStatus.RESOLVED}), False),
    (LUNG.model_copy(update={"clinical_status": ClinicalStatus.REMISSION}), False),
    (LUNG.model_copy(update={"resected_by": "Procedure/wedge"}), False),
    (Metastasis(source="Condition/n", lung=None, nodal=True), False),
])
def test_current_metastasis(metastasis: Metastasis, current: bool) -> None:
    assert is_current_metastasis(metastasis) is current
    assert is_advanced(tumour(Entity.PECOMA, metastases=(metastasis,))) is current


def wedge(date: D | None, *targets: str) -> Finding:
    return Finding("metastasectomy", True, "Procedure/wedge", date, targets)


@pytest.mark.parametrize(("metastasis", "operation", "removed"), [
    (LUNG, wedge(D(2025, 9, 1), "Condition/met-1"), True),
    (LUNG, wedge(D(2025, 1, 1), "Condition/met-1"), False),  # before it was diagnosed
    (LUNG, wedge(D(2025, 9, 1), "Condition/other"), False),
    (LUNG, wedge(D(2025, 9, 1)), True),  # names nothing: the lung metastases before it
    (LUNG, wedge(D(2025, 1, 1)), False),
    (LUNG, wedge(None), False),
    (LUNG.model_copy(update={"date": None}), wedge(D(2025, 9, 1)), False),
    (Metastasis(source="Condition/liver", lung=False, date=D(2025, 6, 1)), wedge(D(2025, 9, 1)),
     False),
])
def test_metastasectomy_marks_what_it_removed(metastasis: Metastasis, operation: Finding,
                                              removed: bool) -> None:
    [marked] = with_metastasectomies([tumour(Entity.PECOMA, metastases=(metastasis,))],
                                     [operation])
    assert (marked.metastases[0].resected_by == "Procedure/wedge") is removed
