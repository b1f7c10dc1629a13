"""A test CDS client: generated signing keys, their JWK Set, and tokens built with PyJWT."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.utils import base64url_encode

ISSUER = "https://ehr.example.org"
"""The ``iss`` of the test EHR."""

JWKS_URL = "https://ehr.example.org/.well-known/jwks.json"
"""Where the test EHR publishes its key set."""

PUBLIC_BASE = "https://cds.example.org"
"""``CDS_PUBLIC_BASE_URL`` of the service under test."""

DROP = object()
"""A claim or header value meaning "leave this one out"."""


def generate_key(alg: str) -> Any:
    """A fresh private key for ``alg`` (ES384 on P-384, RS384 on RSA 2048)."""
    if alg.startswith("ES"):
        curve = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1()}[alg]
        return ec.generate_private_key(curve)
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass(frozen=True)
class Signer:
    """Signs tokens as one EHR key would.

    Attributes:
        private_key: a ``cryptography`` private key.
        alg: the JWS algorithm.
        kid: the key id published in the JWK Set.
        iss: the issuer the tokens claim.
    """

    private_key: Any
    alg: str
    kid: str
    iss: str = ISSUER

    def jwk(self) -> dict[str, Any]:
        """The public key as a JWK."""
        algorithm = jwt.get_algorithm_by_name(self.alg)
        public: dict[str, Any] = algorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**public, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def jwks(self) -> dict[str, Any]:
        """A JWK Set holding only this key."""
        return {"keys": [self.jwk()]}

    def claims(self, audience: str | list[str], **overrides: Any) -> dict[str, Any]:
        """The CDS Hooks claims for ``aud`` (valid for five minutes), with overrides."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.iss, "aud": audience, "exp": now + 300, "iat": now,
            "jti": str(uuid.uuid4()),
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not DROP}

    def token(self, audience: str | list[str], *, headers: dict[str, Any] | None = None,
              **claims: Any) -> str:
        """A signed token for ``aud``; ``headers`` and ``claims`` override the defaults."""
        header: dict[str, Any] = {"alg": self.alg, "typ": "JWT", "kid": self.kid}
        header.update(headers or {})
        return sign(self.private_key, {k: v for k, v in header.items() if v is not DROP},
                    self.claims(audience, **claims), alg=self.alg)


def sign(key: Any, header: dict[str, Any], payload: dict[str, Any], *,
         alg: str | None = None) -> str:
    """Assemble a JWS by hand, so a test can write any header.

    ``alg`` signs (default: the header's); ``none`` gives an empty signature, HS* takes bytes.
    """
    segments = [
        base64url_encode(json.dumps(header, separators=(",", ":")).encode()),
        base64url_encode(json.dumps(payload, separators=(",", ":")).encode()),
    ]
    signing_input = b".".join(segments)
    alg = alg or str(header.get("alg"))
    if alg == "none":
        signature = b""
    else:
        algorithm = jwt.get_algorithm_by_name(alg)
        signature = algorithm.sign(signing_input, algorithm.prepare_key(key))
    return b".".join([*segments, base64url_encode(signature)]).decode()


def bearer(token: str) -> dict[str, str]:
    """The ``Authorization`` header carrying ``token``."""
    return {"Authorization": f"Bearer {token}"}
