"""What a rule returns: a recommendation with the facts that made it fire and what it proposes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from cds_service.case.model import Fact
from cds_service.hooks.models import Indicator


@dataclass(frozen=True)
class UsedFact:
    """A fact a recommendation relied on, as the card explains it.

    Attributes:
        name: what the fact is ("tumour size").
        value: its value in words ("6.2 cm", "not recorded").
        date: when it was recorded, where known.
        sources: FHIR references it came from (``Observation/obs-12``).
    """

    name: str
    value: str
    date: dt.date | None = None
    sources: tuple[str, ...] = ()

    @classmethod
    def of(cls, name: str, fact: Fact[Any] | None, value: str | None = None) -> UsedFact:
        """Explain ``fact`` (a missing fact reads "not recorded")."""
        if fact is None:
            return cls(name, "not recorded")
        shown = value if value is not None else str(fact.value)
        if fact.from_text:
            shown += " (from text)"
        return cls(name, shown, fact.date, fact.sources)


@dataclass(frozen=True)
class ProposedOrder:
    """An order a suggestion creates; ``cards.py`` turns it into a FHIR resource.

    Attributes:
        kind: key of the order template in the catalogue's order data (``chest-ct``, ``mri``...).
        body_site: the tumour's bodySite CodeableConcept, copied into the order.
        site: the tumour's body region, to choose a site-specific code.
        reason: ``Condition/<id>`` the order is for.
    """

    kind: str
    body_site: Mapping[str, Any] | None = None
    site: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class SuggestionSpec:
    """One suggestion: delete some drafts, create some orders, as one choice.

    Attributes:
        label: button text.
        creates: orders to create.
        deletes: ``Type/id`` of draft orders to remove.
        recommended: whether it is the recommended choice.
    """

    label: str
    creates: tuple[ProposedOrder, ...] = ()
    deletes: tuple[str, ...] = ()
    recommended: bool = False


@dataclass(frozen=True)
class Recommendation:
    """One recommendation that fired for one tumour or one draft order.

    Attributes:
        id: catalogue id.
        indicator: card urgency.
        subject: the tumour's Condition id or the draft order's reference: one card per pair.
        variant: which wording template of the recommendation applies ("default", "order"...).
        values: values the wording templates fill in.
        facts: the facts the decision used, for the detail and the extension.
        suggestions: what the card proposes.
        against_order: True when the card advises against a draft order (overrideReasons).
        other_conditions: other cancers on record, when the draft names no reason: the advice
            holds only if the order is for the tumour (worded so, with the override reason
            "ordered for another condition", and no suggestion recommended).
    """

    id: str
    indicator: Indicator
    subject: str
    variant: str = "default"
    values: Mapping[str, str] = field(default_factory=dict)
    facts: tuple[UsedFact, ...] = ()
    suggestions: tuple[SuggestionSpec, ...] = ()
    against_order: bool = False
    other_conditions: tuple[UsedFact, ...] = ()
