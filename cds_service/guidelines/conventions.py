"""The catalogue's shared definitions (recommendations.md, "Conventions"), as functions of a tumour.

Each returns None when the record does not hold what it needs: unknown is not false.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from cds_service.case.medications import MEDICATION_TYPES
from cds_service.case.model import Behaviour
from cds_service.case.model import BiopsyKind
from cds_service.case.model import Case
from cds_service.case.model import ClinicalStatus
from cds_service.case.model import Depth
from cds_service.case.model import DrugClass
from cds_service.case.model import Entity
from cds_service.case.model import Fact
from cds_service.case.model import ImagingKind
from cds_service.case.model import ImagingStudy
from cds_service.case.model import Margin
from cds_service.case.model import Metastasis
from cds_service.case.model import Resection
from cds_service.case.model import ResectionKind
from cds_service.case.model import Site
from cds_service.case.model import Tumour
from cds_service.case.model import Verification
from cds_service.guidelines.recommendation import UsedFact

ENTITY_NAMES = {
    Entity.ASCMN: "atypical spindle cell / pleomorphic lipomatous neoplasm",
    Entity.NTRK: "NTRK-rearranged spindle cell neoplasm",
    Entity.PECOMA: "PEComa",
    Entity.ILMS: "inflammatory leiomyosarcoma",
    Entity.STS: "soft tissue sarcoma",
    Entity.SFT: "solitary fibrous tumour",
    Entity.ASPS: "alveolar soft part sarcoma",
    Entity.SPINDLE_NOS: "spindle cell neoplasm",
}
"""How cards name each entity."""

LARGE_CM = 5.0
"""Greatest dimension above which a tumour is "large" (and a PEComa feature is high-risk)."""

NTRK_GENES = ("gene/ntrk1", "gene/ntrk2", "gene/ntrk3")
"""Concept ids of the three NTRK genes."""

TRK_INHIBITOR_NAMES = ("larotrectinib", "entrectinib", "repotrectinib")
"""TRK inhibitors recognised by name when a medication carries no drug class."""

_LIMB_OF = {Site.HAND: Site.UPPER_LIMB, Site.FOOT: Site.LOWER_LIMB}
_PELVIC_ORGANS = (Site.UTERUS, Site.BROAD_LIGAMENT)
_UNCONFIRMED = (Verification.PROVISIONAL, Verification.DIFFERENTIAL, Verification.UNCONFIRMED)
_UNPLANNED_KINDS = (ResectionKind.UNPLANNED, ResectionKind.MARGINAL)


def entity_of(tumour: Tumour) -> Entity:
    """The tumour's entity."""
    return tumour.entity.value


def is_sarcoma(tumour: Tumour) -> bool:
    """Behaviour /3 entities plus every pecoma, ntrk and ilms; sft /1 and ascmn are not."""
    entity = entity_of(tumour)
    if entity in (Entity.PECOMA, Entity.NTRK, Entity.ILMS):
        return True
    if entity is Entity.ASCMN:
        return False
    if entity is Entity.SFT:
        return tumour.behaviour is Behaviour.MALIGNANT
    # sts, asps, spindle-nos: malignant unless the record says otherwise.
    return tumour.behaviour in (None, Behaviour.MALIGNANT)


def is_high_grade(tumour: Tumour) -> bool | None:
    """FNCLCC grade 2 or 3; None when the grade is not recorded."""
    return None if tumour.grade is None else tumour.grade.value >= 2


def is_large(tumour: Tumour) -> bool | None:
    """Greatest dimension over 5 cm; None when the size is not recorded."""
    return None if tumour.size_cm is None else tumour.size_cm.value > LARGE_CM


def is_deep(tumour: Tumour) -> bool | None:
    """Deep to the superficial fascia; None when the depth is not recorded."""
    return None if tumour.depth is None else tumour.depth.value is Depth.DEEP


def is_current_metastasis(metastasis: Metastasis) -> bool:
    """A distant metastasis that still makes the disease advanced (conventions, revised).

    Regional lymph-node spread is not distant ("node-positive"); a metastasis whose Condition is
    resolved, inactive or in remission, or that a metastasectomy removed, no longer counts (any
    later active metastasis counts on its own).
    """
    if metastasis.nodal or metastasis.resected_by is not None:
        return False
    return metastasis.clinical_status not in (ClinicalStatus.REMISSION, ClinicalStatus.RESOLVED)


def current_metastases(tumour: Tumour) -> tuple[Metastasis, ...]:
    """The tumour's distant metastases that still make it advanced."""
    return tuple(m for m in tumour.metastases if is_current_metastasis(m))


def is_metastatic(tumour: Tumour) -> bool:
    """A current distant metastasis is on record (:func:`is_current_metastasis`)."""
    return any(is_current_metastasis(m) for m in tumour.metastases)


def is_advanced(tumour: Tumour) -> bool:
    """Metastatic (a current distant metastasis), or documented unresectable / locally advanced."""
    unresectable = tumour.unresectable is not None and tumour.unresectable.value
    return is_metastatic(tumour) or unresectable


def is_localized(tumour: Tumour) -> bool:
    """An active tumour the record shows as neither metastatic nor unresectable."""
    return tumour.is_active and not is_advanced(tumour)


def is_recurrent(tumour: Tumour) -> bool:
    """Clinical status recurrence, or a local recurrence on record."""
    return tumour.clinical_status is ClinicalStatus.RECURRENCE or bool(tumour.local_recurrences)


def is_unconfirmed(tumour: Tumour) -> bool:
    """The diagnosis is only provisional, differential or unconfirmed (verificationStatus)."""
    return tumour.verification in _UNCONFIRMED


def latest_resection(tumour: Tumour) -> Resection | None:
    """The most recent resection (undated ones count as older than dated ones)."""
    if not tumour.resections:
        return None
    return max(tumour.resections, key=lambda r: r.date or dt.date.min)


def is_resected(tumour: Tumour) -> bool:
    """At least one resection is recorded."""
    return bool(tumour.resections)


def is_excised(tumour: Tumour) -> bool:
    """A resection or an excisional biopsy is recorded: the lesion has been removed.

    Unlike :func:`surgeries`, this holds for every entity, since an excisional biopsy removes a
    benign or intermediate lesion as well (the work-up and excision rules' "not yet excised").
    """
    return is_resected(tumour) or any(b.kind is BiopsyKind.EXCISIONAL for b in tumour.biopsies)


def surgeries(tumour: Tumour) -> tuple[Resection, ...]:
    """The tumour's resections plus, for a sarcoma, each excisional biopsy as an unplanned excision.

    Args:
        tumour: the tumour.

    Returns:
        Recorded resections first (so they win date ties), then the excisional biopsies.
    """
    if not is_sarcoma(tumour):
        return tumour.resections
    biopsies = tuple(Resection(source=b.source, kind=ResectionKind.UNPLANNED, date=b.date)
                     for b in tumour.biopsies if b.kind is BiopsyKind.EXCISIONAL)
    return tumour.resections + biopsies


def last_surgery(tumour: Tumour) -> Resection | None:
    """The latest of :func:`surgeries` (as ``latest_resection``: undated ones count as older)."""
    return latest_resection(tumour.model_copy(update={"resections": surgeries(tumour)}))


def is_excisional_biopsy(surgery: Resection, tumour: Tumour) -> bool:
    """Whether ``surgery`` is an excisional biopsy that :func:`surgeries` counted as an excision."""
    return any(b.source == surgery.source and b.kind is BiopsyKind.EXCISIONAL
               for b in tumour.biopsies)


def is_inadequate(surgery: Resection) -> bool | None:
    """R1/R2 margin, or an unplanned or marginal excision; None when neither can be told.

    Args:
        surgery: a resection from :func:`surgeries` (excisional biopsies are unplanned).
    """
    if surgery.kind in _UNPLANNED_KINDS:
        return True
    if surgery.margin is None:
        return None
    return surgery.margin.value in (Margin.R1, Margin.R2)


def same_region(first: Site, second: Site) -> bool:
    """The same body region, a hand or foot counting as part of its limb."""
    return _LIMB_OF.get(first, first) is _LIMB_OF.get(second, second)


def same_site(site: Site | None, tumour: Tumour) -> bool:
    """Both regions are known and the same (:func:`same_region`)."""
    return site is not None and tumour.site is not None and same_region(site, tumour.site.value)


def images_site(site: Site | None, images_pelvis: bool, tumour: Tumour) -> bool:
    """Whether imaging of ``site`` shows the tumour's primary site: the same region
    (:func:`same_site`), or imaging of the pelvis (``images_pelvis``) for a primary of a pelvic
    organ, the uterus or the broad ligament.

    Only the imaging checks use it: fracture and lesion matching stay with :func:`same_site`.
    """
    if same_site(site, tumour):
        return True
    return images_pelvis and tumour.site is not None and tumour.site.value in _PELVIC_ORGANS


def is_primary_mri(study: ImagingStudy, tumour: Tumour, case: Case) -> bool:
    """Whether ``study`` is an MRI of the tumour's primary site.

    Sites are matched by :func:`images_site` when both are known; when either is unknown, the MRI
    counts only for the patient's sole tumour, since with several it cannot be attributed.
    """
    if study.kind is not ImagingKind.MRI:
        return False
    if study.site is None or tumour.site is None:
        return len(case.tumours) == 1
    return images_site(study.site, study.images_pelvis, tumour)


def primary_mri_since(case: Case, tumour: Tumour, since: dt.date | None) -> bool:
    """An MRI of the primary site on or after ``since`` (any, when ``since`` is unknown).

    An undated MRI cannot be shown to predate the date: it counts.
    """
    return any(is_primary_mri(study, tumour, case)
               and (since is None or study.date is None or study.date >= since)
               for study in case.imaging)


@dataclass(frozen=True)
class StagingEvent:
    """An event that calls for local staging by MRI (sts-mri-local-staging, revised).

    Attributes:
        kind: ``diagnosis`` (not yet excised), ``reexcision`` (the latest excision was unplanned
            or R1/R2 and awaits re-excision) or ``recurrence`` (a local recurrence recorded
            after the latest resection).
        date: when it happened; None when unknown (then any MRI of the site counts). For the
            diagnosis it is always None: the staging MRI of a mass usually precedes the biopsy
            that dates the diagnosis, so any MRI of the site before excision counts.
        fact: the event, as the card shows it.
    """

    kind: str
    date: dt.date | None
    fact: UsedFact


def staging_event(tumour: Tumour) -> StagingEvent | None:
    """The latest event of the tumour that calls for local staging, or None.

    None after a clean (R0, not unplanned) resection with no local recurrence since: no
    local-staging reminder years after a clean resection.
    """
    surgery = last_surgery(tumour)
    events: list[StagingEvent] = []
    if surgery is None:
        if not is_excised(tumour):
            events.append(StagingEvent("diagnosis", None, UsedFact("excision", "none on record")))
    elif is_inadequate(surgery):
        kind = "unplanned excision" if surgery.kind in _UNPLANNED_KINDS \
            or is_excisional_biopsy(surgery, tumour) else "excision"
        margin = f", margin {surgery.margin.value}" if surgery.margin is not None else ""
        events.append(StagingEvent("reexcision", surgery.date, UsedFact(
            "latest excision, awaiting re-excision", kind + margin, surgery.date,
            (surgery.source,))))
    resected = surgery.date if surgery is not None else None
    for recurrence in tumour.local_recurrences:
        when = recurrence.value or recurrence.date
        # Recorded after the latest resection; an undated one cannot be shown to precede it.
        if surgery is None or when is None or resected is None or when > resected:
            events.append(StagingEvent("recurrence", when, UsedFact.of(
                "local recurrence", recurrence, when.isoformat() if when else "recorded")))
    if not events:
        return None
    return max(events, key=lambda e: e.date or dt.date.min)


def chest_cts_since_diagnosis(case: Case, tumour: Tumour) -> list[ImagingStudy]:
    """The chest CTs on record since the tumour's diagnosis.

    Undated studies or an undated diagnosis cannot be shown to predate it: such studies count.
    """
    since = tumour.diagnosis_date
    return [s for s in case.imaging if s.kind is ImagingKind.CT_CHEST
            and (since is None or s.date is None or s.date >= since)]


class PecomaRisk(StrEnum):
    """PEComa risk group (recommendations.md conventions)."""

    HIGH = "high"
    LOW = "low"
    INDETERMINATE = "indeterminate"


def pecoma_features(tumour: Tumour) -> dict[str, bool | None]:
    """The four high-risk features: True present, False absent, None not recorded."""
    return {
        "size > 5 cm": is_large(tumour),
        "necrosis": _flag(tumour.necrosis),
        "infiltrative growth": _flag(tumour.infiltrative_growth),
        "high nuclear grade and cellularity": _flag(tumour.high_nuclear_grade),
    }


def pecoma_risk(tumour: Tumour) -> PecomaRisk:
    """High when any feature is present, low when all four are absent, else indeterminate."""
    features = pecoma_features(tumour).values()
    if any(value is True for value in features):
        return PecomaRisk.HIGH
    if all(value is False for value in features):
        return PecomaRisk.LOW
    return PecomaRisk.INDETERMINATE


def has_rms_component(tumour: Tumour) -> bool | None:
    """Rhabdomyosarcomatous component: True, False (recorded absent) or None (not recorded)."""
    return _flag(tumour.rms_component)


def ever_received(case: Case, drug_class: DrugClass) -> bool:
    """A drug of ``drug_class`` is on record (MedicationRequest or MedicationStatement)."""
    return any(m.drug_class is drug_class for m in case.medications)


def no_drug_on_record(case: Case, drug: str) -> UsedFact:
    """The fact "no ``drug`` on record", as the card shows it. Medications the case could not read
    (invalid, or naming no readable drug) are named beside it: unknown is not false, and any of
    them may be one."""
    unread = tuple(ref for ref in case.unreadable if ref.partition("/")[0] in MEDICATION_TYPES)
    if not unread:
        return UsedFact(drug, "none on record")
    return UsedFact(drug, f"none among the medications read; {len(unread)} could not be read",
                    sources=unread)


def on_trk_inhibitor(case: Case) -> bool:
    """A TRK inhibitor is on record, by drug class or by name."""
    return any(m.drug_class is DrugClass.TRK_INHIBITOR
               or any(name in m.drug.lower() for name in TRK_INHIBITOR_NAMES)
               for m in case.medications)


def tumour_facts(tumour: Tumour) -> list[UsedFact]:
    """The facts that identify a tumour on a card: diagnosis, status and site."""
    facts = [UsedFact(f"diagnosis: {ENTITY_NAMES[entity_of(tumour)]}",
                      tumour.clinical_status.value if tumour.clinical_status else "active",
                      tumour.diagnosis_date, tumour.conditions)]
    if tumour.site is not None:
        facts.append(UsedFact.of("site", tumour.site))
    return facts


def _flag(fact: Fact[bool] | None) -> bool | None:
    return None if fact is None else fact.value
