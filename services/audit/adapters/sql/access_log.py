"""Who looked at the audit trail: every auditor query, appended before its answer is sent."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.audit import metrics
from services.audit.adapters.sql.tables import access_log
from shared.hashing import canonical_json
from shared.infra.auth import Principal


class AccessLog:
    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime],
                 write_lock: asyncio.Lock) -> None:
        self._engine = engine
        self._clock = clock
        # Shared with the chain writer: SQLite has one writer at a time.
        self._write_lock = write_lock

    async def record(self, principal: Principal, action: str, query: dict[str, Any],
                     result_count: int | None = None) -> None:
        metrics.AUDITOR_QUERIES.labels(action=action).inc()
        async with self._write_lock, self._engine.begin() as connection:
            await connection.execute(insert(access_log).values(
                accessed_at=self._clock(), client=principal.client, role=principal.role.value,
                action=action, query=canonical_json(query).decode(), result_count=result_count,
            ))

    async def page(self, after: int | None, limit: int) -> list[dict[str, Any]]:
        query = select(access_log).order_by(access_log.c.id).limit(limit)
        if after is not None:
            query = query.where(access_log.c.id > after)
        async with self._engine.connect() as connection:
            return [dict(row) for row in (await connection.execute(query)).mappings()]
