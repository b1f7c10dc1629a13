"""Fixtures of the case-model tests: the shipped terminology, scenario data and a case builder.

The data helpers themselves (``bundle``, ``resource``, ``merged``, FHIR builders) live in
``tests/case/common.py`` so test modules can import them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from collections.abc import Collection
from typing import Any

import pytest

from cds_service.case.build import build_case
from cds_service.case.model import Case
from cds_service.terminology import Terminology
from tests.case.common import TODAY
from tests.case.common import CaseBuilder
from tests.case.common import bundle
from tests.case.common import patient_id
from tests.case.common import resource


@pytest.fixture
def scenario_resource() -> Callable[[str, str], dict[str, Any]]:
    """Load a deep copy of one resource of a scenario bundle by id, to mutate for a variant."""
    return resource


@pytest.fixture
def case_of(terminology: Terminology) -> CaseBuilder:
    """Build the case of a list of resources (or of a scenario, by name), on the fixed today."""

    def build(resources: list[dict[str, Any]] | str, *,
              draft_orders: dict[str, Any] | None = None,
              selections: Collection[str] | None = None,
              today: dt.date = TODAY) -> Case:
        record = bundle(resources) if isinstance(resources, str) else resources
        pid = next((patient_id([r]) for r in record if r.get("resourceType") == "Patient"), "p")
        return build_case(record, patient_id=pid, terminology=terminology,
                          draft_orders=draft_orders, selections=selections, today=today)

    return build
