"""Sarcoma work-up rules whose primary source is ASCMN: histology, local and chest staging."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from cds_service.case.model import Adequacy
from cds_service.case.model import Biopsy
from cds_service.case.model import BiopsyKind
from cds_service.case.model import Case
from cds_service.case.model import DraftOrder
from cds_service.case.model import Entity
from cds_service.case.model import ImagingKind
from cds_service.case.model import OrderKind
from cds_service.case.model import Site
from cds_service.case.model import Tumour
from cds_service.guidelines.context import RuleContext
from cds_service.guidelines.conventions import PecomaRisk
from cds_service.guidelines.conventions import StagingEvent
from cds_service.guidelines.conventions import chest_cts_since_diagnosis
from cds_service.guidelines.conventions import has_rms_component
from cds_service.guidelines.conventions import images_site
from cds_service.guidelines.conventions import is_excised
from cds_service.guidelines.conventions import is_high_grade
from cds_service.guidelines.conventions import is_large
from cds_service.guidelines.conventions import is_primary_mri
from cds_service.guidelines.conventions import is_sarcoma
from cds_service.guidelines.conventions import is_unconfirmed
from cds_service.guidelines.conventions import pecoma_features
from cds_service.guidelines.conventions import pecoma_risk
from cds_service.guidelines.conventions import primary_mri_since
from cds_service.guidelines.conventions import staging_event
from cds_service.guidelines.conventions import tumour_facts
from cds_service.guidelines.recommendation import Advice
from cds_service.guidelines.recommendation import UsedFact
from cds_service.guidelines.rules.common import PRESENCE
from cds_service.guidelines.rules.common import flag_fact
from cds_service.guidelines.rules.common import order_fact
from cds_service.guidelines.rules.common import order_subject
from cds_service.guidelines.rules.common import propose
from cds_service.guidelines.rules.common import tumour_values
from cds_service.guidelines.rules.common import tumours_for_order
from cds_service.vocabulary import Hook
from cds_service.vocabulary import Indicator

_TISSUE_BIOPSIES = (BiopsyKind.CORE, BiopsyKind.INCISIONAL, BiopsyKind.EXCISIONAL)
_INCONCLUSIVE = (Adequacy.SUSPICIOUS, Adequacy.NON_DIAGNOSTIC)
_LOCAL_IMAGING = (ImagingKind.CT, ImagingKind.ULTRASOUND)


def confirm_histologically(case: Case, ctx: RuleContext) -> Iterator[Advice]:
    """A provisional or differential diagnosis with no tissue sampled: get histology."""
    for tumour in case.tumours:
        if not tumour.is_active or not is_unconfirmed(tumour):
            continue
        # Only before excision: a resection specimen gives histology as well as a biopsy does.
        if is_excised(tumour) or any(b.kind in _TISSUE_BIOPSIES for b in tumour.biopsies):
            continue
        status = str(tumour.verification)
        yield Advice(
            indicator=Indicator.INFO, subject=tumour.id,
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


def _biopsy_fact(name: str, biopsy: Biopsy) -> UsedFact:
    result = biopsy.adequacy.value.value if biopsy.adequacy is not None else "result not recorded"
    return UsedFact(name, result, biopsy.date, (biopsy.source,))


def core_biopsy_after_fna(case: Case, ctx: RuleContext) -> Iterator[Advice]:
    """A suspicious or non-diagnostic FNA with no core or surgical biopsy after it."""
    for tumour in case.tumours:
        # Only before excision: once the lesion is out, its histology comes from the specimen.
        fna = _unfollowed_fna(tumour) if tumour.is_active and not is_excised(tumour) else None
        if fna is None:
            continue
        result = str(fna.adequacy.value) if fna.adequacy is not None else "inconclusive"
        yield Advice(
            indicator=Indicator.WARNING, subject=tumour.id,
            values=tumour_values(tumour, result=result),
            facts=(*tumour_facts(tumour), _biopsy_fact("fine needle aspiration", fna),
                   UsedFact("core or surgical biopsy after it", "none on record")),
            suggestions=(propose("core-biopsy", "core-biopsy", tumour),),
        )


def mri_local_staging(case: Case, ctx: RuleContext) -> Iterator[Advice]:
    """An event that calls for local staging and no MRI of the primary site since it (PV); a CT
    or ultrasound drafted for the primary site instead (order hooks)."""
    if ctx.hook is Hook.PATIENT_VIEW:
        for tumour in case.tumours:
            event = _unstaged_event(case, tumour)
            if event is not None:
                yield Advice(
                    indicator=Indicator.INFO, subject=tumour.id,
                    variant=event.kind, values=tumour_values(tumour, since=_since(event)),
                    facts=(*tumour_facts(tumour), event.fact,
                           *_mri_facts(case, tumour, event)),
                    suggestions=(propose("mri", "mri", tumour),),
                )
        return
    for order in ctx.orders(case):
        found = _locally_imaged(case, order)
        if found is not None:
            imaged, event = found
            yield Advice(
                indicator=Indicator.WARNING,
                subject=order_subject(order), variant=f"order-{event.kind}",
                values=tumour_values(imaged, order=order.label, since=_since(event)),
                facts=(order_fact(order), *tumour_facts(imaged), event.fact,
                       *_mri_facts(case, imaged, event)),
                suggestions=(propose("replace-with-mri", "mri", imaged, order),),
                against_order=True,
            )


def _locally_imaged(case: Case, order: DraftOrder) -> tuple[Tumour, StagingEvent] | None:
    """The tumour awaiting local staging whose site a draft CT (not chest) or ultrasound images."""
    if order.kind is not OrderKind.IMAGING or order.imaging not in _LOCAL_IMAGING \
            or order.site is Site.CHEST:
        return None
    for tumour in tumours_for_order(order, case.tumours):
        imaged = images_site(order.site, order.images_pelvis, tumour)
        event = _unstaged_event(case, tumour) if imaged else None
        if event is not None:
            return tumour, event
    return None


def _unstaged_event(case: Case, tumour: Tumour) -> StagingEvent | None:
    """The tumour's latest local-staging event when no MRI of the primary site followed it."""
    if not tumour.is_active:
        return None
    event = staging_event(tumour)
    if event is None or primary_mri_since(case, tumour, event.date):
        return None
    return event


def _since(event: StagingEvent) -> str:
    return event.date.isoformat() if event.date else "date not recorded"


def _mri_facts(case: Case, tumour: Tumour, event: StagingEvent) -> tuple[UsedFact, ...]:
    """No MRI since the event; the latest earlier MRI of the site, where there is one."""
    if event.kind == "diagnosis":
        return (UsedFact("MRI of the primary site", "none on record"),)
    earlier = [s for s in case.imaging if s.date is not None and is_primary_mri(s, tumour, case)]
    latest = max(earlier, key=lambda s: s.date or dt.date.min, default=None)
    shown = (UsedFact("latest MRI of the primary site", "before that event", latest.date,
                      (latest.source,)),) if latest is not None else ()
    return (UsedFact("MRI of the primary site since then", "none on record"), *shown)


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


def chest_ct_staging(case: Case, ctx: RuleContext) -> Iterator[Advice]:
    """An active sarcoma at risk of lung metastasis with no chest CT since diagnosis."""
    for tumour in case.tumours:
        if not tumour.is_active or not is_sarcoma(tumour):
            continue
        risks = _chest_risks(tumour)
        if not risks or chest_cts_since_diagnosis(case, tumour):
            continue
        facts = [*tumour_facts(tumour), UsedFact.of("grade", tumour.grade),
                 UsedFact.of("greatest dimension (cm)", tumour.size_cm)]
        if tumour.entity.value is Entity.ILMS:
            facts.append(flag_fact("rhabdomyosarcomatous component", tumour.rms_component))
        if tumour.entity.value is Entity.PECOMA:
            facts += [UsedFact(f"PEComa feature: {name}", PRESENCE[value])
                      for name, value in pecoma_features(tumour).items()]
        facts.append(UsedFact("chest CT since diagnosis", "none on record"))
        yield Advice(
            indicator=Indicator.INFO, subject=tumour.id,
            values=tumour_values(tumour, risks=", ".join(risks)), facts=tuple(facts),
            suggestions=(propose("chest-ct", "chest-ct", tumour),),
        )
