"""The guideline engine: ``evaluate(case, hook, today)`` runs every rule that applies to the hook.

Rules are small functions registered under their catalogue id, one module per source document.
A rule that raises does not take the others down: the failure is returned beside the results.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field

from cds_service.case.model import Case
from cds_service.case.model import DraftOrder
from cds_service.guidelines.catalogue import Catalogue
from cds_service.guidelines.catalogue import load_catalogue
from cds_service.guidelines.recommendation import Recommendation
from cds_service.hooks.models import Hook
from cds_service.hooks.models import Indicator

log = logging.getLogger(__name__)

_URGENCY = {Indicator.CRITICAL: 0, Indicator.WARNING: 1, Indicator.INFO: 2}


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


Rule = Callable[[Case, RuleContext], Iterable[Recommendation]]

_RULES: dict[str, Rule] = {}


def rule(rec_id: str) -> Callable[[Rule], Rule]:
    """Register ``fn`` as the rule of catalogue id ``rec_id``."""

    def register(fn: Rule) -> Rule:
        if rec_id in _RULES:
            raise ValueError(f"two rules registered for {rec_id!r}")
        _RULES[rec_id] = fn
        return fn

    return register


def registered_rules() -> dict[str, Rule]:
    """Every rule, by catalogue id (importing the rule modules registers them)."""
    from cds_service.guidelines import rules  # noqa: F401  (registers the rule modules)

    return dict(_RULES)


@dataclass(frozen=True)
class RuleFailure:
    """A rule that raised: reported, logged and counted, never fatal to the call.

    Attributes:
        recommendation_id: the failing rule's catalogue id.
        error: the exception's type name (no message: it could hold patient data).
    """

    recommendation_id: str
    error: str


@dataclass(frozen=True)
class Evaluation:
    """The outcome of one evaluation.

    Attributes:
        recommendations: what fired, most urgent first, then in catalogue order.
        failures: rules that raised.
    """

    recommendations: tuple[Recommendation, ...]
    failures: tuple[RuleFailure, ...] = field(default=())


class Engine:
    """Runs the catalogue's rules; built once at start-up."""

    def __init__(self, catalogue: Catalogue | None = None) -> None:
        self.catalogue = catalogue or load_catalogue()
        rules = registered_rules()
        missing = [rec.id for rec in self.catalogue if rec.id not in rules]
        unknown = [rec_id for rec_id in rules if self.catalogue.get(rec_id) is None]
        if missing or unknown:
            raise ValueError(f"rules and catalogue disagree: no rule for {missing}, "
                             f"no catalogue entry for {unknown}")
        self._rules = rules
        self._order = {rec_id: index for index, rec_id in enumerate(self.catalogue.ids)}

    def evaluate(self, case: Case, hook: Hook, today: dt.date) -> Evaluation:
        """Run every rule whose catalogue entry lists ``hook``; deterministic for a given input."""
        context = RuleContext(hook=hook, today=today)
        fired: list[Recommendation] = []
        failures: list[RuleFailure] = []
        for spec in self.catalogue:
            if hook not in spec.hooks:
                continue
            try:
                fired.extend(self._rules[spec.id](case, context))
            except Exception as exc:  # one broken rule must not cost the clinician the others
                log.exception("rule failed recommendation=%s", spec.id)
                failures.append(RuleFailure(spec.id, type(exc).__name__))
        if hook is not Hook.PATIENT_VIEW:
            from cds_service.guidelines.other_condition import hedge  # imports the rules' helpers

            fired = hedge(fired, case, context.orders(case))
        fired.sort(key=lambda rec: (_URGENCY[rec.indicator], self._order[rec.id], rec.subject))
        return Evaluation(tuple(fired), tuple(failures))
