"""A CDS Client (an EHR) for tests: an ES384 key, its JWKS, and JWTs shaped as CDS Hooks 2.0
requires (iss, sub, aud = the service URL, exp, iat, jti; header kid)."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

ISSUER = "https://ehr.example.org"
KID = "ehr-key-1"
FIXTURES = Path(__file__).parent / "fixtures" / "cds_hooks"
REQUEST = FIXTURES / "patient-view.json"


class CdsClient:
    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP384R1())

    def write_jwks(self, path: Path) -> Path:
        public = json.loads(ECAlgorithm.to_jwk(self.key.public_key()))
        path.write_text(json.dumps({"keys": [{**public, "kid": KID, "use": "sig",
                                              "alg": "ES384"}]}))
        return path

    def token(self, audience: str, **overrides: Any) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": "client-id", "aud": audience, "exp": now + 300,
                  "iat": now, "jti": str(uuid.uuid4()), **overrides}
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, self.key, algorithm="ES384", headers={"kid": KID})


def request_for(patient_id: str) -> dict[str, Any]:
    """The specification's patient-view example, for ``patient_id``."""
    body = json.loads(REQUEST.read_text())
    body["context"]["patientId"] = patient_id
    return dict(body)


def order_select_for(
    patient_id: str, fixture: str = "order-select-rituximab.json"
) -> dict[str, Any]:
    """The specification's order-select R4 example (``order-select.json``) or the same shape
    with a rituximab order selected (``order-select-rituximab.json``), for ``patient_id``."""
    body = json.loads((FIXTURES / fixture).read_text())
    body["context"]["patientId"] = patient_id
    for entry in body["context"]["draftOrders"]["entry"]:
        for field in ("subject", "patient"):
            if field in entry["resource"]:
                entry["resource"][field] = {"reference": f"Patient/{patient_id}"}
    return dict(body)
