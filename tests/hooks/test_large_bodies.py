"""Large hook-call bodies are served one at a time per worker process; small ones never wait.

Two 5,000-resource calls at once finish no sooner under the interpreter lock than one after the
other, but hold twice the memory (bench/FINDINGS.md, peak RSS per worker).
"""

from __future__ import annotations

import dataclasses
import threading
import time
import weakref
from typing import Any

import pytest
from flask import Flask

from cds_service.guidance import Decision
from cds_service.hooks import blueprint
from cds_service.hooks.models import HookRequest
from cds_service.hooks.prefetch import PatientRecord
from cds_service.stages import Observer
from cds_service.state import service_state
from cds_service.state import set_service_state
from tests.common import scenario_request


class _Inside:
    """Counts the calls deciding at the same moment."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.most = 0

    def decide(self, request: HookRequest, record: PatientRecord, base_url: str,
               observer: Observer) -> Decision:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(0.2)
        with self._lock:
            self.now -= 1
        return Decision(issued=())


def _concurrent_calls(app: Flask, padding: int) -> _Inside:
    inside = _Inside()
    state = service_state(app)
    pipeline = dataclasses.replace(state.registry.pipeline, decide=inside.decide)
    registry = dataclasses.replace(state.registry, pipeline=pipeline)
    set_service_state(app, dataclasses.replace(state, registry=registry))
    request: dict[str, Any] = scenario_request("no-tumour-hypertension", "patient-view.json")
    request["extension"] = {"org.example.padding": "x" * padding}
    statuses: list[int] = []

    def call() -> None:
        statuses.append(app.test_client().post("/cds-services/sts-patient-view",
                                               json=request).status_code)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert statuses == [200, 200, 200]
    return inside


def test_large_bodies_wait_for_each_other(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blueprint, "LARGE_BODY_BYTES", 64 * 1024)
    assert _concurrent_calls(app, padding=100_000).most == 1


def test_small_bodies_are_served_side_by_side(
    app: Flask, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(blueprint, "LARGE_BODY_BYTES", 64 * 1024)
    assert _concurrent_calls(app, padding=10).most > 1


class _Sentinel:
    """Stands for a decoded record: weak-referenceable, so its release can be observed."""


def test_the_decoded_record_is_released_only_after_the_answer_is_sent(
    app: Flask, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Freeing a 5,000-resource record takes over 10 ms: it must not delay the answer.
    state = service_state(app)
    call = state.registry.call
    seen: list[weakref.ref[_Sentinel]] = []
    alive_when_answered: list[bool] = []

    def call_and_hold(*args: Any, hold: Any = None, **kwargs: Any) -> Any:
        def hold_and_watch(item: object) -> None:
            sentinel = _Sentinel()
            seen.append(weakref.ref(sentinel))
            hold((item, sentinel))

        answer = call(*args, hold=hold_and_watch, **kwargs)
        alive_when_answered.append(seen[0]() is not None)
        return answer

    monkeypatch.setattr(type(state.registry), "call",
                        lambda self, *a, **k: call_and_hold(*a, **k))
    response = app.test_client().post(
        "/cds-services/sts-patient-view",
        json=scenario_request("pecoma-uterine-advanced", "patient-view.json"))
    assert response.status_code == 200 and response.get_json()["cards"]
    assert alive_when_answered == [True]
    assert seen[0]() is not None  # answered, not yet closed by the server: still held
    response.close()
    assert seen[0]() is None
