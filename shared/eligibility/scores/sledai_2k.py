"""SLEDAI-2K (Gladman 2002): 24 weighted descriptors present within the window before as-of.

A documented total in the window is used as the score; descriptors that the data proves
present still raise it (the data cannot be un-seen).
"""

from __future__ import annotations

from functools import partial

from shared.eligibility.context import Context, Trace
from shared.eligibility.data_elements import Row, concept_row
from shared.eligibility.durations import Duration
from shared.eligibility.logic import Truth
from shared.eligibility.reference_tables import Tables
from shared.eligibility.scores.common import documented_value, item_rows, rules_truth, score_items
from shared.eligibility.scores.registry import ScoreInputs, ScoreOutcome, score


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
    # remembered with what it read (``Context.remember``): a new descriptor re-reads the
    # descriptors it feeds, not the documented total
    documented = ctx.remember(
        ("documented", "sledai_2k_total", window.text), trace,
        partial(documented_value, ctx, ctx.tables.concept("sledai_2k_total"), window),
        keep_only=True,
    )
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


def _compute(ctx: Context, inputs: ScoreInputs, trace: Trace) -> ScoreOutcome:
    assert inputs.window is not None  # ``needs`` is checked when the trial version is loaded
    return sledai_2k(ctx, inputs.window, trace)


def _rows(tables: Tables) -> list[Row]:
    rows = [
        concept_row(
            tables.concept("sledai_2k_total"), "documented total (accepted as the assessment)"
        )
    ]
    for item in tables.scores["sledai_2k"]["items"]:
        rows.extend(item_rows(item, tables))
    return rows


score("sledai_2k", "SLEDAI-2K", _compute, rows=_rows, needs=("window",))
