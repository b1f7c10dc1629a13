"""Property tests: arbitrary text and JSON never crash the lookups, and matches stay consistent."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from cds_service.terminology import Terminology

WORDS = sorted(
    {
        "no",
        "not",
        "negative",
        "positive",
        ",",
        ";",
        ".",
        ":",
        "pecoma",
        "s-100",
        "rhabdomyosarcomatous component",
        "ntrk fusion",
        "c49.22",
        "8714/3",
        "absent",
        "without",
        "but",
        "cannot be excluded",
        "\n",
        "-",
        "/",
        "::",
        "(",
        ")",
    }
)
TEXTS = st.one_of(
    st.text(max_size=200),
    st.lists(st.sampled_from(WORDS) | st.text(max_size=8), max_size=30).map(" ".join),
)
JSON: Any = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXTS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["coding", "system", "code", "display", "text", "x"]),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)
SYSTEMS = st.sampled_from(
    [
        "http://snomed.info/sct",
        "http://hl7.org/fhir/sid/icd-10-cm",
        "http://terminology.hl7.org/CodeSystem/icd-o-3",
        "http://www.genenames.org",
        "http://loinc.org",
        "urn:oid:2.16.840.1.113883.6.88",
    ]
) | st.text(max_size=20)


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_match_text_never_crashes_and_points_into_the_text(
    terminology: Terminology, text: str
) -> None:
    for match in terminology.match_text(text):
        assert match.via == "text" and match.matched and match.matched in text
        assert terminology.display(match.concept)


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_match_codeable_concept_never_crashes(terminology: Terminology, value: Any) -> None:
    for match in terminology.match_codeable_concept(value):
        assert match.via in {"code", "prefix", "text"}
    assert isinstance(terminology.is_candidate("Condition", value), bool)
    assert isinstance(terminology.is_candidate(value, value), bool)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries({"system": SYSTEMS, "code": TEXTS, "display": TEXTS}), max_size=3
    ),
    TEXTS,
)
def test_codings_never_crash_and_agree(
    terminology: Terminology, codings: list[dict[str, str]], text: str
) -> None:
    matches = terminology.match_codeable_concept({"coding": codings, "text": text})
    coded = set().union(*(terminology.concepts_for_coding(c["system"], c["code"]) for c in codings))
    assert coded <= {m.concept for m in matches if m.via != "text"}
    if coded:
        assert terminology.is_candidate("Unlisted", {"coding": codings})


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_morphology_never_crashes(terminology: Terminology, code: str) -> None:
    morphology = terminology.morphology(code)
    if morphology is not None:
        assert len(morphology.histology) == 4 and morphology.histology.isdigit()
