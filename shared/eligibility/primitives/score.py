"""Threshold on a derived score, three-valued over the score's [sure, possible] bounds.

The scores themselves (2019 EULAR/ACR, SLEDAI-2K, Cockcroft-Gault, NIH indices) live in
``shared.eligibility.scores``, one module each, found through its registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from shared.eligibility.context import Context, Trace
from shared.eligibility.logic import Truth, all_of, compare_bounds
from shared.eligibility.params import IsoDuration, Op, Strict, optional_duration
from shared.eligibility.primitives.base import Node, Requirement
from shared.eligibility.primitives.registry import primitive
from shared.eligibility.reference_tables import Tables
from shared.eligibility.scores.registry import Score, ScoreInputs, registered

if TYPE_CHECKING:
    ScoreName = str
else:
    ScoreName = Literal[tuple(registered())]


class ScoreArgs(Strict):
    score: ScoreName
    op: Op
    value: float
    window: IsoDuration | None = Field(default=None, description="SLEDAI-2K descriptor window")
    lookback: IsoDuration | None = Field(default=None, description="look-back for the inputs")
    weight: Literal["actual", "ideal", "adjusted"] | None = Field(
        default=None, description="Cockcroft-Gault body weight choice"
    )
    weight_lookback: IsoDuration | None = None


_VERDICT = {
    Truth.TRUE: "meets",
    Truth.FALSE: "does not meet",
    Truth.UNKNOWN: "cannot yet decide",
}


class ScoreThreshold(Node):
    __slots__ = ("inputs", "op", "score", "value")

    def __init__(self, score: Score, op: str, value: float, inputs: ScoreInputs) -> None:
        self.score, self.op, self.value, self.inputs = score, op, value, inputs

    def evaluate(self, ctx: Context, trace: Trace) -> Truth:
        outcome = self.score.compute(ctx, self.inputs, trace)
        if outcome is None:
            return Truth.UNKNOWN
        met = compare_bounds(outcome.low, outcome.high, self.value, self.op)
        trace.findings.append(f"{self.score.label} {_VERDICT[met]} {self.op} {self.value:g}")
        return all_of((outcome.gate, met))

    def requirements(self) -> list[Requirement]:
        window, lookback = self.inputs.window, self.inputs.lookback
        scope = (
            f"window {window.words()}"
            if window
            else (f"within {lookback.words()}" if lookback else "ever")
        )
        return [
            Requirement(
                f"score:{self.score.name}",
                f"{self.score.label} {self.op} {self.value:g} ({scope})",
            )
        ]


@primitive("score", ScoreArgs)
def _score(a: ScoreArgs, tables: Tables) -> Node:
    score = registered()[a.score]
    missing = [name for name in score.needs if getattr(a, name) is None]
    if missing:
        raise ValueError(f"score {a.score} needs {', '.join(missing)}")
    inputs = ScoreInputs(
        window=optional_duration(a.window),
        lookback=optional_duration(a.lookback),
        weight=a.weight,
        weight_lookback=optional_duration(a.weight_lookback),
    )
    return ScoreThreshold(score, a.op, a.value, inputs)
