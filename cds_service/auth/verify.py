"""Verification of a CDS client's bearer JWT, as CDS Hooks 2.0 and its best practices describe.

Spec: cds-hooks.md §6 (S3-S15). Every failure is one :class:`Unauthorized` whose reason goes to the
log only; the client gets a bare 401.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
import time
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.types import Options

from cds_service.auth.issuers import TrustedIssuer
from cds_service.auth.keys import Jwk
from cds_service.auth.keys import KeySetCache
from cds_service.auth.keys import KeySetError

LEEWAY_S = 60
"""Clock skew tolerated on ``exp``, ``iat`` and ``nbf``, in seconds."""

MAX_TOKEN_CHARS = 16 * 1024
"""Longer bearer values are refused before any decoding."""

MAX_JTI_CHARS = 256
"""Longest ``jti`` the replay store keeps."""

_LATEST_NUMERIC_DATE = 253402300799  # 9999-12-31T23:59:59Z, the last instant datetime can hold

ReplayCheck = Callable[[str, str, dt.datetime], bool]
"""``first_use(iss, jti, keep_until)``: False when the token id was seen before."""


class Unauthorized(Exception):
    """The request's JWT is missing or invalid (answered with a bare 401).

    Attributes:
        reason: why, for the log (never sent to the client, never the token).
        issuer: the ``iss`` the token claims, if it could be read.
        jti: the ``jti`` the token claims, if it could be read.
    """

    def __init__(self, reason: str, *, issuer: Any = None, jti: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.issuer = issuer
        self.jti = jti

    @property
    def code(self) -> str:
        """The reason as a short metric label (``token-expired``); reasons are fixed literals."""
        return re.sub(r"[^a-z0-9]+", "-", self.reason.lower()).strip("-")[:32]


@dataclass(frozen=True)
class VerifiedCaller:
    """A request whose JWT passed every check.

    Attributes:
        issuer: the trusted issuer that signed it.
        claims: the verified payload (extra claims such as Epic's ``sub`` included).
    """

    issuer: TrustedIssuer
    claims: Mapping[str, Any]


class JwtVerifier:
    """Checks bearer tokens against the trusted issuers; safe to share between threads."""

    def __init__(
        self,
        issuers: Sequence[TrustedIssuer],
        *,
        clock: Callable[[], float] = time.time,
        key_sets: Callable[[], KeySetCache] = KeySetCache.over_http,
    ) -> None:
        """Build the verifier.

        Args:
            issuers: the trusted issuers.
            clock: the current time as seconds since the epoch.
            key_sets: makes the key-set cache; called lazily once per process, after any fork.
        """
        self.issuers = {issuer.iss: issuer for issuer in issuers}
        self._clock = clock
        self._make_key_sets = key_sets
        self._key_sets: tuple[int, KeySetCache] | None = None
        self._lock = threading.Lock()

    def verify(
        self, authorization: str | None, audiences: Sequence[str], first_use: ReplayCheck
    ) -> VerifiedCaller:
        """Verify the ``Authorization`` header of one request (cds-hooks.md S5-S15).

        Args:
            authorization: the header's value, if any.
            audiences: the URLs the ``aud`` claim may name: the endpoint called (for feedback
                also its service's URL).
            first_use: the replay store, consulted last, once everything else has passed.

        Returns:
            The verified caller.

        Raises:
            Unauthorized: the token is missing, malformed, untrusted, wrongly signed, expired,
                meant for another endpoint, from a tenant not allowed, or replayed.
            StoreUnavailable: the replay store cannot be reached (the caller fails closed).
        """
        token = _bearer_token(authorization)
        try:
            unverified = jwt.decode_complete(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise Unauthorized("malformed token") from None
        header, claimed = unverified["header"], unverified["payload"]
        iss, jti = claimed.get("iss"), claimed.get("jti")
        try:
            issuer = self._issuer(iss)
            key = self._signing_key(issuer, header)
            claims = self._decode(token, key, header["alg"], issuer, audiences)
            keep_until = self._check_times(claims)
            _check_claims(issuer, claims)
        except Unauthorized as exc:
            exc.issuer, exc.jti = iss, jti
            raise
        if not first_use(issuer.iss, claims["jti"], keep_until):
            raise Unauthorized("jti already used (replay)", issuer=iss, jti=jti)
        return VerifiedCaller(issuer, claims)

    def _issuer(self, iss: Any) -> TrustedIssuer:
        issuer = self.issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise Unauthorized("iss is not a trusted issuer")
        return issuer

    def _signing_key(self, issuer: TrustedIssuer, header: Mapping[str, Any]) -> jwt.PyJWK:
        alg, kid, typ = header.get("alg"), header.get("kid"), header.get("typ")
        if alg not in issuer.algorithms:
            raise Unauthorized(f"alg {str(alg)[:20]!r} not allowed for this issuer")
        if not isinstance(typ, str) or typ.upper() != "JWT":
            raise Unauthorized("typ is not JWT")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("kid missing")
        jwk = self._find_key(issuer, header.get("jku"), kid)
        if jwk.get("alg", alg) != alg:
            raise Unauthorized("the key's alg differs from the token's")
        try:
            return jwt.PyJWK(dict(jwk), algorithm=alg)
        except jwt.PyJWTError:
            raise Unauthorized("the key does not fit the token's alg") from None

    def _find_key(self, issuer: TrustedIssuer, jku: Any, kid: str) -> Jwk:
        # A jku off the issuer's allowlist is refused before anything is fetched (SSRF, S12).
        if jku is not None and jku not in issuer.key_set_urls:
            raise Unauthorized("jku is not on the issuer's allowlist")
        url = jku if jku is not None else issuer.jwks_url
        if url is None:
            found = issuer.inline_keys.get(kid)
        else:
            try:
                found = self._cache().find(url, kid)
            except KeySetError as exc:
                raise Unauthorized(f"key set unavailable ({exc.reason})") from None
        if found is None:
            raise Unauthorized("unknown kid")
        return found

    def _cache(self) -> KeySetCache:
        # Sockets must not cross a gunicorn fork: each process makes its own cache.
        with self._lock:
            if self._key_sets is None or self._key_sets[0] != os.getpid():
                self._key_sets = (os.getpid(), self._make_key_sets())
            return self._key_sets[1]

    def _decode(
        self, token: str, key: jwt.PyJWK, alg: str, issuer: TrustedIssuer,
        audiences: Sequence[str],
    ) -> dict[str, Any]:
        options: Options = {
            "require": ["iss", "aud", "exp", "iat", "jti"],
            "verify_exp": False, "verify_iat": False, "verify_nbf": False,  # _check_times
            "enforce_minimum_key_length": True,
        }
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key=key, algorithms=[alg], audience=list(audiences), issuer=issuer.iss,
                options=options,
            )
        except jwt.InvalidSignatureError:
            raise Unauthorized("signature invalid") from None
        except jwt.InvalidAudienceError:
            raise Unauthorized("aud is not this endpoint's URL") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthorized(f"claim {exc.claim} missing") from None
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"token rejected ({type(exc).__name__})") from None
        return claims

    def _check_times(self, claims: Mapping[str, Any]) -> dt.datetime:
        now = self._clock()
        exp, iat, nbf = (_numeric_date(claims, name) for name in ("exp", "iat", "nbf"))
        if exp is None or iat is None:
            raise Unauthorized("exp and iat must be NumericDates")
        if now > exp + LEEWAY_S:
            raise Unauthorized("token expired")
        if iat > now + LEEWAY_S:
            raise Unauthorized("iat is in the future")
        if nbf is not None and nbf > now + LEEWAY_S:
            raise Unauthorized("token not yet valid (nbf)")
        return dt.datetime.fromtimestamp(exp + LEEWAY_S, dt.UTC)


def _bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("no Authorization header")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise Unauthorized("Authorization is not a Bearer token")
    if len(token) > MAX_TOKEN_CHARS:
        raise Unauthorized("token too long")
    return token


def _numeric_date(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    # JSON numbers may be huge, and Python's parser also admits NaN and Infinity.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unauthorized(f"{name} is not a NumericDate")
    if not 0 <= value <= _LATEST_NUMERIC_DATE - LEEWAY_S:
        raise Unauthorized(f"{name} is not a NumericDate")
    return float(value)


def _check_claims(issuer: TrustedIssuer, claims: Mapping[str, Any]) -> None:
    jti = claims["jti"]
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_CHARS:
        raise Unauthorized(f"jti must be a string of 1 to {MAX_JTI_CHARS} characters")
    if issuer.tenants is not None and claims.get("tenant") not in issuer.tenants:
        raise Unauthorized("tenant not allowed for this issuer")
