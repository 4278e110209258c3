"""The evaluator's own database: patient state, idempotency, outbox, status, timers, webhooks.

Every row is keyed by the surrogate patient key; nothing here identifies a person.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from shared.infra.outbox_sql import dead_letter_table
from shared.infra.runtime_settings import runtime_settings_table
from shared.infra.sqltypes import BigId, UtcDateTime
from shared.infra.storage import write_probe_table

metadata = MetaData()



Instant = UtcDateTime()

patient_state = Table(
    "evaluator_patient_state",
    metadata,
    Column("patient_key", String(128), primary_key=True),
    Column("state_version", Integer, nullable=False),
    Column("demographics", JSON, nullable=False),
    Column("last_as_of", Instant, nullable=False),
    Column("updated_at", Instant, nullable=False),
    # 0011: the site of the latest PatientUpdated that carried one (deploy/SECURITY.md "Site
    # scope"); NULL: none did. Worklist, status and patient pages are scoped by it.
    Column("site", String(64), nullable=True),
)

patient_fact = Table(
    "evaluator_patient_fact",
    metadata,
    Column("patient_key", String(128), primary_key=True),
    Column("fact_id", String(200), primary_key=True),
    Column("fact", JSON, nullable=False),
    Column("effective_start", Instant, nullable=True),
    Column("received_at", Instant, nullable=True),
)

# A record merged away (PatientMerged): its state moved to the survivor and it is never screened
# again; a late event for it is applied to the survivor. Its past decisions stay in audit.
patient_merge = Table(
    "evaluator_patient_merge",
    metadata,
    Column("merged_key", String(128), primary_key=True),
    Column("surviving_key", String(128), nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("merged_at", Instant, nullable=False),
)

# Intake's holds on a patient's updates (patient.holds.v1, migration 0010): one row per hold
# id; a release is a tombstone (released_at set), kept even when it arrived before its hold.
patient_hold = Table(
    "evaluator_patient_hold",
    metadata,
    Column("hold_id", String(36), primary_key=True),
    Column("patient_key", String(128), nullable=False, index=True),
    Column("reason", String(500), nullable=True),
    Column("released", Boolean, nullable=False),
    Column("awaiting_event_id", String(36), nullable=True),
    Column("updated_at", Instant, nullable=False),
)

processed_event = Table(
    "evaluator_processed_event",
    metadata,
    Column("event_id", String(36), primary_key=True),
    Column("patient_key", String(128), nullable=False),
    Column("state_version", Integer, nullable=False),
    Column("processed_at", Instant, nullable=False),
)

active_trial = Table(
    "evaluator_active_trial",
    metadata,
    Column("trial_id", String(64), primary_key=True),
    Column("version", String(64), nullable=False),
    Column("activated_at", Instant, nullable=False),
    # 0002: registry state of the trial ('active', 'inactive', 'retired') and the change that set it
    Column("state", String(16), nullable=False, server_default="active"),
    Column("content_hash", String(71), nullable=True),
    Column("change_id", String(36), nullable=True),
)

trial_version = Table(
    "evaluator_trial_version",
    metadata,
    Column("trial_id", String(64), primary_key=True),
    Column("version", String(64), primary_key=True),
    Column("content_hash", String(71), nullable=False),
    Column("text", Text, nullable=False),  # the trial file exactly as added
    Column("source", String(200), nullable=False),
    Column("added_by", String(128), nullable=False),
    Column("added_at", Instant, nullable=False),
    Column("ever_active", Boolean, nullable=False, server_default="0"),
)

reference_tables = Table(
    "evaluator_reference_tables",  # 0014: each set of reference tables screened with, by hash
    metadata,
    Column("content_hash", String(71), primary_key=True),
    Column("texts", Text, nullable=False),  # canonical JSON: file name -> YAML text as read
    Column("versions", String(400), nullable=False),  # table name -> version, for people
    Column("stored_at", Instant, nullable=False),
)

registry_change = Table(
    "evaluator_registry_change",
    metadata,
    Column("seq", BigId, primary_key=True, autoincrement=True),
    Column("change_id", String(36), nullable=False, unique=True),
    Column("at", Instant, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(16), nullable=False),
    Column("trial_id", String(64), nullable=False),
    Column("version", String(64), nullable=False),
    Column("content_hash", String(71), nullable=False),
    Column("reason", Text, nullable=True),
    # the re-screen an activation starts: resumable from the last patient key done
    Column("rescreen_total", Integer, nullable=True),
    Column("rescreen_done", Integer, nullable=True),
    Column("rescreen_after_key", String(128), nullable=True),
    Column("rescreen_lease_until", Instant, nullable=True),
    Column("completed_at", Instant, nullable=True),
)

outbox = Table(
    "evaluator_outbox",
    metadata,
    Column("seq", BigId, primary_key=True, autoincrement=True),
    Column("message_id", String(36), nullable=False, unique=True),
    Column("topic", String(200), nullable=False),
    Column("key", String(128), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", Instant, nullable=False),
    Column("published_at", Instant, nullable=True),
    Index("ix_evaluator_outbox_unpublished", "published_at", "seq"),
)

# Outbox rows the broker can never take, with the reason (shared.infra.outbox, migration 0008).
outbox_dead_letters = dead_letter_table("evaluator_outbox_dead_letters", metadata)

trial_status = Table(
    "evaluator_trial_status",
    metadata,
    Column("patient_key", String(128), primary_key=True),
    Column("trial_id", String(64), primary_key=True),
    Column("trial_version", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("decision_id", String(36), nullable=False),
    Column("state_version", Integer, nullable=False),
    Column("as_of", Instant, nullable=False),
    Column("unknown_criteria", Integer, nullable=False),
    Column("missing", JSON, nullable=False),
    # the latest decision (without its snapshot): the patient page, and what the next alert's
    # headline is diffed against
    Column("decision", JSON, nullable=True),
    # 0012: while the decision is intake's hold (engine version intake-hold), the status the
    # pair stood at before the hold, which the release's alert compares with; NULL otherwise
    Column("held_from", String(16), nullable=True),
    Index("ix_evaluator_trial_status_worklist", "trial_id", "status", "unknown_criteria"),
)

review_timer = Table(
    "evaluator_review_timer",
    metadata,
    Column("patient_key", String(128), primary_key=True),
    Column("trial_id", String(64), primary_key=True),
    Column("due_at", Instant, nullable=False),
    Index("ix_evaluator_review_timer_due", "due_at"),
)

webhook = Table(
    "evaluator_webhook",
    metadata,
    Column("webhook_id", String(36), primary_key=True),
    Column("trial_id", String(64), nullable=False, index=True),
    Column("url", Text, nullable=False),
    # Fernet token of the coordinator's HMAC key (adapters/webhook_secrets.py), never the key
    Column("secret", String(512), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", Instant, nullable=False),
    # 0011: the registering token's sites claim (a JSON list); NULL: every site. Only alerts of
    # these sites are delivered to it.
    Column("sites", JSON, nullable=True),
)

webhook_delivery = Table(
    "evaluator_webhook_delivery",
    metadata,
    Column("delivery_id", String(36), primary_key=True),
    Column("webhook_id", String(36), nullable=False, index=True),
    Column("alert_id", String(36), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Instant, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("created_at", Instant, nullable=False),
    Column("delivered_at", Instant, nullable=True),
    Index("ix_evaluator_webhook_delivery_due", "state", "next_attempt_at"),
)

# Written by the readiness probe (shared.infra.storage.probe_write).
write_probe = write_probe_table(metadata, "evaluator_write_probe")

# The settings this service runs with, recorded at each start (shared.infra.runtime_settings,
# migration 0013): what `trialwatch outbox release` checks a retry against.
runtime_setting = runtime_settings_table(metadata, "evaluator_runtime_setting")

status_change = Table(
    "evaluator_status_change",
    metadata,
    Column("seq", BigId, primary_key=True, autoincrement=True),
    Column("patient_key", String(128), nullable=False),
    Column("trial_id", String(64), nullable=False),
    Column("trial_version", String(64), nullable=False),
    Column("decision_id", String(36), nullable=False, unique=True),
    Column("status", String(16), nullable=False),
    Column("previous_status", String(16), nullable=True),
    Column("as_of", Instant, nullable=False),
    Column("headline", Text, nullable=False),
    Index("ix_evaluator_status_change_pair", "patient_key", "trial_id", "seq"),
)

alert = Table(
    "evaluator_alert",
    metadata,
    Column("alert_id", String(36), primary_key=True),
    Column("patient_key", String(128), nullable=False),
    Column("trial_id", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("headline", Text, nullable=False),
    Column("decision_id", String(36), nullable=False),
    Column("as_of", Instant, nullable=False),
    Column("acknowledged_at", Instant, nullable=True),
    Column("acknowledged_by", String(128), nullable=True),
    # 0011: the patient's site when the alert was raised (EligibilityAlert.site)
    Column("site", String(64), nullable=True),
    Index("ix_evaluator_alert_trial", "trial_id", "as_of"),
)

coordinator_action = Table(
    "evaluator_coordinator_action",
    metadata,
    Column("action_id", String(36), primary_key=True),
    Column("patient_key", String(128), nullable=False),
    Column("trial_id", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("reason", Text, nullable=True),
    Column("alert_id", String(36), nullable=True),
    Column("taken_by", String(128), nullable=False),
    Column("taken_at", Instant, nullable=False),
    # 0015: an enrolment's confirmation against a not-eligible decision
    # (shared.contracts.events.EnrolmentConfirmation as JSON); NULL on every other action
    Column("confirmed_against", JSON, nullable=True),
    Index("ix_evaluator_coordinator_action_pair", "patient_key", "trial_id", "taken_at"),
)

# Signed-in coordinator app sessions (services/evaluator/adapters/http/ui/sessions.py): keyed
# by a hash of the cookie's session id; the coordinator's token is stored encrypted under a key
# derived from that id, so the table alone yields neither a usable cookie nor a token.
ui_session = Table(
    "evaluator_ui_session",
    metadata,
    Column("session_hash", String(64), primary_key=True),
    Column("client", String(128), nullable=False),
    Column("token_sealed", Text, nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", Instant, nullable=False),
    Column("expires_at", Instant, nullable=False),
    Index("ix_evaluator_ui_session_expiry", "expires_at"),
)
