"""The guideline engine: ``evaluate(case, hook, today)`` runs every rule that applies to the hook.

Rules are small functions bound to their catalogue id in one table (``guidelines.rules.RULES``),
one module per source document; the engine stamps that id on the advice a rule returns. A rule that
raises does not take the others down: the failure is returned beside the results.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field

from cds_service.case.model import Case
from cds_service.guidelines.catalogue import Catalogue
from cds_service.guidelines.catalogue import load_catalogue
from cds_service.guidelines.context import Rule
from cds_service.guidelines.context import RuleContext
from cds_service.guidelines.other_condition import hedge
from cds_service.guidelines.recommendation import Recommendation
from cds_service.guidelines.rules import RULES
from cds_service.vocabulary import Hook
from cds_service.vocabulary import Indicator

log = logging.getLogger(__name__)

_URGENCY = {Indicator.CRITICAL: 0, Indicator.WARNING: 1, Indicator.INFO: 2}


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

    def __init__(self, catalogue: Catalogue | None = None,
                 rules: Mapping[str, Rule] | None = None) -> None:
        self.catalogue = catalogue or load_catalogue()
        rules = RULES if rules is None else rules
        missing = [rec.id for rec in self.catalogue if rec.id not in rules]
        unknown = [rec_id for rec_id in rules if self.catalogue.get(rec_id) is None]
        if missing or unknown:
            raise ValueError(f"rules and catalogue disagree: no rule for {missing}, "
                             f"no catalogue entry for {unknown}")
        self._rules = dict(rules)
        self._order = {rec_id: index for index, rec_id in enumerate(self.catalogue.ids)}

    def evaluate(self, case: Case, hook: Hook, today: dt.date) -> Evaluation:
        """Run every rule whose catalogue entry lists ``hook``; deterministic for a given input.

        A deceased patient gets no cards on any hook (recommendations.md "The patient as a
        whole"): no rule runs.
        """
        if case.patient.is_deceased(today):
            return Evaluation(())
        context = RuleContext(hook=hook, today=today)
        fired: list[Recommendation] = []
        failures: list[RuleFailure] = []
        for spec in self.catalogue:
            if hook not in spec.hooks:
                continue
            try:
                for advice in self._rules[spec.id](case, context):
                    fired.append(Recommendation.stamped(spec.id, advice))
            except Exception as exc:  # one broken rule must not cost the clinician the others
                log.exception("rule failed recommendation=%s", spec.id)
                failures.append(RuleFailure(spec.id, type(exc).__name__))
        if hook is not Hook.PATIENT_VIEW:
            fired = hedge(fired, case, context.orders(case))
        fired.sort(key=lambda rec: (_URGENCY[rec.indicator], self._order[rec.id], rec.subject))
        return Evaluation(tuple(fired), tuple(failures))
