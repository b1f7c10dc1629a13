"""Read an Observation's value by the concept its name names: size, grade, margin, depth, yes/no
findings, TNM categories, disease status, morphology."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cds_service.case.concepts import in_domain
from cds_service.case.concepts import positive
from cds_service.case.conditions import morphology_matches
from cds_service.case.narrative import Fact3
from cds_service.case.qualifiers import VALUE_FIELDS
from cds_service.case.qualifiers import Qualifier
from cds_service.case.qualifiers import name_states_absent
from cds_service.case.qualifiers import read_qualifier
from cds_service.case.qualifiers import stated_against
from cds_service.case.qualifiers import through_name
from cds_service.terminology import Match
from cds_service.terminology import Terminology

JsonObject = dict[str, Any]
Mapper = Callable[[JsonObject, Terminology, list[Match]], list[Fact3]]
"""Reads one Observation (as its value is held) given the matches of its name's concept."""

_UNITS_TO_CM = {"mm": 0.1, "cm": 1.0, "m": 100.0}


def presence(resource: JsonObject, terminology: Terminology, name: list[Match]) -> bool | None:
    """Whether a finding is present (True) or absent (False) by its value read through its name;
    None when neither is said, or only hedged. A name stating it absent with no value is absent."""
    qualifier = read_qualifier(resource, terminology)
    if qualifier is None:
        return False if name_states_absent(name) and not _has_value(resource) else None
    return through_name(qualifier, name)


def _has_value(resource: JsonObject) -> bool:
    return any(field in resource for field in VALUE_FIELDS)


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
        return [(kind, presence(resource, terminology, name), False)]
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


MAPPERS: dict[str, Mapper] = {
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
