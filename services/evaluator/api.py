"""HTTP surface for coordinators: live alerts (SSE), webhooks and the worklist. Thin routes."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, HttpUrl
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.evaluator import webhooks
from services.evaluator.alert_stream import AlertStream
from services.evaluator.clock import Clock
from services.evaluator.worklist import worklist
from shared.infra.auth import Principal, Role, require_role

Coordinator = Annotated[Principal, Depends(require_role(Role.COORDINATOR))]
HEARTBEAT_S = 15.0


class WebhookRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [
            {"trial": "NCT06920433", "url": "https://coordinator.example.org/trialwatch"}
        ]},
    )

    trial: str = Field(description="trial id whose alerts are delivered")
    url: HttpUrl
    secret: str | None = Field(
        default=None, min_length=16,
        description="HMAC-SHA256 key; generated and returned once when omitted",
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
    decision_id: str
    as_of: datetime


def router(
    sessions: async_sessionmaker[AsyncSession], alerts: AlertStream, clock: Clock
) -> APIRouter:
    api = APIRouter(tags=["coordinators"])

    @api.get("/alerts/stream", summary="Live eligibility alerts (Server-Sent Events)",
             response_class=StreamingResponse)
    async def alert_stream(
        _: Coordinator, trial: Annotated[str | None, Query(description="only this trial")] = None,
    ) -> StreamingResponse:
        return StreamingResponse(_events(alerts, trial), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache"})

    @api.post("/webhooks", status_code=status.HTTP_201_CREATED, response_model=WebhookCreated,
              summary="Register a webhook for one trial's alerts")
    async def register_webhook(request: WebhookRequest, who: Coordinator) -> WebhookCreated:
        secret = request.secret or secrets.token_urlsafe(32)
        async with sessions.begin() as session:
            webhook_id = await webhooks.register(
                session, request.trial, str(request.url), secret, who.client, clock()
            )
        return WebhookCreated(webhook_id=webhook_id, trial=request.trial, url=str(request.url),
                              secret=secret)

    @api.get("/webhooks/{webhook_id}/deliveries", response_model=list[Delivery],
             summary="Every delivery of a webhook, with its attempts and last error")
    async def deliveries(webhook_id: str, who: Coordinator) -> list[Delivery]:
        async with sessions() as session:
            registered_by = await webhooks.owner(session, webhook_id)
            # Another coordinator's webhook is reported as absent, not as forbidden.
            if registered_by is None or (
                registered_by != who.client and who.role is not Role.ADMIN
            ):
                raise HTTPException(status.HTTP_404_NOT_FOUND, "no such webhook")
            rows = await webhooks.deliveries_of(session, webhook_id)
        return [Delivery.model_validate(r._mapping, from_attributes=False) for r in rows]

    @api.get("/worklist", response_model=list[WorklistItem],
             summary="Undetermined patients for a trial, closest to eligible first")
    async def get_worklist(
        _: Coordinator, trial: str, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[WorklistItem]:
        async with sessions() as session:
            entries = await worklist(session, trial, limit)
        return [
            WorklistItem(patient_key=e.patient_key, trial_version=e.trial_version,
                         unknown_criteria=e.unknown_criteria, missing=e.missing,
                         decision_id=e.decision_id, as_of=e.as_of)
            for e in entries
        ]

    return api


async def _events(alerts: AlertStream, trial: str | None) -> AsyncIterator[str]:
    yield ": connected\n\n"
    async with alerts.subscribe() as queue:
        while True:
            try:
                alert = await asyncio.wait_for(queue.get(), HEARTBEAT_S)
            except TimeoutError:
                yield ": heartbeat\n\n"
                continue
            if trial is None or alert.trial.id == trial:
                data = alert.model_dump_json()
                yield f"event: {alert.alert}\nid: {alert.event_id}\ndata: {data}\n\n"
