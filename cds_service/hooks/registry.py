"""The service registry: discovery, a service call as a fixed pipeline, and feedback."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from cds_service.feedback.store import FeedbackStore
from cds_service.feedback.store import FeedbackSummary
from cds_service.feedback.store import StoreUnavailable
from cds_service.guidelines.catalogue import Catalogue
from cds_service.hooks.errors import ServiceUnavailable
from cds_service.hooks.models import CdsResponse
from cds_service.hooks.models import Discovery
from cds_service.hooks.models import Hook
from cds_service.hooks.prefetch import check_fhir_server
from cds_service.hooks.prefetch import resolve
from cds_service.hooks.request import parse_feedback
from cds_service.hooks.request import parse_hook_request
from cds_service.hooks.request import parse_json
from cds_service.hooks.services import SERVICES
from cds_service.hooks.services import get_service
from cds_service.settings import Settings

log = logging.getLogger(__name__)

JsonObject = dict[str, Any]
SessionFactory = Callable[[], Session]


@dataclass(frozen=True)
class ServiceRegistry:
    """Answers the three spec operations; views call into it and nothing else.

    Attributes:
        settings: the service settings.
        catalogue: the recommendation catalogue.
        sessions: opens a database session (the caller closes it).
    """

    settings: Settings
    catalogue: Catalogue
    sessions: SessionFactory

    def discovery(self) -> JsonObject:
        """The discovery document, services sorted by id (D1-D11)."""
        return Discovery(services=list(SERVICES)).to_json_dict()

    def call(self, service_id: str, body: bytes) -> JsonObject:
        """Run one service call: find, validate, check fhirServer, resolve prefetch, decide.

        Raises:
            NotFound: unknown service id.
            BadRequest: invalid request (400), or Forbidden for a fhirServer not allowed.
            PreconditionFailed: required data could not be obtained (412).
        """
        started = time.perf_counter()
        service = get_service(service_id)
        request = parse_hook_request(Hook(service.hook), parse_json(body))
        check_fhir_server(request.fhir_server, self.settings)
        record = resolve(service.prefetch or {}, request, self.settings)
        # The guideline engine is not wired in yet: a resolved call has no guidance to give,
        # and placeholder cards would mislead a clinician.
        response = CdsResponse(cards=[])
        log.info(
            "hook call service=%s hookInstance=%s fetched=%s cards=%d duration_ms=%.1f",
            service.id, request.hook_instance, list(record.fetched), len(response.cards),
            (time.perf_counter() - started) * 1000,
        )
        return response.to_json_dict()

    def feedback(self, service_id: str, body: bytes) -> JsonObject:
        """Store a feedback batch idempotently; answer ``{}`` (contract.md).

        Raises:
            NotFound: unknown service id.
            BadRequest: invalid feedback (400).
            ServiceUnavailable: the database is unreachable (503, the EHR retries).
        """
        service = get_service(service_id)
        feedback = parse_feedback(parse_json(body))
        try:
            with self.sessions() as session:
                stored = FeedbackStore(session).add_feedback(service.id, feedback.feedback)
        except StoreUnavailable:
            log.error("feedback not stored: database unreachable service=%s", service.id)
            raise ServiceUnavailable("the feedback store is unreachable; retry later") from None
        log.info("feedback service=%s items=%d new=%d", service.id, len(feedback.feedback), stored)
        return {}

    def summary(self) -> FeedbackSummary:
        """Issued, accepted and overridden counts per recommendation id.

        Raises:
            ServiceUnavailable: the database is unreachable.
        """
        try:
            with self.sessions() as session:
                return FeedbackStore(session).summary(self.catalogue.ids)
        except StoreUnavailable:
            raise ServiceUnavailable("the feedback store is unreachable; retry later") from None
