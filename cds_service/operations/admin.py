"""The operator listener (``CDS_ADMIN_BIND``): which endpoints answer on which port.

contract.md (Settings): while ``CDS_ADMIN_BIND`` is unset everything answers on the public port.
Once it is set, the operator endpoints (``/metrics``, ``/feedback/dashboard``) answer only on the
operator listener and 404 on the public one; the probes (``/healthz``, ``/readyz``) answer on both;
nothing else answers on the operator listener, so no hook call ever runs there. The listener a
request came in on is that of its socket (the front's ``SERVER_PORT`` is the connection's local
port, from the ASGI scope's ``server``, never the Host header). The gunicorn worker
(``front.BufferingWorker``) serves the probes and the operator listener from threads of their
own, so probes never wait behind hook calls.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask import request

from cds_service.hooks.errors import NotFound

OPERATOR_PATHS = ("/metrics", "/feedback/dashboard")
"""Served only on the operator listener when there is one (each path and what is below it)."""

PROBE_PATHS = frozenset({"/healthz", "/readyz"})
"""Served on both listeners."""


def is_operator_path(path: str) -> bool:
    """Whether ``path`` is an operator endpoint."""
    return any(path == base or path.startswith(f"{base}/") for base in OPERATOR_PATHS)


def listener_port(environ: dict[str, Any]) -> int | None:
    """The local port of the socket a request came in on."""
    try:
        return int(environ.get("SERVER_PORT", ""))
    except (ValueError, TypeError):
        return None


def init_app(app: Flask, port: int | None) -> None:
    """Route by listener when ``CDS_ADMIN_BIND`` is set (``port``); first, before the timing
    and the JWT guard."""
    if port is None:
        return

    @app.before_request
    def _by_listener() -> None:
        if request.path in PROBE_PATHS:
            return
        on_operator_listener = listener_port(request.environ) == port
        if is_operator_path(request.path) != on_operator_listener:
            where = "the operator port" if on_operator_listener else "the public port"
            raise NotFound(f"{request.path} is not served on {where} (CDS_ADMIN_BIND)")
