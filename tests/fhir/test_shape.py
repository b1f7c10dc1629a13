"""Broken Bundle shapes: named by path when prefetched (400), a failed fetch when fetched (412)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import responses

from cds_service.fhir.client import Deadline
from cds_service.fhir.client import FhirClient
from cds_service.fhir.client import FhirError
from cds_service.fhir.client import FhirLimits
from cds_service.fhir.client import is_operation_outcome
from cds_service.fhir.client import next_link
from cds_service.fhir.shape import MAX_PROBLEMS
from cds_service.fhir.shape import bundle_shape_problems
from cds_service.fhir.sieve import Sieve

BASE = "https://fhir.example.org/r4"
SEARCH = f"{BASE}/Condition?patient=p1"
LIMITS = FhirLimits(timeout_s=1.0, max_pages=5, max_response_bytes=1024 * 1024)
CONDITION = {"resourceType": "Condition", "id": "c1", "code": {"text": "leiomyosarcoma"}}


@pytest.fixture
def fhir() -> Iterator[responses.RequestsMock]:
    """The mocked FHIR server."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.mark.parametrize(("bundle", "paths"), [
    ({"entry": 3}, ["entry"]),
    ({"entry": False}, ["entry"]),
    ({"entry": "x"}, ["entry"]),
    ({"entry": {"resource": CONDITION}}, ["entry"]),
    ({"entry": None}, ["entry"]),
    ({"entry": [{"resource": CONDITION}, 7, {"resource": "Condition/c2"}, {}]},
     ["entry[1]", "entry[2].resource", "entry[3].resource"]),
    ({"link": {"relation": "next"}}, ["link"]),
    ({"link": ["next"], "entry": []}, ["link[0]"]),
    ({}, []),
    ({"entry": [], "link": []}, []),
    ({"entry": [{"resource": CONDITION, "search": {"mode": "match"}}]}, []),
])
def test_shape_problems_name_each_broken_part(bundle: dict[str, Any], paths: list[str]) -> None:
    problems = bundle_shape_problems({"resourceType": "Bundle", **bundle})
    assert [problem.path for problem in problems] == paths


def test_a_thousand_broken_entries_are_reported_briefly() -> None:
    problems = bundle_shape_problems({"resourceType": "Bundle", "entry": [1] * 1000})
    assert len(problems) == MAX_PROBLEMS


@pytest.mark.parametrize("entry", [3, True, 1.5, "x", {"resource": CONDITION}])
def test_readers_of_a_broken_bundle_never_raise(entry: Any) -> None:
    # is_operation_outcome raised TypeError on a number or boolean (34 × 500 in the mutation run).
    bundle = {"resourceType": "Bundle", "entry": entry, "link": entry}
    assert is_operation_outcome(bundle) is False
    assert next_link(bundle) is None


@pytest.mark.parametrize("sieve", [None, Sieve(lambda r: True, frozenset())],
                         ids=["whole", "sifted"])
@pytest.mark.parametrize("body", [
    '{"resourceType": "Bundle", "type": "searchset", "entry": "none"}',
    '{"resourceType": "Bundle", "type": "searchset", "entry": 0}',
    '{"resourceType": "Bundle", "type": "searchset", "entry": null}',
    '{"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": "Condition/c1"}]}',
    '{"resourceType": "Bundle", "type": "searchset", "entry": [], "link": 5}',
])
def test_a_fetched_bundle_with_a_broken_shape_is_a_failed_fetch_not_an_empty_one(
    fhir: responses.RequestsMock, sieve: Sieve | None, body: str,
) -> None:
    fhir.get(SEARCH, body=body, content_type="application/fhir+json")
    client = FhirClient(BASE, access_token=None, limits=LIMITS, deadline=Deadline(5.0),
                        sieve=sieve)
    with pytest.raises(FhirError, match="shape is broken"):
        client.read_query("Condition?patient=p1")
