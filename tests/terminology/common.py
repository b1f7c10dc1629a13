"""Constants and small builders shared by the terminology tests."""

from __future__ import annotations

from typing import Any

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICDO3 = "http://terminology.hl7.org/CodeSystem/icd-o-3"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CPT = "http://www.ama-assn.org/go/cpt"
HGNC = "http://www.genenames.org"
HGNC_GENE_ID = "http://www.genenames.org/geneId"
NCIT = "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl"


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
