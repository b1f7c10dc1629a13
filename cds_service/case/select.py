"""Pick the resources that could matter, by type and code or text, and validate only those.

Speed: a record of thousands of resources is mostly labs and vitals no rule reads; they are
skipped unread, and the outcome of validating a resource seen before is reused (``ValidityMemo``).
A selected resource that fails validation is skipped and named (partial-data policy in
contract.md), never silently dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cds_service.case.conditions import RELATED_CONDITION_EXTENSIONS
from cds_service.case.fhir_values import referenced
from cds_service.case.medications import medication_concept
from cds_service.case.medications import names_no_drug
from cds_service.fhir.validity import ValidityMemo
from cds_service.terminology import Terminology

log = logging.getLogger(__name__)

JsonObject = dict[str, Any]

_validity = ValidityMemo()
"""Outcomes of validating the resources this process has seen lately (the same record recurs)."""

# What each resource type is judged by before it is read.
_PREFILTER_FIELDS = {
    "Condition": ("code", "bodySite"),
    "Observation": ("code", "valueCodeableConcept", "valueString"),
    "Procedure": ("code",),
    "MedicationRequest": ("medicationCodeableConcept", "medicationReference"),
    "MedicationStatement": ("medicationCodeableConcept", "medicationReference"),
    "ServiceRequest": ("code",),
}
# ... and by these elements of its lists (list, element): coded extensions, notes, components.
_PREFILTER_ELEMENTS = (
    ("extension", "valueCodeableConcept"),
    ("note", "text"),
    ("component", "code"),
)
JUDGED_FIELDS = frozenset(
    {"resourceType", "medicationReference", "contained"}
    | {name for fields in _PREFILTER_FIELDS.values() for name in fields}
    | {name for name, _ in _PREFILTER_ELEMENTS}
)
"""The top-level elements :func:`could_matter` reads: it decides on a resource cut down to these
as on the whole resource (fetched pages are judged that way before they are decoded whole)."""


@dataclass(frozen=True)
class Selection:
    """The resources worth reading, validated.

    Attributes:
        resources: valid selected resources (and the Patient), in record order.
        unreadable: ``Type/id`` of selected resources that failed validation, or that are
            medications naming no drug this service can read (``names_no_drug``).
    """

    resources: tuple[JsonObject, ...]
    unreadable: tuple[str, ...]


def select_resources(resources: Iterable[Any], terminology: Terminology) -> Selection:
    """Keep the candidates among ``resources``, validate them, name the unreadable ones."""
    items = [r for r in resources if isinstance(r, dict)]
    candidate = [_is_candidate(r, terminology) for r in items]
    # A Condition coded only as "neoplasm of soft tissue" is a tumour by the histology
    # Observation that names it (mCODE 31206-6 / 59847-4 with focus or related condition).
    named = {ref for r, chosen in zip(items, candidate, strict=True) if chosen
             for ref in _conditions_named_by(r)}
    kept: list[JsonObject] = []
    unreadable: list[str] = []
    seen: set[str] = set()
    for resource, chosen in zip(items, candidate, strict=True):
        ref = f"{resource.get('resourceType')}/{resource.get('id', '')}"
        if not chosen and not (resource.get("resourceType") == "Condition" and ref in named):
            continue
        if ref in seen and resource.get("id"):
            continue  # the same resource twice (two pages, two keys): read it once
        seen.add(ref)
        if not _validity.is_valid(resource):
            unreadable.append(ref)
            log.warning("skipped unreadable resource %s", ref)
            continue
        if names_no_drug(resource):
            unreadable.append(ref)
            log.warning("skipped unreadable resource %s: its drug is named by no code or text",
                        ref)
            continue
        kept.append(resource)
    return Selection(tuple(kept), tuple(dict.fromkeys(unreadable)))


def could_matter(resource: Any, terminology: Terminology) -> bool:
    """Whether ``resource`` can be among those :func:`select_resources` keeps.

    A filter that can run on each page of a record as it is fetched, before the rest arrives:
    false only for resources the selection would skip whatever else the record holds. Every
    Condition passes, since a histology Observation elsewhere may name it.
    """
    if not isinstance(resource, dict):
        return False
    return resource.get("resourceType") == "Condition" or _is_candidate(resource, terminology)


def _conditions_named_by(resource: JsonObject) -> list[str]:
    if resource.get("resourceType") != "Observation":
        return []
    refs = list(referenced(resource.get("focus")))
    for extension in _list(resource.get("extension")):
        if isinstance(extension, dict) and extension.get("url") in RELATED_CONDITION_EXTENSIONS:
            refs += referenced(extension.get("valueReference"))
    return [ref for ref in refs if ref.startswith("Condition/")]


def _is_candidate(resource: JsonObject, terminology: Terminology) -> bool:
    resource_type = resource.get("resourceType")
    if resource_type == "Patient":
        return True
    fields = _PREFILTER_FIELDS.get(resource_type) if isinstance(resource_type, str) else None
    if fields is None:
        return False
    judge = terminology.candidate_judge(resource_type)
    # Judged value by value, stopping at the first that makes the resource a candidate.
    for name in fields:
        value = resource.get(name)
        if value is not None and judge(value):
            return True
    # Not validated yet: a list element may hold any JSON value, and iterating it must not raise.
    for name, inner in _PREFILTER_ELEMENTS:
        elements = resource.get(name)
        if not isinstance(elements, list):
            continue
        for element in elements:
            value = element.get(inner) if isinstance(element, dict) else None
            if value is not None and judge(value):
                return True
    if "medicationReference" not in resource:
        return False
    medication = medication_concept(resource)
    return judge(medication) if medication is not None else names_no_drug(resource)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
