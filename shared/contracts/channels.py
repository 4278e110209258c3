"""Who reads and who writes each topic, as data: the one declaration of TrialWatch's messaging.

Each service's composition root wires its consumers from these ``Subscription`` declarations
(``shared.infra.messaging.subscribe``: consumer group, acknowledgement policy, batching, the
tolerant parser that lets an unreadable record reach the dead-letter topic); ``trialwatch
asyncapi`` builds the AsyncAPI document from the same declarations (``shared.infra.asyncapi``),
so the document cannot drift from what runs. A topic, its model and its dead-letter topic are
said once, here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from shared.contracts import topics
from shared.contracts.events import (
    CoordinatorActed,
    DeadLetter,
    DecisionsEvent,
    EligibilityAlert,
    PatientEvent,
    PatientHoldEvent,
    PatientReidentified,
    TrialScreening,
)

Delivery = Literal["single", "batch"]


@dataclass(frozen=True, slots=True)
class DeadLetterPolicy:
    """Where a consumer sends a record it can never process, with the reason (``DeadLetter``):
    the record leaves the partition, so the records behind it keep flowing. ``phi``: the
    dead-letter topic holds whole refused inputs (patient identifiers), so it is restricted and
    gets a bounded retention (``retention_ms``, applied when the topic is created)."""

    topic: str
    phi: bool = False
    retention_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Subscription:
    """One consumer of one topic.

    ``name`` is the AsyncAPI channel title ("<service> consumes <what>"); ``model`` the type of
    each record's value (a pydantic model, a union, or ``bytes`` for raw input); ``group`` the
    default consumer group (a setting may override it); ``delivery`` ``"batch"`` hands the
    handler every record of one poll, ``"single"`` one record at a time; ``dead_letter`` says
    where records the handler refuses go. ``summary`` is what the handler does (AsyncAPI)."""

    name: str
    topic: str
    model: Any
    service: str
    group: str
    delivery: Delivery
    dead_letter: DeadLetterPolicy
    summary: str
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Publication:
    """One producer of one topic (``name`` is the AsyncAPI channel title)."""

    name: str
    topic: str
    model: Any
    service: str
    description: str | None = None


# The raw dead-letter topic holds whole refused messages, patient identifiers included: PHI.
# Seven days gives an operator a week to look at a refusal; then the broker deletes it.
RAW_DEAD_LETTER_RETENTION_MS = 7 * 24 * 3600 * 1000

INTAKE_RAW = Subscription(
    name="intake consumes raw FHIR/HL7 v2",
    topic=topics.INTAKE_RAW,
    model=bytes,
    service="intake",
    group="trialwatch-intake",
    delivery="single",
    dead_letter=DeadLetterPolicy(topics.dead_letter(topics.INTAKE_RAW), phi=True,
                                 retention_ms=RAW_DEAD_LETTER_RETENTION_MS),
    summary="Read, validate and pseudonymise the submission exactly as if it had been POSTed.",
    description="Bytes as posted over HTTP; header content-type says which, source-system "
                "names the sender, idempotency-key is optional. FHIR R4 JSON, or one HL7 v2.5.1 "
                "message: ORU^R01 results (OBX), ADT^A40 merges (MRG), RAS^O17 medication "
                "administrations (RXA) or RDE^O11 pharmacy encoded orders (RXE with its TQ1).",
)
EVALUATOR_PATIENT_EVENTS = Subscription(
    name="evaluator consumes patient events",
    topic=topics.PATIENT_EVENTS,
    model=PatientEvent,
    service="evaluator",
    group="trialwatch-evaluator",
    delivery="batch",
    dead_letter=DeadLetterPolicy(topics.dead_letter(topics.PATIENT_EVENTS)),
    summary="Re-evaluate every active trial for the patient; a merge moves a record's facts.",
    description="Keyed by surrogate patient key; per-patient order holds.",
)
EVALUATOR_PATIENT_HOLDS = Subscription(
    name="evaluator consumes patient holds",
    topic=topics.PATIENT_HOLDS,
    model=PatientHoldEvent,
    service="evaluator",
    group="trialwatch-evaluator-holds",
    delivery="batch",
    dead_letter=DeadLetterPolicy(topics.dead_letter(topics.PATIENT_HOLDS)),
    summary="While intake holds a patient's updates, decide every trial undetermined with "
            "intake's reason and raise no alert; on release, re-screen the patient at once.",
    description="Keyed by surrogate patient key; idempotent by hold id (a release seen first "
                "is a tombstone).",
)
AUDIT_DECISIONS = Subscription(
    name="audit consumes decisions",
    topic=topics.DECISIONS,
    model=DecisionsEvent,
    service="audit",
    group="trialwatch-audit",
    delivery="batch",
    dead_letter=DeadLetterPolicy(topics.dead_letter(topics.DECISIONS)),
    summary="Append the decision to the tamper-evident record (idempotent by decision_id).",
)
AUDIT_COORDINATOR_ACTIONS = Subscription(
    name="audit consumes coordinator actions",
    topic=topics.COORDINATOR_ACTIONS,
    model=CoordinatorActed,
    service="audit",
    group="trialwatch-audit-actions",
    delivery="batch",
    dead_letter=DeadLetterPolicy(topics.dead_letter(topics.COORDINATOR_ACTIONS)),
    summary="Keep the action append-only (idempotent by action_id).",
)
AUDIT_REIDENTIFICATIONS = Subscription(
    name="audit consumes re-identifications",
    topic=topics.REIDENTIFICATIONS,
    model=PatientReidentified,
    service="audit",
    group="trialwatch-audit-reidentifications",
    delivery="batch",
    dead_letter=DeadLetterPolicy(topics.dead_letter(topics.REIDENTIFICATIONS)),
    summary="Append the re-identification to the hash-chained access log (idempotent by "
            "event_id).",
)

SUBSCRIPTIONS: tuple[Subscription, ...] = (
    INTAKE_RAW, EVALUATOR_PATIENT_EVENTS, EVALUATOR_PATIENT_HOLDS, AUDIT_DECISIONS,
    AUDIT_COORDINATOR_ACTIONS, AUDIT_REIDENTIFICATIONS,
)

PUBLICATIONS: tuple[Publication, ...] = (
    Publication("upstream systems publish raw FHIR/HL7 v2", topics.INTAKE_RAW, bytes, "upstream",
                "Bytes as posted over HTTP; header content-type says which: FHIR R4 JSON, or an "
                "HL7 v2.5.1 ORU^R01, ADT^A40, RAS^O17 (RXA) or RDE^O11 (RXE, TQ1) message."),
    Publication("intake publishes patient events", topics.PATIENT_EVENTS, PatientEvent, "intake"),
    Publication("intake publishes holds on a patient's updates", topics.PATIENT_HOLDS,
                PatientHoldEvent, "intake",
                "Held: an update of the patient cannot be published and the later ones wait "
                "behind it (an outbox dead letter); released: an operator retried or dropped "
                "it. Keyed by patient key; staged in intake's outbox with the dead letter and "
                "with the operator's decision."),
    Publication("intake publishes re-identifications", topics.REIDENTIFICATIONS,
                PatientReidentified, "intake",
                "One per re-identification or look-up intake answered (refused ones "
                "included): who, when, which surrogate key, trial, reason, outcome; never the "
                "identifier. Staged in intake's outbox with intake's own access-log entry."),
    Publication("evaluator publishes decisions", topics.DECISIONS, DecisionsEvent, "evaluator",
                "Per evaluation: one PatientSnapshot (the input), then a DecisionMade per "
                "trial referencing it by snapshot_hash; all keyed by patient key."),
    Publication("evaluator publishes eligibility alerts", topics.ALERTS, EligibilityAlert,
                "evaluator", "Coordinators subscribe: newly-eligible / no-longer-eligible."),
    Publication("evaluator publishes coordinator actions", topics.COORDINATOR_ACTIONS,
                CoordinatorActed, "evaluator",
                "Acknowledged, contacted, not a candidate, enrolled, re-identified: one event "
                "per action in the coordinator app."),
    Publication("evaluator publishes the trials it screens", topics.TRIAL_SCREENING,
                TrialScreening, "evaluator",
                "Per registry change (activate, deactivate, retire), and at start for each "
                "trial's current state: the trial's screened version and the codes its "
                "criteria read. Keyed by trial id, last per key wins (compacted on Apache "
                "Kafka). Every intake process reads it from the beginning, with no consumer "
                "group, to name in its receipts the codes no active trial reads."),
    *(Publication(f"dead letters of {s.topic}", s.dead_letter.topic, DeadLetter, s.service,
                  "Whole refused inputs: PHI, restricted readers, bounded retention."
                  if s.dead_letter.phi else None)
      for s in SUBSCRIPTIONS),
)


def dead_letter_policies() -> dict[str, DeadLetterPolicy]:
    """Every declared dead-letter topic, by name."""
    return {s.dead_letter.topic: s.dead_letter for s in SUBSCRIPTIONS}
