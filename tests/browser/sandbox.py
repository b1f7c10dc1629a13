"""Driving the built CDS Hooks sandbox in Chromium, and recording what it sent and was answered.

The sandbox's screens and controls as the built copy renders them (its README, and observed):
a header button per screen (``Patient View``, ``Rx View``, ``Rx Sign``, ``PAMA Imaging``); on the Rx
screens a ``medication-input`` text field whose matches are listed below it for a click, and on Rx
Sign a ``Sign Order`` button (the only thing that calls ``order-sign``); on PAMA Imaging two search
boxes, ``Search orders`` and ``Search reasons``. Cards are Material-UI cards (class
``card-list__decision-card…``, indicator in ``card-list__alert-<indicator>…``) with their summary,
source link, rendered detail, link buttons, one button per suggestion and ``Dismiss``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from urllib.parse import urlsplit

from tests.browser.fhir_server import FhirServer
from tests.common import FIXTURES_DIR
from tests.common import ROOT
from tests.common import free_port
from tests.common import load_json

JsonObject = dict[str, Any]

SCENARIOS = {
    "pecoma": "pecoma-uterine-advanced",
    "thigh-sarcoma": "sts-ct-ordered-no-mri",
}
"""The charts the tests open: an advanced (metastatic) PEComa with no mTOR inhibitor on record, and
a high-grade sarcoma of the thigh with no MRI on record."""

EVERY_SCENARIO = tuple(sorted(folder.name for folder in FIXTURES_DIR.iterdir()
                             if (folder / "bundle.json").is_file()))
"""Every scenario folder (one patient each, with an id of its own): the FHIR server holds all."""


def written_for(scenario: str) -> str:
    """The date a scenario was written for (its manifest's ``today``)."""
    today: str = load_json(FIXTURES_DIR / scenario / "manifest.json")["today"]
    return today


(TODAY,) = {written_for(scenario) for scenario in SCENARIOS.values()}
"""``CDS_TODAY`` of the served service: the date the scenarios of :data:`SCENARIOS` were written
for (tests of other scenarios open only those written for the same date)."""

ACTION_TIMEOUT_MS = 20_000
"""Generous: a call answers in milliseconds; this tells "answered" from "hung" on a busy machine."""


def patient_id(scenario: str) -> str:
    """The id of the Patient of a scenario's bundle."""
    bundle = load_json(FIXTURES_DIR / scenario / "bundle.json")
    (found,) = [e["resource"]["id"] for e in bundle["entry"]
                if e["resource"]["resourceType"] == "Patient"]
    return str(found)


@dataclass(frozen=True)
class ServedService:
    """A running ``cds-service serve``.

    Attributes:
        base_url: its loopback base URL.
        log: the file its stderr goes to (read it when a test fails).
    """

    base_url: str
    log: Path

    def summary(self) -> dict[str, JsonObject]:
        """``GET /feedback/summary``, by recommendation id."""
        with urllib.request.urlopen(f"{self.base_url}/feedback/summary", timeout=30) as answer:
            body = json.load(answer)
        return {row["id"]: row for row in body["recommendations"]}


@contextmanager
def start_service(folder: Path) -> Iterator[ServedService]:
    """Serve the service (one worker, trust off, ``CDS_TODAY`` of the scenarios) until exit."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    env.update(CDS_DATABASE_URL=f"sqlite:///{folder / 'cds.sqlite3'}", CDS_TODAY=TODAY)
    log = folder / "service.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "cds_service.cli", "serve", "--port", str(port),
             "--workers", "1"],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the service did not start: {log.read_text()}") from None
                time.sleep(0.2)
        yield ServedService(base, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class HookCall:
    """One hook call the sandbox made, and the service's answer.

    Attributes:
        service_id: the service called.
        request: the body the sandbox sent.
        status: the HTTP status answered.
        body: the answer's JSON.
    """

    service_id: str
    request: JsonObject
    status: int
    body: JsonObject

    @property
    def card_ids(self) -> list[str]:
        """The recommendation id of every card answered, in order."""
        return [card["source"]["topic"]["code"] for card in self.body.get("cards", [])]

    def card(self, recommendation: str) -> JsonObject:
        """The one answered card of ``recommendation``."""
        (found,) = [c for c in self.body["cards"] if c["source"]["topic"]["code"] == recommendation]
        return found

    @property
    def drafts(self) -> list[JsonObject]:
        """The draft orders the sandbox sent."""
        orders = self.request["context"].get("draftOrders") or {}
        return [entry["resource"] for entry in orders.get("entry", [])]


def names_a_medication(call_request: JsonObject) -> bool:
    """Whether a hook call's body holds a draft naming its drug (``medicationCodeableConcept``)."""
    drafts = (call_request["context"].get("draftOrders") or {}).get("entry", [])
    return any("medicationCodeableConcept" in e["resource"] for e in drafts)


@dataclass
class Sandbox:
    """The sandbox in one fresh browser context, pointed at the service and the FHIR server.

    Every answer from the service, every failed request to it and every console error is recorded;
    :meth:`problems` lists those a clinician or an integrator would notice.
    """

    context: Any
    origin: str
    service: ServedService
    fhir: FhirServer
    page: Any = field(init=False)
    answers: list[tuple[str, str, int]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # The sandbox also lists its built-in demo services, at an outside host: keep the tests
        # on loopback (and fast) by refusing every request that leaves it.
        self.context.route("**/*", self._loopback_only)
        self.page = self.context.new_page()
        self.page.set_default_timeout(ACTION_TIMEOUT_MS)
        self.page.on("response", self._answered)
        self.page.on("requestfailed", self._request_failed)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.console_errors.append(f"page error: {error}"))

    def _loopback_only(self, route: Any) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            route.abort()

    def _ours(self, url: str) -> bool:
        return url.startswith(self.service.base_url + "/")

    def _answered(self, response: Any) -> None:
        if self._ours(response.url):
            self.answers.append((response.request.method, response.url, response.status))

    def _request_failed(self, request: Any) -> None:
        if self._ours(request.url):
            self.failed.append(f"{request.method} {request.url}: {request.failure}")

    def _console(self, message: Any) -> None:
        if message.type == "error":
            where = (message.location or {}).get("url", "")
            self.console_errors.append(f"{message.text} (at {where})")

    # --- what went wrong -------------------------------------------------------------------------

    def problems(self) -> list[str]:
        """Answers of the service with status >= 400, requests to it that failed, console errors
        that name it, and the sandbox's own "Could not get a response" on screen."""
        found = [f"{method} {url} answered {status}" for method, url, status in self.answers
                 if status >= 400]
        found += self.failed
        found += [e for e in self.console_errors if self.service.base_url in e]
        if self.page.get_by_text("Could not get a response").count():
            found.append('the sandbox shows "Could not get a response from the CDS Service"')
        return found

    # --- opening and switching screens ----------------------------------------------------------

    def url(self, patient: str) -> str:
        """The sandbox's ``index.html`` for ``patient``, pointed at the service and FHIR server."""
        query = urlencode({"serviceDiscoveryURL": f"{self.service.base_url}/cds-services",
                           "fhirServiceUrl": self.fhir.base_url, "patientId": patient})
        return f"{self.origin}/index.html?{query}"

    def open(self, scenario: str) -> HookCall:
        """Open the sandbox on the scenario's patient; return its patient-view call.

        The sandbox keeps the last patient, FHIR server and services in ``localStorage``, and on a
        reload its kept patient can win over the ``patientId`` parameter: forget them first.
        """
        patient = patient_id(scenario)
        if self.page.url.startswith(self.origin):
            self.page.evaluate("localStorage.clear()")
        call = self.hook_call("sts-patient-view", lambda: self.page.goto(self.url(patient)))
        assert call.request["context"]["patientId"] == patient, "the sandbox opened another patient"
        return call

    def screen(self, name: str) -> None:
        """Switch to a screen by its header button."""
        self.page.get_by_role("button", name=name, exact=True).click()

    # --- waiting for calls ----------------------------------------------------------------------

    def hook_call(self, service_id: str, action: Callable[[], object],
                  sent: Callable[[JsonObject], bool] = lambda body: True) -> HookCall:
        """Do ``action``; wait for the answer to the call of ``service_id`` whose body ``sent``
        accepts; return it."""
        url = f"{self.service.base_url}/cds-services/{service_id}"

        def wanted(response: Any) -> bool:
            request = response.request
            return (request.method == "POST" and response.url == url
                    and sent(json.loads(request.post_data or "{}")))

        with self.page.expect_response(wanted) as answer:
            action()
        response = answer.value
        return HookCall(service_id, json.loads(response.request.post_data),
                        response.status, response.json())

    def feedback(self, service_id: str, action: Callable[[], object]) -> JsonObject:
        """Do ``action``; wait for the feedback it posts to ``service_id``; return that body."""
        url = f"{self.service.base_url}/cds-services/{service_id}/feedback"
        with self.page.expect_response(lambda r: r.url == url and r.request.method == "POST") \
                as answer:
            action()
        assert answer.value.status == 200, answer.value.text()
        sent: JsonObject = json.loads(answer.value.request.post_data)
        return sent

    def calls_to(self, service_id: str) -> list[tuple[str, int]]:
        """Every hook call to ``service_id`` answered so far: (method, status)."""
        url = f"{self.service.base_url}/cds-services/{service_id}"
        return [(method, status) for method, u, status in self.answers if u == url]

    # --- the clinician's controls ---------------------------------------------------------------

    def cards(self) -> Any:
        """Every rendered card."""
        return self.page.locator("[class*='decision-card']")

    def card(self, summary: str) -> Any:
        """The rendered card with this summary."""
        return self.cards().filter(has_text=summary)

    def choose_medication(self, typed: str, listed: str) -> None:
        """Type into the Medication field and pick ``listed`` from the sandbox's own list."""
        self.page.locator("input[name=medication-input]").fill(typed)
        self.page.get_by_text(listed, exact=True).click()

    def choose_in(self, box: str, typed: str, listed: str) -> None:
        """Type into a PAMA search box (by its placeholder) and pick ``listed``."""
        self.page.get_by_text(box, exact=True).click()
        self.page.keyboard.type(typed)
        self.page.get_by_text(listed, exact=True).click()

    def sign(self) -> None:
        """Press Rx Sign's ``Sign Order``."""
        self.page.get_by_role("button", name="Sign Order").click()
