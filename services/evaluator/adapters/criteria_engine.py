"""The Screener port backed by the criteria engine in ``shared.eligibility``.

The engine ships with the evaluator. If it cannot load its trial files the evaluator must not
start: screening with a stand-in would turn every eligible patient into a false "no longer
eligible" alert while readiness stayed green.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from shared.clinical.facts import ClinicalFact, PatientFacts
from shared.eligibility.decision import Decision, TrialRef
from shared.eligibility.engine import EngineState, build_index, evaluate, evaluate_incremental
from shared.eligibility.index import FactIndex
from shared.eligibility.loader import TRIALS_DIR, TrialFileError, list_trials
from shared.eligibility.reference_tables import Tables, load_tables
from shared.eligibility.trial import TrialVersion
from shared.eligibility.trial_text import compile_text, content_hash

DEFAULT_PATIENTS = 1_000  # ~200 KiB each with the 3 shipped trials (benchmarks/bench_screening.py)


class _Evaluated(NamedTuple):
    facts: PatientFacts  # what the index was built from
    fact_index: FactIndex
    state: EngineState


class CriteriaEngineScreener:
    """The engine with the trial versions of a folder (``EVALUATOR_TRIALS_DIR``, the shipped
    examples by default) and whatever the registry hands it as text (``load_text``).

    Incremental: for a ``patient_key`` it keeps, per trial version, the fact index and the
    engine's state of the last evaluation (``max_patients`` patients, least recently used
    first out). The next evaluation of that patient indexes only the facts that differ from
    the ones it indexed (``FactIndex.with_facts``) and re-evaluates only the criteria whose
    concepts they touch or whose review time has come (``evaluate_incremental``); the decision
    equals a full evaluation of the same facts. A fact gone, or other demographics, rebuild the
    index from scratch. Nothing here is trusted beyond the facts it is handed: another process
    having screened the patient meanwhile only makes more facts differ."""

    def __init__(self, trials_dir: Path = TRIALS_DIR, max_patients: int = DEFAULT_PATIENTS) -> None:
        self._evaluated: OrderedDict[str, dict[TrialRef, _Evaluated]] = OrderedDict()
        self._max_patients = max_patients
        self._diff: tuple[PatientFacts, PatientFacts, list[ClinicalFact] | None] | None = None
        self._versions: dict[TrialRef, TrialVersion] = {}
        self._hashes: dict[TrialRef, str] = {}
        self.tables: Tables = load_tables()
        self.trials_dir = trials_dir
        self.folder_texts: dict[TrialRef, str] = {}
        newest = []
        for trial_id, versions in list_trials(trials_dir).items():
            for version in versions:
                text = (trial_dir_file(trials_dir, trial_id, version)).read_text(encoding="utf-8")
                self.folder_texts[self.load_text(text)] = text
            newest.append(TrialRef(id=trial_id, version=versions[-1]))
        if not newest:
            raise RuntimeError(f"no trial file in {trials_dir}: nothing to screen")
        self._shipped = tuple(newest)

    def load_text(self, text: str) -> TrialRef:
        compiled = compile_text(text, self.tables)
        trial = TrialRef(id=compiled.id, version=compiled.version)
        self._versions[trial], self._hashes[trial] = compiled, content_hash(text)
        for kept in self._evaluated.values():  # results of the text it replaces are void
            kept.pop(trial, None)
        return trial

    def content_hash(self, trial: TrialRef) -> str | None:
        return self._hashes.get(trial)

    def text_of(self, trial: TrialRef) -> str | None:
        return self.folder_texts.get(trial)

    def _trial_version(self, trial: TrialRef) -> TrialVersion:
        loaded = self._versions.get(trial)
        if loaded is None:
            raise TrialFileError(f"the criteria engine has no {trial.id} version {trial.version}")
        return loaded

    def evaluate(
        self, trial: TrialRef, facts: PatientFacts, as_of: datetime,
        patient_key: str | None = None,
    ) -> Decision:
        compiled = self._trial_version(trial)
        if patient_key is None or self._max_patients <= 0:
            return evaluate(compiled, facts, as_of)
        trials = self._evaluated.get(patient_key)
        if trials is None:
            trials = self._evaluated[patient_key] = {}
            while len(self._evaluated) > self._max_patients:
                self._evaluated.popitem(last=False)
        else:
            self._evaluated.move_to_end(patient_key)
        before = trials.get(trial)
        index = self._index(compiled, facts, before)
        decision, state = evaluate_incremental(
            compiled, index, as_of, before.state if before is not None else None)
        trials[trial] = _Evaluated(facts, index, state)
        return decision

    def forget(self, patient_key: str) -> None:
        """Drop what is kept for ``patient_key`` (a record merged away)."""
        self._evaluated.pop(patient_key, None)

    def _index(
        self, compiled: TrialVersion, facts: PatientFacts, before: _Evaluated | None,
    ) -> FactIndex:
        if before is None or before.facts.demographics != facts.demographics:
            return build_index(compiled, facts)
        if before.facts is facts:
            return before.fact_index
        changed = self._changed(before.facts, facts)
        if changed is None:
            return build_index(compiled, facts)
        return before.fact_index.with_facts(changed)

    def _changed(self, old: PatientFacts, new: PatientFacts) -> list[ClinicalFact] | None:
        """The facts of ``new`` not in ``old`` (new or replaced), or None when a fact of ``old``
        is gone. Worked out once per pair of fact sets: every trial asks the same question."""
        if self._diff is not None and self._diff[0] is old and self._diff[1] is new:
            return self._diff[2]
        kept = {f.fact_id: f for f in old.facts}
        now = {f.fact_id for f in new.facts}
        changed: list[ClinicalFact] | None = None
        if kept.keys() <= now:
            changed = [f for f in new.facts
                       if (k := kept.get(f.fact_id)) is None or (k is not f and k != f)]
        self._diff = (old, new, changed)
        return changed

    def active_trials(self) -> tuple[TrialRef, ...]:
        """The newest version of each trial in the folder."""
        return self._shipped

    def has_version(self, trial: TrialRef) -> bool:
        try:
            self._trial_version(trial)
        except TrialFileError:
            return False
        return True


def default_screener(trials_dir: Path | None = None,
                     max_patients: int = DEFAULT_PATIENTS) -> CriteriaEngineScreener:
    """The criteria engine with the trials of ``trials_dir`` (the shipped examples by default),
    keeping the engine state of ``max_patients`` patients (``EVALUATOR_ENGINE_STATE_CACHE_SIZE``);
    raises (the service does not start) if it cannot load them."""
    return CriteriaEngineScreener(trials_dir or TRIALS_DIR, max_patients)


def trial_dir_file(directory: Path, trial_id: str, version: str) -> Path:
    return directory / trial_id / f"{version}.yaml"

