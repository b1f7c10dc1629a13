"""HTTP views of the CDS Hooks endpoints; each is one call into the registry.

The registry (``cds_service.registry``) sits above the wire layer: the views know it only by the
operations they call (:class:`Services`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from typing import Protocol

from flask import Blueprint
from flask import Response
from flask import jsonify
from flask import request

from cds_service.auth.guard import caller_fhir_servers
from cds_service.settings import Settings
from cds_service.state import service_state

bp = Blueprint("cds_hooks", __name__)

JsonObject = dict[str, Any]


class Services(Protocol):
    """The registry's operations the views call (``cds_service.registry.ServiceRegistry``)."""

    @property
    def settings(self) -> Settings:
        """The service settings."""

    def discovery(self) -> JsonObject:
        """The discovery document."""

    def call(self, service_id: str, body: bytes, base_url: str, *,
             issuer_servers: tuple[str, ...] | None = None,
             hold: Callable[[object], None] | None = None) -> JsonObject:
        """One service call's response."""

    def feedback(self, service_id: str, body: bytes) -> JsonObject:
        """Store a feedback batch."""

    def summary(self) -> Any:
        """Counts per recommendation id."""

LARGE_BODY_BYTES = 512 * 1024
"""Hook calls with a body this large, or of unstated length, are served one at a time per process.

A 5,000-resource prefetch is about 25 MiB of Python objects while its call runs. Under the
interpreter lock two such calls at once finish no sooner than one after the other, but need twice
the memory; smaller calls never wait."""

_large_body = threading.Lock()


@contextmanager
def _one_large_body_at_a_time(length: int | None) -> Iterator[None]:
    if length is not None and length < LARGE_BODY_BYTES:
        yield
        return
    with _large_body:
        yield


def _registry() -> Services:
    registry: Services = service_state().registry
    return registry


@bp.get("/cds-services")
def discovery() -> Response:
    """CDS Hooks 2.0 §Discovery."""
    return jsonify(_registry().discovery())


@bp.post("/cds-services/<service_id>")
def call_service(service_id: str) -> Response:
    """CDS Hooks 2.0 §Calling a CDS Service."""
    registry = _registry()
    base_url = registry.settings.public_base_url or request.host_url.rstrip("/")
    servers = caller_fhir_servers()
    held: list[object] = []  # the decoded record, freed after the answer is sent, not before
    with _one_large_body_at_a_time(request.content_length):
        answer = registry.call(service_id, request.get_data(cache=False), base_url,
                               issuer_servers=servers, hold=held.append)
    response = jsonify(answer)
    response.call_on_close(held.clear)
    return response


@bp.post("/cds-services/<service_id>/feedback")
def feedback(service_id: str) -> Response:
    """CDS Hooks 2.0 §Feedback; answers ``{}`` (contract.md)."""
    return jsonify(_registry().feedback(service_id, request.get_data(cache=False)))


@bp.get("/feedback/summary")
def feedback_summary() -> Response:
    """Cards issued, accepted and overridden per recommendation id (contract.md)."""
    return jsonify(_registry().summary())
