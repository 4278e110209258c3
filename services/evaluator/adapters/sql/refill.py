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

from services.evaluator.adapters.outbox import outbox_store
from services.evaluator.adapters.sql.dialects import immediate_sqlite_transactions
from shared.infra.sql_engine import make_engine, make_sessionmaker


async def requeue_outbox(database_url: str) -> int:
    """Mark every published outbox row unpublished again (not the rows an operator dropped:
    they were never published); returns how many were requeued."""
    engine = make_engine(database_url)
    immediate_sqlite_transactions(engine)
    try:
        return await outbox_store(make_sessionmaker(engine)).requeue()
    finally:
        await engine.dispose()
