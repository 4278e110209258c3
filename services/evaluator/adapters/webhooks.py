"""Coordinator webhooks: registered per trial, HMAC-signed, retried with back-off, auditable.

A delivery row is written in the same transaction as the alert, so an alert is never lost for a
webhook; the delivery loop posts it, and every attempt's outcome stays visible over the API.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.evaluator.adapters.sql.tables import webhook, webhook_delivery
from services.evaluator.adapters.trial_text import trial_name
from services.evaluator.adapters.webhook_secrets import SecretBox, SecretUnreadable
from shared.contracts.events import EligibilityAlert
from shared.hashing import canonical_json

SIGNATURE_HEADER = "X-TrialWatch-Signature"
TIMESTAMP_HEADER = "X-TrialWatch-Timestamp"
MAX_ATTEMPTS = 8
CLAIM_LEASE = timedelta(seconds=30)
_DELIVERY_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://trialwatch.org/ns/evaluator/delivery")


@dataclass(frozen=True, slots=True)
class PendingDelivery:
    delivery_id: str
    webhook_id: str
    url: str
    secret: str | None  # None when the stored secret cannot be opened with the configured key
    payload: dict[str, Any]
    attempts: int


def delivery_id(webhook_id: str, alert_id: uuid.UUID) -> str:
    """One delivery per webhook and alert, however often the alert is staged."""
    return str(uuid.uuid5(_DELIVERY_NAMESPACE, f"{webhook_id}|{alert_id}"))


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``timestamp.body``: the timestamp defeats replays."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def retry_delay(attempts: int) -> timedelta:
    """1 s, 2 s, 4 s ... capped at 5 minutes."""
    return timedelta(seconds=min(2 ** max(attempts - 1, 0), 300))


async def register(
    session: AsyncSession, box: SecretBox, trial_id: str, url: str, secret: str,
    created_by: str, now: datetime, sites: frozenset[str] | None = None,
) -> str:
    """A new webhook's id; its secret is stored sealed by ``box``, never in clear. ``sites``:
    the registering token's site scope (None: every site); only alerts of those sites are
    delivered to it."""
    webhook_id = str(uuid.uuid4())
    await session.execute(
        webhook.insert().values(
            webhook_id=webhook_id, trial_id=trial_id, url=url, secret=box.seal(secret),
            created_by=created_by, created_at=now,
            sites=sorted(sites) if sites is not None else None,
        )
    )
    return webhook_id


def delivery_row(webhook_id: str, alert: EligibilityAlert, now: datetime) -> dict[str, Any]:
    """A pending delivery, written in the same transaction as the alert it carries."""
    return {
        "delivery_id": delivery_id(webhook_id, alert.event_id),
        "webhook_id": webhook_id, "alert_id": str(alert.event_id),
        # the alert as published, plus the trial's id and short title a person recognises
        "payload": {**alert.model_dump(mode="json"),
                    "trial_name": trial_name(alert.trial.id, alert.trial.version)},
        "state": "pending", "attempts": 0, "next_attempt_at": now, "last_error": None,
        "last_status_code": None, "created_at": now, "delivered_at": None,
    }


async def claim_due(
    session: AsyncSession, box: SecretBox, now: datetime, limit: int = 50
) -> list[PendingDelivery]:
    """Due deliveries, leased for ``CLAIM_LEASE`` so the HTTP call happens outside any transaction.

    Each carries its webhook's secret opened by ``box`` (None when the key cannot open it).

    On PostgreSQL locked rows are skipped so processes share the work; a process that dies
    mid-delivery leaves the lease to expire and another attempt follows.
    """
    query = (
        select(webhook_delivery, webhook.c.url, webhook.c.secret)
        .join(webhook, webhook.c.webhook_id == webhook_delivery.c.webhook_id)
        .where(webhook_delivery.c.state == "pending", webhook_delivery.c.next_attempt_at <= now)
        .order_by(webhook_delivery.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True, of=webhook_delivery)
    )
    claimed = [
        PendingDelivery(r.delivery_id, r.webhook_id, r.url, _opened(box, r.secret), r.payload,
                        r.attempts)
        for r in await session.execute(query)
    ]
    if claimed:
        await session.execute(
            update(webhook_delivery)
            .where(webhook_delivery.c.delivery_id.in_([d.delivery_id for d in claimed]))
            .values(next_attempt_at=now + CLAIM_LEASE)
        )
    return claimed


def _opened(box: SecretBox, sealed: str) -> str | None:
    try:
        return box.open(sealed)
    except SecretUnreadable:
        return None


async def record_attempt(
    session: AsyncSession, delivery: PendingDelivery, now: datetime,
    status_code: int | None, error: str | None,
) -> None:
    attempts = delivery.attempts + 1
    delivered = error is None
    state = "delivered" if delivered else ("failed" if attempts >= MAX_ATTEMPTS else "pending")
    await session.execute(
        update(webhook_delivery)
        .where(webhook_delivery.c.delivery_id == delivery.delivery_id)
        .values(
            state=state, attempts=attempts, last_error=error, last_status_code=status_code,
            next_attempt_at=now + retry_delay(attempts),
            delivered_at=now if delivered else None,
        )
    )


def body_of(delivery: PendingDelivery) -> bytes:
    return canonical_json(delivery.payload)


async def deliveries_of(session: AsyncSession, webhook_id: str) -> Sequence[Any]:
    rows = await session.execute(
        select(webhook_delivery)
        .where(webhook_delivery.c.webhook_id == webhook_id)
        .order_by(webhook_delivery.c.created_at)
    )
    return rows.all()


async def owner(session: AsyncSession, webhook_id: str) -> str | None:
    """The client that registered the webhook; None when there is no such webhook."""
    found = await registration(session, webhook_id)
    return found[0] if found else None


async def registration(session: AsyncSession, webhook_id: str) -> tuple[str, str] | None:
    """(client that registered it, trial id) of a webhook; None when there is no such webhook."""
    query = select(webhook.c.created_by, webhook.c.trial_id).where(
        webhook.c.webhook_id == webhook_id)
    found = (await session.execute(query)).first()
    return (found.created_by, found.trial_id) if found else None
