"""Advice against a draft that names no reason, in a patient who also has another cancer.

Such a draft may be for the other cancer (recommendations.md, "The patient as a whole (revised)"):
its advice-against cards still come, worded "if this order is for the ...", naming the other
cancers, offering the override reason "ordered for another condition", and recommending none of
their replacement suggestions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from cds_service.case.model import Case
from cds_service.case.model import DraftOrder
from cds_service.guidelines.recommendation import Recommendation
from cds_service.guidelines.recommendation import UsedFact
from cds_service.guidelines.rules.common import order_subject


def hedge(recommendations: Iterable[Recommendation], case: Case,
          orders: Iterable[DraftOrder]) -> list[Recommendation]:
    """The recommendations, those advising against a reasonless draft hedged (see above)."""
    recommendations = list(recommendations)
    cancers = case.other_cancers
    if not cancers:
        return recommendations
    reasonless = {order_subject(o) for o in orders if not o.has_reason}
    facts = tuple(UsedFact("another cancer on record", c.name, c.date, (c.source,))
                  for c in cancers)
    return [_hedged(rec, facts) if rec.against_order and rec.subject in reasonless else rec
            for rec in recommendations]


def _hedged(rec: Recommendation, facts: tuple[UsedFact, ...]) -> Recommendation:
    suggestions = tuple(dataclasses.replace(s, recommended=False) for s in rec.suggestions)
    return dataclasses.replace(rec, facts=(*rec.facts, *facts), suggestions=suggestions,
                               other_conditions=facts)
