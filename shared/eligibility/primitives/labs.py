"""Laboratory primitives: threshold, multiple of the upper limit of normal, qualitative result.

Each reads the most recent result of its concept inside its look-back window, in the
concept's canonical unit (the normaliser converts; results in another unit are not used and
the evidence says so). When that result ages out of the window the decision may change, so
its expiry is a review candidate.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.clinical.facts import ClinicalFact, Quantity
from shared.eligibility.context import Context, Trace, cite, note_unread
from shared.eligibility.durations import Duration
from shared.eligibility.index import fact_time
from shared.eligibility.logic import Truth
from shared.eligibility.params import IsoDuration, Op, Strict, duration
from shared.eligibility.primitives.base import Node, Requirement
from shared.eligibility.primitives.registry import primitive
from shared.eligibility.reading import (
    fitting_range,
    judge,
    latest_quantity,
    latest_result,
    range_not_read,
    shown,
    written,
)
from shared.eligibility.reference_tables import Concept, Tables


class LabArgs(Strict):
    concept: str
    op: Op
    value: float
    lookback: IsoDuration


class LabUlnArgs(Strict):
    concept: str
    op: Op
    multiple: float
    lookback: IsoDuration


class LabResultArgs(Strict):
    concept: str
    expect: Literal["positive", "negative"]
    lookback: IsoDuration
    positive_above: float | None = Field(
        default=None, description="a quantitative result above this counts as positive"
    )


def _missing(concept: Concept, lookback: Duration) -> str:
    return f"{concept.label} within {lookback.words()}"


def _verdict(truth: Truth) -> str:
    if truth is Truth.UNKNOWN:
        return "cannot be judged against"
    return "meets" if truth is Truth.TRUE else "does not meet"


class _LatestQuantityLab(Node):
    """A node judging the most recent in-window result of one concept; none found is UNKNOWN."""

    __slots__ = ("_absent", "_need", "concept", "lookback")

    def __init__(self, concept: Concept, lookback: Duration) -> None:
        self.concept, self.lookback = concept, lookback
        self._need = _missing(concept, lookback)
        self._absent = f"no {concept.label} within {lookback.words()}"

    def _latest(self, ctx: Context, trace: Trace) -> tuple[ClinicalFact, Quantity] | None:
        """The result and its quantity, or None after naming what is missing."""
        fact = latest_quantity(ctx, self.concept, self.lookback, trace)
        if fact is not None and fact.unread is not None:
            note_unread(trace, self.concept.label, fact)
            return None
        if fact is None or fact.value_quantity is None:
            trace.need(self._need)
            trace.gap(self._absent)
            return None
        return fact, fact.value_quantity


class LabThreshold(_LatestQuantityLab):
    __slots__ = ("op", "value")

    def __init__(self, concept: Concept, op: str, value: float, lookback: Duration) -> None:
        super().__init__(concept, lookback)
        self.op, self.value = op, value

    def evaluate(self, ctx: Context, trace: Trace) -> Truth:
        latest = self._latest(ctx, trace)
        if latest is None:
            return Truth.UNKNOWN
        fact, quantity = latest
        truth = judge(quantity, self.value, self.op)
        trace.evidence.append(cite(fact, note=f"{self.op} {self.value:g} {quantity.unit}"))
        if truth is Truth.UNKNOWN:
            trace.need(f"{self.concept.label} as a measured value, not the bound {shown(quantity)}")
        trace.findings.append(
            f"{self.concept.label} {shown(quantity, fact)} on {ctx.when(fact_time(fact))}"
            f" {_verdict(truth)} {self.op} {self.value:g}"
        )
        return truth

    def requirements(self) -> list[Requirement]:
        return [
            Requirement(
                self.concept.name,
                f"most recent within {self.lookback.words()}; "
                f"{self.op} {self.value:g} {self.concept.unit}",
            )
        ]


class LabUlnMultiple(_LatestQuantityLab):
    """value op multiple x ULN; ULN from the result's reference range, else the default table."""

    __slots__ = ("multiple", "op")

    def __init__(self, concept: Concept, op: str, multiple: float, lookback: Duration) -> None:
        super().__init__(concept, lookback)
        self.op, self.multiple = op, multiple

    def evaluate(self, ctx: Context, trace: Trace) -> Truth:
        latest = self._latest(ctx, trace)
        if latest is None:
            return Truth.UNKNOWN
        fact, quantity = latest
        uln, source = self._uln(ctx, quantity, fact)
        if uln is None:
            why = f": {source}" if source != "none" else ""
            trace.need(
                f"upper limit of normal for {self.concept.label} in {quantity.unit}{why}"
            )
            trace.evidence.append(cite(fact, note=f"no usable upper limit of normal{why}"))
            return Truth.UNKNOWN
        limit = self.multiple * uln
        truth = judge(quantity, limit, self.op)
        if truth is Truth.UNKNOWN:
            trace.need(f"{self.concept.label} as a measured value, not the bound {shown(quantity)}")
        trace.evidence.append(
            cite(
                fact,
                note=f"{self.op} {self.multiple:g} x ULN {written(uln)} {quantity.unit}"
                f" = {limit:g}",
                details={
                    "uln": uln,
                    "uln_unit": quantity.unit,
                    "uln_source": source,
                    "multiple": self.multiple,
                },
            )
        )
        # the limit itself first: "meets <= 120 U/L (3 x ULN 40 U/L, ...)", so nobody reads
        # the ULN as the limit (a coordinator did, with "<= 3 x ULN (40 U/L, ...)")
        trace.findings.append(
            f"{self.concept.label} {shown(quantity, fact)} on {ctx.when(fact_time(fact))}"
            f" {_verdict(truth)} {self.op} {limit:g} {quantity.unit}"
            f" ({self.multiple:g} x ULN {written(uln)} {quantity.unit}, {source})"
        )
        return truth

    def _uln(
        self, ctx: Context, quantity: Quantity, fact: ClinicalFact
    ) -> tuple[float | None, str]:
        blocked = range_not_read(ctx, fact)
        if blocked is not None:
            return None, blocked
        reference, why = fitting_range(ctx, fact)
        high = reference.high if reference is not None else None
        if high is not None and high.unit == quantity.unit:
            return high.value, why
        limit = ctx.tables.limits.get(self.concept.name)
        if limit is None or limit.unit != quantity.unit:
            return None, "none"
        sex = ctx.index.demographics.sex
        value = limit.upper.get(sex.value if sex else "unknown")
        source = "default table (tables/uln_defaults.yaml)"
        if reference is None and (fact.reference_ranges or fact.reference_range):
            source += f": {why}"
        return value, source

    def requirements(self) -> list[Requirement]:
        return [
            Requirement(
                self.concept.name,
                f"most recent within {self.lookback.words()}; {self.op} {self.multiple:g} x ULN"
                " (ULN: the referenceRange.high fitting the patient by appliesTo sex and age,"
                " a text range read like OBX-7, else the site default; unknown when a range"
                " that could be the patient's was sent but not read, or when two ranges sent"
                " for her population differ)",
            )
        ]


class LabResult(Node):
    """The most recent readable qualitative result in the window is positive (or negative)."""

    __slots__ = ("_absent", "_need", "concept", "expect_positive", "lookback", "positive_above")

    def __init__(
        self, concept: Concept, expect: str, lookback: Duration, positive_above: float | None
    ) -> None:
        self.concept, self.lookback, self.positive_above = concept, lookback, positive_above
        self.expect_positive = expect == "positive"
        self._need = _missing(concept, lookback)
        self._absent = f"no readable {concept.label} within {lookback.words()}"

    def evaluate(self, ctx: Context, trace: Trace) -> Truth:
        found = latest_result(ctx, self.concept, self.lookback, self.positive_above)
        if found is None:
            trace.need(self._need)
            if self._absent not in trace.findings:  # E12 reads hCG as positive and as negative
                trace.gap(self._absent)
            return Truth.UNKNOWN
        fact, positive = found
        if positive is None:
            note_unread(trace, self.concept.label, fact)
            return Truth.UNKNOWN
        word = "positive" if positive else "negative"
        trace.evidence.append(cite(fact, note=f"read as {word}"))
        finding = f"{self.concept.label} {word} on {ctx.when(fact_time(fact))}"
        if finding not in trace.findings:  # the same result read by two branches is said once
            trace.findings.append(finding)
        return Truth.of(positive == self.expect_positive)

    def requirements(self) -> list[Requirement]:
        extra = (
            f"; quantitative > {self.positive_above:g} {self.concept.unit} counts as positive"
            if self.positive_above is not None
            else ""
        )
        return [
            Requirement(
                self.concept.name,
                f"most recent within {self.lookback.words()}; positive/negative"
                f" (valueCodeableConcept or valueBoolean; a number by its cut-off or reference"
                f" range; interpretation only without a number){extra}",
            )
        ]


@primitive("lab", LabArgs, concept_fields=("concept",))
def _lab(a: LabArgs, tables: Tables) -> Node:
    return LabThreshold(tables.concept(a.concept), a.op, a.value, duration(a.lookback))


@primitive("lab_uln", LabUlnArgs, concept_fields=("concept",))
def _lab_uln(a: LabUlnArgs, tables: Tables) -> Node:
    return LabUlnMultiple(tables.concept(a.concept), a.op, a.multiple, duration(a.lookback))


@primitive("lab_result", LabResultArgs, concept_fields=("concept",))
def _lab_result(a: LabResultArgs, tables: Tables) -> Node:
    return LabResult(tables.concept(a.concept), a.expect, duration(a.lookback), a.positive_above)
