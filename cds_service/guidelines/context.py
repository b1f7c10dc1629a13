"""What a rule is: a function of the case and the call's context, returning advice."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass

from cds_service.case.model import Case
from cds_service.case.model import DraftOrder
from cds_service.guidelines.recommendation import Advice
from cds_service.vocabulary import Hook


@dataclass(frozen=True)
class RuleContext:
    """What a rule may read besides the case.

    Attributes:
        hook: the hook being answered.
        today: the date the engine treats as today (never the clock).
    """

    hook: Hook
    today: dt.date

    def orders(self, case: Case) -> tuple[DraftOrder, ...]:
        """The draft orders this call is about: the selected ones on order-select, all on sign;
        never one whose reasons name only another disease (it is not about our tumours)."""
        if self.hook is Hook.PATIENT_VIEW:
            return ()
        return tuple(order for order in case.draft_orders
                     if order.selected and not order.for_other_condition)


Rule = Callable[[Case, RuleContext], Iterable[Advice]]
"""A rule: the advice it gives on a case, one per tumour or draft order it fires for."""
