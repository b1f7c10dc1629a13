"""Small readers of FHIR JSON values: dates in every precision, references, codeable text."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

JsonObject = dict[str, Any]

_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


def parse_date(value: Any) -> dt.date | None:
    """The date of a FHIR date, dateTime or instant, in any precision (``2024``, ``2024-03``).

    A partial date reads as its first day, the earliest date it can mean.
    """
    if not isinstance(value, str):
        return None
    match = _DATE.match(value)
    if not match:
        return None
    year, month, day = (int(part) if part else 1 for part in match.groups())
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def first_date(resource: JsonObject, *fields: str) -> dt.date | None:
    """The first date found among ``fields``; a Period gives its start (or end)."""
    for name in fields:
        value = resource.get(name)
        if isinstance(value, dict):
            found = parse_date(value.get("start")) or parse_date(value.get("end"))
        else:
            found = parse_date(value)
        if found:
            return found
    return None


def reference_of(resource: JsonObject) -> str:
    """``Type/id`` of a resource."""
    return f"{resource.get('resourceType')}/{resource.get('id', '')}"


def referenced(value: Any) -> Iterator[str]:
    """The ``Type/id`` references held by a Reference or a list of them (relative or absolute)."""
    items = value if isinstance(value, list) else [value]
    for item in items:
        ref = item.get("reference") if isinstance(item, dict) else None
        if isinstance(ref, str) and "/" in ref:
            parts = ref.rstrip("/").split("/")
            if "_history" in parts:
                parts = parts[: parts.index("_history")]
            yield "/".join(parts[-2:])


def codeable_texts(cc: Any) -> list[str]:
    """The text and coding displays of a CodeableConcept (for recognising concepts in text)."""
    if not isinstance(cc, dict):
        return []
    texts = [cc["text"]] if isinstance(cc.get("text"), str) else []
    for coding in cc.get("coding") or []:
        if isinstance(coding, dict) and isinstance(coding.get("display"), str):
            texts.append(coding["display"])
    return texts


def label_of(cc: Any) -> str | None:
    """A human-readable label of a CodeableConcept: its text, else a coding display or code."""
    if not isinstance(cc, dict):
        return None
    if isinstance(cc.get("text"), str) and cc["text"].strip():
        return str(cc["text"]).strip()
    for coding in cc.get("coding") or []:
        if isinstance(coding, dict):
            for key in ("display", "code"):
                if isinstance(coding.get(key), str) and coding[key].strip():
                    return str(coding[key]).strip()
    return None


def status_code(cc: Any) -> str | None:
    """The first coding's code of a status CodeableConcept (clinicalStatus, verificationStatus)."""
    if not isinstance(cc, dict):
        return None
    for coding in cc.get("coding") or []:
        if isinstance(coding, dict) and isinstance(coding.get("code"), str):
            return str(coding["code"])
    return None
