"""Two cards never suggest creating the same order (recommendations.md "The patient as a whole").

An order is the same when its kind and body site are (``per_patient`` kinds — chest CT, referral, a
drug — whatever the tumour). The card with the higher indicator keeps that ``create``; on a tie the
one first in catalogue order; between two cards of one recommendation, the one whose subject comes
first (the draft listed first in ``draftOrders``; on patient-view, the tumour listed first). The
other card names the card that carries it. Deletes never move: each order-hook card keeps the
``delete`` of its own draft; a suggestion left with no action at all, or with the same actions as
another of the card's suggestions, is dropped.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from collections.abc import Hashable
from collections.abc import Mapping
from collections.abc import Sequence

from cds_service.case.model import Case
from cds_service.guidelines.recommendation import MovedOrder
from cds_service.guidelines.recommendation import ProposedOrder
from cds_service.guidelines.recommendation import Recommendation
from cds_service.guidelines.recommendation import SuggestionSpec
from cds_service.guidelines.wording import OrderTemplate
from cds_service.vocabulary import Indicator

OrderKey = Callable[[ProposedOrder], Hashable]

_URGENCY = {Indicator.CRITICAL: 0, Indicator.WARNING: 1, Indicator.INFO: 2}


def order_identity(templates: Mapping[str, OrderTemplate]) -> OrderKey:
    """What makes two proposed orders the same order.

    Kind and body site; a per-patient kind by kind alone. An order whose tumour has no recorded
    body site is told apart by the tumour it is for: an unknown site is not known to be the same.
    """

    def key(order: ProposedOrder) -> Hashable:
        if templates[order.kind].per_patient:
            return (order.kind,)
        if order.body_site:
            return order.kind, json.dumps(order.body_site, sort_keys=True)
        return order.kind, "reason", order.reason

    return key


def one_create_per_order(recommendations: Sequence[Recommendation], case: Case,
                         catalogue_ids: Sequence[str], key: OrderKey) -> tuple[Recommendation, ...]:
    """The recommendations, in their order, each ``create`` kept by one card only.

    Args:
        recommendations: what fired (any order; the result keeps it).
        case: the case, for the order of draft orders and tumours.
        catalogue_ids: the catalogue's ids, in catalogue order.
        key: what makes two proposed orders the same (:func:`order_identity`).
    """
    catalogue = {rec_id: index for index, rec_id in enumerate(catalogue_ids)}
    subjects: dict[str, int] = {}
    for index, draft in enumerate(case.draft_orders):
        subjects.setdefault(draft.reference or draft.label, index)
    for index, tumour in enumerate(case.tumours):
        subjects.setdefault(tumour.id, index)

    def precedence(index: int) -> tuple[int, int, int, int]:
        rec = recommendations[index]
        return (_URGENCY[rec.indicator], catalogue.get(rec.id, len(catalogue)),
                subjects.get(rec.subject, len(subjects)), index)

    carrier: dict[Hashable, int] = {}
    result = list(recommendations)
    for index in sorted(range(len(recommendations)), key=precedence):
        rec = recommendations[index]
        if not any(s.creates for s in rec.suggestions):
            continue
        moved: list[MovedOrder] = []
        suggestions: list[SuggestionSpec] = []
        for suggestion in rec.suggestions:
            creates: list[ProposedOrder] = []
            for order in suggestion.creates:
                owner = carrier.setdefault(key(order), index)
                if owner == index:
                    creates.append(order)
                else:
                    carrier_rec = recommendations[owner]
                    moved.append(MovedOrder(order.kind, carrier_rec.id, carrier_rec.subject))
            kept = dataclasses.replace(suggestion, creates=tuple(creates))
            if (creates or suggestion.deletes) and all(
                    (kept.creates, kept.deletes) != (other.creates, other.deletes)
                    for other in suggestions):
                suggestions.append(kept)
        if moved:
            result[index] = dataclasses.replace(
                rec, suggestions=tuple(suggestions), moved=tuple(dict.fromkeys(moved)))
    return tuple(result)
