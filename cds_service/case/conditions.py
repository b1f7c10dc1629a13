"""Map a Condition to a tumour seed, or to the findings it states (``condition_findings``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cds_service.case.concepts import attribute
from cds_service.case.concepts import in_domain
from cds_service.case.concepts import only_text
from cds_service.case.concepts import positive
from cds_service.case.concepts import resource_sites
from cds_service.case.condition_findings import condition_findings
from cds_service.case.fhir_values import codeable_texts
from cds_service.case.fhir_values import first_date
from cds_service.case.fhir_values import reference_of
from cds_service.case.fhir_values import referenced
from cds_service.case.fhir_values import status_code
from cds_service.case.findings import Finding
from cds_service.case.findings import TumourSeed
from cds_service.case.lesions import generic_name
from cds_service.case.narrative import narrative_facts
from cds_service.terminology import Match
from cds_service.terminology import Terminology

JsonObject = dict[str, Any]

MORPHOLOGY_EXTENSION = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-histology-morphology-behavior"
RELATED_CONDITION_EXTENSIONS = (
    "http://hl7.org/fhir/StructureDefinition/condition-related",
    "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-related-condition",
)
_EXCLUDED = {"entered-in-error", "refuted"}


def map_condition(resource: JsonObject, terminology: Terminology) -> list[TumourSeed | Finding]:
    """What a Condition says: a tumour, or findings about one (empty when irrelevant).

    Words that hedge a finding ("possible metastasis", "recurrence cannot be excluded") leave the
    finding unrecorded, but still say what the record is about: a Condition for a suspected
    metastasis or recurrence is no second tumour. A hedged tumour name still names the tumour;
    when every name of it is hedged ("suspected PEComa") the diagnosis counts as provisional
    (terminology.md section 5).

    Findings stated in the diagnosis's own words count like the same finding recorded alone
    (recommendations.md, "The patient as a whole"): "inflammatory leiomyosarcoma with
    rhabdomyosarcomatous transformation", "... no rhabdomyosarcomatous component", "PEComa with
    necrosis", in the code's text, its codings' displays and the notes. A tumour named with its
    spread in words ("leiomyosarcoma of the thigh, metastatic to lung") is a tumour with a
    metastasis, unless the record holds its primary elsewhere (``metastasis_record``).
    """
    if status_code(resource.get("verificationStatus")) in _EXCLUDED:
        return []
    reading = _read(resource, terminology)
    if _about_a_tumour_only(reading):
        return list(reading.findings)
    seed = _seed(resource, reading, terminology)
    return _seed_and_findings(seed, reading, _worded_findings(resource, reading, terminology))


@dataclass(frozen=True)
class _Reading:
    """What a Condition states, read once.

    Attributes:
        ref: ``Condition/<id>``.
        date: onset or recorded date.
        status: ``status/*`` concept of its clinicalStatus, if recorded.
        matches: the concepts it states (hedged ones left out, except tumour names).
        findings: the findings of ``matches``.
        about: the findings it states or hedges: what the record is about.
        entities: the ``entity/*`` concepts of ``matches``.
        components: the ``finding/*`` concepts of ``matches`` naming a component or
            transformation of a tumour.
        spread: how it states a distant spread (``_spread``).
        metastasis_record: it names a tumour with its spread in words only (and no related
            Condition).
        recurrence_record: it records a recurrence of another Condition's tumour.
    """

    ref: str
    date: Any
    status: str | None
    matches: list[Match]
    findings: list[Finding]
    about: list[Finding]
    entities: list[str]
    components: tuple[str, ...]
    spread: set[str]
    metastasis_record: bool
    recurrence_record: bool


def _read(resource: JsonObject, terminology: Terminology) -> _Reading:
    ref = reference_of(resource)
    stated = positive(_matches(resource, terminology))
    matches = [m for m in stated if not m.uncertain or m.concept.startswith("entity/")]
    date = first_date(resource, "onsetDateTime", "onsetPeriod", "recordedDate")
    targets = tuple(related_conditions(resource))
    status = _status(resource.get("clinicalStatus"), "status", terminology)
    findings = condition_findings(resource, matches, terminology, ref=ref, date=date,
                                  targets=targets, status=status)
    about = condition_findings(resource, stated, terminology, ref=ref, date=date,  # hedged too
                               targets=targets, status=status)
    entities = in_domain(matches, "entity")
    spread = _spread(stated, terminology)
    return _Reading(
        ref=ref,
        date=date,
        status=status,
        matches=matches,
        findings=findings,
        about=about,
        entities=entities,
        components=_components(matches, terminology),
        spread=spread,
        metastasis_record=_names_its_spread(resource, spread, entities),
        recurrence_record=any(f.kind == "recurrence" and f.targets != (ref,) for f in about),
    )


def _components(matches: list[Match], terminology: Terminology) -> tuple[str, ...]:
    return tuple(c for c in in_domain(matches, "finding")
                 if attribute(terminology, c, "component"))


def _names_its_spread(resource: JsonObject, spread: set[str], entities: list[str]) -> bool:
    """A tumour named with its spread in words only ("leiomyosarcoma of the thigh, metastatic to
    lung"), where no related Condition says which tumour spread."""
    return bool(spread) and spread <= {"text"} and bool(entities) \
        and not related_conditions(resource)


def _about_a_tumour_only(reading: _Reading) -> bool:
    """The Condition records findings about a tumour, and no tumour of its own."""
    if reading.spread and not reading.metastasis_record:
        return True  # a secondary-malignancy record, about a primary tumour
    # a fracture, a recurrence
    return not reading.entities and not reading.components and bool(reading.about)


def _seed(resource: JsonObject, reading: _Reading, terminology: Terminology) -> TumourSeed:
    matches = reading.matches
    # The entity is the most specific one named; its provenance is that of its own matches.
    best = terminology.most_specific(reading.entities)
    return TumourSeed(
        ref=reading.ref,
        concepts=tuple(reading.entities),
        from_text=only_text(m for m in matches if m.concept == best),
        behaviour=next(iter(in_domain(matches, "behaviour")), None),
        verification=_verification(resource, matches, terminology),
        status=reading.status,
        diagnosis_date=reading.date,
        sites=tuple(resource_sites(resource, _own_sites(matches) if reading.metastasis_record
                                   else matches, terminology)),
        body_site=_first_body_site(resource),
        laterality=next(iter(in_domain(matches, "laterality")), None),
        texts=tuple(_texts(resource)),
        recurrence_record=reading.recurrence_record,
        metastasis_record=reading.metastasis_record,
        components=reading.components,
        generic=generic_name(reading.entities, reading.components, matches, terminology),
    )


def _verification(resource: JsonObject, matches: list[Match],
                  terminology: Terminology) -> str | None:
    """The verification status; provisional when every name of the tumour is hedged."""
    verification = _status(resource.get("verificationStatus"), "verification", terminology)
    named = [m for m in matches if m.concept.startswith("entity/")]
    if named and all(m.uncertain for m in named) \
            and verification in (None, "verification/confirmed"):
        return "verification/provisional"
    return verification


def _worded_findings(resource: JsonObject, reading: _Reading,
                     terminology: Terminology) -> list[Finding]:
    """The yes/no findings stated in the diagnosis's own words."""
    record = reading.recurrence_record or reading.metastasis_record
    # A record of spread or recurrence names no tumour of its own unless the record has no
    # other: its facts go where its findings go (assembly), not to itself.
    return [Finding(kind, value, reading.ref, reading.date, () if record else (reading.ref,),
                    from_text)
            for kind, value, from_text in narrative_facts(
                _texts(resource), terminology, flags=_DIAGNOSIS_FLAGS)
            if value is not None]


def _seed_and_findings(seed: TumourSeed, reading: _Reading,
                       worded: list[Finding]) -> list[TumourSeed | Finding]:
    findings = reading.findings
    if reading.recurrence_record or reading.metastasis_record:
        return [seed, *findings, *worded]  # placed on the primary at assembly (or on this one)
    own = [_retarget(f, reading.ref) for f in findings if f.kind in ("unresectable", "recurrence")]
    return [seed, *own, *worded, *(f for f in findings if f.kind == "fracture")]


_DIAGNOSIS_FLAGS = ("finding/rms-component", "obs/necrosis", "obs/infiltrative-growth",
                    "obs/high-nuclear-grade")
"""Yes/no findings read from a diagnosis's own words (unresectable is read with the code)."""


def _spread(matches: list[Match], terminology: Terminology) -> set[str]:
    """How the Condition states a distant spread: ``text``, ``code`` (C78.01, 94391008, an ICD-O
    behaviour /6) or both; empty when it states none (hedged words count: the record is about a
    metastasis even when it is not sure of it)."""
    return {"text" if m.via == "text" else "code" for m in matches
            if m.concept == "behaviour/metastatic" or (
                m.concept.startswith("finding/")
                and attribute(terminology, m.concept, "metastatic"))}


def _own_sites(matches: list[Match]) -> list[Match]:
    """The matches without the sites named only inside a metastasis phrase ("metastatic to lung"
    says where the tumour spread, not where it is)."""
    spread = [m.matched.lower() for m in matches
              if m.matched and m.concept.startswith("finding/")]
    return [m for m in matches if not (m.concept.startswith("site/") and m.matched
                                       and any(m.matched.lower() in phrase for phrase in spread))]


def _matches(resource: JsonObject, terminology: Terminology) -> list[Match]:
    matches = terminology.match_codeable_concept(resource.get("code"))
    for extension in resource.get("extension") or []:
        if isinstance(extension, dict) and extension.get("url") == MORPHOLOGY_EXTENSION:
            matches += morphology_matches(extension.get("valueCodeableConcept"), terminology)
    for site in resource.get("bodySite") or []:
        matches += terminology.match_codeable_concept(site, domain=("site", "laterality"))
    for note in resource.get("note") or []:
        if isinstance(note, dict):
            matches += terminology.match_text(note.get("text"), domain="finding")
    return matches


def morphology_matches(cc: Any, terminology: Terminology) -> list[Match]:
    """Entity and behaviour concepts of an ICD-O-3 morphology CodeableConcept."""
    matches = terminology.match_codeable_concept(cc, domain=("entity", "behaviour"))
    codings = cc.get("coding") if isinstance(cc, dict) else None
    for coding in codings if isinstance(codings, list) else []:
        if not isinstance(coding, dict):
            continue
        morphology = terminology.morphology(coding.get("code"))
        if morphology is None:
            continue
        for concept in (morphology.entity, morphology.behaviour_concept):
            if concept:
                matches.append(Match(concept, "code", system=coding.get("system"),
                                     code=morphology.code))
    return matches


def related_conditions(resource: JsonObject) -> list[str]:
    """Conditions a resource names through the related-condition extensions."""
    refs = []
    for extension in resource.get("extension") or []:
        if isinstance(extension, dict) and extension.get("url") in RELATED_CONDITION_EXTENSIONS:
            refs += list(referenced(extension.get("valueReference")))
    return refs


def _status(cc: Any, domain: str, terminology: Terminology) -> str | None:
    found = in_domain(terminology.match_codeable_concept(cc, domain=domain), domain)
    return found[0] if found else None


def _first_body_site(resource: JsonObject) -> dict[str, Any] | None:
    sites = resource.get("bodySite")
    return dict(sites[0]) if isinstance(sites, list) and sites and isinstance(sites[0], dict) \
        else None


def _texts(resource: JsonObject) -> list[str]:
    texts = codeable_texts(resource.get("code"))
    texts += [n["text"] for n in resource.get("note") or []
              if isinstance(n, dict) and isinstance(n.get("text"), str)]
    return texts


def _retarget(finding: Finding, ref: str) -> Finding:
    return Finding(finding.kind, finding.value, finding.source, finding.date, (ref,),
                   finding.from_text, finding.procedures)
