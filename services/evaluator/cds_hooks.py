"""CDS Hooks 2.0 service: trial cards in the EHR when a clinician opens a patient's record.

- ``GET /cds-services``: discovery (CDS Hooks 2.0 "Discovery").
- ``POST /cds-services/trialwatch-patient-view``: the ``patient-view`` hook. The EHR names the
  patient by its own ``context.patientId``; intake turns that into the surrogate key through its
  audited look-up (no identifier is stored or logged here). Cards: one "info" card per trial the
  patient is eligible for, one per trial they are close to (at most ``CLOSE_UNKNOWN`` criteria
  still open, none failing) saying what is missing; nothing otherwise. Each card links to the
  coordinator app's patient page.

Security (CDS Hooks 2.0 "Trusting CDS Clients"): every call carries a JWT signed by the EHR
(``Authorization: Bearer``). It is verified with PyJWT against the keys configured for its
issuer (``EVALUATOR_CDS_ISSUERS``, a JSON object ``{"<iss>": {"jwks": "<JWKS URL or file>",
"source_system": "<intake client name of that EHR>"}}``), never against a key the token points
to: ``iss``, ``aud`` (this endpoint's URL), ``exp``, ``iat`` and ``jti`` are required; the
algorithms are the asymmetric ones the specification names (ES384, RS384) plus their 256/512
variants. A replayed ``jti`` is refused while it is still valid.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import structlog
from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.evaluator.adapters.sql.tables import trial_status
from services.evaluator.presentation import trial_text
from shared.eligibility.decision import Decision, Status
from shared.eligibility.readable import needs

log = structlog.get_logger(__name__)
SERVICE_ID = "trialwatch-patient-view"
CLOSE_UNKNOWN = 2
ALGORITHMS = ["ES384", "RS384", "ES256", "RS256", "ES512", "RS512", "PS384", "PS256"]
LEEWAY_S = 30


@dataclass(frozen=True, slots=True)
class TrustedIssuer:
    issuer: str
    jwks: str
    source_system: str


def trusted_issuers(configured: str) -> dict[str, TrustedIssuer]:
    """``EVALUATOR_CDS_ISSUERS`` read; raises ValueError on a malformed value (start fails)."""
    raw = json.loads(configured or "{}")
    if not isinstance(raw, dict):
        raise ValueError("EVALUATOR_CDS_ISSUERS must be a JSON object keyed by issuer")
    return {iss: TrustedIssuer(iss, str(v["jwks"]), str(v["source_system"]))
            for iss, v in raw.items()}


class JwtVerifier:
    """Verifies the CDS Client's JWT against the keys of its configured issuer."""

    def __init__(self, issuers: dict[str, TrustedIssuer]) -> None:
        self._issuers = issuers
        self._clients: dict[str, jwt.PyJWKClient] = {}
        self._seen: dict[str, float] = {}

    def verify(self, token: str, audience: str) -> tuple[TrustedIssuer, dict[str, Any]]:
        """The issuer and claims; raises ``jwt.PyJWTError`` (with why) otherwise."""
        unverified = jwt.decode(token, options={"verify_signature": False})
        issuer = self._issuers.get(str(unverified.get("iss", "")))
        if issuer is None:
            raise jwt.InvalidIssuerError("issuer not trusted")
        key = self._key(issuer, token)
        claims = jwt.decode(
            token, key, algorithms=ALGORITHMS, audience=audience, issuer=issuer.issuer,
            leeway=LEEWAY_S, options={"require": ["iss", "aud", "exp", "iat", "jti"]},
        )
        self._refuse_replay(str(claims["jti"]), float(claims["exp"]))
        return issuer, claims

    def _key(self, issuer: TrustedIssuer, token: str) -> Any:
        if issuer.jwks.startswith(("https://", "http://")):
            client = self._clients.setdefault(issuer.issuer, jwt.PyJWKClient(issuer.jwks))
            return client.get_signing_key_from_jwt(token).key
        kid = jwt.get_unverified_header(token).get("kid")
        keys = jwt.PyJWKSet.from_json(Path(issuer.jwks).read_text()).keys
        for candidate in keys:
            if kid is None or candidate.key_id == kid:
                return candidate.key
        raise jwt.InvalidKeyError("no configured key has this kid")

    def _refuse_replay(self, jti: str, exp: float) -> None:
        now = time.time()
        self._seen = {k: e for k, e in self._seen.items() if e + LEEWAY_S > now}
        if jti in self._seen:
            raise jwt.InvalidTokenError("jti already used")
        self._seen[jti] = exp


class HookContext(BaseModel):
    model_config = ConfigDict(extra="allow")

    userId: str = Field(max_length=200)
    patientId: str = Field(min_length=1, max_length=200)
    encounterId: str | None = Field(default=None, max_length=200)


class HookRequest(BaseModel):
    """A CDS Hooks 2.0 request (the fields this service reads; others are allowed)."""

    model_config = ConfigDict(extra="allow")

    hook: str = Field(max_length=64)
    hookInstance: str = Field(max_length=64)
    fhirServer: str | None = Field(default=None, max_length=500)
    context: HookContext


def router(sessions: async_sessionmaker[AsyncSession], verifier: JwtVerifier, intake_url: str,
           intake_token: str, public_url: str) -> APIRouter:
    api = APIRouter(tags=["CDS Hooks"])

    @api.get("/cds-services", summary="CDS Hooks discovery")
    async def discovery() -> dict[str, Any]:
        return {"services": [{
            "hook": "patient-view", "id": SERVICE_ID, "title": "TrialWatch trial eligibility",
            "description": "Trials this patient is eligible for, or close to, with what is "
                           "missing; links to the coordinator's patient page.",
            "prefetch": {},
        }]}

    @api.post(f"/cds-services/{SERVICE_ID}", summary="patient-view: trial cards")
    async def patient_view(request: Request, body: HookRequest) -> dict[str, Any]:
        base = (public_url or str(request.base_url)).rstrip("/")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a CDS Client JWT is required",
                                headers={"WWW-Authenticate": "Bearer"})
        try:
            issuer, _ = verifier.verify(token.strip(), f"{base}/cds-services/{SERVICE_ID}")
        except (jwt.PyJWTError, OSError, ValueError) as error:
            log.warning("cds hooks jwt refused", error=type(error).__name__)
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "the CDS Client JWT is not valid",
                                headers={"WWW-Authenticate": "Bearer"}) from None
        if body.hook != "patient-view":
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "this service answers patient-view")
        key = await _patient_key(intake_url, intake_token, issuer, body.context.patientId)
        if key is None:
            return {"cards": []}
        async with sessions() as session:
            rows = (await session.execute(
                select(trial_status.c.trial_id, trial_status.c.status,
                       trial_status.c.unknown_criteria, trial_status.c.decision)
                .where(trial_status.c.patient_key == key)
                .order_by(trial_status.c.trial_id))).all()
        cards = [card for r in rows
                 if (card := _card(r, f"{base}/ui/patients/{key}/trials/{r.trial_id}"))]
        return {"cards": cards}

    return api


async def _patient_key(intake_url: str, token: str, issuer: TrustedIssuer,
                       patient_id: str) -> str | None:
    async with httpx.AsyncClient(timeout=3.0) as client:
        answer = await client.post(
            f"{intake_url}/patients/lookup",
            json={"source_system": issuer.source_system, "source_patient_id": patient_id,
                  "reason": f"CDS Hooks patient-view from {issuer.issuer}"[:500]},
            headers={"Authorization": f"Bearer {token}"})
    if answer.status_code == status.HTTP_404_NOT_FOUND:
        return None
    if answer.status_code != status.HTTP_200_OK:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY,
                            f"intake refused the patient look-up ({answer.status_code})")
    return str(answer.json()["patient_key"])


def _card(row: Any, link: str) -> dict[str, Any] | None:
    """An "info" card for an eligible or nearly eligible patient; None for anything else."""
    if row.decision is None:
        return None
    decision = Decision.model_validate(row.decision)
    title = trial_text(decision.trial).title
    if decision.status is Status.ELIGIBLE:
        summary = f"Eligible for trial {row.trial_id}"
        detail = f"**{title}**: every criterion is met. Contact the study coordinator."
    elif decision.status is Status.UNDETERMINED and row.unknown_criteria <= CLOSE_UNKNOWN:
        wanted = needs(decision)
        summary = f"Close to eligible for trial {row.trial_id}"
        detail = f"**{title}**: nothing excludes the patient; still needed:\n\n" + "\n".join(
            f"- {n.item} (criteria {', '.join(n.unblocks)})" for n in wanted)
    else:
        return None
    return {
        "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{link}#{decision.as_of.isoformat()}")),
        "summary": summary[:140], "indicator": "info", "detail": detail,
        "source": {"label": "TrialWatch"},
        "links": [{"label": "Open in TrialWatch", "url": link, "type": "absolute"}],
    }
