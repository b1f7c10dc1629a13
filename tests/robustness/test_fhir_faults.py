"""FHIR server faults not covered elsewhere, against a real loopback HTTP server and ``responses``.

Already pinned in ``tests/hooks/test_prefetch_fetch.py`` and ``tests/fhir/test_client.py``: 5xx and
4xx OperationOutcomes, invalid JSON, an HTML sign-in page with 200 (mocked), timeouts, slow and
dripping servers past the deadline, cycling and foreign ``next`` links, single redirects, size cap.
Here: HTML error pages from a real server (200 and 500), redirect loops, and a real 50 MB Bundle.
Each is a 412 naming the prefetch key and what failed, within the deadline plus a generous margin
(a functional bound, not a benchmark).
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient

from cds_service.app import create_app
from cds_service.hooks.services import PREFETCH
from cds_service.settings import Settings
from cds_service.state import service_state
from tests.common import scenario_request
from tests.loopback import CountingHandler
from tests.loopback import Seen
from tests.loopback import drain
from tests.loopback import serving

JsonObject = dict[str, Any]

SCENARIO = "no-tumour-hypertension"
PATIENT_ID = "pt-htn-01"
SERVICE_URL = "/cds-services/sts-patient-view"
QUERY = "/fhir/" + PREFETCH["observations"].replace("{{context.patientId}}", PATIENT_ID)
DEADLINE_S = 3.0
MARGIN_S = 4.0
"""Generous: the machine may be busy; a client that ignored the deadline would take far longer."""

MIB = 1024 * 1024
HTML_ERROR = (b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>"
              b"<h1>Bad Gateway</h1><p>nginx</p><script>alert(1)</script></body></html>")

Answer = Callable[[BaseHTTPRequestHandler], None]


@dataclass(kw_only=True)
class Loopback(Seen):
    """A FHIR server on 127.0.0.1: what it answers per path, and what it was asked.

    Attributes:
        base_url: the ``fhirServer`` to put in requests.
        answers: request path (with query) -> how to answer it.
    """

    base_url: str
    answers: dict[str, Answer] = field(default_factory=dict)


class _Handler(CountingHandler):
    server: _Server

    def answer(self) -> None:
        answer = self.server.state.answers.get(self.path)
        if answer is None:
            self.send_error(404)
        else:
            answer(self)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: Loopback


@pytest.fixture(scope="module")
def loopback_server() -> Iterator[_Server]:
    """One server for the module; each test sets its answers."""
    with serving(_Server, _Handler, "fault-fhir") as server:
        server.state = Loopback(base_url=f"http://127.0.0.1:{server.server_port}/fhir")
        yield server


@pytest.fixture
def loopback(loopback_server: _Server) -> Iterator[Loopback]:
    """Fresh answers for one test; waits for its handlers to finish afterwards."""
    state = Loopback(base_url=loopback_server.state.base_url)
    loopback_server.state = state
    yield state
    drain(state, 10)


@pytest.fixture(scope="module")
def fault_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The service with the contract's default deadline and size cap (3 s, 32 MiB)."""
    root = tmp_path_factory.mktemp("faults")
    app = create_app(Settings(database_url=f"sqlite:///{root / 'cds.sqlite3'}",
                              request_deadline_s=DEADLINE_S))
    assert service_state(app).settings.fhir_max_response_mb == 32
    yield app
    service_state(app).close()


def _call_missing_observations(client: FlaskClient, server: str) -> tuple[int, JsonObject, float]:
    """A call whose prefetch lacks only ``observations``: one query to ``server``."""
    request = scenario_request(SCENARIO, "patient-view.json")
    del request["prefetch"]["observations"]
    request["fhirServer"] = server
    started = time.monotonic()
    response = client.post(SERVICE_URL, json=request)
    elapsed = time.monotonic() - started
    assert response.content_type == "application/json"
    return response.status_code, response.get_json(), elapsed


def _only_issue(body: JsonObject) -> JsonObject:
    assert body["resourceType"] == "OperationOutcome"
    (issue,) = body["issue"]
    assert issue["expression"] == ["prefetch.observations"]
    assert "observations" in issue["diagnostics"]
    return dict(issue)


def _send(status: int, body: bytes, content_type: str,
          headers: dict[str, str] | None = None) -> Answer:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    return answer


# --- HTML error pages -----------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "reason"), [(200, "invalid JSON"), (500, "HTTP 500"),
                                                (502, "HTTP 502")])
def test_an_html_error_page_is_412_and_never_echoed(
    fault_app: Flask, loopback: Loopback, status: int, reason: str
) -> None:
    """A proxy's HTML page instead of FHIR JSON: 412 naming the key; the page is not passed on."""
    loopback.answers[QUERY] = _send(status, HTML_ERROR, "text/html; charset=utf-8")

    code, body, elapsed = _call_missing_observations(fault_app.test_client(), loopback.base_url)

    assert code == 412
    issue = _only_issue(body)
    assert (issue["code"], reason in issue["diagnostics"]) == ("incomplete", True)
    assert "<" not in str(body) and "nginx" not in str(body)
    assert loopback.requests == [QUERY]
    assert elapsed < DEADLINE_S + MARGIN_S


def test_an_html_500_page_from_a_mocked_server_is_412(fault_app: Flask) -> None:
    """The same with ``responses``, as the unit tests mock FHIR servers."""
    server = "https://fhir.example.org/r4"
    with responses.RequestsMock() as mock:
        mock.get(server + QUERY.removeprefix("/fhir"), status=500, body=HTML_ERROR,
                 content_type="text/html")
        code, body, _ = _call_missing_observations(fault_app.test_client(), server)

    assert code == 412
    assert "HTTP 500" in _only_issue(body)["diagnostics"]


# --- redirect loops -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_loop_is_412_after_one_request(
    fault_app: Flask, loopback: Loopback, status: int
) -> None:
    """A server redirecting to itself: redirects are never followed, so the loop never starts."""
    loopback.answers[QUERY] = _send(status, b"", "text/plain",
                                    {"Location": loopback.base_url.removesuffix("/fhir") + QUERY})

    code, body, elapsed = _call_missing_observations(fault_app.test_client(), loopback.base_url)

    assert code == 412
    assert "redirect" in _only_issue(body)["diagnostics"]
    assert loopback.requests == [QUERY]
    assert elapsed < DEADLINE_S + MARGIN_S


def test_a_two_step_redirect_loop_from_a_mocked_server_is_412() -> None:
    """A -> B -> A with ``responses``: still one request, then 412."""
    server = "https://fhir.example.org/r4"
    first = server + QUERY.removeprefix("/fhir")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(first, status=302, headers={"Location": f"{server}/elsewhere"})
        mock.get(f"{server}/elsewhere", status=302, headers={"Location": first})
        app = create_app(Settings(database_url="sqlite://"))
        try:
            code, body, _ = _call_missing_observations(app.test_client(), server)
        finally:
            service_state(app).close()
        assert [call.request.url for call in mock.calls] == [first]

    assert code == 412
    assert "redirect" in _only_issue(body)["diagnostics"]


# --- a 50 MB Bundle -------------------------------------------------------------------------------

BUNDLE_BYTES = 50 * MIB


def _huge_bundle(declare_length: bool) -> Answer:
    """A valid 50 MiB searchset, generated as it is sent (the server never holds it either)."""
    entry = (b'{"resource": {"resourceType": "Observation", "id": "o", "status": "final", '
             b'"code": {"text": "Blood pressure"}}, "search": {"mode": "match"}}')
    head = b'{"resourceType": "Bundle", "type": "searchset", "entry": ['
    tail = b"]}"
    per_chunk = 512
    chunk = b",".join([entry] * per_chunk)
    chunks = (BUNDLE_BYTES - len(head) - len(tail)) // (len(chunk) + 1)

    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/fhir+json")
        if declare_length:
            size = len(head) + chunks * len(chunk) + (chunks - 1) + len(tail)
            handler.send_header("Content-Length", str(size))
        handler.end_headers()  # without a length, the body ends when the connection closes
        handler.wfile.write(head)
        for index in range(chunks):
            handler.wfile.write((b"," if index else b"") + chunk)
        handler.wfile.write(tail)

    return answer


@pytest.mark.slow
@pytest.mark.parametrize("declare_length", [True, False])
def test_a_50_mb_bundle_is_412_on_time_and_never_held_whole(
    fault_app: Flask, loopback: Loopback, declare_length: bool
) -> None:
    """``CDS_FHIR_MAX_RESPONSE_MB`` (32): refused from its Content-Length, or while streaming."""
    loopback.answers[QUERY] = _huge_bundle(declare_length)
    client = fault_app.test_client()

    tracemalloc.start()
    try:
        code, body, elapsed = _call_missing_observations(client, loopback.base_url)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert code == 412
    issue = _only_issue(body)
    assert issue["code"] == "incomplete"
    assert "CDS_FHIR_MAX_RESPONSE_MB" in issue["diagnostics"]
    assert elapsed < DEADLINE_S + MARGIN_S
    # At most the 32 MiB cap is buffered before the read stops; with a declared length, nothing.
    assert peak < (4 if declare_length else 40) * MIB, f"peak {peak / MIB:.1f} MiB"
