"""The CDS Client's JWT is trusted only as CDS Hooks 2.0 requires (PyJWT does the checking)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import jwt
import pytest

from services.evaluator.adapters.http.cds_hooks import JwtVerifier, trusted_issuers
from tests.cds_client import ISSUER, CdsClient

AUDIENCE = "https://trialwatch.example.org/cds-services/trialwatch-patient-view"


@pytest.fixture
def client() -> CdsClient:
    return CdsClient()


@pytest.fixture
def verifier(client: CdsClient, tmp_path: Path) -> JwtVerifier:
    jwks = client.write_jwks(tmp_path / "ehr.jwks.json")
    issuers = json.dumps({ISSUER: {"jwks": str(jwks), "source_system": "ehr"}})
    return JwtVerifier(trusted_issuers(issuers))


async def test_a_token_signed_by_the_configured_ehr_for_this_endpoint_is_accepted(
    client: CdsClient, verifier: JwtVerifier
) -> None:
    issuer, claims = await verifier.verify(client.token(AUDIENCE), AUDIENCE)
    assert issuer.source_system == "ehr"
    assert claims["iss"] == ISSUER


@pytest.mark.parametrize("change", [
    {"aud": "https://trialwatch.example.org/cds-services/another-service"},
    {"iss": "https://other-ehr.example.org"},
    {"exp": int(time.time()) - 120},
    {"jti": None},
])
async def test_a_token_for_another_audience_issuer_expired_or_without_jti_is_refused(
    client: CdsClient, verifier: JwtVerifier, change: dict[str, object]
) -> None:
    with pytest.raises(jwt.PyJWTError):
        await verifier.verify(client.token(AUDIENCE, **change), AUDIENCE)


async def test_a_token_signed_by_another_key_is_refused(verifier: JwtVerifier) -> None:
    with pytest.raises(jwt.PyJWTError):
        await verifier.verify(CdsClient().token(AUDIENCE), AUDIENCE)


async def test_a_replayed_token_is_refused(client: CdsClient, verifier: JwtVerifier) -> None:
    token = client.token(AUDIENCE)
    await verifier.verify(token, AUDIENCE)
    with pytest.raises(jwt.InvalidTokenError, match="jti"):
        await verifier.verify(token, AUDIENCE)


async def test_a_shared_secret_token_is_refused_even_when_signed_with_the_public_key(
    client: CdsClient, verifier: JwtVerifier, tmp_path: Path
) -> None:
    # algorithm confusion: an HS256 token keyed with the public JWKS text must never verify
    # (built by hand: PyJWT itself refuses to sign with a key that looks asymmetric)
    def part(value: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    secret = (tmp_path / "ehr.jwks.json").read_bytes()
    signing_input = part({"alg": "HS256", "typ": "JWT", "kid": "ehr-key-1"}) + "." + part(
        {"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60, "iat": int(time.time()),
         "jti": "x"})
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    token = signing_input + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    with pytest.raises(jwt.PyJWTError):
        await verifier.verify(token, AUDIENCE)
