"""HTTP views of the CDS Hooks endpoints; each is one call into the registry."""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import jsonify
from flask import request

from cds_service.auth.guard import caller_fhir_servers
from cds_service.hooks.registry import ServiceRegistry

bp = Blueprint("cds_hooks", __name__)


def _registry() -> ServiceRegistry:
    registry: ServiceRegistry = current_app.extensions["cds_service"].registry
    return registry


@bp.get("/cds-services")
def discovery() -> Response:
    """CDS Hooks 2.0 §Discovery."""
    return jsonify(_registry().discovery())


@bp.post("/cds-services/<service_id>")
def call_service(service_id: str) -> Response:
    """CDS Hooks 2.0 §Calling a CDS Service."""
    registry = _registry()
    base_url = registry.settings.public_base_url or request.host_url.rstrip("/")
    body = request.get_data(cache=False)
    servers = caller_fhir_servers()
    return jsonify(registry.call(service_id, body, base_url, issuer_servers=servers))


@bp.post("/cds-services/<service_id>/feedback")
def feedback(service_id: str) -> Response:
    """CDS Hooks 2.0 §Feedback; answers ``{}`` (contract.md)."""
    return jsonify(_registry().feedback(service_id, request.get_data(cache=False)))


@bp.get("/feedback/summary")
def feedback_summary() -> Response:
    """Cards issued, accepted and overridden per recommendation id (contract.md)."""
    return jsonify(_registry().summary())
