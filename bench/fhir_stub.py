"""A loopback FHIR server that answers every read and search after a fixed delay."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

from bench.records import JsonObject
from bench.records import searchset


class FhirStub:
    """Serves one patient's record at ``{url}/Patient/{id}`` and ``{url}/{Type}?patient={id}``.

    Every answer is one page (no ``next`` link) and is sent ``delay_s`` after the request arrived,
    so a client that queries in parallel pays about one delay per call, and one that queries in
    sequence pays one per query. ``peak_in_flight`` shows which of the two happened.
    """

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self._pages: dict[tuple[str, str], bytes] = {}
        self._lock = threading.Lock()
        self.requests = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The FHIR base URL."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/fhir"

    def load(self, patient_id: str, resources: list[JsonObject]) -> None:
        """Serve ``resources`` as the record of ``patient_id`` (replacing any earlier record)."""
        pages: dict[tuple[str, str], bytes] = {}
        by_type: dict[str, list[JsonObject]] = {}
        for resource in resources:
            by_type.setdefault(resource["resourceType"], []).append(resource)
        for kind in ("Condition", "Observation", "Procedure", "MedicationRequest",
                     "MedicationStatement", "ServiceRequest"):
            pages[(kind, patient_id)] = json.dumps(searchset(by_type.get(kind, []))).encode()
        for patient in by_type.get("Patient", []):
            pages[("Patient", patient["id"])] = json.dumps(patient).encode()
        with self._lock:
            self._pages = pages

    def start(self) -> FhirStub:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def reset_counters(self) -> None:
        """Zero the request counters."""
        with self._lock:
            self.requests = self.peak_in_flight = 0

    def answer(self, path: str) -> bytes | None:
        """The body for ``path`` (``/fhir/Type/id`` or ``/fhir/Type?patient=id``), or None."""
        parts = urlsplit(path)
        segments = [s for s in parts.path.split("/") if s][1:]  # drop "fhir"
        if len(segments) == 2:
            return self._pages.get((segments[0], segments[1]))
        if len(segments) == 1:
            patient = parse_qs(parts.query).get("patient", [""])[0].removeprefix("Patient/")
            return self._pages.get((segments[0], patient))
        return None

    def enter(self) -> None:
        with self._lock:
            self.requests += 1
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


def _handler(stub: FhirStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a production FHIR server would
        # Headers and body go out in two writes: without TCP_NODELAY, Nagle's algorithm and the
        # client's delayed ACK would add 40 ms to some answers (the stub's cost, not the service's).
        disable_nagle_algorithm = True

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            started = time.perf_counter()
            stub.enter()
            try:
                body = stub.answer(self.path)
                time.sleep(max(0.0, stub.delay_s - (time.perf_counter() - started)))
                status = 200 if body is not None else 404
                body = body if body is not None else b'{"resourceType": "OperationOutcome"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            finally:
                stub.leave()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    return Handler
