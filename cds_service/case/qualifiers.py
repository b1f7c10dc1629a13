"""Finding values in every form EHRs use: one vocabulary of generic qualifiers for every kind.

A margin, necrosis, depth, component, IHC, fusion or amplification finding is valued the same ways
(terminology.md section 6, revised): a coded or written qualifier (positive/negative,
present/absent, detected/not detected, involved/uninvolved, SNOMED CT qualifier values, LOINC
answers), a ``valueBoolean``, or such a value held in a component. This module reads the
qualifier's polarity and the polarity of the finding's name; what "positive" means is the finding's
own and is decided by its reader (a positive margin is R1, a positive necrosis finding is necrosis
present). Which concepts are qualifiers is data: the ``polarity`` (true, false, or null for
unknown) and ``level`` attributes of ``value/*`` concepts in ``values.json``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cds_service.terminology import Match
from cds_service.terminology import Terminology

JsonObject = dict[str, Any]

VALUE_FIELDS = ("valueBoolean", "valueCodeableConcept", "valueString", "valueQuantity")
"""The value[x] forms a qualifier is read from."""


@dataclass(frozen=True, slots=True)
class Qualifier:
    """What a finding's value says.

    Attributes:
        polarity: True positive/present/detected/involved, False negative/absent/not
            detected/uninvolved, None unknown (hedged, indeterminate, cannot be assessed).
        level: 1 low, 2 intermediate, 3 high when the value states an amount ("marked"); an
            amount of a finding means it is present.
        answer: the value answers the question the finding's name asks (a ``valueBoolean``,
            "yes", "no") rather than describing the finding ("positive", "absent").
    """

    polarity: bool | None
    level: int | None = None
    answer: bool = False


def value_matches(element: JsonObject, terminology: Terminology,
                  domain: str | tuple[str, ...]) -> list[Match]:
    """Concepts of ``domain`` in an element's coded and written value (codes first)."""
    matches = terminology.match_codeable_concept(element.get("valueCodeableConcept"),
                                                 domain=domain)
    return matches + terminology.match_text(element.get("valueString"), domain=domain)


def read_qualifier(element: JsonObject, terminology: Terminology) -> Qualifier | None:
    """The generic qualifier an element's value states; None when its value states none.

    A ``valueBoolean`` is a polarity, a share in % is present when above none; otherwise the
    first qualifier concept of the coded or written value decides, read through its negation
    ("not involved") and hedging ("possibly positive": unknown); an Observation with no value
    at all may state it in its ``interpretation``.
    """
    if isinstance(element.get("valueBoolean"), bool):
        return Qualifier(bool(element["valueBoolean"]), answer=True)
    share = _percentage(element)
    if share is not None:  # "Necrosis: 30 %" is necrosis present; 0 % is none
        return Qualifier(share > 0)
    for match in value_matches(element, terminology, "value"):
        attributes = terminology.attributes(match.concept)
        if "polarity" in attributes:
            return _polarity(match, attributes["polarity"], bool(attributes.get("answer")))
        if isinstance(attributes.get("level"), int):
            if match.uncertain or match.negated:
                return Qualifier(None)
            return Qualifier(True, int(attributes["level"]))
    if any(field in element for field in VALUE_FIELDS):
        return None
    # No value at all: the result may sit in the interpretation ("Positive", "Not detected").
    interpretations = element.get("interpretation")
    for cc in interpretations if isinstance(interpretations, list) else ():
        for match in terminology.match_codeable_concept(cc, domain="value"):
            if "polarity" in terminology.attributes(match.concept):
                return _polarity(match, terminology.attributes(match.concept)["polarity"])
    return None


def _polarity(match: Match, polarity: Any, answer: bool = False) -> Qualifier:
    if match.uncertain or polarity is None:
        return Qualifier(None)
    return Qualifier(bool(polarity) is not match.negated, answer=answer)


def _percentage(element: JsonObject) -> float | None:
    """A share of the tissue, from a ``valueQuantity`` in % or a value written "30%" alone."""
    quantity = element.get("valueQuantity")
    if isinstance(quantity, dict) and isinstance(quantity.get("value"), int | float) \
            and "%" in (quantity.get("code"), quantity.get("unit")):
        return float(quantity["value"])
    text = element.get("valueString")
    match = _PERCENT.match(text) if isinstance(text, str) else None
    return float(match.group(1)) if match else None


_PERCENT = re.compile(r"^\s*(?:[<>]=?|\u2264|\u2265|about|approximately|approx\.?|~)?\s*"
                      r"(\d+(?:\.\d+)?)\s*%\s*$", re.IGNORECASE)


def through_name(qualifier: Qualifier | None, name: Iterable[Match]) -> bool | None:
    """Whether the finding is present, from its qualifier read through the polarity of its name.

    ``name`` holds the matches of the finding's concept in the Observation's code. Under a name
    that states the finding absent ("No tumour necrosis", "HMB-45 negative") an answer (a
    boolean, "yes", "no") turns over (true = absent), a value that describes the finding agrees
    ("negative": absent) or contradicts it ("positive": unknown). A hedged name ("Possible
    necrosis") leaves it unknown; a code, or a name written plainly, keeps it.
    """
    if qualifier is None or qualifier.polarity is None:
        return None
    words = [m for m in name if m.via == "text"]
    if not words or any(not m.negated and not m.uncertain for m in words):
        return qualifier.polarity
    if any(m.uncertain for m in words):
        return None
    return stated_against(qualifier, negative_name=True)


def stated_against(qualifier: Qualifier, *, negative_name: bool) -> bool | None:
    """A qualifier's polarity under a name of the given polarity (see :func:`through_name`)."""
    polarity = qualifier.polarity
    if not negative_name or polarity is None:
        return polarity
    if qualifier.answer:
        return not polarity
    return False if polarity is False else None


def name_states_absent(name: Iterable[Match]) -> bool:
    """True when the finding's name itself says it is absent ("No tumour necrosis") and no part
    of it names the finding plainly: such an Observation with no value records the absence."""
    words = [m for m in name if m.via == "text"]
    return bool(words) and all(m.negated and not m.uncertain for m in words)


def value_holder(resource: JsonObject, own: Callable[[Any], bool],
                 terminology: Terminology) -> JsonObject:
    """The Observation as its value is held: itself when it has a value, else with the value of
    a component whose code ``own`` accepts (a component coded "Result", or with the
    Observation's own code), not one that is another finding. Among several, the first whose
    value states a qualifier ("Intensity: strong", then "Result: positive") wins, else the
    first."""
    if any(field in resource for field in VALUE_FIELDS):
        return resource
    held: list[JsonObject] = []
    components = resource.get("component")
    for component in components if isinstance(components, list) else ():
        if not isinstance(component, dict) or not own(component.get("code")):
            continue
        values = {field: component[field] for field in VALUE_FIELDS if field in component}
        if values:
            held.append({**resource, **values})
    return next((view for view in held if read_qualifier(view, terminology) is not None),
                held[0] if held else resource)
