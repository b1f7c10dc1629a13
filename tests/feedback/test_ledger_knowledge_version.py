"""The card ledger stores the knowledge-base version and hash of every card (contract.md "Cards";
recommendations.md "Knowledge-base version"), on SQLite and PostgreSQL; migration 0002 adds them."""

from __future__ import annotations

import datetime as dt

from alembic import command
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.orm import Session

from cds_service.app import create_app
from cds_service.feedback.migrate import alembic_config
from cds_service.feedback.migrate import current_revision
from cds_service.feedback.migrate import head_revision
from cds_service.feedback.schema import CardIssued
from cds_service.feedback.store import create_schema
from cds_service.feedback.store import make_engine
from cds_service.settings import Settings
from cds_service.state import service_state
from tests.common import FIXTURES_DIR
from tests.common import load_json
from tests.common import scenario_request

SCENARIO = "ascmn-resected-mri-overdue"


def test_every_card_of_a_hook_call_is_ledgered_with_the_version_that_produced_it(
    db_url: str,
) -> None:
    engine = make_engine(db_url)
    create_schema(engine)  # `cds-service migrate` (PostgreSQL is never migrated at start-up)
    today = dt.date.fromisoformat(load_json(FIXTURES_DIR / SCENARIO / "manifest.json")["today"])
    app = create_app(Settings(database_url=db_url, today=today))
    try:
        body = app.test_client().post("/cds-services/sts-patient-view",
                                      json=scenario_request(SCENARIO, "patient-view.json"))
        assert body.status_code == 200
        cards = body.get_json()["cards"]
        assert cards
        state = service_state(app)
        assert state.registry.ledger.flush()
        version = state.guidance.renderer.version
        with Session(engine) as session:
            rows = session.execute(select(CardIssued.card_uuid, CardIssued.knowledge_version,
                                          CardIssued.knowledge_hash)).all()
        assert {uuid for uuid, _, _ in rows} == {card["uuid"] for card in cards}
        assert {(v, h) for _, v, h in rows} == {(version.version, version.content_hash)}
    finally:
        service_state(app).close()
        engine.dispose()


def test_migration_0002_adds_the_columns_and_keeps_older_rows_unknown(db_url: str) -> None:
    engine = make_engine(db_url)
    config = alembic_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0001")
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO card_ledger (card_uuid, service_id, recommendation_id, hook_instance,"
                " issued_at, patient_hash) VALUES ('old-card', 's', 'sts-reexcision', 'h',"
                " '2026-11-22 09:00:00', 'p')"))
        create_schema(engine)
        assert current_revision(engine) == head_revision() == "0002_kb_version"
        with engine.begin() as connection:
            connection.execute(insert(CardIssued).values(
                card_uuid="new-card", service_id="s", recommendation_id="sts-reexcision",
                hook_instance="h", issued_at=dt.datetime(2026, 12, 7, tzinfo=dt.UTC),
                patient_hash="p", knowledge_version="1.1.0", knowledge_hash="sha256:" + "0" * 64))
        with Session(engine) as session:
            rows = dict(session.execute(select(CardIssued.card_uuid,
                                               CardIssued.knowledge_version)).all())
        assert rows == {"old-card": None, "new-card": "1.1.0"}
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0001")
        with Session(engine) as session:
            assert session.execute(text("SELECT card_uuid FROM card_ledger ORDER BY card_uuid")
                                   ).scalars().all() == ["new-card", "old-card"]
    finally:
        engine.dispose()
