"""gunicorn hooks: the warm-up before the fork leaves no trace, pools open after it."""

from __future__ import annotations

import dataclasses
import json
import logging
import platform
import re
import time
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from prometheus_client import REGISTRY
from prometheus_client import generate_latest
from sqlalchemy import func
from sqlalchemy import select

from cds_service.case.select import select_resources
from cds_service.feedback.ledger import LedgerWriter
from cds_service.feedback.schema import CardIssued
from cds_service.feedback.schema import HookCallRecord
from cds_service.hooks.services import PREFETCH
from cds_service.operations import prefork
from cds_service.state import service_state
from cds_service.state import set_service_state
from tests.common import scenario_request


def _samples() -> list[str]:
    # This process's own registry: what /metrics serves outside multiprocess mode.
    text = generate_latest(REGISTRY).decode()
    return [line for line in text.splitlines() if line.startswith("cds_")]


def test_warm_up_writes_no_ledger_row_log_line_or_metric(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    # The synthetic calls must not count as calls: not in /metrics, the ledger or the log.
    before = _samples()
    with caplog.at_level(logging.DEBUG):
        prefork.warm_up(app)

    assert _samples() == before
    assert [r for r in caplog.records if r.name.startswith("cds_service")] == []
    with service_state(app).registry.sessions() as session:
        for table in (CardIssued, HookCallRecord):
            assert session.scalar(select(func.count()).select_from(table)) == 0


def test_the_warm_up_record_reaches_every_prefetched_type(app: Flask) -> None:
    # Each type's R4B model is built while validating a selected resource of that type.
    sample = json.loads(prefork.WARMUP_RECORD.read_bytes())
    terminology = service_state(app).guidance.terminology

    selection = select_resources(sample["resources"], terminology)

    types = {re.split(r"[/?]", template)[0] for template in PREFETCH.values()}
    assert {r["resourceType"] for r in selection.resources} == types
    assert selection.unreadable == ()


def test_prepare_warms_up_then_freezes(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    steps: list[str] = []
    monkeypatch.setattr(prefork, "warm_up", lambda _app: steps.append("warm_up"))
    monkeypatch.setattr(prefork, "freeze_heap", lambda: steps.append("freeze") or 0)

    prefork.prepare(app)
    prefork.prepare(Flask("another_app"))  # not this service: left alone

    assert steps == ["warm_up", "freeze"]


def test_a_failed_warm_up_is_logged_and_start_up_goes_on(
    app: Flask, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_app: Flask) -> None:
        raise ValueError("boom")

    monkeypatch.setattr(prefork, "warm_up", broken)
    monkeypatch.setattr(prefork, "freeze_heap", lambda: 0)

    prefork.prepare(app)

    assert "warm-up call failed" in caplog.text


def test_freeze_heap_collects_freezes_and_raises_the_first_threshold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(prefork.gc, "collect", lambda: calls.append("collect") or 0)
    monkeypatch.setattr(prefork.gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(prefork.gc, "get_threshold", lambda: (700, 10, 10))
    monkeypatch.setattr(prefork.gc, "set_threshold", lambda *t: calls.append(t))
    monkeypatch.setattr(prefork.gc, "get_freeze_count", lambda: 123)

    assert prefork.freeze_heap() == 123
    assert calls == ["collect", "freeze", (prefork.GC_FIRST_THRESHOLD, 10, 10)]


@pytest.mark.parametrize(("preload", "in_master", "in_worker"), [(True, 1, 0), (False, 0, 1)])
def test_the_app_is_prepared_once_where_it_was_loaded(
    monkeypatch: pytest.MonkeyPatch, preload: bool, in_master: int, in_worker: int
) -> None:
    prepared: list[str] = []
    opened: list[str] = []
    capped: list[bool] = []
    monkeypatch.setattr(prefork, "prepare", prepared.append)
    monkeypatch.setattr(prefork, "limit_malloc_arenas", lambda: capped.append(True) or True)
    monkeypatch.setattr("cds_service.fhir.client.shared_session", lambda: opened.append("session"))
    monkeypatch.setattr("cds_service.fhir.client.shared_executor", lambda: opened.append("pool"))
    cfg = SimpleNamespace(preload_app=preload)

    prefork.when_ready(SimpleNamespace(cfg=cfg, app=SimpleNamespace(wsgi=lambda: "master app")))
    prefork.post_worker_init(SimpleNamespace(cfg=cfg, wsgi="worker app"))

    assert prepared == ["master app"] * in_master + ["worker app"] * in_worker
    assert capped == [True]  # malloc arenas capped once, in the master, before any fork
    assert opened == ["session", "pool"]  # in the worker, after the fork, whatever the preload


def test_a_stopping_worker_writes_its_pending_ledger_rows(app: Flask) -> None:
    # The ledger is written in background: a graceful stop must not lose the last calls' cards,
    # even when the database is slow to answer.
    state = service_state(app)
    sessions = state.registry.sessions

    def slow_sessions() -> Any:
        time.sleep(0.3)
        return sessions()

    registry = dataclasses.replace(state.registry, ledger=LedgerWriter(slow_sessions, None))
    set_service_state(app, dataclasses.replace(state, registry=registry))
    response = app.test_client().post(
        "/cds-services/sts-patient-view",
        json=scenario_request("pecoma-uterine-advanced", "patient-view.json"))
    uuids = [card["uuid"] for card in response.get_json()["cards"]]
    assert uuids

    prefork.worker_exit(SimpleNamespace(), SimpleNamespace(wsgi=app))

    with sessions() as session:
        written = session.scalars(select(CardIssued.card_uuid)).all()
    assert sorted(written) == sorted(uuids)


def test_malloc_arenas_are_capped_unless_the_operator_chose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert prefork.limit_malloc_arenas() is False  # the operator's variable wins
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    assert prefork.limit_malloc_arenas() is (platform.libc_ver()[0] == "glibc")


def test_malloc_thresholds_are_fixed_unless_the_operator_chose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES"):
        monkeypatch.setenv(name, "glibc.malloc.mmap_threshold=131072" if name == "GLIBC_TUNABLES"
                           else "131072")
        assert prefork.fix_malloc_thresholds() is False  # the operator's variable wins
        monkeypatch.delenv(name)
    assert prefork.fix_malloc_thresholds() is (platform.libc_ver()[0] == "glibc")
