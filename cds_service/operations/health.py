"""Liveness and readiness endpoints for load balancers and orchestrators."""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import jsonify

from cds_service.feedback.store import StoreUnavailable
from cds_service.feedback.store import ping
from cds_service.state import service_state

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """The process is alive."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready when the knowledge is loaded; the database state is reported (contract.md).

    With trust configured an unreachable database means 503: hook calls would fail closed.
    """
    state = service_state()
    try:
        with state.registry.sessions() as session:
            ping(session)
        database = "ok"
    except StoreUnavailable:
        database = "unreachable"
    body = {
        "status": "ready",
        "auth": "off" if state.verifier is None else "on",
        "database": database,
        "knowledge": "loaded",
        "recommendations": len(state.catalogue.ids),
    }
    if state.verifier is not None and database != "ok":
        body["status"] = "not ready"
        return jsonify(body), 503
    return jsonify(body), 200

