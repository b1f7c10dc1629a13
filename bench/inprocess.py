"""In-process measurements: the cost of each pipeline stage, the whole call, and a profile.

The stages are timed by the pipeline itself (``cds_service.pipeline``), through an observer that
keeps laps; serialising the response is timed here.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import time
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask

from bench.records import ROOT
from cds_service.app import create_app
from cds_service.case.select import select_resources
from cds_service.hooks.models import CdsResponse
from cds_service.hooks.models import HookRequest
from cds_service.hooks.services import get_service
from cds_service.settings import Settings
from cds_service.stages import Stage
from cds_service.state import service_state

if TYPE_CHECKING:  # pyinstrument is optional (the bench extra), imported when profiling
    from pyinstrument.frame import Frame

BASE_URL = "http://127.0.0.1:8080"

STAGES = ("decode", "validate", "resolve", "select", "map", "evaluate", "render", "serialize")
"""The stages, in pipeline order."""

STAGE_MEANING = {
    "decode": "JSON bytes to Python objects, prefetched searchsets sifted (`parse_json`)",
    "validate": "hook request model, draft orders (`parse_hook_request`)",
    "resolve": "prefetch keys to resources (`prefetch.resolve`)",
    "select": "pick candidate resources, validate them with R4B (`select_resources`)",
    "map": "FHIR to case model (`build_case`, given the selection)",
    "evaluate": "rules, one create per order (`Guidance.evaluate`)",
    "render": "cards from templates (`CardRenderer.render`)",
    "serialize": "response model to JSON bytes (`CdsResponse` + `json.dumps`)",
}


def make_app(database: Path, today: dt.date) -> Flask:
    """The service as ``cds-service serve`` builds it: default settings, a fixed today."""
    app: Flask = create_app(Settings(database_url=f"sqlite:///{database}", today=today))
    return app


@dataclass
class StageTimes:
    """Per-stage durations of repeated runs of one call, ms.

    Attributes:
        samples: stage -> one duration per run.
        whole_ms: ``ServiceRegistry.call`` durations (ledger write and logging included).
        cards: recommendation ids of the cards, in order.
        selected: how many resources the selector kept (validated), of how many it was given
            (those the sieve kept while decoding).
    """

    samples: dict[str, list[float]] = field(default_factory=dict)
    whole_ms: list[float] = field(default_factory=list)
    cards: tuple[str, ...] = ()
    selected: tuple[int, int] = (0, 0)

    def median(self, stage: str) -> float:
        """Median of one stage, ms."""
        return statistics.median(self.samples[stage])

    @property
    def total_ms(self) -> float:
        """Sum of the stage medians, ms."""
        return sum(self.median(stage) for stage in STAGES)


class Laps:
    """The observer of one run: each stage's duration, ms."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    def requested(self, request: HookRequest) -> None:
        """Nothing to note."""

    def timed(self, stage: Stage, seconds: float) -> None:
        """Keep the stage's duration."""
        self.ms[stage.value] = seconds * 1000


def time_stages(app: Flask, service_id: str, body: bytes, runs: int) -> StageTimes:
    """Time one call stage by stage (the pipeline's own stages, then serialising), then whole;
    ``runs`` times each, after one warm-up."""
    state = service_state(app)
    guidance, registry = state.guidance, state.registry
    service = get_service(service_id)
    result = StageTimes(samples={stage: [] for stage in STAGES})
    for run in range(runs + 1):
        laps = Laps()
        outcome = registry.pipeline.run(service, body, BASE_URL, observer=laps)
        mark = time.perf_counter()
        json.dumps(CdsResponse(cards=[item.card for item in outcome.decision.issued])
                   .to_json_dict())
        laps.ms["serialize"] = (time.perf_counter() - mark) * 1000
        if run == 0:  # warm-up: first-use caches
            resources = outcome.record.all_resources()
            selection = select_resources(resources, guidance.terminology)
            result.cards = tuple(item.recommendation_id for item in outcome.decision.issued)
            result.selected = (len(selection.resources), len(resources))
            continue
        for stage in STAGES:
            result.samples[stage].append(laps.ms[stage])
    for _ in range(runs):
        started = time.perf_counter()
        registry.call(service_id, body, BASE_URL)
        result.whole_ms.append((time.perf_counter() - started) * 1000)
    return result


@dataclass(frozen=True)
class HotSpot:
    """A function's share of the profiled time.

    Attributes:
        function: ``module.function`` (or the file for module-level code).
        location: ``path:line``, relative to the repository or site-packages.
        self_share: fraction of the total spent in the function itself.
        total_share: fraction spent in it and everything it called (counted once per stack).
    """

    function: str
    location: str
    self_share: float
    total_share: float


def profile_call(
    app: Flask, service_id: str, body: bytes, runs: int
) -> tuple[float, list[HotSpot]]:
    """Profile ``runs`` whole calls with pyinstrument; returns ms per call and every function.

    Raises:
        ImportError: pyinstrument is not installed (``pip install -e '.[bench]'``).
    """
    from pyinstrument import Profiler

    registry = service_state(app).registry
    registry.call(service_id, body, BASE_URL)  # warm caches first
    profiler = Profiler(interval=0.0002)
    profiler.start()
    for _ in range(runs):
        registry.call(service_id, body, BASE_URL)
    profiler.stop()
    session = profiler.last_session
    assert session is not None
    root = session.root_frame()
    assert root is not None
    totals: dict[tuple[str, str], list[float]] = {}

    def walk(frame: Frame, on_stack: frozenset[tuple[str, str]]) -> None:
        key = (_function_name(frame), _location(frame))
        entry = totals.setdefault(key, [0.0, 0.0])
        entry[0] += frame.total_self_time
        if key not in on_stack:  # recursion: count the outermost frame only
            entry[1] += frame.time
        for child in frame.children:
            walk(child, on_stack | {key})

    walk(root, frozenset())
    duration = root.time
    spots = [HotSpot(name, where, self_time / duration, total / duration)
             for (name, where), (self_time, total) in totals.items()]
    return duration / runs * 1000, spots


def _function_name(frame: Frame) -> str:
    path = frame.file_path or ""
    module = _short_path(path).removesuffix(".py").replace("/", ".")
    return f"{module}.{frame.function}" if frame.function else module


def _location(frame: Frame) -> str:
    return f"{_short_path(frame.file_path or '')}:{frame.line_no or 0}"


def _short_path(path: str) -> str:
    for marker in ("/site-packages/", f"{ROOT}/", "/lib/python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path
