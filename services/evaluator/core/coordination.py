"""What the coordinator app shows: alerts, one patient's result for one trial with its history
and the actions taken, and a trial's worklist. Read models only; the ``CoordinatorDesk`` port
(``core.ports``) reads and records them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.contracts.events import EnrolmentConfirmation
from shared.eligibility.decision import Decision
from shared.eligibility.readable import Need


@dataclass(frozen=True, slots=True)
class AlertRow:
    alert_id: str
    patient_key: str
    trial_id: str
    kind: str
    headline: str
    as_of: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    site: str | None = None  # the patient's site when the alert was raised


@dataclass(frozen=True, slots=True)
class HistoryRow:
    status: str
    previous_status: str | None
    as_of: datetime
    headline: str
    trial_version: str


@dataclass(frozen=True, slots=True)
class ActionRow:
    """One action taken on the pair; ``confirmed_against``: on an enrolment of a patient
    TrialWatch had not found eligible, the decision the investigator confirmed it against
    (its status and the criteria failing or unknown), else None."""

    action: str
    reason: str | None
    taken_by: str
    taken_at: datetime
    confirmed_against: EnrolmentConfirmation | None = None


@dataclass(frozen=True, slots=True)
class PairView:
    """One patient for one trial: the latest decision, the status history (newest first),
    the actions taken (newest first) and the alerts raised."""

    patient_key: str
    trial_id: str
    decision: Decision | None
    history: list[HistoryRow]
    actions: list[ActionRow]
    alerts: list[AlertRow]
    decision_id: str | None = None
    """The latest decision's ``DecisionMade.decision_id`` (what an enrolment confirms)."""


@dataclass(frozen=True, slots=True)
class TrialStop:
    """A trial no longer screened, as its registry change recorded it: ``retired`` (never
    screened again) or deactivated (may be activated again), at ``at`` by ``actor`` (the
    admin's client name, "system" for the folder sync) for ``reason`` (None: none given);
    ``version`` the version screened until then. ``history``: one patient's status history
    for the trial until it stopped (newest first; empty when not asked or never screened)."""

    trial_id: str
    version: str
    retired: bool
    at: datetime
    actor: str
    reason: str | None
    history: tuple[HistoryRow, ...] = ()


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """What became of a coordinator's acknowledgement of an alert: ``recorded`` or not; when
    not because the alert's patient is of a site outside the coordinator's scope,
    ``other_site_patient`` is that patient's surrogate key (the caller logs the refusal
    ``site_not_in_claims`` with it, and answers exactly as for an unknown alert)."""

    recorded: bool
    other_site_patient: str | None = None


@dataclass(frozen=True, slots=True)
class WorklistEntry:
    patient_key: str
    trial_id: str
    trial_version: str
    unknown_criteria: int
    missing: list[str]
    decision_id: str
    as_of: datetime
    needs: tuple[Need, ...] = ()
    on_record: int = 0  # results and records the decision cites
    on_file: int = 0  # records kept for the patient, cited or not (too old, not asked for)
    newest_on_file: datetime | None = None  # the clinical time of the newest of them
    # when intake received the most recently received of them (aware UTC,
    # ClinicalFact.provenance.received_at); None when none carries a receipt time
    last_received: datetime | None = None


RANKING = ("fewest criteria still open first; among equals, the patient with the most recent"
           " record first (seen recently, so what is missing can be sent soonest); then fewest"
           " items to send")
"""The worklist order in words, as the page explains it (``rank``; adapters/sql/worklist.py)."""


def rank(entry: WorklistEntry) -> tuple[int, float, int, str]:
    """The sort key of ``RANKING``: open criteria, newest record (most recent first; none
    last), items to send, then the key (a stable order)."""
    newest = entry.newest_on_file
    return (entry.unknown_criteria, -newest.timestamp() if newest else float("inf"),
            len(entry.missing), entry.patient_key)
