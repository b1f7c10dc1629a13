"""``CDS_ADMIN_BIND`` (contract.md, Settings): operator endpoints only on the operator listener,
probes on both, and probes answered on both while every hook thread is busy."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from cds_service.settings import Settings
from tests.common import free_port
from tests.common import scenario_request
from tests.loopback import CountingHandler
from tests.loopback import Seen
from tests.loopback import serving

PUBLIC = "http://localhost:8080"
OPERATOR = "http://localhost:9091"
HOOK = "/cds-services/sts-patient-view"


def _hook_call() -> dict[str, Any]:
    return scenario_request("no-tumour-hypertension", "patient-view.json")


def test_the_setting_is_host_and_port() -> None:
    assert Settings(admin_bind="0.0.0.0:9090").admin_port == 9090
    assert Settings(admin_bind="[::]:9090").admin_port == 9090
    assert Settings(admin_bind="").admin_bind is None
    for wrong in ("9090", "host:", "host:port", "host:70000"):
        with pytest.raises(ValueError, match="CDS_ADMIN_BIND"):
            Settings(admin_bind=wrong)


def test_unset_everything_answers_on_the_public_port(make_client: Callable[..., FlaskClient],
                                                     ) -> None:
    client = make_client()
    assert client.get("/metrics", base_url=PUBLIC).status_code == 200
    assert client.get("/readyz", base_url=PUBLIC).status_code == 200


def test_set_operator_endpoints_answer_only_on_the_operator_port(
    make_client: Callable[..., FlaskClient],
) -> None:
    client = make_client(admin_bind="127.0.0.1:9091")

    public_metrics = client.get("/metrics", base_url=PUBLIC)
    assert public_metrics.status_code == 404
    assert public_metrics.get_json()["resourceType"] == "OperationOutcome"
    assert public_metrics.get_json()["issue"][0]["code"] == "not-found"
    assert client.get("/feedback/dashboard", base_url=PUBLIC).status_code == 404
    operator_metrics = client.get("/metrics", base_url=OPERATOR)
    assert operator_metrics.status_code == 200
    assert b"cds_requests_total" in operator_metrics.data

    for base in (PUBLIC, OPERATOR):  # the probes answer on both
        assert client.get("/healthz", base_url=base).get_json() == {"status": "ok"}
        assert client.get("/readyz", base_url=base).get_json()["status"] == "ready"

    # Nothing but the operator endpoints and probes runs on the operator listener.
    assert client.post(HOOK, json=_hook_call(), base_url=PUBLIC).get_json() == {"cards": []}
    assert client.post(HOOK, json=_hook_call(), base_url=OPERATOR).status_code == 404
    assert client.get("/openapi.json", base_url=OPERATOR).status_code == 404
    assert client.get("/openapi.json", base_url=PUBLIC).status_code == 200


# --- under gunicorn ------------------------------------------------------------------------------

FHIR_STALL_S = 8.0
"""How long the stub FHIR server takes to answer: longer than the call's deadline."""


class _Stalling(CountingHandler):
    def answer(self) -> None:
        time.sleep(FHIR_STALL_S)
        self.send_response(200)
        self.end_headers()


def _get(url: str, timeout: float) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.slow
def test_under_gunicorn_probes_answer_while_every_hook_thread_waits_and_logs_are_json(
    tmp_path: Path,
) -> None:
    public, operator = free_port(), free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CDS_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(CDS_DATABASE_URL=f"sqlite:///{tmp_path / 'served.sqlite3'}",
               CDS_ADMIN_BIND=f"127.0.0.1:{operator}", CDS_FHIR_TIMEOUT_S="5",
               CDS_REQUEST_DEADLINE_S="5")
    with serving(ThreadingHTTPServer, _Stalling, "stalling-fhir") as fhir:
        fhir.state = Seen()  # type: ignore[attr-defined]
        process = subprocess.Popen(
            [sys.executable, "-m", "cds_service.cli", "serve", "--port", str(public),
             "--workers", "1", "--threads", "1"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    _get(f"http://127.0.0.1:{operator}/healthz", 1)
                    break
                except OSError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise
                    time.sleep(0.2)
            call = _hook_call()
            del call["prefetch"]  # fetched from the stalling server: the one hook thread waits
            call["fhirServer"] = f"http://127.0.0.1:{fhir.server_address[1]}/fhir"
            answered: list[float] = []

            def hook() -> None:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{public}{HOOK}", data=json.dumps(call).encode(),
                    headers={"Content-Type": "application/json"})
                try:
                    urllib.request.urlopen(request, timeout=30).close()
                except urllib.error.HTTPError:
                    pass  # 412: the FHIR server did not answer in time
                answered.append(time.monotonic())

            callers = [threading.Thread(target=hook) for _ in range(2)]
            for caller in callers:
                caller.start()
            time.sleep(0.5)  # both calls in: one holds the only hook thread, one waits for it
            probes = [_get(f"http://127.0.0.1:{operator}{path}", 2.5)
                      for path in ("/readyz", "/healthz", "/metrics", "/feedback/dashboard")]
            probed = time.monotonic()
            public_probe = _get(f"http://127.0.0.1:{public}/healthz", 30)
            publicly_probed = time.monotonic()
            for caller in callers:
                caller.join(timeout=30)
        finally:
            process.send_signal(signal.SIGTERM)
            stdout, stderr = process.communicate(timeout=30)
    assert [status for status, _ in probes] == [200, 200, 200, 200]
    assert "<h1>Override dashboard</h1>" in probes[3][1].decode()
    assert json.loads(probes[0][1])["status"] == "ready"
    assert len(answered) == 2 and probed < min(answered), "the probes waited for hook calls"
    assert public_probe[0] == 200  # the public port's probe: its threads are not the hooks'
    assert publicly_probed < min(answered), "the public probe waited for hook calls"
    assert _get_status_on_closed_port(public) is None
    lines = [line for line in (stdout + stderr).decode().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(isinstance(record, dict) for record in records)
    messages = [(record["logger"], record["message"]) for record in records]
    assert ("gunicorn.error", "Starting gunicorn " + _gunicorn_version()) in messages
    assert any(logger == "gunicorn.error" and message.startswith("Booting worker")
               for logger, message in messages)
    access = [record["fields"] for record in records if record["logger"] == "gunicorn.access"]
    assert any({"method": "GET", "path": "/readyz", "status": 200}.items() <= fields.items()
               for fields in access)


def _get_status_on_closed_port(port: int) -> int | None:
    try:
        return _get(f"http://127.0.0.1:{port}/healthz", 1)[0]
    except OSError:
        return None


def _gunicorn_version() -> str:
    import gunicorn

    return str(gunicorn.__version__)
