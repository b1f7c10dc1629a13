"""Render recommendations as CDS Hooks cards from the wording templates: the only card builder."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cds_service.guidelines.catalogue import Catalogue
from cds_service.guidelines.recommendation import ProposedOrder
from cds_service.guidelines.recommendation import Recommendation
from cds_service.guidelines.recommendation import SuggestionSpec
from cds_service.guidelines.recommendation import UsedFact
from cds_service.guidelines.wording import Knowledge
from cds_service.guidelines.wording import OrderTemplate
from cds_service.hooks.models import Action
from cds_service.hooks.models import ActionType
from cds_service.hooks.models import Card
from cds_service.hooks.models import Coding
from cds_service.hooks.models import Link
from cds_service.hooks.models import LinkType
from cds_service.hooks.models import SelectionBehavior
from cds_service.hooks.models import Source
from cds_service.hooks.models import Suggestion
from cds_service.identifiers import EXTENSION_KEY
from cds_service.identifiers import OVERRIDE_REASON_SYSTEM
from cds_service.identifiers import RECOMMENDATION_SYSTEM
from cds_service.uuids import new_uuid


class _Values(dict[str, str]):
    """Template values; a missing one is a bug in a rule, reported by name."""

    def __missing__(self, key: str) -> str:
        raise KeyError(f"wording placeholder {{{key}}} has no value")


@dataclass(frozen=True)
class CardRenderer:
    """Turns recommendations into cards.

    Attributes:
        catalogue: ids, titles and sources.
        knowledge: wording and order templates.
    """

    catalogue: Catalogue
    knowledge: Knowledge

    def render(self, rec: Recommendation, *, base_url: str, patient_id: str) -> Card:
        """One card for ``rec``; ``base_url`` is this service's public base (no trailing slash)."""
        spec = self.catalogue.get(rec.id)
        if spec is None:
            raise KeyError(f"unknown recommendation {rec.id!r}")
        text = self.knowledge.wording[rec.id]
        values = _Values(rec.values)
        summary = text.summary[rec.variant].format_map(values)
        sources = "; ".join(f"*{self.catalogue.sources[key].title}*" for key in spec.sources)
        hedge = self.knowledge.orders.other_condition
        what = [text.detail[rec.variant].format_map(values).strip()]
        codes = list(text.override_reasons)
        if rec.other_conditions:
            summary = _hedged_summary(summary, hedge.summary_prefix, hedge.short_prefix)
            what.append(hedge.detail.format_map(_Values(
                tumour=values["tumour"],
                conditions="; ".join(f"{f.value}, {', '.join(f.sources)}"
                                     for f in rec.other_conditions))).strip())
            codes.append(hedge.override_reason)
        detail = "\n\n".join([
            *what,
            _why(rec.facts),
            "**Evidence**\n\n" + text.evidence.format_map(values).strip(),
            f"**Sources:** {sources}",
        ])
        suggestions = [self._suggestion(s, text.suggestions, values, patient_id)
                       for s in rec.suggestions]
        reasons = [Coding(system=OVERRIDE_REASON_SYSTEM, code=code,
                          display=self.knowledge.orders.override_reasons[code])
                   for code in dict.fromkeys(codes)] if rec.against_order else []
        return Card(
            uuid=new_uuid(),
            summary=summary,
            detail=detail,
            indicator=rec.indicator,
            source=Source(
                label=self.catalogue.source_label(spec),
                url=f"{base_url}/recommendations",
                topic=Coding(system=RECOMMENDATION_SYSTEM, code=spec.id, display=spec.title),
            ),
            suggestions=suggestions or None,
            selection_behavior=SelectionBehavior.AT_MOST_ONE if suggestions else None,
            override_reasons=reasons or None,
            links=[Link(label=f"About this recommendation: {spec.title}"[:120],
                        url=f"{base_url}/recommendations/{spec.id}", type=LinkType.ABSOLUTE)],
            extension={EXTENSION_KEY: _explanation(rec)},
        )

    def _suggestion(self, spec: SuggestionSpec, labels: Mapping[str, str], values: _Values,
                    patient_id: str) -> Suggestion:
        # create before delete (contract.md): an EHR that applies every action gets the same
        # result, and the reference sandbox, which applies only the first, swaps the order.
        actions = []
        for order in spec.creates:
            template = self.knowledge.orders.orders[order.kind]
            actions.append(Action(type=ActionType.CREATE,
                                  description=f"Create a draft order: {template.text}",
                                  resource=build_order(template, order, patient_id)))
        actions += [Action(type=ActionType.DELETE, description=f"Remove the draft order {ref}",
                           resource_id=ref) for ref in spec.deletes]
        return Suggestion(label=labels[spec.label].format_map(values), uuid=new_uuid(),
                          is_recommended=spec.recommended, actions=actions or None)


def build_order(template: OrderTemplate, order: ProposedOrder, patient_id: str) -> dict[str, Any]:
    """A draft-proposal FHIR resource for ``order``, coded as the template says."""
    # A site-specific code replaces the generic one (terminology.md §5: CPT by limb, "else" SNOMED).
    codings = list(template.codings_by_site.get(order.site or "", ()) or template.codings)
    concept: dict[str, Any] = {"text": template.text}
    if codings:
        concept["coding"] = [dict(c) for c in codings]
    resource: dict[str, Any] = {
        "resourceType": template.resource_type,
        "status": "draft",
        "intent": "proposal",
        "subject": {"reference": f"Patient/{patient_id}"},
    }
    if template.resource_type == "MedicationRequest":
        resource["medicationCodeableConcept"] = concept
    else:
        resource["code"] = concept
        if template.category:
            resource["category"] = [template.category]
        if template.copy_body_site and order.body_site:
            resource["bodySite"] = [dict(order.body_site)]
    if order.reason:
        resource["reasonReference"] = [{"reference": order.reason}]
    return resource


_SUMMARY_MAX = 139
"""The Card model's summary limit (CDS Hooks: under 140 characters)."""


def _hedged_summary(summary: str, prefix: str, short: str) -> str:
    """``If this order is for the advanced PEComa ...: ...``, within the summary limit."""
    word = summary.split(" ", 1)[0]
    lowered = summary[:1].lower() + summary[1:] if word[1:2].islower() else summary
    for start in (prefix, short):
        if len(start) + len(lowered) <= _SUMMARY_MAX:
            return start + lowered
    return (short + lowered)[: _SUMMARY_MAX - 1].rstrip() + "…"


def _why(facts: tuple[UsedFact, ...]) -> str:
    lines = ["**Why this card**", ""]
    for fact in facts:
        where = ", ".join(fact.sources)
        when = f", {fact.date.isoformat()}" if fact.date else ""
        trail = f" — {where}{when}" if where or when else ""
        lines.append(f"- {fact.name}: {fact.value}{trail}")
    return "\n".join(lines)


def _explanation(rec: Recommendation) -> dict[str, Any]:
    references = sorted({ref for fact in rec.facts for ref in fact.sources})
    facts = []
    for fact in rec.facts:
        item: dict[str, Any] = {"name": fact.name, "value": fact.value}
        if fact.date:
            item["date"] = fact.date.isoformat()
        if fact.sources:
            item["references"] = list(fact.sources)
        facts.append(item)
    explanation: dict[str, Any] = {"recommendationId": rec.id, "subject": rec.subject}
    if facts:
        explanation["facts"] = facts
    if references:
        explanation["references"] = references
    return explanation
