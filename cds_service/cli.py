"""The ``cds-service`` command: serve under gunicorn, migrate the database, list the catalogue,
validate the knowledge base against the clinical scenarios."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from cds_service.operations.gunicorn_config import GunicornConfigError
from cds_service.operations.gunicorn_config import listeners
from cds_service.operations.gunicorn_config import read_config_file
from cds_service.operations.gunicorn_config import service_options
from cds_service.operations.gunicorn_metrics import remove_dir
from cds_service.operations.gunicorn_metrics import use_multiprocess_dir
from cds_service.settings import Settings


class _GunicornApp(BaseApplication):  # type: ignore[misc]
    """Runs ``create_app(settings)`` under gunicorn with options from the command line."""

    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self._settings = settings
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        from cds_service.app import create_app

        try:
            return create_app(self._settings)
        except Exception as exc:  # one JSON line, not a traceback beside the JSON lines
            _serve_error(f"the service cannot start: {_reason(exc)}", exc)
            raise SystemExit(1) from None

    def run(self) -> None:
        # Before the app (and prometheus-client) is loaded: the workers share one metrics dir.
        metrics_dir = use_multiprocess_dir()
        master = os.getpid()
        try:
            super().run()
        finally:  # workers leave through here too (SystemExit): only the master cleans up
            if metrics_dir is not None and os.getpid() == master:
                remove_dir(metrics_dir)


def _reason(exc: BaseException) -> str:
    # The service's own start-up errors say what to do (run `cds-service migrate`...); another
    # library's message may quote anything, so only its type is given (the line has its frames).
    if type(exc).__module__.startswith("cds_service"):
        return f"{type(exc).__name__}: {exc}"
    return type(exc).__name__


def _serve_error(message: str, exc: BaseException | None = None) -> None:
    """Write why ``serve`` stops as one JSON line on stderr, like every line the service writes."""
    from cds_service.operations.logs import JsonFormatter

    record = logging.makeLogRecord({"name": "cds_service.cli", "levelno": logging.CRITICAL,
                                    "levelname": "CRITICAL", "msg": message})
    if exc is not None:
        record.exc_info = (type(exc), exc, exc.__traceback__)
    print(JsonFormatter().format(record), file=sys.stderr, flush=True)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from cds_service.auth.issuers import TrustConfigError
    from cds_service.auth.issuers import parse_trusted_issuers

    try:  # a clear message rather than a gunicorn traceback
        if (settings.trusted_issuers or "").strip():
            parse_trusted_issuers(settings.trusted_issuers or "")
    except TrustConfigError as exc:
        _serve_error(f"cds-service serve: {exc}")
        return 2
    options = service_options(settings)
    if args.config:  # the file overrides the defaults above; flags override the file
        try:
            options.update(read_config_file(args.config))
        except GunicornConfigError as exc:
            _serve_error(f"cds-service serve: cannot read the gunicorn config: {exc}")
            return 2
    if args.host is not None or args.port is not None:
        host = "127.0.0.1" if args.host is None else args.host
        public = f"{host}:{8080 if args.port is None else args.port}"
        options["bind"] = listeners(settings, public)
    binds = options["bind"] if isinstance(options["bind"], list) else [options["bind"]]
    ports = [bind.rpartition(":")[2] for bind in binds]
    if len(set(ports)) < len(ports):
        _serve_error(f"cds-service serve: CDS_ADMIN_BIND must use a port of its own, not one of "
                     f"{binds}")
        return 2
    options.update({name: getattr(args, name) for name in ("workers", "threads")
                    if getattr(args, name)})
    _GunicornApp(settings, options).run()
    return 0


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from cds_service.feedback.migrate import SchemaOutOfDate
    from cds_service.feedback.migrate import create_schema
    from cds_service.feedback.migrate import current_revision
    from cds_service.feedback.store import StoreUnavailable
    from cds_service.feedback.store import make_engine

    try:
        where = make_url(settings.database_url).render_as_string(hide_password=True)
    except ArgumentError:
        print("cds-service migrate: CDS_DATABASE_URL is not a database URL", file=sys.stderr)
        return 2
    engine = make_engine(settings.database_url)
    try:
        before = current_revision(engine)
        create_schema(engine)
        after = current_revision(engine)
    except (StoreUnavailable, SchemaOutOfDate) as exc:
        print(f"cds-service migrate: {where}: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    change = "already up to date" if before == after else f"upgraded from {before or 'empty'}"
    print(f"{where}: schema at revision {after} ({change})")
    return 0


def _catalog(args: argparse.Namespace, settings: Settings) -> int:
    from cds_service.guidelines.catalogue import load_catalogue

    for rec in load_catalogue():
        hooks = ",".join(hook.value for hook in rec.hooks)
        print(f"{rec.id}\t{hooks}\t{rec.title}")
    return 0


def _evaluate(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from cds_service.evaluate import EvaluateError
    from cds_service.evaluate import evaluate_path
    from cds_service.evaluate import review_json
    from cds_service.evaluate import review_text
    from cds_service.guidance import Guidance
    from cds_service.guidelines.catalogue import load_catalogue
    from cds_service.hooks.errors import CdsError
    from cds_service.vocabulary import Hook

    today = args.today or settings.today
    try:
        guidance = Guidance.load(load_catalogue(), today)
        review = evaluate_path(Path(args.path), Hook(args.hook), guidance, settings)
    except (EvaluateError, CdsError) as exc:
        print(f"cds-service evaluate: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(review_json(review), indent=2) if args.json else review_text(review))
    return 0


def _validate(args: argparse.Namespace, settings: Settings) -> int:
    from cds_service.guidance import Guidance
    from cds_service.guidelines.catalogue import load_catalogue
    from cds_service.scenarios import ScenarioError
    from cds_service.scenarios import fixtures_dir
    from cds_service.scenarios import load_scenarios
    from cds_service.validation import Validator
    from cds_service.web.pages import render_report_file

    folder = args.fixtures or fixtures_dir()
    if folder is None:
        print("cds-service validate: this install has no fhir_fixtures/ (they are in the source "
              "repository, not the package): give --fixtures DIR", file=sys.stderr)
        return 2
    catalogue = load_catalogue()
    try:
        scenarios = load_scenarios(folder)
    except ScenarioError as exc:
        print(f"cds-service validate: {exc}", file=sys.stderr)
        return 2
    service_log = logging.getLogger("cds_service")
    level = service_log.level
    service_log.setLevel(logging.ERROR)  # "skipped unreadable resource": the report checks those
    try:
        report = Validator(Guidance.load(catalogue, None), settings).run(scenarios)
    finally:
        service_log.setLevel(level)
    page = render_report_file(report, catalogue, args.base_url.rstrip("/"))
    if args.output:
        args.output.write_text(page, encoding="utf-8")
    else:
        sys.stdout.write(page)
    for line in report.failure_lines():
        print(f"FAIL {line}", file=sys.stderr)
    print(f"{len(report.calls)} calls of {len(report.scenarios)} scenarios, {report.check_count} "
          f"checks: {'all pass' if report.passed else f'{len(report.failed_calls)} call(s) fail'}"
          f" (knowledge base {report.version.version}, {report.version.content_hash})",
          file=sys.stderr)
    return 0 if report.passed else 1


_DESCRIPTION = """\
The soft-tissue tumour CDS Hooks service: an HL7 CDS Hooks 2.0 service that answers
patient-view, order-select and order-sign calls with cards citing their sources.
Settings come from CDS_* environment variables (see the README, "Settings")."""

_COMMANDS = {
    "serve": (
        "serve the CDS Hooks API under gunicorn",
        "Serve the CDS Hooks services, the feedback endpoints, the recommendation pages, the "
        "probes and the metrics under gunicorn, on http://127.0.0.1:8080 unless told otherwise. "
        "The embedded SQLite database is created and migrated on first start; a PostgreSQL "
        "database must be migrated first (cds-service migrate)."),
    "evaluate": (
        "show the case model and the cards for a scenario folder or Bundle file",
        "Read a fhir_fixtures scenario folder or a FHIR Bundle file, and print the case model "
        "(each fact with the FHIR resource it came from) and the cards one hook would answer, "
        "without a server."),
    "validate": (
        "run every fhir_fixtures scenario through the pipeline, write an HTML report; exit 1 on "
        "any failure",
        "Run every call of every scenario manifest in fhir_fixtures/ through the hook pipeline and "
        "write the validation report: per recommendation, its trigger, the scenarios where it "
        "must fire and stay silent, pass or fail, and what no scenario covers. Exits 1 when a "
        "check fails, 2 when the scenarios cannot be read."),
    "migrate": (
        "bring the database schema (CDS_DATABASE_URL) to this version's revision",
        "Bring the database at CDS_DATABASE_URL to this version's schema revision, creating the "
        "tables on an empty database, and print the revision. Run it before starting a new "
        "version on PostgreSQL; concurrent runs are safe."),
    "catalog": (
        "list the recommendation catalogue",
        "List every recommendation id of the knowledge base with the hooks it answers on and its "
        "title, one per line, tab-separated."),
}


def _command(commands: Any, name: str) -> argparse.ArgumentParser:
    summary, description = _COMMANDS[name]
    parser: argparse.ArgumentParser = commands.add_parser(name, help=summary,
                                                          description=description)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The command-line grammar."""
    parser = argparse.ArgumentParser(
        prog="cds-service", description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'cds-service COMMAND --help' for the options of one command.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = _command(commands, "serve")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (default 8080)")
    serve.add_argument("--config", type=Path,
                       help="gunicorn config file (deploy/gunicorn.conf.py); flags override it")
    serve.add_argument("--workers", type=int, help="worker processes (default CDS_WORKERS)")
    serve.add_argument("--threads", type=int, help="threads per worker (default CDS_THREADS)")
    serve.set_defaults(handler=_serve)
    evaluate = _command(commands, "evaluate")
    evaluate.add_argument("path", help="a fhir_fixtures scenario folder or a FHIR Bundle file")
    evaluate.add_argument("--hook", default="patient-view",
                          choices=["patient-view", "order-select", "order-sign"],
                          help="the hook to answer (default patient-view)")
    evaluate.add_argument("--today", type=date.fromisoformat,
                          help="the date the engine treats as today (default CDS_TODAY)")
    evaluate.add_argument("--json", action="store_true", help="print JSON")
    evaluate.set_defaults(handler=_evaluate)
    validate = _command(commands, "validate")
    validate.add_argument("--output", type=Path, help="the HTML file to write (default stdout)")
    validate.add_argument("--fixtures", type=Path,
                          help="the scenarios folder (default fhir_fixtures/ of the source tree)")
    validate.add_argument("--base-url", default="http://127.0.0.1:8080",
                          help="the service's public base URL, for the links to its pages")
    validate.set_defaults(handler=_validate)
    _command(commands, "migrate").set_defaults(handler=_migrate)
    _command(commands, "catalog").set_defaults(handler=_catalog)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cds-service`` console script."""
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValueError as exc:
        if args.command == "serve":  # the service's stderr: JSON lines only
            _serve_error(f"cds-service: invalid settings: {exc}")
        else:
            print(f"cds-service: invalid settings: {exc}", file=sys.stderr)
        return 2
    handler = args.handler
    status: int = handler(args, settings)
    return status


if __name__ == "__main__":
    sys.exit(main())
