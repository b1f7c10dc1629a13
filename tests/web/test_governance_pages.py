"""The pages a clinical safety board reads (issue 17): sources in full, kinds of evidence, which
source gives each quoted figure, review status said plainly, version and content hash."""

from __future__ import annotations

import html as html_lib
import re

import pytest
from flask.testing import FlaskClient

from cds_service.guidelines.catalogue import load_catalogue
from cds_service.guidelines.provenance import Provenance
from cds_service.guidelines.versioning import KnowledgeVersion
from cds_service.state import service_state
from tests.web.html_check import html5_errors

CATALOGUE = load_catalogue()


def _text(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200
    return _plain(response.get_data(as_text=True))


def _plain(html: str) -> str:
    """The text of ``html``, whitespace collapsed."""
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", "", html)).split())


def _section(client: FlaskClient, path: str, heading: str) -> str:
    page = client.get(path).get_data(as_text=True)
    return page.split(f"<h2>{heading}</h2>", 1)[1].split("<h2>", 1)[0]


def _provenance(client: FlaskClient) -> Provenance:
    provenance: Provenance = \
        service_state(client.application).guidance.renderer.provenance
    return provenance


def _version(client: FlaskClient) -> KnowledgeVersion:
    version: KnowledgeVersion = \
        service_state(client.application).guidance.renderer.version
    return version


@pytest.mark.parametrize("path", ["/recommendations",
                                  *(f"/recommendations/{rec_id}" for rec_id in CATALOGUE.ids)])
def test_every_page_names_the_version_and_content_hash(client: FlaskClient, path: str) -> None:
    version = _version(client)
    page = client.get(path).get_data(as_text=True)
    assert f"Knowledge base version <strong>{version.version}</strong>" in page
    assert f'<code title="{version.content_hash}">{version.short_hash}</code>' in page


def test_the_index_says_plainly_that_the_recommendations_are_drafts(client: FlaskClient) -> None:
    text = _text(client, "/recommendations")
    assert (f"{len(CATALOGUE.ids)} of the {len(CATALOGUE.ids)} recommendations are drafts: they "
            "have not yet been reviewed and signed off by a named clinical reviewer") in text


def test_the_index_cites_each_source_in_full_and_lists_the_changelog(client: FlaskClient) -> None:
    page = client.get("/recommendations").get_data(as_text=True)
    sources = page.split("<h2>Source documents</h2>", 1)[1].split("<h2>", 1)[0]
    assert ('<a href="https://www.pathologyoutlines.com/topic/'
            'softtissueinflammatoryleiomyosarcoma.html">') in sources
    assert "Diego M. Montoya-Cerrillo, Jaylou M. Velez-Torres. PathologyOutlines.com." in sources
    assert '<a href="https://doi.org/10.3892/mco.2023.2610">' in sources
    changelog = page.split("<h2>Changelog</h2>", 1)[1]
    versions = re.findall(r"<h3>Version (\d+\.\d+\.\d+) ", changelog)
    assert versions == [entry.version for entry in _version(client).changelog.versions]
    assert versions[0] == _version(client).version and versions[-1] == "1.0.0"


@pytest.mark.parametrize("rec_id", CATALOGUE.ids)
def test_each_page_shows_its_review_block(client: FlaskClient, rec_id: str) -> None:
    review = _provenance(client).of(rec_id).review
    text = _text(client, f"/recommendations/{rec_id}")
    assert ("Draft. This recommendation has not yet been reviewed and signed off by a clinical "
            f"reviewer ({review.reviewer_role}).") in text
    block = _plain(_section(client, f"/recommendations/{rec_id}", "Review"))
    assert "draft: not yet signed off by a named clinical reviewer" in block
    assert review.reviewer_role in block
    assert f"Next review due {review.next_review_due.isoformat()}" in block


@pytest.mark.parametrize("rec_id", CATALOGUE.ids)
def test_each_page_gives_each_sources_kind_of_evidence_for_it(client: FlaskClient,
                                                               rec_id: str) -> None:
    provenance = _provenance(client)
    sources = html_lib.unescape(_section(client, f"/recommendations/{rec_id}", "Sources"))
    for item in provenance.of(rec_id).evidence:
        assert f"Kind of evidence: {provenance.sources[item.source].kind}." in sources
        assert f"For this recommendation: {item.kind}." in sources


@pytest.mark.parametrize(("rec_id", "figure", "source"), [
    ("sts-recurrence-intensify", "HR 8.4",
     "Correlation Between Soft Tissue Tumor Recurrence and Distant Metastasis, its reference 1"),
    ("sts-recurrence-intensify", "HR 3.4",
     "Correlation Between Soft Tissue Tumor Recurrence and Distant Metastasis, its reference 1"),
    ("sts-reexcision", "33 %",
     "Correlation Between Soft Tissue Tumor Recurrence and Distant Metastasis, its reference 2"),
    ("sts-surveillance-plan", "12–13 %",
     "Treatment Approach for Atypical Spindle Cell Mesenchymal Neoplasm, its reference 3"),
    ("ascmn-no-systemic-therapy", "17 years",
     "Treatment Approach for Atypical Spindle Cell Mesenchymal Neoplasm, its reference 3"),
    ("ntrk-rna-ngs", "six patients",
     "Case Series of NTRK-Rearranged Spindle Cell Neoplasms Offers Clinical Insights"),
])
def test_a_quoted_figure_names_the_source_that_gives_it(client: FlaskClient, rec_id: str,
                                                        figure: str, source: str) -> None:
    table = html_lib.unescape(_section(client, f"/recommendations/{rec_id}",
                                       "Figures quoted and where they come from"))
    rows = re.findall(r"<tr><td>(.*?)</td><td>.*?</td><td>(.*?)</td></tr>", table)
    assert (figure, source) in [(cell, where) for cell, where in rows if cell == figure] or \
        any(cell == figure and where.startswith(source) for cell, where in rows), rows


@pytest.mark.parametrize("rec_id", ["sts-wide-excision", "pecoma-risk-stratification"])
def test_each_page_lists_the_changes_that_concern_it(client: FlaskClient, rec_id: str) -> None:
    changes = html_lib.unescape(_section(client, f"/recommendations/{rec_id}", "Changes"))
    for version, change in _version(client).changelog.for_recommendation(rec_id):
        assert f"<li><strong>{version}</strong>: {change}</li>" in changes
    if rec_id == "pecoma-risk-stratification":
        assert "PEComa risk features stated in the diagnosis" in changes
    else:
        assert "PEComa risk features" not in changes


@pytest.mark.parametrize(("html", "problem"), [
    ("<table><tr><td>a</td></tr><p>b</p></table>", "table context"),
    ("<p>a<ul><li>b</li></ul></p>", "Unexpected end tag (p)"),
])
def test_the_html5lib_strict_check_catches_what_a_browser_would_repair(html: str,
                                                                       problem: str) -> None:
    page = f"<!doctype html><html lang=en><head><title>t</title></head><body>{html}</body></html>"
    errors = html5_errors(page)
    assert errors and problem in errors[0]
    ok = "<!doctype html><html lang=en><head><title>t</title></head><body><p>a</p></body></html>"
    assert html5_errors(ok) == []
