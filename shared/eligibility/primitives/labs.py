"""Laboratory primitives: threshold, multiple of the upper limit of normal, qualitative result.

Each reads the most recent result of its concept inside its look-back window, in the
concept's canonical unit (the normaliser converts; results in another unit are not used and
the evidence says so). When that result ages out of the window the decision may change, so
its expiry is a review candidate.
"""

from __future__ import annotations

import math

from shared.clinical.facts import ClinicalFact, Quantity, ReadingNote, ReferenceRange, Sex
from shared.eligibility.context import Context, Trace, as_received, cite, note_unread
from shared.eligibility.durations import Duration, age_in_years
from shared.eligibility.index import OLDEST, fact_time
from shared.eligibility.logic import Truth, compare, compare_bounds
from shared.eligibility.primitives.base import Node, Requirement
from shared.eligibility.reference_tables import Concept

POSITIVE_CODES = frozenset(
    {
        "10828004",
        "260373001",
        "11214006",
        "52101004",
        "pos",
        "positive",
        "detected",
        "reactive",
        "present",
    }
)
NEGATIVE_CODES = frozenset(
    {
        "260385009",
        "260415000",
        "131194007",
        "2667000",
        "neg",
        "negative",
        "not detected",
        "nonreactive",
        "non-reactive",
        "absent",
    }
)
POSITIVE_FLAGS = frozenset({"POS", "DET", "A", "AA", "H", "HH", "HU", "R"})
NEGATIVE_FLAGS = frozenset({"NEG", "ND", "N", "NR"})


def judge(quantity: Quantity, threshold: float, op: str) -> Truth:
    """``quantity op threshold``, three-valued: a censored result ("<20") is known only as a bound.

    A platelet count reported as "<50" may or may not meet ">= 20", so it is UNKNOWN, never 50.
    A strict bound is open: below "<20" the largest possible float is just under 20.
    """
    comparator, value = quantity.comparator, quantity.value
    if comparator is None:
        return Truth.of(compare(value, threshold, op))
    if comparator == "<":
        return compare_bounds(-math.inf, math.nextafter(value, -math.inf), threshold, op)
    if comparator == "<=":
        return compare_bounds(-math.inf, value, threshold, op)
    if comparator == ">":
        return compare_bounds(math.nextafter(value, math.inf), math.inf, threshold, op)
    if comparator == ">=":
        # a range (``upper`` set) is known to lie in [value, upper]
        return compare_bounds(value, quantity.upper if quantity.upper is not None else math.inf,
                              threshold, op)
    return Truth.UNKNOWN  # the normaliser admits only the four bounds; anything else says nothing


def shown(quantity: Quantity, fact: ClinicalFact | None = None) -> str:
    """``"<20 10*9/L"``; with ``fact`` keeping a different received value, the canonical value
    at the received precision and the received text: ``"0.502 mg/dL (sent as 44.4 umol/L)"``."""
    if quantity.upper is not None:  # a range: the value lies in [value, upper]
        return f"{quantity.value:g}-{quantity.upper:g} {quantity.unit}"
    sent = as_received(fact) if fact is not None and fact.received is not None else None
    if sent is not None:
        return f"{quantity.comparator or ''}{sent[1]} {quantity.unit} (sent as {sent[2]})"
    return f"{quantity.comparator or ''}{quantity.value:g} {quantity.unit}"


def latest_quantity(
    ctx: Context, concept: Concept, lookback: Duration, trace: Trace
) -> ClinicalFact | None:
    """The most recent in-window result with a value in one of the concept's units.

    Windows are half-open: a result taken exactly ``lookback`` before as-of has aged out, so
    the instant it ages out is also the instant a re-evaluation sees the change.

    A result kept unread (``fact.unread``) is returned as it is when it is the most recent:
    an older readable result never stands in for it. The caller says why (``note_unread``).
    """
    as_of = ctx.as_of
    start = ctx.window_start(lookback)
    for fact in ctx.facts(concept):
        moment = fact.effective_start or fact.effective_end or OLDEST
        if moment > as_of:
            continue
        if moment <= start:
            break
        if fact.unread is not None:
            ctx.review_at(lookback.after(moment))
            return fact
        quantity = fact.value_quantity
        if quantity is not None and quantity.unit in concept.units:
            ctx.review_at(lookback.after(moment))
            return fact
        unusable = not_a_quantity(fact, concept)
        if unusable is not None:
            # a newer result whose value is no number in the concept's units (a code, a yes/no,
            # another unit): it cannot be judged, and no older result stands in for it
            ctx.review_at(lookback.after(moment))
            return unusable
    return None


def not_a_quantity(fact: ClinicalFact, concept: Concept) -> ClinicalFact | None:
    """``fact`` marked unread when its value is not a number in one of ``concept.units`` (a
    code, a yes/no, another unit); None when it is one, or when the fact has no value at all
    (a result without a value is no result: an older one stays the latest)."""
    quantity = fact.value_quantity
    if quantity is not None:
        if quantity.unit in concept.units:
            return None
        reason = f"unit {quantity.unit!r} is not {' or '.join(map(repr, concept.units))}"
    elif fact.value_code is not None:
        code = fact.value_code
        named = f" ({code.display})" if code.display else ""
        reason = f"the coded value {code.code}{named} is not a number in {concept.unit}"
    elif fact.value_boolean is not None:
        reason = f"a yes/no value is not a number in {concept.unit}"
    else:
        return None
    return fact.model_copy(
        update={"unread": ReadingNote(path=f"{fact.provenance.resource} value", reason=reason)}
    )


# FHIR R4 referenceRange.appliesTo: the population a range is for. Sex is the one the engine can
# check against Patient.gender (SNOMED CT 248152002 |Female|, 248153007 |Male|, or the FHIR
# administrative-gender codes); a range for any other population (race, pregnancy) never fits.
_SEX_CODES = {
    ("http://snomed.info/sct", "248152002"): "female",
    ("http://snomed.info/sct", "248153007"): "male",
    ("http://hl7.org/fhir/administrative-gender", "female"): "female",
    ("http://hl7.org/fhir/administrative-gender", "male"): "male",
}
RESULT_RANGE = "result reference range"


def _fits(reference: ReferenceRange, sex: str | None, age: int | None) -> str | None:
    """Why ``reference`` applies to this patient ("" when unrestricted), or None if it does not
    (or cannot be shown to)."""
    why = []
    if reference.type is not None and reference.type.code != "normal":
        # FHIR R4 referenceRange.type (referencerange-meaning): a therapeutic or recommended
        # range is not the limit of normal a "x ULN" criterion means
        return None
    if reference.applies_to:
        sexes = {_SEX_CODES.get((c.system, c.code)) for c in reference.applies_to}
        if None in sexes or sex is None or sex not in sexes:
            return None
        why.append(sex)
    if reference.age_low_years is not None or reference.age_high_years is not None:
        if age is None:
            return None
        low, high = reference.age_low_years, reference.age_high_years
        if (low is not None and age < low) or (high is not None and age > high):
            return None
        why.append(f"age {age}")
    return ", ".join(why)


def fitting_range(ctx: Context, fact: ClinicalFact) -> tuple[ReferenceRange | None, str]:
    """The result's own reference range that fits the patient, and the words saying which.

    FHIR R4 ``Observation.referenceRange`` entries are alternatives: the most specific one whose
    ``appliesTo`` (sex) and ``age`` fit the patient is used, in the order sent; an unrestricted
    entry fits everyone. None (with the reason) when no entry fits: the caller then falls back
    to the site's default table. One unrestricted range is used as before.
    """
    alternatives = fact.reference_ranges or (
        (fact.reference_range,) if fact.reference_range is not None else ()
    )
    if not alternatives:
        return None, "no reference range sent"
    demographics = ctx.index.demographics
    sex = demographics.sex.value if demographics.sex in (Sex.FEMALE, Sex.MALE) else None
    age = (
        age_in_years(demographics.birth_date, ctx.as_of.date())
        if demographics.birth_date is not None
        else None
    )
    fitting = [(why, r) for r in alternatives if (why := _fits(r, sex, age)) is not None]
    if not fitting:
        who = f"{sex or 'sex unknown'}, {f'age {age}' if age is not None else 'age unknown'}"
        return None, f"none of the {len(alternatives)} reference ranges sent applies ({who})"
    specific = [(why, r) for why, r in fitting if why]
    why, chosen = (specific or fitting)[0]
    if len(alternatives) == 1 and not why:
        return chosen, RESULT_RANGE
    if why:
        return chosen, f"{RESULT_RANGE} for {why} (of {len(alternatives)} sent)"
    return chosen, f"{RESULT_RANGE} (unrestricted, of {len(alternatives)} sent)"


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
            trace.need(f"upper limit of normal for {self.concept.label} in {quantity.unit}")
            trace.evidence.append(cite(fact, note="no usable upper limit of normal"))
            return Truth.UNKNOWN
        limit = self.multiple * uln
        truth = judge(quantity, limit, self.op)
        if truth is Truth.UNKNOWN:
            trace.need(f"{self.concept.label} as a measured value, not the bound {shown(quantity)}")
        trace.evidence.append(
            cite(
                fact,
                note=f"{self.op} {self.multiple:g} x ULN {uln:g} {quantity.unit} = {limit:g}",
                details={
                    "uln": uln,
                    "uln_unit": quantity.unit,
                    "uln_source": source,
                    "multiple": self.multiple,
                },
            )
        )
        trace.findings.append(
            f"{self.concept.label} {shown(quantity, fact)} on {ctx.when(fact_time(fact))}"
            f" {_verdict(truth)} {self.op} {self.multiple:g} x ULN"
            f" ({uln:g}, {source})"
        )
        return truth

    def _uln(
        self, ctx: Context, quantity: Quantity, fact: ClinicalFact
    ) -> tuple[float | None, str]:
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
                " a text range read like OBX-7, else the site default)",
            )
        ]


def read_result(
    fact: ClinicalFact,
    positive_above: float | None,
    units: tuple[str, ...] = (),
    ctx: Context | None = None,
) -> bool | None:
    """True positive, False negative, None unreadable: coded value, else number, else flag.

    A number is judged by itself (issue 9 kind 9): against ``positive_above`` when it is in one
    of ``units``, else against the result's own upper reference limit; a number with neither
    is unreadable (None), never read from its flag. The interpretation flag decides only when
    there is no number: FHIR R4 ``Observation.interpretation`` is "a categorical assessment"
    of the value, and a CD19+ B-cell count of 6.3 % flagged N (normal for the assay's reference
    population) is still 6.3 % of lymphocytes. A censored value ("<20") is only its bound, so
    ">5" against a cut-off of 10 is unreadable.
    """
    if fact.value_boolean is not None:
        return fact.value_boolean
    if fact.value_code is not None:
        code = fact.value_code.code.strip().lower()
        if code in POSITIVE_CODES:
            return True
        if code in NEGATIVE_CODES:
            return False
    quantity = fact.value_quantity
    if quantity is not None:
        cutoff = None
        if positive_above is not None and quantity.unit in units:
            cutoff = positive_above
        else:
            # with ``ctx``, the reference range that fits the patient (``fitting_range``)
            reference = fitting_range(ctx, fact)[0] if ctx is not None else fact.reference_range
            high = reference.high if reference else None
            if high is not None and high.unit == quantity.unit:
                cutoff = high.value
        if cutoff is None:
            return None
        truth = judge(quantity, cutoff, ">")
        return None if truth is Truth.UNKNOWN else truth is Truth.TRUE
    if fact.interpretation:
        flag = fact.interpretation.strip().upper()
        if flag in POSITIVE_FLAGS:
            return True
        if flag in NEGATIVE_FLAGS:
            return False
    return None


def latest_result(
    ctx: Context, concept: Concept, lookback: Duration | None, positive_above: float | None
) -> tuple[ClinicalFact, bool | None] | None:
    """The most recent in-window result read as positive (True) or negative (False).

    ``(fact, None)`` when the most recent in-window result was kept unread (``fact.unread``):
    no older result is read in its place. None when there is no readable result.
    """
    as_of = ctx.as_of
    start = ctx.window_start(lookback) if lookback else None
    for fact in ctx.facts(concept):
        moment = fact.effective_start or fact.effective_end or OLDEST
        if moment > as_of:
            continue
        if start is not None and moment <= start:
            break
        if fact.unread is not None:
            if lookback is not None:
                ctx.review_at(lookback.after(moment))
            return fact, None
        result = read_result(fact, positive_above, concept.units, ctx)
        if result is None:
            continue
        if lookback is not None:
            ctx.review_at(lookback.after(moment))
        return fact, result
    return None


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
