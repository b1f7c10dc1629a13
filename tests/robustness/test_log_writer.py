"""The log writer: JSON lines formatted in the request, written by a thread that cannot stall it.

A stalled stderr (a busy log collector, a full pipe) must not hold hook calls, and a line must
still name the call it came from.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

import pytest

from cds_service.operations import logs


class _StalledStream:
    """A stream whose writes wait until released."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self.lines: list[str] = []

    def write(self, text: str) -> None:
        self.released.wait(30)
        self.lines += [line for line in text.splitlines() if line]

    def flush(self) -> None:
        pass


def _logger(handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(f"cds_service.test_writer.{id(handler)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    return logger


def test_a_line_is_written_with_the_fields_of_its_call() -> None:
    stream = _StalledStream()
    stream.released.set()
    handler = logs.BackgroundJsonHandler(stream)
    logs.bind_call(hookInstance="call-7", service="sts-patient-view")
    try:
        _logger(handler).warning("skipped unreadable resource %s", "Observation/o1")
    finally:
        logs.clear_call()
    handler.flush()
    (line,) = [json.loads(text) for text in stream.lines]
    assert line["message"] == "skipped unreadable resource Observation/o1"
    assert (line["hookInstance"], line["service"], line["level"]) == (
        "call-7", "sts-patient-view", "WARNING")
    handler.close()


def test_a_stalled_stream_never_holds_the_caller_and_overflow_is_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(logs, "MAX_QUEUED_RECORDS", 5)
    stream = _StalledStream()
    handler = logs.BackgroundJsonHandler(stream)
    logger = _logger(handler)

    started = time.monotonic()
    for n in range(20):
        logger.info("line %d", n)
    assert time.monotonic() - started < 2  # the writer is stuck; the callers are not

    stream.released.set()
    handler.flush()
    logger.info("after")
    handler.flush()
    messages = [json.loads(text)["message"] for text in stream.lines]
    assert messages[0] == "line 0" and "after" in messages
    dropped = next(m for m in messages if "dropped" in m)
    assert 20 - (len(messages) - 2) == int(dropped.split()[0])  # every line written or counted
    handler.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_worker_writes_its_own_lines(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    with path.open("a", buffering=1) as stream:
        handler = logs.BackgroundJsonHandler(stream)
        logger = _logger(handler)
        logger.info("from the master")  # the master's writer thread runs now
        handler.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 1
            try:
                logger.info("from the worker")
                handler.flush()
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        handler.close()
    messages = [json.loads(line)["message"] for line in path.read_text().splitlines()]
    assert messages == ["from the master", "from the worker"]
