"""Card-building helpers shared by the rule modules: words for tumours, orders and suggestions."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable

from cds_service.case.model import DraftOrder
from cds_service.case.model import DrugClass
from cds_service.case.model import Entity
from cds_service.case.model import Fact
from cds_service.case.model import IhcMarker
from cds_service.case.model import Resection
from cds_service.case.model import ResectionKind
from cds_service.case.model import Site
from cds_service.case.model import Tumour
from cds_service.guidelines.conventions import ENTITY_NAMES
from cds_service.guidelines.conventions import is_excisional_biopsy
from cds_service.guidelines.recommendation import ProposedOrder
from cds_service.guidelines.recommendation import SuggestionSpec
from cds_service.guidelines.recommendation import UsedFact

SITE_WORDS = {
    Site.UPPER_LIMB: "upper limb", Site.LOWER_LIMB: "lower limb", Site.HAND: "hand",
    Site.FOOT: "foot", Site.TRUNK: "trunk", Site.RETROPERITONEUM: "abdomen/retroperitoneum",
    Site.UTERUS: "uterus", Site.BROAD_LIGAMENT: "broad ligament", Site.HEAD_NECK: "head and neck",
    Site.SKIN: "skin", Site.CHEST: "chest",
}
"""How cards name a body region (``other`` is left unnamed)."""

SHORT_NAMES = {Entity.ASCMN: "atypical spindle cell neoplasm"}
"""Entity names for summaries where ENTITY_NAMES is too long for the 140-character limit."""

SURGERY_WORDS = {
    ResectionKind.WIDE: "wide excision", ResectionKind.MARGINAL: "marginal excision",
    ResectionKind.UNPLANNED: "unplanned excision", ResectionKind.MOHS: "Mohs surgery",
    ResectionKind.RE_EXCISION: "re-excision", ResectionKind.EXCISION: "excision",
}
"""How cards name a resection."""

MARKER_NAMES = {
    IhcMarker.HMB45: "HMB-45", IhcMarker.MELAN_A: "Melan-A", IhcMarker.SMA: "SMA",
    IhcMarker.DESMIN: "desmin", IhcMarker.MYOD1: "MyoD1", IhcMarker.MYOGENIN: "myogenin",
    IhcMarker.ALK: "ALK", IhcMarker.CD34: "CD34", IhcMarker.S100: "S-100",
}
"""How cards name immunohistochemistry markers."""

PRESENCE = {True: "present", False: "absent", None: "not recorded"}
"""How cards state a feature that is present, absent or not recorded."""

CHEMOTHERAPY = frozenset({DrugClass.ANTHRACYCLINE, DrugClass.ALKYLATING, DrugClass.CYTOTOXIC})
"""Drug classes that count as (cytotoxic) chemotherapy."""

TARGETED_AGENTS = frozenset({DrugClass.TARGETED, DrugClass.TRK_INHIBITOR})
"""Targeted agents other than mTOR inhibitors (tyrosine-kinase and TRK inhibitors)."""

SYSTEMIC_ANTICANCER = CHEMOTHERAPY | TARGETED_AGENTS | {DrugClass.MTOR_INHIBITOR}
"""Any systemic anticancer drug: cytotoxic, targeted or mTOR inhibitor (catalogue drug classes)."""


def where(tumour: Tumour) -> str:
    """`` of the lower limb`` for card text, or an empty string when the region is not named."""
    words = SITE_WORDS.get(tumour.site.value) if tumour.site is not None else None
    return f" of the {words}" if words else ""


def describe(tumour: Tumour) -> str:
    """The tumour in words for a summary: entity, and body region where recorded."""
    return ENTITY_NAMES[tumour.entity.value] + where(tumour)


def tumour_values(tumour: Tumour, **extra: str) -> dict[str, str]:
    """Wording values naming a tumour: ``tumour`` (capitalised, short, with site) and ``entity``.

    Args:
        tumour: the tumour the card is about.
        **extra: further placeholder values.

    Returns:
        The values for the wording templates.
    """
    entity = tumour.entity.value
    label = SHORT_NAMES.get(entity, ENTITY_NAMES[entity]) + where(tumour)
    return {"tumour": label[0].upper() + label[1:], "entity": ENTITY_NAMES[entity], **extra}


def surgery_words(surgery: Resection, tumour: Tumour) -> str:
    """The resection's kind in words (an excisional biopsy is named as such)."""
    return "excisional biopsy" if is_excisional_biopsy(surgery, tumour) \
        else SURGERY_WORDS[surgery.kind]


def flag_fact(name: str, fact: Fact[bool] | None) -> UsedFact:
    """A yes/no fact of the tumour ("not recorded" when missing)."""
    return UsedFact.of(name, fact, None if fact is None else ("yes" if fact.value else "no"))


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


def order_subject(order: DraftOrder) -> str:
    """The card subject of an order-hook card: the draft's ``Type/id``, else its label."""
    return order.reference or order.label


def order_fact(order: DraftOrder) -> UsedFact:
    """The draft order, as a fact on the card."""
    return UsedFact("draft order", order.label, None, (order.reference,) if order.reference else ())


def tumours_for_order(order: DraftOrder, tumours: tuple[Tumour, ...],
                      eligible: Callable[[Tumour], bool] | None = None) -> tuple[Tumour, ...]:
    """The tumours a draft order may be for.

    Args:
        order: the draft order.
        tumours: the patient's tumours.
        eligible: which tumours an order without a reason may be for; every one when omitted.

    Returns:
        The tumours the order's reasons name (the Condition or one of its metastases, as
        chemotherapy is ordered for metastatic disease); a reason naming an entity by code or text
        selects the eligible tumours of that entity (all eligible ones when none is of it); when it
        names no reason, every eligible tumour. A reason naming none of them, or only another
        disease, means the order is for something else: empty.
    """
    if order.reason_refs:
        refs = set(order.reason_refs)
        return tuple(t for t in tumours
                     if t.source in refs or any(m.source in refs for m in t.metastases))
    if order.for_other_condition:
        return ()
    candidates = tuple(t for t in tumours if eligible is None or eligible(t))
    if order.reason_entities:
        named = tuple(t for t in candidates if t.entity.value in order.reason_entities)
        return named or candidates
    return candidates


def proposed_order(kind: str, tumour: Tumour, site: Site | None = None) -> ProposedOrder:
    """An order of ``kind`` for ``tumour``, with its body site and region.

    Args:
        kind: order kind in orders.toml.
        tumour: the tumour the order is for (body site and reason).
        site: the body region coding the order, when it differs from the tumour's.

    Returns:
        The order to create.
    """
    region = site or (tumour.site.value if tumour.site is not None else None)
    return ProposedOrder(kind=kind, body_site=tumour.body_site,
                         site=str(region) if region else None, reason=f"Condition/{tumour.id}")


def propose(label: str, kind: str, tumour: Tumour, order: DraftOrder | None = None, *,
            site: Site | None = None, recommended: bool = True) -> SuggestionSpec:
    """A suggestion creating a ``kind`` order for ``tumour``.

    Args:
        label: key of the suggestion label in the wording.
        kind: order kind in orders.toml.
        tumour: the tumour the order is for (body site and reason).
        order: a draft the suggestion replaces (deleted when it has an id).
        site: the body region coding the order, when it differs from the tumour's.
        recommended: whether it is the recommended choice.

    Returns:
        The suggestion.
    """
    deletes = (order.reference,) if order is not None and order.reference else ()
    return SuggestionSpec(label=label, creates=(proposed_order(kind, tumour, site),),
                          deletes=deletes, recommended=recommended)
