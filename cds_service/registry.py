"""The service registry: discovery, a service call through the pipeline, and feedback."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from typing import TypeVar

from sqlalchemy.orm import Session

from cds_service.calllog import hook_call
from cds_service.feedback.ledger import LedgerEntry
from cds_service.feedback.ledger import LedgerWriter
from cds_service.feedback.schema import utc_now
from cds_service.feedback.store import FeedbackReport
from cds_service.feedback.store import FeedbackStore
from cds_service.feedback.store import FeedbackSummary
from cds_service.feedback.store import Scope
from cds_service.feedback.store import StoreUnavailable
from cds_service.guidance import Decision
from cds_service.guidelines.catalogue import Catalogue
from cds_service.guidelines.versioning import KnowledgeVersion
from cds_service.hooks.errors import ServiceUnavailable
from cds_service.hooks.models import CdsResponse
from cds_service.hooks.models import Discovery
from cds_service.hooks.models import HookRequest
from cds_service.hooks.request import parse_feedback
from cds_service.hooks.request import parse_json
from cds_service.hooks.services import SERVICES
from cds_service.hooks.services import get_service
from cds_service.identifiers import EXTENSION_KEY
from cds_service.pipeline import Pipeline
from cds_service.settings import Settings

# The logger keeps the name it had in hooks/: the log lines (and filters on them) are unchanged.
log = logging.getLogger("cds_service.hooks.registry")

JsonObject = dict[str, Any]
SessionFactory = Callable[[], Session]
_T = TypeVar("_T")


SUMMARY_FLUSH_S = 1.0
"""How long ``/feedback/summary`` waits for this process's pending ledger rows (contract.md: a
database that hangs costs the summary a 503 within 3 s)."""

@dataclass(frozen=True)
class ServiceRegistry:
    """Answers the three spec operations; views call into it and nothing else.

    Attributes:
        settings: the service settings.
        catalogue: the recommendation catalogue.
        sessions: opens a database session (the caller closes it).
        ledger: writes the card ledger off the request path.
        pipeline: turns a call into cards.
        knowledge_version: the knowledge base's version, named in discovery and the ledger.
    """

    settings: Settings
    catalogue: Catalogue
    sessions: SessionFactory
    ledger: LedgerWriter
    pipeline: Pipeline
    knowledge_version: KnowledgeVersion | None = None

    def discovery(self) -> JsonObject:
        """The discovery document, services sorted by id (D1-D11).

        Each service entry's ``extension`` (D11) names the knowledge base that answers it.
        """
        services = list(SERVICES)
        if self.knowledge_version is not None:
            knowledge = {"name": self.catalogue.name, **self.knowledge_version.stamp()}
            services = [service.model_copy(
                update={"extension": {EXTENSION_KEY: {"knowledgeBase": knowledge}}})
                for service in services]
        return Discovery(services=services).to_json_dict()

    def call(
        self, service_id: str, body: bytes, base_url: str, *,
        issuer_servers: tuple[str, ...] | None = None,
        hold: Callable[[object], None] | None = None,
    ) -> JsonObject:
        """Run one service call through the pipeline, logged, counted and in the ledger.

        Args:
            service_id: the service called.
            body: the request body.
            base_url: the service's public base URL.
            issuer_servers: the verified caller's ``fhir_servers`` (see ``check_fhir_server``);
                None when the service runs open.
            hold: given the decoded request and record before the answer is returned, so that
                the caller can free them once the answer is sent (a 5,000-resource record takes
                over 10 ms to free).

        Raises:
            NotFound: unknown service id.
            BadRequest: invalid request (400), or Forbidden for a fhirServer not allowed.
            PreconditionFailed: required data could not be obtained (412).
        """
        with hook_call(service_id) as entry:  # one log line and the metrics, whatever happens
            service = get_service(service_id)
            outcome = self.pipeline.run(service, body, base_url, issuer_servers=issuer_servers,
                                        observer=entry)
            request, record, decision = outcome.request, outcome.record, outcome.decision
            entry.decided(record, decision)
            self._record_ledger(service.id, request, decision)
            response = CdsResponse(cards=[item.card for item in decision.issued],
                                   extension=_gaps(decision))
            if hold is not None:
                hold((request, record))
            return response.to_json_dict()

    def _record_ledger(self, service_id: str, request: HookRequest, decision: Decision) -> None:
        issued = decision.issued
        if not issued and not decision.unreadable and not decision.rule_failures:
            return
        version = self.knowledge_version
        self.ledger.submit(LedgerEntry(
            service_id=service_id, hook_instance=request.hook_instance,
            patient_id=request.context.patient_id, at=utc_now(),
            cards=tuple((item.card.uuid or "", item.recommendation_id) for item in issued),
            unreadable=decision.unreadable, rule_failures=decision.rule_failures,
            knowledge_version=version.version if version else None,
            knowledge_hash=version.content_hash if version else None,
        ))

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
        return self._read(lambda store: store.summary(self.catalogue.ids))

    def report(self, scope: Scope) -> FeedbackReport:
        """The override dashboard's figures: the summary's, narrowed to ``scope``, by week.

        Raises:
            ServiceUnavailable: the database is unreachable.
        """
        return self._read(lambda store: store.report(self.catalogue.ids, scope))

    def _read(self, query: Callable[[FeedbackStore], _T]) -> _T:
        # This process's cards issued so far are counted, unless the writer is stuck on the
        # database: then the read fails (bounded) on its own query below.
        self.ledger.flush(SUMMARY_FLUSH_S)
        try:
            with self.sessions() as session:
                return query(FeedbackStore(session))
        except StoreUnavailable:
            raise ServiceUnavailable("the feedback store is unreachable; retry later") from None


def _gaps(decision: Decision) -> JsonObject | None:
    """The response-level extension naming unreadable resources and failed rules, if any."""
    gaps: JsonObject = {}
    if decision.unreadable:
        gaps["unreadableResources"] = list(decision.unreadable)
    if decision.rule_failures:
        gaps["failedRecommendations"] = list(decision.rule_failures)
    return {EXTENSION_KEY: gaps} if gaps else None
