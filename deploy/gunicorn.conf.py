"""gunicorn settings for the service in a container (``cds-service serve --config`` this file)."""

# Also works as ``gunicorn -c deploy/gunicorn.conf.py``. Workers, threads and the log level come
# from the service's own settings (CDS_WORKERS, CDS_THREADS, CDS_LOG_LEVEL), so one environment
# drives both; ``cds-service serve`` flags (--host, --port, --workers, --threads) override it.

from __future__ import annotations

from cds_service import prefork
from cds_service.settings import Settings

_settings = Settings()

wsgi_app = "cds_service.app:create_app()"
"""What plain ``gunicorn -c`` serves; ``cds-service serve`` builds the same app itself."""

bind = ["0.0.0.0:8080"]
"""All interfaces: the container's port is published by the orchestrator."""

worker_class = "cds_service.front.BufferingWorker"
"""gunicorn's asyncio worker: a body is received in full on its event loop before a thread serves
it, so slow uploads hold no thread (cds_service/front.py)."""

workers = _settings.workers
"""Set CDS_WORKERS to the container's CPU limit: the default (the CPU count) sees the whole node."""

threads = _settings.threads
"""Hook calls mostly wait on the FHIR server, so each worker serves several at once."""

preload_app = True
"""The knowledge base loads once in the master; invalid content stops start-up before any worker."""

timeout = 30
"""A worker silent this long is restarted; FHIR fetching is bounded by CDS_REQUEST_DEADLINE_S."""

graceful_timeout = 25
"""In-flight calls finish within the pod's terminationGracePeriodSeconds (35) less preStop (5)."""

keepalive = 75
"""Longer than a load balancer's usual idle timeout (60 s), so the balancer closes idle ones."""

worker_tmp_dir = "/dev/shm"
"""Worker heartbeat files in memory, off the read-only root filesystem."""

control_socket_disable = True
"""No ``gunicornc`` control socket: it would be written under the read-only home directory."""

accesslog = "-"
errorlog = "-"
loglevel = _settings.log_level.lower()

when_ready = prefork.when_ready
"""Warms the preloaded app up and freezes its heap once, before the first worker is forked."""

post_worker_init = prefork.post_worker_init
"""Opens each worker's FHIR session and thread pool after the fork, before its first request."""

worker_exit = prefork.worker_exit
"""Writes the worker's pending card-ledger rows during a graceful stop."""
