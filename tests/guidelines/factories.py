"""Builders of case-model objects for rule unit tests (the full FHIR path is tested on fixtures)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from typing import TypeVar

from cds_service.case.model import Case
from cds_service.case.model import DraftOrder
from cds_service.case.model import Entity
from cds_service.case.model import Fact
from cds_service.case.model import Patient
from cds_service.case.model import Tumour
from cds_service.guidelines.context import RuleContext
from cds_service.guidelines.recommendation import Recommendation
from cds_service.guidelines.rules import RULES
from cds_service.hooks.models import Hook

T = TypeVar("T")

TODAY = dt.date(2026, 11, 22)


def fact(value: T, source: str = "Observation/obs-1", date: dt.date | None = None,
         *, from_text: bool = False) -> Fact[T]:
    """A fact with one source."""
    return Fact[Any](value=value, sources=(source,), date=date, from_text=from_text)


def tumour(entity: Entity = Entity.STS, tumour_id: str = "cond-1", **fields: Any) -> Tumour:
    """A tumour of ``entity`` from Condition/``tumour_id``; other fields as given."""
    return Tumour(id=tumour_id, source=f"Condition/{tumour_id}",
                  entity=fact(entity, f"Condition/{tumour_id}"), **fields)


def case(*tumours: Tumour, **fields: Any) -> Case:
    """A case of patient ``pt-1`` with ``tumours``."""
    return Case(patient=Patient(id="pt-1"), tumours=tumours, **fields)


def order(resource_type: str = "MedicationRequest", order_id: str | None = "draft-1",
          **fields: Any) -> DraftOrder:
    """A draft order (selected unless said otherwise)."""
    fields.setdefault("label", "draft order")
    return DraftOrder(resource_type=resource_type, id=order_id, **fields)


def context(hook: Hook = Hook.PATIENT_VIEW, today: dt.date = TODAY) -> RuleContext:
    """A rule context."""
    return RuleContext(hook=hook, today=today)


def render(rec: Any) -> dict[str, Any]:
    """Render a Recommendation as card JSON, as an EHR would receive it."""
    from cds_service.cards import CardRenderer
    from cds_service.guidelines.catalogue import load_catalogue
    from cds_service.guidelines.wording import load_knowledge

    catalogue = load_catalogue()
    renderer = CardRenderer(catalogue, load_knowledge(catalogue, complete=False))
    card = renderer.render(rec, base_url="https://cds.example.org", patient_id="pt-1")
    return card.to_json_dict()


def fire(rule_fn: Any, subject: Case, ctx: RuleContext) -> list[Recommendation]:
    """What ``rule_fn`` advises on ``subject``, stamped with its id as the engine does."""
    rec_id = next(rec_id for rec_id, fn in RULES.items() if fn is rule_fn)
    return [Recommendation.stamped(rec_id, advice) for advice in rule_fn(subject, ctx)]
