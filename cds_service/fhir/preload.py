"""Import ahead of time the R4B element models that validating a resource would import lazily."""

from __future__ import annotations

import typing
from collections.abc import Iterable
from collections.abc import Iterator
from typing import Any

from fhir_core.fhirabstractmodel import FHIRAbstractModel
from fhir_core.types import FhirBase

from cds_service.fhir.parse import model_class


def load_element_models(resource_types: Iterable[str]) -> int:
    """Import every element model the R4B classes of ``resource_types`` can contain.

    fhir.resources finds an element's class (``Observation.referenceRange``, ``Dosage``...) by
    importing it by name the first time a value of it is validated. Done once before gunicorn
    forks, the imports are shared by the workers and no hook call pays for them.

    Args:
        resource_types: FHIR resource type names; unknown ones are skipped.

    Returns:
        How many model classes were reached, the resources' own included.
    """
    roots = (model_class(name) for name in resource_types)
    pending: list[type[FHIRAbstractModel]] = [cls for cls in roots if cls is not None]
    reached: set[type[FHIRAbstractModel]] = set()
    while pending:
        cls = pending.pop()
        if cls in reached:
            continue
        reached.add(cls)
        for field in cls.model_fields.values():
            for fhir_type in _fhir_types(field.annotation):
                element = fhir_type.get_model_klass()  # the lazy import, cached by fhir_core
                if isinstance(element, type) and element not in reached:
                    pending.append(element)
    return len(reached)


def _fhir_types(annotation: Any) -> Iterator[Any]:
    """The fhir_core types inside an annotation (``Optional[List[ReferenceType]]``...)."""
    stack = [annotation]
    while stack:
        tp = stack.pop()
        if isinstance(tp, type) and issubclass(tp, FhirBase) and hasattr(tp, "get_model_klass"):
            yield tp
        stack.extend(typing.get_args(tp))
