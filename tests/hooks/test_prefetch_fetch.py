"""Fetching missing or paged prefetch from ``fhirServer`` during a hook call (F5-F11, 412/400)."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses
from flask.testing import FlaskClient

from cds_service.fhir.sieve import Sieve
from cds_service.hooks.models import PatientViewRequest
from cds_service.hooks.prefetch import resolve
from cds_service.hooks.services import PREFETCH
from cds_service.settings import Settings
from tests.common import SPEC_EXAMPLES_DIR
from tests.common import issue_codes
from tests.common import issue_expressions
from tests.common import load_json
from tests.common import scenario_request

SERVICE_URL = "/cds-services/sts-patient-view"
SCENARIO = "no-tumour-hypertension"
FHIR = "https://fhir.example.org/r4"
PATIENT_ID = "pt-htn-01"
AUTHORIZATION = load_json(SPEC_EXAMPLES_DIR / "fhir-authorization.json")["fhirAuthorization"]
TOKEN = AUTHORIZATION["access_token"]
EMPTY_SEARCHSET = {"resourceType": "Bundle", "type": "searchset", "total": 0, "entry": []}

JsonObject = dict[str, Any]


@pytest.fixture
def fhir() -> Iterator[responses.RequestsMock]:
    """The mocked FHIR server; an unregistered URL answers with a connection error."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def _full_prefetch() -> JsonObject:
    """The scenario's whole record as an EHR would prefetch it."""
    prefetch: JsonObject = scenario_request(SCENARIO, "patient-view.json")["prefetch"]
    return prefetch


def _hook_request(
    *,
    drop: tuple[str, ...] = (),
    prefetch: bool = True,
    server: str | None = FHIR,
    token: bool = True,
) -> JsonObject:
    """The scenario's patient-view call with ``drop`` keys left out of prefetch."""
    request = scenario_request(SCENARIO, "patient-view.json", with_prefetch=prefetch)
    for key in drop:
        del request["prefetch"][key]
    if server is not None:
        request["fhirServer"] = server
    if token:
        request["fhirAuthorization"] = dict(AUTHORIZATION)
    return request


def _query_url(key: str, base: str = FHIR, patient_id: str = PATIENT_ID) -> str:
    return f"{base}/" + PREFETCH[key].replace("{{context.patientId}}", patient_id)


def _serve(fhir: responses.RequestsMock, keys: tuple[str, ...] | None = None) -> dict[str, str]:
    """Answer each key's query with the scenario's data; return key -> URL."""
    record = _full_prefetch()
    urls = {}
    for key in keys if keys is not None else tuple(PREFETCH):
        urls[key] = _query_url(key)
        fhir.get(urls[key], json=record[key], content_type="application/fhir+json")
    return urls


def _requested(fhir: responses.RequestsMock) -> list[str]:
    return [str(call.request.url) for call in fhir.calls]


def _with_next(bundle: JsonObject, url: str) -> JsonObject:
    page = copy.deepcopy(bundle)
    page["link"] = [{"relation": "self", "url": "ignored"}, {"relation": "next", "url": url}]
    return page


def _assert_sent_token(fhir: responses.RequestsMock, token: str = TOKEN) -> None:
    """F7: every FHIR call carries the bearer token and asks for FHIR JSON."""
    assert fhir.calls
    for call in fhir.calls:
        assert call.request.headers["Authorization"] == f"Bearer {token}"
        assert "application/fhir+json" in call.request.headers["Accept"]


def _single_issue(body: JsonObject) -> JsonObject:
    assert body["resourceType"] == "OperationOutcome"
    assert len(body["issue"]) == 1
    issue: JsonObject = body["issue"][0]
    return issue


# --- which keys are fetched (F1-F4, F7, F9) ----------------------------------------------------


def test_complete_prefetch_answers_without_calling_the_fhir_server(
    client: FlaskClient, fhir: responses.RequestsMock
) -> None:
    """F7: only what is missing is fetched; a complete prefetch needs no FHIR call."""
    _serve(fhir)

    response = client.post(SERVICE_URL, json=_hook_request())

    assert response.status_code == 200
    assert response.get_json() == {"cards": []}
    assert len(fhir.calls) == 0


def test_only_the_missing_keys_are_fetched_with_the_bearer_token(
    client: FlaskClient, fhir: responses.RequestsMock
) -> None:
    """F1/F7: a partial prefetch is completed from fhirServer, with ``Authorization: Bearer``."""
    urls = _serve(fhir)

    response = client.post(SERVICE_URL, json=_hook_request(drop=("observations", "procedures")))

    assert response.status_code == 200, response.get_json()
    assert sorted(_requested(fhir)) == sorted([urls["observations"], urls["procedures"]])
    _assert_sent_token(fhir)


def test_without_fhir_authorization_no_authorization_header_is_sent(
    client: FlaskClient, fhir: responses.RequestsMock
) -> None:
    """R4: fhirAuthorization is optional (an open server); then no token is invented."""
    urls = _serve(fhir)

    response = client.post(SERVICE_URL, json=_hook_request(drop=("patient",), token=False))

    assert response.status_code == 200
    assert _requested(fhir) == [urls["patient"]]
    assert "Authorization" not in fhir.calls[0].request.headers


@pytest.mark.parametrize("server", [FHIR, None])
def test_every_key_null_is_known_empty_and_not_fetched(
    client: FlaskClient, fhir: responses.RequestsMock, server: str | None
) -> None:
    """F3: ``null`` means the client has no data: not missing, so 200 and no FHIR call."""
    _serve(fhir)
    request = _hook_request(server=server, token=server is not None)
    request["prefetch"] = {key: None for key in PREFETCH}

    response = client.post(SERVICE_URL, json=request)

    assert response.status_code == 200
    assert response.get_json() == {"cards": []}
    assert len(fhir.calls) == 0


@pytest.mark.parametrize("as_bundle", [False, True])
def test_a_key_holding_an_operation_outcome_is_fetched(
    client: FlaskClient, fhir: responses.RequestsMock, as_bundle: bool
) -> None:
    """F4 + contract "Partial data policy": an OperationOutcome in place of a key means fetch it."""
    urls = _serve(fhir)
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout", "diagnostics": "EHR prefetch failed"}],
    }
    request = _hook_request()
    request["prefetch"]["conditions"] = (
        {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": outcome}]}
        if as_bundle
        else outcome
    )

    response = client.post(SERVICE_URL, json=request)

    assert response.status_code == 200
    assert _requested(fhir) == [urls["conditions"]]
    _assert_sent_token(fhir)


def test_no_prefetch_member_fetches_every_key(
    client: FlaskClient, fhir: responses.RequestsMock
) -> None:
    """F9: all data may come from fhirServer; one query per template (F7)."""
    urls = _serve(fhir)

    response = client.post(SERVICE_URL, json=_hook_request(prefetch=False))

    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"cards": []}
    assert sorted(_requested(fhir)) == sorted(urls.values())
    _assert_sent_token(fhir)


def test_no_prefetch_and_no_fhir_server_is_412_naming_every_key(
    client: FlaskClient, fhir: responses.RequestsMock
) -> None:
    """F8: required data cannot be obtained: 412, one ``incomplete`` issue per template key."""
    response = client.post(
        SERVICE_URL, json=_hook_request(prefetch=False, server=None, token=False)
    )

    assert response.status_code == 412
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert issue_codes(body) == ["incomplete"] * len(PREFETCH)
    assert sorted(issue_expressions(body)) == sorted(f"prefetch.{key}" for key in PREFETCH)
    for issue in body["issue"]:
        key = issue["expression"][0].removeprefix("prefetch.")
        assert key in issue["diagnostics"]
        assert "fhirServer" in issue["diagnostics"]
    assert len(fhir.calls) == 0


def test_the_spec_example_request_is_completed_from_its_fhir_server(
    client: FlaskClient, fhir: responses.RequestsMock
) -> None:
    """F6/F7 on the spec's request-patient-view: ``patientToGreet`` is not ours: fetch all."""
    request = load_json(SPEC_EXAMPLES_DIR / "request-patient-view.json")
    base = request["fhirServer"]
    patient_id = request["context"]["patientId"]
    expected = {key: _query_url(key, base, patient_id) for key in PREFETCH}
    for key, url in expected.items():
        body = request["prefetch"]["patientToGreet"] if key == "patient" else EMPTY_SEARCHSET
        fhir.get(url, json=body)

    response = client.post(SERVICE_URL, json=request)

    assert response.status_code == 200, response.get_json()
    assert sorted(_requested(fhir)) == sorted(expected.values())
    _assert_sent_token(fhir, request["fhirAuthorization"]["access_token"])


# --- paging (F5, contract "Partial data policy", CDS_FHIR_MAX_PAGES) -----------------------------


def _page_url(n: int) -> str:
    return f"{_query_url('observations')}&_page={n}"


def test_a_next_link_is_followed_with_the_token(
    client: FlaskClient, fhir: responses.RequestsMock
) -> None:
    """F5: a searchset with a ``next`` link is followed to the last page."""
    record = _full_prefetch()
    first = _query_url("observations")
    fhir.get(first, json=_with_next(record["observations"], _page_url(2)))
    fhir.get(_page_url(2), json=_with_next(EMPTY_SEARCHSET, _page_url(3)))
    fhir.get(_page_url(3), json=EMPTY_SEARCHSET)

    response = client.post(SERVICE_URL, json=_hook_request(drop=("observations",)))

    assert response.status_code == 200, response.get_json()
    assert _requested(fhir) == [first, _page_url(2), _page_url(3)]
    _assert_sent_token(fhir)


def test_the_resources_of_every_page_are_kept(
    fhir: responses.RequestsMock, settings: Settings
) -> None:
    """F5: the record holds the resources of all pages, not just the first."""
    condition = _full_prefetch()["conditions"]["entry"][0]["resource"]
    second = {"resourceType": "Bundle", "type": "searchset",
              "entry": [{"resource": dict(condition, id="cond-page-2")}]}
    fhir.get(_query_url("conditions"),
             json=_with_next(_full_prefetch()["conditions"], f"{FHIR}/Condition?page=2"))
    fhir.get(f"{FHIR}/Condition?page=2", json=second)
    request = PatientViewRequest.model_validate(_hook_request(drop=("conditions",)))

    record = resolve(PREFETCH, request, settings)

    assert [r["id"] for r in record.resources["conditions"]] == [condition["id"], "cond-page-2"]
    assert record.fetched == ("conditions",)
    assert list(record.resources) == list(PREFETCH)


@pytest.mark.parametrize(("pages", "status"), [(2, 200), (3, 412)])
def test_the_page_cap_counts_the_first_page(
    make_client: Callable[..., FlaskClient],
    fhir: responses.RequestsMock,
    pages: int,
    status: int,
) -> None:
    """``CDS_FHIR_MAX_PAGES`` = 2: two pages pass, a third is 412 naming the key (contract)."""
    client = make_client(fhir_max_pages=2)
    urls = [_query_url("observations")] + [_page_url(n) for n in range(2, pages + 1)]
    for url, next_url in zip(urls, urls[1:], strict=False):
        fhir.get(url, json=_with_next(EMPTY_SEARCHSET, next_url))
    fhir.get(urls[-1], json=EMPTY_SEARCHSET)

    response = client.post(SERVICE_URL, json=_hook_request(drop=("observations",)))

    assert response.status_code == status
    assert _requested(fhir) == urls[:2]  # the third page is never requested
    if status == 412:
        issue = _single_issue(response.get_json())
        assert issue["code"] == "incomplete"
        assert issue["expression"] == ["prefetch.observations"]
        assert "CDS_FHIR_MAX_PAGES" in issue["diagnostics"]


@pytest.mark.parametrize("back_to", [2, 1])
def test_next_links_that_cycle_are_412(
    client: FlaskClient, fhir: responses.RequestsMock, back_to: int
) -> None:
    """F5: a server whose ``next`` links loop must not keep the call busy."""
    first = _query_url("observations")
    loop_target = first if back_to == 1 else _page_url(2)
    fhir.get(first, json=_with_next(EMPTY_SEARCHSET, _page_url(2)))
    fhir.get(_page_url(2), json=_with_next(EMPTY_SEARCHSET, loop_target))

    response = client.post(SERVICE_URL, json=_hook_request(drop=("observations",)))

    assert response.status_code == 412
    issue = _single_issue(response.get_json())
    assert issue["expression"] == ["prefetch.observations"]
    assert "cycle" in issue["diagnostics"]
    assert len(fhir.calls) <= 3


@pytest.mark.parametrize(
    "elsewhere",
    [
        "https://evil.example/r4/Observation?page=2",
        "https://fhir.example.org.evil.example/r4/Observation?page=2",
        "http://fhir.example.org/r4/Observation?page=2",  # scheme downgrade
        "https://fhir.example.org/other/Observation?page=2",
    ],
)
def test_a_next_link_to_another_server_is_not_followed(
    client: FlaskClient, fhir: responses.RequestsMock, elsewhere: str
) -> None:
    """F5 + SSRF guard: a next link leaving fhirServer is 412, and that URL is never called."""
    first = _query_url("observations")
    fhir.get(first, json=_with_next(EMPTY_SEARCHSET, elsewhere))
    fhir.get(elsewhere, json=EMPTY_SEARCHSET)

    response = client.post(SERVICE_URL, json=_hook_request(drop=("observations",)))

    assert response.status_code == 412
    issue = _single_issue(response.get_json())
    assert issue["expression"] == ["prefetch.observations"]
    assert "outside fhirServer" in issue["diagnostics"]
    assert _requested(fhir) == [first]


def test_a_prefetched_searchset_with_a_next_link_is_followed(
    client: FlaskClient, fhir: responses.RequestsMock
) -> None:
    """F5 + contract: a prefetched page 1 is completed from fhirServer with fhirAuthorization."""
    request = _hook_request()
    request["prefetch"]["observations"] = _with_next(request["prefetch"]["observations"],
                                                     _page_url(2))
    fhir.get(_page_url(2), json=EMPTY_SEARCHSET)
    _serve(fhir)

    response = client.post(SERVICE_URL, json=request)

    assert response.status_code == 200, response.get_json()
    assert _requested(fhir) == [_page_url(2)]  # page 1 came with the request
    _assert_sent_token(fhir)


def test_a_prefetched_first_page_counts_towards_the_page_cap(
    make_client: Callable[..., FlaskClient], fhir: responses.RequestsMock
) -> None:
    """Contract: "the page cap counts every page of one query, the first included"."""
    client = make_client(fhir_max_pages=2)
    request = _hook_request()
    request["prefetch"]["observations"] = _with_next(request["prefetch"]["observations"],
                                                     _page_url(2))
    fhir.get(_page_url(2), json=_with_next(EMPTY_SEARCHSET, _page_url(3)))
    fhir.get(_page_url(3), json=EMPTY_SEARCHSET)

    response = client.post(SERVICE_URL, json=request)

    assert response.status_code == 412
    issue = _single_issue(response.get_json())
    assert issue["expression"] == ["prefetch.observations"]
    assert "CDS_FHIR_MAX_PAGES" in issue["diagnostics"]
    assert _requested(fhir) == [_page_url(2)]


def test_a_prefetched_paged_searchset_without_fhir_server_is_412(
    client: FlaskClient, fhir: responses.RequestsMock
) -> None:
    """F8: the rest of a paged prefetch cannot be obtained without fhirServer."""
    request = _hook_request(server=None, token=False)
    request["prefetch"]["observations"] = _with_next(request["prefetch"]["observations"],
                                                     _page_url(2))

    response = client.post(SERVICE_URL, json=request)

    assert response.status_code == 412
    issue = _single_issue(response.get_json())
    assert issue["code"] == "incomplete"
    assert issue["expression"] == ["prefetch.observations"]
    assert "more pages" in issue["diagnostics"]
    assert len(fhir.calls) == 0


# --- FHIR failures become 412 naming the key (F8, contract "Errors") ---------------------------

_OUTCOME_500 = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "exception", "diagnostics": "database down"}],
}


@pytest.mark.parametrize(
    ("status", "body", "content_type", "reason"),
    [
        (500, _OUTCOME_500, "application/fhir+json", "HTTP 500"),
        (404, _OUTCOME_500, "application/fhir+json", "HTTP 404"),
        (401, "", "text/plain", "refused the access token"),
        (403, "", "text/plain", "refused the access token"),
        (200, '{"resourceType": "Bundle", "entry": [', "application/fhir+json", "invalid JSON"),
        (200, "<html><body>Sign in</body></html>", "text/html", "invalid JSON"),
        (200, "[1, 2]", "application/json", "not a FHIR resource"),
        (200, _OUTCOME_500, "application/fhir+json", "expected a searchset Bundle"),
    ],
)
def test_a_failed_fetch_is_412_incomplete_naming_the_key_and_reason(
    client: FlaskClient,
    fhir: responses.RequestsMock,
    status: int,
    body: str | JsonObject,
    content_type: str,
    reason: str,
) -> None:
    """F8: the data cannot be obtained, so 412; the other keys were fine, only one is named."""
    url = _query_url("observations")
    if isinstance(body, dict):
        fhir.get(url, status=status, json=body, content_type=content_type)
    else:
        fhir.get(url, status=status, body=body, content_type=content_type)

    response = client.post(SERVICE_URL, json=_hook_request(drop=("observations",)))

    assert response.status_code == 412
    assert response.content_type == "application/json"
    issue = _single_issue(response.get_json())
    assert issue["code"] == "incomplete"
    assert issue["expression"] == ["prefetch.observations"]
    assert "observations" in issue["diagnostics"]
    assert reason in issue["diagnostics"]


@pytest.mark.parametrize("error", [requests.ReadTimeout, requests.ConnectTimeout])
def test_a_timeout_is_412_with_code_timeout(
    client: FlaskClient, fhir: responses.RequestsMock, error: type[Exception]
) -> None:
    """Contract "Errors": a timeout is 412 with issue code ``timeout`` (F8, F10)."""
    fhir.get(_query_url("observations"), body=error("timed out"))

    response = client.post(SERVICE_URL, json=_hook_request(drop=("observations",)))

    assert response.status_code == 412
    issue = _single_issue(response.get_json())
    assert issue["code"] == "timeout"
    assert issue["expression"] == ["prefetch.observations"]


def test_an_unreachable_fhir_server_is_412(
    client: FlaskClient, fhir: responses.RequestsMock
) -> None:
    """F8: a connection failure is ``incomplete``."""
    fhir.get(_query_url("observations"), body=requests.ConnectionError("refused"))

    response = client.post(SERVICE_URL, json=_hook_request(drop=("observations",)))

    assert response.status_code == 412
    issue = _single_issue(response.get_json())
    assert (issue["code"], issue["expression"]) == ("incomplete", ["prefetch.observations"])
    assert "connection failed" in issue["diagnostics"]


@pytest.mark.parametrize("declared", [True, False])
def test_a_response_over_the_size_cap_is_412(
    make_client: Callable[..., FlaskClient], fhir: responses.RequestsMock, declared: bool
) -> None:
    """``CDS_FHIR_MAX_RESPONSE_MB``: with or without Content-Length, a huge answer is 412."""
    client = make_client(fhir_max_response_mb=0.001)  # 1048 bytes
    body = '{"resourceType": "Bundle", "type": "searchset", "entry": []}' + " " * 4096
    fhir.get(_query_url("observations"), body=body, content_type="application/fhir+json",
             auto_calculate_content_length=declared)

    response = client.post(SERVICE_URL, json=_hook_request(drop=("observations",)))

    assert response.status_code == 412
    issue = _single_issue(response.get_json())
    assert issue["code"] == "incomplete"
    assert issue["expression"] == ["prefetch.observations"]
    assert "CDS_FHIR_MAX_RESPONSE_MB" in issue["diagnostics"]


@pytest.mark.parametrize("status", [301, 302, 307])
def test_a_redirect_is_412_and_not_followed(
    client: FlaskClient, fhir: responses.RequestsMock, status: int
) -> None:
    """Redirects are never followed: the Location could be any host (SSRF, token leak)."""
    first = _query_url("observations")
    elsewhere = "https://evil.example/steal"
    fhir.get(first, status=status, headers={"Location": elsewhere})
    fhir.get(elsewhere, json=EMPTY_SEARCHSET)

    response = client.post(SERVICE_URL, json=_hook_request(drop=("observations",)))

    assert response.status_code == 412
    issue = _single_issue(response.get_json())
    assert issue["expression"] == ["prefetch.observations"]
    assert "redirect" in issue["diagnostics"]
    assert _requested(fhir) == [first]


def test_the_access_token_is_never_logged(
    client: FlaskClient, fhir: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    """F11: the token is transient; a failing fetch logs the key and reason, never the token."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="cds_service")
    fhir.get(_query_url("observations"), status=401, body="")
    fhir.get(_query_url("procedures"), body=requests.ConnectionError(f"Bearer {TOKEN}"))

    response = client.post(SERVICE_URL, json=_hook_request(drop=("observations", "procedures")))

    assert response.status_code == 412
    assert sorted(issue_expressions(response.get_json())) == [
        "prefetch.observations", "prefetch.procedures"
    ]
    assert TOKEN not in response.get_data(as_text=True)
    assert any("prefetch.observations" in r.getMessage() for r in caplog.records)
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
    assert TOKEN not in caplog.text


# --- fhirServer checks (contract "Errors": 400) ------------------------------------------------


@pytest.mark.parametrize("prefetch", [True, False])
@pytest.mark.parametrize(
    "server", ["https://evil.example/r4", "https://fhir.example.org.evil.example/r4"]
)
def test_a_fhir_server_outside_the_allowlist_is_400_forbidden(
    make_client: Callable[..., FlaskClient],
    fhir: responses.RequestsMock,
    prefetch: bool,
    server: str,
) -> None:
    """Contract: checked whenever fhirServer is present, even when nothing needs fetching."""
    client = make_client(fhir_server_allowlist="https://fhir.example.org/")
    fhir.get(_query_url("patient", server), json=_full_prefetch()["patient"])

    response = client.post(SERVICE_URL, json=_hook_request(prefetch=prefetch, server=server))

    assert response.status_code == 400
    body = response.get_json()
    assert issue_codes(body) == ["forbidden"]
    assert issue_expressions(body) == ["fhirServer"]
    assert len(fhir.calls) == 0


def test_a_fhir_server_on_the_allowlist_is_used(
    make_client: Callable[..., FlaskClient], fhir: responses.RequestsMock
) -> None:
    """``CDS_FHIR_SERVER_ALLOWLIST`` lists URL prefixes; a matching server is fetched from."""
    client = make_client(fhir_server_allowlist="https://other.example/, https://fhir.example.org/")
    urls = _serve(fhir)

    response = client.post(SERVICE_URL, json=_hook_request(drop=("patient",)))

    assert response.status_code == 200
    assert _requested(fhir) == [urls["patient"]]


def test_fhir_authorization_without_fhir_server_is_400(
    client: FlaskClient, fhir: responses.RequestsMock
) -> None:
    """R3 / F12: fhirServer is REQUIRED when fhirAuthorization is present."""
    response = client.post(SERVICE_URL, json=_hook_request(drop=("patient",), server=None))

    assert response.status_code == 400
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert set(issue_codes(body)) <= {"invalid", "required"}
    assert any("fhirServer" in issue["diagnostics"] for issue in body["issue"])
    assert TOKEN not in response.get_data(as_text=True)
    assert len(fhir.calls) == 0


def test_a_filter_drops_fetched_resources_it_refuses_but_never_prefetched_ones(
    fhir: responses.RequestsMock, settings: Settings,
) -> None:
    record = _full_prefetch()
    (observation,) = [e["resource"] for e in record["observations"]["entry"]]
    other = {**copy.deepcopy(observation), "id": "obs-unrelated"}
    searchset = {**EMPTY_SEARCHSET, "total": 2,
                 "entry": [{"resource": observation}, {"resource": other}]}
    fhir.get(_query_url("observations"), json=searchset, content_type="application/fhir+json")
    request = PatientViewRequest.model_validate(_hook_request(drop=("observations",)))

    keep = Sieve(lambda r: r.get("id") == observation["id"], frozenset({"id"}))
    resolved = resolve(PREFETCH, request, settings, keep=keep)

    assert resolved.resources["observations"] == (observation,)  # fetched: filtered
    assert resolved.resources["conditions"] == tuple(  # prefetched: as sent
        e["resource"] for e in record["conditions"]["entry"])
