"""The findings a Condition states: a metastasis, a local recurrence, unresectable disease, a
pathological fracture."""

from __future__ import annotations

from typing import Any

from cds_service.case.concepts import attribute
from cds_service.case.concepts import in_domain
from cds_service.case.concepts import only_text
from cds_service.case.concepts import resource_sites
from cds_service.case.findings import Finding
from cds_service.terminology import Match
from cds_service.terminology import Terminology

JsonObject = dict[str, Any]


def condition_findings(resource: JsonObject, matches: list[Match], terminology: Terminology, *,
                       ref: str, date: Any, targets: tuple[str, ...],
                       status: str | None) -> list[Finding]:
    """The findings of a Condition's recognised concepts.

    Args:
        resource: the Condition.
        matches: the concepts recognised in it.
        terminology: the value sets.
        ref: ``Condition/<id>``, the source of the findings.
        date: its onset or recorded date.
        targets: the Conditions its related-condition extensions name.
        status: its ``status/*`` concept (a recurrence status records a recurrence of itself).
    """
    found = [Finding(kind, value, ref, date, targets,
                     from_text=only_text(m for m in matches if m.concept == concept))
             for concept, kind, value in _finding_values(resource, matches, status, terminology)]
    found = _one_fracture(found)
    if status and attribute(terminology, status, "recurrence"):
        found.append(Finding("recurrence", True, ref, None, (ref,)))
    return found


def _finding_values(resource: JsonObject, matches: list[Match], status: str | None,
                    terminology: Terminology) -> list[tuple[str, str, Any]]:
    """(concept, kind, value) of each finding concept of a kind the case records."""
    # "Pathological fracture of the left femur through tumour": the cause, named apart from the
    # fracture, makes it a fracture in neoplastic disease.
    neoplastic_cause = any(attribute(terminology, c, "fracture_cause") == "neoplastic"
                           for c in in_domain(matches, "finding"))
    # The site of a fracture: its own bodySite when that names one, else its code's (the M84.5-
    # site characters).
    sites = resource_sites(resource, matches, terminology)
    found: list[tuple[str, str, Any]] = []
    for concept in in_domain(matches, "finding"):
        kind = _finding_kind(concept, terminology)
        if kind == "fracture":
            found.append((concept, kind, _fracture(concept, neoplastic_cause, sites, terminology)))
        elif kind == "metastasis":
            found.append((concept, kind, _metastasis(concept, status, terminology)))
        elif kind in ("recurrence", "unresectable"):
            found.append((concept, kind, True))
    return found


def _finding_kind(concept: str, terminology: Terminology) -> str | None:
    attributes = terminology.attributes(concept)
    if attributes.get("kind") == "pathological-fracture":
        return "fracture"
    if attributes.get("metastatic"):
        return "metastasis"
    if attributes.get("local"):
        return "recurrence"
    if attributes.get("advanced"):
        return "unresectable"
    return None


def _fracture(concept: str, neoplastic_cause: bool, sites: list[str],
              terminology: Terminology) -> dict[str, Any]:
    return {"neoplastic": attribute(terminology, concept, "neoplastic") or neoplastic_cause,
            "sites": sites}


def _metastasis(concept: str, status: str | None, terminology: Terminology) -> dict[str, Any]:
    return {"lung": attribute(terminology, concept, "pulmonary"),
            "nodal": bool(attribute(terminology, concept, "nodal")),
            "bone": bool(attribute(terminology, concept, "bone")), "status": status}


def _one_fracture(found: list[Finding]) -> list[Finding]:
    """One Condition is one fracture: M84.552A with the words "pathological fracture" is a
    fracture in neoplastic disease, not also a second, non-neoplastic one."""
    fractures = [f for f in found if f.kind == "fracture"]
    if len(fractures) <= 1:
        return found
    keep = next((f for f in fractures if f.value["neoplastic"]), fractures[0])
    return [f for f in found if f.kind != "fracture" or f is keep]
