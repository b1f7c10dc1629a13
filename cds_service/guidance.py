"""From a resolved hook call to cards: build the case, run the engine, render the cards.

The clinical half of the pipeline (``cds_service.pipeline``); it measures nothing itself: the
observer it is given sees its stages.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from cds_service.cards import CardRenderer
from cds_service.case.build import build_case
from cds_service.case.model import Case
from cds_service.case.select import JUDGED_FIELDS
from cds_service.case.select import could_matter
from cds_service.case.select import select_resources
from cds_service.fhir.sieve import Sieve
from cds_service.guidelines.catalogue import Catalogue
from cds_service.guidelines.engine import Engine
from cds_service.guidelines.engine import Evaluation
from cds_service.guidelines.provenance import load_provenance
from cds_service.guidelines.single_orders import one_create_per_order
from cds_service.guidelines.single_orders import order_identity
from cds_service.guidelines.versioning import load_version
from cds_service.guidelines.wording import load_knowledge
from cds_service.hooks.models import Card
from cds_service.hooks.models import HookRequest
from cds_service.hooks.prefetch import PatientRecord
from cds_service.stages import UNOBSERVED
from cds_service.stages import Observer
from cds_service.stages import Stage
from cds_service.stages import observed
from cds_service.terminology import Terminology
from cds_service.terminology import load_terminology
from cds_service.vocabulary import Hook

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IssuedGuidance:
    """A card and the recommendation id that produced it (the ledger joins feedback on it).

    Attributes:
        recommendation_id: catalogue id.
        card: the card, with its uuid.
    """

    recommendation_id: str
    card: Card


@dataclass(frozen=True)
class Decision:
    """What one hook call decided.

    Attributes:
        issued: the cards, in display order.
        unreadable: ``Type/id`` of resources skipped because they were not valid FHIR, and of
            draft orders whose used fields could not be read (or their ``draftOrders`` position).
        rule_failures: ids of rules that raised (their cards are missing).
        case: the case model the cards were decided on (None when no case was built).
    """

    issued: tuple[IssuedGuidance, ...] = ()
    unreadable: tuple[str, ...] = ()
    rule_failures: tuple[str, ...] = field(default=())
    case: Case | None = None


@dataclass(frozen=True)
class Guidance:
    """The clinical pipeline, built once at start-up.

    Attributes:
        terminology: value sets.
        engine: the rules.
        renderer: the card builder.
        today: a fixed date for the engine (``CDS_TODAY``), else the real date per call.
    """

    terminology: Terminology
    engine: Engine
    renderer: CardRenderer
    today: dt.date | None = None

    @classmethod
    def load(cls, catalogue: Catalogue, today: dt.date | None) -> Guidance:
        """Load and validate the value sets, rules, wording, provenance and version (bad content
        stops start-up)."""
        renderer = CardRenderer(catalogue, load_knowledge(catalogue),
                                provenance=load_provenance(catalogue),
                                version=load_version(catalogue))
        return cls(terminology=load_terminology(), engine=Engine(catalogue), renderer=renderer,
                   today=today)

    def case_of(self, request: HookRequest, record: PatientRecord, *,
                observer: Observer = UNOBSERVED) -> Case:
        """The case model of one call: the record plus the call's draft orders."""
        with observed(observer, Stage.SELECT):
            resources = record.all_resources()
            selection = select_resources(resources, self.terminology)
        with observed(observer, Stage.MAP):
            return build_case(
                resources,
                patient_id=request.context.patient_id,
                terminology=self.terminology,
                draft_orders=request.draft_orders,
                selections=request.selections,
                today=self.effective_today(),
                selection=selection,
            )

    def could_matter(self, resource: dict[str, Any]) -> bool:
        """Whether the case model may read ``resource`` (``case.select.could_matter``)."""
        return could_matter(resource, self.terminology)

    def sieve(self) -> Sieve:
        """:meth:`could_matter` as a sieve for fetched pages."""
        return Sieve(self.could_matter, JUDGED_FIELDS)

    def evaluate(self, case: Case, hook: Hook) -> Evaluation:
        """Run the engine on ``case`` for ``hook``; two cards never create the same order."""
        evaluation = self.engine.evaluate(case, hook, self.effective_today())
        recommendations = one_create_per_order(
            evaluation.recommendations, case, self.engine.catalogue.ids,
            order_identity(self.renderer.knowledge.orders.orders))
        return dataclasses.replace(evaluation, recommendations=recommendations)

    def decide(self, request: HookRequest, record: PatientRecord, base_url: str,
               observer: Observer = UNOBSERVED) -> Decision:
        """Cards for one call, and the case they were decided on; ``base_url`` is this
        service's public base URL. ``observer`` sees the select, map, evaluate and render
        stages."""
        case = self.case_of(request, record, observer=observer)
        with observed(observer, Stage.EVALUATE):
            evaluation = self.evaluate(case, Hook(request.hook))
        with observed(observer, Stage.RENDER):
            issued = tuple(
                IssuedGuidance(rec.id, self.renderer.render(rec, base_url=base_url,
                                                            patient_id=case.patient.id))
                for rec in evaluation.recommendations
            )
        return Decision(issued, case.unreadable + case.unreadable_drafts,
                        tuple(f.recommendation_id for f in evaluation.failures), case)

    def effective_today(self) -> dt.date:
        """``CDS_TODAY`` when set, else the real date."""
        return self.today or dt.date.today()


def no_guidance(request: HookRequest, record: PatientRecord, base_url: str,
                observer: Observer = UNOBSERVED) -> Decision:
    """A decision that gives no cards (never placeholder ones)."""
    return Decision()


