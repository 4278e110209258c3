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
from shared.eligibility.index import OLDEST, fact_time
from shared.eligibility.logic import Truth
from shared.eligibility.params import IsoDuration, Op, Strict, duration
from shared.eligibility.primitives.base import Node, Requirement
from shared.eligibility.primitives.registry import primitive
from shared.eligibility.reading import (
    fitting_range,
    judge,
    latest_quantity,
    latest_result,
    marked_unread,
    range_not_read,
    result_reading,
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


class LabDetectedArgs(Strict):
    concept: str
    lookback: IsoDuration
    positive_above: float | None = Field(
        default=None, description="a quantitative result above this counts as detected"
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


class LabDetected(Node):
    """Any readable result of the concept in the window is positive (detected): evidence only.

    For a test whose negative result says nothing about the condition a criterion asks
    about, only a positive reading counts. HIV-1 RNA (viral load) is the case: a detectable
    RNA is evidence of infection, but an undetectable one is what treatment achieves in a
    person living with HIV (DHHS Guidelines for the Use of Antiretroviral Agents in Adults and
    Adolescents with HIV, "Plasma HIV-1 RNA (Viral Load) and CD4 Count Monitoring": the goal of
    therapy is a viral load below the assay's limit of detection), so it is not evidence of no
    infection and must neither settle a criterion nor hide an older positive of another test.

    TRUE when any result in the window is read positive (``result_reading``: a coded Detected /
    Positive, valueBoolean true, a number above ``positive_above`` in the concept's unit or
    above the result's own upper reference limit, the flag only without a value); the
    newest such result is cited and its ageing out of the window is a review. UNKNOWN when none
    is positive but one was kept unread or cannot be read either way (COMMON rule: an unread
    result makes the criterion reading it unknown; it might have been the detectable one).
    FALSE otherwise, also with no result at all: a missing viral load is not asked for, the
    other branches of the criterion (the antibody/antigen test) decide. Negative results are
    named in the findings as not evidence.
    """

    __slots__ = ("concept", "lookback", "positive_above")

    def __init__(self, concept: Concept, lookback: Duration, positive_above: float | None) -> None:
        self.concept, self.lookback, self.positive_above = concept, lookback, positive_above

    def evaluate(self, ctx: Context, trace: Trace) -> Truth:
        as_of, start = ctx.as_of, ctx.window_start(self.lookback)
        unread: ClinicalFact | None = None
        negative: ClinicalFact | None = None
        for fact in ctx.facts(self.concept):
            moment = fact.effective_start or fact.effective_end or OLDEST
            if moment > as_of:
                continue
            if moment <= start:
                break
            if fact.unread is not None:
                unread = unread or fact
                ctx.review_at(self.lookback.after(moment))
                continue
            result, why = result_reading(fact, self.positive_above, self.concept.units, ctx)
            if result is None and not why:
                continue  # no value and no flag: no result
            ctx.review_at(self.lookback.after(moment))
            if result is None:
                unread = unread or marked_unread(fact, why)
            elif result:
                trace.evidence.append(cite(fact, note="read as detected"))
                trace.findings.append(
                    f"{self.concept.label} detected on {ctx.when(fact_time(fact))}")
                return Truth.TRUE
            else:
                negative = negative or fact
        if negative is not None:
            trace.evidence.append(cite(negative, note="not detected: not evidence either way"))
            trace.findings.append(
                f"{self.concept.label} not detected on {ctx.when(fact_time(negative))}: not"
                " evidence of no infection, so it is not read as negative")
        if unread is not None:
            note_unread(trace, self.concept.label, unread)
            return Truth.UNKNOWN
        return Truth.FALSE

    def requirements(self) -> list[Requirement]:
        extra = (
            f"; quantitative > {self.positive_above:g} {self.concept.unit} counts as detected"
            if self.positive_above is not None
            else ""
        )
        return [
            Requirement(
                self.concept.name,
                f"any result within {self.lookback.words()} read as detected counts; a"
                f" not-detected result is not read as negative (not evidence){extra}",
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


@primitive("lab_detected", LabDetectedArgs, concept_fields=("concept",))
def _lab_detected(a: LabDetectedArgs, tables: Tables) -> Node:
    return LabDetected(tables.concept(a.concept), duration(a.lookback), a.positive_above)
