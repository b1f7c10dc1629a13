"""Card wording and suggested-order templates: data files, loaded and validated at start-up."""

from __future__ import annotations

import string
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import ValidationError
from pydantic import model_validator

from cds_service.guidelines.catalogue import Catalogue
from cds_service.guidelines.catalogue import CatalogueError

WORDING_DIR = Path(__file__).with_name("wording")
"""One TOML file per rule module, keyed by recommendation id."""

ORDERS_FILE = Path(__file__).with_name("orders.toml")
"""Templates of the orders suggestions create, and the override reasons."""


def placeholders(template: str) -> set[str]:
    """The ``{name}`` fields of a template."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


class Wording(BaseModel):
    """The text of one recommendation's cards; ``{name}`` placeholders come from the rule."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    summary: dict[str, str] = Field(min_length=1)
    """Variant -> one-sentence summary (rendered under 140 characters)."""
    detail: dict[str, str] = Field(min_length=1)
    """Variant -> markdown: what to do, and why for this patient."""
    evidence: str = Field(min_length=1)
    """Markdown: the evidence with its key figures, paraphrased, and caveats."""
    suggestions: dict[str, str] = {}
    """Suggestion key -> button label."""
    override_reasons: tuple[str, ...] = ()
    """Codes of the override reasons offered when the card advises against a draft order."""

    @model_validator(mode="after")
    def _variants_match(self) -> Wording:
        if set(self.summary) != set(self.detail):
            raise ValueError("summary and detail must have the same variants")
        for template in [*self.summary.values(), *self.detail.values(), self.evidence,
                         *self.suggestions.values()]:
            placeholders(template)  # raises ValueError on a malformed template
        return self


class OrderTemplate(BaseModel):
    """A suggested order: FHIR resource type, codes and text."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    resource_type: str = Field(pattern="^(ServiceRequest|MedicationRequest)$")
    text: str = Field(min_length=1)
    codings: tuple[dict[str, str], ...] = ()
    codings_by_site: dict[str, tuple[dict[str, str], ...]] = {}
    category: dict[str, Any] | None = None
    copy_body_site: bool = False


class OtherConditionWording(BaseModel):
    """How an advice-against card is worded when the draft may be for another cancer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    summary_prefix: str = Field(min_length=1)
    """Put before the card's summary (its first letter lower-cased unless it is an acronym)."""
    short_prefix: str = Field(min_length=1)
    """Used instead when the summary would pass 139 characters."""
    detail: str = Field(min_length=1)
    """Paragraph added to the detail; placeholders ``{tumour}`` and ``{conditions}``."""
    override_reason: str = Field(min_length=1)
    """Code of the override reason added to the card."""


class OrderData(BaseModel):
    """orders.toml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    orders: dict[str, OrderTemplate]
    override_reasons: dict[str, str] = Field(min_length=1)
    other_condition: OtherConditionWording

    @model_validator(mode="after")
    def _known_reason(self) -> OrderData:
        if self.other_condition.override_reason not in self.override_reasons:
            raise ValueError("other_condition.override_reason is not an override reason")
        return self


class Knowledge(BaseModel):
    """Everything cards are rendered from, validated together against the catalogue."""

    model_config = ConfigDict(frozen=True)

    wording: dict[str, Wording]
    orders: OrderData


def load_knowledge(catalogue: Catalogue, directory: Path = WORDING_DIR,
                   orders_file: Path = ORDERS_FILE, *, complete: bool = True) -> Knowledge:
    """Load the wording of every recommendation and the order templates.

    Raises:
        CatalogueError: a file is unreadable, a recommendation has no wording, wording names an
            unknown id or an unknown override reason.
    """
    try:
        wording: dict[str, Wording] = {}
        for path in sorted(directory.glob("*.toml")):
            for rec_id, data in tomllib.loads(path.read_text(encoding="utf-8")).items():
                if rec_id in wording:
                    raise CatalogueError(f"{path.name}: wording for {rec_id!r} given twice")
                wording[rec_id] = Wording.model_validate(data)
        orders = OrderData.model_validate(tomllib.loads(orders_file.read_text(encoding="utf-8")))
    except (OSError, tomllib.TOMLDecodeError, ValidationError, ValueError) as exc:
        raise CatalogueError(f"invalid card wording: {exc}") from exc
    _check(catalogue, wording, orders, complete=complete)
    return Knowledge(wording=wording, orders=orders)


def _check(catalogue: Catalogue, wording: dict[str, Wording], orders: OrderData, *,
           complete: bool) -> None:
    missing = [rec_id for rec_id in catalogue.ids if rec_id not in wording and complete]
    unknown = [rec_id for rec_id in wording if catalogue.get(rec_id) is None]
    if missing or unknown:
        raise CatalogueError(f"wording missing for {missing}; wording for unknown ids {unknown}")
    for rec_id, text in wording.items():
        bad = [code for code in text.override_reasons if code not in orders.override_reasons]
        if bad:
            raise CatalogueError(f"{rec_id}: unknown override reasons {bad}")
