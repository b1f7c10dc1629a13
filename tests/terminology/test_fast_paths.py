"""The precompiled pre-filter and the memoised lookups answer exactly as the plain code did."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from cds_service.terminology import DATA_DIR
from cds_service.terminology import Terminology
from cds_service.terminology import load_terminology
from tests.common import FIXTURES_DIR
from tests.common import shipped_terminology
from tests.terminology import reference
from tests.terminology.common import ICDO3
from tests.terminology.common import cc
from tests.terminology.common import code as code_entry
from tests.terminology.common import concept
from tests.terminology.conftest import DataWriter

RESOURCE_TYPES: list[str | None] = [
    *json.loads((DATA_DIR / "resources.json").read_text(encoding="utf-8"))["candidate_domains"],
    "Flag",  # not listed: every domain
    None,
]
_SYSTEMS = json.loads((DATA_DIR / "systems.json").read_text(encoding="utf-8"))["systems"]
SYSTEM_URIS = sorted({uri for s in _SYSTEMS.values() for uri in (s["uri"], *s.get("aliases", []))})
WORDS = [
    "no", "not", "negative", "positive", "possible", "cannot be excluded", ",", ";", ".", ":",
    "\n", "-", "/", "(", "pecoma", "sarcoma", "s-100", "cd34", "desmin", "ntrk fusion",
    "rhabdomyosarcomatous component", "thigh", "left", "mri", "ct chest", "doxorubicin",
    "sirolimus", "excision", "biopsy", "r1", "grade 3", "necrosis", "tumour", "tumor",
    "hypertension", "glucose", "heart rate", "c49.22", "8714/3", "10441-4",
]
TEXTS = st.one_of(
    st.text(max_size=60),
    st.lists(st.sampled_from(WORDS) | st.text(max_size=6), max_size=20).map(" ".join),
)
JSON: Any = st.recursive(
    st.none() | st.booleans() | st.integers() | TEXTS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["coding", "system", "code", "display", "text"]), children, max_size=4
    ),
    max_leaves=12,
)


def _shipped_codings() -> list[tuple[str, str]]:
    """Every shipped code and prefix rule, as sent and in the variants EHRs send."""
    terminology = shipped_terminology()
    codings: set[tuple[str, str]] = set()
    for domain in terminology.domains:
        for concept_id in terminology.concepts_in(domain):
            for shipped in terminology.codes(concept_id):
                code = shipped.code
                codings |= {(shipped.system, code), (shipped.system, f" {code.lower()} ")}
                codings.add((shipped.system, code.replace(".", "")))
                histology = code.split("/")[0]
                if histology.isdigit() and len(histology) == 4:  # ICD-O-3: every behaviour
                    codings |= {(shipped.system, f"{histology}/{b}") for b in "0123456789"}
                    codings |= {(shipped.system, histology), (shipped.system, f"M-{histology}3")}
    for uri, by_length in terminology._prefixes.items():
        for rules in by_length.values():
            for prefix in rules:
                codings |= {(uri, prefix), (uri, prefix + "9"), (uri, prefix + "XA"),
                            (uri, f"{prefix[:3]}.{prefix[3:]}1"), (uri, prefix[:-1])}
    # The same codes under every alias of their system, and under a system not recognised.
    aliases = {uri: [u for s in _SYSTEMS.values() if uri in (s["uri"], *s.get("aliases", []))
                     for u in (s["uri"], *s.get("aliases", []))] for uri, _ in codings}
    return sorted({(alias, code) for uri, code in codings for alias in aliases[uri] or [uri]}
                  | {("http://hospital.example.org/codes", code) for _, code in codings})


SHIPPED_CODINGS = _shipped_codings()
CODES = st.sampled_from([code for _, code in SHIPPED_CODINGS]) | TEXTS
SYSTEMS = st.sampled_from(SYSTEM_URIS) | st.sampled_from([u.upper() + "/" for u in SYSTEM_URIS])
SYSTEMS |= st.text(max_size=20)
CODING = st.fixed_dictionaries(
    {},
    optional={"system": SYSTEMS | JSON, "code": CODES | JSON, "display": TEXTS | JSON},
)
CODEABLE_CONCEPT = st.fixed_dictionaries({}, optional={"coding": st.lists(CODING, max_size=3)
                                                       | JSON, "text": TEXTS | JSON})
_DOMAIN_NAMES = sorted(shipped_terminology().domains)
DOMAINS = st.none() | st.sampled_from(_DOMAIN_NAMES) | st.lists(
    st.sampled_from([*_DOMAIN_NAMES, "unknown"]), max_size=4
)


def _fixture_values() -> list[Any]:
    """Every CodeableConcept-like object and every string of every fixture file, once each."""
    found: dict[str, Any] = {}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if "coding" in value or "text" in value:
                found.setdefault(json.dumps(value, sort_keys=True), value)
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str):
            found.setdefault(json.dumps(value), value)

    for path in sorted(FIXTURES_DIR.glob("*/*.json")):
        walk(json.loads(path.read_text(encoding="utf-8")))
    return list(found.values())


def _each_twice(term: Terminology, resource_type: Any, value: Any) -> Iterator[bool]:
    # The first call fills the memos, the second answers from them: both must agree.
    yield term.is_candidate(resource_type, value)
    yield term.is_candidate(resource_type, value)


def test_pre_filter_agrees_on_every_fixture_value() -> None:
    term = load_terminology()  # fresh memos
    values = _fixture_values()
    assert len(values) > 1000
    for resource_type in RESOURCE_TYPES:
        for value in values:
            expected = reference.is_candidate(term, resource_type, value)
            assert list(_each_twice(term, resource_type, value)) == [expected] * 2, (
                resource_type, value)


def test_pre_filter_agrees_on_every_shipped_code_and_prefix() -> None:
    term = load_terminology()
    assert len(SHIPPED_CODINGS) > 1000
    candidates = 0
    for resource_type in RESOURCE_TYPES:
        for system, code in SHIPPED_CODINGS:
            value = {"coding": [{"system": system, "code": code}]}
            expected = reference.is_candidate(term, resource_type, value)
            assert list(_each_twice(term, resource_type, value)) == [expected] * 2, (
                resource_type, system, code)
            candidates += expected
    assert candidates > 1000  # the variants do reach the codes they stand for


def test_coded_lookups_agree_on_every_shipped_code_and_prefix() -> None:
    term = load_terminology()
    for system, code in SHIPPED_CODINGS:
        assert list(term._code_matches(system, code)) == reference.code_matches(term, system, code)
        cc_value = {"coding": [{"system": system, "code": code, "display": code}]}
        assert term.match_codeable_concept(cc_value) == reference.match_codeable_concept(
            term, cc_value, None)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(RESOURCE_TYPES) | JSON, CODEABLE_CONCEPT | st.lists(CODEABLE_CONCEPT,
                                                                          max_size=3) | JSON)
def test_pre_filter_agrees_on_generated_values(
    terminology: Terminology, resource_type: Any, value: Any
) -> None:
    expected = reference.is_candidate(terminology, resource_type, value)
    assert list(_each_twice(terminology, resource_type, value)) == [expected] * 2


@settings(max_examples=300, deadline=None)
@given(TEXTS, DOMAINS)
def test_match_text_agrees_and_its_memo_cannot_be_altered(
    terminology: Terminology, text: str, domain: Any
) -> None:
    expected = reference.match_text(terminology, text, domain)
    first = terminology.match_text(text, domain=domain)
    assert first == expected  # negated and uncertain flags included
    first.clear()  # callers extend the lists they get (``matches += ...``)
    assert terminology.match_text(text, domain=domain) == expected


@settings(max_examples=300, deadline=None)
@given(CODEABLE_CONCEPT, DOMAINS)
def test_match_codeable_concept_agrees(
    terminology: Terminology, value: Any, domain: Any
) -> None:
    expected = reference.match_codeable_concept(terminology, value, domain)
    first = terminology.match_codeable_concept(value, domain=domain)
    assert first == expected
    first += first
    assert terminology.match_codeable_concept(value, domain=domain) == expected


@pytest.mark.parametrize("repeat", [1, 40, 2_000])
def test_long_texts_are_read_like_short_ones(terminology: Terminology, repeat: int) -> None:
    # Short strings go through the memos, long ones are read afresh: same answers either way.
    text = "Hypertension. " * repeat + "No PEComa; possible necrosis, S-100 negative."
    for domain in (None, "entity", ("finding", "ihc")):
        expected = reference.match_text(terminology, text, domain)
        assert terminology.match_text(text, domain=domain) == expected
        assert terminology.match_text(text, domain=domain) == expected
    for resource_type in RESOURCE_TYPES:
        value = cc(("http://snomed.info/sct", "38341003", text), text=text)
        expected_candidate = reference.is_candidate(terminology, resource_type, value)
        assert list(_each_twice(terminology, resource_type, value)) == [expected_candidate] * 2


def test_memos_belong_to_their_terminology(write_data: DataWriter) -> None:
    # A value set without sarcoma must not inherit the shipped terminology's answers.
    shipped = load_terminology()
    assert shipped.is_candidate("Condition", "sarcoma")
    assert shipped.match_text("sarcoma")
    small = load_terminology(write_data(
        {"Condition": ["entity"]},
        entities={"entity/lipoma": concept("Lipoma", synonyms=["lipoma"])},
    ))
    assert not small.is_candidate("Condition", "sarcoma")
    assert small.match_text("sarcoma") == []
    assert [m.concept for m in small.match_text("lipoma")] == ["entity/lipoma"]


def test_memos_stay_bounded() -> None:
    term = load_terminology()
    for i in range(10_000):
        term.is_candidate("Observation", {"coding": [
            {"system": "http://loinc.org", "code": f"{i}-0", "display": f"Lab {i}"}
        ], "text": f"Lab {i}"})
        term.match_text(f"finding {i}")
    for memo in (term._read_coding, term._prefilter._candidate_coding,
                 term._prefilter._candidate_text, term._cached_text_matches):
        assert memo.cache_info().currsize <= 2048


def test_threads_share_one_terminology() -> None:
    term = load_terminology()
    texts = [f"Lab {i % 50}: S-100 negative, no PEComa" for i in range(400)]
    expected = [reference.match_text(term, t, None) for t in texts[:50]]
    errors: list[str] = []

    def work() -> None:
        for i, text in enumerate(texts):
            if term.match_text(text) != expected[i % 50]:
                errors.append(text)
            if not term.is_candidate("Observation", text):
                errors.append(text)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


@pytest.mark.parametrize("system", [*SYSTEM_URIS, "http://hospital.example.org/codes", None])
def test_pre_filter_reads_displays_only_where_the_system_allows(
    terminology: Terminology, system: str | None
) -> None:
    # HGNC displays are unreliable and never read as text; other systems' displays are.
    value = {"coding": [{"system": system, "code": "0", "display": "Leiomyosarcoma of thigh"}]}
    for resource_type in RESOURCE_TYPES:
        expected = reference.is_candidate(terminology, resource_type, value)
        assert list(_each_twice(terminology, resource_type, value)) == [expected] * 2
    unreliable = {uri for s in _SYSTEMS.values() if s.get("match_display") is False
                  for uri in (s["uri"], *s.get("aliases", []))}
    assert unreliable and terminology.is_candidate("Condition", value) is (system not in unreliable)


def test_pre_filter_agrees_on_icdo_behaviour_restrictions(write_data: DataWriter) -> None:
    # Bare histology codes of a restricted concept stand for its behaviours only; codes written
    # with a behaviour stand for themselves; other domains sharing the code are unrestricted.
    term = load_terminology(write_data(
        {"Condition": ["entity"], "Observation": ["finding"]},
        entities={
            "entity/x": concept(codes=[code_entry(ICDO3, "8811"), code_entry(ICDO3, "8811/0")],
                                attributes={"icdo_behaviours": ["3", "6"]}),
            "entity/y": concept(codes=[code_entry(ICDO3, "8890")],
                                attributes={"icdo_behaviours": ["1"]}),
            "finding/z": concept(codes=[code_entry(ICDO3, "8890")]),
        },
    ))
    codes = [f"{h}{s}" for h in ("8811", "8890", "M-8811") for s in ("", *(f"/{b}" for b in
                                                                         "0123456789"))]
    decided = {}
    for resource_type in RESOURCE_TYPES:
        for value in codes:
            coding = cc((ICDO3, value))
            expected = reference.is_candidate(term, resource_type, coding)
            assert list(_each_twice(term, resource_type, coding)) == [expected] * 2
            matched = list(term._code_matches(ICDO3, value))
            assert matched == reference.code_matches(term, ICDO3, value)
            decided[(resource_type, value)] = expected
    assert [decided[("Condition", f"8811/{b}")] for b in "0136"] == [True, False, True, True]
    assert [decided[("Condition", f"8890/{b}")] for b in "013"] == [False, True, False]
    assert decided[("Observation", "8890/3")] and not decided[("Observation", "8811/3")]
