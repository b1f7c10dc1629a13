"""The OpenAPI 3.1 description of the HTTP API (``/openapi.json``), built from the wire models."""

from __future__ import annotations

import copy
import re
from functools import cache
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version
from typing import Any

from flask import Blueprint
from flask import Flask
from flask import Response
from flask import current_app
from flask import jsonify
from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema
from pydantic.json_schema import JsonSchemaMode
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from cds_service.feedback.summary import FeedbackSummary
from cds_service.hooks.models import CdsResponse
from cds_service.hooks.models import Discovery
from cds_service.hooks.models import FeedbackRequest
from cds_service.hooks.models import OrderSelectRequest
from cds_service.hooks.models import OrderSignRequest
from cds_service.hooks.models import PatientViewRequest
from cds_service.hooks.services import SERVICES
from cds_service.openapi_bodies import FeedbackAccepted
from cds_service.openapi_bodies import Health
from cds_service.openapi_bodies import OpenApiDocument
from cds_service.openapi_bodies import OperationOutcome
from cds_service.openapi_bodies import Readiness
from cds_service.state import service_state
from cds_service.web.dashboard import DATE_PATTERN
from cds_service.web.dashboard import PARAMETERS
from cds_service.web.dashboard import VERSION_PATTERN

bp = Blueprint("openapi", __name__)

OPENAPI_VERSION = "3.1.0"
"""OpenAPI 3.1, whose schema dialect is the JSON Schema 2020-12 pydantic generates."""

SCHEMA_REF = "#/components/schemas/{model}"
"""Where the generated schemas live in the document."""

JsonObject = dict[str, Any]


class _WireJsonSchema(GenerateJsonSchema):
    """JSON Schema of the wire format: no generated titles; answers omit what is None (J3)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        """Never: pydantic's titles ("Hookinstance") only repeat the member names."""
        return False

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        """In answers, ``X | None`` is just ``X``: None is omitted, never sent as null."""
        if self.mode == "serialization":
            return self.generate_inner(schema["schema"])
        return super().nullable_schema(schema)

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        """In answers, a None default is not shown (the member is simply absent)."""
        if self.mode == "serialization" and self.get_default_value(schema) is None:
            return self.generate_inner(schema["schema"])
        return super().default_schema(schema)


_SCHEMAS: tuple[tuple[str, JsonSchemaMode, Any], ...] = (
    ("patient-view", "validation", PatientViewRequest),
    ("order-select", "validation", OrderSelectRequest),
    ("order-sign", "validation", OrderSignRequest),
    ("feedback", "validation", FeedbackRequest),
    ("response", "serialization", CdsResponse),
    ("discovery", "serialization", Discovery),
    ("summary", "serialization", FeedbackSummary),
    ("accepted", "serialization", FeedbackAccepted),
    ("outcome", "serialization", OperationOutcome),
    ("health", "serialization", Health),
    ("readiness", "serialization", Readiness),
    ("openapi", "serialization", OpenApiDocument),
)


def openapi_document(recommendation_ids: tuple[str, ...], *, auth_required: bool) -> JsonObject:
    """The OpenAPI document of this service.

    Args:
        recommendation_ids: the catalogue ids, the values of ``/recommendations/{id}``.
        auth_required: trust is configured, so ``/cds-services/**`` and ``/feedback/summary``
            need a JWT; otherwise the document says they may also be called anonymously.
    """
    return copy.deepcopy(_build(recommendation_ids, auth_required))


@cache
def _build(recommendation_ids: tuple[str, ...], auth_required: bool) -> JsonObject:
    refs, definitions = TypeAdapter.json_schemas(
        [(key, mode, TypeAdapter(kind)) for key, mode, kind in _SCHEMAS],
        ref_template=SCHEMA_REF, by_alias=True, schema_generator=_WireJsonSchema,
    )
    ref = {key: refs[(key, mode)] for key, mode, _ in _SCHEMAS}
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Soft-tissue tumour CDS Hooks service",
            "version": _package_version(),
            "description": "CDS Hooks 2.0 services (https://cds-hooks.hl7.org/2.0/) giving "
                           "soft-tissue tumour guidance; every error body is a FHIR "
                           "OperationOutcome.",
        },
        "paths": _paths(ref, recommendation_ids, auth_required),
        "components": {
            "schemas": definitions.get("$defs", {}),
            "responses": _error_responses(ref["outcome"]),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                    "description": "CDS Hooks 2.0 §Trusting CDS Clients: a JWT signed by the "
                                   "EHR. Required when the service is configured with trusted "
                                   "issuers (CDS_TRUSTED_ISSUERS); unset, the service runs open.",
                },
            },
        },
    }


def _package_version() -> str:
    try:
        return version("cds-service")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0.0.0"


_ERRORS = {
    "400": ("BadRequest", "Malformed JSON, a missing or ill-typed field, an inconsistent request "
            "or a fhirServer that is not allowed (issue code forbidden)."),
    "404": ("NotFound", "No such CDS Service."),
    "408": ("RequestTimeout", "The body was not fully received within CDS_BODY_TIMEOUT_S of the "
            "request's start (code timeout)."),
    "412": ("PreconditionFailed", "Data the service needs cannot be obtained; each issue names "
            "its prefetch key (code incomplete, or timeout)."),
    "413": ("PayloadTooLarge", "The body is larger than CDS_MAX_BODY_MB, however it is sent "
            "(code too-long)."),
    "503": ("ServiceUnavailable", "A dependency (the database) is unreachable; retry later."),
}


def _error_responses(outcome: JsonSchemaValue) -> JsonObject:
    responses: JsonObject = {
        name: {"description": text, "content": {"application/json": {"schema": outcome}}}
        for name, text in _ERRORS.values()
    }
    responses["Unauthorized"] = {
        "description": "The JWT is missing or invalid (only when trust is configured); no body.",
        "headers": {"WWW-Authenticate": {"schema": {"type": "string", "pattern": "^Bearer"}}},
    }
    return responses


def _errors(*statuses: str) -> JsonObject:
    return {
        status: {"$ref": f"#/components/responses/{_ERRORS[status][0]}"}
        if status in _ERRORS else {"$ref": "#/components/responses/Unauthorized"}
        for status in statuses
    }


def _json(description: str, schema: JsonSchemaValue) -> JsonObject:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _html(description: str) -> JsonObject:
    return {"description": description,
            "content": {"text/html": {"schema": {"type": "string", "minLength": 1}}}}


def _html_or_outcome(outcome: JsonSchemaValue) -> JsonObject:
    # A browser gets the HTML page; an id the URL router cannot match at all (a line break in
    # it) never reaches the pages, so it gets the API's OperationOutcome.
    return {"description": "No such recommendation.",
            "content": {"text/html": {"schema": {"type": "string", "minLength": 1}},
                        "application/json": {"schema": outcome}}}


def _path_id(description: str, values: list[str] | tuple[str, ...]) -> JsonObject:
    return {"name": "id", "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "enum": list(values)}}


def _paths(
    ref: dict[str, JsonSchemaValue], recommendation_ids: tuple[str, ...], auth_required: bool
) -> JsonObject:
    # An empty requirement is OpenAPI's "anonymous access allowed" (CDS_TRUSTED_ISSUERS unset).
    secured: list[JsonObject] = [{"bearerAuth": []}] if auth_required else [{"bearerAuth": []}, {}]
    service_id = _path_id("The CDS Service id (see discovery).", [s.id for s in SERVICES])
    hook_request = {
        "oneOf": [ref["patient-view"], ref["order-select"], ref["order-sign"]],
        "discriminator": {"propertyName": "hook", "mapping": {
            "patient-view": ref["patient-view"]["$ref"],
            "order-select": ref["order-select"]["$ref"],
            "order-sign": ref["order-sign"]["$ref"],
        }},
    }
    return {
        "/cds-services": {"get": {
            "operationId": "discovery", "summary": "CDS Hooks discovery", "security": secured,
            "responses": {"200": _json("The services, sorted by id.", ref["discovery"]),
                          **_errors("401", "503")},
        }},
        "/cds-services/{id}": {"post": {
            "operationId": "callService", "summary": "Call a CDS Service",
            "description": "The request's hook must be the service's own. The body is parsed as "
                           "JSON whatever its Content-Type.",
            "security": secured, "parameters": [service_id],
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": hook_request}}},
            "responses": {"200": _json("Cards, possibly none.", ref["response"]),
                          **_errors("400", "401", "404", "408", "412", "413", "503")},
        }},
        "/cds-services/{id}/feedback": {"post": {
            "operationId": "feedback", "summary": "Feedback on cards (idempotent)",
            "security": secured, "parameters": [service_id],
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": ref["feedback"]}}},
            "responses": {"200": _json("Stored.", ref["accepted"]),
                          **_errors("400", "401", "404", "408", "413", "503")},
        }},
        "/feedback/summary": {"get": {
            "operationId": "feedbackSummary", "security": secured,
            "summary": "Cards issued, accepted and overridden per recommendation id",
            "responses": {"200": _json("Every catalogue id, and unknown.", ref["summary"]),
                          **_errors("401", "503")},
        }},
        "/healthz": {"get": {
            "operationId": "healthz", "summary": "Liveness",
            "responses": {"200": _json("The process is alive.", ref["health"])},
        }},
        "/readyz": {"get": {
            "operationId": "readyz", "summary": "Readiness",
            "responses": {"200": _json("Ready.", ref["readiness"]),
                          "503": _json("Not ready; the body names what.", ref["readiness"])},
        }},
        "/recommendations": {"get": {
            "operationId": "recommendationsIndex",
            "summary": "The knowledge base (card source.url)",
            "responses": {"200": _html("Every recommendation, its sources and identifiers.")},
        }},
        "/recommendations/validation": {"get": {
            "operationId": "validationReport",
            "summary": "How each recommendation was validated (cds-service validate)",
            "description": "Every clinical test scenario run through the hook pipeline: per "
                           "recommendation, where it must fire and stay silent, pass or fail, the "
                           "card produced, and what the scenarios cover. Built once per knowledge "
                           "version. 404 when the install has no scenarios (a wheel).",
            "responses": {"200": _html("The validation report."),
                          "404": _html("This install has no scenarios (fhir_fixtures/).")},
        }},
        "/recommendations/{id}": {"get": {
            "operationId": "recommendationPage", "summary": "One recommendation (card links)",
            "parameters": [_path_id("A recommendation id (the catalogue).", recommendation_ids)],
            "responses": {"200": _html("Trigger, advice, evidence and sources."),
                          "404": _html_or_outcome(ref["outcome"])},
        }},
        "/metrics": {"get": {
            "operationId": "metrics", "summary": "Prometheus metrics (restrict at the network)",
            "description": "With CDS_ADMIN_BIND set, served only on the operator listener.",
            "responses": {"200": {"description": "Prometheus text exposition format.",
                                  "content": {"text/plain": {"schema": {"type": "string"}}}},
                          "404": _json("CDS_ADMIN_BIND is set and this is the public port.",
                                       ref["outcome"])},
        }},
        "/feedback/dashboard": {"get": {
            "operationId": "feedbackDashboard",
            "summary": "Override dashboard: charts of cards, outcomes, override rates and "
                       "reasons per recommendation, by ISO week (operator endpoint)",
            "description": "Aggregates only, no patient data or card text; the same figures as "
                           "/feedback/summary, narrowed by the query. With CDS_ADMIN_BIND set, "
                           "served only on the operator listener. An empty parameter is the "
                           "same as none.",
            "parameters": _dashboard_parameters(),
            "responses": {"200": _html("The dashboard page (inline SVG charts, no script)."),
                          "400": {"$ref": "#/components/responses/BadRequest"},
                          "404": _json("CDS_ADMIN_BIND is set and this is the public port.",
                                       ref["outcome"]),
                          "503": {"$ref": "#/components/responses/ServiceUnavailable"}},
        }},
        "/openapi.json": {"get": {
            "operationId": "openapi", "summary": "This document",
            "responses": {"200": _json("The OpenAPI 3.1 description.", ref["openapi"])},
        }},
    }


def _dashboard_parameters() -> list[JsonObject]:
    version = VERSION_PATTERN.removeprefix("^").removesuffix("$")
    day = DATE_PATTERN.removeprefix("^").removesuffix("$")
    patterns = {"version": version, "from": day, "to": day}
    return [{"name": name, "in": "query", "required": False, "description": description,
             "schema": {"type": "string", "pattern": f"^(?:{patterns[name]})?$"}}
            for name, description in PARAMETERS.items()]


def route_paths(app: Flask) -> set[str]:
    """The app's URL rules as OpenAPI paths (``/cds-services/<service_id>`` -> ``{id}``)."""
    return {_RULE_ARGUMENT.sub("{id}", rule.rule) for rule in app.url_map.iter_rules()
            if rule.endpoint != "static"}


_RULE_ARGUMENT = re.compile(r"<(?:[^<>:]+:)?[^<>]+>")


@bp.get("/openapi.json")
def openapi_json() -> Response:
    """This API's OpenAPI description (contract.md "Other endpoints")."""
    state = service_state()
    document = openapi_document(state.catalogue.ids, auth_required=state.verifier is not None)
    served = route_paths(current_app)  # an endpoint this app does not mount is not described
    document["paths"] = {path: item for path, item in document["paths"].items() if path in served}
    return jsonify(document)

