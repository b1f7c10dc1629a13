"""Prometheus metrics of the service and the open ``GET /metrics`` endpoint (multiprocess-safe).

Under gunicorn every worker is a process of its own: with ``PROMETHEUS_MULTIPROC_DIR`` set (the
``serve`` command sets it), each writes its samples to files there and a scrape adds them up, so
any worker answers for all. Without it (tests, ``flask run``) the default registry is used.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from collections.abc import Mapping
from contextlib import contextmanager
from enum import StrEnum
from typing import Any

from flask import Blueprint
from flask import Flask
from flask import Response
from flask import g
from flask import request
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client import REGISTRY
from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Histogram
from prometheus_client import generate_latest
from prometheus_client import multiprocess

from cds_service.vocabulary import SERVICE_IDS

MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus-client's own switch to multiprocess mode (read by the library at import)."""

bp = Blueprint("metrics", __name__)

_COUNTED_ENDPOINTS = {"cds_hooks.call_service": "call", "cds_hooks.feedback": "feedback"}
_SERVICE_IDS = SERVICE_IDS
_REASON = re.compile(r"[a-z0-9_-]{1,32}")

REQUESTS = Counter(
    "cds_requests", "Hook calls and feedback posts answered, by service id and HTTP status.",
    ["service", "endpoint", "status"],
)
REQUEST_SECONDS = Histogram(
    "cds_request_duration_seconds", "Time to answer a hook call or feedback post.",
    ["service", "endpoint"],
)
STAGE_SECONDS = Histogram(
    "cds_stage_duration_seconds", "Time spent in one stage of a hook call.", ["stage"],
)
CARDS = Counter(
    "cds_cards", "Cards returned, by recommendation id and indicator.",
    ["recommendation", "indicator"],
)
FHIR_FETCHES = Counter(
    "cds_fhir_fetches", "Prefetch queries fetched from fhirServer, by outcome (ok, failed, "
    "timeout).", ["outcome"],
)
PRECONDITION_FAILED = Counter(
    "cds_precondition_failed", "Hook calls answered 412 because data could not be obtained, by "
    "service id and issue code (incomplete, timeout).", ["service", "code"],
)
JWT_REJECTIONS = Counter(
    "cds_jwt_rejections", "Requests refused for their JWT, by reason.", ["reason"],
)
RULE_FAILURES = Counter(
    "cds_rule_failures", "Rules that raised during a hook call, by recommendation id.",
    ["recommendation"],
)
LEDGER_FAILURES = Counter(
    "cds_ledger_write_failures", "Hook calls whose cards were returned but could not be written "
    "to the card ledger.",
)
LEDGER_NOT_SPOOLED = Counter(
    "cds_ledger_cards_not_spooled", "Cards returned before they could be committed to the card "
    "ledger or written to its local spool (each is logged by uuid).",
)


class Stage(StrEnum):
    """The timed stages of a hook call."""

    PREFETCH_FETCH = "prefetch_fetch"
    """Fetching what prefetch lacked from ``fhirServer``."""
    MAPPING = "mapping"
    """FHIR resources to the case model."""
    ENGINE = "engine"
    """The guideline rules."""
    RENDER = "render"
    """Recommendations to cards."""


@contextmanager
def timed(stage: Stage) -> Iterator[None]:
    """Observe the time the ``with`` block takes (exceptions included) under ``stage``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        observe_stage(stage, time.perf_counter() - started)


def observe_stage(stage: Stage, seconds: float) -> None:
    """Observe one duration of ``stage``."""
    STAGE_SECONDS.labels(stage.value).observe(seconds)


def card_issued(recommendation_id: str, indicator: str) -> None:
    """Count one card returned to a client."""
    CARDS.labels(recommendation_id, indicator).inc()


def fhir_fetched(outcome: str) -> None:
    """Count one prefetch query sent to ``fhirServer`` by outcome: ok, failed or timeout."""
    FHIR_FETCHES.labels(outcome).inc()


def precondition_failed(service_id: str, *, timeout: bool) -> None:
    """Count one hook call answered 412 (``timeout`` when a deadline caused it)."""
    PRECONDITION_FAILED.labels(service_id, "timeout" if timeout else "incomplete").inc()


def rule_failed(recommendation_id: str) -> None:
    """Count one rule that raised (contract.md: logged, counted and listed in the response)."""
    RULE_FAILURES.labels(recommendation_id).inc()


def ledger_write_failed() -> None:
    """Count one hook call whose cards could not be written to the ledger."""
    LEDGER_FAILURES.inc()


def ledger_cards_not_spooled(cards: int) -> None:
    """Count the cards of a call that were returned without being spooled for the ledger."""
    LEDGER_NOT_SPOOLED.inc(cards)


def jwt_rejected(reason: str) -> None:
    """Count one request refused for its JWT.

    Args:
        reason: a short word from a fixed vocabulary (``missing``, ``expired``, ``replayed``...),
            never anything taken from the token; other values are counted as ``other`` so that a
            client cannot create label values.
    """
    JWT_REJECTIONS.labels(reason if _REASON.fullmatch(reason) else "other").inc()


def init_app(app: Flask) -> None:
    """Register ``GET /metrics`` and the per-request counters on ``app``."""
    app.register_blueprint(bp)
    app.before_request(_start_timer)
    app.after_request(_count_request)


@bp.get("/metrics")
def metrics() -> Response:
    """The metrics in Prometheus text format (open; restrict it at the network)."""
    return Response(exposition(), content_type=CONTENT_TYPE_LATEST)


def exposition() -> bytes:
    """Every metric of this process, or of all worker processes in multiprocess mode."""
    if os.environ.get(MULTIPROC_DIR_VARIABLE):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def count_answer(endpoint: str | None, view_args: Mapping[str, Any] | None, status: int,
                 seconds: float | None = None) -> None:
    """Count one answer if it is to a hook call or a feedback post (other endpoints are not).

    Args:
        endpoint: the Flask endpoint the request was routed to.
        view_args: its URL arguments (the service id).
        status: the HTTP status answered.
        seconds: how long the answer took, when it is to be observed.
    """
    counted = _COUNTED_ENDPOINTS.get(endpoint or "")
    if counted is None:
        return
    service_id = (view_args or {}).get("service_id")
    # Unknown ids are the client's text: one label value for all of them.
    service = service_id if service_id in _SERVICE_IDS else "unknown"
    REQUESTS.labels(service, counted, str(status)).inc()
    if seconds is not None:
        REQUEST_SECONDS.labels(service, counted).observe(seconds)


def _count_request(response: Response) -> Response:
    started = g.get("metrics_started")
    count_answer(request.endpoint, request.view_args, response.status_code,
                 None if started is None else time.perf_counter() - started)
    return response
