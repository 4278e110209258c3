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
from shared.eligibility.reference_tables import TABLES_HASH_PARAMETER, Tables

Evaluate = Callable[[str, str, PatientFacts, datetime], Decision]


class EngineUnavailable(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class ReplayResult:
    identical: bool
    differences: list[str]
    replayed: dict[str, Any]
    tables_hash: str | None = None
    """The reference tables the stored decision names (``recorded_tables_hash``); None for a
    decision made before they were recorded, replayed against whatever tables the engine had."""


def recorded_tables_hash(stored_decision: str) -> str | None:
    """The ``tables_hash`` a stored decision (its JSON) records as
    ``parameters["table_version.content_hash"]``, or None (a decision from before it was
    recorded)."""
    parameters = json.loads(stored_decision).get("parameters") or {}
    digest = parameters.get(TABLES_HASH_PARAMETER)
    return digest if isinstance(digest, str) and digest else None


def installed_engine(tables: Tables | None = None) -> Evaluate:
    """``shared.eligibility``'s engine and trial loader, imported only when a replay runs; the
    trial files compiled against ``tables`` (the decision's) or, when None, today's tables."""
    try:
        from shared.eligibility.engine import evaluate
        from shared.eligibility.loader import TRIALS_DIR, load_trial, load_trial_file
    except ImportError as error:
        raise EngineUnavailable(f"the criteria engine cannot be imported: {error}") from error

    def run(trial_id: str, version: str, patient: PatientFacts, as_of: datetime) -> Decision:
        if tables is None:
            return evaluate(load_trial(trial_id, version), patient, as_of)
        path = TRIALS_DIR / trial_id / f"{version}.yaml"
        return evaluate(load_trial_file(path, tables), patient, as_of)

    return run


def engine_for_text(text: str, tables: Tables | None = None) -> Evaluate:
    """The engine bound to one trial version compiled from its stored text against ``tables``
    (the reference tables the decision was made with) or, when None, today's tables."""
    try:
        from shared.eligibility.engine import evaluate
        from shared.eligibility.reference_tables import load_tables
        from shared.eligibility.trial_text import compile_text
    except ImportError as error:
        raise EngineUnavailable(f"the criteria engine cannot be imported: {error}") from error
    trial = compile_text(text, tables if tables is not None else load_tables())

    def run(trial_id: str, version: str, patient: PatientFacts, as_of: datetime) -> Decision:
        if (trial_id, version) != (trial.id, trial.version):
            raise EngineUnavailable(f"the text found is {trial.id} {trial.version}, "
                                    f"not {trial_id} {version}")
        return evaluate(trial, patient, as_of)

    return run


def replay(stored_decision: str, snapshot: str, trial_id: str, trial_version: str,
           as_of: datetime, evaluate: Evaluate) -> ReplayResult:
    """The decision ``evaluate`` makes on the stored snapshot at ``as_of``, compared with the
    stored decision (JSON). A stored decision that records no tables hash predates it: the hash
    the replay records is left out of the comparison (``tables_hash`` None says so)."""
    stored = json.loads(stored_decision)
    patient = PatientFacts.model_validate_json(snapshot)
    replayed = evaluate(trial_id, trial_version, patient, as_of).model_dump(mode="json")
    digest = recorded_tables_hash(stored_decision)
    if digest is None and isinstance(replayed.get("parameters"), dict):
        replayed["parameters"].pop(TABLES_HASH_PARAMETER, None)
    differences = differences_between(stored, replayed)
    return ReplayResult(not differences, differences, replayed, digest)


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
