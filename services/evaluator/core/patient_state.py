"""The evaluator's view of one patient: facts, a version bumped per applied event, and the last
instant it was evaluated at (evaluation instants do not go backwards for a patient, unless the
last one lies in the future: see ``evaluation_instant``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from shared.clinical.facts import ClinicalFact, PatientFacts

if TYPE_CHECKING:  # ports imports PatientState from here
    from services.evaluator.core.ports import EvaluatorTelemetry

# How far ahead of this process's clock an earlier as-of may lie and still be followed: clock
# differences between evaluator replicas (NTP keeps them within milliseconds).
FUTURE_TOLERANCE = timedelta(seconds=2)


@dataclass(frozen=True, slots=True)
class PatientState:
    patient_key: str
    version: int
    facts: PatientFacts
    last_as_of: datetime | None
    # the site of the latest PatientUpdated that carried one (intake stamps the submitting lab
    # token's site); None: never stamped. Coordinators with a sites claim are scoped by it.
    site: str | None = None


def ordered(facts: tuple[ClinicalFact, ...]) -> tuple[ClinicalFact, ...]:
    """A stable order makes the snapshot, and so its hash, independent of arrival order."""
    return tuple(sorted(facts, key=lambda f: f.fact_id))


def evaluation_instant(wanted: datetime, last_as_of: datetime | None, now: datetime,
                       telemetry: EvaluatorTelemetry | None = None) -> datetime:
    """The as-of instant of a screening: ``wanted`` (now for an event or an amendment, the due
    time for a timer), or the patient's previous as-of when that is later, so that a small clock
    difference between replicas does not make a patient's decisions go backwards.

    Never beyond ``now + FUTURE_TOLERANCE``: a previous as-of further ahead was stamped while
    the wall clock was stepped forward and has since been corrected. Following it would stamp
    every later decision of this patient in the future too (and audit's status "as of now"
    would skip them); such a previous instant is ignored, and reported to ``telemetry``.
    """
    if last_as_of is None or last_as_of <= wanted:
        return min(wanted, now + FUTURE_TOLERANCE)
    if last_as_of <= now + FUTURE_TOLERANCE:
        return last_as_of
    if telemetry is not None:
        telemetry.clock_stepped_back(round((last_as_of - now).total_seconds(), 3))
    return min(wanted, now + FUTURE_TOLERANCE)
