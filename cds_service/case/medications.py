"""Map MedicationRequests and MedicationStatements to systemic drugs on record."""

from __future__ import annotations

from typing import Any

from cds_service.case.concepts import in_domain
from cds_service.case.concepts import only_text
from cds_service.case.concepts import positive
from cds_service.case.fhir_values import first_date
from cds_service.case.fhir_values import reference_of
from cds_service.case.model import DrugClass
from cds_service.case.model import Medication
from cds_service.terminology import Terminology

JsonObject = dict[str, Any]

# Not "on record": orders never signed, withdrawn, or entered by mistake; drugs not taken.
_NOT_ON_RECORD = {"entered-in-error", "cancelled", "draft", "not-taken"}
MEDICATION_TYPES = frozenset({"MedicationRequest", "MedicationStatement"})
"""The resource types that record a medication."""
_CLASSES = frozenset(item.value for item in DrugClass)
_GROUPS = {"drug/anthracycline", "drug/chemotherapy", "drug/mtor-inhibitor", "drug/other-cytotoxic",
           "drug/targeted-agent", "drug/trk-inhibitor"}


def medication_concept(resource: JsonObject) -> Any:
    """What names the drug: ``medicationCodeableConcept``, else the code of the Medication a
    ``medicationReference`` points to among the resource's ``contained``, else that reference's
    display as text. A reference to a Medication elsewhere is not followed (no prefetch key
    brings Medications): without a display it names no drug."""
    if isinstance(resource.get("medicationCodeableConcept"), dict):
        return resource["medicationCodeableConcept"]
    reference = resource.get("medicationReference")
    if not isinstance(reference, dict):
        return None
    code = _contained_medication_code(resource, reference.get("reference"))
    if code is not None:
        return code
    if isinstance(reference.get("display"), str):
        return {"text": reference["display"]}
    return None


def names_no_drug(resource: JsonObject) -> bool:
    """A medication on record that names its drug in no way this service can read: only a
    reference to a Medication outside the resource, without a display. It could be any drug
    (an mTOR inhibitor among them), so it is reported as unreadable rather than read as none."""
    # Judged before validation: any field may hold any JSON value, unhashable ones included.
    resource_type, status = resource.get("resourceType"), resource.get("status")
    return (isinstance(resource_type, str) and resource_type in MEDICATION_TYPES
            and not (isinstance(status, str) and status in _NOT_ON_RECORD)
            and "medicationReference" in resource
            and medication_concept(resource) is None)


def _contained_medication_code(resource: JsonObject, reference: Any) -> JsonObject | None:
    if not isinstance(reference, str) or not reference.startswith("#"):
        return None
    contained = resource.get("contained")
    for candidate in contained if isinstance(contained, list) else ():
        if (isinstance(candidate, dict) and candidate.get("resourceType") == "Medication"
                and candidate.get("id") == reference[1:]):
            code = candidate.get("code")
            usable = isinstance(code, dict) and (code.get("coding") or code.get("text"))
            return code if usable else None
    return None


def classify_drug(cc: Any, terminology: Terminology) -> tuple[str | None, DrugClass | None, bool]:
    """The most specific drug concept of ``cc``, its class, and whether it came from text."""
    matches = positive(terminology.match_codeable_concept(cc, domain="drug"))
    drugs = in_domain(matches, "drug")
    if not drugs:
        return None, None, False
    # A product beats its ingredient (Fyarro over sirolimus), a named drug beats a drug class.
    ranked = sorted(drugs, key=lambda d: (not terminology.attributes(d).get("ingredient"),
                                          d in _GROUPS))
    drug = ranked[0]
    value = terminology.attributes(drug).get("class")
    drug_class = DrugClass(value) if isinstance(value, str) and value in _CLASSES else None
    if drug_class is None and terminology.attributes(drug).get("cytotoxic"):
        drug_class = DrugClass.CYTOTOXIC
    return drug, drug_class, only_text([m for m in matches if m.concept == drug])


def map_medication(resource: JsonObject, terminology: Terminology) -> list[Medication]:
    """The systemic drug a MedicationRequest or MedicationStatement records, if one we know."""
    if resource.get("status") in _NOT_ON_RECORD:
        return []
    cc = medication_concept(resource)
    drug, drug_class, from_text = classify_drug(cc, terminology)
    if drug is None:
        return []
    date = first_date(resource, "authoredOn", "effectiveDateTime", "effectivePeriod",
                      "dateAsserted")
    return [Medication(source=reference_of(resource), drug=drug, drug_class=drug_class,
                       date=date, from_text=from_text)]
