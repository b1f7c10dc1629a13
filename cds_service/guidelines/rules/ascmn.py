"""Rules from "Treatment Approach for Atypical Spindle Cell Mesenchymal Neoplasm" (source ASCMN)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from cds_service.case.model import Adequacy
from cds_service.case.model import Biopsy
from cds_service.case.model import BiopsyKind
from cds_service.case.model import Case
from cds_service.case.model import DraftOrder
from cds_service.case.model import DrugClass
from cds_service.case.model import Entity
from cds_service.case.model import Fact
from cds_service.case.model import Fracture
from cds_service.case.model import IhcMarker
from cds_service.case.model import ImagingKind
from cds_service.case.model import OrderKind
from cds_service.case.model import Site
from cds_service.case.model import Tumour
from cds_service.case.model import Verification
from cds_service.guidelines.conventions import ENTITY_NAMES
from cds_service.guidelines.conventions import PecomaRisk
from cds_service.guidelines.conventions import has_rms_component
from cds_service.guidelines.conventions import is_advanced
from cds_service.guidelines.conventions import is_high_grade
from cds_service.guidelines.conventions import is_large
from cds_service.guidelines.conventions import is_localized
from cds_service.guidelines.conventions import is_resected
from cds_service.guidelines.conventions import is_sarcoma
from cds_service.guidelines.conventions import pecoma_features
from cds_service.guidelines.conventions import pecoma_risk
from cds_service.guidelines.conventions import tumour_facts
from cds_service.guidelines.engine import RuleContext
from cds_service.guidelines.engine import rule
from cds_service.guidelines.recommendation import ProposedOrder
from cds_service.guidelines.recommendation import Recommendation
from cds_service.guidelines.recommendation import SuggestionSpec
from cds_service.guidelines.recommendation import UsedFact
from cds_service.hooks.models import Hook
from cds_service.hooks.models import Indicator

_SHORT_NAMES = {Entity.ASCMN: "atypical spindle cell neoplasm"}
"""Entity names for summaries where ENTITY_NAMES is too long for the 140-character limit."""

_SITE_WORDS = {
    Site.UPPER_LIMB: "upper limb", Site.LOWER_LIMB: "lower limb", Site.HAND: "hand",
    Site.FOOT: "foot", Site.TRUNK: "trunk", Site.RETROPERITONEUM: "abdomen/retroperitoneum",
    Site.UTERUS: "uterus", Site.BROAD_LIGAMENT: "broad ligament", Site.HEAD_NECK: "head and neck",
    Site.SKIN: "skin", Site.CHEST: "chest",
}
_LIMB_OF = {Site.HAND: Site.UPPER_LIMB, Site.FOOT: Site.LOWER_LIMB}
_UNCONFIRMED = (Verification.PROVISIONAL, Verification.DIFFERENTIAL, Verification.UNCONFIRMED)
_TISSUE_BIOPSIES = (BiopsyKind.CORE, BiopsyKind.INCISIONAL, BiopsyKind.EXCISIONAL)
_INCONCLUSIVE = (Adequacy.SUSPICIOUS, Adequacy.NON_DIAGNOSTIC)
_LOCAL_IMAGING = (ImagingKind.CT, ImagingKind.ULTRASOUND)
_CYTOTOXIC = (DrugClass.ANTHRACYCLINE, DrugClass.ALKYLATING, DrugClass.CYTOTOXIC)
_ASCMN_PANEL = {IhcMarker.CD34: "CD34", IhcMarker.S100: "S-100", IhcMarker.DESMIN: "desmin"}
_PRESENCE = {True: "present", False: "absent", None: "not recorded"}
_EXCISION_VARIANTS = {Entity.NTRK: "ntrk", Entity.PECOMA: "pecoma", Entity.ASCMN: "ascmn"}


# --- helpers shared with ntrk.py (candidates for conventions.py) --------------------------------

def tumour_values(tumour: Tumour, **extra: str) -> dict[str, str]:
    """Wording values naming a tumour: ``tumour`` (capitalised, short, with site) and ``entity``.

    Args:
        tumour: the tumour the card is about.
        **extra: further placeholder values.

    Returns:
        The values for the wording templates.
    """
    entity = tumour.entity.value
    site = _SITE_WORDS.get(tumour.site.value) if tumour.site is not None else None
    label = _SHORT_NAMES.get(entity, ENTITY_NAMES[entity]) + (f" of the {site}" if site else "")
    return {"tumour": label[0].upper() + label[1:], "entity": ENTITY_NAMES[entity], **extra}


def order_tumours(order: DraftOrder, tumours: tuple[Tumour, ...]) -> tuple[Tumour, ...]:
    """The tumours a draft order may be for.

    Args:
        order: the draft order.
        tumours: candidate tumours.

    Returns:
        Those its reasons name; every candidate when it names no reason; none when its reasons
        name only other conditions (the order is then for something else).
    """
    if not order.reason_refs:
        return tumours
    return tuple(t for t in tumours if t.source in order.reason_refs)


def order_fact(order: DraftOrder) -> UsedFact:
    """The draft order, as a fact on the card."""
    return UsedFact("draft order", order.label, None, (order.reference,) if order.reference else ())


def order_subject(order: DraftOrder) -> str:
    """The card subject of an order-hook card: the draft's reference, or its label without id."""
    return order.reference or order.label


def propose(label: str, kind: str, tumour: Tumour, order: DraftOrder | None = None,
            site: Site | None = None) -> SuggestionSpec:
    """A recommended suggestion creating a ``kind`` order for ``tumour``.

    Args:
        label: key of the suggestion label in the wording.
        kind: order kind in orders.toml.
        tumour: the tumour the order is for (body site and reason).
        order: a draft the suggestion replaces (deleted when it has an id).
        site: the body region coding the order, when it differs from the tumour's.

    Returns:
        The suggestion.
    """
    region = site or (tumour.site.value if tumour.site is not None else None)
    created = ProposedOrder(kind=kind, body_site=tumour.body_site,
                            site=str(region) if region else None, reason=f"Condition/{tumour.id}")
    deletes = (order.reference,) if order is not None and order.reference else ()
    return SuggestionSpec(label=label, creates=(created,), deletes=deletes, recommended=True)


def same_site(site: Site | None, tumour: Tumour) -> bool:
    """Both regions are known and the same; a hand or foot counts as part of its limb."""
    if site is None or tumour.site is None:
        return False
    return _LIMB_OF.get(site, site) is _LIMB_OF.get(tumour.site.value, tumour.site.value)


def _is_excised(tumour: Tumour) -> bool:
    # An excisional biopsy removes the lesion: it counts as an (unplanned) excision (conventions).
    return is_resected(tumour) or any(b.kind is BiopsyKind.EXCISIONAL for b in tumour.biopsies)


def _awaits_surgery(tumour: Tumour) -> bool:
    """Active, histologically confirmed (or not said otherwise), and not excised yet."""
    return tumour.is_active and tumour.verification not in _UNCONFIRMED and not _is_excised(tumour)


def _biopsy_fact(name: str, biopsy: Biopsy) -> UsedFact:
    result = biopsy.adequacy.value.value if biopsy.adequacy is not None else "result not recorded"
    return UsedFact(name, result, biopsy.date, (biopsy.source,))


# --- work-up and diagnosis ----------------------------------------------------------------------

@rule("sts-histologic-confirmation")
def confirm_histologically(case: Case, ctx: RuleContext) -> Iterator[Recommendation]:
    """A provisional or differential diagnosis with no tissue sampled: get histology."""
    for tumour in case.tumours:
        if not tumour.is_active or tumour.verification not in _UNCONFIRMED:
            continue
        # A resection specimen gives histology as well as a biopsy does.
        if is_resected(tumour) or any(b.kind in _TISSUE_BIOPSIES for b in tumour.biopsies):
            continue
        status = str(tumour.verification)
        yield Recommendation(
            id="sts-histologic-confirmation", indicator=Indicator.INFO, subject=tumour.id,
            values=tumour_values(tumour, status=status),
            facts=(*tumour_facts(tumour), UsedFact("verification status", status, None,
                                                   (tumour.source,)),
                   UsedFact("core, incisional or excisional biopsy", "none on record")),
            suggestions=(propose("core-biopsy", "core-biopsy", tumour),),
        )


def _unfollowed_fna(tumour: Tumour) -> Biopsy | None:
    """The latest inconclusive FNA that no tissue sampling followed (undated ones do follow)."""
    sampled = [b.date for b in tumour.biopsies if b.kind in _TISSUE_BIOPSIES]
    sampled += [r.date for r in tumour.resections]
    fnas = [b for b in tumour.biopsies if b.kind is BiopsyKind.FNA and b.adequacy is not None
            and b.adequacy.value in _INCONCLUSIVE]
    for fna in sorted(fnas, key=lambda b: b.date or dt.date.min, reverse=True):
        if not any(d is None or fna.date is None or d >= fna.date for d in sampled):
            return fna
    return None


@rule("sts-core-biopsy-after-fna")
def core_biopsy_after_fna(case: Case, ctx: RuleContext) -> Iterator[Recommendation]:
    """A suspicious or non-diagnostic FNA with no core or surgical biopsy after it."""
    for tumour in case.tumours:
        fna = _unfollowed_fna(tumour) if tumour.is_active else None
        if fna is None:
            continue
        result = str(fna.adequacy.value) if fna.adequacy is not None else "inconclusive"
        yield Recommendation(
            id="sts-core-biopsy-after-fna", indicator=Indicator.WARNING, subject=tumour.id,
            values=tumour_values(tumour, result=result),
            facts=(*tumour_facts(tumour), _biopsy_fact("fine needle aspiration", fna),
                   UsedFact("core or surgical biopsy after it", "none on record")),
            suggestions=(propose("core-biopsy", "core-biopsy", tumour),),
        )


def has_primary_mri(case: Case, tumour: Tumour) -> bool:
    """An MRI of the tumour's primary site is on record.

    Regions are matched when both are known; when either is unknown, the MRI counts only for the
    patient's sole tumour, since with several it cannot be attributed.
    """
    for study in case.imaging:
        if study.kind is not ImagingKind.MRI:
            continue
        if study.site is not None and tumour.site is not None:
            if same_site(study.site, tumour):
                return True
        elif len(case.tumours) == 1:
            return True
    return False


@rule("sts-mri-local-staging")
def mri_local_staging(case: Case, ctx: RuleContext) -> Iterator[Recommendation]:
    """No MRI of the primary site (PV); a CT or ultrasound drafted for local staging instead."""
    if ctx.hook is Hook.PATIENT_VIEW:
        for tumour in case.tumours:
            if tumour.is_active and not has_primary_mri(case, tumour):
                yield Recommendation(
                    id="sts-mri-local-staging", indicator=Indicator.INFO, subject=tumour.id,
                    values=tumour_values(tumour),
                    facts=(*tumour_facts(tumour),
                           UsedFact("MRI of the primary site", "none on record")),
                    suggestions=(propose("mri", "mri", tumour),),
                )
        return
    for order in ctx.orders(case):
        imaged = _locally_imaged(case, order)
        if imaged is not None:
            yield Recommendation(
                id="sts-mri-local-staging", indicator=Indicator.WARNING,
                subject=order_subject(order), variant="order",
                values=tumour_values(imaged, order=order.label),
                facts=(order_fact(order), *tumour_facts(imaged),
                       UsedFact("MRI of the primary site", "none on record")),
                suggestions=(propose("replace-with-mri", "mri", imaged, order),),
                against_order=True,
            )


def _locally_imaged(case: Case, order: DraftOrder) -> Tumour | None:
    """The active tumour without MRI whose site a draft CT (not chest) or ultrasound images."""
    if order.kind is not OrderKind.IMAGING or order.imaging not in _LOCAL_IMAGING \
            or order.site is Site.CHEST:
        return None
    for tumour in order_tumours(order, case.tumours):
        if tumour.is_active and same_site(order.site, tumour) \
                and not has_primary_mri(case, tumour):
            return tumour
    return None


def _chest_risks(tumour: Tumour) -> list[str]:
    """Why a sarcoma's chest needs staging (conventions); unknown facts give no reason."""
    risks = []
    if is_high_grade(tumour):
        risks.append("high grade")
    if is_large(tumour):
        risks.append("larger than 5 cm")
    # Indeterminate PEComa risk means high for surveillance only, not for staging.
    if tumour.entity.value is Entity.PECOMA and pecoma_risk(tumour) is PecomaRisk.HIGH:
        risks.append("high-risk PEComa features")
    if tumour.entity.value is Entity.ILMS and has_rms_component(tumour):
        risks.append("rhabdomyosarcomatous component")
    return risks


def _chest_ct_since_diagnosis(case: Case, tumour: Tumour) -> bool:
    # Undated studies or an undated diagnosis cannot be shown to predate it: they count.
    since = tumour.diagnosis_date
    return any(s.kind is ImagingKind.CT_CHEST and (since is None or s.date is None
                                                   or s.date >= since) for s in case.imaging)


@rule("sts-chest-ct-staging")
def chest_ct_staging(case: Case, ctx: RuleContext) -> Iterator[Recommendation]:
    """An active sarcoma at risk of lung metastasis with no chest CT since diagnosis."""
    for tumour in case.tumours:
        if not tumour.is_active or not is_sarcoma(tumour):
            continue
        risks = _chest_risks(tumour)
        if not risks or _chest_ct_since_diagnosis(case, tumour):
            continue
        facts = [*tumour_facts(tumour), UsedFact.of("grade", tumour.grade),
                 UsedFact.of("greatest dimension (cm)", tumour.size_cm)]
        if tumour.entity.value is Entity.ILMS:
            facts.append(_flag_fact("rhabdomyosarcomatous component", tumour.rms_component))
        if tumour.entity.value is Entity.PECOMA:
            facts += [UsedFact(f"PEComa feature: {name}", _PRESENCE[value])
                      for name, value in pecoma_features(tumour).items()]
        facts.append(UsedFact("chest CT since diagnosis", "none on record"))
        yield Recommendation(
            id="sts-chest-ct-staging", indicator=Indicator.INFO, subject=tumour.id,
            values=tumour_values(tumour, risks=", ".join(risks)), facts=tuple(facts),
            suggestions=(propose("chest-ct", "chest-ct", tumour),),
        )


@rule("ascmn-ihc-panel")
def ascmn_ihc_panel(case: Case, ctx: RuleContext) -> Iterator[Recommendation]:
    """An active ascmn lacking a CD34, S-100 or desmin result: list the missing markers."""
    for tumour in case.tumours:
        if tumour.entity.value is not Entity.ASCMN or not tumour.is_active:
            continue
        # A recorded result whose value could not be read still counts as done (unknown != false).
        done = {result.marker for result in tumour.ihc}
        missing = [name for marker, name in _ASCMN_PANEL.items() if marker not in done]
        if not missing:
            continue
        listed = ", ".join(missing[:-1]) + " and " + missing[-1] if len(missing) > 1 \
            else missing[0]
        yield Recommendation(
            id="ascmn-ihc-panel", indicator=Indicator.INFO, subject=tumour.id,
            values=tumour_values(tumour, missing=listed),
            facts=(*tumour_facts(tumour), *(UsedFact(f"{name} immunohistochemistry",
                                                     "not recorded") for name in missing)),
        )


@rule("ascmn-mdm2-testing")
def ascmn_mdm2_testing(case: Case, ctx: RuleContext) -> Iterator[Recommendation]:
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
        yield Recommendation(
            id="ascmn-mdm2-testing", subject=tumour.id, values=tumour_values(tumour),
            indicator=Indicator.WARNING if amplified else Indicator.INFO,
            variant="amplified" if amplified else "default",
            facts=(*tumour_facts(tumour), *facts),
            suggestions=() if amplified else (propose("mdm2-fish", "mdm2-fish", tumour),),
        )


# --- surgery --------------------------------------------------------------------------------------

@rule("sts-wide-excision")
def wide_excision(case: Case, ctx: RuleContext) -> Iterator[Recommendation]:
    """A localized, confirmed tumour with no excision: wide excision with negative margins."""
    for tumour in case.tumours:
        if not is_localized(tumour) or not _awaits_surgery(tumour):
            continue
        yield Recommendation(
            id="sts-wide-excision", indicator=Indicator.INFO, subject=tumour.id,
            variant=_EXCISION_VARIANTS.get(tumour.entity.value, "default"),
            values=tumour_values(tumour),
            facts=(*tumour_facts(tumour), UsedFact("metastasis", "none on record"),
                   _flag_fact("unresectable", tumour.unresectable),
                   UsedFact("excision", "none on record")),
        )


@rule("ascmn-acral-function")
def acral_function(case: Case, ctx: RuleContext) -> Iterator[Recommendation]:
    """A tumour of the hand or foot not yet excised: plan for clearance and function."""
    for tumour in case.tumours:
        site = tumour.site.value if tumour.site is not None else None
        if site in (Site.HAND, Site.FOOT) and _awaits_surgery(tumour):
            yield Recommendation(
                id="ascmn-acral-function", indicator=Indicator.INFO, subject=tumour.id,
                values=tumour_values(tumour, site=_SITE_WORDS[Site(site)]),
                facts=(*tumour_facts(tumour), UsedFact("excision", "none on record")),
            )


@rule("ascmn-mohs-cutaneous")
def mohs_for_cutaneous_ascmn(case: Case, ctx: RuleContext) -> Iterator[Recommendation]:
    """A cutaneous ascmn not yet excised: Mohs surgery may be considered."""
    for tumour in case.tumours:
        cutaneous = tumour.site is not None and tumour.site.value is Site.SKIN
        if tumour.entity.value is Entity.ASCMN and cutaneous and _awaits_surgery(tumour):
            yield Recommendation(
                id="ascmn-mohs-cutaneous", indicator=Indicator.INFO, subject=tumour.id,
                values=tumour_values(tumour),
                facts=(*tumour_facts(tumour), UsedFact("excision", "none on record")),
            )


def _fracture_links(case: Case) -> list[tuple[Fracture, Tumour]]:
    """Each recorded pathological fracture with the active tumours it concerns.

    A fracture at a tumour's site concerns that tumour; a fracture in neoplastic disease elsewhere
    (or of unknown site) concerns every active tumour of the patient.
    """
    active = [t for t in case.tumours if t.is_active]
    links: list[tuple[Fracture, Tumour]] = []
    for fracture in case.fractures:
        at_site = [t for t in active if same_site(fracture.site, t)]
        concerned = at_site or (active if fracture.in_neoplastic_disease else [])
        links.extend((fracture, t) for t in concerned)
    return links


def _fracture_fact(fracture: Fracture) -> UsedFact:
    kind = "in neoplastic disease" if fracture.in_neoplastic_disease else "at the tumour's site"
    where = f", {_SITE_WORDS.get(fracture.site, 'site')}" if fracture.site else ""
    shown = f"{kind}{where}" + (" (from text)" if fracture.from_text else "")
    return UsedFact("pathological fracture", shown, fracture.date, (fracture.source,))


@rule("fracture-no-internal-fixation")
def fracture_no_internal_fixation(case: Case, ctx: RuleContext) -> Iterator[Recommendation]:
    """A pathological fracture with a tumour: external splintage, not internal fixation."""
    links = _fracture_links(case)
    if ctx.hook is Hook.PATIENT_VIEW:
        tumours = {t.id: t for _, t in links}
        for tumour in tumours.values():
            fractures = [f for f, t in links if t.id == tumour.id]
            yield Recommendation(
                id="fracture-no-internal-fixation", indicator=Indicator.WARNING,
                subject=tumour.id, values=tumour_values(tumour),
                facts=(*tumour_facts(tumour), *map(_fracture_fact, fractures)))
        return
    for order in ctx.orders(case):
        fixed = [(f, t) for f, t in links if _fixes(order, f, t)]
        if order.kind is not OrderKind.INTERNAL_FIXATION or not fixed:
            continue
        fracture, tumour = fixed[0]
        yield Recommendation(
            id="fracture-no-internal-fixation", indicator=Indicator.CRITICAL,
            subject=order_subject(order), variant="order",
            values=tumour_values(tumour, order=order.label),
            facts=(order_fact(order), *tumour_facts(tumour), _fracture_fact(fracture)),
            suggestions=(propose("splint", "splint", tumour, order,
                                 site=order.site or fracture.site),),
            against_order=True,
        )


def _fixes(order: DraftOrder, fracture: Fracture, tumour: Tumour) -> bool:
    """Whether a fixation draft may be for this fracture: no reason or site says otherwise."""
    if order.reason_refs and fracture.source not in order.reason_refs \
            and tumour.source not in order.reason_refs:
        return False
    if order.site is None or fracture.site is None:
        return True
    return _LIMB_OF.get(order.site, order.site) is _LIMB_OF.get(fracture.site, fracture.site)


# --- systemic therapy -----------------------------------------------------------------------------

@rule("ascmn-no-systemic-therapy")
def ascmn_no_systemic_therapy(case: Case, ctx: RuleContext) -> Iterator[Recommendation]:
    """A draft cytotoxic order for a non-advanced ascmn: systemic therapy is generally not used."""
    for order in ctx.orders(case):
        if order.kind is not OrderKind.DRUG or order.drug_class not in _CYTOTOXIC:
            continue
        # The draft must be for the ascmn: named in its reasons, or the patient has no other tumour.
        targets = order_tumours(order, case.tumours)
        if not targets or any(t.entity.value is not Entity.ASCMN or is_advanced(t)
                              for t in targets):
            continue
        tumour = targets[0]
        yield Recommendation(
            id="ascmn-no-systemic-therapy", indicator=Indicator.WARNING,
            subject=order_subject(order), values=tumour_values(tumour, order=order.label),
            facts=(order_fact(order), *tumour_facts(tumour),
                   UsedFact("metastasis", "none on record"),
                   _flag_fact("unresectable", tumour.unresectable)),
            against_order=True,
        )


def _flag_fact(name: str, fact: Fact[bool] | None) -> UsedFact:
    return UsedFact.of(name, fact, None if fact is None else ("yes" if fact.value else "no"))
