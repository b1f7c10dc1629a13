"""Provenance data (issue 17): validated at start-up, a broken file stops the service clearly."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cds_service.app import create_app
from cds_service.guidelines import provenance as provenance_module
from cds_service.guidelines.catalogue import CatalogueError
from cds_service.guidelines.catalogue import load_catalogue
from cds_service.guidelines.provenance import PROVENANCE_FILE
from cds_service.guidelines.provenance import ReviewStatus
from cds_service.guidelines.provenance import load_provenance
from cds_service.guidelines.wording import load_knowledge
from cds_service.settings import Settings

CATALOGUE = load_catalogue()
SHIPPED = load_provenance(CATALOGUE)
Data = dict[str, Any]


def _shipped_data() -> Data:
    data: Data = tomllib.loads(PROVENANCE_FILE.read_text(encoding="utf-8"))
    return data


def _write(tmp_path: Path, data: Data) -> Path:
    """``data`` as TOML (the subset this file uses: tables, arrays of tables, strings, dates)."""
    import json

    def value(item: Any) -> str:
        if isinstance(item, dict):
            return "{ " + ", ".join(f"{json.dumps(k)} = {value(v)}" for k, v in item.items()) + " }"
        if isinstance(item, list):
            return "[" + ", ".join(value(v) for v in item) + "]"
        if isinstance(item, str):
            return json.dumps(item, ensure_ascii=False)
        if isinstance(item, bool):
            return "true" if item else "false"
        return str(item)  # dates and numbers

    lines = []
    for group in ("sources", "recommendations"):
        for key, table in data[group].items():
            lines.append(f'[{group}."{key}"]')
            lines += [f"{json.dumps(k)} = {value(v)}" for k, v in table.items()]
    path = tmp_path / "provenance.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_the_writer_of_this_test_round_trips_the_shipped_file(tmp_path: Path) -> None:
    assert load_provenance(CATALOGUE, _write(tmp_path, _shipped_data())) == SHIPPED


def test_every_recommendation_has_a_review_block_and_all_are_drafts_today() -> None:
    assert set(SHIPPED.recommendations) == set(CATALOGUE.ids)
    for rec_id in CATALOGUE.ids:
        review = SHIPPED.of(rec_id).review
        assert review.status is ReviewStatus.DRAFT, rec_id
        assert review.reviewer is None and review.reviewer_role
        assert review.next_review_due > review.date
        assert review.sentence().startswith("Draft: not yet reviewed and signed off")


def test_every_source_is_cited_with_what_its_document_gives() -> None:
    assert set(SHIPPED.sources) == set(CATALOGUE.sources)
    ilms = SHIPPED.sources["ILMS"]
    assert ilms.publisher == "PathologyOutlines.com" and ilms.published is not None
    assert str(ilms.url) == ("https://www.pathologyoutlines.com/topic/"
                             "softtissueinflammatoryleiomyosarcoma.html")
    for key in ("ASCMN", "PEC", "LRDM"):  # the documents give a title only, and say so
        citation = SHIPPED.sources[key]
        assert citation.url is None and citation.published is None and citation.not_given


def test_a_primary_study_beside_a_seed_records_its_verification() -> None:
    studies = [study for citation in SHIPPED.sources.values() for study in citation.studies]
    assert studies, "the NTRK case series was verified with the search tool"
    for study in studies:
        assert study.doi or study.pmid
        assert "search tool" in study.verified and str(study.year) in study.citation


FIGURE = re.compile(r"HR \d+(?:\.\d+)?|\d+(?:–\d+)? ?%")
"""Figures a card may quote: hazard ratios and percentages."""


@pytest.mark.parametrize("rec_id", CATALOGUE.ids)
def test_every_figure_a_card_quotes_names_its_source(rec_id: str) -> None:
    wording = load_knowledge(CATALOGUE).wording[rec_id]
    text = " ".join([*wording.summary.values(), *wording.detail.values(), wording.evidence])
    quoted = {match.replace(" %", "%") for match in FIGURE.findall(text)
              if not match.startswith("95")}  # "95 % CI" is the interval's level, not a figure
    listed = " ".join(figure.figure for figure in SHIPPED.of(rec_id).figures).replace(" %", "%")
    assert {figure for figure in quoted if figure not in listed} == set(), \
        f"{rec_id}: add these figures, with their source, to provenance.toml"


def _drop_review(data: Data) -> None:
    del data["recommendations"]["sts-reexcision"]["review"]


def _drop_recommendation(data: Data) -> None:
    del data["recommendations"]["pecoma-metastasectomy"]


def _unknown_recommendation(data: Data) -> None:
    data["recommendations"]["no-such-rec"] = data["recommendations"]["sts-reexcision"]


def _drop_source(data: Data) -> None:
    del data["sources"]["ILMS"]


def _figure_from_uncited_source(data: Data) -> None:
    data["recommendations"]["sts-reexcision"]["figures"][0]["source"] = "PEC"


def _evidence_for_uncited_source(data: Data) -> None:
    data["recommendations"]["sts-reexcision"]["evidence"].append(
        {"source": "NTRK", "kind": "case series"})


def _approved_without_reviewer(data: Data) -> None:
    data["recommendations"]["sts-reexcision"]["review"]["status"] = "approved"


def _draft_with_reviewer(data: Data) -> None:
    data["recommendations"]["sts-reexcision"]["review"]["reviewer"] = "Dr A"


def _review_due_before_date(data: Data) -> None:
    review = data["recommendations"]["sts-reexcision"]["review"]
    review["next_review_due"] = review["date"]


def _unknown_status(data: Data) -> None:
    data["recommendations"]["sts-reexcision"]["review"]["status"] = "signed"


def _study_without_identifier(data: Data) -> None:
    del data["sources"]["NTRK"]["studies"][0]["doi"]


def _other_title(data: Data) -> None:
    data["sources"]["PEC"]["title"] = "Some other document"


def _bad_url(data: Data) -> None:
    data["sources"]["ILMS"]["url"] = "not a url"


BROKEN: list[tuple[Callable[[Data], None], str]] = [
    (_drop_review, "review"),
    (_drop_recommendation, "without provenance ['pecoma-metastasectomy']"),
    (_unknown_recommendation, "provenance for unknown ids ['no-such-rec']"),
    (_drop_source, "sources without a citation ['ILMS']"),
    (_figure_from_uncited_source, "sts-reexcision: figures from sources it does not cite ['PEC']"),
    (_evidence_for_uncited_source, "sts-reexcision: evidence kinds given for ['LRDM', 'NTRK']"),
    (_approved_without_reviewer, "needs the named reviewer"),
    (_draft_with_reviewer, "a draft has no sign-off"),
    (_review_due_before_date, "next_review_due must come after the review date"),
    (_unknown_status, "status"),
    (_study_without_identifier, "DOI or PMID"),
    (_other_title, "source PEC: title 'Some other document' is not the catalogue's"),
    (_bad_url, "url"),
]


@pytest.mark.parametrize(("breakage", "message"), BROKEN, ids=[b.__name__ for b, _ in BROKEN])
def test_a_broken_provenance_file_fails_loading_with_a_clear_error(
    tmp_path: Path, breakage: Callable[[Data], None], message: str,
) -> None:
    data = _shipped_data()
    breakage(data)
    with pytest.raises(CatalogueError, match="invalid provenance") as raised:
        load_provenance(CATALOGUE, _write(tmp_path, data))
    assert message in str(raised.value)


def test_the_service_does_not_start_with_a_broken_provenance_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken = tmp_path / "provenance.toml"
    broken.write_text("[sources.ASCMN\n", encoding="utf-8")
    monkeypatch.setattr(provenance_module, "PROVENANCE_FILE", broken)
    with pytest.raises(CatalogueError, match=f"invalid provenance {re.escape(str(broken))}"):
        create_app(Settings(database_url=f"sqlite:///{tmp_path / 'cds.sqlite3'}"))


DESIGNS = ("retrospective", "prospective study", "prospective trial", "randomised", "randomized",
           "case report", "case series", "observational", "expert", "narrative",
           "pathology series", "meta-analysis", "systematic review", "multistate")
"""Words that claim a kind of evidence."""


@pytest.mark.parametrize("rec_id", CATALOGUE.ids)
def test_a_card_claims_no_kind_of_evidence_its_sources_do_not_report(rec_id: str) -> None:
    # Issue 17: the kind of evidence "as the source reports it". A card's wording may name a study
    # design only when the provenance (what the seed documents give) names it too.
    wording = load_knowledge(CATALOGUE).wording[rec_id]
    text = " ".join([*wording.summary.values(), *wording.detail.values(),
                     wording.evidence]).lower()
    rec = SHIPPED.of(rec_id)
    spec = CATALOGUE.get(rec_id)
    assert spec is not None
    backing = " ".join([*(item.kind for item in rec.evidence),
                        *(SHIPPED.sources[key].kind for key in spec.sources),
                        *(study.kind for key in spec.sources
                          for study in SHIPPED.sources[key].studies)]).lower()
    claimed = {design for design in DESIGNS if design in text and design not in backing}
    assert claimed == set(), f"{rec_id}: the wording claims {sorted(claimed)}"
