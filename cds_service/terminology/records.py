"""The records the terminology lookup hands out and keeps: matches, concepts, codes, codings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from typing import Literal

from cds_service.terminology.models import CodeForm

Via = Literal["code", "prefix", "text"]
"""How a concept was recognised: exact code, prefix rule, or text (a text field or a display)."""


class UnknownConceptError(KeyError):
    """A concept id that no value-set file defines (a bug in the caller, not bad data)."""


@dataclass(frozen=True, slots=True)
class Match:
    """One concept recognised in a coding or a text.

    Attributes:
        concept: the concept id, e.g. ``entity/pecoma``.
        via: ``code`` (exact code), ``prefix`` (prefix rule) or ``text`` (synonym in a text or a
            coding's display: the fact came from text).
        negated: the text states the concept absent or negative (``no rhabdomyosarcomatous
            component``, ``NTRK fusion: not detected``, ``S-100 negative``); never set for codes.
        system: canonical system URI of the coding (also for a display match), else None.
        code: the code as received, else None.
        matched: the text that matched, for ``via == "text"``.
        uncertain: the text hedges the concept (``possible necrosis``, ``rhabdomyosarcomatous
            component cannot be excluded``, ``suspicious for ...``): it is neither stated
            present nor absent, and a mapper reads it as not recorded. Never set for codes.
            Independent of ``negated``; added last, so positional construction still works.
    """

    concept: str
    via: Via
    negated: bool = False
    system: str | None = None
    code: str | None = None
    matched: str | None = None
    uncertain: bool = False


@dataclass(frozen=True, slots=True)
class Morphology:
    """An ICD-O-3 morphology code read into its parts.

    Attributes:
        code: the code written ``hhhh/b`` (``hhhh`` when it has no behaviour digit).
        histology: the four-digit histology, e.g. ``8714``.
        behaviour: the behaviour digit (0 benign, 1 uncertain, 2 in situ, 3 malignant,
            6 metastatic, 9 uncertain whether primary or metastatic), or None.
        behaviour_concept: the ``behaviour/*`` concept of that digit, or None.
        entity: the ``entity/*`` concept of the histology, or None when the histology is not one
            the service knows.
    """

    code: str
    histology: str
    behaviour: str | None
    behaviour_concept: str | None
    entity: str | None


@dataclass(frozen=True, slots=True)
class ConceptCode:
    """A code of a concept, as shipped in the data (for building suggested orders).

    Attributes:
        system: canonical system URI.
        code: the code.
        display: our short label, if any.
        status: ``V`` verified or ``V1`` single-source (recognised; emitted only where
            terminology.md section 5 names the code).
    """

    system: str
    code: str
    display: str | None
    status: str


@dataclass(frozen=True, slots=True)
class SystemInfo:
    """A recognised code system.

    Attributes:
        uri: canonical URI.
        form: how its codes are written.
        match_display: whether a coding's display may be read as text.
    """

    uri: str
    form: CodeForm
    match_display: bool = True


@dataclass(frozen=True, slots=True)
class ConceptInfo:
    """What the lookup keeps of one concept.

    Attributes:
        display: human-readable name.
        attributes: deep-frozen attribute data.
        codes: the concept's codes.
    """

    display: str
    attributes: Mapping[str, Any]
    codes: tuple[ConceptCode, ...]


ReadCoding = tuple[SystemInfo, tuple[str, ...], str | None]
"""A coding read once: its system, its lookup keys (most specific first; empty when only the system
was read) and, in ICD-O-3, its behaviour digit."""


def domain_of(concept: str) -> str:
    """Return the domain of a concept id (``entity`` of ``entity/pecoma``)."""
    return concept.partition("/")[0]
