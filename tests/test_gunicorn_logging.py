"""gunicorn's own lines in the service's JSON format (``logger_class``), to a file as to stderr."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from cds_service.operations.gunicorn_logging import JsonLogger


@pytest.fixture
def logger(tmp_path: Path) -> Iterator[JsonLogger]:
    """A JsonLogger writing its error and access logs to files under ``tmp_path``."""
    config = Config()
    config.set("accesslog", str(tmp_path / "access.log"))
    config.set("errorlog", str(tmp_path / "error.log"))
    log = JsonLogger(config)
    yield log
    for name in ("gunicorn.error", "gunicorn.access"):
        for handler in list(logging.getLogger(name).handlers):
            logging.getLogger(name).removeHandler(handler)
            handler.close()


def test_access_lines_are_json_without_query_string_or_headers(logger: JsonLogger,
                                                               tmp_path: Path) -> None:
    response = SimpleNamespace(status="404 NOT FOUND", sent=120, headers=[])
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/recommendations/x",
               "QUERY_STRING": "patient=Jane-Doe", "RAW_URI": "/recommendations/x?patient=Jane-Doe",
               "REMOTE_ADDR": "10.1.2.3", "HTTP_AUTHORIZATION": "Bearer secret",
               "SERVER_PROTOCOL": "HTTP/1.1"}

    logger.access(response, SimpleNamespace(headers=[]), environ, dt.timedelta(milliseconds=7))
    logger.error("Worker (pid:%s) was sent SIGKILL! Perhaps out of memory?", 42)

    (access,) = [json.loads(line) for line in (tmp_path / "access.log").read_text().splitlines()]
    assert access["logger"] == "gunicorn.access"
    assert access["fields"] == {"method": "GET", "path": "/recommendations/x", "status": 404,
                                "bytes": 120, "duration_ms": 7.0, "remote": "10.1.2.3"}
    assert "Jane-Doe" not in json.dumps(access) and "secret" not in json.dumps(access)
    (error,) = [json.loads(line) for line in (tmp_path / "error.log").read_text().splitlines()]
    assert (error["level"], error["message"]) == (
        "ERROR", "Worker (pid:42) was sent SIGKILL! Perhaps out of memory?")


def test_access_lines_of_the_asyncio_worker_are_json_too(logger: JsonLogger,
                                                         tmp_path: Path) -> None:
    # The service's worker (front.BufferingWorker) is gunicorn's asyncio one: its access lines
    # come with an int status, its own response info and its own request-time object.
    from gunicorn.asgi.protocol import ASGIResponseInfo
    from gunicorn.asgi.protocol import _RequestTime

    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/cds-services/sts-order-sign",
               "QUERY_STRING": "", "REMOTE_ADDR": "10.1.2.3"}
    logger.access(ASGIResponseInfo(408, [(b"content-type", b"application/json")], 95),
                  SimpleNamespace(headers=[]), environ, _RequestTime(30.0125))

    (access,) = [json.loads(line) for line in (tmp_path / "access.log").read_text().splitlines()]
    assert access["fields"] == {"method": "POST", "path": "/cds-services/sts-order-sign",
                                "status": 408, "bytes": 95, "duration_ms": 30012.5,
                                "remote": "10.1.2.3"}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: nothing listens there


@pytest.mark.slow
@pytest.mark.parametrize(("variable", "value", "reason"), [
    ("CDS_DATABASE_URL", "postgresql+psycopg://cds@127.0.0.1:{port}/cds?connect_timeout=2",
     "the service cannot start: StoreUnavailable"),
    ("CDS_ADMIN_BIND", "127.0.0.1:8080", "CDS_ADMIN_BIND must use a port of its own"),
    ("CDS_MAX_BODY_MB", "lots", "invalid settings"),
])
def test_a_failed_start_is_json_lines_too(tmp_path: Path, variable: str, value: str,
                                          reason: str) -> None:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CDS_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env["CDS_DATABASE_URL"] = f"sqlite:///{tmp_path / 'cds.sqlite3'}"
    env[variable] = value.format(port=_closed_port())
    done = subprocess.run([sys.executable, "-m", "cds_service.cli", "serve", "--workers", "1"],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    records = [json.loads(line) for line in (done.stdout + done.stderr).splitlines()
               if line.strip()]  # no traceback: every line is a JSON object
    assert records[-1]["level"] == "CRITICAL" and reason in records[-1]["message"]
