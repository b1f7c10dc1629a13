"""The catalogue's shared definitions (recommendations.md, "Conventions"), as functions of a tumour.

Each returns None when the record does not hold what it needs: unknown is not false.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from cds_service.case.model import Behaviour
from cds_service.case.model import Case
from cds_service.case.model import Depth
from cds_service.case.model import DrugClass
from cds_service.case.model import Entity
from cds_service.case.model import Fact
from cds_service.case.model import Resection
from cds_service.case.model import Tumour
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


def is_metastatic(tumour: Tumour) -> bool:
    """A distant metastasis is on record (a nodal one is not distant)."""
    return any(not m.nodal for m in tumour.metastases)


def is_advanced(tumour: Tumour) -> bool:
    """Metastatic, or documented unresectable / locally advanced."""
    unresectable = tumour.unresectable is not None and tumour.unresectable.value
    return is_metastatic(tumour) or unresectable


def is_localized(tumour: Tumour) -> bool:
    """An active tumour the record shows as neither metastatic nor unresectable."""
    return tumour.is_active and not is_advanced(tumour)


def latest_resection(tumour: Tumour) -> Resection | None:
    """The most recent resection (undated ones count as older than dated ones)."""
    if not tumour.resections:
        return None
    return max(tumour.resections, key=lambda r: r.date or dt.date.min)


def is_resected(tumour: Tumour) -> bool:
    """At least one resection is recorded."""
    return bool(tumour.resections)


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


def tumour_facts(tumour: Tumour) -> list[UsedFact]:
    """The facts that identify a tumour on a card: diagnosis, status and site."""
    facts = [UsedFact(f"diagnosis: {ENTITY_NAMES[entity_of(tumour)]}",
                      tumour.clinical_status.value if tumour.clinical_status else "active",
                      tumour.diagnosis_date, (tumour.source,))]
    if tumour.site is not None:
        facts.append(UsedFact.of("site", tumour.site))
    return facts


def _flag(fact: Fact[bool] | None) -> bool | None:
    return None if fact is None else fact.value
