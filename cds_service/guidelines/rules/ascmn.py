"""Rules from "Treatment Approach for Atypical Spindle Cell Mesenchymal Neoplasm" (source ASCMN)."""

from __future__ import annotations

from collections.abc import Iterator

from cds_service.case.model import Case
from cds_service.case.model import DraftOrder
from cds_service.case.model import DrugClass
from cds_service.case.model import Entity
from cds_service.case.model import Fracture
from cds_service.case.model import IhcMarker
from cds_service.case.model import OrderKind
from cds_service.case.model import Site
from cds_service.case.model import Tumour
from cds_service.guidelines.context import RuleContext
from cds_service.guidelines.conventions import current_metastases
from cds_service.guidelines.conventions import is_advanced
from cds_service.guidelines.conventions import is_excised
from cds_service.guidelines.conventions import is_localized
from cds_service.guidelines.conventions import is_metastatic
from cds_service.guidelines.conventions import is_recurrent
from cds_service.guidelines.conventions import is_unconfirmed
from cds_service.guidelines.conventions import same_region
from cds_service.guidelines.conventions import same_site
from cds_service.guidelines.conventions import tumour_facts
from cds_service.guidelines.recommendation import Advice
from cds_service.guidelines.recommendation import ProposedOrder
from cds_service.guidelines.recommendation import SuggestionSpec
from cds_service.guidelines.recommendation import UsedFact
from cds_service.guidelines.rules.common import CHEMOTHERAPY
from cds_service.guidelines.rules.common import MARKER_NAMES
from cds_service.guidelines.rules.common import SITE_WORDS
from cds_service.guidelines.rules.common import SYSTEMIC_ANTICANCER
from cds_service.guidelines.rules.common import TARGETED_AGENTS
from cds_service.guidelines.rules.common import flag_fact
from cds_service.guidelines.rules.common import order_fact
from cds_service.guidelines.rules.common import order_subject
from cds_service.guidelines.rules.common import propose
from cds_service.guidelines.rules.common import tumour_values
from cds_service.guidelines.rules.common import tumours_for_order
from cds_service.vocabulary import Hook
from cds_service.vocabulary import Indicator

_PANEL = (IhcMarker.CD34, IhcMarker.S100, IhcMarker.DESMIN)
_EXCISION_VARIANTS = {Entity.NTRK: "ntrk", Entity.PECOMA: "pecoma", Entity.ASCMN: "ascmn"}


def _awaits_surgery(tumour: Tumour) -> bool:
    """Active, histologically confirmed (or not said otherwise), and not excised yet."""
    return tumour.is_active and not is_unconfirmed(tumour) and not is_excised(tumour)


# --- work-up --------------------------------------------------------------------------------------

def ascmn_ihc_panel(case: Case, ctx: RuleContext) -> Iterator[Advice]:
    """An active ascmn lacking a CD34, S-100 or desmin result: list the missing markers."""
    for tumour in case.tumours:
        if tumour.entity.value is not Entity.ASCMN or not tumour.is_active:
            continue
        # A recorded result whose value could not be read still counts as done (unknown != false),
        # unlike resulted_markers, which the pecoma and ilms panels use.
        done = {result.marker for result in tumour.ihc}
        missing = [MARKER_NAMES[marker] for marker in _PANEL if marker not in done]
        if not missing:
            continue
        listed = ", ".join(missing[:-1]) + " and " + missing[-1] if len(missing) > 1 \
            else missing[0]
        yield Advice(
            indicator=Indicator.INFO, subject=tumour.id,
            values=tumour_values(tumour, missing=listed),
            facts=(*tumour_facts(tumour), *(UsedFact(f"{name} immunohistochemistry",
                                                     "not recorded") for name in missing)),
        )


def ascmn_mdm2_testing(case: Case, ctx: RuleContext) -> Iterator[Advice]:
    """An active ascmn untested for MDM2 amplification (info), or found amplified (warning)."""
    for tumour in case.tumours:
        if tumour.entity.value is not Entity.ASCMN or not tumour.is_active:
            continue
        results = [m for m in tumour.molecular
                   if m.gene == "gene/mdm2" and m.finding == "amplification"]
        amplified = [m for m in results if m.detected is True]
        if results and not amplified:
            continue  # not amplified, or a result whose value could not be read
        facts = [UsedFact("MDM2 amplification", "amplified", m.date, (m.source,))
                 for m in amplified] or [UsedFact("MDM2 amplification", "not tested")]
        yield Advice(
            subject=tumour.id, values=tumour_values(tumour),
            indicator=Indicator.WARNING if amplified else Indicator.INFO,
            variant="amplified" if amplified else "default",
            facts=(*tumour_facts(tumour), *facts),
            suggestions=() if amplified else (propose("mdm2-fish", "mdm2-fish", tumour),),
        )


# --- surgery --------------------------------------------------------------------------------------

def wide_excision(case: Case, ctx: RuleContext) -> Iterator[Advice]:
    """A localized, confirmed tumour with no excision: wide excision with negative margins."""
    for tumour in case.tumours:
        if not is_localized(tumour) or not _awaits_surgery(tumour):
            continue
        yield Advice(
            indicator=Indicator.INFO, subject=tumour.id,
            variant=_EXCISION_VARIANTS.get(tumour.entity.value, "default"),
            values=tumour_values(tumour),
            facts=(*tumour_facts(tumour), UsedFact("metastasis", "none on record"),
                   flag_fact("unresectable", tumour.unresectable),
                   UsedFact("excision", "none on record")),
        )


def acral_function(case: Case, ctx: RuleContext) -> Iterator[Advice]:
    """A tumour of the hand or foot not yet excised: plan for clearance and function."""
    for tumour in case.tumours:
        site = tumour.site.value if tumour.site is not None else None
        if site in (Site.HAND, Site.FOOT) and _awaits_surgery(tumour):
            yield Advice(
                indicator=Indicator.INFO, subject=tumour.id,
                values=tumour_values(tumour, site=SITE_WORDS[Site(site)]),
                facts=(*tumour_facts(tumour), UsedFact("excision", "none on record")),
            )


def mohs_for_cutaneous_ascmn(case: Case, ctx: RuleContext) -> Iterator[Advice]:
    """A cutaneous ascmn not yet excised: Mohs surgery may be considered."""
    for tumour in case.tumours:
        cutaneous = tumour.site is not None and tumour.site.value is Site.SKIN
        if tumour.entity.value is Entity.ASCMN and cutaneous and _awaits_surgery(tumour):
            yield Advice(
                indicator=Indicator.INFO, subject=tumour.id,
                values=tumour_values(tumour),
                facts=(*tumour_facts(tumour), UsedFact("excision", "none on record")),
            )


def _fixable_primary(tumour: Tumour) -> bool:
    """A primary tumour not excised (still in place), or recurred locally."""
    return (tumour.is_active and not is_excised(tumour)) or is_recurrent(tumour)


def _at_metastasis(fracture: Fracture, case: Case) -> bool:
    """The fracture is recorded as through a metastasis, or it has no site and the patient has a
    secondary bone Condition: it cannot be told to be at the primary tumour."""
    bone = [m for t in case.tumours for m in t.metastases if m.bone]
    return any(m.source == fracture.source for m in bone) or (fracture.site is None and bool(bone))


def _fracture_tumours(fracture: Fracture, case: Case) -> list[Tumour]:
    """The primary tumours of the knowledge base at the fracture's site (catalogue, revised).

    The site is the fracture's own (bodySite, else the M84.5- code); a fracture with no site
    concerns the patient's only primary tumour when it is one in neoplastic disease. A tumour
    whose site is not recorded is at the site only when it is the patient's only one. A
    fracture at a bone metastasis with no primary there concerns none: fixation of metastatic
    bone disease is outside the source. A primary at the site wins over a secondary bone code.
    """
    if _at_metastasis(fracture, case):
        return []
    only = len(case.tumours) == 1
    if fracture.site is None:
        return list(case.tumours) if only and fracture.in_neoplastic_disease \
            and _fixable_primary(case.tumours[0]) else []
    return [t for t in case.tumours if _fixable_primary(t)
            and (same_site(fracture.site, t) or (t.site is None and only))]


def _fracture_links(case: Case) -> list[tuple[Fracture, Tumour]]:
    """Each recorded pathological fracture with the primary tumours at its site."""
    return [(fracture, tumour) for fracture in case.fractures
            for tumour in _fracture_tumours(fracture, case)]


def _fracture_fact(fracture: Fracture) -> UsedFact:
    kind = "in neoplastic disease" if fracture.in_neoplastic_disease else "at the tumour's site"
    where = f", {SITE_WORDS.get(fracture.site, 'site')}" if fracture.site else ""
    shown = f"{kind}{where}" + (" (from text)" if fracture.from_text else "")
    return UsedFact("pathological fracture", shown, fracture.date, (fracture.source,))


def _metastases_facts(tumour: Tumour) -> tuple[UsedFact, ...]:
    return tuple(UsedFact("distant metastasis", "recorded", m.date, (m.source,))
                 for m in current_metastases(tumour))


def fracture_no_internal_fixation(case: Case, ctx: RuleContext) -> Iterator[Advice]:
    """A pathological fracture through a primary tumour: external splintage, not internal
    fixation; a warning with the MDT caveat when a distant metastasis is recorded."""
    links = _fracture_links(case)
    if ctx.hook is Hook.PATIENT_VIEW:
        tumours = {t.id: t for _, t in links}
        for tumour in tumours.values():
            fractures = [f for f, t in links if t.id == tumour.id]
            metastatic = is_metastatic(tumour)
            yield Advice(
                indicator=Indicator.WARNING,
                subject=tumour.id, variant="metastatic" if metastatic else "default",
                values=tumour_values(tumour),
                facts=(*tumour_facts(tumour), *map(_fracture_fact, fractures),
                       *_metastases_facts(tumour)))
        return
    for order in ctx.orders(case):
        fixed = [(f, t) for f, t in links if _fixes(order, f, t)]
        if order.kind is not OrderKind.INTERNAL_FIXATION or not fixed:
            continue
        fracture, tumour = fixed[0]
        metastatic = is_metastatic(tumour)
        yield Advice(
            indicator=Indicator.WARNING if metastatic else Indicator.CRITICAL,
            subject=order_subject(order), variant="order-metastatic" if metastatic else "order",
            values=tumour_values(tumour, order=order.label),
            facts=(order_fact(order), *tumour_facts(tumour), _fracture_fact(fracture),
                   *_metastases_facts(tumour)),
            suggestions=(_splint(fracture, tumour, order),),
            against_order=True,
        )


def _splint(fracture: Fracture, tumour: Tumour, order: DraftOrder) -> SuggestionSpec:
    """The external splint for the fracture's site (terminology.md §5): a long leg splint below
    the femur and a long arm splint in the upper limb, both recommended; at the femur, hip or
    pelvis, or an unknown site, text-only immobilisation planned with the sarcoma team."""
    coded = fracture.splint in ("long-leg", "long-arm")
    made = ProposedOrder(kind="splint" if coded else "immobilisation", body_site=tumour.body_site,
                         site=fracture.splint if coded else None,
                         reason=f"Condition/{tumour.id}")
    return SuggestionSpec(label=f"splint-{fracture.splint}" if coded else "immobilisation",
                          creates=(made,), deletes=(order.reference,) if order.reference else (),
                          recommended=coded)


def _fixes(order: DraftOrder, fracture: Fracture, tumour: Tumour) -> bool:
    """Whether a fixation draft may be for this fracture: no reason or site says otherwise."""
    if order.reason_refs and fracture.source not in order.reason_refs \
            and tumour.source not in order.reason_refs:
        return False
    if order.site is None or fracture.site is None:
        return True
    return same_region(order.site, fracture.site)


# --- systemic therapy -----------------------------------------------------------------------------

_THERAPY = {**dict.fromkeys(CHEMOTHERAPY, "cytotoxic chemotherapy"),
            **dict.fromkeys(TARGETED_AGENTS, "a targeted agent"),
            DrugClass.MTOR_INHIBITOR: "an mTOR inhibitor"}
"""How the card names the systemic therapy a draft orders."""


def ascmn_no_systemic_therapy(case: Case, ctx: RuleContext) -> Iterator[Advice]:
    """A draft systemic anticancer order (cytotoxic, targeted or mTOR inhibitor) for a non-advanced
    ascmn: systemic therapy is generally not used."""
    for order in ctx.orders(case):
        if order.kind is not OrderKind.DRUG or order.drug_class not in SYSTEMIC_ANTICANCER:
            continue
        # The draft must be for the ascmn: named in its reasons, or the patient has no other tumour.
        targets = tumours_for_order(order, case.tumours)
        if not targets or any(t.entity.value is not Entity.ASCMN or is_advanced(t)
                              for t in targets):
            continue
        tumour = targets[0]
        yield Advice(
            indicator=Indicator.WARNING,
            subject=order_subject(order),
            values=tumour_values(tumour, order=order.label, therapy=_THERAPY[order.drug_class]),
            facts=(order_fact(order), *tumour_facts(tumour),
                   UsedFact("metastasis", "none on record"),
                   flag_fact("unresectable", tumour.unresectable)),
            against_order=True,
        )

