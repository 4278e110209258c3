"""Intake's HTTP API: thin routes over the use cases. OpenAPI at /docs."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Body, Depends, FastAPI, Header, Path, Request, Response, Security
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, model_serializer

from services.intake.adapters import metrics
from services.intake.adapters.http.body import read_limited_body
from services.intake.adapters.http.problems import install_problem_handlers, problem_responses
from services.intake.adapters.telemetry import count_refusal, log_acceptance
from services.intake.core.accept import DEFAULT_PUBLISH_LIMIT, Submission, accept
from services.intake.core.idempotency import IDEMPOTENCY_KEY_PATTERN
from services.intake.core.input_formats import InputFormat, input_formats
from services.intake.core.lookup import look_up, source_identity
from services.intake.core.media import media_type
from services.intake.core.ports import (
    Reidentification,
    ScreenedCodes,
    UnitOfWork,
)
from services.intake.core.pseudonyms import SURROGATE_KEY_PATTERN
from services.intake.core.publish_limit import PublishLimit
from services.intake.core.receipts import Note, Receipt
from services.intake.core.refusals import Refusal
from services.intake.core.reidentify import OutsideSites, reidentify
from shared.contracts.envelope import REASON_MAX_LENGTH
from shared.contracts.events import SITE_PATTERN
from shared.infra.auth import (
    BEARER,
    Principal,
    Role,
    SiteChoiceRefused,
    refuse,
    require_role,
    require_trial,
    submitting_site,
)
from shared.infra.problem_error import Problem
from shared.infra.server import ParsedOnceRoute
from shared.settings import IntakeSettings
from shared.version import VERSION

DESCRIPTION = """\
Upstream lab and EHR systems post FHIR R4 JSON (one resource or a Bundle) or HL7 v2 ORU^R01
messages. Each accepted submission is durable in intake's database before the **202**
receipt, and is published to Kafka as `PatientUpdated` events keyed by a surrogate patient
key. Re-sending the same content (same resource id and version) or the same
`Idempotency-Key` returns the original receipt and publishes nothing new.

Errors are RFC 9457 problem documents (`application/problem+json`): 400 malformed, 413 too
large, 415 wrong media type, 422 not normalisable (every problem listed with its path).
A FHIR `transaction` Bundle is all or nothing; the entries of a `batch`, `collection` or
`message` Bundle are accepted or refused one by one: the 202 receipt's `entries` says which
(refused entries with every problem and its path), and 422 only when every entry is refused.
A receipt's `outcome` is `partly refused` when an entry was refused (nothing of that entry was
kept) and its `summary` names each refused entry, why, and what was accepted.
The receipt's `warnings` list every element not read exactly (path + reason).
Every route needs a bearer token: `lab-system` posts, `coordinator` re-identifies.
"""



@dataclass(frozen=True, slots=True)
class IntakeRuntime:
    """What the routes need, set on ``app.state.intake`` by the composition root."""

    settings: IntakeSettings
    transaction: UnitOfWork
    clock: Callable[[], datetime]
    on_accepted: Callable[[], None]
    publish_limit: PublishLimit = DEFAULT_PUBLISH_LIMIT
    # the codes the active trials' criteria read: receipts name what none reads
    screened: ScreenedCodes | None = None


class NoteBody(BaseModel):
    path: str = Field(description="where in the input: FHIRPath-like, or e.g. OBX[2].5")
    reason: str
    codes: list[str] = Field(default=[], description=(
        "only on a warning that a result, condition or medication is screened by no active "
        "trial's criteria: its codes, each 'system|code' (absent otherwise)"))

    @model_serializer(mode="wrap")
    def _without_empty_codes(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """``codes`` only when there are some, as ``Receipt.details`` writes a note."""
        said: dict[str, Any] = handler(self)
        if not said.get("codes"):
            said.pop("codes", None)
        return said


class EntryBody(BaseModel):
    path: str = Field(description="Bundle.entry[n], or the resource type for a single "
                      "resource; for HL7 v2 the segment (OBX[2]: the message's second OBX)")
    resource_type: str | None = Field(default=None, description="FHIR resource type, or the "
                                      "HL7 v2 segment name")
    outcome: str = Field(description="'accepted', 'refused' or 'ignored' (a type or segment "
                         "not read); for an HL7 v2 OBX also 'unread' (kept as an unread "
                         "result: criteria reading it are unknown; the warnings say why)")
    problems: list[NoteBody] = Field(default=[], description="why it was refused")
    warnings: list[NoteBody] = Field(default=[], description="elements not read exactly")


class ReceiptBody(BaseModel):
    receipt_id: UUID
    received_at: datetime
    format: str = Field(description="the input format's name: "
                        + " or ".join(repr(f.name) for f in input_formats()))
    outcome: str = Field(description="'accepted', or 'partly refused' when an entry of a "
                         "batch, collection or message Bundle was refused: nothing of a refused "
                         "entry was kept (FHIR R4 http, Batches and transactions: such entries "
                         "succeed or fail one by one); read 'summary' and 'entries'")
    summary: str = Field(description="one sentence: what was refused (path, resource type, "
                         "first problem), that nothing of it was kept, what to do, and what "
                         "was accepted")
    patient_keys: list[str] = Field(description="surrogate keys of the patients in the input")
    event_ids: list[UUID] = Field(description="PatientUpdated events queued for publication")
    entries: list[EntryBody] = Field(
        default=[],
        description="FHIR: what became of each entry (a batch, collection or message Bundle's "
                    "entries are accepted or refused one by one; a transaction is all or nothing)")
    warnings: list[NoteBody] = Field(
        default=[],
        description="every element not read exactly: kept unread (criteria reading it are "
                    "unknown) or read with a warning (approximate time, unit inferred ...)")

    @classmethod
    def of(cls, receipt: Receipt) -> ReceiptBody:
        return cls(receipt_id=receipt.receipt_id, received_at=receipt.received_at,
                   format=receipt.format, outcome=receipt.outcome, summary=receipt.summary,
                   patient_keys=list(receipt.patient_keys),
                   event_ids=list(receipt.event_ids),
                   entries=[EntryBody(path=e.path, resource_type=e.resource_type,
                                      outcome=e.outcome, problems=[_note(n) for n in e.problems],
                                      warnings=[_note(n) for n in e.warnings])
                            for e in receipt.entries],
                   warnings=[_note(n) for n in receipt.warnings])


def _note(note: Note) -> NoteBody:
    return NoteBody(path=note.path, reason=note.reason, codes=list(note.codes))


def receipt_json(receipt: Receipt) -> bytes:
    """The JSON body of ``ReceiptBody.of(receipt)`` as FastAPI's response model sent it (its
    ``model_dump(mode="json")`` rendered by ``JSONResponse``: same keys, order, UUIDs and
    instants, compact, UTF-8), built directly with orjson. Validating the receipt into the
    response model, then FastAPI re-validating and encoding it, took about a tenth of a
    single-resource POST's CPU (issue 13). A string orjson refuses (a lone surrogate) is
    rendered as ``JSONResponse`` does."""
    document = {
        "receipt_id": str(receipt.receipt_id),
        "received_at": _instant(receipt.received_at),
        "format": receipt.format,
        "outcome": receipt.outcome,
        "summary": receipt.summary,
        "patient_keys": list(receipt.patient_keys),
        "event_ids": [str(event_id) for event_id in receipt.event_ids],
        **receipt.details(),  # entries (path, resource_type, outcome, problems, warnings), warnings
    }
    try:
        return orjson.dumps(document)
    except orjson.JSONEncodeError:
        return json.dumps(document, ensure_ascii=False, allow_nan=False, indent=None,
                          separators=(",", ":")).encode("utf-8")


def _instant(value: datetime) -> str:
    """As pydantic serialises a datetime: ISO 8601, ``Z`` for UTC."""
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


# A reason: no control character, and at least one character that is neither space nor
# control. Written ``\S`` alone, the one required character could itself be a control
# character (``\S`` matches U+0000): a NUL reached PostgreSQL, which cannot store it (a 500
# found by tests/integration/intake/test_fuzz_api.py).
REASON_PATTERN = r"^[^\x00-\x1f]*[^\s\x00-\x1f][^\x00-\x1f]*$"


class ReidentifyRequest(BaseModel):
    trial: str = Field(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
                       description="the trial the coordinator acts for; must be in the token's "
                                   "trial claims")
    reason: str = Field(min_length=8, max_length=REASON_MAX_LENGTH,
                        pattern=REASON_PATTERN,
                        description="why the coordinator needs the identity (stored in the "
                                    "access log, never written to the service log)")


class LookupRequest(BaseModel):
    # No control characters: identifiers never hold them (normalise.identifier_problem), and
    # PostgreSQL text cannot hold NUL at all (a 500 found by tests/integration/intake/
    # test_fuzz_api.py).
    source_system: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$",
                               description="the system that sent the patient (its client name)")
    source_patient_id: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$",
                                   description="the patient's id in that system")
    fhir_patient_id: bool = Field(
        default=False,
        description="source_patient_id is a FHIR R4 Patient.id (as CDS Hooks 1.0 "
                    "context.patientId is), looked up as that resource, never as an "
                    "identifier value; false: an identifier value (an MRN, HL7 v2 PID-3)")
    reason: str = Field(min_length=8, max_length=REASON_MAX_LENGTH,
                        pattern=REASON_PATTERN,
                        description="why the key is needed (kept in the access log)")


class PatientKeyBody(BaseModel):
    patient_key: str


class IdentifierBody(BaseModel):
    """A FHIR R4 Identifier as the source sent it: ``system`` (Identifier.system, "the
    namespace for the identifier value", a URI naming the assigning authority's scheme) and
    ``value`` (Identifier.value)."""

    system: str
    value: str


class SourceIdentityBody(BaseModel):
    """Who a surrogate key is at its source. ``source_system``: the sending client's name at
    intake; ``source_patient_id``: the identifier there (HL7 v2 PID-3 CX.1, the MR-typed
    repetition first; FHIR: the MR-typed Patient.identifier value, else the resource id);
    ``identifier_system``: the Identifier.system sent with that value, exactly as received
    (HL7 v2: PID-3 CX-4, the assigning authority, as ``urn:oid:<id>`` for an ISO universal id,
    ``urn:uuid:<id>`` for a UUID, the URI itself for a URI; v2.5.1 2.A.14 CX, 2.A.33 HD), or
    null when the source sent none (an HL7 v2 authority named only by a local namespace id; a
    FHIR identifier without a system, or the resource id); ``identifiers``: only the
    identifiers (system and value) that find the patient in the EHR, minimum necessary: its
    medical record numbers (FHIR Identifier.type MR, HL7 v2 table 0203), else the one intake
    keyed it by; never the others the source sent (social security, driver's licence,
    passport numbers). Identifier.assigner (a reference to the assigning organisation) is not
    kept by intake, so it is never returned."""

    patient_key: str
    source_system: str
    source_patient_id: str
    identifier_system: str | None = None
    identifiers: list[IdentifierBody] = Field(default_factory=list)


def _runtime(request: Request) -> IntakeRuntime:
    runtime: IntakeRuntime = request.app.state.intake
    return runtime


def _body(media_types: tuple[str, ...], schema: dict[str, Any], example: Any) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {
        media: {"schema": schema, "example": example} for media in media_types
    }}}


Poster = Annotated[Principal, Depends(require_role(Role.LAB_SYSTEM))]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", pattern=IDEMPOTENCY_KEY_PATTERN,
           description="re-sending with the same key returns the original receipt "
                       "(1-200 printable ASCII characters)"),
]
SiteHeader = Annotated[
    str | None,
    Header(alias="TrialWatch-Site", pattern=SITE_PATTERN, max_length=64,
           description="which of the token's claimed sites this submission is for: required "
                       "when the token claims several, optional (and must match) with one, "
                       "refused (403) when the token claims none of that name"),
]
_POST_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"description": "Accepted: durable, will be published"},
    **problem_responses(400, 401, 403, 413, 415, 422),
}

router = APIRouter(dependencies=[Security(BEARER)], route_class=ParsedOnceRoute)


def _poster(input_format: InputFormat) -> Callable[..., Awaitable[Response]]:
    async def post(request: Request, principal: Poster,
                   idempotency_key: IdempotencyKey = None,
                   site: SiteHeader = None) -> Response:
        return await _submit(request, principal, input_format.name, idempotency_key, site)

    return post


def _format_routes() -> APIRouter:
    """One POST route per registered input format (``services/intake/core/formats``)."""
    api_router = APIRouter(dependencies=[Security(BEARER)], route_class=ParsedOnceRoute)
    for input_format in input_formats():
        name = "post_" + input_format.route.strip("/").replace("/", "_").replace("-", "_")
        api_router.add_api_route(
            input_format.route, _poster(input_format), methods=["POST"], name=name,
            status_code=202, response_model=ReceiptBody, responses=_POST_RESPONSES,
            summary=input_format.summary, description=input_format.description or None,
            tags=["submissions"],
            openapi_extra=_body(input_format.media_types, input_format.body_schema,
                                input_format.example),
        )
    return api_router


async def _submit(request: Request, principal: Principal, expected: str,
                  idempotency_key: str | None, named_site: str | None = None) -> Response:
    runtime = _runtime(request)
    try:
        site = submitting_site(principal, named_site)
    except SiteChoiceRefused as refused:
        raise refuse(request, principal, refused.status_code, refused.reason,
                     refused.detail, slug=refused.slug) from None
    try:
        media = media_type(request.headers.get("content-type"), expected)
        body = await read_limited_body(request, runtime.settings.max_body_bytes)
        with metrics.ACCEPT_SECONDS.time():
            submission = Submission(body=body, media=media, client=principal.client,
                                    received_at=runtime.clock(), idempotency_key=idempotency_key,
                                    sender_zone=runtime.settings.hl7v2_zone(principal.client),
                                    site_mrn_authority=runtime.settings.mrn_authority(),
                                    processing_ids=runtime.settings.hl7v2_processing_id_set(),
                                    site=site)
            acceptance = await accept(submission, runtime.transaction, runtime.clock,
                                      runtime.publish_limit, runtime.screened)
    except Refusal as refusal:
        count_refusal(refusal, channel="http", format_name=expected)
        raise
    runtime.on_accepted()
    outcome = "replayed" if acceptance.replayed else "accepted"
    metrics.SUBMISSIONS.labels("http", expected, outcome).inc()
    log_acceptance(acceptance, channel="http", client=principal.client)
    headers = {"Location": f"/receipts/{acceptance.receipt.receipt_id}"}
    if acceptance.replayed:
        headers["Idempotent-Replayed"] = "true"
    # the body the response model (ReceiptBody, in the OpenAPI document) describes
    return Response(receipt_json(acceptance.receipt), status_code=202,
                    media_type="application/json", headers=headers)


@router.get(
    "/receipts/{receipt_id}", response_model=ReceiptBody, tags=["submissions"],
    summary="A receipt issued earlier to the same client",
    responses=problem_responses(401, 403, 404, 422),
)
async def get_receipt(receipt_id: UUID, request: Request, principal: Poster) -> ReceiptBody:
    runtime = _runtime(request)
    async with runtime.transaction() as store:
        receipt = await store.receipt(receipt_id)
    if receipt is None or (receipt.client != principal.client and principal.role is not Role.ADMIN):
        raise Problem("receipt-not-found", "no such receipt for this client")
    return ReceiptBody.of(receipt)


@router.post(
    "/patients/{patient_key}/reidentify", response_model=SourceIdentityBody, tags=["patients"],
    summary="Turn a surrogate key back into the source identifier (audited)",
    responses=problem_responses(401, 403, 404, 422),
)
async def post_reidentify(
    patient_key: Annotated[str, Path(pattern=SURROGATE_KEY_PATTERN)],
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(require_role(Role.COORDINATOR))],
    body: Annotated[ReidentifyRequest, Body()],
) -> SourceIdentityBody:
    runtime = _runtime(request)
    require_trial(request, principal, body.trial)
    entry = Reidentification(patient_key=patient_key, client=principal.client,
                             role=principal.role.value, reason=body.reason,
                             at=runtime.clock(), trial=body.trial, sites=principal.site_scope)
    response.headers["Cache-Control"] = "no-store"
    try:
        identity = await reidentify(entry, runtime.transaction)
    except OutsideSites:
        # answered exactly as an unknown key: the patient's existence is not confirmed
        raise refuse(request, principal, 404, "site_not_in_claims", "no such patient key",
                     slug="patient-not-found", patient_key=patient_key) from None
    if identity is None:
        raise Problem("patient-not-found", "no such patient key")
    systems = list(dict.fromkeys(system for system, value in identity.identifiers
                                 if value == identity.source_patient_id))
    return SourceIdentityBody(
        patient_key=patient_key, source_system=identity.source_system,
        source_patient_id=identity.source_patient_id,
        # one system only: a value sent under two systems is ambiguous, so none is claimed
        identifier_system=systems[0] if len(systems) == 1 else None,
        identifiers=[IdentifierBody(system=system, value=value)
                     for system, value in identity.identifiers])


@router.post(
    "/patients/lookup", response_model=PatientKeyBody, tags=["patients"],
    summary="Find the surrogate key of a source patient (audited; for CDS Hooks)",
    responses=problem_responses(401, 403, 404, 422),
)
async def post_lookup(
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(require_role(Role.COORDINATOR))],
    body: Annotated[LookupRequest, Body()],
) -> PatientKeyBody:
    runtime = _runtime(request)
    entry = Reidentification(patient_key="", client=principal.client, role=principal.role.value,
                             reason=f"lookup: {body.reason}", at=runtime.clock(),
                             sites=principal.site_scope)
    response.headers["Cache-Control"] = "no-store"
    try:
        key = await look_up(source_identity(body.source_system, body.source_patient_id,
                                            fhir_patient_id=body.fhir_patient_id),
                            entry, runtime.transaction)
    except OutsideSites as hidden:
        raise refuse(request, principal, 404, "site_not_in_claims",
                     "no patient with that source identity", slug="source-identity-not-found",
                     patient_key=str(hidden)) from None
    if key is None:
        raise Problem("source-identity-not-found", "no patient with that source identity")
    return PatientKeyBody(patient_key=key)


def create_api(**fastapi_options: Any) -> FastAPI:
    app = FastAPIOffline(title="TrialWatch intake", version=VERSION, description=DESCRIPTION,
                  **fastapi_options)
    app.include_router(_format_routes())
    app.include_router(router)
    install_problem_handlers(app)
    return app
