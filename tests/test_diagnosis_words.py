"""Findings stated in a diagnosis's own words, through the whole path (FHIR in, cards out).

recommendations.md "The patient as a whole (revised)": "inflammatory leiomyosarcoma with
rhabdomyosarcomatous transformation", "no rhabdomyosarcomatous component", "PEComa with necrosis",
"metastatic to lung" (and depth: "deep-seated") count like the same finding recorded alone, with
negation and hedging as in terminology.md section 5 (stated absent = absent; hedged = not
recorded). The sweep is every finding kind x every way of stating it x every place a diagnosis
holds words (Condition.code.text, a coding's display, Condition.note), replayed over HTTP on a
fixture scenario.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cds_service.app import create_app
from cds_service.case.build import build_case
from cds_service.case.model import Tumour
from cds_service.case.model import Verification
from cds_service.hooks.prefetch import prefetch_from_bundle
from cds_service.hooks.services import PREFETCH
from cds_service.settings import Settings
from cds_service.state import service_state
from cds_service.terminology import Terminology
from tests.common import FIXTURES_DIR
from tests.common import load_json

JsonObject = dict[str, Any]
STATED, ABSENT, HEDGED = "stated", "absent", "hedged"
LOCAL = "http://hospital.example.org/problem-codes"


class Kind:
    """A finding kind stated in a diagnosis: its scenario and Condition, the diagnosis without
    the finding, the phrasings by meaning, and what the cards show for each meaning."""

    def __init__(self, name: str, scenario: str, condition: str, base: str,
                 phrases: dict[str, list[str]], check: Callable[[list[str], str], None],
                 read: Callable[[Tumour], Any], expected: dict[str, Any],
                 edit: Callable[[list[JsonObject]], None] | None = None) -> None:
        self.name, self.scenario, self.condition, self.base = name, scenario, condition, base
        self.phrases, self.check, self.read, self.expected = phrases, check, read, expected
        self.edit = edit

    def record(self, place: str, phrase: str) -> list[JsonObject]:
        bundle = load_json(FIXTURES_DIR / self.scenario / "bundle.json")
        resources = [copy.deepcopy(e["resource"]) for e in bundle["entry"]]
        if self.edit:
            self.edit(resources)
        condition = next(r for r in resources if r.get("id") == self.condition)
        condition.pop("note", None)
        words = f"{self.base} {phrase}" if phrase.startswith("with") else f"{self.base}, {phrase}"
        if place == "code.text":
            condition["code"] = {"text": words}
        elif place == "coding.display":
            condition["code"] = {"coding": [{"system": LOCAL, "code": "ONC-9001",
                                             "display": words}]}
        else:  # Condition.note
            condition["code"] = {"text": self.base}
            condition["note"] = [{"text": f"Pathology review: {phrase}."}]
        return resources


def _component(ids: list[str], meaning: str) -> None:
    assert ("ilms-rms-transformation" in ids) is (meaning == STATED), ids


def _necrosis(ids: list[str], meaning: str) -> None:
    # PEComa risk (three features recorded absent, size 3.4 cm): necrosis decides.
    assert "pecoma-risk-stratification" in ids
    assert ("case-data-incomplete" in ids) is (meaning == HEDGED), ids


def _spread(ids: list[str], meaning: str) -> None:
    # Advanced PEComa: mTOR inhibitor first; localized (no metastasis recorded): wide excision.
    assert ("pecoma-mtor-first-line" in ids) is (meaning == STATED), ids
    assert ("sts-wide-excision" in ids) is (meaning != STATED), ids


def _depth(ids: list[str], meaning: str) -> None:
    # Resected high-grade 7.2 cm sarcoma: adjuvant RT when deep; an unknown depth is a gap.
    assert ("sts-adjuvant-radiotherapy" in ids) is (meaning == STATED), ids
    assert ("case-data-incomplete" in ids) is (meaning == HEDGED), ids


def _without_depth(resources: list[JsonObject]) -> None:
    resources[:] = [r for r in resources if r.get("id") != "upsm-obs-depth"]


def _without_necrosis(resources: list[JsonObject]) -> None:
    panel = next(r for r in resources if r.get("id") == "psp-obs-synoptic")
    panel["component"] = [c for c in panel["component"] if "necrosis" not in str(c["code"])]


KINDS = [
    Kind("component", "ilms-diagnosis-text-rms-transformation", "ilt-cond-ilms",
         "Inflammatory leiomyosarcoma of left upper arm",
         {STATED: ["with rhabdomyosarcomatous transformation",
                   "rhabdomyosarcomatous component present"],
          ABSENT: ["no rhabdomyosarcomatous component",
                   "rhabdomyosarcomatous differentiation not identified"],
          HEDGED: ["possible rhabdomyosarcomatous component",
                   "rhabdomyosarcomatous component cannot be excluded"]},
         _component, lambda t: t.rms_component.value if t.rms_component else None,
         {STATED: True, ABSENT: False, HEDGED: None}),
    Kind("necrosis", "pecoma-synoptic-panel-components", "psp-cond-pecoma",
         "PEComa of the anterior abdominal wall",
         {STATED: ["with necrosis", "tumour necrosis present"],
          ABSENT: ["no necrosis", "without necrosis"],
          HEDGED: ["possible necrosis", "necrosis cannot be excluded"]},
         _necrosis, lambda t: t.necrosis.value if t.necrosis else None,
         {STATED: True, ABSENT: False, HEDGED: None}, edit=_without_necrosis),
    Kind("spread", "pecoma-uterus-diagnosis-text-metastatic", "pum-cond-pecoma",
         "Malignant PEComa of the uterus",
         {STATED: ["metastatic to lung", "with lung metastases"],
          ABSENT: ["no distant metastases", "without metastatic disease"],
          HEDGED: ["possible lung metastases", "suspicious for pulmonary metastases"]},
         _spread, lambda t: [m.lung for m in t.metastases],
         {STATED: [True], ABSENT: [], HEDGED: []}),
]
KINDS.append(
    Kind("depth", "sts-margin-positive-snomed-qualifier", "upsm-cond-ups",
         "Undifferentiated pleomorphic sarcoma of right thigh",
         {STATED: ["deep to the fascia", "deep-seated, intramuscular"],
          ABSENT: ["superficial to the fascia", "epifascial"],
          HEDGED: ["possibly deep to the fascia", "deep to the fascia cannot be excluded"]},
         _depth, lambda t: t.depth.value.value if t.depth else None,
         {STATED: "deep", ABSENT: "superficial", HEDGED: None}, edit=_without_depth))
PLACES = ["code.text", "coding.display", "note"]
ROWS = [(kind, place, meaning, phrase) for kind in KINDS for place in PLACES
        for meaning, phrases in kind.phrases.items() for phrase in phrases]
ROW_IDS = [f"{k.name}-{place}-{phrase.replace(' ', '-')}" for k, place, _, phrase in ROWS]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    root: Path = tmp_path_factory.mktemp("words")
    app = create_app(Settings(database_url=f"sqlite:///{root / 'db.sqlite3'}",
                              today=dt.date(2026, 11, 22)))
    yield app
    service_state(app).close()


def _card_ids(app: Flask, resources: list[JsonObject], hook: str = "patient-view",
              draft_orders: JsonObject | None = None) -> list[str]:
    pid = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": r} for r in resources]}
    context: JsonObject = {"userId": "Practitioner/pr-1", "patientId": pid}
    if draft_orders is not None:
        context["draftOrders"] = draft_orders
    request = {"hookInstance": "0c0ffee0-0000-4000-8000-000000000013", "hook": hook,
               "context": context, "prefetch": prefetch_from_bundle(PREFETCH, bundle)}
    service = {"patient-view": "sts-patient-view", "order-sign": "sts-order-sign"}[hook]
    response = app.test_client().post(f"/cds-services/{service}", json=request)
    assert response.status_code == 200, response.get_json()
    return [c["source"]["topic"]["code"] for c in response.get_json()["cards"]]


@pytest.mark.parametrize(("kind", "place", "meaning", "phrase"), ROWS, ids=ROW_IDS)
def test_a_finding_in_the_diagnosis_counts_like_one_recorded_alone(
        app: Flask, kind: Kind, place: str, meaning: str, phrase: str) -> None:
    kind.check(_card_ids(app, kind.record(place, phrase)), meaning)




@pytest.mark.parametrize(("kind", "place", "meaning", "phrase"), ROWS, ids=ROW_IDS)
def test_the_finding_is_read_into_the_tumour_stated_absent_or_unrecorded(
        kind: Kind, place: str, meaning: str, phrase: str, terminology: Terminology) -> None:
    record = kind.record(place, phrase)
    pid = next(r["id"] for r in record if r["resourceType"] == "Patient")
    (tumour,) = build_case(record, patient_id=pid, terminology=terminology).tumours
    assert kind.read(tumour) == kind.expected[meaning]


@pytest.mark.parametrize(("phrase", "fires"), [
    ("with rhabdomyosarcomatous transformation", False),
    ("no rhabdomyosarcomatous component", True),
])
def test_chemotherapy_for_ilms_follows_the_component_stated_in_the_diagnosis(
        app: Flask, phrase: str, fires: bool) -> None:
    """ilms-rt-chemo-reserved on order-sign: a component stated absent in the diagnosis keeps
    the warning against doxorubicin; one stated present withdraws it."""
    kind = KINDS[0]
    request = load_json(FIXTURES_DIR / kind.scenario / "order-sign.json")
    ids = _card_ids(app, kind.record("code.text", phrase), "order-sign",
                    request["context"]["draftOrders"])
    assert ("ilms-rt-chemo-reserved" in ids) is fires, ids


def test_a_metastasis_record_beside_its_primary_is_no_second_tumour(
    terminology: Terminology,
) -> None:
    """A Condition naming the tumour with its spread in words, beside the primary's own
    Condition, is that tumour's metastasis (as before), not a tumour of its own."""
    kind = KINDS[2]
    record = kind.record("code.text", "metastatic to lung")
    primary = copy.deepcopy(next(r for r in record if r.get("id") == kind.condition))
    primary.update(id="pum-cond-primary", code={"text": "Malignant PEComa of the uterus"})
    record.append(primary)
    (tumour,) = build_case(record, patient_id="pum-pt", terminology=terminology).tumours
    assert tumour.source == "Condition/pum-cond-primary"
    assert [(m.source, m.lung) for m in tumour.metastases] == [("Condition/pum-cond-pecoma", True)]


def test_a_coded_secondary_malignancy_stays_a_metastasis_record(terminology: Terminology) -> None:
    """ICD-10-CM C78.01 with words naming the tumour is the metastasis of the primary."""
    kind = KINDS[2]
    record = kind.record("code.text", "metastatic to lung")
    secondary = next(r for r in record if r.get("id") == kind.condition)
    secondary["code"]["coding"] = [{"system": "http://hl7.org/fhir/sid/icd-10-cm",
                                    "code": "C78.01",
                                    "display": "Secondary malignant neoplasm of right lung"}]
    record.append({**copy.deepcopy(secondary), "id": "pum-cond-primary",
                   "code": {"text": "Malignant PEComa of the uterus"}})
    (tumour,) = build_case(record, patient_id="pum-pt", terminology=terminology).tumours
    assert tumour.source == "Condition/pum-cond-primary"


@pytest.mark.parametrize(("words", "expected"), [
    ("Suspected PEComa of the uterus", Verification.PROVISIONAL),
    ("Possible PEComa of the uterus", Verification.PROVISIONAL),
    ("PEComa of the uterus", Verification.CONFIRMED),
    ("PEComa of uncertain malignant potential, uterus", Verification.CONFIRMED),
])
def test_a_hedged_diagnosis_counts_as_provisional(words: str, expected: Verification,
        terminology: Terminology) -> None:
    """terminology.md section 5: "a hedged diagnosis counts as provisional", even under a
    verificationStatus of confirmed; "uncertain malignant potential" is a category, no hedge."""
    kind = KINDS[2]
    record = kind.record("code.text", "no distant metastases")
    next(r for r in record if r.get("id") == kind.condition)["code"] = {"text": words}
    (tumour,) = build_case(record, patient_id="pum-pt", terminology=terminology).tumours
    assert tumour.verification is expected
