"""Shared pieces of score computation: bounds, item states, documented totals."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache, partial
from typing import Any

from shared.clinical.facts import ClinicalFact
from shared.eligibility.context import Context, Trace, cite, note_unread
from shared.eligibility.data_elements import Row, concept_row, fact_row
from shared.eligibility.durations import Duration
from shared.eligibility.index import fact_time
from shared.eligibility.logic import Truth
from shared.eligibility.reading import (
    boolean_reading,
    digits,
    fitting_range,
    judge,
    marked_unread,
    not_a_quantity,
    project_code,
    range_not_read,
    result_reading,
)
from shared.eligibility.reference_tables import TW_SYSTEM, Concept, Tables, tw_code_key
from shared.eligibility.scores.registry import ScoreOutcome


def in_window(
    ctx: Context, facts: list[ClinicalFact], window: Duration | None
) -> list[ClinicalFact]:
    if not facts:
        return facts
    as_of = ctx.as_of
    if window is None:
        return [f for f in facts if fact_time(f) <= as_of]
    start = ctx.window_start(window)
    return [f for f in facts if start < fact_time(f) <= as_of]


@lru_cache(maxsize=512)
def fact_concept(code: str, label: str) -> Concept:
    """A one-code concept for a score item's clinician fact (project CodeSystem)."""
    return Concept(
        name=code,
        label=label,
        resource="Observation (valueBoolean)",
        unit=None,
        alternate_units=(),
        source="TrialWatch project code",
        keys=frozenset({tw_code_key(code)}),
        prefixes=(),
        clinician_fact=True,
        codings=((TW_SYSTEM, code, label),),
    )


def documented_value(
    ctx: Context,
    concept: Concept,
    window: Duration | None,
    trace: Trace,
    *,
    since: datetime | None = None,
) -> ScoreOutcome | None:
    """The most recent documented value, as bounds: a documented "<30" is at most 30, not 30.

    None when there is none, when the most recent was kept unread (named in ``trace``), or when
    it is older than ``since`` (a newer unread input it would stand in for).
    """
    for fact in in_window(ctx, ctx.facts(concept), window):
        if since is not None and fact_time(fact) < since:
            return None
        if fact.unread is not None:
            note_unread(trace, concept.label, fact)
            return None
        quantity = fact.value_quantity
        if quantity is None:
            continue
        if window is not None:
            ctx.review_at(window.after(fact_time(fact)))
        trace.evidence.append(cite(fact, note=f"documented {concept.label}"))
        trace.findings.append(
            f"documented {concept.label} {digits(quantity, fact)}"
            f" ({ctx.when(fact_time(fact))})"
        )
        if quantity.comparator in ("<", "<="):
            return ScoreOutcome(-math.inf, quantity.value)
        if quantity.comparator in (">", ">="):
            return ScoreOutcome(quantity.value, math.inf)
        return ScoreOutcome(quantity.value, quantity.value)
    return None


def fact_state(
    ctx: Context, concept: Concept, window: Duration | None, trace: Trace
) -> Truth | None:
    for fact in in_window(ctx, ctx.facts(concept), window):
        if fact.unread is not None:
            note_unread(trace, concept.label, fact)
            return None
        value, why = boolean_reading(fact)
        if value is None:
            if why:
                # a newer statement that is no yes/no answer: no older one decides for it
                note_unread(trace, concept.label, marked_unread(fact, why))
                return None
            continue
        if window is not None:
            ctx.review_at(window.after(fact_time(fact)))
        if value:
            trace.evidence.append(cite(fact, value=True, note=concept.label))
        return Truth.of(value)
    return None


def lab_state(
    ctx: Context,
    concept: Concept,
    op: str,
    value: float,
    window: Duration | None,
    trace: Trace,
    *,
    ever: bool,
) -> Truth | None:
    """Most recent in-window result meets the rule (window), or any result ever did (ever).

    A most recent result kept unread makes it None (unknown); with ``ever``, an unread result
    cannot prove the rule but leaves it open.
    """
    unread: list[ClinicalFact] = []
    for fact in in_window(ctx, ctx.facts(concept), window):
        if fact.unread is not None:
            unread.append(fact)
            if not ever:
                break
            continue
        quantity = fact.value_quantity
        if quantity is None or quantity.unit not in concept.units:
            unusable = not_a_quantity(fact, concept)
            if unusable is not None:
                unread.append(unusable)
                if not ever:
                    break
            continue
        met = judge(quantity, value, op)
        if window is not None:
            ctx.review_at(window.after(fact_time(fact)))
        if met is Truth.TRUE:
            trace.evidence.append(cite(fact, note=f"{concept.label} {op} {value:g}"))
            return met
        if not ever:
            # a censored result that cannot settle the rule ("<150" against "< 100") says nothing
            return None if met is Truth.UNKNOWN else met
    _left_open(trace, concept, unread)
    return None


def _left_open(trace: Trace, concept: Concept, unread: list[ClinicalFact]) -> None:
    """Nothing settled the rule: name the results kept unread that could have."""
    for fact in unread:
        note_unread(trace, concept.label, fact)


def limit_state(
    ctx: Context,
    concept: Concept,
    window: Duration | None,
    trace: Trace,
    *,
    below_lln: bool,
    ever: bool,
) -> Truth | None:
    """Below the lower (or above the upper) limit: own reference range, else default table."""
    limits = ctx.tables.limits.get(concept.name)
    sex = ctx.index.demographics.sex
    sex_key = sex.value if sex else "unknown"
    unread: list[ClinicalFact] = []
    for fact in in_window(ctx, ctx.facts(concept), window):
        if fact.unread is not None:
            # the most recent (window) is unknown; "ever" cannot be proved by it but stays open
            unread.append(fact)
            if not ever:
                break
            continue
        quantity = fact.value_quantity
        if quantity is None:
            # a value that cannot be read here (a lower limit of a code; a code in a system
            # TrialWatch does not know) is an unread result: with a window, no older one decides
            if below_lln:
                positive, why = None, getattr(
                    (not_a_quantity(fact, concept) or fact).unread, "reason", "")
            else:
                positive, why = result_reading(fact, None, (), ctx)
            if positive is not None:
                if positive:
                    trace.evidence.append(cite(fact, note=f"{concept.label} positive"))
                    return Truth.TRUE
                if not ever:
                    return Truth.FALSE
            elif why:
                unread.append(marked_unread(fact, why))
                if not ever:
                    break
            continue
        blocked = range_not_read(ctx, fact)
        if blocked is not None:
            unread.append(marked_unread(fact, blocked))
            if not ever:
                break
            continue
        reference = fitting_range(ctx, fact)[0]
        bound_q = (reference.low if below_lln else reference.high) if reference else None
        if bound_q is not None and bound_q.unit == quantity.unit:
            bound: float | None = bound_q.value
        elif limits is not None and limits.unit == quantity.unit:
            bound = (limits.lower if below_lln else limits.upper).get(sex_key)
        else:
            bound = None
        if bound is None:
            if below_lln:
                positive, why = None, (
                    f"no lower limit in {quantity.unit!r}: no reference range low in that unit"
                    " and no default limit for it")
            else:
                positive, why = result_reading(fact, None, (), ctx)
            if positive is None:
                unread.append(marked_unread(fact, why))
                if not ever:
                    break
                continue
            met = positive
        else:
            truth = judge(quantity, bound, "<" if below_lln else ">")
            if truth is Truth.UNKNOWN:
                if ever:
                    continue
                return None
            met = truth is Truth.TRUE
        if window is not None:
            ctx.review_at(window.after(fact_time(fact)))
        if met:
            side = "below lower" if below_lln else "above upper"
            trace.evidence.append(
                cite(
                    fact,
                    note=f"{concept.label} {side} limit"
                    + (f" {bound:g}" if bound is not None else ""),
                )
            )
            return Truth.TRUE
        if not ever:
            return Truth.FALSE
    _left_open(trace, concept, unread)
    return None


@dataclass(frozen=True, slots=True, eq=False)
class _Item:
    """A score item with its concepts resolved once (the hot path reads no dicts)."""

    source: dict[str, Any]
    fact: Concept | None
    lab: tuple[Concept, str, float] | None
    below_any: tuple[Concept, ...]
    below_all: tuple[Concept, ...]
    above_any: tuple[Concept, ...]
    biopsy: tuple[str, ...] | None
    reads: tuple[Concept, ...]
    """Every concept the item can read: with no fact for any of them the item is UNKNOWN."""


_COMPILED: dict[int, _Item] = {}


def _compiled(item: dict[str, Any], tables: Tables) -> _Item:
    found = _COMPILED.get(id(item))
    if found is not None and found.source is item:
        return found
    concept = tables.concept
    lab = item.get("lab")
    above = [item["above_uln"]] if "above_uln" in item else []
    for key in ("positive", "positive_any"):
        if key in item:
            above += [item[key]] if isinstance(item[key], str) else list(item[key])
    fact = fact_concept(item["fact"], item["id"]) if "fact" in item else None
    lab_rule = (concept(lab["concept"]), lab["op"], float(lab["value"])) if lab else None
    below_any = tuple(concept(c) for c in item.get("below_lln", item.get("below_lln_any", ())))
    below_all = tuple(concept(c) for c in item.get("below_lln_all", ()))
    above_any = tuple(concept(c) for c in above)
    biopsy = tuple(item["biopsy_classes"]) if "biopsy_classes" in item else None
    reads = (
        ((fact,) if fact else ())
        + ((lab_rule[0],) if lab_rule else ())
        + below_any
        + below_all
        + above_any
        + ((concept("ln_biopsy_class"),) if biopsy is not None else ())
    )
    compiled = _Item(item, fact, lab_rule, below_any, below_all, above_any, biopsy, reads)
    _COMPILED[id(item)] = compiled
    return compiled


@dataclass(frozen=True, slots=True)
class ScoreItem:
    """One item of a score's table, resolved once: its rules, weight and domain."""

    id: str
    weight: float
    domain: str | None
    clinical: bool
    """In one of the score's clinical domains (2019 EULAR/ACR needs one clinical item)."""
    rules: _Item


_ITEMS: dict[tuple[int, str], tuple[Tables, tuple[ScoreItem, ...]]] = {}


def score_items(tables: Tables, score: str) -> tuple[ScoreItem, ...]:
    """The items of ``tables.scores[score]``, resolved once per set of tables."""
    found = _ITEMS.get((id(tables), score))
    if found is None or found[0] is not tables:
        spec = tables.scores[score]
        clinical = frozenset(spec.get("clinical_domains", ()))
        items = tuple(
            ScoreItem(
                item["id"],
                item["weight"],
                item.get("domain"),
                item.get("domain") in clinical,
                _compiled(item, tables),
            )
            for item in spec["items"]
        )
        found = _ITEMS[(id(tables), score)] = (tables, items)
    return found[1]


def rules_truth(
    ctx: Context, spec: _Item, window: Duration | None, trace: Trace, *, ever: bool
) -> Truth:
    """An item's state from its clinician fact, else its laboratory rule; UNKNOWN when neither.

    Remembered (``Context.remember``) when the evaluation keeps its state, with everything it
    read: every concept of ``spec.reads`` (nothing on record for any of them makes it UNKNOWN)
    and what the rules read. A reused item is then one memo lookup: its reads and review
    instants are merged and its trace replayed, with no look at the index.
    """
    if not ctx.keep:
        # nothing is remembered for a one-off evaluation (``remember`` with ``keep_only``)
        if ctx.read_nothing(spec.reads):
            return Truth.UNKNOWN
        return _rules_truth(ctx, spec, window, trace, ever=ever)
    # remembered with what it read, so a new result elsewhere re-reads only the items it feeds
    key = (spec, window.text if window is not None else None, ever)
    hit = ctx.memo.get(key)
    if hit is None:
        compute = partial(_item_truth, ctx, spec, window, ever=ever)
        truth: Truth = ctx.remember(key, trace, compute)
        return truth
    # ``remember``'s reuse, inlined: a score reuses dozens of items at every evaluation
    truth, sub, deps, reviews, _ = hit
    ctx.deps.update(deps)
    if reviews:
        ctx.review_candidates.extend(reviews)
    if sub.evidence or sub.findings or sub.missing:
        trace.replay(sub)
    return truth


def _item_truth(
    ctx: Context, spec: _Item, window: Duration | None, trace: Trace, *, ever: bool
) -> Truth:
    if ctx.read_nothing(spec.reads):
        # nothing on record for any concept it reads: what the rules below would conclude
        return Truth.UNKNOWN
    return _rules_truth(ctx, spec, window, trace, ever=ever)


def _rules_truth(
    ctx: Context, spec: _Item, window: Duration | None, trace: Trace, *, ever: bool
) -> Truth:
    if spec.fact is not None:
        stated = fact_state(ctx, spec.fact, window, trace)
        if stated is not None:
            return stated
    states: list[Truth | None] = []
    if spec.lab is not None:
        concept, op, value = spec.lab
        states.append(lab_state(ctx, concept, op, value, window, trace, ever=ever))
    if spec.below_any:
        states.append(
            _any(
                [
                    limit_state(ctx, c, window, trace, below_lln=True, ever=ever)
                    for c in spec.below_any
                ]
            )
        )
    if spec.below_all:
        states.append(
            _all(
                [
                    limit_state(ctx, c, window, trace, below_lln=True, ever=ever)
                    for c in spec.below_all
                ]
            )
        )
    if spec.above_any:
        states.append(
            _any(
                [
                    limit_state(ctx, c, window, trace, below_lln=False, ever=ever)
                    for c in spec.above_any
                ]
            )
        )
    if spec.biopsy is not None:
        states.append(_biopsy(ctx, list(spec.biopsy), trace))
    known = [s for s in states if s is not None]
    if not known:
        return Truth.UNKNOWN
    if Truth.TRUE in known:
        return Truth.TRUE
    # "ever" items cannot be ruled out by a normal result: only a clinician fact says "never"
    return Truth.UNKNOWN if ever else Truth.FALSE


def _any(parts: list[Truth | None]) -> Truth | None:
    if Truth.TRUE in parts:
        return Truth.TRUE
    if parts and all(p is Truth.FALSE for p in parts):
        return Truth.FALSE
    return None


def _all(parts: list[Truth | None]) -> Truth | None:
    if Truth.FALSE in parts:
        return Truth.FALSE
    if parts and all(p is Truth.TRUE for p in parts):
        return Truth.TRUE
    return None


def _biopsy(ctx: Context, classes: list[str], trace: Trace) -> Truth | None:
    wanted = {c.upper() for c in classes}
    concept = ctx.tables.concept("ln_biopsy_class")
    for fact in ctx.facts(concept):
        if fact.unread is not None and fact_time(fact) <= ctx.as_of:
            note_unread(trace, concept.label, fact)
            continue
        # "ever": a class in another code system cannot prove the item, and is named
        code, why = project_code(fact)
        if code is None and why and fact_time(fact) <= ctx.as_of:
            note_unread(trace, concept.label, marked_unread(fact, why))
            continue
        if code in wanted and fact_time(fact) <= ctx.as_of:
            trace.evidence.append(cite(fact, note="biopsy class"))
            return Truth.TRUE
    return None


def item_rows(item: dict[str, Any], tables: Tables) -> list[Row]:
    """Data dictionary rows for one item of a score's table (``tables/scores.yaml``)."""
    weight = f"item {item['id']} ({item['weight']} points)"
    rows = []
    if "fact" in item:
        rows.append(fact_row(str(item["fact"]), f"item: {item['id']}", weight))
    lab = item.get("lab")
    if isinstance(lab, dict):
        rows.append(
            concept_row(tables.concept(lab["concept"]), f"{weight}: {lab['op']} {lab['value']}")
        )
    for key in (
        "below_lln",
        "below_lln_any",
        "below_lln_all",
        "above_uln",
        "positive",
        "positive_any",
    ):
        names = item.get(key)
        listed = [names] if isinstance(names, str) else names if isinstance(names, list) else []
        for name in listed:
            rows.append(
                concept_row(tables.concept(str(name)), f"{weight}: {key.replace('_', ' ')}")
            )
    if "biopsy_classes" in item:
        rows.append(
            concept_row(
                tables.concept("ln_biopsy_class"), f"{weight}: class in {item['biopsy_classes']}"
            )
        )
    return rows
