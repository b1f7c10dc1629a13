"""JSON to fhir.resources R4B models (wire-compatible with R4 for every type we read or write)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir_core.fhirabstractmodel import FHIRAbstractModel
from pydantic import ValidationError


@dataclass(frozen=True)
class ResourceProblem:
    """Why a resource is not valid FHIR R4.

    Attributes:
        path: dotted path inside the resource (empty for the resource itself).
        message: what is wrong, without echoing the data.
    """

    path: str
    message: str


@cache
def model_class(resource_type: str) -> type[FHIRAbstractModel] | None:
    """Return the R4B model of ``resource_type``, or None when FHIR has no such resource."""
    if not resource_type.isalpha():
        return None
    try:
        return get_fhir_model_class(resource_type)
    except (ValueError, KeyError, AttributeError):
        return None


def _dotted(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def resource_problems(resource: Any) -> list[ResourceProblem]:
    """Validate one FHIR resource (a JSON object); return its problems, empty when valid."""
    if not isinstance(resource, dict):
        return [ResourceProblem("", "must be a JSON object")]
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str) or not resource_type:
        return [ResourceProblem("resourceType", "is required")]
    cls = model_class(resource_type)
    if cls is None:
        problem = f"{resource_type!r} is not a FHIR R4 resource type"
        return [ResourceProblem("resourceType", problem)]
    try:
        cls.model_validate(resource)
    except ValidationError as exc:
        return [
            ResourceProblem(_dotted(tuple(err["loc"])), err["msg"])
            for err in exc.errors(include_input=False, include_url=False)
        ]
    except (ValueError, TypeError) as exc:  # fhir.resources raises these for some shape errors
        return [ResourceProblem("", str(exc).splitlines()[0])]
    return []


def is_known_resource_type(resource_type: Any) -> bool:
    """True when ``resource_type`` names a FHIR R4 resource."""
    return isinstance(resource_type, str) and model_class(resource_type) is not None
