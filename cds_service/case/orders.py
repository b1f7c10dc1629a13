"""Classify the draft orders of an order hook: drug class, imaging, fixation, tests."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from cds_service.case.concepts import in_domain
from cds_service.case.concepts import names_pelvis
from cds_service.case.concepts import positive
from cds_service.case.concepts import resource_sites
from cds_service.case.concepts import site_of
from cds_service.case.fhir_values import label_of
from cds_service.case.fhir_values import referenced
from cds_service.case.medications import classify_drug
from cds_service.case.medications import medication_concept
from cds_service.case.model import AssayMethod
from cds_service.case.model import DraftOrder
from cds_service.case.model import IhcMarker
from cds_service.case.model import OrderKind
from cds_service.case.molecular import most_informative
from cds_service.case.procedures import imaging_kind
from cds_service.terminology import Terminology

JsonObject = dict[str, Any]

_FIXATION = {"internal": OrderKind.INTERNAL_FIXATION, "external": OrderKind.EXTERNAL_FIXATION,
             "splint": OrderKind.EXTERNAL_FIXATION}
_ASSAYS = {"rna": AssayMethod.RNA_NGS, "dna": AssayMethod.DNA_PANEL, "fish": AssayMethod.FISH,
           "unknown": AssayMethod.UNKNOWN}


def map_draft_order(resource: JsonObject, selections: Collection[str] | None,
                    terminology: Terminology) -> DraftOrder:
    """Classify one draft order; ``selections`` is None on order-sign (every order counts)."""
    resource_type = str(resource.get("resourceType"))
    order_id = resource.get("id") if isinstance(resource.get("id"), str) else None
    ref = f"{resource_type}/{order_id}" if order_id else None
    selected = selections is None or (ref is not None and ref in selections)
    reasons = tuple(r for r in referenced(resource.get("reasonReference"))
                    if r.startswith("Condition/"))
    base = {"resource_type": resource_type, "id": order_id, "selected": selected,
            "reason_refs": reasons}
    if resource_type == "MedicationRequest":
        cc = medication_concept(resource)
        drug, drug_class, _ = classify_drug(cc, terminology)
        return DraftOrder(kind=OrderKind.DRUG, label=label_of(cc) or "medication order",
                          drug=drug, drug_class=drug_class, **base)
    cc = resource.get("code")
    label = label_of(cc) or f"{resource_type} order"
    return DraftOrder(label=label, **base, **_service_fields(resource, terminology))


def _service_fields(resource: JsonObject, terminology: Terminology) -> dict[str, Any]:
    matches = positive(terminology.match_codeable_concept(resource.get("code")))
    sites = resource_sites(resource, matches, terminology)
    site = site_of(sites, terminology)
    for concept in in_domain(matches, "proc"):
        fixation = terminology.attributes(concept).get("fixation")
        if fixation in _FIXATION:
            return {"kind": _FIXATION[fixation], "site": site}
        if concept == "proc/radiotherapy":
            return {"kind": OrderKind.RADIOTHERAPY, "site": site}
    for concept in in_domain(matches, "img"):
        imaging = imaging_kind(concept, terminology)
        if imaging:
            return {"kind": OrderKind.IMAGING, "imaging": imaging, "site": site,
                    "images_pelvis": names_pelvis(sites)}
    for concept in in_domain(matches, "ihc"):
        if concept != "ihc/study":
            return {"kind": OrderKind.IHC_TEST, "marker": IhcMarker(concept.split("/")[1])
                    if concept.split("/")[1] in IhcMarker._value2member_map_ else None,
                    "assay": AssayMethod.IHC if concept == "ihc/pan-trk" else None}
    tests = in_domain(matches, "test")
    if tests:
        assays = {_ASSAYS.get(str(terminology.attributes(c).get("assay"))) for c in tests}
        return {"kind": OrderKind.MOLECULAR_TEST, "assay": most_informative(assays)}
    drug, drug_class, _ = classify_drug(resource.get("code"), terminology)
    if drug_class is not None:  # chemotherapy ordered as a ServiceRequest ("Chemotherapy cycle")
        return {"kind": OrderKind.DRUG, "drug": drug, "drug_class": drug_class}
    return {"kind": OrderKind.OTHER, "site": site}
