"""Load and validate the recommendation catalogue (ids, titles, sources, hooks) at start-up."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import StringConstraints
from pydantic import ValidationError
from pydantic import model_validator

from cds_service.vocabulary import Hook
from cds_service.vocabulary import Indicator

CATALOGUE_FILE = Path(__file__).with_name("catalogue.toml")
"""The catalogue shipped with the service."""

KebabId = Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]

PageText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
"""Light markdown shown on the recommendation pages; blank text is refused."""


class CatalogueError(ValueError):
    """The catalogue data is invalid; the service must not start with it."""


class SourceDocument(BaseModel):
    """A source document the recommendations paraphrase and cite."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    title: str = Field(min_length=1)
    """Title, cited in ``card.source.label`` and the detail."""


class RecommendationSpec(BaseModel):
    """One catalogue entry; its ``id`` is a public contract."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    id: KebabId
    """Stable id, ``card.source.topic.code``."""
    title: str = Field(min_length=1)
    """Title, ``card.source.topic.display``."""
    section: str = Field(min_length=1)
    """Catalogue section (work-up, surgery...)."""
    hooks: tuple[Hook, ...] = Field(min_length=1)
    """Hooks on which it may fire."""
    indicators: tuple[Indicator, ...] = Field(min_length=1)
    """Indicators its cards may carry."""
    sources: tuple[str, ...] = Field(min_length=1)
    """Source keys; the first is the primary source."""
    cites_knowledge_base: bool = False
    """Cards name the knowledge base itself as their source (its evidence is every source)."""
    fires_when: PageText
    """Plain-language trigger: the logic and the conventions it relies on (light markdown)."""
    recommends: PageText
    """What the card advises, in one or two sentences (light markdown)."""


class Catalogue(BaseModel):
    """The whole catalogue, in catalogue order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    sources: dict[str, SourceDocument]
    recommendations: tuple[RecommendationSpec, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Catalogue:
        seen: set[str] = set()
        for rec in self.recommendations:
            if rec.id in seen:
                raise ValueError(f"recommendation id {rec.id!r} is listed twice")
            seen.add(rec.id)
            unknown = [key for key in rec.sources if key not in self.sources]
            if unknown:
                raise ValueError(f"{rec.id}: unknown source keys {unknown}")
        return self

    @property
    def ids(self) -> tuple[str, ...]:
        """Every recommendation id, in catalogue order."""
        return tuple(rec.id for rec in self.recommendations)

    def get(self, rec_id: str) -> RecommendationSpec | None:
        """Return the entry with ``rec_id``, or None."""
        return next((rec for rec in self.recommendations if rec.id == rec_id), None)

    def primary_source(self, rec: RecommendationSpec) -> SourceDocument:
        """Return the first-listed source of ``rec``."""
        return self.sources[rec.sources[0]]

    def source_label(self, rec: RecommendationSpec) -> str:
        """``card.source.label``: the primary source's title, or the knowledge base's name."""
        return self.name if rec.cites_knowledge_base else self.primary_source(rec).title

    def __iter__(self) -> Iterator[RecommendationSpec]:  # type: ignore[override]
        return iter(self.recommendations)


def load_catalogue(path: Path = CATALOGUE_FILE) -> Catalogue:
    """Read and validate the catalogue.

    Raises:
        CatalogueError: the file is missing, not TOML, or its content is invalid.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return Catalogue.model_validate(data)
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as exc:
        raise CatalogueError(f"invalid recommendation catalogue {path}: {exc}") from exc
