"""Liveness and readiness endpoints for load balancers and orchestrators."""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import jsonify

from cds_service.feedback.store import StoreUnavailable
from cds_service.feedback.store import ping

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """The process is alive."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready when the knowledge is loaded; the database state is reported (contract.md)."""
    state = current_app.extensions["cds_service"]
    try:
        with state.registry.sessions() as session:
            ping(session)
        database = "ok"
    except StoreUnavailable:
        database = "unreachable"
    body = {
        "status": "ready",
        "auth": "off",
        "database": database,
        "knowledge": "loaded",
        "recommendations": len(state.catalogue.ids),
    }
    return jsonify(body), 200

