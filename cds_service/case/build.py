"""Build the case model from a patient's FHIR resources and the draft orders of a hook call."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from collections.abc import Iterable
from typing import Any

from cds_service.case.attach import attach
from cds_service.case.concepts import site_of
from cds_service.case.conditions import map_condition
from cds_service.case.drafts import read_drafts
from cds_service.case.fhir_values import parse_date
from cds_service.case.findings import Finding
from cds_service.case.findings import TumourSeed
from cds_service.case.medications import map_medication
from cds_service.case.model import Case
from cds_service.case.model import DraftOrder
from cds_service.case.model import Entity
from cds_service.case.model import Fact
from cds_service.case.model import ImagingStudy
from cds_service.case.model import Medication
from cds_service.case.model import Patient
from cds_service.case.model import Site
from cds_service.case.model import Tumour
from cds_service.case.observations import map_observation
from cds_service.case.orders import map_draft_order
from cds_service.case.procedures import map_procedure
from cds_service.case.procedures import map_service_request
from cds_service.case.reasons import condition_readings
from cds_service.case.reasons import other_conditions
from cds_service.case.reasons import resolve_reasons
from cds_service.case.select import select_resources
from cds_service.case.tumours import build_tumour
from cds_service.case.tumours import fractures_of
from cds_service.case.tumours import resolve_entity
from cds_service.terminology import Terminology

JsonObject = dict[str, Any]

_PATIENT_LEVEL = {"imaging", "radiotherapy", "referral", "fracture"}

_DatedFact = Fact[dt.date | None]
"""Built once, not per call (pydantic keeps parametrised generics only in a weak cache)."""


def build_case(
    resources: Iterable[Any],
    *,
    patient_id: str,
    terminology: Terminology,
    draft_orders: JsonObject | None = None,
    selections: Collection[str] | None = None,
    today: dt.date | None = None,
) -> Case:
    """The case of one patient.

    Args:
        resources: the patient's FHIR resources (JSON objects), any order, any types.
        patient_id: the patient's id (the hook's ``context.patientId``).
        terminology: the value sets.
        draft_orders: the order hook's ``draftOrders`` Bundle (its envelope checked; the drafts
            are read leniently, ``case.drafts``).
        selections: order-select's ``selections``; None on the other hooks.
        today: for the patient's age.
    """
    selection = select_resources(resources, terminology)
    seeds: list[TumourSeed] = []
    findings: list[Finding] = []
    medications: list[Medication] = []
    patient = Patient(id=patient_id)
    for resource in selection.resources:
        kind = resource["resourceType"]
        if kind == "Patient":
            patient = _patient(resource, patient_id, today)
        elif kind == "Condition":
            for item in map_condition(resource, terminology):
                if isinstance(item, TumourSeed):
                    seeds.append(item)
                else:
                    findings.append(item)
        elif kind == "Observation":
            findings += map_observation(resource, terminology)
        elif kind == "Procedure":
            findings += map_procedure(resource, terminology)
        elif kind == "ServiceRequest":
            findings += map_service_request(resource, terminology)
        else:
            medications += map_medication(resource, terminology)
    tumour_findings = [f for f in findings if f.kind not in _PATIENT_LEVEL]
    patient_findings = [f for f in findings if f.kind in _PATIENT_LEVEL]
    tumours = _tumours(seeds, tumour_findings, terminology)
    readings = condition_readings(selection.resources, terminology)
    drafts = read_drafts(draft_orders)
    return Case(
        patient=patient,
        tumours=tuple(tumours),
        imaging=tuple(_imaging(patient_findings, terminology)),
        medications=tuple(medications),
        radiotherapy=tuple(_events(patient_findings, "radiotherapy")),
        referrals=tuple(_events(patient_findings, "referral")),
        fractures=tuple(fractures_of(patient_findings, tumours, terminology)),
        draft_orders=tuple(resolve_reasons(order, resource, readings, tumours, terminology)
                           for resource, order in _orders(drafts.drafts, selections, terminology)),
        unreadable_drafts=drafts.unreadable,
        other_conditions=tuple(other_conditions(readings, tumours, terminology)),
        unreadable=selection.unreadable,
    )


def _tumours(seeds: list[TumourSeed], findings: list[Finding],
             terminology: Terminology) -> list[Tumour]:
    primaries = [s for s in seeds if not s.recurrence_record]
    seeds = primaries if primaries else seeds
    morphology = [f for f in findings if f.kind == "morphology"]
    sites = {s.ref: site_of(s.sites, terminology) for s in seeds}
    by_seed = attach(morphology, sites, terminology)
    resolved: list[tuple[TumourSeed, Fact[Entity]]] = []
    for seed in seeds:
        entity = resolve_entity(seed, by_seed.get(seed.ref, []), terminology)
        if entity is not None:
            resolved.append((seed, entity))
    tumour_sites: dict[str, Site | None] = {seed.ref: sites[seed.ref] for seed, _ in resolved}
    grouped = attach([f for f in findings if f.kind != "morphology"], tumour_sites, terminology)
    return [build_tumour(seed, entity, by_seed.get(seed.ref, []) + grouped.get(seed.ref, []),
                         terminology) for seed, entity in resolved]


def _imaging(findings: list[Finding], terminology: Terminology) -> Iterable[ImagingStudy]:
    for finding in findings:
        if finding.kind == "imaging":
            kind, sites = finding.value
            yield ImagingStudy(source=finding.source, kind=kind, date=finding.date,
                               site=site_of(sites, terminology))


def _events(findings: list[Finding], kind: str) -> Iterable[Fact[dt.date | None]]:
    for finding in findings:
        if finding.kind == kind:
            yield _DatedFact(value=finding.date, sources=(finding.source,), date=finding.date,
                             from_text=finding.from_text)


def _orders(drafts: Iterable[JsonObject], selections: Collection[str] | None,
            terminology: Terminology) -> Iterable[tuple[JsonObject, DraftOrder]]:
    for resource in drafts:
        yield resource, map_draft_order(resource, selections, terminology)


def _patient(resource: JsonObject, patient_id: str, today: dt.date | None) -> Patient:
    birth = parse_date(resource.get("birthDate"))
    age = None
    if birth and today:
        age = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
    gender = resource.get("gender")
    return Patient(id=patient_id, age_years=age, sex=gender if isinstance(gender, str) else None)
