"""Whether a resource is valid R4, remembered by a digest of its JSON for the resources seen lately.

Validating a selected resource with the R4B models is the largest single cost of a small hook
call (about 0.1 ms a resource). An EHR sends the same resources again and again: patient-view when
the chart opens, order-select on every change of selection, order-sign at the end, all with the
same prefetch. Validation is a pure function of the resource's JSON, so its outcome can be reused
for identical JSON: same answer, skipped or kept, as validating again. Only a 16-byte BLAKE2b digest
of each resource is kept, never its content, in a bounded least-recently-used table per process.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any

import orjson

from cds_service.fhir.parse import resource_problems

DEFAULT_CAPACITY = 16_384
"""Resources remembered per process (about 2 MiB)."""


class ValidityMemo:
    """Validates resources, reusing the outcome for JSON it has validated before.

    Args:
        capacity: how many outcomes to keep; the least recently used go first.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._outcomes: OrderedDict[bytes, bool] = OrderedDict()
        self._lock = threading.Lock()

    def is_valid(self, resource: dict[str, Any]) -> bool:
        """True when ``resource`` is valid FHIR R4 (the R4B models accept it)."""
        key = _digest(resource)
        if key is not None:
            with self._lock:
                known = self._outcomes.get(key)
                if known is not None:
                    self._outcomes.move_to_end(key)
                    return known
        valid = _validate(resource)
        if key is not None:
            with self._lock:
                self._outcomes[key] = valid
                if len(self._outcomes) > self._capacity:
                    self._outcomes.popitem(last=False)
        return valid

    def __len__(self) -> int:
        return len(self._outcomes)


def _digest(resource: dict[str, Any]) -> bytes | None:
    """A digest that differs whenever the JSON does; None when no such digest is at hand.

    Such resources are validated every time, as without the memo: integers beyond 64 bits and
    nesting over 254 (orjson refuses them), and any ``null``, since orjson writes NaN and the
    infinities (which ``json`` reads) as ``null`` too, and those must not share an outcome.
    """
    try:
        data = orjson.dumps(resource)
    except (orjson.JSONEncodeError, TypeError):
        return None
    if b"null" in data:
        return None
    return hashlib.blake2b(data, digest_size=16).digest()


def _validate(resource: dict[str, Any]) -> bool:
    try:
        return not resource_problems(resource)
    except RecursionError:  # nested deeper than the validator follows (extensions in extensions)
        return False
