"""Database plumbing of the feedback store: engine, sessions and failure translation."""

from __future__ import annotations

import logging
import sqlite3
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
from sqlalchemy.exc import InterfaceError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker
from sqlalchemy.sql.dml import Insert

from cds_service.feedback.schema import Base

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 10_000
"""How long a SQLite writer waits for another worker's lock before giving up."""

WAL_SWITCH_ATTEMPTS = 6
"""Tries at switching a new SQLite file to WAL while other workers open it."""

_DURABLE_CONNECTION = "cds_service.synchronous_full"
"""Marks (in the pool entry's ``info``) a SQLite connection raised to ``synchronous = FULL``."""

POSTGRES_CONNECT_DEFAULTS = {"connect_timeout": "3", "tcp_user_timeout": "5000"}
"""libpq options that bound how long a hook call waits on an unreachable PostgreSQL (seconds to
connect, milliseconds of unacknowledged sending); the URL's own query parameters win."""


class StoreUnavailable(Exception):
    """The database cannot be reached or written; the web layer answers 503 ``transient``."""


def make_engine(url: str) -> Engine:
    """Create the engine for ``url``; SQLite files get their directory, WAL and a busy timeout.

    Several gunicorn workers write the same SQLite file, hence WAL (readers do not block the writer)
    and ``busy_timeout`` (a writer waits for the lock instead of failing at once). A directory that
    cannot be created is only logged: connecting then fails with :class:`StoreUnavailable`, so the
    service can start and report the database as unreachable. PostgreSQL connections get
    :data:`POSTGRES_CONNECT_DEFAULTS` unless the URL sets them, so an outage fails fast.

    Args:
        url: SQLAlchemy database URL, e.g. ``sqlite:///var/cds-service.sqlite3``.

    Returns:
        A lazily connecting engine with ``pool_pre_ping`` enabled.
    """
    parsed = make_url(url)
    is_sqlite = parsed.get_backend_name() == "sqlite"
    if is_sqlite:
        _create_parent_dir(parsed.database, is_uri=bool(parsed.query.get("uri")))
    elif parsed.get_backend_name() == "postgresql":
        defaults = {k: v for k, v in POSTGRES_CONNECT_DEFAULTS.items() if k not in parsed.query}
        parsed = parsed.update_query_dict(defaults)
    engine = create_engine(parsed, pool_pre_ping=True)
    if is_sqlite:
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "checkin", _restore_synchronous)
    return engine


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
