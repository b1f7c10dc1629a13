"""A seeded card ledger for the override dashboard's tests (SQLite, PostgreSQL and the browser).

Cards of two knowledge-base versions around the ISO-week and ISO-year boundaries of 2026/2027
(2026 has 53 ISO weeks; 2027-01-03, a Sunday, is still in 2026-W53), feedback of both outcomes with
and without override reasons, a card without feedback, and feedback on a card the ledger does not
know.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine

from cds_service.feedback.store import FeedbackStore
from cds_service.feedback.store import IssuedCard
from cds_service.feedback.store import create_schema
from cds_service.feedback.store import hash_patient_id
from cds_service.feedback.store import make_sessionmaker
from cds_service.hooks.models import FeedbackItem

PATIENT_ID = "pat-dashboard-3c9e71"
"""The patient of every seeded card: the dashboard must never show it (nor its hash)."""

PATIENT_HASH = hash_patient_id("dashboard-test-salt", PATIENT_ID)

OLD, NEW = "1.0.0", "1.1.0"
"""The two knowledge-base versions in the ledger."""

MRI, BIOPSY, NTRK = "sts-mri-local-staging", "sts-core-biopsy-after-fna", "ntrk-rna-ngs"

REASON_SYSTEM = "https://sts-cds.org/fhir/CodeSystem/override-reason"


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


# (card uuid, recommendation, issued at, version)
CARDS: list[tuple[str, str, str, str | None]] = [
    ("card-uuid-1", MRI, "2026-12-21T08:00:00+00:00", OLD),  # 2026-W52, Monday
    ("card-uuid-2", MRI, "2026-12-27T23:59:59+00:00", OLD),  # 2026-W52, last second (Sunday, UTC)
    ("card-uuid-3", MRI, "2026-12-28T00:00:00+00:00", OLD),  # 2026-W53, first second
    ("card-uuid-4", MRI, "2027-01-04T00:30:00+01:00", NEW),  # 2027-01-03T23:30Z: 2026-W53
    ("card-uuid-5", MRI, "2027-01-04T00:00:00+00:00", NEW),  # 2027-W01
    ("card-uuid-6", BIOPSY, "2026-12-22T10:00:00+00:00", OLD),  # 2026-W52
    ("card-uuid-7", BIOPSY, "2027-01-05T10:00:00+00:00", NEW),  # 2027-W01, no feedback
    ("card-uuid-8", NTRK, "2026-11-02T09:00:00+00:00", None),  # no version (before 0002); W45
]

# (card uuid, outcome, timestamp, reason code, reason display)
FEEDBACK: list[tuple[str, str, str, str | None, str | None]] = [
    ("card-uuid-1", "accepted", "2026-12-21T09:00:00Z", None, None),
    ("card-uuid-2", "overridden", "2026-12-28T08:00:00Z", "already-done", "Already done elsewhere"),
    ("card-uuid-3", "overridden", "2026-12-28T09:00:00Z", "already-done", "Already done elsewhere"),
    ("card-uuid-4", "overridden", "2027-01-04T09:00:00Z", "patient-declined", "Patient declined"),
    ("card-uuid-4", "accepted", "2027-01-04T10:00:00Z", None, None),  # changed their mind
    ("card-uuid-5", "overridden", "2027-01-04T11:00:00Z", None, None),  # no reason given
    ("card-uuid-6", "accepted", "2026-12-22T11:00:00Z", None, None),
    ("card-uuid-8", "overridden", "2026-11-03T09:00:00Z", "not-applicable", None),
    ("no-such-card", "overridden", "2026-12-29T09:00:00Z", "other", "Other"),
]


def _item(card: str, outcome: str, timestamp: str, code: str | None,
          display: str | None) -> FeedbackItem:
    body: dict[str, Any] = {"card": card, "outcome": outcome, "outcomeTimestamp": timestamp}
    if outcome == "accepted":
        body["acceptedSuggestions"] = [{"id": "s-1"}]
    if code is not None:
        reason: dict[str, Any] = {"system": REASON_SYSTEM, "code": code}
        if display is not None:
            reason["display"] = display
        body["overrideReason"] = {"reason": reason, "userComment": f"comment on {PATIENT_ID}"}
    return FeedbackItem.model_validate(body)


def seed(engine: Engine) -> None:
    """Create the schema on ``engine`` and write the seeded cards and feedback."""
    create_schema(engine)
    with make_sessionmaker(engine)() as session:
        store = FeedbackStore(session)
        store.record_cards([IssuedCard(uuid, "sts-patient-view", rec, "hook-dash-1", _at(at),
                                       PATIENT_HASH, version, f"sha256:{'0' * 64}")
                            for uuid, rec, at, version in CARDS])
        for row in FEEDBACK:
            store.add_feedback("sts-patient-view", [_item(*row)])
