"""gunicorn glue for multiprocess metrics: the shared samples directory and dead workers' files.

prometheus-client picks its multiprocess mode when it is first imported, from
``PROMETHEUS_MULTIPROC_DIR``; so :func:`use_multiprocess_dir` must run in the gunicorn master
before the app is loaded, and this module imports prometheus-client only inside the hooks.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus-client's own variable; an operator who sets it owns (and empties) the directory."""

_SHARED_MEMORY = Path("/dev/shm")


def use_multiprocess_dir() -> Path | None:
    """Make sure ``PROMETHEUS_MULTIPROC_DIR`` names a directory, for the workers to inherit.

    Returns:
        A fresh directory this call created (in memory where ``/dev/shm`` exists, which also works
        on a read-only root filesystem) for the caller to remove at exit, or None when the operator
        set the variable (the directory is created if missing, and left alone).
    """
    configured = os.environ.get(MULTIPROC_DIR_VARIABLE)
    if configured:
        Path(configured).mkdir(parents=True, exist_ok=True)
        return None
    parent = _SHARED_MEMORY if os.access(_SHARED_MEMORY, os.W_OK) else None
    created = Path(tempfile.mkdtemp(prefix="cds-service-metrics-", dir=parent))
    os.environ[MULTIPROC_DIR_VARIABLE] = str(created)
    return created


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn ``child_exit`` hook: a dead worker's samples stop counting as live."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def remove_dir(path: Path) -> None:
    """Remove a directory :func:`use_multiprocess_dir` created, when the gunicorn master ends."""
    shutil.rmtree(path, ignore_errors=True)
