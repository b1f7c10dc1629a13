"""Structured logs: one JSON object per line, tagged with the hook call the record belongs to.

What may be logged: ids of services, hook calls, recommendations and FHIR resources (``Type/id``),
prefetch keys, counts, durations and reasons in our own words. Never request bodies, tokens, or a
patient's name, birth date or identifiers. Exception messages can quote any of those (pydantic
and KeyError echo their input), so a logged exception keeps its type and code location only.

Why not structlog or python-json-logger (issue 20): neither writes this line by itself. The
millisecond ``Z`` time, the message cut, the call's fields, the capped ``fields`` and the
exception summary are hooks of our own in either (python-json-logger would otherwise write every
``extra`` attribute and the traceback text, exception message included), so a library would
replace only a dict and ``json.dumps``, and it costs the hook call more. ``python -m
bench.log_cost`` (100,000 call lines per variant, each library checked to write the same bytes),
five runs on a shared 2-CPU machine: formatting the call line takes 13.5-26 us with this module;
python-json-logger adds 2.7-5.9 us (+19-32 %), structlog's ``ProcessorFormatter`` 9.5-13.4 us
(+51-84 %). The whole emit (record, format, queue: 36-65 us) grows by 1.9-7.2 us (+5-14 %) and
5.6-17 us (+14-36 %).
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import logging
import os
import queue
import sys
import traceback
from contextvars import ContextVar
from logging.handlers import QueueHandler
from logging.handlers import QueueListener
from types import TracebackType
from typing import Any

from flask import Flask
from flask import request

from cds_service.vocabulary import SERVICE_IDS

MAX_FIELD_CHARS = 128
"""Longest value kept in a call field; ``hookInstance`` is any string the client chose."""

MAX_MESSAGE_CHARS = 4096
"""Longest message kept: a message quoting a client's string must not flood the log."""

MAX_FRAMES = 20
"""Innermost traceback frames kept per logged exception."""

_call_fields: ContextVar[dict[str, str] | None] = ContextVar("cds_log_call_fields", default=None)
_SERVICE_IDS = SERVICE_IDS

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


MAX_QUEUED_RECORDS = 10_000
"""Log lines that may wait for the writer thread; more are dropped and counted, never blocking."""

_WRITER_LOGGER = "cds_service.logs"
"""The ``logger`` of the line counting dropped lines: this module's name before it moved to
``operations/``, kept for operators' log filters."""


class BackgroundJsonHandler(QueueHandler):
    """Formats each record as a JSON line in the logging thread, writes it from another thread.

    Formatting happens where the record is made, so the call's fields (``hookInstance``) are
    those of its request. Writing happens in a listener thread: a slow or stalled stderr (a busy
    log collector, a full pipe) must not stall hook calls, and a write lets go of the interpreter
    lock, which four request threads would otherwise take in turn at every log line. Lines that
    find the queue full are dropped and their number logged once the writer catches up. A forked
    process starts its own writer at its first line; queued lines are written at exit.

    Args:
        stream: where lines go (default: the ``sys.stderr`` of when the handler is made).
    """

    def __init__(self, stream: Any = None) -> None:
        self._lines: queue.Queue[logging.LogRecord] = queue.Queue(MAX_QUEUED_RECORDS)
        super().__init__(self._lines)
        self.setFormatter(JsonFormatter())
        self._stream = stream if stream is not None else sys.stderr
        self._pid = -1
        self._listener: QueueListener | None = None
        self.dropped = 0

    def emit(self, record: logging.LogRecord) -> None:
        """Queue ``record`` formatted (``Handler.handle`` holds this handler's lock)."""
        if self._pid != os.getpid():
            self._start_writer()
        try:
            line = self.prepare(record)
            if self.dropped:
                line.msg = f"{line.msg}\n" + json.dumps({
                    "level": "WARNING", "logger": _WRITER_LOGGER,
                    "message": f"{self.dropped} log lines dropped: the log writer fell behind"})
            self.enqueue(line)
            self.dropped = 0  # reported with the line just queued
        except queue.Full:
            self.dropped += 1
        except Exception:  # formatting a record must never break the call that logs it
            self.handleError(record)

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        """The record reduced to its JSON line (exceptions already summarised in it)."""
        return logging.makeLogRecord({"msg": self.format(record), "levelno": record.levelno})

    def flush(self) -> None:
        """Wait until every queued line has been written."""
        if self._listener is not None and self._pid == os.getpid():
            self._lines.join()

    def close(self) -> None:
        """Write what is queued and stop the writer thread."""
        if self._listener is not None and self._pid == os.getpid():
            self._listener.stop()
            self._listener = None
        super().close()

    def _start_writer(self) -> None:
        # In a forked child the parent's writer thread does not exist, and its queue may have
        # been copied mid-operation: both are replaced.
        self._lines = self.queue = queue.Queue(MAX_QUEUED_RECORDS)
        writer = logging.StreamHandler(self._stream)
        writer.setFormatter(logging.Formatter("%(message)s"))
        self._listener = QueueListener(self._lines, writer)
        self._listener.start()
        self._pid = os.getpid()


_shared: list[BackgroundJsonHandler] = []


def shared_handler() -> BackgroundJsonHandler:
    """The process's one JSON line writer to stderr, shared by the service's loggers and
    gunicorn's (``gunicorn_logging``), so that their lines never interleave mid-line."""
    if not _shared:
        handler = BackgroundJsonHandler()
        atexit.register(handler.close)
        _shared.append(handler)
    return _shared[0]


def configure_logging(level: str) -> None:
    """Log JSON lines to stderr, unless the host process already configured logging.

    Args:
        level: the ``cds_service`` loggers' level (``CDS_LOG_LEVEL``).
    """
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(shared_handler())
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
