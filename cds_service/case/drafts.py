"""Read the draft orders of an order hook leniently (contract.md, "Draft orders are read
leniently").

EHRs and the reference CDS Hooks sandbox send drafts that are not strictly valid R4: a
``category`` object instead of a list, no ``intent``, no medication while the clinician is still
choosing, STU3-style dosage. Only the fields a rule uses are read — type, id, status, code or
medication, body site, reasons, subject — each validated as its FHIR R4 datatype; any other field
is ignored, however malformed. A list field given as a single object is read as a list of one. A
draft whose used fields cannot be read is named (``Type/id``, or its position in ``draftOrders``)
and left out: it gets no card, and the other drafts are read as usual.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from cds_service.fhir.parse import model_class

JsonObject = dict[str, Any]

ORDER_TYPES = frozenset({"MedicationRequest", "ServiceRequest"})
"""The draft types the rules classify; drafts of other types are ignored unread."""

_SINGLE = {"id": "id", "status": "code", "code": "CodeableConcept",
           "medicationCodeableConcept": "CodeableConcept", "medicationReference": "Reference",
           "subject": "Reference"}
"""Used fields holding one value, with the FHIR datatype each must read as."""
_LISTS = {"bodySite": "CodeableConcept", "reasonCode": "CodeableConcept",
          "reasonReference": "Reference", "contained": "Resource"}
"""Used fields holding a list (``contained``: the Medication a ``medicationReference`` names)."""


@dataclass(frozen=True)
class DraftReading:
    """The drafts of one ``draftOrders`` Bundle, read.

    Attributes:
        drafts: each readable draft of a type the rules classify, cut down to its used fields.
        unreadable: how each draft whose used fields cannot be read is named.
    """

    drafts: tuple[JsonObject, ...]
    unreadable: tuple[str, ...]


def read_drafts(bundle: JsonObject | None) -> DraftReading:
    """Read every entry of a ``draftOrders`` Bundle (its envelope is already checked)."""
    drafts: list[JsonObject] = []
    unreadable: list[str] = []
    entries = (bundle or {}).get("entry")
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        position = f"context.draftOrders.entry[{index}]"
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            unreadable.append(position)
            continue
        if resource["resourceType"] not in ORDER_TYPES:
            continue  # cds-hooks.md: any order type may come; the rules read only these
        draft = _used_fields(resource)
        if draft is None:
            unreadable.append(_name(resource, position))
        else:
            drafts.append(draft)
    return DraftReading(tuple(drafts), tuple(unreadable))


def _name(resource: JsonObject, position: str) -> str:
    resource_id = resource.get("id")
    if isinstance(resource_id, str) and resource_id:
        return f"{resource['resourceType']}/{resource_id}"
    return position


def _used_fields(resource: JsonObject) -> JsonObject | None:
    """The draft cut down to the fields rules use, lists normalised; None when one is unreadable."""
    draft: JsonObject = {"resourceType": resource["resourceType"]}
    for name, datatype in _SINGLE.items():
        value = resource.get(name)
        if value is None:
            continue
        if not _reads_as(datatype, value):
            return None
        draft[name] = value
    for name, datatype in _LISTS.items():
        value = resource.get(name)
        if value is None:
            continue
        items = value if isinstance(value, list) else [value]
        if name == "contained":  # read only for the Medication a medicationReference names
            if "medicationReference" not in draft:
                continue
            items = [v for v in items
                     if isinstance(v, dict) and v.get("resourceType") == "Medication"]
            datatype = "Medication"
        if not all(_reads_as(datatype, item) for item in items):
            return None
        draft[name] = items
    return draft


def _reads_as(datatype: str, value: Any) -> bool:
    if datatype == "id":
        return isinstance(value, str) and bool(value.strip())
    if datatype == "code":
        return isinstance(value, str)
    cls = model_class(datatype)
    if cls is None or not isinstance(value, dict):
        return False
    try:
        cls.model_validate(value)
    except (ValidationError, ValueError, TypeError):
        return False
    return True

