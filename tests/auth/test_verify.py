"""The JWT verifier, check by check (cds-hooks.md §6, S5-S15)."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from cds_service.auth.issuers import parse_trusted_issuers
from cds_service.auth.keys import KeyIndex
from cds_service.auth.keys import KeySetCache
from cds_service.auth.keys import KeySetError
from cds_service.auth.keys import index_keys
from cds_service.auth.verify import LEEWAY_S
from cds_service.auth.verify import JwtVerifier
from cds_service.auth.verify import Unauthorized
from cds_service.auth.verify import VerifiedCaller
from tests.auth.signing import DROP
from tests.auth.signing import ISSUER
from tests.auth.signing import JWKS_URL
from tests.auth.signing import PUBLIC_BASE
from tests.auth.signing import Signer
from tests.auth.signing import generate_key
from tests.auth.signing import sign
from tests.common import SPEC_EXAMPLES_DIR
from tests.common import load_json

AUD = f"{PUBLIC_BASE}/cds-services/sts-patient-view"
EVIL_JKU = "https://attacker.example/jwks.json"


class Seen:
    """An in-memory replay store recording what it was asked."""

    def __init__(self) -> None:
        self.kept: dict[tuple[str, str], dt.datetime] = {}

    def __call__(self, issuer: str, jti: str, keep_until: dt.datetime) -> bool:
        if (issuer, jti) in self.kept:
            return False
        self.kept[(issuer, jti)] = keep_until
        return True


class KeySets:
    """Key-set URLs served from memory, recording every URL fetched."""

    def __init__(self, sets: dict[str, dict[str, Any]]) -> None:
        self.sets = sets
        self.fetched: list[str] = []

    def fetch(self, url: str) -> KeyIndex:
        self.fetched.append(url)
        return index_keys(self.sets[url])


def verifier(
    key_sets: KeySets, *entries: dict[str, Any], clock: Callable[[], float] = time.time
) -> JwtVerifier:
    issuers = parse_trusted_issuers(json.dumps(list(entries) or [{"iss": ISSUER,
                                                                  "jwks_url": JWKS_URL}]))
    return JwtVerifier(issuers, clock=clock,
                       key_sets=lambda: KeySetCache(key_sets.fetch, min_refresh_s=0))


@pytest.fixture
def key_sets(es_signer: Signer, rs_signer: Signer) -> KeySets:
    """The EHR's key set at ``JWKS_URL``, and an attacker's at ``EVIL_JKU``."""
    return KeySets({
        JWKS_URL: {"keys": [es_signer.jwk(), rs_signer.jwk()]},
        EVIL_JKU: {"keys": [Signer(generate_key("ES384"), "ES384", "es-1").jwk()]},
    })


def _verify(v: JwtVerifier, token: str | None, seen: Seen | None = None,
            audiences: tuple[str, ...] = (AUD,)) -> VerifiedCaller:
    header = None if token is None else f"Bearer {token}"
    return v.verify(header, audiences, seen or Seen())


# --- known answer: the CDS Hooks 2.0 specification's own example -------------------------------


def test_the_spec_example_token_verifies_with_the_spec_key_set() -> None:
    example = load_json(SPEC_EXAMPLES_DIR / "jwt-example.json")
    payload = example["payload"]
    sets = KeySets({example["header"]["jku"]: example["jwks"]})
    entry = {"iss": payload["iss"], "jwks_url": example["header"]["jku"],
             "tenants": [payload["tenant"]]}
    before_expiry = float(payload["exp"] - 60)
    seen = Seen()

    caller = verifier(sets, entry, clock=lambda: before_expiry).verify(
        f"Bearer {example['token']}", [payload["aud"]], seen)

    assert dict(caller.claims) == payload  # signature valid: every claim as published
    assert sets.fetched == [example["header"]["jku"]]
    keep_until = dt.datetime.fromtimestamp(payload["exp"] + LEEWAY_S, dt.UTC)
    assert seen.kept == {(payload["iss"], payload["jti"]): keep_until}


def test_the_spec_example_token_is_refused_today_as_expired() -> None:
    example = load_json(SPEC_EXAMPLES_DIR / "jwt-example.json")
    sets = KeySets({example["header"]["jku"]: example["jwks"]})
    entry = {"iss": example["payload"]["iss"], "jwks": example["jwks"],
             "jku": [example["header"]["jku"]]}

    with pytest.raises(Unauthorized) as caught:
        verifier(sets, entry).verify(f"Bearer {example['token']}", [example["payload"]["aud"]],
                                     Seen())

    assert caught.value.reason == "token expired"  # 2015: signature fine, time not
    assert caught.value.jti == example["payload"]["jti"]


# --- accepted tokens ---------------------------------------------------------------------------


@pytest.mark.parametrize("signer_name", ["es_signer", "rs_signer"])
def test_es384_and_rs384_tokens_are_accepted(
    key_sets: KeySets, signer_name: str, request: pytest.FixtureRequest
) -> None:
    signer: Signer = request.getfixturevalue(signer_name)
    caller = _verify(verifier(key_sets), signer.token(AUD))
    assert caller.issuer.iss == ISSUER and caller.claims["aud"] == AUD


def test_an_epic_style_token_with_extra_claims_is_accepted(
    key_sets: KeySets, rs_signer: Signer
) -> None:
    # S15: Epic signs RS384, names its jku, and adds sub and nbf = iat - 5 min; lifetime 900 s.
    now = int(time.time())
    token = rs_signer.token(AUD, headers={"jku": JWKS_URL}, sub="epic-client-id",
                            nbf=now - 300, iat=now, exp=now + 900)
    assert _verify(verifier(key_sets), token).claims["sub"] == "epic-client-id"


def test_aud_may_be_a_list_and_clocks_may_differ_a_little(
    key_sets: KeySets, es_signer: Signer
) -> None:
    now = int(time.time())
    token = es_signer.token([AUD, "https://other.example/x"], exp=now - LEEWAY_S // 2,
                            iat=now + LEEWAY_S // 2)
    assert _verify(verifier(key_sets), token).claims["exp"] == now - LEEWAY_S // 2


def test_a_jku_on_the_issuers_allowlist_is_used(key_sets: KeySets, es_signer: Signer) -> None:
    second = "https://ehr.example.org/keys/2"
    key_sets.sets[second] = es_signer.jwks()
    v = verifier(key_sets, {"iss": ISSUER, "jwks_url": JWKS_URL, "jku": [second]})
    _verify(v, es_signer.token(AUD, headers={"jku": second}))
    assert key_sets.fetched == [second]


def test_inline_keys_need_no_fetch(key_sets: KeySets, es_signer: Signer) -> None:
    v = verifier(key_sets, {"iss": ISSUER, "jwks": es_signer.jwks()})
    _verify(v, es_signer.token(AUD))
    assert key_sets.fetched == []


# --- every rejection (S5-S14) ------------------------------------------------------------------

Build = Callable[[Signer, Signer], str | None]


def _es256_token(es: Signer, _: Signer) -> str:
    return Signer(generate_key("ES256"), "ES256", "es-1").token(AUD)


def _tampered(es: Signer, _: Signer) -> str:
    header, _payload, signature = es.token(AUD).split(".")
    other_payload = es.token(f"{PUBLIC_BASE}/cds-services").split(".")[1]
    return ".".join([header, other_payload, signature])


REJECTIONS: dict[str, tuple[Build, str]] = {
    "no token": (lambda es, x: None, "no Authorization header"),
    "malformed": (lambda es, x: "not.a.jwt", "malformed token"),
    "alg none": (lambda es, x: sign(None, {"alg": "none", "typ": "JWT", "kid": "es-1"},
                                    es.claims(AUD)), "alg 'none' not allowed"),
    "alg HS256": (lambda es, x: sign(b"s" * 32, {"alg": "HS256", "typ": "JWT", "kid": "es-1"},
                                     es.claims(AUD)), "alg 'HS256' not allowed"),
    "alg ES256 (not allowlisted)": (_es256_token, "alg 'ES256' not allowed"),
    "alg header swapped to RS384": (lambda es, x: es.token(AUD, headers={"alg": "RS384"}),
                                    "alg differs"),
    "typ missing": (lambda es, x: es.token(AUD, headers={"typ": DROP}), "typ is not JWT"),
    "typ other": (lambda es, x: es.token(AUD, headers={"typ": "at+jwt"}), "typ is not JWT"),
    "kid missing": (lambda es, x: es.token(AUD, headers={"kid": DROP}), "kid missing"),
    "kid unknown": (lambda es, x: es.token(AUD, headers={"kid": "nope"}), "unknown kid"),
    "iss untrusted": (lambda es, x: es.token(AUD, iss="https://evil.example"),
                      "iss is not a trusted issuer"),
    "iss missing": (lambda es, x: es.token(AUD, iss=DROP), "iss is not a trusted issuer"),
    "signed by another key": (lambda es, attacker: attacker.token(AUD), "signature invalid"),
    "payload tampered": (_tampered, "signature invalid"),
    "aud another endpoint": (lambda es, x: es.token(f"{PUBLIC_BASE}/cds-services"),
                             "aud is not this endpoint's URL"),
    "aud another host": (lambda es, x: es.token("https://elsewhere.example/cds-services/"
                                                "sts-patient-view"), "aud is not"),
    "aud missing": (lambda es, x: es.token(AUD, aud=DROP), "claim aud missing"),
    "exp passed": (lambda es, x: es.token(AUD, exp=int(time.time()) - 2 * LEEWAY_S),
                   "token expired"),
    "exp missing": (lambda es, x: es.token(AUD, exp=DROP), "claim exp missing"),
    "exp not a number": (lambda es, x: es.token(AUD, exp="soon"), "exp is not a NumericDate"),
    "exp absurd": (lambda es, x: es.token(AUD, exp=10**30), "exp is not a NumericDate"),
    "iat missing": (lambda es, x: es.token(AUD, iat=DROP), "claim iat missing"),
    "iat in the future": (lambda es, x: es.token(AUD, iat=int(time.time()) + 600),
                          "iat is in the future"),
    "nbf in the future": (lambda es, x: es.token(AUD, nbf=int(time.time()) + 600),
                          "not yet valid (nbf)"),
    "jti missing": (lambda es, x: es.token(AUD, jti=DROP), "claim jti missing"),
    "jti not a string": (lambda es, x: es.token(AUD, jti=7), "JTI"),
    "jti too long": (lambda es, x: es.token(AUD, jti="j" * 257), "jti must be a string"),
    "jku not allowlisted": (lambda es, x: es.token(AUD, headers={"jku": EVIL_JKU}),
                            "jku is not on the issuer's allowlist"),
}


@pytest.mark.parametrize("case", list(REJECTIONS))
def test_every_invalid_token_is_refused_with_its_reason(
    key_sets: KeySets, es_signer: Signer, attacker: Signer, case: str
) -> None:
    build, reason = REJECTIONS[case]
    seen = Seen()
    with pytest.raises(Unauthorized) as caught:
        _verify(verifier(key_sets), build(es_signer, attacker), seen)
    assert reason in caught.value.reason
    assert seen.kept == {}  # a refused token never reaches the replay store
    assert EVIL_JKU not in key_sets.fetched  # S12: a foreign jku is never fetched


@pytest.mark.parametrize(
    "authorization", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", "Bearer " + "a" * 20_000]
)
def test_a_header_that_is_not_one_bearer_token_is_refused(
    key_sets: KeySets, authorization: str
) -> None:
    with pytest.raises(Unauthorized):
        verifier(key_sets).verify(authorization, [AUD], Seen())


def test_a_key_that_does_not_fit_the_alg_is_refused(
    key_sets: KeySets, es_signer: Signer, rs_signer: Signer
) -> None:
    # The EC key without its "alg" member, presented with an RS384 token naming its kid.
    bare = {k: v for k, v in es_signer.jwk().items() if k != "alg"}
    v = verifier(key_sets, {"iss": ISSUER, "jwks": {"keys": [bare]}})
    token = rs_signer.token(AUD, headers={"kid": "es-1"})
    with pytest.raises(Unauthorized, match="does not fit"):
        _verify(v, token)


def test_a_replayed_token_is_refused(key_sets: KeySets, es_signer: Signer) -> None:
    v, seen, token = verifier(key_sets), Seen(), es_signer.token(AUD)
    _verify(v, token, seen)
    with pytest.raises(Unauthorized, match="replay"):
        _verify(v, token, seen)


def test_a_forged_token_does_not_burn_the_jti_of_a_genuine_one(
    key_sets: KeySets, es_signer: Signer, attacker: Signer
) -> None:
    v, seen = verifier(key_sets), Seen()
    with pytest.raises(Unauthorized):
        _verify(v, attacker.token(AUD, jti="shared"), seen)
    assert _verify(v, es_signer.token(AUD, jti="shared"), seen).claims["jti"] == "shared"


@pytest.mark.parametrize(
    ("tenant", "accepted"), [("t-1", True), ("t-2", True), ("t-3", False), (DROP, False)]
)
def test_the_tenant_must_be_allowlisted_when_configured(
    key_sets: KeySets, es_signer: Signer, tenant: Any, accepted: bool
) -> None:
    v = verifier(key_sets, {"iss": ISSUER, "jwks_url": JWKS_URL, "tenants": ["t-1", "t-2"]})
    token = es_signer.token(AUD, tenant=tenant)
    if accepted:
        _verify(v, token)
    else:
        with pytest.raises(Unauthorized, match="tenant not allowed"):
            _verify(v, token)


def test_rotation_needs_no_restart(es_signer: Signer) -> None:
    new_key = Signer(generate_key("ES384"), "ES384", "es-2")
    sets = KeySets({JWKS_URL: es_signer.jwks()})
    v = verifier(sets)
    _verify(v, es_signer.token(AUD))

    sets.sets[JWKS_URL] = new_key.jwks()  # the EHR publishes its new key and retires the old
    _verify(v, new_key.token(AUD))

    assert sets.fetched == [JWKS_URL, JWKS_URL]
    with pytest.raises(Unauthorized, match="unknown kid"):
        _verify(v, es_signer.token(AUD))


def test_an_unreachable_key_set_refuses_the_token(es_signer: Signer) -> None:
    def fail(url: str) -> KeyIndex:
        raise KeySetError("connection failed (ConnectionError)")

    v = JwtVerifier(parse_trusted_issuers(json.dumps([{"iss": ISSUER, "jwks_url": JWKS_URL}])),
                    key_sets=lambda: KeySetCache(fail))
    with pytest.raises(Unauthorized, match="key set unavailable"):
        _verify(v, es_signer.token(AUD))


def test_weak_or_mismatched_keys_are_refused(key_sets: KeySets) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric import rsa

    short_rsa = Signer(rsa.generate_private_key(public_exponent=65537, key_size=1024), "RS384",
                       "rsa-1024")
    p256 = Signer(ec.generate_private_key(ec.SECP256R1()), "ES256", "p-256")
    p256_jwk = {k: v for k, v in p256.jwk().items() if k != "alg"}
    v = verifier(key_sets, {"iss": ISSUER, "jwks": {"keys": [short_rsa.jwk(), p256_jwk]}})

    with pytest.raises(Unauthorized, match="InvalidKeyError"):
        _verify(v, short_rsa.token(AUD))  # below 2048 bits
    es384_on_p256 = sign(p256.private_key, {"alg": "ES384", "typ": "JWT", "kid": "p-256"},
                         p256.claims(AUD), alg="ES256")
    with pytest.raises(Unauthorized, match="InvalidKeyError"):
        _verify(v, es384_on_p256)  # ES384 requires P-384
