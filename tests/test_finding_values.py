"""Finding values in every form, for every finding kind, through the whole path (FHIR to cards).

terminology.md section 6 (revised) and recommendations.md "The patient as a whole (revised)": a
margin, necrosis, depth, component, IHC, fusion or amplification finding valued with a generic
qualifier (text, SNOMED CT qualifier value, LOINC answer, ``valueBoolean``, a value held in a
component) means the same for every kind; "RX", "cannot be assessed", "indeterminate" and hedged
values are unknown. Each row of the sweep swaps one Observation's value in a fixture scenario and
replays the patient-view call over HTTP as an EHR would; the cards that answer tell positive,
negative and unknown apart. A second sweep pins the polarity read into the case model.
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
from cds_service.hooks.prefetch import prefetch_from_bundle
from cds_service.hooks.services import PREFETCH
from cds_service.identifiers import EXTENSION_KEY
from cds_service.settings import Settings
from cds_service.state import service_state
from cds_service.terminology import Terminology
from tests.common import FIXTURES_DIR
from tests.common import load_json
from tests.systems import LOINC as LNC
from tests.systems import SNOMED as SCT

JsonObject = dict[str, Any]
POS, NEG, UNKNOWN = "positive", "negative", "unknown"


def _cc(system: str, code: str, display: str) -> JsonObject:
    return {"valueCodeableConcept": {"coding": [{"system": system, "code": code,
                                                 "display": display}]}}


def _held(value: JsonObject) -> JsonObject:
    """The value held in a component coded "Result" instead of the Observation itself."""
    return {"component": [{"code": {"text": "Result"}, **value}]}


# (id, value elements, meaning): every form of terminology.md section 6, the same for every kind.
FORMS: list[tuple[str, JsonObject, str]] = [
    ("text-Positive", {"valueString": "Positive"}, POS),
    ("cc-text-Positive", {"valueCodeableConcept": {"text": "Positive"}}, POS),
    ("text-Involved", {"valueString": "Involved"}, POS),
    ("text-Tumour-at-ink", {"valueString": "Tumour at ink"}, POS),
    ("text-Present", {"valueString": "Present"}, POS),
    ("text-Detected", {"valueString": "Detected"}, POS),
    ("sct-10828004", _cc(SCT, "10828004", "Positive"), POS),
    ("sct-52101004", _cc(SCT, "52101004", "Present"), POS),
    ("sct-260373001", _cc(SCT, "260373001", "Detected"), POS),
    ("loinc-LA6576-8", _cc(LNC, "LA6576-8", "Positive"), POS),
    ("loinc-LA9633-4", _cc(LNC, "LA9633-4", "Present"), POS),
    ("loinc-LA11882-0", _cc(LNC, "LA11882-0", "Detected"), POS),
    ("boolean-true", {"valueBoolean": True}, POS),
    ("component-sct-Positive", _held(_cc(SCT, "10828004", "Positive")), POS),
    ("text-Negative", {"valueString": "Negative"}, NEG),
    ("text-Neg", {"valueString": "Neg"}, NEG),
    ("text-Uninvolved", {"valueString": "Uninvolved"}, NEG),
    ("text-Not-involved", {"valueCodeableConcept": {"text": "Not involved"}}, NEG),
    ("text-Not-identified", {"valueString": "Not identified"}, NEG),
    ("text-Not-detected", {"valueString": "Not detected"}, NEG),
    ("sct-260385009", _cc(SCT, "260385009", "Negative"), NEG),
    ("sct-2667000", _cc(SCT, "2667000", "Absent"), NEG),
    ("sct-260415000", _cc(SCT, "260415000", "Not detected"), NEG),
    ("loinc-LA6577-6", _cc(LNC, "LA6577-6", "Negative"), NEG),
    ("loinc-LA9634-2", _cc(LNC, "LA9634-2", "Absent"), NEG),
    ("loinc-LA11883-8", _cc(LNC, "LA11883-8", "Not detected"), NEG),
    ("boolean-false", {"valueBoolean": False}, NEG),
    ("component-loinc-Negative", _held(_cc(LNC, "LA6577-6", "Negative")), NEG),
    ("text-RX", {"valueString": "RX"}, UNKNOWN),
    ("text-Cannot-be-assessed", {"valueString": "Cannot be assessed"}, UNKNOWN),
    ("text-Indeterminate", {"valueCodeableConcept": {"text": "Indeterminate"}}, UNKNOWN),
    ("text-Possibly-positive", {"valueString": "Possibly positive"}, UNKNOWN),
]


class Kind:
    """One finding kind: a scenario, the Observation that holds the finding, and what each
    meaning of its value shows in the patient-view cards."""

    def __init__(self, name: str, scenario: str, observation: str, *, code: JsonObject,
                 negative_name: str, check: Callable[[list[JsonObject], str, str], None],
                 drop: tuple[str, ...] = (), edit: Callable[[list[JsonObject]], None] | None = None,
                 ) -> None:
        self.name, self.scenario, self.observation = name, scenario, observation
        self.code, self.negative_name, self.check = code, negative_name, check
        self.drop, self.edit = drop, edit

    def record(self, value: JsonObject, name: str | None = None) -> list[JsonObject]:
        """The scenario's resources with the finding's Observation valued ``value`` (and, given
        ``name``, named so)."""
        bundle = load_json(FIXTURES_DIR / self.scenario / "bundle.json")
        resources = [copy.deepcopy(e["resource"]) for e in bundle["entry"]
                     if e["resource"].get("id") not in self.drop]
        if self.edit:
            self.edit(resources)
        found = [r for r in resources if r.get("id") == self.observation]
        if not found:  # the finding is added as an Observation of its own
            pid = next(r["id"] for r in resources if r["resourceType"] == "Patient")
            found = [{"resourceType": "Observation", "id": self.observation, "status": "final",
                      "subject": {"reference": f"Patient/{pid}"},
                      "effectiveDateTime": "2026-10-01"}]
            resources.append(found[0])
        obs = found[0]
        for field in ("valueString", "valueCodeableConcept", "valueBoolean"):
            obs.pop(field, None)
        obs["code"] = copy.deepcopy(self.code)
        if name is not None:
            obs["code"] = {"text": name}
        value = copy.deepcopy(value)
        # A value held in a component sits beside the components the Observation has (genes).
        obs["component"] = obs.get("component", []) + value.pop("component", [])
        if not obs["component"]:
            del obs["component"]
        obs.update(value)
        return resources


def _ids(cards: list[JsonObject]) -> list[str]:
    return [c["source"]["topic"]["code"] for c in cards]


def _indicator(cards: list[JsonObject], rec: str) -> str | None:
    return next((c["indicator"] for c in cards if c["source"]["topic"]["code"] == rec), None)


def _margin(cards: list[JsonObject], meaning: str, form: str) -> None:
    # recommendations.md sts-reexcision: "margin R1 or R2 (or positive margin)"; case-data-
    # incomplete names the margin only when it is unknown.
    ids = _ids(cards)
    assert ("sts-reexcision" in ids) is (meaning == POS), (form, ids)
    assert ("case-data-incomplete" in ids) is (meaning == UNKNOWN), (form, ids)


def _necrosis(cards: list[JsonObject], meaning: str, form: str) -> None:
    # PEComa risk: high with a feature present, low with all four absent, else indeterminate.
    expected = {POS: "warning", NEG: "info", UNKNOWN: "info"}[meaning]
    assert _indicator(cards, "pecoma-risk-stratification") == expected, form
    assert ("case-data-incomplete" in _ids(cards)) is (meaning == UNKNOWN), (form, _ids(cards))


def _depth(cards: list[JsonObject], meaning: str, form: str) -> None:
    # sts-adjuvant-radiotherapy: high-grade, deep and large; unknown depth is a named gap.
    ids = _ids(cards)
    assert ("sts-adjuvant-radiotherapy" in ids) is (meaning == POS), (form, ids)
    assert ("case-data-incomplete" in ids) is (meaning == UNKNOWN), (form, ids)


def _component(cards: list[JsonObject], meaning: str, form: str) -> None:
    ids = _ids(cards)
    assert ("ilms-rms-transformation" in ids) is (meaning == POS), (form, ids)


def _ihc(cards: list[JsonObject], meaning: str, form: str) -> None:
    # ALK is missing, so ilms-ihc-panel lists every marker with its result.
    panel = next(c for c in cards if c["source"]["topic"]["code"] == "ilms-ihc-panel")
    facts = [f["value"] for f in panel["extension"][EXTENSION_KEY]["facts"]
             if f.get("references") == ["Observation/ilt-obs-myogenin"]]
    expected = {POS: "positive", NEG: "negative", UNKNOWN: "result not recorded"}[meaning]
    assert [v.removesuffix(" (from text)") for v in facts] == [expected], (form, facts)


def _fusion(cards: list[JsonObject], meaning: str, form: str) -> None:
    ids = _ids(cards)
    assert ("ntrk-trk-inhibitor" in ids) is (meaning == POS), (form, ids)


def _amplification(cards: list[JsonObject], meaning: str, form: str) -> None:
    # ascmn-mdm2-testing: a warning when amplified; silent for a result not amplified or unread.
    assert _indicator(cards, "ascmn-mdm2-testing") == ("warning" if meaning == POS else None), form


def _plain_ilms(resources: list[JsonObject]) -> None:
    """The ILMS of ilms-diagnosis-text-rms-transformation with no component in its name."""
    condition = next(r for r in resources if r.get("id") == "ilt-cond-ilms")
    condition["code"]["text"] = "Inflammatory leiomyosarcoma of left upper arm"


def _without_necrosis(resources: list[JsonObject]) -> None:
    panel = next(r for r in resources if r.get("id") == "psp-obs-synoptic")
    panel["component"] = [c for c in panel["component"] if "necrosis" not in str(c["code"])]


KINDS = [
    Kind("margin", "sts-margin-positive-snomed-qualifier", "upsm-obs-margin",
         code={"coding": [{"system": LNC, "code": "84892-9"}], "text": "Margin status"},
         negative_name="Margins free", check=_margin),
    Kind("necrosis", "pecoma-synoptic-panel-components", "psp-obs-necrosis",
         code={"coding": [{"system": SCT, "code": "405921002"}], "text": "Tumour necrosis"},
         negative_name="No tumour necrosis", check=_necrosis, edit=_without_necrosis),
    Kind("depth", "sts-margin-positive-snomed-qualifier", "upsm-obs-depth",
         code={"text": "Tumour deep to fascia"}, negative_name="Superficial to fascia",
         check=_depth),
    Kind("component", "ilms-diagnosis-text-rms-transformation", "ilt-obs-rms",
         code={"text": "Rhabdomyosarcomatous component"},
         negative_name="No rhabdomyosarcomatous component", check=_component, edit=_plain_ilms),
    Kind("ihc", "ilms-diagnosis-text-rms-transformation", "ilt-obs-myogenin",
         code={"text": "Myogenin IHC"}, negative_name="Myogenin negative", check=_ihc,
         drop=("ilt-obs-alk",)),
    Kind("fusion", "ntrk-fusion-metastatic", "n14-obs-4",
         code={"coding": [{"system": LNC, "code": "69548-6"}], "text": "NTRK fusion"},
         negative_name="No NTRK fusion", check=_fusion),
    Kind("amplification", "ascmn-cutaneous-mdm2-amplified", "a2-obs-5",
         code={"coding": [{"system": LNC, "code": "93808-4"}], "text": "MDM2 amplification"},
         negative_name="No MDM2 amplification", check=_amplification),
]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    root: Path = tmp_path_factory.mktemp("values")
    app = create_app(Settings(database_url=f"sqlite:///{root / 'db.sqlite3'}",
                              today=dt.date(2026, 11, 22)))
    yield app
    service_state(app).close()


def _patient_view(app: Flask, resources: list[JsonObject]) -> list[JsonObject]:
    pid = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": r} for r in resources]}
    request = {"hookInstance": "0c0ffee0-0000-4000-8000-000000000012", "hook": "patient-view",
               "context": {"userId": "Practitioner/pr-1", "patientId": pid},
               "prefetch": prefetch_from_bundle(PREFETCH, bundle)}
    response = app.test_client().post("/cds-services/sts-patient-view", json=request)
    assert response.status_code == 200, response.get_json()
    cards: list[JsonObject] = response.get_json()["cards"]
    return cards


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
@pytest.mark.parametrize(("form", "value", "meaning"), FORMS, ids=[f[0] for f in FORMS])
def test_every_value_form_means_the_same_for_every_finding_kind(
        app: Flask, kind: Kind, form: str, value: JsonObject, meaning: str) -> None:
    kind.check(_patient_view(app, kind.record(value)), meaning, form)


NAMED = [(True, NEG), (False, POS)]


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
@pytest.mark.parametrize(("flag", "meaning"), NAMED, ids=["true", "false"])
def test_a_boolean_takes_the_polarity_of_the_findings_name(
        app: Flask, kind: Kind, flag: bool, meaning: str) -> None:
    """terminology.md section 6: "Margins free": true = negative; "No tumour necrosis": true =
    absent; false turns it over."""
    record = kind.record({"valueBoolean": flag}, name=kind.negative_name)
    kind.check(_patient_view(app, record), meaning, f"{kind.negative_name}={flag}")


# --- the same sweep, read into the case model: the exact value each kind records --------------

READ: dict[str, Callable[[Tumour], Any]] = {
    "margin": lambda t: t.resections[-1].margin.value.value if t.resections[-1].margin else None,
    "necrosis": lambda t: t.necrosis.value if t.necrosis else None,
    "depth": lambda t: t.depth.value.value if t.depth else None,
    "component": lambda t: t.rms_component.value if t.rms_component else None,
    "ihc": lambda t: next(r.positive for r in t.ihc if r.marker == "myogenin"),
    "fusion": lambda t: next(m.detected for m in t.molecular if m.gene == "gene/ntrk1"),
    "amplification": lambda t: next(m.detected for m in t.molecular if m.gene == "gene/mdm2"),
}
EXPECTED: dict[str, dict[str, Any]] = {
    "margin": {POS: "R1", NEG: "R0", UNKNOWN: None},
    "depth": {POS: "deep", NEG: "superficial", UNKNOWN: None},
}
_BOOLEAN = {POS: True, NEG: False, UNKNOWN: None}


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
@pytest.mark.parametrize(("form", "value", "meaning"), FORMS, ids=[f[0] for f in FORMS])
def test_every_value_form_is_read_into_the_case(kind: Kind, form: str, value: JsonObject,
                                                meaning: str, terminology: Terminology) -> None:
    record = kind.record(value)
    pid = next(r["id"] for r in record if r["resourceType"] == "Patient")
    case = build_case(record, patient_id=pid, terminology=terminology)
    (tumour,) = case.tumours
    assert READ[kind.name](tumour) == EXPECTED.get(kind.name, _BOOLEAN)[meaning]


@pytest.mark.parametrize(("note", "expected"), [
    ("Macroscopic residual tumour at the deep margin.", "R2"),
    ("Tumour reaches the inked deep margin.", "R1"),
])
def test_a_positive_margin_is_r2_where_macroscopic_residual_tumour_is_stated(
        note: str, expected: str, terminology: Terminology) -> None:
    """terminology.md section 6: "a positive margin is R1 (or worse, if R2 is stated)"."""
    kind = KINDS[0]
    record = kind.record(_cc(SCT, "10828004", "Positive"))
    next(r for r in record if r.get("id") == kind.observation)["note"] = [{"text": note}]
    (tumour,) = build_case(record, patient_id="upsm-pt", terminology=terminology).tumours
    margin = tumour.resections[-1].margin
    assert margin is not None and margin.value.value == expected


def test_a_synoptic_panel_holds_one_finding_per_component(terminology: Terminology) -> None:
    """A panel Observation that names nothing itself: each component coded as a finding is read
    as that finding recorded alone (pecoma-synoptic-panel-components)."""
    record = [copy.deepcopy(e["resource"]) for e in load_json(
        FIXTURES_DIR / "pecoma-synoptic-panel-components" / "bundle.json")["entry"]]
    (tumour,) = build_case(record, patient_id="psp-pt", terminology=terminology).tumours
    margin = tumour.resections[-1].margin
    assert margin is not None and margin.value.value == "R0"
    assert margin.sources == ("Observation/psp-obs-synoptic",)
    flags = (tumour.necrosis, tumour.infiltrative_growth, tumour.high_nuclear_grade)
    assert [(f.value, f.sources) if f else None for f in flags] == [
        (False, ("Observation/psp-obs-synoptic",))] * 3


@pytest.mark.parametrize(("value", "expected"), [
    ({"valueQuantity": {"value": 30, "unit": "%", "system": "http://unitsofmeasure.org",
                        "code": "%"}}, True),
    ({"valueQuantity": {"value": 0, "unit": "%", "system": "http://unitsofmeasure.org",
                        "code": "%"}}, False),
    ({"valueString": "<50%"}, True),
    ({"valueString": "0 %"}, False),
    ({"valueString": "Extensive"}, True),
    ({"valueString": "Focal"}, True),
])
def test_necrosis_as_a_share_or_an_amount_is_necrosis_present(app: Flask, value: JsonObject,
                                                              expected: bool) -> None:
    """SNOMED 405921002 is the percentage of the neoplasm involved by necrosis: any share above
    none, or an amount ("focal", "extensive"), is necrosis present (PEComa high risk)."""
    kind = KINDS[1]
    _necrosis(_patient_view(app, kind.record(value)), POS if expected else NEG, str(value))


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("Margins free", {"valueString": "Yes"}, "R0"),
    ("Margins free", {"valueString": "No"}, "R1"),
    ("Margins free", {"valueString": "Negative"}, "R0"),
    ("Margins free", {"valueString": "Positive"}, None),
    ("Margin involved", {"valueString": "No"}, "R0"),
    ("Margin involved", {"valueString": "Yes"}, "R1"),
])
def test_an_answer_takes_the_names_polarity_a_description_must_agree_with_it(
        name: str, value: JsonObject, expected: str | None, terminology: Terminology) -> None:
    """terminology.md section 6: like a boolean, "yes"/"no" answer the question the name asks;
    "positive" under "Margins free" contradicts the name and is read as unknown, not guessed."""
    record = KINDS[0].record(value, name=name)
    (tumour,) = build_case(record, patient_id="upsm-pt", terminology=terminology).tumours
    margin = tumour.resections[-1].margin
    assert (margin.value.value if margin else None) == expected


def test_an_ihc_panel_and_a_result_among_component_details_are_read(
    terminology: Terminology,
) -> None:
    """A value held in a component: an IHC panel whose components are markers, and a marker
    whose result component sits beside an intensity it does not decide."""
    panel = {"resourceType": "Observation", "id": "o-panel", "status": "final",
             "subject": {"reference": "Patient/p"}, "code": {"text": "Immunohistochemistry panel"},
             "component": [
                 {"code": {"coding": [{"system": LNC, "code": "10487-7"}]},
                  "valueString": "Positive"},
                 {"code": {"text": "Desmin"}, **_cc(SCT, "260385009", "Negative")}]}
    stain = {"resourceType": "Observation", "id": "o-sma", "status": "final",
             "subject": {"reference": "Patient/p"}, "code": {"text": "SMA immunostain"},
             "component": [{"code": {"text": "Staining intensity"}, "valueString": "strong"},
                           {"code": {"text": "Result"}, **_cc(LNC, "LA6576-8", "Positive")}]}
    record = [{"resourceType": "Patient", "id": "p"},
              {"resourceType": "Condition", "id": "c", "subject": {"reference": "Patient/p"},
               "code": {"text": "PEComa of the uterus"}}, panel, stain]
    (tumour,) = build_case(record, patient_id="p", terminology=terminology).tumours
    assert {(r.marker.value, r.positive, r.source) for r in tumour.ihc} == {
        ("hmb45", True, "Observation/o-panel"), ("desmin", False, "Observation/o-panel"),
        ("sma", True, "Observation/o-sma")}
