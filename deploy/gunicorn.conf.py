"""gunicorn settings for the service in a container (``cds-service serve --config`` this file)."""

# Also works as ``gunicorn -c deploy/gunicorn.conf.py``. Every option is the service's own
# (cds_service/operations/gunicorn_config.py: the one source, which ``cds-service serve`` uses
# without a file too); workers, threads, the log level and the operator listener come from the
# service's settings (CDS_WORKERS, CDS_THREADS, CDS_LOG_LEVEL, CDS_ADMIN_BIND), so one environment
# drives both. ``cds-service serve`` flags (--host, --port, --workers, --threads) override this
# file.

from __future__ import annotations

from cds_service.operations.gunicorn_config import service_options
from cds_service.settings import Settings

# The public listener on all interfaces: the container's port is published by the orchestrator.
globals().update(service_options(Settings(), public_bind="0.0.0.0:8080"))

wsgi_app = "cds_service.app:create_app()"
"""What plain ``gunicorn -c`` serves; ``cds-service serve`` builds the same app itself."""
