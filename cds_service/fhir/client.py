"""A thin per-call FHIR REST client over one pooled ``requests.Session`` per process.

Every request is bounded: a per-request timeout, an overall deadline shared by the queries of one
hook call, a response-size cap and a page cap. Redirects are never followed, and ``next`` links
must stay on the same server, because the caller chose that URL (request forgery otherwise).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin
from urllib.parse import urlsplit

import orjson
import requests

from cds_service.fhir.egress import ForbiddenDestination
from cds_service.fhir.egress import GuardedAdapter
from cds_service.fhir.shape import bundle_shape_problems
from cds_service.fhir.shape import is_bundle
from cds_service.fhir.sieve import Sieve
from cds_service.fhir.sieve import sift_searchset

JsonObject = dict[str, Any]

_FHIR_JSON = "application/fhir+json, application/json;q=0.9"
ORJSON_MAX_BYTES = 1024 * 1024
"""Responses up to this size are decoded by orjson, larger ones by json (memory, see _decode)."""

_CHUNK = 256 * 1024
"""Bytes read at a time: large enough that a megabyte searchset is four reads, not sixty. A server
that drips bytes cannot hold a read past the deadline: ``abort`` shuts the socket down."""


class FhirError(Exception):
    """A FHIR request failed; ``reason`` says why in words safe to show and log (no token)."""

    def __init__(self, reason: str, *, timeout: bool = False, forbidden: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.timeout = timeout
        self.forbidden = forbidden


@dataclass(frozen=True)
class FhirLimits:
    """Bounds on FHIR fetching, from settings.

    Attributes:
        timeout_s: one request's timeout.
        max_pages: pages per query, the first included.
        max_response_bytes: largest response body.
    """

    timeout_s: float
    max_pages: int
    max_response_bytes: int


class Deadline:
    """A point in monotonic time by which all fetching of one call must end."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self._end - time.monotonic())

    def expired(self) -> bool:
        """True once the deadline has passed."""
        return self.remaining() <= 0


_process_lock = threading.Lock()
_process_state: dict[str, Any] = {}


def _per_process(name: str, factory: Any) -> Any:
    # Sockets and threads must not cross a fork (gunicorn preload): one instance per pid.
    key = f"{name}:{os.getpid()}"
    with _process_lock:
        if key not in _process_state:
            _process_state[key] = factory()
        return _process_state[key]


def _new_session(exempt: frozenset[str] = frozenset()) -> requests.Session:
    session = requests.Session()
    # Every connection is checked against link-local and metadata addresses (fhir.egress).
    adapter = GuardedAdapter(exempt, pool_connections=16, pool_maxsize=64, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.trust_env = False  # no proxy or netrc surprises: the operator configures the network
    return session


def shared_session(exempt: frozenset[str] = frozenset()) -> requests.Session:
    """The process's pooled HTTP session (one per set of ``exempt`` hosts, see fhir.egress)."""
    name = "session" if not exempt else f"session:{','.join(sorted(exempt))}"
    session: requests.Session = _per_process(name, lambda: _new_session(exempt))
    return session


def shared_executor() -> ThreadPoolExecutor:
    """The process's bounded thread pool for parallel FHIR queries.

    Sized for every gunicorn thread of a worker running a call's seven queries at once, with room
    for threads still waiting on a server that missed a deadline.
    """
    executor: ThreadPoolExecutor = _per_process(
        "executor", lambda: ThreadPoolExecutor(max_workers=64, thread_name_prefix="fhir-fetch")
    )
    return executor


class FhirClient:
    """Reads from one ``fhirServer`` with one access token, within one deadline.

    Given a ``sieve``, the resources of a searchset page are only those it keeps: judged before
    the page is decoded whole where ``fhir.sieve`` can, after otherwise. Reads are whole.
    """

    def __init__(
        self,
        base_url: str,
        *,
        access_token: str | None,
        limits: FhirLimits,
        deadline: Deadline,
        session: requests.Session | None = None,
        sieve: Sieve | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self._token = access_token
        self._limits = limits
        self._deadline = deadline
        self._session = session or shared_session()
        self._open: set[requests.Response] = set()
        self._lock = threading.Lock()
        self._aborted = False
        self._sieve = sieve

    def read_query(self, relative_url: str) -> list[JsonObject]:
        """Run a read (``Patient/1``) or search (``Condition?patient=1``); return its resources."""
        body = self.get(urljoin(self.base_url, relative_url))
        if body.get("resourceType") == "Bundle":
            return self.follow_pages(body)
        if "?" in relative_url:
            raise FhirError(f"expected a searchset Bundle, got {body.get('resourceType')!r}")
        if body.get("resourceType") == "OperationOutcome":
            raise FhirError("the FHIR server answered with an OperationOutcome")
        return [body]

    def follow_pages(self, bundle: JsonObject) -> list[JsonObject]:
        """Return the resources of ``bundle`` and of every page its ``next`` links lead to."""
        resources = bundle_resources(bundle)
        seen: set[str] = set()
        pages = 1
        next_url = next_link(bundle)
        while next_url:
            if next_url in seen:
                raise FhirError("the FHIR server's next links form a cycle")
            if pages >= self._limits.max_pages:
                raise FhirError(f"more than {self._limits.max_pages} pages (CDS_FHIR_MAX_PAGES)")
            seen.add(next_url)
            page = self.get(self._same_server(next_url))
            if page.get("resourceType") != "Bundle":
                raise FhirError("a next page is not a Bundle")
            resources.extend(bundle_resources(page))
            pages += 1
            next_url = next_link(page)
        return resources

    def get(self, url: str) -> JsonObject:
        """GET one URL and parse the JSON object it returns.

        Raises:
            FhirError: timeout, deadline, HTTP error, redirect, oversize or invalid JSON.
        """
        timeout = min(self._limits.timeout_s, self._deadline.remaining())
        if timeout <= 0 or self._aborted:
            raise FhirError("the request deadline passed (CDS_REQUEST_DEADLINE_S)", timeout=True)
        headers = {"Accept": _FHIR_JSON}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            response = self._session.get(
                url, headers=headers, timeout=timeout, stream=True, allow_redirects=False
            )
        except ForbiddenDestination as exc:
            raise FhirError(f"{exc}; nothing was sent", forbidden=True) from None
        except requests.Timeout:
            raise FhirError(f"no answer within {timeout:.2f} s", timeout=True) from None
        except requests.RequestException as exc:
            raise FhirError(f"connection failed ({type(exc).__name__})") from None
        with self._track(response):
            self._check_status(response)
            return self._parse(self._read_body(response))

    def abort(self) -> None:
        """Stop every response still being read (called when the deadline passes).

        The sockets are shut down, not the responses closed: ``close()`` waits for the lock the
        reading thread holds, so a server dripping bytes would keep the call past its deadline.
        """
        with self._lock:
            self._aborted = True
            for response in list(self._open):
                _shutdown(response)

    def _same_server(self, url: str) -> str:
        absolute = urljoin(self.base_url, url)
        base = self.base_url.rstrip("/")
        if {".", ".."} & set(urlsplit(absolute).path.split("/")):
            raise FhirError("a next link has dot segments in its path; not followed")
        # HAPI pages on the base itself: ``<base>?_getpages=...``.
        if absolute != base and not absolute.startswith((self.base_url, f"{base}?")):
            raise FhirError("a next link points outside fhirServer; not followed")
        return absolute

    def _track(self, response: requests.Response) -> _Tracked:
        return _Tracked(self, response)

    @staticmethod
    def _check_status(response: requests.Response) -> None:
        status = response.status_code
        if 300 <= status < 400:
            raise FhirError(
                f"HTTP {status} redirect from the FHIR server; redirects are not followed"
            )
        if status in (401, 403):
            raise FhirError(f"the FHIR server refused the access token (HTTP {status})")
        if status != 200:
            raise FhirError(f"the FHIR server answered HTTP {status}")

    def _read_body(self, response: requests.Response) -> bytes:
        cap = self._limits.max_response_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > cap:
            raise FhirError(f"response larger than {cap} bytes (CDS_FHIR_MAX_RESPONSE_MB)")
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(_CHUNK):
                size += len(chunk)
                if size > cap:
                    raise FhirError(f"response larger than {cap} bytes (CDS_FHIR_MAX_RESPONSE_MB)")
                if self._deadline.expired():
                    raise FhirError("the request deadline passed while reading", timeout=True)
                chunks.append(chunk)
        except requests.RequestException as exc:
            if self._aborted or self._deadline.expired():
                raise FhirError("the request deadline passed while reading", timeout=True) from None
            raise FhirError(f"reading the response failed ({type(exc).__name__})") from None
        except (OSError, ValueError, AttributeError) as exc:
            # A socket closed by abort() surfaces as one of these from urllib3.
            if self._aborted:
                raise FhirError("the request deadline passed while reading", timeout=True) from None
            raise FhirError(f"reading the response failed ({type(exc).__name__})") from None
        return b"".join(chunks)

    def _parse(self, body: bytes) -> JsonObject:
        sieve = self._sieve
        try:
            sifted = sift_searchset(body, sieve, _decode) if sieve else None
            parsed = _decode(body) if sifted is None else sifted
            _check_shape(parsed)
            if sieve and sifted is None and is_bundle(parsed):
                parsed["entry"] = [{"resource": r} for r in bundle_resources(parsed)
                                       if sieve.keeps(r)]
        except (ValueError, RecursionError):
            raise FhirError("the FHIR server returned invalid JSON") from None
        if not isinstance(parsed, dict) or not isinstance(parsed.get("resourceType"), str):
            raise FhirError("the FHIR server returned JSON that is not a FHIR resource")
        return parsed


def _check_shape(parsed: Any) -> None:
    # A broken Bundle is data that cannot be had (412), never a page without entries.
    problems = bundle_shape_problems(parsed) if is_bundle(parsed) else []
    if problems:
        where = "; ".join(f"{problem.path} {problem.message}" for problem in problems)
        raise FhirError(f"the FHIR server returned a Bundle whose shape is broken: {where}")


def _decode(body: bytes) -> Any:
    # orjson is about twice as fast, but its parse tree peaks at ~3x the decoded objects: used up
    # to ORJSON_MAX_BYTES. json reads what orjson refuses (NaN, for one) and integers beyond 64
    # bits, which orjson would turn into floats; so the values are json's. (Nesting 950-1,024
    # deep is read here where json alone would have failed: the resources are then validated.)
    if len(body) <= ORJSON_MAX_BYTES and not _has_long_digit_run(body):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    return json.loads(body)


_DIGIT_MARKS = bytes(0x31 if 0x30 <= byte <= 0x39 else 0x30 for byte in range(256))
"""Maps every digit to ``1`` and every other byte to ``0``, to find long digit runs fast."""

_LONG_DIGIT_RUN = b"1" * 19
"""Every integer orjson does not keep exact (below -2**63 or from 2**64) has this many digits."""


def _has_long_digit_run(body: bytes) -> bool:
    return body.translate(_DIGIT_MARKS).find(_LONG_DIGIT_RUN) >= 0


class _Tracked:
    """Registers a response as open while it is read, so ``abort`` can close it."""

    def __init__(self, client: FhirClient, response: requests.Response) -> None:
        self._client = client
        self._response = response

    def __enter__(self) -> None:
        with self._client._lock:
            self._client._open.add(self._response)

    def __exit__(self, *exc: object) -> None:
        with self._client._lock:
            self._client._open.discard(self._response)
        self._response.close()


def _shutdown(response: requests.Response) -> None:
    # Wakes a read blocked in another thread; that thread then closes the response itself.
    raw = response.raw
    try:
        raw.shutdown()  # urllib3 >= 2.3
        return
    except (AttributeError, ValueError, RuntimeError, OSError):
        pass
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed


def next_link(bundle: JsonObject) -> str | None:
    """The URL of a Bundle's ``next`` link, if any."""
    links = bundle.get("link")
    for link in links if isinstance(links, list) else ():
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            return url if isinstance(url, str) and url else None
    return None


def bundle_resources(bundle: JsonObject) -> list[JsonObject]:
    """The resources of a Bundle's entries, without search outcome messages."""
    resources = []
    entries = bundle.get("entry")
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, dict):
            continue
        resource = entry.get("resource")
        search = entry.get("search")
        if isinstance(search, dict) and search.get("mode") == "outcome":
            continue  # warnings about the search itself, not patient data
        if isinstance(resource, dict):
            resources.append(resource)
    return resources


def is_operation_outcome(value: Any) -> bool:
    """True for an OperationOutcome, or a Bundle holding only OperationOutcomes (F4)."""
    if not isinstance(value, dict):
        return False
    if value.get("resourceType") == "OperationOutcome":
        return True
    if value.get("resourceType") != "Bundle":
        return False
    entries = value.get("entry")
    resources = [e.get("resource") for e in entries if isinstance(e, dict)] if isinstance(
        entries, list) else []
    return bool(resources) and all(
        isinstance(r, dict) and r.get("resourceType") == "OperationOutcome" for r in resources
    )
