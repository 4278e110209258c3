"""2019 EULAR/ACR classification criteria for SLE (Aringer 2019).

Entry: ANA >= 1:80 on HEp-2 (or an equivalent positive test) at least once. Items count if they
ever occurred; only the highest-weighted item per domain counts; at least one clinical item;
total >= 10 classifies. The engine cannot judge "explained better by something other than SLE":
computed items are counted as attributable, and the investigator review (E13) gates every
eligible call. A documented total is accepted as the assessment; items the data proves present
still raise it. A clinician-asserted SLE diagnosis alone is not a classification (it is cited
as evidence only).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from shared.clinical.facts import ClinicalFact
from shared.eligibility.context import Context, Trace, note_unread
from shared.eligibility.data_elements import Row, concept_row
from shared.eligibility.index import fact_time
from shared.eligibility.logic import Truth
from shared.eligibility.reading import judge, latest_result
from shared.eligibility.reference_tables import Tables
from shared.eligibility.scores.common import documented_value, item_rows, rules_truth, score_items
from shared.eligibility.scores.registry import ScoreInputs, ScoreOutcome, score


def _entry(ctx: Context, trace: Trace, *, spec: dict[str, Any]) -> Truth:
    at_least = spec["ana_titer_at_least"]
    titer = ctx.tables.concept("ana_titer")
    unread: list[ClinicalFact] = []
    for fact in ctx.facts(titer):
        if fact.unread is not None and fact_time(fact) <= ctx.as_of:
            unread.append(fact)
            continue
        q = fact.value_quantity
        if q is None or fact_time(fact) > ctx.as_of:
            continue
        # a titer reported as "<1:80" is below the entry bound, not at it
        if judge(q, at_least, ">=") is Truth.TRUE:
            trace.findings.append(f"entry criterion met: ANA titer 1:{q.value:g}")
            return Truth.TRUE
    presence_concept = ctx.tables.concept("ana_presence")
    presence = latest_result(ctx, presence_concept, None, None)
    if presence is not None and presence[1]:
        trace.findings.append("entry criterion met: ANA positive")
        return Truth.TRUE
    # "at least once": an unread result cannot rule the entry in, and could have been positive
    for fact in unread:
        note_unread(trace, titer.label, fact)
    if presence is not None and presence[1] is None:
        note_unread(trace, presence_concept.label, presence[0])
    trace.need("ANA >= 1:80 on HEp-2 cells (or equivalent positive test) at least once")
    return Truth.UNKNOWN


def eular_acr_2019(ctx: Context, trace: Trace) -> ScoreOutcome:
    spec = ctx.tables.scores["eular_acr_2019"]
    # highest weight per domain; a domain enters when it first scores (the findings list
    # domains in that order)
    sure: dict[str, float] = {}
    possible: dict[str, float] = {}
    clinical_states: list[Truth] = []
    true, false = Truth.TRUE, Truth.FALSE
    for item in score_items(ctx.tables, "eular_acr_2019"):
        state = rules_truth(ctx, item.rules, None, trace, ever=True)
        domain, weight = item.domain, item.weight
        assert domain is not None
        if state is true and weight > sure.get(domain, 0.0):
            sure[domain] = weight
        if state is not false and weight > possible.get(domain, 0.0):
            possible[domain] = weight
        if item.clinical:
            clinical_states.append(state)
    low, high = sum(sure.values()), sum(possible.values())
    # the documented total and the entry criterion are remembered with what they read
    # (``Context.remember``): a new item input re-reads the items it feeds, not these
    documented = ctx.remember(
        ("documented", "eular_acr_2019_total", None), trace,
        partial(documented_value, ctx, ctx.tables.concept("eular_acr_2019_total"), None),
        keep_only=True,
    )
    if documented is not None:
        total = ScoreOutcome(max(documented.low, low), max(documented.high, low))
        trace.findings.append(
            f"EULAR/ACR 2019 score {total.words()} (documented {documented.words()})"
        )
        return total
    clinical = (
        Truth.TRUE
        if Truth.TRUE in clinical_states
        else Truth.FALSE
        if all(s is Truth.FALSE for s in clinical_states)
        else Truth.UNKNOWN
    )
    gate = ctx.remember(("eular_acr_2019_entry",), trace,
                        partial(_entry, ctx, spec=spec["entry"]), keep_only=True)
    if clinical is not Truth.TRUE:
        gate = (
            Truth.FALSE
            if clinical is Truth.FALSE
            else (Truth.UNKNOWN if gate is not Truth.FALSE else gate)
        )
    domains = ", ".join(f"{d} {w:g}" for d, w in sure.items() if w)
    trace.findings.append(
        f"EULAR/ACR 2019 computed: {low:g} sure ({domains or 'no items'}), up to {high:g}"
    )
    if low < 10 <= high:
        trace.need("EULAR/ACR 2019 classification score, or the missing clinical items")
    return ScoreOutcome(low, high, gate)


def _compute(ctx: Context, inputs: ScoreInputs, trace: Trace) -> ScoreOutcome:
    return eular_acr_2019(ctx, trace)


def _rows(tables: Tables) -> list[Row]:
    c = tables.concept
    rows = [
        concept_row(c("eular_acr_2019_total"), "documented total (accepted as the assessment)"),
        concept_row(c("ana_titer"), "entry: ANA >= 1:80 at least once"),
        concept_row(c("ana_presence"), "entry: equivalent positive test"),
    ]
    for item in tables.scores["eular_acr_2019"]["items"]:
        rows.extend(item_rows(item, tables))
    return rows


score("eular_acr_2019", "2019 EULAR/ACR SLE classification score", _compute, rows=_rows)
