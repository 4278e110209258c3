"""The pure evaluation: trial version + patient facts + as-of instant in, decision out.

No clock, no I/O, no logging. Every criterion is evaluated (never short-circuited) so a
coordinator sees every reason and every missing datum at once.

A deceased patient (``Demographics.deceased``) is never eligible: the decision starts with the
exclusion ``PATIENT-DECEASED``, which says why.

Incremental re-evaluation: a criterion's result is a pure function of the facts it read and
of as-of, and it cannot change before its own earliest review instant. ``evaluate_incremental``
therefore reuses a previous criterion result when the same trial version is evaluated for the
same demographics, at an as-of not earlier than before and before that criterion's review
instant, and every fact list the criterion read is the very same (unchanged) list in the new
index. Everything else is evaluated afresh; the result equals a full evaluation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, NamedTuple

from shared.clinical.facts import ClinicalFact, Demographics, PatientFacts
from shared.eligibility.construct import construct
from shared.eligibility.context import Context, SharedResult, Trace, derived, wakes
from shared.eligibility.decision import (
    CriterionKind,
    CriterionResult,
    Decision,
    Evidence,
    Outcome,
    TrialRef,
    check_texts,
    overall_status,
)
from shared.eligibility.index import FactIndex, readable_codes
from shared.eligibility.logic import Truth
from shared.eligibility.primitives.base import settled
from shared.eligibility.reference_tables import Concept
from shared.eligibility.trial import CompiledCriterion, TrialVersion
from shared.eligibility.version import ENGINE_VERSION
from shared.time import as_utc

_INCLUSION = {Truth.TRUE: Outcome.PASS, Truth.FALSE: Outcome.FAIL, Truth.UNKNOWN: Outcome.UNKNOWN}
_EXCLUSION = {Truth.TRUE: Outcome.FAIL, Truth.FALSE: Outcome.PASS, Truth.UNKNOWN: Outcome.UNKNOWN}


class _Computed(NamedTuple):
    # a tuple: one is made per criterion per evaluation, and a frozen dataclass costs more
    result: CriterionResult
    reads: dict[str, Concept]
    """The concepts the criterion read, by name."""
    review_at: datetime | None
    """The earliest instant at which the kept result stops holding (outcome or wording)."""
    wakes_at: datetime | None
    """The earliest instant at which its outcome can change (``context.wakes``): the one that
    schedules the decision's next automatic review; never earlier than ``review_at``."""


class Readers:
    """A reverse index of kept results: which remembered results (``Context.memo`` keys) and
    which criteria (ids) read each concept, by concept name.

    After one new result the concepts it feeds name the kept results it can change, so
    carrying the others over costs a look-up per changed concept, not a test of every kept
    result (a state keeps a hundred remembered results or more). One per trial version
    (``readers_of``), shared by the states of every patient, and only ever added to: it may
    name a result that a state does not keep, or one that does not read a concept for this
    patient, so ``stale`` checks each candidate against the state's own results (what they
    read is exact). Every result of every state that uses it is registered (``register``).
    Its sets are replaced, never changed in place, so a reader never sees one change size."""

    __slots__ = ("_id_names", "_ids", "_key_names", "_keys")

    def __init__(self) -> None:
        self._keys: dict[str, frozenset[object]] = {}
        self._ids: dict[str, frozenset[str]] = {}
        self._key_names: dict[object, frozenset[str]] = {}
        self._id_names: dict[str, frozenset[str]] = {}

    def register(
        self,
        shared: dict[object, SharedResult],
        keys: Iterable[object],
        criteria: dict[str, _Computed],
        ids: Iterable[str],
    ) -> None:
        """Add ``shared[key]`` for each of ``keys`` and ``criteria[cid]`` for each of ``ids``
        under every concept it reads (a result registered before with the same reads costs one
        set comparison)."""
        _add(self._keys, self._key_names, [(key, shared[key][2]) for key in keys])
        _add(self._ids, self._id_names, [(cid, criteria[cid].reads) for cid in ids])

    def stale(
        self,
        names: frozenset[str],
        shared: dict[object, SharedResult],
        criteria: dict[str, _Computed],
    ) -> tuple[set[object], set[str]]:
        """The keys of ``shared`` and the ids of ``criteria`` whose results read any of
        ``names``: exactly those (each candidate checked against what it read)."""
        keys: set[object] = set()
        ids: set[str] = set()
        by_key, by_id = self._keys, self._ids
        for name in names:
            found = by_key.get(name)
            if found:
                keys.update(found)
            found_ids = by_id.get(name)
            if found_ids:
                ids.update(found_ids)
        if keys:
            keys = {k for k in keys if (hit := shared.get(k)) is not None
                    and not names.isdisjoint(hit[2])}
        if ids:
            ids = {c for c in ids if (done := criteria.get(c)) is not None
                   and not names.isdisjoint(done.reads)}
        return keys, ids

    def reads_any(
        self,
        names: frozenset[str],
        shared: dict[object, SharedResult],
        criteria: dict[str, _Computed],
    ) -> bool:
        """Whether any of ``shared`` or ``criteria`` read any of ``names`` (``stale`` is not
        empty)."""
        for name in names:
            for key in self._keys.get(name, ()):
                hit = shared.get(key)
                if hit is not None and name in hit[2]:
                    return True
            for cid in self._ids.get(name, ()):
                done = criteria.get(cid)
                if done is not None and name in done.reads:
                    return True
        return False


def _add(
    by_name: dict[str, frozenset[Any]],
    names_of: dict[Any, frozenset[str]],
    items: list[tuple[Any, dict[str, Concept]]],
) -> None:
    empty: frozenset[Any] = frozenset()
    for item, reads in items:
        known = names_of.get(item, empty)
        if reads.keys() <= known:
            continue
        added = reads.keys() - known
        names_of[item] = known | added
        for name in added:
            by_name[name] = by_name.get(name, empty) | {item}


_READERS: dict[int, tuple[TrialVersion, Readers]] = {}


def readers_of(trial: TrialVersion) -> Readers:
    """The ``Readers`` of ``trial`` (one per loaded trial version, kept while it is)."""
    found = _READERS.get(id(trial))
    if found is None or found[0] is not trial:
        found = _READERS[id(trial)] = (trial, Readers())
    return found[1]


@dataclass(frozen=True, slots=True)
class EngineState:
    """What ``evaluate_incremental`` keeps between evaluations of one patient (opaque)."""

    trial: tuple[str, str]
    as_of: datetime
    demographics: Demographics
    criteria: dict[str, _Computed]
    index: FactIndex
    shared: dict[object, SharedResult] = field(default_factory=dict)
    """Remembered results (``Context.remember``): shared subtrees (I6.1-I6.3 inside I6, facts
    read by several criteria) and score items, each with what it read and its review instants."""
    decision: Decision | None = None
    """The decision this state was made with (reused whole when nothing it read changed)."""
    summary: list[datetime | None] = field(default_factory=list)
    """Worked out on first need and carried over: the earliest review instant."""
    readers: list[Readers] = field(default_factory=list)
    """The trial version's ``Readers`` once this state's results are registered in it (on
    first need; handed on to the states evaluated from this one, whose new results are
    registered as they are made)."""

    def review(self) -> datetime | None:
        """The earliest review instant of any kept result (None: none)."""
        if not self.summary:
            reviews = [c.review_at for c in self.criteria.values() if c.review_at is not None]
            reviews.extend(hit[4] for hit in self.shared.values() if hit[4] is not None)
            self.summary.append(min(reviews, default=None))
        return self.summary[0]

    def reverse(self, trial: TrialVersion) -> Readers:
        """``readers_of(trial)`` with every result of this state registered in it (``trial``
        is the version this state was made with)."""
        if not self.readers:
            readers = readers_of(trial)
            readers.register(self.shared, self.shared, self.criteria, self.criteria)
            self.readers.append(readers)
        return self.readers[0]


def build_index(trial: TrialVersion, patient: PatientFacts) -> FactIndex:
    """The patient's facts indexed by the codes this trial's value sets can read, newest first."""
    tables = trial.tables
    return FactIndex.build(patient, tables.product_ingredients, readable_codes(tables))


def evaluate(trial: TrialVersion, patient: PatientFacts, as_of: datetime) -> Decision:
    """The decision for one patient and one trial version as of ``as_of`` (an aware time).

    Pure: the same facts, trial version and ``as_of`` give the same decision. A deceased patient
    is never eligible (FHIR R4 Patient.deceased[x], HL7 v2 PID-29/30). Raises
    ``decision.DecisionTextTooLong`` (naming the criterion and the field) when a text it wrote
    is over its bound (a reason naming more entries than ``CRITERION_REASON_MAX_LENGTH`` holds).
    """
    return evaluate_index(trial, build_index(trial, patient), as_of)


def evaluate_index(trial: TrialVersion, index: FactIndex, as_of: datetime) -> Decision:
    """``evaluate`` on a pre-built index (after one new fact: ``index.with_facts([fact])``)."""
    return _evaluate(trial, index, as_of, None, keep=False)[0]


def evaluate_incremental(
    trial: TrialVersion, index: FactIndex, as_of: datetime, previous: EngineState | None
) -> tuple[Decision, EngineState]:
    """``evaluate`` reusing ``previous`` (the state of an earlier call), and the new state.

    A criterion's earlier result is kept only when nothing it read changed and no review time
    it depends on has passed; the decision equals a fresh ``evaluate`` of the same inputs.
    """
    return _evaluate(trial, index, as_of, previous, keep=True)


def _evaluate(
    trial: TrialVersion,
    index: FactIndex,
    as_of: datetime,
    previous: EngineState | None,
    *,
    keep: bool,
) -> tuple[Decision, EngineState]:
    moment = as_utc(as_of)
    previous = previous if _reusable(trial, index, moment, previous) else None
    if previous is not None and previous.decision is not None:
        unchanged = _untouched(trial, previous, index, moment)
        if unchanged is not None:
            return unchanged
    ctx = Context(as_of=moment, index=index, tables=trial.tables, keep=keep)
    computed: dict[str, _Computed] = {}
    derived_readers: Readers | None = None
    derived_review: list[datetime | None] = []
    if previous is None:
        for criterion in trial.criteria:
            computed[criterion.id] = _criterion(criterion, ctx)
    else:
        changed = _Changed(previous.index, index, moment)
        # every kept result is checked, even when no criterion needs it now: the state must
        # hold only results valid for this index and as-of
        memo = ctx.memo
        names = changed.changed if changed.direct else (frozenset() if changed.same else None)
        earliest = previous.review() if names is not None else None
        if names is not None and (earliest is None or moment < earliest):
            # no review instant has passed and the changed concepts are known (one new
            # result, or time alone): ``keeps`` reduced to its last test, answered by the
            # reverse index (only the results reading a changed concept are dropped)
            readers = previous.reverse(trial)
            old = previous.criteria
            dropped, redone = (
                readers.stale(names, previous.shared, old) if names else (set(), set()))
            memo.update(previous.shared)
            for key in dropped:
                del memo[key]
            for criterion in trial.criteria:
                cid = criterion.id
                earlier = old.get(cid)
                if earlier is not None and cid not in redone:
                    computed[cid] = earlier
                else:
                    redone.add(cid)
                    computed[cid] = _criterion(criterion, ctx, earlier)
            readers.register(memo, ctx.fresh, computed, [c for c in redone if c in computed])
            derived_readers = readers
            derived_review = _review_after(
                earliest, previous, dropped, redone, memo, ctx.fresh, computed)
        else:
            for key, hit in previous.shared.items():
                if changed.keeps(hit[4], hit[2]):
                    memo[key] = hit
            for criterion in trial.criteria:
                earlier = previous.criteria.get(criterion.id)
                if earlier is not None and changed.keeps(earlier.review_at, earlier.reads):
                    computed[criterion.id] = earlier
                else:
                    computed[criterion.id] = _criterion(criterion, ctx, earlier)
    # the state keeps the results read at the times as sent; the decision judges a time sent
    # without a time of day at both ends of its day (``_at_time_bounds``)
    decided = _at_time_bounds(trial, index, moment, computed)
    # a criterion that fails having read no clinical data (an age above the trial's upper
    # limit, a sex-specific inclusion) and fails at every later review instant too fails for
    # good: neither time nor new results can change it
    # (only such criteria are looked at: most decisions have none)
    fail = Outcome.FAIL
    bare = [(cid, c) for cid, c in decided.items() if not c.reads and c.result.outcome is fail]
    settled = [c for cid, c in bare if _fails_for_good(
        next(x for x in trial.criteria if x.id == cid), c, trial, index, moment)]
    # one that fails having read no clinical data but can pass later (an age under the lower
    # limit) fails until its outcome can next change: no data sent can change it before then
    waiting = [c for _, c in bare
               if c.wakes_at is not None and not any(c is s for s in settled)]
    results = tuple(
        c.result.model_copy(update={"reason": f"{c.result.reason}; {PERMANENT_NOTE}"})
        if any(c is s for s in settled)
        else c.result.model_copy(update={"reason": _waiting_reason(c.result.reason, c.wakes_at)})
        if c.wakes_at is not None and any(c is w for w in waiting) else c.result
        for c in decided.values()) if settled or waiting else tuple(
            c.result for c in decided.values())
    if settled or waiting:
        check_texts(results)  # a reason with its note added (each result made is checked)
    if index.demographics.deceased:
        results = (_deceased(index.demographics), *results)
    # a deceased patient, or one failing a criterion for good, is not screened again on a
    # timer: no change a timer could see can make them eligible (new data still re-screens)
    reviews = [] if index.demographics.deceased or settled else [
        c.wakes_at for c in decided.values() if c.wakes_at is not None]
    decision = construct(
        Decision,
        {
            "trial": construct(TrialRef, {"id": trial.id, "version": trial.version}),
            "as_of": moment,
            "status": overall_status([r.outcome for r in results]),
            "criteria": results,
            "next_review_at": min(reviews, default=None),
            "engine_version": ENGINE_VERSION,
            "parameters": dict(trial.parameters),
        },
    )
    state = EngineState(
        (trial.id, trial.version), moment, index.demographics, computed, index, ctx.memo,
        decision, derived_review, [derived_readers] if derived_readers is not None else [],
    )
    return decision, state


def _review_after(
    earliest: datetime | None,
    previous: EngineState,
    dropped: set[object],
    redone: set[str],
    memo: dict[object, SharedResult],
    fresh: list[object],
    computed: dict[str, _Computed],
) -> list[datetime | None]:
    """The new state's ``summary`` (its earliest review instant) when it can be told from the
    previous one without a scan: no result dropped held that earliest instant; else empty
    (worked out on first need)."""
    if earliest is not None:
        shared, old = previous.shared, previous.criteria
        for key in dropped:
            if shared[key][4] == earliest:
                return []
        for cid in redone:
            done = old.get(cid)
            if done is not None and done.review_at == earliest:
                return []
    soonest = earliest
    # a remembered result's review instants are its criterion's too: the criteria evaluated
    # afresh hold every new one (the memo's are looked at all the same: a few)
    for review in [memo[key][4] for key in fresh] + [computed[cid].review_at for cid in redone]:
        if review is not None and (soonest is None or review < soonest):
            soonest = review
    return [soonest]


def _untouched(
    trial: TrialVersion, previous: EngineState, index: FactIndex, moment: datetime
) -> tuple[Decision, EngineState] | None:
    """The previous decision at the new as-of, when nothing the trial read changed and no
    review instant has passed (a result for another trial, or time alone); else None.

    Exactly what the per-criterion path would give (every criterion and remembered result
    kept), without visiting them: a site screens each new result against every active trial,
    and most trials read none of it.
    """
    if index.imprecise():
        # a time sent without a time of day is judged at both ends of its day
        # (``_at_time_bounds``), whose review instants the kept results do not hold
        return None
    if index is not previous.index:
        if index.parent is not previous.index:
            return None
        changed = index.changed_concepts()
        if changed is None:
            return None
    else:
        changed = frozenset()
    review_at = previous.review()
    if review_at is not None and moment >= review_at:
        return None
    if changed and previous.reverse(trial).reads_any(
        changed, previous.shared, previous.criteria
    ):
        return None
    assert previous.decision is not None
    values = dict(previous.decision.__dict__)
    values["as_of"] = moment
    decision = construct(Decision, values)
    state = EngineState(
        previous.trial,
        moment,
        previous.demographics,
        previous.criteria,
        index,
        previous.shared,
        decision,
        previous.summary,
        previous.readers,
    )
    return decision, state


def _reusable(
    trial: TrialVersion, index: FactIndex, moment: datetime, previous: EngineState | None
) -> bool:
    return (
        previous is not None
        and previous.trial == (trial.id, trial.version)
        and moment >= previous.as_of
        and (
            previous.demographics is index.demographics
            or previous.demographics == index.demographics
        )
    )


class _Changed:
    """Which concepts changed between the previous index and this one, each worked out once
    per evaluation (criteria, shared subtrees and score items mostly read the same few)."""

    __slots__ = ("before", "changed", "direct", "index", "moment", "same", "touched")

    def __init__(self, before: FactIndex, index: FactIndex, moment: datetime) -> None:
        self.before, self.index, self.moment = before, index, moment
        self.same = before is index
        self.direct = index.parent is before
        self.touched: dict[str, bool] = {}
        # one new result: the concepts it feeds, from the tables' reverse index (code -> concepts)
        self.changed = index.changed_concepts() if self.direct else None

    def keeps(self, review_at: datetime | None, reads: dict[str, Concept]) -> bool:
        """Whether a result that read ``reads`` (concepts by name) and reviews at ``review_at``
        still holds."""
        if review_at is not None and self.moment >= review_at:
            return False
        if self.same:
            # time alone moved: only a review instant can end a result's validity
            return True
        changed = self.changed
        if changed is not None:
            if not changed:
                return True
            return changed.isdisjoint(reads)
        touched = self.touched
        for concept in reads.values():
            hit = touched.get(concept.name)
            if hit is None:
                hit = touched[concept.name] = self._touches(concept)
            if hit:
                return False
        return True

    def _touches(self, concept: Concept) -> bool:
        if self.direct:
            return self.index.touches(concept)
        # the previous index is kept alive by the state, so list identity is meaningful
        lists, now = self.before.sources(concept), self.index.sources(concept)
        return len(now) != len(lists) or any(a is not b for a, b in zip(now, lists, strict=True))


SETTLED_HORIZON_YEARS = 130
"""How far ahead ``_fails_for_good`` follows a criterion's review instants: no protocol's age
limit lies beyond an age of 130 years (the oldest documented human lived 122 years)."""


def _fails_for_good(criterion: CompiledCriterion, computed: _Computed, trial: TrialVersion,
                    index: FactIndex, moment: datetime) -> bool:
    """Whether a failing criterion that read no clinical data (only the patient's birth date
    and sex) fails at each of its later review instants (birthdays) up to
    ``SETTLED_HORIZON_YEARS`` ahead: its answer can change only at those instants, so it then
    fails for good. Pure; only such criteria are followed, each step a demographic check."""
    if computed.result.outcome is not Outcome.FAIL or computed.reads:
        return False
    horizon = moment.replace(year=moment.year + SETTLED_HORIZON_YEARS, month=1, day=1)
    at = computed.wakes_at
    while at is not None and at <= horizon:
        later = _criterion(criterion, Context(as_of=at, index=index, tables=trial.tables,
                                              keep=False))
        if later.result.outcome is not Outcome.FAIL or later.reads:
            return False
        at = later.wakes_at
    return True


def _criterion(
    criterion: CompiledCriterion, ctx: Context, earlier: _Computed | None = None
) -> _Computed:
    """``criterion`` evaluated in ``ctx``; ``earlier``: its result in the state an incremental
    evaluation started from (kept alive by it), whose evidence items, already checked, are not
    checked again when the new result replays them (``check_texts``)."""
    ctx.deps, ctx.review_candidates = {}, []
    trace = Trace()
    truth = settled(criterion.node, ctx, trace)
    table = _INCLUSION if criterion.kind is CriterionKind.INCLUSION else _EXCLUSION
    outcome = table[truth]
    result = construct(
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
    # built unvalidated (``construct``): a text over its bound (a reason naming hundreds of
    # entries) is refused where it is made, naming the criterion, never cut
    # (``DecisionTextTooLong``; the evaluator records an engine failure). Checked once per
    # result made: a kept result (``evaluate_incremental``) was checked when it was made
    check_texts((result,), earlier.result.evidence if earlier is not None else ())
    # ctx.deps is a new dict per criterion: kept as it is
    candidates = ctx.review_candidates
    if not candidates:
        return _Computed(result, ctx.deps, None, None)
    return _Computed(result, ctx.deps, min(candidates), wakes(candidates))


def _at_time_bounds(
    trial: TrialVersion, index: FactIndex, moment: datetime, computed: dict[str, _Computed]
) -> dict[str, _Computed]:
    """Criteria judged for every instant a time sent without a time of day may stand for.

    A FHIR R4 date (no time, no zone) or an HL7 v2 DTM without minutes (v2.5.1 2A.3.22) names a
    whole day or hour (``ClinicalFact.time_bounds``). Each criterion is evaluated again with
    every such fact at the first and at the last instant it may stand for; a criterion whose
    outcome is not the same at both ends and as sent depends on the time of day and is
    ``unknown``, naming the facts. A look-back, washout or age-out is monotone in a fact's
    time, so the two ends cover every instant between. Its review instants join the decision's.
    """
    imprecise = index.imprecise()
    if not imprecise:
        return computed
    # only a criterion that read the concept of such a fact can depend on its time (every
    # criterion is evaluated whole, never short-circuited, so its reads are complete)
    affected = [
        c for c in trial.criteria if any(map(index.reads_imprecise, computed[c.id].reads.values()))
    ]
    if not affected:
        return computed
    ends = []
    for latest in (False, True):
        ctx = Context(as_of=moment, index=index.at_bound(latest, moment), tables=trial.tables)
        ends.append({c.id: _criterion(c, ctx) for c in affected})
    ids = {fact.fact_id: fact for fact in imprecise}
    decided: dict[str, _Computed] = {}
    for criterion in trial.criteria:
        base = computed[criterion.id]
        if criterion.id not in ends[0]:
            decided[criterion.id] = base
            continue
        first, last = ends[0][criterion.id], ends[1][criterion.id]
        reviews = [c.review_at for c in (base, first, last) if c.review_at is not None]
        review = min(reviews, default=None)
        woken = min((c.wakes_at for c in (base, first, last) if c.wakes_at is not None),
                    default=None)
        if base.result.outcome == first.result.outcome == last.result.outcome:
            decided[criterion.id] = (
                base if review == base.review_at and woken == base.wakes_at
                else base._replace(review_at=review, wakes_at=woken))
            continue
        cited = {
            e.fact_id: ids[e.fact_id]
            for c in (base, first, last)
            for e in c.result.evidence
            if e.fact_id in ids
        }
        named = [_named(fact) for fact in (cited or ids).values()]
        what = ", ".join(named)
        reason = (
            f"{criterion.summary}: cannot be decided — it depends on when {what} was obtained:"
            f" {first.result.outcome.value} at the first instant it may stand for,"
            f" {last.result.outcome.value} at the last"
        )
        result = construct(
            CriterionResult,
            {
                "id": criterion.id,
                "kind": criterion.kind,
                "outcome": Outcome.UNKNOWN,
                "reason": reason,
                "evidence": base.result.evidence,
                "missing": tuple(f"when {name} was obtained" for name in named),
            },
        )
        check_texts((result,))
        decided[criterion.id] = _Computed(result, base.reads, review, woken)
    return decided


def _named(fact: ClinicalFact) -> str:
    """``"777-3 of 2026-02-26 (sent without a time of day)"``; a time sent as only a month or a
    year (FHIR R4 dateTime partial date, HL7 v2 DTM ``YYYYMM``) is named as that month or year,
    never its first day; a result sent with no time at all says so."""
    coding = fact.codes[0] if fact.codes else None
    label = (coding.display or coding.code) if coding else "a record"
    when = fact.effective_start or fact.effective_end
    if when is None:
        return f"{label} (sent with no time)"
    bounds = fact.time_bounds
    if bounds is not None and bounds.start_earliest and bounds.start_earliest.year < _EVER_YEAR:
        # bounded only from above (a FHIR Observation dated by ``issued`` alone)
        return f"{label} issued {when.date().isoformat()} (sent with no time it was obtained)"
    if bounds is not None and bounds.start_earliest and bounds.start_latest:
        span = bounds.start_latest - bounds.start_earliest
        # the middle of the period lies inside it in the sender's zone, whatever that zone is
        middle = bounds.start_earliest + span / 2
        if span > _MONTH_AT_MOST:
            return f"{label} of some day of {middle.year} (sent as a year)"
        if span > _DAY_AT_MOST:
            return f"{label} of some day of {middle:%Y-%m} (sent as a month)"
        when = middle
    return f"{label} of {when.date().isoformat()} (sent without a time of day)"


# a day in any zone spans at most 50 hours (UTC+14 to UTC-12), a month at most 31 days and 26
# hours, a year at least 365 days
_DAY_AT_MOST = timedelta(days=3)
# an earliest bound before this year is no bound: the time may be any instant up to the latest
_EVER_YEAR = 1000
_MONTH_AT_MOST = timedelta(days=60)


DECEASED_ID = "PATIENT-DECEASED"
"""The id of the result that makes a deceased patient ineligible in every trial."""
PERMANENT_NOTE = ("permanent: neither time nor new results can change this, only a "
                  "correction of the patient's record")
"""Ends the reason of a criterion that fails for good (see ``permanent_failures``)."""


WAITING_NOTE = "no data sent can change this, only the passing of time"
"""Ends the reason of a criterion that fails until a known instant (see ``waiting_failures``)."""
_WAITING = re.compile(r"; until (\S+): " + re.escape(WAITING_NOTE) + "$")


def _waiting_reason(reason: str, until: datetime) -> str:
    """``reason`` ending "; until 2034-03-12: <WAITING_NOTE>" (the ISO instant when not 00:00
    UTC)."""
    said = until.date().isoformat() if until.timetz() == time.min.replace(tzinfo=UTC) else (
        until.isoformat())
    return f"{reason}; until {said}: {WAITING_NOTE}"


def waiting_failures(decision: Decision) -> tuple[tuple[CriterionResult, datetime], ...]:
    """The failing criteria that read no clinical data (only birth date and sex) and whose
    outcome can change only with time, each with the instant (aware UTC) it can next change
    (an age under the trial's lower limit: the birthday it is reached). Until then nothing
    sent can make the patient eligible for this trial version."""
    found = []
    for c in decision.criteria:
        hit = _WAITING.search(c.reason) if c.outcome is Outcome.FAIL else None
        if hit is not None:
            at = datetime.fromisoformat(hit.group(1))
            found.append((c, at if at.tzinfo is not None else at.replace(tzinfo=UTC)))
    return tuple(found)


def permanent_failures(decision: Decision) -> tuple[CriterionResult, ...]:
    """The criteria the patient fails for good: recorded as deceased, or a failing criterion
    that read no clinical data and has no review instant (an age above the trial's upper
    limit; the engine ends its reason with ``PERMANENT_NOTE``). While there is one, nothing
    sent and no passing of time can make the patient eligible for this trial version."""
    return tuple(c for c in decision.criteria if c.outcome is Outcome.FAIL and (
        c.id == DECEASED_ID or c.reason.endswith(PERMANENT_NOTE)))



def _deceased(demographics: Demographics) -> CriterionResult:
    """A deceased patient is never eligible (FHIR R4 ``Patient.deceased[x]``, HL7 v2 PID-30).

    The result is an exclusion that applies, ahead of the trial's own criteria (which are still
    evaluated and shown), so the decision is ``ineligible`` and says why.
    """
    resource = demographics.provenance.resource if demographics.provenance else None
    return construct(
        CriterionResult,
        {
            "id": DECEASED_ID,
            "kind": CriterionKind.EXCLUSION,
            "outcome": Outcome.FAIL,
            "reason": "the patient is recorded as deceased: not screened for any trial",
            "evidence": (
                derived(
                    "Patient.deceased",
                    True,
                    None,
                    resource=resource,
                    note="Patient.deceased[x] / PID-30 says the patient has died",
                    details=({"deceased_on": demographics.deceased_on.isoformat()}
                             if demographics.deceased_on is not None else None),
                ),
            ),
            "missing": (),
        },
    )


def _unique(evidence: list[Evidence]) -> tuple[Evidence, ...]:
    """Evidence once per (fact, note): a fact read by two branches is cited once."""
    if len(evidence) < 2:
        return tuple(evidence)
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
        # a finding shared by two branches (e.g. "no systemic glucocorticoids on record" read
        # by both "refractory" paths) is said once, at its first place
        text += " — " + "; ".join(dict.fromkeys(trace.findings))
    if outcome is Outcome.UNKNOWN and trace.missing:
        text += ". needs: " + "; ".join(_most_specific(trace.missing))
    return text


def _most_specific(items: list[str]) -> list[str]:
    """Needed items once each, without an item another one only narrows: "record of X use" is
    supplied by "record of X use started at least 6 months ago", so only the latter is said.
    Rendering only: ``trace.missing`` (what to send next) is unchanged."""
    unique = list(dict.fromkeys(items))
    return [item for item in unique
            if not any(other.startswith(item + " ") for other in unique)]
