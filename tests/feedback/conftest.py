"""Fixtures of the feedback store tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A SQLite file in a directory that does not exist yet."""
    return f"sqlite:///{tmp_path / 'var' / 'store.sqlite3'}"
