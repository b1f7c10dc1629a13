"""Structured logs: one JSON object per line, tagged with the hook call the record belongs to.

What may be logged: ids of services, hook calls, recommendations and FHIR resources (``Type/id``),
prefetch keys, counts, durations and reasons in our own words. Never request bodies, tokens, or a
patient's name, birth date or identifiers. Exception messages can quote any of those (pydantic
and KeyError echo their input), so a logged exception keeps its type and code location only.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import traceback
from contextvars import ContextVar
from types import TracebackType
from typing import Any

from flask import Flask
from flask import request

from cds_service.hooks.services import SERVICES

MAX_FIELD_CHARS = 128
"""Longest value kept in a call field; ``hookInstance`` is any string the client chose."""

MAX_MESSAGE_CHARS = 4096
"""Longest message kept: a message quoting a client's string must not flood the log."""

MAX_FRAMES = 20
"""Innermost traceback frames kept per logged exception."""

_call_fields: ContextVar[dict[str, str] | None] = ContextVar("cds_log_call_fields", default=None)
_SERVICE_IDS = frozenset(service.id for service in SERVICES)

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def bind_call(**fields: str) -> None:
    """Tag every later record of this request with ``fields`` (``hookInstance``, ``service``)."""
    current = dict(_call_fields.get() or {})
    current.update({name: value[:MAX_FIELD_CHARS] for name, value in fields.items()})
    _call_fields.set(current)


def call_fields() -> dict[str, str]:
    """The fields bound to the current request, if any."""
    return dict(_call_fields.get() or {})


def clear_call() -> None:
    """Forget the current request's fields (a worker thread serves many requests)."""
    _call_fields.set(None)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, logger, message, call fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a single line of JSON."""
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": _cut(record.getMessage(), MAX_MESSAGE_CHARS),
        }
        entry.update(call_fields())
        fields = getattr(record, "fields", None)  # structured extras (``extra={"fields": ...}``)
        if isinstance(fields, dict):
            entry["fields"] = {str(name): value[:MAX_FIELD_CHARS] if isinstance(value, str)
                               else value for name, value in fields.items()}
        if record.exc_info and record.exc_info[1] is not None:
            entry["exception"] = exception_summary(record.exc_info)
        return json.dumps(entry, default=str)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... [{len(text) - limit} more]"


def exception_summary(exc_info: ExcInfo) -> dict[str, Any]:
    """An exception as its type, its causes' types and where it was raised, without messages."""
    _, exc, tb = exc_info
    causes: list[str] = []
    cause = exc.__cause__ or exc.__context__
    while cause is not None and len(causes) < 5:
        causes.append(_type_name(cause))
        cause = cause.__cause__ or cause.__context__
    frames = [f"{frame.filename}:{frame.lineno} in {frame.name}"
              for frame in traceback.extract_tb(tb)[-MAX_FRAMES:]]
    summary: dict[str, Any] = {"type": _type_name(exc), "frames": frames}
    if causes:
        summary["causes"] = causes
    return summary


def _type_name(exc: BaseException) -> str:
    kind = type(exc)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


def configure_logging(level: str) -> None:
    """Log JSON lines to stderr, unless the host process already configured logging.

    Args:
        level: the ``cds_service`` loggers' level (``CDS_LOG_LEVEL``).
    """
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    logging.getLogger("cds_service").setLevel(level)


def init_app(app: Flask) -> None:
    """Start each request with fresh call fields, and clear them after it."""
    app.before_request(_start_request)
    app.teardown_request(_end_request)


def _start_request() -> None:
    clear_call()
    service_id = (request.view_args or {}).get("service_id")
    if service_id in _SERVICE_IDS:  # the URL is the client's text: only a real id is logged
        bind_call(service=service_id)


def _end_request(error: BaseException | None) -> None:
    clear_call()
