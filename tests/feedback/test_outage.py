"""A database outage during hook calls and feedback behaves as contract.md says.

"The card ledger cannot be written (database down): the cards are still returned; the failure is
logged and counted. Feedback cannot be written: 503, so the EHR retries. ``/readyz`` stays 200
(reporting ``"database": "unreachable"``)" unless trust is configured. PostgreSQL goes down by a
cut TCP line (every pooled connection dies too); SQLite by its directory vanishing.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from prometheus_client import REGISTRY
from sqlalchemy import Engine

from cds_service.app import create_app
from cds_service.feedback.store import create_schema
from cds_service.feedback.store import make_engine
from cds_service.settings import Settings
from cds_service.state import service_state
from tests.common import ledger_written
from tests.common import scenario_request
from tests.feedback.databases import TcpProxy
from tests.feedback.databases import via_proxy

SCENARIO = "pecoma-lung-metastases-doxorubicin"
TODAY = dt.date(2026, 11, 22)
SERVICE_URL = "/cds-services/sts-patient-view"
# No pecoma-risk-stratification nor sts-surveillance-plan: the PEComa is advanced (revised
# catalogue, issue 13; the surveillance row reads "a resected tumour whose disease is not
# advanced").
CARD_IDS = {"pecoma-mtor-first-line"}


@dataclass
class Outage:
    """A store database that can be taken down and brought back.

    Attributes:
        url: what the service connects to.
        cut: takes the database away (given the service's engine).
        restore: brings it back.
    """

    url: str
    cut: Callable[[Engine], None]
    restore: Callable[[], None]


@pytest.fixture(params=["sqlite", "postgresql"])
def outage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Outage]:
    """The store on SQLite or on PostgreSQL behind a TCP proxy, migrated, reachable at first."""
    if request.param == "sqlite":
        folder = tmp_path / "db"
        away = tmp_path / "db.away"

        def cut_sqlite(engine: Engine) -> None:
            folder.rename(away)
            folder.write_text("the disk is gone")
            engine.dispose()  # an open SQLite file survives renaming; a lost disk does not

        def restore_sqlite() -> None:
            folder.unlink()
            away.rename(folder)

        yield Outage(f"sqlite:///{folder / 'store.sqlite3'}", cut_sqlite, restore_sqlite)
        return
    direct: str = request.getfixturevalue("postgres_url")
    engine = make_engine(direct)
    try:
        create_schema(engine)  # `cds-service migrate`, as a deployment runs it
    finally:
        engine.dispose()
    target = engine.url
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
    proxy.start()
    try:
        yield Outage(via_proxy(direct, proxy.port), lambda _: proxy.cut(), proxy.start)
    finally:
        proxy.cut()


def _feedback(card_uuid: str) -> dict[str, object]:
    return {"feedback": [{"card": card_uuid, "outcome": "overridden",
                          "outcomeTimestamp": "2026-11-22T10:00:00Z"}]}


def _issued(client: FlaskClient, rec_id: str) -> object:
    rows = client.get("/feedback/summary").get_json()["recommendations"]
    return next(row["issued"] for row in rows if row["id"] == rec_id)


def test_an_outage_costs_the_ledger_and_feedback_never_the_cards(
    outage: Outage, make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(make_settings(database_url=outage.url, today=TODAY))
    engine = service_state(app).engine
    client = app.test_client()
    call = scenario_request(SCENARIO, "patient-view.json")
    try:
        before = client.post(SERVICE_URL, json=call)  # the pool now holds a live connection
        assert {card["source"]["topic"]["code"] for card in before.get_json()["cards"]} \
            == CARD_IDS
        ledger_written(app)  # written before the outage
        failures = REGISTRY.get_sample_value("cds_ledger_write_failures_total") or 0.0

        outage.cut(engine)
        during = client.post(SERVICE_URL, json=call)
        assert during.status_code == 200
        cards = during.get_json()["cards"]
        assert {card["source"]["topic"]["code"] for card in cards} == CARD_IDS
        ledger_written(app)
        assert "card ledger not written" in caplog.text
        assert REGISTRY.get_sample_value("cds_ledger_write_failures_total") == failures + 1

        feedback = client.post(f"{SERVICE_URL}/feedback", json=_feedback(cards[0]["uuid"]))
        assert feedback.status_code == 503
        assert feedback.get_json()["issue"][0]["code"] == "transient"
        assert client.get("/feedback/summary").status_code == 503
        ready = client.get("/readyz")
        assert (ready.status_code, ready.get_json()["database"]) == (200, "unreachable")

        outage.restore()
        retried = client.post(f"{SERVICE_URL}/feedback", json=_feedback(cards[0]["uuid"]))
        assert (retried.status_code, retried.get_json()) == (200, {})
        assert client.get("/readyz").get_json()["database"] == "ok"
        # The call during the outage left no ledger rows: only the first call's cards count,
        # and the retried feedback names a card the ledger does not know.
        assert _issued(client, "pecoma-mtor-first-line") == 1
        assert _issued(client, "unknown") == 0
        rows = client.get("/feedback/summary").get_json()["recommendations"]
        assert next(row for row in rows if row["id"] == "unknown")["overridden"] == 1
    finally:
        engine.dispose()


def test_cards_answered_during_an_outage_reach_the_ledger_at_the_next_start(
    outage: Outage, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    # contract.md, "Accounted for": the failed write stays in the local spool, and the next
    # worker start (here: a new app on the same store and spool) replays it into the ledger, so
    # feedback on those cards is no longer `unknown`.
    settings = make_settings(database_url=outage.url, today=TODAY,
                             ledger_spool_dir=tmp_path / "spool")
    app = create_app(settings)
    engine = service_state(app).engine
    client = app.test_client()
    call = scenario_request(SCENARIO, "patient-view.json")
    assert client.post(SERVICE_URL, json=call).status_code == 200
    ledger_written(app)
    outage.cut(engine)
    during = client.post(SERVICE_URL, json=call)
    assert during.status_code == 200
    ledger_written(app)  # the batch failed: logged, counted, and kept in the spool
    outage.restore()
    service_state(app).close()  # the worker stops (or dies) with the call unwritten

    restarted = create_app(settings)
    try:
        service_state(restarted).registry.ledger.start()  # post_worker_init
        again = restarted.test_client()
        uuid = during.get_json()["cards"][0]["uuid"]
        deadline = time.monotonic() + 30
        while _issued(again, "pecoma-mtor-first-line") != 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _issued(again, "pecoma-mtor-first-line") == 2
        assert again.post(f"{SERVICE_URL}/feedback", json=_feedback(uuid)).status_code == 200
        rows = again.get("/feedback/summary").get_json()["recommendations"]
        assert next(row for row in rows if row["id"] == "unknown")["overridden"] == 0
        assert list((tmp_path / "spool").glob("*.jsonl")) == []
    finally:
        service_state(restarted).close()
