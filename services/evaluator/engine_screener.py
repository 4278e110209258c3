"""The Screener port backed by the criteria engine in ``shared.eligibility``.

The engine ships with the evaluator. If it cannot load its trial files the evaluator must not
start: screening with a stand-in would turn every eligible patient into a false "no longer
eligible" alert while readiness stayed green.
"""

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
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import TrialFileError, list_trials, load_trial
from shared.eligibility.trial import TrialVersion


class CriteriaEngineScreener:
    def __init__(self) -> None:
        self._versions: dict[TrialRef, TrialVersion] = {}
        shipped = [load_trial(trial_id) for trial_id in list_trials()]
        if not shipped:
            raise RuntimeError("the criteria engine ships no trial file: nothing to screen")
        self._shipped = tuple(TrialRef(id=t.id, version=t.version) for t in shipped)

    def _trial_version(self, trial: TrialRef) -> TrialVersion:
        loaded = self._versions.get(trial)
        if loaded is None:
            loaded = self._versions[trial] = load_trial(trial.id, trial.version)
        return loaded

    def evaluate(self, trial: TrialRef, facts: PatientFacts, as_of: datetime) -> Decision:
        return evaluate(self._trial_version(trial), facts, as_of)

    def active_trials(self) -> tuple[TrialRef, ...]:
        """The newest shipped version of each trial (trial files ship with the code)."""
        return self._shipped

    def has_version(self, trial: TrialRef) -> bool:
        try:
            self._trial_version(trial)
        except TrialFileError:
            return False
        return True


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
