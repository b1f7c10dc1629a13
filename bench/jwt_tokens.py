"""A benchmark CDS client identity: an ES384 key, its inline JWK Set, a fresh token per request."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

ISSUER = "https://ehr.bench.invalid"
KEY_ID = "bench-es384-1"


class TokenSigner:
    """Signs CDS Hooks client JWTs (cds-hooks.md S4-S11) with a key generated per run.

    Raises:
        ImportError: PyJWT with its ``crypto`` extra is not installed.
    """

    def __init__(self) -> None:
        import jwt
        from cryptography.hazmat.primitives.asymmetric import ec
        from jwt.algorithms import ECAlgorithm

        self._jwt = jwt
        self._key = ec.generate_private_key(ec.SECP384R1())
        public: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(self._key.public_key()))
        self.jwk = {**public, "kid": KEY_ID, "alg": "ES384", "use": "sig"}

    def trusted_issuers(self) -> str:
        """The ``CDS_TRUSTED_ISSUERS`` value that trusts this signer, keys given inline."""
        return json.dumps([{"iss": ISSUER, "jwks": {"keys": [self.jwk]}}])

    def token(self, audience: str) -> str:
        """A token for one call of ``audience`` (the full URL called), with a fresh ``jti``."""
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": audience, "iat": now, "exp": now + 300,
                  "jti": uuid.uuid4().hex}
        token: str = self._jwt.encode(claims, self._key, algorithm="ES384",
                                      headers={"kid": KEY_ID, "typ": "JWT"})
        return token

    def headers(self, url: str) -> dict[str, str]:
        """The Authorization header for one request to ``url``."""
        return {"Authorization": f"Bearer {self.token(url)}"}
