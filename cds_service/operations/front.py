"""The gunicorn worker: request bodies are received on an event loop before a thread serves them.

gunicorn's ``gthread`` worker hands a connection to one of its threads as soon as the first bytes
arrive, and that thread then waits for the whole body: sixteen clients trickling their bodies at
a byte a second took every thread of four workers, and every hook call waited behind them.
:class:`BufferingWorker` is gunicorn's own asyncio (ASGI) worker serving the Flask app through
:class:`BufferingFront`, which receives each body in full on the worker's event loop, where a slow
upload costs a socket and a few bytes, not a thread. Only a complete body reaches the app, in one
of ``threads`` threads, as before. On the way in, the front enforces the contract's two limits:

- a body over ``CDS_MAX_BODY_MB`` is refused with 413 ``too-long`` as soon as it is known to be
  (its ``Content-Length``, or the bytes received so far of a chunked body): never truncated;
- a body not fully received within ``CDS_BODY_TIMEOUT_S`` of the request's start is refused
  with 408 ``timeout``.

A body larger than :data:`SPOOL_BYTES` waits in a temporary file rather than in memory, so that
several large uploads arriving at once hold no more memory than one; the app reads it inside
its one-large-body-at-a-time slot (``hooks/blueprint.py``), as it read the socket before. The
bytes a worker holds for bodies not yet answered are bounded (:class:`_Budget`): past the bound
it stops reading until a call ends, so a flood of large uploads fills neither memory nor disk;
each waiting body still gets its answer or its 408 within the timeout.

The request threads run hook calls, which can wait on a slow FHIR server for as long as the call's
deadline. So that the kubelet never takes a busy pod for a dead one, the probes (``/healthz``,
``/readyz``) run in :data:`PROBE_THREADS` threads of their own on either listener, and every request
on the operator listener (``CDS_ADMIN_BIND``: ``/metrics``, the probes) in :data:`OPERATOR_THREADS`
others: neither ever queues behind a hook call, and a flood of probes on the public port cannot
hold up the operator port's. Which endpoint answers on which listener is the app's business
(``admin.py``). The 408 and 413 the front answers itself are OperationOutcome JSON, carry the
service's CORS headers and are counted in ``/metrics`` as the app's own answers are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import field
from typing import IO
from typing import Any

import orjson
from a2wsgi.wsgi import build_environ
from gunicorn.workers.gasgi import ASGIWorker
from werkzeug.exceptions import HTTPException

from cds_service.hooks.errors import BadRequest
from cds_service.hooks.errors import CdsError
from cds_service.hooks.errors import PayloadTooLarge
from cds_service.hooks.errors import RequestTimeout
from cds_service.operations import metrics
from cds_service.operations.admin import PROBE_PATHS
from cds_service.settings import Settings

# The logger keeps its name from before the move to operations/, for operators' log filters.
log = logging.getLogger("cds_service.front")

SPOOL_BYTES = 1024 * 1024
"""A body larger than this waits for its thread in a temporary file instead of memory."""

OPERATOR_THREADS = 2
"""Threads serving the operator listener: a probe and a scrape at once."""

PROBE_THREADS = 2
"""Threads serving the probes that come in on the public listener."""

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _Disconnected(BadRequest):
    """The client went away before its body was complete (a 400, as Werkzeug's own)."""


@dataclass
class _Answer:
    """What the WSGI app answered, collected in its thread; closed after it has been sent."""

    status: int = 500
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)
    iterable: Iterable[bytes] | None = None

    def start_response(self, status: str, headers: list[tuple[str, str]],
                       exc_info: Any = None) -> Callable[[bytes], None]:
        self.status = int(status.split(" ", 1)[0])
        self.headers = [(name.lower().encode("latin-1"), value.encode("latin-1"))
                        for name, value in headers]
        return self.chunks.append

    def close(self) -> None:
        close = getattr(self.iterable, "close", None)
        if close is not None:
            close()


class _Budget:
    """The body bytes a worker holds; a body that would pass ``limit`` waits for room.

    A body is always let in when it is all that is held, so it never waits for itself.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._room = asyncio.Condition()

    async def take(self, size: int, held: int) -> None:
        """Hold ``size`` more bytes for a body already holding ``held``."""
        async with self._room:
            await self._room.wait_for(
                lambda: self.used == held or self.used + size <= self.limit)
            self.used += size

    async def give_back(self, size: int) -> None:
        async with self._room:
            self.used -= size
            self._room.notify_all()


class BufferingFront:
    """An ASGI app that serves a WSGI app once each request body has fully arrived.

    Args:
        app: the WSGI app (the service's Flask app).
        threads: how many requests the WSGI app serves at once (gunicorn's ``threads``).
        max_body_bytes: larger bodies are refused with 413.
        body_timeout_s: a body not received this long after the request's start gets 408.
        held_bytes: the body bytes held at once (received, not yet answered); default
            ``2 * threads * max_body_bytes``.
        operator_port: the port of the operator listener (``CDS_ADMIN_BIND``), if any.
        cors_origins: the browser origins the service allows (``CDS_CORS_ORIGINS``), for the
            front's own answers; ``("*",)`` allows any.
    """

    def __init__(self, app: WsgiApp, *, threads: int, max_body_bytes: int,
                 body_timeout_s: float, held_bytes: int | None = None,
                 operator_port: int | None = None,
                 cors_origins: tuple[str, ...] = ("*",)) -> None:
        self.app = app
        self.threads = threads
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s
        self.held_bytes = held_bytes or 2 * threads * max_body_bytes
        self.operator_port = operator_port
        self.cors_origins = frozenset(cors_origins)
        self._budget = _Budget(self.held_bytes)
        self._pools: dict[str, ThreadPoolExecutor] = {}

    @classmethod
    def for_app(cls, app: WsgiApp, *, threads: int) -> BufferingFront:
        """The front of ``app`` with the limits of its settings (the service's, else defaults)."""
        from cds_service.state import state_of

        state = state_of(app)
        settings: Settings = state.settings if state is not None else Settings()
        return cls(app, threads=threads, max_body_bytes=settings.max_body_bytes,
                   body_timeout_s=settings.body_timeout_s, operator_port=settings.admin_port,
                   cors_origins=settings.cors_origin_list)

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The request threads (hook calls and everything else on the public listener)."""
        return self._pool("request", self.threads)

    def executor_for(self, scope: Scope) -> ThreadPoolExecutor:
        """The threads that serve a request: the operator listener's, the probes', or the
        request threads."""
        server = scope.get("server")
        if self.operator_port is not None and server and server[1] == self.operator_port:
            return self._pool("operator", OPERATOR_THREADS)
        if scope["path"] in PROBE_PATHS:
            return self._pool("probe", PROBE_THREADS)
        return self.executor

    def _pool(self, name: str, threads: int) -> ThreadPoolExecutor:
        # Made on first use, so in the worker process, after the fork.
        pool = self._pools.get(name)
        if pool is None:
            pool = self._pools[name] = ThreadPoolExecutor(threads, thread_name_prefix=name)
        return pool

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        else:  # a WebSocket: this service has none
            await send({"type": "websocket.close", "code": 1000})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        held = [0]  # bytes of the budget this request holds
        try:
            await self._serve(scope, receive, send, held)
        finally:
            await self._budget.give_back(held[0])

    async def _serve(self, scope: Scope, receive: Receive, send: Send, held: list[int]) -> None:
        try:
            body, length = await self._receive_body(scope, receive, held)
        except CdsError as refused:
            log.info("request body refused (%d): %s %s: %s", refused.status, scope["method"],
                     scope["path"], refused)
            self._count_refusal(scope, refused.status)
            # To a client already gone too: the access log then reads 400, not gunicorn's 500
            # for an app that did not answer.
            with contextlib.suppress(OSError):
                await _send_error(send, refused, self._cors_headers(scope))
            return
        loop = asyncio.get_running_loop()
        executor = self.executor_for(scope)
        answer = _Answer()
        try:
            environ: dict[str, Any] = dict(build_environ(scope, body))  # type: ignore[arg-type]
            environ.pop("HTTP_TRANSFER_ENCODING", None)  # the body is whole: its length is known
            environ["CONTENT_LENGTH"] = str(length)
            try:
                await loop.run_in_executor(executor, self._run, environ, answer)
            except Exception:  # the app answers its own errors; this is a last resort
                log.exception("unhandled error")
                await _send_error(send, CdsError(
                    "internal error; the service log has the details"), self._cors_headers(scope))
                return
            await send({"type": "http.response.start", "status": answer.status,
                        "headers": answer.headers})
            await send({"type": "http.response.body", "body": b"".join(answer.chunks)})
        finally:
            # After the answer is sent, as Flask's call_on_close expects: freeing a large
            # decoded record takes milliseconds that the client need not wait for.
            await loop.run_in_executor(executor, _close, answer, body)

    def _cors_headers(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        """The CORS headers the app would send a browser with this request's ``Origin``."""
        origin = _header(scope, b"origin")
        if origin is None:
            return []
        if "*" in self.cors_origins:
            return [(b"access-control-allow-origin", b"*")]
        vary = [(b"vary", b"Origin")]
        if origin.decode("latin-1") in self.cors_origins:
            return [(b"access-control-allow-origin", origin), *vary]
        return vary

    def _count_refusal(self, scope: Scope, status: int) -> None:
        """Count a refused hook call or feedback post in ``/metrics`` as the app counts its
        answers (the app's routes tell which endpoint the path is)."""
        url_map = getattr(self.app, "url_map", None)
        if url_map is None:
            return
        try:
            endpoint, args = url_map.bind("localhost").match(scope["path"], scope["method"])
        except HTTPException:  # no such route (404, 405): not counted by the app either
            return
        metrics.count_answer(endpoint, args, status)

    async def _receive_body(self, scope: Scope, receive: Receive,
                            held: list[int]) -> tuple[IO[bytes], int]:
        """The whole body, in memory or spooled to a temporary file, and its length.

        Raises:
            PayloadTooLarge: the body is, or has grown, over the limit.
            RequestTimeout: the body did not arrive within the timeout.
            _Disconnected: the client went away first.
        """
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            raise _too_long()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout_s
        body: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
        received = 0
        try:
            while True:
                # A fresh timeout for every wait, and the deadline checked between them: a
                # cancellation that lands as a byte arrives can be swallowed by the wait inside
                # gunicorn's receive (asyncio.wait_for before Python 3.12), and a client
                # trickling a byte a second would then never be timed out.
                if loop.time() >= deadline:
                    raise TimeoutError
                async with asyncio.timeout_at(deadline):
                    message = await receive()
                    if message["type"] == "http.request":
                        chunk = message.get("body", b"")
                        received += len(chunk)
                        if received > self.max_body_bytes:
                            raise _too_long()
                        await self._budget.take(len(chunk), held[0])
                        held[0] += len(chunk)
                if message["type"] != "http.request":  # http.disconnect: the client is gone
                    raise _Disconnected("the client closed the connection before the whole "
                                        "request body was received")
                body.write(chunk)
                if not message.get("more_body", False):
                    break
        except TimeoutError:
            body.close()
            raise RequestTimeout(
                f"the request body was not received within {self.body_timeout_s:g} s "
                "(CDS_BODY_TIMEOUT_S)") from None
        except BaseException:
            body.close()
            raise
        body.seek(0)
        return body, received

    def _run(self, environ: dict[str, Any], answer: _Answer) -> None:
        """Call the WSGI app in a request thread and collect its answer (PEP 3333)."""
        answer.iterable = self.app(environ, answer.start_response)
        for chunk in answer.iterable:
            if chunk:
                answer.chunks.append(chunk)


def _close(answer: _Answer, body: IO[bytes]) -> None:
    try:
        answer.close()
    finally:
        body.close()


def _header(scope: Scope, wanted: bytes) -> bytes | None:
    for name, value in scope.get("headers", ()):
        if name == wanted:
            return bytes(value)
    return None


def _content_length(scope: Scope) -> int | None:
    value = _header(scope, b"content-length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None  # gunicorn refuses a malformed length before the app sees it


def _too_long() -> PayloadTooLarge:
    return PayloadTooLarge("the request body is larger than the limit (CDS_MAX_BODY_MB)")


async def _send_error(send: Send, error: CdsError,
                      extra_headers: list[tuple[bytes, bytes]]) -> None:
    """An OperationOutcome answer, and the connection closed (the body may be unread)."""
    body = orjson.dumps(error.to_dict()) + b"\n"
    await send({"type": "http.response.start", "status": error.status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), *extra_headers]})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class BufferingWorker(ASGIWorker):  # type: ignore[misc]
    """gunicorn's asyncio worker serving the loaded WSGI app through :class:`BufferingFront`.

    Use it as ``worker_class = "cds_service.operations.front.BufferingWorker"``. gunicorn's
    ``threads`` setting keeps its meaning: the requests the app serves at once in each worker. The
    WSGI app stays ``worker.wsgi``, as the gunicorn hooks (``prefork``) expect.
    """

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        """Nothing to warn about: unlike the plain ASGI worker, this one uses ``threads``."""

    def load_wsgi(self) -> None:
        """Load the WSGI app and put the buffering front before it."""
        self.wsgi = self.app.wsgi()
        self.asgi = BufferingFront.for_app(self.wsgi, threads=self.cfg.threads)
