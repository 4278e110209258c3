"""Modified NIH activity (0-24) and chronicity (0-12) indices (Bajema 2018).

From a documented index when sent, else from the lesion scores (each 0-3, weighted);
an unscored lesion contributes 0 to 3 x weight.
"""

from __future__ import annotations

from shared.eligibility.context import Context, Trace, cite, note_unread
from shared.eligibility.data_elements import Row, concept_row
from shared.eligibility.durations import Duration
from shared.eligibility.index import fact_time
from shared.eligibility.reference_tables import Tables
from shared.eligibility.scores.common import documented_value, fact_concept, in_window
from shared.eligibility.scores.registry import ScoreInputs, ScoreOutcome, score


def nih_index(ctx: Context, which: str, lookback: Duration, trace: Trace) -> ScoreOutcome:
    concept = ctx.tables.concept(
        "nih_activity_index" if which == "activity" else "nih_chronicity_index"
    )
    documented = documented_value(ctx, concept, lookback, trace)
    if documented is not None:
        return documented
    low = high = 0.0
    unscored: list[str] = []
    for lesion in ctx.tables.scores["nih_indices"][which]:
        concept = fact_concept(lesion["fact"], lesion["id"])
        facts = [
            f
            for f in in_window(ctx, ctx.facts(concept), lookback)
            if f.value_quantity or f.unread is not None
        ]
        if facts and facts[0].unread is not None:
            # kept unread: the lesion is unscored, never scored from an older biopsy
            ctx.review_at(lookback.after(fact_time(facts[0])))
            note_unread(trace, f"NIH {which} lesion {lesion['id']}", facts[0])
            facts = []
        if facts and facts[0].value_quantity is not None:
            ctx.review_at(lookback.after(fact_time(facts[0])))
            score = min(max(facts[0].value_quantity.value, 0.0), 3.0) * lesion["weight"]
            trace.evidence.append(cite(facts[0], note=f"NIH {which} lesion {lesion['id']}"))
            low += score
            high += score
        else:
            high += 3 * lesion["weight"]
            unscored.append(lesion["id"])
    if unscored:
        trace.need(
            f"NIH {which} index (or lesion scores: {', '.join(unscored)})"
            f" from a biopsy within {lookback.words()}"
        )
    trace.findings.append(f"NIH {which} index computed: {low:g} sure, up to {high:g}")
    return ScoreOutcome(low, high)


def _register(which: str, label: str) -> None:
    def compute(ctx: Context, inputs: ScoreInputs, trace: Trace) -> ScoreOutcome:
        assert inputs.lookback is not None  # ``needs`` is checked when the trial version loads
        return nih_index(ctx, which, inputs.lookback, trace)

    def rows(tables: Tables) -> list[Row]:
        found = [
            concept_row(tables.concept(f"nih_{which}_index"), "documented index (preferred)")
        ]
        found += [
            Row(
                f"lesion: {item['id']}",
                "Observation (valueInteger 0-3)",
                f"TrialWatch facts `{item['fact']}`",
                "`1`",
                f"x {item['weight']}",
            )
            for item in tables.scores["nih_indices"][which]
        ]
        return found

    score(f"nih_{which}", label, compute, rows=rows, needs=("lookback",))


_register("activity", "NIH activity index")
_register("chronicity", "NIH chronicity index")
