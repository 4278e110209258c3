"""The auditor API: query, export, explain and verify the decision record.

Every route needs the ``auditor`` role (or ``admin``), and every call is written to the
append-only access log (who, when, what filter) before the answer is sent.

Site scope (docs/audit.md "Site scope"): an auditor token with a ``sites`` claim sees only the
records of patients of those sites (each record keeps the site its decision was made for); a
record of another site, or without one, is answered exactly as an unknown one (404, same
detail) and logged ``site_not_in_claims`` with the surrogate key only; lists leave them out.
The access log names every site's patients and is refused to site-scoped tokens (403).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal, Protocol
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import AfterValidator

from services.audit.adapters.http.exports import export_csv, export_jsonl
from services.audit.adapters.http.models import (
    AccessEntryOut,
    AccessPage,
    AuditRecordOut,
    RecordPage,
    StatusAsOf,
)
from services.audit.core.chain_walk import Expectations, VerificationReport
from services.audit.core.checkpoints import CHECKPOINT_KEY_MAX_LENGTH, parse_checkpoint_key
from services.audit.core.ports import RecordQueries
from services.audit.core.queries import RecordFilter
from shared.eligibility.decision import Status
from shared.infra.auth import Principal, Role, refuse, require_role
from shared.infra.clock import utc_now
from shared.infra.http import MAX_CURSOR, QUERY_TEXT_MAX, QueryInstant
from shared.infra.problem_error import Problem
from shared.infra.server import ParsedOnceRoute
from shared.time import as_utc


class AccessLog(Protocol):
    """The append-only log of auditor queries (``adapters.sql.access_log``)."""

    async def record(self, principal: Principal, action: str, query: dict[str, Any],
                     result_count: int | None = None) -> None:
        """Append who asked what, before the answer is sent."""

    async def page(self, after: int | None, limit: int) -> list[dict[str, Any]]:
        """Entries with id > ``after``, oldest first."""


@dataclass(frozen=True, slots=True)
class AuditApi:
    """What the routes need, built by the composition root (``app.state.audit``)."""

    queries: RecordQueries
    access: AccessLog
    verify: Callable[[Expectations], Awaitable[VerificationReport]]
    """Walk with what the auditor gives from outside (``now`` is the service's clock)."""
    max_page_size: int


def _api(request: Request) -> AuditApi:
    api: AuditApi = request.app.state.audit
    return api


Auditor = Annotated[Principal, Depends(require_role(Role.AUDITOR))]
Api = Annotated[AuditApi, Depends(_api)]
router = APIRouter(tags=["audit"], route_class=ParsedOnceRoute)


def record_filter(
    patient_key: Annotated[str | None, Query(description="surrogate patient key",
                                             max_length=QUERY_TEXT_MAX,
                                             examples=["pk_3f9a1c2b7d"])] = None,
    trial_id: Annotated[str | None, Query(max_length=QUERY_TEXT_MAX,
                                          examples=["NCT06920433"])] = None,
    trial_version: Annotated[str | None, Query(max_length=QUERY_TEXT_MAX,
                                               examples=["2025-04-01"])] = None,
    status: Annotated[Status | None, Query()] = None,
    decided_from: Annotated[QueryInstant | None, Query(
        description="decision time, inclusive (ISO-8601 with offset)",
        examples=["2026-11-01T00:00:00Z"])] = None,
    decided_to: Annotated[QueryInstant | None, Query(
        description="decision time, exclusive", examples=["2026-12-01T00:00:00Z"])] = None,
) -> RecordFilter:
    return RecordFilter(
        patient_key=patient_key, trial_id=trial_id, trial_version=trial_version,
        status=status.value if status else None,
        decided_from=as_utc(decided_from) if decided_from else None,
        decided_to=as_utc(decided_to) if decided_to else None,
    )


Filter = Annotated[RecordFilter, Depends(record_filter)]


def _checkpoint_key(text: str) -> str:
    parse_checkpoint_key(text)  # ValueError -> 422 naming the parameter
    return text


CheckpointKey = Annotated[str, AfterValidator(_checkpoint_key)]
"""A query text ``parse_checkpoint_key`` reads (a sequence type would be a repeated parameter)."""


def _scoped(flt: RecordFilter, principal: Principal) -> RecordFilter:
    """``flt`` limited to the principal's sites (unchanged for a token without a claim)."""
    return replace(flt, sites=principal.site_scope)


def _hidden(request: Request, principal: Principal, row: dict[str, Any] | None,
            detail: str) -> HTTPException | None:
    """The 404 of an unknown record for a record of a site outside the principal's claims
    (logged ``site_not_in_claims`` with the surrogate key only); None when it may be seen."""
    if row is None or principal.may_see_site(row.get("site")):
        return None
    return refuse(request, principal, 404, "site_not_in_claims", detail,
                  slug="decision-not-found", patient_key=str(row["patient_key"])[:64])


@router.get("/decisions", response_model=RecordPage,
            summary="Query the decision history (filter, paginate by cursor)")
async def list_decisions(
    principal: Auditor, api: Api, flt: Filter,
    cursor: Annotated[int | None, Query(ge=0, le=MAX_CURSOR,
                                        description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_CURSOR,
                                description="page size (capped by AUDIT_MAX_PAGE_SIZE)")] = 100,
) -> RecordPage:
    limit = min(limit, api.max_page_size)
    flt = _scoped(flt, principal)
    rows = await api.queries.page(flt, cursor, limit)
    await api.access.record(principal, "query-decisions",
                            {**flt.as_log(), "cursor": cursor, "limit": limit}, len(rows))
    items = [AuditRecordOut.from_row(r) for r in rows]
    return RecordPage(items=items, next_cursor=items[-1].sequence if len(items) == limit else None)


@router.get("/decisions/export", summary="Export matching decisions as CSV or JSON Lines",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}})
async def export_decisions(
    principal: Auditor, api: Api, flt: Filter,
    format: Annotated[Literal["csv", "jsonl"], Query()] = "jsonl",
) -> StreamingResponse:
    flt = _scoped(flt, principal)
    await api.access.record(principal, "export-decisions", {**flt.as_log(), "format": format})
    if format == "csv":
        return StreamingResponse(export_csv(api.queries, flt), media_type="text/csv",
                                 headers={"Content-Disposition": "attachment; "
                                                                 "filename=decisions.csv"})
    return StreamingResponse(export_jsonl(api.queries, flt), media_type="application/x-ndjson")


@router.get("/decisions/{decision_id}", response_model=AuditRecordOut,
            summary="One stored decision by its decision id",
            responses={404: {"description": "no decision with this id"}})
async def get_decision(request: Request, principal: Auditor, api: Api,
                       decision_id: UUID) -> AuditRecordOut:
    row = await api.queries.by_decision_id(decision_id)
    hidden = _hidden(request, principal, row, "no decision with this id")
    await api.access.record(principal, "get-decision", {"decision_id": str(decision_id)},
                            1 if row and not hidden else 0)
    if hidden is not None:
        raise hidden
    if row is None:
        raise Problem("decision-not-found", "no decision with this id")
    return AuditRecordOut.from_row(row)


@router.get("/patients/{patient_key}/trials/{trial_id}/status", response_model=StatusAsOf,
            summary="A patient's status for a trial as of an instant, and why",
            responses={404: {"description": "no decision for this patient and trial by then"}})
async def status_as_of(
    request: Request, principal: Auditor, api: Api,
    patient_key: Annotated[str, Path(max_length=QUERY_TEXT_MAX)],
    trial_id: Annotated[str, Path(max_length=QUERY_TEXT_MAX)],
    at: Annotated[QueryInstant | None, Query(description="the instant asked about "
                                             "(default: now)",
                                             examples=["2026-11-25T04:00:00Z"])] = None,
    trial_version: Annotated[str | None, Query(max_length=QUERY_TEXT_MAX)] = None,
) -> StatusAsOf:
    at = at or utc_now()
    # The decision in force is found over every site, then judged: a site-scoped auditor is
    # never answered with an older record of its site when a later one is of another site.
    row = await api.queries.status_as_of(patient_key, trial_id, as_utc(at), trial_version)
    unknown = "no decision for this patient and trial by then"
    hidden = _hidden(request, principal, row, unknown)
    await api.access.record(principal, "status-as-of", {
        "patient_key": patient_key, "trial_id": trial_id, "at": at.isoformat(),
        "trial_version": trial_version}, 1 if row and not hidden else 0)
    if hidden is not None:
        raise hidden
    if row is None:
        raise Problem("decision-not-found", unknown)
    record = AuditRecordOut.from_row(row)
    return StatusAsOf(
        patient_key=patient_key, trial_id=trial_id, at=as_utc(at), status=record.status,
        trial_version=record.trial_version, as_of=record.as_of,
        decision_id=record.decision_id, sequence=record.sequence,
        criteria=record.decision.get("criteria", []),
    )


@router.get("/snapshots/{snapshot_hash}", summary="The input snapshot a decision was made from",
            responses={404: {"description": "unknown snapshot hash"}})
async def get_snapshot(
    principal: Auditor, api: Api, snapshot_hash: Annotated[str, Path(max_length=QUERY_TEXT_MAX)]
) -> StreamingResponse:
    body = await api.queries.snapshot(snapshot_hash, principal.site_scope)
    await api.access.record(principal, "get-snapshot", {"snapshot_hash": snapshot_hash},
                            1 if body else 0)
    if body is None:
        raise Problem("snapshot-not-found", "unknown snapshot hash")
    return StreamingResponse(iter([body.encode()]), media_type="application/json")


@router.get("/verify", response_model=VerificationReport,
            summary="Walk the hash chain and check it against the signed checkpoints")
async def verify(
    principal: Auditor, api: Api,
    min_checkpoint: Annotated[CheckpointKey | None, Query(
        max_length=CHECKPOINT_KEY_MAX_LENGTH,
        description="a checkpoint known from outside to have been written (noted off the audit "
                    "host): SEQ[-ACCESS[-ACTION]] (records, access entry id, coordinator action "
                    "chain_seq; each at most 2^63-1) or its file name checkpoint-SEQ-ACCESS-"
                    "ACTION.json, as `audit verify --min-checkpoint`. A newest trusted "
                    "checkpoint signing fewer records, access entries or actions is reported "
                    "`stale` in other_problems (later checkpoints deleted with what they alone "
                    "signed); anything else is 422 naming min_checkpoint",
        examples=["48-7-1"])] = None,
) -> VerificationReport:
    expected = parse_checkpoint_key(min_checkpoint) if min_checkpoint is not None else None
    report = await api.verify(Expectations(now=utc_now(), min_checkpoint=expected))
    given = {"min_checkpoint": "-".join(map(str, expected))} if expected else {}
    await api.access.record(principal, "verify", given, report.records_checked)
    return report


@router.get("/access-log", response_model=AccessPage,
            summary="Who queried the audit trail, when, with what filter")
async def list_access(
    request: Request, principal: Auditor, api: Api,
    cursor: Annotated[int | None, Query(ge=0, le=MAX_CURSOR)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_CURSOR)] = 100,
) -> AccessPage:
    if principal.site_scope is not None:
        await api.access.record(principal, "query-access-log",
                                {"cursor": cursor, "limit": limit, "refused": "site-scoped"}, 0)
        raise refuse(request, principal, 403, "site_scoped_token",
                     "the access log names every site's patients: a token without a sites "
                     "claim is needed", slug="site-scoped-token")
    limit = min(limit, api.max_page_size)
    rows = await api.access.page(cursor, limit)
    await api.access.record(principal, "query-access-log", {"cursor": cursor, "limit": limit},
                            len(rows))
    items = [AccessEntryOut.from_row(r) for r in rows]
    return AccessPage(items=items, next_cursor=items[-1].id if len(items) == limit else None)
