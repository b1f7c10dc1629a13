"""Code shapes and check digits: the algorithms, and every code shipped in the value sets."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from cds_service.terminology import DATA_DIR
from cds_service.terminology.codes import loinc_check_digit
from cds_service.terminology.codes import lookup_keys
from cds_service.terminology.codes import normalise_code
from cds_service.terminology.codes import parse_icdo
from cds_service.terminology.codes import system_key
from cds_service.terminology.codes import verhoeff_valid
from cds_service.terminology.models import CodeForm
from tests.terminology.common import CPT
from tests.terminology.common import HGNC
from tests.terminology.common import ICD10CM
from tests.terminology.common import ICDO3
from tests.terminology.common import LOINC
from tests.terminology.common import NCIT
from tests.terminology.common import RXNORM
from tests.terminology.common import SNOMED


def _shipped() -> list[tuple[str, str, str]]:
    rows = []
    for path in sorted((DATA_DIR / "valuesets").glob("*.json")):
        concepts: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))["concepts"]
        for concept_id, concept in concepts.items():
            rows += [(concept_id, c["system"], c["code"]) for c in concept.get("codes", [])]
            rows += [(concept_id, p["system"], p["prefix"]) for p in concept.get("prefixes", [])]
    return rows


SHIPPED = _shipped()


def _of(system: str) -> list[tuple[str, str]]:
    return [(concept, value) for concept, sys, value in SHIPPED if sys == system]


@pytest.mark.parametrize("sctid", ["363346000", "7771000", "24028007", "399409002", "1163022006"])
def test_verhoeff_accepts_real_snomed_ids(sctid: str) -> None:
    assert verhoeff_valid(sctid)


@pytest.mark.parametrize("sctid", ["385389009", "277751004", "363346001", "7771001"])
def test_verhoeff_rejects_bad_check_digits(sctid: str) -> None:
    # The first two are the candidates terminology.md dropped for failing the check digit.
    assert not verhoeff_valid(sctid)


@pytest.mark.parametrize(
    ("number", "check"), [("21889", 1), ("33728", 7), ("10441", 4), ("93808", 4)]
)
def test_loinc_mod10(number: str, check: int) -> None:
    assert loinc_check_digit(number) == check


@pytest.mark.parametrize(("concept", "sctid"), _of(SNOMED))
def test_shipped_snomed_ids_pass_verhoeff(concept: str, sctid: str) -> None:
    assert re.fullmatch(r"[1-9][0-9]{5,17}", sctid) and verhoeff_valid(sctid), concept


@pytest.mark.parametrize(("concept", "loinc"), _of(LOINC))
def test_shipped_loinc_codes_pass_mod10(concept: str, loinc: str) -> None:
    match = re.fullmatch(r"(LA)?([0-9]+)-([0-9])", loinc)
    assert match, concept
    if match.group(1) is None:  # LA answer codes carry no check digit of this kind
        assert loinc_check_digit(match.group(2)) == int(match.group(3)), concept


@pytest.mark.parametrize(("concept", "icd"), _of(ICD10CM))
def test_shipped_icd10cm_codes_and_prefixes_have_the_shape(concept: str, icd: str) -> None:
    # A letter alone is a chapter prefix (C = C00-C96; A and B = infectious diseases).
    assert re.fullmatch(r"[A-Z]|[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{0,4})?", icd), concept


@pytest.mark.parametrize(("concept", "morphology"), _of(ICDO3))
def test_shipped_icdo_codes_have_the_shape(concept: str, morphology: str) -> None:
    assert re.fullmatch(r"[0-9]{4}(/[0-9])?", morphology), concept


@pytest.mark.parametrize(("concept", "rxcui"), _of(RXNORM))
def test_shipped_rxnorm_codes_are_digits(concept: str, rxcui: str) -> None:
    assert rxcui.isdigit(), concept


@pytest.mark.parametrize(("concept", "hgnc"), _of(HGNC))
def test_shipped_hgnc_codes_are_hgnc_ids(concept: str, hgnc: str) -> None:
    assert re.fullmatch(r"HGNC:[0-9]+", hgnc), concept


@pytest.mark.parametrize(("concept", "cpt"), _of(CPT))
def test_shipped_cpt_codes_have_five_characters(concept: str, cpt: str) -> None:
    assert re.fullmatch(r"[0-9]{5}", cpt), concept


@pytest.mark.parametrize(("concept", "ncit"), _of(NCIT))
def test_shipped_ncit_codes_have_the_shape(concept: str, ncit: str) -> None:
    assert re.fullmatch(r"C[0-9]+", ncit), concept


@pytest.mark.parametrize(
    ("form", "raw", "expected"),
    [
        (CodeForm.ICD10CM, "C49.22", "C4922"),
        (CodeForm.ICD10CM, "c4922", "C4922"),
        (CodeForm.ICD10CM, " m84.552a ", "M84552A"),
        (CodeForm.ICD10CM, "C49.22XAB", None),
        (CodeForm.ICDO3, "8714/3", "8714/3"),
        (CodeForm.ICDO3, "87143", "8714/3"),
        (CodeForm.ICDO3, "8714-3", "8714/3"),
        (CodeForm.ICDO3, "M-8714/3", "8714/3"),
        (CodeForm.ICDO3, "8714", "8714"),
        (CodeForm.ICDO3, "C49.2", None),
        (CodeForm.HGNC, "HGNC:8033", "HGNC:8033"),
        (CodeForm.HGNC, "hgnc:8033", "HGNC:8033"),
        (CodeForm.HGNC, "8033", "HGNC:8033"),
        (CodeForm.HGNC, "NTRK3", None),
        (CodeForm.NCIT, "ncit:C3158", "C3158"),
        (CodeForm.LOINC, "la9633-4", "LA9633-4"),
        (CodeForm.SNOMED, " 399409002", "399409002"),
        (CodeForm.SNOMED, "0123456", None),
        (CodeForm.FHIR_CODE, "Active", "active"),
    ],
)
def test_normalise_code(form: CodeForm, raw: str, expected: str | None) -> None:
    assert normalise_code(form, raw) == expected


def test_icdo_lookup_keys_try_the_full_code_then_the_histology() -> None:
    assert lookup_keys(CodeForm.ICDO3, "88570") == ("8857/0", "8857")
    assert lookup_keys(CodeForm.ICDO3, "8857") == ("8857",)
    assert parse_icdo("8857/0") is not None


@pytest.mark.parametrize(
    ("uri", "key"),
    [
        ("http://snomed.info/sct", "snomed.info/sct"),
        ("https://snomed.info/sct/", "snomed.info/sct"),
        ("HTTP://LOINC.ORG", "loinc.org"),
        ("urn:oid:2.16.840.1.113883.6.90", "urn:oid:2.16.840.1.113883.6.90"),
    ],
)
def test_system_key_ignores_scheme_case_and_trailing_slash(uri: str, key: str) -> None:
    assert system_key(uri) == key
