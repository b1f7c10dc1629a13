"""Fixtures of the terminology tests: the shipped terminology, and a writer of small data trees."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cds_service.terminology import DATA_DIR

DataWriter = Callable[..., Path]


@pytest.fixture
def write_data(tmp_path: Path) -> DataWriter:
    """Build a data directory: the shipped systems.json and language.json, the given value sets.

    Call it with ``stem=concepts`` (a dict, wrapped in a value-set file) or ``stem=raw_text`` for
    each ``valuesets/<stem>.json``; ``resources`` replaces the (empty) candidate-domain map.
    """

    def write(resources: dict[str, list[str]] | None = None, **valuesets: Any) -> Path:
        root = tmp_path / "terminology"
        (root / "valuesets").mkdir(parents=True)
        for name in ("systems.json", "language.json"):
            shutil.copy(DATA_DIR / name, root / name)
        (root / "resources.json").write_text(
            json.dumps({"description": "test", "candidate_domains": resources or {}}),
            encoding="utf-8",
        )
        for stem, content in valuesets.items():
            if not isinstance(content, str):
                content = json.dumps({"description": f"test {stem}", "concepts": content})
            (root / "valuesets" / f"{stem}.json").write_text(content, encoding="utf-8")
        return root

    return write
