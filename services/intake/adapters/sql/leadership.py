"""Only one relay publishes a database's outbox at a time.

Two relays reading the same outbox would publish every event twice and could interleave one
patient's events out of order. On PostgreSQL (several intake replicas share one database) the
relay holds a session-level advisory lock on a dedicated connection: it is released when that
connection ends, so a crashed replica hands over without operator action. On SQLite a single
intake process owns the file, so leadership is trivially local.
"""

from __future__ import annotations

import contextlib
import hashlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.infra.sql_engine import is_sqlite

# A fixed 63-bit key derived from a name, so it cannot collide with another service's lock
# by accident.
RELAY_LOCK_KEY = int.from_bytes(hashlib.sha256(b"trialwatch.intake.outbox-relay").digest()[:8],
                                "big") >> 1


class RelayLeadership:
    def __init__(self, engine: AsyncEngine, url: str) -> None:
        self._engine = engine
        self._local = is_sqlite(url)
        self._connection: AsyncConnection | None = None

    async def hold(self) -> bool:
        """True while this process may relay; checks (and re-takes) the lock each call."""
        if self._local:
            return True
        if self._connection is not None:
            try:
                await self._connection.execute(text("SELECT 1"))
                return True
            except Exception:
                await self.release()
        connection = await self._engine.connect()
        try:
            taken = await connection.scalar(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": RELAY_LOCK_KEY})
            await connection.commit()
        except Exception:
            await connection.close()
            raise
        if not taken:
            await connection.close()
            return False
        self._connection = connection
        return True

    async def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        # The pool would keep the session (and its lock) alive: end the session itself.
        with contextlib.suppress(Exception):
            await connection.invalidate()
        with contextlib.suppress(Exception):
            await connection.close()
