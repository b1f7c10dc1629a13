"""Persistence of the card ledger, hook-call data gaps and clinician feedback (SQLAlchemy 2)."""
