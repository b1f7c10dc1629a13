"""The FHIR client: reads, searches, paging and bundle helpers; parallelism and deadlines live."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from http.server import ThreadingHTTPServer
from typing import Any

import pytest
import responses
from flask.testing import FlaskClient

from cds_service.fhir.client import Deadline
from cds_service.fhir.client import FhirClient
from cds_service.fhir.client import FhirError
from cds_service.fhir.client import FhirLimits
from cds_service.fhir.client import bundle_resources
from cds_service.fhir.client import is_operation_outcome
from cds_service.fhir.client import next_link
from cds_service.fhir.client import shared_executor
from cds_service.fhir.client import shared_session
from cds_service.hooks.services import PREFETCH
from tests.common import FIXTURES_DIR
from tests.common import issue_codes
from tests.common import issue_expressions
from tests.common import load_json
from tests.common import scenario_request
from tests.loopback import CountingHandler
from tests.loopback import Seen
from tests.loopback import drain
from tests.loopback import serving

JsonObject = dict[str, Any]

BASE = "https://fhir.example.org/r4"
TOKEN = "opaque-token-123"
SCENARIO = "no-tumour-hypertension"
SERVICE_URL = "/cds-services/sts-patient-view"
LIMITS = FhirLimits(timeout_s=1.0, max_pages=5, max_response_bytes=1024 * 1024)
EMPTY_SEARCHSET: JsonObject = {"resourceType": "Bundle", "type": "searchset", "entry": []}
OUTCOME: JsonObject = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "warning", "code": "informational", "diagnostics": "search warning"}],
}


def _resources(resource_type: str) -> list[JsonObject]:
    bundle = load_json(FIXTURES_DIR / SCENARIO / "bundle.json")
    entries = bundle["entry"]
    return [e["resource"] for e in entries if e["resource"]["resourceType"] == resource_type]


def _searchset(*resources: JsonObject, next_url: str | None = None) -> JsonObject:
    bundle: JsonObject = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


def _client(
    base: str = BASE, *, deadline_s: float = 5.0, limits: FhirLimits = LIMITS
) -> FhirClient:
    return FhirClient(base, access_token=TOKEN, limits=limits, deadline=Deadline(deadline_s))


@pytest.fixture
def fhir() -> Iterator[responses.RequestsMock]:
    """The mocked FHIR server."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


# --- FhirClient against a mocked server --------------------------------------------------------


def test_a_read_returns_the_one_resource_with_token_and_fhir_json(
    fhir: responses.RequestsMock,
) -> None:
    """F7: ``Authorization: Bearer`` on every call; P1: a read is ``Type/id``."""
    patient = _resources("Patient")[0]
    fhir.get(f"{BASE}/Patient/{patient['id']}", json=patient)

    assert _client().read_query(f"Patient/{patient['id']}") == [patient]
    headers = fhir.calls[0].request.headers
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Accept"].startswith("application/fhir+json")


def test_a_search_returns_the_bundle_resources_without_search_outcomes(
    fhir: responses.RequestsMock,
) -> None:
    """P1: a search answers a searchset; its ``outcome`` entries are not patient data."""
    condition = _resources("Condition")[0]
    bundle = _searchset(condition)
    bundle["entry"].append({"resource": OUTCOME, "search": {"mode": "outcome"}})
    fhir.get(f"{BASE}/Condition?patient=pt-htn-01", json=bundle)

    assert _client().read_query("Condition?patient=pt-htn-01") == [condition]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"resourceType": "Observation", "id": "o1", "valueQuantity": '
                     b'{"value": NaN}}', id="nan-which-orjson-refuses"),
        pytest.param(b'{"resourceType": "Observation", "id": "o1", "valueInteger": '
                     b'123456789012345678901234567890}', id="integer-beyond-64-bits"),
        pytest.param(b'{"resourceType": "Observation", "id": "o1", "valueInteger": '
                     b'-9999999999999999999}', id="integer-below-int64"),
        pytest.param(json.dumps({"resourceType": "Observation", "id": "o1",
                                 "note": [{"text": "x" * (2 * 1024 * 1024)}]}).encode(),
                     id="larger-than-orjson-is-used-for"),
    ],
)
def test_a_response_decodes_to_what_json_reads(fhir: responses.RequestsMock, body: bytes) -> None:
    # Two decoders (orjson for speed, json for large bodies and what orjson refuses) must give
    # the values Python's json gives: what a resource holds decides whether it is readable.
    fhir.get(f"{BASE}/Observation/o1", body=body, content_type="application/fhir+json")
    limits = FhirLimits(timeout_s=1.0, max_pages=5, max_response_bytes=8 * 1024 * 1024)
    (read,) = _client(limits=limits).read_query("Observation/o1")
    assert repr(read) == repr(json.loads(body))  # repr: NaN != NaN, 1e30 == 10**30


def test_a_read_answered_with_an_operation_outcome_is_an_error(
    fhir: responses.RequestsMock,
) -> None:
    """F4: an OperationOutcome is an error description, never the resource asked for."""
    fhir.get(f"{BASE}/Patient/1", json=OUTCOME)

    with pytest.raises(FhirError, match="OperationOutcome"):
        _client().read_query("Patient/1")


def test_a_search_answered_with_a_single_resource_is_an_error(
    fhir: responses.RequestsMock,
) -> None:
    """P1: a search must come back as a searchset Bundle."""
    fhir.get(f"{BASE}/Condition?patient=1", json=_resources("Condition")[0])

    with pytest.raises(FhirError, match="expected a searchset Bundle"):
        _client().read_query("Condition?patient=1")


@pytest.mark.parametrize("base", [BASE, f"{BASE}/"])
def test_base_url_with_or_without_trailing_slash(fhir: responses.RequestsMock, base: str) -> None:
    """R3: fhirServer is a base URL; ``Type/id`` is resolved below it, never above."""
    fhir.get(f"{BASE}/Patient/1", json={"resourceType": "Patient", "id": "1"})

    assert _client(base).read_query("Patient/1")[0]["id"] == "1"


@pytest.mark.parametrize(
    "next_url",
    [
        f"{BASE}/Condition?patient=1&page=2",
        "Condition?patient=1&page=2",  # relative to the base
        f"{BASE}?_getpages=abc&_getpagesoffset=20",  # HAPI pages on the base itself
    ],
)
def test_next_links_on_the_same_server_are_followed(
    fhir: responses.RequestsMock, next_url: str
) -> None:
    """F5: every page's resources are returned, in page order."""
    first, second = _resources("Condition")[0], dict(_resources("Condition")[0], id="c2")
    absolute = next_url if next_url.startswith("https:") else f"{BASE}/{next_url}"
    fhir.get(f"{BASE}/Condition?patient=1", json=_searchset(first, next_url=next_url))
    fhir.get(absolute, json=_searchset(second))

    assert _client().read_query("Condition?patient=1") == [first, second]
    assert [c.request.url for c in fhir.calls] == [f"{BASE}/Condition?patient=1", absolute]
    assert all(c.request.headers["Authorization"] == f"Bearer {TOKEN}" for c in fhir.calls)


def test_a_next_page_that_is_not_a_bundle_is_an_error(fhir: responses.RequestsMock) -> None:
    """F5: a page of a searchset is a Bundle."""
    fhir.get(f"{BASE}/Condition?patient=1", json=_searchset(next_url=f"{BASE}/page2"))
    fhir.get(f"{BASE}/page2", json=OUTCOME)

    with pytest.raises(FhirError, match="not a Bundle"):
        _client().read_query("Condition?patient=1")


def test_follow_pages_counts_the_given_page_as_the_first(fhir: responses.RequestsMock) -> None:
    """Contract: "the page cap counts every page of one query, the first included"."""
    limits = FhirLimits(timeout_s=1.0, max_pages=2, max_response_bytes=1024 * 1024)
    fhir.get(f"{BASE}/p2", json=_searchset(next_url=f"{BASE}/p3"))
    fhir.get(f"{BASE}/p3", json=_searchset())

    with pytest.raises(FhirError, match="more than 2 pages"):
        _client(limits=limits).follow_pages(_searchset(next_url=f"{BASE}/p2"))
    assert [c.request.url for c in fhir.calls] == [f"{BASE}/p2"]


def test_no_request_is_made_once_the_deadline_has_passed(fhir: responses.RequestsMock) -> None:
    """``CDS_REQUEST_DEADLINE_S`` bounds all fetching of one call."""
    fhir.get(f"{BASE}/Patient/1", json={"resourceType": "Patient", "id": "1"})
    client = _client(deadline_s=0.001)
    time.sleep(0.01)

    with pytest.raises(FhirError) as caught:
        client.read_query("Patient/1")

    assert caught.value.timeout
    assert len(fhir.calls) == 0


def test_no_request_is_made_after_abort(fhir: responses.RequestsMock) -> None:
    """After the call gave up on its queries, stragglers must not start new requests."""
    fhir.get(f"{BASE}/Patient/1", json={"resourceType": "Patient", "id": "1"})
    client = _client()
    client.abort()

    with pytest.raises(FhirError) as caught:
        client.read_query("Patient/1")

    assert caught.value.timeout
    assert len(fhir.calls) == 0


def test_the_error_reason_never_contains_the_token(fhir: responses.RequestsMock) -> None:
    """F11: reasons are shown to clients and logged."""
    fhir.get(f"{BASE}/Patient/1", status=401, body=f"invalid token {TOKEN}")

    with pytest.raises(FhirError) as caught:
        _client().read_query("Patient/1")

    assert "refused the access token" in caught.value.reason
    assert TOKEN not in str(caught.value)


def test_one_session_and_one_executor_per_process() -> None:
    """Pooling: every call of a worker shares the same connections and threads."""
    assert shared_session() is shared_session()
    assert shared_executor() is shared_executor()


# --- Bundle helpers ----------------------------------------------------------------------------


def test_bundle_resources_skips_outcomes_and_malformed_entries() -> None:
    """``search.mode == "outcome"`` entries are warnings about the search, not data."""
    condition = _resources("Condition")[0]
    bundle = _searchset(condition)
    bundle["entry"] += [
        {"resource": OUTCOME, "search": {"mode": "outcome"}},
        {"fullUrl": "urn:uuid:no-resource"},
        "not an entry",
        {"resource": "not a resource"},
    ]

    assert bundle_resources(bundle) == [condition]
    assert bundle_resources({"resourceType": "Bundle"}) == []


@pytest.mark.parametrize(
    ("links", "expected"),
    [
        ([{"relation": "self", "url": "a"}, {"relation": "next", "url": "b"}], "b"),
        ([{"relation": "self", "url": "a"}, {"relation": "previous", "url": "b"}], None),
        ([{"relation": "next", "url": ""}], None),
        ([{"relation": "next"}], None),
        (None, None),
    ],
)
def test_next_link(links: Any, expected: str | None) -> None:
    """F5: only ``relation == "next"`` with a URL is another page."""
    bundle = {"resourceType": "Bundle", "type": "searchset", "link": links}

    assert next_link(bundle) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (OUTCOME, True),
        ({"resourceType": "Bundle", "entry": [{"resource": OUTCOME}]}, True),
        ({"resourceType": "Bundle", "entry": [{"resource": OUTCOME}, {"resource": {
            "resourceType": "Patient"}}]}, False),
        (EMPTY_SEARCHSET, False),
        ({"resourceType": "Patient", "id": "1"}, False),
        (None, False),
    ],
)
def test_is_operation_outcome(value: Any, expected: bool) -> None:
    """F4: an OperationOutcome, or a Bundle of nothing but OperationOutcomes."""
    assert is_operation_outcome(value) is expected


# --- A real loopback FHIR server ----------------------------------------------------------------


@dataclass(kw_only=True)
class LoopbackFhir(Seen):
    """What the loopback server does, changed per test, and what it saw.

    Attributes:
        base_url: the server's base URL.
        delay: seconds before each answer.
        drip_s: when set, send headers, then one byte every 0.2 s for this long.
        release: set at the end of a test so that slow handlers stop at once.
    """

    base_url: str
    delay: float = 0.0
    drip_s: float | None = None
    release: threading.Event = field(default_factory=threading.Event)


class _Handler(CountingHandler):
    server: _Server

    def answer(self) -> None:
        self._answer(self.server.state)

    def _answer(self, state: LoopbackFhir) -> None:
        if state.release.wait(state.delay):
            return
        if state.drip_s is not None:
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            ends = time.monotonic() + state.drip_s
            while time.monotonic() < ends and not state.release.wait(0.2):
                self.wfile.write(b" ")
                self.wfile.flush()
            return
        if self.path.startswith("/Patient/"):
            body: JsonObject = {"resourceType": "Patient", "id": self.path.split("/")[2]}
        else:
            body = EMPTY_SEARCHSET
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    state: LoopbackFhir


@pytest.fixture(scope="session")
def loopback_server() -> Iterator[_Server]:
    """A FHIR server on 127.0.0.1 whose behaviour each test sets."""
    with serving(_Server, _Handler, "loopback-fhir") as server:
        server.state = LoopbackFhir(base_url=f"http://127.0.0.1:{server.server_port}")
        yield server


@pytest.fixture
def loopback(loopback_server: _Server) -> Iterator[LoopbackFhir]:
    """Fresh behaviour for one test; slow handlers are released and drained afterwards."""
    state = LoopbackFhir(base_url=loopback_server.state.base_url)
    loopback_server.state = state
    yield state
    state.release.set()
    drain(state, 5)


def _unprefetched_call(server: LoopbackFhir) -> JsonObject:
    request = scenario_request(SCENARIO, "patient-view.json", with_prefetch=False)
    request["fhirServer"] = server.base_url
    return request


def _timed_post(client: FlaskClient, request: JsonObject) -> tuple[int, JsonObject, float]:
    started = time.monotonic()
    response = client.post(SERVICE_URL, json=request)
    return response.status_code, response.get_json(), time.monotonic() - started


@pytest.mark.slow
def test_the_queries_of_one_call_run_in_parallel(
    client: FlaskClient, loopback: LoopbackFhir
) -> None:
    """F10 (~500 ms): seven slow queries overlap instead of adding up."""
    loopback.delay = 0.4

    status, body, elapsed = _timed_post(client, _unprefetched_call(loopback))

    assert status == 200, body
    assert sorted(loopback.requests) == sorted(
        "/" + t.replace("{{context.patientId}}", "pt-htn-01") for t in PREFETCH.values()
    )
    assert elapsed < 0.6 * len(PREFETCH) * loopback.delay  # serial would be 2.8 s


@pytest.mark.slow
def test_a_server_slower_than_the_deadline_is_412_timeout_on_time(
    make_client: Callable[..., FlaskClient], loopback: LoopbackFhir
) -> None:
    """``CDS_REQUEST_DEADLINE_S`` bounds the call even when ``CDS_FHIR_TIMEOUT_S`` is longer."""
    client = make_client(request_deadline_s=0.5, fhir_timeout_s=5)
    loopback.delay = 3.0

    status, body, elapsed = _timed_post(client, _unprefetched_call(loopback))

    assert status == 412
    assert set(issue_codes(body)) == {"timeout"}
    assert sorted(issue_expressions(body)) == sorted(f"prefetch.{key}" for key in PREFETCH)
    assert elapsed < 2.5


@pytest.mark.slow
def test_a_server_dripping_its_answer_is_412_timeout_on_time(
    make_client: Callable[..., FlaskClient], loopback: LoopbackFhir
) -> None:
    """A trickle of bytes defeats per-read timeouts; the call deadline must still hold."""
    client = make_client(request_deadline_s=0.6, fhir_timeout_s=5)
    loopback.drip_s = 5.0

    status, body, elapsed = _timed_post(client, _unprefetched_call(loopback))

    assert status == 412
    assert set(issue_codes(body)) == {"timeout"}
    assert sorted(issue_expressions(body)) == sorted(f"prefetch.{key}" for key in PREFETCH)
    assert elapsed < 2.5


@responses.activate
def test_next_link_with_dot_segments_is_not_followed() -> None:
    """A next link on the same host must not climb out of the fhirServer path."""
    base = "https://ehr.example.org/fhir/r4"
    first = {"resourceType": "Bundle", "type": "searchset",
             "link": [{"relation": "next", "url": f"{base}/../admin/Condition?page=2"}]}
    client = FhirClient(base, access_token=None, limits=FhirLimits(1.0, 5, 1_000_000),
                        deadline=Deadline(2.0))
    with pytest.raises(FhirError, match="dot segments"):
        client.follow_pages(first)
    assert len(responses.calls) == 0
