"""Arbitrary bodies and broken prefetch: 200 with cards, 400, 412 or 413; never a 500; on time.

Contract "Errors": bad input gets a clear OperationOutcome. Contract "Partial data policy": a
record with unusable parts still answers, or says (412) which key it could not use.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections.abc import Iterator
from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck
from hypothesis import currently_in_test_context
from hypothesis import event
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from cds_service.app import create_app
from cds_service.hooks.services import SERVICES
from cds_service.settings import Settings
from cds_service.state import service_state
from tests.common import scenario_request
from tests.robustness.strategies import HUGE
from tests.robustness.strategies import broken_bundle_keys
from tests.robustness.strategies import damaged_prefetch
from tests.robustness.strategies import json_scalars
from tests.robustness.strategies import json_values
from tests.robustness.strategies import weird_values

JsonObject = dict[str, Any]

TODAY = dt.date(2026, 11, 22)
SERVICE_IDS = [service.id for service in SERVICES]
BASE_CALLS = {
    "sts-patient-view": ("sts-thigh-high-grade-r1", "patient-view.json"),
    "sts-order-select": ("pecoma-lung-metastases-doxorubicin", "order-select.json"),
    "sts-order-sign": ("pathological-fracture-femur", "order-sign.json"),
}
"""One scenario per service whose calls fire cards: the starting point of the damage."""

TIME_BOUND_S = 10.0
"""A functional bound, not a benchmark: a call that takes longer is stuck on its input."""

MAX_BODY_MB = 1.0
"""Small, so that some generated bodies are over the limit (413)."""

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """An app with a 1 MiB body limit; every FHIR request fails to connect (none is expected)."""
    root = tmp_path_factory.mktemp("fuzz")
    app = create_app(Settings(database_url=f"sqlite:///{root / 'cds.sqlite3'}", today=TODAY,
                              max_body_mb=MAX_BODY_MB))
    with responses.RequestsMock(assert_all_requests_are_fired=False):
        yield app
    service_state(app).close()


@pytest.fixture(scope="module")
def fuzz_client(fuzz_app: Flask) -> FlaskClient:
    """A client of ``fuzz_app``."""
    return fuzz_app.test_client()


def _post(client: FlaskClient, service_id: str, body: bytes) -> TestResponse:
    started = time.monotonic()
    response = client.post(f"/cds-services/{service_id}", data=body,
                           content_type="application/json")
    elapsed = time.monotonic() - started
    assert elapsed < TIME_BOUND_S, f"{elapsed:.1f} s for a {len(body)}-byte body"
    _assert_contract_answer(response)
    if currently_in_test_context():  # --hypothesis-show-statistics shows the mix
        event(f"HTTP {response.status_code}")
    return response


def _assert_contract_answer(response: TestResponse) -> None:
    text = response.get_data(as_text=True)
    assert response.status_code in (200, 400, 412, 413), text[:1000]
    assert response.content_type == "application/json"
    assert "Traceback" not in text
    body = response.get_json()
    if response.status_code == 200:
        assert isinstance(body["cards"], list)
        for card in body["cards"]:
            assert card["summary"] and card["indicator"] and card["source"]["label"]
    else:
        assert body["resourceType"] == "OperationOutcome"
        assert body["issue"]
        assert all(issue["diagnostics"] and issue["code"] for issue in body["issue"])


def _service_call(service_id: str) -> JsonObject:
    scenario, name = BASE_CALLS[service_id]
    return scenario_request(scenario, name)


# --- arbitrary bodies ---------------------------------------------------------------------------


@FUZZ
@given(service_id=st.sampled_from(SERVICE_IDS), body=json_values)
def test_any_json_value_as_the_body(fuzz_client: FlaskClient, service_id: str, body: Any) -> None:
    _post(fuzz_client, service_id, json.dumps(body).encode())


@FUZZ
@given(service_id=st.sampled_from(SERVICE_IDS), body=st.binary(max_size=200))
def test_any_bytes_as_the_body(fuzz_client: FlaskClient, service_id: str, body: bytes) -> None:
    response = _post(fuzz_client, service_id, body)
    assert response.status_code == 400


@FUZZ
@given(service_id=st.sampled_from(SERVICE_IDS),
       value=st.sampled_from([math.nan, math.inf, -math.inf]), data=st.data())
def test_non_standard_json_numbers(fuzz_client: FlaskClient, service_id: str, value: float,
                                   data: st.DataObject) -> None:
    """``NaN`` and ``Infinity`` are not JSON but Python reads them: wherever they land, no 500."""
    call = _service_call(service_id)
    target = data.draw(st.sampled_from(["hookInstance", "extension", "prefetch", "context"]))
    call[target] = value if target == "hookInstance" else {"x": value}
    _post(fuzz_client, service_id, json.dumps(call, allow_nan=True).encode())


def _field(valid: Any) -> st.SearchStrategy[Any]:
    return st.just(valid) | weird_values


@FUZZ
@given(service_id=st.sampled_from(SERVICE_IDS), data=st.data())
def test_request_shaped_bodies_with_any_field_wrong(fuzz_client: FlaskClient, service_id: str,
                                                   data: st.DataObject) -> None:
    """Each member of a real call replaced, sometimes, by a value of the wrong shape."""
    call = _service_call(service_id)
    context = {key: data.draw(_field(value), label=f"context.{key}")
               for key, value in call["context"].items()}
    if data.draw(st.booleans(), label="context extra member"):
        context[data.draw(st.text(max_size=10))] = data.draw(json_values)
    body = {key: data.draw(_field(value), label=key) for key, value in call.items()
            if key != "context"}
    body["context"] = data.draw(st.just(context) | json_scalars, label="context")
    if data.draw(st.booleans(), label="with fhirAuthorization"):
        body["fhirAuthorization"] = data.draw(_field({
            "access_token": "some-opaque-token", "token_type": "Bearer", "expires_in": 300,
            "scope": "patient/*.read", "subject": "cds-service"}))
    _post(fuzz_client, service_id, json.dumps(body).encode())


# --- broken FHIR prefetch -----------------------------------------------------------------------


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(service_id=st.sampled_from(SERVICE_IDS), data=st.data())
def test_broken_prefetch_never_costs_a_500(fuzz_client: FlaskClient, service_id: str,
                                           data: st.DataObject) -> None:
    """Wrong types, no resourceType, unknown types, huge strings, deep nesting, duplicate ids,
    references to nowhere, dates in every precision: cards, or 400/412/413 naming the problem."""
    call = _service_call(service_id)
    call["prefetch"] = data.draw(damaged_prefetch(call["prefetch"]))

    response = _post(fuzz_client, service_id, json.dumps(call).encode())

    if broken_bundle_keys(call):  # never read as empty (contract.md, Errors)
        assert response.status_code in (400, 413), response.get_data(as_text=True)[:500]
    if response.status_code == 412:  # only a key that is missing or has more pages
        for issue in response.get_json()["issue"]:
            assert issue["code"] == "incomplete"
            assert issue["expression"][0].startswith("prefetch.")


@pytest.mark.parametrize(("depth", "status"), [(50, 200), (300, 200), (5_000, 400),
                                             (100_000, 400)])
def test_deep_nesting_is_answered_not_crashed(fuzz_client: FlaskClient, depth: int,
                                              status: int) -> None:
    """JSON nested past the parser's recursion limit is a 400; below it, an ordinary answer."""
    call = _service_call("sts-patient-view")
    call["extension"] = {"deep": "NESTED"}
    body = json.dumps(call).replace('"NESTED"', "[" * depth + "]" * depth)

    response = _post(fuzz_client, "sts-patient-view", body.encode())

    assert response.status_code == status
    if status == 400:
        assert "nested too deeply" in response.get_json()["issue"][0]["diagnostics"]


def test_a_huge_string_in_a_relevant_resource_is_answered_in_bounded_time(
    fuzz_client: FlaskClient,
) -> None:
    """A multi-megabyte ``code.text`` (under the body limit) is read, not choked on."""
    call = _service_call("sts-patient-view")
    condition = call["prefetch"]["conditions"]["entry"][1]["resource"]
    condition["code"]["text"] = HUGE[0] * 2  # 640 000 characters of "sarcoma"

    response = _post(fuzz_client, "sts-patient-view", json.dumps(call).encode())

    assert response.status_code == 200
    assert response.get_json()["cards"]
