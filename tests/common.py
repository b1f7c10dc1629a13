"""Paths and small helpers shared by the test modules."""

from __future__ import annotations

import functools
import json
import socket
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import pytest

if TYPE_CHECKING:
    from cds_service.terminology import Terminology

ROOT = Path(__file__).resolve().parent.parent
FIXTURES_DIR = ROOT / "fhir_fixtures"
SPEC_EXAMPLES_DIR = FIXTURES_DIR / "cds-hooks-spec"


def capture_gunicorn_options(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Make ``cds-service serve`` hand its gunicorn options to the returned dict (with ``ran``
    set once it would have run gunicorn) instead of starting gunicorn."""
    from cds_service import cli

    seen: dict[str, Any] = {}

    class FakeApp:
        def __init__(self, settings: object, options: dict[str, Any]) -> None:
            seen.update(options)

        def run(self) -> None:
            seen["ran"] = True

    monkeypatch.setattr(cli, "_GunicornApp", FakeApp)
    return seen


@functools.cache
def shipped_terminology() -> Terminology:
    """The shipped terminology, loaded once per test session (the ``terminology`` fixture; also for
    test modules that need it to build their parameters)."""
    from cds_service.terminology import load_terminology

    return load_terminology()


def ledger_written(app: Any) -> None:
    """Wait until the card ledger holds what the calls to ``app`` queued (written in background)."""
    from cds_service.state import service_state

    assert service_state(app).registry.ledger.flush(timeout_s=30), "ledger not written"


def load_json(path: Path) -> Any:
    """Read a JSON file."""
    return json.loads(path.read_text(encoding="utf-8"))


def issue_expressions(body: dict[str, Any]) -> list[str]:
    """Every ``issue.expression`` path of an OperationOutcome body."""
    return [expr for issue in body["issue"] for expr in issue.get("expression", [])]


def issue_codes(body: dict[str, Any]) -> list[str]:
    """Every ``issue.code`` of an OperationOutcome body."""
    return [issue["code"] for issue in body["issue"]]


def scenario_request(scenario: str, name: str, *, with_prefetch: bool = True) -> dict[str, Any]:
    """Load a scenario's hook request, filling ``prefetch`` from its bundle as an EHR would
    (``cds_service.scenarios.call_request``, which ``cds-service validate`` uses too)."""
    from cds_service.scenarios import call_request

    folder = FIXTURES_DIR / scenario
    if with_prefetch:
        return call_request(folder, name)
    request: dict[str, Any] = load_json(folder / name)
    return request


def hook_request(hook: str, patient: str, record: list[dict[str, Any]],
                 drafts: list[dict[str, Any]] | None = None,
                 selections: list[str] | None = None) -> dict[str, Any]:
    """A hook call for ``patient`` as an EHR sends it: ``record`` in ``prefetch``, ``drafts`` in
    ``draftOrders`` (order hooks), order-select selecting ``selections`` (default: every draft)."""
    from cds_service.hooks.prefetch import prefetch_from_bundle
    from cds_service.hooks.services import PREFETCH

    context: dict[str, Any] = {"userId": "Practitioner/pr-1", "patientId": patient}
    if hook != "patient-view":
        context["draftOrders"] = {"resourceType": "Bundle", "type": "collection",
                                  "entry": [{"resource": d} for d in drafts or []]}
    if hook == "order-select":
        context["selections"] = selections if selections is not None else [
            f"{d['resourceType']}/{d['id']}" for d in drafts or []]
    entries = [{"resource": r} for r in record]
    return {"hookInstance": "8b0f2c1e-7d6a-4f3b-9e2d-1c0b9a8f7e6d", "hook": hook,
            "context": context,
            "prefetch": prefetch_from_bundle(PREFETCH, {"resourceType": "Bundle",
                                                        "type": "collection",
                                                        "entry": entries})}


def free_port() -> int:
    """A loopback port nobody listens on now (for a server a test starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
