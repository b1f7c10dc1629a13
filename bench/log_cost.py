"""What a hook call's log line costs: ``operations.logs`` against structlog and python-json-logger.

Every hook call logs one line (``cds_service.calllog``): its message and its ``fields`` summary,
tagged with the call's ``hookInstance`` and ``service``. Three formatters make that line:

- ``logs``: the service's own ``JsonFormatter``;
- ``python-json-logger``: its ``JsonFormatter``, told to write the same line;
- ``structlog``: its stdlib ``ProcessorFormatter``, with processors that write the same line.

Before timing, each library formatter must write, byte for byte, what ``logs.JsonFormatter``
writes for the call line, for a line with an exception and for a long message; the run stops if
one does not. Then each variant emits the call line ``--lines`` times (default 100,000) through
the service's handler (``logs.BackgroundJsonHandler``: formatted in the caller, written to
/dev/null by the writer thread), in batches of 1,000 whose queue is drained between batches
(untimed, so no line is dropped), the variants taking turns; and formats a prepared record as
many times (the formatter alone). Figures are microseconds per line: the median batch, and the
mean of all.

Run: ``.venv/bin/python -m bench.log_cost`` (needs ``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from cds_service.operations import logs

BATCH = 1000
"""Lines per timed batch; the writer thread drains the queue between batches."""

CARDS = [(f"sts-rec-{n}", f"0b6a3f2c-{n:04x}-4e5b-9a0c-6f1d2e3b4c5d") for n in range(9)]
"""The cards of the benchmark's patient-view call: nine (recommendation id, card uuid)."""

FIELDS: dict[str, Any] = {
    "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
    "service": "sts-patient-view",
    "status": 200,
    "durationMs": 3.2,
    "cards": [rec_id for rec_id, _ in CARDS],
    "cardUuids": [uuid for _, uuid in CARDS],
    "fetched": [],
    "unreadable": [],
    "ruleFailures": [],
}
"""The ``fields`` of the call line, as ``calllog`` builds them."""

MESSAGE = ("hook call service=%s hookInstance=%s status=%d duration_ms=%.1f cards=%s fetched=%s "
           "unreadable=%s rule_failures=%s")
ARGS: tuple[Any, ...] = (
    FIELDS["service"], FIELDS["hookInstance"], 200, 3.2, FIELDS["cards"], [], [], [])


def python_json_logger_formatter() -> logging.Formatter:
    """python-json-logger's formatter writing the service's line: the record's level, name and
    message renamed by the library; the time, the call's fields, the cut and the exception's
    summary by hooks of its subclass (the library would write the traceback, message included).

    Raises:
        ImportError: python-json-logger is not installed (``pip install -e '.[bench]'``).
    """
    from pythonjsonlogger.json import JsonFormatter

    class ServiceLine(JsonFormatter):  # type: ignore[misc, unused-ignore]  # Any when absent
        def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord,
                       message_dict: dict[str, Any]) -> None:
            log_data["time"] = _iso_time(record.created)
            super().add_fields(log_data, record, message_dict)

        def formatException(self, ei: Any) -> Any:
            return logs.exception_summary(ei)

        def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
            fields = log_data.pop("fields", None)  # every other extra would be written as is
            exception = log_data.pop("exc_info", None)
            log_data["message"] = _cut(log_data["message"])
            log_data.update(logs.call_fields())
            if isinstance(fields, dict):
                log_data["fields"] = _short_fields(fields)
            if exception is not None:
                log_data["exception"] = exception
            return log_data

    return ServiceLine(["levelname", "name", "message"],
                       rename_fields={"levelname": "level", "name": "logger"})


def _structlog_line(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    record: logging.LogRecord = event.pop("_record")
    event.pop("_from_structlog")
    line: dict[str, Any] = {"time": _iso_time(record.created), "level": record.levelname,
                            "logger": event.pop("logger"), "message": _cut(event.pop("message"))}
    line.update(logs.call_fields())
    if isinstance(event.get("fields"), dict):
        line["fields"] = _short_fields(event["fields"])
    exc_info = event.get("exc_info")
    if exc_info and exc_info[1] is not None:
        line["exception"] = logs.exception_summary(exc_info)
    return line


def structlog_formatter() -> logging.Formatter:
    """structlog's stdlib formatter writing the service's line, with its own processors for the
    logger's name, the ``fields`` extra and the message's key, then one for the rest.

    Raises:
        ImportError: structlog is not installed (``pip install -e '.[bench]'``).
    """
    import structlog

    formatter: logging.Formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name,
                           structlog.stdlib.ExtraAdder(allow=("fields",)),
                           structlog.processors.EventRenamer("message")],
        processors=[_structlog_line, structlog.processors.JSONRenderer(default=str)],
    )
    return formatter


def _iso_time(created: float) -> str:
    return dt.datetime.fromtimestamp(created, dt.UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def _cut(message: str) -> str:
    limit = logs.MAX_MESSAGE_CHARS
    return message if len(message) <= limit else (
        f"{message[:limit]}... [{len(message) - limit} more]")


def _short_fields(fields: dict[Any, Any]) -> dict[str, Any]:
    return {str(name): value[:logs.MAX_FIELD_CHARS] if isinstance(value, str) else value
            for name, value in fields.items()}


FORMATTERS: dict[str, Callable[[], logging.Formatter]] = {
    "logs": logs.JsonFormatter,
    "python-json-logger": python_json_logger_formatter,
    "structlog": structlog_formatter,
}


def _sample_records() -> list[logging.LogRecord]:
    call = logging.LogRecord("cds_service.hooks.calllog", logging.INFO, __file__, 1, MESSAGE, ARGS,
                             None)
    call.fields = FIELDS
    try:
        try:
            raise KeyError("Moreau")
        except KeyError as exc:
            raise ValueError("patient Claire Moreau") from exc
    except ValueError:
        failed = logging.LogRecord("cds_service.x", logging.ERROR, __file__, 1, "rule %s failed",
                                   ("sts-rec-1",), sys.exc_info())
    long = logging.LogRecord("gunicorn.error", logging.WARNING, __file__, 1, "x" * 5000, None, None)
    return [call, failed, long]


def check_same_lines() -> None:
    """Stop unless every library formatter writes what ``logs.JsonFormatter`` writes."""
    logs.bind_call(hookInstance=str(FIELDS["hookInstance"]), service=str(FIELDS["service"]))
    try:
        for record in _sample_records():
            expected = logs.JsonFormatter().format(record)
            for name, make in FORMATTERS.items():
                line = make().format(record)
                if line != expected:
                    raise SystemExit(f"{name} writes another line:\n{line}\nnot\n{expected}")
    finally:
        logs.clear_call()


@dataclass(frozen=True)
class LineCost:
    """Microseconds per line of one variant.

    Attributes:
        variant: the formatter (a key of :data:`FORMATTERS`).
        lines: how many lines were timed.
        emit_p50_us: the median batch's ``log.log`` cost per line, handler included.
        emit_mean_us: the mean ``log.log`` cost per line.
        format_p50_us: the median batch's ``Formatter.format`` cost per line, alone.
        format_mean_us: the mean ``Formatter.format`` cost per line.
    """

    variant: str
    lines: int
    emit_p50_us: float
    emit_mean_us: float
    format_p50_us: float
    format_mean_us: float


def _take_turns(handlers: dict[str, logs.BackgroundJsonHandler],
                lines: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    loggers: dict[str, logging.Logger] = {}
    for name, make in FORMATTERS.items():
        handlers[name].setFormatter(make())
        logger = logging.getLogger(f"cds_service.bench.log_cost.{name}")
        logger.propagate = False
        logger.setLevel(logging.INFO)
        logger.handlers = [handlers[name]]
        loggers[name] = logger
    emit: dict[str, list[float]] = {name: [] for name in FORMATTERS}
    fmt: dict[str, list[float]] = {name: [] for name in FORMATTERS}
    record = _sample_records()[0]
    logs.bind_call(hookInstance=str(FIELDS["hookInstance"]), service=str(FIELDS["service"]))
    try:
        for _ in range(max(1, lines // BATCH)):
            for name in FORMATTERS:
                logger, handler, formatter = loggers[name], handlers[name], handlers[name].formatter
                assert formatter is not None
                started = time.perf_counter()
                for _ in range(BATCH):
                    logger.log(logging.INFO, MESSAGE, *ARGS, extra={"fields": FIELDS})
                emit[name].append((time.perf_counter() - started) * 1e6 / BATCH)
                handler.flush()
                started = time.perf_counter()
                for _ in range(BATCH):
                    formatter.format(record)
                fmt[name].append((time.perf_counter() - started) * 1e6 / BATCH)
    finally:
        logs.clear_call()
        for logger in loggers.values():
            logger.handlers = []
    return emit, fmt


def measure(lines: int) -> list[LineCost]:
    """Emit and format the call line ``lines`` times per variant, the variants taking turns."""
    check_same_lines()
    with open(os.devnull, "w") as sink:
        handlers = {name: logs.BackgroundJsonHandler(sink) for name in FORMATTERS}
        try:
            emit, fmt = _take_turns(handlers, lines)
        finally:
            for handler in handlers.values():
                handler.close()
    dropped = [name for name in FORMATTERS if handlers[name].dropped]
    if dropped:
        raise SystemExit(f"lines dropped by {dropped}: the figures would be too low")
    return [LineCost(name, len(emit[name]) * BATCH, statistics.median(emit[name]),
                     statistics.fmean(emit[name]), statistics.median(fmt[name]),
                     statistics.fmean(fmt[name])) for name in FORMATTERS]


def main() -> None:
    """Print the cost of each variant, and each library's difference to ``logs``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000, help="lines per variant")
    try:
        costs = measure(parser.parse_args().lines)
    except ImportError as exc:
        raise SystemExit(f"{exc.name} is not installed: pip install -e '.[bench]'") from None
    base = costs[0]
    print(f"{'variant':>18}  {'lines':>7}  emit p50 / mean (us)  format p50 / mean (us)  "
          "emit p50 vs logs")
    for cost in costs:
        delta = cost.emit_p50_us - base.emit_p50_us
        print(f"{cost.variant:>18}  {cost.lines:>7}  {cost.emit_p50_us:>8.2f} / "
              f"{cost.emit_mean_us:<8.2f}    {cost.format_p50_us:>8.2f} / "
              f"{cost.format_mean_us:<8.2f}    {delta:+.2f} us "
              f"({delta / base.emit_p50_us:+.0%})")


if __name__ == "__main__":
    main()
