"""HTTP surface for coordinators: live alerts (SSE), webhooks and the worklist. Thin routes."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi import Path as Path_
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, UrlConstraints
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.evaluator.adapters import webhooks
from services.evaluator.adapters.alert_stream import AlertStream, until_live
from services.evaluator.adapters.sql.worklist import worklist
from services.evaluator.adapters.webhook_secrets import SecretBox
from services.evaluator.adapters.webhook_targets import TargetRefused, check_target
from services.evaluator.core.clock import Clock
from shared.eligibility.readable import Need
from shared.infra.auth import Principal, Role, refuse, require_role, require_trial
from shared.infra.problem_error import Problem
from shared.infra.server import ParsedOnceRoute
from shared.time import UtcDatetime

Coordinator = Annotated[Principal, Depends(require_role(Role.COORDINATOR))]
HEARTBEAT_S = 15.0
TRIAL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
TrialId = Annotated[str, Query(pattern=TRIAL_ID_PATTERN, max_length=64,
                               description="a trial id (letters, digits, '.', '_', '-')")]
KnownTrials = Callable[[], Awaitable[set[str]]]


class WebhookRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [
            {"trial": "NCT06920433", "url": "https://coordinator.example.org/trialwatch"}
        ]},
    )

    trial: str = Field(description="trial id whose alerts are delivered",
                       pattern=TRIAL_ID_PATTERN, max_length=64)
    url: Annotated[HttpUrl, UrlConstraints(max_length=2048)] = Field(
        description="https or http URL on a public address (others need an allow-list entry)")
    secret: str | None = Field(
        default=None, min_length=16, max_length=128, pattern=r"^[\x21-\x7e]+$",
        description="HMAC-SHA256 key (printable ASCII); generated and returned once when omitted",
    )


class WebhookCreated(BaseModel):
    webhook_id: str
    trial: str
    url: str
    secret: str
    signature_header: str = webhooks.SIGNATURE_HEADER
    timestamp_header: str = webhooks.TIMESTAMP_HEADER


class Delivery(BaseModel):
    delivery_id: str
    alert_id: str
    state: str = Field(description="pending, delivered or failed (gave up)")
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime
    delivered_at: datetime | None


class WorklistItem(BaseModel):
    patient_key: str
    trial_version: str
    unknown_criteria: int
    missing: list[str] = Field(examples=[["platelet count within 30 days"]])
    needs: list[Need] = Field(
        description="what to send next, each item once, with the criteria it would settle")
    decision_id: str
    as_of: datetime
    last_received: UtcDatetime | None = Field(
        default=None, description="when intake received the patient's newest record "
                                  "(Provenance.received_at; aware UTC, ISO 8601); null when "
                                  "nothing was received (the worklist page's 'Last received')")


def _invalid(field: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"type": "value_error", "loc": ("body", field),
                                    "msg": message, "input": None}])


def router(
    sessions: async_sessionmaker[AsyncSession], alerts: AlertStream, clock: Clock,
    known_trials: KnownTrials, secret_box: SecretBox,
    webhook_allow_list: frozenset[str] = frozenset(),
) -> APIRouter:
    """Coordinator routes; each is scoped by the token's trial claims and, with a ``sites``
    claim, to patients of those sites (shared/infra/auth.py, deploy/SECURITY.md "Site scope"):
    the worklist and the stream leave other sites' patients out, a webhook registered by a
    site-scoped token is delivered only its sites' alerts.
    Webhook secrets are stored sealed by ``secret_box`` and returned only in the answer to
    their registration."""
    api = APIRouter(tags=["coordinators"], route_class=ParsedOnceRoute)

    @api.get("/alerts/stream", summary="Live eligibility alerts (Server-Sent Events)",
             response_class=StreamingResponse)
    async def alert_stream(
        request: Request, who: Coordinator,
        trial: Annotated[str | None, Query(description="only this trial", max_length=64,
                                           pattern=TRIAL_ID_PATTERN)] = None,
    ) -> StreamingResponse:
        if trial is not None:
            require_trial(request, who, trial)
        return StreamingResponse(_events(alerts, trial, who), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache"})

    @api.post("/webhooks", status_code=status.HTTP_201_CREATED, response_model=WebhookCreated,
              summary="Register a webhook for one trial's alerts")
    async def register_webhook(
        body: WebhookRequest, who: Coordinator, request: Request
    ) -> WebhookCreated:
        if body.trial not in await known_trials():
            raise _invalid("trial", "no such trial is screened here")
        require_trial(request, who, body.trial)
        try:
            await check_target(str(body.url), webhook_allow_list)
        except TargetRefused as refused:
            raise _invalid("url", str(refused)) from None
        secret = body.secret or secrets.token_urlsafe(32)
        async with sessions.begin() as session:
            webhook_id = await webhooks.register(
                session, secret_box, body.trial, str(body.url), secret, who.client, clock(),
                sites=who.site_scope)
        return WebhookCreated(webhook_id=webhook_id, trial=body.trial, url=str(body.url),
                              secret=secret)

    @api.get("/webhooks/{webhook_id}/deliveries", response_model=list[Delivery],
             summary="Every delivery of a webhook, with its attempts and last error")
    async def deliveries(
        webhook_id: Annotated[str, Path_(max_length=36)], who: Coordinator, request: Request
    ) -> list[Delivery]:
        async with sessions() as session:
            found = await webhooks.registration(session, webhook_id)
            # Another coordinator's webhook is reported as absent, not as forbidden.
            if found is None or (found[0] != who.client and who.role is not Role.ADMIN):
                raise Problem("webhook-not-found", "no such webhook")
            if not who.may_see_trial(found[1]):
                raise refuse(request, who, status.HTTP_404_NOT_FOUND, "trial_not_in_claims",
                             "no such webhook", slug="webhook-not-found", trial=found[1])
            rows = await webhooks.deliveries_of(session, webhook_id)
        return [Delivery.model_validate(r._mapping, from_attributes=False) for r in rows]

    @api.get("/worklist", response_model=list[WorklistItem],
             summary="Undetermined patients for a trial, closest to eligible first",
             responses={404: {"description": "no such active trial"}})
    async def get_worklist(
        request: Request, who: Coordinator, trial: TrialId,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[WorklistItem]:
        require_trial(request, who, trial)
        if trial not in await known_trials():
            raise Problem("trial-not-found",
                          "query parameter trial: no active trial with this id")
        async with sessions() as session:
            entries = await worklist(session, trial, limit, who.site_scope)
        return [
            WorklistItem(patient_key=e.patient_key, trial_version=e.trial_version,
                         unknown_criteria=e.unknown_criteria, missing=e.missing,
                         needs=list(e.needs),
                         decision_id=e.decision_id, as_of=e.as_of,
                         last_received=e.last_received)
            for e in entries
        ]

    return api


async def _events(alerts: AlertStream, trial: str | None, who: Principal) -> AsyncIterator[str]:
    async with alerts.subscribe() as queue:
        # ': connected' promises every alert from now on: said once the feed is positioned
        async for beat in until_live(alerts, HEARTBEAT_S):
            yield beat
        yield ": connected\n\n"
        while True:
            try:
                async with asyncio.timeout(HEARTBEAT_S):
                    alert = await queue.get()
            except TimeoutError:
                yield ": heartbeat\n\n"
                continue
            if (trial is None or alert.trial.id == trial) and who.may_see_trial(alert.trial.id) \
                    and who.may_see_site(alert.site):
                data = alert.model_dump_json()
                yield f"event: {alert.alert}\nid: {alert.event_id}\ndata: {data}\n\n"
