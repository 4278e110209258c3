"""The port to the criteria engine: handlers, timers and tests depend on it, not on the engine."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from shared.clinical.facts import PatientFacts
from shared.eligibility.decision import Decision, TrialRef


class Screener(Protocol):
    """Evaluates one trial version for one patient at one instant; lists the shipped trials."""

    def evaluate(self, trial: TrialRef, facts: PatientFacts, as_of: datetime) -> Decision: ...

    def active_trials(self) -> tuple[TrialRef, ...]: ...

    def has_version(self, trial: TrialRef) -> bool: ...
