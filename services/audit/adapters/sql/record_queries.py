"""Read side of the audit trail on SQL: filtered, cursor-paginated record queries (the
``RecordQueries`` port's adapter)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Select, exists, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.audit.adapters.sql.tables import records, snapshots
from services.audit.core.queries import RecordFilter


def _filtered(flt: RecordFilter) -> Select[Any]:
    query = select(records)
    if flt.patient_key is not None:
        query = query.where(records.c.patient_key == flt.patient_key)
    if flt.trial_id is not None:
        query = query.where(records.c.trial_id == flt.trial_id)
    if flt.trial_version is not None:
        query = query.where(records.c.trial_version == flt.trial_version)
    if flt.status is not None:
        query = query.where(records.c.status == flt.status)
    if flt.decided_from is not None:
        query = query.where(records.c.decided_at >= flt.decided_from)
    if flt.decided_to is not None:
        query = query.where(records.c.decided_at < flt.decided_to)
    if flt.sites is not None:  # a site-scoped token: its sites' records only (NULL never IN)
        query = query.where(records.c.site.in_(sorted(flt.sites)))
    return query


class SqlRecordQueries:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def page(self, flt: RecordFilter, after: int | None,
                   limit: int) -> list[dict[str, Any]]:
        """Records matching ``flt`` with sequence > ``after``, oldest first."""
        query = _filtered(flt).order_by(records.c.sequence).limit(limit)
        if after is not None:
            query = query.where(records.c.sequence > after)
        async with self._engine.connect() as connection:
            return [dict(row) for row in (await connection.execute(query)).mappings()]

    async def by_decision_id(self, decision_id: UUID) -> dict[str, Any] | None:
        query = select(records).where(records.c.decision_id == decision_id)
        async with self._engine.connect() as connection:
            row = (await connection.execute(query)).mappings().first()
        return dict(row) if row else None

    async def status_as_of(self, patient_key: str, trial_id: str, at: datetime,
                           trial_version: str | None = None) -> dict[str, Any] | None:
        """The latest decision, in record order, evaluated as of ``at`` or earlier (and so
        already made by ``at``): what TrialWatch said at that moment, never a later
        re-evaluation.

        "Latest" is the record order (``sequence``), the order the evaluator made a patient's
        decisions in, not the largest as-of alone: after a wall-clock step forward and its
        correction, decisions made during the step carry as-of instants ahead of the ones made
        after it, and ordering by as-of would keep answering with the stale stepped decision.
        """
        query = select(records).where(
            records.c.patient_key == patient_key, records.c.trial_id == trial_id,
            records.c.as_of <= at, records.c.decided_at <= at,
        )
        if trial_version is not None:
            query = query.where(records.c.trial_version == trial_version)
        query = query.order_by(records.c.sequence.desc()).limit(1)
        async with self._engine.connect() as connection:
            row = (await connection.execute(query)).mappings().first()
        return dict(row) if row else None

    async def snapshot(self, snapshot_hash: str,
                       sites: frozenset[str] | None = None) -> str | None:
        """The stored snapshot; with a site scope, only when a record of one of ``sites``
        was decided from it (a snapshot is content-addressed and not tied to one site)."""
        query = select(snapshots.c.snapshot).where(snapshots.c.snapshot_hash == snapshot_hash)
        if sites is not None:
            query = query.where(exists().where(
                records.c.snapshot_hash == snapshot_hash, records.c.site.in_(sorted(sites))))
        async with self._engine.connect() as connection:
            result: str | None = await connection.scalar(query)
        return result
