"""Issuers' JWK Sets: fetched within bounds, cached per process, refreshed at a bounded rate.

Only URLs the operator lists are fetched: an issuer's ``jwks_url`` and ``jku`` entries (a token's
other ``jku`` is refused before any fetch, in ``verify``). The fetch does not pass the link-local
guard of ``cds_service.fhir.egress``, which the contract sets for ``fhirServer`` and ``next`` links.

Why not PyJWT's ``PyJWKClient`` (issue 20, PyJWT 2.15; each point tried against a local server):

- size limit: it reads the whole answer with ``json.load``, without a cap (a 5 MB set is read);
- time limit: its ``timeout`` bounds each socket read, not the download (a set sent a byte a
  second took 8 s with ``timeout=3``, and a longer set takes longer);
- bounded refresh: its cooldown starts only after a successful fetch, so an issuer that fails is
  fetched again for every token (five tokens, five fetches), and once ``lifespan`` has passed a
  failed fetch drops the known keys (every token refused while the issuer is down), where
  :class:`KeySetCache` keeps them and tries again at most once per ``min_refresh_s``;
- egress: its ``urllib`` opener takes ``HTTP_PROXY``/``HTTPS_PROXY`` from the environment, where
  this fetch ignores them (``trust_env = False``).

Replacing only its fetch (``fetch_data``) would leave the refresh rules unmet. ``PyJWKSet`` does not
fit :func:`index_keys` either: it refuses a set without usable keys, drops entries that are not
objects and keys it cannot build without a word, keeps ``use: enc`` keys, and builds each key for an
algorithm guessed from ``kty`` (RS256 for any RSA key). The library builds the key where the
token's own ``alg`` is known: ``jwt.PyJWK`` in ``verify``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

log = logging.getLogger(__name__)

Jwk = Mapping[str, Any]
KeyIndex = Mapping[str, Jwk]
"""The signing keys of one JWK Set by ``kid``."""

MAX_KEY_SET_BYTES = 256 * 1024
"""Largest JWK Set document accepted from an issuer."""

FETCH_TIMEOUT_S = 3.0
"""Connect and read timeout of one key-set request; the whole download is bounded by twice that."""

CACHE_TTL_S = 3600.0
"""A cached key set is fetched again after this long, even without an unknown ``kid``."""

MIN_REFRESH_INTERVAL_S = 15.0
"""At most one fetch of a key-set URL per process within this interval (an unknown ``kid`` in a
stream of forged tokens must not turn the service into a load generator against the issuer)."""

_CHUNK = 16 * 1024


class KeySetError(Exception):
    """A key set could not be fetched or read; ``reason`` is safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def index_keys(document: Any) -> dict[str, Jwk]:
    """Return the signing keys of a JWK Set document by ``kid``.

    Keys without a string ``kid`` cannot be selected (cds-hooks.md S6) and keys whose ``use`` is
    not ``sig`` may not verify signatures; both are skipped. Should a ``kid`` repeat, the first
    key wins.

    Raises:
        ValueError: the document is not ``{"keys": [{...}, ...]}``.
    """
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError('a JWK Set must be an object with a "keys" list')
    keys: dict[str, Jwk] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, dict) or not isinstance(jwk.get("kty"), str):
            raise ValueError('every entry of "keys" must be a JWK object with "kty"')
        kid = jwk.get("kid")
        if isinstance(kid, str) and kid and jwk.get("use", "sig") == "sig":
            keys.setdefault(kid, jwk)
    return keys


def fetch_key_set(session: requests.Session, url: str) -> dict[str, Jwk]:
    """GET the JWK Set at ``url``: no redirects, bounded time and size.

    Raises:
        KeySetError: connection failure, non-200 status, redirect, oversize or invalid document.
    """
    started = time.monotonic()
    try:
        response = session.get(
            url,
            headers={"Accept": "application/jwk-set+json, application/json"},
            timeout=FETCH_TIMEOUT_S,
            stream=True,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise KeySetError(f"connection failed ({type(exc).__name__})") from None
    with response:
        if response.status_code != 200:
            raise KeySetError(f"HTTP status {response.status_code}")
        body = _read_bounded(response, started)
    try:
        return index_keys(json.loads(body))
    except ValueError as exc:
        raise KeySetError(f"not a JWK Set ({exc})") from None


def _read_bounded(response: requests.Response, started: float) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_KEY_SET_BYTES:
        raise KeySetError(f"larger than {MAX_KEY_SET_BYTES} bytes")
    body = bytearray()
    try:
        for chunk in response.iter_content(_CHUNK):
            body.extend(chunk)
            if len(body) > MAX_KEY_SET_BYTES:
                raise KeySetError(f"larger than {MAX_KEY_SET_BYTES} bytes")
            if time.monotonic() - started > 2 * FETCH_TIMEOUT_S:
                raise KeySetError("download too slow")
    except requests.RequestException as exc:
        raise KeySetError(f"download failed ({type(exc).__name__})") from None
    return bytes(body)


@dataclass(frozen=True)
class _Entry:
    keys: KeyIndex
    fetched_at: float


class KeySetCache:
    """Fetched key sets by URL, for one process (create it after the fork, it owns a session).

    A set is fetched on first use, again once it is older than ``ttl_s``, and again when a token
    names a ``kid`` it lacks (key rotation) — but any URL at most once per ``min_refresh_s``. A
    failed fetch keeps the previous set in use.
    """

    def __init__(
        self,
        fetch: Callable[[str], KeyIndex],
        *,
        clock: Callable[[], float] = time.monotonic,
        ttl_s: float = CACHE_TTL_S,
        min_refresh_s: float | None = None,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._ttl_s = ttl_s
        self._min_refresh_s = MIN_REFRESH_INTERVAL_S if min_refresh_s is None else min_refresh_s
        self._entries: dict[str, _Entry] = {}
        self._attempts: dict[str, float] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    @classmethod
    def over_http(cls) -> KeySetCache:
        """A cache fetching through its own pooled ``requests`` session (no proxies from env)."""
        session = requests.Session()
        session.trust_env = False
        return cls(lambda url: fetch_key_set(session, url))

    def find(self, url: str, kid: str) -> Jwk | None:
        """Return the key ``kid`` of the set at ``url``, or None when the set has no such key.

        Raises:
            KeySetError: the set has never been fetched successfully and cannot be fetched now.
        """
        with self._lock_for(url):
            entry = self._entries.get(url)
            now = self._clock()
            wanted = entry is None or kid not in entry.keys or now - entry.fetched_at >= self._ttl_s
            last = self._attempts.get(url)
            if wanted and (last is None or now - last >= self._min_refresh_s):
                self._attempts[url] = now
                try:
                    entry = _Entry(self._fetch(url), now)
                    self._entries[url] = entry
                except KeySetError as exc:
                    log.warning("key set not fetched url=%s reason=%s", url, exc.reason)
                    if entry is None:
                        raise
            if entry is None:
                raise KeySetError("no key set yet; the last fetch failed moments ago")
            return entry.keys.get(kid)

    def _lock_for(self, url: str) -> threading.Lock:
        # One lock per URL: a slow issuer must not hold up the verification of the others.
        with self._guard:
            return self._locks.setdefault(url, threading.Lock())
