"""The Flask application factory: the only place where the service is wired together."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask import Response
from flask import jsonify
from flask_cors import CORS
from sqlalchemy import Engine as DatabaseEngine
from werkzeug.exceptions import HTTPException

from cds_service.feedback.store import create_schema
from cds_service.feedback.store import make_engine
from cds_service.feedback.store import make_sessionmaker
from cds_service.guidance import Guidance
from cds_service.guidelines.catalogue import Catalogue
from cds_service.guidelines.catalogue import load_catalogue
from cds_service.hooks.errors import CdsError
from cds_service.hooks.errors import Issue
from cds_service.hooks.errors import operation_outcome
from cds_service.hooks.registry import ServiceRegistry
from cds_service.settings import Settings

log = logging.getLogger(__name__)

EXTENSION_KEY = "cds_service"

# Werkzeug's HTTP errors as FHIR issue types, so clients never see an HTML error page.
_HTTP_ISSUE_CODES = {400: "invalid", 404: "not-found", 405: "not-supported", 413: "too-long"}


@dataclass(frozen=True)
class ServiceState:
    """Everything the views need, built once at start-up.

    Attributes:
        settings: the service settings.
        catalogue: the recommendation catalogue.
        registry: the CDS Hooks operations.
        engine: the database engine (its pool is emptied before gunicorn forks).
        guidance: the clinical pipeline.
    """

    settings: Settings
    catalogue: Catalogue
    registry: ServiceRegistry
    engine: DatabaseEngine
    guidance: Guidance


def create_app(settings: Settings | None = None) -> Flask:
    """Build the service.

    Args:
        settings: overrides; by default read from the environment.

    Raises:
        CatalogueError: the clinical content is invalid (the service must not start).
        TerminologyError: the value sets are invalid.
        RuntimeError: trust is configured but this build cannot verify JWTs.
    """
    settings = settings or Settings()
    _configure_logging(settings.log_level)
    if settings.trusted_issuers:
        raise RuntimeError("CDS_TRUSTED_ISSUERS is set, but JWT verification is not available in "
                           "this version; refusing to start rather than run open")
    log.warning("JWT verification is OFF: any client can call this service (CDS_TRUSTED_ISSUERS "
                "unset)")
    catalogue = load_catalogue()
    guidance = Guidance.load(catalogue, settings.today)
    engine = make_engine(settings.database_url)
    create_schema(engine)
    engine.dispose()  # no connection may cross a gunicorn fork
    registry = ServiceRegistry(settings, catalogue, make_sessionmaker(engine), guidance.decide)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION_KEY] = ServiceState(settings, catalogue, registry, engine, guidance)
    _init_cors(app, settings)
    _register_error_handlers(app)

    from cds_service import health
    from cds_service.hooks import blueprint
    from cds_service.web import pages

    app.register_blueprint(blueprint.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(pages.bp)
    return app


def _configure_logging(level: str) -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("cds_service").setLevel(level)


def _init_cors(app: Flask, settings: Settings) -> None:
    origins = settings.cors_origin_list
    wildcard = origins == ("*",)
    CORS(
        app,
        origins="*" if wildcard else list(origins),
        send_wildcard=wildcard,
        allow_headers=["Authorization", "Content-Type"],
        methods=["GET", "POST", "OPTIONS"],
        max_age=86400,
        vary_header=True,
    )


def _error_response(status: int, body: dict[str, Any]) -> tuple[Response, int]:
    return jsonify(body), status


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CdsError)
    def handle_cds_error(error: CdsError) -> tuple[Response, int]:
        return _error_response(error.status, error.to_dict())

    @app.errorhandler(HTTPException)
    def handle_http_exception(error: HTTPException) -> tuple[Response, int]:
        status = error.code or 500
        code = _HTTP_ISSUE_CODES.get(status, "exception")
        if status == 413:
            text = "the request body is larger than the limit (CDS_MAX_BODY_MB)"
        else:
            text = error.description or error.name
        response, status = _error_response(status, operation_outcome([Issue(code, text)]))
        if status == 405 and error.valid_methods:  # type: ignore[attr-defined]
            response.headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
        return response, status

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> tuple[Response, int]:
        log.exception("unhandled error")
        issue = Issue("exception", "internal error; the service log has the details")
        return _error_response(500, operation_outcome([issue]))
