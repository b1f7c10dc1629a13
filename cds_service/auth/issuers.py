"""The trusted JWT issuers (``CDS_TRUSTED_ISSUERS``), parsed and validated once at start-up."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated
from typing import Any
from urllib.parse import urlsplit

from pydantic import AfterValidator
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import StrictStr
from pydantic import TypeAdapter
from pydantic import ValidationError
from pydantic import field_validator
from pydantic import model_validator

from cds_service.auth.keys import KeyIndex
from cds_service.auth.keys import index_keys

ASYMMETRIC_ALGORITHMS = frozenset(
    {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
)
"""Algorithms an issuer may be configured with: never ``none``, never HS* (cds-hooks.md S5)."""

DEFAULT_ALGORITHMS = ("ES384", "RS384")
"""The algorithms CDS Hooks 2.0 recommends, accepted when an issuer names none."""


class TrustConfigError(ValueError):
    """``CDS_TRUSTED_ISSUERS`` is invalid; the message names each problem (start-up stops)."""


def _url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError(f"{value!r} is not an absolute http(s) URL")
    return value


NonEmptyStr = Annotated[StrictStr, Field(min_length=1)]
Url = Annotated[StrictStr, AfterValidator(_url)]


class TrustedIssuer(BaseModel):
    """One trusted CDS client (an EHR) or the identity provider that signs for it."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    iss: NonEmptyStr
    """The ``iss`` claim its tokens carry, compared exactly."""

    jwks_url: Url | None = None
    """Where its JWK Set is published (fetched, cached, refreshed on an unknown ``kid``)."""

    jwks: dict[str, Any] | None = None
    """Its JWK Set itself, for an issuer that exchanges keys out of band (cds-hooks.md S8)."""

    jku: tuple[Url, ...] = ()
    """Further key-set URLs a token's ``jku`` header may name; any other ``jku`` is refused."""

    tenants: tuple[NonEmptyStr, ...] | None = Field(default=None, min_length=1)
    """When set, a token's ``tenant`` claim must be one of these."""

    fhir_servers: tuple[Url, ...] | None = Field(default=None, min_length=1)
    """When set, URL prefixes this issuer's calls may name as ``fhirServer``."""

    algorithms: tuple[NonEmptyStr, ...] = Field(default=DEFAULT_ALGORITHMS, min_length=1)
    """The ``alg`` values accepted from this issuer."""

    @field_validator("algorithms")
    @classmethod
    def _asymmetric_only(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        refused = [alg for alg in value if alg not in ASYMMETRIC_ALGORITHMS]
        if refused:
            allowed = ", ".join(sorted(ASYMMETRIC_ALGORITHMS))
            raise ValueError(f"algorithm(s) {refused} not allowed; choose from {allowed}")
        return value

    @field_validator("jwks")
    @classmethod
    def _is_key_set(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and not index_keys(value):
            raise ValueError("the JWK Set holds no signing key with a kid")
        return value

    @model_validator(mode="after")
    def _one_key_source(self) -> TrustedIssuer:
        if (self.jwks_url is None) == (self.jwks is None):
            raise ValueError("give exactly one of jwks_url and jwks")
        return self

    @property
    def key_set_urls(self) -> tuple[str, ...]:
        """Every URL a token's ``jku`` may name: ``jwks_url`` and the extra ``jku`` entries."""
        return ((self.jwks_url,) if self.jwks_url else ()) + self.jku

    @property
    def inline_keys(self) -> KeyIndex:
        """The keys of ``jwks`` by ``kid`` (empty when the set is fetched from a URL)."""
        return index_keys(self.jwks) if self.jwks is not None else {}


_ISSUERS = TypeAdapter(list[TrustedIssuer])


def parse_trusted_issuers(text: str) -> tuple[TrustedIssuer, ...]:
    """Parse ``CDS_TRUSTED_ISSUERS``: a JSON list of issuer objects.

    Raises:
        TrustConfigError: invalid JSON, an invalid entry, no entry, or an ``iss`` given twice;
            the message names every problem and where it is.
    """
    try:
        issuers = _ISSUERS.validate_json(text)
    except ValidationError as exc:
        problems = "; ".join(_describe(error["loc"], error["msg"]) for error in exc.errors())
        raise TrustConfigError(f"CDS_TRUSTED_ISSUERS is invalid: {problems}") from None
    if not issuers:
        raise TrustConfigError("CDS_TRUSTED_ISSUERS is an empty list; unset it to run open")
    seen: set[str] = set()
    for issuer in issuers:
        if issuer.iss in seen:
            raise TrustConfigError(f"CDS_TRUSTED_ISSUERS names the issuer {issuer.iss!r} twice")
        seen.add(issuer.iss)
    return tuple(issuers)


def _describe(location: Sequence[int | str], message: str) -> str:
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in location)
    return f"CDS_TRUSTED_ISSUERS{path}: {message}"
