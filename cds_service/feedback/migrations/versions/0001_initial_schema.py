"""Initial schema: card ledger, hook calls, feedback, install settings and the JWT replay store.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

A store created before migrations existed (by ``create_all``) already holds some of these tables;
only the missing ones are created, so such a store is adopted as it is.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _tables() -> list[sa.Table]:
    metadata = sa.MetaData()
    utc = sa.DateTime(timezone=True)
    card_ledger = sa.Table(
        "card_ledger", metadata,
        sa.Column("card_uuid", sa.String(64), primary_key=True),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("recommendation_id", sa.String(64), nullable=False),
        sa.Column("hook_instance", sa.String(256), nullable=False),
        sa.Column("issued_at", utc, nullable=False),
        sa.Column("patient_hash", sa.String(64), nullable=False),
    )
    hook_calls = sa.Table(
        "hook_calls", metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("hook_instance", sa.String(256), nullable=False),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("called_at", utc, nullable=False),
        sa.Column("patient_hash", sa.String(64), nullable=False),
        sa.Column("unreadable_resources", sa.JSON, nullable=False),
        sa.Column("rule_errors", sa.JSON, nullable=False),
    )
    feedback = sa.Table(
        "feedback", metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("card_uuid", sa.Text, nullable=False),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("outcome_timestamp", utc, nullable=False),
        sa.Column("accepted_suggestions", sa.JSON, nullable=False),
        sa.Column("override_system", sa.Text, nullable=True),
        sa.Column("override_code", sa.Text, nullable=True),
        sa.Column("override_display", sa.Text, nullable=True),
        sa.Column("override_comment", sa.Text, nullable=True),
        sa.Column("received_at", utc, nullable=False),
        sa.UniqueConstraint("card_uuid", "outcome", "outcome_timestamp",
                            name="uq_feedback_card_outcome_time"),
    )
    install_settings = sa.Table(
        "install_settings", metadata,
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    jwt_replay = sa.Table(
        "jwt_replay", metadata,
        sa.Column("issuer", sa.String(512), primary_key=True),
        sa.Column("jti", sa.String(256), primary_key=True),
        sa.Column("expires_at", utc, nullable=False),
    )
    # Created with their tables.
    sa.Index("ix_card_ledger_recommendation_id", card_ledger.c.recommendation_id)
    sa.Index("ix_feedback_card_uuid", feedback.c.card_uuid)
    sa.Index("ix_jwt_replay_expires_at", jwt_replay.c.expires_at)
    return [card_ledger, hook_calls, feedback, install_settings, jwt_replay]


def upgrade() -> None:
    """Create every table (and its indexes) the database does not have yet."""
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    for table in _tables():
        if not inspector.has_table(table.name):
            table.create(bind)


def downgrade() -> None:
    """Drop every table of the store."""
    for table in reversed(_tables()):
        op.drop_table(table.name)
