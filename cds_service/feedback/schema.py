"""Declarative SQLAlchemy models of the card ledger, hook calls, feedback and install settings."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON
from sqlalchemy import DateTime
from sqlalchemy import Dialect
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import TypeDecorator
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column


def utc_now() -> dt.datetime:
    """Return the current time as a UTC-aware datetime."""
    return dt.datetime.now(dt.UTC)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A datetime stored in UTC and always read back UTC-aware.

    SQLite keeps no offset, so values are written as naive UTC there (which also makes the
    feedback uniqueness constraint compare instants); PostgreSQL gets ``timestamptz``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        """Convert an aware datetime to UTC; naive values are refused as ambiguous."""
        if value is None:
            return None
        if not isinstance(value, dt.datetime) or value.utcoffset() is None:
            raise ValueError("timestamps must be timezone-aware datetimes")
        utc = value.astimezone(dt.UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        """Return the stored value as a UTC-aware datetime."""
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    """Base class of every table of the feedback store."""


class CardIssued(Base):
    """One card the service returned; the patient appears only as a salted hash."""

    __tablename__ = "card_ledger"

    card_uuid: Mapped[str] = mapped_column(String(64), primary_key=True)
    service_id: Mapped[str] = mapped_column(String(64))
    recommendation_id: Mapped[str] = mapped_column(String(64), index=True)
    hook_instance: Mapped[str] = mapped_column(String(256))
    issued_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    patient_hash: Mapped[str] = mapped_column(String(64))
    """Salted SHA-256 hex of the patient id, never the id itself."""
    knowledge_version: Mapped[str | None] = mapped_column(String(32))
    """The knowledge-base version that produced the card (None for cards issued before 0002)."""
    knowledge_hash: Mapped[str | None] = mapped_column(String(80))
    """``sha256:`` content hash of that knowledge base."""


class HookCallRecord(Base):
    """One hook call and the data gaps it had (partial data policy)."""

    __tablename__ = "hook_calls"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    hook_instance: Mapped[str] = mapped_column(String(256))
    service_id: Mapped[str] = mapped_column(String(64))
    called_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    patient_hash: Mapped[str] = mapped_column(String(64))
    unreadable_resources: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Resources skipped as invalid, as ``Type/id`` references."""
    rule_errors: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Recommendation ids whose rule raised."""


class FeedbackRecord(Base):
    """One feedback item, stored once per (card uuid, outcome, outcome timestamp)."""

    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint(
            "card_uuid", "outcome", "outcome_timestamp", name="uq_feedback_card_outcome_time"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    card_uuid: Mapped[str] = mapped_column(Text, index=True)
    """The card's uuid as the client sent it (it may name a card the ledger does not know)."""
    service_id: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    """``accepted`` or ``overridden``."""
    outcome_timestamp: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    accepted_suggestions: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Uuids of the suggestions the user accepted."""
    override_system: Mapped[str | None] = mapped_column(Text)
    override_code: Mapped[str | None] = mapped_column(Text)
    override_display: Mapped[str | None] = mapped_column(Text)
    override_comment: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utc_now)


class InstallSetting(Base):
    """A per-install value kept in the database, such as the ledger salt."""

    __tablename__ = "install_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class SeenToken(Base):
    """A JWT ``jti`` already accepted, kept until the token expires (replay protection).

    It lives in the database, not in process memory, so that every gunicorn worker and every
    replica refuses a replayed token.
    """

    __tablename__ = "jwt_replay"

    issuer: Mapped[str] = mapped_column(String(512), primary_key=True)
    jti: Mapped[str] = mapped_column(String(256), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), index=True)
