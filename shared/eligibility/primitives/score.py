"""Threshold on a derived score, three-valued over the score's [sure, possible] bounds."""

from __future__ import annotations

from shared.eligibility.context import Context, Trace
from shared.eligibility.durations import Duration
from shared.eligibility.logic import Truth, all_of, compare_bounds
from shared.eligibility.primitives.base import Node, Requirement
from shared.eligibility.scores.cockcroft_gault import cockcroft_gault
from shared.eligibility.scores.common import ScoreOutcome
from shared.eligibility.scores.eular_acr_2019 import eular_acr_2019
from shared.eligibility.scores.nih_indices import nih_index
from shared.eligibility.scores.sledai_2k import sledai_2k

_LABELS = {
    "eular_acr_2019": "2019 EULAR/ACR SLE classification score",
    "sledai_2k": "SLEDAI-2K",
    "cockcroft_gault": "Cockcroft-Gault CrCl (mL/min)",
    "nih_activity": "NIH activity index",
    "nih_chronicity": "NIH chronicity index",
}


class ScoreThreshold(Node):
    __slots__ = ("lookback", "op", "score", "value", "weight", "weight_lookback", "window")

    def __init__(
        self,
        score: str,
        op: str,
        value: float,
        *,
        window: Duration | None,
        lookback: Duration | None,
        weight: str | None,
        weight_lookback: Duration | None,
    ) -> None:
        self.score, self.op, self.value = score, op, value
        self.window, self.lookback = window, lookback
        self.weight, self.weight_lookback = weight, weight_lookback

    def _compute(self, ctx: Context, trace: Trace) -> ScoreOutcome | None:
        if self.score == "sledai_2k":
            assert self.window is not None
            return sledai_2k(ctx, self.window, trace)
        if self.score == "eular_acr_2019":
            return eular_acr_2019(ctx, trace)
        assert self.lookback is not None
        if self.score == "cockcroft_gault":
            assert self.weight is not None
            assert self.weight_lookback is not None
            return cockcroft_gault(ctx, self.lookback, self.weight, self.weight_lookback, trace)
        return nih_index(
            ctx, "activity" if self.score == "nih_activity" else "chronicity", self.lookback, trace
        )

    def evaluate(self, ctx: Context, trace: Trace) -> Truth:
        outcome = self._compute(ctx, trace)
        if outcome is None:
            return Truth.UNKNOWN
        met = compare_bounds(outcome.low, outcome.high, self.value, self.op)
        verdict = {
            Truth.TRUE: "meets",
            Truth.FALSE: "does not meet",
            Truth.UNKNOWN: "cannot yet decide",
        }[met]
        trace.findings.append(f"{_LABELS[self.score]} {verdict} {self.op} {self.value:g}")
        return all_of((outcome.gate, met))

    def requirements(self) -> list[Requirement]:
        scope = (
            f"window {self.window.words()}"
            if self.window
            else (f"within {self.lookback.words()}" if self.lookback else "ever")
        )
        return [
            Requirement(
                f"score:{self.score}", f"{_LABELS[self.score]} {self.op} {self.value:g} ({scope})"
            )
        ]
