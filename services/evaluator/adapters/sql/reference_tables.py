"""The reference tables the evaluator screens with, stored as data (``evaluator_reference_tables``).

Trial versions are stored by content hash (``trial_registry``); the shared tables they compile
against (``shared/trials/tables``) change on their own (a code removed from a value set), so
each set the evaluator loads is stored too, once per ``tables_hash`` (idempotent: every start
and every replica stores the same row or nothing). A decision names the hash in its parameters
(``table_version.content_hash``) and ``trialwatch audit replay`` reads the texts back here.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.evaluator.adapters.sql.dialects import insert_if_absent
from services.evaluator.adapters.sql.tables import reference_tables
from shared.eligibility.reference_tables import Tables, tables_hash


async def store_tables(session: AsyncSession, tables: Tables, now: datetime) -> bool:
    """Store ``tables`` (its texts, keyed by its ``content_hash``) unless already stored; True
    when this call stored them. Raises ``ValueError`` for tables not built from texts."""
    if not tables.content_hash or tables_hash(tables.texts) != tables.content_hash:
        raise ValueError("these reference tables were not read from texts: nothing to store")
    return await insert_if_absent(session, reference_tables, {
        "content_hash": tables.content_hash,
        "texts": json.dumps(tables.texts, sort_keys=True, ensure_ascii=False),
        "versions": json.dumps(tables.versions, sort_keys=True)[:400],
        "stored_at": now,
    })


async def store_screener_tables(session: AsyncSession, screener: object, now: datetime) -> bool:
    """``store_tables`` for the tables a screener compiles with (``CriteriaEngineScreener.tables``);
    False, storing nothing, for a screener without tables read from texts (a test's stand-in).
    Called by every writer of decisions before it screens: the service's start, and the CLI's
    activation and re-screen, which run with their own screener."""
    tables = getattr(screener, "tables", None)
    if not isinstance(tables, Tables) or not tables.content_hash:
        return False
    await store_tables(session, tables, now)
    return True


async def tables_by_hash(session: AsyncSession, digest: str) -> dict[str, str] | None:
    """File name -> YAML text of the stored tables with ``digest``, or None when none is stored.
    Raises ``ValueError`` when the stored texts no longer hash to ``digest`` (a changed row)."""
    stored = (await session.execute(
        select(reference_tables.c.texts).where(reference_tables.c.content_hash == digest)
    )).scalar_one_or_none()
    if stored is None:
        return None
    texts = json.loads(stored)
    if not isinstance(texts, dict) or tables_hash(texts) != digest:
        raise ValueError(f"the stored reference tables {digest} do not hash to {digest}")
    return {str(k): str(v) for k, v in texts.items()}
