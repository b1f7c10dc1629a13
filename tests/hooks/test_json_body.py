"""Reading the request body: what is JSON, and the 400 naming a malformed one (contract.md)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from cds_service.fhir.client import bundle_resources
from cds_service.fhir.client import is_operation_outcome
from cds_service.fhir.client import next_link
from cds_service.guidance import Guidance
from cds_service.guidelines.catalogue import load_catalogue
from cds_service.hooks.prefetch import missing_keys
from cds_service.hooks.request import parse_json
from cds_service.hooks.services import PREFETCH
from cds_service.state import service_state
from tests.common import FIXTURES_DIR
from tests.common import scenario_request

PV_URL = "/cds-services/sts-patient-view"


def _pv() -> dict[str, Any]:
    return scenario_request("no-tumour-hypertension", "patient-view.json")


@pytest.mark.parametrize(
    ("body", "diagnostics"),
    [
        (b'{"hook": "patient-view",', "the request body is not valid JSON: Expecting property "
         "name enclosed in double quotes at line 1 column 25"),
        (b'{"hook":\n ["a" "b"]}',
         "the request body is not valid JSON: Expecting ',' delimiter at line 2 column 7"),
        (b'{"hook": "patient-view"}]', "the request body is not valid JSON: Extra data at line 1 "
         "column 25"),
        (b'{"hook": nan}',
         "the request body is not valid JSON: Expecting value at line 1 column 10"),
        (b'{"hook": "\x01"}', "the request body is not valid JSON: Invalid control character at "
         "at line 1 column 11"),
        (b"\xff{}", "the request body is not UTF-8 encoded JSON"),
        (b"[" * 100_000, "the request body is nested too deeply"),
        (b"   ", "the request body is empty; a JSON object is required"),
    ],
)
def test_a_malformed_body_is_a_400_naming_the_problem(client: FlaskClient, body: bytes,
                                                      diagnostics: str) -> None:
    response = client.post(PV_URL, data=body, content_type="application/json")
    assert response.status_code == 400
    assert [issue["diagnostics"] for issue in response.get_json()["issue"]] == [diagnostics]


def test_nan_and_infinity_in_the_record_are_read_as_before(client: FlaskClient) -> None:
    # Python's json reads NaN and Infinity, so the service always has; an irrelevant blood
    # pressure holding them is ignored unread, and the call is answered.
    call = _pv()
    observation = call["prefetch"]["observations"]["entry"][0]["resource"]
    observation["valueQuantity"] = {"value": float("nan"), "unit": "mmHg"}
    observation["referenceRange"] = [{"high": {"value": float("inf")}}]
    body = json.dumps(call)
    assert "NaN" in body and "Infinity" in body

    response = client.post(PV_URL, data=body, content_type="application/json")

    assert response.status_code == 200 and response.get_json() == {"cards": []}


def test_a_utf16_body_is_still_read(client: FlaskClient) -> None:
    response = client.post(PV_URL, data=json.dumps(_pv()).encode("utf-16"),
                           content_type="application/json")
    assert response.status_code == 200 and response.get_json() == {"cards": []}


def test_answers_are_compact_utf8_json_with_a_final_newline(client: FlaskClient) -> None:
    response = client.post(PV_URL, json=_pv())
    assert response.content_type == "application/json"
    assert response.get_data() == b'{"cards":[]}\n'


# Prefetched searchsets are sifted before they are decoded (fhir.sieve): what the case model would
# skip is never decoded. Whatever sits in those skipped resources, the body reads as json reads it.
def _with_raw_in_a_lab(raw: bytes) -> bytes:
    call = _pv()
    call["prefetch"]["observations"]["entry"][0]["resource"]["issued"] = "@@@"
    body = json.dumps(call).encode()
    assert body.count(b'"@@@"') == 1
    return body.replace(b'"@@@"', raw)


@pytest.mark.parametrize("raw", [
    pytest.param(b'"2026-01-05T10:00:00\xffZ"', id="not-utf-8"),
    pytest.param(b'"2026-01-05\x01"', id="control-character"),
    pytest.param(b'"\\q"', id="invalid-escape"),
    pytest.param(b"[1,]", id="trailing-comma"),
    pytest.param(b"01", id="leading-zero"),
])
def test_a_malformed_resource_the_case_model_would_skip_is_still_a_400(
    client: FlaskClient, raw: bytes,
) -> None:
    body = _with_raw_in_a_lab(raw)
    try:
        json.loads(body)
        raise AssertionError("the body was meant to be malformed")
    except UnicodeDecodeError:
        expected = "the request body is not UTF-8 encoded JSON"
    except json.JSONDecodeError as exc:
        expected = (f"the request body is not valid JSON: {exc.msg} at line {exc.lineno} "
                    f"column {exc.colno}")

    response = client.post(PV_URL, data=body, content_type="application/json")

    assert response.status_code == 400
    assert [issue["diagnostics"] for issue in response.get_json()["issue"]] == [expected]


@pytest.mark.parametrize("body", [
    pytest.param(json.dumps(_pv()).encode().replace(b'"patient-view"', b'"patient-\xffview"', 1),
                 id="in-a-member-other-than-prefetch"),
    pytest.param(json.dumps(_pv()).encode().replace(b'"observations"', b'"observ\xffations"', 1),
                 id="in-a-prefetch-key"),
    pytest.param(json.dumps(_pv()).encode().replace(b'"patient-view"', b'"patient-\xc3view"', 1),
                 id="truncated-sequence"),
])
def test_a_body_that_is_not_utf_8_anywhere_is_a_400(client: FlaskClient, body: bytes) -> None:
    response = client.post(PV_URL, data=body, content_type="application/json")

    assert response.status_code == 400
    assert [issue["diagnostics"] for issue in response.get_json()["issue"]] == [
        "the request body is not UTF-8 encoded JSON"]


@pytest.mark.parametrize("raw", [b'"\\ud800"', b"-Infinity", b"1E+400", b"123456789012345678901"])
def test_what_json_reads_in_a_skipped_resource_is_read(client: FlaskClient, raw: bytes) -> None:
    response = client.post(PV_URL, data=_with_raw_in_a_lab(raw), content_type="application/json")
    assert response.status_code == 200 and response.get_json() == {"cards": []}


def test_every_scenario_request_reads_as_json_reads_it_less_what_the_sieve_drops(
    app: Flask,
) -> None:
    sieve = service_state(app).registry.pipeline.keep
    assert sieve is not None
    kept = dropped = 0
    for path in sorted(FIXTURES_DIR.glob("*/*.json")):
        whole = json.loads(path.read_bytes())
        if not (isinstance(whole, dict) and "hook" in whole and "context" in whole):
            continue  # not a hook request
        if path.parent.joinpath("bundle.json").exists():
            whole = scenario_request(path.parent.name, path.name)
        if not isinstance(whole.get("prefetch"), dict):
            continue
        body = json.dumps(whole).encode()
        sifted = parse_json(body, sieve=sieve)
        assert {k: v for k, v in sifted.items() if k != "prefetch"} == {
            k: v for k, v in whole.items() if k != "prefetch"}, path
        assert sifted["prefetch"].keys() == whole["prefetch"].keys(), path
        for key, value in whole["prefetch"].items():
            if not (isinstance(value, dict) and value.get("resourceType") == "Bundle"):
                assert sifted["prefetch"][key] == value, (path, key)
                continue
            resources = bundle_resources(value)
            expected = [r for r in resources if sieve.keeps(r)]
            assert bundle_resources(sifted["prefetch"][key]) == expected, (path, key)
            assert next_link(sifted["prefetch"][key]) == next_link(value), (path, key)
            kept += len(expected)
            dropped += len(resources) - len(expected)
    assert kept > 100 and dropped > 100


def test_a_prefetched_bundle_of_only_operation_outcomes_is_read_whole(app: Flask) -> None:
    """F4: such a key is missing data, so the sieve must not empty it into "no data"."""
    sieve = service_state(app).registry.pipeline.keep
    assert sieve is not None
    call = _pv()
    outcome = {"resourceType": "OperationOutcome",
               "issue": [{"severity": "error", "code": "forbidden"}]}
    call["prefetch"]["observations"] = {"resourceType": "Bundle", "type": "searchset",
                                        "entry": [{"resource": outcome}]}

    sifted = parse_json(json.dumps(call).encode(), sieve=sieve)

    assert missing_keys(PREFETCH, sifted["prefetch"]) == ["observations"]


JSON_SCALAR = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
               | st.text(max_size=8))
JSON_VALUE = st.recursive(JSON_SCALAR, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)
CODED = st.sampled_from([
    {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
    {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "3639"}]},
    {"text": "Leiomyosarcoma of thigh"}, {"text": "S-100 negative"}, {"text": "Glucose"},
])
FETCHED_RESOURCE = st.fixed_dictionaries(
    {"resourceType": st.sampled_from(["Observation", "Condition", "MedicationRequest",
                                      "OperationOutcome", "Patient", "Flag"])},
    optional={"id": st.text(min_size=1, max_size=4), "code": CODED | JSON_VALUE,
              "medicationCodeableConcept": CODED, "note": st.lists(
                  st.fixed_dictionaries({"text": st.text(max_size=12)}), max_size=2),
              "valueQuantity": JSON_VALUE, "status": st.text(max_size=6)},
)
ENTRY = st.fixed_dictionaries({}, optional={
    "resource": FETCHED_RESOURCE | JSON_VALUE,
    "search": st.fixed_dictionaries({"mode": st.sampled_from(["match", "include", "outcome"])}),
    "fullUrl": st.text(max_size=5),
}) | JSON_SCALAR
BUNDLE = st.fixed_dictionaries(
    {"resourceType": st.just("Bundle")},
    optional={"type": st.just("searchset"), "total": st.integers(0, 9),
              "entry": st.lists(ENTRY, max_size=4) | st.none(),
              "link": st.just([{"relation": "next", "url": "https://fhir.example.org/p2"}])},
)
CALL = st.fixed_dictionaries({
    "hook": st.just("patient-view"), "hookInstance": st.text(min_size=1, max_size=5),
    "prefetch": st.dictionaries(st.sampled_from(list(PREFETCH)),
                                BUNDLE | FETCHED_RESOURCE | st.none() | JSON_VALUE, max_size=4),
}, optional={"context": JSON_VALUE, "extension": JSON_VALUE})
SIEVE = Guidance.load(load_catalogue(), dt.date(2026, 11, 22)).sieve()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CALL)
def test_a_sifted_body_means_what_the_whole_body_means(call: dict[str, Any]) -> None:
    """Whatever the prefetch holds, sifting changes no member, no missing or paged key, and drops
    no resource the case model would read (the selection judges every resource again)."""
    whole = json.loads(json.dumps(call))
    sifted = parse_json(json.dumps(call).encode(), sieve=SIEVE)

    assert {k: v for k, v in sifted.items() if k != "prefetch"} == {
        k: v for k, v in whole.items() if k != "prefetch"}
    assert sifted["prefetch"].keys() == whole["prefetch"].keys()
    assert missing_keys(PREFETCH, sifted["prefetch"]) == missing_keys(PREFETCH, whole["prefetch"])
    for key, value in whole["prefetch"].items():
        mine = sifted["prefetch"][key]
        if not isinstance(value, dict) or value.get("resourceType") != "Bundle":
            assert mine == value
            continue
        assert next_link(mine) == next_link(value)
        if not is_operation_outcome(value):  # a Bundle msgspec cannot sift stays whole
            kept = [r for r in bundle_resources(value) if SIEVE.keeps(r)]
            assert [r for r in bundle_resources(mine) if SIEVE.keeps(r)] == kept
