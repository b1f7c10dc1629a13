"""Alembic environment: runs the store's migrations on the connection ``migrate.py`` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from cds_service.feedback.schema import Base


def run_migrations(connection: Connection) -> None:
    """Run the pending migrations on ``connection`` inside the caller's transaction."""
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; use `cds-service migrate`")
_connection = context.config.attributes.get("connection")
if not isinstance(_connection, Connection):
    raise RuntimeError("run the store's migrations with `cds-service migrate`")
run_migrations(_connection)
