"""Small builders of realistic FHIR R4 records, for tests that sweep a rule through the whole path.

Each builder returns one resource as an EHR sends it (JSON); ``hook_request`` wraps a record into a
hook request with the prefetch an EHR would send. Codes are those of the fixtures and value sets.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from cds_service.hooks.prefetch import prefetch_from_bundle
from cds_service.hooks.services import PREFETCH
from tests.systems import CPT as CPT
from tests.systems import ICD10CM
from tests.systems import ICDO3 as ICDO3
from tests.systems import LOINC as LOINC
from tests.systems import MORPHOLOGY_URL
from tests.systems import NCIT as NCIT
from tests.systems import RELATED_URL
from tests.systems import RXNORM as RXNORM
from tests.systems import SNOMED as SNOMED

JsonObject = dict[str, Any]

PATIENT_ID = "rs-pt"
ICD10 = ICD10CM
MORPHOLOGY = MORPHOLOGY_URL
RELATED = RELATED_URL
_SUBJECT = {"reference": f"Patient/{PATIENT_ID}"}


def patient() -> JsonObject:
    return {"resourceType": "Patient", "id": PATIENT_ID, "gender": "female",
            "birthDate": "1961-04-12", "name": [{"family": "Okafor", "given": ["Ada"]}]}


def coded(system: str, code: str, display: str, text: str | None = None) -> JsonObject:
    return {"coding": [{"system": system, "code": code, "display": display}],
            "text": text or display}


def text_only(text: str) -> JsonObject:
    return {"text": text}


def _status(system: str, code: str) -> JsonObject:
    return {"coding": [{"system": f"http://terminology.hl7.org/CodeSystem/{system}",
                        "code": code}]}


def condition(cid: str, code: JsonObject, *, onset: dt.date | None,
              status: str = "active", verification: str = "confirmed",
              body_site: JsonObject | None = None, morphology: str | None = None,
              related: str | None = None) -> JsonObject:
    """A Condition: a problem-list tumour, a metastasis (``related`` to its primary), a fracture."""
    resource: JsonObject = {
        "resourceType": "Condition", "id": cid,
        "clinicalStatus": _status("condition-clinical", status),
        "verificationStatus": _status("condition-ver-status", verification),
        "category": [_status("condition-category", "problem-list-item")],
        "code": code, "subject": _SUBJECT,
    }
    if onset is not None:
        resource["onsetDateTime"] = onset.isoformat()
    if body_site is not None:
        resource["bodySite"] = [body_site]
    extensions = []
    if morphology:
        extensions.append({"url": MORPHOLOGY, "valueCodeableConcept": coded(
            ICDO3, morphology, "Sarcoma, NOS" if morphology == "8800/3" else morphology)})
    if related:
        extensions.append({"url": RELATED, "valueReference": {"reference": related}})
    if extensions:
        resource["extension"] = extensions
    return resource


def thigh_sarcoma(cid: str = "rs-sts", *, onset: dt.date = dt.date(2024, 1, 10),
                  status: str = "active", body_site: JsonObject | None = None) -> JsonObject:
    """Soft tissue sarcoma of the left thigh (ICD-10-CM C49.22 + ICD-O-3 8800/3)."""
    return condition(cid, coded(ICD10, "C49.22", "Malignant neoplasm of connective and soft "
                                "tissue of left lower limb, including hip",
                                "Soft tissue sarcoma of left thigh"),
                     onset=onset, status=status, morphology="8800/3",
                     body_site=body_site or text_only("Left thigh"))


def procedure(pid: str, code: JsonObject, performed: dt.date | str, *,
              reason: str | None = None, body_site: JsonObject | None = None,
              outcome: str | None = None) -> JsonObject:
    resource: JsonObject = {"resourceType": "Procedure", "id": pid, "status": "completed",
                            "code": code, "subject": _SUBJECT}
    resource["performedDateTime"] = performed if isinstance(performed, str) \
        else performed.isoformat()
    if reason:
        resource["reasonReference"] = [{"reference": reason}]
    if body_site is not None:
        resource["bodySite"] = [body_site]
    if outcome:
        resource["outcome"] = text_only(outcome)
    return resource


def wide_resection(pid: str, performed: dt.date | str, reason: str = "Condition/rs-sts"
                   ) -> JsonObject:
    """Radical resection of a thigh tumour (CPT 27364)."""
    return procedure(pid, coded(CPT, "27364", "Radical resection of tumor, thigh or knee area, "
                                "soft tissue; 5 cm or greater", "Radical resection left thigh"),
                     performed, reason=reason, body_site=text_only("Left thigh"))


def thigh_mri(pid: str, performed: dt.date) -> JsonObject:
    return procedure(pid, coded(CPT, "73720", "MRI lower extremity, non-joint, without and with "
                                "contrast", "MRI left thigh"), performed,
                     body_site=text_only("Left thigh"))


def chest_ct(pid: str, performed: dt.date) -> JsonObject:
    return procedure(pid, coded(CPT, "71250", "CT chest without contrast", "CT chest"),
                     performed)


def observation(oid: str, code: JsonObject, value: JsonObject | str, *, focus: str,
                effective: dt.date, part_of: str | None = None) -> JsonObject:
    resource: JsonObject = {"resourceType": "Observation", "id": oid, "status": "final",
                            "code": code, "subject": _SUBJECT,
                            "focus": [{"reference": focus}],
                            "effectiveDateTime": effective.isoformat()}
    if isinstance(value, str):
        resource["valueString"] = value
    elif "unit" in value:
        resource["valueQuantity"] = value
    else:
        resource["valueCodeableConcept"] = value
    if part_of:
        resource["partOf"] = [{"reference": part_of}]
    return resource


def size_cm(oid: str, cm: float, *, focus: str, effective: dt.date) -> JsonObject:
    """Greatest tumour dimension (LOINC 33728-7) in cm."""
    return observation(oid, coded(LOINC, "33728-7", "Size.maximum dimension in Tumor"),
                       {"value": cm, "unit": "cm", "system": "http://unitsofmeasure.org",
                        "code": "cm"}, focus=focus, effective=effective)


def margin(oid: str, value: str, *, resection: str, focus: str = "Condition/rs-sts",
           effective: dt.date) -> JsonObject:
    """Resection margin (LOINC 84892-9) valued R0/R1/R2, part of its resection."""
    return observation(oid, coded(LOINC, "84892-9", "Residual tumor classification"), value,
                       focus=focus, effective=effective, part_of=resection)


def grade(oid: str, value: str, *, focus: str = "Condition/rs-sts",
          effective: dt.date = dt.date(2024, 1, 12)) -> JsonObject:
    """Histologic grade (LOINC 33732-9) as text, e.g. ``FNCLCC grade 3``."""
    return observation(oid, coded(LOINC, "33732-9", "Histology grade [Identifier] in Cancer "
                                  "specimen"), text_only(value), focus=focus, effective=effective)


def draft_service_request(sid: str, code: JsonObject, *, body_site: JsonObject | None = None,
                          reason: str | None = None) -> JsonObject:
    resource: JsonObject = {"resourceType": "ServiceRequest", "id": sid, "status": "draft",
                            "intent": "order", "code": code, "subject": _SUBJECT}
    if body_site is not None:
        resource["bodySite"] = [body_site]
    if reason:
        resource["reasonReference"] = [{"reference": reason}]
    return resource


def draft_medication(mid: str, code: JsonObject) -> JsonObject:
    return {"resourceType": "MedicationRequest", "id": mid, "status": "draft", "intent": "order",
            "medicationCodeableConcept": code, "subject": _SUBJECT}


def bundle(*resources: JsonObject) -> JsonObject:
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": r}
                      for r in (patient(), *resources)]}


def hook_request(hook: str, record: JsonObject, drafts: tuple[JsonObject, ...] = (),
                 selections: tuple[str, ...] | None = None) -> JsonObject:
    """A hook request for the record, prefetch filled as an EHR would."""
    context: JsonObject = {"userId": "Practitioner/rs-dr", "patientId": PATIENT_ID}
    if hook != "patient-view":
        context["draftOrders"] = {"resourceType": "Bundle", "type": "collection",
                                  "entry": [{"resource": d} for d in drafts]}
    if hook == "order-select":
        context["selections"] = list(selections if selections is not None else
                                     (f"{d['resourceType']}/{d['id']}" for d in drafts))
    return {"hookInstance": str(uuid.uuid4()), "hook": hook, "context": context,
            "prefetch": prefetch_from_bundle(PREFETCH, record)}
