"""The terminology lookup API: codes, prefixes, text synonyms and ICD-O morphology to concepts."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any

from cds_service.terminology.codes import lookup_keys
from cds_service.terminology.codes import parse_icdo
from cds_service.terminology.codes import system_key
from cds_service.terminology.limits import CACHE_ENTRIES
from cds_service.terminology.limits import CACHED_TEXT_CHARS
from cds_service.terminology.limits import MAX_TEXT_CHARS
from cds_service.terminology.models import CodeForm
from cds_service.terminology.negation import Negation
from cds_service.terminology.prefilter import CodeIndexes
from cds_service.terminology.prefilter import Prefilter
from cds_service.terminology.records import ConceptCode
from cds_service.terminology.records import ConceptInfo
from cds_service.terminology.records import Match
from cds_service.terminology.records import Morphology
from cds_service.terminology.records import ReadCoding
from cds_service.terminology.records import SystemInfo
from cds_service.terminology.records import UnknownConceptError
from cds_service.terminology.records import domain_of
from cds_service.terminology.text import PhraseMatcher
from cds_service.terminology.text import clean

_VIA_RANK = {"code": 0, "prefix": 1, "text": 2}


class Terminology:
    """Value sets loaded from the data files, with their indexes; built by ``load_terminology``.

    Instances are immutable and safe to share between threads (their memos of repeated codings
    and texts are bounded, thread-safe LRUs).
    """

    def __init__(
        self,
        *,
        concepts: Mapping[str, ConceptInfo],
        systems: Mapping[str, SystemInfo],
        codes: Mapping[tuple[str, str], tuple[str, ...]],
        prefixes: Mapping[str, Mapping[int, Mapping[str, tuple[str, ...]]]],
        matchers: Mapping[str, PhraseMatcher],
        negation: Negation,
        candidates: Mapping[str, tuple[frozenset[str], re.Pattern[str]]],
        behaviours: Mapping[str, str],
    ) -> None:
        """Keep the indexes the loader built (see ``loader.py``)."""
        self._concepts = concepts
        self._systems = systems
        self._codes = codes
        self._prefixes = prefixes
        self._matchers = matchers
        self._negation = negation
        self._behaviours = behaviours
        self._domains = frozenset(matchers)
        self._icdo = next((s.uri for s in systems.values() if s.form is CodeForm.ICDO3), "")
        # Concepts whose bare ICD-O-3 histology codes stand only for some behaviours (attribute
        # icdo_behaviours): 8811 is a sarcoma as 8811/3, not as 8811/0 fibromyxoma.
        self._icdo_behaviours = {
            concept: frozenset(info.attributes["icdo_behaviours"])
            for concept, info in concepts.items()
            if isinstance(info.attributes.get("icdo_behaviours"), tuple)
        }
        self._prefilter = Prefilter(
            candidates,
            CodeIndexes(codes, prefixes, behaviours, self._icdo_behaviours),
            read_coding=self._coding,
            display_usable=self._display_usable,
        )
        # Memos of pure functions of the frozen indexes (lru_cache is thread-safe); the text
        # matches are tuples of frozen records, so no caller can alter a memoised answer.
        self._read_coding = functools.lru_cache(maxsize=CACHE_ENTRIES)(self._read_coding_uncached)
        self._cached_text_matches = functools.lru_cache(maxsize=CACHE_ENTRIES)(self._find_text)
        self._cached_code_matches = functools.lru_cache(maxsize=CACHE_ENTRIES)(
            self._find_code_matches)

    @property
    def domains(self) -> frozenset[str]:
        """Every concept domain (``entity``, ``drug``, ``site``...)."""
        return self._domains

    def concepts_in(self, domain: str) -> frozenset[str]:
        """Return the ids of every concept of ``domain`` (empty for an unknown domain)."""
        return frozenset(c for c in self._concepts if domain_of(c) == domain)

    def display(self, concept: str) -> str:
        """Return the human-readable name of ``concept``.

        Raises:
            UnknownConceptError: no data file defines ``concept``.
        """
        return self._info(concept).display

    def attributes(self, concept: str) -> Mapping[str, Any]:
        """Return the read-only attribute data of ``concept`` (empty when it has none).

        Raises:
            UnknownConceptError: no data file defines ``concept``.
        """
        return self._info(concept).attributes

    def codes(self, concept: str) -> tuple[ConceptCode, ...]:
        """Return the codes of ``concept`` as shipped, for building orders and explanations.

        Raises:
            UnknownConceptError: no data file defines ``concept``.
        """
        return self._info(concept).codes

    def canonical_system(self, system: str | None) -> str | None:
        """Return the canonical URI of a system URI or alias, or None if it is not recognised."""
        info = self._system_info(system)
        return info.uri if info else None

    def concepts_for_coding(self, system: str | None, code: str | None) -> frozenset[str]:
        """Return the concepts one coding maps to, by exact code or prefix rule (empty if none)."""
        return frozenset(m.concept for m in self._code_matches(system, code))

    def match_codeable_concept(
        self, cc: Any, *, domain: str | Collection[str] | None = None
    ) -> list[Match]:
        """Recognise concepts in a FHIR CodeableConcept (a JSON object; anything else gives []).

        Every coding is used, by code and prefix and then by its display through the synonyms
        (except in systems whose displays are unreliable: HGNC is matched by code only); then
        ``text``. One match per (concept, negated), the strongest ``via`` kept.

        Args:
            cc: the CodeableConcept as parsed JSON.
            domain: restrict to one domain or several; None for all.
        """
        if not isinstance(cc, Mapping):
            return []
        domains = self._domain_set(domain)
        found: list[Match] = []
        codings = cc.get("coding")
        for coding in codings if isinstance(codings, list) else ():
            if not isinstance(coding, Mapping):
                continue
            system, code = coding.get("system"), coding.get("code")
            found += [m for m in self._code_matches(system, code) if _domain(m) in domains]
            display = coding.get("display")
            if isinstance(display, str) and self._display_usable(system):
                canonical = self.canonical_system(system)
                raw = code.strip() if isinstance(code, str) else None
                found += [
                    Match(m.concept, "text", m.negated, canonical, raw, m.matched, m.uncertain)
                    for m in self._text_matches(display, domains)
                ]
        text = cc.get("text")
        if isinstance(text, str):
            found += self._text_matches(text, domains)
        return _unique(sorted(found, key=lambda m: _VIA_RANK[m.via]))

    def match_text(self, text: Any, *, domain: str | Collection[str] | None = None) -> list[Match]:
        """Recognise concepts in free text: whole words, any case, negation- and hedge-aware.

        Only the first ``MAX_TEXT_CHARS`` characters of a string are read.

        Args:
            text: the text (anything but a string gives []).
            domain: restrict to one domain or several; None for all.
        """
        if not isinstance(text, str):
            return []
        return _unique(self._text_matches(text, self._domain_set(domain)))

    def morphology(self, code: Any) -> Morphology | None:
        """Read an ICD-O-3 morphology code (``8714/3``, ``87143``, ``8714-3``, ``M-8714/3``).

        A histology-only code of the data (``8811``) gives its entity for every behaviour, unless
        the entity lists the behaviours it stands for (attribute ``icdo_behaviours``: ``8811/0``
        fibromyxoma is no sarcoma).

        Returns:
            Its parts and entity, or None when ``code`` is not shaped like a morphology code.
        """
        parsed = parse_icdo(code) if isinstance(code, str) else None
        if parsed is None:
            return None
        entity = None
        for key in lookup_keys(CodeForm.ICDO3, parsed.canonical):
            hits = self._codes.get((self._icdo, key), ())
            entities = [c for c in hits if c.startswith("entity/")
                        and self._behaviour_fits(c, key, parsed.behaviour)]
            if entities:
                entity = entities[0]
                break
        behaviour = self._behaviours.get(parsed.behaviour) if parsed.behaviour else None
        return Morphology(parsed.canonical, parsed.histology, parsed.behaviour, behaviour, entity)

    def most_specific(self, concepts: Collection[str]) -> str | None:
        """Return the concept with the highest ``rank`` attribute (ties: first id), or None.

        Used to settle a tumour's entity when several are recognised: an ASCMN name beats ICD-O
        8857/0 (spindle cell lipoma), "inflammatory leiomyosarcoma" beats 8890/3, any named
        entity beats the ICD-10-CM C49 soft-tissue sarcoma class.
        """
        ranked: list[tuple[int, str]] = []
        for concept in concepts:
            info = self._concepts.get(concept)
            rank = info.attributes.get("rank") if info else None
            if isinstance(rank, int):
                ranked.append((-rank, concept))
        return min(ranked)[1] if ranked else None

    def is_candidate(self, resource_type: Any, value: Any) -> bool:
        """Cheap pre-filter: could this resource matter, judged by its code(s) or text?

        Args:
            resource_type: the FHIR resource type; types without a configured domain list are
                checked against every domain.
            value: a CodeableConcept, a string, or a list of those.
        """
        return self.candidate_judge(resource_type)(value)

    def candidate_judge(self, resource_type: Any) -> Callable[[Any], bool]:
        """:meth:`is_candidate` for one resource type, to judge many values of one resource."""
        return self._prefilter.judge(resource_type)

    def _display_usable(self, system: Any) -> bool:
        info = self._system_info(system)
        return info is None or info.match_display

    def _system_info(self, system: Any) -> SystemInfo | None:
        read = self._coding(system, None) if isinstance(system, str) else None
        return read[0] if read else None

    def _coding(self, system: Any, code: Any) -> ReadCoding | None:
        # Read a coding's system and code (code None: the system alone); None when the system is
        # not recognised or the code cannot be one of it. Long strings are read without the memo.
        if not isinstance(system, str) or not (code is None or isinstance(code, str)):
            return None
        if len(system) + len(code or "") <= CACHED_TEXT_CHARS:
            return self._read_coding(system, code)
        return self._read_coding_uncached(system, code)

    def _read_coding_uncached(self, system: str, code: str | None) -> ReadCoding | None:
        info = self._systems.get(system_key(system))
        if info is None:
            return None
        keys = lookup_keys(info.form, code) if code is not None else ()
        if code is not None and not keys:
            return None
        behaviour = None
        if keys and info.form is CodeForm.ICDO3:
            behaviour = keys[0].partition("/")[2] or None
        return info, keys, behaviour

    def _info(self, concept: str) -> ConceptInfo:
        try:
            return self._concepts[concept]
        except KeyError:
            raise UnknownConceptError(concept) from None

    def _domain_set(self, domain: str | Collection[str] | None) -> frozenset[str]:
        if domain is None:
            return self._domains
        return frozenset([domain] if isinstance(domain, str) else domain)

    def _code_matches(self, system: Any, code: Any) -> tuple[Match, ...]:
        if type(code) is str and (system is None or type(system) is str):
            return self._cached_code_matches(system, code)
        return self._find_code_matches(system, code)

    def _find_code_matches(self, system: Any, code: Any) -> tuple[Match, ...]:
        read = self._coding(system, code) if isinstance(code, str) else None
        if read is None or code is None:
            return ()
        info, keys, behaviour = read
        raw = code.strip()
        found: list[Match] = []
        taken: set[str] = set()
        for key in keys:
            hits = [c for c in self._codes.get((info.uri, key), ())
                    if domain_of(c) not in taken and self._behaviour_fits(c, key, behaviour)]
            found += [Match(c, "code", False, info.uri, raw) for c in hits]
            taken.update(domain_of(c) for c in hits)
        for length, rules in self._prefixes.get(info.uri, {}).items():
            for concept in rules.get(keys[0][:length], ()):
                if domain_of(concept) not in taken:
                    found.append(Match(concept, "prefix", False, info.uri, raw))
                    taken.add(domain_of(concept))
        if behaviour is not None and behaviour in self._behaviours:
            found.append(Match(self._behaviours[behaviour], "code", False, info.uri, raw))
        return tuple(found)

    def _behaviour_fits(self, concept: str, key: str, behaviour: str | None) -> bool:
        # Only a bare histology key (no "/b") of a concept with icdo_behaviours is conditional.
        allowed = self._icdo_behaviours.get(concept)
        return allowed is None or behaviour is None or "/" in key or behaviour in allowed

    def _text_matches(self, text: str, domains: frozenset[str]) -> tuple[Match, ...]:
        text = text[:MAX_TEXT_CHARS]  # a multi-megabyte string must not hold the call for seconds
        if len(text) <= CACHED_TEXT_CHARS:
            return self._cached_text_matches(text, domains & self._domains)
        return self._find_text(text, domains & self._domains)

    def _find_text(self, text: str, domains: frozenset[str]) -> tuple[Match, ...]:
        cleaned = clean(text)
        scope = None
        found: list[Match] = []
        for domain in sorted(domains):
            for concept, start, end in self._matchers[domain].find(cleaned):
                scope = scope or self._negation.scan(cleaned)
                found.append(Match(concept, "text", scope.is_negated(start, end), None, None,
                                   text[start:end], scope.is_uncertain(start, end)))
        return tuple(found)


def _domain(match: Match) -> str:
    return domain_of(match.concept)


def _unique(matches: Iterable[Match]) -> list[Match]:
    # One match per (concept, negated), in first-seen order; a statement beats a hedge of the
    # same concept ("possible necrosis ... necrosis present" states necrosis present).
    out: dict[tuple[str, bool], Match] = {}
    for match in matches:
        key = (match.concept, match.negated)
        if key not in out or (out[key].uncertain and not match.uncertain):
            out[key] = match
    return list(out.values())
