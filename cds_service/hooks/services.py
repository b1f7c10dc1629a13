"""The three CDS Services this server hosts, declared once and listed in a stable order."""

from __future__ import annotations

from types import MappingProxyType

from cds_service.hooks.errors import NotFound
from cds_service.hooks.models import ServiceDefinition
from cds_service.vocabulary import ORDER_SELECT_ID
from cds_service.vocabulary import ORDER_SIGN_ID
from cds_service.vocabulary import PATIENT_VIEW_ID
from cds_service.vocabulary import Hook

# What the case model reads. Every template uses only CDS Hooks 2.0 tokens and the restricted query
# subset (cds-hooks.md P1-P6); order hooks need the whole record too, to tell what is "on record".
PREFETCH = MappingProxyType(
    {
        "patient": "Patient/{{context.patientId}}",
        "conditions": "Condition?patient={{context.patientId}}",
        "observations": "Observation?patient={{context.patientId}}",
        "procedures": "Procedure?patient={{context.patientId}}",
        "medicationRequests": "MedicationRequest?patient={{context.patientId}}",
        "medicationStatements": "MedicationStatement?patient={{context.patientId}}",
        "serviceRequests": "ServiceRequest?patient={{context.patientId}}",
    }
)
"""Prefetch key -> template, shared by the three services."""

_USAGE = (
    "Needs the patient's Condition, Observation, Procedure, MedicationRequest, MedicationStatement "
    "and ServiceRequest resources, from prefetch or from fhirServer with a token allowing "
    "patient/*.read (or user/*.read)."
)

def _service(service_id: str, hook: Hook, title: str, description: str) -> ServiceDefinition:
    return ServiceDefinition(id=service_id, hook=hook, title=title, description=description,
                             prefetch=dict(PREFETCH), usage_requirements=_USAGE)


SERVICES: tuple[ServiceDefinition, ...] = tuple(sorted(
    (
        _service(
            PATIENT_VIEW_ID, Hook.PATIENT_VIEW, "Soft-tissue tumour guidance",
            "Standing recommendations for patients with soft-tissue tumours (atypical spindle "
            "cell neoplasm, NTRK-rearranged spindle cell neoplasm, PEComa, inflammatory "
            "leiomyosarcoma, other sarcomas): work-up, surgery, systemic therapy, follow-up.",
        ),
        _service(
            ORDER_SELECT_ID, Hook.ORDER_SELECT, "Soft-tissue tumour order advice (on selection)",
            "Advice on the orders just selected for a patient with a soft-tissue tumour, e.g. an "
            "mTOR inhibitor instead of chemotherapy for advanced PEComa, or external splintage "
            "instead of internal fixation of a pathological fracture.",
        ),
        _service(
            ORDER_SIGN_ID, Hook.ORDER_SIGN, "Soft-tissue tumour order advice (before signing)",
            "Advice on every draft order about to be signed for a patient with a soft-tissue "
            "tumour, with suggestions that replace an order the guidance advises against.",
        ),
    ),
    key=lambda service: service.id,
))
"""Every service, sorted by id so that discovery is idempotent."""

_BY_ID = MappingProxyType({service.id: service for service in SERVICES})


def get_service(service_id: str) -> ServiceDefinition:
    """Return the service called ``service_id``.

    Raises:
        NotFound: no service has that id (404).
    """
    try:
        return _BY_ID[service_id]
    except KeyError:
        raise NotFound(f"no CDS Service with id {service_id!r}") from None
