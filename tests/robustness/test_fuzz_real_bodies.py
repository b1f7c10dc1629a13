"""Real hook bodies of every fhir_fixtures scenario, changed at any depth: never a 5xx, and never
a 200 from a prefetched Bundle whose shape is broken (contract.md, Errors).

Mutating 6,000 real bodies found 34 × 500 (a prefetched Bundle whose ``entry`` was a number) and
Bundles whose ``entry`` was a string answered 200 with no cards: generated bodies had missed both,
because they never put a wrong value in the places real records have structure. So here the
starting point is each scenario's real call, and each change picks a depth first, then a node at
that depth, so that ``prefetch.<key>.entry`` is changed as often as a deep coding is.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck
from hypothesis import event
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from cds_service.app import create_app
from cds_service.settings import Settings
from cds_service.state import service_state
from tests.common import FIXTURES_DIR
from tests.common import load_json
from tests.common import scenario_request
from tests.robustness.strategies import broken_bundle_keys

JsonPath = tuple[str | int, ...]

TODAY = dt.date(2026, 11, 22)
SERVICE_BY_HOOK = {"patient-view": "sts-patient-view", "order-select": "sts-order-select",
                   "order-sign": "sts-order-sign"}
MAX_DEPTH = 9
"""Deepest level changed (``prefetch.k.entry[0].resource.code.coding[0].system`` is 7)."""


def _real_calls() -> list[tuple[str, str, dict[str, Any]]]:
    calls = []
    for manifest_file in sorted(FIXTURES_DIR.glob("*/manifest.json")):
        folder = manifest_file.parent.name
        for call in load_json(manifest_file)["calls"]:
            calls.append((folder, SERVICE_BY_HOOK[call["hook"]],
                          scenario_request(folder, call["request"])))
    return calls


REAL_CALLS = _real_calls()

REPLACEMENTS = st.one_of(
    st.integers(-2, 10**20), st.booleans(), st.none(), st.floats(allow_nan=False),
    st.sampled_from(["", "x", "Bundle", "OperationOutcome", "Patient/1", "2026-01-01"]),
    st.just({}), st.just([]), st.just({"resourceType": "Bundle"}),
)
"""What a change puts in a node's place: every JSON type, empty containers, telling strings."""


def _paths(value: Any, path: JsonPath = ()) -> Iterator[JsonPath]:
    yield path
    if len(path) >= MAX_DEPTH:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*path, index))


def _parent(body: Any, path: JsonPath) -> Any:
    for step in path[:-1]:
        body = body[step]
    return body


@st.composite
def mutated_bodies(draw: st.DrawFn) -> tuple[str, dict[str, Any], list[str]]:
    """A real call with 1-4 changes: replaced, removed, duplicated or wrapped nodes."""
    scenario, service_id, call = draw(st.sampled_from(REAL_CALLS))
    body = copy.deepcopy(call)
    changes = []
    for _ in range(draw(st.integers(1, 4))):
        by_depth: dict[int, list[JsonPath]] = {}
        for path in _paths(body):
            if path:
                by_depth.setdefault(len(path), []).append(path)
        depth = draw(st.sampled_from(sorted(by_depth)))
        path = draw(st.sampled_from(by_depth[depth]))
        parent, last = _parent(body, path), path[-1]
        action = draw(st.sampled_from(("replace", "replace", "remove", "duplicate", "wrap")))
        if action == "replace":
            parent[last] = copy.deepcopy(draw(REPLACEMENTS))
        elif action == "remove":
            del parent[last]
        elif action == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[last]))
        else:
            parent[last] = [parent[last]]
        changes.append(f"{action} {'.'.join(map(str, path))}")
    event(f"depth {min(len(c.split()[1].split('.')) for c in changes)}")
    return service_id, body, [scenario, *changes]


@pytest.fixture(scope="module")
def real_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The service with default limits; every FHIR request fails to connect."""
    root: Path = tmp_path_factory.mktemp("real-fuzz")
    app = create_app(Settings(database_url=f"sqlite:///{root / 'cds.sqlite3'}", today=TODAY))
    with responses.RequestsMock(assert_all_requests_are_fired=False):
        yield app
    service_state(app).close()


@pytest.fixture(scope="module")
def real_client(real_app: Flask) -> FlaskClient:
    """A client of ``real_app``."""
    return real_app.test_client()


def test_every_scenario_call_is_a_starting_point() -> None:
    assert len(REAL_CALLS) >= 40
    assert {service for _, service, _ in REAL_CALLS} == set(SERVICE_BY_HOOK.values())
    assert all(broken_bundle_keys(call) == [] for _, _, call in REAL_CALLS)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated=mutated_bodies())
def test_mutated_real_bodies_never_500_nor_200_from_a_broken_bundle(
    real_client: FlaskClient, mutated: tuple[str, dict[str, Any], list[str]],
) -> None:
    service_id, body, changes = mutated
    response = real_client.post(f"/cds-services/{service_id}", data=json.dumps(body),
                                content_type="application/json")
    text = response.get_data(as_text=True)
    event(f"HTTP {response.status_code}")
    assert response.status_code in (200, 400, 412), (changes, text[:600])
    assert response.content_type == "application/json" and "Traceback" not in text
    broken = broken_bundle_keys(body)
    if broken:
        assert response.status_code == 400, (changes, broken, text[:600])
    if response.status_code != 200:
        assert response.get_json()["resourceType"] == "OperationOutcome", changes


BROKEN_ENTRIES = [3, 0, True, "entries", {"resource": {}}, None, [1], ["x"], [None],
                  [{"resource": "Condition/1"}], [{"resource": [1]}], [{"fullUrl": "urn:x"}]]


@pytest.mark.parametrize("entry", BROKEN_ENTRIES, ids=[json.dumps(e) for e in BROKEN_ENTRIES])
@pytest.mark.parametrize(("scenario", "request_file", "key"), [
    ("sts-thigh-high-grade-r1", "patient-view.json", "conditions"),
    ("pecoma-lung-metastases-doxorubicin", "order-select.json", "observations"),
    ("pathological-fracture-femur", "order-sign.json", "procedures"),
])
def test_a_broken_prefetched_bundle_is_a_400_naming_it(
    real_client: FlaskClient, scenario: str, request_file: str, key: str, entry: Any,
) -> None:
    """Each shape the mutation found (number, boolean, string, object, non-object entries and
    resources) is refused by its JSON path, on every hook, never read as "nothing on record"."""
    call = scenario_request(scenario, request_file)
    call["prefetch"][key]["entry"] = entry
    service_id = SERVICE_BY_HOOK[call["hook"]]

    response = real_client.post(f"/cds-services/{service_id}", json=call)

    body = response.get_json()
    assert response.status_code == 400, body
    assert body["resourceType"] == "OperationOutcome"
    (issue,) = body["issue"]
    assert issue["code"] == "invalid"
    path = issue["expression"][0]
    assert path.startswith(f"prefetch.{key}.entry") and path in issue["diagnostics"]
    if isinstance(entry, list):
        assert path.startswith(f"prefetch.{key}.entry[0]")


def test_a_bundle_without_entries_is_still_an_empty_searchset(real_client: FlaskClient) -> None:
    """Absent ``entry`` is how servers send zero matches: no data, read as before."""
    call = scenario_request("sts-thigh-high-grade-r1", "patient-view.json")
    del call["prefetch"]["medicationStatements"]["entry"]
    response = real_client.post("/cds-services/sts-patient-view", json=call)
    assert response.status_code == 200
    ids = {card["source"]["topic"]["code"] for card in response.get_json()["cards"]}
    assert "sts-reexcision" in ids
