"""The codes the active trials' criteria read: intake's ``ScreenedCodes`` from trial files.

Intake does not see the evaluator's trial registry (services share no tables), so it reads
the same trial files the evaluator screens by default: the newest version of each trial in
``INTAKE_TRIALS_DIR`` (empty: the trials shipped in ``shared/trials``, as
``EVALUATOR_TRIALS_DIR``). The evaluator's registry (issue 12: ``POST /trials``, ``trialwatch
trials add/activate/deactivate/retire``) is not seen here, and that is wrong both ways (these
are receipt warnings only; no decision reads them):

- a version uploaded or activated only through the registry: a code only it reads is named in
  receipts (and ``trialwatch import``'s summary) as "not screened by any criterion" while the
  evaluator screens it (a trial reading eGFR, LOINC 33914-3, which no shipped trial reads);
- a trial the registry deactivated or retired, or an older version activated in place of the
  folder's newest: its codes are still counted as screened, so a fact no active trial reads
  gets no warning (TRIALX-323795 retired: ICD-10-CM I45.81 long QT and I49.01 ventricular
  fibrillation, read by no other trial, are still called screened).

The fix designed (not built): the evaluator publishes each trial's active version (its text
and hash, or a tombstone) on a compacted topic, in the transaction of the registry change, and
intake rebuilds its ``ScreenedCodes`` from it (docs/intake.md, receipt ``warnings``).

What a trial reads is what its criteria's ``requirements`` name (the data dictionary's
source): value-set concepts, each score's inputs, and the project CodeSystem of clinician
facts, matched as the engine matches them (``shared.eligibility.index.Readable``: exact codes,
ICD-10-CM code families; RxNorm products through their ingredients).
"""

from __future__ import annotations

from pathlib import Path

from shared.clinical.codes import RXNORM
from shared.clinical.facts import Coding, FactKind
from shared.clinical.medication_codes import INGREDIENT_SYSTEM
from shared.eligibility.index import Readable
from shared.eligibility.loader import TRIALS_DIR, list_trials, load_trial_file
from shared.eligibility.reference_tables import TW_SYSTEM, Concept, Tables
from shared.eligibility.scores.registry import registered as registered_scores
from shared.eligibility.trial import TrialVersion


def trial_concepts(trial: TrialVersion) -> list[Concept]:
    """Every table concept the trial's criteria read (scores' inputs included)."""
    tables = trial.tables
    by_label = {concept.label: concept for concept in tables.concepts.values()}
    found: dict[str, Concept] = {}
    for criterion in trial.criteria:
        for requirement in criterion.node.requirements():
            name = requirement.concept
            if name.startswith("score:"):
                for row in registered_scores()[name.removeprefix("score:")].rows(tables):
                    concept = by_label.get(row.element)
                    if concept is not None:
                        found.setdefault(concept.name, concept)
            elif not name.startswith("Patient.") and name in tables.concepts:
                found.setdefault(name, tables.concept(name))
    return list(found.values())


class TrialFileCodes:
    """``ScreenedCodes`` of the newest version of each trial in ``directory``; raises
    (``TrialFileError``) when a trial file cannot be compiled, so intake does not start."""

    def __init__(self, directory: Path | None = None) -> None:
        directory = directory or TRIALS_DIR
        trials = [load_trial_file(directory / trial_id / f"{versions[-1]}.yaml")
                  for trial_id, versions in list_trials(directory).items()]
        concepts = [c for trial in trials for c in trial_concepts(trial)]
        self._tables: Tables | None = trials[0].tables if trials else None
        self._readable = Readable(concepts, (TW_SYSTEM,))
        self.trial_ids = tuple(t.id for t in trials)

    def reads(self, kind: FactKind, codes: tuple[Coding, ...]) -> bool:
        readable = self._readable
        for coding in codes:
            if readable(coding.system, coding.code):
                return True
            if coding.system == INGREDIENT_SYSTEM and readable(RXNORM, coding.code):
                return True  # an ingredient the site medication crosswalk listed
            if kind is FactKind.MEDICATION and coding.system == RXNORM and self._tables:
                ingredients = self._tables.product_ingredients.get(coding.code, ())
                if any(readable(RXNORM, ingredient) for ingredient in ingredients):
                    return True
        return False
