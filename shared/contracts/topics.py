"""Versioned topic names. A breaking change to an event gets a new topic (``.v2``)."""

from __future__ import annotations

INTAKE_RAW = "intake.raw.v1"
PATIENT_EVENTS = "patient.events.v1"
DECISIONS = "eligibility.decisions.v1"
ALERTS = "eligibility.alerts.v1"
COORDINATOR_ACTIONS = "coordinator.actions.v1"
# intake holds / releases a patient's updates (PatientUpdatesHeld, PatientUpdatesReleased)
PATIENT_HOLDS = "patient.holds.v1"
# intake tells audit of every re-identification and look-up (PatientReidentified): audit's
# chained access log lists them
REIDENTIFICATIONS = "intake.reidentifications.v1"
# the evaluator's trial registry: which version of each trial is screened and the codes it
# reads (TrialScreening), keyed by trial id, last per key wins; intake reads it from the start
TRIAL_SCREENING = "trials.screening.v1"

DLQ_SUFFIX = ".dlq"


def dead_letter(topic: str) -> str:
    return topic + DLQ_SUFFIX


ALL_TOPICS: tuple[str, ...] = (
    INTAKE_RAW,
    PATIENT_EVENTS,
    DECISIONS,
    ALERTS,
    COORDINATOR_ACTIONS,
    PATIENT_HOLDS,
    REIDENTIFICATIONS,
    TRIAL_SCREENING,
    dead_letter(INTAKE_RAW),
    dead_letter(PATIENT_EVENTS),
    dead_letter(DECISIONS),
    dead_letter(COORDINATOR_ACTIONS),
    dead_letter(PATIENT_HOLDS),
    dead_letter(REIDENTIFICATIONS),
)
