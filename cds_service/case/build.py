"""Build the case model from a patient's FHIR resources and the draft orders of a hook call."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from collections.abc import Iterable
from typing import Any

from cds_service.case.attach import attach
from cds_service.case.concepts import names_pelvis
from cds_service.case.concepts import site_of
from cds_service.case.conditions import map_condition
from cds_service.case.drafts import read_drafts
from cds_service.case.fhir_values import parse_date
from cds_service.case.findings import Finding
from cds_service.case.findings import TumourSeed
from cds_service.case.lesions import Lesion
from cds_service.case.lesions import as_named
from cds_service.case.lesions import component_findings
from cds_service.case.lesions import group_lesions
from cds_service.case.lesions import merge_seeds
from cds_service.case.lesions import retarget
from cds_service.case.medications import map_medication
from cds_service.case.metastases import with_metastasectomies
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
from cds_service.case.select import Selection
from cds_service.case.select import select_resources
from cds_service.case.tumours import build_tumour
from cds_service.case.tumours import entity_concept
from cds_service.case.tumours import fractures_of
from cds_service.case.tumours import resolve_entity
from cds_service.terminology import Terminology

JsonObject = dict[str, Any]

_PATIENT_LEVEL = {"imaging", "radiotherapy", "referral", "fracture", "metastasectomy"}

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
    selection: Selection | None = None,
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
        selection: ``select_resources(resources, terminology)`` when the caller made it already.
    """
    if selection is None:
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
    merged, aliases = _tumours(seeds, tumour_findings, terminology)
    tumours = with_metastasectomies(merged, patient_findings)
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
                           for resource, order in _orders(drafts.drafts, selections, aliases,
                                                          terminology)),
        unreadable_drafts=drafts.unreadable,
        other_conditions=tuple(other_conditions(readings, tumours, terminology)),
        unreadable=selection.unreadable,
    )


def _tumours(seeds: list[TumourSeed], findings: list[Finding],
             terminology: Terminology) -> tuple[list[Tumour], dict[str, str]]:
    """The tumours, one per lesion, and ``Condition/<id>`` of each merged record -> the ref of
    the tumour that absorbed it."""
    seeds = _tumour_seeds(seeds, terminology)
    morph = _morphology_by_seed(seeds, findings, terminology)
    lesions = _lesions(seeds, morph, terminology)
    aliases = {ref: lesion.primary.ref for lesion in lesions for ref in lesion.refs[1:]}
    resolved, extra = _resolve_entities(lesions, morph, terminology)
    grouped = _attach_findings(findings, extra, aliases, resolved, terminology)
    return [build_tumour(seed, entity, found + grouped.get(seed.ref, []), terminology)
            for seed, entity, found in resolved], aliases


_Resolved = tuple[TumourSeed, Fact[Entity], list[Finding]]
"""A lesion's merged seed, its entity, and the morphology results it read."""


def _tumour_seeds(seeds: list[TumourSeed], terminology: Terminology) -> list[TumourSeed]:
    """The primaries (a recurrence record goes to its primary) without the metastasis records of
    their lesions; every seed when none is a primary."""
    primaries = [s for s in seeds if not s.recurrence_record]
    return _without_metastasis_records(primaries, terminology) if primaries else seeds


def _morphology_by_seed(seeds: list[TumourSeed], findings: list[Finding],
                        terminology: Terminology) -> dict[str, list[Finding]]:
    """Each seed's ref -> the morphology results of its lesion."""
    # Morphology results go to lesions as their own words group them (a result naming no
    # Condition still reaches a lesion recorded twice at one site), then every seed of the
    # lesion reads them to settle its entity.
    morphology = [f for f in findings if f.kind == "morphology"]
    named = {s.ref: entity_concept(as_named(s, terminology), [], terminology) for s in seeds}
    first = group_lesions(seeds, named, terminology)
    first_aliases = {ref: lesion.primary.ref for lesion in first for ref in lesion.refs}
    by_lesion = attach([retarget(f, first_aliases) for f in morphology],
                       {lesion.primary.ref: site_of(_sites(lesion), terminology)
                        for lesion in first}, terminology)
    return {s.ref: by_lesion.get(first_aliases[s.ref], []) for s in seeds}


def _lesions(seeds: list[TumourSeed], morph: dict[str, list[Finding]],
             terminology: Terminology) -> list[Lesion]:
    """The lesions, grouped by the entities their morphology results settle."""
    entities = {s.ref: entity_concept(as_named(s, terminology), morph[s.ref], terminology)
                for s in seeds}
    return group_lesions([s for s in seeds if entities[s.ref] is not None or s.components
                          or s.generic], entities, terminology)


def _resolve_entities(lesions: list[Lesion], morph: dict[str, list[Finding]],
                      terminology: Terminology) -> tuple[list[_Resolved], list[Finding]]:
    """The lesions whose entity resolves, merged, and the findings their components add."""
    resolved: list[_Resolved] = []
    extra: list[Finding] = []
    for lesion in lesions:
        seed = merge_seeds(lesion, terminology)
        found = list({id(f): f for s in lesion.seeds for f in morph[s.ref]}.values())
        entity = resolve_entity(seed, found, terminology)
        if entity is not None:
            resolved.append((seed, entity, found))
            extra += component_findings(lesion, terminology)
    return resolved, extra


def _attach_findings(findings: list[Finding], extra: list[Finding], aliases: dict[str, str],
                     resolved: list[_Resolved],
                     terminology: Terminology) -> dict[str, list[Finding]]:
    """The findings other than morphology, and ``extra``, by the tumour they attach to."""
    tumour_sites: dict[str, Site | None] = {
        seed.ref: site_of(seed.sites, terminology) for seed, _, _ in resolved}
    rest = [retarget(f, aliases) for f in findings if f.kind != "morphology"] + extra
    return attach(rest, tumour_sites, terminology)


def _without_metastasis_records(seeds: list[TumourSeed],
                                terminology: Terminology) -> list[TumourSeed]:
    """Drop each Condition that names a tumour with its spread in words only ("PEComa metastatic
    to lung") when the same lesion is recorded as a primary that names its entity: it is that
    tumour's metastasis, and its facts go to it at assembly. Beside a generic copy only
    (sarcoma NOS) it is the lesion's specific name, and beside no compatible primary a tumour of
    its own: it stays."""
    if not any(s.metastasis_record for s in seeds):
        return seeds
    named = {s.ref: entity_concept(as_named(s, terminology), [], terminology) for s in seeds}
    dropped = {s.ref for lesion in group_lesions(seeds, named, terminology)
               if any(named[o.ref] is not None and not (o.metastasis_record or o.generic)
                      for o in lesion.seeds)
               for s in lesion.seeds if s.metastasis_record}
    return [s for s in seeds if s.ref not in dropped]


def _sites(lesion: Lesion) -> list[str]:
    return [site for seed in lesion.seeds for site in seed.sites]


def _imaging(findings: list[Finding], terminology: Terminology) -> Iterable[ImagingStudy]:
    for finding in findings:
        if finding.kind == "imaging":
            kind, sites = finding.value
            yield ImagingStudy(source=finding.source, kind=kind, date=finding.date,
                               site=site_of(sites, terminology),
                               images_pelvis=names_pelvis(sites))


def _events(findings: list[Finding], kind: str) -> Iterable[Fact[dt.date | None]]:
    for finding in findings:
        if finding.kind == kind:
            yield _DatedFact(value=finding.date, sources=(finding.source,), date=finding.date,
                             from_text=finding.from_text)


def _orders(drafts: Iterable[JsonObject], selections: Collection[str] | None,
            aliases: dict[str, str],
            terminology: Terminology) -> Iterable[tuple[JsonObject, DraftOrder]]:
    for resource in drafts:
        order = map_draft_order(resource, selections, terminology)
        if any(ref in aliases for ref in order.reason_refs):
            # An order for a Condition merged into another tumour is an order for that tumour.
            refs = tuple(dict.fromkeys(aliases.get(r, r) for r in order.reason_refs))
            order = order.model_copy(update={"reason_refs": refs})
        yield resource, order


def _patient(resource: JsonObject, patient_id: str, today: dt.date | None) -> Patient:
    birth = parse_date(resource.get("birthDate"))
    age = None
    if birth and today:
        age = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
    gender = resource.get("gender")
    return Patient(id=patient_id, age_years=age, sex=gender if isinstance(gender, str) else None,
                   deceased=resource.get("deceasedBoolean") is True,
                   deceased_date=parse_date(resource.get("deceasedDateTime")))
