"""Coordinator actions on SQL: the ``ActionStore`` port's adapter (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from services.audit.adapters.sql.tables import coordinator_actions


class SqlActionStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, rows: Sequence[dict[str, Any]]) -> None:
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        async with self._engine.begin() as connection:
            await connection.execute(
                dialect.insert(coordinator_actions).on_conflict_do_nothing(), list(rows))
