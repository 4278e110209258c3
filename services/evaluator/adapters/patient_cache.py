"""What the evaluator keeps in memory between batches, per patient: the facts of the state
version it last committed, and the parsed current decisions (by decision id).

Loading a patient from the database means reading and validating every stored fact (250 of
them for a patient with a few years of labs) and every trial's stored decision; with the cache
a batch reads only the state row (its version, under the row lock) and the status rows' ids,
and takes the rest from memory. The database stays the truth: an entry is used only when the
version (facts) or decision id (statuses) read under the lock is the one cached, so another
process writing the same patient (after a rebalance) makes it a miss, rebuilt from the rows.
Entries are written only after their transaction committed. Bounded (least recently used).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.evaluator.core.patient_state import PatientState
from services.evaluator.core.ports import CurrentStatus
from shared.clinical.facts import PatientFacts

DEFAULT_PATIENTS = 2_000  # ~130 KiB each with 3 trials (the parsed decisions)


@dataclass
class _Entry:
    version: int
    facts: PatientFacts
    statuses: dict[str, CurrentStatus] = field(default_factory=dict)  # by trial id


class PatientCache:
    """Least-recently-used patients, at most ``max_patients`` of them; ``hits`` and ``misses``
    count fact loads (for the benchmark and the curious)."""

    def __init__(self, max_patients: int = DEFAULT_PATIENTS) -> None:
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._max = max_patients
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def facts(self, patient_key: str, version: int) -> PatientFacts | None:
        """The facts of ``patient_key`` at state ``version``, if that is what is cached."""
        entry = self._entries.get(patient_key)
        if entry is None or entry.version != version:
            self.misses += 1
            return None
        self._entries.move_to_end(patient_key)
        self.hits += 1
        return entry.facts

    def status(self, patient_key: str, trial_id: str, decision_id: str) -> CurrentStatus | None:
        entry = self._entries.get(patient_key)
        if entry is None:
            return None
        cached = entry.statuses.get(trial_id)
        return cached if cached is not None and cached.decision_id == decision_id else None

    def commit(
        self, states: Mapping[str, PatientState],
        statuses: Mapping[tuple[str, str], CurrentStatus], forgotten: set[str],
    ) -> None:
        """What a committed transaction wrote: new states, new current statuses, and the
        patients it removed (merged away)."""
        for key in forgotten:
            self._entries.pop(key, None)
        for key, state in states.items():
            entry = self._entries.get(key)
            if entry is None or entry.version != state.version:
                kept = entry.statuses if entry is not None else {}
                entry = _Entry(state.version, state.facts, kept)
            self._entries[key] = entry
            self._entries.move_to_end(key)
        for (key, trial_id), current in statuses.items():
            found = self._entries.get(key)
            if found is not None:
                found.statuses[trial_id] = current
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
