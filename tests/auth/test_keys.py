"""Key sets: fetched within bounds, cached, refreshed on rotation at a bounded rate."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import responses

from cds_service.auth.keys import MAX_KEY_SET_BYTES
from cds_service.auth.keys import KeyIndex
from cds_service.auth.keys import KeySetCache
from cds_service.auth.keys import KeySetError
from cds_service.auth.keys import fetch_key_set
from cds_service.auth.keys import index_keys
from tests.auth.signing import JWKS_URL
from tests.auth.signing import Signer


def test_index_keeps_signing_keys_with_a_kid(es_signer: Signer) -> None:
    keys = [
        es_signer.jwk(),
        {**es_signer.jwk(), "kid": "enc-1", "use": "enc"},  # not for signatures
        {k: v for k, v in es_signer.jwk().items() if k != "kid"},  # cannot be selected (S6)
    ]
    assert list(index_keys({"keys": keys})) == ["es-1"]


@responses.activate
def test_a_key_set_is_fetched(es_signer: Signer) -> None:
    responses.get(JWKS_URL, json=es_signer.jwks())
    assert fetch_key_set(requests.Session(), JWKS_URL) == {"es-1": es_signer.jwk()}


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ({"status": 302, "headers": {"Location": "http://169.254.169.254/"}}, "HTTP status 302"),
        ({"status": 500}, "HTTP status 500"),
        ({"body": "<html>"}, "not a JWK Set"),
        ({"json": {"keys": "none"}}, "not a JWK Set"),
        ({"body": b"x" * (MAX_KEY_SET_BYTES + 1)}, "larger than"),
        ({"body": requests.ConnectionError("refused")}, "connection failed"),
    ],
)
@responses.activate
def test_a_bad_key_set_answer_is_an_error(reply: dict[str, Any], reason: str) -> None:
    responses.get(JWKS_URL, **reply)
    with pytest.raises(KeySetError, match=reason):
        fetch_key_set(requests.Session(), JWKS_URL)
    assert len(responses.calls) == 1  # a redirect is never followed


class _Issuer:
    """A fake key-set endpoint whose keys can rotate, counting fetches."""

    def __init__(self, keys: KeyIndex) -> None:
        self.keys = keys
        self.fetches = 0
        self.down = False

    def fetch(self, url: str) -> KeyIndex:
        self.fetches += 1
        if self.down:
            raise KeySetError("HTTP status 503")
        return self.keys


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rotation_is_picked_up_and_unknown_kids_refetch_at_a_bounded_rate(
    es_signer: Signer,
) -> None:
    issuer, clock = _Issuer({"es-1": es_signer.jwk()}), _Clock()
    cache = KeySetCache(issuer.fetch, clock=clock, min_refresh_s=15)

    assert cache.find(JWKS_URL, "es-1") is not None
    assert cache.find(JWKS_URL, "es-1") is not None
    assert issuer.fetches == 1  # cached

    issuer.keys = {"es-2": {"kty": "EC", "kid": "es-2"}}  # the EHR rotates its key
    clock.now += 1
    for _ in range(5):  # a burst of unknown kids costs the issuer no request yet
        assert cache.find(JWKS_URL, "es-2") is None
    assert issuer.fetches == 1

    clock.now += 15
    assert cache.find(JWKS_URL, "es-2") is not None  # rotation, without a restart
    assert issuer.fetches == 2
    assert cache.find(JWKS_URL, "es-1") is None  # the retired key is gone
    assert issuer.fetches == 2


def test_a_failed_refresh_keeps_the_known_keys(es_signer: Signer) -> None:
    issuer, clock = _Issuer({"es-1": es_signer.jwk()}), _Clock()
    cache = KeySetCache(issuer.fetch, clock=clock, ttl_s=60, min_refresh_s=15)
    cache.find(JWKS_URL, "es-1")
    issuer.down = True
    clock.now += 61  # stale: a refetch is due, and fails

    assert cache.find(JWKS_URL, "es-1") is not None
    assert issuer.fetches == 2


def test_no_key_set_at_all_is_an_error() -> None:
    issuer, clock = _Issuer({}), _Clock()
    issuer.down = True
    cache = KeySetCache(issuer.fetch, clock=clock, min_refresh_s=15)

    with pytest.raises(KeySetError, match="503"):
        cache.find(JWKS_URL, "es-1")
    with pytest.raises(KeySetError, match="moments ago"):
        cache.find(JWKS_URL, "es-1")
    assert issuer.fetches == 1
