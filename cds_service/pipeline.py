"""One hook call, from request body to cards: the pipeline every caller runs.

decode → validate → (fhirServer check) → resolve → select → map → evaluate → render. The HTTP
service (``registry``), the warm-up before the fork (``prefork``), the offline review
(``evaluate``) and the benchmark (``bench/inprocess.py``) all run it; they differ only in the
observer they give it (what is timed, logged and counted) and in what they do with the outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cds_service.case.model import Case
from cds_service.fhir.sieve import Sieve
from cds_service.guidance import Decision
from cds_service.guidance import Guidance
from cds_service.guidance import no_guidance
from cds_service.hooks.models import HookRequest
from cds_service.hooks.models import ServiceDefinition
from cds_service.hooks.prefetch import PatientRecord
from cds_service.hooks.prefetch import check_fhir_server
from cds_service.hooks.prefetch import resolve
from cds_service.hooks.request import parse_hook_request
from cds_service.hooks.request import parse_json
from cds_service.settings import Settings
from cds_service.stages import UNOBSERVED
from cds_service.stages import Observer
from cds_service.stages import Stage
from cds_service.stages import observed
from cds_service.vocabulary import Hook

JsonObject = dict[str, Any]

Decide = Callable[[HookRequest, PatientRecord, str, Observer], Decision]
"""Turns a validated request, its resolved record and the public base URL into a decision; the
observer sees the select, map, evaluate and render stages (``Guidance.decide``)."""


@dataclass(frozen=True)
class Outcome:
    """What one run of the pipeline produced.

    Attributes:
        request: the validated request.
        record: the resolved record (what was fetched is named in it).
        decision: the cards, the gaps, and the case they were decided on.
    """

    request: HookRequest
    record: PatientRecord
    decision: Decision

    @property
    def case(self) -> Case | None:
        """The case model (None when the decision built none)."""
        return self.decision.case


@dataclass(frozen=True)
class Pipeline:
    """The hook-call pipeline, built once at start-up.

    Attributes:
        settings: FHIR limits, deadline and allowlist.
        decide: the clinical half (``Guidance.decide``).
        keep: drops the resources the case model would skip: prefetched searchset entries before
            they are decoded, fetched ones page by page as they arrive.
    """

    settings: Settings
    decide: Decide = no_guidance
    keep: Sieve | None = None

    @classmethod
    def of(cls, guidance: Guidance, settings: Settings) -> Pipeline:
        """The pipeline deciding with ``guidance`` and sifting with its selector."""
        return cls(settings, guidance.decide, guidance.sieve())

    def run(
        self, service: ServiceDefinition, body: bytes | JsonObject, base_url: str, *,
        issuer_servers: tuple[str, ...] | None = None,
        observer: Observer = UNOBSERVED,
    ) -> Outcome:
        """Run one call of ``service``.

        Args:
            service: the service called.
            body: the request body, or the request already decoded (the offline review).
            base_url: the service's public base URL, for the cards' links.
            issuer_servers: the verified caller's ``fhir_servers`` (see ``check_fhir_server``);
                None when the service runs open.
            observer: sees the request once valid, and every stage's duration.

        Raises:
            BadRequest: invalid request (400), or Forbidden for a fhirServer not allowed.
            PreconditionFailed: required data could not be obtained (412).
        """
        with observed(observer, Stage.DECODE):
            payload = parse_json(body, sieve=self.keep) if isinstance(body, bytes) else body
        with observed(observer, Stage.VALIDATE):
            request = parse_hook_request(Hook(service.hook), payload)
        observer.requested(request)
        check_fhir_server(request.fhir_server, self.settings, issuer_servers=issuer_servers)
        templates = service.prefetch or {}
        with observed(observer, Stage.RESOLVE):
            record = resolve(templates, request, self.settings, keep=self.keep)
        return Outcome(request, record, self.decide(request, record, base_url, observer))
