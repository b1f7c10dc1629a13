"""The lookup decisions as written before they were precompiled and memoised, as test oracles."""

from __future__ import annotations

import re
from collections.abc import Collection
from collections.abc import Mapping
from typing import Any

from cds_service.terminology import MAX_TEXT_CHARS
from cds_service.terminology import Match
from cds_service.terminology import Terminology
from cds_service.terminology.codes import lookup_keys
from cds_service.terminology.codes import parse_icdo
from cds_service.terminology.codes import system_key
from cds_service.terminology.models import CodeForm
from cds_service.terminology.text import clean

# The code below is the pre-change code of ``lookup.py`` (``is_candidate``, ``_candidate``,
# ``_code_matches``, ``_text_matches``, ``_unique``), run on the terminology's own indexes: the
# precompiled filters and the memos must give exactly its answers.


def is_candidate(term: Terminology, resource_type: Any, value: Any) -> bool:
    """The pre-filter decision, computed afresh without precompiled sets or memos."""
    filters = term._prefilter._filters
    candidate_filter = filters.get(
        resource_type if isinstance(resource_type, str) else "", filters["*"]
    )
    return _candidate(term, value, candidate_filter.domains, candidate_filter.pattern, 0)


def match_text(term: Terminology, text: Any, domain: str | Collection[str] | None) -> list[Match]:
    """``Terminology.match_text`` computed afresh, without the memo."""
    if not isinstance(text, str):
        return []
    return _unique(text_matches(term, text, _domain_set(term, domain)))


def match_codeable_concept(
    term: Terminology, cc: Any, domain: str | Collection[str] | None
) -> list[Match]:
    """``Terminology.match_codeable_concept`` computed afresh, without the memos."""
    if not isinstance(cc, Mapping):
        return []
    domains = _domain_set(term, domain)
    found: list[Match] = []
    codings = cc.get("coding")
    for coding in codings if isinstance(codings, list) else ():
        if not isinstance(coding, Mapping):
            continue
        system, code = coding.get("system"), coding.get("code")
        found += [m for m in code_matches(term, system, code) if _domain(m) in domains]
        display = coding.get("display")
        if isinstance(display, str) and _display_usable(term, system):
            info = term._systems.get(system_key(system)) if isinstance(system, str) else None
            canonical = info.uri if info else None
            raw = code.strip() if isinstance(code, str) else None
            found += [
                Match(m.concept, "text", m.negated, canonical, raw, m.matched, m.uncertain)
                for m in text_matches(term, display, domains)
            ]
    text = cc.get("text")
    if isinstance(text, str):
        found += text_matches(term, text, domains)
    rank = {"code": 0, "prefix": 1, "text": 2}
    return _unique(sorted(found, key=lambda m: rank[m.via]))


def _candidate(
    term: Terminology, value: Any, domains: frozenset[str], pattern: re.Pattern[str], depth: int
) -> bool:
    if isinstance(value, str):
        return pattern.search(clean(value[:MAX_TEXT_CHARS])) is not None
    if isinstance(value, list) and depth == 0:
        return any(_candidate(term, v, domains, pattern, 1) for v in value)
    if not isinstance(value, Mapping):
        return False
    codings = value.get("coding")
    for coding in codings if isinstance(codings, list) else ():
        if isinstance(coding, Mapping):
            matches = code_matches(term, coding.get("system"), coding.get("code"))
            if any(_domain(m) in domains for m in matches):
                return True
            display = coding.get("display")
            usable = _display_usable(term, coding.get("system"))
            if usable and _candidate(term, display, domains, pattern, 1):
                return True
    return _candidate(term, value.get("text"), domains, pattern, 1)


def code_matches(term: Terminology, system: Any, code: Any) -> list[Match]:
    """The matches of one coding by code, prefix and ICD-O-3 behaviour."""
    if not isinstance(system, str) or not isinstance(code, str):
        return []
    info = term._systems.get(system_key(system))
    keys = lookup_keys(info.form, code) if info else ()
    if info is None or not keys:
        return []
    raw = code.strip()
    found: list[Match] = []
    taken: set[str] = set()
    digit = parse_icdo(raw) if info.form is CodeForm.ICDO3 else None
    for key in keys:
        hits = [c for c in term._codes.get((info.uri, key), ())
                if _domain_of(c) not in taken
                and term._behaviour_fits(c, key, digit.behaviour if digit else None)]
        found += [Match(c, "code", False, info.uri, raw) for c in hits]
        taken.update(_domain_of(c) for c in hits)
    for length, rules in term._prefixes.get(info.uri, {}).items():
        for concept in rules.get(keys[0][:length], ()):
            if _domain_of(concept) not in taken:
                found.append(Match(concept, "prefix", False, info.uri, raw))
                taken.add(_domain_of(concept))
    if digit is not None:
        behaviour = term._behaviours.get(digit.behaviour) if digit.behaviour else None
        if behaviour:
            found.append(Match(behaviour, "code", False, info.uri, raw))
    return found


def text_matches(term: Terminology, text: str, domains: frozenset[str]) -> list[Match]:
    """Every synonym found in ``text`` for ``domains``, with its negation and hedge flags."""
    text = text[:MAX_TEXT_CHARS]
    cleaned = clean(text)
    scope = None
    found: list[Match] = []
    for domain in sorted(domains & term._domains):
        for concept, start, end in term._matchers[domain].find(cleaned):
            scope = scope or term._negation.scan(cleaned)
            found.append(Match(concept, "text", scope.is_negated(start, end), None, None,
                               text[start:end], scope.is_uncertain(start, end)))
    return found


def _display_usable(term: Terminology, system: Any) -> bool:
    info = term._systems.get(system_key(system)) if isinstance(system, str) else None
    return info is None or info.match_display


def _domain_set(term: Terminology, domain: str | Collection[str] | None) -> frozenset[str]:
    if domain is None:
        return term.domains
    return frozenset([domain] if isinstance(domain, str) else domain)


def _domain_of(concept: str) -> str:
    return concept.partition("/")[0]


def _domain(match: Match) -> str:
    return _domain_of(match.concept)


def _unique(matches: list[Match]) -> list[Match]:
    out: dict[tuple[str, bool], Match] = {}
    for match in matches:
        key = (match.concept, match.negated)
        if key not in out or (out[key].uncertain and not match.uncertain):
            out[key] = match
    return list(out.values())
