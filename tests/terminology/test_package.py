"""The package's public API and its dependency rule (architecture.md: pure data + pydantic)."""

from __future__ import annotations

import ast
from pathlib import Path

import cds_service.terminology as terminology

FORBIDDEN = {"flask", "werkzeug", "requests", "sqlalchemy", "fhir"}


def test_public_api_is_pinned() -> None:
    assert sorted(terminology.__all__) == [
        "ConceptCode",
        "DATA_DIR",
        "MAX_TEXT_CHARS",
        "Match",
        "Morphology",
        "Terminology",
        "TerminologyError",
        "UnknownConceptError",
        "Via",
        "load_terminology",
    ]


def test_no_web_database_or_fhir_imports() -> None:
    package = Path(terminology.__file__).parent
    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not {n.split(".")[0] for n in names} & FORBIDDEN, path.name
