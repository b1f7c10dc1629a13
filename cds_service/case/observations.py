"""Map an Observation to findings: its value read by what it names, gene results, IHC, prose."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cds_service.case.concepts import in_domain
from cds_service.case.concepts import only_text
from cds_service.case.conditions import related_conditions
from cds_service.case.fhir_values import first_date
from cds_service.case.fhir_values import reference_of
from cds_service.case.fhir_values import referenced
from cds_service.case.findings import Finding
from cds_service.case.molecular import is_molecular
from cds_service.case.molecular import read_molecular
from cds_service.case.narrative import Fact3
from cds_service.case.narrative import narrative_facts
from cds_service.case.observation_values import MAPPERS
from cds_service.case.observation_values import presence
from cds_service.case.qualifiers import value_holder
from cds_service.terminology import Match
from cds_service.terminology import Terminology

JsonObject = dict[str, Any]
_EXCLUDED = {"entered-in-error", "cancelled"}
_FINDING_DOMAINS = ("obs", "ihc", "test", "finding")


def map_observation(resource: JsonObject, terminology: Terminology) -> list[Finding]:
    """The findings an Observation holds (empty when irrelevant or not final)."""
    if resource.get("status") in _EXCLUDED:
        return []
    facts = _facts(resource, terminology, parts=True)
    source = reference_of(resource)
    date = first_date(resource, "effectiveDateTime", "effectivePeriod", "effectiveInstant",
                      "issued")
    targets = _conditions_observed(resource)
    procedures = _procedures_observed(resource)
    sites = _body_sites(resource, terminology)
    return [Finding(kind, value, source, date, targets, from_text, procedures, sites)
            for kind, value, from_text in facts if value is not None]


def _conditions_observed(resource: JsonObject) -> tuple[str, ...]:
    return tuple(t for t in [*referenced(resource.get("focus")), *related_conditions(resource)]
                 if t.startswith("Condition/"))


def _procedures_observed(resource: JsonObject) -> tuple[str, ...]:
    return tuple(t for t in [*referenced(resource.get("partOf")),
                             *referenced(resource.get("derivedFrom")),
                             *referenced(resource.get("focus"))]
                 if t.startswith("Procedure/"))


def _body_sites(resource: JsonObject, terminology: Terminology) -> tuple[str, ...]:
    # The body site attaches an Observation that names no Condition (attach.py).
    return tuple(in_domain(terminology.match_codeable_concept(resource.get("bodySite"),
                                                              domain="site"), "site"))


def _facts(resource: JsonObject, terminology: Terminology, *, parts: bool) -> list[Fact3]:
    """The facts of an Observation, or of one component read as an Observation of its own."""
    named = _name_matches(resource, terminology)
    chosen = next((c for c in _concepts_of(named) if c in MAPPERS), None)
    if chosen is not None:
        return _read_by_name(resource, terminology, named, chosen)
    facts = _molecular_facts(resource, terminology, named)
    if not facts:
        facts = _marker_facts(resource, terminology, named)
    facts += narrative_facts(_observation_texts(resource), terminology)
    if parts and not facts:
        facts = _component_facts(resource, terminology)
    return facts


def _name_matches(resource: JsonObject, terminology: Terminology) -> list[Match]:
    """The concepts the Observation's code names, coded ones first."""
    named = terminology.match_codeable_concept(resource.get("code"))
    # A code beats words in a display ("Histology grade" is a grade, not a histology). A name
    # stated absent ("No tumour necrosis") still says what was observed: its value reads through
    # the name (through_name).
    named.sort(key=lambda m: m.via == "text")
    return named


def _concepts_of(named: list[Match]) -> list[str]:
    return list(dict.fromkeys(m.concept for m in named))


def _read_by_name(resource: JsonObject, terminology: Terminology, named: list[Match],
                  chosen: str) -> list[Fact3]:
    """The facts the reader of the concept ``chosen`` (``MAPPERS``) finds in the value."""
    name = [m for m in named if m.concept == chosen]
    # What was observed, named only in words ("Infiltrative growth pattern" under a local
    # code), makes the fact one recognised from text.
    named_in_text = only_text(name)
    held = value_holder(resource, _owned_by({chosen}, terminology), terminology)
    return [(kind, value, from_text or named_in_text)
            for kind, value, from_text in MAPPERS[chosen](held, terminology, name)]


def _molecular_facts(resource: JsonObject, terminology: Terminology,
                     named: list[Match]) -> list[Fact3]:
    """The gene results of a genomic-variant or test Observation (empty for any other)."""
    stated = [c for c in _concepts_of(named)
              if any(m.concept == c and not m.uncertain for m in named)]
    if not is_molecular(stated, terminology):
        return []
    held = value_holder(resource, _owned_by(set(stated), terminology), terminology)
    name = [m for m in named if is_molecular([m.concept], terminology)]
    return read_molecular(held, stated, presence(held, terminology, name), terminology)


def _marker_facts(resource: JsonObject, terminology: Terminology,
                  named: list[Match]) -> list[Fact3]:
    """The result of the first IHC marker the Observation names (empty when it names none)."""
    markers = [c for c in in_domain(named, "ihc") if c != "ihc/study"]
    if not markers:
        return []
    name = [m for m in named if m.concept == markers[0]]
    held = value_holder(resource, _owned_by(set(markers), terminology), terminology)
    return [("ihc", (markers[0], presence(held, terminology, name)), only_text(name))]


def _observation_texts(resource: JsonObject) -> list[Any]:
    """The value string and the notes, for facts stated in prose."""
    texts = [resource.get("valueString")]
    texts += [n.get("text") for n in resource.get("note") or [] if isinstance(n, dict)]
    return texts


def _component_facts(resource: JsonObject, terminology: Terminology) -> list[Fact3]:
    return [fact for component in _finding_components(resource, terminology)
            for fact in _facts(component, terminology, parts=False)]


def _owned_by(own: set[str], terminology: Terminology) -> Callable[[Any], bool]:
    """Accept a component code that names no finding other than ``own`` (its value is the
    Observation's: "Result", or the Observation's own code), not "Gene studied" or a margin."""
    def accepts(code: Any) -> bool:
        return _concepts(code, terminology) <= own
    return accepts


def _concepts(code: Any, terminology: Terminology) -> set[str]:
    return {m.concept for m in terminology.match_codeable_concept(code, domain=_FINDING_DOMAINS)}


def _finding_components(resource: JsonObject, terminology: Terminology) -> list[JsonObject]:
    """The components of a panel Observation ("Synoptic report") that are findings of their own
    (a margin, a necrosis, an IHC marker), each as an Observation of its own."""
    found = []
    for component in resource.get("component") or []:
        if not isinstance(component, dict):
            continue
        concepts = _concepts(component.get("code"), terminology)
        if concepts & set(MAPPERS) or any(c.startswith("ihc/") and c != "ihc/study"
                                           for c in concepts):
            found.append({"resourceType": "Observation", "code": component.get("code"),
                          **{k: component[k] for k in component
                             if k.startswith("value")}})
    return found
