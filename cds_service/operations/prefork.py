"""gunicorn hooks: warm up and freeze the heap before the fork, open pools after, flush at exit.

A gunicorn configuration file imports this module before ``cds-service serve`` points
prometheus-client at its multiprocess directory, so the service's modules (and through them
prometheus-client) are imported only inside the functions.
"""

from __future__ import annotations

import ctypes
import gc
import json
import logging
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    from flask import Flask

# The logger keeps its name from before the move to operations/, for operators' log filters.
log = logging.getLogger("cds_service.prefork")

WARMUP_RECORD = Path(__file__).with_name("warmup_record.json")
"""A small synthetic record (no real patient) with a resource of every type the selector reads."""

GC_FIRST_THRESHOLD = 50_000
"""Allocations between two young-generation collections once serving (Python's default: 700)."""

_WARMUP_BASE_URL = "http://warm-up.invalid"

MALLOC_ARENAS = 2
"""glibc malloc arenas per process unless ``MALLOC_ARENA_MAX`` is set (glibc: up to 8 per core)."""

_M_ARENA_MAX = -8
"""``mallopt`` parameter number of the arena limit (glibc's malloc.h)."""

MMAP_THRESHOLD = 256 * 1024
"""Allocations this large get pages of their own, returned to the system when freed."""

TRIM_THRESHOLD = 1024 * 1024
"""Free memory beyond this at the top of the heap is returned to the system."""

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
"""``mallopt`` parameter numbers (glibc's malloc.h)."""


def when_ready(server: Any) -> None:
    """gunicorn ``when_ready`` hook: with ``preload_app``, prepare the app in the master.

    It runs once, after the app is loaded and before the first worker is forked, so what the
    warm-up builds and the frozen heap are shared by every worker.
    """
    limit_malloc_arenas()
    fix_malloc_thresholds()
    if server.cfg.preload_app:
        prepare(server.app.wsgi())


def post_worker_init(worker: Any) -> None:
    """gunicorn ``post_worker_init`` hook: open the worker's FHIR session and thread pool.

    They hold sockets and threads, so they are made after the fork (one per worker process), but
    before the first request rather than during it. Without ``preload_app`` the app was loaded in
    this worker, which then prepares it itself. The card-ledger writer starts too, and with it
    the replay of the spools a killed worker left (contract.md, "Accounted for").
    """
    from cds_service.fhir.client import shared_executor
    from cds_service.fhir.client import shared_session
    from cds_service.state import state_of

    if not worker.cfg.preload_app:
        prepare(worker.wsgi)
    shared_session()
    shared_executor()
    state = state_of(worker.wsgi)
    if state is not None:
        state.registry.ledger.start()


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas, as ``MALLOC_ARENA_MAX`` would; the operator's variable wins.

    glibc otherwise gives each thread that meets contention an arena of its own, up to eight per
    core, and the FHIR fetch threads and request threads fragment them with megabyte bodies that
    are never returned: a worker's memory creeps up by tens of MiB (bench/FINDINGS.md). Set in
    the master before the fork, the cap holds in every worker.

    Returns:
        True when the cap was set here; False when the variable is set or the C library is not
        glibc (``mallopt`` missing or refusing).
    """
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_ARENA_MAX, arenas) == 1)


def fix_malloc_thresholds() -> bool:
    """Give large allocations their own pages and trim the heap, as ``MALLOC_*_THRESHOLD_`` would.

    By default glibc raises its mmap threshold to the size of each large block freed, up to
    32 MiB: after the first large request body, the next ones (the body's bytes, the decoding
    buffers) are carved from the heap, which fragments and is never given back. A worker then
    kept 80 MiB or more after a 30 MiB record (bench/hostile.py); with fixed thresholds, a
    large block is unmapped when freed. The operator's ``MALLOC_MMAP_THRESHOLD_``,
    ``MALLOC_TRIM_THRESHOLD_`` or ``GLIBC_TUNABLES`` win.

    Returns:
        True when the thresholds were set here.
    """
    if any(os.environ.get(name) for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
                                               "GLIBC_TUNABLES")):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
                and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1)


def worker_exit(server: Any, worker: Any) -> None:
    """gunicorn ``worker_exit`` hook: write the worker's pending card-ledger rows before it stops.

    The writer also does so at interpreter exit; this hook makes it happen inside gunicorn's
    graceful shutdown, while the worker's log handlers are still open.
    """
    from cds_service.state import state_of

    state = state_of(getattr(worker, "wsgi", None))
    if state is not None:
        state.close()


def prepare(app: Any) -> None:
    """Warm ``app`` up, then freeze the heap; for a served process only, never in tests.

    Args:
        app: the WSGI application gunicorn loaded; anything but this service's app is left alone.
    """
    from flask import Flask

    from cds_service.state import state_of

    if not isinstance(app, Flask) or state_of(app) is None:
        return
    started = time.perf_counter()
    try:
        warm_up(app)
    except Exception:  # only a lost optimisation: the first real call builds the same lazily
        log.warning("warm-up call failed; serving without it", exc_info=True)
    frozen = freeze_heap()
    log.info("warmed up and froze %d objects in %.0f ms", frozen,
             (time.perf_counter() - started) * 1000)


def warm_up(app: Flask) -> None:
    """Run :data:`WARMUP_RECORD` through every service, as a call would, without side effects.

    The call runs the same pipeline as ``ServiceRegistry.call`` (decode, validation, prefetch,
    case, rules, cards), then encodes the response, but unobserved and around the registry, so
    it writes no ledger row, log line or metric sample. What it builds lazily (the R4B model
    classes of the selected resource types, the parametrised case model classes, compiled
    patterns) is then built once. Before, every R4B element model the prefetched resource types
    can hold is imported, since the sample cannot hold every element a real record may.
    """
    from cds_service.fhir.preload import load_element_models
    from cds_service.hooks.models import CdsResponse
    from cds_service.hooks.prefetch import prefetch_from_bundle
    from cds_service.hooks.services import PREFETCH
    from cds_service.hooks.services import SERVICES
    from cds_service.state import service_state
    from cds_service.vocabulary import Hook

    load_element_models(re.split(r"[/?]", template)[0] for template in PREFETCH.values())
    state = service_state(app)
    sample = json.loads(WARMUP_RECORD.read_bytes())
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": resource} for resource in sample["resources"]]}
    drafts = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": resource} for resource in sample["draftOrders"]]}
    app.json.response(state.registry.discovery())
    for service in SERVICES:
        hook = Hook(service.hook)
        context: dict[str, Any] = {"userId": "Practitioner/warm-up",
                                   "patientId": sample["patientId"]}
        if hook is not Hook.PATIENT_VIEW:
            context["draftOrders"] = drafts
        if hook is Hook.ORDER_SELECT:
            context["selections"] = [f"{r['resourceType']}/{r['id']}"
                                     for r in sample["draftOrders"]]
        call = {"hook": hook.value, "hookInstance": "warm-up", "context": context,
                "prefetch": prefetch_from_bundle(service.prefetch or {}, bundle)}
        outcome = state.registry.pipeline.run(service, app.json.dumps(call).encode(),
                                              _WARMUP_BASE_URL)
        cards = [item.card for item in outcome.decision.issued]
        app.json.response(CdsResponse(cards=cards).to_json_dict())


def freeze_heap() -> int:
    """Collect, move every surviving object out of the collector's sight, collect less often.

    The objects alive now (modules, value sets, catalogue, models: over 100,000) are never
    traversed again, which a large request body's burst of allocations would otherwise make the
    collector do over and over; after a fork their pages also stay shared with the master. The
    first threshold is raised so that decoding a body triggers few collections.

    Returns:
        How many objects were frozen.
    """
    gc.collect()
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(GC_FIRST_THRESHOLD, second, third)
    return gc.get_freeze_count()
