"""Refill a fresh broker from the evaluator's outbox: every decision and alert goes out again.

The embedded broker (Tansu with ``memory://`` storage) forgets every record when it stops, so
decisions the evaluator had published (and marked published) may never have reached audit.
``trialwatch run`` calls this each time it starts a fresh broker, before the evaluator starts:
every outbox row becomes unpublished again, and the evaluator publishes its whole backlog in
outbox order before it consumes anything (``EvaluatorOutbox.publish_backlog``, the one relay
of ``shared.infra.outbox``), so each patient's decisions keep their order ahead of newer ones.
Audit drops the ones it already holds by decision id. Never needed with a durable broker
(Apache Kafka).
"""

from __future__ import annotations

from sqlalchemy import update

from services.evaluator.adapters.sql.dialects import immediate_sqlite_transactions
from services.evaluator.adapters.sql.tables import outbox
from shared.infra.sql_engine import make_engine


async def requeue_outbox(database_url: str) -> int:
    """Mark every published outbox row unpublished again; returns how many were requeued."""
    engine = make_engine(database_url)
    immediate_sqlite_transactions(engine)
    try:
        async with engine.begin() as connection:
            result = await connection.execute(
                update(outbox).where(outbox.c.published_at.is_not(None)).values(published_at=None)
            )
            return int(result.rowcount or 0)
    finally:
        await engine.dispose()
