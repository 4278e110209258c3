"""The Screener port backed by the criteria engine in ``shared.eligibility``.

The engine ships with the evaluator. If it cannot load its trial files the evaluator must not
start: screening with a stand-in would turn every eligible patient into a false "no longer
eligible" alert while readiness stayed green.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from shared.clinical.facts import PatientFacts
from shared.eligibility.decision import Decision, TrialRef
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import TRIALS_DIR, TrialFileError, list_trials
from shared.eligibility.reference_tables import Tables, load_tables
from shared.eligibility.trial import TrialVersion
from shared.eligibility.trial_text import compile_text, content_hash


class CriteriaEngineScreener:
    """The engine with the trial versions of a folder (``EVALUATOR_TRIALS_DIR``, the shipped
    examples by default) and whatever the registry hands it as text (``load_text``)."""

    def __init__(self, trials_dir: Path = TRIALS_DIR) -> None:
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

    def evaluate(self, trial: TrialRef, facts: PatientFacts, as_of: datetime) -> Decision:
        return evaluate(self._trial_version(trial), facts, as_of)

    def active_trials(self) -> tuple[TrialRef, ...]:
        """The newest version of each trial in the folder."""
        return self._shipped

    def has_version(self, trial: TrialRef) -> bool:
        try:
            self._trial_version(trial)
        except TrialFileError:
            return False
        return True


def default_screener(trials_dir: Path | None = None) -> CriteriaEngineScreener:
    """The criteria engine with the trials of ``trials_dir`` (the shipped examples by default);
    raises (the service does not start) if it cannot load them."""
    return CriteriaEngineScreener(trials_dir or TRIALS_DIR)


def trial_dir_file(directory: Path, trial_id: str, version: str) -> Path:
    return directory / trial_id / f"{version}.yaml"

