"""Under trust, ``fhirServer`` must be the issuer's and https (contract.md Settings and Errors)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import responses
from flask import Flask

from cds_service.hooks.errors import Forbidden
from cds_service.hooks.prefetch import check_fhir_server
from cds_service.settings import Settings
from tests.auth.signing import ISSUER
from tests.auth.signing import JWKS_URL
from tests.auth.signing import PUBLIC_BASE
from tests.auth.signing import Signer
from tests.auth.signing import bearer
from tests.common import issue_codes
from tests.common import issue_expressions
from tests.common import scenario_request

EHR_FHIR = "https://ehr.example.org/fhir"


@pytest.mark.parametrize(
    ("allowlist", "issuer_servers", "url"),
    [
        ("", None, "http://anything.example/fhir"),  # open service: unchanged
        ("", (), "https://anything.example/fhir"),  # trust, no issuer list: any https server
        ("", (EHR_FHIR,), f"{EHR_FHIR}/r4"),
        ("", ("http://localhost:8080/fhir",), "http://localhost:8080/fhir/r4"),  # listed: ok
        ("http://localhost:8080/fhir", (), "http://localhost:8080/fhir"),
        (EHR_FHIR, (EHR_FHIR,), EHR_FHIR),
    ],
)
def test_allowed_fhir_servers_pass(
    make_settings: Callable[..., Settings], allowlist: str,
    issuer_servers: tuple[str, ...] | None, url: str,
) -> None:
    settings = make_settings(fhir_server_allowlist=allowlist)
    check_fhir_server(url, settings, issuer_servers=issuer_servers)


@pytest.mark.parametrize(
    ("allowlist", "issuer_servers", "url", "says"),
    [
        ("", (EHR_FHIR,), "https://other.example/fhir", "calling issuer"),
        ("", (EHR_FHIR,), f"{EHR_FHIR}-admin", "calling issuer"),
        ("", (), "http://ehr.example.org/fhir", "must be https"),
        ("", ("http://localhost:8080/fhir",), "http://localhost:8081/fhir", "calling issuer"),
        ("https://a.example/fhir", (EHR_FHIR,), EHR_FHIR, "CDS_FHIR_SERVER_ALLOWLIST"),
    ],
)
def test_a_fhir_server_the_issuer_may_not_name_is_forbidden(
    make_settings: Callable[..., Settings], allowlist: str,
    issuer_servers: tuple[str, ...], url: str, says: str,
) -> None:
    settings = make_settings(fhir_server_allowlist=allowlist)
    with pytest.raises(Forbidden) as caught:
        check_fhir_server(url, settings, issuer_servers=issuer_servers)
    assert [(i.code, i.expression) for i in caught.value.issues] == [("forbidden", "fhirServer")]
    assert says in caught.value.issues[0].diagnostics


def _call(app: Flask, signer: Signer, fhir_server: str) -> Any:
    body = {**scenario_request("no-tumour-hypertension", "patient-view.json"),
            "fhirServer": fhir_server}  # prefetch is complete: nothing is fetched
    path = "/cds-services/sts-patient-view"
    return app.test_client().post(path, json=body, headers=bearer(signer.token(PUBLIC_BASE + path)))


@pytest.mark.parametrize(
    ("fhir_server", "status"),
    [(f"{EHR_FHIR}/r4", 200), ("https://other.example/fhir", 400), ("http://ehr.example.org/fhir",
                                                                     400)],
)
def test_a_call_names_only_its_issuers_fhir_servers(
    make_trusted_app: Callable[..., Flask], jwks_server: responses.RequestsMock,
    es_signer: Signer, fhir_server: str, status: int,
) -> None:
    app = make_trusted_app({"iss": ISSUER, "jwks_url": JWKS_URL, "fhir_servers": [EHR_FHIR]})
    response = _call(app, es_signer, fhir_server)
    assert response.status_code == status
    if status == 400:
        assert issue_codes(response.get_json()) == ["forbidden"]
        assert issue_expressions(response.get_json()) == ["fhirServer"]


def test_under_trust_an_http_fhir_server_must_be_listed(
    make_trusted_app: Callable[..., Flask], jwks_server: responses.RequestsMock,
    es_signer: Signer,
) -> None:
    strict = make_trusted_app()
    assert _call(strict, es_signer, "http://localhost:8080/fhir").status_code == 400
    listed = make_trusted_app(fhir_server_allowlist="http://localhost:8080/fhir")
    assert _call(listed, es_signer, "http://localhost:8080/fhir").status_code == 200
