"""The pre-filter run before full FHIR validation (contract.md: only resources that may matter)."""

from __future__ import annotations

import time

import pytest

from cds_service.terminology import Terminology
from tests.terminology.common import ICD10CM
from tests.terminology.common import LOINC
from tests.terminology.common import RXNORM
from tests.terminology.common import SNOMED
from tests.terminology.common import cc


@pytest.mark.parametrize(
    ("resource_type", "value", "expected"),
    [
        ("Condition", cc((ICD10CM, "C49.22")), True),
        ("Condition", cc((ICD10CM, "I10", "Essential hypertension")), False),
        ("Condition", cc((SNOMED, "38341003", "Hypertensive disorder")), False),
        ("Condition", cc((SNOMED, "1234", "Leiomyosarcoma of thigh")), True),
        ("Condition", cc(text="Atypical spindle cell lipomatous tumour"), True),
        ("Condition", cc((ICD10CM, "M84.552A")), True),
        ("Condition", cc(text="Pathological fracture, left femur"), True),
        ("Condition", cc(text="PEComa risk: no rhabdomyosarcomatous component"), True),
        ("Observation", cc((LOINC, "8867-4", "Heart rate")), False),
        ("Observation", cc((LOINC, "10441-4")), True),
        ("Observation", cc(text="pan-TRK IHC"), True),
        ("Observation", cc((LOINC, "69548-6", "Genetic variant assessment")), True),
        ("Observation", cc((LOINC, "2345-7", "Glucose")), False),
        ("Procedure", cc(text="Wide local excision of thigh mass"), True),
        ("Procedure", cc((SNOMED, "80146002", "Appendectomy")), False),
        ("ServiceRequest", cc(text="Chest CT without contrast"), True),
        ("ServiceRequest", cc(text="Complete blood count"), False),
        ("MedicationRequest", cc((RXNORM, "35302")), True),
        ("MedicationRequest", cc((RXNORM, "29046", "lisinopril")), False),
        ("MedicationRequest", cc(text="Gemcitabine 900 mg/m2"), True),
        ("MedicationRequest", cc(text="PEComa"), False),  # drugs only for medication resources
        ("Flag", "sarcoma", True),  # unlisted types: every domain
        ("Condition", [cc(text="Hypertension"), cc(text="sarcoma")], True),
        ("Condition", None, False),
        ("Condition", 42, False),
        ("Condition", {"coding": "not a list"}, False),
        (None, "sarcoma", True),
    ],
)
def test_is_candidate(
    terminology: Terminology, resource_type: object, value: object, expected: bool
) -> None:
    assert terminology.is_candidate(resource_type, value) is expected


def test_pre_filter_is_fast(terminology: Terminology) -> None:
    # A record of thousands of resources: the filter must cost well under a millisecond each.
    noise = [
        cc((SNOMED, str(100000 + i * 7), f"Unrelated finding number {i} of the record"))
        for i in range(3000)
    ]
    start = time.perf_counter()
    assert not any(terminology.is_candidate("Condition", value) for value in noise)
    assert time.perf_counter() - start < 3.0
