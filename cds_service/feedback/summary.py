"""Aggregate feedback per recommendation, in SQL, into the ``/feedback/summary`` shape."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import NotRequired

from sqlalchemy import desc
from sqlalchemy import distinct
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.orm import Session
from typing_extensions import TypedDict  # pydantic reads it on 3.11 (/openapi.json)

from cds_service.feedback.schema import CardIssued
from cds_service.feedback.schema import FeedbackRecord

UNKNOWN = "unknown"
"""Summary id of feedback whose card uuid the ledger does not know (contract.md)."""


class OverrideReasonCount(TypedDict):
    """How often one override reason was given."""

    code: str
    display: NotRequired[str]
    count: int


class RecommendationSummary(TypedDict):
    """Issued cards and feedback outcomes of one recommendation."""

    id: str
    issued: int
    accepted: int
    overridden: int
    overrideReasons: list[OverrideReasonCount]


class FeedbackSummary(TypedDict):
    """The body of ``GET /feedback/summary``."""

    recommendations: list[RecommendationSummary]


def summarise(session: Session, recommendation_ids: Sequence[str]) -> FeedbackSummary:
    """Count issued cards, outcomes and override reasons per recommendation.

    Feedback is joined to the card ledger by card uuid (outer join); feedback the ledger does not
    know is counted under :data:`UNKNOWN`. Counts are of distinct stored feedback rows, which are
    already de-duplicated on (card uuid, outcome, outcome timestamp).

    Args:
        session: open session on the store.
        recommendation_ids: the ids to report, in order; ids without data get zeros.

    Returns:
        One row per given id, in the given order, then the ``unknown`` row.
    """
    issued = _issued_counts(session, recommendation_ids)
    outcomes = _outcome_counts(session, recommendation_ids)
    reasons = _override_reasons(session, recommendation_ids)
    rows: list[RecommendationSummary] = []
    for rec_id in [*recommendation_ids, UNKNOWN]:
        key = None if rec_id == UNKNOWN else rec_id
        rows.append(
            {
                "id": rec_id,
                "issued": issued.get(rec_id, 0) if key is not None else 0,
                "accepted": outcomes.get((key, "accepted"), 0),
                "overridden": outcomes.get((key, "overridden"), 0),
                "overrideReasons": reasons.get(key, []),
            }
        )
    return {"recommendations": rows}


def _issued_counts(session: Session, ids: Sequence[str]) -> dict[str, int]:
    query = (
        select(CardIssued.recommendation_id, func.count(CardIssued.card_uuid))
        .where(CardIssued.recommendation_id.in_(ids))
        .group_by(CardIssued.recommendation_id)
    )
    return {rec_id: count for rec_id, count in session.execute(query)}


def _outcome_counts(session: Session, ids: Sequence[str]) -> dict[tuple[str | None, str], int]:
    # A NULL recommendation id is feedback whose card the ledger does not know.
    query = (
        select(
            CardIssued.recommendation_id,
            FeedbackRecord.outcome,
            func.count(distinct(FeedbackRecord.id)),
        )
        .select_from(FeedbackRecord)
        .outerjoin(CardIssued, CardIssued.card_uuid == FeedbackRecord.card_uuid)
        .where(or_(CardIssued.recommendation_id.in_(ids), CardIssued.recommendation_id.is_(None)))
        .group_by(CardIssued.recommendation_id, FeedbackRecord.outcome)
    )
    return {(rec_id, outcome): count for rec_id, outcome, count in session.execute(query)}


def _override_reasons(
    session: Session, ids: Sequence[str]
) -> dict[str | None, list[OverrideReasonCount]]:
    count = func.count(distinct(FeedbackRecord.id))
    query = (
        select(
            CardIssued.recommendation_id,
            FeedbackRecord.override_code,
            FeedbackRecord.override_display,
            count,
        )
        .select_from(FeedbackRecord)
        .outerjoin(CardIssued, CardIssued.card_uuid == FeedbackRecord.card_uuid)
        .where(or_(CardIssued.recommendation_id.in_(ids), CardIssued.recommendation_id.is_(None)))
        .where(FeedbackRecord.outcome == "overridden")
        .where(FeedbackRecord.override_code.is_not(None))
        .group_by(
            CardIssued.recommendation_id,
            FeedbackRecord.override_code,
            FeedbackRecord.override_display,
        )
        # coalesce: SQLite and PostgreSQL sort NULL at opposite ends.
        .order_by(
            desc(count),
            FeedbackRecord.override_code,
            func.coalesce(FeedbackRecord.override_display, ""),
        )
    )
    reasons: dict[str | None, list[OverrideReasonCount]] = defaultdict(list)
    for rec_id, code, display, n in session.execute(query):
        if code is None:  # excluded by the query; narrows the type
            continue
        reason: OverrideReasonCount = {"code": code, "count": n}
        if display is not None:
            reason = {"code": code, "display": display, "count": n}
        reasons[rec_id].append(reason)
    return reasons
