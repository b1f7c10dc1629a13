"""The shape of a Bundle every reader relies on: ``entry`` and ``link`` lists of objects.

A Bundle whose ``entry`` is a string or an object, or whose entries (or their resources) are not
objects, must never be read as "no entries": that would turn a broken record into "nothing on
record" (contract.md, Errors). The readers (``fhir.client``, ``fhir.sieve``) skip what they cannot
use; this module says, before they run, whether there is anything they would have to skip.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_PROBLEMS = 10
"""Problems reported per Bundle: a 5,000-entry Bundle of strings needs one line, not 5,000."""


@dataclass(frozen=True)
class ShapeProblem:
    """One broken part of a Bundle.

    Attributes:
        path: JSON path inside the Bundle (``entry[3].resource``).
        message: what is wrong, without echoing the data.
    """

    path: str
    message: str


def is_bundle(value: Any) -> bool:
    """Whether ``value`` is a JSON object claiming to be a Bundle."""
    return isinstance(value, Mapping) and value.get("resourceType") == "Bundle"


def bundle_shape_problems(bundle: Mapping[str, Any]) -> list[ShapeProblem]:
    """What breaks the Bundle's shape: ``entry`` or ``link`` not a list of objects, an entry
    without a resource object. At most :data:`MAX_PROBLEMS`; empty when the shape is sound.

    An absent ``entry`` or ``link`` is sound (an empty searchset has none); present, it must be a
    list, ``null`` included (FHIR JSON has no null elements).
    """
    problems: list[ShapeProblem] = []
    if "entry" in bundle:
        entries = bundle["entry"]
        if not isinstance(entries, list):
            problems.append(ShapeProblem("entry", "must be an array of Bundle entries"))
        else:
            for index, entry in enumerate(entries):
                if not isinstance(entry, Mapping):
                    problems.append(ShapeProblem(f"entry[{index}]", "must be an object"))
                elif not isinstance(entry.get("resource"), Mapping):
                    problems.append(ShapeProblem(f"entry[{index}].resource",
                                                 "must be a FHIR resource (a JSON object)"))
                if len(problems) >= MAX_PROBLEMS:
                    return problems
    if "link" in bundle:
        links = bundle["link"]
        if not isinstance(links, list):
            problems.append(ShapeProblem("link", "must be an array of links"))
        else:
            problems += [ShapeProblem(f"link[{index}]", "must be an object")
                         for index, link in enumerate(links) if not isinstance(link, Mapping)]
    return problems[:MAX_PROBLEMS]
