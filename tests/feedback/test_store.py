"""Tests of FeedbackStore on SQLite and PostgreSQL (contract.md, "Other endpoints")."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from cds_service.feedback.schema import FeedbackRecord
from cds_service.feedback.schema import HookCallRecord
from cds_service.feedback.schema import InstallSetting
from cds_service.feedback.store import FeedbackStore
from cds_service.feedback.store import IssuedCard
from cds_service.feedback.store import create_schema
from cds_service.feedback.store import hash_patient_id
from cds_service.feedback.store import make_engine
from cds_service.feedback.store import make_sessionmaker
from cds_service.hooks.models import FeedbackItem

T0 = "2024-03-01T10:00:00Z"
T1 = "2024-03-01T11:00:00Z"
ISSUED_AT = dt.datetime(2024, 3, 1, 9, 0, tzinfo=dt.UTC)


@contextmanager
def open_store(url: str) -> Iterator[tuple[FeedbackStore, Session]]:
    """A fresh engine, schema and session on ``url``, as one worker would have after start."""
    engine = make_engine(url)
    try:
        create_schema(engine)
        with make_sessionmaker(engine)() as session:
            yield FeedbackStore(session), session
    finally:
        engine.dispose()


def accepted(card: str, timestamp: str = T0, suggestion: str = "s-1") -> FeedbackItem:
    return FeedbackItem.model_validate(
        {
            "card": card,
            "outcome": "accepted",
            "acceptedSuggestions": [{"id": suggestion}],
            "outcomeTimestamp": timestamp,
        }
    )


def overridden(
    card: str,
    timestamp: str = T0,
    code: str | None = None,
    display: str | None = None,
    comment: str | None = None,
) -> FeedbackItem:
    reason: dict[str, Any] = {}
    if code is not None:
        reason["reason"] = {"system": "urn:test:override", "code": code}
        if display is not None:
            reason["reason"]["display"] = display
    if comment is not None:
        reason["userComment"] = comment
    body: dict[str, Any] = {"card": card, "outcome": "overridden", "outcomeTimestamp": timestamp}
    if reason:
        body["overrideReason"] = reason
    return FeedbackItem.model_validate(body)


def issued(card: str, recommendation: str) -> IssuedCard:
    return IssuedCard(card, "sts-patient-view", recommendation, "hook-1", ISSUED_AT, "0" * 64)


def feedback_rows(session: Session) -> list[FeedbackRecord]:
    return list(session.scalars(select(FeedbackRecord).order_by(FeedbackRecord.id)))


def test_feedback_survives_restart(db_url: str) -> None:
    with open_store(db_url) as (store, _):
        items = [accepted("c-1"), overridden("c-2", code="x", display="X", comment="not now")]
        assert store.add_feedback("sts-order-sign", items) == 2

    with open_store(db_url) as (_, session):
        first, second = feedback_rows(session)
    assert (first.card_uuid, first.outcome, first.accepted_suggestions) == (
        "c-1",
        "accepted",
        ["s-1"],
    )
    assert first.override_code is None
    assert first.outcome_timestamp == dt.datetime(2024, 3, 1, 10, 0, tzinfo=dt.UTC)
    assert first.received_at.tzinfo == dt.UTC
    assert (second.service_id, second.outcome) == ("sts-order-sign", "overridden")
    assert second.accepted_suggestions == []
    assert (second.override_system, second.override_code) == ("urn:test:override", "x")
    assert (second.override_display, second.override_comment) == ("X", "not now")


def test_repeats_in_one_batch_are_stored_once(db_url: str) -> None:
    # cds-hooks.md FB9: feedback may repeat for the same card, so handling is idempotent.
    with open_store(db_url) as (store, session):
        assert store.add_feedback("sts-patient-view", [accepted("c-1"), accepted("c-1")]) == 1
        assert [row.card_uuid for row in feedback_rows(session)] == ["c-1"]


def test_repeats_across_batches_are_stored_once(db_url: str) -> None:
    with open_store(db_url) as (store, _):
        assert store.add_feedback("sts-patient-view", [accepted("c-1"), overridden("c-2")]) == 2
    with open_store(db_url) as (store, session):
        assert store.add_feedback("sts-patient-view", [overridden("c-2"), accepted("c-1")]) == 0
        # Another outcome or another moment is another item of the triple.
        more = [overridden("c-1"), accepted("c-1", timestamp=T1), overridden("c-2")]
        assert store.add_feedback("sts-patient-view", more) == 2
        assert len(feedback_rows(session)) == 4


def test_offset_timestamp_is_stored_as_utc_and_matches_z(db_url: str) -> None:
    # contract.md: outcomeTimestamp is RFC 3339 with any offset, stored in UTC.
    with open_store(db_url) as (store, session):
        assert (
            store.add_feedback("s", [accepted("c-1", timestamp="2024-03-01T12:00:00+02:00")]) == 1
        )
        assert store.add_feedback("s", [accepted("c-1", timestamp=T0)]) == 0
        (row,) = feedback_rows(session)
        raw = session.execute(text("SELECT outcome_timestamp FROM feedback")).scalar_one()
        dialect = session.get_bind().dialect.name
    assert row.outcome_timestamp == dt.datetime(2024, 3, 1, 10, 0, tzinfo=dt.UTC)
    assert row.outcome_timestamp.utcoffset() == dt.timedelta(0)
    if dialect == "sqlite":  # no offset type: naive UTC text
        assert raw.startswith("2024-03-01 10:00:00")
    else:  # timestamptz: the instant itself
        assert raw == dt.datetime(2024, 3, 1, 10, 0, tzinfo=dt.UTC)


def test_summary_joins_feedback_to_the_ledger(db_url: str) -> None:
    with open_store(db_url) as (store, _):
        store.record_cards([issued(f"a-{n}", "rec-a") for n in range(4)] + [issued("b-1", "rec-b")])
        store.add_feedback(
            "sts-order-sign",
            [
                accepted("a-0"),
                accepted("a-0"),  # a repeat counts once
                overridden("a-1", code="y"),
                overridden("a-2", code="x", display="Not indicated"),
                overridden("a-3", code="x", display="Not indicated"),
                overridden("a-3", timestamp=T1, code="b", display="Patient declined"),
                overridden("b-1", comment="comment only: no reason to count"),
                accepted("ghost-1"),
                overridden("ghost-2", code="x", display="Not indicated"),
            ],
        )
        summary = store.summary(["rec-c", "rec-a", "rec-b"])
    assert summary == {
        "recommendations": [
            {"id": "rec-c", "issued": 0, "accepted": 0, "overridden": 0, "overrideReasons": []},
            {
                "id": "rec-a",
                "issued": 4,
                "accepted": 1,
                "overridden": 4,
                "overrideReasons": [
                    {"code": "x", "display": "Not indicated", "count": 2},
                    {"code": "b", "display": "Patient declined", "count": 1},
                    {"code": "y", "count": 1},
                ],
            },
            {"id": "rec-b", "issued": 1, "accepted": 0, "overridden": 1, "overrideReasons": []},
            {
                "id": "unknown",
                "issued": 0,
                "accepted": 1,
                "overridden": 1,
                "overrideReasons": [{"code": "x", "display": "Not indicated", "count": 1}],
            },
        ]
    }


def test_summary_of_an_empty_store_has_zeros(db_url: str) -> None:
    with open_store(db_url) as (store, _):
        rows = store.summary(["rec-a"])["recommendations"]
    assert [(r["id"], r["issued"], r["accepted"], r["overridden"]) for r in rows] == [
        ("rec-a", 0, 0, 0),
        ("unknown", 0, 0, 0),
    ]


def test_record_cards_keeps_the_first_entry_of_a_uuid(db_url: str) -> None:
    with open_store(db_url) as (store, _):
        store.record_cards([issued("c-1", "rec-a")])
        store.record_cards([issued("c-1", "rec-b"), issued("c-2", "rec-b")])
        rows = store.summary(["rec-a", "rec-b"])["recommendations"]
    assert [(r["id"], r["issued"]) for r in rows] == [("rec-a", 1), ("rec-b", 1), ("unknown", 0)]


def test_record_call_keeps_data_gaps(db_url: str) -> None:
    called_at = dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    with open_store(db_url) as (store, _):
        store.record_call(
            hook_instance="hook-1",
            service_id="sts-patient-view",
            called_at=called_at,
            patient_hash="f" * 64,
            unreadable_resources=["Condition/c1", "Observation/o2"],
            rule_errors=["ascmn-1"],
        )
    with open_store(db_url) as (_, session):
        (call,) = session.scalars(select(HookCallRecord))
    assert call.unreadable_resources == ["Condition/c1", "Observation/o2"]
    assert call.rule_errors == ["ascmn-1"]
    assert call.called_at == dt.datetime(2024, 3, 1, 10, 0, tzinfo=dt.UTC)


def test_naive_timestamps_are_refused_not_reported_as_unavailable(db_url: str) -> None:
    with open_store(db_url) as (store, _), pytest.raises(StatementError, match="timezone-aware"):
        store.record_call(
            hook_instance="h", service_id="s", called_at=dt.datetime(2024, 3, 1), patient_hash="0"
        )


def test_salt_is_generated_once_and_stable_across_engines(db_url: str) -> None:
    with open_store(db_url) as (store, _):
        salt = store.ledger_salt(None)
        assert store.ledger_salt(None) == salt
    with open_store(db_url) as (store, session):
        assert store.ledger_salt(None) == salt
        assert session.scalar(select(func.count()).select_from(InstallSetting)) == 1
    assert len(salt) == 64
    int(salt, 16)


def test_configured_salt_wins_and_is_not_stored(db_url: str) -> None:
    with open_store(db_url) as (store, session):
        assert store.ledger_salt("from-settings") == "from-settings"
        assert session.scalar(select(func.count()).select_from(InstallSetting)) == 0
        assert store.ledger_salt(None) != "from-settings"


def test_patient_hash_is_salted_and_hides_the_id() -> None:
    digest = hash_patient_id("salt-1", "patient-123")
    assert digest == hash_patient_id("salt-1", "patient-123")
    assert digest != hash_patient_id("salt-2", "patient-123")
    assert len(digest) == 64 and "patient-123" not in digest
