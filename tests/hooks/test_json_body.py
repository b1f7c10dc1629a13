"""Reading the request body: what is JSON, and the 400 naming a malformed one (contract.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

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
