"""Card ledger: the knowledge-base version and content hash that produced each card.

Revision ID: 0002_kb_version
Revises: 0001
Create Date: 2026-12-07

Rows written before this revision keep NULL in both columns (their knowledge base is unknown). A
column the table already has (a store created from the current models) is left as it is.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_kb_version"
down_revision = "0001"
branch_labels = None
depends_on = None

COLUMNS = (("knowledge_version", 32), ("knowledge_hash", 80))


def upgrade() -> None:
    """Add the two nullable columns to ``card_ledger``."""
    present = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("card_ledger")}
    with op.batch_alter_table("card_ledger") as batch:
        for name, length in COLUMNS:
            if name not in present:
                batch.add_column(sa.Column(name, sa.String(length), nullable=True))


def downgrade() -> None:
    """Drop the two columns."""
    with op.batch_alter_table("card_ledger") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
