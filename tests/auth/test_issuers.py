"""``CDS_TRUSTED_ISSUERS`` is validated at start-up; a bad value names its problem."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from cds_service.app import create_app
from cds_service.auth.issuers import DEFAULT_ALGORITHMS
from cds_service.auth.issuers import TrustConfigError
from cds_service.auth.issuers import parse_trusted_issuers
from cds_service.settings import Settings
from cds_service.state import service_state
from tests.auth.signing import ISSUER
from tests.auth.signing import JWKS_URL
from tests.common import SPEC_EXAMPLES_DIR
from tests.common import load_json


def test_a_full_entry_is_read() -> None:
    spec = load_json(SPEC_EXAMPLES_DIR / "jwt-example.json")
    text = json.dumps([
        {"iss": ISSUER, "jwks_url": JWKS_URL, "jku": ["https://ehr.example.org/keys/2"],
         "tenants": ["t-1"], "fhir_servers": ["https://ehr.example.org/fhir"]},
        {"iss": "https://fhir-ehr.example.com/", "jwks": spec["jwks"], "algorithms": ["ES384"]},
    ])

    first, second = parse_trusted_issuers(text)

    assert first.key_set_urls == (JWKS_URL, "https://ehr.example.org/keys/2")
    assert (first.tenants, first.fhir_servers) == (("t-1",), ("https://ehr.example.org/fhir",))
    assert first.algorithms == DEFAULT_ALGORITHMS == ("ES384", "RS384")  # S5: RECOMMENDED
    assert second.key_set_urls == ()
    assert set(second.inline_keys) == {"example-kid"}


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("[{iss: 1}", "CDS_TRUSTED_ISSUERS: Invalid JSON"),
        ('{"iss": "x"}', "CDS_TRUSTED_ISSUERS: Input should be a valid"),
        ("[]", "empty list"),
        (json.dumps([{"iss": ISSUER}]), "[0]: Value error, give exactly one of jwks_url and jwks"),
        (json.dumps([{"iss": ISSUER, "jwks_url": JWKS_URL,
                      "jwks": load_json(SPEC_EXAMPLES_DIR / "jwt-example.json")["jwks"]}]),
         "give exactly one"),
        (json.dumps([{"iss": "", "jwks_url": JWKS_URL}]), "[0].iss"),
        (json.dumps([{"iss": ISSUER, "jwks_uri": JWKS_URL}]), "[0].jwks_uri: Extra inputs"),
        (json.dumps([{"iss": ISSUER, "jwks_url": "ehr.example.org/jwks"}]),
         "[0].jwks_url: Value error, 'ehr.example.org/jwks' is not an absolute http(s) URL"),
        (json.dumps([{"iss": ISSUER, "jwks_url": JWKS_URL, "jku": ["file:///etc/passwd"]}]),
         "[0].jku[0]"),
        (json.dumps([{"iss": ISSUER, "jwks_url": JWKS_URL, "algorithms": ["HS256"]}]),
         "[0].algorithms: Value error, algorithm(s) ['HS256'] not allowed"),
        (json.dumps([{"iss": ISSUER, "jwks_url": JWKS_URL, "algorithms": ["none"]}]),
         "not allowed"),
        (json.dumps([{"iss": ISSUER, "jwks": {"keys": [{"kty": "EC"}]}}]),
         "[0].jwks: Value error, the JWK Set holds no signing key with a kid"),
        (json.dumps([{"iss": ISSUER, "jwks": {"kty": "EC", "kid": "k"}}]), '"keys" list'),
        (json.dumps([{"iss": ISSUER, "jwks_url": JWKS_URL, "tenants": []}]), "[0].tenants"),
        (json.dumps([{"iss": ISSUER, "jwks_url": JWKS_URL}] * 2),
         f"names the issuer {ISSUER!r} twice"),
    ],
)
def test_an_invalid_value_is_refused_naming_the_problem(value: str, named: str) -> None:
    with pytest.raises(TrustConfigError) as caught:
        parse_trusted_issuers(value)
    assert named in str(caught.value)


def test_the_service_refuses_to_start_on_an_invalid_value(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(trusted_issuers='[{"iss": "https://ehr.example.org"}]')
    with pytest.raises(TrustConfigError, match="jwks_url"):
        create_app(settings)


@pytest.mark.parametrize("value", [None, "", "  "])
def test_unset_trust_runs_open_and_says_so(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture, value: Any
) -> None:
    app = create_app(make_settings(trusted_issuers=value))
    try:
        assert service_state(app).verifier is None
        assert "JWT verification is OFF" in caplog.text
        readiness = app.test_client().get("/readyz").get_json()
        assert readiness["auth"] == "off"
    finally:
        service_state(app).close()


def test_serve_exits_2_naming_the_problem(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cds_service import cli

    started: list[bool] = []
    monkeypatch.setattr(cli._GunicornApp, "run", lambda self: started.append(True))
    monkeypatch.setenv("CDS_TRUSTED_ISSUERS", '[{"iss": "https://ehr.example.org", "jwks": 1}]')

    assert cli.main(["serve"]) == 2
    assert "CDS_TRUSTED_ISSUERS[0].jwks" in capsys.readouterr().err
    assert not started
