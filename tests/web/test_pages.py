"""The recommendation pages (contract.md "Other endpoints"; the issue "Recommendation pages")."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient
from markupsafe import escape

from cds_service.cards import CardRenderer
from cds_service.guidelines.catalogue import load_catalogue
from cds_service.guidelines.recommendation import Recommendation
from cds_service.guidelines.wording import Wording
from cds_service.guidelines.wording import placeholders
from cds_service.identifiers import EXTENSION_KEY
from cds_service.identifiers import OVERRIDE_REASON_SYSTEM
from cds_service.identifiers import RECOMMENDATION_SYSTEM
from cds_service.state import service_state
from cds_service.web.markdown import render_markdown
from cds_service.web.pages import literal_text
from tests.common import scenario_request
from tests.web.html_check import check_page

CATALOGUE = load_catalogue()
IDS = CATALOGUE.ids
HOOK_LABELS = {"patient-view": "Chart opened (patient-view)",
               "order-select": "Order selected (order-select)",
               "order-sign": "Order about to be signed (order-sign)"}
PAGES = ["/recommendations", *(f"/recommendations/{rec_id}" for rec_id in IDS),
         "/recommendations/no-such-recommendation", "/recommendations/validation"]


def _html(client: FlaskClient, path: str, status: int = 200) -> str:
    response = client.get(path)
    assert response.status_code == status, path
    assert response.mimetype == "text/html"
    assert response.mimetype_params.get("charset") == "utf-8"
    return response.get_data(as_text=True)


def _h1(html: str) -> str:
    match = re.search(r"<h1>(.*?)</h1>", html, re.S)
    assert match, "no <h1>"
    return match.group(1)


def test_the_catalogue_has_31_recommendations() -> None:
    assert len(IDS) == 31


def test_index_links_every_recommendation_in_catalogue_order(client: FlaskClient) -> None:
    html = _html(client, "/recommendations")
    links = re.findall(r'href="/recommendations/([^"]+)"', html)
    assert [link for link in links if link != "validation"] == list(IDS)
    assert links.count("validation") == 1  # the validation report, beside the catalogue
    assert _h1(html) == CATALOGUE.name


def test_index_groups_by_section_with_hooks_and_indicators(client: FlaskClient) -> None:
    html = _html(client, "/recommendations")
    sections = re.findall(r"<h2>(.*?)</h2>", html)
    expected = list(dict.fromkeys(spec.section for spec in CATALOGUE))
    assert [s for s in sections if s in expected] == expected
    for spec in CATALOGUE:
        entry = html.split(f'href="/recommendations/{spec.id}">', 1)[1].split("</li>", 1)[0]
        assert entry.startswith(str(escape(spec.title)))
        assert f"<code>{spec.id}</code>" in entry
        for hook in spec.hooks:
            assert HOOK_LABELS[hook.value] in entry
        for indicator in spec.indicators:
            assert f">{indicator.value}</span>" in entry


def test_index_names_the_knowledge_base_sources_and_identifiers(client: FlaskClient) -> None:
    html = _html(client, "/recommendations")
    assert len(CATALOGUE.sources) == 5
    for source in CATALOGUE.sources.values():
        assert str(escape(source.title)) in html
    for identifier in (RECOMMENDATION_SYSTEM, OVERRIDE_REASON_SYSTEM, EXTENSION_KEY):
        assert f"<code>{identifier}</code>" in html


def test_index_answers_with_a_trailing_slash_too(client: FlaskClient) -> None:
    assert _html(client, "/recommendations/") == _html(client, "/recommendations")


@pytest.mark.parametrize("rec_id", IDS)
def test_recommendation_page(client: FlaskClient, rec_id: str) -> None:
    spec = CATALOGUE.get(rec_id)
    assert spec is not None
    html = _html(client, f"/recommendations/{rec_id}")
    assert _h1(html) == str(escape(spec.title))
    assert f"<code>{rec_id}</code>" in html
    assert f"<dd>{escape(spec.section)}</dd>" in html
    assert ", ".join(HOOK_LABELS[hook.value] for hook in spec.hooks) in html
    assert "<h2>When it fires</h2>" in html and str(render_markdown(spec.fires_when)) in html
    assert "<h2>What it recommends</h2>" in html and str(render_markdown(spec.recommends)) in html
    assert 'href="/recommendations"' in html


@pytest.mark.parametrize("rec_id", IDS)
def test_recommendation_page_shows_evidence_and_every_source(client: FlaskClient,
                                                             rec_id: str) -> None:
    spec = CATALOGUE.get(rec_id)
    assert spec is not None
    wording = service_state(client.application).guidance.renderer.knowledge.wording
    html = _html(client, f"/recommendations/{rec_id}")
    evidence = html.split("<h2>Evidence</h2>", 1)[1].split("<h2>", 1)[0]
    assert str(render_markdown(literal_text(wording[rec_id].evidence))) in evidence
    sources = html.split("<h2>Sources</h2>", 1)[1].split("<h2>", 1)[0]
    # Issue 17: each source is cited in full under the document's own title (the catalogue's
    # label, which cards show, may add the journal or site).
    provenance = service_state(client.application).guidance.renderer.provenance
    titles = [f"<cite>{escape(provenance.sources[key].title)}</cite>" for key in spec.sources]
    positions = [sources.index(title) for title in titles]
    assert positions == sorted(positions)  # primary source first, then catalogue order
    assert sources.count("(primary source)") == 1
    assert sources.index("(primary source)") < (positions[1:] or [len(sources)])[0]


@pytest.mark.parametrize("path", ["/recommendations/no-such-recommendation",
                                  "/recommendations/sts-reexcision/extra",
                                  "/recommendations/STS-REEXCISION"])
def test_unknown_recommendation_is_an_html_404_with_a_way_back(client: FlaskClient,
                                                               path: str) -> None:
    html = _html(client, path, status=404)
    assert _h1(html) == "Recommendation not found"
    assert 'href="/recommendations"' in html


def test_an_unknown_id_is_echoed_escaped(client: FlaskClient) -> None:
    html = _html(client, "/recommendations/%3Cscript%3Ealert(1)%3C%2Fscript%3E", status=404)
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)" in html


def test_other_urls_keep_the_api_error_format(client: FlaskClient) -> None:
    # contract.md "Errors": the API answers OperationOutcomes, never HTML.
    response = client.get("/no-such-endpoint")
    assert response.status_code == 404 and response.is_json
    assert response.get_json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("path", PAGES)
def test_pages_are_valid_html_readable_on_a_phone(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    page = check_page(response.get_data(as_text=True))
    assert page.problems == []
    assert page.doctype is not None and page.doctype.lower() == "doctype html"
    assert page.html_lang == "en"
    assert {"charset": "utf-8"} in page.metas
    assert {"name": "viewport", "content": "width=device-width, initial-scale=1"} in page.metas
    assert page.counts.get("h1") == 1
    assert page.counts.get("title") == 1 and page.title.strip()
    assert "script" not in page.counts
    assert not [href for href in page.hrefs if href.lower().startswith("javascript:")]
    assert "script-src" not in response.headers["Content-Security-Policy"]
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")


def _fill(rec_id: str, wording: Wording) -> Recommendation:
    """A recommendation of ``rec_id`` whose every wording placeholder has a value."""
    variant = next(iter(wording.summary))
    names: set[str] = set()
    for template in (wording.summary[variant], wording.detail[variant], wording.evidence):
        names |= placeholders(template)
    spec = CATALOGUE.get(rec_id)
    assert spec is not None
    return Recommendation(id=rec_id, indicator=spec.indicators[0], subject="Condition/c1",
                          variant=variant, values=dict.fromkeys(names, "x"))


@pytest.mark.parametrize("rec_id", IDS)
def test_card_links_and_source_url_resolve_to_the_pages(client: FlaskClient, rec_id: str) -> None:
    # contract.md "Cards": source.url is the index page, links[] the recommendation's own page.
    renderer: CardRenderer = service_state(client.application).guidance.renderer
    rec = _fill(rec_id, renderer.knowledge.wording[rec_id])
    card = renderer.render(rec, base_url="https://cds.example.org", patient_id="p1")
    assert card.source.url is not None and card.source.topic is not None and card.links
    assert urlsplit(card.source.url).path == "/recommendations"
    assert _h1(_html(client, urlsplit(card.source.url).path)) == CATALOGUE.name
    for link in card.links:
        assert urlsplit(link.url).path == f"/recommendations/{rec_id}"
        assert _h1(_html(client, urlsplit(link.url).path)) == str(escape(card.source.topic.display))


def test_cards_of_a_hook_call_link_to_pages_that_exist(client: FlaskClient) -> None:
    body = scenario_request("pecoma-broad-ligament-resected", "patient-view.json")
    response = client.post("/cds-services/sts-patient-view", json=body)
    assert response.status_code == 200
    cards = response.get_json()["cards"]
    assert cards
    for card in cards:
        assert card["source"]["url"] == "http://localhost/recommendations"
        (link,) = card["links"]
        assert link["type"] == "absolute"
        assert link["url"] == f"http://localhost/recommendations/{card['source']['topic']['code']}"
        assert client.get(urlsplit(link["url"]).path).status_code == 200
