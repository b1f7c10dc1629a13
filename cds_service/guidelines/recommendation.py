"""What a rule returns: a recommendation with the facts that made it fire and what it proposes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from cds_service.case.model import Fact
from cds_service.vocabulary import Indicator


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
class MovedOrder:
    """An order this card would create that another card carries (two cards never create it).

    Attributes:
        kind: the order's kind in orders.toml.
        carried_by: catalogue id of the card that creates it.
        about: that card's subject (a tumour's Condition id or a draft order's reference).
    """

    kind: str
    carried_by: str
    about: str = ""


@dataclass(frozen=True, kw_only=True)
class Advice:
    """What a rule returns: one recommendation for one tumour or one draft order, without its id.

    The engine stamps the catalogue id the rule is registered under (:class:`Recommendation`).

    Attributes:
        indicator: card urgency.
        subject: the tumour's Condition id or the draft order's reference: one card per pair.
        variant: which wording template of the recommendation applies ("default", "order"...).
        values: values the wording templates fill in.
        facts: the facts the decision used, for the detail and the extension.
        suggestions: what the card proposes.
        against_order: True when the card advises against a draft order (overrideReasons).
        moved: orders another card creates instead of this one, named in the detail.
        other_conditions: other cancers on record, when the draft names no reason: the advice
            holds only if the order is for the tumour (worded so, with the override reason
            "ordered for another condition", and no suggestion recommended).
    """

    indicator: Indicator
    subject: str
    variant: str = "default"
    values: Mapping[str, str] = field(default_factory=dict)
    facts: tuple[UsedFact, ...] = ()
    suggestions: tuple[SuggestionSpec, ...] = ()
    against_order: bool = False
    moved: tuple[MovedOrder, ...] = ()
    other_conditions: tuple[UsedFact, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Recommendation(Advice):
    """One recommendation that fired: a rule's advice under the rule's catalogue id.

    Attributes:
        id: catalogue id.
    """

    id: str

    @classmethod
    def stamped(cls, rec_id: str, advice: Advice) -> Recommendation:
        """``advice`` under the catalogue id ``rec_id`` (the id a rule returns is never its own)."""
        stamped = object.__new__(cls)  # the advice's fields as they are, validated once
        vars(stamped).update(vars(advice), id=rec_id)
        return stamped
