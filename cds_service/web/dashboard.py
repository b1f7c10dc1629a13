"""``GET /feedback/dashboard``: the override dashboard, an operator page (like ``/metrics``).

Per recommendation: cards issued (with and without feedback), accepted and overridden feedback,
the override rate, the override reasons given and the trend by ISO week (UTC), as server-rendered
charts (``charts``) with the figures beside them. The figures are ``/feedback/summary``'s own
queries narrowed to a scope (``feedback.summary.Scope``): aggregates only, no patient data, no card
text. The page runs no script and loads nothing (its Content-Security-Policy says so).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from flask import Blueprint
from flask import Response
from flask import render_template
from flask import request
from markupsafe import Markup

from cds_service.feedback.summary import UNKNOWN
from cds_service.feedback.summary import FeedbackReport
from cds_service.feedback.summary import RecommendationSummary
from cds_service.feedback.summary import Scope
from cds_service.feedback.summary import WeekFigures
from cds_service.feedback.summary import every_week
from cds_service.guidelines.catalogue import Catalogue
from cds_service.hooks.errors import BadRequest
from cds_service.hooks.errors import Issue
from cds_service.registry import ServiceRegistry
from cds_service.state import service_state
from cds_service.web import charts

bp = Blueprint("dashboard", __name__, template_folder="templates")

PATH = "/feedback/dashboard"

CONTENT_SECURITY_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                           "base-uri 'none'; frame-ancestors 'none'")
"""Inline CSS and inline SVG, a GET form to itself: no script, nothing fetched."""

VERSION_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z.+-]{0,31}$"
"""A knowledge-base version as the ledger stores it (``card_ledger.knowledge_version``)."""

DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
"""A calendar day, ``YYYY-MM-DD`` (UTC)."""

PARAMETERS = {
    "version": "the knowledge-base version that produced the cards",
    "from": "the first day (UTC) the cards were issued, YYYY-MM-DD",
    "to": "the last day (UTC) the cards were issued, YYYY-MM-DD, inclusive",
}
"""The query parameters; an empty value is the same as none (what the page's form sends)."""


@dataclass(frozen=True)
class RecommendationFigures:
    """One row of the dashboard.

    Attributes:
        id: the recommendation id (or ``unknown``).
        title: the catalogue title ("" for ``unknown``).
        issued: cards issued in scope.
        with_feedback: of those, cards with at least one feedback item.
        accepted: accepted feedback items.
        overridden: overridden feedback items.
        reasons: ``(reason, count)`` of the override reasons given, most frequent first.
        weeks: the figures by ISO week of issue.
    """

    id: str
    title: str
    issued: int
    with_feedback: int
    accepted: int
    overridden: int
    reasons: tuple[tuple[str, int], ...]
    weeks: tuple[WeekFigures, ...]

    @property
    def without_feedback(self) -> int:
        """Cards issued that have no feedback at all (shown apart from the rate)."""
        return self.issued - self.with_feedback

    @property
    def override_rate(self) -> float | None:
        """overridden ÷ (accepted + overridden); None when there is no feedback."""
        return override_rate(self.accepted, self.overridden)

    @property
    def has_data(self) -> bool:
        """Whether anything was issued or fed back in scope."""
        return bool(self.issued or self.accepted or self.overridden)


def override_rate(accepted: int, overridden: int) -> float | None:
    """overridden ÷ (accepted + overridden), or None without any feedback (never 0 %)."""
    answered = accepted + overridden
    return overridden / answered if answered else None


def parse_scope(args: dict[str, list[str]]) -> Scope:
    """The scope the query parameters ask for.

    Raises:
        BadRequest: an unknown or repeated parameter, a malformed version or date, or a range
            that ends before it starts (400, the issue names the parameter).
    """
    _refuse_unknown_or_repeated(args)
    value = {name: values[0] for name, values in args.items() if values[0] != ""}
    issues: list[Issue] = []
    version = value.get("version")
    _check_version(version, issues)
    first = _day("from", value.get("from"), issues)
    last = _day("to", value.get("to"), issues)
    _check_range(first, last, issues)
    if issues:
        raise BadRequest(issues)
    return Scope(knowledge_version=version, first_day=first,
                 last_day=None if last == dt.date.max else last)


def _refuse_unknown_or_repeated(args: dict[str, list[str]]) -> None:
    """Refuse unknown and repeated parameters before any value is read.

    Raises:
        BadRequest: every unknown parameter, then every repeated one (400).
    """
    issues = [Issue("invalid", f"unknown query parameter {name!r}; known: "
                    f"{', '.join(PARAMETERS)}", name) for name in args if name not in PARAMETERS]
    issues += [Issue("invalid", f"{name} is given {len(values)} times", name)
               for name, values in args.items() if name in PARAMETERS and len(values) > 1]
    if issues:
        raise BadRequest(issues)


def _check_version(version: str | None, issues: list[Issue]) -> None:
    """Adds an issue when a version is given and is not shaped like a knowledge-base version."""
    if version is not None and not re.fullmatch(VERSION_PATTERN, version):
        issues.append(Issue("invalid", "version must be a knowledge-base version such as 1.1.0",
                            "version"))


def _day(name: str, text: str | None, issues: list[Issue]) -> dt.date | None:
    """The day parameter ``name`` gives; None when absent, or malformed (adding an issue)."""
    if text is None:
        return None
    try:
        if not re.fullmatch(DATE_PATTERN, text):
            raise ValueError(text)
        return dt.date.fromisoformat(text)
    except ValueError:
        issues.append(Issue("invalid", f"{name} must be a date, YYYY-MM-DD", name))
        return None


def _check_range(first: dt.date | None, last: dt.date | None, issues: list[Issue]) -> None:
    """Adds an issue when the range ends before it starts."""
    if first is not None and last is not None and first > last:
        issues.append(Issue("invalid", f"from ({first}) is after to ({last})", "from"))


def figures(report: FeedbackReport, catalogue: Catalogue) -> list[RecommendationFigures]:
    """The dashboard rows: every catalogue id in catalogue order, then ``unknown``."""
    rows = []
    for row in report.summary["recommendations"]:
        spec = catalogue.get(row["id"])
        rows.append(RecommendationFigures(
            id=row["id"], title=spec.title if spec is not None else "", issued=row["issued"],
            with_feedback=report.with_feedback.get(row["id"], 0), accepted=row["accepted"],
            overridden=row["overridden"], reasons=_reasons(row),
            weeks=tuple(report.weeks.get(row["id"], ()))))
    return rows


def _reasons(row: RecommendationSummary) -> tuple[tuple[str, int], ...]:
    return tuple((f"{reason['display']} ({reason['code']})" if "display" in reason
                  else reason["code"], reason["count"]) for reason in row["overrideReasons"])


def all_weeks(rows: list[RecommendationFigures]) -> list[WeekFigures]:
    """Every recommendation's weekly figures summed, from the first week any has to the last."""
    totals: dict[str, list[int]] = {}
    for row in rows:
        for week in row.weeks:
            total = totals.setdefault(week.week, [0, 0, 0])
            total[0] += week.issued
            total[1] += week.accepted
            total[2] += week.overridden
    return every_week(totals) if totals else []


def trend(weeks: list[WeekFigures] | tuple[WeekFigures, ...]) -> tuple[Markup, Markup]:
    """The weekly trend charts of ``weeks``: cards and feedback, and the override rate."""
    labels = [w.week for w in weeks]
    return (
        charts.weekly_counts_chart(
            "Cards and feedback by ISO week of issue (UTC)", labels, [w.issued for w in weeks],
            [w.accepted for w in weeks], [w.overridden for w in weeks]),
        charts.weekly_rate_chart(
            "Override rate by ISO week of issue (UTC), %", labels,
            [override_rate(w.accepted, w.overridden) for w in weeks]),
    )


@bp.get(PATH)
def dashboard() -> Response:
    """The override dashboard for the scope the query asks for."""
    scope = parse_scope(request.args.to_dict(flat=False))
    state = service_state()
    registry: ServiceRegistry = state.registry
    report = registry.report(scope)
    rows = figures(report, state.catalogue)
    shown = [row for row in rows if row.has_data and row.id != UNKNOWN]
    unknown = next(row for row in rows if row.id == UNKNOWN)
    ids = [row.id for row in shown]
    page = render_template(
        "web/dashboard.html", kb_name=state.catalogue.name, kb=None, scope=scope,
        versions=report.versions, shown=shown, silent=[row for row in rows if not row.has_data
                                                       and row.id != UNKNOWN],
        unknown=unknown, total=_total(shown), weeks=all_weeks(shown), trend=trend,
        cards_chart=charts.cards_chart(ids, [r.with_feedback for r in shown],
                                       [r.without_feedback for r in shown]) if shown else None,
        outcomes_chart=charts.outcomes_chart(ids, [r.accepted for r in shown],
                                             [r.overridden for r in shown]) if shown else None,
        rate_chart=charts.rate_chart(ids, [r.override_rate for r in shown]) if shown else None,
        reasons_chart=charts.reasons_chart, percent=_percent)
    response = Response(page, mimetype="text/html")
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"  # live figures
    return response


def _total(rows: list[RecommendationFigures]) -> RecommendationFigures:
    return RecommendationFigures(
        id="all", title="All recommendations", issued=sum(r.issued for r in rows),
        with_feedback=sum(r.with_feedback for r in rows), accepted=sum(r.accepted for r in rows),
        overridden=sum(r.overridden for r in rows), reasons=(), weeks=())


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f} %"
