"""Every card and the discovery document name the knowledge base that produced them (contract.md
"Cards"; recommendations.md "Knowledge-base version"), and each card's detail cites its sources in
full with the recommendation's review status (issue 17)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from cds_service.app import create_app
from cds_service.guidelines.versioning import KnowledgeVersion
from cds_service.identifiers import EXTENSION_KEY
from cds_service.settings import Settings
from cds_service.state import service_state
from tests.common import scenario_request

SCENARIO = "ascmn-resected-mri-overdue"  # today 2026-11-22: cards on patient-view and order-sign


def _version(app: Flask) -> KnowledgeVersion:
    version: KnowledgeVersion = service_state(app).guidance.renderer.version
    return version


def test_discovery_names_the_knowledge_base_on_every_service(client: FlaskClient) -> None:
    version = _version(client.application)
    services = client.get("/cds-services").get_json()["services"]
    assert len(services) == 3
    for service in services:
        assert service["extension"] == {EXTENSION_KEY: {"knowledgeBase": {
            "name": "Soft-Tissue Tumour Guidance Knowledge Base",
            "version": version.version, "contentHash": version.content_hash}}}
    assert version.version == version.changelog.versions[0].version


def _cards(tmp_path: Any, hook: str, service: str) -> tuple[Flask, list[dict[str, Any]]]:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'cds.sqlite3'}",
                              today=dt.date(2026, 11, 22)))
    response = app.test_client().post(f"/cds-services/{service}",
                                      json=scenario_request(SCENARIO, f"{hook}.json"))
    assert response.status_code == 200
    cards: list[dict[str, Any]] = response.get_json()["cards"]
    assert cards
    return app, cards


def test_every_card_names_the_version_and_hash_in_its_explanation(tmp_path: Any) -> None:
    for hook, service in (("patient-view", "sts-patient-view"), ("order-sign", "sts-order-sign")):
        app, cards = _cards(tmp_path, hook, service)
        try:
            version = _version(app)
            for card in cards:
                explanation = card["extension"][EXTENSION_KEY]
                assert explanation["knowledgeBase"] == {"version": version.version,
                                                        "contentHash": version.content_hash}
                assert explanation["recommendationId"] == card["source"]["topic"]["code"]
        finally:
            service_state(app).close()


def test_every_card_detail_cites_its_sources_in_full_and_says_it_is_a_draft(tmp_path: Any) -> None:
    app, cards = _cards(tmp_path, "patient-view", "sts-patient-view")
    try:
        renderer = service_state(app).guidance.renderer
        for card in cards:
            rec_id = card["source"]["topic"]["code"]
            spec = renderer.catalogue.get(rec_id)
            sources = card["detail"].split("**Sources**", 1)[1]
            for key in spec.sources:
                assert f"- {renderer.provenance.sources[key].line()}" in sources
            role = renderer.provenance.of(rec_id).review.reviewer_role
            assert (f"**Review:** Draft: not yet reviewed and signed off by a clinical reviewer "
                    f"({role})") in sources
            assert len(card["summary"]) < 140
    finally:
        service_state(app).close()


def test_the_ilms_and_ntrk_citations_carry_what_their_documents_give() -> None:
    from cds_service.guidelines.catalogue import load_catalogue
    from cds_service.guidelines.provenance import load_provenance

    provenance = load_provenance(load_catalogue())
    assert provenance.sources["ILMS"].line() == (
        "*Inflammatory leiomyosarcoma* (Diego M. Montoya-Cerrillo, Jaylou M. Velez-Torres; "
        "PathologyOutlines.com; 2024-03-21; https://www.pathologyoutlines.com/topic/"
        "softtissueinflammatoryleiomyosarcoma.html). " + provenance.sources["ILMS"].kind + ".")
    assert provenance.sources["ASCMN"].line().startswith(
        "*Treatment Approach for Atypical Spindle Cell Mesenchymal Neoplasm* (no author, "
        "publisher, date or address given). Evidence summary")
