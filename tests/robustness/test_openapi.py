"""``/openapi.json`` describes the real API: its shape, and schemathesis fuzzing every operation.

Schemathesis runs in-process against the WSGI app with a bounded number of examples per operation
and mode. Every default check applies except two that do not fit this service:
``positive_data_acceptance`` (a schema-valid call is still refused when its hook is not the
service's, a selection names no draft order, or prefetch cannot be completed: 400/412 by the
contract) and ``ignored_auth`` (the fuzzed app runs open, as it does without CDS_TRUSTED_ISSUERS).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import responses
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import ignored_auth
from schemathesis.specs.openapi.checks import positive_data_acceptance

from cds_service.app import create_app
from cds_service.hooks.services import SERVICES
from cds_service.openapi import openapi_document
from cds_service.openapi import route_paths
from cds_service.settings import Settings
from cds_service.state import service_state
from tests.common import FIXTURES_DIR
from tests.common import load_json
from tests.common import scenario_request

JsonObject = dict[str, Any]

MAX_EXAMPLES = 25
"""Per operation and generation mode: enough to reach every branch of the validators quickly."""

EXCLUDED_CHECKS = [positive_data_acceptance, ignored_auth]
SERVICE_OF_HOOK = {service.hook.value: service.id for service in SERVICES}
DOCUMENT = openapi_document((), auth_required=False)
OPERATIONS = [(method.upper(), path) for path, item in DOCUMENT["paths"].items()
              for method in item]
WITH_INPUT = [(method, path) for method, path in OPERATIONS
              if "parameters" in DOCUMENT["paths"][path][method.lower()]]


@pytest.fixture(scope="module")
def fuzzed_app(production_like_db_url: str) -> Iterator[Flask]:
    """One app for the whole module: schemathesis feeds it hundreds of requests."""
    app = create_app(Settings(database_url=production_like_db_url))
    yield app
    service_state(app).close()


@pytest.fixture(scope="module")
def api_schema(fuzzed_app: Flask) -> schemathesis.BaseSchema:
    """The document as the app serves it, loaded by schemathesis."""
    return schemathesis.openapi.from_wsgi("/openapi.json", fuzzed_app)


@pytest.fixture
def served(fuzzed_app: Flask) -> JsonObject:
    """The document as a client sees it."""
    response = fuzzed_app.test_client().get("/openapi.json")
    assert response.status_code == 200
    assert response.content_type == "application/json"
    document: JsonObject = response.get_json()
    return document


def _own_service(case: schemathesis.Case) -> schemathesis.Case:
    # The body's hook picks the service, so a valid call reaches prefetch and the engine.
    if isinstance(case.body, dict) and case.body.get("hook") in SERVICE_OF_HOOK:
        case.path_parameters = {"id": SERVICE_OF_HOOK[case.body["hook"]]}
    return case


def _fuzz(api_schema: schemathesis.BaseSchema, method: str, path: str,
          mode: GenerationMode) -> None:
    strategy = api_schema[path][method].as_strategy(generation_mode=mode)
    if mode is GenerationMode.POSITIVE and path == "/cds-services/{id}":
        strategy = strategy.map(_own_service)

    @given(case=strategy)
    @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case) -> None:
        # A generated fhirServer is never called for real: every FHIR request fails to connect.
        with responses.RequestsMock(assert_all_requests_are_fired=False):
            case.call_and_validate(excluded_checks=EXCLUDED_CHECKS)

    run()


# --- the document --------------------------------------------------------------------------------


def test_the_document_is_valid_openapi_3_1(api_schema: schemathesis.BaseSchema,
                                           served: JsonObject) -> None:
    """Contract "Other endpoints": ``GET /openapi.json`` is an OpenAPI 3 description."""
    api_schema.validate()  # against the OpenAPI 3.1 meta-schema
    assert served["openapi"] == "3.1.0"


def test_every_route_of_the_app_is_described_and_nothing_else(fuzzed_app: Flask,
                                                              served: JsonObject) -> None:
    """Every endpoint of the contract, and no path the app does not serve."""
    assert set(served["paths"]) == route_paths(fuzzed_app)
    assert {"/cds-services", "/cds-services/{id}", "/cds-services/{id}/feedback",
            "/feedback/summary", "/healthz", "/readyz", "/recommendations",
            "/recommendations/{id}", "/openapi.json"} <= set(served["paths"])


def test_service_ids_and_recommendation_ids_are_enumerated(fuzzed_app: Flask,
                                                           served: JsonObject) -> None:
    paths = served["paths"]
    for path in ("/cds-services/{id}", "/cds-services/{id}/feedback"):
        (parameter,) = paths[path]["post"]["parameters"]
        assert parameter["schema"]["enum"] == [service.id for service in SERVICES]
    (page,) = paths["/recommendations/{id}"]["get"]["parameters"]
    assert page["schema"]["enum"] == list(service_state(fuzzed_app).catalogue.ids)


def _resolve(document: JsonObject, node: JsonObject) -> JsonObject:
    while "$ref" in node:
        target: JsonObject = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def test_the_hook_call_takes_one_request_schema_per_hook(served: JsonObject) -> None:
    body = served["paths"]["/cds-services/{id}"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    hooks = [_resolve(served, branch)["properties"]["hook"]["const"] for branch in schema["oneOf"]]
    assert sorted(hooks) == sorted(SERVICE_OF_HOOK)
    assert body["required"] is True


def test_every_schema_is_a_real_one(served: JsonObject) -> None:
    """No empty schema: each body and each component says what it holds."""
    schemas = served["components"]["schemas"]
    assert {"PatientViewRequest", "OrderSelectRequest", "OrderSignRequest", "FeedbackRequest",
            "CdsResponse", "Card", "Discovery", "FeedbackSummary",
            "OperationOutcome"} <= set(schemas)
    for name, schema in schemas.items():
        assert schema.get("type") or schema.get("enum") or schema.get("anyOf"), name
    for path, item in served["paths"].items():
        for method, operation in item.items():
            media = [*operation.get("requestBody", {}).get("content", {}).values()]
            for response in operation["responses"].values():
                media += _resolve(served, response).get("content", {}).values()
            for content in media:
                schema = _resolve(served, content["schema"])
                assert schema and (schema.get("type") or schema.get("oneOf")), (path, method)


@pytest.mark.parametrize(("status", "paths"), [
    ("400", ["/cds-services/{id}", "/cds-services/{id}/feedback"]),
    ("404", ["/cds-services/{id}", "/cds-services/{id}/feedback"]),
    ("408", ["/cds-services/{id}", "/cds-services/{id}/feedback"]),
    ("412", ["/cds-services/{id}"]),
    ("413", ["/cds-services/{id}", "/cds-services/{id}/feedback"]),
    ("503", ["/cds-services/{id}/feedback", "/feedback/summary"]),
])
def test_error_answers_are_operation_outcomes(served: JsonObject, status: str,
                                              paths: list[str]) -> None:
    """Contract "Errors": every non-2xx answer with a body is an OperationOutcome."""
    for path in paths:
        (operation,) = served["paths"][path].values()
        response = _resolve(served, operation["responses"][status])
        schema = response["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/OperationOutcome"}


@pytest.mark.parametrize("auth_required", [False, True])
def test_bearer_auth_covers_the_hook_endpoints_and_the_summary(auth_required: bool) -> None:
    """Contract: trust covers ``/cds-services/**`` and ``/feedback/summary``; the rest is open."""
    document = openapi_document(("x",), auth_required=auth_required)
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    expected = [{"bearerAuth": []}] if auth_required else [{"bearerAuth": []}, {}]
    for path, item in document["paths"].items():
        for operation in item.values():
            covered = path.startswith("/cds-services") or path == "/feedback/summary"
            assert operation.get("security") == (expected if covered else None), path
            if covered:
                assert operation["responses"]["401"] == {
                    "$ref": "#/components/responses/Unauthorized"}


# --- schemathesis ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_schema_valid_requests_get_documented_answers(
    api_schema: schemathesis.BaseSchema, method: str, path: str
) -> None:
    """No 5xx; every status, content type and body matches the document."""
    _fuzz(api_schema, method, path, GenerationMode.POSITIVE)


@pytest.mark.parametrize(("method", "path"), WITH_INPUT)
def test_schema_invalid_requests_are_refused_with_documented_answers(
    api_schema: schemathesis.BaseSchema, method: str, path: str
) -> None:
    """Anything the document forbids is a 4xx OperationOutcome (or HTML 404 for pages)."""
    _fuzz(api_schema, method, path, GenerationMode.NEGATIVE)


def _scenario_calls() -> list[tuple[str, JsonObject]]:
    calls = []
    for manifest_file in sorted(FIXTURES_DIR.glob("*/manifest.json")):
        for call in load_json(manifest_file)["calls"]:
            calls.append((manifest_file.parent.name, call))
    return calls


def test_the_cards_of_every_scenario_match_the_response_schema(
    api_schema: schemathesis.BaseSchema, client: FlaskClient
) -> None:
    """The fuzzer rarely reaches cards; the scenarios do, with suggestions and extensions."""
    operation = api_schema["/cds-services/{id}"]["POST"]
    with_cards = 0
    for scenario, call in _scenario_calls():
        body = scenario_request(scenario, call["request"])
        case = operation.Case(path_parameters={"id": SERVICE_OF_HOOK[call["hook"]]}, body=body,
                              media_type="application/json")
        response = case.call_and_validate(excluded_checks=EXCLUDED_CHECKS)
        assert response.status_code == 200, (scenario, response.text)
        with_cards += bool(response.json()["cards"])
    assert with_cards >= 20
