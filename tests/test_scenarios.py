"""Every scenario manifest in fhir_fixtures/, replayed through the HTTP API as an EHR would."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from flask import Flask

from cds_service.app import create_app
from cds_service.hooks.services import PREFETCH
from cds_service.identifiers import EXTENSION_KEY
from cds_service.settings import Settings
from cds_service.state import service_state
from tests.common import FIXTURES_DIR
from tests.common import load_json
from tests.common import scenario_request

SERVICE_BY_HOOK = {"patient-view": "sts-patient-view", "order-select": "sts-order-select",
                   "order-sign": "sts-order-sign"}


def _calls() -> list[tuple[str, str, dict[str, Any]]]:
    calls = []
    for folder in sorted(FIXTURES_DIR.iterdir()):
        manifest_file = folder / "manifest.json"
        if manifest_file.exists():
            manifest = load_json(manifest_file)
            calls += [(folder.name, manifest["today"], call) for call in manifest["calls"]]
    return calls


CALLS = _calls()


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Flask]]:
    """One app per ``today`` the manifests use (CDS_TODAY is fixed per app)."""
    built: dict[str, Flask] = {}
    root: Path = tmp_path_factory.mktemp("scenarios")
    for today in sorted({today for _, today, _ in CALLS}):
        settings = Settings(database_url=f"sqlite:///{root / today}.sqlite3",
                            today=dt.date.fromisoformat(today))
        built[today] = create_app(settings)
    yield built
    for app in built.values():
        service_state(app).close()


def _card_ids(body: dict[str, Any]) -> list[str]:
    return [card["source"]["topic"]["code"] for card in body["cards"]]


@pytest.mark.parametrize(("scenario", "today", "call"), CALLS,
                         ids=[f"{s}:{c['request']}" for s, _, c in CALLS])
def test_scenario_call(apps: dict[str, Flask], scenario: str, today: str,
                       call: dict[str, Any]) -> None:
    request = scenario_request(scenario, call["request"])
    response = apps[today].test_client().post(f"/cds-services/{SERVICE_BY_HOOK[call['hook']]}",
                                              json=request)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    fired = _card_ids(body)

    assert set(call["must"]) - set(fired) == set(), f"missing cards; got {fired}"
    assert set(call["must_not"]) & set(fired) == set(), f"unexpected cards; got {fired}"
    for rec_id, indicator in call.get("indicators", {}).items():
        shown = {c["indicator"] for c in body["cards"] if c["source"]["topic"]["code"] == rec_id}
        assert shown == {indicator}, rec_id
    for rec_id, subjects in call.get("subjects", {}).items():
        about = {c["extension"][EXTENSION_KEY]["subject"] for c in body["cards"]
                 if c["source"]["topic"]["code"] == rec_id}
        assert about == set(subjects), rec_id
    if call.get("unreadable"):
        assert body["extension"][EXTENSION_KEY]["unreadableResources"] == call["unreadable"]


FHIR = "https://fhir.example.org/r4"


@pytest.mark.parametrize(("scenario", "today", "call"), CALLS,
                         ids=[f"{s}:{c['request']}" for s, _, c in CALLS])
def test_a_record_fetched_from_fhir_server_gives_the_same_answer(
    apps: dict[str, Flask], scenario: str, today: str, call: dict[str, Any],
) -> None:
    # Fetched pages are filtered as they arrive (every Condition kept, the rest by the same
    # pre-filter the case model applies): the cards must be those of the same record prefetched.
    request = scenario_request(scenario, call["request"])
    service = f"/cds-services/{SERVICE_BY_HOOK[call['hook']]}"
    client = apps[today].test_client()
    prefetched = client.post(service, json=request).get_json()

    patient_id = request["context"]["patientId"]
    empty = {"resourceType": "Bundle", "type": "searchset", "entry": []}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as fhir:
        for key, template in PREFETCH.items():
            value = request["prefetch"].get(key)
            url = f"{FHIR}/" + template.replace("{{context.patientId}}", patient_id)
            fhir.get(url, json=value if value is not None else empty,
                     content_type="application/fhir+json")
        fetched_request = {**request, "fhirServer": FHIR}
        del fetched_request["prefetch"]
        fetched = client.post(service, json=fetched_request).get_json()

    for body in (prefetched, fetched):
        for card in body["cards"]:
            del card["uuid"]
            for suggestion in card.get("suggestions", []):
                del suggestion["uuid"]
    assert fetched == prefetched
