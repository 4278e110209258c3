"""The pure evaluation: trial version + patient facts + as-of instant in, decision out.

No clock, no I/O, no logging. Every criterion is evaluated (never short-circuited) so a
coordinator sees every reason and every missing datum at once.
"""

from __future__ import annotations

from datetime import datetime

from shared.clinical.facts import PatientFacts
from shared.eligibility.construct import construct
from shared.eligibility.context import Context, Trace
from shared.eligibility.decision import (
    CriterionKind,
    CriterionResult,
    Decision,
    Evidence,
    Outcome,
    TrialRef,
    overall_status,
)
from shared.eligibility.index import FactIndex
from shared.eligibility.logic import Truth
from shared.eligibility.trial import CompiledCriterion, TrialVersion
from shared.eligibility.version import ENGINE_VERSION
from shared.time import as_utc

_INCLUSION = {Truth.TRUE: Outcome.PASS, Truth.FALSE: Outcome.FAIL, Truth.UNKNOWN: Outcome.UNKNOWN}
_EXCLUSION = {Truth.TRUE: Outcome.FAIL, Truth.FALSE: Outcome.PASS, Truth.UNKNOWN: Outcome.UNKNOWN}


def build_index(trial: TrialVersion, patient: PatientFacts) -> FactIndex:
    return FactIndex.build(patient, trial.tables.product_ingredients)


def evaluate(trial: TrialVersion, patient: PatientFacts, as_of: datetime) -> Decision:
    return evaluate_index(trial, build_index(trial, patient), as_of)


def evaluate_index(trial: TrialVersion, index: FactIndex, as_of: datetime) -> Decision:
    """``evaluate`` on a pre-built index (after one new fact: ``index.with_facts([fact])``)."""
    moment = as_utc(as_of)
    ctx = Context(as_of=moment, index=index, tables=trial.tables)
    results = tuple(_criterion(criterion, ctx) for criterion in trial.criteria)
    return construct(
        Decision,
        {
            "trial": construct(TrialRef, {"id": trial.id, "version": trial.version}),
            "as_of": moment,
            "status": overall_status([r.outcome for r in results]),
            "criteria": results,
            "next_review_at": min(ctx.review_candidates, default=None),
            "engine_version": ENGINE_VERSION,
            "parameters": dict(trial.parameters),
        },
    )


def _criterion(criterion: CompiledCriterion, ctx: Context) -> CriterionResult:
    trace = Trace()
    truth = criterion.node.evaluate(ctx, trace)
    table = _INCLUSION if criterion.kind is CriterionKind.INCLUSION else _EXCLUSION
    outcome = table[truth]
    return construct(
        CriterionResult,
        {
            "id": criterion.id,
            "kind": criterion.kind,
            "outcome": outcome,
            "reason": _reason(criterion, outcome, trace),
            "evidence": _unique(trace.evidence),
            "missing": tuple(trace.missing) if outcome is Outcome.UNKNOWN else (),
        },
    )


def _unique(evidence: list[Evidence]) -> tuple[Evidence, ...]:
    """Evidence once per (fact, note): a fact read by two branches is cited once."""
    seen: set[tuple[str | None, str | None, str | None]] = set()
    unique = []
    for item in evidence:
        key = (item.fact_id, item.code, item.note)
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return tuple(unique)


def _reason(criterion: CompiledCriterion, outcome: Outcome, trace: Trace) -> str:
    if outcome is Outcome.UNKNOWN:
        head = "cannot be decided"
    elif criterion.kind is CriterionKind.EXCLUSION:
        head = "exclusion applies" if outcome is Outcome.FAIL else "exclusion does not apply"
    else:
        head = "met" if outcome is Outcome.PASS else "not met"
    text = f"{criterion.summary}: {head}"
    if trace.findings:
        text += " — " + "; ".join(trace.findings)
    if outcome is Outcome.UNKNOWN and trace.missing:
        text += ". needs: " + "; ".join(trace.missing)
    return text
