"""A real HTTP server on 127.0.0.1 for tests that need true sockets (delays, drips, big bodies)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
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
