"""Map a Condition to a tumour seed, or to a metastasis, recurrence or fracture finding."""

from __future__ import annotations

from typing import Any

from cds_service.case.concepts import attribute
from cds_service.case.concepts import in_domain
from cds_service.case.concepts import only_text
from cds_service.case.concepts import positive
from cds_service.case.concepts import resource_sites
from cds_service.case.fhir_values import codeable_texts
from cds_service.case.fhir_values import first_date
from cds_service.case.fhir_values import reference_of
from cds_service.case.fhir_values import referenced
from cds_service.case.fhir_values import status_code
from cds_service.case.findings import Finding
from cds_service.case.findings import TumourSeed
from cds_service.case.lesions import generic_name
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
    metastasis or recurrence is no second tumour. A hedged tumour name still names the tumour
    (its verificationStatus says how sure the diagnosis is).
    """
    if status_code(resource.get("verificationStatus")) in _EXCLUDED:
        return []
    ref = reference_of(resource)
    stated = positive(_matches(resource, terminology))
    matches = [m for m in stated if not m.uncertain or m.concept.startswith("entity/")]
    date = first_date(resource, "onsetDateTime", "onsetPeriod", "recordedDate")
    findings = _findings(resource, ref, matches, terminology, date)
    about = _findings(resource, ref, stated, terminology, date)  # hedged findings too
    metastatic = "behaviour/metastatic" in {m.concept for m in stated} \
        or any(f.kind == "metastasis" for f in about)
    if metastatic:
        return list(findings)
    entities = in_domain(matches, "entity")
    components = tuple(c for c in in_domain(matches, "finding")
                       if attribute(terminology, c, "component"))
    if not entities and not components and about:
        return list(findings)  # a fracture, a recurrence: about a tumour, not a tumour
    recurrence_record = any(f.kind == "recurrence" and f.targets != (ref,) for f in about)
    # The entity is the most specific one named; its provenance is that of its own matches.
    best = terminology.most_specific(entities)
    seed = TumourSeed(
        ref=ref,
        concepts=tuple(entities),
        from_text=only_text(m for m in matches if m.concept == best),
        behaviour=next(iter(in_domain(matches, "behaviour")), None),
        verification=_status(resource.get("verificationStatus"), "verification", terminology),
        status=_status(resource.get("clinicalStatus"), "status", terminology),
        diagnosis_date=date,
        sites=tuple(resource_sites(resource, matches, terminology)),
        body_site=_first_body_site(resource),
        laterality=next(iter(in_domain(matches, "laterality")), None),
        texts=tuple(_texts(resource)),
        recurrence_record=recurrence_record,
        components=components,
        generic=generic_name(entities, components, matches, terminology),
    )
    if recurrence_record:
        return [seed, *findings]  # the recurrence is placed on the primary at assembly
    own = [_retarget(f, ref) for f in findings if f.kind in ("unresectable", "recurrence")]
    return [seed, *own, *(f for f in findings if f.kind == "fracture")]


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


def _findings(resource: JsonObject, ref: str, matches: list[Match], terminology: Terminology,
              date: Any) -> list[Finding]:
    targets = tuple(related_conditions(resource))
    found: list[Finding] = []
    # "Pathological fracture of the left femur through tumour": the cause, named apart from the
    # fracture, makes it a fracture in neoplastic disease.
    neoplastic_cause = any(attribute(terminology, c, "fracture_cause") == "neoplastic"
                           for c in in_domain(matches, "finding"))
    for concept in in_domain(matches, "finding"):
        text = only_text(m for m in matches if m.concept == concept)
        kind = _finding_kind(concept, terminology)
        if kind == "fracture":
            value: Any = {"neoplastic": attribute(terminology, concept, "neoplastic")
                          or neoplastic_cause, "sites": in_domain(matches, "site")}
        elif kind == "metastasis":
            value = {"lung": attribute(terminology, concept, "pulmonary"),
                     "nodal": bool(attribute(terminology, concept, "nodal"))}
        elif kind in ("recurrence", "unresectable"):
            value = True
        else:
            continue
        found.append(Finding(kind, value, ref, date, targets, from_text=text))
    # One Condition is one fracture: M84.552A with the words "pathological fracture" is a
    # fracture in neoplastic disease, not also a second, non-neoplastic one.
    fractures = [f for f in found if f.kind == "fracture"]
    if len(fractures) > 1:
        keep = next((f for f in fractures if f.value["neoplastic"]), fractures[0])
        found = [f for f in found if f.kind != "fracture" or f is keep]
    status = _status(resource.get("clinicalStatus"), "status", terminology)
    if status and attribute(terminology, status, "recurrence"):
        found.append(Finding("recurrence", True, ref, None, (ref,)))
    return found


def _finding_kind(concept: str, terminology: Terminology) -> str | None:
    attributes = terminology.attributes(concept)
    if attributes.get("kind") == "pathological-fracture":
        return "fracture"
    if attributes.get("metastatic"):
        return "metastasis"
    if attributes.get("local"):
        return "recurrence"
    if attributes.get("advanced"):
        return "unresectable"
    return None


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
