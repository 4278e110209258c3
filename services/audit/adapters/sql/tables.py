"""The audit tables. All three are append-only: the migration installs triggers rejecting
UPDATE and DELETE, and on PostgreSQL the service's role may only SELECT and INSERT.

``audit_record`` is the hash chain: ``sequence`` is dense from 1, ``prev_hash`` links each record
to the one before (unique, so the chain cannot fork even with two writers), ``record_hash`` is
the content hash of the record's canonical form. Input snapshots are content-addressed and
stored once in ``audit_snapshot``. ``audit_access`` records every auditor query.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
)

from shared.infra.sqltypes import BigId, UtcDateTime
from shared.infra.storage import write_probe_table

metadata = MetaData()

HASH = String(71)  # "sha256:" + 64 hex digits

snapshots = Table(
    "audit_snapshot",
    metadata,
    Column("snapshot_hash", HASH, primary_key=True),
    Column("snapshot", Text, nullable=False, comment="canonical JSON of PatientFacts"),
    Column("stored_at", UtcDateTime, nullable=False),
)

records = Table(
    "audit_record",
    metadata,
    Column("sequence", BigId, primary_key=True, autoincrement=False),
    Column("record_hash", HASH, nullable=False, unique=True),
    Column("prev_hash", HASH, nullable=False, unique=True),
    Column("decision_id", Uuid, nullable=False, unique=True),
    Column("event_id", Uuid, nullable=False),
    Column("causation_id", Uuid, nullable=True),
    Column("correlation_id", Uuid, nullable=False),
    Column("patient_key", String(128), nullable=False),
    Column("trial_id", String(64), nullable=False),
    Column("trial_version", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("previous_status", String(16), nullable=True),
    Column("state_version", BigInteger, nullable=False),
    Column("evaluator_version", String(64), nullable=False),
    Column("engine_version", String(64), nullable=False),
    Column("as_of", UtcDateTime, nullable=False),
    Column("decided_at", UtcDateTime, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("decision", Text, nullable=False, comment="canonical JSON of the Decision"),
    Column("snapshot_hash", HASH, ForeignKey("audit_snapshot.snapshot_hash"), nullable=False),
    # 0004: the trial text the decision used, and the registry change that caused it (if any)
    Column("trial_content_hash", HASH, nullable=True),
    Column("registry_change", Text, nullable=True),
    # 0006: the evaluator's Ed25519 signature of the decision (shared.contracts.signatures)
    Column("signed_by", String(16), nullable=True, comment="key id of the evaluator key"),
    Column("signature", String(100), nullable=True, comment="base64 Ed25519 signature"),
    # 0009: the patient's site when decided (DecisionMade.site); scopes site-scoped auditors
    Column("site", String(64), nullable=True),
    Index("ix_audit_record_patient_trial_as_of", "patient_key", "trial_id", "as_of"),
    Index("ix_audit_record_trial_version", "trial_id", "trial_version"),
    Index("ix_audit_record_decided_at", "decided_at"),
    Index("ix_audit_record_status", "status"),
    Index("ix_audit_record_site", "site"),
)

access_log = Table(
    "audit_access",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("accessed_at", UtcDateTime, nullable=False),
    Column("client", String(128), nullable=False),
    Column("role", String(32), nullable=False),
    Column("action", String(64), nullable=False),
    Column("query", Text, nullable=False, comment="canonical JSON of the filter"),
    Column("result_count", Integer, nullable=True),
    # 0008: the access log's hash chain (core.access_chain); NULL on legacy entries before it
    Column("prev_hash", HASH, nullable=True),
    Column("entry_hash", HASH, nullable=True),
    # 0010: the event an entry arrived as (a re-identification from intake): a redelivery is
    # recorded once; NULL for the auditors' own queries
    Column("event_id", String(36), nullable=True),
    # 0012: a re-identification's signed event (canonical JSON without its signature), the
    # intake key id and the signature, so audit verify checks the signature again; NULL on
    # the auditors' own queries and on re-identifications appended before 0012
    Column("event", Text, nullable=True, comment="canonical JSON of the signed event"),
    Column("signed_by", String(16), nullable=True, comment="key id of the intake key"),
    Column("signature", String(100), nullable=True, comment="base64 Ed25519 signature"),
    Index("ux_audit_access_prev_hash", "prev_hash", unique=True),
    Index("ux_audit_access_entry_hash", "entry_hash", unique=True),
    Index("ux_audit_access_event_id", "event_id", unique=True),
)

AUDIT_TABLES = ("audit_snapshot", "audit_record", "audit_access")

# Written by the readiness probe (shared.infra.storage.probe_write).
write_probe = write_probe_table(metadata, "audit_write_probe")

coordinator_actions = Table(
    "audit_coordinator_action",
    metadata,
    Column("action_id", String(36), primary_key=True),
    Column("patient_key", String(128), nullable=False, index=True),
    Column("trial_id", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("reason", Text, nullable=True),
    Column("alert_id", String(36), nullable=True),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("event", JSON, nullable=False),
    # 0011: the actions' hash chain (core.action_chain); NULL on legacy actions before it
    Column("chain_seq", BigInteger, nullable=True),
    Column("prev_hash", HASH, nullable=True),
    Column("entry_hash", HASH, nullable=True),
    Index("ux_audit_action_chain_seq", "chain_seq", unique=True),
    Index("ux_audit_action_prev_hash", "prev_hash", unique=True),
    Index("ux_audit_action_entry_hash", "entry_hash", unique=True),
)
