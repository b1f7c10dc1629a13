"""Map Procedures and completed ServiceRequests to resections, biopsies, imaging and care."""

from __future__ import annotations

from typing import Any

from cds_service.case.concepts import in_domain
from cds_service.case.concepts import only_text
from cds_service.case.concepts import positive
from cds_service.case.concepts import resource_sites
from cds_service.case.fhir_values import codeable_texts
from cds_service.case.fhir_values import first_date
from cds_service.case.fhir_values import reference_of
from cds_service.case.fhir_values import referenced
from cds_service.case.findings import Finding
from cds_service.case.model import BiopsyKind
from cds_service.case.model import ImagingKind
from cds_service.case.model import ResectionKind
from cds_service.terminology import Match
from cds_service.terminology import Terminology

JsonObject = dict[str, Any]

_DONE = {"completed", "in-progress"}
_RESECTION_BY_EXTENT = {"wide": ResectionKind.WIDE, "radical": ResectionKind.WIDE,
                        "marginal": ResectionKind.MARGINAL, "micrographic": ResectionKind.MOHS}
_BIOPSY_BY_CONCEPT = {"proc/fna": BiopsyKind.FNA, "proc/core-biopsy": BiopsyKind.CORE,
                      "proc/incisional-biopsy": BiopsyKind.INCISIONAL,
                      "proc/excisional-biopsy": BiopsyKind.EXCISIONAL,
                      "proc/biopsy": BiopsyKind.UNSPECIFIED}
_REFERRALS = {"proc/referral-sarcoma-centre", "proc/tumour-board"}
_LEAST_ADEQUATE_FIRST = [ResectionKind.UNPLANNED, ResectionKind.MARGINAL, ResectionKind.EXCISION,
                         ResectionKind.MOHS, ResectionKind.RE_EXCISION, ResectionKind.WIDE]


def map_procedure(resource: JsonObject, terminology: Terminology) -> list[Finding]:
    """Findings of a performed Procedure (empty when not done or irrelevant)."""
    if resource.get("status") not in _DONE:
        return []
    date = first_date(resource, "performedDateTime", "performedPeriod", "performedString")
    outcome = resource.get("outcome")
    return _events(resource, terminology, date, outcome)


def map_service_request(resource: JsonObject, terminology: Terminology) -> list[Finding]:
    """Findings of a ServiceRequest on record: done imaging, and referrals ordered or done."""
    status = resource.get("status")
    if status not in ("active", "completed"):
        return []
    date = first_date(resource, "occurrenceDateTime", "occurrencePeriod", "authoredOn")
    findings = _events(resource, terminology, date, None)
    if status == "completed":
        return findings
    return [f for f in findings if f.kind == "referral"]  # an open order is not a done study


def _events(resource: JsonObject, terminology: Terminology, date: Any,
            outcome: Any) -> list[Finding]:
    code = positive(terminology.match_codeable_concept(resource.get("code")))
    sites = resource_sites(resource, code, terminology)
    source = reference_of(resource)
    targets = tuple(t for t in referenced(resource.get("reasonReference"))
                    if t.startswith("Condition/"))
    text = only_text(code)
    found: list[Finding] = []
    procs = in_domain(code, "proc")
    resection = _resection(procs, outcome, terminology)
    if resection is not None:
        found.append(Finding("resection", resection, source, date, targets, text,
                             sites=tuple(sites)))
    for concept in procs:
        if concept in _BIOPSY_BY_CONCEPT:
            adequacy = _adequacy(resource, outcome, terminology)
            found.append(Finding("biopsy", (_BIOPSY_BY_CONCEPT[concept], adequacy), source, date,
                                 targets, text, sites=tuple(sites)))
        if concept == "proc/radiotherapy":
            found.append(Finding("radiotherapy", True, source, date, targets, text))
        if concept in _REFERRALS:
            found.append(Finding("referral", True, source, date, targets, text))
        if terminology.attributes(concept).get("metastasectomy"):
            found.append(Finding("metastasectomy", True, source, date, targets, text))
    for concept in in_domain(code, "img"):
        kind = imaging_kind(concept, terminology)
        if kind:
            found.append(Finding("imaging", (kind, tuple(dict.fromkeys(sites))), source, date,
                                 targets, text))
    return found


def _resection(procs: list[str], outcome: Any,
               terminology: Terminology) -> tuple[ResectionKind, list[str]] | None:
    """One resection per Procedure; when codes and words disagree, the least adequate kind wins
    (a radical-resection code described as "marginal excision" was marginal)."""
    kinds = [_resection_kind(terminology.attributes(c)) for c in procs
             if terminology.attributes(c).get("resection")]
    if not kinds:
        return None
    kind = min(kinds, key=_LEAST_ADEQUATE_FIRST.index)
    margin = in_domain(positive(terminology.match_text(" ".join(codeable_texts(outcome)),
                                                       domain="margin")), "margin")
    return kind, margin[:1]


def _resection_kind(attributes: Any) -> ResectionKind:
    if attributes.get("unplanned") or attributes.get("unplanned_if_sarcoma"):
        return ResectionKind.UNPLANNED  # an excisional biopsy is an excision nobody planned
    if attributes.get("re_excision"):
        return ResectionKind.RE_EXCISION
    return _RESECTION_BY_EXTENT.get(str(attributes.get("extent")), ResectionKind.EXCISION)


def _adequacy(resource: JsonObject, outcome: Any, terminology: Terminology) -> str | None:
    matches: list[Match] = terminology.match_codeable_concept(outcome, domain="result")
    for note in resource.get("note") or []:
        if isinstance(note, dict):
            matches += terminology.match_text(note.get("text"), domain="result")
    found = in_domain(positive(matches), "result")
    # The least conclusive statement wins: "suspicious, non-diagnostic" is not diagnostic.
    for concept in ("result/non-diagnostic", "result/suspicious", "result/diagnostic",
                    "result/benign"):
        if concept in found:
            return concept
    return None


def imaging_kind(concept: str, terminology: Terminology) -> ImagingKind | None:
    attributes = terminology.attributes(concept)
    modality, chest = attributes.get("modality"), attributes.get("chest")
    if modality == "mri":
        return ImagingKind.MRI
    if modality == "ct":
        return ImagingKind.CT_CHEST if chest else ImagingKind.CT
    if modality == "xray":
        return ImagingKind.XRAY_CHEST if chest else None
    if modality == "pet":
        return ImagingKind.PET_CT
    if modality == "ultrasound":
        return ImagingKind.ULTRASOUND
    return None
