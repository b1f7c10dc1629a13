"""gunicorn's own log lines as the service's: one JSON object per line.

gunicorn writes its start-up, worker and access lines through its ``Logger`` class, in plain text
by default. This class sends the error log and the access log to the service's JSON writer
(``logs.shared_handler``: formatted where the line is made, written from a background thread, so
that a slow stderr never stalls a request thread) when they go to ``-``; to a file, they are
written by gunicorn's own file handler in the same JSON format. An access line holds the method,
the path without its query string, the status, the bytes sent and the duration: never a header,
a query string or a body.
"""

from __future__ import annotations

import logging
from typing import Any

from gunicorn.glogging import Logger

from cds_service.operations import logs


class JsonLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger, writing JSON lines (``logger_class``)."""

    def _set_handler(self, log: logging.Logger, output: str | None, fmt: logging.Formatter,
                     stream: Any = None) -> None:
        if output != "-":
            super()._set_handler(log, output, logs.JsonFormatter(), stream)
            return
        for handler in [h for h in log.handlers if getattr(h, "_gunicorn", False)]:
            log.removeHandler(handler)
        handler = logs.shared_handler()
        handler._gunicorn = True  # type: ignore[attr-defined]  # gunicorn's mark of its own
        log.addHandler(handler)

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        """One JSON line per request (``accesslog``)."""
        if not self.access_log_enabled:
            return
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        method = environ.get("REQUEST_METHOD", "-")
        path = environ.get("PATH_INFO", "-")
        fields = {
            "method": method, "path": path,
            "status": int(status) if str(status).isdigit() else str(status),
            "bytes": getattr(resp, "sent", None),
            # A timedelta from gthread, gunicorn's own lighter object from its asyncio worker:
            # both have seconds and microseconds.
            "duration_ms": round(request_time.seconds * 1000
                                 + request_time.microseconds / 1000, 1),
            "remote": environ.get("REMOTE_ADDR", "-"),
        }
        self.access_log.info("%s %s %s", method, path, status, extra={"fields": fields})
