"""A real HTTP server on 127.0.0.1 for tests that need true sockets (delays, drips, big bodies)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any
from typing import TypeVar

ServerT = TypeVar("ServerT", bound=ThreadingHTTPServer)


@contextmanager
def serving(server_class: type[ServerT], handler: type[BaseHTTPRequestHandler],
            name: str) -> Iterator[ServerT]:
    """Run ``handler`` on a free loopback port in a daemon thread; stop it on exit."""
    server = server_class(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def drain(state: Any, seconds: float) -> None:
    """Wait until no handler of ``state`` (its ``active`` count) still runs, then assert it."""
    ends = time.monotonic() + seconds
    while state.active and time.monotonic() < ends:
        time.sleep(0.01)
    assert state.active == 0, "a loopback handler is still running"


@dataclass(kw_only=True)
class Seen:
    """What a loopback server was asked, and how many of its handlers still run.

    Attributes:
        requests: the request paths received, in order.
        active: handlers running now (see :func:`drain`).
        lock: guards both.
    """

    requests: list[str] = field(default_factory=list)
    active: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class CountingHandler(BaseHTTPRequestHandler):
    """Records each GET in ``self.server.state`` (a :class:`Seen`) around :meth:`answer`."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's name)
        """Keep the test output quiet."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        state: Seen = self.server.state  # type: ignore[attr-defined]
        with state.lock:
            state.requests.append(self.path)
            state.active += 1
        try:
            self.answer()
        except OSError:
            pass  # the client gave up (deadline, size cap) and closed the connection
        finally:
            with state.lock:
                state.active -= 1

    def answer(self) -> None:
        """Answer the request (the path is ``self.path``)."""
        raise NotImplementedError
