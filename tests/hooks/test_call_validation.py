"""Service-call validation: 400 naming each invalid field, 404, 413 (contract.md "Errors", F12)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from cds_service.app import create_app
from cds_service.settings import Settings
from cds_service.state import service_state
from tests.common import issue_codes
from tests.common import issue_expressions
from tests.common import scenario_request

SCENARIO = "no-tumour-hypertension"
PV_URL = "/cds-services/sts-patient-view"
SIGN_URL = "/cds-services/sts-order-sign"
SELECT_URL = "/cds-services/sts-order-select"


def _pv() -> dict[str, Any]:
    return scenario_request(SCENARIO, "patient-view.json")


def _sign() -> dict[str, Any]:
    return scenario_request(SCENARIO, "order-sign.json")


def _select() -> dict[str, Any]:
    return scenario_request(SCENARIO, "order-select.json")


def _assert_operation_outcome(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.content_type == "application/json"
    body: dict[str, Any] = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert all(issue["severity"] == "error" and issue["diagnostics"] for issue in body["issue"])
    return body


@pytest.mark.parametrize(
    ("url", "request_name"),
    [(PV_URL, "patient-view.json"), (SIGN_URL, "order-sign.json"),
     (SELECT_URL, "order-select.json")],
)
def test_valid_calls_without_tumour_get_no_cards(
    client: FlaskClient, url: str, request_name: str
) -> None:
    response = client.post(url, json=scenario_request(SCENARIO, request_name))
    assert response.status_code == 200
    assert response.get_json() == {"cards": []}


def test_malformed_json_is_400_invalid(client: FlaskClient) -> None:
    response = client.post(PV_URL, data=b'{"hook": "patient-view",',
                           content_type="application/json")
    body = _assert_operation_outcome(response, 400)
    assert issue_codes(body) == ["invalid"]
    assert "not valid JSON" in body["issue"][0]["diagnostics"]


def test_body_is_parsed_as_json_whatever_the_content_type(client: FlaskClient) -> None:
    response = client.post(PV_URL, data=json.dumps(_pv()), content_type="text/plain")
    assert response.status_code == 200


@pytest.mark.parametrize("body", [b"", b"[]", b'"patient-view"', b"42", b"null"])
def test_a_body_that_is_not_an_object_is_400(client: FlaskClient, body: bytes) -> None:
    _assert_operation_outcome(client.post(PV_URL, data=body), 400)


@pytest.mark.parametrize(
    ("path", "expected_expression"),
    [
        (("hook",), "hook"),
        (("hookInstance",), "hookInstance"),
        (("context",), "context"),
        (("context", "patientId"), "context.patientId"),
        (("context", "userId"), "context.userId"),
    ],
)
def test_missing_required_field_is_400_required_naming_it(
    client: FlaskClient, path: tuple[str, ...], expected_expression: str
) -> None:
    request = _pv()
    parent = request
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]

    body = _assert_operation_outcome(client.post(PV_URL, json=request), 400)

    assert expected_expression in issue_expressions(body)
    assert "required" in issue_codes(body)


@pytest.mark.parametrize(
    ("mutate", "expected_expression"),
    [
        (lambda r: r.update(hookInstance=""), "hookInstance"),
        (lambda r: r.update(hookInstance=123), "hookInstance"),
        (lambda r: r["context"].update(patientId=42), "context.patientId"),
        (lambda r: r["context"].update(patientId="Observation/1"), "context.patientId"),
        (lambda r: r.update(context="pt-htn-01"), "context"),
        (lambda r: r.update(fhirServer="not a url"), "fhirServer"),
        (lambda r: r.update(prefetch=["not", "an", "object"]), "prefetch"),
        (lambda r: r["prefetch"].update(conditions="Condition/1"), "prefetch.conditions"),
    ],
)
def test_ill_typed_field_is_400_invalid_naming_it(
    client: FlaskClient, mutate: Callable[[dict[str, Any]], None], expected_expression: str
) -> None:
    request = _pv()
    mutate(request)
    body = _assert_operation_outcome(client.post(PV_URL, json=request), 400)
    assert expected_expression in issue_expressions(body)


def test_every_invalid_field_is_reported_at_once(client: FlaskClient) -> None:
    request = _pv()
    del request["hookInstance"]
    del request["context"]["userId"]
    request["context"]["patientId"] = 7

    body = _assert_operation_outcome(client.post(PV_URL, json=request), 400)

    assert {"hookInstance", "context.userId", "context.patientId"} <= set(issue_expressions(body))


def test_hook_not_the_services_is_400(client: FlaskClient) -> None:
    body = _assert_operation_outcome(client.post(SIGN_URL, json=_pv()), 400)
    assert issue_expressions(body) == ["hook"]
    assert "order-sign" in body["issue"][0]["diagnostics"]


def test_fhir_authorization_without_fhir_server_is_400(client: FlaskClient) -> None:
    request = _pv()
    request["fhirAuthorization"] = {"access_token": "secret-token-value", "token_type": "Bearer",
                                    "expires_in": 300, "scope": "patient/*.read",
                                    "subject": "cds-service"}
    body = _assert_operation_outcome(client.post(PV_URL, json=request), 400)
    assert "fhirServer is required when fhirAuthorization is present" in json.dumps(body)
    assert "secret-token-value" not in json.dumps(body)


def test_incomplete_fhir_authorization_is_400_naming_each_field(client: FlaskClient) -> None:
    request = _pv()
    request["fhirServer"] = "https://ehr.example.org/fhir"
    request["fhirAuthorization"] = {"access_token": "t", "token_type": "MAC"}
    body = _assert_operation_outcome(client.post(PV_URL, json=request), 400)
    assert {"fhirAuthorization.token_type", "fhirAuthorization.expires_in",
            "fhirAuthorization.scope", "fhirAuthorization.subject"} <= set(issue_expressions(body))


def test_patient_id_as_reference_is_accepted(client: FlaskClient) -> None:
    request = _pv()
    request["context"]["patientId"] = "Patient/pt-htn-01"
    assert client.post(PV_URL, json=request).status_code == 200


def test_unknown_members_and_extensions_are_tolerated(client: FlaskClient) -> None:
    request = _pv()
    request["extension"] = {"com.example.ehr": {"tenant": "north"}}
    request["somethingNew"] = True
    request["context"]["futureField"] = "x"
    assert client.post(PV_URL, json=request).status_code == 200


def test_order_sign_without_draft_orders_is_400(client: FlaskClient) -> None:
    request = _sign()
    del request["context"]["draftOrders"]
    body = _assert_operation_outcome(client.post(SIGN_URL, json=request), 400)
    assert issue_expressions(body) == ["context.draftOrders"]


def test_draft_orders_that_is_not_a_bundle_is_400(client: FlaskClient) -> None:
    request = _sign()
    request["context"]["draftOrders"] = {"resourceType": "MedicationRequest"}
    body = _assert_operation_outcome(client.post(SIGN_URL, json=request), 400)
    assert issue_expressions(body) == ["context.draftOrders"]


def test_draft_order_with_unreadable_used_fields_is_named_not_400(client: FlaskClient) -> None:
    """Revised contract ("Draft orders are read leniently"): only the envelope makes a 400; a
    draft whose used fields cannot be read is named in the response's extension, no card."""
    request = _sign()
    order = request["context"]["draftOrders"]["entry"][1]["resource"]
    order["subject"] = "Patient/not-a-reference-object"
    order["status"] = 17

    response = client.post(SIGN_URL, json=request)

    assert response.status_code == 200
    assert response.get_json() == {
        "cards": [],
        "extension": {"org.sts-cds.explanation": {
            "unreadableResources": [f"{order['resourceType']}/{order['id']}"]}}}


def test_draft_order_entry_without_resource_is_named_by_position(client: FlaskClient) -> None:
    request = _sign()
    request["context"]["draftOrders"]["entry"].append({"fullUrl": "urn:uuid:1"})
    response = client.post(SIGN_URL, json=request)
    assert response.status_code == 200
    assert response.get_json()["extension"]["org.sts-cds.explanation"] == {
        "unreadableResources": ["context.draftOrders.entry[2]"]}


def test_draft_order_of_a_type_fhir_does_not_know_is_ignored(client: FlaskClient) -> None:
    # cds-hooks.md §3: the draftOrders type list is "intentionally not comprehensive".
    request = _sign()
    request["context"]["draftOrders"]["entry"].append(
        {"resource": {"resourceType": "FutureRequest", "id": "f1"}})
    assert client.post(SIGN_URL, json=request).status_code == 200


def test_draft_orders_bundle_without_type_is_accepted(client: FlaskClient) -> None:
    # cds-hooks.md §3: Bundle.type is missing from the Library 1.0.1 examples.
    request = _sign()
    del request["context"]["draftOrders"]["type"]
    assert client.post(SIGN_URL, json=request).status_code == 200


def test_order_select_needs_selections(client: FlaskClient) -> None:
    request = _select()
    request["context"]["selections"] = []
    body = _assert_operation_outcome(client.post(SELECT_URL, json=request), 400)
    assert issue_expressions(body) == ["context.selections"]


def test_selection_not_in_draft_orders_is_400(client: FlaskClient) -> None:
    request = _select()
    request["context"]["selections"] = ["MedicationRequest/draft-amlodipine-01",
                                        "ServiceRequest/not-drafted"]
    body = _assert_operation_outcome(client.post(SELECT_URL, json=request), 400)
    assert issue_expressions(body) == ["context.selections[1]"]


def test_unknown_service_is_404(client: FlaskClient) -> None:
    body = _assert_operation_outcome(client.post("/cds-services/no-such-service", json=_pv()), 404)
    assert issue_codes(body) == ["not-found"]


def test_unknown_service_is_404_even_with_a_bad_body(client: FlaskClient) -> None:
    response = client.post("/cds-services/no-such-service", data=b"{")
    assert _assert_operation_outcome(response, 404)


def test_unknown_route_and_wrong_method_answer_operation_outcomes(client: FlaskClient) -> None:
    assert issue_codes(_assert_operation_outcome(client.get("/nowhere"), 404)) == ["not-found"]
    response = client.get(PV_URL)
    body = _assert_operation_outcome(response, 405)
    assert "POST" in response.headers["Allow"]
    assert issue_codes(body) == ["not-supported"]


def test_body_over_the_limit_is_413_too_long(make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings(max_body_mb=0.01))
    try:
        request = _pv()
        request["extension"] = {"com.example.padding": "x" * 20_000}
        response = app.test_client().post(PV_URL, json=request)
        body = _assert_operation_outcome(response, 413)
        assert issue_codes(body) == ["too-long"]
        assert "CDS_MAX_BODY_MB" in body["issue"][0]["diagnostics"]
    finally:
        service_state(app).close()



def test_an_internal_error_is_a_500_operation_outcome_without_traceback(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr("cds_service.pipeline.resolve", explode)
    body = _assert_operation_outcome(client.post(PV_URL, json=_pv()), 500)
    assert issue_codes(body) == ["exception"]
    assert "secret internals" not in json.dumps(body) and "Traceback" not in json.dumps(body)
