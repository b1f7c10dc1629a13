"""Rules from "Treatment of Perivascular Epithelioid Cell Tumor (PEComa)" (source PEC)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator

from cds_service.case.model import Case
from cds_service.case.model import DraftOrder
from cds_service.case.model import DrugClass
from cds_service.case.model import Entity
from cds_service.case.model import IhcMarker
from cds_service.case.model import ImagingKind
from cds_service.case.model import Margin
from cds_service.case.model import Metastasis
from cds_service.case.model import OrderKind
from cds_service.case.model import Resection
from cds_service.case.model import Site
from cds_service.case.model import Tumour
from cds_service.guidelines.conventions import ENTITY_NAMES
from cds_service.guidelines.conventions import PecomaRisk
from cds_service.guidelines.conventions import ever_received
from cds_service.guidelines.conventions import is_advanced
from cds_service.guidelines.conventions import is_resected
from cds_service.guidelines.conventions import is_sarcoma
from cds_service.guidelines.conventions import latest_resection
from cds_service.guidelines.conventions import pecoma_features
from cds_service.guidelines.conventions import pecoma_risk
from cds_service.guidelines.conventions import tumour_facts
from cds_service.guidelines.engine import RuleContext
from cds_service.guidelines.engine import rule
from cds_service.guidelines.recommendation import ProposedOrder
from cds_service.guidelines.recommendation import Recommendation
from cds_service.guidelines.recommendation import SuggestionSpec
from cds_service.guidelines.recommendation import UsedFact
from cds_service.hooks.models import Indicator

CHEMOTHERAPY = frozenset({DrugClass.ANTHRACYCLINE, DrugClass.ALKYLATING, DrugClass.CYTOTOXIC})
"""Drug classes that count as (cytotoxic) chemotherapy."""

MARKER_NAMES = {
    IhcMarker.HMB45: "HMB-45", IhcMarker.MELAN_A: "Melan-A", IhcMarker.SMA: "SMA",
    IhcMarker.DESMIN: "desmin", IhcMarker.MYOD1: "MyoD1", IhcMarker.MYOGENIN: "myogenin",
    IhcMarker.ALK: "ALK",
}
"""How cards name immunohistochemistry markers."""

_SITE_WORDS = {
    Site.UPPER_LIMB: "upper limb", Site.LOWER_LIMB: "lower limb", Site.HAND: "hand",
    Site.FOOT: "foot", Site.TRUNK: "trunk", Site.RETROPERITONEUM: "retroperitoneum/abdomen",
    Site.UTERUS: "uterus", Site.BROAD_LIGAMENT: "broad ligament", Site.HEAD_NECK: "head and neck",
    Site.SKIN: "skin", Site.CHEST: "chest",
}
_MELANOCYTIC = (IhcMarker.HMB45, IhcMarker.MELAN_A)
_SMOOTH_MUSCLE = (IhcMarker.SMA, IhcMarker.DESMIN)
_DISEASE_FREE_DAYS = 365  # PEC: lung metastases after a disease-free interval of >= 1 year
_LABEL_MAX = 32


# --- helpers shared with the other rule modules -------------------------------------------------

def describe(tumour: Tumour) -> str:
    """The tumour in words for a summary: entity, and body region where recorded."""
    name = ENTITY_NAMES[tumour.entity.value]
    site = _SITE_WORDS.get(tumour.site.value) if tumour.site is not None else None
    return f"{name} of the {site}" if site else name


def short_label(order: DraftOrder) -> str:
    """The draft order's label, cut to fit a summary."""
    label = order.label.strip() or "this order"
    return label if len(label) <= _LABEL_MAX else label[: _LABEL_MAX - 1].rstrip() + "…"


def order_subject(order: DraftOrder) -> str:
    """The card subject of an order-hook card: the draft's ``Type/id``, else its label."""
    return order.reference or order.label


def order_fact(order: DraftOrder) -> UsedFact:
    """The draft order as a fact of the card."""
    return UsedFact("draft order", order.label, None, (order.reference,) if order.reference else ())


def proposal(kind: str, tumour: Tumour) -> ProposedOrder:
    """An order of ``kind`` for ``tumour``, with its body site and region."""
    return ProposedOrder(kind=kind, body_site=tumour.body_site,
                         site=tumour.site.value.value if tumour.site else None,
                         reason=f"Condition/{tumour.id}")


def tumours_for_order(case: Case, order: DraftOrder,
                      eligible: Callable[[Tumour], bool]) -> tuple[Tumour, ...]:
    """The tumours a draft order may be for.

    Args:
        case: the patient's case.
        order: the draft order.
        eligible: which tumours an order without a reason may be for.

    Returns:
        The tumours the order's reasons name (the Condition or one of its metastases); when it
        names no reason, every eligible tumour. A reason naming none of them means the order is
        for something else: empty.
    """
    if order.reason_refs:
        refs = set(order.reason_refs)
        return tuple(t for t in case.tumours
                     if t.source in refs or any(m.source in refs for m in t.metastases))
    return tuple(t for t in case.tumours if eligible(t))


def resulted_markers(tumour: Tumour) -> set[IhcMarker]:
    """Markers with a positive or negative result on record."""
    return {result.marker for result in tumour.ihc if result.positive is not None}


def ihc_facts(tumour: Tumour, markers: Iterable[IhcMarker]) -> list[UsedFact]:
    """One fact per result of ``markers`` ("not recorded" for a marker without any)."""
    facts = []
    for marker in markers:
        results = [r for r in tumour.ihc if r.marker is marker]
        for r in results:
            value = {True: "positive", False: "negative", None: "result not recorded"}[r.positive]
            value += " (from text)" if r.from_text else ""
            facts.append(UsedFact(f"IHC {MARKER_NAMES[marker]}", value, r.date, (r.source,)))
        if not results:
            facts.append(UsedFact(f"IHC {MARKER_NAMES[marker]}", "not recorded"))
    return facts


def _is_pecoma(tumour: Tumour) -> bool:
    return tumour.entity.value is Entity.PECOMA


def _first_dated_resection(tumour: Tumour) -> Resection | None:
    dated = [r for r in tumour.resections if r.date is not None]
    return min(dated, key=lambda r: r.date or dt.date.max) if dated else None


def _resection_fact(name: str, resection: Resection) -> UsedFact:
    return UsedFact(name, resection.kind.value, resection.date, (resection.source,))


def _metastasis_fact(metastasis: Metastasis) -> UsedFact:
    where = {True: "lung", False: "other distant site", None: "site not recorded"}[metastasis.lung]
    return UsedFact("regional lymph-node metastasis" if metastasis.nodal else "metastasis",
                    "lymph node" if metastasis.nodal else where, metastasis.date,
                    (metastasis.source,))


def _advanced_facts(tumour: Tumour) -> list[UsedFact]:
    facts = [_metastasis_fact(m) for m in tumour.metastases if not m.nodal]
    if tumour.unresectable is not None and tumour.unresectable.value:
        facts.append(UsedFact.of("unresectable / locally advanced", tumour.unresectable, "yes"))
    return facts


def _months(start: dt.date, end: dt.date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month - (end.day < start.day)


# --- work-up --------------------------------------------------------------------------------------

@rule("pecoma-ihc-panel")
def pecoma_ihc_panel(case: Case, ctx: RuleContext) -> Iterator[Recommendation]:
    """An active pecoma lacks a melanocytic or a smooth-muscle marker result."""
    for tumour in case.tumours:
        if not (_is_pecoma(tumour) and tumour.is_active):
            continue
        done = resulted_markers(tumour)
        missing = [group for group in (_MELANOCYTIC, _SMOOTH_MUSCLE) if not done & set(group)]
        if missing:
            yield Recommendation(
                id="pecoma-ihc-panel", indicator=Indicator.INFO, subject=tumour.id,
                values={"tumour": describe(tumour),
                        "missing": ", ".join("/".join(MARKER_NAMES[m] for m in g)
                                             for g in missing)},
                facts=(*tumour_facts(tumour), *ihc_facts(tumour, _MELANOCYTIC + _SMOOTH_MUSCLE)),
            )


# --- surgery --------------------------------------------------------------------------------------

def _metachronous_lung(tumour: Tumour) -> tuple[Resection, dt.date] | None:
    """The primary resection and first lung metastasis date, when the disease-free interval holds.

    Conservative: any undated, nodal, non-lung or site-unknown metastasis blocks it.
    """
    primary = _first_dated_resection(tumour)
    if primary is None or primary.date is None or not tumour.metastases:
        return None
    if any(m.nodal or m.lung is not True or m.date is None for m in tumour.metastases):
        return None
    first_lung = min(m.date for m in tumour.metastases if m.date is not None)
    return (primary, first_lung) if (first_lung - primary.date).days >= _DISEASE_FREE_DAYS \
        else None


@rule("pecoma-metastasectomy")
def pecoma_metastasectomy(case: Case, ctx: RuleContext) -> Iterator[Recommendation]:
    """A resected pecoma with lung-only metastases a year or more after the primary resection."""
    for tumour in case.tumours:
        found = _metachronous_lung(tumour) if _is_pecoma(tumour) else None
        if found is None:
            continue
        primary, first_lung = found
        assert primary.date is not None  # guaranteed by _metachronous_lung
        yield Recommendation(
            id="pecoma-metastasectomy", indicator=Indicator.INFO, subject=tumour.id,
            values={"tumour": describe(tumour),
                    "months": str(_months(primary.date, first_lung))},
            facts=(*tumour_facts(tumour), _resection_fact("primary resection", primary),
                   *(_metastasis_fact(m) for m in tumour.metastases)),
        )


# --- radiotherapy and systemic therapy ------------------------------------------------------------

@rule("pecoma-adjuvant-radiotherapy")
def pecoma_adjuvant_radiotherapy(case: Case, ctx: RuleContext) -> Iterator[Recommendation]:
    """A resected pecoma with an R1/R2 margin or at the broad ligament, and no radiotherapy."""
    if case.radiotherapy:
        return
    for tumour in case.tumours:
        latest = latest_resection(tumour) if _is_pecoma(tumour) else None
        if latest is None:
            continue
        # "Uncertain" margins = a recorded R1/R2 of the latest resection; a margin that is not
        # recorded does not fire (unknown is not false; case-data-incomplete names the gap).
        margin = latest.margin.value if latest.margin is not None else None
        positive = margin in (Margin.R1, Margin.R2)
        broad = tumour.site is not None and tumour.site.value is Site.BROAD_LIGAMENT
        if not (positive or broad):
            continue
        yield Recommendation(
            id="pecoma-adjuvant-radiotherapy", indicator=Indicator.INFO, subject=tumour.id,
            variant="margin" if positive else "site",
            values={"tumour": describe(tumour), "margin": str(margin),
                    "site_note": " The broad ligament is also a high-risk site for PEComa."
                    if broad else ""},
            facts=(*tumour_facts(tumour), _resection_fact("latest resection", latest),
                   UsedFact.of("resection margin", latest.margin),
                   UsedFact("radiotherapy", "none on record")),
        )


def _spread_at_presentation(tumour: Tumour) -> list[UsedFact]:
    """Positive nodes, or metastases dated on or before the first resection (undated: not)."""
    found = []
    if tumour.positive_nodes is not None and tumour.positive_nodes.value:
        found.append(UsedFact.of("positive lymph nodes", tumour.positive_nodes, "yes"))
    # An undated resection could be the primary one: then "at presentation" cannot be dated.
    first = _first_dated_resection(tumour)
    if first is not None and first.date is not None and all(r.date for r in tumour.resections):
        found += [_metastasis_fact(m) for m in tumour.metastases
                  if m.date is not None and m.date <= first.date]
    return found


@rule("pecoma-postoperative-therapy")
def pecoma_postoperative_therapy(case: Case, ctx: RuleContext) -> Iterator[Recommendation]:
    """A resected pecoma with positive nodes or metastasis at presentation."""
    for tumour in case.tumours:
        spread = _spread_at_presentation(tumour) if _is_pecoma(tumour) else []
        if not (spread and is_resected(tumour)):
            continue
        latest = latest_resection(tumour)
        assert latest is not None  # is_resected
        yield Recommendation(
            id="pecoma-postoperative-therapy", indicator=Indicator.INFO, subject=tumour.id,
            values={"tumour": describe(tumour)},
            facts=(*tumour_facts(tumour), _resection_fact("latest resection", latest), *spread),
        )


def _advanced_pecomas(case: Case) -> Iterator[Tumour]:
    # First-line treatment rules ignore history tumours (catalogue conventions).
    return (t for t in case.tumours if _is_pecoma(t) and t.is_active and is_advanced(t))


@rule("pecoma-mtor-first-line")
def pecoma_mtor_first_line(case: Case, ctx: RuleContext) -> Iterator[Recommendation]:
    """An active advanced pecoma and no mTOR inhibitor ever on record."""
    if ever_received(case, DrugClass.MTOR_INHIBITOR):
        return
    for tumour in _advanced_pecomas(case):
        yield Recommendation(
            id="pecoma-mtor-first-line", indicator=Indicator.WARNING, subject=tumour.id,
            values={"tumour": describe(tumour)},
            facts=(*tumour_facts(tumour), *_advanced_facts(tumour),
                   UsedFact("mTOR inhibitor", "none on record")),
        )


def _chemo_target(case: Case, order: DraftOrder) -> Tumour | None:
    """The advanced pecoma a chemotherapy draft is for, when every tumour it may be for is one."""
    if order.kind is not OrderKind.DRUG or order.drug_class not in CHEMOTHERAPY:
        return None
    targets = tumours_for_order(case, order, lambda t: t.is_active)
    advanced = {t.id for t in _advanced_pecomas(case)}
    return targets[0] if targets and all(t.id in advanced for t in targets) else None


@rule("pecoma-chemo-before-mtor")
def pecoma_chemo_before_mtor(case: Case, ctx: RuleContext) -> Iterator[Recommendation]:
    """A draft cytotoxic order for an advanced pecoma with no mTOR inhibitor on record."""
    if ever_received(case, DrugClass.MTOR_INHIBITOR):
        return
    for order in ctx.orders(case):
        tumour = _chemo_target(case, order)
        if tumour is None:
            continue
        deletes = (order.reference,) if order.reference else ()
        uterine = tumour.site is not None and tumour.site.value is Site.UTERUS
        yield Recommendation(
            id="pecoma-chemo-before-mtor", indicator=Indicator.WARNING,
            subject=order_subject(order), variant="uterine" if uterine else "default",
            values={"tumour": describe(tumour), "drug": short_label(order),
                    "order": order.label},
            facts=(order_fact(order), *tumour_facts(tumour), *_advanced_facts(tumour),
                   UsedFact("mTOR inhibitor", "none on record")),
            suggestions=(
                SuggestionSpec("sirolimus", (proposal("sirolimus", tumour),), deletes, True),
                SuggestionSpec("nab-sirolimus", (proposal("nab-sirolimus", tumour),), deletes),
            ),
            against_order=True,
        )


@rule("pecoma-uterine-regimen")
def pecoma_uterine_regimen(case: Case, ctx: RuleContext) -> Iterator[Recommendation]:
    """An active advanced pecoma of the uterus: the regimens reported for it."""
    for tumour in _advanced_pecomas(case):
        if tumour.site is not None and tumour.site.value is Site.UTERUS:
            yield Recommendation(
                id="pecoma-uterine-regimen", indicator=Indicator.INFO, subject=tumour.id,
                values={"tumour": describe(tumour)},
                facts=(*tumour_facts(tumour), *_advanced_facts(tumour)),
            )


# --- follow-up ------------------------------------------------------------------------------------

def _feature_facts(tumour: Tumour) -> list[UsedFact]:
    size = f"{tumour.size_cm.value:g} cm" if tumour.size_cm is not None else None
    flags = {"necrosis": tumour.necrosis, "infiltrative growth": tumour.infiltrative_growth,
             "high nuclear grade and cellularity": tumour.high_nuclear_grade}
    return [UsedFact.of("tumour size", tumour.size_cm, size),
            *(UsedFact.of(name, flag, "present" if flag and flag.value else "absent")
              for name, flag in flags.items())]


@rule("pecoma-risk-stratification")
def pecoma_risk_stratification(case: Case, ctx: RuleContext) -> Iterator[Recommendation]:
    """Every pecoma (active or history): its risk group and the four features."""
    for tumour in case.tumours:
        if not _is_pecoma(tumour):
            continue
        features = pecoma_features(tumour)
        risk = pecoma_risk(tumour)
        words = {True: "present", False: "absent", None: "not recorded"}
        yield Recommendation(
            id="pecoma-risk-stratification", subject=tumour.id, variant=risk.value,
            indicator=Indicator.WARNING if risk is PecomaRisk.HIGH else Indicator.INFO,
            values={"tumour": describe(tumour),
                    "present": str(sum(v is True for v in features.values())),
                    "unknown": str(sum(v is None for v in features.values())),
                    "features": "\n".join(f"- {name}: {words[v]}" for name, v in features.items())},
            facts=(*tumour_facts(tumour), *_feature_facts(tumour)),
        )


@rule("pecoma-chest-ct-not-xray")
def pecoma_chest_ct_not_xray(case: Case, ctx: RuleContext) -> Iterator[Recommendation]:
    """A draft chest X-ray for a patient with a pecoma: propose a chest CT instead."""
    pecomas = [t for t in case.tumours if _is_pecoma(t)]
    if not pecomas:
        return
    for order in ctx.orders(case):
        if order.kind is not OrderKind.IMAGING or order.imaging is not ImagingKind.XRAY_CHEST:
            continue
        named = [t for t in tumours_for_order(case, order, _is_pecoma) if _is_pecoma(t)]
        tumour = (named or pecomas)[0]
        yield Recommendation(
            id="pecoma-chest-ct-not-xray", indicator=Indicator.INFO,
            subject=order_subject(order), values={"tumour": describe(tumour)},
            facts=(order_fact(order), *tumour_facts(tumour)),
            suggestions=(SuggestionSpec(
                "chest-ct", (proposal("chest-ct", tumour),),
                (order.reference,) if order.reference else (), True),),
            against_order=True,
        )


@rule("sts-specialist-referral")
def sts_specialist_referral(case: Case, ctx: RuleContext) -> Iterator[Recommendation]:
    """An active sarcoma (pecoma, ntrk and ilms included) with no referral on record."""
    if case.referrals:
        return
    for tumour in case.tumours:
        if tumour.is_active and is_sarcoma(tumour):
            yield Recommendation(
                id="sts-specialist-referral", indicator=Indicator.INFO, subject=tumour.id,
                variant="pecoma" if _is_pecoma(tumour) else "default",
                values={"tumour": describe(tumour)},
                facts=(*tumour_facts(tumour),
                       UsedFact("referral to a sarcoma centre or MDT", "none on record")),
                suggestions=(SuggestionSpec("referral", (proposal("referral", tumour),),
                                            recommended=True),),
            )

