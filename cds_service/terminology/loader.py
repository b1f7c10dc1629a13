"""Load and validate the terminology data files once at start-up, and build the lookup indexes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel
from pydantic import ValidationError

from cds_service.terminology.builder import IndexBuilder
from cds_service.terminology.lookup import Terminology
from cds_service.terminology.models import LanguageFile
from cds_service.terminology.models import ResourcesFile
from cds_service.terminology.models import SystemsFile
from cds_service.terminology.models import ValueSetFile

DATA_DIR = Path(__file__).resolve().parent
"""Where the shipped data lives: ``systems.json``, ``language.json``, ``resources.json`` and
``valuesets/*.json``."""

_Model = TypeVar("_Model", bound=BaseModel)


class TerminologyError(ValueError):
    """The terminology data is invalid; ``problems`` lists every failure with file and concept."""

    def __init__(self, problems: list[str]) -> None:
        """Keep every problem, so one start-up attempt reports them all."""
        self.problems = tuple(problems)
        super().__init__("invalid terminology data:\n  " + "\n  ".join(problems))


def load_terminology(path: Path | None = None) -> Terminology:
    """Read, validate and index the terminology data.

    Args:
        path: a directory laid out like the shipped one (``DATA_DIR``); None for the shipped data.

    Returns:
        The lookup API over the loaded value sets.

    Raises:
        TerminologyError: a file is missing or unreadable, or its content is invalid (naming the
            file and concept of each problem).
    """
    root = path or DATA_DIR
    problems: list[str] = []
    systems = _read(root / "systems.json", SystemsFile, problems)
    language = _read(root / "language.json", LanguageFile, problems)
    resources = _read(root / "resources.json", ResourcesFile, problems)
    files = sorted((root / "valuesets").glob("*.json"))
    if not files:
        problems.append(f"{root / 'valuesets'}: no value-set files")
    valuesets = {f.name: _read(f, ValueSetFile, problems) for f in files}
    if problems or systems is None or language is None or resources is None:
        raise TerminologyError(problems)
    builder = IndexBuilder(systems, language, problems)
    for name, valueset in valuesets.items():
        for concept_id, concept in valueset.concepts.items() if valueset else ():
            builder.add(name, concept_id, concept)
    builder.check_references()
    terminology = builder.build(resources)
    if problems:
        raise TerminologyError(problems)
    return terminology


def _read(path: Path, model: type[_Model], problems: list[str]) -> _Model | None:
    try:
        return model.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except OSError as error:
        problems.append(f"{path.name}: cannot be read ({error.strerror})")
    except json.JSONDecodeError as error:
        problems.append(f"{path.name}: invalid JSON at line {error.lineno}: {error.msg}")
    except ValidationError as error:
        for item in error.errors():
            where = ".".join(str(part) for part in item["loc"])
            problems.append(f"{path.name}: {where}: {item['msg']}")
    return None
