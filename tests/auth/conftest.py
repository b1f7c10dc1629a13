"""Fixtures of the JWT tests: signing keys, a mocked JWK Set URL, and an app with trust on."""

from __future__ import annotations

import json
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient

from cds_service.app import create_app
from cds_service.settings import Settings
from cds_service.state import service_state
from tests.auth.signing import ISSUER
from tests.auth.signing import JWKS_URL
from tests.auth.signing import PUBLIC_BASE
from tests.auth.signing import Signer
from tests.auth.signing import generate_key


@pytest.fixture(scope="session")
def es_signer() -> Signer:
    """The EHR's ES384 key."""
    return Signer(generate_key("ES384"), "ES384", "es-1")


@pytest.fixture(scope="session")
def rs_signer() -> Signer:
    """The EHR's RS384 key."""
    return Signer(generate_key("RS384"), "RS384", "rs-1")


@pytest.fixture(scope="session")
def attacker() -> Signer:
    """A key the EHR never published, using the ES384 key's ``kid`` (a forgery)."""
    return Signer(generate_key("ES384"), "ES384", "es-1")


@pytest.fixture
def published(es_signer: Signer, rs_signer: Signer) -> dict[str, Any]:
    """The JWK Set the EHR publishes at ``JWKS_URL``."""
    return {"keys": [es_signer.jwk(), rs_signer.jwk()]}


@pytest.fixture
def jwks_server(published: dict[str, Any]) -> Iterator[responses.RequestsMock]:
    """``JWKS_URL`` serving ``published``; every other URL is unreachable."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(JWKS_URL, json=published)
        yield mock


@pytest.fixture
def trust_settings(make_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    """Settings with trust configured: by default one issuer whose keys are at ``JWKS_URL``."""

    def build(*issuers: dict[str, Any], **overrides: Any) -> Settings:
        entries = list(issuers) or [{"iss": ISSUER, "jwks_url": JWKS_URL}]
        values: dict[str, Any] = {
            "trusted_issuers": json.dumps(entries), "public_base_url": PUBLIC_BASE,
        }
        values.update(overrides)
        return make_settings(**values)

    return build


@pytest.fixture
def make_trusted_app(
    trust_settings: Callable[..., Settings],
) -> Iterator[Callable[..., Flask]]:
    """Build apps with trust on (same arguments as ``trust_settings``); disposed afterwards."""
    apps: list[Flask] = []

    def build(*issuers: dict[str, Any], **overrides: Any) -> Flask:
        app = create_app(trust_settings(*issuers, **overrides))
        apps.append(app)
        return app

    yield build
    for app in apps:
        service_state(app).close()


@pytest.fixture
def trusted_client(
    make_trusted_app: Callable[..., Flask], jwks_server: responses.RequestsMock
) -> FlaskClient:
    """A client of the service with the default trust configuration."""
    return make_trusted_app().test_client()
