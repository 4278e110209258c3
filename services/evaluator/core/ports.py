"""The port to the criteria engine: handlers, timers and tests depend on it, not on the engine."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from shared.clinical.facts import PatientFacts
from shared.eligibility.decision import Decision, TrialRef


class Screener(Protocol):
    """Evaluates one trial version for one patient at one instant; lists the shipped trials;
    compiles a trial version from the registry's stored text."""

    def evaluate(self, trial: TrialRef, facts: PatientFacts, as_of: datetime) -> Decision: ...

    def active_trials(self) -> tuple[TrialRef, ...]: ...

    def has_version(self, trial: TrialRef) -> bool: ...

    def content_hash(self, trial: TrialRef) -> str | None:
        """The content hash of the text this screener compiled ``trial`` from (None: unknown)."""
        ...

    def text_of(self, trial: TrialRef) -> str | None:
        """The trial file text this screener read ``trial`` from, when it came from its folder."""
        ...

    def load_text(self, text: str) -> TrialRef:
        """Compile a trial version from its stored text (replacing one of the same id and
        version); raises ``TrialFileError`` when it does not compile."""
        ...
