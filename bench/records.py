"""Deterministic synthetic patient records: a sarcoma case buried in realistic unrelated history.

The clinical core is the ``two-tumours-pecoma-and-ascmn`` scenario (16 resources: a retroperitoneal
PEComa and an atypical spindle cell neoplasm of the hand; nine patient-view cards). The rest of a
record is seeded, R4-valid history a real chart carries: CBC and chemistry labs, vital signs,
unrelated problems, procedures (a few of them imaging, which the selector must read), medication
orders and statements, completed lab orders. Every record of size N is the core plus the first
N - 16 resources of one seeded stream, so a larger record contains every smaller one.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import random
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

JsonObject = dict[str, Any]

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = "two-tumours-pecoma-and-ascmn"
SCENARIO_DIR = ROOT / "fhir_fixtures" / SCENARIO
DOXORUBICIN_SCENARIO_DIR = ROOT / "fhir_fixtures" / "pecoma-lung-metastases-doxorubicin"
PATIENT_ID = "tt4-pt"
TODAY = dt.date(2026, 11, 22)
SIZES = (20, 200, 1200, 5000)
SEED = 20261122

PATIENT_VIEW_CARDS = (
    "pecoma-risk-stratification", "sts-mri-local-staging", "sts-chest-ct-staging",
    "ascmn-ihc-panel", "ascmn-mdm2-testing", "sts-wide-excision", "sts-wide-excision",
    "ascmn-acral-function", "sts-specialist-referral",
)
"""The cards the core fires on patient-view, in display order; every record must fire these."""

ORDER_SIGN_CARDS = ("sts-mri-local-staging", "ascmn-no-systemic-therapy")
"""The cards the bench's order-sign drafts fire: CT instead of MRI, doxorubicin for the ASCMN."""

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
CPT = "http://www.ama-assn.org/go/cpt"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"

Measurement = tuple[str, str, str, float, float, int]
"""A lab test or vital sign: LOINC, display, UCUM unit, normal low and high, decimals."""

# Adult reference intervals.
LABS: tuple[Measurement, ...] = (
    ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 13.5, 17.5, 1),
    ("4544-3", "Hematocrit [Volume Fraction] of Blood by Automated count", "%", 41.0, 53.0, 1),
    ("6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*3/uL", 4.5, 11.0, 1),
    ("789-8", "Erythrocytes [#/volume] in Blood by Automated count", "10*6/uL", 4.5, 5.9, 2),
    ("777-3", "Platelets [#/volume] in Blood by Automated count", "10*3/uL", 150, 400, 0),
    ("787-2", "MCV [Entitic volume] by Automated count", "fL", 80, 100, 0),
    ("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", 135, 145, 0),
    ("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", 3.5, 5.1, 1),
    ("2075-0", "Chloride [Moles/volume] in Serum or Plasma", "mmol/L", 98, 107, 0),
    ("2028-9", "Carbon dioxide, total [Moles/volume] in Serum or Plasma", "mmol/L", 22, 29, 0),
    ("3094-0", "Urea nitrogen [Mass/volume] in Serum or Plasma", "mg/dL", 7, 20, 0),
    ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", 0.7, 1.3, 2),
    ("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", 70, 99, 0),
    ("17861-6", "Calcium [Mass/volume] in Serum or Plasma", "mg/dL", 8.6, 10.3, 1),
    ("1742-6", "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
     "U/L", 7, 56, 0),
    ("1920-8", "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
     "U/L", 10, 40, 0),
    ("6768-6", "Alkaline phosphatase [Enzymatic activity/volume] in Serum or Plasma",
     "U/L", 44, 147, 0),
    ("1975-2", "Bilirubin.total [Mass/volume] in Serum or Plasma", "mg/dL", 0.1, 1.2, 1),
    ("1751-7", "Albumin [Mass/volume] in Serum or Plasma", "g/dL", 3.5, 5.0, 1),
    ("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", 125, 200, 0),
    ("2571-8", "Triglyceride [Mass/volume] in Serum or Plasma", "mg/dL", 50, 150, 0),
    ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 4.0, 5.6, 1),
    ("33914-3", "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum "
     "or Plasma by Creatinine-based formula (MDRD)", "mL/min/{1.73_m2}", 60, 120, 0),
    ("3016-3", "Thyrotropin [Units/volume] in Serum or Plasma", "m[IU]/L", 0.4, 4.0, 2),
)

VITALS: tuple[Measurement, ...] = (
    ("8867-4", "Heart rate", "/min", 58, 96, 0),
    ("9279-1", "Respiratory rate", "/min", 12, 20, 0),
    ("8310-5", "Body temperature", "Cel", 36.2, 37.6, 1),
    ("29463-7", "Body weight", "kg", 74, 86, 1),
    ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%", 94, 100, 0),
    ("39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", 24, 28, 1),
)

# (ICD-10-CM, SNOMED CT, display)
CONDITIONS = (
    ("I10", "59621000", "Essential hypertension"),
    ("E78.5", "55822004", "Hyperlipidemia"),
    ("K21.9", "235595009", "Gastro-esophageal reflux disease without esophagitis"),
    ("J45.909", "195967001", "Asthma"),
    ("M54.50", "279039007", "Low back pain"),
    ("E03.9", "40930008", "Hypothyroidism"),
    ("J06.9", "54150009", "Upper respiratory infection"),
    ("N39.0", "68566005", "Urinary tract infection"),
    ("M17.11", "239873007", "Osteoarthritis of knee"),
    ("G43.909", "37796009", "Migraine"),
    ("E66.9", "414916001", "Obesity"),
    ("H52.4", "11526002", "Presbyopia"),
)

# (SNOMED CT, CPT, display); the last three are imaging the selector has to read and reject.
PROCEDURES = (
    ("73761001", "45378", "Colonoscopy"),
    ("29303009", "93000", "Electrocardiographic procedure"),
    ("40701008", "93306", "Echocardiography"),
    ("76164006", "43235", "Biopsy-free upper gastrointestinal endoscopy"),
    ("91251008", "97110", "Physical therapy procedure"),
    ("34896006", "90686", "Immunization"),
    ("399208008", "71046", "Plain chest X-ray"),
    ("74016001", "73562", "Plain X-ray of knee"),
    ("24623002", "77067", "Screening mammography"),
)

# (RxNorm, display, sig)
MEDICATIONS = (
    ("314076", "lisinopril 10 MG Oral Tablet", "10 mg by mouth once daily"),
    ("197361", "amlodipine 5 MG Oral Tablet", "5 mg by mouth once daily"),
    ("310798", "hydrochlorothiazide 25 MG Oral Tablet", "25 mg by mouth every morning"),
    ("312961", "simvastatin 20 MG Oral Tablet", "20 mg by mouth at bedtime"),
    ("259255", "atorvastatin 80 MG Oral Tablet", "80 mg by mouth once daily"),
    ("860975", "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet",
     "500 mg by mouth with the evening meal"),
    ("966222", "levothyroxine sodium 0.075 MG Oral Tablet", "75 mcg by mouth before breakfast"),
    ("745679", "200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler",
     "2 puffs every 4 hours as needed for wheeze"),
    ("849574", "naproxen sodium 220 MG Oral Tablet", "220 mg by mouth twice daily as needed"),
    ("313782", "acetaminophen 325 MG Oral Tablet", "650 mg by mouth every 6 hours as needed"),
)

# (LOINC, display) of completed laboratory orders.
LAB_ORDERS = (
    ("58410-2", "CBC panel - Blood by Automated count"),
    ("24323-8", "Comprehensive metabolic 2000 panel - Serum or Plasma"),
    ("57698-3", "Lipid panel with direct LDL - Serum or Plasma"),
    ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"),
    ("3016-3", "Thyrotropin [Units/volume] in Serum or Plasma"),
)


class _History:
    """One seeded stream of unrelated resources; ``take(n)`` is always the same n resources."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._count = 0
        self._made: list[JsonObject] = []
        kinds: list[tuple[Callable[[], JsonObject], int]] = [
            (self._lab, 50), (self._vital, 18), (self._condition, 6), (self._procedure, 6),
            (self._medication_request, 10), (self._medication_statement, 3),
            (self._lab_order, 7),
        ]
        self._makers = [maker for maker, _ in kinds]
        self._weights = [weight for _, weight in kinds]

    def take(self, n: int) -> list[JsonObject]:
        while len(self._made) < n:
            maker = self._rng.choices(self._makers, self._weights)[0]
            self._made.append(maker())
        return [copy.deepcopy(r) for r in self._made[:n]]

    def _id(self, prefix: str) -> str:
        self._count += 1
        return f"bx-{prefix}-{self._count:05d}"

    def _date(self) -> dt.date:
        return TODAY - dt.timedelta(days=self._rng.randint(7, 3650))

    def _instant(self, day: dt.date) -> str:
        hour, minute = self._rng.randint(7, 18), self._rng.randint(0, 59)
        return f"{day.isoformat()}T{hour:02d}:{minute:02d}:00Z"

    def _value(self, low: float, high: float, decimals: int) -> float | int:
        spread = (high - low) * 0.15
        value = round(self._rng.uniform(low - spread, high + spread), decimals)
        return int(value) if decimals == 0 else value

    def _quantity_observation(self, row: Measurement, category: str, prefix: str) -> JsonObject:
        code, display, unit, low, high, decimals = row
        day = self._date()
        value = self._value(low, high, decimals)
        resource: JsonObject = {
            "resourceType": "Observation", "id": self._id(prefix), "status": "final",
            "category": [{"coding": [{"system": OBS_CATEGORY, "code": category,
                                      "display": category.replace("-", " ").title()}]}],
            "code": {"coding": [{"system": LOINC, "code": code, "display": display}],
                     "text": display},
            "subject": {"reference": f"Patient/{PATIENT_ID}"},
            "effectiveDateTime": self._instant(day),
            "issued": self._instant(day),
            "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
        }
        if category == "laboratory":
            resource["referenceRange"] = [{
                "low": {"value": low, "unit": unit, "system": UCUM, "code": unit},
                "high": {"value": high, "unit": unit, "system": UCUM, "code": unit},
            }]
            flag = "L" if value < low else "H" if value > high else "N"
            resource["interpretation"] = [{"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                "code": flag}]}]
        return resource

    def _lab(self) -> JsonObject:
        return self._quantity_observation(self._rng.choice(LABS), "laboratory", "lab")

    def _vital(self) -> JsonObject:
        if self._rng.random() < 0.3:
            return self._blood_pressure()
        return self._quantity_observation(self._rng.choice(VITALS), "vital-signs", "vs")

    def _blood_pressure(self) -> JsonObject:
        day = self._date()

        def component(code: str, display: str, low: int, high: int) -> JsonObject:
            return {"code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
                    "valueQuantity": {"value": self._rng.randint(low, high), "unit": "mm[Hg]",
                                      "system": UCUM, "code": "mm[Hg]"}}

        return {
            "resourceType": "Observation", "id": self._id("bp"), "status": "final",
            "category": [{"coding": [{"system": OBS_CATEGORY, "code": "vital-signs",
                                      "display": "Vital Signs"}]}],
            "code": {"coding": [{"system": LOINC, "code": "85354-9",
                                 "display": "Blood pressure panel with all children optional"}],
                     "text": "Blood pressure"},
            "subject": {"reference": f"Patient/{PATIENT_ID}"},
            "effectiveDateTime": self._instant(day),
            "component": [component("8480-6", "Systolic blood pressure", 112, 156),
                          component("8462-4", "Diastolic blood pressure", 68, 98)],
        }

    def _condition(self) -> JsonObject:
        icd, sct, display = self._rng.choice(CONDITIONS)
        onset = self._date()
        resolved = icd in ("J06.9", "N39.0") or self._rng.random() < 0.2
        resource: JsonObject = {
            "resourceType": "Condition", "id": self._id("cond"),
            "clinicalStatus": {"coding": [{"system": CLINICAL,
                                           "code": "resolved" if resolved else "active"}]},
            "verificationStatus": {"coding": [{"system": VERIFICATION, "code": "confirmed"}]},
            "category": [{"coding": [{"system": CONDITION_CATEGORY,
                                      "code": "encounter-diagnosis" if resolved
                                      else "problem-list-item"}]}],
            "code": {"coding": [{"system": ICD10CM, "code": icd, "display": display},
                                {"system": SNOMED, "code": sct, "display": display}],
                     "text": display},
            "subject": {"reference": f"Patient/{PATIENT_ID}"},
            "onsetDateTime": onset.isoformat(),
            "recordedDate": onset.isoformat(),
        }
        if resolved:
            resource["abatementDateTime"] = min(onset + dt.timedelta(days=14), TODAY).isoformat()
        return resource

    def _procedure(self) -> JsonObject:
        sct, cpt, display = self._rng.choice(PROCEDURES)
        return {
            "resourceType": "Procedure", "id": self._id("proc"), "status": "completed",
            "code": {"coding": [{"system": SNOMED, "code": sct, "display": display},
                                {"system": CPT, "code": cpt}],
                     "text": display},
            "subject": {"reference": f"Patient/{PATIENT_ID}"},
            "performedDateTime": self._instant(self._date()),
        }

    def _medication(self) -> tuple[JsonObject, str]:
        code, display, sig = self._rng.choice(MEDICATIONS)
        concept = {"coding": [{"system": RXNORM, "code": code, "display": display}],
                   "text": display}
        return concept, sig

    def _medication_request(self) -> JsonObject:
        concept, sig = self._medication()
        return {
            "resourceType": "MedicationRequest", "id": self._id("medrx"),
            "status": self._rng.choice(("active", "completed", "stopped")), "intent": "order",
            "medicationCodeableConcept": concept,
            "subject": {"reference": f"Patient/{PATIENT_ID}"},
            "authoredOn": self._date().isoformat(),
            "requester": {"reference": "Practitioner/pr-pcp-0042"},
            "dosageInstruction": [{"text": sig, "route": {"coding": [{
                "system": SNOMED, "code": "26643006", "display": "Oral route"}]}}],
            "dispenseRequest": {"numberOfRepeatsAllowed": 3,
                                "quantity": {"value": 90, "unit": "tablet"}},
        }

    def _medication_statement(self) -> JsonObject:
        concept, sig = self._medication()
        return {
            "resourceType": "MedicationStatement", "id": self._id("medst"), "status": "active",
            "medicationCodeableConcept": concept,
            "subject": {"reference": f"Patient/{PATIENT_ID}"},
            "effectiveDateTime": self._date().isoformat(),
            "dosage": [{"text": sig}],
        }

    def _lab_order(self) -> JsonObject:
        code, display = self._rng.choice(LAB_ORDERS)
        return {
            "resourceType": "ServiceRequest", "id": self._id("sr"), "status": "completed",
            "intent": "order",
            "category": [{"coding": [{"system": SNOMED, "code": "108252007",
                                      "display": "Laboratory procedure"}]}],
            "code": {"coding": [{"system": LOINC, "code": code, "display": display}],
                     "text": display},
            "subject": {"reference": f"Patient/{PATIENT_ID}"},
            "authoredOn": self._date().isoformat(),
            "requester": {"reference": "Practitioner/pr-pcp-0042"},
        }


def _load(path: Path) -> JsonObject:
    loaded: JsonObject = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def core_resources() -> list[JsonObject]:
    """The scenario's own resources (Patient first)."""
    bundle = _load(SCENARIO_DIR / "bundle.json")
    return [entry["resource"] for entry in bundle["entry"]]


def build_record(size: int) -> list[JsonObject]:
    """The ``size`` resources of the patient: the sarcoma core plus seeded unrelated history."""
    core = core_resources()
    if size < len(core):
        raise ValueError(f"a record needs at least {len(core)} resources")
    return core + _History(SEED).take(size - len(core))


def as_bundle(resources: list[JsonObject]) -> JsonObject:
    """A collection Bundle of ``resources`` (the input of ``prefetch_from_bundle``)."""
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": r} for r in resources]}


def searchset(resources: list[JsonObject]) -> JsonObject:
    """A one-page searchset Bundle, as a FHIR server answers a search."""
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"fullUrl": f"urn:uuid:{uuid.UUID(int=i)}", "resource": r,
                       "search": {"mode": "match"}} for i, r in enumerate(resources)]}


def patient_view_request(prefetch: JsonObject | None, *,
                         fhir_server: str | None = None) -> JsonObject:
    """The scenario's patient-view call with ``prefetch`` (omitted when None)."""
    request = _load(SCENARIO_DIR / "patient-view.json")
    if prefetch is not None:
        request["prefetch"] = prefetch
    if fhir_server is not None:
        request["fhirServer"] = fhir_server
    return request


def order_sign_request(prefetch: JsonObject | None) -> JsonObject:
    """An order-sign call on the same patient: doxorubicin, a CT, and an unrelated antiemetic.

    The doxorubicin and ondansetron drafts are those of ``pecoma-lung-metastases-doxorubicin``
    moved to this patient; the doxorubicin is for the hand ASCMN (``ascmn-no-systemic-therapy``)
    and the CT of the retroperitoneum stands in for the missing MRI (``sts-mri-local-staging``).
    """
    source = _load(DOXORUBICIN_SCENARIO_DIR / "order-sign.json")
    dox, ondansetron = (e["resource"] for e in source["context"]["draftOrders"]["entry"])
    for draft in (dox, ondansetron):
        draft["subject"] = {"reference": f"Patient/{PATIENT_ID}"}
    dox["reasonReference"] = [{"reference": "Condition/tt4-cond-ascmn"}]
    ct = {
        "resourceType": "ServiceRequest", "id": "bx-draft-ct-abdomen", "status": "draft",
        "intent": "order",
        "code": {"coding": [{"system": CPT, "code": "74177",
                             "display": "CT abdomen and pelvis with contrast"}],
                 "text": "CT abdomen and pelvis with contrast"},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "authoredOn": TODAY.isoformat(),
        "reasonReference": [{"reference": "Condition/tt4-cond-pecoma"}],
        "bodySite": [{"text": "Retroperitoneum"}],
    }
    request: JsonObject = {
        "hookInstance": "8d0a3c4e-5b7f-4a63-9a8e-1f2b3c4d5e6f",
        "hook": "order-sign",
        "context": {
            "userId": "Practitioner/pr-surgonc-0902",
            "patientId": PATIENT_ID,
            "encounterId": "tt4-enc-20261122",
            "draftOrders": {"resourceType": "Bundle", "type": "collection",
                            "entry": [{"resource": r} for r in (dox, ct, ondansetron)]},
        },
    }
    if prefetch is not None:
        request["prefetch"] = prefetch
    return request
