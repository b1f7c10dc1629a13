"""``GET /feedback/dashboard`` (issue 19): the override dashboard on SQLite and PostgreSQL.

Its figures are ``/feedback/summary``'s for a seeded ledger, narrowed by knowledge-base version and
UTC date range; the weekly trend folds days into ISO weeks in UTC; the page shows no patient data
and no card text, parses with html5lib in strict mode, and is an operator endpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest
from flask.testing import FlaskClient

from cds_service.feedback.store import Scope
from cds_service.feedback.store import create_schema
from cds_service.feedback.store import make_engine
from cds_service.feedback.store import make_sessionmaker
from cds_service.feedback.summary import weekly
from cds_service.settings import Settings
from tests.common import scenario_request
from tests.feedback.dashboard_ledger import BIOPSY
from tests.feedback.dashboard_ledger import MRI
from tests.feedback.dashboard_ledger import NEW
from tests.feedback.dashboard_ledger import NTRK
from tests.feedback.dashboard_ledger import OLD
from tests.feedback.dashboard_ledger import PATIENT_HASH
from tests.feedback.dashboard_ledger import PATIENT_ID
from tests.feedback.dashboard_ledger import seed
from tests.web.html_check import check_page

PAGE = "/feedback/dashboard"
FIGURES = ("issued", "accepted", "overridden", "override-rate", "without-feedback")


class _Figures(HTMLParser):
    """The figures table (``data-recommendation`` rows, ``data-figure`` cells) and the totals."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, str]] = {}
        self.totals: dict[str, str] = {}
        self._row: str | None = None
        self._figure: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "tr" and values.get("data-recommendation"):
            self._row = values["data-recommendation"]
            self.rows[self._row or ""] = {}
        self._figure = values.get("data-figure") or self._figure

    def handle_data(self, data: str) -> None:
        if self._figure is None or not data.strip():
            return
        target = self.rows[self._row] if self._row is not None else self.totals
        target[self._figure] = data.strip()
        self._figure = None

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._row = None


def figures_of(html: str) -> _Figures:
    parser = _Figures()
    parser.feed(html)
    return parser


@pytest.fixture
def seeded(db_url: str, make_client: Callable[..., FlaskClient]) -> FlaskClient:
    """A service on the seeded ledger."""
    engine = make_engine(db_url)
    try:
        seed(engine)
    finally:
        engine.dispose()
    return make_client(database_url=db_url)


def _page(client: FlaskClient, query: str = "") -> str:
    response = client.get(f"{PAGE}{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def _rate(accepted: int, overridden: int) -> str:
    return f"{overridden / (accepted + overridden) * 100:.1f} %" if accepted + overridden else "—"


def test_the_figures_are_the_summary_s(seeded: FlaskClient) -> None:
    summary = seeded.get("/feedback/summary").get_json()["recommendations"]
    page = figures_of(_page(seeded))
    with_data = {row["id"]: row for row in summary
                 if row["issued"] or row["accepted"] or row["overridden"]}
    assert set(page.rows) == set(with_data) == {MRI, BIOPSY, NTRK, "unknown"}
    for rec_id, row in with_data.items():
        shown = page.rows[rec_id]
        assert shown["accepted"] == str(row["accepted"]), rec_id
        assert shown["overridden"] == str(row["overridden"]), rec_id
        assert shown["override-rate"] == _rate(row["accepted"], row["overridden"]), rec_id
        if rec_id != "unknown":
            assert shown["issued"] == str(row["issued"]), rec_id
    # Cards without any feedback are counted apart from the rate.
    assert {rec: page.rows[rec]["without-feedback"] for rec in (MRI, BIOPSY, NTRK)} == \
        {MRI: "0", BIOPSY: "1", NTRK: "0"}
    assert page.rows[MRI]["override-rate"] == "66.7 %"  # 4 ÷ (2 + 4)
    assert page.rows[BIOPSY]["override-rate"] == "0.0 %"
    assert page.totals == {"issued": "8", "accepted": "3", "overridden": "5",
                           "override-rate": "62.5 %", "without-feedback": "1"}


def test_version_filter(seeded: FlaskClient) -> None:
    old = figures_of(_page(seeded, f"?version={OLD}"))
    # The ledger's version-less card (before migration 0002) and unknown cards are left out.
    assert set(old.rows) == {MRI, BIOPSY}
    assert (old.rows[MRI]["issued"], old.rows[MRI]["accepted"], old.rows[MRI]["overridden"]) \
        == ("3", "1", "2")
    assert (old.rows[BIOPSY]["issued"], old.rows[BIOPSY]["accepted"]) == ("1", "1")
    new = figures_of(_page(seeded, f"?version={NEW}"))
    assert (new.rows[MRI]["issued"], new.rows[MRI]["accepted"], new.rows[MRI]["overridden"]) \
        == ("2", "1", "2")
    assert new.rows[BIOPSY]["without-feedback"] == "1"
    never = _page(seeded, "?version=9.9.9")
    assert figures_of(never).rows == {} and 'id="no-cards"' in never
    # The form offers the versions the ledger holds, newest first.
    html = _page(seeded)
    assert html.index(f"<option>{NEW}</option>") < html.index(f"<option>{OLD}</option>")


def test_date_range_is_of_utc_days_of_issue_inclusive(seeded: FlaskClient) -> None:
    # 2026-W53: c-3 at its first second and c-4 at 23:30 UTC on the Sunday (00:30 at +01:00 on
    # the Monday, which a local-time reading would put in 2027-W01).
    week = figures_of(_page(seeded, "?from=2026-12-28&to=2027-01-03"))
    assert (week.rows[MRI]["issued"], week.rows[MRI]["accepted"], week.rows[MRI]["overridden"]) \
        == ("2", "1", "2")
    assert BIOPSY not in week.rows
    assert week.rows["unknown"]["overridden"] == "1"  # its feedback was given on 2026-12-29
    one_day = figures_of(_page(seeded, "?from=2026-12-27&to=2026-12-27&version="))
    assert one_day.rows[MRI]["issued"] == "1"  # card-uuid-2 at 23:59:59 UTC
    since = figures_of(_page(seeded, "?from=2027-01-04"))
    assert since.rows[MRI]["issued"] == "1" and since.rows[BIOPSY]["issued"] == "1"
    assert "unknown" not in since.rows


def test_weekly_trend_by_iso_week_in_utc(seeded: FlaskClient, db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine)() as session:
            weeks = weekly(session, [MRI, BIOPSY, NTRK, "sts-wide-excision"])
            narrowed = weekly(session, [MRI], Scope(knowledge_version=NEW))
    finally:
        engine.dispose()

    def rows(rec_id: str, of: dict[str, Any] = weeks) -> list[tuple[str, int, int, int]]:
        return [(w.week, w.issued, w.accepted, w.overridden) for w in of[rec_id]]

    assert rows(MRI) == [("2026-W52", 2, 1, 1), ("2026-W53", 2, 1, 2), ("2027-W01", 1, 0, 1)]
    assert rows(BIOPSY) == [("2026-W52", 1, 1, 0), ("2026-W53", 0, 0, 0), ("2027-W01", 1, 0, 0)]
    assert rows(NTRK) == [("2026-W45", 1, 0, 1)]
    assert "sts-wide-excision" not in weeks
    assert rows(MRI, narrowed) == [("2026-W53", 1, 1, 1), ("2027-W01", 1, 0, 1)]
    # The weeks label the trend charts' axes.
    html = _page(seeded)
    for week in ("2026-W52", "2026-W53", "2027-W01", "2026-W45"):
        assert f">{week}<" in html


def test_the_page_holds_aggregates_only(seeded: FlaskClient) -> None:
    html = _page(seeded)
    for private in (PATIENT_ID, PATIENT_HASH, "comment on", "card-uuid-", "hook-dash-1"):
        assert private not in html
    # The override reasons given are shown, by display and code.
    assert "Already done elsewhere (already-done)" in html
    assert "Patient declined (patient-declined)" in html


def test_a_real_call_s_cards_and_patient_never_reach_the_page(
    make_client: Callable[..., FlaskClient], db_url: str
) -> None:
    engine = make_engine(db_url)  # PostgreSQL: the service never migrates by itself
    try:
        create_schema(engine)
    finally:
        engine.dispose()
    client = make_client(database_url=db_url, today="2026-11-22")
    call = scenario_request("pecoma-lung-metastases-doxorubicin", "order-sign.json")
    cards = client.post("/cds-services/sts-order-sign", json=call).get_json()["cards"]
    assert cards
    feedback = {"feedback": [{"card": cards[0]["uuid"], "outcome": "overridden",
                              "outcomeTimestamp": "2026-11-22T10:00:00Z"}]}
    assert client.post("/cds-services/sts-order-sign/feedback", json=feedback).status_code == 200
    html = _page(client)
    rec_id = cards[0]["source"]["topic"]["code"]
    assert figures_of(html).rows[rec_id]["overridden"] == "1"
    assert call["context"]["patientId"] not in html
    for card in cards:
        assert card["uuid"] not in html
        assert card["summary"] not in html
        assert card["detail"].split("\n")[0] not in html


def test_the_page_is_strict_html_readable_on_a_phone(seeded: FlaskClient) -> None:
    response = seeded.get(PAGE)
    page = check_page(response.get_data(as_text=True))
    assert page.problems == []
    assert {"name": "viewport", "content": "width=device-width, initial-scale=1"} in page.metas
    assert page.counts.get("svg", 0) >= 4 and "script" not in page.counts
    # Nothing is fetched from anywhere, nothing runs.
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert response.headers["Cache-Control"] == "no-store"
    assert not any(href.startswith(("http:", "https:", "//")) for href in page.hrefs)


def test_an_empty_ledger_says_so(make_client: Callable[..., FlaskClient]) -> None:
    html = _page(make_client())
    assert 'id="no-cards"' in html and check_page(html).problems == []


@pytest.mark.parametrize(("query", "parameter"), [
    ("?version=1.0.0;drop", "version"),
    ("?version=" + "1" * 40, "version"),
    ("?from=2026-13-01", "from"),
    ("?from=20261201", "from"),
    ("?to=yesterday", "to"),
    ("?from=2026-12-02&to=2026-12-01", "from"),
    ("?from=2026-12-01&from=2026-12-02", "from"),
    ("?since=2026-12-01", "since"),
])
def test_bad_query_parameters_are_a_400_operation_outcome(
    make_client: Callable[..., FlaskClient], query: str, parameter: str
) -> None:
    response = make_client().get(f"{PAGE}{query}")
    assert response.status_code == 400
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert [(issue["code"], issue["expression"]) for issue in body["issue"]] == \
        [("invalid", [parameter])]


def test_an_operator_endpoint(make_client: Callable[..., FlaskClient], settings: Settings) -> None:
    unset = make_client()
    assert unset.get(PAGE, base_url="http://localhost:8080").status_code == 200
    client = make_client(admin_bind="127.0.0.1:9091")
    public = client.get(PAGE, base_url="http://localhost:8080")
    assert public.status_code == 404
    assert public.get_json()["issue"][0]["code"] == "not-found"
    assert client.get(f"{PAGE}?version=1.0.0", base_url="http://localhost:8080").status_code \
        == 404
    assert client.get(PAGE, base_url="http://localhost:9091").status_code == 200
