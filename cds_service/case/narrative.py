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
    for sentence in _SENTENCE.split(text[:MAX_TEXT_CHARS]):
        results = _marker_results(sentence, terminology)
        found += [("ihc", (concept, value), True) for concept, value in results.items()]
    return found


def _marker_results(sentence: str, terminology: Terminology) -> dict[str, bool | None]:
    """Each IHC marker one sentence names -> its result, read part by part."""
    reader = _SentenceReader(terminology)
    for part in _PART.split(sentence):
        reader.read(part)
    return reader.results()


_Placed = list[tuple[int, Match]]
"""Matches with where they stand in a part, in reading order (``_placed``)."""


class _SentenceReader:
    """The IHC markers of one sentence and their results, as its parts are read in order."""

    def __init__(self, terminology: Terminology) -> None:
        """Start a sentence: no marker read yet."""
        self._terminology = terminology
        self._results: dict[str, bool | None] = {}
        self._pending: list[str] = []  # markers waiting for a result written after them
        self._carried: bool | None = None  # a result written before its markers, carried on

    def read(self, part: str) -> None:
        """Read the next part of the sentence."""
        terminology = self._terminology
        markers = _placed(part, terminology.match_text(part, domain="ihc"),
                          lambda c: c != "ihc/study")
        values = _placed(part, terminology.match_text(part, domain="value"),
                         lambda c: is_result(c, terminology))
        if values:
            self._settle(markers, values)
        else:
            self._hold(markers)

    def results(self) -> dict[str, bool | None]:
        """Each marker read -> its result; None for a marker left without one, or hedged."""
        self._results.update((c, None) for c in self._pending if c not in self._results)
        return self._results

    def _hold(self, markers: _Placed) -> None:
        """A part without a result: its markers take the result carried on, or wait."""
        if self._carried is not None:
            self._results.update((m.concept, self._carried) for _, m in markers)
        else:
            self._pending += [m.concept for _, m in markers]

    def _settle(self, markers: _Placed, values: _Placed) -> None:
        """A part with results: its markers take theirs, the waiting markers the first one if it
        comes after them, and the last one carries on if written before its markers."""
        self._take_results(markers, values)
        if not markers or values[0][0] > markers[0][0]:  # "... positive": backwards
            self._results.update((c, self._result(values[0][1])) for c in self._pending)
        self._pending = []
        # "positive for desmin": forwards, to the parts that follow with no result of their own
        prefix = bool(markers) and values[-1][0] < markers[-1][0]
        self._carried = self._result(values[-1][1]) if prefix else None

    def _take_results(self, markers: _Placed, values: _Placed) -> None:
        """Each marker of a part takes the first result after it, else the part's last."""
        for at, marker in markers:
            value = next((v for v_at, v in values if v_at > at), values[-1][1])
            self._results[marker.concept] = None if marker.uncertain else self._result(value)

    def _result(self, match: Match) -> bool | None:
        return result_of(match, self._terminology)


_SENTENCE = re.compile(r"[;.\n]")
_PART = re.compile(r",| and | & ", re.IGNORECASE)


def _placed(part: str, matches: list[Match], keep: Callable[[str], bool]) -> _Placed:
    """The kept matches with where they stand in ``part``, in reading order."""
    lowered = part.lower()
    placed = []
    for match in matches:
        if keep(match.concept):
            at = lowered.find((match.matched or "").lower())
            placed.append((at if at >= 0 else len(part), match))
    return sorted(placed, key=lambda item: item[0])
