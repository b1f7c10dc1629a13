"""Offline evaluation of a fixture or a Bundle file: the case with provenance, and the cards.

The same pipeline as a hook call (request validation, prefetch resolution, case, engine, cards),
without HTTP and without a FHIR server: the tool a clinician uses to review a case.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cds_service.case.model import Case
from cds_service.case.model import Fact
from cds_service.guidance import Guidance
from cds_service.guidance import IssuedGuidance
from cds_service.hooks.prefetch import prefetch_from_bundle
from cds_service.hooks.services import PREFETCH
from cds_service.hooks.services import SERVICES
from cds_service.pipeline import Pipeline
from cds_service.settings import Settings
from cds_service.vocabulary import Hook

JsonObject = dict[str, Any]


class EvaluateError(ValueError):
    """The path is not a Bundle file or a scenario folder the command can read."""


@dataclass(frozen=True)
class Review:
    """The result of an offline evaluation.

    Attributes:
        case: the case model.
        issued: the cards, with their recommendation ids.
        unreadable: resources skipped as invalid.
    """

    case: Case
    issued: tuple[IssuedGuidance, ...]
    unreadable: tuple[str, ...]


def load_request(path: Path, hook: Hook) -> JsonObject:
    """A hook request for ``path``: a scenario folder's request file, or one built from a Bundle.

    Raises:
        EvaluateError: unreadable path or JSON, or a Bundle without a Patient.
    """
    folder = path if path.is_dir() else None
    bundle_path = folder / "bundle.json" if folder else path
    try:
        bundle = json.loads(bundle_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EvaluateError(f"cannot read a FHIR Bundle from {bundle_path}: {exc}") from None
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise EvaluateError(f"{bundle_path} is not a FHIR Bundle")
    request_file = folder / f"{hook.value}.json" if folder else None
    if request_file and request_file.exists():
        request: JsonObject = json.loads(request_file.read_text(encoding="utf-8"))
    else:
        request = _request_for(bundle, hook, bundle_path)
    request.setdefault("prefetch", prefetch_from_bundle(PREFETCH, bundle))
    return request


def _request_for(bundle: JsonObject, hook: Hook, where: Path) -> JsonObject:
    if hook is Hook.ORDER_SELECT:
        raise EvaluateError("order-select needs a scenario folder with an order-select.json")
    patient_ids = [e["resource"].get("id") for e in bundle.get("entry") or []
                   if isinstance(e, dict) and isinstance(e.get("resource"), dict)
                   and e["resource"].get("resourceType") == "Patient"]
    if not patient_ids or not isinstance(patient_ids[0], str):
        raise EvaluateError(f"{where} has no Patient with an id")
    context: JsonObject = {"userId": "Practitioner/offline-review", "patientId": patient_ids[0]}
    if hook is Hook.ORDER_SIGN:
        context["draftOrders"] = {"resourceType": "Bundle", "type": "collection", "entry": []}
    return {"hook": hook.value, "hookInstance": str(uuid.uuid4()), "context": context}


def evaluate_path(path: Path, hook: Hook, guidance: Guidance, settings: Settings,
                  base_url: str = "http://127.0.0.1:8080") -> Review:
    """Run the hook-call pipeline on ``path``.

    Raises:
        EvaluateError: unreadable input.
        CdsError: the request is invalid (400) or its data incomplete (412), as over HTTP.
    """
    service = next(service for service in SERVICES if service.hook == hook)
    outcome = Pipeline.of(guidance, settings).run(service, load_request(path, hook), base_url)
    decision = outcome.decision
    assert decision.case is not None  # Guidance.decide always builds one
    return Review(decision.case, decision.issued, decision.unreadable)


def review_json(review: Review) -> JsonObject:
    """The review as JSON: the case model and the cards."""
    return {
        "case": review.case.model_dump(mode="json", exclude_defaults=True),
        "cards": [item.card.to_json_dict() for item in review.issued],
        "unreadableResources": list(review.unreadable),
    }


def review_text(review: Review) -> str:
    """The review as text: each tumour's facts with their sources, then the cards."""
    lines = [f"Patient {review.case.patient.id}"]
    for tumour in review.case.tumours:
        lines.append(f"\nTumour {tumour.source}: {tumour.entity.value.value}")
        for name, value in tumour:
            if name in ("id", "source") or value in (None, ()):
                continue
            lines.append(f"  {name}: {_show(value)}")
    for name in ("imaging", "medications", "radiotherapy", "referrals", "fractures",
                 "draft_orders"):
        for item in getattr(review.case, name):
            lines.append(f"{name}: {_show(item)}")
    if review.unreadable:
        lines.append(f"unreadable resources: {', '.join(review.unreadable)}")
    lines.append(f"\nCards ({len(review.issued)}):")
    for item in review.issued:
        lines.append(f"  [{item.card.indicator.value}] {item.recommendation_id}: "
                     f"{item.card.summary}")
    return "\n".join(lines)


def _show(value: Any) -> str:
    if isinstance(value, Fact):
        where = ", ".join(value.sources)
        when = f" ({value.date.isoformat()})" if value.date else ""
        text = " [from text]" if value.from_text else ""
        return f"{_show(value.value)}{when} — {where}{text}"
    if isinstance(value, tuple):
        return "; ".join(_show(item) for item in value)
    if hasattr(value, "model_dump"):
        dumped = value.model_dump(mode="json", exclude_defaults=True)
        return ", ".join(f"{k}={v}" for k, v in dumped.items())
    return str(getattr(value, "value", value))
