"""The feedback store: what the service issued, what each call lacked and what clinicians did."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import fields
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine
from sqlalchemy import select
from sqlalchemy.orm import Session

from cds_service.feedback.engine import StoreUnavailable
from cds_service.feedback.engine import durable_commit
from cds_service.feedback.engine import insert_ignoring_duplicates
from cds_service.feedback.engine import make_engine
from cds_service.feedback.engine import make_sessionmaker
from cds_service.feedback.engine import ping
from cds_service.feedback.engine import unavailable_on_failure
from cds_service.feedback.migrate import create_schema
from cds_service.feedback.schema import CardIssued
from cds_service.feedback.schema import FeedbackRecord
from cds_service.feedback.schema import HookCallRecord
from cds_service.feedback.schema import InstallSetting
from cds_service.feedback.schema import utc_now
from cds_service.feedback.summary import EVERYTHING
from cds_service.feedback.summary import UNKNOWN
from cds_service.feedback.summary import FeedbackReport
from cds_service.feedback.summary import FeedbackSummary
from cds_service.feedback.summary import Scope
from cds_service.feedback.summary import report
from cds_service.feedback.summary import summarise
from cds_service.hooks.models import FeedbackItem

__all__ = [
    "UNKNOWN",
    "FeedbackReport",
    "FeedbackStore",
    "FeedbackSummary",
    "IssuedCard",
    "Scope",
    "StoreUnavailable",
    "create_schema",
    "hash_patient_id",
    "make_engine",
    "make_sessionmaker",
    "ping",
]

LEDGER_SALT_KEY = "ledger_salt"
"""Key of the per-install ledger salt in ``install_settings``."""

_salts: WeakKeyDictionary[Engine, str] = WeakKeyDictionary()
"""The stored salt of each engine's database, once read: it never changes after its creation."""


def hash_patient_id(salt: str, patient_id: str) -> str:
    """Return the salted SHA-256 hex of ``patient_id``, the only patient trace the ledger keeps."""
    return hashlib.sha256(f"{salt}\x00{patient_id}".encode()).hexdigest()


@dataclass(frozen=True)
class IssuedCard:
    """One card returned by a hook call, as the ledger records it.

    Attributes:
        card_uuid: the card's ``uuid``.
        service_id: the service that issued it.
        recommendation_id: the catalogue id behind the card.
        hook_instance: the call's ``hookInstance``.
        issued_at: when the card was returned (timezone-aware).
        patient_hash: :func:`hash_patient_id` of the patient.
        knowledge_version: the knowledge-base version that produced the card.
        knowledge_hash: the content hash of that knowledge base.
    """

    card_uuid: str
    service_id: str
    recommendation_id: str
    hook_instance: str
    issued_at: dt.datetime
    patient_hash: str
    knowledge_version: str | None = None
    knowledge_hash: str | None = None


class FeedbackStore:
    """Reads and writes the store through a session the caller owns (one per request).

    Every method commits its own writes. Connection failures raise :class:`StoreUnavailable` and
    leave the session rolled back.
    """

    def __init__(self, session: Session) -> None:
        self._session = session

    def ledger_salt(self, configured: str | None) -> str:
        """Return the salt of the patient-id hash.

        Args:
            configured: ``CDS_LEDGER_SALT``; when set (non-empty) it wins.

        Returns:
            The configured salt, else the install's random salt, created on first use. Concurrent
            first uses insert-if-absent and read back, so every worker gets the same value. The
            process remembers it per engine (database) after the first read.

        Raises:
            StoreUnavailable: the database cannot be reached.
        """
        if configured:
            return configured
        engine = self._session.get_bind().engine
        cached = _salts.get(engine)
        if cached is not None:
            return cached
        query = select(InstallSetting.value).where(InstallSetting.key == LEDGER_SALT_KEY)
        with unavailable_on_failure(self._session):
            salt = self._session.scalar(query)
            if salt is None:
                insert = insert_ignoring_duplicates(self._session, InstallSetting)
                self._session.execute(
                    insert, [{"key": LEDGER_SALT_KEY, "value": secrets.token_hex(32)}]
                )
                self._session.commit()
                salt = self._session.scalar(query)
        if salt is None:
            raise RuntimeError("the ledger salt vanished after it was stored")
        _salts[engine] = salt
        return salt

    def record_cards(self, cards: Sequence[IssuedCard]) -> None:
        """Add cards to the ledger; a card uuid already there is left as it is.

        Raises:
            StoreUnavailable: the database cannot be reached or written.
        """
        if not cards:
            return
        insert = insert_ignoring_duplicates(self._session, CardIssued)
        with unavailable_on_failure(self._session):
            self._session.execute(insert, [_ledger_row(card) for card in cards])
            self._session.commit()

    def record_call(
        self,
        *,
        hook_instance: str,
        service_id: str,
        called_at: dt.datetime,
        patient_hash: str,
        unreadable_resources: Sequence[str] = (),
        rule_errors: Sequence[str] = (),
    ) -> None:
        """Record one hook call and its data gaps (contract.md, "Partial data policy").

        Args:
            hook_instance: the call's ``hookInstance``.
            service_id: the service called.
            called_at: when the call arrived (timezone-aware).
            patient_hash: :func:`hash_patient_id` of the patient.
            unreadable_resources: skipped resources as ``Type/id``.
            rule_errors: recommendation ids whose rule raised.

        Raises:
            StoreUnavailable: the database cannot be reached or written.
        """
        record = HookCallRecord(
            hook_instance=_db_text(hook_instance, HOOK_INSTANCE_CHARS),
            service_id=service_id,
            called_at=called_at,
            patient_hash=patient_hash,
            unreadable_resources=list(unreadable_resources),
            rule_errors=list(rule_errors),
        )
        with unavailable_on_failure(self._session):
            self._session.add(record)
            self._session.commit()

    def has_call(self, *, hook_instance: str, service_id: str, called_at: dt.datetime) -> bool:
        """True when :meth:`record_call` already recorded this call (a spool replayed twice).

        Raises:
            StoreUnavailable: the database cannot be reached.
        """
        query = select(HookCallRecord.id).where(
            HookCallRecord.hook_instance == _db_text(hook_instance, HOOK_INSTANCE_CHARS),
            HookCallRecord.service_id == service_id, HookCallRecord.called_at == called_at,
        ).limit(1)
        with unavailable_on_failure(self._session):
            return self._session.scalar(query) is not None

    def add_feedback(self, service_id: str, items: Sequence[FeedbackItem]) -> int:
        """Store feedback items, each (card uuid, outcome, outcome timestamp) once (FB9).

        Args:
            service_id: the service the feedback was posted to.
            items: validated feedback items; repeats, in this batch or earlier, are ignored.

        Returns:
            How many items were newly stored.

        Raises:
            StoreUnavailable: the database cannot be reached or written.
        """
        if not items:
            return 0
        received_at = utc_now()
        rows = [_feedback_row(service_id, item, received_at) for item in items]
        insert = insert_ignoring_duplicates(self._session, FeedbackRecord)
        with unavailable_on_failure(self._session):
            durable_commit(self._session)  # acknowledged with 200: the EHR will not resend it
            stored = self._session.execute(insert.returning(FeedbackRecord.id), rows).all()
            self._session.commit()
        return len(stored)

    def summary(
        self, recommendation_ids: Sequence[str], scope: Scope = EVERYTHING
    ) -> FeedbackSummary:
        """Return the ``/feedback/summary`` body for ``recommendation_ids`` plus ``unknown``.

        Raises:
            StoreUnavailable: the database cannot be reached.
        """
        with unavailable_on_failure(self._session):
            return summarise(self._session, recommendation_ids, scope)

    def report(self, recommendation_ids: Sequence[str], scope: Scope) -> FeedbackReport:
        """Return the override dashboard's figures for ``scope``.

        Raises:
            StoreUnavailable: the database cannot be reached.
        """
        with unavailable_on_failure(self._session):
            return report(self._session, recommendation_ids, scope)


def _feedback_row(service_id: str, item: FeedbackItem, received_at: dt.datetime) -> dict[str, Any]:
    reason = item.override_reason
    coding = reason.reason if reason is not None else None
    return {
        "card_uuid": _db_text(item.card),
        "service_id": service_id,
        "outcome": item.outcome,
        "outcome_timestamp": _as_utc(item.outcome_timestamp),
        "accepted_suggestions": [s.id for s in item.accepted_suggestions or []],
        "override_system": _db_text(coding.system) if coding is not None else None,
        "override_code": _db_text(coding.code) if coding is not None else None,
        "override_display": _db_text(coding.display) if coding is not None else None,
        "override_comment": _db_text(reason.user_comment) if reason is not None else None,
        "received_at": received_at,
    }


HOOK_INSTANCE_CHARS = 256
"""Width of the ``hook_instance`` columns; a longer ``hookInstance`` is stored cut."""


def _ledger_row(card: IssuedCard) -> dict[str, Any]:
    # Not dataclasses.asdict: it deep-copies every value (~50 us a row, mostly the datetime).
    row = {field.name: getattr(card, field.name) for field in fields(card)}
    return row | {"hook_instance": _db_text(card.hook_instance, HOOK_INSTANCE_CHARS)}


def _db_text(value: str | None, limit: int | None = None) -> str | None:
    """``value`` as PostgreSQL can store it: no NUL character, at most ``limit`` characters.

    The client chose these strings (``hookInstance`` is any string, contract.md); they are kept for
    audit and joins, so a NUL becomes U+FFFD rather than failing the call with a 500.
    """
    if value is None:
        return None
    return value.replace("\x00", "\ufffd")[:limit]


def _as_utc(value: dt.datetime | str) -> dt.datetime:
    # FeedbackItem's validator already yields an aware datetime; its static type is still str.
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)
    if moment.utcoffset() is None:
        raise ValueError("outcomeTimestamp must carry an offset")
    return moment.astimezone(dt.UTC)
