"""Aggregate feedback per recommendation, in SQL, into the ``/feedback/summary`` shape.

The same queries serve the override dashboard (``/feedback/dashboard``): narrowed to a
:class:`Scope` (knowledge-base version, UTC date range of issue), and grouped by the UTC day a card
was issued for its weekly trend, so the dashboard never counts differently from the summary.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from typing import NotRequired

from sqlalchemy import ColumnElement
from sqlalchemy import Select
from sqlalchemy import and_
from sqlalchemy import desc
from sqlalchemy import distinct
from sqlalchemy import false
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


@dataclass(frozen=True)
class Scope:
    """Which cards a report counts; None leaves that side open.

    The scope is a cohort of issued cards (card_ledger rows) with the feedback given on them.
    Feedback on a card the ledger does not know (``unknown``) has no version, so a version bound
    leaves it out; a date bound applies to its outcome timestamp instead.

    Attributes:
        knowledge_version: the knowledge-base version that produced the cards.
        first_day: the first UTC day of issue counted.
        last_day: the last UTC day of issue counted (inclusive).
    """

    knowledge_version: str | None = None
    first_day: dt.date | None = None
    last_day: dt.date | None = None

    def cards(self) -> list[ColumnElement[bool]]:
        """The conditions on card-ledger rows."""
        clauses = _day_bounds(CardIssued.issued_at, self.first_day, self.last_day)
        if self.knowledge_version is not None:
            clauses.append(CardIssued.knowledge_version == self.knowledge_version)
        return clauses

    def unknown_cards(self) -> list[ColumnElement[bool]]:
        """The conditions on feedback whose card the ledger does not know."""
        if self.knowledge_version is not None:
            return [false()]
        return _day_bounds(FeedbackRecord.outcome_timestamp, self.first_day, self.last_day)


EVERYTHING = Scope()
"""Every card and every feedback item: what ``/feedback/summary`` counts."""


@dataclass(frozen=True)
class WeekFigures:
    """One recommendation's cards issued in one ISO week (UTC) and the feedback given on them.

    Attributes:
        week: the ISO week, ``YYYY-Www`` (ISO 8601 week-numbering year).
        issued: cards issued that week.
        accepted: accepted feedback items on those cards.
        overridden: overridden feedback items on those cards.
    """

    week: str
    issued: int
    accepted: int
    overridden: int


def iso_week(day: dt.date) -> str:
    """``day``'s ISO 8601 week, ``YYYY-Www`` (the week-numbering year, which may differ)."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def summarise(
    session: Session, recommendation_ids: Sequence[str], scope: Scope = EVERYTHING
) -> FeedbackSummary:
    """Count issued cards, outcomes and override reasons per recommendation.

    Feedback is joined to the card ledger by card uuid (outer join); feedback the ledger does not
    know is counted under :data:`UNKNOWN`. Counts are of distinct stored feedback rows, which are
    already de-duplicated on (card uuid, outcome, outcome timestamp).

    Args:
        session: open session on the store.
        recommendation_ids: the ids to report, in order; ids without data get zeros.
        scope: the cards counted (the summary counts all of them).

    Returns:
        One row per given id, in the given order, then the ``unknown`` row.
    """
    issued = _issued_counts(session, recommendation_ids, scope)
    outcomes = _outcome_counts(session, recommendation_ids, scope)
    reasons = _override_reasons(session, recommendation_ids, scope)
    rows: list[RecommendationSummary] = []
    for rec_id in [*recommendation_ids, UNKNOWN]:
        key = None if rec_id == UNKNOWN else rec_id
        rows.append(
            {
                "id": rec_id,
                "issued": issued.get((rec_id,), 0) if key is not None else 0,
                "accepted": outcomes.get((key, "accepted"), 0),
                "overridden": outcomes.get((key, "overridden"), 0),
                "overrideReasons": reasons.get(key, []),
            }
        )
    return {"recommendations": rows}


@dataclass(frozen=True)
class FeedbackReport:
    """What the override dashboard shows, for one scope.

    Attributes:
        scope: the cards counted.
        summary: the ``/feedback/summary`` rows of those cards.
        with_feedback: per recommendation id, its cards with at least one feedback item.
        weeks: per recommendation id, its figures by ISO week of issue.
        versions: every knowledge-base version in the ledger, newest first (for the filter).
    """

    scope: Scope
    summary: FeedbackSummary
    with_feedback: dict[str, int]
    weeks: dict[str, list[WeekFigures]]
    versions: list[str]


def report(session: Session, recommendation_ids: Sequence[str], scope: Scope) -> FeedbackReport:
    """The dashboard's figures: the summary's, narrowed to ``scope``, and their weekly trend."""
    return FeedbackReport(
        scope=scope,
        summary=summarise(session, recommendation_ids, scope),
        with_feedback=cards_with_feedback(session, recommendation_ids, scope),
        weeks=weekly(session, recommendation_ids, scope),
        versions=knowledge_versions(session),
    )


def cards_with_feedback(
    session: Session, recommendation_ids: Sequence[str], scope: Scope = EVERYTHING
) -> dict[str, int]:
    """How many issued cards of each recommendation have at least one feedback item."""
    query = (
        select(CardIssued.recommendation_id, func.count(distinct(CardIssued.card_uuid)))
        .join(FeedbackRecord, FeedbackRecord.card_uuid == CardIssued.card_uuid)
        .where(CardIssued.recommendation_id.in_(recommendation_ids), *scope.cards())
        .group_by(CardIssued.recommendation_id)
    )
    return {rec_id: count for rec_id, count in session.execute(query)}


def weekly(
    session: Session, recommendation_ids: Sequence[str], scope: Scope = EVERYTHING
) -> dict[str, list[WeekFigures]]:
    """Each recommendation's cards and outcomes by the ISO week (UTC) the cards were issued.

    The summary's own queries, grouped also by the UTC day of issue; days are folded into ISO
    weeks here, the same way on every database. Feedback on cards the ledger does not know has
    no week and is left out. Weeks without cards between a recommendation's first and last week
    are listed with zeros.

    Returns:
        The weeks of each recommendation that had cards in ``scope``, oldest first.
    """
    day = _utc_day(session)
    weeks: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0]))
    for (rec_id, issued_on), count in _issued_counts(
            session, recommendation_ids, scope, day).items():
        weeks[rec_id][iso_week(_as_date(issued_on))][0] += count
    for (rec_id, issued_on, outcome), count in _outcome_counts(
            session, recommendation_ids, scope, day).items():
        column = 1 if outcome == "accepted" else 2
        weeks[rec_id][iso_week(_as_date(issued_on))][column] += count
    return {rec_id: every_week(by_week) for rec_id, by_week in weeks.items()}


def knowledge_versions(session: Session) -> list[str]:
    """The knowledge-base versions named in the card ledger, newest first."""
    query = select(CardIssued.knowledge_version).distinct().where(
        CardIssued.knowledge_version.is_not(None))
    versions = [version for version in session.scalars(query) if version is not None]
    return sorted(versions, key=_version_key, reverse=True)


def _version_key(version: str) -> tuple[tuple[int, str], ...]:
    return tuple((int(part), "") if part.isdigit() else (-1, part)
                 for part in version.replace("-", ".").split("."))


def every_week(by_week: dict[str, list[int]]) -> list[WeekFigures]:
    """``[issued, accepted, overridden]`` by ISO week as figures of every week from the first to
    the last, oldest first (weeks between without cards get zeros)."""
    def monday(week: str) -> dt.date:
        return dt.date.fromisocalendar(int(week[:4]), int(week[6:]), 1)

    first, last = monday(min(by_week)), monday(max(by_week))
    weeks = [iso_week(first + dt.timedelta(weeks=n))
             for n in range((last - first).days // 7 + 1)]
    return [WeekFigures(week, *by_week.get(week, [0, 0, 0])) for week in weeks]


def _day_bounds(
    column: Any, first_day: dt.date | None, last_day: dt.date | None
) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if first_day is not None:
        clauses.append(column >= _midnight_utc(first_day))
    if last_day is not None:
        clauses.append(column < _midnight_utc(last_day + dt.timedelta(days=1)))
    return clauses


def _midnight_utc(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def _utc_day(session: Session) -> ColumnElement[Any]:
    """The UTC calendar day a card was issued, in SQL."""
    if session.get_bind().dialect.name == "postgresql":  # timestamptz: the day in UTC
        return func.date(func.timezone("UTC", CardIssued.issued_at))
    return func.date(CardIssued.issued_at)  # SQLite keeps naive UTC text (UtcDateTime)


def _as_date(value: dt.date | str) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def _scoped(ids: Sequence[str], scope: Scope, *, unknown: bool) -> ColumnElement[bool]:
    """Feedback rows of ``ids``' cards in ``scope`` and, if ``unknown``, of unknown cards."""
    known = and_(CardIssued.recommendation_id.in_(ids), *scope.cards())
    if not unknown:
        return known
    # A NULL recommendation id is feedback whose card the ledger does not know.
    return or_(known, and_(CardIssued.recommendation_id.is_(None), *scope.unknown_cards()))


def _issued_counts(
    session: Session, ids: Sequence[str], scope: Scope, day: ColumnElement[Any] | None = None
) -> dict[tuple[Any, ...], int]:
    keys: list[Any] = [CardIssued.recommendation_id, *([day] if day is not None else [])]
    query = (
        select(*keys, func.count(CardIssued.card_uuid))
        .where(CardIssued.recommendation_id.in_(ids), *scope.cards())
        .group_by(*keys)
    )
    return {tuple(row[:-1]): row[-1] for row in session.execute(query)}


def _outcome_counts(
    session: Session, ids: Sequence[str], scope: Scope, day: ColumnElement[Any] | None = None
) -> dict[tuple[Any, ...], int]:
    # By day, only cards the ledger knows: feedback on an unknown card has no day of issue.
    keys: list[Any] = [CardIssued.recommendation_id, *([day] if day is not None else []),
                       FeedbackRecord.outcome]
    query: Select[Any] = (
        select(*keys, func.count(distinct(FeedbackRecord.id)))
        .select_from(FeedbackRecord)
        .outerjoin(CardIssued, CardIssued.card_uuid == FeedbackRecord.card_uuid)
        .where(_scoped(ids, scope, unknown=day is None))
        .group_by(*keys)
    )
    return {tuple(row[:-1]): row[-1] for row in session.execute(query)}


def _override_reasons(
    session: Session, ids: Sequence[str], scope: Scope
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
        .where(_scoped(ids, scope, unknown=True))
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
