"""Derived scores by name: what the ``score`` primitive computes and thresholds.

A score is one module of this package: its computation and its data dictionary rows,
registered with ``score(name, label, compute, rows=..., needs=...)``. Every module of the
package is imported by ``registered()`` (sorted by name), so a new score is one new file (plus
its items in ``shared/trials/tables/scores.yaml`` when it has a table).
"""

from __future__ import annotations

import importlib
import math
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from shared.eligibility.context import Context, Trace
from shared.eligibility.data_elements import Row
from shared.eligibility.durations import Duration
from shared.eligibility.logic import Truth
from shared.eligibility.reference_tables import Tables


@dataclass(frozen=True, slots=True)
class ScoreOutcome:
    """A score known to lie in [low, high] (points or mL/min), and a gate (the 2019 EULAR/ACR
    entry criterion) that must also hold for a threshold on it to be met."""

    low: float
    high: float
    gate: Truth = Truth.TRUE

    def words(self) -> str:
        if self.low == self.high:
            return f"{self.low:g}"
        if self.low == -math.inf:
            return f"at most {self.high:g}"
        if self.high == math.inf:
            return f"at least {self.low:g}"
        return f"{self.low:g}-{self.high:g}"


Input = Literal["window", "lookback", "weight", "weight_lookback"]


@dataclass(frozen=True, slots=True)
class ScoreInputs:
    """The trial version's parameters for one score threshold (``score:`` in a trial file)."""

    window: Duration | None = None
    """SLEDAI-2K descriptor window (Gladman 2002: 10 days; Touma 2010: 30 days equivalent)."""
    lookback: Duration | None = None
    weight: str | None = None
    """Cockcroft-Gault body weight: actual, ideal (Devine 1974) or adjusted."""
    weight_lookback: Duration | None = None


Compute = Callable[[Context, ScoreInputs, Trace], "ScoreOutcome | None"]


@dataclass(frozen=True, slots=True)
class Score:
    """One score: ``compute(ctx, inputs, trace)`` gives its bounds, or None when it cannot be
    computed (what is missing is then in ``trace``); ``rows(tables)`` lists the data it reads
    for the data dictionary; ``needs`` the inputs a trial file must give (checked at load)."""

    name: str
    label: str
    compute: Compute
    rows: Callable[[Tables], list[Row]]
    needs: tuple[Input, ...] = ()


_SCORES: dict[str, Score] = {}
_loaded = False


def score(
    name: str,
    label: str,
    compute: Compute,
    *,
    rows: Callable[[Tables], list[Row]],
    needs: tuple[Input, ...] = (),
) -> Score:
    """Register score ``name`` (the value of ``score:`` in a trial file)."""
    if name in _SCORES:
        raise ValueError(f"score {name!r} registered twice")
    found = _SCORES[name] = Score(name, label, compute, rows, needs)
    return found


def registered() -> dict[str, Score]:
    """Every score by name, in registration order (modules sorted by name)."""
    global _loaded
    if not _loaded:
        package = importlib.import_module(__package__ or "shared.eligibility.scores")
        for module in sorted(m.name for m in pkgutil.iter_modules(package.__path__)):
            importlib.import_module(f"{package.__name__}.{module}")
        _loaded = True
    return _SCORES
