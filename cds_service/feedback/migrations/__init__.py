"""Alembic migrations of the feedback store (card ledger, feedback, JWT replay store)."""
