"""What an order is for, and which other diseases the patient has (recommendations.md, "The patient
as a whole (revised)").

An order's reason is ``reasonReference`` (a Condition of the record) or ``reasonCode``. A reason
naming a tumour of the knowledge base (or one of its metastases) makes the order about that tumour;
only a reason recognised as another disease — a cancer outside the knowledge base, an infection,
another disorder the value sets recognise — makes it about something else. Findings and
complications (a pathological fracture, a limb mass), history and follow-up codes, and codes this
service does not recognise count as no reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cds_service.case.concepts import in_domain
from cds_service.case.concepts import positive
from cds_service.case.concepts import resource_sites
from cds_service.case.concepts import site_of
from cds_service.case.conditions import MORPHOLOGY_EXTENSION
from cds_service.case.conditions import morphology_matches
from cds_service.case.conditions import related_conditions
from cds_service.case.fhir_values import first_date
from cds_service.case.fhir_values import label_of
from cds_service.case.fhir_values import reference_of
from cds_service.case.fhir_values import status_code
from cds_service.case.model import DraftOrder
from cds_service.case.model import Entity
from cds_service.case.model import Fact
from cds_service.case.model import OtherCondition
from cds_service.case.model import Site
from cds_service.case.model import Tumour
from cds_service.terminology import Match
from cds_service.terminology import Terminology

JsonObject = dict[str, Any]

_EXCLUDED = {"entered-in-error", "refuted"}
_INACTIVE = {"inactive", "remission", "resolved"}
_ENTITIES = frozenset(item.value for item in Entity)


class ReasonKind(StrEnum):
    """What a reason says about the order."""

    OURS = "ours"
    """It names a tumour entity of the knowledge base."""
    OTHER = "other"
    """It names another disease: the order is not about our tumours."""
    NONE = "none"
    """A finding, a complication, history or follow-up, or nothing recognised: no reason."""


@dataclass(frozen=True)
class Reading:
    """One reason (a CodeableConcept, or a Condition's code and morphology), read.

    Attributes:
        kind: what it says about the order.
        entities: the knowledge-base entities it names (kind OURS).
        name: the disease in words (kind OTHER).
        cancer: it names a malignant neoplasm outside the knowledge base.
        generic: that cancer names neither a histology nor an organ site (it may be a tumour of
            ours recorded without its histology).
    """

    kind: ReasonKind
    entities: tuple[Entity, ...] = ()
    name: str = ""
    cancer: bool = False
    generic: bool = False


_NO_REASON = Reading(ReasonKind.NONE)


def read_matches(matches: Iterable[Match], label: str, terminology: Terminology) -> Reading:
    """Read what a reason's recognised concepts say (see the module docstring).

    History and follow-up say nothing of their own; a knowledge-base entity makes the order ours;
    a finding (a metastasis, a fracture, a mass) is no reason unless its words name another
    disease ("metastatic breast cancer"); a code's chapter alone (C78.01 is a C code) does not.
    """
    stated = [m for m in positive(matches) if not m.uncertain]
    findings = in_domain(stated, "finding")
    if any(terminology.attributes(c).get("history") for c in findings):
        return _NO_REASON
    named = _knowledge_base_entities(stated, terminology)
    if named:
        return Reading(ReasonKind.OURS, entities=named)
    entities, diseases = _other_diseases(stated, findings, terminology)
    if not entities and not diseases:
        return _NO_REASON
    return _other_disease(stated, entities, diseases, label, terminology)


def _knowledge_base_entities(stated: list[Match], terminology: Terminology) -> tuple[Entity, ...]:
    ours = [terminology.attributes(c).get("entity") for c in in_domain(stated, "entity")]
    return tuple(Entity(e) for e in dict.fromkeys(ours) if isinstance(e, str) and e in _ENTITIES)


def _other_diseases(stated: list[Match], findings: list[str],
                    terminology: Terminology) -> tuple[list[str], list[str]]:
    """The entities and diseases a reason names; beside a finding, only those its words name
    specifically ("metastatic breast cancer", not the C code of C78.01)."""
    entities = in_domain(stated, "entity")
    diseases = in_domain(stated, "disease")
    if findings:
        worded = {m.concept for m in stated if m.via == "text"}
        diseases = [c for c in diseases
                    if c in worded and not terminology.attributes(c).get("generic")]
        entities = [c for c in entities if c in worded]
    return entities, diseases


def _other_disease(stated: list[Match], entities: list[str], diseases: list[str], label: str,
                   terminology: Terminology) -> Reading:
    """The reading of a reason naming another disease: its name, and whether it is a cancer
    named without histology or organ site."""
    cancers = [c for c in diseases if terminology.attributes(c).get("cancer")]
    # A non-knowledge-base entity (GIST, Kaposi sarcoma, a lipoma) is a disease of its own;
    # malignant when its code or words say so.
    malignant = bool(cancers) or (
        bool(entities) and "behaviour/malignant" in in_domain(stated, "behaviour"))
    specific = bool(entities) or any(not terminology.attributes(c).get("generic") for c in cancers)
    name = _disease_name(label, terminology.display((entities or diseases)[0]))
    return Reading(ReasonKind.OTHER, name=name, cancer=malignant,
                   generic=malignant and not specific)


def _disease_name(label: str, concept: str) -> str:
    """The reason's own label, with the concept's name after a bare code."""
    return f"{concept} ({label})" if _is_code(label) else label or concept


def _is_code(label: str) -> bool:
    """A label that is a bare code (no display, no text): ``C50.911``."""
    return bool(label) and " " not in label and any(ch.isdigit() for ch in label)


def read_reason_code(cc: Any, terminology: Terminology) -> Reading:
    """Read one ``reasonCode`` CodeableConcept."""
    return read_matches(terminology.match_codeable_concept(cc), label_of(cc) or "", terminology)


def read_condition(resource: JsonObject, terminology: Terminology) -> Reading:
    """Read a Condition of the record as a reason: its code and its ICD-O morphology."""
    matches = terminology.match_codeable_concept(resource.get("code"))
    extensions = resource.get("extension")
    for extension in extensions if isinstance(extensions, list) else ():
        if isinstance(extension, dict) and extension.get("url") == MORPHOLOGY_EXTENSION:
            matches += morphology_matches(extension.get("valueCodeableConcept"), terminology)
    return read_matches(matches, label_of(resource.get("code")) or "", terminology)


def condition_readings(resources: Iterable[JsonObject],
                       terminology: Terminology) -> dict[str, tuple[JsonObject, Reading]]:
    """Every Condition of the record that is not excluded, by ``Condition/id``, read."""
    found: dict[str, tuple[JsonObject, Reading]] = {}
    for resource in resources:
        if resource.get("resourceType") != "Condition" \
                or status_code(resource.get("verificationStatus")) in _EXCLUDED:
            continue
        found[reference_of(resource)] = (resource, read_condition(resource, terminology))
    return found


def other_conditions(readings: Mapping[str, tuple[JsonObject, Reading]],
                     tumours: Iterable[Tumour], terminology: Terminology) -> list[OtherCondition]:
    """The other diseases on record: Conditions read as another disease that no tumour is.

    A generic malignant Condition ("malignant neoplasm of retroperitoneum", C80.1) is another
    cancer only at a site no tumour of ours occupies: at the same site, or with no site, it may be
    the same lesion recorded without its histology.
    """
    tumours = list(tumours)
    ours = _records_of(tumours)
    found = []
    for ref, (resource, reading) in readings.items():
        if reading.kind is not ReasonKind.OTHER or ref in ours:
            continue
        if reading.generic:
            matches = positive(terminology.match_codeable_concept(resource.get("code")))
            if _may_be_ours(site_of(resource_sites(resource, matches, terminology),
                                    terminology), tumours):
                continue
        status = status_code(resource.get("clinicalStatus"))
        found.append(OtherCondition(
            source=ref, name=reading.name, cancer=reading.cancer,
            active=not (isinstance(status, str) and status in _INACTIVE),
            date=first_date(resource, "onsetDateTime", "onsetPeriod", "recordedDate")))
    return found


def resolve_reasons(order: DraftOrder, resource: JsonObject,
                    readings: Mapping[str, tuple[JsonObject, Reading]], tumours: Iterable[Tumour],
                    terminology: Terminology) -> DraftOrder:
    """The draft with its reasons read against the record.

    ``reason_refs`` keeps the Conditions that are tumours of ours or their metastases; a reason
    (Condition or code) naming a knowledge-base entity adds it to ``reason_entities``; one read as
    another disease (or a metastasis of one) becomes an ``other_reasons`` entry, unless it is a
    generic malignant neoplasm that may be one of our tumours (``reason_generic``). Anything else
    (a fracture, a Condition the record does not hold, a code not recognised) is no reason.
    ``reasonCode`` is read leniently: a single CodeableConcept where a list belongs is one reason.
    """
    tumours = list(tumours)
    ours = _records_of(tumours)
    kept = [ref for ref in order.reason_refs if ref in ours]
    found = [*_referenced_reasons(order.reason_refs, ours, readings),
             *_coded_reasons(resource, terminology)]
    entities, other, generic = _sorted_reasons(found, tumours, terminology)
    return order.model_copy(update={"reason_refs": tuple(kept),
                                    "reason_entities": tuple(dict.fromkeys(entities)),
                                    "reason_generic": generic,
                                    "other_reasons": tuple(other)})


_Reason = tuple[Reading, str | None, Any]
"""A reason read: its reading, the Condition it references (None for a code), its code."""


def _records_of(tumours: list[Tumour]) -> set[str]:
    """The Conditions that are tumours of ours or their metastases."""
    return {t.source for t in tumours} | {m.source for t in tumours for m in t.metastases}


def _referenced_reasons(refs: Iterable[str], ours: set[str],
                        readings: Mapping[str, tuple[JsonObject, Reading]]) -> list[_Reason]:
    """The ``reasonReference`` Conditions that are not our tumours, read."""
    found: list[_Reason] = []
    for ref in refs:
        if ref in ours:
            continue
        condition, reading = readings.get(ref, ({}, _NO_REASON))
        if reading.kind is ReasonKind.NONE and condition:
            reading = _primary_named(condition, readings, reading)
        found.append((reading, ref, condition.get("code") if condition else None))
    return found


def _primary_named(condition: JsonObject, readings: Mapping[str, tuple[JsonObject, Reading]],
                   reading: Reading) -> Reading:
    """A metastasis of another cancer names that cancer as its primary."""
    primaries = [readings.get(r, ({}, _NO_REASON))[1] for r in related_conditions(condition)]
    return next((r for r in primaries if r.kind is ReasonKind.OTHER), reading)


def _coded_reasons(resource: JsonObject, terminology: Terminology) -> list[_Reason]:
    """The ``reasonCode`` entries, read (a single CodeableConcept is one reason)."""
    codes = resource.get("reasonCode")
    ccs = codes if isinstance(codes, list) else [codes] if isinstance(codes, dict) else []
    return [(read_reason_code(cc, terminology), None, cc) for cc in ccs]


def _sorted_reasons(found: list[_Reason], tumours: list[Tumour],
                    terminology: Terminology) -> tuple[list[Entity], list[Fact[str]], bool]:
    """The entities of ours named, the other diseases, and whether a generic malignant neoplasm
    may be one of our tumours."""
    entities: list[Entity] = []
    other: list[Fact[str]] = []
    generic = False
    for reading, source, cc in found:
        if reading.kind is ReasonKind.OURS:  # an entity named, or another record of our tumour
            entities += reading.entities
        elif reading.kind is ReasonKind.OTHER and reading.generic \
                and _may_be_ours(_site(cc, terminology), tumours):
            generic = True
        elif reading.kind is ReasonKind.OTHER:
            other.append(Fact[str](value=reading.name, sources=(source,) if source else ()))
    return entities, other, generic


def _site(cc: Any, terminology: Terminology) -> Site | None:
    matches = positive(terminology.match_codeable_concept(cc, domain="site"))
    return site_of(in_domain(matches, "site"), terminology)


def _may_be_ours(site: Site | None, tumours: list[Tumour]) -> bool:
    """A malignant neoplasm named without histology or organ site may be one of our tumours:
    when there is one, at its site, or when either site is unrecorded."""
    sites = {t.site.value if t.site is not None else None for t in tumours}
    return bool(tumours) and (site is None or site in sites or None in sites)
