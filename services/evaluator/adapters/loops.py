"""Background loops of the evaluator process: review timers, registry, webhook deliveries (the
outbox relay loop is ``shared.infra.outbox.OutboxRelay.run``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.evaluator.adapters import webhooks
from services.evaluator.adapters.metrics import TIMERS_FIRED, WEBHOOK_ATTEMPTS
from services.evaluator.adapters.outbox import EvaluatorOutbox, messages_of
from services.evaluator.adapters.sql import amendments
from services.evaluator.adapters.webhook_secrets import SecretBox, SecretUnreadable
from services.evaluator.adapters.webhook_targets import TargetRefused, check_target
from services.evaluator.core.clock import Clock
from services.evaluator.core.ports import Screener, UnitOfWork
from services.evaluator.core.review_timers import fire_due_timers
from services.evaluator.core.screening import ScreeningContext
from shared.contracts.events import DecisionMade
from shared.infra.backoff import Backoff
from shared.time import iso_z

log = structlog.get_logger(__name__)


async def forever(name: str, step: Callable[[], Awaitable[int]], interval_s: float) -> None:
    """Run ``step`` every ``interval_s``; again at once while it finds work; back off on errors."""
    backoff = Backoff(first_s=interval_s, max_s=10.0)
    while True:
        try:
            done = await step()
            backoff.reset()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning("background step failed", loop=name, error=type(error).__name__)
            await backoff.pause()
            continue
        if not done:
            await asyncio.sleep(interval_s)


def timer_step(
    uow: Callable[[], UnitOfWork], context: ScreeningContext, sender: EvaluatorOutbox,
) -> Callable[[], Awaitable[int]]:
    async def step() -> int:
        async with uow() as work:
            staged = await fire_due_timers(work, context)
        await sender.send(messages_of(staged))
        TIMERS_FIRED.inc(sum(isinstance(e, DecisionMade) for e in staged))
        return len(staged)

    return step


def registry_step(
    sessions: async_sessionmaker[AsyncSession], screener: Screener, folder: Path | None,
    clock: Clock, sender: EvaluatorOutbox | None = None,
) -> Callable[[], Awaitable[int]]:
    """Trial files new in the folder join the registry (a trial never seen is activated and
    every patient re-screened); an activation re-screen whose runner stopped is finished.
    ``folder`` None: no folder (a screener that is not the criteria engine). The folder is
    synced only when its files changed (``amendments.FolderSync``): an unchanged folder costs
    a ``stat`` per file. ``sender``: a re-screen's decisions are published as each chunk
    commits, like every other writer's rows (without it they wait for the relay loop's grace).
    The first step also stages every trial's registry state on ``trials.screening.v1``
    (``amendments.stage_screening_states``: nothing new when each was staged with its change)."""
    watch = amendments.FolderSync(folder) if folder is not None else None
    send = sender.send if sender is not None else None
    states_staged = False

    async def step() -> int:
        nonlocal states_staged
        if watch is not None:
            await watch.poll(sessions, screener, clock, send)
        if not states_staged:
            # once per process: every trial's registry state on trials.screening.v1 (intake)
            await amendments.stage_screening_states(sessions, screener, clock, send)
            states_staged = True
        await amendments.resume_unfinished(sessions, screener, clock, send)
        return 0  # polled at its interval, never in a tight loop

    return step


def webhook_step(
    sessions: async_sessionmaker[AsyncSession], client: httpx.AsyncClient, clock: Clock,
    box: SecretBox, allow_list: frozenset[str] = frozenset(),
) -> Callable[[], Awaitable[int]]:
    async def step() -> int:
        async with sessions.begin() as session:
            due = await webhooks.claim_due(session, box, clock())
        for delivery in due:
            await _attempt(sessions, client, delivery, clock, allow_list)
        return len(due)

    return step


async def _attempt(
    sessions: async_sessionmaker[AsyncSession],
    client: httpx.AsyncClient,
    delivery: webhooks.PendingDelivery,
    clock: Clock,
    allow_list: frozenset[str],
) -> None:
    body = webhooks.body_of(delivery)
    timestamp = iso_z(clock())
    status_code: int | None = None
    error: str | None = None
    try:
        if delivery.secret is None:
            raise SecretUnreadable("stored webhook secret cannot be opened with the configured "
                                   "key (EVALUATOR_WEBHOOK_KEY_FILE); register the webhook again")
        headers = {
            "content-type": "application/json",
            webhooks.TIMESTAMP_HEADER: timestamp,
            webhooks.SIGNATURE_HEADER: webhooks.sign(delivery.secret, timestamp, body),
        }
        # Checked again at delivery: the name may have been re-pointed since registration.
        await check_target(delivery.url, allow_list)
        response = await client.post(delivery.url, content=body, headers=headers)
        status_code = response.status_code
        if not response.is_success:
            error = f"HTTP {status_code}"
    except httpx.HTTPError as failure:
        error = f"{type(failure).__name__}: {failure}"[:500]
    except TargetRefused as refused:
        error = f"target refused: {refused}"[:500]
    except SecretUnreadable as unreadable:
        error = str(unreadable)[:500]
    WEBHOOK_ATTEMPTS.labels("delivered" if error is None else "failed").inc()
    async with sessions.begin() as session:
        await webhooks.record_attempt(session, delivery, clock(), status_code, error)
