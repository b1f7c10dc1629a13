"""Rules from "Inflammatory leiomyosarcoma" (PathologyOutlines.com, source ILMS)."""

from __future__ import annotations

from collections.abc import Iterator

from cds_service.case.model import Case
from cds_service.case.model import DraftOrder
from cds_service.case.model import Entity
from cds_service.case.model import IhcMarker
from cds_service.case.model import OrderKind
from cds_service.case.model import Tumour
from cds_service.guidelines.context import RuleContext
from cds_service.guidelines.conventions import chest_cts_since_diagnosis
from cds_service.guidelines.conventions import has_rms_component
from cds_service.guidelines.conventions import is_advanced
from cds_service.guidelines.conventions import is_resected
from cds_service.guidelines.conventions import tumour_facts
from cds_service.guidelines.recommendation import Advice
from cds_service.guidelines.recommendation import UsedFact
from cds_service.guidelines.rules.common import CHEMOTHERAPY
from cds_service.guidelines.rules.common import MARKER_NAMES
from cds_service.guidelines.rules.common import describe
from cds_service.guidelines.rules.common import flag_fact
from cds_service.guidelines.rules.common import ihc_facts
from cds_service.guidelines.rules.common import order_fact
from cds_service.guidelines.rules.common import order_subject
from cds_service.guidelines.rules.common import resulted_markers
from cds_service.guidelines.rules.common import tumours_for_order
from cds_service.vocabulary import Indicator

_PANEL = (IhcMarker.DESMIN, IhcMarker.MYOD1, IhcMarker.MYOGENIN, IhcMarker.ALK)
"""Myogenic markers, and ALK to exclude inflammatory myofibroblastic tumour."""


def _is_ilms(tumour: Tumour) -> bool:
    return tumour.entity.value is Entity.ILMS


def _names(tumour: Tumour) -> dict[str, str]:
    text = describe(tumour)
    return {"tumour": text, "Tumour": text[:1].upper() + text[1:]}


def _rms_fact(tumour: Tumour) -> UsedFact:
    value = {True: "present", False: "absent", None: None}[has_rms_component(tumour)]
    return UsedFact.of("rhabdomyosarcomatous component", tumour.rms_component, value)


def ilms_ihc_panel(case: Case, ctx: RuleContext) -> Iterator[Advice]:
    """An active ilms lacking a desmin, MyoD1, myogenin or ALK result."""
    for tumour in case.tumours:
        if not (_is_ilms(tumour) and tumour.is_active):
            continue
        missing = [m for m in _PANEL if m not in resulted_markers(tumour)]
        if missing:
            yield Advice(
                indicator=Indicator.INFO, subject=tumour.id,
                values={**_names(tumour),
                        "missing": ", ".join(MARKER_NAMES[m] for m in missing)},
                facts=(*tumour_facts(tumour), *ihc_facts(tumour, _PANEL)),
            )


def _treatment_kind(order: DraftOrder) -> str | None:
    """``radiotherapy`` or ``chemotherapy`` for the drafts this rule is about, else None."""
    if order.kind is OrderKind.RADIOTHERAPY:
        return "radiotherapy"
    if order.kind is OrderKind.DRUG and order.drug_class in CHEMOTHERAPY:
        return "chemotherapy"
    return None


def _ilms_without_rms(case: Case, order: DraftOrder) -> Tumour | None:
    """The ilms the order is for, when every tumour it may be for is an ilms that is not advanced
    and whose rhabdomyosarcomatous component is recorded absent or not recorded.

    A component not recorded fires too (catalogue, revised): the default ilms has none, and the
    card asks for a check with pathology rather than withholding. Adjuvant drafts may be for a
    resected tumour in remission.
    """
    targets = tumours_for_order(order, case.tumours, lambda t: t.is_active or is_resected(t))
    ok = all(_is_ilms(t) and has_rms_component(t) is not True and not is_advanced(t)
             for t in targets)
    return targets[0] if targets and ok else None


def ilms_rt_chemo_reserved(case: Case, ctx: RuleContext) -> Iterator[Advice]:
    """A draft RT or chemotherapy order for a non-advanced ilms without a rhabdomyosarcomatous
    component on record (absent, or not recorded: then the card asks to confirm it)."""
    for order in ctx.orders(case):
        kind = _treatment_kind(order)
        tumour = _ilms_without_rms(case, order) if kind else None
        if kind is None or tumour is None:
            continue
        unknown = has_rms_component(tumour) is None
        yield Advice(
            indicator=Indicator.WARNING,
            subject=order_subject(order), variant=f"{kind}-unknown" if unknown else kind,
            values={**_names(tumour), "order": order.label},
            facts=(order_fact(order), *tumour_facts(tumour), _rms_fact(tumour),
                   UsedFact("distant metastasis", "none on record"),
                   flag_fact("unresectable", tumour.unresectable)),
            against_order=True,
        )


def _chest_ct_fact(case: Case, tumour: Tumour) -> UsedFact | None:
    """The latest chest CT since diagnosis (undated ones count, as the oldest), or None."""
    scans = chest_cts_since_diagnosis(case, tumour)
    if not scans:
        return None
    latest = max(scans, key=lambda s: s.date.toordinal() if s.date else 0)
    return UsedFact("chest CT", "done", latest.date, (latest.source,))


def ilms_rms_transformation(case: Case, ctx: RuleContext) -> Iterator[Advice]:
    """An active ilms with a rhabdomyosarcomatous component: stage the chest, RT/chemo may apply."""
    for tumour in case.tumours:
        if not (_is_ilms(tumour) and tumour.is_active and has_rms_component(tumour)):
            continue
        chest = _chest_ct_fact(case, tumour)
        yield Advice(
            indicator=Indicator.WARNING, subject=tumour.id,
            variant="unstaged" if chest is None else "staged",
            values={**_names(tumour),
                    "chest_date": chest.date.isoformat() if chest and chest.date else "undated"},
            facts=(*tumour_facts(tumour), _rms_fact(tumour),
                   chest or UsedFact("chest CT since diagnosis", "none on record")),
        )
