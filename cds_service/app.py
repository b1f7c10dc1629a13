"""The Flask application factory: the only place where the service is wired together."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from flask import Response
from flask import jsonify
from flask_cors import CORS
from werkzeug.exceptions import HTTPException

from cds_service.auth import guard
from cds_service.auth.guard import load_verifier
from cds_service.feedback.ledger import LedgerWriter
from cds_service.feedback.migrate import check_schema
from cds_service.feedback.spool import LedgerSpool
from cds_service.feedback.store import make_engine
from cds_service.feedback.store import make_sessionmaker
from cds_service.guidance import Guidance
from cds_service.guidelines.catalogue import load_catalogue
from cds_service.hooks.errors import CdsError
from cds_service.hooks.errors import Issue
from cds_service.hooks.errors import operation_outcome
from cds_service.jsonio import OrjsonProvider
from cds_service.operations import admin
from cds_service.operations import logs
from cds_service.operations import metrics
from cds_service.pipeline import Pipeline
from cds_service.registry import ServiceRegistry
from cds_service.settings import Settings
from cds_service.state import ServiceState
from cds_service.state import set_service_state

log = logging.getLogger(__name__)

# Werkzeug's HTTP errors as FHIR issue types, so clients never see an HTML error page.
_HTTP_ISSUE_CODES = {400: "invalid", 404: "not-found", 405: "not-supported", 413: "too-long"}


def create_app(settings: Settings | None = None) -> Flask:
    """Build the service.

    Args:
        settings: overrides; by default read from the environment.

    Raises:
        CatalogueError: the clinical content is invalid (the service must not start).
        TerminologyError: the value sets are invalid.
        TrustConfigError: ``CDS_TRUSTED_ISSUERS`` is invalid (the message names the problem).
        SchemaOutOfDate: the database needs ``cds-service migrate`` (PostgreSQL).
        StoreUnavailable: the database cannot be reached to check its schema.
    """
    settings = settings or Settings()
    logs.configure_logging(settings.log_level)
    verifier = load_verifier(settings)
    catalogue = load_catalogue()
    guidance = Guidance.load(catalogue, settings.today)
    engine = make_engine(settings.database_url)
    try:  # the embedded SQLite store migrates itself; PostgreSQL needs `cds-service migrate`
        check_schema(engine, upgrade=engine.dialect.name == "sqlite")
    finally:
        engine.dispose()  # no connection may cross a gunicorn fork
    sessions = make_sessionmaker(engine)
    salt = settings.ledger_salt.get_secret_value() if settings.ledger_salt else None
    spool_dir = settings.ledger_spool_directory
    ledger = LedgerWriter(sessions, salt,
                          spool=LedgerSpool(spool_dir) if spool_dir is not None else None)
    registry = ServiceRegistry(settings, catalogue, sessions, ledger,
                               Pipeline.of(guidance, settings),
                               knowledge_version=guidance.renderer.version)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json = OrjsonProvider(app)  # orjson-encoded responses, in the catalogue's key order
    set_service_state(app, ServiceState(settings, catalogue, registry, engine, guidance, verifier))
    _init_cors(app, settings)
    _register_error_handlers(app)
    logs.init_app(app)  # first, so that every later log line is tagged
    admin.init_app(app, settings.admin_port)  # CDS_ADMIN_BIND: operator endpoints apart
    metrics.init_app(app)  # before the JWT guard, so refused requests are timed and counted
    guard.init_app(app, admin.OPERATOR_PATHS)  # operator endpoints: no JWT, like /metrics

    from cds_service import openapi
    from cds_service.hooks import blueprint
    from cds_service.operations import health
    from cds_service.web import dashboard
    from cds_service.web import pages

    app.register_blueprint(blueprint.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(openapi.bp)
    return app


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

