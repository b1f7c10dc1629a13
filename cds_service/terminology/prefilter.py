"""The candidate pre-filter: which values could name a concept worth reading, decided cheaply.

Each resource type has a filter compiled at load time from the code indexes and the synonyms of
the domains that make it a candidate; the full lookup runs only on resources that pass.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from cds_service.terminology.limits import CACHE_ENTRIES
from cds_service.terminology.limits import CACHED_TEXT_CHARS
from cds_service.terminology.limits import MAX_TEXT_CHARS
from cds_service.terminology.records import ReadCoding
from cds_service.terminology.records import domain_of
from cds_service.terminology.text import clean

_Prefixes = Mapping[str, tuple[tuple[int, frozenset[str]], ...]]
"""System URI -> (prefix length, prefixes of that length), longest first."""


@dataclass(frozen=True, slots=True, eq=False)
class CandidateFilter:
    """The pre-filter of one resource type, compiled at load time from the indexes.

    Attributes:
        domains: the concept domains that make a resource of the type a candidate.
        pattern: one regex over every synonym of those domains.
        codes: (system URI, lookup key) pairs with a concept of those domains, whatever the
            ICD-O-3 behaviour of the incoming code.
        conditional: bare ICD-O-3 histology keys whose concepts of those domains stand only for
            some behaviours (attribute ``icdo_behaviours``) -> those behaviour digits.
        prefixes: system URI -> (prefix length, prefixes of that length with such a concept),
            longest first.
        behaviours: ICD-O-3 behaviour digits whose ``behaviour/*`` concept is of those domains.
    """

    domains: frozenset[str]
    pattern: re.Pattern[str]
    codes: frozenset[tuple[str, str]]
    conditional: Mapping[tuple[str, str], frozenset[str]]
    prefixes: _Prefixes
    behaviours: frozenset[str]

    def coded(self, coding: ReadCoding) -> bool:
        """Tell whether a read coding maps to a concept of the filter's domains."""
        info, keys, behaviour = coding
        for key in keys:
            if (info.uri, key) in self.codes:
                return True
            allowed = self.conditional.get((info.uri, key))
            if allowed is not None and (behaviour is None or behaviour in allowed):
                return True
        for length, prefixes in self.prefixes.get(info.uri, ()):
            if keys[0][:length] in prefixes:
                return True
        return behaviour is not None and behaviour in self.behaviours


@dataclass(frozen=True, slots=True)
class CodeIndexes:
    """The terminology's code indexes the filters are compiled from (see ``Terminology``).

    Attributes:
        codes: (system URI, lookup key) -> concepts.
        prefixes: system URI -> prefix length -> prefix -> concepts, longest first.
        behaviours: ICD-O-3 behaviour digit -> its ``behaviour/*`` concept.
        icdo_behaviours: concept -> the behaviour digits its bare histology codes stand for.
    """

    codes: Mapping[tuple[str, str], tuple[str, ...]]
    prefixes: Mapping[str, Mapping[int, Mapping[str, tuple[str, ...]]]]
    behaviours: Mapping[str, str]
    icdo_behaviours: Mapping[str, frozenset[str]]


class Prefilter:
    """One judge per resource type: could a value (code, text, or a list of them) matter?

    Safe to share between threads: the filters are frozen and the memos are bounded,
    thread-safe LRUs.
    """

    def __init__(
        self,
        candidates: Mapping[str, tuple[frozenset[str], re.Pattern[str]]],
        indexes: CodeIndexes,
        *,
        read_coding: Callable[[Any, Any], ReadCoding | None],
        display_usable: Callable[[Any], bool],
    ) -> None:
        """Compile a filter per resource type (``*``: every other type).

        Args:
            candidates: resource type -> (its candidate domains, one regex over their synonyms).
            indexes: the terminology's code indexes.
            read_coding: reads a (system, code) pair, as the lookup does (None: not recognised).
            display_usable: whether a coding's display may be read as text in a system.
        """
        self._read_coding = read_coding
        self._display_usable = display_usable
        self._filters: Mapping[str, CandidateFilter] = MappingProxyType({
            key: compile_filter(domains, pattern, indexes)
            for key, (domains, pattern) in candidates.items()
        })
        self._judges: dict[str, Callable[[Any], bool]] = {
            key: functools.partial(self._candidate, candidate_filter=candidate_filter, depth=0)
            for key, candidate_filter in self._filters.items()
        }
        self._candidate_text = functools.lru_cache(maxsize=CACHE_ENTRIES)(self._search_text)
        self._candidate_coding = functools.lru_cache(maxsize=CACHE_ENTRIES)(self._coding_decides)

    def judge(self, resource_type: Any) -> Callable[[Any], bool]:
        """The judge of one resource type (types without a filter of their own: ``*``)."""
        judges = self._judges
        return judges.get(resource_type, judges["*"]) if type(resource_type) is str else judges["*"]

    def _candidate(self, value: Any, candidate_filter: CandidateFilter, depth: int) -> bool:
        # The hot path of reading a large record: exact types first (decoded JSON is dicts,
        # lists and strings), the abstract Mapping check only for anything else.
        if type(value) is not dict:
            if isinstance(value, str):
                return self._candidate_string(value, candidate_filter)
            if isinstance(value, list) and depth == 0:
                return any(self._candidate(v, candidate_filter, 1) for v in value)
            if not isinstance(value, Mapping):
                return False
        codings = value.get("coding")
        for coding in codings if type(codings) is list else ():
            if type(coding) is not dict and not isinstance(coding, Mapping):
                continue
            system, code, display = coding.get("system"), coding.get("code"), coding.get("display")
            if (type(system) is str and type(code) is str and type(display) is str
                    and len(system) + len(code) + len(display) <= CACHED_TEXT_CHARS):
                # The usual coding, all three strings: one memo look-up decides it.
                if self._candidate_coding(candidate_filter, system, code, display):
                    return True
            elif self._coding_decides(candidate_filter, system, code, display):
                return True
        text = value.get("text")
        if type(text) is str:
            return self._candidate_string(text, candidate_filter)
        return text is not None and self._candidate(text, candidate_filter, 1)

    def _candidate_string(self, value: str, candidate_filter: CandidateFilter) -> bool:
        text = value[:MAX_TEXT_CHARS]
        if len(text) <= CACHED_TEXT_CHARS:
            return self._candidate_text(candidate_filter, text)
        return self._search_text(candidate_filter, text)

    def _coding_decides(
        self, candidate_filter: CandidateFilter, system: Any, code: Any, display: Any
    ) -> bool:
        read = self._read_coding(system, code) if isinstance(code, str) else None
        if read is not None and candidate_filter.coded(read):
            return True
        return self._display_usable(system) and self._candidate(display, candidate_filter, 1)

    @staticmethod
    def _search_text(candidate_filter: CandidateFilter, text: str) -> bool:
        return candidate_filter.pattern.search(clean(text)) is not None


def compile_filter(
    domains: frozenset[str], pattern: re.Pattern[str], indexes: CodeIndexes
) -> CandidateFilter:
    """Take the decision of the lookup's code matching ahead for every indexed code: a coding is
    a candidate when one of its matches (codes, prefixes, behaviour) has a domain wanted."""
    wanted = _codes_wanted(indexes.codes, domains)
    return CandidateFilter(
        domains,
        pattern,
        _unconditional_codes(wanted, indexes.icdo_behaviours),
        _conditional_codes(wanted, indexes.icdo_behaviours),
        _prefixes_wanted(indexes.prefixes, domains),
        _behaviours_wanted(indexes.behaviours, domains),
    )


def _codes_wanted(
    codes: Mapping[tuple[str, str], tuple[str, ...]], domains: frozenset[str]
) -> dict[tuple[str, str], list[str]]:
    """Each indexed code with a concept of ``domains`` -> those concepts."""
    wanted = {key: [c for c in concepts if domain_of(c) in domains]
              for key, concepts in codes.items()}
    return {key: concepts for key, concepts in wanted.items() if concepts}


def _is_conditional(
    key: str, concepts: list[str], icdo_behaviours: Mapping[str, frozenset[str]]
) -> bool:
    """A bare histology key (no "/b") whose every concept stands only for some behaviours."""
    return "/" not in key and all(c in icdo_behaviours for c in concepts)


def _unconditional_codes(
    wanted: dict[tuple[str, str], list[str]], icdo_behaviours: Mapping[str, frozenset[str]]
) -> frozenset[tuple[str, str]]:
    return frozenset(code for code, concepts in wanted.items()
                     if not _is_conditional(code[1], concepts, icdo_behaviours))


def _conditional_codes(
    wanted: dict[tuple[str, str], list[str]], icdo_behaviours: Mapping[str, frozenset[str]]
) -> Mapping[tuple[str, str], frozenset[str]]:
    """Each conditional code -> every behaviour digit one of its concepts stands for."""
    return MappingProxyType({
        code: frozenset().union(*(icdo_behaviours[c] for c in concepts))
        for code, concepts in wanted.items()
        if _is_conditional(code[1], concepts, icdo_behaviours)
    })


def _prefixes_wanted(
    prefixes: Mapping[str, Mapping[int, Mapping[str, tuple[str, ...]]]], domains: frozenset[str]
) -> _Prefixes:
    """Per system, the prefixes with a concept of ``domains``, by length (longest first; a length
    with none is left out)."""
    return MappingProxyType({
        uri: tuple((length, kept) for length, rules in by_length.items()
                   if (kept := _rules_wanted(rules, domains)))
        for uri, by_length in prefixes.items()
    })


def _rules_wanted(rules: Mapping[str, tuple[str, ...]], domains: frozenset[str]) -> frozenset[str]:
    return frozenset(prefix for prefix, concepts in rules.items()
                     if any(domain_of(c) in domains for c in concepts))


def _behaviours_wanted(behaviours: Mapping[str, str], domains: frozenset[str]) -> frozenset[str]:
    return frozenset(digit for digit, concept in behaviours.items()
                     if domain_of(concept) in domains)
