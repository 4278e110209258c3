"""Medication-history primitives: how many distinct drugs were used; use inside a window.

Both read the same medication facts as ``med_used`` (RxNorm ingredients or mapped products,
statuses not-taken/cancelled/entered-in-error/draft ignored) and are closed-world over the
record: a criterion that needs the absence of a drug pairs them with the clinician's
"medication history reconciled" attestation, as E11 of NCT06920433 does.
"""

from __future__ import annotations

from pydantic import Field

from shared.clinical.facts import ClinicalFact
from shared.eligibility.context import Context, Trace, cite, note_unread
from shared.eligibility.durations import Duration
from shared.eligibility.index import UNIDENTIFIED_MEDICATIONS, fact_time
from shared.eligibility.logic import Truth
from shared.eligibility.params import IsoDuration, Strict, duration, optional_duration
from shared.eligibility.primitives.base import Node, Requirement
from shared.eligibility.primitives.records import (
    NOT_TAKEN,
    USE_NOT_RECORDED,
    marked_unidentified_medication,
)
from shared.eligibility.primitives.registry import primitive
from shared.eligibility.reference_tables import RXNORM, Concept, Tables


class MedCountArgs(Strict):
    valuesets: list[str]
    at_least: int = Field(ge=1, description="distinct drugs (ingredients) on record")
    started_at_least: IsoDuration | None = None


class MedWithinArgs(Strict):
    valuesets: list[str]
    within: IsoDuration


def _ingredient(fact: ClinicalFact) -> str:
    coding = fact.codes[0] if fact.codes else None
    return f"{coding.system}|{coding.code}" if coding else fact.fact_id


class MedicationCount(Node):
    """At least ``n`` distinct drugs of the value sets on record (each started at least
    ``started_at_least`` ago). Fewer on record is UNKNOWN: the record may be incomplete."""

    __slots__ = ("concepts", "n", "started_at_least")

    def __init__(self, concepts: list[Concept], n: int, started_at_least: Duration | None) -> None:
        self.concepts, self.n, self.started_at_least = tuple(concepts), n, started_at_least

    def evaluate(self, ctx: Context, trace: Trace) -> Truth:
        since = ctx.window_start(self.started_at_least) if self.started_at_least else None
        first: dict[str, ClinicalFact] = {}
        for concept in self.concepts:
            for fact in ctx.facts(concept):
                if (fact.status in NOT_TAKEN or fact.status in USE_NOT_RECORDED
                        or fact.unread is not None):
                    continue  # no record of use: fewer counted is UNKNOWN, never FALSE
                start = fact.effective_start
                if start is None or start > ctx.as_of:
                    continue
                if since is not None and start > since:
                    assert self.started_at_least is not None
                    ctx.review_at(self.started_at_least.after(start))
                    continue
                key = _ingredient(fact)
                if key not in first or fact_time(fact) < fact_time(first[key]):
                    first[key] = fact
        labels = " / ".join(c.label for c in self.concepts)
        for fact in sorted(first.values(), key=lambda f: f.fact_id):
            trace.evidence.append(
                cite(fact, note=f"{labels}: started {ctx.when(fact.effective_start)}")
            )
        scope = (
            f" started at least {self.started_at_least.words()} ago"
            if self.started_at_least
            else ""
        )
        if len(first) >= self.n:
            trace.findings.append(f"{len(first)} distinct drugs of {labels} on record{scope}")
            return Truth.TRUE
        trace.need(f"record of {self.n} distinct drugs of {labels}{scope}")
        trace.gap(f"only {len(first)} distinct drug(s) of {labels} on record{scope}")
        return Truth.UNKNOWN

    def requirements(self) -> list[Requirement]:
        scope = (
            f"started at least {self.started_at_least.words()} before"
            if self.started_at_least
            else "ever"
        )
        return [
            Requirement(
                c.name, f"medication use, distinct ingredients counted (>= {self.n}; {scope})"
            )
            for c in self.concepts
        ]


class MedicationWithin(Node):
    """A use of a drug of the value sets overlaps the window ``within`` before as-of.

    Closed world over the record (no such use: FALSE); a use whose dates cannot be read, or an
    unread record, is UNKNOWN. The answer can change when the last use leaves the window:
    that instant is a review. A medication TrialWatch cannot identify
    (``index.UNIDENTIFIED_MEDICATIONS``: NDC or ATC only, an RxNorm code in neither the product
    table nor a value set) used within the window, ongoing or undated is not read as no drug:
    with no readable use in the window the answer is UNKNOWN naming it, never FALSE.
    """

    __slots__ = ("concepts", "within")

    def __init__(self, concepts: list[Concept], within: Duration) -> None:
        self.concepts, self.within = tuple(concepts), within

    def evaluate(self, ctx: Context, trace: Trace) -> Truth:
        start = ctx.window_start(self.within)
        labels = " / ".join(c.label for c in self.concepts)
        undated: ClinicalFact | None = None
        for concept in self.concepts:
            for fact in ctx.facts(concept):
                if fact.status in NOT_TAKEN or fact_time(fact) > ctx.as_of:
                    continue
                if fact.unread is not None or fact.effective_start is None:
                    undated = undated or fact
                    continue
                ongoing = fact.effective_end is None and fact.status in (
                    None,
                    "active",
                    "intended",
                    "on-hold",
                )
                last = ctx.as_of if ongoing else (fact.effective_end or fact.effective_start)
                if last > start:
                    if not ongoing:
                        ctx.review_at(self.within.after(last))
                    trace.evidence.append(
                        cite(
                            fact,
                            note=f"{labels}: {'ongoing' if ongoing else 'last ' + ctx.when(last)}",
                        )
                    )
                    trace.findings.append(f"{labels} used within {self.within.words()}")
                    return Truth.TRUE
        unidentified = False
        for fact in ctx.facts(UNIDENTIFIED_MEDICATIONS):
            if fact.status in NOT_TAKEN or fact_time(fact) > ctx.as_of:
                continue
            ongoing = fact.effective_end is None and fact.status in (
                None, "active", "intended", "on-hold")
            used = fact.effective_end or fact.effective_start
            if not ongoing and used is not None and used <= start:
                continue
            if not ongoing and used is not None:
                ctx.review_at(self.within.after(used))
            note_unread(trace, labels, marked_unidentified_medication(fact, RXNORM))
            unidentified = True
        if unidentified:
            return Truth.UNKNOWN
        if undated is not None:
            trace.evidence.append(cite(undated, note=f"{labels}: dates not readable"))
            trace.need(f"dates of {labels} use")
            trace.gap(f"{labels} on record without readable dates")
            return Truth.UNKNOWN
        trace.findings.append(f"no {labels} on record within {self.within.words()}")
        return Truth.FALSE

    def requirements(self) -> list[Requirement]:
        return [
            Requirement(c.name, f"medication use with dates; any use within {self.within.words()}")
            for c in self.concepts
        ]


@primitive("med_count", MedCountArgs, concept_fields=("valuesets",))
def _med_count(a: MedCountArgs, tables: Tables) -> Node:
    return MedicationCount(
        [tables.concept(v) for v in a.valuesets], a.at_least, optional_duration(a.started_at_least)
    )


@primitive("med_within", MedWithinArgs, concept_fields=("valuesets",))
def _med_within(a: MedWithinArgs, tables: Tables) -> Node:
    return MedicationWithin([tables.concept(v) for v in a.valuesets], duration(a.within))
