"""The Screener port backed by the criteria engine in ``shared.eligibility``.

Imported lazily (bootstrap falls back to the placeholder when the engine is absent), so the
evaluator still runs, never calling anyone eligible, on a build without the engine.
"""

from __future__ import annotations

import importlib
import importlib.util
from datetime import datetime
from typing import Any

from shared.clinical.facts import PatientFacts
from shared.eligibility.decision import Decision, TrialRef

ENGINE_MODULE = "shared.eligibility.engine"
LOADER_MODULE = "shared.eligibility.loader"


def engine_installed() -> bool:
    try:
        return all(importlib.util.find_spec(m) is not None for m in (ENGINE_MODULE, LOADER_MODULE))
    except ModuleNotFoundError:
        return False


class CriteriaEngineScreener:
    def __init__(self) -> None:
        self._engine: Any = importlib.import_module(ENGINE_MODULE)
        self._loader: Any = importlib.import_module(LOADER_MODULE)
        self._versions: dict[TrialRef, Any] = {}
        self._shipped: tuple[TrialRef, ...] | None = None

    def _trial_version(self, trial: TrialRef) -> Any:
        loaded = self._versions.get(trial)
        if loaded is None:
            loaded = self._loader.load_trial(trial.id, trial.version)
            self._versions[trial] = loaded
        return loaded

    def evaluate(self, trial: TrialRef, facts: PatientFacts, as_of: datetime) -> Decision:
        decision: Decision = self._engine.evaluate(self._trial_version(trial), facts, as_of)
        return decision

    def active_trials(self) -> tuple[TrialRef, ...]:
        """The newest shipped version of each trial (read once: trial files ship with the code)."""
        if self._shipped is None:
            refs = []
            for listed in self._loader.list_trials():
                trial_id = listed if isinstance(listed, str) else _attr(listed, "id", "trial_id")
                refs.append(_ref_of(self._loader.load_trial(trial_id)))
            self._shipped = tuple(refs)
        return self._shipped

    def has_version(self, trial: TrialRef) -> bool:
        try:
            self._trial_version(trial)
        except Exception:
            return False
        return True


def _attr(value: Any, *names: str) -> Any:
    for name in names:
        if hasattr(value, name):
            return getattr(value, name)
    raise AttributeError(f"none of {names} on {type(value).__name__}")


def _ref_of(trial_version: Any) -> TrialRef:
    ref = getattr(trial_version, "ref", None)
    if isinstance(ref, TrialRef):
        return ref
    return TrialRef(id=_attr(trial_version, "id", "trial_id"), version=str(trial_version.version))
