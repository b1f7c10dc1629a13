"""Schema migrations of the store (Alembic): upgrade to the newest revision, check at start-up.

Alembic (with Mako and Pygments, about 10 MiB) is imported only to migrate: a service starting on
a database already at :data:`HEAD_REVISION` checks it with one query, so its gunicorn workers do
not carry Alembic in memory.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import inspect
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from cds_service.feedback.engine import StoreUnavailable
from cds_service.feedback.engine import wait_limit

if TYPE_CHECKING:
    from alembic.config import Config

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
"""The Alembic script directory (``env.py`` and ``versions/``)."""

_PG_LOCK_KEY = 0x4344_5353_6D69_67
"""Key of the PostgreSQL advisory lock that serialises concurrent upgrades ("CDSSmig")."""

HEAD_REVISION = "0002_kb_version"
"""The newest revision in ``migrations/versions`` (a test keeps the two in step)."""

VERSION_TABLE = "alembic_version"


class SchemaOutOfDate(RuntimeError):
    """The database schema is not the revision this version of the service needs."""


def alembic_config() -> Config:
    """The Alembic configuration of the store (no ``alembic.ini``: everything is set here)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The newest revision of the migration scripts, read by Alembic."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("the store has no migrations")
    return head


def current_revision(engine: Engine) -> str | None:
    """The database's revision; None for a database no migration has run on.

    Raises:
        StoreUnavailable: the database cannot be reached.
    """
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table(VERSION_TABLE):
                return None
            versions = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))
            revisions = versions.scalars().all()
    except DBAPIError as exc:
        raise StoreUnavailable(f"cannot read the schema revision: {_reason(exc)}") from exc
    except PoolTimeout as exc:  # the database hung (engine.REQUEST_WAIT_S)
        raise StoreUnavailable("cannot read the schema revision: no answer in time") from exc
    if len(revisions) > 1:
        raise SchemaOutOfDate(f"the database records several schema revisions: {revisions}")
    return revisions[0] if revisions else None


def create_schema(engine: Engine) -> None:
    """Bring the schema to the newest revision, creating every table on an empty database.

    Concurrent callers (workers or replicas starting together) are serialised by a database lock:
    the first upgrades, the others then find the schema current. A store created before migrations
    existed is adopted: the first revision creates only the tables it lacks.

    Raises:
        SchemaOutOfDate: the database is at a revision this version does not know.
        StoreUnavailable: the database cannot be reached or the schema cannot be written.
    """
    from alembic import command
    from alembic.util import CommandError

    config = alembic_config()
    try:  # a migration may take its time (an index on a large ledger): no request is waiting
        with wait_limit(None), engine.begin() as connection:
            _lift_timeouts(connection)
            _lock_for_migration(connection)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except CommandError as exc:  # Alembic's words: "Can't locate revision identified by ..."
        raise SchemaOutOfDate(f"{exc}; was the database migrated by a newer version?") from exc
    except DBAPIError as exc:
        raise StoreUnavailable(f"cannot migrate the database schema: {_reason(exc)}") from exc


def _reason(exc: DBAPIError) -> str:
    # The driver's own first line names the cause (refused, no such database, no permission);
    # libpq never puts the password in it.
    lines = str(exc.orig).strip().splitlines()
    return f"{type(exc.orig).__name__}: {lines[0] if lines else 'no details'}"


def _lift_timeouts(connection: Connection) -> None:
    # The service's statement and lock timeouts (engine.POSTGRES_SESSION_DEFAULTS), for this
    # transaction only: waiting for a concurrent migration's lock is expected.
    if connection.dialect.name == "postgresql":
        connection.execute(text("SET LOCAL statement_timeout = 0"))
        connection.execute(text("SET LOCAL lock_timeout = 0"))


def _lock_for_migration(connection: Connection) -> None:
    # Held until the migration's transaction ends. SQLite's DDL is transactional, so taking the
    # write lock up front makes a second process wait, then see the new revision.
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    elif dialect == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def check_schema(engine: Engine, *, upgrade: bool) -> None:
    """Start-up check: the database must be at :data:`HEAD_REVISION`.

    Args:
        engine: the store's engine.
        upgrade: bring a database that is behind up to date (the embedded SQLite store) instead of
            refusing to start (PostgreSQL, where ``cds-service migrate`` is a deployment step).

    Raises:
        SchemaOutOfDate: the database is behind and ``upgrade`` is false, or it is at a revision
            this version does not know (a newer version migrated it).
        StoreUnavailable: the database cannot be reached.
    """
    current = current_revision(engine)
    if current == HEAD_REVISION:
        return
    from alembic.script import ScriptDirectory

    head = HEAD_REVISION
    script = ScriptDirectory.from_config(alembic_config())
    if current is not None and current not in {rev.revision for rev in script.walk_revisions()}:
        raise SchemaOutOfDate(
            f"the database schema is at revision {current}, which this version of cds-service "
            f"does not know (it needs {head}); was it migrated by a newer version?"
        )
    if not upgrade:
        raise SchemaOutOfDate(
            f"the database schema is at revision {current or 'none (no tables)'} but this version "
            f"needs {head}: run `cds-service migrate` with the same CDS_DATABASE_URL, then start "
            "the service again"
        )
    logger.info("upgrading the database schema from %s to %s", current or "nothing", head)
    create_schema(engine)
