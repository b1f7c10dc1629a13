"""The loader: shipped data loads; bad content is refused with the file and concept named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cds_service.terminology import DATA_DIR
from cds_service.terminology import Terminology
from cds_service.terminology import TerminologyError
from cds_service.terminology import load_terminology
from tests.terminology.common import ICD10CM
from tests.terminology.common import ICDO3
from tests.terminology.common import LOINC
from tests.terminology.common import RXNORM
from tests.terminology.common import SNOMED
from tests.terminology.common import code
from tests.terminology.common import concept
from tests.terminology.conftest import DataWriter

GOOD_SNOMED = code(SNOMED, "399409002", "MC")


def _problems(root: Path) -> tuple[str, ...]:
    with pytest.raises(TerminologyError) as error:
        load_terminology(root)
    return error.value.problems


def test_shipped_data_loads(terminology: Terminology) -> None:
    expected = {"entity", "finding", "drug", "proc", "img", "ihc", "gene", "test", "site", "value"}
    assert expected <= terminology.domains


def test_default_path_is_the_package_data() -> None:
    assert (DATA_DIR / "systems.json").is_file()
    assert sorted(p.name for p in (DATA_DIR / "valuesets").glob("*.json"))


def test_a_small_valid_tree_loads(write_data: DataWriter) -> None:
    root = write_data(findings={"finding/x": concept(codes=[GOOD_SNOMED], synonyms=["ex"])})
    loaded = load_terminology(root)
    assert loaded.concepts_for_coding(SNOMED, "399409002") == {"finding/x"}


def test_missing_display_is_refused(write_data: DataWriter) -> None:
    root = write_data(findings={"finding/x": {"codes": [GOOD_SNOMED]}})
    problems = _problems(root)
    assert any("findings.json" in p and "finding/x" in p and "display" in p for p in problems)


def test_unknown_system_alias_is_refused(write_data: DataWriter) -> None:
    bad = code("urn:oid:9.9.9", "123", "MC")
    problems = _problems(write_data(findings={"finding/x": concept(codes=[bad])}))
    assert problems == (
        "findings.json: finding/x: unknown code system 'urn:oid:9.9.9' (not in systems.json)",
    )


def test_system_alias_is_accepted_and_normalised(write_data: DataWriter) -> None:
    alias = code("urn:oid:2.16.840.1.113883.6.96", "399409002", "MC")
    loaded = load_terminology(write_data(findings={"finding/x": concept(codes=[alias])}))
    assert loaded.codes("finding/x")[0].system == SNOMED


def test_duplicate_code_in_one_domain_is_refused(write_data: DataWriter) -> None:
    root = write_data(
        findings={"finding/a": concept(codes=[GOOD_SNOMED])},
        more={"finding/b": concept(codes=[GOOD_SNOMED])},
    )
    assert any("finding/b" in p and "already maps to finding/a" in p for p in _problems(root))


def test_duplicate_code_flagged_shared_on_both_is_accepted(write_data: DataWriter) -> None:
    shared = {**GOOD_SNOMED, "shared": True}
    root = write_data(
        findings={"finding/a": concept(codes=[shared]), "finding/b": concept(codes=[shared])}
    )
    assert load_terminology(root).concepts_for_coding(SNOMED, "399409002") == {
        "finding/a",
        "finding/b",
    }


def test_same_code_in_two_domains_is_accepted(write_data: DataWriter) -> None:
    root = write_data(
        findings={"finding/a": concept(codes=[GOOD_SNOMED])},
        values={"value/a": concept(codes=[GOOD_SNOMED])},
    )
    assert load_terminology(root).concepts_for_coding(SNOMED, "399409002") == {
        "finding/a",
        "value/a",
    }


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            code(SNOMED, "385389009", "MC"),
            "Verhoeff",
        ),  # terminology.md: dropped for its check digit
        (code(LOINC, "21889-2", "MC"), "mod-10"),
        (code(ICD10CM, "C4", "CM"), "not a icd10cm code"),
        (code(RXNORM, "RX35302", "CIB"), "not a rxnorm code"),
        (code("http://www.genenames.org", "NTRK3", "MC"), "not a hgnc code"),
        (code(SNOMED, "399409002", "SOMEWHERE"), "unknown source key"),
    ],
)
def test_bad_codes_are_refused(write_data: DataWriter, entry: dict[str, Any], message: str) -> None:
    problems = _problems(write_data(findings={"finding/x": concept(codes=[entry])}))
    assert len(problems) == 1 and message in problems[0] and "finding/x" in problems[0]


def test_every_schema_problem_is_reported_at_once(write_data: DataWriter) -> None:
    root = write_data(
        findings={"finding/b": {"synonyms": ["bee"]}, "Bad Id": concept(synonyms=["x"])},
        values={"value/c": concept(synonyms=["c"], codes="none")},
    )
    problems = _problems(root)
    assert len(problems) == 3
    assert sum(p.startswith("findings.json: ") for p in problems) == 2


def test_every_content_problem_is_reported_at_once(write_data: DataWriter) -> None:
    root = write_data(
        findings={
            "finding/a": concept(codes=[code(SNOMED, "385389009", "MC")]),
            "finding/b": concept(codes=[code(SNOMED, "277751004", "MC")]),
            "finding/c": concept(synonyms=["ex"], attributes={"parent": "finding/zzz"}),
        }
    )
    problems = _problems(root)
    assert [p.split(":")[1].strip() for p in problems] == ["finding/a", "finding/b", "finding/c"]


def test_invalid_json_names_the_file_and_line(write_data: DataWriter) -> None:
    problems = _problems(write_data(broken='{"description": "x",\n "concepts": {,}}'))
    assert problems == (
        "broken.json: invalid JSON at line 2: Expecting property name enclosed in double quotes",
    )


def test_missing_top_level_file_is_refused(write_data: DataWriter) -> None:
    root = write_data(findings={"finding/x": concept(synonyms=["ex"])})
    (root / "language.json").unlink()
    assert any(p.startswith("language.json: cannot be read") for p in _problems(root))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"synonyms": ["Upper Case"]}, "lower case"),
        ({"synonyms": ["ex", "ex"]}, "already recognises finding/x"),
        (
            {"synonyms": ["tumour", "tumor"]},
            "already recognises",
        ),  # spelling variants are automatic
        ({"synonyms": ["s-100", "s 100"]}, "already recognises"),  # so are hyphen/space variants
        ({}, "no code, prefix or synonym"),
        ({"synonyms": ["ex"], "extra": 1}, "Extra inputs are not permitted"),
        ({"synonyms": ["ex"], "attributes": {"parent": "finding/nowhere"}}, "unknown concept"),
        (
            {
                "synonyms": ["ex"],
                "attributes": {
                    "order": {"default": {"codes": [{"system": SNOMED, "code": "52101004"}]}}
                },
            },
            "is not shipped",
        ),
        (
            {"prefixes": [{"system": ICD10CM, "prefix": "?", "source": "CM"}]},
            "not a icd10cm prefix",
        ),
    ],
)
def test_bad_concepts_are_refused(
    write_data: DataWriter, fields: dict[str, Any], message: str
) -> None:
    problems = _problems(write_data(findings={"finding/x": concept(**fields)}))
    assert any(message in p for p in problems), problems


def test_closed_attribute_vocabularies_are_checked(write_data: DataWriter) -> None:
    root = write_data(drugs={"drug/x": concept(synonyms=["x"], attributes={"class": "antibiotic"})})
    assert any("attribute class='antibiotic' is not one of" in p for p in _problems(root))


def test_concept_defined_in_two_files_is_refused(write_data: DataWriter) -> None:
    root = write_data(
        a={"finding/x": concept(synonyms=["ex"])}, b={"finding/x": concept(synonyms=["why"])}
    )
    assert any("b.json: finding/x: already defined in a.json" in p for p in _problems(root))


def test_unknown_domain_in_resources_is_refused(write_data: DataWriter) -> None:
    root = write_data(
        resources={"Condition": ["nowhere"]}, a={"finding/x": concept(synonyms=["ex"])}
    )
    assert any("resources.json: Condition: unknown domains nowhere" in p for p in _problems(root))


def test_shipped_files_are_valid_json_objects_with_descriptions() -> None:
    for path in sorted((DATA_DIR / "valuesets").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        assert data["description"] and data["concepts"], path.name


def test_attributes_are_read_only(terminology: Terminology) -> None:
    attributes = terminology.attributes("proc/splint")
    with pytest.raises(TypeError):
        attributes["fixation"] = "internal"  # type: ignore[index]
    order = attributes["order"]["default"]
    with pytest.raises(TypeError):
        order["codes"] = ()  # type: ignore[index]
    assert isinstance(order["codes"], tuple)


@pytest.mark.parametrize("value", [["4"], [3], [], "3"])
def test_icdo_behaviours_must_be_behaviour_digits(write_data: DataWriter, value: Any) -> None:
    root = write_data(entities={"entity/x": concept(synonyms=["ex"],
                                                    attributes={"icdo_behaviours": value})})
    assert any("icdo_behaviours must list ICD-O-3 behaviour digits" in p for p in _problems(root))


def test_icdo_behaviours_restrict_bare_histology_codes(write_data: DataWriter) -> None:
    root = write_data(entities={
        "entity/x": concept(codes=[code(ICDO3, "8811")], attributes={"icdo_behaviours": ["3"]}),
        "entity/y": concept(codes=[code(ICDO3, "8811/0")]),
    })
    terminology = load_terminology(root)
    assert [getattr(terminology.morphology(v), "entity", None)
            for v in ("8811/3", "8811/0", "8811/1", "8811")] == [
        "entity/x", "entity/y", None, "entity/x"]
