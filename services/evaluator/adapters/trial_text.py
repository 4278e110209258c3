"""What the coordinator app and the alert headlines need from a trial version's files: the
clinical names of codes and each criterion's summary and protocol sentence. Read once per
trial version and cached."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from shared.eligibility.decision import TrialRef
from shared.eligibility.loader import TrialFileError, load_trial
from shared.eligibility.readable import concept_labels


@dataclass(frozen=True, slots=True)
class CriterionText:
    summary: str
    protocol_text: str


@dataclass(frozen=True, slots=True)
class TrialText:
    title: str
    labels: dict[str, str]
    criteria: dict[str, CriterionText]


@lru_cache(maxsize=64)
def trial_text(trial: TrialRef) -> TrialText:
    """Names and sentences of one trial version; empty when its file is not shipped."""
    try:
        loaded = load_trial(trial.id, trial.version)
    except TrialFileError:
        return TrialText(title=trial.id, labels={}, criteria={})
    labels = concept_labels((c.label, c.keys) for c in loaded.tables.concepts.values())
    criteria = {c.id: CriterionText(c.summary, " ".join(c.protocol_text.split()))
                for c in loaded.criteria}
    return TrialText(title=loaded.title, labels=labels, criteria=criteria)
