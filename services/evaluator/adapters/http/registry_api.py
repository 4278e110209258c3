"""HTTP surface of the trial registry, for the admin role: validate and add a trial version
(the YAML as the request body), activate a version (re-screen runs in the background, progress
on GET), deactivate or retire a trial. Thin routes over ``trial_registry`` and ``amendments``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, tzinfo
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, status
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.evaluator.adapters.sql import amendments, trial_registry
from services.evaluator.adapters.sql.tables import registry_change
from services.evaluator.adapters.sql.trial_registry import RegistryRefused
from services.evaluator.core.clock import Clock
from services.evaluator.core.ports import Screener
from shared.contracts.envelope import REASON_MAX_LENGTH
from shared.eligibility.decision import TrialRef
from shared.eligibility.dictionary import render_markdown
from shared.eligibility.loader import TrialFileError
from shared.eligibility.trial_text import validate_text
from shared.infra.auth import Principal, Role, require_role
from shared.infra.problem_error import Problem
from shared.infra.server import ParsedOnceRoute

Admin = Annotated[Principal, Depends(require_role(Role.ADMIN))]
ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
MAX_TRIAL_FILE_BYTES = 1_000_000


class ProblemOut(BaseModel):
    line: int
    column: int
    criterion: str | None
    message: str
    expected: str


class Added(BaseModel):
    trial: TrialRef
    content_hash: str
    added: bool = Field(description="False when the identical text was already stored")


class StopRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=REASON_MAX_LENGTH)


def router(
    sessions: async_sessionmaker[AsyncSession],
    screener: Screener,
    clock: Clock,
    send: amendments.Send | None = None,
    zone: tzinfo = UTC,
) -> APIRouter:
    """``send``: the evaluator's outbox (``EvaluatorOutbox.send``): an activation's re-screen
    decisions and a stop's closing alerts are published right after their commit."""
    r = APIRouter(prefix="/trials", tags=["trial registry"], route_class=ParsedOnceRoute)
    running: set[asyncio.Task[int]] = set()

    async def body_text(request: Request) -> str:
        raw = await request.body()
        if len(raw) > MAX_TRIAL_FILE_BYTES:
            raise Problem("trial-file-too-large", "trial file too large")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Problem("trial-file-encoding", "the trial file is not UTF-8") from None

    @r.post("/validate", response_model=list[ProblemOut])
    async def validate(request: Request, _: Admin) -> list[ProblemOut]:
        """Every problem of the trial file in the body, with line, column and criterion."""
        text = await body_text(request)
        tables = amendments.screener_tables(screener)
        return [
            ProblemOut(
                line=p.line,
                column=p.column,
                criterion=p.criterion,
                message=p.message,
                expected=p.expected,
            )
            for p in validate_text(text, tables)
        ]

    @r.post(
        "",
        status_code=status.HTTP_201_CREATED,
        response_model=Added,
        openapi_extra={
            "requestBody": {
                "content": {"application/yaml": {"schema": {"type": "string"}}},
                "required": True,
            }
        },
    )
    async def add(request: Request, admin: Admin) -> Added:
        """Store a trial version (refused with every problem when it does not validate)."""
        text = await body_text(request)
        tables = amendments.screener_tables(screener)
        problems = validate_text(text, tables)
        if problems:
            raise Problem("invalid-trial-file", [str(p) for p in problems][:200])
        try:
            async with sessions.begin() as session:
                trial, digest, added = await trial_registry.add_version(
                    session, text, tables, f"api:{admin.client}", "upload", clock()
                )
        except RegistryRefused as error:
            raise Problem("registry-refused", str(error)) from None
        except TrialFileError as error:
            raise Problem("invalid-trial-file", str(error)) from None
        return Added(trial=trial, content_hash=digest, added=added)

    @r.post("/{trial_id}/versions/{version}/activate", status_code=status.HTTP_202_ACCEPTED)
    async def activate(
        trial_id: Annotated[str, Path(pattern=ID)],
        version: Annotated[str, Path(pattern=ID)],
        admin: Admin,
    ) -> dict[str, str]:
        """Activate a stored version; every known patient is re-screened in the background
        (a resumable job; see GET /trials/changes for its progress)."""
        trial = TrialRef(id=trial_id, version=version)
        async with sessions() as session:
            if (
                await trial_registry.stored_text(session, trial) is None
                and screener.text_of(trial) is None
            ):
                raise Problem("trial-version-not-found",
                              "this trial version is not in the registry")
        task = asyncio.create_task(
            amendments.activate_and_rescreen(
                sessions, screener, trial, clock, actor=f"api:{admin.client}", send=send
            )
        )
        running.add(task)
        task.add_done_callback(running.discard)
        return {"trial": trial_id, "version": version, "state": "activating"}

    @r.post("/{trial_id}/deactivate")
    async def deactivate(
        trial_id: Annotated[str, Path(pattern=ID)], stop: StopRequest, admin: Admin
    ) -> dict[str, object]:
        return await _stop(trial_id, "deactivate", stop.reason, admin)

    @r.post("/{trial_id}/retire")
    async def retire(
        trial_id: Annotated[str, Path(pattern=ID)], stop: StopRequest, admin: Admin
    ) -> dict[str, object]:
        return await _stop(trial_id, "retire", stop.reason, admin)

    async def _stop(trial_id: str, action: str, reason: str, admin: Principal) -> dict[str, object]:
        try:
            change, alerts = await amendments.stop_screening(
                sessions, trial_id, action, reason, f"api:{admin.client}", clock, zone
            )
        except RegistryRefused as error:
            raise Problem("registry-refused", str(error)) from None
        if send is not None:
            # the closing alerts, and the trial's new state for intake (trials.screening.v1)
            await amendments.send_committed(
                send, [*alerts, amendments.stopped_screening_message(change)])
        return {
            "trial": trial_id,
            "action": action,
            "change_id": change.change_id,
            "alerts_closed": len(alerts),
        }

    @r.get("/dictionary", response_class=PlainTextResponse,
           responses={200: {"content": {"text/markdown": {}}}})
    async def dictionary(_: Admin) -> PlainTextResponse:
        """The data dictionary (Markdown) of every trial version screened now: the registry's
        active versions, uploads included, and the shipped default of each trial the registry
        has no row for; with the data elements several of them share."""
        async with sessions() as session:
            trials = await trial_registry.active_trial_versions(session, screener)
        scope = ("Trials: every version active in the evaluator's trial registry when this was "
                 "generated (uploaded versions included).")
        return PlainTextResponse(render_markdown(trials, scope=scope), media_type="text/markdown")

    @r.get("/changes")
    async def changes(_: Admin) -> list[dict[str, object]]:
        """The registry changes, newest first: who, when, which text, re-screen progress."""
        async with sessions() as session:
            rows = (
                await session.execute(
                    select(registry_change).order_by(registry_change.c.seq.desc()).limit(200)
                )
            ).all()
        return [
            {
                "change_id": c.change_id,
                "at": c.at,
                "actor": c.actor,
                "action": c.action,
                "trial": c.trial_id,
                "version": c.version,
                "content_hash": c.content_hash,
                "reason": c.reason,
                "rescreen_done": c.rescreen_done,
                "rescreen_total": c.rescreen_total,
                "completed_at": c.completed_at,
            }
            for c in rows
        ]

    return r
