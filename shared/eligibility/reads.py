"""Which codes a trial version's criteria read: the value-set concepts named by its criteria's
``requirements`` (score inputs included), as exact ``system|code`` keys and code-family
prefixes (ICD-10-CM families), matched as the engine matches them
(``shared.eligibility.index.Readable``).

Pure. Used by intake to say in a receipt which results no active trial reads (its
``ScreenedCodes``), from trial files and from the evaluator's registry topic
(``shared.contracts.events.TrialScreening``), and by the evaluator to publish that topic.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shared.eligibility.reference_tables import Concept
from shared.eligibility.scores.registry import registered as registered_scores
from shared.eligibility.trial import TrialVersion


def trial_concepts(trial: TrialVersion) -> list[Concept]:
    """Every table concept the trial's criteria read (scores' inputs included), once each, in
    the order the criteria first name them."""
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


@dataclass(frozen=True, slots=True)
class ReadCodes:
    """The codes one trial version reads: ``keys`` exact ``system|code`` (sorted), ``prefixes``
    ``(system, code prefix)`` pairs of code families (sorted). Medication keys are RxNorm
    ingredients: a reader rolls products up to them with its own product table."""

    keys: tuple[str, ...]
    prefixes: tuple[tuple[str, str], ...]

    def as_concept(self, name: str) -> Concept:
        """One concept holding every code (for ``Readable``), named ``name``."""
        return Concept(name=name, label=name, resource="any", unit=None, alternate_units=(),
                       source=f"codes read by {name}", keys=frozenset(self.keys),
                       prefixes=self.prefixes)


NOTHING = ReadCodes((), ())
"""What a trial that is not screened reads."""


def read_codes(concepts: Iterable[Concept]) -> ReadCodes:
    """The union of ``concepts``' codes."""
    keys: set[str] = set()
    prefixes: set[tuple[str, str]] = set()
    for concept in concepts:
        keys.update(concept.keys)
        prefixes.update(concept.prefixes)
    return ReadCodes(tuple(sorted(keys)), tuple(sorted(prefixes)))


def trial_read_codes(trial: TrialVersion) -> ReadCodes:
    """The codes ``trial``'s criteria read (``trial_concepts``)."""
    return read_codes(trial_concepts(trial))
