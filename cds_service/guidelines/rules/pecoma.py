"""Work-up and follow-up rules from "Treatment of Perivascular Epithelioid Cell Tumor" (PEC)."""

from __future__ import annotations

from collections.abc import Iterator

from cds_service.case.model import Case
from cds_service.case.model import Entity
from cds_service.case.model import IhcMarker
from cds_service.case.model import ImagingKind
from cds_service.case.model import OrderKind
from cds_service.case.model import Tumour
from cds_service.guidelines.context import RuleContext
from cds_service.guidelines.conventions import PecomaRisk
from cds_service.guidelines.conventions import is_advanced
from cds_service.guidelines.conventions import is_sarcoma
from cds_service.guidelines.conventions import pecoma_features
from cds_service.guidelines.conventions import pecoma_risk
from cds_service.guidelines.conventions import tumour_facts
from cds_service.guidelines.recommendation import Advice
from cds_service.guidelines.recommendation import UsedFact
from cds_service.guidelines.rules.common import MARKER_NAMES
from cds_service.guidelines.rules.common import PRESENCE
from cds_service.guidelines.rules.common import describe
from cds_service.guidelines.rules.common import ihc_facts
from cds_service.guidelines.rules.common import order_fact
from cds_service.guidelines.rules.common import order_subject
from cds_service.guidelines.rules.common import propose
from cds_service.guidelines.rules.common import resulted_markers
from cds_service.guidelines.rules.common import tumours_for_order
from cds_service.vocabulary import Indicator

_MELANOCYTIC = (IhcMarker.HMB45, IhcMarker.MELAN_A)
_SMOOTH_MUSCLE = (IhcMarker.SMA, IhcMarker.DESMIN)


def _is_pecoma(tumour: Tumour) -> bool:
    return tumour.entity.value is Entity.PECOMA


# --- work-up --------------------------------------------------------------------------------------

def pecoma_ihc_panel(case: Case, ctx: RuleContext) -> Iterator[Advice]:
    """An active pecoma lacks a melanocytic or a smooth-muscle marker result."""
    for tumour in case.tumours:
        if not (_is_pecoma(tumour) and tumour.is_active):
            continue
        done = resulted_markers(tumour)
        missing = [group for group in (_MELANOCYTIC, _SMOOTH_MUSCLE) if not done & set(group)]
        if missing:
            yield Advice(
                indicator=Indicator.INFO, subject=tumour.id,
                values={"tumour": describe(tumour),
                        "missing": ", ".join("/".join(MARKER_NAMES[m] for m in g)
                                             for g in missing)},
                facts=(*tumour_facts(tumour), *ihc_facts(tumour, _MELANOCYTIC + _SMOOTH_MUSCLE)),
            )


# --- follow-up ------------------------------------------------------------------------------------

def _feature_facts(tumour: Tumour) -> list[UsedFact]:
    size = f"{tumour.size_cm.value:g} cm" if tumour.size_cm is not None else None
    flags = {"necrosis": tumour.necrosis, "infiltrative growth": tumour.infiltrative_growth,
             "high nuclear grade and cellularity": tumour.high_nuclear_grade}
    return [UsedFact.of("tumour size", tumour.size_cm, size),
            *(UsedFact.of(name, flag, "present" if flag and flag.value else "absent")
              for name, flag in flags.items())]


def pecoma_risk_stratification(case: Case, ctx: RuleContext) -> Iterator[Advice]:
    """A pecoma that is not advanced (active or history): its risk group and the four features.

    In advanced disease the stratification no longer decides anything (catalogue, revised).
    """
    for tumour in case.tumours:
        if not _is_pecoma(tumour) or is_advanced(tumour):
            continue
        features = pecoma_features(tumour)
        risk = pecoma_risk(tumour)
        yield Advice(
            subject=tumour.id, variant=risk.value,
            indicator=Indicator.WARNING if risk is PecomaRisk.HIGH else Indicator.INFO,
            values={"tumour": describe(tumour),
                    "present": str(sum(v is True for v in features.values())),
                    "unknown": str(sum(v is None for v in features.values())),
                    "features": "\n".join(f"- {name}: {PRESENCE[value]}"
                                          for name, value in features.items())},
            facts=(*tumour_facts(tumour), *_feature_facts(tumour)),
        )


def pecoma_chest_ct_not_xray(case: Case, ctx: RuleContext) -> Iterator[Advice]:
    """A draft chest X-ray for a patient with a pecoma: propose a chest CT instead."""
    pecomas = [t for t in case.tumours if _is_pecoma(t)]
    if not pecomas:
        return
    for order in ctx.orders(case):
        if order.kind is not OrderKind.IMAGING or order.imaging is not ImagingKind.XRAY_CHEST:
            continue
        named = [t for t in tumours_for_order(order, case.tumours, _is_pecoma) if _is_pecoma(t)]
        tumour = (named or pecomas)[0]
        yield Advice(
            indicator=Indicator.INFO,
            subject=order_subject(order), values={"tumour": describe(tumour)},
            facts=(order_fact(order), *tumour_facts(tumour)),
            suggestions=(propose("chest-ct", "chest-ct", tumour, order),),
            against_order=True,
        )


def sts_specialist_referral(case: Case, ctx: RuleContext) -> Iterator[Advice]:
    """An active sarcoma (pecoma, ntrk and ilms included) with no referral on record."""
    if case.referrals:
        return
    for tumour in case.tumours:
        if tumour.is_active and is_sarcoma(tumour):
            yield Advice(
                indicator=Indicator.INFO, subject=tumour.id,
                variant="pecoma" if _is_pecoma(tumour) else "default",
                values={"tumour": describe(tumour)},
                facts=(*tumour_facts(tumour),
                       UsedFact("referral to a sarcoma centre or MDT", "none on record")),
                suggestions=(propose("referral", "referral", tumour),),
            )

