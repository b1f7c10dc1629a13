"""The stages of a hook call and the observer that sees them pass (timings, the call's log line).

The pipeline (``cds_service.pipeline``) reports each stage's duration to the observer it is given;
it measures nothing on its own account. The service's observer is the call's log entry, which
feeds the metrics (``cds_service.calllog``); the benchmark keeps laps; the warm-up and the
offline review observe nothing.
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Protocol

from cds_service.hooks.models import HookRequest


class Stage(StrEnum):
    """The stages of a hook call, in pipeline order."""

    DECODE = "decode"
    """JSON bytes to Python objects, prefetched searchsets sifted."""
    VALIDATE = "validate"
    """The hook request model, draft orders."""
    RESOLVE = "resolve"
    """Prefetch keys to resources, fetching what is missing."""
    SELECT = "select"
    """The candidate resources picked and validated."""
    MAP = "map"
    """FHIR to the case model, given the selection."""
    EVALUATE = "evaluate"
    """The rules, then one create per order."""
    RENDER = "render"
    """Recommendations to cards."""


class Observer(Protocol):
    """Sees one call go through the pipeline."""

    def requested(self, request: HookRequest) -> None:
        """The request is valid (its ``fhirServer`` not checked yet)."""

    def timed(self, stage: Stage, seconds: float) -> None:
        """``stage`` took ``seconds`` (reported also when it raised)."""


class Unobserved:
    """The observer that sees nothing."""

    def requested(self, request: HookRequest) -> None:
        """Nothing to note."""

    def timed(self, stage: Stage, seconds: float) -> None:
        """Nothing to note."""


UNOBSERVED = Unobserved()


class observed:  # noqa: N801  (used as a function: ``with observed(observer, stage):``)
    """Report the time the ``with`` block takes (exceptions included) as ``stage``.

    A class rather than a generator: it runs seven times per call, on the hook path.
    """

    __slots__ = ("_observer", "_stage", "_started")

    def __init__(self, observer: Observer, stage: Stage) -> None:
        self._observer = observer
        self._stage = stage
        self._started = 0.0

    def __enter__(self) -> None:
        self._started = time.perf_counter()

    def __exit__(self, *exc_info: object) -> None:
        self._observer.timed(self._stage, time.perf_counter() - self._started)
