"""A small FHIR R4 server on 127.0.0.1 holding scenario bundles, as the CDS Hooks sandbox reads it.

It answers what the sandbox asks for (observed with the built sandbox): ``metadata``, ``Patient``
and ``Patient/{id}``, and each search of the service's prefetch templates (``<Type>?patient={id}``),
which the sandbox first tries as ``POST <Type>/_search`` with a form body, then as a ``GET``. Every
answer carries CORS headers: the sandbox runs in the browser, on another origin.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

from tests.common import FIXTURES_DIR
from tests.common import load_json
from tests.loopback import serving

JsonObject = dict[str, Any]

BASE_PATH = "/fhir"
SEARCHABLE = frozenset({"Condition", "Observation", "Procedure", "MedicationRequest",
                        "MedicationStatement", "ServiceRequest"})
"""The resource types of the service's prefetch searches (``cds_service.hooks.services``)."""

CAPABILITY_STATEMENT: JsonObject = {
    "resourceType": "CapabilityStatement", "status": "active", "date": "2026-11-22",
    "kind": "instance", "fhirVersion": "4.0.1", "format": ["json"],
    "rest": [{"mode": "server", "resource": [
        {"type": t, "interaction": [{"code": "read"}, {"code": "search-type"}]}
        for t in sorted(SEARCHABLE | {"Patient"})]}],
}


class FhirServer(ThreadingHTTPServer):
    """Patients (by id) and their resources, from the scenarios' ``bundle.json``; what was asked.

    Attributes:
        patients: patient id -> Patient resource.
        resources: patient id -> every other resource of that patient's bundle.
        asked: every request line answered (method and path), in order.
    """

    patients: dict[str, JsonObject]
    resources: dict[str, list[JsonObject]]
    asked: list[str]

    @property
    def base_url(self) -> str:
        """The FHIR base URL (``fhirServiceUrl`` of the sandbox, ``fhirServer`` of its calls)."""
        return f"http://127.0.0.1:{self.server_port}{BASE_PATH}"

    def load(self, scenarios: Iterable[str]) -> None:
        """Hold the bundle of each scenario folder of ``fhir_fixtures/``."""
        self.patients, self.resources, self.asked = {}, {}, []
        for scenario in scenarios:
            bundle = load_json(FIXTURES_DIR / scenario / "bundle.json")
            found = [entry["resource"] for entry in bundle["entry"]]
            (patient,) = [r for r in found if r["resourceType"] == "Patient"]
            assert patient["id"] not in self.patients, f"{scenario}: patient id used twice"
            self.patients[patient["id"]] = patient
            self.resources[patient["id"]] = [r for r in found if r is not patient]

    def search(self, resource_type: str, patient_id: str) -> JsonObject:
        """The searchset of ``resource_type`` for one patient (empty for an unknown patient)."""
        found = [r for r in self.resources.get(patient_id, [])
                 if r["resourceType"] == resource_type]
        return {"resourceType": "Bundle", "type": "searchset", "total": len(found),
                "entry": [{"fullUrl": f"{self.base_url}/{resource_type}/{r['id']}",
                           "resource": r, "search": {"mode": "match"}} for r in found]}


def _not_found(what: str) -> JsonObject:
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "not-found", "diagnostics": what}]}


class FhirHandler(BaseHTTPRequestHandler):
    """Answers the sandbox's reads and searches from :class:`FhirServer`, with CORS headers."""

    server: FhirServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's name)
        """Keep the test output quiet."""

    def do_OPTIONS(self) -> None:  # noqa: N802 (http.server's naming)
        self.send_response(204)
        self._cors()
        self.send_header("Access-Control-Max-Age", "600")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        self._answer(url.path, parse_qs(url.query))

    def do_POST(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode("utf-8")) if length else {}
        if not url.path.endswith("/_search"):
            self._send(405, _not_found(f"POST {url.path}"))
            return
        self._answer(url.path.removesuffix("/_search"), {**parse_qs(url.query), **form})

    def _answer(self, path: str, query: dict[str, list[str]]) -> None:
        self.server.asked.append(f"{self.command} {self.path}")
        parts = path.removeprefix(BASE_PATH).strip("/").split("/")
        patient_id = (query.get("patient") or query.get("subject") or [""])[0]
        patient_id = patient_id.removeprefix("Patient/")
        if parts == ["metadata"]:
            self._send(200, CAPABILITY_STATEMENT)
        elif parts == ["Patient"]:
            patients = list(self.server.patients.values())
            self._send(200, {"resourceType": "Bundle", "type": "searchset",
                             "total": len(patients),
                             "entry": [{"resource": p} for p in patients]})
        elif len(parts) == 2 and parts[0] == "Patient" and parts[1] in self.server.patients:
            self._send(200, self.server.patients[parts[1]])
        elif len(parts) == 1 and parts[0] in SEARCHABLE and patient_id:
            self._send(200, self.server.search(parts[0], patient_id))
        else:
            self._send(404, _not_found(f"{self.command} {self.path}"))

    def _cors(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
        self.send_header("Access-Control-Allow-Headers",
                         self.headers.get("Access-Control-Request-Headers") or "*")

    def _send(self, status: int, body: JsonObject) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self._cors()
        self.send_header("Content-Type", "application/fhir+json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def fhir_server(scenarios: Iterable[str]) -> Iterator[FhirServer]:
    """A loopback FHIR server holding the bundles of ``scenarios``."""
    with serving(FhirServer, FhirHandler, "fhir-for-sandbox") as server:
        server.load(scenarios)
        yield server


def main(argv: list[str] | None = None) -> None:
    """Serve scenarios for trying the service in the sandbox by hand (see docs/sandbox.md)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m tests.browser.fhir_server",
        description="A loopback FHIR server holding fhir_fixtures/ scenarios, with CORS.")
    parser.add_argument("scenarios", nargs="+", help="scenario folders of fhir_fixtures/")
    parser.add_argument("--port", type=int, default=9090)
    args = parser.parse_args(argv)
    server = FhirServer(("127.0.0.1", args.port), FhirHandler)
    server.load(args.scenarios)
    for patient in server.patients:
        print(f"fhirServiceUrl={server.base_url} patientId={patient}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
