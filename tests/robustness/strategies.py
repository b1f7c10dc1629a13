"""Hypothesis strategies: arbitrary JSON, and FHIR-shaped data broken the ways EHRs break it."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

from cds_service.hooks.services import PREFETCH
from tests.common import FIXTURES_DIR
from tests.common import load_json

JsonObject = dict[str, Any]

SEED_SCENARIOS = ("sts-thigh-high-grade-r1", "pecoma-lung-metastases-doxorubicin",
                  "pathological-fracture-femur", "ntrk-fusion-metastatic")
"""Records whose codes make generated resources look relevant, so they get validated."""

RESOURCE_TYPES = ("Patient", "Condition", "Observation", "Procedure", "MedicationRequest",
                  "MedicationStatement", "ServiceRequest")

FHIR_DATES = (
    # every precision FHIR allows for date and dateTime...
    "2024", "2024-03", "2024-03-02", "2024-03-02T10:00:00Z", "2024-03-02T10:00:00+05:30",
    "2024-03-02T10:00:00.123456-08:00", "0001-01-01", "9999-12-31T23:59:59-14:00",
    "2026-11-22T00:00:00+14:00",
    # ...and what interfaces send instead
    "2024-02-30", "2024-13-01", "24-03-02", "2024-3-2", "2024-03-02T10:00:00", "2024-03-02T25:61Z",
    "", "yesterday", "2024-03-02 10:00", "99999-01-01",
)
"""Dates in every FHIR precision, at the edges of the calendar, and malformed."""

DATE_FIELDS = ("onsetDateTime", "recordedDate", "abatementDateTime", "effectiveDateTime",
               "issued", "performedDateTime", "authoredOn", "birthDate", "deceasedDateTime")

REFERENCES = ("Patient/nowhere", "Condition/missing", "Observation/", "/Patient/x",
              "urn:uuid:00000000-0000-0000-0000-000000000000", "#contained", "Patient/../admin")
"""References to nothing, to odd places, and malformed."""

HUGE = ("sarcoma " * 40_000, "x" * 300_000, "leiomyosarcoma of the thigh " + "\u00e9" * 100_000)
"""Strings far longer than any clinical text (the matcher reads only the start of each)."""


def _record(scenario: str) -> list[JsonObject]:
    bundle = load_json(FIXTURES_DIR / scenario / "bundle.json")
    return [entry["resource"] for entry in bundle["entry"]]


SEED_RESOURCES = tuple(r for s in SEED_SCENARIOS for r in _record(s))


def _all_codings(value: Any) -> list[JsonObject]:
    if isinstance(value, dict):
        found = list(value["coding"]) if isinstance(value.get("coding"), list) else []
        return found + [c for v in value.values() for c in _all_codings(v)]
    if isinstance(value, list):
        return [c for v in value for c in _all_codings(v)]
    return []


CODINGS = tuple(dict.fromkeys(
    (c.get("system"), c.get("code"), c.get("display"))
    for r in SEED_RESOURCES for c in _all_codings(r) if isinstance(c, dict)
))
"""Real codings from the seed records: the terminology recognises many of them."""

# --- arbitrary JSON -------------------------------------------------------------------------------

json_scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30))
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12),
                                                                     children, max_size=5),
    max_leaves=40,
)
"""Any JSON value, small."""


def deeply_nested(depth: int, leaf: Any = "x") -> Any:
    """A JSON value nested ``depth`` levels: objects and arrays alternately."""
    value = leaf
    for level in range(depth):
        value = {"extension": [value]} if level % 2 else [value]
    return value


weird_values = st.one_of(
    json_values,
    st.sampled_from(HUGE),
    st.integers(min_value=50, max_value=400).map(deeply_nested),
    st.sampled_from(FHIR_DATES),
    st.sampled_from(REFERENCES).map(lambda ref: {"reference": ref}),
)
"""What a field of a FHIR resource may hold when an interface is broken."""


@st.composite
def codeable_concepts(draw: st.DrawFn) -> JsonObject:
    """A CodeableConcept with real codes from the seed records, odd text, or both."""
    codings = draw(st.lists(st.sampled_from(CODINGS), max_size=3))
    concept: JsonObject = {"coding": [
        {k: v for k, v in zip(("system", "code", "display"), coding, strict=True) if v is not None}
        for coding in codings
    ]}
    if draw(st.booleans()):
        concept["text"] = draw(st.sampled_from(("leiomyosarcoma", "PEComa", "no sarcoma",
                                                "pathological fracture", "")) | st.text())
    return concept


@st.composite
def fhir_resources(draw: st.DrawFn) -> JsonObject:
    """A resource of a type we read (or not), with plausible codes and broken fields."""
    resource: JsonObject = {}
    resource_type = draw(st.sampled_from(RESOURCE_TYPES) | st.sampled_from(
        ("Encounter", "Bogus", "", "condition")) | json_scalars)
    if draw(st.integers(0, 9)):  # sometimes no resourceType at all
        resource["resourceType"] = resource_type
    resource["id"] = draw(st.sampled_from(("dup", "dup", "x-1")) | st.text(max_size=8)
                          | json_scalars)
    for name in ("code", "medicationCodeableConcept", "valueCodeableConcept", "bodySite"):
        if draw(st.booleans()):
            resource[name] = draw(codeable_concepts() | weird_values)
    if draw(st.booleans()):
        resource["subject"] = {"reference": draw(st.sampled_from(REFERENCES))}
    for name in draw(st.lists(st.sampled_from(DATE_FIELDS), max_size=3, unique=True)):
        resource[name] = draw(st.sampled_from(FHIR_DATES) | weird_values)
    for name in draw(st.lists(st.sampled_from(("status", "note", "extension", "valueString",
                                                "focus", "partOf", "component", "meta")),
                              max_size=3, unique=True)):
        resource[name] = draw(weird_values)
    return resource


@st.composite
def broken_resources(draw: st.DrawFn) -> JsonObject:
    """A real resource of the seed records with one or more fields broken or removed."""
    resource = copy.deepcopy(draw(st.sampled_from(SEED_RESOURCES)))
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(sorted(resource)) | st.sampled_from(DATE_FIELDS))
        if draw(st.integers(0, 4)) == 0:
            resource.pop(name, None)
        else:
            resource[name] = draw(weird_values)
    return resource


def _searchset(resources: list[Any]) -> JsonObject:
    return {"resourceType": "Bundle", "type": "searchset",
            "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources]}


prefetch_values = st.one_of(
    st.none(),
    json_scalars,
    st.lists(json_values, max_size=3),
    st.just({}),
    st.just({"resourceType": "OperationOutcome", "issue": [{"severity": "error",
                                                            "code": "timeout"}]}),
    st.sampled_from(({"resourceType": "Bundle", "entry": "not a list"},
                     {"resourceType": "Bundle", "type": "searchset", "entry": [1, "two", None]},
                     {"resourceType": "Bundle", "type": "searchset", "entry": [],
                      "link": [{"relation": "next", "url": "https://fhir.example.org/p2"}]})),
    st.lists(fhir_resources() | broken_resources() | json_values, max_size=4).map(_searchset),
    fhir_resources(),
)
"""What an EHR may put under one prefetch key."""


@st.composite
def damaged_prefetch(draw: st.DrawFn, prefetch: JsonObject) -> JsonObject:
    """``prefetch`` with keys replaced, dropped, or given extra, broken or duplicate resources."""
    prefetch = copy.deepcopy(prefetch)
    for _ in range(draw(st.integers(1, 4))):
        key = draw(st.sampled_from(sorted(PREFETCH)) | st.text(max_size=6))
        action = draw(st.sampled_from(("replace", "drop", "add", "add", "duplicate")))
        value = prefetch.get(key)
        searchset = isinstance(value, dict) and isinstance(value.get("entry"), list)
        if action == "replace" or (action != "drop" and not searchset):
            prefetch[key] = copy.deepcopy(draw(prefetch_values))  # later steps mutate it
        elif action == "drop":
            prefetch.pop(key, None)
        elif action == "add":
            extra = draw(st.lists(fhir_resources() | broken_resources(), min_size=1, max_size=3))
            value["entry"] += [{"resource": r} for r in extra]
        elif value["entry"]:
            twin = copy.deepcopy(draw(st.sampled_from(value["entry"])))
            resource = twin.get("resource") if isinstance(twin, dict) else None
            if isinstance(resource, dict) and draw(st.booleans()):
                resource[draw(st.sampled_from(DATE_FIELDS))] = draw(
                    st.sampled_from(FHIR_DATES))
            value["entry"].append(twin)
    return prefetch


def broken_bundle_keys(body: Any) -> list[str]:
    """Prefetch keys holding a Bundle whose ``entry`` is not a list of objects with a resource
    object (the contract's words, checked here independently of the service's own code)."""
    prefetch = body.get("prefetch") if isinstance(body, dict) else None
    if not isinstance(prefetch, dict):
        return []
    broken = []
    for key in PREFETCH:
        value = prefetch.get(key)
        if not isinstance(value, dict) or value.get("resourceType") != "Bundle":
            continue
        if "entry" not in value:
            continue
        entries = value["entry"]
        if not isinstance(entries, list) or not all(
                isinstance(entry, dict) and isinstance(entry.get("resource"), dict)
                for entry in entries):
            broken.append(key)
    return broken
