"""Index building: turns validated data-file models into the lookup indexes, noting each problem."""

from __future__ import annotations

import re
from collections import defaultdict
from types import MappingProxyType
from typing import Any

from cds_service.terminology.codes import normalise_code
from cds_service.terminology.codes import parse_icdo
from cds_service.terminology.codes import shape_problem
from cds_service.terminology.codes import system_key
from cds_service.terminology.lookup import Terminology
from cds_service.terminology.models import CONCEPT_ID
from cds_service.terminology.models import CodeForm
from cds_service.terminology.models import CodeRef
from cds_service.terminology.models import Concept
from cds_service.terminology.models import DrugClass
from cds_service.terminology.models import EntityKey
from cds_service.terminology.models import LanguageFile
from cds_service.terminology.models import Region
from cds_service.terminology.models import ResourcesFile
from cds_service.terminology.models import SystemsFile
from cds_service.terminology.negation import Negation
from cds_service.terminology.records import ConceptCode
from cds_service.terminology.records import ConceptInfo
from cds_service.terminology.records import SystemInfo
from cds_service.terminology.text import PhraseMatcher
from cds_service.terminology.text import Spelling
from cds_service.terminology.text import phrase_key
from cds_service.terminology.text import phrase_pattern
from cds_service.terminology.text import whole_words

_ICD10_PREFIX = re.compile(r"^[A-Z][0-9A-Z]{0,6}$")  # a letter alone: a chapter (C = C00-C96)
_ICDO_BEHAVIOUR_DIGITS = frozenset("012369")
# Closed vocabularies of the attributes rules branch on, checked per domain.
_ENUM_ATTRIBUTES = {
    ("drug", "class"): DrugClass,
    ("entity", "entity"): EntityKey,
    ("site", "region"): Region,
}


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


class IndexBuilder:
    """Accumulates concepts and indexes, recording problems instead of stopping at the first."""

    def __init__(self, systems: SystemsFile, language: LanguageFile, problems: list[str]) -> None:
        """Start from the code systems and language model; ``problems`` collects every failure."""
        self.problems = problems
        self.sources = set(systems.sources) | {"project"}
        self.systems: dict[str, SystemInfo] = {}
        for name, system in systems.systems.items():
            info = SystemInfo(system.uri, system.form, system.match_display)
            for uri in (system.uri, *system.aliases):
                if system_key(uri) in self.systems:
                    problems.append(f"systems.json: {name}: {uri} is already another system's")
                self.systems[system_key(uri)] = info
        self.spelling = Spelling(language.spelling)
        self.language = language
        self.concepts: dict[str, ConceptInfo] = {}
        self.origin: dict[str, str] = {}
        self.codes: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.shared: set[tuple[str, str, str]] = set()
        self.prefixes: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        self.phrases: dict[str, dict[str, tuple[str, str]]] = defaultdict(dict)
        self.references: list[tuple[str, str, str]] = []
        self.attribute_codes: list[tuple[str, str, str]] = []

    def add(self, file: str, concept_id: str, concept: Concept) -> None:
        """Index one concept of value-set ``file``: its codes, prefixes, synonyms and attributes."""
        where = f"{file}: {concept_id}"
        if concept_id in self.origin:
            self.problems.append(f"{where}: already defined in {self.origin[concept_id]}")
            return
        self.origin[concept_id] = file
        domain = concept_id.partition("/")[0]
        if not (concept.codes or concept.prefixes or concept.synonyms):
            self.problems.append(f"{where}: has no code, prefix or synonym to recognise it by")
        codes = tuple(self._add_code(where, concept_id, ref) for ref in concept.codes)
        for rule in concept.prefixes:
            self._add_prefix(where, concept_id, rule.system, rule.prefix, rule.source)
        for synonym in concept.synonyms:
            self._add_synonym(where, domain, concept_id, synonym)
        self._check_attributes(where, domain, concept.attributes)
        self.concepts[concept_id] = ConceptInfo(
            concept.display, _freeze(concept.attributes), tuple(c for c in codes if c)
        )

    def _system(self, where: str, uri: str) -> SystemInfo | None:
        info = self.systems.get(system_key(uri))
        if info is None:
            self.problems.append(f"{where}: unknown code system {uri!r} (not in systems.json)")
        return info

    def _source(self, where: str, source: str) -> None:
        # "KEY", "KEY:detail" or several of those joined by "; ".
        keys = [part.strip().partition(":")[0] for part in source.split(";")]
        if not all(key in self.sources for key in keys):
            self.problems.append(f"{where}: unknown source key in {source!r}")

    def _add_code(self, where: str, concept_id: str, ref: CodeRef) -> ConceptCode | None:
        self._source(where, ref.source)
        info = self._system(where, ref.system)
        if info is None:
            return None
        problem = shape_problem(info.form, ref.code)
        if problem is None and info.form is CodeForm.ICDO3 and parse_icdo(ref.code) is None:
            problem = f"{ref.code!r} is not an ICD-O-3 morphology code"
        key = normalise_code(info.form, ref.code)
        if problem or key is None:
            self.problems.append(f"{where}: {problem}")
            return None
        domain = concept_id.partition("/")[0]
        index = self.codes[(info.uri, key)]
        clash = [c for c in index if c.partition("/")[0] == domain]
        if clash and not (ref.shared and (info.uri, key, clash[0]) in self.shared):
            self.problems.append(f"{where}: code {ref.code} already maps to {clash[0]}")
        if ref.shared:
            self.shared.add((info.uri, key, concept_id))
        index.append(concept_id)
        return ConceptCode(info.uri, ref.code, ref.display, ref.status)

    def _add_prefix(self, where: str, concept_id: str, uri: str, prefix: str, source: str) -> None:
        self._source(where, source)
        info = self._system(where, uri)
        if info is None:
            return
        if info.form is CodeForm.ICD10CM:
            key: str | None = prefix.replace(".", "").strip().upper()
            key = key if key and _ICD10_PREFIX.match(key) else None
        else:
            key = normalise_code(info.form, prefix)
        if key is None:
            self.problems.append(f"{where}: prefix {prefix!r} is not a {info.form.value} prefix")
            return
        rules = self.prefixes[info.uri][key]
        domain = concept_id.partition("/")[0]
        clash = [c for c in rules if c.partition("/")[0] == domain]
        if clash:
            self.problems.append(f"{where}: prefix {prefix} already maps to {clash[0]}")
        rules.append(concept_id)

    def _add_synonym(self, where: str, domain: str, concept_id: str, synonym: str) -> None:
        key = phrase_key(synonym, self.spelling)
        if not key:
            self.problems.append(f"{where}: synonym {synonym!r} has no word in it")
            return
        earlier = self.phrases[domain].get(key)
        if earlier is not None:
            self.problems.append(
                f"{where}: synonym {synonym!r} already recognises {earlier[1]} ({earlier[0]!r})"
            )
            return
        self.phrases[domain][key] = (synonym, concept_id)

    def _check_attributes(self, where: str, domain: str, attributes: dict[str, Any]) -> None:
        for (enum_domain, name), enum in _ENUM_ATTRIBUTES.items():
            value = attributes.get(name)
            if domain == enum_domain and value is not None and value not in set(enum):
                self.problems.append(
                    f"{where}: attribute {name}={value!r} is not one of {', '.join(enum)}"
                )
        if "rank" in attributes and not isinstance(attributes["rank"], int):
            self.problems.append(f"{where}: attribute rank must be an integer")
        behaviours = attributes.get("icdo_behaviours")
        if behaviours is not None and not (
            isinstance(behaviours, list)
            and behaviours
            and all(isinstance(b, str) and b in _ICDO_BEHAVIOUR_DIGITS for b in behaviours)
        ):
            self.problems.append(
                f"{where}: attribute icdo_behaviours must list ICD-O-3 behaviour digits "
                f"({', '.join(sorted(_ICDO_BEHAVIOUR_DIGITS))})"
            )
        self.references += [(where, name, value) for name, value in _strings(attributes)]
        self.attribute_codes += [(where, system, code) for system, code in _codings(attributes)]

    def check_references(self) -> None:
        """Check, once every concept is in, that attributes name real concepts and shipped codes."""
        domains = {c.partition("/")[0] for c in self.concepts}
        for where, name, value in self.references:
            looks_like_id = CONCEPT_ID.match(value) and value.partition("/")[0] in domains
            if looks_like_id and value not in self.concepts:
                self.problems.append(f"{where}: attribute {name} names unknown concept {value!r}")
        # Codes a suggestion would emit must be shipped (and so shape-checked) codes.
        for where, system, code in self.attribute_codes:
            info = self.systems.get(system_key(system))
            key = normalise_code(info.form, code) if info else None
            if info is None or key is None or (info.uri, key) not in self.codes:
                self.problems.append(f"{where}: attribute code {system}|{code} is not shipped")

    def build(self, resources: ResourcesFile) -> Terminology:
        """Compile the phrase matchers and candidate filters and return the lookup API."""
        matchers = {
            domain: PhraseMatcher.build(
                (key, phrase_pattern(synonym, self.spelling), concept)
                for key, (synonym, concept) in phrases.items()
            )
            for domain, phrases in self.phrases.items()
        }
        for domain in {c.partition("/")[0] for c in self.concepts} - set(matchers):
            matchers[domain] = PhraseMatcher.build(())
        candidates = {"*": self._candidate(set(matchers))}
        for resource_type, domains in resources.candidate_domains.items():
            unknown = set(domains) - set(matchers)
            if unknown:
                self.problems.append(
                    f"resources.json: {resource_type}: unknown domains {', '.join(sorted(unknown))}"
                )
            candidates[resource_type] = self._candidate(set(domains) & set(matchers))
        behaviours = {}
        for concept_id, info in self.concepts.items():
            digit = info.attributes.get("icdo_behaviour")
            if isinstance(digit, str):
                behaviours[digit] = concept_id
        return Terminology(
            concepts=MappingProxyType(self.concepts),
            systems=MappingProxyType(self.systems),
            codes=MappingProxyType({k: tuple(v) for k, v in self.codes.items()}),
            prefixes=MappingProxyType(
                {uri: _by_length(rules) for uri, rules in self.prefixes.items()}
            ),
            matchers=MappingProxyType(matchers),
            negation=Negation(self.language, self.spelling),
            candidates=MappingProxyType(candidates),
            behaviours=MappingProxyType(behaviours),
        )

    def _candidate(self, domains: set[str]) -> tuple[frozenset[str], re.Pattern[str]]:
        patterns = [
            phrase_pattern(synonym, self.spelling)
            for domain in sorted(domains)
            for _, (synonym, _) in sorted(self.phrases.get(domain, {}).items())
        ]
        return frozenset(domains), re.compile(whole_words(patterns), re.IGNORECASE)


def _by_length(rules: dict[str, list[str]]) -> dict[int, dict[str, tuple[str, ...]]]:
    # Longest prefixes first: within a domain the longest matching prefix wins.
    lengths = sorted({len(prefix) for prefix in rules}, reverse=True)
    return {n: {k: tuple(v) for k, v in rules.items() if len(k) == n} for n in lengths}


def _codings(value: Any) -> list[tuple[str, str]]:
    if isinstance(value, list):
        return [item for sub in value for item in _codings(sub)]
    if not isinstance(value, dict):
        return []
    found = [item for sub in value.values() for item in _codings(sub)]
    system, code = value.get("system"), value.get("code")
    if isinstance(system, str) and isinstance(code, str):
        found.append((system, code))
    return found


def _strings(value: Any, name: str = "") -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(name, value)]
    if isinstance(value, dict):
        return [item for key, sub in value.items() for item in _strings(sub, key)]
    if isinstance(value, list):
        return [item for sub in value for item in _strings(sub, name)]
    return []
