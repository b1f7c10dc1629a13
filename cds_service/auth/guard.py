"""Flask wiring of JWT verification: which paths need a token, the 401, the caller on ``g``."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

from flask import Flask
from flask import Response
from flask import g
from flask import request

from cds_service.auth.issuers import parse_trusted_issuers
from cds_service.feedback.engine import wait_limit
from cds_service.feedback.replay import ReplayStore
from cds_service.feedback.store import StoreUnavailable
from cds_service.hooks.errors import ServiceUnavailable
from cds_service.operations import metrics
from cds_service.settings import Settings
from cds_service.state import service_state

if TYPE_CHECKING:
    from cds_service.auth.verify import JwtVerifier
    from cds_service.auth.verify import VerifiedCaller

log = logging.getLogger(__name__)

_CALLER = "cds_caller"
"""Name of the verified caller on ``flask.g``."""

_PROTECTED_AREAS = ("/cds-services", "/feedback")
"""Path prefixes that need a verified JWT when trust is configured."""

_FEEDBACK_PATH = re.compile(r"^(/cds-services/[^/]+)/feedback$")

REPLAY_CHECK_WAIT_S = 1.0
"""How long a request waits on the JWT replay store, one small insert, before the database counts
as unreachable (503): contract.md wants hook calls answered within 2 s even when it hangs."""


def load_verifier(settings: Settings) -> JwtVerifier | None:
    """Build the verifier from ``CDS_TRUSTED_ISSUERS``, saying loudly when there is none.

    Returns:
        The verifier, or None when ``CDS_TRUSTED_ISSUERS`` is unset or blank (the service runs
        open).

    Raises:
        TrustConfigError: the setting is invalid; the message names the problem.
    """
    text = (settings.trusted_issuers or "").strip()
    if not text:
        log.warning("JWT verification is OFF: CDS_TRUSTED_ISSUERS is unset, so ANY client can "
                    "call this service; configure the trusted issuers before exposing it")
        return None
    # Imported here: an open service never loads PyJWT and cryptography (~10 MiB per worker).
    from cds_service.auth.verify import JwtVerifier

    issuers = parse_trusted_issuers(text)
    log.info("JWT verification is on; trusted issuers: %s", ", ".join(i.iss for i in issuers))
    if settings.public_base_url is None:
        log.warning("CDS_PUBLIC_BASE_URL is unset: each JWT's aud is compared with a URL built "
                    "from the request's own Host header; set the service's public URL")
    return JwtVerifier(issuers)


def init_app(app: Flask, operator_paths: Sequence[str] = ()) -> None:
    """Require a verified JWT on ``/cds-services/**`` and ``/feedback/**`` when trust is on.

    Args:
        app: the service.
        operator_paths: the operator endpoints (``admin.OPERATOR_PATHS``), left open like
            ``/metrics`` even below ``/feedback``: ``CDS_ADMIN_BIND``'s port restricts them.
    """
    app.before_request(lambda: _authenticate(operator_paths))


def is_protected(path: str, operator_paths: Sequence[str] = ()) -> bool:
    """True for the paths trust covers (contract.md Settings); health, pages and the operator
    endpoints stay open."""
    return not _within(path, operator_paths) and _within(path, _PROTECTED_AREAS)


def _within(path: str, areas: Sequence[str]) -> bool:
    return any(path == area or path.startswith(f"{area}/") for area in areas)


def audiences(base_url: str, path: str) -> list[str]:
    """The ``aud`` values accepted for ``path``: its own URL; for feedback also the service URL.

    The spec gives no ``aud`` example for feedback (cds-hooks.md S10, project choice).
    """
    urls = [base_url + path]
    feedback = _FEEDBACK_PATH.match(path)
    if feedback:
        urls.append(base_url + feedback.group(1))
    return urls


def caller_fhir_servers() -> tuple[str, ...] | None:
    """The ``fhirServer`` prefixes the verified caller may name, for ``check_fhir_server``.

    Returns:
        None when the service runs open; else the issuer's ``fhir_servers`` (empty = any).
    """
    if service_state().verifier is None:
        return None
    caller: VerifiedCaller | None = g.get(_CALLER)
    servers = caller.issuer.fhir_servers if caller is not None else None
    return servers or ()


def _authenticate(operator_paths: Sequence[str]) -> Response | None:
    state = service_state()
    verifier = state.verifier
    # A CORS preflight carries no credentials by design (Fetch standard), so it passes.
    if (verifier is None or request.method == "OPTIONS"
            or not is_protected(request.path, operator_paths)):
        return None
    from cds_service.auth.verify import Unauthorized

    base_url = state.settings.public_base_url or request.root_url.rstrip("/")
    try:
        with wait_limit(REPLAY_CHECK_WAIT_S), state.registry.sessions() as session:
            caller = verifier.verify(
                request.headers.get("Authorization"),
                audiences(base_url, request.path),
                ReplayStore(session).first_use,
            )
    except Unauthorized as exc:
        log.warning("JWT rejected path=%s iss=%s jti=%s reason=%s", request.path,
                    _loggable(exc.issuer), _loggable(exc.jti), exc.reason)
        metrics.jwt_rejected(exc.code)
        return _unauthorized()
    except StoreUnavailable:
        log.error("JWT not accepted: the replay store is unreachable path=%s", request.path)
        raise ServiceUnavailable("the JWT replay store is unreachable; retry later") from None
    setattr(g, _CALLER, caller)
    log.debug("JWT accepted iss=%s jti=%s", caller.issuer.iss, _loggable(caller.claims["jti"]))
    return None


def _unauthorized() -> Response:
    # A bare 401 (cds-hooks.md S14): no body, no detail, no content type.
    response = Response(status=401, headers={"WWW-Authenticate": "Bearer"})
    del response.headers["Content-Type"]
    return response


def _loggable(value: Any) -> str:
    # Claimed values are the caller's words: quoted and cut short so they cannot forge log lines.
    return "-" if value is None else repr(value)[:120]
