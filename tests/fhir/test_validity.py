"""Remembered validity: the answer of validating, for identical JSON only, in bounded memory."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cds_service.fhir import validity
from cds_service.fhir.parse import resource_problems
from cds_service.fhir.validity import ValidityMemo
from tests.common import FIXTURES_DIR
from tests.common import load_json


def _resources(scenario: str) -> list[dict[str, Any]]:
    bundle = load_json(FIXTURES_DIR / scenario / "bundle.json")
    return [entry["resource"] for entry in bundle["entry"]]


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts the real validations (``Type/id`` each) behind the memo."""
    seen: list[str] = []

    def counting(resource: Any) -> Any:
        seen.append(f"{resource['resourceType']}/{resource.get('id')}")
        return resource_problems(resource)

    monkeypatch.setattr(validity, "resource_problems", counting)
    return seen


def test_a_resource_seen_before_is_not_validated_again(validations: list[str]) -> None:
    memo = ValidityMemo()
    resources = _resources("pecoma-uterine-advanced")
    first = [memo.is_valid(r) for r in resources]
    again = [memo.is_valid(copy.deepcopy(r)) for r in resources]  # equal JSON, new objects
    assert first == again == [not resource_problems(r) for r in resources]
    assert len(validations) == len(resources)


def test_the_same_id_with_other_content_is_validated_again(validations: list[str]) -> None:
    memo = ValidityMemo()
    condition = next(r for r in _resources("pecoma-uterine-advanced")
                     if r["resourceType"] == "Condition")
    assert memo.is_valid(condition)
    edited = copy.deepcopy(condition)
    edited["recordedDate"] = "22 November 2026"  # not a FHIR dateTime
    assert not memo.is_valid(edited)
    assert not memo.is_valid(copy.deepcopy(edited))
    assert len(validations) == 2


def test_only_the_most_recent_resources_are_remembered(validations: list[str]) -> None:
    memo = ValidityMemo(capacity=2)
    a, b, c = _resources("pecoma-uterine-advanced")[:3]
    for resource in (a, b, a, c):  # a was used again after b: b is the one forgotten
        memo.is_valid(resource)
    assert len(memo) == 2
    validations.clear()
    memo.is_valid(a)
    memo.is_valid(c)
    assert validations == []
    memo.is_valid(b)
    assert len(validations) == 1


def test_json_orjson_cannot_encode_is_validated_every_time(validations: list[str]) -> None:
    memo = ValidityMemo()
    observation = {"resourceType": "Observation", "id": "big", "status": "final",
                   "code": {"text": "count"}, "valueInteger": 10**30}
    assert not memo.is_valid(observation)
    assert not memo.is_valid(observation)
    assert len(validations) == 2 and len(memo) == 0


def test_nan_and_null_never_share_an_outcome(validations: list[str]) -> None:
    # orjson writes NaN as null: a digest of its output would make the two the same JSON.
    memo = ValidityMemo()
    base = {"resourceType": "Observation", "id": "o1", "status": "final",
            "code": {"text": "tumour size"}}
    with_nan = {**base, "valueQuantity": {"value": float("nan"), "unit": "cm"}}
    with_null = {**base, "valueQuantity": {"value": None, "unit": "cm"}}
    outcomes = [memo.is_valid(with_null), memo.is_valid(with_nan), memo.is_valid(with_null)]
    assert outcomes == [not resource_problems(r) for r in (with_null, with_nan, with_null)]
    assert len(validations) == 3 and len(memo) == 0
