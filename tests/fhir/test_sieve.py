"""Sifted searchset pages: the kept resources, with the values a whole decoding gives."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import responses

from cds_service.fhir.client import Deadline
from cds_service.fhir.client import FhirClient
from cds_service.fhir.client import FhirError
from cds_service.fhir.client import FhirLimits
from cds_service.fhir.sieve import Sieve
from cds_service.fhir.sieve import sift_searchset
from cds_service.guidance import Guidance
from cds_service.guidelines.catalogue import load_catalogue
from tests.case.common import TODAY
from tests.common import FIXTURES_DIR
from tests.common import load_json

JsonObject = dict[str, Any]

BASE = "https://fhir.example.org/r4"
SEARCH = f"{BASE}/Observation?patient=p1"
LIMITS = FhirLimits(timeout_s=1.0, max_pages=5, max_response_bytes=16 * 1024 * 1024)
WANTED = Sieve(lambda r: r.get("code") == "wanted", frozenset({"code"}))
NEXT = [{"relation": "next", "url": f"{BASE}/Observation?patient=p1&page=2"}]


@pytest.fixture(scope="module")
def guidance_sieve() -> Sieve:
    """The service's own sieve (the case model's pre-filter)."""
    return Guidance.load(load_catalogue(), TODAY).sieve()


@pytest.fixture
def fhir() -> Iterator[responses.RequestsMock]:
    """The mocked FHIR server."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def _client(sieve: Sieve | None) -> FhirClient:
    return FhirClient(BASE, access_token="t", limits=LIMITS, deadline=Deadline(5.0), sieve=sieve)


def _observation(id_: str, code: str, **more: Any) -> JsonObject:
    return {"resourceType": "Observation", "id": id_, "code": code, **more}


def _page(*entries: Any, link: Any = None) -> JsonObject:
    page: JsonObject = {"resourceType": "Bundle", "type": "searchset", "total": len(entries),
                        "entry": list(entries)}
    if link is not None:
        page["link"] = link
    return page


def _entry(resource: Any, mode: str = "match") -> JsonObject:
    return {"fullUrl": "urn:x", "resource": resource, "search": {"mode": mode}}


def _sifted(page: JsonObject | bytes, sieve: Sieve = WANTED) -> JsonObject | None:
    body = page if isinstance(page, bytes) else json.dumps(page).encode()
    return sift_searchset(body, sieve, json.loads)


def test_a_page_keeps_only_the_resources_the_sieve_keeps_with_their_link_and_search() -> None:
    wanted = _observation("o2", "wanted", valueQuantity={"value": 7.25, "unit": "%"},
                          note=[{"text": "é ✓"}])
    page = _page(_entry(_observation("o1", "other")), _entry(wanted, "include"), link=NEXT)

    assert _sifted(page) == {"resourceType": "Bundle", "link": NEXT,
                             "entry": [{"resource": wanted, "search": {"mode": "include"}}]}


@pytest.mark.parametrize("resource", [None, "Observation/o1", 5, [], {}])
def test_an_entry_without_an_object_resource_is_left_to_the_whole_decoding(resource: Any) -> None:
    # Revised contract (Errors): a broken Bundle shape is refused by its path (fhir.shape), never
    # read as fewer entries; the sieve used to drop such an entry and keep the rest.
    page = _page({"fullUrl": "urn:x", "resource": resource} if resource != {} else {},
                 _entry(_observation("o2", "wanted")))

    assert _sifted(page) is None


def test_a_page_without_link_is_sifted_without_one() -> None:
    sifted = _sifted(_page(_entry(_observation("o2", "wanted"))))
    assert sifted is not None and "link" not in sifted


@pytest.mark.parametrize("body", [
    pytest.param(json.dumps(_observation("o1", "wanted")).encode(), id="a-resource-not-a-bundle"),
    pytest.param(json.dumps(_page("not an entry")).encode(), id="an-entry-not-an-object"),
    pytest.param(json.dumps(_page(_entry(_observation("o1", "x")))).encode()
                 .replace(b'"total": 1', b'"total": NaN'), id="nan-which-msgspec-refuses"),
    pytest.param(b'{"resourceType": "Bundle", "entry": [{"resource": {"id": "\\ud800"}}]}',
                 id="lone-surrogate"),
    pytest.param(b'{"resourceType": "Bundle", "entry": [{"resource": {"code": '
                 + b"[" * 3000 + b"]" * 3000 + b"}}]}", id="nested-deeper-than-msgspec-reads"),
    pytest.param(b'{"resourceType": "Bundle", "entry": [{"resource": {"id": "\xc3\x28"}}]}',
                 id="not-utf-8-in-a-resource-it-would-drop"),
    pytest.param(json.dumps(_page(_entry({"resourceType": "OperationOutcome"}, "outcome")))
                 .encode(), id="only-operation-outcomes"),
    pytest.param(b"[]", id="not-an-object"),
    pytest.param(b"{", id="not-json"),
])
def test_what_the_sieve_cannot_read_is_left_to_the_whole_decoding(body: bytes) -> None:
    assert sift_searchset(body, WANTED, json.loads) is None


def test_a_bundle_with_entry_null_is_left_to_the_whole_decoding() -> None:
    # Revised contract (Errors): ``entry`` not a list is a broken shape, not an empty searchset.
    assert _sifted(b'{"resourceType": "Bundle", "entry": null}') is None
    assert _sifted(b'{"resourceType": "Bundle"}') == {"resourceType": "Bundle", "entry": []}


def _equivalent(fhir: responses.RequestsMock, sieve: Sieve, body: bytes) -> list[JsonObject]:
    """The client's sifted answer, checked against decoding the page whole and then judging."""
    fhir.get(SEARCH, body=body, content_type="application/fhir+json")
    sifted = _client(sieve).read_query("Observation?patient=p1")
    whole = [r for r in _client(None).read_query("Observation?patient=p1") if sieve.keeps(r)]
    assert repr(sifted) == repr(whole)  # repr: NaN != NaN, 1e30 == 10**30
    return sifted


def test_every_scenario_record_is_sifted_as_the_selector_would_judge_it_whole(
    fhir: responses.RequestsMock, guidance_sieve: Sieve,
) -> None:
    kept = total = 0
    for path in sorted(FIXTURES_DIR.glob("*/bundle.json")):
        resources = [e["resource"] for e in load_json(path)["entry"]]
        body = json.dumps(_page(*map(_entry, resources))).encode()
        kept += len(_equivalent(fhir, guidance_sieve, body))
        fhir.reset()
        total += len(resources)
    assert 0 < kept < total


@pytest.mark.parametrize("value", [
    pytest.param(b"123456789012345678901234567890", id="integer-beyond-64-bits"),
    pytest.param(b"-9999999999999999999", id="integer-below-int64"),
    pytest.param(b"NaN", id="nan"),
    pytest.param(b"1e999", id="overflowing-float"),
])
def test_a_kept_or_dropped_resource_holding_odd_numbers_reads_as_json_reads_it(
    fhir: responses.RequestsMock, value: bytes,
) -> None:
    body = (b'{"resourceType": "Bundle", "entry": ['
            b'{"resource": {"resourceType": "Observation", "id": "o1", "code": "wanted", '
            b'"valueInteger": ' + value + b'}}, '
            b'{"resource": {"resourceType": "Observation", "id": "o2", "code": "other", '
            b'"valueInteger": ' + value + b'}}]}')

    assert [r["id"] for r in _equivalent(fhir, WANTED, body)] == ["o1"]


def test_a_page_larger_than_orjson_is_used_for_is_sifted_too(fhir: responses.RequestsMock) -> None:
    filler = [_entry(_observation(f"f{i}", "other", note=[{"text": "x" * 1000}]))
              for i in range(1500)]
    body = json.dumps(_page(*filler, _entry(_observation("o1", "wanted")))).encode()
    assert len(body) > 1024 * 1024

    assert [r["id"] for r in _equivalent(fhir, WANTED, body)] == ["o1"]


def test_invalid_json_is_still_an_error_with_a_sieve(fhir: responses.RequestsMock) -> None:
    fhir.get(SEARCH, body=b'{"resourceType": "Bundle", "entry": [', content_type="application/json")

    with pytest.raises(FhirError, match="invalid JSON"):
        _client(WANTED).read_query("Observation?patient=p1")


def test_a_page_that_is_not_utf_8_is_an_error_with_a_sieve_too(
    fhir: responses.RequestsMock,
) -> None:
    body = json.dumps(_page(_entry(_observation("o1", "other", note=[{"text": "@"}])))).encode()
    fhir.get(SEARCH, body=body.replace(b"@", b"\xff"), content_type="application/json")

    with pytest.raises(FhirError, match="invalid JSON"):
        _client(WANTED).read_query("Observation?patient=p1")


def test_a_read_is_whole_whatever_the_sieve(fhir: responses.RequestsMock) -> None:
    observation = _observation("o1", "other")
    fhir.get(f"{BASE}/Observation/o1", json=observation)

    assert _client(WANTED).read_query("Observation/o1") == [observation]
