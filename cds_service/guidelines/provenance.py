"""Provenance of the recommendations: full citations, kinds of evidence, figures, review status.

The data (``provenance.toml``) is loaded and validated against the catalogue at start-up: every
recommendation has a review block and its sources' evidence, every source of the catalogue is cited,
and a figure names a source of its own recommendation. The card detail's sources block is built
here, once per recommendation.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import HttpUrl
from pydantic import ValidationError
from pydantic import model_validator

from cds_service.guidelines.catalogue import Catalogue
from cds_service.guidelines.catalogue import CatalogueError

PROVENANCE_FILE = Path(__file__).with_name("provenance.toml")
"""The provenance shipped with the service."""

Text = Field(min_length=1)


class ReviewStatus(StrEnum):
    """Where a recommendation stands in clinical review."""

    DRAFT = "draft"
    """Not yet signed off by a named clinical reviewer."""
    APPROVED = "approved"
    """Signed off by the named reviewer on the review date."""
    RETIRED = "retired"
    """Withdrawn from use."""


class Study(BaseModel):
    """A primary study listed beside a seed, only once verified with the search tool."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    citation: str = Text
    """Authors, title, journal and date, as seen."""
    doi: str | None = Field(default=None, pattern=r"^10\.\d{4,9}/\S+$")
    """DOI, as seen."""
    pmid: str | None = Field(default=None, pattern=r"^\d{1,9}$")
    """PubMed id, as seen."""
    year: int = Field(ge=1900, le=2100)
    """Publication year, as seen."""
    url: HttpUrl | None = None
    """Where it was seen."""
    kind: str = Text
    """The kind of study, in plain words."""
    verified: str = Text
    """How and when it was verified, and what was seen."""

    @model_validator(mode="after")
    def _identified(self) -> Study:
        if not (self.doi or self.pmid):
            raise ValueError("a primary study needs the DOI or PMID it was verified by")
        return self


class SourceCitation(BaseModel):
    """A seed document cited in full, from what the document itself gives."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    title: str = Text
    """The document's own title."""
    authors: tuple[str, ...] = ()
    """Authors the document names."""
    publisher: str | None = None
    """Publisher or website the document names."""
    published: dt.date | None = None
    """Publication (or last update) date the document gives."""
    date_note: str | None = None
    """What the date is, when the document gives more than one."""
    url: HttpUrl | None = None
    """The document's address."""
    url_verified: str | None = None
    """How the address was verified when the document does not print it."""
    kind: str = Text
    """The kind of evidence, in plain words, as the document reports it."""
    not_given: str | None = None
    """What the document does not give (author, date, references...)."""
    studies: tuple[Study, ...] = ()
    """Primary studies verified beside the document."""

    def line(self) -> str:
        """One markdown line citing the document in full, then the kind of evidence."""
        meta = [", ".join(self.authors)] if self.authors else []
        meta += [str(value) for value in (self.publisher, self.published, self.url) if value]
        given = "; ".join(meta) if meta else "no author, publisher, date or address given"
        return f"*{self.title}* ({given}). {self.kind}."


class EvidenceKind(BaseModel):
    """What kind of evidence one source gives one recommendation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Text
    kind: str = Text


class Figure(BaseModel):
    """A figure a card quotes, and the source that gives it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    figure: str = Text
    about: str = Text
    source: str = Text
    where: str | None = None
    """Where in the source (its numbered reference...)."""


class Review(BaseModel):
    """The review block of one recommendation."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    status: ReviewStatus
    reviewer_role: str = Text
    """The clinical role that must review (and, once approved, did review) it."""
    reviewer: str | None = None
    """The named reviewer who signed it off (required once approved)."""
    date: dt.date
    """Date of the current status."""
    next_review_due: dt.date

    @model_validator(mode="after")
    def _consistent(self) -> Review:
        if self.status is ReviewStatus.APPROVED and not self.reviewer:
            raise ValueError("an approved recommendation needs the named reviewer who signed")
        if self.status is ReviewStatus.DRAFT and self.reviewer:
            raise ValueError("a draft has no sign-off: set status to approved, or drop reviewer")
        if self.next_review_due <= self.date:
            raise ValueError("next_review_due must come after the review date")
        return self

    def sentence(self) -> str:
        """The status in plain words, as pages and cards show it."""
        if self.status is ReviewStatus.APPROVED:
            return (f"Approved by {self.reviewer} ({self.reviewer_role}) on "
                    f"{self.date.isoformat()}; next review due {self.next_review_due.isoformat()}.")
        if self.status is ReviewStatus.RETIRED:
            return f"Retired on {self.date.isoformat()}."
        return (f"Draft: not yet reviewed and signed off by a clinical reviewer "
                f"({self.reviewer_role}); review due by {self.next_review_due.isoformat()}.")


class RecommendationProvenance(BaseModel):
    """Evidence kinds, figures and review of one recommendation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    evidence: tuple[EvidenceKind, ...]
    figures: tuple[Figure, ...] = ()
    note: str | None = None
    review: Review


class Provenance(BaseModel):
    """provenance.toml, checked against the catalogue."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sources: dict[str, SourceCitation]
    recommendations: dict[str, RecommendationProvenance]

    def of(self, rec_id: str) -> RecommendationProvenance:
        """The provenance of ``rec_id`` (every catalogue id has one once loaded)."""
        return self.recommendations[rec_id]

    def card_sources(self, catalogue: Catalogue, rec_id: str) -> str:
        """The sources block of a card's detail (markdown): full citations and review status."""
        spec = catalogue.get(rec_id)
        if spec is None:
            raise KeyError(rec_id)
        lines = ["**Sources**", ""]
        lines += [f"- {self.sources[key].line()}" for key in spec.sources]
        lines += ["", f"**Review:** {self.of(rec_id).review.sentence()}"]
        return "\n".join(lines)


def load_provenance(catalogue: Catalogue, path: Path | None = None) -> Provenance:
    """Read provenance.toml (``path``, by default :data:`PROVENANCE_FILE`) and check it against
    ``catalogue``.

    Raises:
        CatalogueError: the file is unreadable or invalid, or does not match the catalogue (a
            recommendation or source without provenance, an evidence or figure naming a source its
            recommendation does not cite, a citation whose title differs from the catalogue's).
    """
    path = path or PROVENANCE_FILE
    try:
        provenance = Provenance.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as exc:
        raise CatalogueError(f"invalid provenance {path}: {exc}") from exc
    problems = _mismatches(catalogue, provenance)
    if problems:
        raise CatalogueError(f"invalid provenance {path}: " + "; ".join(problems))
    return provenance


def _mismatches(catalogue: Catalogue, provenance: Provenance) -> list[str]:
    problems = []
    missing_sources = sorted(set(catalogue.sources) - set(provenance.sources))
    unknown_sources = sorted(set(provenance.sources) - set(catalogue.sources))
    if missing_sources or unknown_sources:
        problems.append(f"sources without a citation {missing_sources}, "
                        f"citations of unknown sources {unknown_sources}")
    for key, citation in provenance.sources.items():
        known = catalogue.sources.get(key)
        if known and not known.title.startswith(citation.title):
            problems.append(f"source {key}: title {citation.title!r} is not the catalogue's")
    missing = [rec_id for rec_id in catalogue.ids if rec_id not in provenance.recommendations]
    unknown = sorted(set(provenance.recommendations) - set(catalogue.ids))
    if missing or unknown:
        problems.append(f"recommendations without provenance {missing}, "
                        f"provenance for unknown ids {unknown}")
    for spec in catalogue:
        rec = provenance.recommendations.get(spec.id)
        if rec is None:
            continue
        cited = set(spec.sources)
        given = [item.source for item in rec.evidence]
        if not spec.cites_knowledge_base and set(given) != cited:
            problems.append(f"{spec.id}: evidence kinds given for {sorted(set(given))}, "
                            f"but it cites {sorted(cited)}")
        stray = sorted({f.source for f in rec.figures} - cited)
        if stray:
            problems.append(f"{spec.id}: figures from sources it does not cite {stray}")
    return problems
