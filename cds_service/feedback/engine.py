"""Database plumbing of the feedback store: engine, sessions and failure translation."""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.exc import InterfaceError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker
from sqlalchemy.sql.dml import Insert

from cds_service.feedback.schema import Base

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 1_500
"""How long a SQLite statement waits for another process's lock before giving up (contract.md:
feedback and summary answer 503 within 3 s, hook calls with JWT within 2 s)."""

WAL_SWITCH_ATTEMPTS = 6
"""Tries at switching a new SQLite file to WAL while other workers open it."""

_DURABLE_CONNECTION = "cds_service.synchronous_full"
"""Marks (in the pool entry's ``info``) a SQLite connection raised to ``synchronous = FULL``."""

POSTGRES_CONNECT_DEFAULTS = {"connect_timeout": "2", "tcp_user_timeout": "5000"}
"""libpq options that bound how long a hook call waits on an unreachable PostgreSQL (seconds to
connect, the least libpq accepts; milliseconds of unacknowledged sending); the URL's own query
parameters win."""

POSTGRES_SESSION_DEFAULTS = {"statement_timeout": "1500", "lock_timeout": "1000"}
"""Server-side bounds (milliseconds) of every statement and every lock wait, sent as ``-c``
options at connect unless the URL's ``options`` set them: a table locked by someone else (``LOCK
TABLE ... ACCESS EXCLUSIVE``) costs one request a second, not the lock's whole duration."""

POOL_CHECKOUT_TIMEOUT_S = 1.0
"""How long a thread waits for a pooled connection when all are in use (SQLAlchemy: 30 s)."""

REQUEST_WAIT_S = 1.7
"""How long a thread may hold one PostgreSQL connection before the watchdog cuts its socket
(longer than the server's statement timeout, which fails a slow statement without the cut).

The server-side timeouts cannot help when the server (or the network to it) hangs: TCP still
acknowledges, and the driver waits for an answer forever. A thread's limit is changed with
:func:`wait_limit` (the ledger writer waits longer, migrations without limit)."""

WATCHDOG_TICK_S = 0.1
"""How often the watchdog looks at the connections in use while any is."""


class StoreUnavailable(Exception):
    """The database cannot be reached or written; the web layer answers 503 ``transient``."""


def make_engine(url: str) -> Engine:
    """Create the engine for ``url``; SQLite files get their directory, WAL and a busy timeout.

    Several gunicorn workers write the same SQLite file, hence WAL (readers do not block the writer)
    and ``busy_timeout`` (a writer waits for the lock instead of failing at once). A directory that
    cannot be created is only logged: connecting then fails with :class:`StoreUnavailable`, so the
    service can start and report the database as unreachable. PostgreSQL connections get
    :data:`POSTGRES_CONNECT_DEFAULTS` and :data:`POSTGRES_SESSION_DEFAULTS` unless the URL sets
    them, so an outage fails fast, and every use of a PostgreSQL connection is watched (see
    :data:`REQUEST_WAIT_S`): no database wait of a request is unbounded.

    Args:
        url: SQLAlchemy database URL, e.g. ``sqlite:///var/cds-service.sqlite3``.

    Returns:
        A lazily connecting engine that pings a pooled connection before each use.
    """
    parsed = make_url(url)
    is_sqlite = parsed.get_backend_name() == "sqlite"
    if is_sqlite:
        _create_parent_dir(parsed.database, is_uri=bool(parsed.query.get("uri")))
    elif parsed.get_backend_name() == "postgresql":
        defaults = {k: v for k, v in POSTGRES_CONNECT_DEFAULTS.items() if k not in parsed.query}
        parsed = parsed.update_query_dict(defaults)
        parsed = parsed.update_query_dict({"options": _with_session_defaults(
            parsed.query.get("options"))})
    if is_sqlite:
        # A file's pool is a queue (bounded checkout wait); an in-memory database's is one
        # connection per thread, which never waits.
        in_memory = parsed.database in (None, "", ":memory:") or "mode=memory" in str(parsed)
        engine = create_engine(parsed, pool_pre_ping=True, **(
            {} if in_memory else {"pool_timeout": POOL_CHECKOUT_TIMEOUT_S}))
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "checkin", _restore_synchronous)
        return engine
    # The ping before each use is ours (SQLAlchemy's pre-ping runs before any event, so a hung
    # connection would hang it out of the watchdog's sight).
    engine = create_engine(parsed, pool_timeout=POOL_CHECKOUT_TIMEOUT_S)
    event.listen(engine, "connect", _mark_fresh)
    event.listen(engine, "checkout", _watch_and_ping)
    event.listen(engine, "checkin", _unwatch)
    event.listen(engine, "invalidate", _unwatch_invalidated)
    return engine


def _with_session_defaults(options: str | tuple[str, ...] | None) -> str:
    text_ = " ".join(options) if isinstance(options, tuple) else (options or "")
    extra = [f"-c {name}={value}" for name, value in POSTGRES_SESSION_DEFAULTS.items()
             if name not in text_]
    return " ".join([text_, *extra]).strip()


_limits = threading.local()


def current_wait_limit() -> float | None:
    """This thread's limit on holding one connection, in seconds (None: no limit)."""
    limit: float | None = getattr(_limits, "seconds", REQUEST_WAIT_S)
    return limit


@contextmanager
def wait_limit(seconds: float | None) -> Iterator[None]:
    """Change this thread's limit on holding one PostgreSQL connection inside the block."""
    previous = current_wait_limit()
    _limits.seconds = seconds
    try:
        yield
    finally:
        _limits.seconds = previous


class _Watchdog:
    """Cuts the socket of a connection held longer than its holder's limit.

    The holder's driver then fails at once (an ``OperationalError``, which the store turns into
    :class:`StoreUnavailable`) and SQLAlchemy throws the connection away. One thread per process,
    started on first use (and again after a fork), asleep while no connection is in use.
    """

    def __init__(self) -> None:
        self._after_fork()
        os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        self._changed = threading.Condition()
        self._armed: dict[int, tuple[float, Any]] = {}
        self._thread: threading.Thread | None = None

    def arm(self, dbapi_connection: Any, seconds: float) -> int:
        """Watch ``dbapi_connection`` from now on for ``seconds``; returns the disarming key."""
        key = id(dbapi_connection)
        with self._changed:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="database-watchdog",
                                                daemon=True)
                self._thread.start()
            self._armed[key] = (time.monotonic() + seconds, dbapi_connection)
            if len(self._armed) == 1:
                self._changed.notify()
        return key

    def disarm(self, key: int | None) -> None:
        """Stop watching the connection ``key`` (no-op when it is not watched)."""
        if key is None:
            return
        with self._changed:
            self._armed.pop(key, None)

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._armed)
                self._changed.wait(WATCHDOG_TICK_S)
                now = time.monotonic()
                late = [key for key, (deadline, _) in self._armed.items() if deadline <= now]
                connections = [self._armed.pop(key)[1] for key in late]
            for connection in connections:
                _cut(connection)


def _cut(dbapi_connection: Any) -> None:
    try:
        fd = dbapi_connection.pgconn.socket
    except Exception:  # closed meanwhile, or not a psycopg connection: nothing to cut
        return
    logger.error("database connection held too long: its socket is cut")
    try:
        with socket.socket(fileno=os.dup(fd)) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        logger.warning("could not cut a database connection", exc_info=True)


_watchdog = _Watchdog()

_WATCH_KEY = "cds_service.watchdog"
_FRESH_KEY = "cds_service.fresh"


def _mark_fresh(_dbapi_connection: Any, connection_record: Any) -> None:
    connection_record.info[_FRESH_KEY] = True


def _watch_and_ping(dbapi_connection: Any, connection_record: Any, _proxy: Any) -> None:
    info = connection_record.info
    _watchdog.disarm(info.pop(_WATCH_KEY, None))
    limit = current_wait_limit()
    if limit is not None:
        info[_WATCH_KEY] = _watchdog.arm(dbapi_connection, limit)
    if info.pop(_FRESH_KEY, False):
        return
    started = time.monotonic()
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
    except Exception as exc:
        _watchdog.disarm(info.pop(_WATCH_KEY, None))
        if limit is not None and time.monotonic() - started >= limit:
            # The watchdog cut a hung connection: the thread's time is spent, no new attempt.
            raise PoolTimeout("the database did not answer in time") from exc
        # Any other failure (a connection broken meanwhile): the pool replaces it and retries.
        raise DisconnectionError(f"ping failed: {type(exc).__name__}") from exc


def _unwatch(_dbapi_connection: Any, connection_record: Any) -> None:
    if connection_record is not None:
        _watchdog.disarm(connection_record.info.pop(_WATCH_KEY, None))


def _unwatch_invalidated(_dbapi_connection: Any, connection_record: Any, _exc: Any) -> None:
    _unwatch(_dbapi_connection, connection_record)


def _create_parent_dir(database: str | None, *, is_uri: bool) -> None:
    if not database or database == ":memory:" or is_uri or database.startswith("file:"):
        return
    try:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        logger.warning("cannot create the database directory: %s", exc.strerror)


def _configure_sqlite(dbapi_connection: Any, _connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS:d}")
        _enable_wal(cursor)
        # In WAL mode NORMAL syncs the log at checkpoints instead of at every commit: the file
        # cannot be corrupted, but a power cut or OS crash may undo the commits since the last
        # checkpoint (an application crash loses nothing). Fine for the card ledger, which is
        # best effort anyway (contract.md). Feedback (answered 200, so the EHR will not resend
        # it) and JWT ids (a lost one could be replayed) raise their commits to FULL with
        # durable_commit().
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def _enable_wal(cursor: Any) -> None:
    # WAL persists in the file, so only the first connection switches. The switch needs an
    # exclusive lock and SQLite may refuse it at once, without the busy handler, while other
    # workers open the new file; hence a short retry.
    for attempt in range(WAL_SWITCH_ATTEMPTS):
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError:
            if attempt + 1 == WAL_SWITCH_ATTEMPTS:
                raise
            time.sleep(0.02 * 2**attempt)


def durable_commit(session: Session) -> None:
    """Make the session's next commit survive a power cut before ``commit()`` returns.

    On SQLite the session's connection runs ``PRAGMA synchronous = FULL`` (the WAL is synced at
    that commit, with every commit before it) until it goes back to the pool, where it returns to
    NORMAL. PostgreSQL commits are durable already (its ``synchronous_commit``). Call it before
    the transaction's first write: SQLite cannot change the level inside a transaction.

    Raises:
        StoreUnavailable: the database cannot be reached (only inside
            :func:`unavailable_on_failure`).
        RuntimeError: the session has already written in this transaction.
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    pooled = connection.connection
    if pooled.dbapi_connection is not None and pooled.dbapi_connection.in_transaction:
        raise RuntimeError("durable_commit() must come before the transaction's first write")
    connection.exec_driver_sql("PRAGMA synchronous = FULL")
    pooled.info[_DURABLE_CONNECTION] = True


def _restore_synchronous(dbapi_connection: Any, connection_record: Any) -> None:
    # Back in the pool the connection serves ledger writes again, at NORMAL; the pool has rolled
    # it back, so no transaction is open. If it fails the connection just stays at FULL.
    if not connection_record.info.pop(_DURABLE_CONNECTION, False) or dbapi_connection is None:
        return
    try:
        dbapi_connection.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.Error:
        logger.warning("could not return a SQLite connection to synchronous = NORMAL")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Return the session factory for ``engine``; objects stay readable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def unavailable_on_failure(session: Session) -> Iterator[None]:
    """Translate connection failures inside the block into :class:`StoreUnavailable`.

    The session is rolled back so the caller may keep using it. Errors that are not about reaching
    the database (an integrity violation, a bug in a query) propagate unchanged.

    Raises:
        StoreUnavailable: the database could not be reached, opened or written.
    """
    try:
        yield
    except PoolTimeout:
        _rollback(session)
        raise StoreUnavailable("database unavailable (no free connection in time)") from None
    except DBAPIError as exc:
        connection_failure = isinstance(exc, OperationalError | InterfaceError)
        if not (connection_failure or exc.connection_invalidated):
            raise
        _rollback(session)
        raise StoreUnavailable(f"database unavailable ({type(exc.orig).__name__})") from exc


def _rollback(session: Session) -> None:
    try:
        session.rollback()
    except SQLAlchemyError:
        # The original failure is the one reported; this only keeps the log complete.
        logger.warning("rollback after a database failure failed too", exc_info=True)


def insert_ignoring_duplicates(session: Session, model: type[Base]) -> Insert:
    """Return a Core ``INSERT ... ON CONFLICT DO NOTHING`` into ``model``'s table.

    The statement is built for the session's dialect; it takes plain column dicts.

    Raises:
        NotImplementedError: the database is neither SQLite nor PostgreSQL.
    """
    table = Base.metadata.tables[model.__tablename__]
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    raise NotImplementedError(f"unsupported database dialect {dialect!r}")


def ping(session: Session) -> None:
    """Run ``SELECT 1`` (used by ``/readyz``).

    Raises:
        StoreUnavailable: the database cannot be reached.
    """
    with unavailable_on_failure(session):
        session.execute(text("SELECT 1"))
