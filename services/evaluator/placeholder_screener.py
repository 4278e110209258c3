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


def engine_failed(trial: TrialRef, as_of: datetime, error: BaseException) -> Decision:
    """What a decision says when the engine raised: undetermined, never eligible, and why."""
    return Decision(
        trial=trial,
        as_of=as_of,
        status=Status.UNDETERMINED,
        criteria=(CriterionResult(
            id="ENGINE",
            kind=CriterionKind.INCLUSION,
            outcome=Outcome.UNKNOWN,
            reason=f"the criteria engine failed on this patient ({type(error).__name__}); "
                   "reported to the maintainers",
            missing=("a criteria engine that can evaluate this patient",),
        ),),
        next_review_at=None,
        engine_version="engine-error",
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
