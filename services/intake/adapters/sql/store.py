"""The SQL implementation of ``IntakeStore`` (SQLite and PostgreSQL), plus the outbox queries."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Table, and_, bindparam, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.intake.adapters.sql.database import WriteTurns
from services.intake.adapters.sql.holds import PatientHoldNotices
from services.intake.adapters.sql.tables import (
    outbox,
    outbox_dead_letters,
    patient_aliases,
    patient_merges,
    patients,
    receipt_keys,
    receipts,
    reidentifications,
)
from services.intake.core.ports import (
    Conflict,
    IntakeStore,
    Reidentification,
    Resolved,
    SourceIdentity,
    UnitOfWork,
)
from services.intake.core.receipts import Receipt, details_from_json
from shared.contracts.events import PatientMerged, PatientReidentified, PatientUpdated
from shared.contracts.topics import PATIENT_HOLDS, REIDENTIFICATIONS
from shared.infra.outbox_sql import OutboxColumns, SqlOutboxStore

IDENTIFIER_ALIAS = "identifier:"  # shared.clinical.fhir_patients.identifier_alias's namespace
RECORD_NUMBER_ALIAS = "mr:"  # shared.clinical.fhir_patients.RECORD_NUMBER_ALIAS

# Statements built once (issue 13): building a select with an IN list on every call was a
# large part of a submission's CPU (SQLAlchemy coercion and cache-key generation); these are
# compiled once per dialect and reused from SQLAlchemy's compiled cache.
_RECEIPT_KEYS = select(receipt_keys.c.dedup_key, receipt_keys.c.receipt_id).where(
    receipt_keys.c.dedup_key.in_(bindparam("keys", expanding=True)))
_RECEIPT = select(receipts).where(receipts.c.receipt_id == bindparam("receipt_id"))
_LINKED = (
    select(patient_aliases.c.alias, patient_aliases.c.patient_key)
    .where(patient_aliases.c.source_system == bindparam("source_system"),
           patient_aliases.c.alias.in_(bindparam("names", expanding=True)))
    .order_by(patient_aliases.c.alias).with_for_update()
)
_INSERT_OUTBOX = insert(outbox)
_INSERT_RECEIPT = insert(receipts)
_INSERT_RECEIPT_KEYS = insert(receipt_keys)
_LINK_NAMES = {
    name: dialect.insert(patient_aliases).on_conflict_do_nothing(
        index_elements=["source_system", "alias"])
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


class _SyncExecution:
    """A synchronous ``Connection`` behind the awaitable ``execute``/``scalar`` of a session:
    the coroutines complete without ever suspending, so a group commit can drive a whole
    submission's work inside one worker-thread call (``group_commit``)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        return self._connection.execute(statement, parameters)

    async def scalar(self, statement: Any, parameters: Any = None) -> Any:
        return self._connection.execute(statement, parameters).scalar()


class SqlIntakeStore:
    """``IntakeStore`` over one open transaction: an ``AsyncSession`` (aiosqlite, asyncpg), or
    a synchronous ``Connection`` whose calls complete without suspending (the SQLite group
    commit runs every member of a group in one worker-thread call)."""

    def __init__(self, session: AsyncSession | Connection, now: datetime) -> None:
        if isinstance(session, Connection):
            self._session: Any = _SyncExecution(session)
            self._dialect_name = session.dialect.name
        else:
            self._session = session
            self._dialect_name = session.get_bind().dialect.name
        self._now = now

    async def receipt_for(self, dedup_keys: Sequence[str]) -> Receipt | None:
        rows = (await self._session.execute(_RECEIPT_KEYS, {"keys": list(dedup_keys)})).all()
        found = {row.dedup_key: row.receipt_id for row in rows}
        # In the caller's order: an Idempotency-Key wins over the content key.
        receipt_id = next((found[key] for key in dedup_keys if key in found), None)
        return await self.receipt(receipt_id) if receipt_id is not None else None

    async def receipt(self, receipt_id: UUID) -> Receipt | None:
        row = (await self._session.execute(
            _RECEIPT, {"receipt_id": receipt_id})).mappings().first()
        if row is None:
            return None
        entries, warnings = details_from_json(row["details"])
        return Receipt(
            receipt_id=row["receipt_id"],
            client=row["client"],
            format=row["format"],
            received_at=row["received_at"],
            patient_keys=tuple(row["patient_keys"]),
            event_ids=tuple(UUID(e) for e in row["event_ids"]),
            entries=entries,
            warnings=warnings,
        )

    async def resolve_patient(
        self, identity: SourceIdentity, aliases: Sequence[str], new_key: str
    ) -> Resolved:
        names = _names(identity, aliases)
        found = await self._linked(identity.source_system, names)
        if not found:
            # A concurrent first sight of the same patient: the loser inserts nothing and reads
            # the winner's names (PostgreSQL waits for the winner's commit on the unique index).
            await self._session.execute(
                self._insert(patients)
                .values(patient_key=new_key, source_system=identity.source_system,
                        source_patient_id=identity.source_patient_id, created_at=self._now)
                .on_conflict_do_nothing(index_elements=["source_system", "source_patient_id"])
            )
            found = await self._linked(identity.source_system, names)
            if not found:
                owner = await self._session.scalar(select(patients.c.patient_key).where(
                    patients.c.source_system == identity.source_system,
                    patients.c.source_patient_id == identity.source_patient_id))
                if owner != new_key:
                    raise Conflict("patient key vanished after insert")
                found = {}
        keys = await self._oldest_first(list(dict.fromkeys(found.values())) or [new_key])
        survivor, merged = keys[0], tuple(keys[1:])
        for key in merged:
            await self.merge_patients(key, survivor, "same-patient")
        if merged or len(found) < len(names) or any(k != survivor for k in found.values()):
            # else every name already leads to the survivor: the insert would add nothing
            await self.link_names(identity.source_system, names, survivor)
        return Resolved(survivor, merged)

    async def find_patient(self, identity: SourceIdentity, aliases: Sequence[str]) -> str | None:
        found = await self._linked(identity.source_system, _names(identity, aliases))
        keys = await self._oldest_first(list(dict.fromkeys(found.values())))
        return keys[0] if keys else None

    async def link_names(
        self, source_system: str, names: Sequence[str], patient_key: str
    ) -> None:
        if not names:
            return
        await self._session.execute(
            _LINK_NAMES[self._dialect()],
            [{"source_system": source_system, "alias": name, "patient_key": patient_key,
              "created_at": self._now} for name in dict.fromkeys(names)])

    async def merge_patients(self, merged_key: str, surviving_key: str, reason: str) -> None:
        if merged_key == surviving_key:
            return
        await self._session.execute(
            update(patient_aliases).where(patient_aliases.c.patient_key == merged_key)
            .values(patient_key=surviving_key)
        )
        await self._session.execute(
            self._insert(patient_merges)
            .values(merged_key=merged_key, surviving_key=surviving_key, reason=reason,
                    merged_at=self._now)
            .on_conflict_do_nothing(index_elements=["merged_key"])
        )

    async def _linked(self, source_system: str, names: Sequence[str]) -> dict[str, str]:
        # FOR UPDATE (PostgreSQL; SQLite has one writer anyway) serialises transactions about
        # the same patient, so that patient's outbox ids are allocated in commit order and the
        # relay, reading in id order, publishes them in that order.
        rows = await self._session.execute(
            _LINKED, {"source_system": source_system, "names": list(names)})
        return {row.alias: row.patient_key for row in rows}

    async def _oldest_first(self, keys: list[str]) -> list[str]:
        if len(keys) < 2:
            return keys
        rows = await self._session.execute(
            select(patients.c.patient_key, patients.c.created_at)
            .where(patients.c.patient_key.in_(keys))
        )
        created = {row.patient_key: row.created_at for row in rows}
        return sorted(keys, key=lambda key: (created.get(key) is None, created.get(key), key))

    def _dialect(self) -> str:
        return "postgresql" if self._dialect_name == "postgresql" else "sqlite"

    def _insert(self, table: Table) -> Any:
        return (postgresql.insert if self._dialect() == "postgresql" else sqlite.insert)(table)

    async def add_to_outbox(
        self, events: Sequence[PatientUpdated | PatientMerged | PatientReidentified], topic: str,
        payloads: Sequence[str] | None = None,
    ) -> None:
        if not events:
            return
        stored = payloads if payloads is not None else [e.model_dump_json() for e in events]
        await self._session.execute(_INSERT_OUTBOX, [
            {"event_id": event.event_id, "topic": topic, "message_key": event.patient_key,
             "payload": payload, "created_at": self._now}
            for event, payload in zip(events, stored, strict=True)
        ])

    async def add_receipt(self, receipt: Receipt, dedup_keys: Sequence[str]) -> None:
        await self._session.execute(_INSERT_RECEIPT, dict(
            receipt_id=receipt.receipt_id, client=receipt.client, format=receipt.format,
            received_at=receipt.received_at, patient_keys=list(receipt.patient_keys),
            event_ids=[str(e) for e in receipt.event_ids], details=receipt.details(),
        ))
        try:
            await self._session.execute(_INSERT_RECEIPT_KEYS, [
                {"dedup_key": key, "receipt_id": receipt.receipt_id} for key in dedup_keys
            ])
        except IntegrityError as error:
            raise Conflict("a receipt key was taken by a concurrent submission") from error

    async def source_identity(self, patient_key: str) -> SourceIdentity | None:
        row = (await self._session.execute(
            select(patients.c.source_system, patients.c.source_patient_id)
            .where(patients.c.patient_key == patient_key)
        )).first()
        if row is None:
            return None
        # only what finds the patient in the EHR (minimum necessary): the medical record
        # numbers (FHIR Identifier typed MR, kept as ``mr:`` names), else the identifier whose
        # value intake keyed the patient by; never the others the source sent (SSN, driver's
        # licence, passport), which intake keeps only to match references and merges
        names = (await self._session.execute(
            select(patient_aliases.c.alias)
            .where(patient_aliases.c.patient_key == patient_key,
                   patient_aliases.c.source_system == row.source_system,
                   or_(patient_aliases.c.alias.startswith(RECORD_NUMBER_ALIAS, autoescape=True),
                       and_(patient_aliases.c.alias.startswith(IDENTIFIER_ALIAS, autoescape=True),
                            patient_aliases.c.alias.endswith("|" + row.source_patient_id,
                                                             autoescape=True))))
            .order_by(patient_aliases.c.created_at, patient_aliases.c.alias)
        )).scalars().all()
        numbers = [name for name in names if name.startswith(RECORD_NUMBER_ALIAS)]
        keyed = [name for name in names if name.startswith(IDENTIFIER_ALIAS)
                 and name.endswith("|" + row.source_patient_id)]
        pairs = [name.split(":", 1)[1].split("|", 1) for name in numbers or keyed]
        return SourceIdentity(row.source_system, row.source_patient_id,
                              tuple((system, value) for system, value in pairs))

    async def stamp_site(self, patient_keys: Sequence[str], site: str) -> None:
        await self._session.execute(
            update(patients).where(patients.c.patient_key.in_(list(patient_keys)),
                                   patients.c.site.is_distinct_from(site))
            .values(site=site))

    async def patient_site(self, patient_key: str) -> str | None:
        site: str | None = await self._session.scalar(
            select(patients.c.site).where(patients.c.patient_key == patient_key))
        return site

    async def log_reidentification(self, entry: Reidentification, found: bool) -> None:
        await self._session.execute(insert(reidentifications).values(
            patient_key=entry.patient_key, client=entry.client, role=entry.role,
            reason=entry.reason, found=found, at=entry.at, trial=entry.trial,
        ))


def _names(identity: SourceIdentity, aliases: Sequence[str]) -> list[str]:
    return list(dict.fromkeys((identity.source_patient_id, *aliases)))


def sql_unit_of_work(
    sessions: async_sessionmaker[AsyncSession],
    clock: Callable[[], datetime],
    turns: WriteTurns | None = None,
) -> UnitOfWork:
    turns = turns or WriteTurns()

    @asynccontextmanager
    async def transaction() -> AsyncIterator[IntakeStore]:
        async with turns.turn(), sessions() as session, session.begin():
            yield SqlIntakeStore(session, clock())

    return transaction


def outbox_store(
    sessions: async_sessionmaker[AsyncSession], turns: WriteTurns | None = None
) -> SqlOutboxStore:
    """The relay's side of the outbox (``shared.infra.outbox``): oldest pending first, marked
    once Kafka acknowledged, dead letters in ``intake_outbox_dead_letters``. A dead-lettered
    patient update holds the patient's later updates and stages ``PatientUpdatesHeld``; its
    resolution stages ``PatientUpdatesReleased`` (``adapters/sql/holds.py``); those notices
    on ``patient.holds.v1`` are never held themselves, nor are the re-identification events
    on ``intake.reidentifications.v1`` (audit must hear of them whatever else waits)."""
    columns = OutboxColumns(outbox, outbox.c.id, outbox.c.event_id, outbox.c.message_key,
                            outbox.c.topic, outbox.c.payload, outbox.c.created_at,
                            outbox.c.published_at)
    return SqlOutboxStore(sessions, columns, outbox_dead_letters,
                          turn=(turns or WriteTurns()).turn, notices=PatientHoldNotices(),
                          never_held=(PATIENT_HOLDS, REIDENTIFICATIONS))
