"""Contract "Partial data policy" under fuzzing: a malformed resource costs no card and is named.

A record that fires known cards gets one more resource: a copy of one of its relevant resources
(so it is selected and validated), with a fresh id and broken in a way R4 validation refuses. The
same cards must come back, plus ``case-data-incomplete`` naming it; the response's extension, the
ledger and the log name it too. No blanket try/except may turn that into an empty answer.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck
from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from sqlalchemy import select

from cds_service.app import create_app
from cds_service.feedback.schema import HookCallRecord
from cds_service.fhir.parse import resource_problems
from cds_service.identifiers import EXTENSION_KEY
from cds_service.settings import Settings
from cds_service.state import service_state
from tests.common import ledger_written
from tests.common import scenario_request

JsonObject = dict[str, Any]

SCENARIO = "sts-thigh-high-grade-r1"
TODAY = dt.date(2026, 11, 22)
EXPECTED = ["sts-reexcision", "sts-mri-local-staging", "sts-adjuvant-radiotherapy",
            "sts-surveillance-plan", "sts-specialist-referral"]
"""What the intact record fires (its manifest), in display order (local staging since the R1
excision: revised catalogue, issue 13)."""

RELEVANT = {
    "lms3-cond-lms": ("conditions", "onsetDateTime"),
    "lms3-obs-1": ("observations", "effectiveDateTime"),
    "lms3-obs-2": ("observations", "effectiveDateTime"),
    "lms3-obs-margin": ("observations", "effectiveDateTime"),
    "lms3-proc-excision": ("procedures", "performedDateTime"),
    "lms3-proc-mri": ("procedures", "performedDateTime"),
}
"""Resources the rules read: resource id -> (prefetch key, its date element)."""

not_a_reference = st.integers() | st.text(max_size=20) | st.lists(st.integers(), min_size=1)
not_a_list = st.integers() | st.text(min_size=1, max_size=20) | st.just({"a": 1})
not_a_date = st.sampled_from(["2024-13-01", "2024-02-30", "24-03-02", "yesterday",
                              "2024-03-02T10:00:00", "2024-03-02 10:00"])
BREAKAGES = {
    "subject": not_a_reference,
    "meta": not_a_list,
    "text": st.integers() | st.lists(st.text(), min_size=1),
    "identifier": not_a_list,
    "notAnElement": st.integers() | st.text(),
    "date": not_a_date,
    "extension": st.just([{"valueString": "an extension without its url"}]),
}
"""Element -> values R4 refuses there (the coded elements that make it relevant stay intact)."""


@pytest.fixture(scope="module")
def partial_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The service on the scenario's date."""
    root = tmp_path_factory.mktemp("partial")
    app = create_app(Settings(database_url=f"sqlite:///{root / 'cds.sqlite3'}", today=TODAY))
    yield app
    service_state(app).close()


def _broken_copy(source_id: str, new_id: str, breakages: dict[str, Any]) -> tuple[str, JsonObject]:
    request = scenario_request(SCENARIO, "patient-view.json")
    key, date_element = RELEVANT[source_id]
    bundle = request["prefetch"][key]
    (original,) = [e["resource"] for e in bundle["entry"] if e["resource"]["id"] == source_id]
    broken = copy.deepcopy(original)
    broken["id"] = new_id
    for element, value in breakages.items():
        if element == "date":
            broken[date_element] = value
        elif element == "extension":
            broken["extension"] = [*broken.get("extension", []), *value]
        else:
            broken[element] = value
    return key, broken


def _card_ids(body: JsonObject) -> list[str]:
    return [card["source"]["topic"]["code"] for card in body["cards"]]


def test_the_intact_record_fires_the_expected_cards(partial_app: Flask) -> None:
    """The baseline the fuzzed test compares with."""
    request = scenario_request(SCENARIO, "patient-view.json")
    response = partial_app.test_client().post("/cds-services/sts-patient-view", json=request)
    assert response.status_code == 200
    assert _card_ids(response.get_json()) == EXPECTED
    assert "extension" not in response.get_json()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    source_id=st.sampled_from(sorted(RELEVANT)),
    new_id=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9.\-]{0,30}", fullmatch=True).map(
        lambda s: f"bad-{s}"),
    breakages=st.dictionaries(st.sampled_from(sorted(BREAKAGES)), st.none(), min_size=1,
                              max_size=3).flatmap(lambda chosen: st.fixed_dictionaries(
                                  {name: BREAKAGES[name] for name in chosen})),
    position=st.sampled_from(["first", "last"]),
)
@example(source_id="lms3-cond-lms", new_id="bad-cond", breakages={"subject": 5},
         position="last")
def test_a_malformed_resource_is_skipped_named_and_costs_no_card(
    partial_app: Flask, caplog: pytest.LogCaptureFixture, source_id: str, new_id: str,
    breakages: dict[str, Any], position: str,
) -> None:
    caplog.clear()
    request = scenario_request(SCENARIO, "patient-view.json")
    key, broken = _broken_copy(source_id, new_id, breakages)
    assert resource_problems(broken), "the breakage must make the resource invalid R4"
    entries = request["prefetch"][key]["entry"]
    entries.insert(0 if position == "first" else len(entries), {"resource": broken})
    request["hookInstance"] = str(uuid.uuid4())  # the ledger row of this very call
    ref = f"{broken['resourceType']}/{new_id}"

    response = partial_app.test_client().post("/cds-services/sts-patient-view", json=request)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    cards = _card_ids(body)
    assert [c for c in cards if c != "case-data-incomplete"] == EXPECTED
    assert cards.count("case-data-incomplete") == 1
    (gap,) = [c for c in body["cards"] if c["source"]["topic"]["code"] == "case-data-incomplete"]
    assert ref in gap["detail"]
    assert ref in gap["extension"][EXTENSION_KEY]["references"]
    assert body["extension"][EXTENSION_KEY]["unreadableResources"] == [ref]
    assert any(ref in r.getMessage() and r.levelno >= logging.WARNING for r in caplog.records)
    ledger_written(partial_app)
    sessions = service_state(partial_app).registry.sessions
    with sessions() as session:
        ledger = session.scalars(select(HookCallRecord).where(
            HookCallRecord.hook_instance == request["hookInstance"])).one()
    assert ledger.unreadable_resources == [ref]
