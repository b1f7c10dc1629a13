"""CORS for browser clients such as the CDS Hooks sandbox (cds-hooks.md S16, contract settings)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from cds_service.app import create_app
from cds_service.settings import Settings
from cds_service.state import service_state

SANDBOX = "https://sandbox.cds-hooks.org"


def _preflight(client: FlaskClient, path: str, origin: str = SANDBOX) -> object:
    return client.options(path, headers={
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    })


@pytest.mark.parametrize(
    "path",
    ["/cds-services", "/cds-services/sts-order-sign", "/cds-services/sts-patient-view/feedback",
     "/feedback/summary"],
)
def test_preflight_is_answered_on_every_route(client: FlaskClient, path: str) -> None:
    response = _preflight(client, path)
    assert response.status_code == 200  # type: ignore[attr-defined]
    headers = response.headers  # type: ignore[attr-defined]
    assert headers["Access-Control-Allow-Origin"] == "*"
    allowed = {h.strip().lower() for h in headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    assert "POST" in headers["Access-Control-Allow-Methods"]


def test_default_sends_a_literal_wildcard_on_responses(client: FlaskClient) -> None:
    response = client.get("/cds-services", headers={"Origin": SANDBOX})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_configured_origins_are_echoed_with_vary(make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings(cors_origins=f"{SANDBOX}, https://ehr.example.org"))
    try:
        client = app.test_client()
        allowed = client.get("/cds-services", headers={"Origin": "https://ehr.example.org"})
        assert allowed.headers["Access-Control-Allow-Origin"] == "https://ehr.example.org"
        assert "Origin" in allowed.headers["Vary"]
        refused = client.get("/cds-services", headers={"Origin": "https://evil.example.com"})
        assert "Access-Control-Allow-Origin" not in refused.headers
        preflight = _preflight(client, "/cds-services/sts-patient-view", "https://evil.example.com")
        assert "Access-Control-Allow-Origin" not in preflight.headers  # type: ignore[attr-defined]
    finally:
        service_state(app).close()
