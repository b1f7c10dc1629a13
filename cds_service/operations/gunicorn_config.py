"""The service's gunicorn options, in one place, and reading a configuration file.

``cds-service serve`` starts from :func:`service_options`; ``deploy/gunicorn.conf.py`` (the
container's configuration, also usable as ``gunicorn -c``) is the same options with the public
listener on every interface. So the timeouts, keep-alive, worker class and logging the service
is tested with are those it is deployed with.
"""

from __future__ import annotations

import os
import runpy
from pathlib import Path
from typing import Any

from gunicorn.config import Config

from cds_service.settings import Settings

DEFAULT_BIND = "127.0.0.1:8080"
"""The public listener of ``cds-service serve`` without flags: loopback only."""

_SHARED_MEMORY = "/dev/shm"


def service_options(settings: Settings, *, public_bind: str = DEFAULT_BIND) -> dict[str, Any]:
    """Every gunicorn setting the service runs with.

    Args:
        settings: workers, threads, log level and ``CDS_ADMIN_BIND`` (a second listener).
        public_bind: the public listener's ``host:port``.

    Returns:
        Setting name to value, as gunicorn's ``Config.set`` takes them.
    """
    from cds_service.operations import prefork
    from cds_service.operations.gunicorn_metrics import child_exit

    options: dict[str, Any] = {
        "bind": listeners(settings, public_bind),
        # gunicorn's asyncio worker: each body is received in full on its event loop before a
        # thread serves it, so slow uploads hold no thread; the probes and the operator listener
        # have threads of their own, so they never queue behind hook calls (front.py).
        "worker_class": "cds_service.operations.front.BufferingWorker",
        "workers": settings.workers,
        "threads": settings.threads,
        "preload_app": True,  # a bad catalogue stops the master before any worker starts
        "timeout": 30,  # a silent worker is restarted; FHIR fetching ends by the call deadline
        # In-flight calls finish within the pod's terminationGracePeriodSeconds (35) less the
        # preStop pause (5).
        "graceful_timeout": 25,
        # Longer than a load balancer's usual idle timeout (60 s): the balancer closes idle ones.
        "keepalive": 75,
        # gunicorn >= 25.1 opens a gunicornc control socket by default, under $HOME or
        # $XDG_RUNTIME_DIR: shared by every instance of the user, and read-only in the container.
        "control_socket_disable": True,
        "accesslog": "-",
        "errorlog": "-",
        "loglevel": settings.log_level.lower(),
        # gunicorn's own lines as JSON lines, as the service writes its own
        "logger_class": "cds_service.operations.gunicorn_logging.JsonLogger",
        "child_exit": child_exit,  # a dead worker's metrics files stop counting as live
        "when_ready": prefork.when_ready,  # warm-up and gc.freeze() in the master, before forking
        "post_worker_init": prefork.post_worker_init,  # FHIR session and pool, after the fork
        "worker_exit": prefork.worker_exit,  # pending card-ledger rows written before stopping
    }
    if os.access(_SHARED_MEMORY, os.W_OK):  # heartbeat files off a read-only root filesystem
        options["worker_tmp_dir"] = _SHARED_MEMORY
    return options


def listeners(settings: Settings, public_bind: str) -> list[str]:
    """The public listener, then the operator listener when ``CDS_ADMIN_BIND`` is set."""
    return [public_bind, *([settings.admin_bind] if settings.admin_bind else [])]


class GunicornConfigError(Exception):
    """The configuration file is missing or fails when run."""


def read_config_file(path: Path) -> dict[str, Any]:
    """The gunicorn settings a configuration file defines, read as ``gunicorn -c`` reads them.

    The file is run as Python; its top-level names that are gunicorn settings are kept and every
    other name (imports, private helpers) is ignored, as gunicorn itself does.

    Args:
        path: the ``.py`` configuration file.

    Returns:
        Setting name to value.

    Raises:
        GunicornConfigError: the file does not exist or raised while running.
    """
    if not path.is_file():
        raise GunicornConfigError(f"{path}: no such file")
    try:
        namespace = runpy.run_path(str(path))
    except Exception as exc:  # the file is arbitrary Python: report whatever it raised
        raise GunicornConfigError(f"{path}: {type(exc).__name__}: {exc}") from exc
    known = Config().settings
    return {name: value for name, value in namespace.items() if name in known}
