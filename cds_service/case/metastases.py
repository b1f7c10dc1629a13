"""Mark the metastases a metastasectomy on record removed (recommendations.md, "advanced")."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from cds_service.case.findings import Finding
from cds_service.case.model import Metastasis
from cds_service.case.model import Tumour


def with_metastasectomies(tumours: list[Tumour], findings: Iterable[Finding]) -> list[Tumour]:
    """The tumours, each metastasis marked with the metastasectomy that removed it.

    A metastasectomy that names Conditions (``reasonReference``) removed those metastases. One
    that names none is a lung resection (the value set's procedures are): it removed the lung
    metastases dated on or before it. An undated metastasis, or an undated metastasectomy that
    names nothing, cannot be shown removed and stays.
    """
    operations = [f for f in findings if f.kind == "metastasectomy"]
    if not operations:
        return tumours
    return [tumour.model_copy(update={"metastases": tuple(
        _mark(m, operations) for m in tumour.metastases)}) if tumour.metastases else tumour
        for tumour in tumours]


def _mark(metastasis: Metastasis, operations: list[Finding]) -> Metastasis:
    removed = [op for op in operations if _removes(op, metastasis)]
    if not removed:
        return metastasis
    latest = max(removed, key=lambda op: op.date or dt.date.min)
    return metastasis.model_copy(update={"resected_by": latest.source,
                                         "resected_on": latest.date})


def _removes(operation: Finding, metastasis: Metastasis) -> bool:
    if operation.targets:
        # Removed after it was diagnosed (or either date unknown: the reference says it was).
        return metastasis.source in operation.targets and (
            metastasis.date is None or operation.date is None or metastasis.date <= operation.date)
    return metastasis.lung is True and metastasis.date is not None \
        and operation.date is not None and metastasis.date <= operation.date
