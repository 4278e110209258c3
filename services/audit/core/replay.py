"""Reproducing a stored decision: the criteria engine on the stored snapshot, trial version
and as-of time must give the identical decision, or the differences are listed."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.clinical.facts import PatientFacts
from shared.eligibility.decision import Decision

Evaluate = Callable[[str, str, PatientFacts, datetime], Decision]


class EngineUnavailable(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class ReplayResult:
    identical: bool
    differences: list[str]
    replayed: dict[str, Any]


def installed_engine() -> Evaluate:
    """``shared.eligibility``'s engine and trial loader, imported only when a replay runs."""
    try:
        from shared.eligibility.engine import evaluate
        from shared.eligibility.loader import load_trial
    except ImportError as error:
        raise EngineUnavailable(f"the criteria engine cannot be imported: {error}") from error

    def run(trial_id: str, version: str, patient: PatientFacts, as_of: datetime) -> Decision:
        return evaluate(load_trial(trial_id, version), patient, as_of)

    return run


def engine_for_text(text: str) -> Evaluate:
    """The engine bound to one trial version compiled from its stored text."""
    try:
        from shared.eligibility.engine import evaluate
        from shared.eligibility.reference_tables import load_tables
        from shared.eligibility.trial_text import compile_text
    except ImportError as error:
        raise EngineUnavailable(f"the criteria engine cannot be imported: {error}") from error
    trial = compile_text(text, load_tables())

    def run(trial_id: str, version: str, patient: PatientFacts, as_of: datetime) -> Decision:
        if (trial_id, version) != (trial.id, trial.version):
            raise EngineUnavailable(f"the text found is {trial.id} {trial.version}, "
                                    f"not {trial_id} {version}")
        return evaluate(trial, patient, as_of)

    return run


def replay(stored_decision: str, snapshot: str, trial_id: str, trial_version: str,
           as_of: datetime, evaluate: Evaluate) -> ReplayResult:
    stored = json.loads(stored_decision)
    patient = PatientFacts.model_validate_json(snapshot)
    replayed = evaluate(trial_id, trial_version, patient, as_of).model_dump(mode="json")
    differences = differences_between(stored, replayed)
    return ReplayResult(not differences, differences, replayed)


def differences_between(stored: Any, replayed: Any, path: str = "decision") -> list[str]:
    """Every path where the two JSON values differ, as 'path: stored X, replayed Y'."""
    if isinstance(stored, dict) and isinstance(replayed, dict):
        found: list[str] = []
        for key in sorted(set(stored) | set(replayed)):
            found += differences_between(stored.get(key, _ABSENT), replayed.get(key, _ABSENT),
                                         f"{path}.{key}")
        return found
    if isinstance(stored, list) and isinstance(replayed, list) and len(stored) == len(replayed):
        found = []
        for index, (left, right) in enumerate(zip(stored, replayed, strict=True)):
            found += differences_between(left, right, f"{path}[{_label(left, index)}]")
        return found
    if stored == replayed and type(stored) is type(replayed):
        return []
    return [f"{path}: stored {_show(stored)}, replayed {_show(replayed)}"]


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


_ABSENT = _Absent()


def _label(item: Any, index: int) -> str:
    return str(item["id"]) if isinstance(item, dict) and "id" in item else str(index)


def _show(value: Any) -> str:
    if value is _ABSENT:
        return "(absent)"
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 200 else text[:197] + "..."
