"""The admin entry points the CLI may call (``services.cli`` imports nothing else of intake).

``requeue_outbox`` refills a fresh broker from intake's outbox: every accepted update goes out
again, in order.

The embedded broker (Tansu with ``memory://`` storage) forgets every record when it stops, so
events intake had already published (and marked published) may never have reached the
evaluator. ``trialwatch run`` calls this each time it starts a fresh broker, before intake
starts: every outbox row becomes pending again and the relay republishes them oldest first,
ahead of anything accepted later, so each patient's events keep their order. The evaluator
drops the ones it already applied by event id. Never needed with a durable broker (Apache
Kafka), whose log outlives a restart.
"""

from __future__ import annotations

from sqlalchemy import update

from services.intake.adapters.sql.database import make_intake_engine
from services.intake.adapters.sql.tables import outbox


async def requeue_outbox(database_url: str) -> int:
    """Mark every published outbox row pending again; returns how many rows were requeued."""
    engine = make_intake_engine(database_url)
    try:
        async with engine.begin() as connection:
            result = await connection.execute(
                update(outbox).where(outbox.c.published_at.is_not(None)).values(published_at=None)
            )
            return int(result.rowcount or 0)
    finally:
        await engine.dispose()
