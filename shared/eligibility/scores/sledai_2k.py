"""SLEDAI-2K (Gladman 2002): 24 weighted descriptors present within the window before as-of.

A documented total in the window is used as the score; descriptors that the data proves
present still raise it (the data cannot be un-seen).
"""

from __future__ import annotations

from shared.eligibility.context import Context, Trace
from shared.eligibility.durations import Duration
from shared.eligibility.logic import Truth
from shared.eligibility.scores.common import (
    ScoreOutcome,
    documented_value,
    rules_truth,
    score_items,
)


def sledai_2k(ctx: Context, window: Duration, trace: Trace) -> ScoreOutcome:
    low = high = 0.0
    unknown: list[str] = []
    for item in score_items(ctx.tables, "sledai_2k"):
        state = rules_truth(ctx, item.rules, window, trace, ever=False)
        if state is Truth.TRUE:
            low += item.weight
            high += item.weight
        elif state is Truth.UNKNOWN:
            high += item.weight
            unknown.append(item.id)
    documented = documented_value(ctx, ctx.tables.concept("sledai_2k_total"), window, trace)
    if documented is not None:
        # a documented total is read as bounds; the descriptors on record are a floor under it
        total = ScoreOutcome(max(documented.low, low), max(documented.high, low))
        trace.findings.append(
            f"SLEDAI-2K {total.words()} (documented {documented.words()};"
            f" descriptors prove >= {low:g})"
        )
        return total
    trace.findings.append(f"SLEDAI-2K computed over {window.words()}: {low:g} sure, up to {high:g}")
    if unknown and low != high:
        trace.need(f"SLEDAI-2K total within {window.words()} or descriptors: {', '.join(unknown)}")
    return ScoreOutcome(low, high)
