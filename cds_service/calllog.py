"""The one log line and the metrics of each hook call, whatever its status.

The call's entry is the observer the service gives the pipeline (``cds_service.stages``): it tags
the call's log lines once the request is valid and times the stages into the metrics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from cds_service.guidance import Decision
from cds_service.hooks.errors import CdsError
from cds_service.hooks.errors import PreconditionFailed
from cds_service.hooks.models import HookRequest
from cds_service.hooks.prefetch import PatientRecord
from cds_service.operations import metrics
from cds_service.operations.logs import bind_call
from cds_service.stages import Stage
from cds_service.vocabulary import SERVICE_IDS

# The logger keeps the name it had in hooks/: the log lines (and filters on them) are unchanged.
log = logging.getLogger("cds_service.hooks.calllog")

_SERVICE_IDS = SERVICE_IDS

_METRIC_STAGES = {Stage.EVALUATE: metrics.Stage.ENGINE, Stage.RENDER: metrics.Stage.RENDER}
"""Pipeline stages timed under a metric stage of their own; select and map are one, mapping."""


@dataclass
class HookCallEntry:
    """What one hook call did, filled in as the pipeline gets there; logged when it ends.

    Only ids go in: service, hook instance, recommendations, card uuids, prefetch keys and
    ``Type/id`` references; never a patient's data or a token.

    Attributes:
        service: the service id (``unknown`` until the URL's id is known to be one).
        hook_instance: the call's ``hookInstance`` once the body is valid.
        fetched: prefetch keys that came from ``fhirServer``.
        cards: (recommendation id, card uuid) of each card returned.
        unreadable: resources skipped as invalid.
        rule_failures: recommendation ids whose rule raised.
        status: the HTTP status the call ends with.
    """

    service: str = "unknown"
    hook_instance: str | None = None
    fetched: list[str] = field(default_factory=list)
    cards: list[tuple[str, str]] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    rule_failures: list[str] = field(default_factory=list)
    status: int = 500
    _selecting: float = 0.0

    def requested(self, request: HookRequest) -> None:
        """The request is valid: tag this call's log lines with its hook instance."""
        bind_call(hookInstance=request.hook_instance)
        self.hook_instance = request.hook_instance

    def timed(self, stage: Stage, seconds: float) -> None:
        """Observe the case, rule and card stages (select and map together, as mapping)."""
        if stage is Stage.SELECT:
            self._selecting = seconds
        elif stage is Stage.MAP:
            metrics.observe_stage(metrics.Stage.MAPPING, self._selecting + seconds)
        elif stage in _METRIC_STAGES:
            metrics.observe_stage(_METRIC_STAGES[stage], seconds)

    def decided(self, record: PatientRecord, decision: Decision) -> None:
        """Note the call's record and decision, and count its cards and failed rules."""
        self.fetched = list(record.fetched)
        self.cards = [(item.recommendation_id, item.card.uuid or "") for item in decision.issued]
        self.unreadable = list(decision.unreadable)
        self.rule_failures = list(decision.rule_failures)
        for item in decision.issued:
            metrics.card_issued(item.recommendation_id, str(item.card.indicator))
        for recommendation_id in decision.rule_failures:
            metrics.rule_failed(recommendation_id)


@contextmanager
def hook_call(service_id: str) -> Iterator[HookCallEntry]:
    """Time the ``with`` block as one hook call and log one line when it ends.

    The status is 200 when the block returns, the error's status for a :class:`CdsError`
    (a 412 is also counted by its cause), and 500 for anything else.
    """
    entry = HookCallEntry(service=service_id if service_id in _SERVICE_IDS else "unknown")
    started = time.perf_counter()
    try:
        yield entry
        entry.status = 200
    except CdsError as exc:
        entry.status = exc.status
        if isinstance(exc, PreconditionFailed):
            metrics.precondition_failed(
                entry.service, timeout=any(issue.code == "timeout" for issue in exc.issues))
        raise
    finally:
        _log(entry, (time.perf_counter() - started) * 1000)


def _log(entry: HookCallEntry, duration_ms: float) -> None:
    recommendations = [rec_id for rec_id, _ in entry.cards]
    fields: dict[str, Any] = {
        "hookInstance": entry.hook_instance,
        "service": entry.service,
        "status": entry.status,
        "durationMs": round(duration_ms, 1),
        "cards": recommendations,
        "cardUuids": [uuid for _, uuid in entry.cards],
        "fetched": entry.fetched,
        "unreadable": entry.unreadable,
        "ruleFailures": entry.rule_failures,
    }
    log.log(
        logging.ERROR if entry.status >= 500 else logging.INFO,
        "hook call service=%s hookInstance=%s status=%d duration_ms=%.1f cards=%s fetched=%s "
        "unreadable=%s rule_failures=%s",
        entry.service, entry.hook_instance, entry.status, duration_ms, recommendations,
        entry.fetched, entry.unreadable, entry.rule_failures,
        extra={"fields": fields},
    )
