"""Test databases: a fresh PostgreSQL schema per test, and a TCP proxy that can cut or stall the
line (a database that hangs: TCP still acknowledges, nothing answers)."""

from __future__ import annotations

import contextlib
import itertools
import secrets
import socket
import threading

from sqlalchemy import Engine
from sqlalchemy import create_engine
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.engine import make_url

POSTGRES_URL_VARIABLE = "CDS_TEST_POSTGRES_URL"
"""Where the tests find PostgreSQL (an SQLAlchemy URL; the database must exist)."""

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
"""Our machines' and CI's PostgreSQL: trust authentication, database ``test``."""


class PostgresServer:
    """Creates a fresh schema per test on one PostgreSQL database, and drops them all after."""

    def __init__(self, url: str) -> None:
        self.url: URL = make_url(url)
        self._admin: Engine = create_engine(
            self.url.update_query_dict({"connect_timeout": "3"}), isolation_level="AUTOCOMMIT"
        )
        self._prefix = f"cds_test_{secrets.token_hex(4)}"
        self._numbers = itertools.count(1)

    def ping(self) -> None:
        """Connect once; raises ``OperationalError`` when the server is unreachable."""
        with self._admin.connect() as connection:
            connection.execute(text("SELECT 1"))

    def new_schema(self) -> str:
        """Create an empty schema and return a URL whose connections use only it."""
        schema = f"{self._prefix}_{next(self._numbers)}"
        with self._admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = self.url.update_query_dict({"options": f"-csearch_path={schema}"})
        return url.render_as_string(hide_password=False)

    def drop_schemas(self) -> None:
        """Drop every schema this server object created (the tests' connections are closed)."""
        with self._admin.connect() as connection:
            connection.execute(text("SET lock_timeout = '10s'"))
            names = connection.execute(
                text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :prefix"),
                {"prefix": f"{self._prefix}%"},
            ).scalars()
            for name in list(names):
                connection.execute(text(f'DROP SCHEMA "{name}" CASCADE'))

    def dispose(self) -> None:
        """Close the administrative connections."""
        self._admin.dispose()


def via_proxy(url: str, port: int) -> str:
    """``url`` with its host and port replaced by the proxy's."""
    proxied = make_url(url).set(host="127.0.0.1", port=port)
    return proxied.render_as_string(hide_password=False)


class TcpProxy:
    """Forwards a loopback port to ``target``; :meth:`cut` drops every connection (an outage),
    :meth:`stall` holds every byte in either direction until :meth:`resume` (a hung database)."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._flowing = threading.Event()
        self._flowing.set()
        self._resume_timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self.port = 0

    def start(self) -> None:
        """Listen (on the same port as before after a :meth:`cut`) and forward."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Stop listening and reset every open connection: the database is gone."""
        with self._lock:
            sockets, self._sockets = self._sockets, []
            listener, self._listener = self._listener, None
        for sock in [*sockets, *([listener] if listener else [])]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def stall(self, at_most_s: float) -> None:
        """Stop forwarding, on open and new connections alike, for ``at_most_s`` at most.

        Connections stay open and bytes sent are accepted (the kernel acknowledges them), so a
        client waits for an answer as it would from a hung server; nothing is lost on resume.
        """
        self._flowing.clear()
        self._resume_timer = threading.Timer(at_most_s, self.resume)
        self._resume_timer.daemon = True
        self._resume_timer.start()

    def resume(self) -> None:
        """Forward again what was held and what comes."""
        if self._resume_timer is not None:
            self._resume_timer.cancel()
        self._flowing.set()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self._target, timeout=3)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # cut meanwhile
                    client.close()
                    upstream.close()
                    return
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink, self._flowing),
                                 daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket, flowing: threading.Event) -> None:
    try:
        while data := source.recv(65536):
            flowing.wait()
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
