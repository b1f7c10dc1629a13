"""Map an Observation to findings: size, grade, margins, risk features, staging, IHC, molecular."""

from __future__ import annotations

import re
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
from cds_service.terminology import MAX_TEXT_CHARS
from cds_service.terminology import Match
from cds_service.terminology import Terminology

JsonObject = dict[str, Any]
Mapper = Callable[[JsonObject, Terminology], list[tuple[str, Any, bool]]]

_EXCLUDED = {"entered-in-error", "cancelled"}
_TRUE_VALUES = {"value/present", "value/positive", "value/amplified", "value/high"}
_FALSE_VALUES = {"value/absent", "value/negative", "value/not-amplified", "value/low",
                 "value/intermediate"}
_UNITS_TO_CM = {"mm": 0.1, "cm": 1.0, "m": 100.0}
_TEXT_FLAGS = {"finding/rms-component": "rms", "finding/unresectable": "unresectable",
               "obs/necrosis": "necrosis", "obs/infiltrative-growth": "infiltrative"}


def map_observation(resource: JsonObject, terminology: Terminology) -> list[Finding]:
    """The findings an Observation holds (empty when irrelevant or not final)."""
    if resource.get("status") in _EXCLUDED:
        return []
    code_matches = positive(terminology.match_codeable_concept(resource.get("code")))
    # A code beats words in a display ("Histology grade" is a grade, not a histology).
    code_matches.sort(key=lambda m: m.via == "text")
    concepts = [m.concept for m in code_matches]
    facts: list[tuple[str, Any, bool]] = []
    chosen = next((c for c in concepts if c in _MAPPERS), None)
    if chosen is not None:
        # What was observed, named only in words ("Infiltrative growth pattern" under a local
        # code), makes the fact one recognised from text.
        named_in_text = only_text(m for m in code_matches if m.concept == chosen)
        facts = [(kind, value, from_text or named_in_text)
                 for kind, value, from_text in _MAPPERS[chosen](resource, terminology)]
    else:
        if is_molecular(concepts, terminology):
            facts = read_molecular(resource, concepts, presence(resource, terminology),
                                   terminology)
        markers = [c for c in in_domain(code_matches, "ihc") if c != "ihc/study"]
        if markers and not facts:
            marker_in_text = only_text(m for m in code_matches if m.concept == markers[0])
            facts = [("ihc", (markers[0], presence(resource, terminology)), marker_in_text)]
        facts += _narrative(resource, terminology)
    source = reference_of(resource)
    date = first_date(resource, "effectiveDateTime", "effectivePeriod", "effectiveInstant",
                      "issued")
    targets = tuple(t for t in [*referenced(resource.get("focus")), *related_conditions(resource)]
                    if t.startswith("Condition/"))
    procedures = tuple(t for t in [*referenced(resource.get("partOf")),
                                   *referenced(resource.get("derivedFrom")),
                                   *referenced(resource.get("focus"))]
                       if t.startswith("Procedure/"))
    # The body site attaches an Observation that names no Condition (attach.py).
    sites = tuple(in_domain(terminology.match_codeable_concept(resource.get("bodySite"),
                                                               domain="site"), "site"))
    return [Finding(kind, value, source, date, targets, from_text, procedures, sites)
            for kind, value, from_text in facts if value is not None]


def presence(resource: JsonObject, terminology: Terminology) -> bool | None:
    """Whether an Observation's value says present/positive (True), absent/negative (False).

    None when the value says neither, or only hedges ("possibly present", "cannot be excluded").
    """
    if isinstance(resource.get("valueBoolean"), bool):
        return bool(resource["valueBoolean"])
    matches = terminology.match_codeable_concept(resource.get("valueCodeableConcept"),
                                                 domain="value")
    matches += terminology.match_text(resource.get("valueString"), domain="value")
    return _result(matches)


def _result(matches: list[Match]) -> bool | None:
    # The first present/absent value decides; a hedged one leaves the result unknown.
    for match in matches:
        if match.concept in _TRUE_VALUES or match.concept in _FALSE_VALUES:
            if match.uncertain:
                return None
            return (match.concept in _TRUE_VALUES) is not match.negated
    return None


def _value_concepts(resource: JsonObject, terminology: Terminology, domain: str) -> list[str]:
    matches = terminology.match_codeable_concept(resource.get("valueCodeableConcept"),
                                                 domain=domain)
    matches += terminology.match_text(resource.get("valueString"), domain=domain)
    return in_domain(positive(matches), domain)


def _size_cm(quantity: Any) -> float | None:
    if not isinstance(quantity, dict) or not isinstance(quantity.get("value"), int | float):
        return None
    unit = quantity.get("code") or quantity.get("unit")
    factor = _UNITS_TO_CM.get(str(unit).strip().lower()) if unit else None
    return round(float(quantity["value"]) * factor, 2) if factor else None


def _size(resource: JsonObject, terminology: Terminology) -> list[tuple[str, Any, bool]]:
    sizes = [_size_cm(resource.get("valueQuantity"))]
    for component in resource.get("component") or []:
        concepts = terminology.concepts_for_coding(*_first_coding(component.get("code")))
        if "obs/greatest-dimension" in concepts:
            sizes.append(_size_cm(component.get("valueQuantity")))
    known = [s for s in sizes if s is not None]
    return [("size", max(known), False)] if known else []


def _grade(resource: JsonObject, terminology: Terminology) -> list[tuple[str, Any, bool]]:
    if isinstance(resource.get("valueInteger"), int) and resource["valueInteger"] in (1, 2, 3):
        return [("grade", resource["valueInteger"], False)]
    for concept in _value_concepts(resource, terminology, "grade"):
        grade = terminology.attributes(concept).get("fnclcc")
        if grade:
            return [("grade", int(grade), False)]
    by_level = {"value/low": 1, "value/intermediate": 2, "value/high": 3}
    for concept in _value_concepts(resource, terminology, "value"):
        if concept in by_level:
            return [("grade", by_level[concept], False)]
    return []


def _coded(kind: str, domain: str) -> Mapper:
    def read(resource: JsonObject, terminology: Terminology) -> list[tuple[str, Any, bool]]:
        found = _value_concepts(resource, terminology, domain)
        return [(kind, found[0], False)] if found else []
    return read


def _flag(kind: str) -> Mapper:
    def read(resource: JsonObject, terminology: Terminology) -> list[tuple[str, Any, bool]]:
        return [(kind, presence(resource, terminology), False)]
    return read


def _m_category(resource: JsonObject, terminology: Terminology) -> list[tuple[str, Any, bool]]:
    tnm = _value_concepts(resource, terminology, "tnm")
    m1 = any(terminology.attributes(c).get("m") == 1 for c in tnm)
    return [("metastasis", {"lung": None, "nodal": False}, False)] if m1 else []


def _n_category(resource: JsonObject, terminology: Terminology) -> list[tuple[str, Any, bool]]:
    values = [terminology.attributes(c).get("n") for c in _value_concepts(resource, terminology,
                                                                           "tnm")]
    known = [v for v in values if v is not None]
    return [("nodes", known[0] >= 1, False)] if known else []


def _disease_status(resource: JsonObject, terminology: Terminology) -> list[tuple[str, Any, bool]]:
    for concept in _value_concepts(resource, terminology, "finding"):
        if terminology.attributes(concept).get("metastatic"):
            pulmonary = terminology.attributes(concept).get("pulmonary")
            return [("metastasis", {"lung": pulmonary, "nodal": False}, False)]
    return []


def _morphology(resource: JsonObject, terminology: Terminology) -> list[tuple[str, Any, bool]]:
    matches = positive(morphology_matches(resource.get("valueCodeableConcept"), terminology))
    matches += positive(terminology.match_text(resource.get("valueString"),
                                               domain=("entity", "behaviour")))
    # One finding for what the codes say and one for what only words say ("8890/3" with the
    # text "Inflammatory leiomyosarcoma"), so the entity chosen keeps its own provenance.
    coded = tuple(dict.fromkeys(m.concept for m in matches if m.via != "text"))
    worded = tuple(dict.fromkeys(m.concept for m in matches if m.concept not in coded))
    return [("morphology", concepts, from_text)
            for concepts, from_text in ((coded, False), (worded, True)) if concepts]


def _narrative(resource: JsonObject, terminology: Terminology) -> list[tuple[str, Any, bool]]:
    """Facts stated in a pathology narrative (valueString, notes); hedged ones are not facts."""
    texts = [resource.get("valueString")]
    texts += [n.get("text") for n in resource.get("note") or [] if isinstance(n, dict)]
    found: list[tuple[str, Any, bool]] = []
    for text in texts:
        for match in terminology.match_text(text, domain=("finding", "obs", "depth")):
            if match.uncertain:
                continue  # "possible necrosis": neither present nor absent, so not recorded
            kind = _TEXT_FLAGS.get(match.concept)
            if kind:
                found.append((kind, not match.negated, True))
            elif match.concept.startswith("depth/") and not match.negated:
                found.append(("depth", match.concept, True))
        found += text_markers(text, terminology)
    return found


def text_markers(text: Any, terminology: Terminology) -> list[tuple[str, Any, bool]]:
    """IHC results written as prose, one ``ihc`` fact per marker named.

    A sentence is read part by part (parts end at a comma or "and"): a result written after its
    markers applies to them and to the markers of earlier parts that had none ("HMB-45 and
    Melan-A positive"); a result written before its marker carries on to the next parts until
    another result ("positive for desmin and SMA, negative for S-100"). A marker left without a
    result, or hedged, has result None. Only the first ``MAX_TEXT_CHARS`` characters are read.
    """
    if not isinstance(text, str):
        return []
    found: list[tuple[str, Any, bool]] = []
    for sentence in _SENTENCE.split(text[:MAX_TEXT_CHARS]):
        results: dict[str, bool | None] = {}
        pending: list[str] = []
        carried: bool | None = None
        for part in _PART.split(sentence):
            markers = _placed(part, terminology.match_text(part, domain="ihc"),
                              lambda c: c != "ihc/study")
            values = _placed(part, terminology.match_text(part, domain="value"),
                             lambda c: c in _TRUE_VALUES or c in _FALSE_VALUES)
            if not values:
                if carried is not None:
                    results.update((m.concept, carried) for _, m in markers)
                else:
                    pending += [m.concept for _, m in markers]
                continue
            for at, marker in markers:
                value = next((v for v_at, v in values if v_at > at), values[-1][1])
                results[marker.concept] = None if marker.uncertain else _result([value])
            if not markers or values[0][0] > markers[0][0]:  # "... positive": backwards
                results.update((c, _result([values[0][1]])) for c in pending)
            pending = []
            # "positive for desmin": forwards, to the parts that follow with no result of their own
            prefix = bool(markers) and values[-1][0] < markers[-1][0]
            carried = _result([values[-1][1]]) if prefix else None
        results.update((c, None) for c in pending if c not in results)
        found += [("ihc", (concept, result), True) for concept, result in results.items()]
    return found


_SENTENCE = re.compile(r"[;.\n]")
_PART = re.compile(r",| and | & ", re.IGNORECASE)


def _placed(part: str, matches: list[Match],
            keep: Callable[[str], bool]) -> list[tuple[int, Match]]:
    """The kept matches with where they stand in ``part``, in reading order."""
    lowered = part.lower()
    placed = []
    for match in matches:
        if keep(match.concept):
            at = lowered.find((match.matched or "").lower())
            placed.append((at if at >= 0 else len(part), match))
    return sorted(placed, key=lambda item: item[0])


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
    "obs/margin": _coded("margin", "margin"),
    "obs/depth": _coded("depth", "depth"),
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
