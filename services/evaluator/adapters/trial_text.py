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


SHORT_TITLE = 60  # characters: a trial's title as a worklist or alert line can carry it


def short_title(title: str, limit: int = SHORT_TITLE) -> str:
    """``title`` cut at a word boundary to at most ``limit`` characters, with "…" when cut."""
    title = " ".join(title.split())
    if len(title) <= limit:
        return title
    cut = title[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:-")
    return f"{cut}…"


@lru_cache(maxsize=256)
def trial_name(trial_id: str, version: str | None = None) -> str:
    """"NCT06920433 — UCAR T-cell Therapy Targeting CD19/BCMA in Patients With…": the id a
    coordinator searches for and the title they recognise (the trial file's ``title``, of
    ``version`` or else the latest shipped version); the id alone for a trial without a file."""
    try:
        title = load_trial(trial_id, version).title
    except TrialFileError:
        if version is None:
            return trial_id
        return trial_name(trial_id)
    return f"{trial_id} — {short_title(title)}" if title and title != trial_id else trial_id
