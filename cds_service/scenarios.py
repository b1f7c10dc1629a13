"""The clinical scenarios of ``fhir_fixtures/``: where they are, their manifests, their requests.

One folder per scenario, each with a ``bundle.json`` (the patient's record), hook request files
and a ``manifest.json`` naming, per call, the recommendations that must fire and those that must
stay silent (``fhir_fixtures/README.md``). The test suite and ``cds-service validate`` read them
through this module; requests get their ``prefetch`` filled from the bundle as an EHR would.

The fixtures live in the source tree beside the package, not in the wheel (they are test data, a
couple of megabytes): an editable install or a checkout finds them, an install from a wheel (the
container image) does not.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import ValidationError

from cds_service.hooks.prefetch import prefetch_from_bundle
from cds_service.hooks.services import PREFETCH
from cds_service.vocabulary import Hook
from cds_service.vocabulary import Indicator

SOURCE_FIXTURES_DIR = Path(__file__).resolve().parent.parent / "fhir_fixtures"
"""``fhir_fixtures/`` of the source tree the package is imported from (editable install)."""

MANIFEST = "manifest.json"

JsonObject = dict[str, Any]


class ScenarioError(ValueError):
    """A scenario folder or manifest cannot be read."""


class ScenarioCall(BaseModel):
    """One hook call of a scenario and what it must (and must not) return."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    hook: Hook
    """The hook called."""
    request: str = Field(min_length=1)
    """The request file in the scenario folder."""
    must: tuple[str, ...] = ()
    """Recommendation ids that must fire."""
    must_not: tuple[str, ...] = ()
    """Recommendation ids that must stay silent."""
    indicators: dict[str, Indicator] = {}
    """The indicator a recommendation's cards must carry."""
    subjects: dict[str, tuple[str, ...]] = {}
    """The subjects (tumour Condition ids, draft orders) a recommendation's cards are about."""
    unreadable: tuple[str, ...] | None = None
    """The resources the response must report as unreadable, when the scenario checks them."""


class Manifest(BaseModel):
    """A scenario's ``manifest.json``."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    description: str = Field(min_length=1)
    """The clinical story and what it tests, in one paragraph."""
    today: dt.date
    """The date the engine treats as today for this scenario."""
    calls: tuple[ScenarioCall, ...] = Field(min_length=1)
    """The hook calls."""


@dataclass(frozen=True)
class Scenario:
    """One scenario folder.

    Attributes:
        name: the folder's name.
        folder: the folder.
        manifest: its manifest.
    """

    name: str
    folder: Path
    manifest: Manifest

    def request(self, call: ScenarioCall) -> JsonObject:
        """The request of ``call``, with ``prefetch`` filled from the bundle.

        Raises:
            ScenarioError: a file is missing or not JSON.
        """
        return call_request(self.folder, call.request)


def fixtures_dir() -> Path | None:
    """``fhir_fixtures/`` when this install has it (a source checkout), else None (a wheel)."""
    folder = SOURCE_FIXTURES_DIR
    return folder if folder.is_dir() and any(folder.glob(f"*/{MANIFEST}")) else None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ScenarioError(f"cannot read {path}: {exc}") from None


def call_request(folder: Path, name: str) -> JsonObject:
    """The hook request ``name`` of the scenario in ``folder``; ``prefetch``, unless the file has
    one, filled from ``bundle.json`` as an EHR would fill it.

    Raises:
        ScenarioError: a file is missing or not JSON.
    """
    request = _read_json(folder / name)
    if not isinstance(request, dict):
        raise ScenarioError(f"{folder / name} is not a JSON object")
    if "prefetch" not in request:
        request["prefetch"] = prefetch_from_bundle(PREFETCH, _read_json(folder / "bundle.json"))
    return request


def load_scenarios(root: Path) -> tuple[Scenario, ...]:
    """Every scenario under ``root`` (folders with a manifest), by folder name.

    Raises:
        ScenarioError: no scenario, or a manifest that is unreadable or invalid.
    """
    scenarios = []
    for manifest_file in sorted(root.glob(f"*/{MANIFEST}")):
        try:
            manifest = Manifest.model_validate(_read_json(manifest_file))
        except ValidationError as exc:
            raise ScenarioError(f"invalid manifest {manifest_file}: {exc}") from None
        scenarios.append(Scenario(manifest_file.parent.name, manifest_file.parent, manifest))
    if not scenarios:
        raise ScenarioError(f"no scenario (folder with a {MANIFEST}) in {root}")
    return tuple(scenarios)
