"""Prometheus metrics of the audit service (process-wide, served at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

DECISIONS_STORED = Counter(
    "trialwatch_audit_decisions_stored", "Decisions appended to the audit chain")
DUPLICATE_DECISIONS = Counter(
    "trialwatch_audit_duplicate_decisions",
    "Redelivered decisions recognised by their decision id and not stored again")
DEAD_LETTERS = Counter(
    "trialwatch_audit_dead_letters", "Decision messages that could not be read, sent to the DLQ")
DECISIONS_REFUSED = Counter(
    "trialwatch_audit_decisions_refused",
    "Decisions dead-lettered because no trusted evaluator key signed them", ["reason"])
ACTIONS_REFUSED = Counter(
    "trialwatch_audit_actions_refused",
    "Coordinator actions dead-lettered because no trusted evaluator key signed them", ["reason"])
SNAPSHOTS_RECEIVED = Counter(
    "trialwatch_audit_snapshots_received",
    "Input snapshot events read (each stored once by its content hash)")
SNAPSHOTS_MISSING = Counter(
    "trialwatch_audit_decisions_without_snapshot",
    "Decisions recorded whose input snapshot audit does not hold (verify flags them)")
STORE_FAILURES = Counter(
    "trialwatch_audit_store_failures",
    "Transient failures to store a decision (database unreachable): consumption paused")
CHECKPOINTS_WRITTEN = Counter(
    "trialwatch_audit_checkpoints_written", "Signed checkpoints written outside the database")
RECORDS_UNVOUCHED = Counter(
    "trialwatch_audit_records_unvouched",
    "Stored records the checkpoint writer found failing their check (hash or evaluator "
    "signature): written past ingest; audit verify names them")
CHECKPOINT_NEWEST = Gauge(
    "trialwatch_audit_checkpoint_newest",
    "The newest checkpoint written: the records, access entry id and coordinator action "
    "chain_seq it signs (scrape elsewhere; audit verify --min-checkpoint SEQ-ACCESS-ACTION)",
    ["part"])
CHAIN_HEAD = Gauge("trialwatch_audit_chain_head_sequence", "Sequence number of the newest record")
AUDITOR_QUERIES = Counter(
    "trialwatch_audit_auditor_queries", "Auditor API queries, each recorded in the access log",
    ["action"])
