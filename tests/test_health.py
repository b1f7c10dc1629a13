"""Liveness and readiness (contract.md "Other endpoints")."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient


def test_healthz_says_ok(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert (response.status_code, response.get_json()) == (200, {"status": "ok"})


def test_readyz_reports_knowledge_database_and_auth(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ready"
    assert body["auth"] == "off"  # trust not configured: the service runs open and says so
    assert body["database"] == "ok"
    assert body["knowledge"] == "loaded"
    assert body["recommendations"] == 31


def test_readyz_stays_200_but_reports_an_unreachable_database(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # contract.md: without trust, hook calls still work with the database down.
    from cds_service.feedback.store import StoreUnavailable

    def down(session: object) -> None:
        raise StoreUnavailable("down")

    monkeypatch.setattr("cds_service.operations.health.ping", down)
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["database"] == "unreachable"
