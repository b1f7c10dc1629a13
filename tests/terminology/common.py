"""Constants and small builders shared by the terminology tests."""

from __future__ import annotations

from typing import Any

from tests.systems import CPT as CPT
from tests.systems import HGNC as HGNC
from tests.systems import HGNC_GENE_ID as HGNC_GENE_ID
from tests.systems import ICD10CM as ICD10CM
from tests.systems import ICDO3 as ICDO3
from tests.systems import LOINC as LOINC
from tests.systems import NCIT as NCIT
from tests.systems import RXNORM as RXNORM
from tests.systems import SNOMED as SNOMED


def concept(display: str = "A concept", **fields: Any) -> dict[str, Any]:
    """One concept of a test value set."""
    return {"display": display, **fields}


def code(system: str, value: str, source: str = "project", **fields: Any) -> dict[str, Any]:
    """One code entry of a test concept."""
    return {"system": system, "code": value, "source": source, **fields}


def cc(*codings: tuple[str, str] | tuple[str, str, str], text: str | None = None) -> dict[str, Any]:
    """A FHIR CodeableConcept from (system, code[, display]) tuples and an optional text."""
    result: dict[str, Any] = {
        "coding": [
            dict(zip(("system", "code", "display"), coding, strict=False)) for coding in codings
        ]
    }
    if text is not None:
        result["text"] = text
    return result
