"""Trust on the HTTP surface: which endpoints need a JWT, the bare 401, replay, fail-closed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient

from cds_service.feedback.store import StoreUnavailable
from tests.auth.signing import ISSUER
from tests.auth.signing import JWKS_URL
from tests.auth.signing import PUBLIC_BASE
from tests.auth.signing import Signer
from tests.auth.signing import bearer
from tests.auth.signing import generate_key
from tests.common import SPEC_EXAMPLES_DIR
from tests.common import issue_codes
from tests.common import load_json
from tests.common import scenario_request

SERVICE = "/cds-services/sts-patient-view"
FEEDBACK = f"{SERVICE}/feedback"


def _call_body(**fields: Any) -> dict[str, Any]:
    return {**scenario_request("no-tumour-hypertension", "patient-view.json"), **fields}


def _feedback_body() -> dict[str, Any]:
    return load_json(SPEC_EXAMPLES_DIR / "feedback-accepted.json")  # type: ignore[no-any-return]


def _assert_bare_401(response: Any) -> None:
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.data == b""  # S14: no detail
    assert "Content-Type" not in response.headers


ENDPOINTS = [
    ("GET", "/cds-services", None),
    ("POST", SERVICE, _call_body),
    ("POST", FEEDBACK, _feedback_body),
    ("GET", "/feedback/summary", None),
    ("POST", "/cds-services/no-such-service", _call_body),
]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_every_protected_endpoint_refuses_a_request_without_a_token(
    trusted_client: FlaskClient, method: str, path: str, body: Callable[[], Any] | None
) -> None:
    response = trusted_client.open(path, method=method, json=body() if body else None)
    _assert_bare_401(response)


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS[:4])
def test_every_protected_endpoint_answers_a_token_for_its_own_url(
    trusted_client: FlaskClient, es_signer: Signer, method: str, path: str,
    body: Callable[[], Any] | None,
) -> None:
    # S10: aud is the URL of the endpoint being invoked, discovery included.
    token = es_signer.token(f"{PUBLIC_BASE}{path}")
    response = trusted_client.open(path, method=method, json=body() if body else None,
                                   headers=bearer(token))
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS[:4])
def test_a_token_for_another_endpoint_is_refused(
    trusted_client: FlaskClient, es_signer: Signer, method: str, path: str,
    body: Callable[[], Any] | None,
) -> None:
    token = es_signer.token(f"{PUBLIC_BASE}/cds-services/sts-order-sign")
    response = trusted_client.open(path, method=method, json=body() if body else None,
                                   headers=bearer(token))
    _assert_bare_401(response)


def test_feedback_accepts_the_service_url_as_aud(
    trusted_client: FlaskClient, rs_signer: Signer
) -> None:
    # S10 (project choice): the spec gives no feedback example; the service URL is accepted too.
    token = rs_signer.token(f"{PUBLIC_BASE}{SERVICE}")
    response = trusted_client.post(FEEDBACK, json=_feedback_body(), headers=bearer(token))
    assert response.status_code == 200


def test_aud_is_checked_against_the_request_url_without_a_public_base(
    make_trusted_app: Callable[..., Flask], jwks_server: responses.RequestsMock,
    es_signer: Signer,
) -> None:
    client = make_trusted_app(public_base_url=None).test_client()
    ok = client.get("/cds-services", headers=bearer(es_signer.token("http://localhost/cds-services")))
    assert ok.status_code == 200
    public = es_signer.token(f"{PUBLIC_BASE}/cds-services")
    _assert_bare_401(client.get("/cds-services", headers=bearer(public)))


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/openapi.json",
                                  "/recommendations", "/feedback/dashboard"])
def test_operational_endpoints_and_pages_stay_open(
    trusted_client: FlaskClient, path: str
) -> None:
    # /feedback/dashboard is an operator endpoint like /metrics (restricted by CDS_ADMIN_BIND's
    # port, not by the EHR's JWT), though it is under /feedback.
    assert trusted_client.get(path).status_code == 200


def test_a_cors_preflight_needs_no_token(trusted_client: FlaskClient) -> None:
    response = trusted_client.options(SERVICE, headers={
        "Origin": "https://sandbox.cds-hooks.org",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    })
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_a_refusal_logs_issuer_jti_and_reason_but_never_the_token(
    trusted_client: FlaskClient, attacker: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    token = attacker.token(f"{PUBLIC_BASE}/cds-services", jti="jti-forged-1")
    _assert_bare_401(trusted_client.get("/cds-services", headers=bearer(token)))
    assert f"iss='{ISSUER}'" in caplog.text
    assert "jti='jti-forged-1'" in caplog.text
    assert "reason=signature invalid" in caplog.text
    for segment in token.split("."):
        assert segment not in caplog.text


def test_a_replay_is_refused_by_another_instance_sharing_the_database(
    make_trusted_app: Callable[..., Flask], jwks_server: responses.RequestsMock,
    es_signer: Signer,
) -> None:
    # S13 step 6: two replicas (or gunicorn workers) share the replay store.
    first, second = make_trusted_app().test_client(), make_trusted_app().test_client()
    token = es_signer.token(f"{PUBLIC_BASE}/cds-services")

    assert first.get("/cds-services", headers=bearer(token)).status_code == 200
    _assert_bare_401(second.get("/cds-services", headers=bearer(token)))
    _assert_bare_401(first.get("/cds-services", headers=bearer(token)))


def test_an_unreachable_replay_store_fails_closed(
    trusted_client: FlaskClient, es_signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(self: object, issuer: str, jti: str, expires_at: dt.datetime) -> bool:
        raise StoreUnavailable("down")

    monkeypatch.setattr("cds_service.feedback.replay.ReplayStore.first_use", down)
    token = es_signer.token(f"{PUBLIC_BASE}/cds-services")
    response = trusted_client.get("/cds-services", headers=bearer(token))
    assert response.status_code == 503
    assert response.get_json()["resourceType"] == "OperationOutcome"
    assert issue_codes(response.get_json()) == ["transient"]


def test_readiness_reports_auth_on_and_fails_without_the_database(
    trusted_client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready = trusted_client.get("/readyz")
    assert (ready.status_code, ready.get_json()["auth"]) == (200, "on")

    def down(session: object) -> None:
        raise StoreUnavailable("down")

    monkeypatch.setattr("cds_service.operations.health.ping", down)
    response = trusted_client.get("/readyz")
    assert response.status_code == 503  # contract.md: hook calls would fail closed anyway
    assert response.get_json()["database"] == "unreachable"
    assert response.get_json()["auth"] == "on"


def test_a_foreign_jku_is_refused_without_being_fetched(
    trusted_client: FlaskClient, jwks_server: responses.RequestsMock,
) -> None:
    # S12: fetching an attacker's jku would be server-side request forgery.
    evil = "https://169.254.169.254/latest/jwks.json"
    forger = Signer(generate_key("ES384"), "ES384", "evil-1")
    fetched = jwks_server.get(evil, json=forger.jwks())
    token = forger.token(f"{PUBLIC_BASE}/cds-services", headers={"jku": evil})

    _assert_bare_401(trusted_client.get("/cds-services", headers=bearer(token)))
    assert fetched.call_count == 0


def test_a_rotated_key_is_accepted_without_a_restart(
    make_trusted_app: Callable[..., Flask], jwks_server: responses.RequestsMock,
    es_signer: Signer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("cds_service.auth.keys.MIN_REFRESH_INTERVAL_S", 0.0)
    client = make_trusted_app().test_client()
    aud = f"{PUBLIC_BASE}/cds-services"
    assert client.get("/cds-services", headers=bearer(es_signer.token(aud))).status_code == 200

    successor = Signer(generate_key("ES384"), "ES384", "es-2")
    jwks_server.replace(responses.GET, JWKS_URL, json=successor.jwks())

    assert client.get("/cds-services", headers=bearer(successor.token(aud))).status_code == 200


def test_the_spec_example_token_is_refused_as_expired(
    make_trusted_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture,
) -> None:
    example = load_json(SPEC_EXAMPLES_DIR / "jwt-example.json")
    issuer = {"iss": example["payload"]["iss"], "jwks": example["jwks"],
              "jku": [example["header"]["jku"]]}
    client = make_trusted_app(issuer, public_base_url="https://cds.example.org").test_client()

    with responses.RequestsMock() as mock:
        mock.get(example["header"]["jku"], json=example["jwks"])
        response = client.post("/cds-services/some-service", json=_call_body(),
                               headers=bearer(example["token"]))

    _assert_bare_401(response)
    assert "reason=token expired" in caplog.text


def test_rejections_are_counted_by_reason_on_metrics(trusted_client: FlaskClient) -> None:
    def count() -> float:
        text = trusted_client.get("/metrics").get_data(as_text=True)
        for line in text.splitlines():
            if line.startswith('cds_jwt_rejections_total{reason="no-authorization-header"}'):
                return float(line.split()[-1])
        return 0.0

    before = count()
    _assert_bare_401(trusted_client.get("/cds-services"))
    assert count() == before + 1
