"""Facts stated in prose: a pathology narrative, a note, or a diagnosis in its own words.

Negation and hedging as in terminology.md section 5: a finding stated absent ("no necrosis",
"without rhabdomyosarcomatous component") is recorded absent, a hedged one ("possible necrosis")
is not recorded at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

from cds_service.terminology import MAX_TEXT_CHARS
from cds_service.terminology import Match
from cds_service.terminology import Terminology

Fact3 = tuple[str, Any, bool]
"""(kind, value, from_text) of a fact before it becomes a Finding."""

TEXT_FLAGS = {"finding/rms-component": "rms", "finding/unresectable": "unresectable",
              "obs/necrosis": "necrosis", "obs/infiltrative-growth": "infiltrative",
              "obs/high-nuclear-grade": "nuclear-grade"}
"""Concepts that, named in prose, state a yes/no finding of a tumour."""


def narrative_facts(texts: Iterable[Any], terminology: Terminology, *,
                    flags: Iterable[str] = tuple(TEXT_FLAGS)) -> list[Fact3]:
    """Yes/no findings, depth and IHC results stated in ``texts``; hedged ones are not facts.

    Args:
        texts: the strings to read (anything else is skipped).
        terminology: the value sets.
        flags: the concepts of ``TEXT_FLAGS`` to read.
    """
    wanted = {concept: TEXT_FLAGS[concept] for concept in flags}
    found: list[Fact3] = []
    for text in texts:
        for match in terminology.match_text(text, domain=("finding", "obs", "depth")):
            if match.uncertain:
                continue  # "possible necrosis": neither present nor absent, so not recorded
            kind = wanted.get(match.concept)
            if kind:
                found.append((kind, not match.negated, True))
            elif terminology.attributes(match.concept).get("deep") is not None \
                    and not match.negated:
                found.append(("depth", match.concept, True))
        found += text_markers(text, terminology)
    return found


def is_result(concept: str, terminology: Terminology) -> bool:
    """A qualifier concept that states a result either way (not an unknown one)."""
    attributes = terminology.attributes(concept)
    return attributes.get("polarity") in (True, False) or isinstance(attributes.get("level"), int)


def result_of(match: Match, terminology: Terminology) -> bool | None:
    """The result a qualifier match states: hedged ones are unknown, negation turns it over."""
    if match.uncertain:
        return None
    polarity = terminology.attributes(match.concept).get("polarity")
    if polarity is None:  # a level: an amount of it is there
        return None if match.negated else True
    return bool(polarity) is not match.negated


def text_markers(text: Any, terminology: Terminology) -> list[Fact3]:
    """IHC results written as prose, one ``ihc`` fact per marker named.

    A sentence is read part by part (parts end at a comma or "and"): a result written after its
    markers applies to them and to the markers of earlier parts that had none ("HMB-45 and
    Melan-A positive"); a result written before its marker carries on to the next parts until
    another result ("positive for desmin and SMA, negative for S-100"). A marker left without a
    result, or hedged, has result None. Only the first ``MAX_TEXT_CHARS`` characters are read.
    """
    if not isinstance(text, str):
        return []
    found: list[Fact3] = []

    def result(match: Match) -> bool | None:
        return result_of(match, terminology)

    for sentence in _SENTENCE.split(text[:MAX_TEXT_CHARS]):
        results: dict[str, bool | None] = {}
        pending: list[str] = []
        carried: bool | None = None
        for part in _PART.split(sentence):
            markers = _placed(part, terminology.match_text(part, domain="ihc"),
                              lambda c: c != "ihc/study")
            values = _placed(part, terminology.match_text(part, domain="value"),
                             lambda c: is_result(c, terminology))
            if not values:
                if carried is not None:
                    results.update((m.concept, carried) for _, m in markers)
                else:
                    pending += [m.concept for _, m in markers]
                continue
            for at, marker in markers:
                value = next((v for v_at, v in values if v_at > at), values[-1][1])
                results[marker.concept] = None if marker.uncertain else result(value)
            if not markers or values[0][0] > markers[0][0]:  # "... positive": backwards
                results.update((c, result(values[0][1])) for c in pending)
            pending = []
            # "positive for desmin": forwards, to the parts that follow with no result of their own
            prefix = bool(markers) and values[-1][0] < markers[-1][0]
            carried = result(values[-1][1]) if prefix else None
        results.update((c, None) for c in pending if c not in results)
        found += [("ihc", (concept, value), True) for concept, value in results.items()]
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
