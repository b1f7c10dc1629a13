"""The app's state: what the views and the processes serving the app read, built once by
``app.create_app`` and kept under ``Flask.extensions[STATE_KEY]`` by ``set_service_state``; read it
with ``service_state`` (or ``state_of``, for whatever WSGI app gunicorn loaded)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any

from flask import Flask
from flask import current_app
from sqlalchemy import Engine as DatabaseEngine

from cds_service.guidance import Guidance
from cds_service.guidelines.catalogue import Catalogue
from cds_service.registry import ServiceRegistry
from cds_service.settings import Settings

if TYPE_CHECKING:  # PyJWT and cryptography (~10 MiB) load only when trust is configured
    from cds_service.auth.verify import JwtVerifier

STATE_KEY = "cds_service"
"""``Flask.extensions`` key of the state; not the card and response extension key
(``identifiers.EXTENSION_KEY``)."""


@dataclass(frozen=True)
class ServiceState:
    """Everything the views need, built once at start-up.

    Attributes:
        settings: the service settings.
        catalogue: the recommendation catalogue.
        registry: the CDS Hooks operations.
        engine: the database engine (its pool is emptied before gunicorn forks).
        guidance: the clinical pipeline.
        verifier: checks the callers' JWTs; None when the service runs open.
    """

    settings: Settings
    catalogue: Catalogue
    registry: ServiceRegistry
    engine: DatabaseEngine
    guidance: Guidance
    verifier: JwtVerifier | None = None

    def close(self) -> None:
        """Write the pending card-ledger rows, then release the database connections."""
        self.registry.ledger.close()
        self.engine.dispose()


def set_service_state(app: Flask, state: ServiceState) -> None:
    """Make ``state`` the state of ``app``."""
    app.extensions[STATE_KEY] = state


def service_state(app: Flask | None = None) -> ServiceState:
    """The state of ``app``, by default the app handling the current request."""
    state: ServiceState = (app if app is not None else current_app).extensions[STATE_KEY]
    return state


def state_of(app: Any) -> ServiceState | None:
    """The state of ``app`` when it is this service's app, else None (gunicorn may load any
    WSGI app)."""
    state: ServiceState | None = getattr(app, "extensions", {}).get(STATE_KEY)
    return state
