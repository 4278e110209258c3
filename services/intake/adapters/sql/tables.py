"""Intake's own database: surrogate keys, receipts, the outbox and the re-identification log.

Source patient identifiers live only in ``intake_patients``; nothing else in TrialWatch sees them.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)

from shared.infra.outbox_sql import dead_letter_table
from shared.infra.runtime_settings import runtime_settings_table
from shared.infra.sqltypes import BigId, UtcDateTime
from shared.infra.storage import write_probe_table

metadata = MetaData()


patients = Table(
    "intake_patients",
    metadata,
    Column("patient_key", String(64), primary_key=True),
    Column("source_system", String(200), nullable=False),
    Column("source_patient_id", String(200), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    # 0008: the site of the latest submission about this key (the lab token's sites claim);
    # NULL when no submission had one. Re-identification is scoped by it.
    Column("site", String(64), nullable=True),
    UniqueConstraint("source_system", "source_patient_id", name="uq_intake_patients_source"),
)

# Every name a source system gives a patient (its identifier, ``Patient/<id>``,
# ``identifier:<system>|<value>``), each pointing at the surrogate key it is known under now.
# A merge re-points the merged record's names at the survivor; ``intake_patients`` keeps the
# first identity of every key ever issued (re-identification and audit of merged keys).
patient_aliases = Table(
    "intake_patient_aliases",
    metadata,
    Column("source_system", String(200), primary_key=True),
    Column("alias", String(300), primary_key=True),
    Column("patient_key", String(64), nullable=False, index=True),
    Column("created_at", UtcDateTime(), nullable=False),
)

# Append-only: which surrogate key was merged into which, why, and when.
patient_merges = Table(
    "intake_patient_merges",
    metadata,
    Column("merged_key", String(64), primary_key=True),
    Column("surviving_key", String(64), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("merged_at", UtcDateTime(), nullable=False),
)

receipts = Table(
    "intake_receipts",
    metadata,
    Column("receipt_id", Uuid(), primary_key=True),
    Column("client", String(200), nullable=False),
    Column("format", String(16), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("patient_keys", JSON(), nullable=False),
    Column("event_ids", JSON(), nullable=False),
    # what became of each entry and every element not read exactly (see receipts.Receipt)
    Column("details", JSON(), nullable=True),
)

# Each receipt is found again by its content key and, when the client sent one, by its
# Idempotency-Key (scoped to the client): a re-send of either returns the original receipt.
receipt_keys = Table(
    "intake_receipt_keys",
    metadata,
    Column("dedup_key", String(300), primary_key=True),
    Column("receipt_id", Uuid(), ForeignKey("intake_receipts.receipt_id"), nullable=False),
)

outbox = Table(
    "intake_outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("event_id", Uuid(), nullable=False, unique=True),
    Column("topic", String(200), nullable=False),
    Column("message_key", String(64), nullable=False),
    Column("payload", Text(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("published_at", UtcDateTime(), nullable=True),
)
Index(
    "ix_intake_outbox_pending",
    outbox.c.id,
    sqlite_where=outbox.c.published_at.is_(None),
    postgresql_where=outbox.c.published_at.is_(None),
)

# Outbox rows the broker can never take, with the reason (shared.infra.outbox).
outbox_dead_letters = dead_letter_table("intake_outbox_dead_letters", metadata)

# Append-only (a trigger in the migration refuses UPDATE and DELETE): who re-identified whom.
reidentifications = Table(
    "intake_reidentifications",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("patient_key", String(64), nullable=False),
    Column("client", String(200), nullable=False),
    Column("role", String(32), nullable=False),
    Column("reason", Text(), nullable=True),
    Column("found", Boolean(), nullable=False),
    Column("trial", String(64), nullable=True),
    Column("at", UtcDateTime(), nullable=False),
)

# Written by the readiness probe (shared.infra.storage.probe_write).
write_probe = write_probe_table(metadata, "intake_write_probe")

# The settings this service runs with, recorded at each start (shared.infra.runtime_settings,
# migration 0009): what `trialwatch outbox release` checks a retry against.
runtime_setting = runtime_settings_table(metadata, "intake_runtime_setting")
