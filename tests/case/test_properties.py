"""Property tests: arbitrary FHIR-shaped input never crashes the mapper, and never invents facts."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from cds_service.case.build import build_case
from cds_service.case.model import Case
from cds_service.terminology import Terminology
from cds_service.terminology import load_terminology
from tests.case.common import CLINICAL
from tests.case.common import CPT
from tests.case.common import HGNC
from tests.case.common import ICD10CM
from tests.case.common import ICDO3
from tests.case.common import LOINC
from tests.case.common import MCODE_RELATED_URL
from tests.case.common import MORPHOLOGY_URL
from tests.case.common import NCIT
from tests.case.common import RELATED_URL
from tests.case.common import RXNORM
from tests.case.common import SNOMED
from tests.case.common import UCUM
from tests.case.common import VERIFICATION
from tests.case.common import bundle

# Loaded at import: hypothesis forbids function-scoped fixtures and this is a pure, immutable value.
TERMINOLOGY: Terminology = load_terminology()
TODAY = dt.date(2026, 11, 22)
PROPERTY = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

TYPES = ["Patient", "Condition", "Observation", "Procedure", "ServiceRequest",
         "MedicationRequest", "MedicationStatement", "Encounter", "DiagnosticReport", "Foo", ""]
KEYS = ["resourceType", "id", "code", "coding", "system", "display", "text", "extension", "url",
        "valueCodeableConcept", "valueReference", "valueString", "valueQuantity", "value",
        "unit", "component", "focus", "reference", "reasonReference", "partOf", "bodySite",
        "note", "status", "clinicalStatus", "verificationStatus", "onsetDateTime",
        "onsetPeriod", "start", "end", "effectiveDateTime", "performedPeriod",
        "medicationCodeableConcept", "medicationReference", "outcome", "birthDate"]
IDS = st.sampled_from(["c1", "c2", "o1", "p1", "m1", "dup", "x"])
WORDS = ["sarcoma", "leiomyosarcoma", "pecoma", "no", "not", "without", "negative",
         "positive", "present", "absent", "rhabdomyosarcomatous component",
         "atypical spindle cell lipomatous tumour", "spindle cell lipoma", "ntrk3 fusion",
         "spindle cell neoplasm", "unresectable", "local recurrence", "r1", "grade 3", "deep",
         "cm1", "pn1", "metastases", "core needle biopsy", "fna", "wide excision", "mri",
         "ct chest", "larotrectinib", "sirolimus", "desmin", "hmb-45", "thigh", "hand", ",", ".",
         ";", "cannot be excluded", "8714/3", "c49.22"]
TEXT = st.one_of(st.text(min_size=1, max_size=40).filter(str.strip),  # FHIR strings: not blank
                 st.lists(st.sampled_from(WORDS), min_size=1, max_size=12).map(" ".join))
LONG_TEXT = st.sampled_from(WORDS).map(lambda w: (w + " ") * 100)  # long text, dense in synonyms
VALID_DATES = st.one_of(
    st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31)).map(str),
    st.integers(1900, 2100).map(str),
    st.tuples(st.integers(1900, 2100), st.integers(1, 12)).map(lambda d: f"{d[0]}-{d[1]:02d}"),
    st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2100, 1, 1)).map(
        lambda d: d.isoformat(timespec="seconds") + "+02:00"),
    st.just("2024-03-05T10:00:00.123Z"),
)
DATES = VALID_DATES | VALID_DATES | VALID_DATES | st.sampled_from(
    ["", "2024-13", "2024-02-30", "yesterday", "0000"])  # every FHIR precision, a few invalid


def _codings(*codes: tuple[str, str]) -> st.SearchStrategy[tuple[str, str]]:
    return st.sampled_from(codes)


ANY_CODING = _codings(
    (ICD10CM, "I10"), (SNOMED, "113091000"), (CLINICAL, "remission"), ("urn:local", "X-1"),
    (VERIFICATION, "entered-in-error"), (LOINC, "48018-6"), (CPT, "99999"))
DIAGNOSES = _codings(
    (ICD10CM, "C49.22"), (ICD10CM, "C78.01"), (ICD10CM, "M84.552A"), (ICD10CM, "D48.19"),
    (SNOMED, "94391008"), (ICDO3, "8714/3"), (ICDO3, "8857/0"), (ICDO3, "8801/3"))
MORPHOLOGY = _codings((ICDO3, "8714/3"), (ICDO3, "8857/0"), (ICDO3, "8801/3"),
                      (ICDO3, "8890/3"), (ICDO3, "9999/9"), (ICDO3, "87143"))
OBSERVATIONS = _codings(
    (LOINC, "21889-1"), (LOINC, "33728-7"), (LOINC, "33732-9"), (NCIT, "C18000"),
    (LOINC, "84892-9"), (LOINC, "69548-6"), (LOINC, "31206-6"), (LOINC, "59847-4"),
    (LOINC, "21907-1"), (LOINC, "21900-6"), (LOINC, "97509-4"), (LOINC, "10476-0"),
    (LOINC, "93808-4"), (SNOMED, "405921002"), (NCIT, "C25333"))
VALUES = _codings(
    (LOINC, "LA9633-4"), (LOINC, "LA9634-2"), (SNOMED, "1155707008"), (SNOMED, "399409002"),
    (NCIT, "C139579"), (NCIT, "C25240"), (NCIT, "C41340"), (ICDO3, "8714/3"),
    (HGNC, "HGNC:8033"), (HGNC, "HGNC:3495"), (SNOMED, "268910001"))
PROCEDURES = _codings(
    (CPT, "27364"), (CPT, "71250"), (CPT, "27495"), (CPT, "17311"), (CPT, "73720"),
    (CPT, "77385"), (SNOMED, "1217123003"), (SNOMED, "3457005"), (CPT, "29505"))
DRUGS = _codings((RXNORM, "2586868"), (RXNORM, "3639"), (RXNORM, "35302"), (RXNORM, "5657"),
                 (RXNORM, "314076"), (NCIT, "C115977"))
STATUSES = _codings((CLINICAL, "active"), (CLINICAL, "remission"), (CLINICAL, "recurrence"),
                    (CLINICAL, "resolved"), (VERIFICATION, "confirmed"),
                    (VERIFICATION, "provisional"), (VERIFICATION, "entered-in-error"),
                    (VERIFICATION, "refuted"), ("urn:local", "active"))


def codeable(pool: st.SearchStrategy[tuple[str, str]]) -> st.SearchStrategy[dict[str, Any]]:
    """CodeableConcepts of codes of ``pool`` (and some we do not know), and text."""

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        cc: dict[str, Any] = {}
        codings = draw(st.lists(pool | pool | ANY_CODING, max_size=3))
        if codings:
            cc["coding"] = [{"system": s, "code": c, **draw(st.fixed_dictionaries(
                {}, optional={"display": TEXT}))} for s, c in codings]
        if draw(st.booleans()):
            cc["text"] = draw(TEXT | TEXT | TEXT | LONG_TEXT)
        return cc

    return build()


def reference() -> st.SearchStrategy[dict[str, str]]:
    """References to the record's Conditions, to other resources, to nowhere, absolute,
    versioned or malformed."""
    forms = st.sampled_from(["{}/{}", "https://ehr.example/fhir/{}/{}", "{}/{}/_history/2",
                             "urn:uuid:{}-{}", "{}", "/"])
    kinds = st.sampled_from(["Condition", "Procedure", "Patient", "Observation"])
    anything = st.builds(lambda kind, rid, form: {"reference": form.format(kind, rid)}, kinds,
                         IDS, forms)
    tumours = st.sampled_from(["c1", "c2"]).map(lambda rid: {"reference": f"Condition/{rid}"})
    return tumours | tumours | anything


EXTENSIONS = st.lists(st.one_of(
    st.builds(lambda c: {"url": MORPHOLOGY_URL, "valueCodeableConcept": c}, codeable(MORPHOLOGY)),
    st.builds(lambda r, url: {"url": url, "valueReference": r}, reference(),
              st.sampled_from([RELATED_URL, MCODE_RELATED_URL])),
), max_size=2)
QUANTITY = st.fixed_dictionaries({"value": st.one_of(st.integers(-10**6, 10**6), st.floats(
    -1e9, 1e9, allow_nan=False)), "unit": st.sampled_from(["mm", "cm", "m", "mm[Hg]", "%"])}).map(
    lambda q: {**q, "system": UCUM, "code": q["unit"]})
NOTES = st.lists(st.builds(lambda t: {"text": t}, TEXT), max_size=2)


def _maybe(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=fields)


def _resource(kind: str, **fields: Any) -> dict[str, Any]:
    body = fields.pop("body", {})
    return {"resourceType": kind, **fields, **body}


CONDITION = st.builds(
    lambda rid, code, body, onset: _resource("Condition", id=rid, code=code,
                                             body={**body, **onset},
                                             subject={"reference": "Patient/p"}),
    st.sampled_from(["c1", "c2", "dup"]), codeable(DIAGNOSES),
    _maybe(extension=EXTENSIONS, clinicalStatus=codeable(STATUSES),
           verificationStatus=codeable(STATUSES), bodySite=st.lists(codeable(ANY_CODING),
                                                                    max_size=2),
           recordedDate=DATES, note=NOTES),
    st.one_of(st.builds(lambda d: {"onsetDateTime": d}, DATES),
              st.builds(lambda p: {"onsetPeriod": p}, _maybe(start=DATES, end=DATES)),
              st.just({})))
OBSERVATION_VALUE = st.one_of(
    st.builds(lambda v: {"valueCodeableConcept": v}, codeable(VALUES)),
    st.builds(lambda v: {"valueString": v}, TEXT | LONG_TEXT),
    st.builds(lambda v: {"valueQuantity": v}, QUANTITY),
    st.builds(lambda v: {"valueInteger": v}, st.integers(-5, 5)),
    st.builds(lambda v: {"valueBoolean": v}, st.booleans()),
    st.just({}),
)
OBSERVATION = st.builds(
    lambda rid, state, code, value, when, body: _resource(
        "Observation", id=rid, status=state, code=code, body={**value, **when, **body}),
    st.sampled_from(["o1", "o2", "dup"]),
    st.sampled_from(["final", "amended", "entered-in-error", "cancelled", "preliminary"]),
    codeable(OBSERVATIONS), OBSERVATION_VALUE,
    st.one_of(st.builds(lambda d: {"effectiveDateTime": d}, DATES),
              st.builds(lambda p: {"effectivePeriod": p}, _maybe(start=DATES, end=DATES)),
              st.just({})),
    _maybe(focus=st.lists(reference(), max_size=2), partOf=st.lists(reference(), max_size=1),
           extension=EXTENSIONS, bodySite=codeable(ANY_CODING), note=NOTES,
           component=st.lists(st.builds(lambda c, v: {"code": c, **v}, codeable(OBSERVATIONS),
                                        OBSERVATION_VALUE), max_size=3)))
PROCEDURE = st.builds(
    lambda kind, rid, state, code, when, outcome, body: _resource(
        kind, id=rid, status=state, code=code, subject={"reference": "Patient/p"},
        body={**body, **({"intent": "order", "occurrenceDateTime": when}
                         if kind == "ServiceRequest" else {"performedDateTime": when,
                                                          "outcome": outcome})}),
    st.sampled_from(["Procedure", "ServiceRequest"]), st.sampled_from(["p1", "p2", "dup"]),
    st.sampled_from(["completed", "in-progress", "active", "not-done", "entered-in-error"]),
    codeable(PROCEDURES), DATES, codeable(VALUES),
    _maybe(reasonReference=st.lists(reference(), max_size=2),
           bodySite=st.lists(codeable(ANY_CODING), max_size=2)))
ORDER = st.builds(
    lambda kind, rid, code: {"resourceType": kind, "id": rid, "status": "draft", "intent": "order",
                             "subject": {"reference": "Patient/p"},
                             ("code" if kind == "ServiceRequest" else "medicationCodeableConcept"):
                             code},
    st.sampled_from(["MedicationRequest", "ServiceRequest"]), IDS, codeable(DRUGS | PROCEDURES))
MEDICATION = st.builds(
    lambda kind, rid, state, code: _resource(
        kind, id=rid, status=state, medicationCodeableConcept=code,
        subject={"reference": "Patient/p"},
        body={"intent": "order"} if kind == "MedicationRequest" else {}),
    st.sampled_from(["MedicationRequest", "MedicationStatement"]), st.sampled_from(["m1", "dup"]),
    st.sampled_from(["active", "completed", "draft", "cancelled", "entered-in-error"]),
    codeable(DRUGS))
PATIENT = st.builds(lambda rid, body: {"resourceType": "Patient", "id": rid, **body}, IDS,
                    _maybe(birthDate=DATES, gender=st.sampled_from(["female", "male", "x"])))
FHIR_SHAPED = st.one_of(CONDITION, CONDITION, OBSERVATION, OBSERVATION, OBSERVATION, PROCEDURE,
                        MEDICATION, PATIENT)
SCENARIOS = ("sts-thigh-high-grade-r1", "ntrk-on-larotrectinib", "pecoma-nodes-at-presentation",
             "sts-local-recurrence", "ilms-no-rms-chemo-order", "pathological-fracture-femur")
ELEMENT = st.one_of(st.just(None), DATES, TEXT, codeable(DIAGNOSES | OBSERVATIONS | VALUES),
                    st.lists(reference(), max_size=2), st.builds(lambda d: {"start": d}, DATES),
                    st.lists(codeable(VALUES), max_size=2))


@st.composite
def mutated_record(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A real scenario record with some elements of some resources removed or replaced (dates in
    every precision, other codes, text, references to nowhere) and some resources repeated."""
    record = bundle(draw(st.sampled_from(SCENARIOS)))
    for index in draw(st.lists(st.integers(0, len(record) - 1), max_size=4)):
        changed = record[index]
        for key in draw(st.lists(st.sampled_from(sorted(changed)), max_size=3, unique=True)):
            if key != "resourceType":
                changed[key] = draw(ELEMENT)
                if changed[key] is None:
                    del changed[key]
    repeats = draw(st.lists(st.integers(0, len(record) - 1), max_size=3))
    return record + [copy.deepcopy(record[i]) for i in repeats]


JSON: Any = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(KEYS) | st.text(max_size=5), children, max_size=5),
    max_leaves=10,
)
WRONG_TYPES = st.builds(lambda t, body: {**body, "resourceType": t} if t is not None else body,
                        st.one_of(st.none(), st.sampled_from(TYPES), JSON),
                        st.dictionaries(st.sampled_from(KEYS), JSON, max_size=5))


def _nested(depth: int) -> dict[str, Any]:
    extension: dict[str, Any] = {"url": "http://example.org/x", "valueString": "pecoma"}
    for _ in range(depth):
        extension = {"url": "http://example.org/x", "extension": [extension]}
    return extension


def _build(resources: list[Any], **kwargs: Any) -> Case:
    return build_case(resources, patient_id="p", terminology=TERMINOLOGY, today=TODAY, **kwargs)


def _sources(value: Any) -> set[str]:
    """Every ``source``/``sources`` reference anywhere in a dumped case."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "source" and isinstance(item, str):
                found.add(item)
            elif key == "sources":
                found.update(item)
            else:
                found |= _sources(item)
    elif isinstance(value, list | tuple):
        for item in value:
            found |= _sources(item)
    return found


def _refs(resources: list[Any]) -> set[str]:
    return {f"{r.get('resourceType')}/{r.get('id', '')}" for r in resources if isinstance(r, dict)}


@PROPERTY
@given(st.lists(JSON, max_size=4))
def test_arbitrary_json_values_never_crash(resources: list[Any]) -> None:
    """The issue: "a property test ... that arbitrary FHIR-shaped input never crashes the
    mapper" (here: any JSON value at all)."""
    case = _build(resources)
    assert isinstance(case, Case) and case.patient.id == "p"


@PROPERTY
@given(st.lists(WRONG_TYPES, max_size=5))
def test_fhir_shaped_dicts_with_wrong_types_never_crash(resources: list[Any]) -> None:
    """The issue: arbitrary FHIR-shaped input never crashes the mapper: wrong value types,
    missing or unknown resourceType; whatever is selected and invalid is named Type/id."""
    case = _build(resources)
    assert set(case.unreadable) <= _refs(resources)


@PROPERTY
@given(st.lists(FHIR_SHAPED, max_size=6))
def test_plausible_records_never_crash_and_never_invent_provenance(
        resources: list[dict[str, Any]]) -> None:
    """The issue: "Every fact keeps its provenance (resource type/id ...)": whatever codes,
    texts, dates in every FHIR precision, duplicate ids and references to nowhere a record
    holds, each fact cites only resources of the record, and the input is left unchanged."""
    before = copy.deepcopy(resources)
    case = _build(resources)
    assert resources == before
    refs = _refs(resources)
    assert _sources(case.model_dump()) <= refs
    assert all(t.source.startswith("Condition/") for t in case.tumours)
    assert set(case.unreadable) <= refs


@PROPERTY
@given(mutated_record())
def test_mutated_scenarios_never_crash_and_never_invent_provenance(
        resources: list[dict[str, Any]]) -> None:
    """The issue: arbitrary FHIR-shaped input never crashes the mapper, and "Every fact keeps its
    provenance": real records with elements removed, retyped or repeated."""
    case = _build(resources)
    refs = _refs(resources)
    assert _sources(case.model_dump()) <= refs
    assert set(case.unreadable) <= refs


@PROPERTY
@given(st.lists(FHIR_SHAPED, max_size=3), st.lists(ORDER, max_size=4),
       st.one_of(st.none(), st.lists(st.builds("{}/{}".format, st.sampled_from(
           ["MedicationRequest", "ServiceRequest"]), IDS), max_size=3)))
def test_draft_orders_of_any_content_never_crash(resources: list[dict[str, Any]],
                                                 orders: list[dict[str, Any]],
                                                 selections: list[str] | None) -> None:
    """The issue: draft orders are classified whatever they hold; order-sign (no selections)
    selects every draft, order-select only the named ones."""
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": order} for order in orders]}
    case = _build(resources, draft_orders=bundle, selections=selections)
    assert len(case.draft_orders) == len(orders)
    for order in case.draft_orders:
        assert order.selected is (selections is None or order.reference in selections)


def test_deep_nesting_is_unreadable_not_a_crash() -> None:
    """The issue: arbitrary input never crashes the mapper: extensions nested deeper than the
    validator follows make the resource unreadable (named), not a RecursionError."""
    condition = {"resourceType": "Condition", "id": "deep", "subject": {"reference": "Patient/p"},
                 "code": {"text": "Leiomyosarcoma of left thigh"}, "extension": [_nested(2000)]}
    case = _build([condition])
    assert case.unreadable == ("Condition/deep",) and case.tumours == ()


def test_a_huge_string_is_read_not_a_crash() -> None:
    """The issue: arbitrary input (huge strings) never crashes the mapper; the diagnosis in a
    long text is still found."""
    condition = {"resourceType": "Condition", "id": "big", "subject": {"reference": "Patient/p"},
                 "code": {"text": "Leiomyosarcoma of left thigh. " + "x" * 200_000}}
    (tumour,) = _build([condition]).tumours
    assert tumour.entity.value == "sts" and tumour.entity.from_text
