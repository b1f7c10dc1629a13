"""Map an Observation to findings: size, grade, margins, risk features, staging, IHC, molecular."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cds_service.case.concepts import in_domain
from cds_service.case.concepts import only_text
from cds_service.case.concepts import positive
from cds_service.case.conditions import morphology_matches
from cds_service.case.conditions import related_conditions
from cds_service.case.fhir_values import first_date
from cds_service.case.fhir_values import reference_of
from cds_service.case.fhir_values import referenced
from cds_service.case.findings import Finding
from cds_service.case.molecular import is_molecular
from cds_service.case.molecular import read_molecular
from cds_service.case.narrative import Fact3
from cds_service.case.narrative import narrative_facts
from cds_service.case.qualifiers import VALUE_FIELDS
from cds_service.case.qualifiers import Qualifier
from cds_service.case.qualifiers import name_states_absent
from cds_service.case.qualifiers import read_qualifier
from cds_service.case.qualifiers import stated_against
from cds_service.case.qualifiers import through_name
from cds_service.case.qualifiers import value_holder
from cds_service.terminology import Match
from cds_service.terminology import Terminology

JsonObject = dict[str, Any]
Mapper = Callable[[JsonObject, Terminology, list[Match]], list[Fact3]]
"""Reads one Observation (as its value is held) given the matches of its name's concept."""

_EXCLUDED = {"entered-in-error", "cancelled"}
_UNITS_TO_CM = {"mm": 0.1, "cm": 1.0, "m": 100.0}
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
    chosen = next((c for c in _concepts_of(named) if c in _MAPPERS), None)
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
    """The facts the reader of the concept ``chosen`` (``_MAPPERS``) finds in the value."""
    name = [m for m in named if m.concept == chosen]
    # What was observed, named only in words ("Infiltrative growth pattern" under a local
    # code), makes the fact one recognised from text.
    named_in_text = only_text(name)
    held = value_holder(resource, _owned_by({chosen}, terminology), terminology)
    return [(kind, value, from_text or named_in_text)
            for kind, value, from_text in _MAPPERS[chosen](held, terminology, name)]


def _molecular_facts(resource: JsonObject, terminology: Terminology,
                     named: list[Match]) -> list[Fact3]:
    """The gene results of a genomic-variant or test Observation (empty for any other)."""
    stated = [c for c in _concepts_of(named)
              if any(m.concept == c and not m.uncertain for m in named)]
    if not is_molecular(stated, terminology):
        return []
    held = value_holder(resource, _owned_by(set(stated), terminology), terminology)
    name = [m for m in named if is_molecular([m.concept], terminology)]
    return read_molecular(held, stated, _presence(held, terminology, name), terminology)


def _marker_facts(resource: JsonObject, terminology: Terminology,
                  named: list[Match]) -> list[Fact3]:
    """The result of the first IHC marker the Observation names (empty when it names none)."""
    markers = [c for c in in_domain(named, "ihc") if c != "ihc/study"]
    if not markers:
        return []
    name = [m for m in named if m.concept == markers[0]]
    held = value_holder(resource, _owned_by(set(markers), terminology), terminology)
    return [("ihc", (markers[0], _presence(held, terminology, name)), only_text(name))]


def _observation_texts(resource: JsonObject) -> list[Any]:
    """The value string and the notes, for facts stated in prose."""
    texts = [resource.get("valueString")]
    texts += [n.get("text") for n in resource.get("note") or [] if isinstance(n, dict)]
    return texts


def _component_facts(resource: JsonObject, terminology: Terminology) -> list[Fact3]:
    return [fact for component in _finding_components(resource, terminology)
            for fact in _facts(component, terminology, parts=False)]


def _presence(resource: JsonObject, terminology: Terminology, name: list[Match]) -> bool | None:
    """Whether a finding is present (True) or absent (False) by its value read through its name;
    None when neither is said, or only hedged. A name stating it absent with no value is absent."""
    qualifier = read_qualifier(resource, terminology)
    if qualifier is None:
        return False if name_states_absent(name) and not _has_value(resource) else None
    return through_name(qualifier, name)


def _has_value(resource: JsonObject) -> bool:
    return any(field in resource for field in VALUE_FIELDS)


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
        if concepts & set(_MAPPERS) or any(c.startswith("ihc/") and c != "ihc/study"
                                           for c in concepts):
            found.append({"resourceType": "Observation", "code": component.get("code"),
                          **{k: component[k] for k in component
                             if k.startswith("value")}})
    return found


def _value_concepts(resource: JsonObject, terminology: Terminology, domain: str) -> list[str]:
    matches = terminology.match_codeable_concept(resource.get("valueCodeableConcept"),
                                                 domain=domain)
    matches += terminology.match_text(resource.get("valueString"), domain=domain)
    return in_domain([m for m in positive(matches) if not m.uncertain], domain)


def _size_cm(quantity: Any) -> float | None:
    if not isinstance(quantity, dict) or not isinstance(quantity.get("value"), int | float):
        return None
    unit = quantity.get("code") or quantity.get("unit")
    factor = _UNITS_TO_CM.get(str(unit).strip().lower()) if unit else None
    return round(float(quantity["value"]) * factor, 2) if factor else None


def _size(resource: JsonObject, terminology: Terminology, name: list[Match]) -> list[Fact3]:
    sizes = [_size_cm(resource.get("valueQuantity"))]
    for component in resource.get("component") or []:
        concepts = terminology.concepts_for_coding(*_first_coding(component.get("code")))
        if "obs/greatest-dimension" in concepts:
            sizes.append(_size_cm(component.get("valueQuantity")))
    known = [s for s in sizes if s is not None]
    return [("size", max(known), False)] if known else []


def _grade(resource: JsonObject, terminology: Terminology, name: list[Match]) -> list[Fact3]:
    if isinstance(resource.get("valueInteger"), int) and resource["valueInteger"] in (1, 2, 3):
        return [("grade", resource["valueInteger"], False)]
    for concept in _value_concepts(resource, terminology, "grade"):
        grade = terminology.attributes(concept).get("fnclcc")
        if grade:
            return [("grade", int(grade), False)]
    for concept in _value_concepts(resource, terminology, "value"):
        level = terminology.attributes(concept).get("level")
        if isinstance(level, int):
            return [("grade", level, False)]
    return []


def _margin(resource: JsonObject, terminology: Terminology, name: list[Match]) -> list[Fact3]:
    """R0/R1/R2 as stated ("R1", NCIt C139579, "margins free"), else from a generic qualifier:
    positive is R1, or R2 where macroscopic residual tumour is stated (in the value, the name or
    a note); negative is R0; unknown ("RX", "cannot be assessed") records nothing. The name's own
    polarity counts: "Margins free" true is R0, "Margin involved" false is R0."""
    stated = _value_concepts(resource, terminology, "margin")
    if stated:
        return [("margin", stated[0], False)]
    named = _margins_named(resource, terminology)
    involved = _margin_involved(resource, terminology, name, named)
    if involved is None:
        return []
    if involved:
        return [("margin", _involved_margin(resource, terminology, named), False)]
    # "Gross residual tumour: no" rules out R2 only, not R1.
    return [] if named[:1] == ["margin/r2"] else [("margin", "margin/r0", False)]


def _margins_named(resource: JsonObject, terminology: Terminology) -> list[str]:
    """The margin concepts the Observation's name states ("Margins free", "Gross residual
    tumour")."""
    return in_domain([m for m in positive(terminology.match_codeable_concept(
        resource.get("code"), domain="margin")) if not m.uncertain], "margin")


def _margin_involved(resource: JsonObject, terminology: Terminology, name: list[Match],
                     named: list[str]) -> bool | None:
    """Whether the qualifier states the margin involved, read through the name's own polarity;
    None when it says neither."""
    qualifier = read_qualifier(resource, terminology)
    if qualifier is None:
        return None
    named_polarity = terminology.attributes(named[0]).get("polarity") if named else True
    if named_polarity is None:
        return None
    # "Margins free" names the negative: "yes" is R0, "no" R1, "negative" R0, "positive" unknown.
    found = through_name(qualifier, name)
    if found is None:
        return None
    return stated_against(Qualifier(found, answer=qualifier.answer),
                          negative_name=not named_polarity)


def _involved_margin(resource: JsonObject, terminology: Terminology, named: list[str]) -> str:
    """R2 where macroscopic residual tumour is stated (in the name or a note), else R1."""
    notes = [n.get("text") for n in resource.get("note") or [] if isinstance(n, dict)]
    worse = any(m.concept == "margin/r2" and not m.negated and not m.uncertain
                for text in notes for m in terminology.match_text(text, domain="margin"))
    return "margin/r2" if worse or named[:1] == ["margin/r2"] else "margin/r1"


def _depth(resource: JsonObject, terminology: Terminology, name: list[Match]) -> list[Fact3]:
    """Deep or superficial as stated in the value, else a qualifier of a name that says which
    ("Tumour deep to fascia": positive is deep, negative superficial); a qualifier of a bare
    "Tumour depth" says neither."""
    stated = [c for c in _value_concepts(resource, terminology, "depth")
              if terminology.attributes(c).get("deep") is not None]
    if stated:
        return [("depth", stated[0], False)]
    qualifier = read_qualifier(resource, terminology)
    matches = [m for m in terminology.match_codeable_concept(resource.get("code"), domain="depth")
               if terminology.attributes(m.concept).get("deep") is not None]
    if qualifier is None or not matches:
        return []
    concept = matches[0].concept
    polarity = through_name(qualifier, [m for m in matches if m.concept == concept])
    if polarity is None:
        return []
    return [("depth", concept if polarity else terminology.attributes(concept)["opposite"], False)]


def _flag(kind: str) -> Mapper:
    def read(resource: JsonObject, terminology: Terminology, name: list[Match]) -> list[Fact3]:
        qualifier = read_qualifier(resource, terminology)
        if kind == "nuclear-grade" and qualifier is not None and qualifier.level is not None:
            # The level is the finding itself: high nuclear grade, or not.
            return [(kind, through_name(Qualifier(qualifier.level >= 3), name), False)]
        return [(kind, _presence(resource, terminology, name), False)]
    return read


def _m_category(resource: JsonObject, terminology: Terminology, name: list[Match]) -> list[Fact3]:
    tnm = _value_concepts(resource, terminology, "tnm")
    m1 = any(terminology.attributes(c).get("m") == 1 for c in tnm)
    return [("metastasis", {"lung": None, "nodal": False}, False)] if m1 else []


def _n_category(resource: JsonObject, terminology: Terminology, name: list[Match]) -> list[Fact3]:
    values = [terminology.attributes(c).get("n") for c in _value_concepts(resource, terminology,
                                                                           "tnm")]
    known = [v for v in values if v is not None]
    return [("nodes", known[0] >= 1, False)] if known else []


def _disease_status(resource: JsonObject, terminology: Terminology,
                    name: list[Match]) -> list[Fact3]:
    for concept in _value_concepts(resource, terminology, "finding"):
        if terminology.attributes(concept).get("metastatic"):
            pulmonary = terminology.attributes(concept).get("pulmonary")
            return [("metastasis", {"lung": pulmonary, "nodal": False}, False)]
    return []


def _morphology(resource: JsonObject, terminology: Terminology, name: list[Match]) -> list[Fact3]:
    matches = positive(morphology_matches(resource.get("valueCodeableConcept"), terminology))
    matches += positive(terminology.match_text(resource.get("valueString"),
                                               domain=("entity", "behaviour")))
    # One finding for what the codes say and one for what only words say ("8890/3" with the
    # text "Inflammatory leiomyosarcoma"), so the entity chosen keeps its own provenance.
    coded = tuple(dict.fromkeys(m.concept for m in matches if m.via != "text"))
    worded = tuple(dict.fromkeys(m.concept for m in matches if m.concept not in coded))
    return [("morphology", concepts, from_text)
            for concepts, from_text in ((coded, False), (worded, True)) if concepts]


def _first_coding(cc: Any) -> tuple[str | None, str | None]:
    for coding in (cc or {}).get("coding") or [] if isinstance(cc, dict) else []:
        if isinstance(coding, dict):
            return coding.get("system"), coding.get("code")
    return None, None


_MAPPERS: dict[str, Mapper] = {
    "obs/histology-behaviour": _morphology,
    "obs/tumour-size": _size,
    "obs/greatest-dimension": _size,
    "obs/grade": _grade,
    "obs/margin": _margin,
    "obs/depth": _depth,
    "obs/necrosis": _flag("necrosis"),
    "obs/infiltrative-growth": _flag("infiltrative"),
    "obs/high-nuclear-grade": _flag("nuclear-grade"),
    "obs/nuclear-grade": _flag("nuclear-grade"),
    "finding/rms-component": _flag("rms"),
    "finding/unresectable": _flag("unresectable"),
    "obs/tnm-m": _m_category,
    "obs/tnm-n": _n_category,
    "obs/disease-status": _disease_status,
}
"""Observation code concept -> reader; genomic results are read by ``molecular.py``."""
