"""The gunicorn worker: gthread, with threads of its own for the operator listener.

A gthread worker hands every connection to one pool of ``CDS_THREADS`` threads. With every thread
busy on hook calls (a slow FHIR server), a probe would wait for one to free up, and the kubelet
would take a busy pod for a dead one. Connections accepted on the operator listener
(``CDS_ADMIN_BIND``) go to a small pool that hook calls never use instead: probes and metrics
scrapes are answered while the hook threads are all taken. The public listener is served exactly
as by gunicorn's own gthread worker.
"""

from __future__ import annotations

from concurrent import futures
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

OPERATOR_THREADS = 2
"""Threads serving the operator listener: a probe and a scrape at once."""


class CdsThreadWorker(ThreadWorker):  # type: ignore[misc]
    """gthread; connections of the operator listener are served by :data:`OPERATOR_THREADS`
    threads of their own."""

    operator_pool: futures.ThreadPoolExecutor | None = None
    _operator_port: int | None = None

    def init_process(self) -> None:
        """Start the operator threads, then run as gthread does (the app is loaded by now when
        preloaded, or in ``super().init_process()`` otherwise)."""
        self.operator_pool = futures.ThreadPoolExecutor(
            max_workers=OPERATOR_THREADS, thread_name_prefix="operator")
        super().init_process()

    def enqueue_req(self, conn: Any) -> None:
        """Serve ``conn`` in the operator pool if it came in on the operator listener."""
        port = self._port()
        server = conn.server
        if port is None or not isinstance(server, tuple) or server[1] != port:
            super().enqueue_req(conn)
            return
        assert self.operator_pool is not None
        done = self.operator_pool.submit(self.handle, conn)
        done.add_done_callback(
            lambda fut: self.method_queue.defer(self.finish_request, conn, fut))

    def handle_quit(self, sig: Any, frame: Any) -> None:
        """Immediate shutdown: stop the operator threads too."""
        if self.operator_pool is not None:
            self.operator_pool.shutdown(wait=False)
        super().handle_quit(sig, frame)

    def _port(self) -> int | None:
        if self._operator_port is None:
            from cds_service.app import operator_port  # the app only once the worker runs

            self._operator_port = operator_port(self.wsgi) or 0
        return self._operator_port or None
