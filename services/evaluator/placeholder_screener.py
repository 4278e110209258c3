"""Stands in for the criteria engine while it is not installed: never eligible, says why."""

from __future__ import annotations

from datetime import datetime

from shared.clinical.facts import PatientFacts
from shared.eligibility.decision import (
    CriterionKind,
    CriterionResult,
    Decision,
    Outcome,
    Status,
    TrialRef,
)

PLACEHOLDER_TRIAL = TrialRef(id="NCT06920433", version="engine-not-installed")
ENGINE_MISSING = CriterionResult(
    id="ENGINE",
    kind=CriterionKind.INCLUSION,
    outcome=Outcome.UNKNOWN,
    reason="the criteria engine (shared.eligibility.engine) is not installed in this evaluator",
    missing=("criteria engine",),
)


class EngineNotInstalledScreener:
    def __init__(self, trials: tuple[TrialRef, ...] = (PLACEHOLDER_TRIAL,)) -> None:
        self._trials = trials

    def evaluate(self, trial: TrialRef, facts: PatientFacts, as_of: datetime) -> Decision:
        return Decision(
            trial=trial,
            as_of=as_of,
            status=Status.UNDETERMINED,
            criteria=(ENGINE_MISSING,),
            next_review_at=None,
            engine_version="engine-not-installed",
        )

    def active_trials(self) -> tuple[TrialRef, ...]:
        return self._trials

    def has_version(self, trial: TrialRef) -> bool:
        return trial in self._trials
